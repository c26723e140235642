"""Test support for the feedback service: a real SMTP server, a platform driven over HTTP, and
readers of the feedback events actually published (in-process bus or Kafka)."""

from __future__ import annotations

import email
import email.policy
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from typing import Any, Protocol

from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient
from sqlalchemy import select

from citela_common.bus import InProcessBus
from citela_common.events import CloudEvent, from_binary
from citela_common.events.models import CATALOGUE_TOPIC, FEEDBACK_TOPIC
from citela_feedback import accounts
from citela_feedback.context import FeedbackContext
from citela_feedback.models import ProcessedEvent
from citela_feedback.readmodel import CONSUMER
from citela_feedback.settings import FeedbackSettings
from tests.catalogue import factories as cf

PASSWORD = "un mot de passe solide"
# The mail links to the portal's confirmation page, which confirms through the API.
LINK = re.compile(r"https?://\S+/compte/confirmation\?token=(\S+)")


class Response(Protocol):
    """What the tests read of a TestClient response (httpx's or httpx2's: starlette picks)."""

    @property
    def status_code(self) -> int: ...

    @property
    def text(self) -> str: ...

    @property
    def headers(self) -> Any: ...

    def json(self) -> Any: ...


# --- mail ------------------------------------------------------------------------------------


class Inbox:
    """An aiosmtpd handler that keeps every message it receives."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self._cond = threading.Condition()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self._cond:
            self.messages.append(message)
            self._cond.notify_all()
        return "250 Message accepted for delivery"

    def wait_for(self, to: str, timeout_s: float = 10) -> EmailMessage:
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while True:
                for message in self.messages:
                    if message["To"] == to:
                        return message
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no mail to {to} in {timeout_s}s")
                self._cond.wait(left)

    def count(self, to: str) -> int:
        with self._cond:
            return sum(1 for m in self.messages if m["To"] == to)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def body_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


# --- reading what was published --------------------------------------------------------------


class Published:
    """The feedback events of one tenant that reached the bus, from a point on."""

    def __init__(self, platform: FeedbackPlatform) -> None:
        self.platform = platform
        self.bus = platform.runtime.bus
        self._kafka: Any = None
        self._seen: list[CloudEvent] = []
        if not isinstance(self.bus, InProcessBus):
            from kafka import KafkaConsumer, TopicPartition

            consumer = KafkaConsumer(
                bootstrap_servers=platform.settings.kafka_bootstrap,
                enable_auto_commit=False,
                group_id=None,
            )
            self.bus.ensure_topics([FEEDBACK_TOPIC])
            partitions = [
                TopicPartition(FEEDBACK_TOPIC, p)
                for p in sorted(consumer.partitions_for_topic(FEEDBACK_TOPIC) or [])
            ]
            consumer.assign(partitions)
            # Start from the current end: other tests publish to the same topic.
            for tp, offset in consumer.end_offsets(partitions).items():
                consumer.seek(tp, offset)
            self._kafka = consumer

    def _poll(self) -> None:
        if self._kafka is None:
            return
        for records in self._kafka.poll(timeout_ms=500).values():
            for r in records:
                headers = [(k, v or b"") for k, v in (r.headers or [])]
                event = from_binary(r.value, headers)
                if event.tenant == self.platform.tenant:
                    self._seen.append(event)

    def events(self) -> list[CloudEvent]:
        if isinstance(self.bus, InProcessBus):
            out = []
            for record in self.bus.records(FEEDBACK_TOPIC):
                event = from_binary(record.value, record.headers)
                if event.tenant == self.platform.tenant:
                    out.append(event)
            return out
        self._poll()
        return list(self._seen)

    def wait(self, count: int, timeout_s: float = 30) -> list[CloudEvent]:
        """At least ``count`` events (the outbox is drained first), then a short settle."""
        self.platform.runtime.relay.drain(timeout_s)
        deadline = time.monotonic() + timeout_s
        while len(self.events()) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        found = self.events()
        assert len(found) >= count, f"{len(found)} events published, expected {count}"
        return found

    def close(self) -> None:
        if self._kafka is not None:
            self._kafka.close()


# --- the platform, driven over HTTP -------------------------------------------------------------


class FeedbackPlatform:
    """The embedded app (one of two modes) with a fresh tenant and helpers to act in it."""

    def __init__(
        self, client: TestClient, settings: FeedbackSettings, inbox: Inbox, mode: str
    ) -> None:
        self.client = client
        self.settings = settings
        self.inbox = inbox
        self.mode = mode
        app: Any = client.app
        self.runtime = app.state.runtimes["feedback"]
        self.ctx: FeedbackContext = self.runtime.context
        self.tenant = f"t-{uuid.uuid4().hex[:10]}"
        self.operator = self._operator()
        self.published = Published(self)

    # -- catalogue events ------------------------------------------------------------------

    def publish(self, *datas: Any, tenant: str | None = None) -> None:
        events = [cf.event(d, tenant or self.tenant) for d in datas]
        self.runtime.bus.publish_many((CATALOGUE_TOPIC, e) for e in events)
        for event in events:
            self.wait_projected(event.id)

    def wait_projected(self, event_id: str, timeout_s: float = 90) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self.runtime.db.transaction() as s:
                if s.get(ProcessedEvent, (CONSUMER, event_id)):
                    return
            time.sleep(0.02)
        raise AssertionError(f"catalogue event {event_id} not projected in {timeout_s}s")

    # -- people ----------------------------------------------------------------------------

    def _operator(self) -> dict[str, str]:
        email_address = f"operateur-{uuid.uuid4().hex[:8]}@citela.test"
        with self.runtime.db.transaction() as session:  # what `citela staff-add --operator` does
            accounts.create_account(
                session, self.ctx, email_address, PASSWORD, confirmed=True, operator=True
            )
        return self.login(email_address)

    def login(self, email_address: str, password: str = PASSWORD) -> dict[str, str]:
        r = self.client.post(
            "/feedback/v1/auth/token", json={"email": email_address, "password": password}
        )
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['access_token']}"}

    def register(self, name: str = "citoyen") -> str:
        email_address = f"{name}-{uuid.uuid4().hex[:8]}@exemple.fr"
        r = self.client.post(
            "/feedback/v1/accounts",
            json={"email": email_address, "password": PASSWORD, "display_name": name.title()},
        )
        assert r.status_code == 201, r.text
        return email_address

    def confirm(self, email_address: str) -> None:
        link = LINK.search(body_of(self.inbox.wait_for(email_address)))
        assert link is not None
        r = self.client.post("/feedback/v1/auth/confirm", json={"token": link.group(1)})
        assert r.status_code == 200, r.text

    def citizen(self, name: str = "citoyen") -> tuple[str, dict[str, str]]:
        email_address = self.register(name)
        self.confirm(email_address)
        return email_address, self.login(email_address)

    def staff(self, *roles: str, tenant: str | None = None) -> dict[str, str]:
        email_address, _ = self.citizen("agent")
        r = self.client.put(
            f"/feedback/v1/tenants/{tenant or self.tenant}/staff",
            json={"email": email_address, "roles": list(roles)},
            headers=self.operator,
        )
        assert r.status_code == 200, r.text
        return self.login(email_address)  # a fresh token carries the new roles

    def partner(
        self,
        *scopes: str,
        tenant: str | None = None,
        rate_limit: int | None = None,
        tenants: list[str] | None = None,
    ) -> dict[str, str]:
        tenant = tenant or self.tenant
        base = f"/feedback/v1/tenants/{tenant}/partner-apps"
        app = self.client.post(
            base,
            json={"name": "Appli de la ville", "rate_limit_per_minute": rate_limit},
            headers=self.operator,
        )
        assert app.status_code == 201, app.text
        body: dict[str, Any] = {"scopes": list(scopes or ("feedback:write", "feedback:read"))}
        if tenants:
            body["tenants"] = tenants
        key = self.client.post(f"{base}/{app.json()['id']}/keys", json=body, headers=self.operator)
        assert key.status_code == 201, key.text
        return {"X-API-Key": key.json()["key"]}

    # -- tenant and feedback ---------------------------------------------------------------

    def create_tenant(
        self,
        code: str | None = None,
        territory: list[str] | None = None,
        **rules: Any,
    ) -> str:
        code = code or self.tenant
        r = self.client.post(
            "/feedback/v1/tenants",
            json={
                "code": code,
                "name": "Communauté d'agglomération Pau Béarn Pyrénées",
                "siren": "200067254",
                "territory_codes": territory or ["200067254"],
                "rules": rules,
            },
            headers=self.operator,
        )
        assert r.status_code == 201, r.text
        return code

    def url(self, path: str = "", tenant: str | None = None) -> str:
        return f"/feedback/v1/tenants/{tenant or self.tenant}{path}"

    def post(self, headers: dict[str, str], tenant: str | None = None, **body: Any) -> Response:
        payload = {"entry_id": "service-public:mairie-pau", "satisfaction": 4, "importance": 5}
        payload.update(body)
        payload = {k: v for k, v in payload.items() if v is not ...}
        response: Response = self.client.post(
            self.url("/feedback", tenant), json=payload, headers=headers
        )
        return response

    def feedback_rows(self) -> list[Any]:
        from citela_common.tenancy import scope_to_tenant
        from citela_feedback.models import Feedback

        with self.runtime.db.transaction() as session:
            scope_to_tenant(session, self.tenant)
            return list(session.scalars(select(Feedback).order_by(Feedback.created_at)))


def problem(r: Response, status: int) -> dict[str, Any]:
    """The problem+json body of an error response, checked for shape."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json"), r.headers
    body: dict[str, Any] = r.json()
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    assert body["type"].startswith("https://citela.fr/")
    return body


def fields(body: dict[str, Any]) -> dict[str, str]:
    """field -> code of a problem's errors."""
    return {e["field"]: e["code"] for e in body.get("errors") or []}
