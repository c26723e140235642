"""The embedded platform (``citela run``: the four services, their relays and consumers, one
process, no Kafka) as a real process on its own data directory, and the counts that say
whether a stop or a kill lost anything: the harness of ``test_embedded_faults.py``.

The load is ``distributed_support.RetryingLoad`` (a partner app, single POSTs, each retried
with its Idempotency-Key until a 2xx); the counts are the same as the distributed suite's:
2xx, feedback rows (feedback API), distinct ``feedback.submitted`` events in the bus's log
(the durable bus's SQLite file: no API lists it), answers in the matrix (analytics API),
dead letters and unscored comments.
"""

from __future__ import annotations

import re
import signal
import sqlite3
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from citela_analytics.service import build_runtime as build_analytics
from citela_common.auth import Role, TokenService
from citela_common.bus import BUS_FILE, InProcessBus, create_bus
from citela_common.bus.base import DLQ_SUFFIX
from citela_common.bus.durable import read_log
from citela_common.db import Database
from citela_common.events.models import CATALOGUE_TOPIC, FEEDBACK_TOPIC, CatalogueEntryUpserted
from citela_common.settings import Settings
from citela_common.tenancy import scope_to_tenant
from citela_feedback import partners, tenants
from citela_feedback.models import ProcessedEvent
from citela_feedback.readmodel import CONSUMER as READ_MODEL
from citela_feedback.service import build_runtime as build_feedback
from tests.catalogue import factories as cf
from tests.faults.distributed_support import (
    BIN,
    ROOT,
    SECRET_KEY,
    SUBMITTED,
    Counts,
    RetryingLoad,
    Tenant,
    clean_environment,
    feedback_rows,
    free_ports,
    matrix_answers,
    tail,
    territories,
    unscored_comments,
)

ANSI = re.compile(r"\x1b\[[0-9;]*m")
COMMUNE = ("ville-de-lescar", "Ville de Lescar", "64335")
ENTRIES = (
    ("mediatheque-lescar", "Médiathèque de Lescar", "Culture"),
    ("piscine-lescar", "Piscine municipale de Lescar", "Sports"),
    ("etat-civil-lescar", "Mairie de Lescar — état civil", "Administration générale"),
    ("ccas-lescar", "Centre communal d'action sociale de Lescar", "Action sociale"),
)


def embedded_settings(data_dir: Path) -> Settings:
    """The platform's settings as the test process sees them (same files, same secret)."""
    return Settings(_env_file=None, data_dir=data_dir, secret_key=SECRET_KEY)


def prepare(data_dir: Path) -> Tenant:
    """Before the platform's first start: the tenant and its partner app's key in the feedback
    service's file, its catalogue published on the embedded bus (the durable log: the platform
    will find it there when it starts, and project it)."""
    settings = embedded_settings(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    code, name, insee = COMMUNE
    runtime = build_feedback(settings, InProcessBus())
    runtime.migrate()
    try:
        with runtime.db.transaction() as session:
            scope_to_tenant(session, code)
            tenants.create(
                session, code=code, name=name, siren="200067254", territory_codes=["200067254"]
            )
            app = partners.create_app(
                session, tenant=code, name="Appli Ma Ville", rate_limit_per_minute=10**6
            )
            key = partners.create_key(session, app, scopes=["feedback:write"], tenants=[code]).key
    finally:
        runtime.db.dispose()
    entries: list[CatalogueEntryUpserted] = [
        cf.entry(remote, title, insee, policy_area=area) for remote, title, area in ENTRIES
    ]
    bus = create_bus(settings)
    try:
        bus.publish_many((CATALOGUE_TOPIC, cf.event(d, code)) for d in [*territories(), *entries])
    finally:
        bus.close()
    token = TokenService(settings).issue_access("faults-analyste", {code: [Role.ANALYST]}).token
    return Tenant(code, key, token, [e.entry_id for e in entries])


class EmbeddedPlatform:
    """``citela run`` on ``data_dir`` and a free port; started, stopped (SIGTERM) or killed."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_ports(1)[0]
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir.parent / "platform.log"
        self.env = clean_environment(
            CITELA_DATA_DIR=str(data_dir),
            CITELA_SECRET_KEY=SECRET_KEY,
            CITELA_LOG_LEVEL="INFO",
            CITELA_LOG_JSON="false",
            CITELA_ANALYTICS_SCORING_DELAY_S="0.2",
        )
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 90) -> float:
        """Start, and return once it answers ready; the seconds that took."""
        started = time.monotonic()
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [str(BIN / "citela"), "run", "--host", "127.0.0.1", "--port", str(self.port)],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = started + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"citela run exited:\n{tail(self.log_path)}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return time.monotonic() - started
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"citela run not ready in {timeout_s} s:\n{tail(self.log_path)}")

    def signal(self, sig: signal.Signals, timeout_s: float = 60) -> int:
        """Send ``sig`` and wait for the process to end; its exit status."""
        assert self.process is not None
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
            raise AssertionError(
                f"citela run did not stop on {sig.name}:\n{tail(self.log_path)}"
            ) from None

    def pending_at_start(self) -> int | None:
        """Records the bus reloaded for some group at its last start (its ``bus.loaded`` log
        line): what was in flight when it stopped, and what a memory-only bus would lose."""
        text = ANSI.sub("", self.log_path.read_text(errors="replace"))
        found = re.findall(r"bus\.loaded.*?pending=(\d+)", text)
        return int(found[-1]) if found else None

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.signal(signal.SIGTERM)


def bus_events(data_dir: Path, tenant: str) -> tuple[int, int, int]:
    """(distinct ``feedback.submitted`` event ids of ``tenant`` in the durable bus's log,
    records of them beyond the first, the tenant's records on any DLQ), read from its file."""
    ids: list[str] = []
    dead = 0
    for record in read_log(data_dir / BUS_FILE):
        if record.header("ce_tenant") != tenant:
            continue
        if record.topic.endswith(DLQ_SUFFIX):
            dead += 1
        elif record.topic == FEEDBACK_TOPIC and record.header("ce_type") == SUBMITTED:
            ids.append(record.header("ce_id") or "")
    return len(set(ids)), len(ids) - len(set(ids)), dead


def wait_catalogue(data_dir: Path, timeout_s: float = 60) -> None:
    """Until the feedback service's read model projected the whole catalogue."""
    settings = embedded_settings(data_dir)
    runtime = build_feedback(settings, InProcessBus())
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            with runtime.db.read() as session:
                marks = session.query(ProcessedEvent).filter_by(consumer=READ_MODEL).count()
            if marks >= len(territories()) + len(ENTRIES):
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"the read model has {marks} catalogue events")
            time.sleep(0.2)
    finally:
        runtime.db.dispose()


@dataclass
class Probe:
    platform: EmbeddedPlatform
    tenant: Tenant
    load: RetryingLoad
    facts: Database


def analytics_db(data_dir: Path) -> Database:
    return build_analytics(embedded_settings(data_dir), InProcessBus()).db


def measure(probe: Probe) -> Counts:
    url, tenant = probe.platform.url, probe.tenant
    events, duplicates, dead = bus_events(probe.platform.data_dir, tenant.code)
    return Counts(
        accepted=len(probe.load.stats.accepted.get(tenant.code, ())),
        rows=feedback_rows(f"{url}/feedback", tenant),
        events=events,
        duplicates=duplicates,
        matrix=matrix_answers(f"{url}/analytics", tenant),
        reconciled=None,
        dead_letters=dead,
        unscored=unscored_comments(probe.facts, tenant.code),
    )


def wait_drained(probe: Probe, since: float, timeout_s: float) -> tuple[Counts, float | None]:
    """Counts until drained or ``timeout_s``: (the last counts, seconds from ``since`` to the
    first drained ones, None if never)."""
    deadline = time.monotonic() + timeout_s
    last: Counts | None = None
    while True:
        try:
            last = measure(probe)
        except (httpx.HTTPError, sqlite3.Error, OSError) as exc:
            print(f"  count failed, retrying: {exc!r}"[:300])
        else:
            if last.drained():
                return last, time.monotonic() - since
        if time.monotonic() > deadline:
            assert last is not None, "the counts could never be read"
            return last, None
        time.sleep(0.5)
