"""The days of State Council holiday notices loaded after a release (`riskmap calendar load`): kept in the
database so that every worker, a restored backup and the next upgrade count deadlines alike, and
installed into geo.closeout's calendar when the service or a command starts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from sqlalchemy import Connection, Engine, Table, select
from sqlalchemy.dialects.postgresql import insert

from geo import closeout
from geo.access import Principal
from geo.closeout import CalendarDay
from geo.store.models import WorkingCalendarDay
from geo.store.repository import deny

W = cast(Table, WorkingCalendarDay.__table__)


def stored_days(conn: Connection) -> list[CalendarDay]:
    rows = conn.execute(select(W.c.day, W.c.kind, W.c.name, W.c.source).order_by(W.c.day))
    return [CalendarDay(*r) for r in rows]


def save_days(conn: Connection, principal: Principal, days: Sequence[CalendarDay]) -> int:
    """Store a notice's days (a day listed again is replaced) and install them in this process."""
    if not principal.is_admin:
        raise deny(principal, "load the working-day calendar")
    stmt = insert(W).values(
        [
            {"day": d.day, "kind": d.kind, "name": d.name, "source": d.source, "loaded_by": principal.actor}
            for d in days
        ]
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[W.c.day],
        set_={c: stmt.excluded[c] for c in ("kind", "name", "source", "loaded_by", "loaded_at")},
    )
    conn.execute(stmt)
    closeout.install_days(stored_days(conn))
    return len(days)


def install(engine: Engine) -> int:
    """Add the stored days to this process's calendar; how many there are."""
    with engine.connect() as conn:
        days = stored_days(conn)
    closeout.install_days(days)
    return len(days)
