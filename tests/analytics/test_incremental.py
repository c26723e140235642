"""Property: any sequence of submissions, revisions and retractions — redelivered, late or out
of order — leaves the incrementally maintained matrix equal to its exact recomputation from
the facts, and to what the sequence means (the latest revision of each live feedback).

The events go through the real consumer handler (idempotency table, facts, running sums) on
SQLite and on PostgreSQL, one by one and in batches as the consumer polls them (a batch may
hold several events of one feedback, redeliveries of its own events, stale revisions).
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from citela_analytics import cells
from citela_analytics.domain.matrix import (
    CrosshairMode,
    EntryInfo,
    MatrixSettings,
    build_matrix,
)
from citela_analytics.domain.periods import local_day
from citela_analytics.domain.stats import Sums
from citela_analytics.service import facts_consumer
from citela_common.bus.base import BatchHandler, Handler
from citela_common.cache import MemoryCache
from citela_common.db import Database
from citela_common.events import CloudEvent
from citela_common.migrations import upgrade
from tests.analytics import factories as f

ENTRIES = ["mairie", "piscine", "creche"]
AREAS = {"mairie": "Administration", "piscine": "Sport", "creche": "Sport"}
FEEDBACKS = 7
DAY0 = f.NOW


@dataclass
class Stack:
    db: Database
    handle: Handler
    batch: BatchHandler


def _stack(url: str) -> Iterator[Stack]:
    db = Database(url, "analytics")
    upgrade(db, "citela_analytics")
    spec = facts_consumer(db, MemoryCache(), lambda _tenant: None)
    assert spec.batch_handler is not None
    yield Stack(db, spec.handler, spec.batch_handler)
    db.dispose()


@pytest.fixture(scope="module")
def sqlite_stack() -> Iterator[Stack]:
    yield from _stack("sqlite://")


@pytest.fixture(scope="module")
def pg_stack(pg_url: str) -> Iterator[Stack]:
    yield from _stack(pg_url)


# An operation: ("post", feedback, entry, importance, satisfaction, day) — a first post or a
# revision; ("retract", feedback); ("again", k) — redeliver the k-th event already sent;
# ("late", k) — the k-th event's content again under a new event id (a stale revision).
post = st.tuples(
    st.just("post"),
    st.integers(0, FEEDBACKS - 1),
    st.sampled_from(ENTRIES),
    st.integers(1, 5),
    st.integers(1, 5),
    st.integers(0, 20),
)
retract = st.tuples(st.just("retract"), st.integers(0, FEEDBACKS - 1))
again = st.tuples(st.just("again"), st.integers(0, 200))
late = st.tuples(st.just("late"), st.integers(0, 200))
operations = st.lists(st.one_of(post, post, post, retract, again, late), min_size=1, max_size=40)


def play(
    stack: Stack, ops: list[tuple[object, ...]], batches: list[int] | None = None
) -> tuple[str, dict[str, tuple[str, int, int, date]]]:
    """Send the events of ``ops``; return the tenant and what should count per feedback.

    With ``batches``, the events go to the batch handler in runs of those sizes (cycled)."""
    tenant = f"p-{uuid.uuid4().hex[:10]}"
    sent: list[CloudEvent] = []
    revision: dict[str, int] = {}
    entry_of: dict[str, str] = {}
    live: dict[str, tuple[str, int, int, date]] = {}
    retracted: set[str] = set()
    for op in ops:
        kind = op[0]
        if kind == "post":
            _, n, entry, imp, sat, day = op
            fb = f"fb-{n}"
            entry = entry_of.setdefault(fb, str(entry))
            at = DAY0 + timedelta(days=int(day), hours=int(day) % 7)  # type: ignore[call-overload]
            rev = revision.get(fb, 0) + 1
            revision[fb] = rev
            if rev == 1:
                data = f.submitted(fb, entry, int(imp), int(sat), at=at)  # type: ignore[call-overload]
            else:
                data = f.revised(fb, entry, int(imp), int(sat), revision=rev, at=at)  # type: ignore[call-overload]
            event = f.event(data, tenant)
            if fb not in retracted:
                live[fb] = (entry, int(imp), int(sat), local_day(at))  # type: ignore[call-overload]
        elif kind == "retract":
            fb = f"fb-{op[1]}"
            entry = entry_of.setdefault(fb, ENTRIES[int(op[1]) % len(ENTRIES)])  # type: ignore[call-overload]
            event = f.event(f.retracted(fb, entry), tenant)
            retracted.add(fb)
            live.pop(fb, None)
        elif kind == "again":
            if not sent:
                continue
            event = sent[int(op[1]) % len(sent)]  # type: ignore[call-overload]
        else:  # late: same content, new event id; never newer than what is known
            if not sent:
                continue
            old = sent[int(op[1]) % len(sent)]  # type: ignore[call-overload]
            event = CloudEvent(
                type=old.type, source=old.source, tenant=old.tenant, data=dict(old.data)
            )
        sent.append(event)
    if batches is None:
        for event in sent:
            stack.handle(event)
    else:
        start, sizes = 0, itertools.cycle(batches)
        while start < len(sent):
            size = next(sizes)
            stack.batch(sent[start : start + size])
            start += size
    return tenant, live


def expected_cells(live: dict[str, tuple[str, int, int, date]]) -> dict[tuple[str, date], Sums]:
    out: dict[tuple[str, date], Sums] = {}
    for entry, imp, sat, day in live.values():
        key = (f"service-public:{entry}", day)
        out[key] = out.get(key, Sums()) + Sums.of(imp, sat)
    return out


def check(
    stack: Stack,
    ops: list[tuple[object, ...]],
    start: int,
    span: int,
    batches: list[int] | None = None,
) -> None:
    tenant, live = play(stack, ops, batches)
    with stack.db.transaction() as session:
        incremental = cells.stored_cells(session, tenant)
        exact = cells.exact_cells(cells.current_answers(session, tenant))
        assert incremental == exact, "incremental sums differ from the recomputation"
        assert incremental == expected_cells(live), "sums differ from what the events mean"
        assert all(s.n > 0 for s in incremental.values()), "no empty cell is kept"
        # the matrix over any period agrees, figure for figure
        first = local_day(DAY0) + timedelta(days=start)
        last = first + timedelta(days=span)
        by_entry = cells.sums_by_entry(session, tenant, first, last)
        exact_by_entry: dict[str, Sums] = {}
        for (entry, day), s in exact.items():
            if first <= day <= last:
                exact_by_entry[entry] = exact_by_entry.get(entry, Sums()) + s
        infos = {f"service-public:{e}": EntryInfo(e, AREAS[e]) for e in ENTRIES}
        for mode in CrosshairMode:
            ms = MatrixSettings(mode, min_answers=2)
            assert build_matrix(by_entry, infos, ms) == build_matrix(exact_by_entry, infos, ms)
        done = cells.recompute(session, tenant)
        assert done.drifted == 0


@settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=operations, start=st.integers(0, 20), span=st.integers(0, 20))
def test_incremental_matrix_equals_recomputation_sqlite(
    sqlite_stack: Stack, ops: list[tuple[object, ...]], start: int, span: int
) -> None:
    check(sqlite_stack, ops, start, span)


@pytest.mark.infra
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=operations, start=st.integers(0, 20), span=st.integers(0, 20))
def test_incremental_matrix_equals_recomputation_postgresql(
    pg_stack: Stack, ops: list[tuple[object, ...]], start: int, span: int
) -> None:
    check(pg_stack, ops, start, span)


batch_sizes = st.lists(st.integers(1, 40), min_size=1, max_size=4)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=operations, start=st.integers(0, 20), span=st.integers(0, 20), batches=batch_sizes)
def test_batches_leave_the_same_matrix_as_one_by_one_sqlite(
    sqlite_stack: Stack, ops: list[tuple[object, ...]], start: int, span: int, batches: list[int]
) -> None:
    check(sqlite_stack, ops, start, span, batches)


@pytest.mark.infra
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=operations, start=st.integers(0, 20), span=st.integers(0, 20), batches=batch_sizes)
def test_batches_leave_the_same_matrix_as_one_by_one_postgresql(
    pg_stack: Stack, ops: list[tuple[object, ...]], start: int, span: int, batches: list[int]
) -> None:
    check(pg_stack, ops, start, span, batches)


def test_a_recomputation_repairs_drift(sqlite_stack: Stack) -> None:
    tenant, _ = play(
        sqlite_stack,
        [("post", 1, "mairie", 5, 2, 0), ("post", 2, "mairie", 4, 1, 1)],
    )
    with sqlite_stack.db.transaction() as session:
        cells.add(session, tenant, "service-public:mairie", local_day(DAY0), Sums.of(1, 1))
    with sqlite_stack.db.transaction() as session:
        done = cells.recompute(session, tenant)
        assert done.drifted == 1
        assert done.answers == 2
        assert cells.stored_cells(session, tenant) == cells.exact_cells(
            cells.current_answers(session, tenant)
        )
