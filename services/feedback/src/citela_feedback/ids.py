"""Identifiers: random, URL-safe, not guessable (they appear in URLs and events)."""

from __future__ import annotations

import os
import threading

# A version 4 UUID (RFC 9562) is 122 random bits with the version (4) and the variant (10)
# set; built here as uuid.uuid4() does, without the UUID object.
_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_SET = (0x4000 << 64) | (0x8000 << 48)
# os.urandom releases the GIL around its system call: in a busy worker (relay, Kafka and event
# loop threads) each call may wait a switch interval (5 ms) to get it back, and a batch draws
# two ids per item. The random bytes are drawn 64 KiB at a time (4,096 ids), per thread.
_CHUNK = 1 << 16


class _Pool(threading.local):
    def __init__(self) -> None:
        self.data = b""
        self.pos = 0


_pool = _Pool()


def _forget_in_child() -> None:
    # A forked child must not reuse its parent's bytes (the same ids twice).
    _pool.data, _pool.pos = b"", 0


os.register_at_fork(after_in_child=_forget_in_child)


def _random128() -> int:
    pool = _pool
    pos = pool.pos
    if pos + 16 > len(pool.data):
        pool.data, pos = os.urandom(_CHUNK), 0
    pool.pos = pos + 16
    return int.from_bytes(pool.data[pos : pos + 16])


def new_id() -> str:
    """A random version 4 UUID in 32 hex digits (as ``uuid.uuid4().hex``)."""
    return f"{_random128() & _CLEAR | _SET:032x}"


def new_uuid() -> str:
    """A random version 4 UUID in its canonical form (as ``str(uuid.uuid4())``)."""
    h = new_id()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
