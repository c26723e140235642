"""The map stage of a harvest: each record's outputs, with their keys, hashes and event data.

Mapping is pure Python and most of a large run's CPU, so a run that proves large (the national
Service-Public export: 63,000 records) maps in worker processes while its own process reads the
file and writes the store. ``Mapper.map`` hands the results back in listing order whichever
process mapped them, so a run publishes the same events in the same order either way.

The workers are plain ``python -m citela_ingest.mapping`` processes fed through two pipes, not a
``multiprocessing`` pool: a spawned pool re-imports the parent's main script in every worker
(the whole CLI, or a benchmark with SQLAlchemy and alembic), a forked one copies a process with
threads and open database connections, and neither may start from a daemonic Celery worker.
A worker imports only the source's module. What crosses the pipes is ``marshal`` data (JSON-like
values, tuples of strings): several times cheaper than pickle for parsed JSON records. A worker
that dies or fails costs nothing but time: its chunks are mapped again in this process.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import logging
import marshal
import os
import pickle
import signal
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from multiprocessing.connection import Connection
from queue import SimpleQueue
from typing import Any, NamedTuple, TypeVar

from citela_common.events.envelope import CloudEvent
from citela_common.events.models import EVENT_MODELS, CatalogueEntryUpserted, TerritoryUpserted
from citela_ingest.records import (
    BrokenRecord,
    HarvestContext,
    InvalidRecord,
    Output,
    RawRecord,
    SkipRecord,
    Source,
)

T = TypeVar("T")
_worker_log_level: str | None = None  # set in a worker process: logging configured on first use


def _log() -> Any:
    """structlog, imported on first use: a worker that logs nothing never loads it (nor rich,
    which it imports: a second of a worker's start on a busy machine, and memory)."""
    from citela_common.logging import configure_logging, get_logger

    global _worker_log_level
    if _worker_log_level is not None:
        configure_logging(level=_worker_log_level)
        _worker_log_level = None
    return get_logger(__name__)


Record = RawRecord | BrokenRecord

# --- hashes --------------------------------------------------------------------------------

EVENT_SOURCE = "/citela/ingest"
HASH_PREFIX = "v2:"
# updated_at may fall back to the harvest time: a change shows in provenance instead.
_UNHASHED: dict[str, Any] = {
    "version": True,
    "updated_at": True,
    "provenance": {"downloaded_at": True, "download_url": True},
}


def output_key(output: Output) -> str:
    if isinstance(output, TerritoryUpserted):
        return f"territory:{output.level.value}:{output.code}"
    return output.entry_id


def content_hash(output: Output) -> str:
    """Hash of what matters in an output, as stored: harvest-time fields are left out.

    ``v2:`` + BLAKE2b of pydantic's JSON of the output (fields in declaration order, no dict
    fields: deterministic), a few microseconds in Rust where the sorted json.dumps of a dump
    took about ten times as long. Hashes stored before carry no prefix: ``legacy_content_hash``.
    """
    return _digest(output.model_dump_json(exclude=_UNHASHED))


def _digest(text: str) -> str:
    return HASH_PREFIX + hashlib.blake2b(text.encode(), digest_size=30).hexdigest()


def _hashed_text(data: str, version_at: int) -> str:
    """``content_hash``'s text cut out of the output's whole JSON (version 0), not dumped again.

    The left-out fields sit where the models declare them: the version right after the opening
    string fields, the provenance's download URL and time last in it, and the provenance last
    but for ``updated_at``. The last ',"download_url":' is the provenance's key (a string value
    has no bare quote). ``_cut_hash_checked`` compares with a real dump once per model.
    """
    return f"{data[:version_at]}{data[version_at + _VERSION_0_LENGTH : data.rfind(_DOWNLOAD)]}}}}}"


# Every payload opens with string fields (entry_id; or code, level, name) before its version:
# in JSON text a bare quote only delimits strings and a string value is followed by "," or
# "}", never ":", so the first '"version":' of the payload is the field itself.
_VERSION = '"version":'

_DOWNLOAD = ',"download_url":'
_VERSION_0_LENGTH = len('"version":0,')
_cut_hash_checked: dict[type, bool] = {}


def _hash_of(output: Output, data: str, version_at: int) -> str:
    kind = type(output)
    checked = _cut_hash_checked.get(kind)
    if checked is None:  # the first output of its kind: the cut must give the dump's text
        checked = _hashed_text(data, version_at) == output.model_dump_json(exclude=_UNHASHED)
        _cut_hash_checked[kind] = checked
        if not checked:
            _log().warning("ingest.hash_cut_mismatch", model=kind.__name__)
    return _digest(_hashed_text(data, version_at)) if checked else content_hash(output)


def legacy_content_hash(output: Output) -> str:
    """The hash stored before ``v2:`` (SHA-256 of the sorted JSON of the same fields)."""
    data = output.model_dump(mode="json", exclude=_UNHASHED)
    canonical = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


# --- what mapping a record gives -----------------------------------------------------------


class ItemStatus(StrEnum):
    DONE = "done"
    SKIPPED = "skipped"
    INVALID = "invalid"
    ARCHIVED = "archived"


class Prepared(NamedTuple):
    """One output of a record as the harvester needs it: plain strings, cheap to send.

    Its event is built with the output (an envelope of ``make_event``'s shape, the payload
    serialised once, in Rust) and kept cut around the payload's version: sources give version
    0 and the harvester numbers versions once it knows what was published before, so
    ``envelope(version)`` is the event of ``output.model_copy(update={"version": version})``.
    """

    key: str
    digest: str
    remote_id: str
    event_type: str
    topic: str
    event_id: str
    envelope_head: str  # the envelope's JSON up to the version's value
    envelope_tail: str  # the envelope's JSON after it
    territory: tuple[str, str, str] | None  # (code, level, name) of a TerritoryUpserted

    def envelope(self, version: int) -> str:
        return f"{self.envelope_head}{version}{self.envelope_tail}"

    def data(self, version: int) -> dict[str, Any]:
        """The event's payload as JSON values (for the territories table)."""
        data: dict[str, Any] = json.loads(self.envelope(version))["data"]
        return data

    def output(self) -> Output:
        """The output itself, parsed back (only for hashes stored before ``v2:``)."""
        parsed = EVENT_MODELS[self.event_type].model_validate(self.data(0))
        assert isinstance(parsed, CatalogueEntryUpserted | TerritoryUpserted)
        return parsed


# a record's outputs, or (status, reason, raw input to keep, outside the territory) when it
# has none
Rejected = tuple[ItemStatus, str, str | None, bool]
Mapped = list[Prepared] | Rejected


def prepare(output: Output, tenant: str) -> Prepared:
    """An output's key, hash and event (``CloudEvent`` validates the tenant and type)."""
    if output.version != 0:
        output = output.model_copy(update={"version": 0})
    key = output_key(output)
    event = CloudEvent(type=output.event_type, source=EVENT_SOURCE, tenant=tenant, subject=key)
    head = event.model_dump_json(exclude={"data"})  # '{"id":…,"tenant":…}'
    data = output.model_dump_json()
    version_at = data.index(_VERSION)
    cut = version_at + len(_VERSION)
    if isinstance(output, TerritoryUpserted):
        remote_id, territory = output.code, (output.code, output.level.value, output.name)
    else:
        remote_id, territory = output.provenance.remote_id, None
    return Prepared(
        key,
        _hash_of(output, data, version_at),
        remote_id,
        output.event_type,
        output.topic,
        event.id,
        f'{head[:-1]},"data":{data[:cut]}',
        f"{data[cut + 1 :]}}}",  # past the "0"
        territory,
    )


def map_one(source: Source, ctx: HarvestContext, tenant: str, record: Record) -> Mapped:
    """The record's outputs, or (status, reason, raw input to keep, outside the territory)
    when there are none."""
    if isinstance(record, BrokenRecord):
        return ItemStatus.INVALID, record.reason, record.raw, False
    try:
        return [prepare(output, tenant) for output in source.map_record(record, ctx)]
    except SkipRecord as skip:
        return ItemStatus.SKIPPED, skip.reason, None, skip.outside_territory
    except InvalidRecord as invalid:
        return ItemStatus.INVALID, invalid.reason, record.raw_input(), False
    except Exception as exc:  # a mapping bug must not abort the run
        _log().exception("ingest.map_error", source=source.name, remote_id=record.remote_id)
        return (
            ItemStatus.INVALID,
            f"unexpected error while mapping: {exc!r}",
            record.raw_input(),
            False,
        )


# --- the wire: chunks of records out, their results back -----------------------------------


def _encode_records(records: list[RawRecord]) -> bytes:
    rows = [
        (
            r.remote_id,
            r.payload,
            r.raw,
            r.remote_updated_at.isoformat() if r.remote_updated_at else None,
        )
        for r in records
    ]
    try:
        return b"M" + marshal.dumps(rows)
    except ValueError:  # a payload with values JSON does not have (a source's own types)
        return b"P" + pickle.dumps(rows, protocol=pickle.HIGHEST_PROTOCOL)


def _decode_records(frame: bytes) -> list[RawRecord]:
    body = memoryview(frame)[1:]
    # frames of our own processes, through pipes this process opened: trusted
    rows = marshal.loads(body) if frame[:1] == b"M" else pickle.loads(body)  # noqa: S301, S302
    return [
        RawRecord(remote_id, payload, raw, datetime.fromisoformat(updated) if updated else None)
        for remote_id, payload, raw, updated in rows
    ]


def _encode_results(results: list[Mapped]) -> bytes:
    wire = [
        [tuple(p) for p in result] if isinstance(result, list) else (result[0].value, *result[1:])
        for result in results
    ]
    return b"R" + marshal.dumps(wire)


def _decode_results(frame: bytes) -> list[Mapped]:
    results: list[Mapped] = []
    for item in marshal.loads(memoryview(frame)[1:]):  # noqa: S302 - our worker's frames
        if isinstance(item, list):
            results.append([Prepared._make(p) for p in item])
        else:
            results.append((ItemStatus(item[0]), item[1], item[2], item[3]))
    return results


# --- worker processes ----------------------------------------------------------------------


class WorkerLost(RuntimeError):
    """A mapping process died or failed a chunk; the chunk is mapped again in this process."""


class _Worker:
    """One ``python -m citela_ingest.mapping`` process, two chunks in flight at most."""

    def __init__(self, setup: bytes) -> None:
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        # the child resolves modules as this process does (a test's or a bench's sys.path)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        try:
            self.process = subprocess.Popen(  # noqa: S603 - our interpreter, our module
                [sys.executable, "-m", "citela_ingest.mapping", str(to_child_r), str(from_child_w)],
                pass_fds=(to_child_r, from_child_w),
                stdin=subprocess.DEVNULL,
                env=env,
            )
        finally:
            os.close(to_child_r)
            os.close(from_child_w)
        self._out = Connection(to_child_w, readable=False)
        self._in = Connection(from_child_r, writable=False)
        self.ready = threading.Event()
        self.settled = threading.Event()  # ready, or lost before it was
        self.lost = False  # set by the receiving thread only, once it stopped receiving
        self.in_flight: deque[Future[list[Mapped]]] = deque()
        self._outgoing: SimpleQueue[bytes | None] = SimpleQueue()
        self._outgoing.put(setup)
        # two threads so that neither side ever waits on the other's full pipe
        threading.Thread(target=self._send, name="ingest-map-send", daemon=True).start()
        threading.Thread(target=self._receive, name="ingest-map-receive", daemon=True).start()

    def submit(self, frame: bytes) -> Future[list[Mapped]]:
        """Map the records of a frame (``_encode_records``); the future fails with WorkerLost."""
        future: Future[list[Mapped]] = Future()
        self.in_flight.append(future)  # before sending: answers come back in this order
        self._outgoing.put(frame)
        if self.lost:  # the receiving thread is gone: nobody else will answer it
            self._fail()
        return future

    def _send(self) -> None:
        try:
            while (frame := self._outgoing.get()) is not None:
                self._out.send_bytes(frame)
        except OSError:
            pass  # the worker is gone: the receiving thread reads the end of its output
        finally:
            self._out.close()  # the worker reads the end of its input and exits

    def _receive(self) -> None:
        try:
            if self._in.recv_bytes() != b"ready":
                raise WorkerLost("mapping worker did not start")
            self.ready.set()
            self.settled.set()
            while True:
                frame = self._in.recv_bytes()
                future = self.in_flight.popleft()
                if frame[:1] == b"R":
                    future.set_result(_decode_results(frame))
                else:
                    future.set_exception(WorkerLost(frame[1:].decode(errors="replace")))
        except (EOFError, OSError, WorkerLost):
            pass
        finally:
            self._in.close()
            self.lost = True
            self.settled.set()
            self._fail()

    def _fail(self) -> None:
        """Every chunk still in flight fails (only once no answer can come)."""
        while self.in_flight:
            with contextlib.suppress(IndexError):
                future = self.in_flight.popleft()
                if not future.done():
                    future.set_exception(WorkerLost("mapping worker exited"))

    def close(self) -> None:
        self._outgoing.put(None)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _serve(read_fd: int, write_fd: int) -> None:
    """The worker's loop: (source, context, tenant, log level), then chunks until the end."""
    os.dup2(2, 1)  # a stray print must not reach the parent as a frame: stdout is not the pipe
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    inbox = Connection(read_fd, writable=False)
    outbox = Connection(write_fd, readable=False)
    source, ctx, tenant, level = pickle.loads(inbox.recv_bytes())  # noqa: S301 - from our parent
    global _worker_log_level
    _worker_log_level = level
    # The imports are here for good: keep the collector off them, and collect rarely (a chunk
    # is freed as a whole once answered).
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)
    outbox.send_bytes(b"ready")
    while True:
        try:
            frame = inbox.recv_bytes()
        except EOFError:
            return
        try:
            records = _decode_records(frame)
            results = [map_one(source, ctx, tenant, record) for record in records]
            answer = _encode_results(results)
        except Exception as exc:
            answer = b"E" + repr(exc).encode()
        outbox.send_bytes(answer)


# --- the ordered map stage -----------------------------------------------------------------


def default_map_workers() -> int:
    """As many workers as cores, at most 4 (beyond, the reading and writing process is the
    limit)."""
    return max(1, min(4, os.cpu_count() or 1))


class Mapper:
    """Maps a listing's records in order, in worker processes once the run proves large.

    Up to ``parallel_after`` records are mapped in this process (a small run never starts a
    process); then ``workers`` processes start, and chunks are mapped here until one is ready
    (``parallel_after=0``: the run waits for them). Two chunks per worker are in flight at
    most, so memory stays bounded whatever the listing's size. Only sources that declare
    ``parallel_mapping`` and pickle are mapped elsewhere.
    """

    def __init__(
        self,
        source: Source,
        ctx: HarvestContext,
        tenant: str,
        *,
        workers: int,
        parallel_after: int = 4_000,
        chunk_size: int = 250,
    ) -> None:
        self.source = source
        self.ctx = ctx
        self.tenant = tenant
        self.workers = workers if source.parallel_mapping else 0
        self.parallel_after = parallel_after
        self.chunk_size = chunk_size
        self._pool: list[_Worker] | None = None
        self.mapped_elsewhere = 0  # records mapped by workers (for tests and logs)

    def __enter__(self) -> Mapper:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for worker in self._pool or []:
            worker.close()
        self._pool = []

    def map(self, records: Iterable[Record]) -> Iterator[MappedRecord]:
        pending: deque[_Chunk] = deque()
        listed = 0
        for records_chunk in chunks(records, self.chunk_size):
            listed += len(records_chunk)
            if self._pool is None and self.workers and listed > self.parallel_after:
                self._start()
            while pending and self._saturated():
                yield from self._results(pending.popleft())
            pending.append(self._submit(records_chunk))
            while pending and _done(pending[0].mapped):
                yield from self._results(pending.popleft())
        while pending:
            yield from self._results(pending.popleft())

    def _start(self) -> None:
        try:
            level = logging.getLevelName(logging.getLogger().getEffectiveLevel())
            source = self.source.for_mapping()
            setup = pickle.dumps(
                (source, self.ctx, self.tenant, level), protocol=pickle.HIGHEST_PROTOCOL
            )
            self._pool = [_Worker(setup) for _ in range(self.workers)]
        except Exception as exc:  # cannot pickle the source, cannot start a process
            _log().warning("ingest.map_workers_unavailable", error=repr(exc))
            self._pool = []
            return
        if self.parallel_after == 0:
            for worker in self._pool:
                worker.settled.wait(timeout=120)

    def _ready(self) -> list[_Worker]:
        return [w for w in self._pool or [] if w.ready.is_set() and not w.lost]

    def _saturated(self) -> bool:
        ready = self._ready()
        return bool(ready) and all(len(w.in_flight) >= 2 for w in ready)

    def _submit(self, records: list[Record]) -> _Chunk:
        # what is kept of each record until its results come: not the parsed record itself
        listed = [(r.remote_id, r if isinstance(r, BrokenRecord) else None) for r in records]
        ready = self._ready()
        raw = [r for r in records if isinstance(r, RawRecord)]
        if not ready or not raw:
            return _Chunk(listed, b"", self._here(records))
        frame = _encode_records(raw)
        worker = min(ready, key=lambda w: len(w.in_flight))
        return _Chunk(listed, frame, worker.submit(frame))

    def _here(self, records: Iterable[Record]) -> list[Mapped]:
        return [map_one(self.source, self.ctx, self.tenant, record) for record in records]

    def _results(self, chunk: _Chunk) -> Iterator[MappedRecord]:
        if isinstance(chunk.mapped, list):  # mapped here: one result per record
            results = iter(chunk.mapped)
        else:  # mapped by a worker: one result per raw record (broken ones were not sent)
            try:
                sent = chunk.mapped.result()
                self.mapped_elsewhere += len(sent)
            except WorkerLost as exc:
                _log().warning("ingest.map_worker_lost", error=str(exc), records=len(chunk.listed))
                sent = self._here(_decode_records(chunk.frame))
            raw_results = iter(sent)
            results = (
                map_one(self.source, self.ctx, self.tenant, broken) if broken else next(raw_results)
                for _, broken in chunk.listed
            )
        for (remote_id, broken), mapped in zip(chunk.listed, results, strict=True):
            incomplete = broken.run_reason() if broken is not None and broken.incomplete else None
            yield MappedRecord(remote_id, mapped, incomplete)


class MappedRecord(NamedTuple):
    """A listed record once mapped (its parsed input is not kept)."""

    remote_id: str | None
    mapped: Mapped
    incomplete: str | None  # why the rest of the listing could not be read (French)


@dataclass(frozen=True, slots=True)
class _Chunk:
    listed: list[tuple[str | None, BrokenRecord | None]]  # each record's id; the broken ones
    frame: bytes  # the raw records as sent to a worker: mapped again here if it is lost
    mapped: Future[list[Mapped]] | list[Mapped]


def _done(mapped: Future[list[Mapped]] | list[Mapped]) -> bool:
    return isinstance(mapped, list) or mapped.done()


def chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """``items`` in lists of ``size`` (the last one shorter), read as they come."""
    chunk: list[T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


if __name__ == "__main__":
    _serve(int(sys.argv[1]), int(sys.argv[2]))
