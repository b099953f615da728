"""Time-ordered record ids (UUID version 7 layout, RFC 9562).

48 bits of Unix milliseconds, then a 12-bit counter that keeps ids made in the same millisecond by
this process in order, then 62 random bits. Ids made one after another in a process sort in the
order they were made, so the store's unique index receives them near its end (cheap inserts).
The random part comes from a generator seeded from os.urandom, reseeded in a forked child so that
parent and child never produce the same sequence.
"""

from __future__ import annotations

import os
import random
import threading
import time

_lock = threading.Lock()
_rng = random.Random(os.urandom(32))
_last_ms = 0
_counter = 0


def _reseed() -> None:
    global _rng, _lock, _last_ms, _counter
    _rng = random.Random(os.urandom(32))
    _lock = threading.Lock()
    _last_ms = 0
    _counter = 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reseed)


def new_id() -> str:
    """A new UUIDv7 string, e.g. '019a6f1e-3c2a-7000-8f3e-5b1d2c3a4b5c'."""
    global _last_ms, _counter
    now_ms = time.time_ns() // 1_000_000
    with _lock:
        if now_ms > _last_ms:
            _last_ms = now_ms
            _counter = _rng.getrandbits(8)  # a random start leaves room for 3,800+ ids in this millisecond
        else:
            _counter += 1
            if _counter > 0xFFF:  # the millisecond is used up: borrow the next one (stays ordered)
                _last_ms += 1
                _counter = 0
        ms, counter = _last_ms, _counter
        rand = _rng.getrandbits(62)
    return "%08x-%04x-7%03x-%04x-%012x" % (
        (ms >> 16) & 0xFFFFFFFF, ms & 0xFFFF, counter, 0x8000 | (rand >> 48), rand & 0xFFFFFFFFFFFF)


def id_time_ms(record_id: str) -> int:
    """The millisecond timestamp in a UUIDv7 string (for tests and debugging)."""
    return int(record_id.replace("-", "")[:12], 16)
