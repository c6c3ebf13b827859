"""Close-out (销号) cases in PostGIS: assignment, request, verification, the overdue lists and the
public announcements, each checked against the caller's scope here rather than in the routes.

Who may do what:
- assign (交办), approve or reject: admin, or a regulator whose jurisdictions hold the unit;
- request (申请销号): the enterprise owning the unit, admin, or — for a public-area risk, whose
  responsible unit is a government office — a regulator whose jurisdictions hold it;
- read a case: those, plus the owning enterprise; anyone else is told it does not exist;
- the announcements (公示) of closed-out major risks: everyone, the public included.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from sqlalchemy import Connection, Table, and_, func, insert, select, text, update
from sqlalchemy.sql import ColumnElement

from geo import closeout as rules
from geo.access import Forbidden, Principal, Role, Unauthenticated
from geo.closeout import Action, CaseConflict, CaseNotFound, Status
from geo.errors import InvalidInput
from geo.store.history import set_actor
from geo.store.models import CloseOut, CloseOutEvent
from geo.store.repository import E, J, R, area_of, deny, in_area, in_area_codes, in_subtree
from geo.vocab import LEVEL_NAMES_ZH

C = cast(Table, CloseOut.__table__)
EV = cast(Table, CloseOutEvent.__table__)

# Where a case is filed: its unit's jurisdiction now, or the one it had when the unit is gone.
CASE_ADCODE = func.coalesce(R.c.jurisdiction_adcode, C.c.jurisdiction_adcode)
CASE_COLUMNS = [c for c in C.c if c.name != "jurisdiction_adcode"] + [
    CASE_ADCODE.label("jurisdiction_adcode"),
    R.c.kind.label("risk_unit_kind"),
    R.c.level.label("risk_unit_level"),
]
CASES = C.outerjoin(R, R.c.id == C.c.risk_unit_id)


def _forbidden(principal: Principal, what: str) -> Forbidden | Unauthenticated:
    """403 for a signed-in user whose role may not do this, 401 for the anonymous public."""
    return deny(principal, what)


def _in_scope(principal: Principal, adcode: str | None, enterprise_id: int | None, conn: Connection) -> bool:
    if principal.role is Role.admin:
        return True
    if principal.role is Role.enterprise:
        return principal.enterprise_id is not None and enterprise_id == principal.enterprise_id
    if principal.role is Role.regulator and adcode is not None:
        return in_area(conn, principal, adcode)
    return False


def _regulates(principal: Principal, adcode: str | None, conn: Connection) -> bool:
    return principal.role is Role.admin or (
        principal.role is Role.regulator and _in_scope(principal, adcode, None, conn)
    )


def _scope_filter(principal: Principal) -> ColumnElement[bool] | None:
    """The cases `principal` may list (None: all)."""
    if principal.role is Role.admin:
        return None
    if principal.role is Role.regulator:
        return CASE_ADCODE.in_(area_of(principal))
    if principal.role is Role.enterprise and principal.enterprise_id is not None:
        return C.c.enterprise_id == principal.enterprise_id
    raise deny(principal, "read close-out cases")


# --- reads --------------------------------------------------------------------------------------------


def _case_row(conn: Connection, case_id: int, *, lock: bool = False) -> dict[str, Any]:
    q = select(*CASE_COLUMNS).select_from(CASES).where(C.c.id == case_id)
    if lock:
        q = q.with_for_update(of=C)
    row = conn.execute(q).mappings().first()
    if row is None:
        raise CaseNotFound("id", f"no close-out case {case_id}", f"销号案件 {case_id} 不存在")
    return dict(row)


def _visible_case(
    conn: Connection, principal: Principal, case_id: int, *, lock: bool = False
) -> dict[str, Any]:
    if principal.is_public:
        raise deny(principal, "see close-out cases")
    case = _case_row(conn, case_id, lock=lock)
    if not _in_scope(principal, case["jurisdiction_adcode"], case["enterprise_id"], conn):
        raise CaseNotFound("id", f"no close-out case {case_id}", f"销号案件 {case_id} 不存在")
    return case


def _with_deadlines(case: dict[str, Any], as_of: dt.date) -> dict[str, Any]:
    cal = rules.calendar()
    out = dict(case)
    pending_due = {
        Status.assigned: None,
        Status.requested: case["verification_due"],
        Status.rejected: None,
        Status.approved: None,
    }[Status(case["status"])]
    out["assigned_late"] = case["assigned_on"] > case["assignment_due"]
    out["verification_overdue"] = pending_due is not None and as_of > pending_due
    out["deadlines_provisional"] = any(
        d is not None and not cal.covers(d) for d in (case["assignment_due"], case["verification_due"])
    )
    return out


def get_case(conn: Connection, principal: Principal, case_id: int, *, as_of: dt.date) -> dict[str, Any]:
    """One case with its steps (who did what, when), for those who may see it."""
    case = _with_deadlines(_visible_case(conn, principal, case_id), as_of)
    events = conn.execute(
        select(EV.c.action, EV.c.actor, EV.c.at, EV.c.on_date, EV.c.details)
        .where(EV.c.closeout_id == case_id)
        .order_by(EV.c.id)
    )
    case["events"] = [dict(e) for e in events.mappings()]
    return case


def list_cases(
    conn: Connection,
    principal: Principal,
    *,
    as_of: dt.date,
    status: Status | None = None,
    adcode: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    where = [w for w in (_scope_filter(principal),) if w is not None]
    if status is not None:
        where.append(C.c.status == status.value)
    if adcode is not None:
        where.append(in_subtree(conn, CASE_ADCODE, adcode))
    total = conn.execute(select(func.count()).select_from(CASES).where(*where)).scalar_one()
    q = select(*CASE_COLUMNS).select_from(CASES).where(*where).order_by(C.c.id).limit(limit).offset(offset)
    return [_with_deadlines(dict(r), as_of) for r in conn.execute(q).mappings()], total


# --- steps --------------------------------------------------------------------------------------------


def _event(
    conn: Connection, principal: Principal, case_id: int, action: Action, on: dt.date, **details: Any
) -> None:
    conn.execute(
        insert(EV).values(
            closeout_id=case_id, action=action.value, actor=principal.actor, on_date=on, details=details
        )
    )


_IDENTIFIED_SQL = text(
    "SELECT DISTINCT ON (entity_id) entity_id, (at AT TIME ZONE :tz)::date FROM history "
    "WHERE entity = 'risk_units' AND entity_id = ANY(:ids) AND (new_values ->> 'level')::int <= 2 "
    "AND (action = 'create' OR (old_values ->> 'level')::int >= 3) ORDER BY entity_id, id DESC"
)


def identified_on(conn: Connection, risk_unit_ids: list[int]) -> dict[int, dt.date]:
    """The day (Beijing time) each unit last became major or large: the assignment clock starts there.
    Read from the history: its creation at level 1–2, or the edit that raised it from 3–4; the day the
    unit was made when the history has no such record (it began later)."""
    tz = str(rules.TIMEZONE)
    days: dict[int, dt.date] = {
        int(k): v for k, v in conn.execute(_IDENTIFIED_SQL, {"tz": tz, "ids": risk_unit_ids}).all()
    }
    missing = [i for i in risk_unit_ids if i not in days]
    if missing:
        made = select(R.c.id, func.date(func.timezone(tz, R.c.created_at))).where(R.c.id.in_(missing))
        days.update({int(k): v for k, v in conn.execute(made).all()})
    return days


def _unit(conn: Connection, principal: Principal, risk_unit_id: int) -> dict[str, Any]:
    q = (
        select(
            R.c.id,
            R.c.name,
            R.c.level,
            R.c.kind,
            R.c.enterprise_id,
            R.c.jurisdiction_adcode,
            E.c.name.label("enterprise_name"),
        )
        .select_from(R.outerjoin(E, E.c.id == R.c.enterprise_id))
        .where(R.c.id == risk_unit_id)
        .with_for_update(of=R)
    )
    if principal.is_public:
        raise deny(principal, "see risk units")
    row = conn.execute(q).mappings().first()
    if row is None or not _in_scope(principal, row["jurisdiction_adcode"], row["enterprise_id"], conn):
        raise CaseNotFound("risk_unit_id", f"no risk unit {risk_unit_id}", f"风险点 {risk_unit_id} 不存在")
    return dict(row)


def assign(
    conn: Connection,
    principal: Principal,
    risk_unit_id: int,
    *,
    assigning_unit: str,
    letter_ref: str | None = None,
    assigned_on: dt.date | None = None,
    today: dt.date,
) -> dict[str, Any]:
    """交办: a regulator sends the letter assigning a major or large risk to its responsible unit."""
    unit = _unit(conn, principal, risk_unit_id)
    if not _regulates(principal, unit["jurisdiction_adcode"], conn):
        raise _forbidden(principal, "assign a risk (交办)")
    rules.check_assignable(unit["level"])
    open_case = conn.execute(
        select(C.c.id).where(C.c.risk_unit_id == risk_unit_id, C.c.status != Status.approved.value)
    ).scalar()
    if open_case is not None:
        raise CaseConflict(
            "risk_unit_id",
            f"the unit is already assigned (case {open_case})",
            f"该风险点已交办（案件 {open_case}）",
        )
    start = identified_on(conn, [risk_unit_id])[risk_unit_id]
    day = assigned_on or today
    rules.check_step_date(
        day,
        field_name="assigned_on",
        not_before=start,
        before_what="the day the risk was identified",
        before_zh="风险研判之日",
        on=today,
    )
    case_id = conn.execute(
        insert(C)
        .values(
            risk_unit_id=risk_unit_id,
            enterprise_id=unit["enterprise_id"],
            jurisdiction_adcode=unit["jurisdiction_adcode"],
            risk_unit_name=unit["name"],
            enterprise_name=unit["enterprise_name"],
            status=Status.assigned.value,
            old_level=unit["level"],
            identified_on=start,
            assignment_due=rules.assignment_due(start),
            assigned_on=day,
            assigned_by=principal.actor,
            assigning_unit=assigning_unit,
            letter_ref=letter_ref,
        )
        .returning(C.c.id)
    ).scalar_one()
    _event(conn, principal, case_id, Action.assign, day, assigning_unit=assigning_unit, letter_ref=letter_ref)
    return get_case(conn, principal, case_id, as_of=today)


def _live_unit_level(case: dict[str, Any]) -> int:
    if case["risk_unit_id"] is None:
        raise CaseConflict("risk_unit_id", "the risk unit was deleted", "该风险点已被删除")
    level = int(case["risk_unit_level"])
    if level not in rules.MAJOR_OR_LARGE:
        raise CaseConflict(
            "risk_unit_id",
            f"the unit is level {level} now: nothing left to close out",
            f"该风险点现为{LEVEL_NAMES_ZH[level]}，无需销号",
        )
    return level


def request(
    conn: Connection,
    principal: Principal,
    case_id: int,
    body: dict[str, Any],
    *,
    requested_on: dt.date | None = None,
    today: dt.date,
) -> dict[str, Any]:
    """申请销号: the responsible unit asks for the close-out, with the new controls and the new level."""
    case = _visible_case(conn, principal, case_id, lock=True)
    may = principal.role in (Role.admin, Role.enterprise) or (
        case["risk_unit_kind"] == "public_area" and _regulates(principal, case["jurisdiction_adcode"], conn)
    )
    if not may:
        raise _forbidden(principal, "request a close-out (销号申请) of another unit's risk")
    after = rules.next_status(Status(case["status"]), Action.request)
    _live_unit_level(case)
    asked = rules.check_request(body)
    day = requested_on or today
    after_rejection = case["status"] == Status.rejected.value
    rules.check_step_date(
        day,
        field_name="requested_on",
        not_before=case["decided_on"] if after_rejection else case["assigned_on"],
        before_what="the rejection" if after_rejection else "the assignment",
        before_zh="退回日期" if after_rejection else "交办日期",
        on=today,
    )
    conn.execute(
        update(C)
        .where(C.c.id == case_id)
        .values(
            status=after.value,
            requested_on=day,
            requested_by=principal.actor,
            evidence=asked.evidence,
            signed_by=asked.signed_by,
            proposed_level=asked.level,
            proposed_method=asked.method,
            proposed_inputs=asked.inputs,
            proposed_score=asked.score,
            proposed_table=asked.table,
            verification_due=rules.verification_due(day),
            decided_on=None,
            decided_by=None,
            decision_reason=None,
            updated_at=func.now(),
        )
    )
    _event(
        conn, principal, case_id, Action.request, day, proposed_level=asked.level, signed_by=asked.signed_by
    )
    return get_case(conn, principal, case_id, as_of=today)


def decide(
    conn: Connection,
    principal: Principal,
    case_id: int,
    *,
    approve: bool,
    reason: str | None = None,
    decided_on: dt.date | None = None,
    today: dt.date,
) -> dict[str, Any]:
    """核查: a regulator holding the unit approves (the unit takes the new level and the request's new
    controls as its control measures, recorded in the history under the regulator's name) or rejects with
    a reason (the unit may request again). Whoever requested the close-out may not verify it."""
    case = _visible_case(conn, principal, case_id, lock=True)
    if not _regulates(principal, case["jurisdiction_adcode"], conn):
        raise _forbidden(principal, "verify a close-out (销号核查)")
    action = Action.approve if approve else Action.reject
    after = rules.next_status(Status(case["status"]), action)
    if case["requested_by"] == principal.actor:
        # Four eyes: the one who asked for the close-out does not verify it.
        raise InvalidInput.one(
            "actor",
            f"{principal.actor} requested this close-out and may not {action.value} it: another person verifies",
            f"{principal.actor} 为该销号的申请人，不能自行核查（须由他人核查）",
        )
    reason = (reason or "").strip() or None
    if not approve and reason is None:
        raise InvalidInput.one("reason", "say why the close-out is rejected", "须说明不予销号的理由")
    day = decided_on or today
    rules.check_step_date(
        day,
        field_name="decided_on",
        not_before=case["requested_on"],
        before_what="the request",
        before_zh="申请日期",
        on=today,
    )
    values: dict[str, Any] = {
        "status": after.value,
        "decided_on": day,
        "decided_by": principal.actor,
        "decision_reason": reason,
        "updated_at": func.now(),
    }
    if approve:
        _live_unit_level(case)
        _lower_level(conn, principal, case)
        values["new_level"] = case["proposed_level"]
    conn.execute(update(C).where(C.c.id == case_id).values(**values))
    _event(conn, principal, case_id, action, day, reason=reason, new_level=values.get("new_level"))
    return get_case(conn, principal, case_id, as_of=today)


def _lower_level(conn: Connection, principal: Principal, case: dict[str, Any]) -> None:
    """The approved level and the new controls of the request go into the register, authored by the
    verifying regulator."""
    set_actor(conn, principal)
    values: dict[str, Any] = {
        "level": case["proposed_level"],
        "control_measures": case["evidence"],
        "version": R.c.version + 1,
        "updated_at": func.now(),
    }
    if case["proposed_score"] is not None:
        values.update(
            assessment_method=case["proposed_method"],
            assessment_inputs=case["proposed_inputs"],
            assessment_score=case["proposed_score"],
            assessment_table=case["proposed_table"],
        )
    conn.execute(update(R).where(R.c.id == case["risk_unit_id"]).values(**values))


# --- lists --------------------------------------------------------------------------------------------


def overdue(
    conn: Connection, principal: Principal, *, as_of: dt.date, adcode: str | None = None
) -> dict[str, Any]:
    """Major and large units not assigned within 3 working days of being identified, and requests not
    verified within 10 working days, on `as_of`, inside the caller's scope."""
    if principal.role not in (Role.admin, Role.regulator):
        raise _forbidden(principal, "read the overdue lists")
    where: list[ColumnElement[bool]] = [R.c.level.in_(rules.MAJOR_OR_LARGE)]
    if principal.role is Role.regulator:
        where.append(in_area_codes(conn, R.c.jurisdiction_adcode, principal))
    if adcode is not None:
        where.append(in_subtree(conn, R.c.jurisdiction_adcode, adcode))
    has_open_case = (
        select(C.c.id).where(C.c.risk_unit_id == R.c.id, C.c.status != Status.approved.value).exists()
    )
    found = conn.execute(
        select(
            R.c.id,
            R.c.name,
            R.c.level,
            R.c.enterprise_id,
            R.c.jurisdiction_adcode,
            E.c.name.label("enterprise_name"),
        )
        .select_from(R.outerjoin(E, E.c.id == R.c.enterprise_id))
        .where(*where, ~has_open_case)
        .order_by(R.c.id)
    ).mappings()
    units = [dict(u) for u in found]
    starts = identified_on(conn, [u["id"] for u in units])
    assignments = []
    for u in units:
        start = starts[u["id"]]
        due = rules.assignment_due(start)
        if as_of > due:
            late = rules.working_days_overdue(due, as_of)
            assignments.append(
                {**u, "identified_on": start, "assignment_due": due, "working_days_overdue": late}
            )
    cases, _ = list_cases(conn, principal, as_of=as_of, status=Status.requested, adcode=adcode, limit=10_000)
    verifications = [
        {**c, "working_days_overdue": rules.working_days_overdue(c["verification_due"], as_of)}
        for c in cases
        if c["verification_overdue"]
    ]
    return {"as_of": as_of, "assignments": assignments, "verifications": verifications}


def announcements(conn: Connection, *, adcode: str | None = None) -> list[dict[str, Any]]:
    """公示 of closed-out major risks: what was closed out, whose, where, from which level to which, and
    when. No people (signatory, officials), phones, evidence text or positions: the public reads this."""
    q = (
        select(
            C.c.id,
            C.c.enterprise_name,
            C.c.risk_unit_name,
            CASE_ADCODE.label("jurisdiction_adcode"),
            J.c.name.label("jurisdiction_name"),
            C.c.old_level,
            C.c.new_level,
            C.c.assigning_unit,
            C.c.decided_on.label("closed_out_on"),
        )
        .select_from(CASES.outerjoin(J, J.c.adcode == CASE_ADCODE))
        .where(and_(C.c.status == Status.approved.value, C.c.old_level == 1))
        .order_by(C.c.decided_on.desc(), C.c.id.desc())
    )
    if adcode is not None:
        q = q.where(in_subtree(conn, CASE_ADCODE, adcode))
    return [
        {
            **r,
            "old_level_name": LEVEL_NAMES_ZH[r["old_level"]],
            "new_level_name": LEVEL_NAMES_ZH[r["new_level"]],
        }
        for r in conn.execute(q).mappings()
    ]
