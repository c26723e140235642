"""The services by name, without importing them.

The command line names the services in its help and arguments; importing them all to do so
took seconds (see ``citela_platform.lazy_cli``). :func:`builder` imports one service when a
command needs it; ``citela_platform.registry`` imports them all, for the embedded platform.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from citela_common.bus import EventBus
    from citela_common.runtime import ServiceRuntime
    from citela_common.settings import Settings

    Builder = Callable[[Settings, EventBus], ServiceRuntime[Any]]

# The module of each service's ``build_runtime``, in the order the platform starts them.
SERVICE_MODULES: dict[str, str] = {
    "ingest": "citela_ingest.service",
    "catalogue": "citela_catalogue.service",
    "feedback": "citela_feedback.service",
    "analytics": "citela_analytics.service",
}
SERVICE_NAMES: tuple[str, ...] = tuple(SERVICE_MODULES)

# What `citela serve` runs: the four services, and the web (portal and dashboard), which owns no
# tables and no runtime: it only calls the four APIs.
WEB = "web"
SERVED: tuple[str, ...] = (*SERVICE_NAMES, WEB)


def builder(name: str) -> Builder:
    """The ``build_runtime`` of service ``name``, importing that service only."""
    build: Builder = import_module(SERVICE_MODULES[name]).build_runtime
    return build
