"""Helpers of the browser tests: axe-core checks, screenshots, and French form filling.

Every page a test visits goes through `Visits.check`: axe-core (WCAG 2.1 A/AA) runs in the page,
the page is screenshotted under artifacts/screenshots/, and on a phone the page must not scroll
sideways. Findings are collected, not raised at once, so one test reports every page it saw;
the test ends with `Visits.assert_clean()`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, ViewportSize

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
AXE_JS = HERE / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = ROOT / "artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"
README_SHOTS = ROOT / "docs" / "screenshots"
# `make screenshots` sets it: the tests then also refresh the README's images.
README_SHOTS_ENV = "CITELA_README_SCREENSHOTS"
# (viewport, page name) -> the README image it becomes
README_IMAGES = {
    ("desktop", "accueil"): "portail.png",
    ("desktop", "tableau-de-bord-matrice-clavier"): "tableau-de-bord.png",
    ("phone", "service"): "portail-mobile.png",
}

README_MAX_HEIGHT = 1300

VIEWPORTS: dict[str, ViewportSize] = {
    "desktop": {"width": 1280, "height": 800},
    "phone": {"width": 360, "height": 740},
}
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
BLOCKING_IMPACTS = {"serious", "critical"}


def require_axe() -> None:
    if not AXE_JS.is_file():
        pytest.fail(
            f"axe-core is missing ({AXE_JS}): run `npm ci --prefix tests/browser` "
            "(deploy/bootstrap.sh does it)",
            pytrace=False,
        )


def run_axe(page: Page) -> list[dict[str, Any]]:
    """axe-core's WCAG 2.1 A/AA violations of the page as it is now."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE_JS))
    result: dict[str, Any] = page.evaluate(
        """async (tags) => await window.axe.run(document, {
               runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})""",
        WCAG_TAGS,
    )
    violations: list[dict[str, Any]] = result["violations"]
    return violations


def describe(violation: dict[str, Any]) -> str:
    targets = [" ".join(map(str, node["target"])) for node in violation["nodes"]]
    shown = ", ".join(targets[:6]) + (f" (+{len(targets) - 6})" if len(targets) > 6 else "")
    return f"[{violation['impact']}] {violation['id']}: {violation['help']} -> {shown}"


JS_BUDGET_BYTES = 100 * 1024
# Bytes of JavaScript the page ran (external files as decoded, plus inline scripts) and the
# address of every resource it loaded.
PAGE_WEIGHT_JS = """() => {
  const resources = performance.getEntriesByType("resource");
  const external = resources
    .filter((r) => r.initiatorType === "script")
    .reduce((sum, r) => sum + (r.decodedBodySize || 0), 0);
  // (axe-core, which the tests inject, is not the page's)
  const inline = [...document.querySelectorAll("script:not([src])")]
    .filter((s) => !s.textContent.startsWith("/*! axe v"))
    .reduce((sum, s) => sum + s.textContent.length, 0);
  return { js: external + inline, urls: resources.map((r) => r.name) };
}"""


@dataclass
class Visits:
    """What one test saw: the pages it checked and what was wrong with them."""

    viewport: str
    test_name: str
    problems: list[str] = field(default_factory=list)
    findings: dict[str, list[str]] = field(default_factory=dict)
    js_bytes: dict[str, int] = field(default_factory=dict)

    def check(self, page: Page, name: str, *, expect_status: int | None = None) -> None:
        """axe-core, a screenshot, and on a phone no sideways scroll, for the page shown now."""
        page.wait_for_load_state("load")
        where = f"{self.viewport}-{name} ({page.url})"
        # Budget of the issue: under 100 KB of JavaScript (we hold every page to it), and
        # nothing fetched from another host (no CDN: the machine reaches nothing outside).
        weight = page.evaluate(PAGE_WEIGHT_JS)
        if weight["js"] >= JS_BUDGET_BYTES:
            self.problems.append(f"{where}: {weight['js']} bytes of JavaScript (budget 100 KB)")
        origin = page.url.split("/", 3)[:3]
        foreign = [u for u in weight["urls"] if u.split("/", 3)[:3] != origin]
        if foreign:
            self.problems.append(f"{where}: resources from another host: {foreign}")
        self.js_bytes[name] = weight["js"]
        violations = run_axe(page)
        self.findings[name] = [describe(v) for v in violations]
        for v in violations:
            if v.get("impact") in BLOCKING_IMPACTS:
                self.problems.append(f"{where}: axe {describe(v)}")
        if self.viewport == "phone":
            widths = page.evaluate(
                "() => [document.documentElement.scrollWidth, window.innerWidth]"
            )
            if widths[0] > widths[1]:
                wide = page.evaluate(WIDEST_ELEMENTS_JS)
                self.problems.append(
                    f"{where}: the page scrolls sideways at 360 px "
                    f"(scrollWidth {widths[0]} > innerWidth {widths[1]}); too wide: {wide}"
                )
        self.screenshot(page, name)

    def visit(self, page: Page, path: str, name: str, *, status: int = 200) -> None:
        """Open a page, note a wrong HTTP status (the page missing or broken), and check it."""
        response = page.goto(path)
        got = response.status if response is not None else None
        if got != status:
            self.problems.append(
                f"{self.viewport}-{name}: GET {path} answered {got}, expected {status} "
                f"(h1: {heading(page)!r})"
            )
        self.check(page, name)

    def screenshot(self, page: Page, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{self.viewport}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        readme_name = README_IMAGES.get((self.viewport, name))
        if readme_name and os.environ.get(README_SHOTS_ENV) == "1":
            # The README shows the top of the page (the matrix chart sits below the filters).
            README_SHOTS.mkdir(parents=True, exist_ok=True)
            width, height = page.evaluate(
                "() => [window.innerWidth, document.documentElement.scrollHeight]"
            )
            page.screenshot(
                path=str(README_SHOTS / readme_name),
                full_page=True,
                clip={"x": 0, "y": 0, "width": width, "height": min(height, README_MAX_HEIGHT)},
            )

    def report(self) -> None:
        """Write every axe finding (any impact) to artifacts/axe/, for reading after a run."""
        folder = ARTIFACTS / "axe"
        folder.mkdir(parents=True, exist_ok=True)
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", self.test_name)
        (folder / f"{safe}.json").write_text(
            json.dumps(
                {"viewport": self.viewport, "findings": self.findings, "problems": self.problems},
                ensure_ascii=False,
                indent=2,
            ),
            encoding="utf-8",
        )

    def assert_clean(self) -> None:
        if self.problems:
            pytest.fail(
                f"{len(self.problems)} problem(s) on the pages visited:\n  "
                + "\n  ".join(self.problems),
                pytrace=False,
            )


# The elements sticking out past the right edge of a phone screen, to say what to fix.
WIDEST_ELEMENTS_JS = """() => {
  const limit = window.innerWidth;
  const out = [];
  for (const el of document.querySelectorAll('body *')) {
    const r = el.getBoundingClientRect();
    if (r.right > limit + 1 && r.width > 0) {
      const id = el.id ? '#' + el.id : '';
      const cls = el.classList.length ? '.' + [...el.classList].join('.') : '';
      out.push(el.tagName.toLowerCase() + id + cls + ' (' + Math.round(r.right) + 'px)');
      if (out.length >= 5) break;
    }
  }
  return out.join(', ');
}"""


def heading(page: Page) -> str:
    """The page's first h1, or '' when it has none."""
    h1 = page.locator("h1")
    return (h1.first.inner_text() if h1.count() else "").strip()


def choose_radio(page: Page, name: str, value: int | str) -> None:
    """Pick a radio as a person does: by clicking its label (the input may be styled away)."""
    radio = page.locator(f'input[type="radio"][name="{name}"][value="{value}"]')
    radio_id = radio.get_attribute("id")
    label = page.locator(f'label[for="{radio_id}"]') if radio_id else None
    if label is not None and label.count() == 1:
        label.click()
    else:
        radio.check()
    assert radio.is_checked(), f"the radio {name}={value} did not get checked"


def figure_lines(text: str) -> set[str]:
    """Lines of visible text that carry a figure (a number such as 3,4 or 4.1 or n = 12)."""
    return {line.strip() for line in text.splitlines() if re.search(r"\d", line)}


def whole_number(n: int) -> re.Pattern[str]:
    """`n` standing alone (not part of 112 or 3,12)."""
    return re.compile(rf"(?<![\d,.]){n}(?![\d,.]*\d)")


def chromium_path() -> str | None:
    path = os.environ.get("CITELA_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    return path if Path(path).is_file() else None
