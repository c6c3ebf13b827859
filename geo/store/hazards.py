"""Inspections (检查) and hidden hazards (隐患) in PostGIS: reporting, the steps of the loop, overdue lists,
attachments and the dynamic level of risk units, each checked against the caller's scope here rather than
in the routes. The rules (states, deadlines, four eyes, 五落实, dynamic level) are in geo/hazards.py.

Who may do what:
- report a hazard or record an inspection: the enterprise for its own units (自查), admin, a regulator for
  any unit or place in its jurisdictions;
- assign (整改通知): admin, a regulator holding the hazard, or the owning enterprise for its own (自查自改);
- start and rectify: the owning enterprise (for a public-area hazard, a regulator holding it), admin;
- accept, reject, close and supervise (挂牌督办): admin or a regulator holding the hazard, never the one who
  rectified it;
- read: those, plus the owning enterprise; anyone else is told it does not exist (404), the public 401.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import shapely
from geoalchemy2.shape import from_shape, to_shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy import (
    ARRAY,
    TEXT,
    Connection,
    Table,
    and_,
    bindparam,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.sql import ColumnElement

from geo import hazards as rules
from geo.access import Principal, Role
from geo.errors import InvalidInput, NotFound, PreconditionFailed, Problem
from geo.hazards import Action, Grade, Status
from geo.store.models import SRID, Hazard, HazardAttachment, HazardEvent, Inspection
from geo.store.repository import (
    E,
    R,
    area_of,
    assign_jurisdiction,
    deny,
    in_area,
    in_subtree,
    require_area,
    set_actor,
)

H = cast(Table, Hazard.__table__)
EV = cast(Table, HazardEvent.__table__)
AT = cast(Table, HazardAttachment.__table__)
IN = cast(Table, Inspection.__table__)

HAZARD_COLUMNS = [c for c in H.c if c.name != "geom"] + [
    func.ST_X(H.c.geom).label("lon"),
    func.ST_Y(H.c.geom).label("lat"),
    R.c.name.label("risk_unit_name"),
    R.c.level.label("risk_unit_level"),
    E.c.name.label("enterprise_name"),
]
# What is said of an attachment (never its bytes but on download).
ATTACHMENT_FIELDS = (
    AT.c.id,
    AT.c.filename,
    AT.c.media_type,
    AT.c.size,
    AT.c.sha256,
    AT.c.uploaded_by,
    AT.c.uploaded_at,
)
HAZARDS = H.outerjoin(R, R.c.id == H.c.risk_unit_id).outerjoin(E, E.c.id == H.c.enterprise_id)


class HazardNotFound(NotFound):
    def __init__(self, field_name: str, reason: str, reason_zh: str) -> None:
        super().__init__(f"{field_name}: {reason}")
        self.problems = [Problem(field_name, reason, reason_zh)]


def _not_found(hazard_id: int) -> HazardNotFound:
    return HazardNotFound("id", f"no hazard {hazard_id}", f"隐患 {hazard_id} 不存在")


def _regulates(conn: Connection, principal: Principal, adcode: str | None) -> bool:
    return principal.is_admin or (principal.role is Role.regulator and in_area(conn, principal, adcode))


def _owns(principal: Principal, enterprise_id: int | None) -> bool:
    return (
        principal.role is Role.enterprise
        and principal.enterprise_id is not None
        and enterprise_id == principal.enterprise_id
    )


def _scope_filter(principal: Principal, table: Table = H) -> ColumnElement[bool] | None:
    if principal.is_admin:
        return None
    if principal.role is Role.regulator:
        return table.c.jurisdiction_adcode.in_(area_of(principal))
    if principal.role is Role.enterprise and principal.enterprise_id is not None:
        return table.c.enterprise_id == principal.enterprise_id
    raise deny(principal, "see hidden hazards")


# --- where a record belongs ----------------------------------------------------------------------------


def _place(
    conn: Connection,
    principal: Principal,
    *,
    risk_unit_id: int | None,
    enterprise_id: int | None,
    geom: BaseGeometry | None,
    jurisdiction: str | None,
) -> dict[str, Any]:
    """The risk unit, enterprise, jurisdiction and point of a new hazard or inspection, in the caller's
    scope. A unit the caller may not write for is answered as if it did not exist (no id oracle)."""
    if principal.is_public:
        raise deny(principal, "report hidden hazards")
    if risk_unit_id is not None:
        row = (
            conn.execute(
                select(
                    R.c.id,
                    R.c.enterprise_id,
                    R.c.jurisdiction_adcode,
                    func.ST_AsBinary(func.ST_PointOnSurface(R.c.geom)).label("point"),
                ).where(R.c.id == risk_unit_id)
            )
            .mappings()
            .first()
        )
        allowed = row is not None and (
            _owns(principal, row["enterprise_id"]) or _regulates(conn, principal, row["jurisdiction_adcode"])
        )
        if row is None or not allowed:
            raise InvalidInput.one(
                "risk_unit_id",
                f"no risk unit {risk_unit_id} that you may report on",
                f"风险点 {risk_unit_id} 不存在或不属于您的管辖范围",
            )
        if enterprise_id is not None and enterprise_id != row["enterprise_id"]:
            raise InvalidInput.one(
                "enterprise_id",
                f"risk unit {risk_unit_id} belongs to another enterprise",
                f"风险点 {risk_unit_id} 不属于企业 {enterprise_id}",
            )
        point = geom if geom is not None else shapely.from_wkb(bytes(row["point"]))
        return {
            "risk_unit_id": risk_unit_id,
            "enterprise_id": row["enterprise_id"],
            "jurisdiction_adcode": row["jurisdiction_adcode"],
            "geom": point,
        }
    if enterprise_id is not None:
        ent = (
            conn.execute(select(E.c.id, E.c.jurisdiction_adcode, E.c.geom).where(E.c.id == enterprise_id))
            .mappings()
            .first()
        )
        if ent is None or not (
            _owns(principal, enterprise_id) or _regulates(conn, principal, ent["jurisdiction_adcode"])
        ):
            raise InvalidInput.one(
                "enterprise_id",
                f"no enterprise {enterprise_id} that you may report on",
                f"企业 {enterprise_id} 不存在或不属于您的管辖范围",
            )
        if geom is None:  # the enterprise's own point
            geom = shapely.point_on_surface(to_shape(ent["geom"]))
        return {
            "risk_unit_id": None,
            "enterprise_id": enterprise_id,
            "jurisdiction_adcode": ent["jurisdiction_adcode"],
            "geom": geom,
        }
    if principal.role is Role.enterprise:
        raise InvalidInput.one(
            "risk_unit_id",
            "name the risk unit (or your enterprise) the hazard is on",
            "须指明隐患所在风险点或企业",
        )
    if geom is None:
        raise InvalidInput.one("geometry", "give the hazard's place (a point)", "须给出隐患位置（点）")
    adcode = assign_jurisdiction(conn, geom, jurisdiction, field_name="jurisdiction")
    if adcode is None or not _regulates(conn, principal, adcode):
        raise InvalidInput.one(
            "geometry", "the place lies outside your jurisdictions", "位置不在您的管辖范围内"
        )
    return {"risk_unit_id": None, "enterprise_id": None, "jurisdiction_adcode": adcode, "geom": geom}


def _check_date(day: dt.date, *, field_name: str, today: dt.date, not_before: dt.date | None = None) -> None:
    if day > today:
        raise InvalidInput.one(field_name, f"{day} is in the future", f"{day} 晚于今天")
    if not_before is not None and day < not_before:
        raise InvalidInput.one(field_name, f"{day} is before {not_before}", f"{day} 早于 {not_before}")


# --- inspections ---------------------------------------------------------------------------------------


def record_inspection(
    conn: Connection, principal: Principal, values: Mapping[str, Any], *, today: dt.date
) -> dict[str, Any]:
    """One inspection: who checked whom, when, with which checklist, and what it found. An enterprise
    records only its own self-inspections (自查)."""
    kind = values["kind"]
    if principal.role is Role.enterprise and kind != "self":
        raise deny(principal, f"record a {kind} inspection (enterprises record self-inspections 自查)")
    units = list(values.get("risk_unit_ids") or [])
    place = _place(
        conn,
        principal,
        risk_unit_id=units[0] if units else None,
        enterprise_id=values.get("enterprise_id"),
        geom=values.get("geometry"),
        jurisdiction=values.get("jurisdiction"),
    )
    for other in units[1:]:
        more = _place(conn, principal, risk_unit_id=other, enterprise_id=None, geom=None, jurisdiction=None)
        if more["enterprise_id"] != place["enterprise_id"]:
            raise InvalidInput.one(
                "risk_unit_ids",
                "one inspection covers the units of one enterprise (or one public area)",
                "一次检查只针对一家企业（或一处公共区域）的风险点",
            )
    on = values.get("inspected_on") or today
    _check_date(on, field_name="inspected_on", today=today)
    set_actor(conn, principal)
    row = conn.execute(
        insert(IN)
        .values(
            kind=kind,
            enterprise_id=place["enterprise_id"],
            jurisdiction_adcode=place["jurisdiction_adcode"],
            risk_unit_ids=units,
            inspected_on=on,
            inspectors=values["inspectors"],
            checklist=values.get("checklist"),
            result=values["result"],
            notes=values.get("notes"),
            plan_ref=values.get("plan_ref"),
        )
        .returning(*IN.c)
    )
    return dict(row.mappings().one())


def get_inspection(conn: Connection, principal: Principal, inspection_id: int) -> dict[str, Any]:
    where = [IN.c.id == inspection_id]
    scope = _scope_filter(principal, IN)
    if scope is not None:
        where.append(scope)
    row = conn.execute(select(*IN.c).where(*where)).mappings().first()
    if row is None:
        raise HazardNotFound("id", f"no inspection {inspection_id}", f"检查记录 {inspection_id} 不存在")
    out = dict(row)
    out["hazard_ids"] = list(conn.execute(select(H.c.id).where(H.c.inspection_id == inspection_id)).scalars())
    return out


def list_inspections(
    conn: Connection,
    principal: Principal,
    *,
    adcode: str | None = None,
    enterprise_id: int | None = None,
    kind: str | None = None,
    status: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    where = [w for w in (_scope_filter(principal, IN),) if w is not None]
    if adcode is not None:
        where.append(in_subtree(conn, IN.c.jurisdiction_adcode, adcode))
    if enterprise_id is not None:
        where.append(IN.c.enterprise_id == enterprise_id)
    if kind is not None:
        where.append(IN.c.kind == kind)
    if status is not None:
        where.append(IN.c.status == status)
    total = conn.execute(select(func.count()).select_from(IN).where(*where)).scalar_one()
    rows = conn.execute(select(*IN.c).where(*where).order_by(IN.c.id).limit(limit).offset(offset)).mappings()
    return [dict(r) for r in rows], total


def _may_write_inspection(conn: Connection, principal: Principal, row: Mapping[str, Any]) -> bool:
    """Admin; a regulator holding the inspection; the enterprise for its own self-inspections (自查)."""
    if _regulates(conn, principal, row["jurisdiction_adcode"]):
        return True
    return row["kind"] == "self" and _owns(principal, row["enterprise_id"])


def plan_inspections(
    conn: Connection, principal: Principal, planned: Sequence[Mapping[str, Any]]
) -> dict[str, list[int]]:
    """Make a plan's checks into inspections to fill in (status `planned`): each of `planned` (kind,
    enterprise_id, jurisdiction_adcode, inspected_on, inspectors, plan_ref, plan_key, plan) once. Keyed by
    `plan_key` (unique): a check made before is not made again (`existing`). Only admins and regulators
    make them, and a regulator only for enterprises filed in its jurisdictions (the others are left out:
    `outside`, never written)."""
    if principal.is_public or principal.role is Role.enterprise:
        raise deny(principal, "make inspections from a plan")
    held = {  # one look-up per jurisdiction, not per check
        a: _regulates(conn, principal, a) for a in {p["jurisdiction_adcode"] for p in planned} if a
    }
    inside = [p for p in planned if held.get(p["jurisdiction_adcode"], False)]
    outside = {int(p["enterprise_id"]) for p in planned if not held.get(p["jurisdiction_adcode"], False)}
    keys = sorted({str(p["plan_key"]) for p in inside})
    stored = {
        str(k): int(i)
        for k, i in conn.execute(
            select(IN.c.plan_key, IN.c.id).where(
                IN.c.plan_key == func.any(bindparam("keys", keys, ARRAY(TEXT)))
            )
        )
    }
    new = [p for p in inside if p["plan_key"] not in stored]
    created: list[int] = []
    if new:
        set_actor(conn, principal)
        rows = [
            {
                "kind": p["kind"],
                "enterprise_id": p["enterprise_id"],
                "jurisdiction_adcode": p["jurisdiction_adcode"],
                "inspected_on": p["inspected_on"].isoformat(),
                "inspectors": p["inspectors"],
                "plan_ref": p["plan_ref"],
                "plan_key": p["plan_key"],
                "plan": p["plan"],
            }
            for p in new
        ]
        # One statement over the rows as one JSON array (a city's year: 43,000 rows in about a second;
        # SQLAlchemy's multi-row INSERTs of the same took 5 s); a key stored meanwhile by a concurrent run
        # is skipped by the unique index, not duplicated. Every value is a bound parameter.
        q = text(
            """
            INSERT INTO inspections (kind, enterprise_id, jurisdiction_adcode, risk_unit_ids, inspected_on,
                                     inspectors, checklist, result, notes, plan_ref, status, plan_key, plan)
            SELECT r.kind, r.enterprise_id, r.jurisdiction_adcode, '{}', r.inspected_on, r.inspectors,
                   NULL, NULL, NULL, r.plan_ref, 'planned', r.plan_key, r.plan
            FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(
                kind text, enterprise_id bigint, jurisdiction_adcode text, inspected_on date, inspectors text,
                plan_ref text, plan_key text, plan jsonb)
            ON CONFLICT (plan_key) DO NOTHING
            RETURNING id
            """
        )
        created = sorted(
            int(i) for i in conn.execute(q, {"rows": json.dumps(rows, ensure_ascii=False)}).scalars()
        )
    existing = sorted(int(i) for i in stored.values())
    if len(created) + len(existing) < len(keys):  # some were made meanwhile by another run
        existing = sorted(
            int(i)
            for i in conn.execute(
                select(IN.c.id).where(
                    IN.c.plan_key == func.any(bindparam("keys", keys, ARRAY(TEXT))), IN.c.id.not_in(created)
                )
            ).scalars()
        )
    return {"created": created, "existing": existing, "outside": sorted(outside)}


INSPECTION_FIELDS = ("result", "inspected_on", "inspectors", "checklist", "notes", "risk_unit_ids")


def fill_inspection(
    conn: Connection,
    principal: Principal,
    inspection_id: int,
    values: Mapping[str, Any],
    *,
    expected_version: int,
    today: dt.date,
) -> dict[str, Any]:
    """Fill in a planned inspection, or correct a done one: its result, day, inspectors, checklist, notes,
    the risk units checked, and the hazards it found (`findings`, each reported as POST /hazards would be,
    with this inspection's id). A planned one needs its result and becomes `done`; the day is not in the
    future nor before the plan's window. All or nothing: every finding's problems are named at once
    (`findings[i].field`). A version other than `expected_version` (someone wrote in between) is 412."""
    row = get_inspection(conn, principal, inspection_id)  # 404 out of scope
    if not _may_write_inspection(conn, principal, row):
        raise deny(principal, "fill in this inspection")
    merged = {**row, **{k: v for k, v in values.items() if k in INSPECTION_FIELDS}}
    findings = list(values.get("findings") or [])
    problems: list[Problem] = []
    if merged["result"] is None:
        problems.append(
            Problem("result", "say what the inspection found: no_hazard or hazards_found", "须填写检查结论")
        )
    elif merged["result"] == "no_hazard" and (findings or row["hazard_ids"]):
        problems.append(
            Problem(
                "result",
                "the inspection found hazards (findings, or hazards reported with it): hazards_found",
                "本次检查发现了隐患，检查结论应为 hazards_found（发现隐患）",
            )
        )
    plan = row.get("plan") or {}
    not_before = dt.date.fromisoformat(plan["window_start"]) if plan.get("window_start") else None
    try:
        _check_date(merged["inspected_on"], field_name="inspected_on", today=today, not_before=not_before)
    except InvalidInput as exc:
        problems.extend(exc.problems)
    units = list(merged["risk_unit_ids"] or [])
    for i, unit in enumerate(units):
        try:
            place = _place(
                conn, principal, risk_unit_id=unit, enterprise_id=None, geom=None, jurisdiction=None
            )
        except InvalidInput as exc:
            problems.extend(Problem(f"risk_unit_ids[{i}]", p.reason, p.reason_zh) for p in exc.problems)
            continue
        if place["enterprise_id"] != row["enterprise_id"]:
            problems.append(
                Problem(
                    f"risk_unit_ids[{i}]",
                    f"risk unit {unit} is not of the enterprise inspected",
                    f"风险点 {unit} 不属于受检企业",
                )
            )
    if problems:
        raise InvalidInput(problems)
    set_actor(conn, principal)
    changed = {k: merged[k] for k in INSPECTION_FIELDS if merged[k] != row[k]}
    if changed or row["status"] != "done":
        done = conn.execute(
            update(IN)
            .where(IN.c.id == inspection_id, IN.c.version == expected_version)
            .values(**changed, status="done", version=IN.c.version + 1, updated_at=func.now())
            .returning(IN.c.id)
        ).first()
        if done is None:
            raise PreconditionFailed(
                f"inspection {inspection_id} changed since version {expected_version}: fetch it again",
                "If-Match",
                "数据已被他人修改，请重新获取后再改",
            )
    for i, finding in enumerate(findings):
        try:
            with conn.begin_nested():
                report(
                    conn,
                    principal,
                    {**finding, "inspection_id": inspection_id, "reported_on": merged["inspected_on"]},
                    today=today,
                )
        except InvalidInput as exc:
            problems.extend(Problem(f"findings[{i}].{p.field}", p.reason, p.reason_zh) for p in exc.problems)
    if problems:
        raise InvalidInput(problems)
    return get_inspection(conn, principal, inspection_id)


# --- hazards: reads ------------------------------------------------------------------------------------


def _with_deadlines(row: Mapping[str, Any], as_of: dt.date) -> dict[str, Any]:
    cal = rules.calendar()
    out = dict(row)
    status = Status(row["status"])
    due = row["deadline"]
    out["overdue"] = status in rules.DEADLINE_RUNNING and due is not None and as_of > due
    out["working_days_overdue"] = rules.working_days_overdue(due, as_of) if out["overdue"] else 0
    out["evaluation_overdue"] = (
        status is Status.rectified and row["evaluation_due"] is not None and as_of > row["evaluation_due"]
    )
    out["deadlines_provisional"] = any(
        d is not None and not cal.covers(d) for d in (due, row["evaluation_due"])
    )
    out["open"] = status in rules.OPEN_STATUSES
    return out


def _row(conn: Connection, hazard_id: int, *, lock: bool = False) -> dict[str, Any]:
    q = select(*HAZARD_COLUMNS).select_from(HAZARDS).where(H.c.id == hazard_id)
    if lock:
        q = q.with_for_update(of=H)
    row = conn.execute(q).mappings().first()
    if row is None:
        raise _not_found(hazard_id)
    return dict(row)


def _visible(conn: Connection, principal: Principal, hazard_id: int, *, lock: bool = False) -> dict[str, Any]:
    if principal.is_public:
        raise deny(principal, "see hidden hazards")
    row = _row(conn, hazard_id, lock=lock)
    if not (
        _owns(principal, row["enterprise_id"]) or _regulates(conn, principal, row["jurisdiction_adcode"])
    ):
        raise _not_found(hazard_id)
    return row


def get_hazard(conn: Connection, principal: Principal, hazard_id: int, *, as_of: dt.date) -> dict[str, Any]:
    """One hazard with its steps (who did what, when) and its attachments (without their bytes)."""
    out = _with_deadlines(_visible(conn, principal, hazard_id), as_of)
    events = conn.execute(
        select(EV.c.action, EV.c.actor, EV.c.at, EV.c.on_date, EV.c.details)
        .where(EV.c.hazard_id == hazard_id)
        .order_by(EV.c.id)
    )
    out["events"] = [dict(e) for e in events.mappings()]
    files = conn.execute(select(*ATTACHMENT_FIELDS).where(AT.c.hazard_id == hazard_id).order_by(AT.c.id))
    out["attachments"] = [dict(f) for f in files.mappings()]
    return out


def list_hazards(
    conn: Connection,
    principal: Principal,
    *,
    as_of: dt.date,
    adcode: str | None = None,
    status: Status | None = None,
    grade: Grade | None = None,
    open_only: bool = False,
    overdue: bool = False,
    supervised: bool | None = None,
    enterprise_id: int | None = None,
    risk_unit_id: int | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    """The hazards the principal may see, filtered; `bbox` (storage lon/lat) for the OGC API's items."""
    where = [w for w in (_scope_filter(principal),) if w is not None]
    if bbox is not None:
        where.append(func.ST_Intersects(H.c.geom, func.ST_MakeEnvelope(*bbox, SRID)))
    if adcode is not None:
        where.append(in_subtree(conn, H.c.jurisdiction_adcode, adcode))
    if status is not None:
        where.append(H.c.status == status.value)
    if grade is not None:
        where.append(H.c.grade == grade.value)
    if open_only:
        where.append(H.c.status.in_([s.value for s in rules.OPEN_STATUSES]))
    if overdue:
        where.append(
            or_(
                and_(H.c.status.in_([s.value for s in rules.DEADLINE_RUNNING]), H.c.deadline < as_of),
                and_(H.c.status == Status.rectified.value, H.c.evaluation_due < as_of),
            )
        )
    if supervised is not None:
        where.append(H.c.supervised.is_(supervised))
    if enterprise_id is not None:
        where.append(H.c.enterprise_id == enterprise_id)
    if risk_unit_id is not None:
        where.append(H.c.risk_unit_id == risk_unit_id)
    total = conn.execute(select(func.count()).select_from(H).where(*where)).scalar_one()
    q = (
        select(*HAZARD_COLUMNS)
        .select_from(HAZARDS)
        .where(*where)
        .order_by(H.c.id)
        .limit(limit)
        .offset(offset)
    )
    return [_with_deadlines(dict(r), as_of) for r in conn.execute(q).mappings()], total


# --- hazards: steps ------------------------------------------------------------------------------------


def _event(
    conn: Connection, principal: Principal, hazard_id: int, action: str, on: dt.date, **details: Any
) -> None:
    conn.execute(
        insert(EV).values(
            hazard_id=hazard_id,
            action=action,
            actor=principal.actor,
            on_date=on,
            details={k: v for k, v in details.items() if v is not None},
        )
    )


def report(
    conn: Connection, principal: Principal, values: Mapping[str, Any], *, today: dt.date
) -> dict[str, Any]:
    """A hazard found by an inspection or reported: its place, unit, grade and description. A major one
    names the criterion it was judged by."""
    grade = Grade(values["grade"])
    rules.check_major_criterion(grade, values.get("criterion"))
    reported_on = values.get("reported_on") or today
    _check_date(reported_on, field_name="reported_on", today=today)
    inspection_id = values.get("inspection_id")
    if inspection_id is not None:
        inspection = get_inspection(conn, principal, inspection_id)  # 404 when not visible
        _check_date(reported_on, field_name="reported_on", today=today, not_before=inspection["inspected_on"])
    place = _place(
        conn,
        principal,
        risk_unit_id=values.get("risk_unit_id"),
        enterprise_id=values.get("enterprise_id"),
        geom=values.get("geometry"),
        jurisdiction=values.get("jurisdiction"),
    )
    if inspection_id is not None and place["enterprise_id"] != inspection["enterprise_id"]:
        raise InvalidInput.one(
            "inspection_id",
            "the hazard is not at the enterprise that inspection checked",
            "隐患与该检查记录的受检单位不一致",
        )
    set_actor(conn, principal)
    new_id = conn.execute(
        insert(H)
        .values(
            inspection_id=inspection_id,
            risk_unit_id=place["risk_unit_id"],
            enterprise_id=place["enterprise_id"],
            jurisdiction_adcode=place["jurisdiction_adcode"],
            geom=from_shape(place["geom"], srid=SRID),
            description=values["description"],
            grade=grade.value,
            criterion=values.get("criterion"),
            status=Status.reported.value,
            reported_on=reported_on,
            reported_by=principal.actor,
        )
        .returning(H.c.id)
    ).scalar_one()
    _event(conn, principal, new_id, "report", reported_on, grade=grade.value)
    return get_hazard(conn, principal, new_id, as_of=today)


def _may(conn: Connection, principal: Principal, action: Action, hazard: Mapping[str, Any]) -> bool:
    regulates = _regulates(conn, principal, hazard["jurisdiction_adcode"])
    owns = _owns(principal, hazard["enterprise_id"])
    if action is Action.assign:
        return regulates or owns
    if action in (Action.start, Action.rectify):
        return owns or principal.is_admin or (regulates and hazard["enterprise_id"] is None)
    return regulates  # accept, reject, close, supervise


def step(
    conn: Connection,
    principal: Principal,
    hazard_id: int,
    action: Action,
    body: Mapping[str, Any],
    *,
    today: dt.date,
) -> dict[str, Any]:
    """Take one step of the loop; the state, the caller's role and four eyes decide whether it may."""
    hazard = _visible(conn, principal, hazard_id, lock=True)
    if not _may(conn, principal, action, hazard):
        raise deny(principal, f"{action.value} this hazard")
    status = Status(hazard["status"])
    grade = Grade(hazard["grade"])
    on = body.get("on") or today
    values: dict[str, Any] = {}
    details: dict[str, Any] = {}
    if action is Action.supervise:
        if grade is not Grade.major:
            raise InvalidInput.one(
                "grade",
                "only major hazards are listed for supervision (挂牌督办)",
                "只有重大事故隐患挂牌督办",
            )
        if status not in rules.OPEN_STATUSES:
            raise rules.HazardConflict("status", "the hazard is no longer open", "隐患已验收或销号，无需督办")
        if hazard["supervised"]:
            raise rules.HazardConflict("supervised", "already listed for supervision", "已挂牌督办")
        unit = str(body.get("supervising_unit") or "").strip()
        if not unit:
            raise InvalidInput.one("supervising_unit", "name the supervising office", "须写明督办单位")
        _check_date(on, field_name="on", today=today, not_before=hazard["reported_on"])
        values = {"supervised": True, "supervised_on": on, "supervising_unit": unit}
        details = {"supervising_unit": unit}
    else:
        after = rules.next_status(status, action)
        rules.check_four_eyes(action, principal.actor, rectified_by=hazard["rectified_by"])
        values["status"] = after.value
        if action is Action.assign:
            _check_date(on, field_name="on", today=today, not_before=hazard["reported_on"])
            rules.check_assignment(grade, body)
            due = rules.check_deadline(
                on=on, today=today, working_days=body.get("working_days"), due=body.get("deadline")
            )
            values.update(
                assigned_on=on,
                assigned_by=principal.actor,
                deadline=due.day,
                notice_ref=body.get("notice_ref"),
                **{k: body.get(k) for k in rules.FIVE_IMPLEMENTATIONS},
            )
            details = {
                "deadline": due.day.isoformat(),
                "provisional": due.provisional,
                "notice_ref": body.get("notice_ref"),
            }
        elif action is Action.start:
            _check_date(on, field_name="on", today=today, not_before=hazard["assigned_on"])
        elif action is Action.rectify:
            _check_date(on, field_name="on", today=today, not_before=hazard["assigned_on"])
            what = str(body.get("rectification") or "").strip()
            if not what:
                raise InvalidInput.one("rectification", "describe what was done", "须说明整改情况")
            values.update(rectified_on=on, rectified_by=principal.actor, rectification=what)
            if grade is Grade.major:
                values["evaluation_due"] = rules.evaluation_due(on).day
            details = {"rectification": what}
        elif action is Action.accept:
            _check_date(on, field_name="on", today=today, not_before=hazard["rectified_on"])
            evaluator = str(body.get("evaluator") or "").strip()
            if grade is Grade.major and not evaluator:
                raise InvalidInput.one(
                    "evaluator",
                    "a major hazard is accepted on a third-party evaluation: name the evaluator (seed 002 二(一)3)",
                    "重大事故隐患须经第三方评估后方能验收：须写明评估单位",
                )
            values.update(accepted_on=on, accepted_by=principal.actor, evaluator=evaluator or None)
            late = hazard["evaluation_due"] is not None and on > hazard["evaluation_due"]
            details = {"evaluator": evaluator or None, "evaluation_late": late or None}
        elif action is Action.reject:
            _check_date(on, field_name="on", today=today, not_before=hazard["rectified_on"])
            reason = str(body.get("reason") or "").strip()
            if not reason:
                raise InvalidInput.one(
                    "reason", "say why the rectification is not accepted", "须说明验收不通过的理由"
                )
            values.update(rectified_on=None, rectified_by=None, evaluation_due=None)
            details = {"reason": reason}
        elif action is Action.close:
            _check_date(on, field_name="on", today=today, not_before=hazard["accepted_on"])
            values.update(closed_on=on, closed_by=principal.actor, supervised=False)
    values["version"] = H.c.version + 1
    values["updated_at"] = func.now()
    set_actor(conn, principal)
    conn.execute(update(H).where(H.c.id == hazard_id).values(**values))
    _event(conn, principal, hazard_id, action.value, on, **details)
    return get_hazard(conn, principal, hazard_id, as_of=today)


# --- attachments ---------------------------------------------------------------------------------------


def add_attachment(
    conn: Connection,
    principal: Principal,
    hazard_id: int,
    *,
    filename: str,
    data: bytes,
    max_bytes: int,
) -> dict[str, Any]:
    hazard = _visible(conn, principal, hazard_id)
    if Status(hazard["status"]) is Status.closed:
        raise rules.HazardConflict("status", "the hazard is closed", "隐患已销号，不能再添加附件")
    media_type = rules.attachment_type(data, max_bytes=max_bytes)
    name = filename.replace("\\", "/").rsplit("/", 1)[-1][:200] or "attachment"
    row = conn.execute(
        insert(AT)
        .values(
            hazard_id=hazard_id,
            filename=name,
            media_type=media_type,
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            data=data,
            uploaded_by=principal.actor,
        )
        .returning(*ATTACHMENT_FIELDS)
    )
    return dict(row.mappings().one())


def get_attachment(
    conn: Connection, principal: Principal, hazard_id: int, attachment_id: int
) -> dict[str, Any]:
    _visible(conn, principal, hazard_id)
    row = (
        conn.execute(select(*AT.c).where(AT.c.id == attachment_id, AT.c.hazard_id == hazard_id))
        .mappings()
        .first()
    )
    if row is None:
        raise HazardNotFound(
            "attachment_id", f"no attachment {attachment_id}", f"附件 {attachment_id} 不存在"
        )
    return dict(row)


# --- dynamic level -------------------------------------------------------------------------------------


def dynamic_levels(conn: Connection, principal: Principal, *, adcode: str) -> list[dict[str, Any]]:
    """Every risk unit of `adcode` with open hazards: its assessed level, the level shown while they are open
    (geo.hazards.dynamic_level) and which rules and hazards raised it."""
    if principal.is_public:
        raise deny(principal, "see hidden hazards")
    if principal.role is not Role.enterprise:
        require_area(conn, principal, adcode, detail=True)  # 403 outside a regulator's area, 404 unknown
    scope = _scope_filter(principal, R)
    found = units_at_dynamic_levels(
        conn, adcode=adcode, only_raised=False, where=[scope] if scope is not None else []
    )
    return [
        {
            "risk_unit_id": u.risk_unit_id,
            "name": u.name,
            "enterprise_id": u.enterprise_id,
            "assessed_level": u.dynamic.assessed,
            "dynamic_level": u.dynamic.level,
            "raised": u.dynamic.raised,
            "rules": list(u.dynamic.rules),
            "raised_by_hazards": list(u.dynamic.hazard_ids),
            "open_hazards": [h for h, _ in u.open_hazards],
        }
        for _, u in sorted(found.items())
    ]


# --- statistics and publication ------------------------------------------------------------------------

STATISTICS_DUE_DAY = 3  # seed 002 二(一)1: 每月3日前…报送隐患排查治理统计分析表


def _month_bounds(month: str) -> tuple[dt.date, dt.date]:
    try:
        first = dt.date.fromisoformat(f"{month}-01")
    except ValueError:
        raise InvalidInput.one(
            "month", f"expected YYYY-MM, got {month!r}", f"月份应为 YYYY-MM，收到 {month!r}"
        ) from None
    nxt = dt.date(first.year + (first.month == 12), first.month % 12 + 1, 1)
    return first, nxt - dt.timedelta(days=1)


def monthly_statistics(
    conn: Connection, principal: Principal, *, adcode: str | None, month: str, as_of: dt.date
) -> dict[str, Any]:
    """The month's 隐患排查治理统计分析表 (seed 002 二(一)1, due by the 3rd of the next month): hazards found,
    rectified and closed in the month, open and overdue at its end, listed for supervision, and the
    rectification rate to date, per grade and per sector, for what the caller may see."""
    if principal.is_public:
        raise deny(principal, "see hidden-hazard statistics")
    first, last = _month_bounds(month)
    where: list[ColumnElement[bool]] = []
    scope = _scope_filter(principal)
    if scope is not None:
        where.append(scope)
    if adcode is not None:
        if principal.role is not Role.enterprise:
            require_area(conn, principal, adcode, detail=True)
        where.append(in_subtree(conn, H.c.jurisdiction_adcode, adcode))
    where.append(H.c.reported_on <= last)
    open_at_end = or_(H.c.closed_on.is_(None), H.c.closed_on > last)
    overdue_at_end = and_(
        H.c.deadline < last,
        or_(H.c.rectified_on.is_(None), H.c.rectified_on > last),
        open_at_end,
    )

    def counts(*extra: ColumnElement[bool]) -> Any:
        return func.count().filter(*extra) if extra else func.count()

    q = (
        select(
            H.c.grade,
            func.coalesce(E.c.sector, R.c.sector).label("sector"),
            counts(H.c.reported_on >= first).label("found"),
            counts(H.c.rectified_on.between(first, last)).label("rectified"),
            counts(H.c.closed_on.between(first, last)).label("closed"),
            counts(open_at_end).label("open"),
            counts(overdue_at_end).label("overdue"),
            counts(H.c.supervised_on <= last, open_at_end).label("supervised"),
            counts().label("reported_to_date"),
            counts(H.c.closed_on <= last).label("closed_to_date"),
        )
        .select_from(HAZARDS)
        .where(*where)
        .group_by(H.c.grade, func.coalesce(E.c.sector, R.c.sector))
    )
    rows = [dict(r) for r in conn.execute(q).mappings()]
    keys = (
        "found",
        "rectified",
        "closed",
        "open",
        "overdue",
        "supervised",
        "reported_to_date",
        "closed_to_date",
    )

    def total(selected: list[dict[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {k: int(sum(r[k] for r in selected)) for k in keys}
        done, all_ = out["closed_to_date"], out["reported_to_date"]
        out["rectification_rate"] = round(done / all_, 4) if all_ else None
        return out

    by_grade = {g.value: total([r for r in rows if r["grade"] == g.value]) for g in Grade}
    sectors = sorted({r["sector"] or "" for r in rows})
    by_sector = {s or "public_area": total([r for r in rows if (r["sector"] or "") == s]) for s in sectors}
    due = dt.date(last.year + (last.month == 12), last.month % 12 + 1, STATISTICS_DUE_DAY)
    return {
        "month": month,
        "adcode": adcode,
        "report_due": due,
        "report_due_passed": as_of > due,
        "total": total(rows),
        "by_grade": by_grade,
        "by_sector": by_sector,
        "definitions": {
            "found": "reported in the month",
            "rectified": "rectification reported done in the month",
            "closed": "closed (销号) in the month",
            "open": "not closed at the month's end",
            "overdue": "deadline before the month's end, not rectified by then",
            "supervised": "listed for supervision (挂牌督办) and open at the month's end",
            "rectification_rate": "closed to date / reported to date",
        },
    }


def announcements(conn: Connection, *, adcode: str | None = None) -> list[dict[str, Any]]:
    """公示 of closed major hazards (like the close-outs of major risks): which enterprise, where, the
    criterion it was judged by, who supervised it and when it was closed. No people, phones, description
    or position: the public reads this."""
    q = (
        select(
            H.c.id,
            E.c.name.label("enterprise_name"),
            H.c.jurisdiction_adcode,
            H.c.criterion,
            H.c.supervising_unit,
            H.c.reported_on,
            H.c.closed_on,
        )
        .select_from(HAZARDS)
        .where(H.c.grade == Grade.major.value, H.c.status == Status.closed.value)
        .order_by(H.c.closed_on.desc(), H.c.id.desc())
    )
    if adcode is not None:
        q = q.where(in_subtree(conn, H.c.jurisdiction_adcode, adcode))
    known = rules.criteria()
    out = []
    for r in conn.execute(q).mappings():
        row = dict(r)
        crit = known.get(row["criterion"] or "")
        row["criterion_zh"] = crit.text if crit else None
        out.append(row)
    return out


# --- the demo --------------------------------------------------------------------------------------------

_DEMO_STATES = (  # share of the demo hazards in each state
    (Status.reported, 0.12),
    (Status.assigned, 0.15),
    (Status.rectifying, 0.18),
    (Status.rectified, 0.10),
    (Status.accepted, 0.10),
    (Status.closed, 0.35),
)
_DEMO_FINDINGS = (
    "可燃气体报警器未定期校验",
    "安全阀超期未检",
    "消防通道堆放杂物",
    "动火作业票证填写不全",
    "储罐区防火堤有破损",
    "特种作业人员证书过期",
    "应急照明失效",
    "静电接地线松脱",
    "有限空间未设置警示标识",
    "除尘系统泄爆片缺失",
)
_DEMO_CRITERIA = {
    "hazardous_chemicals": ("HC12", "HC15", "HC20"),
    "fireworks": ("FW03", "FW04"),
    "dust_explosion": ("DE02", "DE03"),
    "ammonia_refrigeration": ("AR01", "AR02"),
}


def load_demo(conn: Connection, *, seed: int, as_of: dt.date, share: float = 0.02) -> dict[str, int]:
    """Synthetic inspections and hazards in every state for about `share` of the synthetic risk units
    (replacing earlier synthetic ones): reported over the last four months, deadlines in working days, some
    overdue, some major ones listed for supervision; every step in hazard_events. Deterministic."""
    import numpy as np

    conn.execute(H.delete().where(H.c.synthetic))
    conn.execute(IN.delete().where(IN.c.synthetic))
    units = conn.execute(
        select(
            R.c.id,
            R.c.enterprise_id,
            R.c.jurisdiction_adcode,
            func.coalesce(E.c.sector, R.c.sector).label("sector"),
            func.ST_X(func.ST_PointOnSurface(R.c.geom)).label("lon"),
            func.ST_Y(func.ST_PointOnSurface(R.c.geom)).label("lat"),
        )
        .select_from(R.outerjoin(E, E.c.id == R.c.enterprise_id))
        .where(R.c.synthetic)
        .order_by(R.c.id)
    ).all()
    if not units:
        return {"inspections": 0, "hazards": 0}
    rng = np.random.default_rng((seed, 14))
    picked = [u for u, r in zip(units, rng.random(len(units)), strict=True) if r < share]
    states = [s for s, _ in _DEMO_STATES]
    weights = np.array([w for _, w in _DEMO_STATES])
    hazards: list[dict[str, Any]] = []
    events: list[tuple[int, str, dt.date, dict[str, Any]]] = []  # (index into hazards, action, day, details)
    inspections: list[dict[str, Any]] = []
    for u in picked:
        criteria_ = _DEMO_CRITERIA.get(u.sector or "", ())
        major = bool(criteria_) and rng.random() < 0.25
        status = states[int(rng.choice(len(states), p=weights))]
        reported = as_of - dt.timedelta(days=int(rng.integers(3, 120)))
        kind = ("self", "random", "department", "cross", "third_party")[int(rng.integers(5))]
        if u.enterprise_id is None:
            kind = "department"
        inspections.append(
            {
                "kind": kind,
                "enterprise_id": u.enterprise_id,
                "jurisdiction_adcode": u.jurisdiction_adcode,
                "risk_unit_ids": [u.id],
                "inspected_on": reported,
                "inspectors": "演示检查组",
                "checklist": "安全生产检查表（演示）",
                "result": "hazards_found",
                "synthetic": True,
            }
        )
        h: dict[str, Any] = {
            "risk_unit_id": u.id,
            "enterprise_id": u.enterprise_id,
            "jurisdiction_adcode": u.jurisdiction_adcode,
            "geom": f"SRID={SRID};POINT({u.lon} {u.lat})",
            "description": _DEMO_FINDINGS[int(rng.integers(len(_DEMO_FINDINGS)))],
            "grade": Grade.major.value if major else Grade.general.value,
            "criterion": criteria_[int(rng.integers(len(criteria_)))] if major else None,
            "status": status.value,
            "reported_on": reported,
            "reported_by": "demo",
            "synthetic": True,
        }
        i = len(hazards)
        events.append((i, "report", reported, {"grade": h["grade"]}))
        order = states.index(status)
        day = reported
        if major and rng.random() < 0.6:
            h.update(
                supervised=status is not Status.closed, supervised_on=reported, supervising_unit="区人民政府"
            )
            events.append((i, "supervise", reported, {"supervising_unit": "区人民政府"}))
        if order >= 1:
            day = min(as_of, reported + dt.timedelta(days=int(rng.integers(0, 4))))
            due = rules.deadline(day, int(rng.integers(5, 40)) if not major else 60).day
            h.update(
                assigned_on=day,
                assigned_by="demo-regulator",
                deadline=due,
                notice_ref="演示整改通知",
                responsible="企业安全部",
                measures="按整改通知落实",
                funds="企业自筹",
                plan="现场应急处置方案",
            )
            events.append((i, "assign", day, {"deadline": due.isoformat()}))
        if order >= 2:
            events.append((i, "start", day, {}))
        if order >= 3:
            day = min(as_of, day + dt.timedelta(days=int(rng.integers(1, 30))))
            h.update(rectified_on=day, rectified_by="demo-enterprise", rectification="已按要求整改")
            if major:
                h["evaluation_due"] = rules.evaluation_due(day).day
            events.append((i, "rectify", day, {}))
        if order >= 4:
            day = min(as_of, day + dt.timedelta(days=int(rng.integers(1, 10))))
            h.update(
                accepted_on=day, accepted_by="demo-regulator-2", evaluator="演示评估机构" if major else None
            )
            events.append((i, "accept", day, {}))
        if order >= 5:
            day = min(as_of, day + dt.timedelta(days=int(rng.integers(0, 5))))
            h.update(closed_on=day, closed_by="demo-regulator-2")
            events.append((i, "close", day, {}))
        hazards.append(h)
    inspection_ids = (
        conn.execute(insert(IN).returning(IN.c.id, sort_by_parameter_order=True), inspections).scalars().all()
    )
    for h, inspection_id in zip(hazards, inspection_ids, strict=True):
        h["inspection_id"] = inspection_id
    columns = sorted({k for h in hazards for k in h})
    rows = [{k: h.get(k) for k in columns} for h in hazards]
    for row in rows:
        row["supervised"] = bool(row.get("supervised"))
    hazard_ids = conn.execute(insert(H).returning(H.c.id, sort_by_parameter_order=True), rows).scalars().all()
    conn.execute(
        insert(EV),
        [
            {"hazard_id": hazard_ids[i], "action": a, "actor": "demo", "on_date": d, "details": det}
            for i, a, d, det in events
        ],
    )
    return {"inspections": len(inspection_ids), "hazards": len(hazard_ids)}


@dataclass(frozen=True)
class RaisedUnit:
    """A risk unit whose shown level is raised by its open hazards: where it is filed, its sector, and the
    dynamic level (geo.hazards.dynamic_level) with the open hazards (id, grade) it was judged on."""

    risk_unit_id: int
    name: str
    enterprise_id: int | None
    jurisdiction_adcode: str
    dynamic: rules.DynamicLevel
    open_hazards: tuple[tuple[int, str], ...]

    def raised_by(self) -> list[dict[str, Any]]:
        """Which hazards raised it: id, grade and the rule of data/dynamic_risk_rules.csv each fell under."""
        by_grade = {r.grade.value: r.code for r in rules.dynamic_rules() if r.code in self.dynamic.rules}
        return [
            {"hazard_id": h, "grade": g, "rule": by_grade[g]}
            for h, g in self.open_hazards
            if h in self.dynamic.hazard_ids and g in by_grade
        ]

    def as_json(self) -> dict[str, Any]:
        return {
            "risk_unit_id": self.risk_unit_id,
            "name": self.name,
            "enterprise_id": self.enterprise_id,
            "assessed_level": self.dynamic.assessed,
            "dynamic_level": self.dynamic.level,
            "rules": list(self.dynamic.rules),
            "raised_by": self.raised_by(),
        }


def units_at_dynamic_levels(
    conn: Connection,
    *,
    adcode: str | None = None,
    only_raised: bool = True,
    where: Sequence[ColumnElement[bool]] = (),
) -> dict[int, RaisedUnit]:
    """unit id → RaisedUnit for the units (of `adcode`'s subtree, or all; `where`: more conditions on the
    units) with open hazards — only those whose shown level differs from the stored one unless
    `only_raised` is False. The one place the dynamic levels are found: the four-colour map
    (raised_levels), the enterprise levels, the summary and the dynamic-levels list read it."""
    q = (
        select(
            H.c.risk_unit_id,
            R.c.level,
            R.c.name,
            R.c.enterprise_id,
            R.c.jurisdiction_adcode,
            H.c.id,
            H.c.grade,
        )
        .select_from(H.join(R, R.c.id == H.c.risk_unit_id))
        .where(H.c.status.in_([s.value for s in rules.OPEN_STATUSES]), *where)
        .order_by(H.c.risk_unit_id, H.c.id)
    )
    if adcode is not None:
        q = q.where(in_subtree(conn, R.c.jurisdiction_adcode, adcode))
    found: dict[int, tuple[Any, list[tuple[int, str]]]] = {}
    for unit, level, name, enterprise, jurisdiction, hazard, grade in conn.execute(q).all():
        found.setdefault(int(unit), ((int(level), name, enterprise, jurisdiction), []))[1].append(
            (int(hazard), grade)
        )
    out: dict[int, RaisedUnit] = {}
    rules_ = rules.dynamic_rules()
    for unit, ((level, name, enterprise, jurisdiction), hazards) in found.items():
        shown = rules.dynamic_level(level, hazards, rules_)
        if shown.level != level or not only_raised:
            out[unit] = RaisedUnit(unit, name, enterprise, jurisdiction, shown, tuple(hazards))
    return out


def raised_units(conn: Connection, *, adcode: str | None = None) -> dict[int, RaisedUnit]:
    """unit id → RaisedUnit for the units (of `adcode`'s subtree, or all) whose level shown while their
    hazards are open differs from the stored one."""
    return units_at_dynamic_levels(conn, adcode=adcode)


def raised_levels(conn: Connection) -> dict[int, int]:
    """unit id → the level shown while its open hazards raise it, for the units whose shown level differs
    from the stored one: the `shown_levels` of a dynamic four-colour map."""
    return {unit: r.dynamic.level for unit, r in raised_units(conn).items()}


def measures_of(
    conn: Connection, principal: Principal, *, adcode: str | None, enterprise_id: int | None
) -> list[dict[str, Any]]:
    """The risk units of a jurisdiction or enterprise with their control measures (措施清单), in scope."""
    if principal.is_public:
        raise deny(principal, "see the risk units' control measures")
    where: list[ColumnElement[bool]] = []
    scope = _scope_filter(principal, R)
    if scope is not None:
        where.append(scope)
    if adcode is not None:
        if principal.role is not Role.enterprise:
            require_area(conn, principal, adcode, detail=True)
        where.append(in_subtree(conn, R.c.jurisdiction_adcode, adcode))
    if enterprise_id is not None:
        where.append(R.c.enterprise_id == enterprise_id)
    q = (
        select(
            R.c.id,
            R.c.name,
            R.c.level,
            R.c.control_measures,
            R.c.control_level,
            R.c.responsible_person,
            E.c.name.label("enterprise_name"),
        )
        .select_from(R.outerjoin(E, E.c.id == R.c.enterprise_id))
        .where(*where)
        .order_by(R.c.id)
    )
    return [dict(r) for r in conn.execute(q).mappings()]


def import_hazards(
    conn: Connection, principal: Principal, rows: Sequence[Any], *, crs: str, today: dt.date
) -> list[int]:
    """Report every hazard of a list (geo.io.hazard_list rows) in the caller's scope, all or none: each
    row is tried in a savepoint, every row's problems are collected (named `row N.field`), and when any
    row fails nothing is kept (InvalidInput; the caller's transaction rolls back)."""
    from geo.geometry import parse_geometry

    if principal.is_public:
        raise deny(principal, "import hidden hazards")
    keys = sorted({(r.credit_code, r.risk_unit_name) for r in rows if "risk_unit_id" not in r.values})
    by_key: dict[tuple[str, str], int] = {}
    if keys:
        found = conn.execute(
            select(E.c.credit_code, R.c.name, R.c.id)
            .select_from(R.join(E, E.c.id == R.c.enterprise_id))
            .where(E.c.credit_code.in_([k[0] for k in keys]), R.c.name.in_([k[1] for k in keys]))
        ).all()
        by_key = {(c, n): int(i) for c, n, i in found}
    problems: list[Problem] = []
    made: list[int] = []
    for row in rows:
        if row.problems:
            problems.extend(row.problems)
            continue
        values = dict(row.values)
        try:
            if "risk_unit_id" not in values:
                unit = by_key.get((row.credit_code, row.risk_unit_name))
                if unit is None:
                    raise InvalidInput.one(
                        "risk_unit_id",
                        f"no risk unit {row.risk_unit_name!r} of enterprise {row.credit_code} that you may report on",
                        f"企业 {row.credit_code} 没有名为“{row.risk_unit_name}”的风险点，或不在您的管辖范围内",
                    )
                values["risk_unit_id"] = unit
            if "geometry" in values:
                values["geometry"] = parse_geometry(
                    values["geometry"], field="lon", allowed=("Point",), crs=crs
                )
            with conn.begin_nested():
                made.append(int(report(conn, principal, values, today=today)["id"]))
        except InvalidInput as exc:
            problems.extend(Problem(f"{row.label}.{p.field}", p.reason, p.reason_zh) for p in exc.problems)
    if problems:
        raise InvalidInput(problems)
    return made
