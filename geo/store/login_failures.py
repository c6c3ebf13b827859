"""Failed sign-ins kept in PostgreSQL (table `login_failures`), for `api/login_limit.py`'s shared limiter.

Bookkeeping of the sign-in route, not register data: these functions take no principal (nobody is signed
in yet) and are called only by the limiter. Each key is a `(kind, key)` pair, kind "pair" or "address".
Concurrent attempts on the same keys, from any process, are serialised by transaction-scoped advisory
locks taken in one order, so they cannot slip past a limit together.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, text

Key = tuple[str, str]


def lock(conn: Connection, keys: Sequence[Key]) -> None:
    """Hold the keys until the transaction ends (taken in sorted order: no deadlock between two attempts)."""
    for kind, key in sorted(keys):
        conn.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 20201))"), {"k": f"login {kind} {key}"}
        )


def forget_before(conn: Connection, before: float) -> int:
    """Delete every failure at or before `before` (it has left the window); return how many."""
    return conn.execute(text("DELETE FROM login_failures WHERE at <= :before"), {"before": before}).rowcount


def latest(conn: Connection, key: Key, *, since: float, limit: int) -> list[float]:
    """The times of the key's latest `limit` failures after `since`, oldest first."""
    rows = conn.execute(
        text(
            "SELECT at FROM (SELECT at FROM login_failures WHERE kind = :kind AND key = :key AND at > :since "
            "ORDER BY at DESC LIMIT :limit) latest ORDER BY at"
        ),
        {"kind": key[0], "key": key[1], "since": since, "limit": limit},
    ).scalars()
    return list(rows)


def add(conn: Connection, keys: Sequence[Key], at: float) -> list[int]:
    """Count one failure under each key; return the rows' ids (to take them back)."""
    return [
        conn.execute(
            text("INSERT INTO login_failures (kind, key, at) VALUES (:kind, :key, :at) RETURNING id"),
            {"kind": kind, "key": key, "at": at},
        ).scalar_one()
        for kind, key in keys
    ]


def remove(conn: Connection, ids: Sequence[int]) -> None:
    """Take back the failures of these ids (an attempt that succeeded or could not be decided)."""
    conn.execute(text("DELETE FROM login_failures WHERE id = ANY(:ids)"), {"ids": list(ids)})


def clear(conn: Connection, key: Key) -> None:
    """Forget every failure of a key (a pair whose password was right)."""
    conn.execute(
        text("DELETE FROM login_failures WHERE kind = :kind AND key = :key"), {"kind": key[0], "key": key[1]}
    )


def count_keys(conn: Connection, *, since: float) -> int:
    """How many keys have a failure after `since`."""
    return conn.execute(
        text("SELECT count(*) FROM (SELECT DISTINCT kind, key FROM login_failures WHERE at > :since) k"),
        {"since": since},
    ).scalar_one()
