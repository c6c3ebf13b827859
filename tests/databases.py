"""Dropping a throwaway test database: `DROP DATABASE … WITH (FORCE)` ends the sessions still on it, but
PostgreSQL refuses (InsufficientPrivilege) while a session of another role is still closing there (e.g. a
command of the test that connected as the superuser and is exiting): tried again for a few seconds."""

from __future__ import annotations

import time

from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError


def drop_database(conn: Connection, name: str, *, seconds: float = 10.0) -> None:
    """Drop database `name` (a name the test made itself) on an AUTOCOMMIT connection."""
    give_up = time.monotonic() + seconds
    while True:
        try:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            return
        except DBAPIError:
            if time.monotonic() > give_up:
                raise
            time.sleep(0.2)
