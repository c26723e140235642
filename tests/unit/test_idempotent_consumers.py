"""Every consumer of every service is the one idempotent consumer of citela_common.outbox.

The bus contract tests (tests/contract) prove ``idempotent_batch``: each event applied once,
its mark committed with its effect, a failing batch retried event by event. This checks that
no service consumes any other way: each consumer's batch handler is that helper's, and its
single-event handler (the bus's fallback to isolate a failing event) calls the same one.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from citela_common.events import CloudEvent, make_event
from citela_common.events.models import FeedbackRetracted
from citela_common.outbox import idempotent_batch
from citela_common.settings import Settings
from citela_platform.embedded import build_runtimes
from tests.contract.stack import Counted, ProcessedEvent, fresh_database


def test_every_consumer_is_the_idempotent_batch_handler(tmp_path: Path) -> None:
    runtimes = build_runtimes(Settings(data_dir=tmp_path))
    specs = [(name, spec) for name, rt in runtimes.items() for spec in rt.consumers]
    assert len(specs) >= 3
    helper = idempotent_batch.__qualname__
    for name, spec in specs:
        batch = spec.batch_handler
        assert batch is not None, f"{name}/{spec.group} has no batch handler"
        assert batch.__qualname__ == f"{helper}.<locals>.handle", f"{name}/{spec.group}"
        cells = [c.cell_contents for c in spec.handler.__closure__ or ()]
        assert batch in cells, f"{name}/{spec.group}: its per-event fallback is another handler"
    for rt in runtimes.values():
        rt.db.dispose()


def retraction(n: int) -> CloudEvent:
    return make_event(
        FeedbackRetracted(
            feedback_id=f"fb-{n}",
            entry_id="service-public:mairie-64445-01",
            retracted_at=datetime(2026, 11, 28, 9, n, tzinfo=UTC),
        ),
        tenant="agglo-pau",
        source="/citela/tests",
    )


def test_the_helper_records_marks_with_the_effect_and_skips_what_it_recorded(
    tmp_path: Path,
) -> None:
    db = fresh_database(f"sqlite:///{tmp_path}/citela.db")
    events = [retraction(n) for n in range(3)]
    failing: set[str] = {events[2].id}
    committed: list[list[str]] = []

    def apply(session: Session, fresh: list[CloudEvent]) -> int:
        session.add_all(Counted(event_id=e.id) for e in fresh)
        session.flush()
        if failing & {e.id for e in fresh}:
            raise ValueError("entrée de catalogue inconnue")
        return len(fresh)

    def then(fresh: list[CloudEvent], _applied: int) -> None:
        committed.append([e.id for e in fresh])

    handle = idempotent_batch(db, ProcessedEvent, "counter", apply, then=then)
    handle(events[:2])
    with pytest.raises(ValueError, match="inconnue"):
        handle(events)  # rolled back: no mark of events[2] left behind
    failing.clear()
    handle([events[1], events[2], events[2]])  # a redelivery, a second copy in the batch
    handle(events)  # all redelivered: nothing applied, nothing after
    assert committed == [[e.id for e in events[:2]], [events[2].id]]
    with db.transaction() as session:
        assert sorted(session.scalars(select(Counted.event_id))) == sorted(e.id for e in events)
        marks = session.scalars(select(ProcessedEvent.event_id))
        assert sorted(marks) == sorted(e.id for e in events)
    db.dispose()
