"""`make up` (deploy/platform.sh) runs what docker-compose.yml runs, with the same settings.

``deploy/platform.sh config`` writes the supervisord and Prometheus files into a private
instance folder without starting anything; these tests read them beside docker-compose.yml:
the same processes, the same programs, the same CITELA_* settings and values (only the
addresses differ: 127.0.0.1 and the instance's ports instead of the compose services' names),
a secret key of the instance's own, and Prometheus scraping every process.
"""

from __future__ import annotations

import configparser
import os
import re
import shlex
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import make_url

from citela_common.settings import DEV_SECRET
from citela_platform.registry import SERVED
from tests.deploy.test_compose import (
    COMPOSE_FILE,
    PROMETHEUS_DIR,
    QUEUE_METRICS,
    argv,
    option,
    resolved_environment,
)

ROOT = Path(__file__).resolve().parents[2]
PLATFORM = ROOT / "deploy" / "platform.sh"
# Ports of the instance under test: none of them is opened by `config`.
PORTS = {
    "CITELA_PG_PORT": "35432",
    "CITELA_REDIS_PORT": "36379",
    "CITELA_KAFKA_PORT": "39092",
    "CITELA_KAFKA_CONTROLLER_PORT": "39093",
    "CITELA_PLATFORM_PORT": "38001",
    "CITELA_PROMETHEUS_PORT": "39090",
}
# What compose runs once (migrate) or as third-party images: not supervisord programs.
NOT_PROGRAMS = {"migrate", "kafka", "postgres", "redis", "grafana"}
# Settings whose value is an address: compared by their parts, not as text.
ADDRESSES = {
    "CITELA_DATABASE_URL",
    "CITELA_KAFKA_BOOTSTRAP",
    "CITELA_REDIS_URL",
    "CITELA_PORTAL_PUBLIC_URL",
    "CITELA_ANALYTICS_FEEDBACK_URL",
    *(f"CITELA_WEB_{api.upper()}_URL" for api in SERVED if api != "web"),
}
# What runs the processes that write prometheus_client's files (see platform.sh).
METRICS_WRAPPER = "with-metrics"
# The Celery workers whose metrics their service's API serves (a folder they share).
WORKER_METRICS = {"ingest-worker": "ingest", "analytics-worker": "analytics"}
ENV_ITEM = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="([^"]*)"')


def platform_env(folder: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITELA_")}
    return {**env, **PORTS, "CITELA_INFRA_DIR": str(folder), **extra}


def write_config(folder: Path, **extra: str) -> Path:
    subprocess.run(
        [str(PLATFORM), "config"],
        env=platform_env(folder, **extra),
        check=True,
        capture_output=True,
        timeout=60,
    )
    return folder / "platform"


class Program:
    def __init__(self, name: str, section: configparser.SectionProxy, shared: dict[str, str]):
        self.name = name
        command = section["command"].replace("%%", "%")
        words = shlex.split(command)
        self.wrapped = Path(words[0]).name == METRICS_WRAPPER
        self.argv = words[1:] if self.wrapped else words
        self.options = section
        self.env = {**shared, **dict(ENV_ITEM.findall(section.get("environment", "")))}

    @property
    def program(self) -> str:
        return Path(self.argv[0]).name


@pytest.fixture(scope="module")
def instance(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_config(tmp_path_factory.mktemp("instance"))


@pytest.fixture(scope="module")
def programs(instance: Path) -> dict[str, Program]:
    parser = configparser.RawConfigParser()
    parser.read(instance / "supervisord.conf")
    shared = dict(ENV_ITEM.findall(parser["supervisord"]["environment"]))
    return {
        s.removeprefix("program:"): Program(s.removeprefix("program:"), parser[s], shared)
        for s in parser.sections()
        if s.startswith("program:")
    }


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    services: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())["services"]
    return services


def test_the_same_processes_as_compose(
    programs: dict[str, Program], compose: dict[str, Any]
) -> None:
    assert set(programs) == set(compose) - NOT_PROGRAMS


def test_every_program_restarts_when_it_dies(programs: dict[str, Program]) -> None:
    for name, program in programs.items():
        assert program.options["autorestart"] == "true", name
        assert program.options["autostart"] == "true", name
        assert int(program.options["startretries"]) >= 100, name
        # a uvicorn supervisor or a Celery pool: stop and kill its children with it
        assert program.options["stopasgroup"] == "true", name
        assert program.options["killasgroup"] == "true", name


def test_the_same_commands_as_compose(
    programs: dict[str, Program], compose: dict[str, Any]
) -> None:
    for name, program in programs.items():
        if name == "prometheus":
            continue
        theirs = argv(compose[name]["command"])
        ours = program.argv
        assert program.program == theirs[0] or program.program.startswith(theirs[0]), name
        if theirs[0] == "python":
            assert ours[1:4] == theirs[1:4], f"{name}: {ours} runs another module than {theirs}"
            assert option(ours, "--host") == "127.0.0.1", f"{name}: loopback only"
        else:  # celery: the same app, role, queues and concurrency
            assert ours[1:4] == theirs[1:4], f"{name}: {ours} against {theirs}"
            for flag in ("--queues", "--concurrency", "--loglevel"):
                assert option(ours, flag) == option(theirs, flag), f"{name}: {flag}"
            for switch in ("--without-gossip", "--without-mingle"):
                assert (switch in ours) == (switch in theirs), f"{name}: {switch}"
    for busy in ("catalogue", "feedback"):
        assert int(option(programs[busy].argv, "--workers") or 1) >= 2, busy
    assert "--schedule" in " ".join(programs["beat"].argv), "beat keeps its schedule file"


def compare_address(key: str, ours: str, theirs: str) -> None:
    if key == "CITELA_DATABASE_URL":
        a, b = make_url(ours), make_url(theirs)
        assert (a.drivername, a.username, a.password, a.database) == (
            b.drivername,
            b.username,
            b.password,
            b.database,
        ), key
        assert a.host == "127.0.0.1", key
    elif key == "CITELA_KAFKA_BOOTSTRAP":
        assert ours == f"127.0.0.1:{PORTS['CITELA_KAFKA_PORT']}", key
    elif key == "CITELA_REDIS_URL":
        assert ours == f"redis://127.0.0.1:{PORTS['CITELA_REDIS_PORT']}/0", key
        assert theirs.endswith("/0"), key
    else:  # the web's and the mails' addresses: http, a port of this instance
        assert re.fullmatch(r"http://(127\.0\.0\.1|localhost):\d+", ours), (key, ours)
        assert theirs.startswith("http://"), key


def test_the_same_settings_as_compose(
    programs: dict[str, Program], compose: dict[str, Any]
) -> None:
    for name, program in programs.items():
        if name == "prometheus":
            continue
        theirs = resolved_environment(compose[name])
        ours = program.env
        citela = {k for k in theirs if k.startswith("CITELA_")}
        assert {k for k in ours if k.startswith("CITELA_")} == citela, name
        for key in sorted(citela - {"CITELA_SECRET_KEY"}):
            if key in ADDRESSES:
                compare_address(key, ours[key], theirs[key])
            else:
                assert ours[key] == theirs[key], f"{name}: {key}={ours[key]!r}, not {theirs[key]!r}"
        if name not in WORKER_METRICS:
            assert ("PROMETHEUS_MULTIPROC_DIR" in ours) == ("PROMETHEUS_MULTIPROC_DIR" in theirs), (
                name
            )
    ports = {name: option(programs[name].argv, "--port") for name in SERVED}
    web = programs["web"].env
    for api in SERVED:
        if api != "web":
            assert web[f"CITELA_WEB_{api.upper()}_URL"] == f"http://127.0.0.1:{ports[api]}"
    assert web["CITELA_PORTAL_PUBLIC_URL"].endswith(f":{ports['web']}")
    reconcile = programs["analytics"].env["CITELA_ANALYTICS_FEEDBACK_URL"]
    assert reconcile == f"http://127.0.0.1:{ports['feedback']}"


def test_each_api_sums_its_processes_in_a_folder_of_its_own(
    instance: Path, programs: dict[str, Program]
) -> None:
    folders = [programs[name].env["PROMETHEUS_MULTIPROC_DIR"] for name in SERVED]
    assert len(set(folders)) == len(folders)
    for worker, service in WORKER_METRICS.items():
        assert (
            programs[worker].env["PROMETHEUS_MULTIPROC_DIR"]
            == programs[service].env["PROMETHEUS_MULTIPROC_DIR"]
        ), f"{worker}: its metrics (runs, scoring) would be served by no one"
    for name, program in programs.items():
        writes = "PROMETHEUS_MULTIPROC_DIR" in program.env
        assert program.wrapped == writes, f"{name}: dead processes' files are not cleared"
    wrapper = instance / METRICS_WRAPPER
    assert os.access(wrapper, os.X_OK)
    assert "kill -0" in wrapper.read_text(), "only the files of live processes are kept"


def test_a_secret_key_of_its_own_kept_private(tmp_path: Path) -> None:
    folder = write_config(tmp_path)
    key_file = folder / "secret_key"
    key = key_file.read_text()
    assert len(key) >= 40
    assert key != DEV_SECRET
    for private in (key_file, folder / "supervisord.conf", folder / "env"):
        assert stat.S_IMODE(private.stat().st_mode) == 0o600, private.name
    assert f'CITELA_SECRET_KEY="{key}"' in (folder / "supervisord.conf").read_text()
    assert write_config(tmp_path) == folder
    assert key_file.read_text() == key, "the key is generated once, then kept"
    other = write_config(tmp_path / "other")
    assert (other / "secret_key").read_text() != key
    given = write_config(tmp_path / "given", CITELA_SECRET_KEY="k" * 48)
    assert not (given / "secret_key").exists()
    assert 'CITELA_SECRET_KEY="' + "k" * 48 + '"' in (given / "supervisord.conf").read_text()


def test_prometheus_scrapes_every_process_at_its_port(
    instance: Path, programs: dict[str, Program]
) -> None:
    config = yaml.safe_load((instance / "prometheus.yml").read_text())
    scraped = {
        target: static.get("labels", {}).get("instance")
        for job in config["scrape_configs"]
        for static in job["static_configs"]
        for target in static["targets"]
    }
    for name in (*SERVED, QUEUE_METRICS):
        port = option(programs[name].argv, "--port")
        assert scraped.get(f"127.0.0.1:{port}") == name, f"{name} on {port} is not scraped"
    listen = option(programs["prometheus"].argv, "--web.listen-address")
    assert listen == f"127.0.0.1:{PORTS['CITELA_PROMETHEUS_PORT']}"
    assert listen in scraped
    for rule_file in config["rule_files"]:
        assert Path(rule_file).is_file(), rule_file
        assert Path(rule_file).parent == PROMETHEUS_DIR
    original = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    assert config["global"] == original["global"], "the same intervals as compose's"


def test_the_wrapper_keeps_the_files_of_live_processes_only(instance: Path, tmp_path: Path) -> None:
    folder = tmp_path / "metrics"
    folder.mkdir()
    live, dead = folder / f"counter_{os.getpid()}.db", folder / "gauge_max_999999999.db"
    live.write_bytes(b"")
    dead.write_bytes(b"")
    subprocess.run(
        [str(instance / METRICS_WRAPPER), "true"],
        env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(folder)},
        check=True,
        timeout=10,
    )
    assert live.exists(), "a live process's file was deleted"
    assert not dead.exists(), "a dead process's file is still summed"
