"""Engines with the session settings riskmap relies on."""

from __future__ import annotations

import select
from typing import Any

from sqlalchemy import Engine, create_engine, event, exc


def make_engine(url: str, *, pool_size: int = 5, statement_timeout_ms: int = 60_000) -> Engine:
    """At most 2 × `pool_size` connections (`pool_size`, and as many again when busy), each kept open once
    made: an overflow connection closed when given back (SQLAlchemy's default) was a new PostgreSQL backend
    at the next busy moment, and a new backend's first `ST_Transform` pays PROJ's start-up (0.1–0.4 s), so
    8 concurrent tile requests on a pool of 5 kept paying it (bench/results/tiles.md)."""
    engine = create_engine(
        url,
        pool_size=2 * pool_size,
        max_overflow=0,
        pool_pre_ping=False,  # `_alive` instead: the same without a round trip
        pool_recycle=1800,
        connect_args={"connect_timeout": 5, "application_name": "riskmap"},
    )

    @event.listens_for(engine, "connect")
    def _session_settings(dbapi_conn: Any, _record: Any) -> None:
        # On 2 cores, JIT and parallel plans lose for our short spatial queries (../shared/performance.md).
        with dbapi_conn.cursor() as cur:
            cur.execute("SET jit = off")
            cur.execute("SET statement_timeout = %s", (statement_timeout_ms,))
        dbapi_conn.commit()

    @event.listens_for(engine, "checkout")
    def _alive(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
        # A restarted (or stopped) database has closed its end of every pooled connection: the backend sends
        # a FATAL message and closes, so the idle socket has something to read (an idle live one has
        # nothing). Such a connection is replaced here, before a request uses it: a restart costs no failed
        # request, as with SQLAlchemy's pre-ping, but without a round trip (a SELECT 1) per checkout.
        if dbapi_conn.closed or _readable(dbapi_conn.fileno()):
            raise exc.DisconnectionError("the database closed this connection")

    return engine


def _readable(fd: int) -> bool:
    ready, _, _ = select.select([fd], [], [], 0)
    return bool(ready)
