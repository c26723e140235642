"""Sentiment scoring: batches, once per revision and model version, rescoring, the CLI."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from citela_analytics import scoring
from citela_analytics.models import CommentScore, Outbox
from citela_analytics.sentiment import Score
from citela_analytics.service import facts_consumer
from citela_analytics.settings import AnalyticsSettings
from citela_common.cache import MemoryCache
from citela_common.db import Database
from citela_common.events.models import CommentScored
from citela_common.migrations import upgrade
from citela_common.settings import get_settings
from citela_platform.cli import app as citela
from tests.analytics import factories as f

COMMENTS = [
    "Temps d'attente trop long au guichet.",
    "Personnel aimable, merci.",
    "Les horaires conviennent.",
    "Toujours fermé quand on passe, injoignable.",
    "Service rapide et efficace.",
]


def migrated(url: str) -> Database:
    db = Database(url, "analytics")
    upgrade(db, "citela_analytics")
    return db


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = migrated(f"sqlite:///{tmp_path / 'citela.db'}")
    yield database
    database.dispose()


def feed(db: Database, tenant: str, n: int) -> list[str]:
    handle = facts_consumer(db, MemoryCache(), lambda _t: None).handler
    ids = []
    for i in range(n):
        fb = f.fid()
        ids.append(fb)
        handle(f.event(f.submitted(fb, "mairie", 4, 2, COMMENTS[i % len(COMMENTS)]), tenant))
    handle(f.event(f.submitted(f.fid(), "mairie", 4, 2, None), tenant))  # no comment: no score
    return ids


def published(db: Database, tenant: str) -> Counter[tuple[str, int, str]]:
    with db.transaction() as s:
        rows = s.scalars(
            select(Outbox).where(
                Outbox.tenant == tenant, Outbox.event_type == CommentScored.event_type
            )
        ).all()
    return Counter(
        (
            r.envelope["data"]["feedback_id"],
            r.envelope["data"]["revision"],
            r.envelope["data"]["model_version"],
        )
        for r in rows
    )


def test_batches_score_each_revision_once(db: Database) -> None:
    tenant = "t-batches"
    ids = feed(db, tenant, 23)
    backend = f.KeywordBackend("1")
    first = scoring.score_pending(db, backend, tenant=tenant, batch_size=10)
    assert (first.scored, first.batches) == (23, 3)
    assert backend.calls == [10, 10, 3]
    again = scoring.score_pending(db, backend, tenant=tenant, batch_size=10)
    assert (again.scored, again.batches) == (0, 0)
    events = published(db, tenant)
    assert set(events) == {(fb, 1, "1") for fb in ids}
    assert set(events.values()) == {1}
    with db.transaction() as s:
        labels = {
            r.feedback_id: r.label
            for r in s.scalars(select(CommentScore).where(CommentScore.tenant_id == tenant))
        }
    assert labels[ids[0]] == "negative"
    assert labels[ids[1]] == "positive"
    assert labels[ids[2]] == "neutral"


def test_a_new_model_version_rescores_and_a_revision_is_scored_in_turn(db: Database) -> None:
    tenant = "t-rescore"
    ids = feed(db, tenant, 6)
    scoring.score_pending(db, f.KeywordBackend("1"), tenant=tenant)
    v2 = f.KeywordBackend("2")
    with db.transaction() as s:
        assert scoring.count_stale(s, v2.name, v2.model_version, tenant) == 6
        assert scoring.count_pending(s, v2.name, v2.model_version, tenant) == 6
    assert scoring.score_pending(db, v2, tenant=tenant).scored == 6
    handle = facts_consumer(db, MemoryCache(), lambda _t: None).handler
    handle(f.event(f.revised(ids[0], "mairie", 3, 3, "Personnel aimable."), tenant))
    handle(f.event(f.retracted(ids[1], "mairie"), tenant))
    assert scoring.score_pending(db, v2, tenant=tenant).scored == 1
    events = published(db, tenant)
    assert events[(ids[0], 2, "2")] == 1
    assert (ids[0], 2, "1") not in events
    assert set(events.values()) == {1}
    with db.transaction() as s:
        assert s.scalars(select(CommentScore).where(CommentScore.feedback_id == ids[1])).all() == []


def test_a_revision_made_while_scoring_is_not_stored_for_the_old_text(db: Database) -> None:
    tenant = "t-race"
    (fb,) = feed(db, tenant, 1)
    handle = facts_consumer(db, MemoryCache(), lambda _t: None).handler

    class RevisingBackend(f.KeywordBackend):
        def score(self, texts: list[str]) -> list[Score]:
            if not self.calls:  # the author edits while the model thinks
                handle(f.event(f.revised(fb, "mairie", 2, 2, "Personnel aimable."), tenant))
            return super().score(texts)

    result = scoring.score_pending(db, RevisingBackend("1"), tenant=tenant)
    assert (result.scored, result.skipped) == (1, 1)
    assert set(published(db, tenant)) == {(fb, 2, "1")}


@pytest.mark.infra
def test_concurrent_workers_publish_each_score_once(pg_url: str) -> None:
    db = migrated(pg_url)
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    feed(db, tenant, 60)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            scoring.score_pending(db, f.KeywordBackend("1"), tenant=tenant, batch_size=7)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    events = published(db, tenant)
    assert len(events) == 60
    assert set(events.values()) == {1}
    db.dispose()


def flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("CITELA_DATA_DIR", str(tmp_path / "var"))
    for name in ("CITELA_DATABASE_URL", "CITELA_KAFKA_BOOTSTRAP", "CITELA_REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def test_citela_analytics_rescore(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = migrated(f"sqlite:///{tmp_path / 'var' / 'citela.db'}")
    feed(db, "t-cli", 4)
    scoring.score_pending(db, f.KeywordBackend("1"), tenant="t-cli")
    monkeypatch.setattr(scoring, "load_backend", lambda _s: f.KeywordBackend("2"))
    dry = runner.invoke(citela, ["analytics", "rescore", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "4 commentaires à analyser, dont 4 analysés par un autre modèle" in flat(dry.output)
    done = runner.invoke(citela, ["analytics", "rescore"])
    assert done.exit_code == 0, done.output
    assert "4 commentaires analysés" in done.output
    assert set(published(db, "t-cli").values()) == {1}
    assert len(published(db, "t-cli")) == 8  # 4 of model 1, 4 of model 2
    again = runner.invoke(citela, ["analytics", "rescore"])
    assert "0 commentaires à analyser" in flat(again.output)
    recompute = runner.invoke(citela, ["analytics", "recompute"])
    assert recompute.exit_code == 0
    assert "t-cli: 5 réponses" in recompute.output
    assert "0 écarts" in recompute.output
    snap = runner.invoke(citela, ["analytics", "snapshot", "--week", "2026-11-18"])
    assert snap.exit_code == 0
    assert "semaine du 2026-11-16" in snap.output
    db.dispose()


def test_the_task_uses_the_configured_backend(db: Database) -> None:
    """No stand-in: the backend ``sentiment.factory.create_backend`` gives by default."""
    backend = scoring.load_backend(AnalyticsSettings())
    assert backend.name
    assert backend.model_version
    tenant = "t-default-backend"
    handle = facts_consumer(db, MemoryCache(), lambda _t: None).handler
    texts = {
        f.fid(): "Accueil déplorable, trois heures d'attente et personne pour répondre.",
        f.fid(): "Merci au personnel, très aimable et efficace, un service parfait.",
    }
    for fb, text in texts.items():
        handle(f.event(f.submitted(fb, "mairie", 4, 2, text), tenant))
    result = scoring.score_pending(db, backend, tenant=tenant)
    assert result.scored == 2
    with db.transaction() as s:
        labels = [
            s.get(CommentScore, (tenant, fb, 1, backend.name, backend.model_version)).label  # type: ignore[union-attr]
            for fb in texts
        ]
    assert labels == ["negative", "positive"]
