"""The browser tests' world: the real embedded platform on a real socket, seeded with the demo,
a real SMTP server, a second authority with its own staff, and headless Chromium.

One platform and one browser serve the whole session (the suite must stay fast on 2 cores);
each test gets fresh browser contexts, so cookies never leak from one visitor to another.
The tests never skip: without Chromium or axe-core they fail and say what to install.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from citela_analytics.settings import AnalyticsSettings
from citela_common.settings import Settings
from citela_feedback.settings import FeedbackSettings
from citela_platform.demo import DemoSummary, seed_demo
from citela_platform.embedded import create_embedded_app
from tests.browser.support import VIEWPORTS, Visits, chromium_path, require_axe
from tests.feedback.support import Inbox, free_port, smtp_server
from tests.support.live_server import live_server


class BrowserSettings(FeedbackSettings, AnalyticsSettings):
    """The platform's settings with the feedback and analytics fields the journeys set."""


# Enough answers for several services to pass the 10-answer threshold, few enough to seed fast.
DEMO_FEEDBACKS = 1200  # the fewest with which the demo fills every cell it means to
OTHER_TENANT = "ville-senlis"
OTHER_STAFF = "direction.generale@ville-senlis.fr"
OTHER_PASSWORD = "senlis mot de passe 2026"
# Flags of a headless Chromium on a machine with no way out: no background connections.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # The browser's own words (validation bubbles, Accept-Language) in French.
    "--lang=fr-FR",
]


@dataclass(frozen=True)
class Platform:
    url: str
    settings: Settings
    demo: DemoSummary
    inbox: Inbox

    def login(self, role: str) -> tuple[str, str]:
        for login in self.demo.logins:
            if login.role == role:
                return login.email, login.password
        raise AssertionError(f"the demo has no {role!r}: {[x.role for x in self.demo.logins]}")

    def api_token(self, email: str, password: str) -> str:
        r = httpx.post(
            f"{self.url}/feedback/v1/auth/token",
            json={"email": email, "password": password},
            timeout=30,
        )
        assert r.status_code == 200, r.text
        token: str = r.json()["access_token"]
        return token

    def api_get(self, path: str, token: str) -> Any:
        r = httpx.get(f"{self.url}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert r.status_code == 200, f"GET {path}: {r.status_code} {r.text}"
        return r.json()


def _citela(settings_env: dict[str, str], *args: str) -> None:
    """The operator's own commands (`citela tenant-create`, `citela staff-add`)."""
    done = subprocess.run(
        [sys.executable, "-m", "citela_platform.cli", *args],
        env={**os.environ, **settings_env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"citela {' '.join(args)}: {done.stdout}{done.stderr}"


@pytest.fixture(scope="package")  # one seeded platform for the browser tests, stopped after them
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    data_dir: Path = tmp_path_factory.mktemp("browser") / "var"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with smtp_server() as (inbox, smtp_port):
        settings = BrowserSettings(
            data_dir=data_dir,
            smtp_host="127.0.0.1",
            smtp_port=smtp_port,
            portal_public_url=url,
            # Several tests sign the same staff member in within a minute.
            login_rate_limit_per_minute=1000,
            analytics_scoring_delay_s=0.2,
            log_level="WARNING",
        )
        # On its own thread: seed_demo runs an event loop, and Playwright's sync API keeps one
        # running on this thread once the browser has started.
        with ThreadPoolExecutor(1) as pool:
            demo = pool.submit(seed_demo, settings, feedbacks=DEMO_FEEDBACKS).result()
        env = {
            "CITELA_DATA_DIR": str(data_dir),
            "CITELA_LOG_LEVEL": "WARNING",
        }
        _citela(
            env,
            "tenant-create",
            OTHER_TENANT,
            "--name",
            "Ville de Senlis",
            "--siren",
            "216006126",
            "--territory",
            "60612",
        )
        _citela(
            env,
            "staff-add",
            OTHER_STAFF,
            "--tenant",
            OTHER_TENANT,
            "--role",
            "admin",
            "--password",
            OTHER_PASSWORD,
        )
        with live_server(create_embedded_app(settings), port=port):
            yield Platform(url=url, settings=settings, demo=demo, inbox=inbox)


@pytest.fixture(scope="package")  # torn down after tests/browser: Playwright holds the event loop
def playwright_instance() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="package")  # torn down after tests/browser: Playwright holds the event loop
def browser(playwright_instance: Playwright) -> Iterator[Browser]:
    executable = chromium_path()
    if executable is None:
        pytest.fail(
            "Chromium is missing (/usr/bin/chromium or CITELA_CHROMIUM): "
            "`apt-get install chromium` (deploy/bootstrap.sh does it)",
            pytrace=False,
        )
    require_axe()
    browser = playwright_instance.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture(scope="module", params=list(VIEWPORTS))
def viewport(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


class Contexts:
    """Fresh browser contexts (one per visitor) at the test's viewport, closed afterwards."""

    def __init__(self, browser: Browser, viewport: str, base_url: str) -> None:
        self.browser, self.viewport, self.base_url = browser, viewport, base_url
        self.opened: list[BrowserContext] = []

    def page(self) -> Page:
        context = self.browser.new_context(
            viewport=VIEWPORTS[self.viewport],
            base_url=self.base_url,
            locale="fr-FR",
            timezone_id="Europe/Paris",
            is_mobile=self.viewport == "phone",
            has_touch=self.viewport == "phone",
        )
        context.set_default_timeout(15_000)
        self.opened.append(context)
        return context.new_page()

    def close(self) -> None:
        for context in self.opened:
            context.close()
        self.opened.clear()


@pytest.fixture
def contexts(browser: Browser, viewport: str, platform: Platform) -> Iterator[Contexts]:
    made = Contexts(browser, viewport, platform.url)
    yield made
    made.close()


@pytest.fixture
def visits(request: pytest.FixtureRequest, viewport: str) -> Iterator[Visits]:
    seen = Visits(viewport=viewport, test_name=request.node.name)
    yield seen
    seen.report()
