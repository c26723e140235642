"""Test support for the citizen portal: the embedded platform with the Aire Cantilienne (Oise)
harvested from the recorded open-data fixtures, two authorities, a real SMTP server, and a
browser-like client that fills the portal's forms (cookies, CSRF field)."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from citela_common.events import make_event
from citela_common.events.models import (
    CATALOGUE_TOPIC,
    Address,
    CatalogueEntryUpserted,
    Contact,
    DateRange,
    EntryKind,
    OpeningSlot,
    Provenance,
    TerritoryLevel,
    TerritoryUpserted,
)
from citela_feedback.settings import FeedbackSettings
from citela_ingest.runs import run_harvest
from citela_platform.embedded import create_embedded_app
from citela_web.session import CSRF_COOKIE
from tests.feedback.support import PASSWORD, FeedbackPlatform, Inbox, body_of, smtp_server

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "opendata"
E2E = FIXTURES / "e2e-aire-cantilienne"
OISE = FIXTURES / "geo-api" / "communes_codeDepartement_60.json"
EPCI = "246000764"  # CC de l'Aire Cantilienne
CHANTILLY = "60141"
COYE = "60172"
MAIRIE_COYE = "service-public:00007e4d-264c-43a0-b0b7-7f3b7dd9e2e1"
CCAS_CHANTILLY = "service-public:00007e4d-264c-43a0-b0b7-7f3b7dd9e2e2"
BUS_DATASET_TITLE = "Horaires des bus de l'Aire Cantilienne"
PORTAL_LINK = re.compile(r"http://testserver(/compte/confirmation\?token=\S+)")
CSRF_INPUT = re.compile(r'name="csrf" value="([^"]+)"')
# Forms posted to an address that shows no page of its own, and the page that holds them.
FORM_PAGES = {
    "/compte/deconnexion": "/compte/",
    "/compte/retirer": "/compte/",
    "/compte/confirmation": "/compte/confirmation?token=lien-perime",
}
KEY_INPUT = re.compile(r'name="idempotency_key" value="([^"]+)"')


def today_in_paris() -> date:
    return datetime.now(ZoneInfo("Europe/Paris")).date()


def concert(start: date) -> CatalogueEntryUpserted:
    """An upcoming event in Chantilly (the recorded DATAtourisme event is in the past)."""
    return CatalogueEntryUpserted(
        entry_id="datatourisme:concert-potager-des-princes",
        version=1,
        kind=EntryKind.EVENT,
        title="Concert au Potager des Princes",
        description="Concert de musique baroque dans les jardins du Potager des Princes.",
        source_type="FeteEtManifestation",
        policy_area="Culture",
        commune_codes=[CHANTILLY],
        epci_codes=[EPCI],
        departement_codes=["60"],
        address=Address(
            lines=["17 rue de la Faisanderie"],
            postal_code="60500",
            city="Chantilly",
            commune_code=CHANTILLY,
        ),
        contacts=[Contact(kind="website", value="https://www.potagerdesprinces.com")],
        opening_hours=[],
        dates=[DateRange(start=start, end=start, start_time="20:30")],
        url=None,
        provenance=Provenance(source="datatourisme", remote_id="concert", licence="lov2"),
        updated_at=datetime.now(UTC),
    )


def library(opening_weekdays: list[int]) -> CatalogueEntryUpserted:
    """The médiathèque of Gouvieux, open on the given weekdays (0 = lundi)."""
    return CatalogueEntryUpserted(
        entry_id="service-public:mediatheque-gouvieux",
        version=1,
        kind=EntryKind.SERVICE,
        title="Médiathèque de Gouvieux",
        description="Prêt de livres, de disques et de films ; accès à internet.",
        source_type="bibliotheque",
        policy_area="Culture",
        commune_codes=["60282"],
        epci_codes=[EPCI],
        departement_codes=["60"],
        address=Address(
            lines=["Place Amic"], postal_code="60270", city="Gouvieux", commune_code="60282"
        ),
        contacts=[
            Contact(kind="phone", value="+33 3 44 57 90 36"),
            Contact(kind="email", value="mediatheque@gouvieux.fr"),
            Contact(kind="website", value="https://www.gouvieux.fr"),
        ],
        opening_hours=[
            OpeningSlot(weekday=d, opens="10:00", closes="18:00") for d in opening_weekdays
        ],
        dates=[],
        url="https://www.gouvieux.fr/mediatheque",
        provenance=Provenance(source="service-public", remote_id="mediatheque", licence="lov2"),
        updated_at=datetime(2026, 10, 2, 8, 0, tzinfo=UTC),
    )


class Portal:
    """The platform, its two authorities of the Aire Cantilienne, and a browser-like client."""

    def __init__(self, client: TestClient, settings: FeedbackSettings, inbox: Inbox) -> None:
        self.client = client
        self.settings = settings
        self.inbox = inbox
        self.api = FeedbackPlatform(client, settings, inbox, "embedded")
        app: Any = client.app
        self.ingest = app.state.runtimes["ingest"]
        self.catalogue = app.state.runtimes["catalogue"]
        self.feedback = app.state.runtimes["feedback"]
        suffix = uuid.uuid4().hex[:6]
        self.epci = f"cc-aire-cantilienne-{suffix}"
        self.town = f"chantilly-{suffix}"

    # -- seeding ----------------------------------------------------------------------------

    def create_tenant(
        self, code: str, name: str, siren: str, territory: list[str], **rules: Any
    ) -> None:
        r = self.client.post(
            "/feedback/v1/tenants",
            json={
                "code": code,
                "name": name,
                "siren": siren,
                "territory_codes": territory,
                "rules": rules,
            },
            headers=self.api.operator,
        )
        assert r.status_code == 201, r.text

    def harvest(self, tenant: str, source: str, path: Path, territory: str) -> None:
        run_harvest(
            self.ingest.db,
            source,
            tenant=tenant,
            territory_code=territory,
            path=path,
            on_commit=self.ingest.relay.wake,
        )
        self.settle()  # one harvest at a time: SQLite has one writer

    def publish(self, tenant: str, *datas: Any) -> None:
        events = [make_event(d, tenant=tenant, source="/citela/ingest") for d in datas]
        self.catalogue.bus.publish_many((CATALOGUE_TOPIC, e) for e in events)
        self.wait_consumed({e.id for e in events})

    def settle(self) -> None:
        """The ingest outbox published, and both the catalogue and feedback caught up."""
        from citela_ingest.models import Outbox

        deadline = time.monotonic() + 60
        while self.ingest.relay.backlog()[0] and time.monotonic() < deadline:
            self.ingest.relay.wake()
            time.sleep(0.05)
        assert self.ingest.relay.backlog()[0] == 0, "the ingest outbox was not published"
        with self.ingest.db.transaction() as s:
            ids = set(s.scalars(select(Outbox.event_id)))
        self.wait_consumed(ids)  # outside the transaction: it holds SQLite's write lock

    def wait_consumed(self, ids: set[str], timeout_s: float = 60) -> None:
        from citela_catalogue.models import ProcessedEvent as CatalogueProcessed
        from citela_feedback.models import ProcessedEvent as FeedbackProcessed
        from citela_feedback.readmodel import CONSUMER

        deadline = time.monotonic() + timeout_s
        for runtime, model, consumer in (
            (self.catalogue, CatalogueProcessed, "catalogue-projection"),
            (self.feedback, FeedbackProcessed, CONSUMER),
        ):
            done: set[str] = set()
            while True:
                try:
                    with runtime.db.transaction() as s:
                        done = set(
                            s.scalars(
                                select(model.event_id).where(
                                    model.consumer == consumer, model.event_id.in_(ids)
                                )
                            )
                        )
                except OperationalError:  # SQLite busy with the projection's big commits
                    pass
                if done == ids:
                    break
                assert time.monotonic() < deadline, f"{len(ids - done)} events not consumed"
                time.sleep(0.2)

    def seed(
        self, epci_rules: dict[str, Any] | None = None, town_rules: dict[str, Any] | None = None
    ) -> None:
        self.create_tenant(
            self.epci,
            "Communauté de communes de l'Aire Cantilienne",
            "246000764",
            [EPCI],
            **(epci_rules or {}),
        )
        self.create_tenant(
            self.town, "Ville de Chantilly", "216001412", [CHANTILLY], **(town_rules or {})
        )
        for tenant, territory in ((self.epci, EPCI), (self.town, CHANTILLY)):
            self.harvest(tenant, "territories", OISE, territory)
            self.harvest(
                tenant, "service-public", E2E / "service-public" / "export.json", territory
            )
        self.harvest(self.epci, "datagouv", E2E / "datagouv" / "page.json", EPCI)
        today = today_in_paris()
        # The geo.api fixture holds the communes only; a live harvest also gets the EPCI itself.
        aire_cantilienne = TerritoryUpserted(
            code=EPCI,
            level=TerritoryLevel.EPCI,
            name="CC de l'Aire Cantilienne",
            version=1,
            region_code="32",
            departement_codes=["60"],
            population=42386,
            provenance=Provenance(source="territories", remote_id=EPCI, licence="lov2"),
        )
        self.publish(
            self.epci,
            aire_cantilienne,
            concert(today + timedelta(days=12)),
            library(list(range(7))),
        )

    # -- the browser ------------------------------------------------------------------------

    def csrf(self, page: str = "/") -> str:
        """The CSRF token of the form on `page`, read from its HTML as a browser would post it
        (a page that forgot the hidden field fails here, not only in a real browser)."""
        html = self.client.get(page).text
        found = CSRF_INPUT.search(html)
        assert found, f"no CSRF field in the form of {page}"
        assert found.group(1) == self.client.cookies.get(CSRF_COOKIE)
        return found.group(1)

    def form(
        self, path: str, data: dict[str, Any], csrf: bool = True, page: str | None = None
    ) -> Any:
        """POST a portal form as the browser would (no redirect followed); the token comes
        from the page that shows the form (`page`, by default the form's own address)."""
        shown_on = page or FORM_PAGES.get(path.split("?")[0], path)
        payload = {**data, "csrf": self.csrf(shown_on)} if csrf else data
        return self.client.post(path, data=payload, follow_redirects=False)

    def register(self, name: str) -> str:
        address = f"{name.lower()}-{uuid.uuid4().hex[:6]}@exemple.fr"
        r = self.form(
            "/compte/inscription",
            {"email": address, "password": PASSWORD, "display_name": name},
        )
        assert r.status_code == 200, r.text
        assert "Un courriel de confirmation a été envoyé" in r.text
        return address

    def confirmation_path(self, address: str) -> str:
        found = PORTAL_LINK.search(body_of(self.inbox.wait_for(address)))
        assert found is not None, "the mail links to the portal's confirmation page"
        return found.group(1)

    def sign_in(self, address: str, suivant: str | None = None) -> Any:
        data = {"email": address, "password": PASSWORD}
        if suivant:
            data["suivant"] = suivant
        r = self.form("/compte/connexion", data)
        assert r.status_code == 303, r.text
        return r

    def citizen(self, name: str) -> str:
        """Registered, confirmed through the mailed link, and signed in."""
        address = self.register(name)
        assert self.client.get(self.confirmation_path(address)).status_code == 200
        self.sign_in(address)
        return address

    def sign_out(self) -> None:
        r = self.form("/compte/deconnexion", {})
        assert r.status_code == 303, r.text


@contextmanager
def portal_platform(tmp_path: Path) -> Iterator[Portal]:
    with smtp_server() as (inbox, port):
        settings = FeedbackSettings(
            data_dir=tmp_path / "var",
            smtp_host="127.0.0.1",
            smtp_port=port,
            portal_public_url="http://testserver",
            outbox_poll_interval_s=0.05,
            password_hash_time_cost=1,
            password_hash_memory_kib=1024,
            password_hash_parallelism=1,
        )
        with TestClient(create_embedded_app(settings)) as client:
            yield Portal(client, settings, inbox)


# --- reading the pages as a browser shows them ------------------------------------------------

LIBRARY = "service-public:mediatheque-gouvieux"


def text_of(html: str) -> str:
    """The visible text of a page's main content, spaces collapsed."""
    main = re.search(r"<main.*?</main>", html, re.S)
    assert main is not None
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", main.group(0)))).strip()


def links(html: str) -> list[str]:
    return [unescape(h) for h in re.findall(r'href="([^"]+)"', html)]


def page(portal: Portal, url: str, status: int = 200) -> str:
    r = portal.client.get(url, follow_redirects=False)
    assert r.status_code == status, (url, r.status_code, r.text[:500])
    return str(r.text)


def entry_url(portal: Portal, entry_id: str, tenant: str | None = None) -> str:
    return f"/c/{tenant or portal.epci}/services/{quote(entry_id, safe=':')}"


def feedback_url(portal: Portal, entry_id: str, tenant: str | None = None) -> str:
    return f"/c/{tenant or portal.epci}/donner-un-avis?service={quote(entry_id, safe='')}"


def give(portal: Portal, entry_id: str, tenant: str | None = None, **fields: Any) -> Any:
    form = page(portal, feedback_url(portal, entry_id, tenant))
    key = KEY_INPUT.search(form)
    assert key is not None
    return portal.form(
        feedback_url(portal, entry_id, tenant), {"idempotency_key": key.group(1), **fields}
    )
