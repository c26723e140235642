"""The four services, by name: the one place that imports them all."""

from __future__ import annotations

from collections.abc import Callable

from citela_analytics.service import build_runtime as build_analytics
from citela_catalogue.service import build_runtime as build_catalogue
from citela_common.bus import EventBus
from citela_common.runtime import ServiceRuntime
from citela_common.settings import Settings
from citela_feedback.service import build_runtime as build_feedback
from citela_ingest.service import build_runtime as build_ingest
from citela_platform.services import SERVED, WEB

__all__ = ["LABELS", "SERVED", "SERVICES", "WEB", "Builder"]

Builder = Callable[[Settings, EventBus], ServiceRuntime]

SERVICES: dict[str, Builder] = {
    "ingest": build_ingest,
    "catalogue": build_catalogue,
    "feedback": build_feedback,
    "analytics": build_analytics,
}

LABELS: dict[str, str] = {
    "ingest": "Collecte des données ouvertes",
    "catalogue": "Catalogue du territoire",
    "feedback": "Avis des usagers",
    "analytics": "Synthèse et priorités",
}
