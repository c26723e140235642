"""The distributed deployment files agree with the code they start.

No Docker engine is needed: these tests read docker-compose.yml, the Dockerfiles under
deploy/docker/, the Prometheus and Grafana files, and check them against the code: the
``citela`` CLI and its service registry, the Celery app, the Settings fields and the
metrics of ``citela_common.metrics``. Where the ``docker compose`` client plugin is
installed, ``docker compose config`` validates the file too; where it is not, the same
test checks the file's variable interpolation itself.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import subprocess
import tomllib
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import typer.main
import yaml
from prometheus_client.metrics import MetricWrapperBase
from sqlalchemy.engine import make_url

from citela_common.settings import Mode, Settings, get_settings
from citela_platform.registry import SERVED, SERVICES

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKER_DIR = ROOT / "deploy" / "docker"
PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
GRAFANA_DIR = ROOT / "deploy" / "grafana"

CONTAINER_PORT = 8000  # what every service image listens on
INFRA = ("kafka", "postgres", "redis")
# The Celery worker of each service with tasks: from the service's own image, on its queue.
SERVICE_WORKERS = {"ingest-worker": "ingest", "analytics-worker": "analytics"}
# What runs from the platform's image (the composition root).
PLATFORM_JOBS = ("platform-worker", "beat", "migrate")
BACKGROUND = (*SERVICE_WORKERS, *PLATFORM_JOBS)
# Celery exposes no metrics: this process reads the queues from Redis for Prometheus.
QUEUE_METRICS = "queue-metrics"
QUEUE_METRICS_MODULE = "citela_platform.queue_metrics"
SECRET = "a-test-secret-that-is-long-enough-0123456789"


# --------------------------------------------------------------------------------------
# Helpers: compose interpolation, ports, Dockerfiles, PromQL, metrics
# --------------------------------------------------------------------------------------

_INTERPOLATION = re.compile(
    r"\$(?:(?P<escaped>\$)"
    r"|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|(?P<named>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<invalid>))"
)


class MissingVariableError(ValueError):
    pass


def interpolate(value: str, env: Mapping[str, str]) -> str:
    """Compose's variable substitution (``$$``, ``$VAR``, ``${VAR}``, ``${VAR:-d}``,
    ``${VAR-d}``, ``${VAR:?err}``, ``${VAR?err}``, ``${VAR:+x}``, ``${VAR+x}``)."""

    def substitute(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        if match["invalid"] is not None and match["named"] is None and match["braced"] is None:
            raise ValueError(f"invalid interpolation at {match.start()} in {value!r}")
        name = match["braced"] or match["named"]
        op, arg = match["op"], match["arg"] or ""
        present = name in env
        current = env.get(name, "")
        unset_or_empty = not current
        if op is None:
            return current
        missing = unset_or_empty if op.startswith(":") else not present
        kind = op[-1]
        if kind == "-":
            return arg if missing else current
        if kind == "?":
            if missing:
                raise MissingVariableError(f"{name}: {arg}")
            return current
        return "" if missing else arg  # "+"

    return _INTERPOLATION.sub(substitute, value)


def strings_in(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, Mapping):
        for key, value in node.items():
            yield from strings_in(key)
            yield from strings_in(value)
    elif isinstance(node, list):
        for item in node:
            yield from strings_in(item)


def environment(service: Mapping[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        pairs = [item.split("=", 1) for item in env]
        return {k: v for k, v in pairs}
    return {k: "" if v is None else str(v) for k, v in env.items()}


def resolved_environment(service: Mapping[str, Any]) -> dict[str, str]:
    shell = {"CITELA_SECRET_KEY": SECRET}
    return {k: interpolate(v, shell) for k, v in environment(service).items()}


def parse_port(spec: Any) -> tuple[str | None, int, int]:
    """(host ip, published port, container port) of a compose ``ports`` entry."""
    if isinstance(spec, Mapping):
        return spec.get("host_ip"), int(spec["published"]), int(spec["target"])
    parts = str(spec).split("/")[0].split(":")
    if len(parts) == 3:
        return parts[0], int(parts[1]), int(parts[2])
    if len(parts) == 2:
        return None, int(parts[0]), int(parts[1])
    raise AssertionError(f"port {spec!r}: publish it explicitly as HOST:CONTAINER")


def parse_volume(spec: Any) -> tuple[str, str]:
    if isinstance(spec, Mapping):
        return str(spec.get("source", "")), str(spec["target"])
    source, target, *_ = str(spec).split(":")
    return source, target


def argv(command: Any) -> list[str]:
    assert isinstance(command, list), f"use the exec form (a list) for commands: {command!r}"
    return [str(a) for a in command]


def option(args: list[str], name: str) -> str | None:
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def healthcheck_text(check: Mapping[str, Any]) -> str:
    test = check.get("test")
    return " ".join(test) if isinstance(test, list) else str(test)


class Dockerfile:
    """The instructions of a Dockerfile, by stage, with the ARG defaults resolved."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.instructions: list[tuple[str, str]] = []
        logical = ""
        for raw in path.read_text().splitlines():
            stripped = raw.strip()
            if stripped.startswith("#") or (not stripped and not logical):
                continue
            if stripped.endswith("\\"):
                logical += stripped[:-1] + " "
                continue
            logical += stripped
            keyword, _, rest = logical.strip().partition(" ")
            self.instructions.append((keyword.upper(), rest.strip()))
            logical = ""
        assert not logical, f"{path.name}: a line continuation runs off the end"
        self.args: dict[str, str] = {}
        for keyword, rest in self.instructions:
            if keyword == "FROM":
                break
            if keyword == "ARG" and "=" in rest:
                name, default = rest.split("=", 1)
                self.args[name] = default
        self.stages: list[list[tuple[str, str]]] = []
        for keyword, rest in self.instructions:
            if keyword == "FROM":
                self.stages.append([])
            if self.stages:
                self.stages[-1].append((keyword, rest))

    def resolve(self, text: str) -> str:
        return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: self.args.get(m[1] or m[2], m[0]), text)

    def base(self, stage: list[tuple[str, str]]) -> str:
        return self.resolve(stage[0][1].split()[0])

    @property
    def final(self) -> list[tuple[str, str]]:
        return self.stages[-1]

    def last(self, keyword: str, stage: list[tuple[str, str]] | None = None) -> str | None:
        found = [rest for kw, rest in (stage or self.final) if kw == keyword]
        return found[-1] if found else None

    def all(self, keyword: str) -> list[str]:
        return [rest for kw, rest in self.instructions if kw == keyword]

    @property
    def cmd(self) -> list[str]:
        cmd = self.last("CMD")
        assert cmd, f"{self.path.name}: no CMD"
        parsed = json.loads(cmd)
        assert isinstance(parsed, list), f"{self.path.name}: CMD must be the exec form"
        return [str(a) for a in parsed]


_SELECTOR = re.compile(r"\b(citela_[a-zA-Z0-9_]+)\s*(\{[^}]*\})?")
_GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
_MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")
TARGET_LABELS = {"job", "instance"}  # Prometheus adds them to every scraped series
METRICS_MODULES = (
    "citela_common.metrics",
    "citela_ingest.metrics",
    "citela_feedback.metrics",
    "citela_analytics.metrics",
    QUEUE_METRICS_MODULE,
)


@cache
def exposed_metrics() -> dict[str, frozenset[str]]:
    """Series names the platform's metrics modules expose, with their label names."""
    exposed: dict[str, frozenset[str]] = {}
    objects = [
        obj for module in METRICS_MODULES for obj in vars(importlib.import_module(module)).values()
    ]
    for obj in objects:
        if not isinstance(obj, MetricWrapperBase):
            continue
        labels = frozenset(obj._labelnames)  # no public accessor in prometheus_client
        for family in obj.describe():
            if family.type == "counter":
                exposed[family.name + "_total"] = labels
            elif family.type == "histogram":
                exposed[family.name + "_bucket"] = labels | {"le"}
                exposed[family.name + "_sum"] = labels
                exposed[family.name + "_count"] = labels
            elif family.type == "summary":
                exposed[family.name] = labels | {"quantile"}
                exposed[family.name + "_sum"] = labels
                exposed[family.name + "_count"] = labels
            else:
                exposed[family.name] = labels
    assert exposed, "the metrics modules define no metric"
    return exposed


def promql_problems(expr: str) -> list[str]:
    """Metric names, label matchers and grouping labels that the metrics do not have."""
    exposed = exposed_metrics()
    problems: list[str] = []
    used: list[str] = []
    for match in _SELECTOR.finditer(expr):
        name, selector = match[1], match[2]
        if name not in exposed:
            problems.append(f"unknown metric {name}")
            continue
        used.append(name)
        for label in _MATCHER.findall(selector or ""):
            if label not in exposed[name] | TARGET_LABELS:
                problems.append(f"{name} has no label {label!r}")
    available = set(TARGET_LABELS).union(*(exposed[n] for n in used)) if used else None
    for group in _GROUPING.findall(expr):
        for label in filter(None, (lab.strip() for lab in group.split(","))):
            if available is not None and label not in available:
                problems.append(f"grouping by {label!r}, a label none of {used} has")
    return problems


def metric_names(expr: str) -> set[str]:
    return {m[1] for m in _SELECTOR.finditer(expr)}


def dashboard_exprs(dashboard: Mapping[str, Any]) -> list[str]:
    exprs: list[str] = []

    def walk(panels: list[Any]) -> None:
        for panel in panels:
            exprs.extend(t["expr"] for t in panel.get("targets", []) if t.get("expr"))
            walk(panel.get("panels", []))

    walk(dashboard.get("panels", []))
    for variable in dashboard.get("templating", {}).get("list", []):
        query = variable.get("query")
        exprs.append(query.get("query", "") if isinstance(query, Mapping) else str(query or ""))
    return [e for e in exprs if e]


def load_yaml(path: Path) -> Any:
    assert path.is_file(), f"missing {path.relative_to(ROOT)}"
    return yaml.safe_load(path.read_text())


# --------------------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = load_yaml(COMPOSE_FILE)
    assert isinstance(data, dict)
    assert isinstance(data.get("services"), dict)
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose["services"]
    return found


@pytest.fixture(scope="module")
def dockerfiles() -> dict[str, Dockerfile]:
    return {p.name: Dockerfile(p) for p in sorted(DOCKER_DIR.glob("*.Dockerfile"))}


@pytest.fixture(scope="module")
def cli_commands() -> set[str]:
    from citela_platform import cli

    return set(typer.main.get_command(cli.app).commands)  # type: ignore[attr-defined]


def check_command(args: list[str], cli_commands: set[str], *, port: int | None = None) -> None:
    """The program and its arguments exist in the code base (and listen where expected)."""
    program = args[0]
    if program == "python" and args[2:3] == [QUEUE_METRICS_MODULE]:
        module = importlib.import_module(QUEUE_METRICS_MODULE)
        assert callable(module.main), f"{QUEUE_METRICS_MODULE} has no main"
        assert option(args, "--host") == "0.0.0.0", f"{args}: listen on all interfaces"
        listens = option(args, "--port")
        assert listens is not None, f"{args}: give the port explicitly"
        if port is not None:
            assert int(listens) == port, f"{args} listens on {listens}, not {port}"
    elif program == "python":
        assert args[1] == "-m", f"{args}: python -m <module>"
        package = args[2]
        service = package.removeprefix("citela_")
        assert service in SERVED, f"{args}: {package} is not a served service's package"
        main = importlib.import_module(f"{package}.__main__")
        assert callable(main.create_app), f"{package}.__main__ has no app factory"
        assert args[3] == "serve", f"{args}: serve"
        assert option(args, "--host") == "0.0.0.0", f"{args}: listen on all interfaces"
        listens = option(args, "--port")
        assert listens is not None, f"{args}: give the port explicitly"
        if port is not None:
            assert int(listens) == port, f"{args} listens on {listens}, not {port}"
    elif program == "citela":
        scripts = tomllib.loads((ROOT / "services/platform/pyproject.toml").read_text())
        target = scripts["project"]["scripts"].get("citela")
        assert target, "`citela` is not a script of citela-platform"
        module, _, func = target.partition(":")
        assert callable(getattr(importlib.import_module(module), func))
        assert len(args) > 1, "`citela` alone does nothing"
        assert args[1] in cli_commands, f"`citela {args[1]}`: no such command"
        if args[1] == "serve":
            assert args[2] in SERVED, f"`citela serve {args[2]}`: not in registry.SERVED"
            assert option(args, "--host") == "0.0.0.0", f"{args}: listen on all interfaces"
            listens = option(args, "--port")
            assert listens is not None, f"{args}: give the port explicitly"
            if port is not None:
                assert int(listens) == port, f"{args} listens on {listens}, not {port}"
        if args[1] in ("migrate", "worker"):
            for name in args[2:]:
                assert name.startswith("-") or name in SERVICES, f"{args}: unknown service"
    elif program == "celery":
        app_module = option(args, "-A") or option(args, "--app")
        assert app_module, f"{args}: no -A"
        cached = get_settings.cache_info().currsize
        module = importlib.import_module(app_module)  # the Celery app reads the settings
        if not cached:
            get_settings.cache_clear()  # leave no settings cached for the tests that follow
        from celery import Celery

        assert isinstance(getattr(module, "app", None), Celery), f"{app_module} has no app"
        assert {"worker", "beat"} & set(args), f"{args}: neither worker nor beat"
    else:
        raise AssertionError(f"unexpected program {program!r} in {args}")


# --------------------------------------------------------------------------------------
# docker-compose.yml
# --------------------------------------------------------------------------------------


def test_compose_has_the_whole_platform(services: dict[str, Any]) -> None:
    expected = {*INFRA, "prometheus", "grafana", *BACKGROUND, *SERVED}
    assert expected <= set(services), f"missing: {sorted(expected - set(services))}"


def test_one_container_per_service_serving_it(services: dict[str, Any]) -> None:
    for name in SERVED:
        serving = [
            s
            for s, spec in services.items()
            if argv(spec.get("command", []))[:4] == ["python", "-m", f"citela_{name}", "serve"]
        ]
        assert serving == [name], f"citela_{name} serves in {serving}, expected [{name!r}]"


def test_every_build_has_its_dockerfile(services: dict[str, Any]) -> None:
    built = {n: s["build"] for n, s in services.items() if "build" in s}
    assert set(SERVED) | set(BACKGROUND) <= set(built)
    for name, build in built.items():
        context = ROOT / (build if isinstance(build, str) else build.get("context", "."))
        dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "")
        assert context.is_dir(), f"{name}: build context {context} does not exist"
        assert (context / dockerfile).is_file(), f"{name}: no Dockerfile {dockerfile}"
    for name in SERVED:
        assert built[name]["dockerfile"] == f"deploy/docker/{name}.Dockerfile"
    for name, service in SERVICE_WORKERS.items():
        assert built[name]["dockerfile"] == f"deploy/docker/{service}.Dockerfile"
    for name in PLATFORM_JOBS:
        assert built[name]["dockerfile"] == "deploy/docker/platform.Dockerfile"


def test_every_command_exists(services: dict[str, Any], cli_commands: set[str]) -> None:
    for spec in services.values():
        if "build" not in spec:
            continue  # third-party images
        args = argv(spec.get("command"))
        published = [parse_port(p)[2] for p in spec.get("ports", [])]
        check_command(args, cli_commands, port=published[0] if published else None)
    assert argv(services["migrate"]["command"]) == ["citela", "migrate"]
    for name, service in SERVICE_WORKERS.items():
        assert argv(services[name]["command"])[:4] == [
            "celery",
            "-A",
            f"citela_{service}.worker",
            "worker",
        ]
    assert argv(services["platform-worker"]["command"])[:5] == [
        "celery",
        "-A",
        "citela_platform.celery_app",
        "worker",
        "--queues=platform",
    ]
    assert argv(services["beat"]["command"])[:4] == [
        "celery",
        "-A",
        "citela_platform.celery_app",
        "beat",
    ]


def test_api_services_publish_and_check_their_port(services: dict[str, Any]) -> None:
    host_ports: list[int] = []
    for index, name in enumerate(SERVED):
        spec = services[name]
        listens = int(option(argv(spec["command"]), "--port") or 0)
        assert listens == CONTAINER_PORT
        ports = [parse_port(p) for p in spec.get("ports", [])]
        assert len(ports) == 1, f"{name}: publish exactly one port"
        _, published, target = ports[0]
        assert target == listens, f"{name}: publishes container port {target}, listens {listens}"
        assert published == 8001 + index, f"{name}: host port {published}, expected {8001 + index}"
        host_ports.append(published)
        check = healthcheck_text(spec["healthcheck"])
        assert f":{listens}/healthz" in check, f"{name}: healthcheck does not ask /healthz"
    every_published = [parse_port(p)[1] for s in services.values() for p in s.get("ports", [])]
    assert len(every_published) == len(set(every_published)), "a host port is published twice"


def test_api_services_keep_multiprocess_metrics_in_a_fresh_folder(
    services: dict[str, Any],
) -> None:
    for name in SERVED:
        spec = services[name]
        folder = environment(spec).get("PROMETHEUS_MULTIPROC_DIR")
        assert folder, f"{name}: PROMETHEUS_MULTIPROC_DIR is not set"
        tmpfs = spec.get("tmpfs", [])
        mounts = [str(t).split(":")[0] for t in (tmpfs if isinstance(tmpfs, list) else [tmpfs])]
        mounts += [
            parse_volume(v)[1]
            for v in spec.get("volumes", [])
            if isinstance(v, Mapping) and v.get("type") == "tmpfs"
        ]
        assert folder in mounts, f"{name}: {folder} is not a tmpfs (stale files on restart)"


def test_dependencies_exist_and_wait_for_the_right_state(
    services: dict[str, Any],
    dockerfiles: dict[str, Dockerfile],
) -> None:
    conditions = {"service_started", "service_healthy", "service_completed_successfully"}
    for name, spec in services.items():
        depends = spec.get("depends_on") or {}
        if isinstance(depends, list):
            depends = {d: {"condition": "service_started"} for d in depends}
        for target, how in depends.items():
            assert target in services, f"{name} depends on {target!r}, not a compose service"
            condition = how.get("condition", "service_started")
            assert condition in conditions, f"{name} -> {target}: bad condition {condition}"
            if condition == "service_healthy":
                has_check = "healthcheck" in services[target] and not services[target][
                    "healthcheck"
                ].get("disable")
                build = services[target].get("build")
                if not has_check and build:
                    image = dockerfiles[Path(build["dockerfile"]).name]
                    has_check = image.last("HEALTHCHECK") not in (None, "NONE")
                assert has_check, f"{name} waits for {target} to be healthy; it has no check"
            if condition == "service_completed_successfully":
                assert services[target].get("restart", "no") == "no", (
                    f"{target} must be a one-shot job for {name} to wait for its completion"
                )
    for name in (*SERVICES, *SERVICE_WORKERS, "platform-worker", "beat"):
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
        for infra in INFRA:
            assert depends[infra]["condition"] == "service_healthy", f"{name} -> {infra}"
    for api in SERVICES:  # the web calls the four APIs: it starts once they answer
        assert services["web"]["depends_on"][api]["condition"] == "service_healthy", api
    web_env = environment(services["web"])
    for api in SERVICES:
        assert web_env[f"CITELA_WEB_{api.upper()}_URL"] == f"http://{api}:{CONTAINER_PORT}"
    for infra in INFRA:
        assert "healthcheck" in services[infra], f"{infra} has no healthcheck"
    assert "pg_isready" in healthcheck_text(services["postgres"]["healthcheck"])


def test_citela_variables_are_settings_fields(
    services: dict[str, Any],
    dockerfiles: dict[str, Dockerfile],
) -> None:
    names = {k for s in services.values() for k in environment(s) if k.startswith("CITELA_")}
    for image in dockerfiles.values():
        for env in image.all("ENV"):
            names |= {m for m in re.findall(r"\b(CITELA_\w+)=", env)}
    assert names, "no CITELA_* variable at all"
    fields = {name for cls in settings_classes() for name in cls.model_fields}
    unknown = sorted(n for n in names if n.removeprefix("CITELA_").lower() not in fields)
    assert not unknown, f"not fields of Settings nor of a service's own settings: {unknown}"


def settings_classes() -> list[type[Settings]]:
    """citela_common's Settings and each service's own (``citela_<service>/settings.py``)."""
    found: list[type[Settings]] = [Settings]
    for name in SERVED:
        try:
            module = importlib.import_module(f"citela_{name}.settings")
        except ModuleNotFoundError:
            continue
        found += [
            value
            for value in vars(module).values()
            if isinstance(value, type) and issubclass(value, Settings) and value is not Settings
        ]
    return found


def test_service_environments_make_valid_distributed_settings(
    services: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in (*SERVICES, *BACKGROUND):
        for key in [k for k in os.environ if k.startswith("CITELA_")]:
            monkeypatch.delenv(key)
        env = resolved_environment(services[name])
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        settings = Settings(_env_file=None)
        assert settings.mode is Mode.DISTRIBUTED, f"{name}: no Kafka, it would run embedded"
        assert settings.environment == "production", name
        assert settings.redis_url, name
        assert settings.database_url, name
        assert settings.resolved_database_url.startswith("postgresql+psycopg://"), name


def test_the_secret_key_must_come_from_the_operator(services: dict[str, Any]) -> None:
    for name in (*SERVICES, *BACKGROUND):
        value = environment(services[name]).get("CITELA_SECRET_KEY", "")
        assert re.fullmatch(r"\$\{CITELA_SECRET_KEY:\?[^}]+\}", value), (
            f"{name}: CITELA_SECRET_KEY must be ${{CITELA_SECRET_KEY:?...}}, not {value!r}"
        )
        with pytest.raises(MissingVariableError):
            interpolate(value, {})


def test_urls_point_at_compose_services(services: dict[str, Any]) -> None:
    for name in (*SERVICES, *BACKGROUND):
        env = resolved_environment(services[name])

        db = make_url(env["CITELA_DATABASE_URL"])
        assert db.host in services, f"{name}: database host {db.host!r} is no compose service"
        pg = services[db.host]
        assert str(pg["image"]).startswith("postgres:16"), f"{db.host} is not PostgreSQL 16"
        pg_env = environment(pg)
        assert (db.username, db.password, db.database, db.port or 5432) == (
            pg_env["POSTGRES_USER"],
            pg_env["POSTGRES_PASSWORD"],
            pg_env["POSTGRES_DB"],
            5432,
        ), f"{name}: the database URL does not match the postgres service"

        kafka_env_seen = False
        for address in env["CITELA_KAFKA_BOOTSTRAP"].split(","):
            host, _, port = address.strip().rpartition(":")
            assert host in services, f"{name}: Kafka host {host!r} is no compose service"
            advertised = environment(services[host]).get("KAFKA_ADVERTISED_LISTENERS", "")
            assert f"//{host}:{port}" in advertised, (
                f"{name}: {address} is not a listener {host} advertises ({advertised})"
            )
            kafka_env_seen = True
        assert kafka_env_seen

        redis = make_url(env["CITELA_REDIS_URL"].replace("redis://", "redis+x://", 1))
        assert redis.host in services, f"{name}: Redis host {redis.host!r} is no compose service"
        assert str(services[redis.host]["image"]).startswith("redis:7"), redis.host
        assert (redis.port or 6379) == 6379


def test_kafka_runs_kraft_single_node_with_a_volume(compose: dict[str, Any]) -> None:
    kafka = compose["services"]["kafka"]
    env = environment(kafka)
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    node = env["KAFKA_NODE_ID"]
    voters = env["KAFKA_CONTROLLER_QUORUM_VOTERS"]
    assert voters.startswith(f"{node}@kafka:"), voters
    listeners = env["KAFKA_LISTENERS"]
    controller = env["KAFKA_CONTROLLER_LISTENER_NAMES"]
    assert f"{controller}://:" in listeners
    controller_port = listeners.split(f"{controller}://:")[1].split(",")[0]
    assert voters.endswith(f":{controller_port}"), (voters, listeners)
    protocol_map = dict(
        p.split(":") for p in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(",")
    )
    for listener in listeners.split(","):
        assert listener.split("://")[0] in protocol_map, listener
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "1"
    volumes = [parse_volume(v) for v in kafka.get("volumes", [])]
    assert (env.get("KAFKA_LOG_DIRS"), True) in {(t, s in compose["volumes"]) for s, t in volumes}


def test_docker_compose_config_accepts_the_file(tmp_path: Path) -> None:
    # Checked with or without the compose plugin: every ${...} in the file interpolates,
    # and only CITELA_SECRET_KEY is required from the operator.
    raw = yaml.safe_load(COMPOSE_FILE.read_text())
    for text in strings_in(raw):
        interpolate(text, {"CITELA_SECRET_KEY": SECRET})
    required = {m[1] for t in strings_in(raw) for m in re.finditer(r"\$\{(\w+):?\?", t)}
    assert required == {"CITELA_SECRET_KEY"}, required

    docker = shutil.which("docker")
    has_plugin = (
        docker is not None
        and subprocess.run(
            [docker, "compose", "version"], capture_output=True, check=False
        ).returncode
        == 0
    )
    if not has_plugin:
        return
    assert docker is not None
    base_env = {k: v for k, v in os.environ.items() if k != "CITELA_SECRET_KEY"}
    # --env-file: a developer's own .env must not supply the variables under test
    no_env_file = tmp_path / "empty.env"
    no_env_file.write_text("")
    command = [docker, "compose", "--env-file", str(no_env_file), "-f", str(COMPOSE_FILE)]
    command += ["config", "-q"]
    ok = subprocess.run(
        command,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={**base_env, "CITELA_SECRET_KEY": SECRET},
    )
    assert ok.returncode == 0, ok.stderr
    refused = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, check=False, env=base_env
    )
    assert refused.returncode != 0, "compose ran without CITELA_SECRET_KEY"
    assert "CITELA_SECRET_KEY" in refused.stderr


# --------------------------------------------------------------------------------------
# Dockerfiles and .dockerignore
# --------------------------------------------------------------------------------------


def test_each_image_has_its_dockerfile(dockerfiles: dict[str, Dockerfile]) -> None:
    expected = {f"{name}.Dockerfile" for name in SERVED} | {"platform.Dockerfile"}
    assert expected <= set(dockerfiles), f"missing: {sorted(expected - set(dockerfiles))}"


@pytest.mark.parametrize("name", [*SERVED, "platform"])
def test_dockerfile_builds_from_the_lock_and_runs_unprivileged(
    name: str,
    dockerfiles: dict[str, Dockerfile],
    cli_commands: set[str],
) -> None:
    image = dockerfiles[f"{name}.Dockerfile"]
    assert len(image.stages) >= 2, "multi-stage: build in one stage, run in another"
    python_bases = [image.base(s) for s in image.stages if image.base(s).startswith("python")]
    assert set(python_bases) == {"python:3.11-slim"}, python_bases
    assert image.base(image.final) == "python:3.11-slim"
    syncs = [r for r in image.all("RUN") if "uv sync" in r]
    assert syncs, "no `uv sync`"
    for run in syncs:
        assert "--frozen" in run, f"not from the lock file: {run}"
        assert "--no-dev" in run, f"installs the dev group: {run}"
        assert f"--package citela-{name}" in run, f"should install citela-{name}: {run}"
    user = image.last("USER")
    assert user, "no USER: the image runs as root"
    assert user.split(":")[0] not in ("root", "0"), f"runs as {user!r}"
    healthcheck = image.last("HEALTHCHECK")
    assert healthcheck, "no HEALTHCHECK"
    assert healthcheck.split()[0] != "NONE", "HEALTHCHECK NONE"
    assert re.search(r"(^|\s)CMD\s", healthcheck), f"HEALTHCHECK without CMD: {healthcheck}"
    check_command(image.cmd, cli_commands, port=CONTAINER_PORT)
    assert not image.last("ENTRYPOINT"), "compose gives the full command; keep no ENTRYPOINT"
    if name in SERVED:
        serve = ["serve", "--host", "0.0.0.0", "--port", "8000"]
        assert image.cmd == ["python", "-m", f"citela_{name}", *serve]
        assert "8000" in (image.last("EXPOSE") or "").split()
        assert ":8000/healthz" in healthcheck
    else:
        assert image.cmd[:4] == ["celery", "-A", "citela_platform.celery_app", "worker"]


def dockerignore_patterns() -> list[str]:
    path = ROOT / ".dockerignore"
    assert path.is_file(), "no .dockerignore"
    lines = [line.strip() for line in path.read_text().splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def _dockerignore_regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern (Go filepath.Match, plus ``**``) as a regular expression."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def ignored(relative: str, patterns: list[str]) -> bool:
    """Whether docker leaves ``relative`` out of the build context (a pattern that matches
    a folder leaves out everything inside it; a later ``!pattern`` brings a path back)."""
    parts = Path(relative).parts
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    result = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        regex = _dockerignore_regex(pattern.lstrip("!").strip("/"))
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            result = not negate
    return result


@pytest.mark.parametrize("name", [*SERVED, "platform"])
def test_dockerfile_copies_what_exists_and_is_not_ignored(
    name: str,
    dockerfiles: dict[str, Dockerfile],
) -> None:
    image = dockerfiles[f"{name}.Dockerfile"]
    patterns = dockerignore_patterns()
    copied: set[str] = set()
    for copy in image.all("COPY") + image.all("ADD"):
        words = [w for w in copy.split() if not w.startswith("--")]
        if any(w.startswith("--from") for w in copy.split()):
            continue
        for source in words[:-1]:
            path = ROOT / source
            assert path.exists(), f"COPY {source}: not in the repository"
            relative = path.relative_to(ROOT).as_posix()
            assert not ignored(relative, patterns), f"COPY {source}: excluded by .dockerignore"
            copied.add(relative.rstrip("/"))
    members = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["uv"]["workspace"]
    for pattern in members["members"]:
        for member in sorted(ROOT.glob(pattern)):
            relative = (member / "pyproject.toml").relative_to(ROOT).as_posix()
            assert relative in copied, f"uv sync --frozen needs {relative}; it is not copied"
    sources = {"services"} if name == "platform" else {"services/common", f"services/{name}"}
    assert {"uv.lock", "pyproject.toml"} | sources <= copied


def test_dockerignore_keeps_local_state_out() -> None:
    patterns = dockerignore_patterns()
    for path in (
        ".venv",
        "services/common/.venv",
        ".local",
        "var",
        "artifacts",
        ".git",
        "services/common/src/citela_common/__pycache__",
        ".pytest_cache",
        ".mypy_cache",
        ".ruff_cache",
        ".env",
    ):
        assert ignored(path, patterns), f".dockerignore lets {path} into the build context"
    for path in ("uv.lock", "pyproject.toml", "services/common/src/citela_common/settings.py"):
        assert not ignored(path, patterns), f".dockerignore excludes {path}"


def test_compose_commands_match_the_images(
    services: dict[str, Any],
    dockerfiles: dict[str, Dockerfile],
) -> None:
    for name in (*SERVED, "platform-worker"):
        image = dockerfiles[Path(services[name]["build"]["dockerfile"]).name]
        assert argv(services[name]["command"]) == image.cmd, (
            f"{name}: compose runs {services[name]['command']}, its image runs {image.cmd}"
        )
    for name in ("beat", "migrate"):  # same image, not a worker: its health check would lie
        assert services[name].get("healthcheck", {}).get("disable") is True, name
    for name, service in SERVICE_WORKERS.items():  # the service's image, not its API's check
        check = healthcheck_text(services[name]["healthcheck"])
        assert f"celery -A citela_{service}.worker inspect ping" in check, name


# --------------------------------------------------------------------------------------
# Prometheus and Grafana
# --------------------------------------------------------------------------------------


def test_prometheus_scrapes_every_service(services: dict[str, Any]) -> None:
    config = load_yaml(PROMETHEUS_DIR / "prometheus.yml")
    targets = {
        target
        for job in config["scrape_configs"]
        if job.get("metrics_path", "/metrics") == "/metrics"
        for static in job.get("static_configs", [])
        for target in static["targets"]
    }
    for name in SERVED:
        listens = option(argv(services[name]["command"]), "--port")
        assert f"{name}:{listens}" in targets, f"Prometheus does not scrape {name}:{listens}"
    listens = option(argv(services[QUEUE_METRICS]["command"]), "--port")
    assert f"{QUEUE_METRICS}:{listens}" in targets, "Prometheus does not read the Celery queues"
    prometheus = services["prometheus"]
    mounts = dict(parse_volume(v) for v in prometheus["volumes"])
    mounted = mounts.get("./deploy/prometheus")
    assert mounted, "docker-compose.yml does not mount deploy/prometheus"
    assert f"--config.file={mounted}/prometheus.yml" in argv(prometheus["command"])
    for rule_file in config["rule_files"]:
        assert rule_file.startswith(mounted + "/"), rule_file
        assert (PROMETHEUS_DIR / rule_file.removeprefix(mounted + "/")).is_file(), rule_file


def test_alert_rules_cover_the_platform_and_use_real_metrics() -> None:
    rules = [
        rule
        for group in load_yaml(PROMETHEUS_DIR / "alerts.yml")["groups"]
        for rule in group["rules"]
    ]
    duration = re.compile(r"^(\d+(ms|s|m|h|d|w|y))+$")
    by_metric: dict[str, list[dict[str, Any]]] = {}
    for rule in rules:
        assert rule.get("alert"), rule
        assert rule.get("expr"), rule
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, rule["alert"]
        assert rule["annotations"].get("summary"), rule["alert"]
        assert "for" not in rule or duration.match(str(rule["for"])), rule["alert"]
        problems = promql_problems(rule["expr"])
        assert not problems, f"{rule['alert']}: {problems}"
        for metric in metric_names(rule["expr"]) | ({"up"} if "up{" in rule["expr"] else set()):
            by_metric.setdefault(metric, []).append(rule)
    for metric in (
        "up",
        "citela_outbox_oldest_event_age_seconds",
        "citela_bus_consumer_lag_events",
        "citela_bus_consumer_paused",
        "citela_bus_events_consumed_total",
        "citela_ingest_last_failure_timestamp_seconds",
        "citela_ingest_last_success_timestamp_seconds",
        "citela_celery_queue_length",
        "citela_http_requests_total",
        "citela_http_request_duration_seconds_bucket",
    ):
        assert metric in by_metric, f"no alert on {metric}"
    assert any(
        re.search(r">\s*300(?![\d.])", r["expr"])
        for r in by_metric["citela_outbox_oldest_event_age_seconds"]
    ), "the outbox age alert should fire past 5 minutes (300 s)"
    assert any('status=~"5.."' in r["expr"] for r in by_metric["citela_http_requests_total"])
    assert any(
        "histogram_quantile(0.99" in r["expr"]
        for r in by_metric["citela_http_request_duration_seconds_bucket"]
    )
    assert any('job="citela"' in r["expr"] for r in by_metric["up"])


def test_promql_checker_catches_mistakes() -> None:
    assert promql_problems("rate(citela_http_requests_totl[5m])")
    assert promql_problems('citela_http_requests_total{code="500"}')
    assert promql_problems("sum by (tenant) (citela_outbox_backlog_events)")
    assert not promql_problems(
        "sum by (service, le) (rate(citela_http_request_duration_seconds_bucket[5m]))"
    )


def test_grafana_is_provisioned_with_the_dashboard(services: dict[str, Any]) -> None:
    grafana = services["grafana"]
    mounts = dict(parse_volume(v) for v in grafana["volumes"])
    provisioning = GRAFANA_DIR / "provisioning"
    assert mounts.get("./deploy/grafana/provisioning") == "/etc/grafana/provisioning"

    datasources = [
        ds
        for path in sorted((provisioning / "datasources").glob("*.y*ml"))
        for ds in load_yaml(path)["datasources"]
    ]
    prometheus = [ds for ds in datasources if ds["type"] == "prometheus"]
    assert len(prometheus) == 1, datasources
    source = prometheus[0]
    host, _, port = source["url"].removeprefix("http://").partition(":")
    assert host in services, f"datasource url {source['url']}: no such compose service"
    assert int(port) in [parse_port(p)[2] for p in services[host]["ports"]]

    providers = [
        p
        for path in sorted((provisioning / "dashboards").glob("*.y*ml"))
        for p in load_yaml(path)["providers"]
    ]
    assert providers, "no dashboard provider"
    dashboards_in = providers[0]["options"]["path"]
    host_folder = next((src for src, dst in mounts.items() if dst == dashboards_in), None)
    assert host_folder, f"compose mounts nothing on {dashboards_in}"
    files = sorted((ROOT / host_folder).glob("*.json"))
    assert files, f"no dashboard JSON in {host_folder}"

    for path in files:
        dashboard = json.loads(path.read_text())
        panels = [p for p in dashboard["panels"] if p["type"] != "row"]
        assert panels, path.name
        refs = [p.get("datasource") for p in panels]
        refs += [t.get("datasource") for p in panels for t in p.get("targets", [])]
        refs += [v.get("datasource") for v in dashboard.get("templating", {}).get("list", [])]
        for ref in refs:
            uid = ref.get("uid") if isinstance(ref, Mapping) else ref
            assert uid == source["uid"], f"{path.name}: datasource {ref} is not provisioned"
        for panel in panels:
            assert panel.get("targets"), f"{path.name}: panel {panel['title']!r} has no query"
        exprs = dashboard_exprs(dashboard)
        for expr in exprs:
            problems = promql_problems(expr)
            assert not problems, f"{path.name}: {expr}: {problems}"
        shown = set().union(*(metric_names(e) for e in exprs))
        for metric in (
            "citela_outbox_oldest_event_age_seconds",
            "citela_bus_consumer_lag_events",
            "citela_http_requests_total",
            "citela_http_request_duration_seconds_bucket",
        ):
            assert metric in shown, f"{path.name}: no panel shows {metric}"
