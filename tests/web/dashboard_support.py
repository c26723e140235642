"""A seeded authority for the dashboard tests: the Aire Cantilienne (Oise), its services, real
feedback posted through the feedback API by a partner app, and staff who sign in.

Everything goes through the public APIs, as in production: the catalogue reaches the feedback
and analytics services as events on the bus, feedback is posted over HTTP, and the analytics
service builds its matrix from the feedback events. The helpers wait until it has.
"""

from __future__ import annotations

import html
import re
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from citela_analytics.settings import AnalyticsSettings
from citela_common.auth import Role
from citela_common.events import make_event
from citela_common.events.models import (
    CATALOGUE_TOPIC,
    FEEDBACK_TOPIC,
    Address,
    CatalogueEntryUpserted,
    Channel,
    EntryKind,
    FeedbackSubmitted,
    Provenance,
    TerritoryLevel,
    TerritoryUpserted,
)
from citela_common.settings import Settings
from citela_feedback import accounts
from citela_feedback.context import FeedbackContext
from citela_feedback.models import ProcessedEvent
from citela_feedback.readmodel import CONSUMER

PASSWORD = "un mot de passe solide"
EPCI = "246000749"  # CC de l'Aire Cantilienne
NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def territory(code: str, level: TerritoryLevel, name: str, **extra: Any) -> TerritoryUpserted:
    return TerritoryUpserted(
        code=code,
        level=level,
        name=name,
        version=1,
        provenance=Provenance(source="territories", remote_id=code, licence="lov2"),
        **extra,
    )


GEOGRAPHY = [
    territory("32", TerritoryLevel.REGION, "Hauts-de-France"),
    territory("60", TerritoryLevel.DEPARTEMENT, "Oise", region_code="32"),
    territory(
        EPCI,
        TerritoryLevel.EPCI,
        "CC de l'Aire Cantilienne",
        region_code="32",
        departement_codes=["60"],
    ),
    *[
        territory(
            code,
            TerritoryLevel.COMMUNE,
            name,
            region_code="32",
            departement_codes=["60"],
            epci_code=EPCI,
            postal_codes=[postal],
        )
        for code, name, postal in (
            ("60141", "Chantilly", "60500"),
            ("60346", "Lamorlaye", "60260"),
            ("60282", "Gouvieux", "60270"),
            ("60172", "Coye-la-Forêt", "60580"),
        )
    ],
]


@dataclass(frozen=True)
class Service:
    remote_id: str
    title: str
    policy_area: str
    commune: str
    postal_code: str
    city: str

    @property
    def entry_id(self) -> str:
        return f"service-public:{self.remote_id}"


CCAS = Service(
    "ccas-lamorlaye", "CCAS de Lamorlaye", "Action sociale", "60346", "60260", "Lamorlaye"
)
DECHETTERIE = Service(
    "dechetterie-coye", "Déchetterie de Coye-la-Forêt", "Environnement", "60172", "60580",
    "Coye-la-Forêt",
)  # fmt: skip
MEDIATHEQUE = Service(
    "mediatheque-gouvieux", "Médiathèque de Gouvieux", "Culture", "60282", "60270", "Gouvieux"
)
PISCINE = Service(
    "piscine-chantilly", "Piscine intercommunale de Chantilly", "Sport", "60141", "60500",
    "Chantilly",
)  # fmt: skip
CONSERVATOIRE = Service(
    "conservatoire-chantilly", "Conservatoire de Chantilly", "Culture", "60141", "60500",
    "Chantilly",
)  # fmt: skip
SERVICES = [CCAS, DECHETTERIE, MEDIATHEQUE, PISCINE, CONSERVATOIRE]

# (importance, satisfaction, comment) per answer. The CCAS matters and disappoints (act
# first), the déchetterie matters and pleases (keep up), the médiathèque pleases more than
# it matters (over-investment), the pool neither (secondary); the conservatoire has too few
# answers for a verdict.
ANSWERS: dict[Service, list[tuple[int, int, str | None]]] = {
    CCAS: [
        (5, 1, "Le temps d'attente au guichet est beaucoup trop long, c'est décourageant."),
        (5, 2, "Temps d'attente interminable, et personne ne rappelle."),
        (5, 2, "Les horaires d'ouverture sont trop réduits pour les personnes qui travaillent."),
        (4, 2, "Dossier perdu deux fois, le temps d'attente est trop long."),
        (5, 1, "Aucune réponse à mes courriels depuis un mois, c'est inadmissible."),
        (5, 3, "Accueil correct mais temps d'attente très long."),
        (4, 2, None),
        (5, 2, "Les horaires d'ouverture ne conviennent pas, fermé le samedi."),
        (5, 3, "Personnel aimable mais débordé."),
        (4, 1, "Très déçu, le temps d'attente est trop long."),
        (5, 2, None),
        (5, 2, "Difficile d'obtenir un rendez-vous."),
    ],
    DECHETTERIE: [
        (5, 5, "Personnel très aimable et serviable, site bien tenu."),
        (4, 4, "Bien organisé, on trouve facilement les bennes."),
        (5, 4, "Horaires pratiques, accueil agréable."),
        (5, 5, None),
        (4, 5, "Personnel très aimable, merci."),
        (5, 4, "Service efficace et rapide."),
        (4, 4, None),
        (5, 5, "Très bien, rien à redire."),
        (5, 4, "Site propre et personnel très aimable."),
        (4, 4, "Les agents sont des abrutis, aucune aide pour décharger."),  # held
        (5, 5, None),
    ],
    MEDIATHEQUE: [
        (2, 5, "Très belle médiathèque, personnel très aimable."),
        (3, 5, "Excellent choix de livres."),
        (2, 4, None),
        (2, 5, "Lieu agréable et calme."),
        (3, 4, "Bon accueil."),
        (2, 5, None),
        (3, 5, "Super animations pour les enfants."),
        (2, 4, None),
        (3, 5, "Très bien."),
        (2, 5, None),
    ],
    PISCINE: [
        (2, 2, "Vestiaires sales et eau trop froide."),
        (3, 2, "Créneaux trop rares pour le public."),
        (2, 3, None),
        (2, 2, "Bassin souvent fermé."),
        (3, 2, None),
        (2, 1, "Vestiaires sales, c'est dommage."),
        (2, 3, None),
        (3, 2, "Pas terrible."),
        (2, 2, None),
        (2, 3, None),
    ],
    CONSERVATOIRE: [
        (4, 3, "Professeurs compétents."),
        (3, 4, None),
        (4, 4, "Bonne ambiance."),
    ],
}
HELD_COMMENT = "Les agents sont des abrutis, aucune aide pour décharger."


def entry(service: Service) -> CatalogueEntryUpserted:
    return CatalogueEntryUpserted(
        entry_id=service.entry_id,
        version=1,
        kind=EntryKind.SERVICE,
        title=service.title,
        description="",
        source_type="mairie",
        policy_area=service.policy_area,
        commune_codes=[service.commune],
        epci_codes=[EPCI],
        departement_codes=["60"],
        address=Address(
            lines=["Place de la Mairie"],
            postal_code=service.postal_code,
            city=service.city,
            commune_code=service.commune,
        ),
        provenance=Provenance(source="service-public", remote_id=service.remote_id, licence="lov2"),
        updated_at=NOW,
    )


def web_settings(data_dir: Any) -> Settings:
    return AnalyticsSettings(
        data_dir=data_dir,
        analytics_scoring_delay_s=0.05,
        # cheap hashes in tests; production keeps the RFC 9106 defaults
        password_hash_time_cost=1,
        password_hash_memory_kib=1024,
        password_hash_parallelism=1,
    )


class Authority:
    """One tenant of the embedded platform, seeded, with people who can sign in."""

    def __init__(self, client: TestClient, settings: Settings, code: str | None = None) -> None:
        self.client = client
        self.settings = settings
        app: Any = client.app
        self.feedback_runtime = app.state.runtimes["feedback"]
        self.ctx: FeedbackContext = self.feedback_runtime.context
        self.tenant = code or f"cc-cantilienne-{uuid.uuid4().hex[:6]}"
        self.operator = self.tokens(self.account("operateur", operator=True))

    # -- people ----------------------------------------------------------------------------

    def account(self, name: str, *, operator: bool = False) -> str:
        """A confirmed account (what `citela staff-add` does); returns its email address."""
        address = f"{name}-{uuid.uuid4().hex[:8]}@aire-cantilienne.fr"
        with self.feedback_runtime.db.transaction() as session:
            accounts.create_account(
                session, self.ctx, address, PASSWORD, confirmed=True, operator=operator
            )
        return address

    def tokens(self, address: str) -> dict[str, str]:
        r = self.client.post(
            "/feedback/v1/auth/token", json={"email": address, "password": PASSWORD}
        )
        assert r.status_code == 200, r.text
        return {"access": r.json()["access_token"], "refresh": r.json()["refresh_token"]}

    def bearer(self, tokens: dict[str, str]) -> dict[str, str]:
        return {"Authorization": f"Bearer {tokens['access']}"}

    def staff(self, *roles: Role, tenant: str | None = None) -> dict[str, str]:
        address = self.account("agent")
        r = self.client.put(
            f"/feedback/v1/tenants/{tenant or self.tenant}/staff",
            json={"email": address, "roles": [r.value for r in roles]},
            headers=self.bearer(self.operator),
        )
        assert r.status_code == 200, r.text
        return self.tokens(address)  # a fresh token carries the new roles

    def citizen(self) -> dict[str, str]:
        return self.tokens(self.account("habitant"))

    def sign_in(self, tokens: dict[str, str] | None) -> None:
        """The browser of this person: the session cookies the sign-in page sets."""
        self.client.cookies.clear()
        if tokens is not None:
            self.client.cookies.set("citela_session", tokens["access"])
            self.client.cookies.set("citela_refresh", tokens["refresh"])

    # -- the authority and its catalogue ---------------------------------------------------

    def create(self) -> None:
        r = self.client.post(
            "/feedback/v1/tenants",
            json={
                "code": self.tenant,
                "name": "Communauté de communes de l'Aire Cantilienne",
                "siren": EPCI,
                "territory_codes": [EPCI],
            },
            headers=self.bearer(self.operator),
        )
        assert r.status_code == 201, r.text
        events = [
            make_event(d, tenant=self.tenant, source="/citela/ingest")
            for d in [*GEOGRAPHY, *(entry(s) for s in SERVICES)]
        ]
        self.feedback_runtime.bus.publish_many((CATALOGUE_TOPIC, e) for e in events)
        deadline = time.monotonic() + 60
        for event in events:
            while True:
                with self.feedback_runtime.db.transaction() as s:
                    if s.get(ProcessedEvent, (CONSUMER, event.id)):
                        break
                assert time.monotonic() < deadline, "catalogue not projected by feedback"
                time.sleep(0.02)

    def partner_key(self) -> str:
        base = f"/feedback/v1/tenants/{self.tenant}/partner-apps"
        app = self.client.post(
            base, json={"name": "Appli Aire Cantilienne"}, headers=self.bearer(self.operator)
        )
        assert app.status_code == 201, app.text
        key = self.client.post(
            f"{base}/{app.json()['id']}/keys",
            json={"scopes": ["feedback:write"], "label": "collecte"},
            headers=self.bearer(self.operator),
        )
        assert key.status_code == 201, key.text
        return str(key.json()["key"])

    def seed_feedback(self) -> int:
        """Posts ANSWERS as a partner app's users; waits until the matrix counts them all."""
        items = [
            {
                "entry_id": service.entry_id,
                "importance": importance,
                "satisfaction": satisfaction,
                "comment": comment,
                "user_ref": f"habitant-{i:03d}",
            }
            for service, answers in ANSWERS.items()
            for i, (importance, satisfaction, comment) in enumerate(answers)
        ]
        r = self.client.post(
            f"/feedback/v1/tenants/{self.tenant}/feedback/batch",
            json={"items": items},
            headers={"X-API-Key": self.partner_key()},
        )
        assert r.status_code == 200, r.text
        assert r.json()["rejected"] == 0, r.text
        self.wait_matrix(len(items))
        return len(items)

    def seed_history(self, service: Service, weeks: dict[int, list[tuple[int, int]]]) -> int:
        """Answers of past weeks ({weeks ago: [(importance, satisfaction)]}), as the feedback
        service published them then: events on the bus (the API only stamps the present)."""
        now = datetime.now(UTC)
        events = [
            make_event(
                FeedbackSubmitted(
                    feedback_id=uuid.uuid4().hex,
                    entry_id=service.entry_id,
                    author_ref=f"habitant-{ago}-{i}",
                    channel=Channel.PORTAL,
                    satisfaction=satisfaction,
                    importance=importance,
                    comment=None,
                    revision=1,
                    submitted_at=now - timedelta(weeks=ago),
                ),
                tenant=self.tenant,
                source="/citela/feedback",
            )
            for ago, answers in weeks.items()
            for i, (importance, satisfaction) in enumerate(answers)
        ]
        self.feedback_runtime.bus.publish_many((FEEDBACK_TOPIC, e) for e in events)
        self.wait_matrix(len(events))
        return len(events)

    def wait_matrix(self, answers: int, timeout_s: float = 60) -> None:
        """Until the analytics matrix counts `answers` and every comment shared is scored."""
        analyst = self.bearer(self.staff(Role.ANALYST))
        base = f"/analytics/v1/tenants/{self.tenant}"
        deadline = time.monotonic() + timeout_s
        while True:
            matrix = self.client.get(f"{base}/matrix", headers=analyst).json()
            if matrix["crosshairs"]["answers"] == answers:
                details = [
                    self.client.get(f"{base}/services/{s.entry_id}", headers=analyst)
                    for s in SERVICES
                ]
                # A service the analytics projection has not learnt of yet answers 404: wait.
                if all(d.status_code == 200 for d in details) and not sum(
                    d.json()["explanation"]["sentiment"]["unscored"] for d in details
                ):
                    return
            assert time.monotonic() < deadline, f"matrix not ready: {matrix['crosshairs']}"
            time.sleep(0.1)


# --- reading pages ---------------------------------------------------------------------------


def text_of(page: str) -> str:
    """The visible text of a page, whitespace collapsed (tags dropped, entities decoded)."""
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", body))).strip()


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, "no CSRF field on the page"
    return found.group(1)


def section(page: str, element_id: str) -> str:
    """The HTML of the element with this id, up to its end tag (first level of nesting)."""
    start = page.index(f'id="{element_id}"')
    start = page.rindex("<", 0, start)
    tag = re.match(r"<(\w+)", page[start:])
    assert tag
    name = tag.group(1)
    depth, i = 0, start
    pattern = re.compile(rf"<(/?){name}\b[^>]*>")
    for m in pattern.finditer(page, start):
        depth += -1 if m.group(1) else 1
        if depth == 0:
            return page[start : m.end()]
        i = m.end()
    raise AssertionError(f"unclosed <{name} id={element_id}> after {i}")
