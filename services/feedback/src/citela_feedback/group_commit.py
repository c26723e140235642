"""Group commit of single feedback POSTs: requests that arrive while the database is busy with
earlier ones are written together, in one transaction per tenant.

A worker serves many requests at once; each used to pay its own transaction (three round
trips, a commit, a wake of the outbox relay). Here a request joins the waiting list; at most
``flushes`` groups are in flight, each taking every request waiting when it starts (up to
``max_group``). Under light load a request is alone and written at once; under load the
groups grow with it, as in a database's own group commit. A 2xx still means the request's
feedback, history and outbox event are committed.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from starlette.concurrency import run_in_threadpool

from citela_common.web import Problem
from citela_feedback.metrics import GROUP_COMMIT_SIZE
from citela_feedback.pending import Answer, Pending

RunGroup = Callable[[str, Sequence[Pending]], list[Answer | Problem]]
# Checks of a whole group before its transactions (the rate limit: one round trip): each
# request's refusal, or None.
Screen = Callable[[Sequence[Pending]], Sequence[BaseException | None]]


@dataclass
class _Waiting:
    pending: Pending
    future: asyncio.Future[Answer]


@dataclass
class _Queue:
    """The requests of one event loop (a worker has one; tests may run several)."""

    waiting: list[_Waiting] = field(default_factory=list)
    running: int = 0
    tasks: set[asyncio.Task[None]] = field(default_factory=set)  # held: the loop keeps weak refs


class GroupCommitter:
    """Per process, on the event loop of its worker."""

    def __init__(
        self,
        run_group: RunGroup,
        *,
        screen: Screen | None = None,
        flushes: int = 1,
        max_group: int = 64,
    ) -> None:
        self._run_group = run_group
        self._screen = screen
        self._flushes = max(1, flushes)
        self._max_group = max(1, max_group)
        self._queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Queue] = (
            weakref.WeakKeyDictionary()
        )

    async def submit(self, pending: Pending) -> Answer:
        """The request's answer once its group is committed; its refusal raised (Problem)."""
        loop = asyncio.get_running_loop()
        queue = self._queues.get(loop)
        if queue is None:
            queue = self._queues[loop] = _Queue()
        future: asyncio.Future[Answer] = loop.create_future()
        queue.waiting.append(_Waiting(pending, future))
        if queue.running < self._flushes:
            queue.running += 1
            task = loop.create_task(self._flush(queue))
            queue.tasks.add(task)
            task.add_done_callback(queue.tasks.discard)
        return await future

    async def _flush(self, queue: _Queue) -> None:
        try:
            while queue.waiting:
                group = self._take(queue)
                GROUP_COMMIT_SIZE.observe(len(group))
                try:
                    answers = await run_in_threadpool(self._commit, group)
                except BaseException as exc:  # a fault of the whole group: each request sees it
                    for waiting in group:
                        if not waiting.future.done():
                            waiting.future.set_exception(exc)
                    if not isinstance(exc, Exception):
                        raise
                    continue
                for waiting, answer in zip(group, answers, strict=True):
                    if waiting.future.done():  # the client went away
                        continue
                    if isinstance(answer, BaseException):
                        waiting.future.set_exception(answer)
                    else:
                        waiting.future.set_result(answer)
        finally:
            queue.running -= 1

    def _take(self, queue: _Queue) -> list[_Waiting]:
        """Up to ``max_group`` waiting requests, no two with the same Idempotency-Key of the
        same caller (the second waits for the next group, and replays the first's answer)."""
        taken: list[_Waiting] = []
        left: list[_Waiting] = []
        claimed: set[tuple[str, str, str]] = set()
        for waiting in queue.waiting:
            claim = waiting.pending.claim_id
            if len(taken) >= self._max_group or (claim is not None and claim in claimed):
                left.append(waiting)
                continue
            if claim is not None:
                claimed.add(claim)
            taken.append(waiting)
        queue.waiting = left
        return taken

    def _commit(self, group: list[_Waiting]) -> list[Answer | BaseException]:
        """In a worker thread: the group's screen, then one unit per tenant."""
        answers: list[Answer | BaseException | None] = [None] * len(group)
        refusals: Sequence[BaseException | None] = [None] * len(group)
        if self._screen is not None:
            refusals = self._screen([w.pending for w in group])
        by_tenant: dict[str, list[int]] = {}
        for i, (waiting, refusal) in enumerate(zip(group, refusals, strict=True)):
            if refusal is not None:
                answers[i] = refusal
                continue
            by_tenant.setdefault(waiting.pending.tenant, []).append(i)
        for tenant, indexes in by_tenant.items():
            try:
                results: Sequence[Answer | BaseException] = self._run_group(
                    tenant, [group[i].pending for i in indexes]
                )
            except Exception as exc:
                results = [exc] * len(indexes)
            for i, result in zip(indexes, results, strict=True):
                answers[i] = result
        done = [a for a in answers if a is not None]
        assert len(done) == len(group)
        return done
