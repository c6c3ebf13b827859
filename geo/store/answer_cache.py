"""Answers kept across requests (four-colour answers, map pages) under the data's epoch.

What an answer depends on: the tables it reads (`tables`, a subset of `TABLES`), the request's
parameters and the principal's scope (`tiles.scope_key`), in the caller's `key`. The tables' epochs
are the write counters `tile_epoch_<table>` that the statement trigger of migrations 0017/0019 moves on
every INSERT, UPDATE, DELETE, TRUNCATE or COPY, so a write shows at the next request, in every worker
process (the counters live in the database; each process keeps its own copies of the answers).

An answer is stored only when it was made from a snapshot of exactly those epochs: every write statement
holds a lock of its table shared until its transaction ends (the pair `tiles.TILE_LOCK`, hashtext(table):
migration 0021d); the reader takes the locks of the answer's tables exclusively for the moment it opens a
REPEATABLE READ snapshot and reads the epochs in it, then lets go, and makes the answer in that
snapshot. It only tries (`pg_try_advisory_lock`, polled for at most `LOCK_WAIT`), never queues: a queued
exclusive request would hold every later writer behind it. A write in flight on one of those tables makes
the answer fresh and unstored, without an ETag; a write to another table does not matter. Writers wait
only for that moment, never for the answer's making.

Concurrent misses of one key wait for the first (one computation, the others read its result).
`RISKMAP_ANSWER_CACHE_MB=0` turns the cache off (answers made per request, as before: the bench's
baseline).
"""

# ruff: noqa: S608  (the only names put into SQL are this module's constant table names)
from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from typing import Final

from sqlalchemy import Connection, Engine, text

from geo.store.tiles import TILE_LOCK, EpochCache

# The mapped tables, and `enterprise_names`: what of enterprises a named risk unit shows (their ids and
# names; its counter moves only when those change, migration 0021d)
TABLES: Final = (
    "jurisdictions",
    "enterprises",
    "risk_units",
    "protection_targets",
    "hazards",
    "enterprise_names",
)
LOCK_WAIT: Final = 0.1  # seconds: longest wait for writes in flight before an answer is made unstored
Epochs = tuple[int, ...]


def epochs(conn: Connection, tables: Sequence[str]) -> Epochs:
    """The write counters of `tables` now (in that order)."""
    unknown = set(tables) - set(TABLES)
    if unknown:
        raise ValueError(f"no epoch for {sorted(unknown)}")
    cols = ", ".join(
        f"(SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM tile_epoch_{t})" for t in tables
    )
    return tuple(int(v) for v in conn.execute(text(f"SELECT {cols}")).one())


def etag(at: Epochs, key: Hashable) -> str:
    return '"a' + hashlib.sha256(repr((at, key)).encode()).hexdigest()[:31] + '"'


@dataclass(frozen=True)
class Answer:
    body: bytes | None  # None: not modified (If-None-Match named the current ETag)
    etag: str | None  # None: made while a write was in flight, not stored, not to be revalidated
    hit: bool = False


def _try_locks(conn: Connection, tables: Sequence[str]) -> bool:
    """Take the table locks of `tables` exclusively (session locks, held past commit) if no write holds one
    now, polling for at most `LOCK_WAIT` seconds. Never waits in PostgreSQL's lock queue: a reader queued
    for a lock its writers hold shared would queue every later writer behind it (a convoy)."""
    deadline = time.monotonic() + LOCK_WAIT
    pause = 0.005
    while True:
        taken = conn.execute(
            text(
                "SELECT coalesce(array_agg(t) FILTER (WHERE pg_try_advisory_lock(:k, hashtext(t))), '{}') "
                "FROM unnest(CAST(:tables AS text[])) AS t"
            ),
            {"k": TILE_LOCK, "tables": list(tables)},
        ).scalar_one()
        if len(taken) == len(tables):
            return True
        _unlock(conn, taken)
        if time.monotonic() + pause > deadline:
            return False
        time.sleep(pause)
        pause *= 2


def _unlock(conn: Connection, tables: Sequence[str]) -> None:
    if tables:
        conn.execute(
            text("SELECT pg_advisory_unlock(:k, hashtext(t)) FROM unnest(CAST(:tables AS text[])) AS t"),
            {"k": TILE_LOCK, "tables": list(tables)},
        )


@contextmanager
def _snapshot(conn: Connection, tables: Sequence[str]) -> Iterator[Epochs | None]:
    """Open a REPEATABLE READ transaction whose snapshot holds exactly the epochs yielded (None when
    writes to `tables` were in flight for longer than LOCK_WAIT: then the snapshot's epochs are unknown)."""
    ok = False
    try:
        locked = _try_locks(conn, tables)
        if conn.in_transaction():
            conn.rollback()  # session locks stay
        conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
        # The snapshot is taken here; when locked, no write to `tables` is in flight: every write that
        # moved these epochs is committed and in the snapshot, and none can start before the unlock.
        read = epochs(conn, tables)
        if locked:
            _unlock(conn, tables)
        at = read if locked else None
        ok = True
    finally:
        if not ok:
            conn.invalidate()  # closing the session releases any lock taken, whatever went wrong
    yield at


class AnswerCache:
    def __init__(self, max_bytes: int) -> None:
        self.store = EpochCache(max_bytes)  # the tiles' LRU; here the epoch is a tuple of counters
        self._flights: dict[Hashable, threading.Lock] = {}
        self._guard = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.store.max_bytes > 0

    @contextmanager
    def _flight(self, key: Hashable) -> Iterator[None]:
        with self._guard:
            lock = self._flights.setdefault(key, threading.Lock())
        with lock:
            yield
        with self._guard:
            if not lock.locked():
                self._flights.pop(key, None)

    def answer(
        self,
        engine: Engine,
        key: Hashable,
        make: Callable[[Connection], bytes],
        *,
        tables: Sequence[str] = TABLES,
        not_modified: Callable[[str], bool] = lambda _tag: False,
        frame: Callable[[], AbstractContextManager[object]] = nullcontext,
    ) -> Answer:
        """The answer for `key`: 304-able (`not_modified(etag)`), stored, or made by `make(conn)` within
        `frame()` (the request's limits: only a made answer pays them). Authorisation is the caller's or
        `make`'s: an answer is stored only after `make` returned, under the principal's scope in `key`."""
        if not self.enabled:
            with frame(), engine.connect() as conn:
                return Answer(make(conn), None)
        found = self._lookup(engine, key, tables, not_modified)
        if found is not None:
            return found
        with self._flight(key):
            found = self._lookup(engine, key, tables, not_modified)
            if found is not None:
                return found
            with frame(), engine.connect() as conn, _snapshot(conn, tables) as at:
                body = make(conn)
                conn.rollback()  # a read: nothing to keep (temporary tables go with the transaction)
        if at is None:
            return Answer(body, None)
        self.store.put(key, at, body, len(body))
        return Answer(body, etag(at, key))

    def _lookup(
        self, engine: Engine, key: Hashable, tables: Sequence[str], not_modified: Callable[[str], bool]
    ) -> Answer | None:
        with engine.connect() as conn:
            now = epochs(conn, tables)
        tag = etag(now, key)
        if not_modified(tag):
            return Answer(None, tag, hit=True)
        body = self.store.get(key, now)
        return None if body is None else Answer(body, tag, hit=True)


CACHE: Final = AnswerCache(int(float(os.environ.get("RISKMAP_ANSWER_CACHE_MB", "64")) * 1024 * 1024))
