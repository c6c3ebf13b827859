"""Assignment (交办) and close-out (销号) of major and large risks (seed 002 三(二) 2, 4): the steps, the case
lists, the overdue lists and the announcements (公示). The rules are pure in geo/closeout.py and applied in
the principal's scope by geo/store/closeout.py; here the day they are judged on is fixed (today in Beijing
unless given). Writes run on the caller's transaction (`engine.begin()`), so a step is all or nothing."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from geo import closeout as rules
from geo.access import Principal
from geo.closeout import Status
from geo.store import closeout as store

Case = dict[str, Any]


def assign(
    conn: Connection,
    principal: Principal,
    risk_unit_id: int,
    *,
    assigning_unit: str,
    letter_ref: str | None = None,
    assigned_on: dt.date | None = None,
    today: dt.date | None = None,
) -> Case:
    """A regulator holding the unit (or admin) records the assignment letter; due 3 working days after the
    risk was identified (`assigned_late` says whether that was kept)."""
    return store.assign(
        conn,
        principal,
        risk_unit_id,
        assigning_unit=assigning_unit,
        letter_ref=letter_ref,
        assigned_on=assigned_on,
        today=today or rules.today(),
    )


def request(
    conn: Connection,
    principal: Principal,
    case_id: int,
    fields: dict[str, Any],
    *,
    requested_on: dt.date | None = None,
    today: dt.date | None = None,
) -> Case:
    """The signed close-out request (evidence, signed_by, the new level or a new assessment); verification
    is due within 10 working days."""
    return store.request(
        conn, principal, case_id, fields, requested_on=requested_on, today=today or rules.today()
    )


def decide(
    conn: Connection,
    principal: Principal,
    case_id: int,
    *,
    approve: bool,
    reason: str | None = None,
    decided_on: dt.date | None = None,
    today: dt.date | None = None,
) -> Case:
    """Approve (the unit takes its new level, in the history under the regulator's name) or reject (with
    the reason)."""
    return store.decide(
        conn,
        principal,
        case_id,
        approve=approve,
        reason=reason,
        decided_on=decided_on,
        today=today or rules.today(),
    )


@dataclass(frozen=True)
class Cases:
    cases: list[Case]
    number_matched: int


def list_cases(
    conn: Connection,
    principal: Principal,
    *,
    status: Status | None = None,
    adcode: str | None = None,
    limit: int = 100,
    offset: int = 0,
    as_of: dt.date | None = None,
) -> Cases:
    """The cases the principal may see, with their deadlines judged on `as_of` (today by default)."""
    rows, total = store.list_cases(
        conn,
        principal,
        as_of=as_of or rules.today(),
        status=status,
        adcode=adcode,
        limit=limit,
        offset=offset,
    )
    return Cases(rows, total)


def get_case(conn: Connection, principal: Principal, case_id: int, *, as_of: dt.date | None = None) -> Case:
    """One case with its steps."""
    return store.get_case(conn, principal, case_id, as_of=as_of or rules.today())


def overdue(
    conn: Connection, principal: Principal, *, adcode: str | None = None, as_of: dt.date | None = None
) -> dict[str, Any]:
    """`assignments` not made within 3 working days and `verifications` not made within 10, on `as_of`."""
    return store.overdue(conn, principal, as_of=as_of or rules.today(), adcode=adcode)


def announcements(conn: Connection, *, adcode: str | None = None) -> list[dict[str, Any]]:
    """公示: closed-out major risks (public: never people, phones, evidence or positions)."""
    return store.announcements(conn, adcode=adcode)
