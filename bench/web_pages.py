"""What the web adds: each page's server time against the API calls behind it, and its weight.

``uv run python bench/web_pages.py [--feedbacks 1500] [--rounds 30]``

Seeds the demo (the Aire Cantilienne, generated feedback) in a temporary embedded platform
(SQLite, in-process bus and cache, whatever ``CITELA_*`` variables are exported),
then for each page of the portal and the dashboard times ``--rounds`` requests in one process
(after one warm-up), and as many requests of the API route the page mostly stands on, with the
same token. Prints medians, the page/API ratio (the web's own cost: templates, the ASGI hop,
the other calls of the page), and the bytes a first visit downloads: HTML, CSS and JavaScript
(the issue's budget: under 100 KB of JavaScript on the first page).
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/ as a package
from bench.modes import clear_environment

from citela_common.logging import configure_logging
from citela_common.settings import Settings
from citela_platform.demo import DEMO_TENANT, seed_demo
from citela_platform.embedded import create_embedded_app

ASSET = re.compile(r'<(?:script[^>]+src|link[^>]+href)="(/static/[^"?]+)[^"]*"')


def timed(client: TestClient, path: str, rounds: int, headers: dict[str, str]) -> float:
    client.get(path, headers=headers)  # warm-up: caches, first template compile
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        r = client.get(path, headers=headers)
        samples.append(time.perf_counter() - started)
        assert r.status_code == 200, (path, r.status_code, r.text[:300])
    return statistics.median(samples) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--feedbacks", type=int, default=1500)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    clear_environment()
    configure_logging("WARNING", json=True)
    with tempfile.TemporaryDirectory() as tmp:
        # Embedded whatever the environment says (CITELA_* URLs would make it distributed).
        settings = Settings(
            _env_file=None,
            data_dir=Path(tmp) / "var",
            log_level="WARNING",
            database_url=None,
            kafka_bootstrap=None,
            redis_url=None,
        )
        with ThreadPoolExecutor(1) as pool:  # seed_demo runs its own event loop
            demo = pool.submit(seed_demo, settings, feedbacks=args.feedbacks).result()
        admin = next(login for login in demo.logins if login.role == "administratrice")
        with TestClient(create_embedded_app(settings)) as client:
            pair = client.post(
                "/feedback/v1/auth/token", json={"email": admin.email, "password": admin.password}
            ).json()
            bearer = {"Authorization": f"Bearer {pair['access_token']}"}
            cookies = {"Cookie": f"citela_session={pair['access_token']}"}
            entries = client.get(f"/catalogue/v1/tenants/{DEMO_TENANT}/entries").json()["items"]
            entry = quote(entries[0]["entry_id"], safe="")
            t = DEMO_TENANT
            pages = [
                ("portal home", "/", "/feedback/v1/tenants/public", {}),
                ("authority", f"/c/{t}/", f"/catalogue/v1/tenants/{t}/policy-areas", {}),
                ("services", f"/c/{t}/services", f"/catalogue/v1/tenants/{t}/entries", {}),
                (
                    "entry",
                    f"/c/{t}/services/{entry}",
                    f"/catalogue/v1/tenants/{t}/entries/{entry}",
                    {},
                ),
                ("matrix", f"/tableau-de-bord/{t}/", f"/analytics/v1/tenants/{t}/matrix", cookies),
                (
                    "priorities",
                    f"/tableau-de-bord/{t}/priorites",
                    f"/analytics/v1/tenants/{t}/priorities",
                    cookies,
                ),
                (
                    "trends",
                    f"/tableau-de-bord/{t}/tendances",
                    f"/analytics/v1/tenants/{t}/trends",
                    cookies,
                ),
            ]
            print(
                "mode: embedded (SQLite, in-process bus and cache)\n"
                f"demo: {demo.entries} entries, {demo.feedbacks} feedbacks; "
                f"median of {args.rounds} requests each, one process\n"
            )
            header = (
                f"{'page':<12} {'page ms':>8} {'API ms':>7} {'ratio':>6} "
                f"{'HTML KB':>8} {'CSS KB':>7} {'JS KB':>6}"
            )
            print(header)
            print("-" * len(header))
            for name, page, api, headers in pages:
                page_ms = timed(client, page, args.rounds, headers)
                api_ms = timed(client, api, args.rounds, bearer if headers else {})
                html = client.get(page, headers=headers).text
                assets = {m for m in ASSET.findall(html)}
                sizes = {a: len(client.get(a).content) for a in assets}
                css = sum(v for a, v in sizes.items() if a.endswith(".css")) / 1024
                js = sum(v for a, v in sizes.items() if a.endswith(".js")) / 1024
                print(
                    f"{name:<12} {page_ms:>8.1f} {api_ms:>7.1f} {page_ms / api_ms:>5.1f}× "
                    f"{len(html.encode()) / 1024:>8.1f} {css:>7.1f} {js:>6.1f}"
                )


if __name__ == "__main__":
    main()
