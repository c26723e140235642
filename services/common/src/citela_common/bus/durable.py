"""The embedded mode's bus, as durable as Kafka: its log and its groups' offsets in a SQLite file.

The outbox relay marks its rows sent once ``publish_raw_many`` returned, so an append is
durable before it returns: one transaction per batch, fsynced (``synchronous=FULL``, a fraction
of a millisecond per relay pass), and only then shown to the consumers. A consumer's commit
writes its offsets in the same file (``NORMAL``: a commit lost to a power cut only means a
redelivery, which the consumers' processed-event marks skip). So a stop, a crash or a kill -9
at any moment loses nothing: on start the bus reloads the log, each group resumes from its
committed offsets, and what was handled but not committed comes again and is skipped.

Memory holds the hot tail of the log, the records some group has yet to commit; consumers
poll it as the in-process bus does. A group behind that tail (a new group, which starts from
the earliest record kept, or one that was stopped a while) reads back from the file.

Retention: a record leaves the file once every group of its topic committed past it and it is
older than the topics' retention (``Settings.topic_retention_s``, as on Kafka; the consumers'
processed-event marks are kept as long). A topic no group reads (a DLQ) keeps its records for
that retention. A group no process opened for that long is forgotten, as Kafka forgets the
offsets of an empty group.

One process owns the file at a time (an exclusive lock beside it): a second platform on the
same data directory is refused at once rather than interleaving offsets.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import IO

from citela_common.bus.base import Record
from citela_common.bus.memory import InProcessBus, Partition
from citela_common.events.envelope import Headers
from citela_common.faults import PublishError
from citela_common.logging import get_logger

log = get_logger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    topic TEXT NOT NULL, partition INTEGER NOT NULL, "offset" INTEGER NOT NULL,
    key BLOB, value BLOB, headers TEXT NOT NULL, appended_at REAL NOT NULL,
    PRIMARY KEY (topic, partition, "offset")
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS log_ends (
    topic TEXT NOT NULL, partition INTEGER NOT NULL, next_offset INTEGER NOT NULL,
    PRIMARY KEY (topic, partition)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS group_offsets (
    grp TEXT NOT NULL, topic TEXT NOT NULL, partition INTEGER NOT NULL,
    "offset" INTEGER NOT NULL, updated_at REAL NOT NULL,
    PRIMARY KEY (grp, topic, partition)
) WITHOUT ROWID;
"""

# How often memory drops what every group committed, and the file what retention lets go.
TRIM_EVERY_S = 1.0
COMPACT_EVERY_S = 60.0
COMPACT_BATCH = 5000  # records a compaction deletes per partition and pass, at most


class BusLockedError(RuntimeError):
    """Another process owns the embedded bus's file."""


def _encode_headers(headers: Headers) -> str:
    # latin-1 maps every byte to one character and back: any header value round-trips.
    return json.dumps([[k, v.decode("latin-1")] for k, v in headers], separators=(",", ":"))


def _decode_headers(text: str) -> Headers:
    return [(k, v.encode("latin-1")) for k, v in json.loads(text)]


def read_log(path: Path, topics: list[str] | None = None) -> list[Record]:
    """The records kept in a durable bus's file (of ``topics``, or all), partition by partition,
    read-only: another process (a CLI listing the DLQs, a test counting events) may read them
    while the platform owns the file (WAL readers take no lock); nothing if there is no file."""
    if not Path(path).exists():
        return []
    conn = sqlite3.connect(f"file:{Path(path).resolve()}?mode=ro", uri=True)
    try:
        query = 'SELECT topic, partition, "offset", key, value, headers FROM records'
        params: list[str] = []
        if topics is not None:
            query += f" WHERE topic IN ({', '.join('?' for _ in topics)})"
            params = list(topics)
        query += ' ORDER BY topic, partition, "offset"'
        return [
            Record(topic, partition, offset, key, value, _decode_headers(headers))
            for topic, partition, offset, key, value, headers in conn.execute(query, params)
        ]
    finally:
        conn.close()


# The bus of each file open in this process, and how many users share it (``DurableBus.shared``).
_shared: dict[Path, tuple[DurableBus, int]] = {}
_shared_lock = threading.Lock()


class DurableBus(InProcessBus):
    """``InProcessBus`` whose log and offsets survive the process (see the module)."""

    @classmethod
    def shared(
        cls, path: Path, partitions: int = 3, *, retention_s: float = 7 * 86_400
    ) -> DurableBus:
        """The bus of ``path`` for this process: a second platform built in the same process
        (``citela demo`` checking a demo in place, tests) shares it rather than being refused;
        each ``close()`` lets go of one use, the last one closes the file."""
        key = Path(path).resolve()
        with _shared_lock:
            bus, users = _shared.get(key, (None, 0))
            if bus is None:
                bus = cls(path, partitions, retention_s=retention_s)
                bus._shared_key = key
            _shared[key] = (bus, users + 1)
            return bus

    def __init__(
        self,
        path: Path,
        partitions: int = 3,
        *,
        retention_s: float = 7 * 86_400,
        compact_every_s: float = COMPACT_EVERY_S,
        trim_every_s: float = TRIM_EVERY_S,
    ) -> None:
        super().__init__(partitions)
        self.path = Path(path)
        self.retention_s = retention_s
        self.compact_every_s = compact_every_s
        self.trim_every_s = trim_every_s
        self._open_lock = threading.RLock()
        self._db_lock = threading.Lock()  # one connection, one statement sequence at a time
        self._conn: sqlite3.Connection | None = None
        self._lock_file: IO[str] | None = None
        self._sync = ""
        self._starts: dict[tuple[str, int], int] = {}  # first offset kept in the file
        self._open_groups: set[str] = set()
        self._trimmed_at = 0.0
        self._compacted_at = 0.0
        self._shared_key: Path | None = None

    # Opening and closing ----------------------------------------------------------------
    def _open(self) -> None:
        if self._conn is not None:
            return
        with self._open_lock:
            if self._conn is not None:
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._lock_file = self._take_lock()
            try:
                conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA busy_timeout=30000")
                conn.executescript(SCHEMA)
                self._load(conn)
            except BaseException:
                self._release_lock()
                raise
            self._conn = conn
            self._compacted_at = time.monotonic()

    def _take_lock(self) -> IO[str]:
        lock_path = self.path.with_name(self.path.name + ".lock")
        handle = lock_path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "?"
            handle.close()
            raise BusLockedError(
                f"le bus intégré {self.path} est déjà utilisé par un autre processus "
                f"(pid {holder}) : une seule plateforme par dossier de données"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        return handle

    def _release_lock(self) -> None:
        if self._lock_file is not None:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._lock_file.close()
            self._lock_file = None

    def _load(self, conn: sqlite3.Connection) -> None:
        """The partition count, the offsets, and the tail of the log each group still needs."""
        stored = conn.execute("SELECT value FROM meta WHERE name = 'partitions'").fetchone()
        if stored is None:
            conn.execute("INSERT INTO meta VALUES ('partitions', ?)", (str(self.partitions),))
        elif int(stored[0]) != self.partitions:
            # Keys must keep their partition (per-tenant order): the file's count stands.
            log.warning("bus.partitions_kept", stored=int(stored[0]), asked=self.partitions)
            self.partitions = int(stored[0])
        with self._cond:
            self._logs.clear()
            self._committed.clear()
            self._starts.clear()
            for grp, topic, partition, offset in conn.execute(
                'SELECT grp, topic, partition, "offset" FROM group_offsets'
            ):
                self._committed[(grp, topic, partition)] = offset
                self._log(topic)
            ends = {
                (topic, partition): end
                for topic, partition, end in conn.execute(
                    "SELECT topic, partition, next_offset FROM log_ends"
                )
            }
            firsts = dict(
                ((topic, partition), first)
                for topic, partition, first in conn.execute(
                    'SELECT topic, partition, MIN("offset") FROM records GROUP BY topic, partition'
                )
            )
            for topic, _number in ends:
                self._log(topic)
            for topic, parts in self._logs.items():
                for number in range(self.partitions):
                    end = ends.get((topic, number), 0)
                    self._starts[(topic, number)] = firsts.get((topic, number), end)
                    floor = max(self._floor(topic, number, end), self._starts[(topic, number)])
                    part = parts[number] = Partition(floor)
                    part.records.extend(self._rows(conn, topic, number, floor, end))
                    if part.end != end:  # a hole would shift every later offset: refuse it
                        raise RuntimeError(f"bus log {topic}/{number} incomplete in {self.path}")
        loaded = sum(len(p.records) for parts in self._logs.values() for p in parts)
        log.info("bus.loaded", path=str(self.path), groups=len(self._groups()), pending=loaded)

    def close(self) -> None:
        if self._shared_key is not None:
            with _shared_lock:
                _bus, users = _shared.get(self._shared_key, (self, 1))
                if users > 1:
                    _shared[self._shared_key] = (self, users - 1)
                    return
                _shared.pop(self._shared_key, None)
                self._shared_key = None
        with self._append_lock, self._open_lock, self._db_lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            self._release_lock()
            with self._cond:
                self._logs.clear()
                self._committed.clear()
                self._starts.clear()
                self._open_groups.clear()

    # Reading the file --------------------------------------------------------------------
    @staticmethod
    def _rows(
        conn: sqlite3.Connection, topic: str, partition: int, start: int, stop: int | None
    ) -> list[Record]:
        query = (
            'SELECT "offset", key, value, headers FROM records'
            ' WHERE topic = ? AND partition = ? AND "offset" >= ?'
        )
        params: list[object] = [topic, partition, start]
        if stop is not None:
            query += ' AND "offset" < ?'
            params.append(stop)
        query += ' ORDER BY "offset"'
        return [
            Record(topic, partition, offset, key, value, _decode_headers(headers))
            for offset, key, value, headers in conn.execute(query, params)
        ]

    def _read_back(self, topic: str, partition: int, start: int, stop: int) -> list[Record]:
        with self._db_lock:
            if self._conn is None:
                return []
            return self._rows(self._conn, topic, partition, start, stop)

    def records(self, topic: str) -> list[Record]:
        """Every record of a topic kept in the file, partition by partition."""
        self._open()
        with self._db_lock:
            assert self._conn is not None
            return [
                record
                for number in range(self.partitions)
                for record in self._rows(self._conn, topic, number, 0, None)
            ]

    # Writing the file --------------------------------------------------------------------
    def _synchronous(self, conn: sqlite3.Connection, level: str) -> None:
        if self._sync != level:  # a pragma outside any transaction, only when it changes
            conn.execute(f"PRAGMA synchronous={level}")
            self._sync = level

    def _persist(self, records: list[Record]) -> None:
        now = time.time()
        ends: dict[tuple[str, int], int] = {}
        for r in records:
            ends[(r.topic, r.partition)] = r.offset + 1
        try:
            with self._db_lock:
                conn = self._conn
                if conn is None:
                    raise PublishError("the embedded bus is closed")
                # FULL: fsynced before the relay marks its rows sent (a power cut included).
                self._synchronous(conn, "FULL")
                conn.execute("BEGIN IMMEDIATE")
                try:
                    conn.executemany(
                        "INSERT INTO records VALUES (?, ?, ?, ?, ?, ?, ?)",
                        [
                            (
                                r.topic,
                                r.partition,
                                r.offset,
                                r.key,
                                r.value,
                                _encode_headers(r.headers),
                                now,
                            )
                            for r in records
                        ],
                    )
                    conn.executemany(
                        "INSERT INTO log_ends VALUES (?, ?, ?) ON CONFLICT (topic, partition)"
                        " DO UPDATE SET next_offset = excluded.next_offset",
                        [(t, p, end) for (t, p), end in ends.items()],
                    )
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
        except sqlite3.Error as exc:  # a full disk, an I/O error: the relay retries
            raise PublishError(f"embedded bus append failed: {exc}") from exc

    def _persist_offsets(self, group: str, offsets: dict[tuple[str, int], int]) -> None:
        self._write_offsets(group, offsets)
        now = time.monotonic()
        if now - self._trimmed_at >= self.trim_every_s:
            self._trimmed_at = now
            self._trim()
        if now - self._compacted_at >= self.compact_every_s:
            self._compacted_at = now
            self.compact()

    def _write_offsets(self, group: str, offsets: dict[tuple[str, int], int]) -> None:
        if not offsets:
            return
        now = time.time()
        with self._db_lock:
            conn = self._conn
            if conn is None:
                raise RuntimeError("the embedded bus is closed")
            # NORMAL: a commit lost to a power cut is a redelivery, skipped by the marks.
            self._synchronous(conn, "NORMAL")
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(
                    "INSERT INTO group_offsets VALUES (?, ?, ?, ?, ?) ON CONFLICT (grp, topic,"
                    ' partition) DO UPDATE SET "offset" = excluded."offset",'
                    " updated_at = excluded.updated_at",
                    [(group, t, p, offset, now) for (t, p), offset in offsets.items()],
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def _join(self, group: str, positions: dict[tuple[str, int], int]) -> None:
        """A group is known from its first member on: the records it has yet to read are
        kept for it (auto.offset.reset=earliest, remembered as Kafka remembers a group)."""
        self._open_groups.add(group)
        with self._cond:
            fresh = {
                (t, p): offset
                for (t, p), offset in positions.items()
                if (group, t, p) not in self._committed
            }
            for (t, p), offset in fresh.items():
                self._committed[(group, t, p)] = offset
        self._write_offsets(group, fresh)

    def _start_of(self, topic: str, partition: int) -> int:
        # A partition the file never trimmed starts at 0 (memory may have dropped its head).
        return self._starts.get((topic, partition), 0)

    # Retention ---------------------------------------------------------------------------
    def _groups(self) -> set[str]:
        return {grp for grp, _, _ in self._committed}

    def _floor(self, topic: str, partition: int, end: int) -> int:
        """The lowest offset a group of ``topic`` has yet to commit (``end``: no group)."""
        committed = [
            offset
            for (grp, t, p), offset in self._committed.items()
            if t == topic and p == partition
        ]
        return min(committed, default=end)

    def _trim(self) -> None:
        """Memory keeps only what some group has yet to commit."""
        with self._cond:
            for topic, parts in self._logs.items():
                for number, part in enumerate(parts):
                    part.trim(self._floor(topic, number, part.end))

    def compact(self) -> int:
        """Delete from the file what every group committed and retention lets go (bounded
        per partition); forget the groups no process opened for the retention. Returns how
        many records went."""
        cutoff = time.time() - self.retention_s
        deleted = 0
        with self._db_lock:
            conn = self._conn
            if conn is None:
                return 0
            self._synchronous(conn, "NORMAL")
            stale = [
                grp
                for (grp,) in conn.execute(
                    "SELECT DISTINCT grp FROM group_offsets WHERE updated_at < ?", (cutoff,)
                )
                if grp not in self._open_groups
            ]
            with self._cond:
                for grp in stale:
                    for key in [k for k in self._committed if k[0] == grp]:
                        del self._committed[key]
                bounds = {
                    (topic, number): min(self._floor(topic, number, part.end), part.end)
                    for topic, parts in self._logs.items()
                    for number, part in enumerate(parts)
                }
            conn.execute("BEGIN IMMEDIATE")
            try:
                for grp in stale:
                    log.info("bus.group_forgotten", group=grp)
                    conn.execute("DELETE FROM group_offsets WHERE grp = ?", (grp,))
                for (topic, number), floor in bounds.items():
                    start = self._starts.get((topic, number), 0)
                    upto = min(floor, start + COMPACT_BATCH)
                    if upto <= start:
                        continue
                    young = conn.execute(
                        'SELECT MIN("offset") FROM records WHERE topic = ? AND partition = ?'
                        ' AND "offset" >= ? AND "offset" < ? AND appended_at >= ?',
                        (topic, number, start, upto, cutoff),
                    ).fetchone()[0]
                    bound = upto if young is None else int(young)
                    if bound <= start:
                        continue
                    deleted += conn.execute(
                        'DELETE FROM records WHERE topic = ? AND partition = ? AND "offset" < ?',
                        (topic, number, bound),
                    ).rowcount
                    self._starts[(topic, number)] = bound
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        if deleted:
            log.info("bus.compacted", records=deleted, groups_forgotten=len(stale))
        return deleted
