"""The distributed platform as real processes on a PRIVATE infrastructure, a steady retrying
load, and the counts that say whether anything was lost: the harness of
``test_distributed_faults.py``.

- ``PrivateInfra``: PostgreSQL, Redis and Kafka of ``deploy/infra.sh`` in a folder of their own
  (``CITELA_INFRA_DIR``) on free ports picked at run time, so a fault never touches the shared
  servers (5432/6379/9092) others' tests run on. Purged at the end.
- ``Platform``: ``deploy/platform.sh`` on that infra (supervisord: each service's API with its
  outbox relay and consumers, the Celery workers and beat, Prometheus), APIs from a free base
  port; a process killed -9 here is restarted by supervisord.
- ``RetryingLoad``: a partner app posting single feedbacks with an Idempotency-Key at a steady
  rate, retrying with the SAME key on connection errors, 429 and 5xx until a 2xx.
- ``measure`` / ``wait_drained``: API 2xx, feedback rows (the feedback API), distinct events
  on ``feedback.submitted`` (a throwaway consumer from the beginning), answers in the matrix
  (the analytics API), answers counted by ``citela analytics reconcile``, dead letters, and
  comments still unscored.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
from kafka import KafkaConsumer, TopicPartition
from sqlalchemy import and_, func, select

from citela_analytics.models import CommentScore, FeedbackFact
from citela_common.auth import Role, TokenService
from citela_common.bus import create_bus
from citela_common.bus.memory import InProcessBus
from citela_common.db import Database
from citela_common.events import CloudEvent, from_binary
from citela_common.events.models import (
    CATALOGUE_TOPIC,
    FEEDBACK_TOPIC,
    CatalogueEntryUpserted,
    TerritoryLevel,
)
from citela_common.settings import Settings
from citela_common.tenancy import scope_to_tenant
from citela_feedback import partners, tenants
from citela_feedback.models import ProcessedEvent
from citela_feedback.readmodel import CONSUMER as READ_MODEL
from citela_feedback.service import build_runtime as build_feedback
from tests.catalogue import factories as cf

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "deploy" / "infra.sh"
PLATFORM_SH = ROOT / "deploy" / "platform.sh"
BIN = Path(os.environ.get("VIRTUAL_ENV") or ROOT / ".venv") / "bin"
SHARED_PORTS = {5432, 6379, 9092, 9093}
SUBMITTED = "fr.citela.feedback.submitted.v1"
SECRET_KEY = (
    uuid.uuid4().hex + uuid.uuid4().hex
)  # the staff tokens of the counts are signed with it

# The processes a fault kills, by their names in deploy/platform.sh's supervisord.
FEEDBACK, ANALYTICS, CELERY, BEAT = "feedback", "analytics", "analytics-worker", "beat"

COMMENTS = (
    "Accueil très aimable, merci à l'équipe.",
    "Attente beaucoup trop longue au guichet le samedi matin.",
    "Horaires pratiques, personnel efficace et souriant.",
    "Impossible de joindre le service par téléphone, c'est décevant.",
    "Locaux propres et bien entretenus, rien à redire.",
    "Le bassin était fermé sans prévenir, très déçu.",
    "Large choix de livres et de BD, les enfants adorent.",
    None,  # an answer without a comment counts in the matrix and needs no score
)


def free_ports(n: int) -> list[int]:
    """``n`` distinct free TCP ports of 127.0.0.1 (never the shared servers' ones)."""
    found: list[int] = []
    sockets = []
    try:
        while len(found) < n:
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
            port = int(s.getsockname()[1])
            if port not in SHARED_PORTS:
                found.append(port)
    finally:
        for s in sockets:
            s.close()
    return found


def clean_environment(**extra: str) -> dict[str, str]:
    """This process's environment without any ``CITELA_*`` (the shared servers' URLs may be
    exported), plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("CITELA_")}
    env.update(extra)
    return env


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# --- the private infrastructure ----------------------------------------------------------------


class PrivateInfra:
    """PostgreSQL, Redis and Kafka of ``deploy/infra.sh`` in a folder of their own, on their own
    ports: this suite stops, restarts and kills them."""

    def __init__(self, folder: Path) -> None:
        script = INFRA.read_text()
        if "CITELA_INFRA_DIR" not in script:
            raise AssertionError("deploy/infra.sh has no CITELA_INFRA_DIR: no private instance")
        self.folder = folder.resolve()
        if self.folder == (ROOT / ".local").resolve():
            raise AssertionError("the fault suite never runs on the shared instance's folder")
        self.pg_port, self.redis_port, self.kafka_port, self.controller_port = free_ports(4)
        self.database_url = f"postgresql+psycopg://citela:citela@127.0.0.1:{self.pg_port}/citela"
        self.redis_url = f"redis://127.0.0.1:{self.redis_port}/0"
        self.kafka_bootstrap = f"127.0.0.1:{self.kafka_port}"

    def env(self) -> dict[str, str]:
        cache = os.environ.get("CITELA_INFRA_CACHE_DIR")  # the shared Kafka classpath, if moved
        return clean_environment(
            **({"CITELA_INFRA_CACHE_DIR": cache} if cache else {}),
            CITELA_INFRA_DIR=str(self.folder),
            CITELA_PG_PORT=str(self.pg_port),
            CITELA_REDIS_PORT=str(self.redis_port),
            CITELA_KAFKA_PORT=str(self.kafka_port),
            CITELA_KAFKA_CONTROLLER_PORT=str(self.controller_port),
            CITELA_KAFKA_HEAP="512m",
            CITELA_PG_SHARED_BUFFERS="128MB",
        )

    def run(self, *args: str, timeout: float = 240) -> str:
        done = subprocess.run(
            [str(INFRA), *args],
            env=self.env(),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise AssertionError(f"infra.sh {' '.join(args)}: {done.returncode}\n{done.stderr}")
        return done.stdout

    def up(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        # The PostgreSQL server runs as another user when we are root: let it reach the folder.
        self.folder.chmod(0o755)
        self.run("install", "kafka")  # the shared classpath cache, installed once
        self.run("start")

    def start(self, service: str) -> None:
        self.run("start", service)

    def stop(self, service: str) -> None:
        self.run("stop", service)

    def restart(self, service: str) -> None:
        self.run("restart", service)

    def kafka_pid(self) -> int:
        return int((self.folder / "kafka" / "kafka.pid").read_text().strip())

    def purge(self) -> None:
        try:
            self.run("purge", timeout=120)
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def settings(self, data_dir: Path) -> Settings:
        return Settings(
            _env_file=None,
            data_dir=data_dir,
            database_url=self.database_url,
            kafka_bootstrap=self.kafka_bootstrap,
            redis_url=self.redis_url,
            kafka_client_id="citela-faults-test",
            secret_key=SECRET_KEY,
            log_level="WARNING",
        )


# --- the platform's processes ------------------------------------------------------------------


class Platform:
    """The platform as ``deploy/platform.sh`` runs it (supervisord: every service's API with
    its relay and consumers, the Celery workers, beat, Prometheus), on the private infra, its
    APIs from a free base port. A process killed here is restarted by supervisord."""

    def __init__(self, infra: PrivateInfra, env: dict[str, str]) -> None:
        self.infra = infra
        base = free_block(6)
        (prometheus,) = free_ports(1)
        self.env = {
            **infra.env(),
            **{k: v for k, v in env.items() if k.startswith("CITELA_") and "_URL" not in k},
            "CITELA_PLATFORM_PORT": str(base),
            "CITELA_PROMETHEUS_PORT": str(prometheus),
            "CITELA_PLATFORM_WAIT_S": "400",  # a loaded CI machine: 229 s seen
        }
        self.env.pop("CITELA_KAFKA_BOOTSTRAP", None)
        self.feedback_url = f"http://127.0.0.1:{base + 2}"
        self.analytics_url = f"http://127.0.0.1:{base + 3}"
        self.folder = infra.folder / "platform"
        self.health = {
            FEEDBACK: f"{self.feedback_url}/healthz",
            ANALYTICS: f"{self.analytics_url}/healthz",
        }

    def script(self, *args: str, timeout: float = 400) -> str:
        done = subprocess.run(
            [str(PLATFORM_SH), *args],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise AssertionError(
                f"platform.sh {' '.join(args)}: {done.returncode}\n{done.stdout}\n{done.stderr}"
            )
        return done.stdout

    def ctl(self, *args: str) -> str:
        done = subprocess.run(
            [str(BIN / "supervisorctl"), "-c", str(self.folder / "supervisord.conf"), *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        return done.stdout.strip()

    def start(self, timeout_s: float = 500) -> None:
        if shutil.which("prometheus") is None:  # a machine where make up never ran (CI)
            self.script("install", timeout=600)
        self.script("start", timeout=timeout_s)

    def log(self, name: str) -> Path:
        return self.folder / "logs" / f"{name}.log"

    def pid(self, name: str) -> int:
        out = self.ctl("pid", name)
        return int(out) if out.isdigit() else 0

    def restarts(self, name: str) -> str:
        return self.ctl("status", name)

    def kill(self, name: str) -> int:
        pid = self.pid(name)
        assert pid > 0, f"{name} is not running: {self.ctl('status', name)}"
        os.kill(pid, signal.SIGKILL)
        return pid

    def wait_restarted(self, name: str, old_pid: int, timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s
        while self.pid(name) in (0, old_pid):
            if time.monotonic() > deadline:
                raise AssertionError(f"{name} was not restarted:\n{tail(self.log(name))}")
            time.sleep(0.2)
        url = self.health.get(name)
        while url is not None:
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"{name} did not answer again:\n{tail(self.log(name))}")
            time.sleep(0.2)

    def stop(self) -> None:
        self.script("down", timeout=180)


def free_block(n: int, attempts: int = 50) -> int:
    """The first of ``n`` consecutive free ports (for platform.sh's base port)."""
    for _ in range(attempts):
        (base,) = free_ports(1)
        if base + n >= 65535:
            continue
        block = []
        try:
            for port in range(base, base + n):
                s = socket.socket()
                block.append(s)
                s.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            for s in block:
                s.close()
        if not SHARED_PORTS & set(range(base, base + n)):
            return base
    raise AssertionError(f"no {n} consecutive free ports found")


def start_platform(infra: PrivateInfra, env: dict[str, str]) -> Platform:
    """``deploy/platform.sh start`` on the private infra; stopped again if it fails."""
    platform = Platform(infra, env)
    try:
        platform.start()
    except BaseException:
        platform.stop()
        raise
    return platform


def platform_env(infra: PrivateInfra, data_dir: Path) -> dict[str, str]:
    """The variables of the platform's processes: the private servers, nothing of ours."""
    return clean_environment(
        CITELA_DATABASE_URL=infra.database_url,
        CITELA_KAFKA_BOOTSTRAP=infra.kafka_bootstrap,
        CITELA_REDIS_URL=infra.redis_url,
        CITELA_DATA_DIR=str(data_dir),
        CITELA_LOG_LEVEL="INFO",
        CITELA_LOG_JSON="false",
        CITELA_KAFKA_CLIENT_ID="citela-faults",
        CITELA_SECRET_KEY=SECRET_KEY,
        # The beat sweep scores what a lost trigger missed: seconds here, not a minute.
        CITELA_ANALYTICS_SCORING_SWEEP_S="5",
    )


# --- tenants ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Commune:
    code: str  # the tenant's code
    name: str
    insee: str
    entries: tuple[tuple[str, str, str], ...]  # (remote id, title, policy area)


@dataclass
class Tenant:
    code: str
    api_key: str
    staff_token: str
    entry_ids: list[str]


def territories() -> list[Any]:
    return [
        *cf.GEOGRAPHY,
        *(
            cf.territory(
                insee,
                TerritoryLevel.COMMUNE,
                name,
                region_code="75",
                departement_codes=["64"],
                epci_code="200067254",
            )
            for insee, name in (("64129", "Billère"), ("64335", "Lescar"), ("64284", "Jurançon"))
        ),
    ]


def prepare_tenant(settings: Settings, commune: Commune, timeout_s: float = 120) -> Tenant:
    """The commune as a tenant with a partner app's key, and its catalogue published on the
    private Kafka (both services learn it from there, as deployed); returns once the feedback
    service's read model has it."""
    runtime = build_feedback(settings, InProcessBus())
    try:
        with runtime.db.transaction() as session:
            scope_to_tenant(session, commune.code)
            tenants.create(
                session,
                code=commune.code,
                name=commune.name,
                siren="200067254",
                territory_codes=["200067254"],
            )
            app = partners.create_app(
                session, tenant=commune.code, name="Appli Ma Ville", rate_limit_per_minute=10**6
            )
            key = partners.create_key(
                session, app, scopes=["feedback:write"], tenants=[commune.code]
            ).key
        entries: list[CatalogueEntryUpserted] = [
            cf.entry(remote, title, commune.insee, policy_area=area)
            for remote, title, area in commune.entries
        ]
        events: list[CloudEvent] = [cf.event(d, commune.code) for d in [*territories(), *entries]]
        bus = create_bus(settings)
        try:
            bus.publish_many((CATALOGUE_TOPIC, e) for e in events)
        finally:
            bus.close()
        deadline = time.monotonic() + timeout_s
        while True:
            with runtime.db.transaction() as session:
                if session.get(ProcessedEvent, (READ_MODEL, events[-1].id)):
                    break
            if time.monotonic() > deadline:
                raise AssertionError(f"the feedback read model never had {commune.name}")
            time.sleep(0.2)
    finally:
        runtime.db.dispose()
    token = (
        TokenService(settings).issue_access("faults-analyste", {commune.code: [Role.ANALYST]}).token
    )
    return Tenant(commune.code, key, token, [e.entry_id for e in entries])


# --- the load -----------------------------------------------------------------------------------


@dataclass
class LoadStats:
    accepted: dict[str, set[str]] = field(default_factory=dict)  # tenant -> feedback ids
    posts: int = 0
    retries: Counter[str] = field(default_factory=Counter)  # why: status code or error
    refused: list[str] = field(default_factory=list)  # a 4xx other than 429: a bug


class RetryingLoad:
    """A partner app posting single feedbacks at ``rate`` per second from ``threads`` threads;
    each POST has its own Idempotency-Key and is retried with it until a 2xx (connection
    errors, timeouts, 429 and 5xx, 503 included), honouring Retry-After (capped)."""

    def __init__(self, base_url: str, rate: float = 30.0, threads: int = 6) -> None:
        self.base_url = base_url
        self.interval = threads / rate
        self.stats = LoadStats()
        self._tenant: Tenant | None = None
        self._serial = iter(range(10**9))
        self._lock = threading.Lock()
        self._running = threading.Event()
        self._stopping = threading.Event()
        self._in_flight = 0
        self._idle = threading.Condition(self._lock)
        self._threads = [
            threading.Thread(target=self._loop, name=f"faults-load-{i}", daemon=True)
            for i in range(threads)
        ]
        for t in self._threads:
            t.start()

    def target(self, tenant: Tenant) -> None:
        """Post for ``tenant`` from now on (call while paused)."""
        self._tenant = tenant
        self.stats.accepted.setdefault(tenant.code, set())

    def resume(self) -> None:
        self._running.set()

    def pause(self, timeout_s: float = 180) -> None:
        """Stop starting new POSTs and wait until each one started has had its 2xx."""
        self._running.clear()
        deadline = time.monotonic() + timeout_s
        with self._idle:
            while self._in_flight:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{self._in_flight} POSTs still without a 2xx")
                self._idle.wait(left)

    def close(self) -> None:
        self._stopping.set()
        self._running.set()
        for t in self._threads:
            t.join(15)

    def _loop(self) -> None:
        with httpx.Client(timeout=10.0) as client:
            next_slot = time.monotonic()
            while not self._stopping.is_set():
                if not self._running.wait(0.2):
                    next_slot = time.monotonic()
                    continue
                now = time.monotonic()
                if next_slot > now:
                    time.sleep(next_slot - now)
                next_slot = max(next_slot + self.interval, time.monotonic())
                with self._lock:
                    if not self._running.is_set() or self._stopping.is_set():
                        continue
                    tenant = self._tenant
                    self._in_flight += 1
                try:
                    if tenant is not None:
                        self._post(client, tenant, next(self._serial))
                finally:
                    with self._idle:
                        self._in_flight -= 1
                        self._idle.notify_all()

    def _post(self, client: httpx.Client, tenant: Tenant, n: int) -> None:
        body: dict[str, Any] = {
            "entry_id": tenant.entry_ids[n % len(tenant.entry_ids)],
            "satisfaction": 1 + n % 5,
            "importance": 1 + (n * 3) % 5,
            "user_ref": f"usager-{n}",
        }
        comment = COMMENTS[n % len(COMMENTS)]
        if comment is not None:
            body["comment"] = comment
        headers = {"X-API-Key": tenant.api_key, "Idempotency-Key": uuid.uuid4().hex}
        url = f"{self.base_url}/v1/tenants/{tenant.code}/feedback"
        backoff = 0.1
        while not self._stopping.is_set():
            wait = backoff
            try:
                response = client.post(url, json=body, headers=headers)
            except httpx.TransportError as exc:
                why = type(exc).__name__
            else:
                if response.is_success:
                    with self._lock:
                        self.stats.posts += 1
                        self.stats.accepted[tenant.code].add(response.json()["id"])
                    return
                if response.status_code != 429 and response.status_code < 500:
                    with self._lock:
                        self.stats.refused.append(f"{response.status_code} {response.text[:200]}")
                    return
                why = str(response.status_code)
                retry_after = response.headers.get("retry-after", "")
                if retry_after.isdigit():
                    wait = min(float(retry_after), 2.0)
            with self._lock:
                self.stats.retries[why] += 1
            time.sleep(wait)
            backoff = min(backoff * 2, 1.0)


# --- the counts ---------------------------------------------------------------------------------


@dataclass
class Counts:
    accepted: int  # distinct feedback ids answered 2xx
    rows: int  # the tenant's feedback, listed by the feedback API
    events: int  # distinct feedback.submitted event ids of the tenant on the topic
    duplicates: int  # records of those events beyond the first (harmless, but counted)
    matrix: int  # answers in the tenant's matrix (analytics API)
    reconciled: int | None  # answers `citela analytics reconcile` counts (None: no answer)
    dead_letters: int  # the tenant's records on any <topic>.dlq
    unscored: int  # the tenant's comments without a sentiment score

    def drained(self) -> bool:
        """Every accepted feedback is a row, one event, one answer in the matrix, scored."""
        n = self.accepted
        return (
            n > 0
            and self.rows == n
            and self.events == n
            and self.matrix == n
            and self.dead_letters == 0
            and self.unscored == 0
        )

    def settled(self) -> bool:
        """Drained, and ``citela analytics reconcile`` counts the same."""
        return self.drained() and self.reconciled == self.accepted


def feedback_rows(base_url: str, tenant: Tenant) -> int:
    headers = {"Authorization": f"Bearer {tenant.staff_token}"}
    url = f"{base_url}/v1/tenants/{tenant.code}/feedback"
    ids: set[str] = set()
    cursor: str | None = None
    with httpx.Client(timeout=30.0) as client:
        while True:
            params: dict[str, Any] = {"limit": 200}
            if cursor:
                params["cursor"] = cursor
            response = client.get(url, params=params, headers=headers)
            response.raise_for_status()
            page = response.json()
            ids.update(item["id"] for item in page["items"])
            cursor = page.get("next_cursor")
            if not cursor:
                return len(ids)


def matrix_answers(base_url: str, tenant: Tenant) -> int:
    response = httpx.get(
        f"{base_url}/v1/tenants/{tenant.code}/matrix",
        headers={"Authorization": f"Bearer {tenant.staff_token}"},
        timeout=30.0,
    )
    response.raise_for_status()
    return sum(int(p["n"]) for p in response.json()["services"])


def _records(bootstrap: str, topics: Sequence[str]) -> Iterator[Any]:
    """Every record of ``topics`` from the beginning up to their end at the time of the call."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=5000
    )
    try:
        partitions = [
            TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t) or ()
        ]
        if not partitions:
            return
        ends = consumer.end_offsets(partitions)
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        left = {tp for tp, end in ends.items() if end > 0}
        deadline = time.monotonic() + 60
        while left and time.monotonic() < deadline:
            for tp, records in consumer.poll(timeout_ms=1000).items():
                yield from records
                if consumer.position(tp) >= ends[tp]:
                    left.discard(tp)
            left = {tp for tp in left if consumer.position(tp) < ends[tp]}
        if left:
            raise AssertionError(f"could not read {sorted(str(t) for t in left)} to their end")
    finally:
        consumer.close()


def topic_events(bootstrap: str, tenant: str) -> tuple[int, int]:
    """(distinct feedback.submitted event ids of ``tenant``, records beyond the first)."""
    seen: Counter[str] = Counter()
    for r in _records(bootstrap, [FEEDBACK_TOPIC]):
        event = from_binary(r.value, [(k, v or b"") for k, v in (r.headers or [])])
        if event.tenant == tenant and event.type == SUBMITTED:
            seen[event.id] += 1
    return len(seen), sum(seen.values()) - len(seen)


def dead_letters(bootstrap: str, tenant: str) -> int:
    """The records of ``tenant`` on every dead-letter topic (``<topic>.dlq``)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        dlqs = sorted(t for t in consumer.topics() if t.endswith(".dlq"))
    finally:
        consumer.close()
    marker = tenant.encode()
    n = 0
    for r in _records(bootstrap, dlqs):
        blob = (r.value or b"") + b"".join(v or b"" for _k, v in r.headers or [])
        n += marker in blob
    return n


def unscored_comments(db: Database, tenant: str) -> int:
    """The tenant's live comments without a score for their revision (any backend)."""
    scored = select(CommentScore.feedback_id).where(
        and_(
            CommentScore.tenant_id == FeedbackFact.tenant_id,
            CommentScore.feedback_id == FeedbackFact.feedback_id,
            CommentScore.revision == FeedbackFact.revision,
        )
    )
    stmt = (
        select(func.count())
        .select_from(FeedbackFact)
        .where(
            FeedbackFact.tenant_id == tenant,
            FeedbackFact.retracted_at.is_(None),
            FeedbackFact.comment.is_not(None),
            FeedbackFact.comment != "",
            ~scored.exists(),
        )
    )
    with db.read() as session:
        scope_to_tenant(session, tenant)
        return int(session.scalar(stmt) or 0)


def reconciled_answers(env: dict[str, str], tenant: str) -> tuple[int | None, str]:
    """What ``citela analytics reconcile --tenant T --json`` says: (the tenant's answers, when
    the feedback service's count and the matrix's agree with no écart; its output)."""
    done = subprocess.run(
        [str(BIN / "citela"), "analytics", "reconcile", "--tenant", tenant, "--json"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    out = (done.stdout + done.stderr).strip()
    if done.returncode != 0:  # 1: écarts remain; 2: the feedback service did not answer
        return None, out
    try:
        report = json.loads(done.stdout)
    except ValueError:
        return None, out
    for row in report.get("tenants", []):
        if (
            row.get("tenant") == tenant
            and not row.get("ecarts")
            and row["feedback"] == row["matrix"]
        ):
            return int(row["feedback"]), out
    return None, out


@dataclass
class Probe:
    """Everything ``measure`` needs to count one tenant."""

    platform: Platform
    infra: PrivateInfra
    facts: Database
    cli_env: dict[str, str]
    load: RetryingLoad
    reconcile_output: str = ""


def measure(probe: Probe, tenant: Tenant) -> Counts:
    bootstrap = probe.infra.kafka_bootstrap
    events, duplicates = topic_events(bootstrap, tenant.code)
    return Counts(
        accepted=len(probe.load.stats.accepted.get(tenant.code, ())),
        rows=feedback_rows(probe.platform.feedback_url, tenant),
        events=events,
        duplicates=duplicates,
        matrix=matrix_answers(probe.platform.analytics_url, tenant),
        reconciled=None,  # asked once drained (a CLI run: seconds of imports each time)
        dead_letters=dead_letters(bootstrap, tenant.code),
        unscored=unscored_comments(probe.facts, tenant.code),
    )


def wait_drained(
    probe: Probe, tenant: Tenant, since: float, timeout_s: float, every_s: float = 1.0
) -> tuple[Counts, float | None]:
    """Counts until drained (or ``timeout_s``), then what reconcile says: (the last counts,
    seconds from ``since`` — a ``time.monotonic()`` — to the first drained counts, None if
    they never drained)."""
    deadline = time.monotonic() + timeout_s
    last: Counts | None = None
    recovery: float | None = None
    while True:
        try:
            last = measure(probe, tenant)
        except (httpx.HTTPError, AssertionError, OSError) as exc:  # a service still restarting
            print(f"  count failed, retrying: {exc!r}"[:300])
        else:
            if last.drained():
                recovery = time.monotonic() - since
                break
        if time.monotonic() > deadline:
            if last is None:
                raise AssertionError("the counts could never be read")
            break
        time.sleep(every_s)
    last.reconciled, probe.reconcile_output = reconciled_answers(probe.cli_env, tenant.code)
    return last, recovery


# --- the report ---------------------------------------------------------------------------------


@dataclass
class FaultResult:
    fault: str
    tenant: str
    fault_s: float  # how long the dependency or process was gone (until back / restarted)
    recovery_s: float | None  # fault end -> every count equal (None: never within the bound)
    counts: Counts
    retries: dict[str, int]
    load_per_s: float

    def line(self) -> str:
        c = self.counts
        rec = f"{self.recovery_s:.1f} s" if self.recovery_s is not None else "NOT RECOVERED"
        return (
            f"{self.fault}: recovery {rec} (fault {self.fault_s:.1f} s); 2xx {c.accepted}, "
            f"rows {c.rows}, events {c.events} (+{c.duplicates} duplicate records), "
            f"matrix {c.matrix}, reconcile {c.reconciled}, DLQ {c.dead_letters}, "
            f"unscored {c.unscored}; retries {dict(self.retries)}"
        )


def write_report(path: Path, results: Sequence[FaultResult], meta: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {**meta, "faults": [asdict(r) for r in results]}
    path.write_text(json.dumps(body, indent=2, ensure_ascii=False) + "\n")


def workdir(prefix: str) -> Path:
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    folder.chmod(0o755)
    return folder


Step = Callable[[], None]
