"""The dashboard's priorities, first view after new feedback, against the bare SQL aggregate.

``uv run python bench/dashboard_first_view.py [--mode embedded|distributed] [--facts 50000]``

embedded: the platform's SQLite files in a fresh directory and the in-process cache.
distributed: a PostgreSQL database of its own (created, then dropped) and the Redis cache
(the read side's stores; the bus plays no part in a read). Whatever ``CITELA_*`` says.

One tenant with ``--facts`` current answers over ``--entries`` services and thirteen weeks,
most with a French comment (built from the demo's sentences, nearly all distinct) and its
sentiment score, written straight into analytics' tables (facts, scores, catalogue
projection), the matrix sums then recomputed from the facts. The platform runs under
uvicorn on loopback (the web and the four APIs in one process); an administrator is signed
in. Each round, one new feedback with a comment lands through the analytics facts consumer's
own handler (facts, sums, the cache invalidated as in production), then:

- first view: GET of the dashboard's priorities page (the web asks the analytics API for the
  priorities and the explanation of the ten first: the real request path);
- cached view: the same page again;
- API: after one more new feedback, GET /priorities alone.

Anchor: the bare aggregate of the matrix over the same facts (one GROUP BY of n, sums and
sums of squares per service, on a DBAPI cursor). Prints the medians, the worst first view
and the ratio first view / anchor; the last line sums it up.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
import uuid
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/ as a package
from bench.modes import (
    add_mode_arguments,
    clear_environment,
    describe,
    fresh_database,
    settings_for,
)
from bench.modes import run_id as new_run_id
from tests.support.live_server import live_server

from citela_analytics import cells
from citela_analytics.domain.periods import local_day
from citela_analytics.models import CatalogueEntry, CommentScore, FeedbackFact
from citela_analytics.sentiment import Score, SentimentBackend
from citela_analytics.service import FACTS
from citela_analytics.settings import AnalyticsSettings
from citela_common.auth import Role
from citela_common.events import make_event
from citela_common.events.models import Channel, FeedbackSubmitted
from citela_common.logging import configure_logging
from citela_common.runtime import ServiceRuntime
from citela_common.tenancy import scope_to_tenant
from citela_feedback import accounts, tenants
from citela_feedback.context import FeedbackContext
from citela_platform import demo
from citela_platform.embedded import create_embedded_app

AREAS = {
    demo.TOWN_HALL: "Administration générale",
    demo.INTERCOMMUNALITY: "Intercommunalité",
    demo.SOCIAL: "Action sociale",
    demo.HEALTH: "Santé",
    demo.PAPERS: "Démarches administratives",
    demo.JOBS: "Emploi",
    demo.YOUTH: "Jeunesse",
    demo.SAFETY: "Sécurité",
    demo.NATURE: "Environnement",
    demo.HOUSING: "Logement",
    demo.CULTURE: "Culture",
    demo.SPORT: "Sport",
    demo.LEISURE: "Loisirs",
    demo.LAW: "Accès au droit",
    demo.ACCOUNTS: "Finances",
    demo.DATASET: "Transports",
}
MOMENTS = (
    "lundi matin",
    "mardi après-midi",
    "mercredi",
    "jeudi vers midi",
    "vendredi soir",
    "samedi matin",
    "en début de mois",
    "pendant les vacances scolaires",
)
ADMIN_EMAIL = "directrice@bench.citela.fr"
ADMIN_PASSWORD = "Banc-d-essai-2026"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def comment(
    rng: random.Random, profile: demo.Profile, satisfaction: int, n: int
) -> tuple[str, str] | None:
    """A French comment in the demo's words, and its opinion part (what gets scored); the
    moment and the pairing make nearly every comment distinct."""
    if rng.random() < 0.3:
        return None
    pool = (
        profile.negative
        if satisfaction <= 2
        else profile.neutral
        if satisfaction == 3
        else profile.positive
    )
    opinion = " ".join(rng.sample(pool, min(len(pool), 1 + int(rng.random() < 0.5))))
    return f"Venu(e) {rng.choice(MOMENTS)} (passage n° {n % 997}). {opinion}", opinion


def seed_analytics(runtime: ServiceRuntime, tenant: str, facts: int, entries: int) -> list[str]:
    """The tenant's catalogue projection, facts, scores and sums; returns the entry ids."""
    rng = random.Random(2026)
    now = datetime.now(UTC)
    profiles = [demo.PROFILES[i % len(demo.PROFILES)] for i in range(entries)]
    ids = [f"service-public:bench-{i:03d}" for i in range(entries)]
    weights = [max(p.share, 1.0) for p in profiles]
    with runtime.db.transaction() as session:
        scope_to_tenant(session, tenant)
        session.execute(
            insert(CatalogueEntry),
            [
                {
                    "tenant_id": tenant,
                    "entry_id": ids[i],
                    "version": 1,
                    "kind": "service",
                    "title": p.match if i < len(demo.PROFILES) else f"{p.match} (antenne {i})",
                    "policy_area": AREAS.get(p.voice, "Autres services"),
                    "commune_codes": ["60141"],
                    "epci_codes": ["246000764"],
                    "departement_codes": ["60"],
                    "updated_at": now,
                }
                for i, p in enumerate(profiles)
            ],
        )
    # Scored by the service's own backend (as its scoring job would), once per opinion.
    backend: SentimentBackend = runtime.context.backend.get()
    scored: dict[str, Score] = {}
    rows: list[dict[str, Any]] = []
    scores: list[dict[str, Any]] = []
    for n in range(facts):
        i = rng.choices(range(entries), weights)[0]
        p = profiles[i]
        submitted = now - timedelta(seconds=600 + rng.random() * 13 * 7 * 86400)
        importance = max(1, min(5, round(rng.gauss(p.importance, 0.75))))
        satisfaction = max(1, min(5, round(rng.gauss(p.satisfaction, 0.75))))
        said = comment(rng, p, satisfaction, n)
        written = said[0] if said else None
        feedback_id = f"fb-{n:07d}"
        rows.append(
            {
                "tenant_id": tenant,
                "feedback_id": feedback_id,
                "entry_id": ids[i],
                "revision": 1,
                "channel": "partner",
                "satisfaction": satisfaction,
                "importance": importance,
                "comment": written,
                "submitted_at": submitted,
                "day": local_day(submitted),
                "event_time": submitted,
                "updated_at": submitted,
            }
        )
        if said is not None:
            if said[1] not in scored:
                scored[said[1]] = backend.score([said[1]])[0]
            score = scored[said[1]]
            scores.append(
                {
                    "tenant_id": tenant,
                    "feedback_id": feedback_id,
                    "revision": 1,
                    "backend": backend.name,
                    "model_version": backend.model_version,
                    "label": score.label.value,
                    "score": score.score,
                    "confidence": score.confidence,
                    "scored_at": submitted + timedelta(seconds=5),
                }
            )
    for table, values in ((FeedbackFact, rows), (CommentScore, scores)):
        for start in range(0, len(values), 5000):
            with runtime.db.transaction() as session:
                scope_to_tenant(session, tenant)
                session.execute(insert(table), values[start : start + 5000])
    with runtime.db.transaction() as session:
        scope_to_tenant(session, tenant)
        cells.recompute(session, tenant)
    if runtime.db.engine.dialect.name == "postgresql":  # as autovacuum would, soon after
        with runtime.db.engine.connect() as conn:
            conn.execute(text("ANALYZE analytics.feedback_facts, analytics.comment_scores"))
            conn.commit()
    return ids


def admin_account(runtime: ServiceRuntime, tenant: str) -> None:
    ctx: FeedbackContext = runtime.context
    with runtime.db.transaction() as session:
        scope_to_tenant(session, tenant)
        tenants.create(
            session,
            code=tenant,
            name="Communauté de communes du banc d'essai",
            siren="246000764",
            territory_codes=["246000764"],
        )
    with runtime.db.transaction() as session:
        account = accounts.create_account(session, ctx, ADMIN_EMAIL, ADMIN_PASSWORD, confirmed=True)
        scope_to_tenant(session, tenant)
        tenants.set_roles(session, tenant, account, [Role.ADMIN])


def new_feedback(runtime: ServiceRuntime, tenant: str, entry_id: str, n: int) -> None:
    """One new answer, applied by the analytics facts consumer's handler (sums, cache)."""
    spec = next(s for s in runtime.consumers if s.group == FACTS)
    event = make_event(
        FeedbackSubmitted(
            feedback_id=f"new-{n}-{uuid.uuid4().hex[:8]}",
            entry_id=entry_id,
            author_ref=f"{n:08x}",
            channel=Channel.PORTAL,
            importance=5,
            satisfaction=1,
            comment="Toujours autant d'attente au guichet, personne pour répondre au téléphone.",
            submitted_at=datetime.now(UTC),
        ),
        tenant=tenant,
        source="/citela/feedback",
    )
    if spec.batch_handler is not None:
        spec.batch_handler([event])
    else:
        spec.handler(event)


def anchor_ms(runtime: ServiceRuntime, tenant: str) -> float:
    """The bare aggregate of the matrix over the facts, on a DBAPI cursor."""
    mark = "%s" if runtime.db.engine.dialect.name == "postgresql" else "?"
    sql = (
        "SELECT entry_id, count(*), sum(importance), sum(importance * importance), "
        "sum(satisfaction), sum(satisfaction * satisfaction), "
        "sum((importance - satisfaction) * (importance - satisfaction)) "
        f"FROM analytics.feedback_facts WHERE tenant_id = {mark} AND retracted_at IS NULL "
        "GROUP BY entry_id"
    )
    raw = runtime.db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        started = time.perf_counter()
        cursor.execute(sql, (tenant,))
        rows = cursor.fetchall()
        elapsed = (time.perf_counter() - started) * 1000
        raw.rollback()
        assert rows
        return elapsed
    finally:
        raw.close()


def timed_get(client: httpx.Client, path: str, **kwargs: Any) -> float:
    started = time.perf_counter()
    r = client.get(path, **kwargs)
    elapsed = (time.perf_counter() - started) * 1000
    if r.status_code != 200:
        raise RuntimeError(f"GET {path}: {r.status_code} {r.text[:300]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    add_mode_arguments(parser)
    parser.add_argument("--facts", type=int, default=2800, help="current answers of the tenant")
    parser.add_argument("--entries", type=int, default=40, help="services they are spread over")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    clear_environment()
    configure_logging("WARNING", json=True)
    run = new_run_id()
    tenant = f"bench-dash-{run}"
    with ExitStack() as stack:
        url = None
        if args.mode == "distributed":
            url = stack.enter_context(fresh_database(args.pg_url, f"bench_dash_{run}"))
        # No bus: the new feedback is applied by the consumer's handler, in this process; the
        # scoring of its comment is left for later (it would invalidate the cache once more).
        settings = settings_for(
            args,
            database_url=url,
            kafka=False,
            cls=AnalyticsSettings,
            analytics_scoring_delay_s=3600.0,
        )
        app = create_embedded_app(settings, background=False)
        base = stack.enter_context(live_server(app))
        runtimes: dict[str, ServiceRuntime] = app.state.runtimes
        analytics = runtimes["analytics"]
        started = time.perf_counter()
        admin_account(runtimes["feedback"], tenant)
        entries = seed_analytics(analytics, tenant, args.facts, args.entries)
        seeding = time.perf_counter() - started
        client = stack.enter_context(httpx.Client(base_url=base, timeout=120.0))
        pair = client.post(
            "/feedback/v1/auth/token", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
        ).json()
        bearer = {"Authorization": f"Bearer {pair['access_token']}"}
        cookies = {"Cookie": f"citela_session={pair['access_token']}"}
        page = f"/tableau-de-bord/{tenant}/priorites"
        api = f"/analytics/v1/tenants/{tenant}/priorities"
        anchors, firsts, cached, apis = [], [], [], []
        for r in range(args.rounds + 1):  # round 0 warms up (first templates, connections)
            anchor = anchor_ms(analytics, tenant)
            new_feedback(analytics, tenant, entries[r % len(entries)], 2 * r)
            first = timed_get(client, page, headers=cookies)
            again = timed_get(client, page, headers=cookies)
            new_feedback(analytics, tenant, entries[r % len(entries)], 2 * r + 1)
            alone = timed_get(client, api, headers=bearer)
            if r:
                anchors.append(anchor)
                firsts.append(first)
                cached.append(again)
                apis.append(alone)
    anchor = statistics.median(anchors)
    first = statistics.median(firsts)
    print(f"mode                   {args.mode}: {describe(settings)}")
    print(
        f"tenant                 {args.facts} answers over {args.entries} services "
        f"(seeded in {seeding:.1f} s); {args.rounds} rounds"
    )
    print(f"anchor: bare aggregate {anchor:8.1f} ms  (GROUP BY over the facts, DBAPI cursor)")
    print(f"first view (page)      {first:8.1f} ms  (max {max(firsts):.1f} ms)")
    print(f"cached view (page)     {statistics.median(cached):8.1f} ms")
    print(f"first GET /priorities  {statistics.median(apis):8.1f} ms")
    print(
        f"ratio={first / anchor:.1f} first_view_ms={first:.1f} anchor_ms={anchor:.1f} "
        f"max_first_view_ms={max(firsts):.1f} goal_ms=1000"
    )


if __name__ == "__main__":
    main()
