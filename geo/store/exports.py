"""Read the register for an export, within what the principal may see, as tables an import reads back.

Values are written the way a register shows them and the importer reads them (Chinese sector, level,
control-level and class names; accident types by name): exporting and importing a file gives the same rows.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Connection, text

from geo import vocab
from geo.access import Principal, Role
from geo.errors import InvalidInput, NotFound
from geo.io.fields import Kind
from geo.io.validate import CONTROL_LEVEL_NAMES_ZH, ZONE_LEVEL_NAMES_ZH
from geo.store.repository import area_of, deny, in_area, jurisdiction_subtree, require_area

_FACTORS = ("L", "E", "C", "S", "M")
_ADMIN = ("province", "city", "county", "township", "village")


def _visible_kinds(principal: Principal) -> set[Kind]:
    if principal.is_admin or principal.role is Role.regulator:
        return set(Kind)
    if principal.role is Role.enterprise and principal.enterprise_id is not None:
        return {Kind.enterprises, Kind.risk_units}
    return set()


def check_export_allowed(principal: Principal, kind: Kind) -> None:
    if kind not in _visible_kinds(principal):
        raise deny(principal, f"export {kind}")


def _where(
    conn: Connection, principal: Principal, adcode: str | None, column: str, owner: str | None
) -> tuple[str, dict[str, Any]]:
    """SQL condition (fixed fragments) and bound values limiting rows to the principal's scope and `adcode`."""
    parts: list[str] = ["TRUE"]
    params: dict[str, Any] = {}
    if adcode is not None:
        level = conn.execute(
            text("SELECT level FROM jurisdictions WHERE adcode = :a"), {"a": adcode}
        ).scalar()
        if level is None:
            raise NotFound(f"no jurisdiction with adcode {adcode!r}")
        if level in _ADMIN:
            params["in_adcode"] = list(conn.execute(jurisdiction_subtree(adcode)).scalars())
            parts.append(f"{column} = ANY(:in_adcode)")
        else:
            params["zone"] = adcode
            parts.append("ST_Intersects(t.geom, (SELECT geom FROM jurisdictions WHERE adcode = :zone))")
    if principal.role is Role.regulator:
        params["in_scope"] = list(conn.execute(area_of(principal)).scalars())
        parts.append(f"{column} = ANY(:in_scope)")
    elif principal.role is Role.enterprise:
        assert owner is not None
        params["own"] = principal.enterprise_id
        parts.append(f"{owner} = :own")
    return " AND ".join(parts), params


BATCH = 2_000  # rows fetched from the server-side cursor at a time, and written at a time
STALL_S = 300  # a streamed export whose client takes no batch for this long is ended by PostgreSQL


@dataclass(frozen=True)
class ExportQuery:
    """The SELECT of an export (`source`: its FROM … WHERE with the scope's condition; values bound in
    `params`), and `finish`, which makes a frame of its rows into import fields (per batch: row by row)."""

    columns: str
    source: str
    order: str
    params: dict[str, Any]
    finish: Callable[[pd.DataFrame], pd.DataFrame]

    @property
    def sql(self) -> str:
        return f"SELECT {self.columns} FROM {self.source} ORDER BY {self.order}"  # noqa: S608 (fixed fragments; values bound)


def _to_frame(rows: Sequence[Any], columns: list[str]) -> tuple[pd.DataFrame, np.ndarray]:
    """Rows as a frame of Python objects (an integer column with a NULL stays integers, so a batch is
    written the same whatever else is in the export) and their geometries from the `wkb` column."""
    if not rows:
        return pd.DataFrame(), np.empty(0, dtype=object)
    frame = pd.DataFrame([tuple(r) for r in rows], columns=columns, dtype=object)
    geoms = shapely.from_wkb([bytes(b) for b in frame.pop("wkb")])
    return frame, geoms


def _frame(conn: Connection, query: str, params: dict[str, Any]) -> tuple[pd.DataFrame, np.ndarray]:
    result = conn.execute(text(query), params)
    return _to_frame(result.all(), list(result.keys()))


def _names(table: dict[str, vocab.Term] | dict[str, vocab.Sector], codes: pd.Series) -> pd.Series:
    return codes.map(lambda c: table[c].name_zh if c in table else c)


def export_query(
    conn: Connection, kind: Kind, principal: Principal, adcode: str | None = None
) -> ExportQuery:
    """The query of `kind`'s export in the principal's scope (403 for a kind they may not export, 404 for an
    unknown `adcode`): what export_rows and export_batches read."""
    check_export_allowed(principal, kind)
    return _EXPORTERS[kind](conn, principal, adcode)


def export_rows(
    conn: Connection, kind: Kind, principal: Principal, adcode: str | None = None
) -> tuple[pd.DataFrame, np.ndarray]:
    """The rows of `kind` as a frame of import fields (values as an import reads them) and geometries."""
    q = export_query(conn, kind, principal, adcode)
    frame, geoms = _frame(conn, q.sql, q.params)
    return q.finish(frame), geoms


def export_batches(
    conn: Connection, q: ExportQuery, batch: int | None = None
) -> Iterator[tuple[pd.DataFrame, np.ndarray]]:
    """export_rows in batches of `batch` rows (default BATCH), read through a server-side cursor (yield_per:
    psycopg2's named cursor, FETCH FORWARD `batch`; libpq holds one batch, never the whole result), each batch as export_rows makes its rows. The planner
    is told the whole result will be read (cursor_tuple_fraction 1, for this transaction), so it plans as
    for export_rows, not for the first rows fast; a reader that stalls for STALL_S seconds is cut off."""
    batch = batch or BATCH
    conn.execute(text("SET LOCAL cursor_tuple_fraction = 1"))
    # a client that stops reading must not hold the snapshot (and a pooled connection) for ever: PostgreSQL
    # ends the session after STALL_S seconds idle between two fetches
    conn.execute(
        text("SELECT set_config('idle_in_transaction_session_timeout', :ms, true)"),
        {"ms": str(STALL_S * 1000)},
    )
    result = conn.execute(text(q.sql), q.params, execution_options={"yield_per": batch})
    columns = list(result.keys())
    try:
        for rows in result.partitions(batch):
            frame, geoms = _to_frame(rows, columns)
            yield q.finish(frame), geoms
    finally:
        result.close()


def export_size(conn: Connection, q: ExportQuery) -> tuple[int, bool]:
    """(rows, whether every geometry is a point) of the export: a spreadsheet's columns (经度/纬度 or WKT)
    are chosen before its first row is written."""
    n, points = conn.execute(
        text(
            "SELECT count(*), COALESCE(bool_and(ST_GeometryType(t.geom) = 'ST_Point'), false) "  # noqa: S608 (fixed fragments; values bound)
            f"FROM {q.source}"
        ),
        q.params,
    ).one()
    return int(n), bool(points)


def _enterprise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    if len(frame):
        frame["sector"] = _names(vocab.sectors(), frame["sector"])
    return frame


def _enterprises(conn: Connection, principal: Principal, adcode: str | None) -> ExportQuery:
    where, params = _where(conn, principal, adcode, "t.jurisdiction_adcode", "t.id")
    return ExportQuery(
        "credit_code, name, sector, business_type, address, employees, supervising_department, "
        "contact_person, contact_phone, jurisdiction_adcode AS jurisdiction, ST_AsBinary(geom) AS wkb",
        f"enterprises t WHERE {where}",
        "credit_code",
        params,
        _enterprise_frame,
    )


def _risk_frame(frame: pd.DataFrame) -> pd.DataFrame:
    if not len(frame):
        return frame
    inputs = [json.loads(d) if isinstance(d, str) else d or {} for d in frame.pop("assessment_inputs")]
    for f in _FACTORS:
        frame[f"factor_{f}"] = pd.Series([d.get(f) for d in inputs], index=frame.index, dtype=object)
    types = vocab.accident_types()
    frame["accident_types"] = frame["accident_types"].map(
        lambda codes: "、".join(types[c].name_zh for c in codes or []) or None
    )
    frame["control_level"] = frame["control_level"].map(
        lambda c: CONTROL_LEVEL_NAMES_ZH.get(c, c) if c else None
    )
    frame["assessment_method"] = frame["assessment_method"].map(lambda m: None if m == "direct" else m)
    for c in ("assessed_on", "next_assessment_due"):
        frame[c] = frame[c].map(lambda d: d.isoformat() if d is not None else None)
    return frame


_RISK_SELECT = (
    "t.name, t.level, t.assessment_method, t.assessment_table, t.assessment_inputs, t.accident_types, t.hazards, "
    "t.control_measures, t.control_level, t.responsible_department, t.responsible_person, t.responsible_phone, "
    "t.assessed_on, t.next_assessment_due, t.max_occupancy, t.hazard_kind, t.capacity_m3, "
    "t.jurisdiction_adcode AS jurisdiction, ST_AsBinary(t.geom) AS wkb"
)


def _risk_units(conn: Connection, principal: Principal, adcode: str | None) -> ExportQuery:
    where, params = _where(conn, principal, adcode, "t.jurisdiction_adcode", "t.enterprise_id")
    return ExportQuery(
        f"e.credit_code AS enterprise_credit_code, e.name AS enterprise_name, {_RISK_SELECT}",
        f"risk_units t JOIN enterprises e ON e.id = t.enterprise_id WHERE {where}",
        "e.credit_code, t.name",
        params,
        _risk_frame,
    )


def _public_risk_frame(frame: pd.DataFrame) -> pd.DataFrame:
    if len(frame):
        frame["sector"] = _names(vocab.sectors(), frame["sector"])
    return _risk_frame(frame)


def _public_risks(conn: Connection, principal: Principal, adcode: str | None) -> ExportQuery:
    where, params = _where(conn, principal, adcode, "t.jurisdiction_adcode", None)
    return ExportQuery(
        f"t.sector, {_RISK_SELECT}",
        f"risk_units t WHERE t.enterprise_id IS NULL AND {where}",
        "t.jurisdiction_adcode, t.sector, t.name",
        params,
        _public_risk_frame,
    )


def _target_frame(frame: pd.DataFrame) -> pd.DataFrame:
    if len(frame):
        frame["type"] = _names(vocab.target_types(), frame["type"])
        frame["gb_class"] = frame["gb_class"].map(
            lambda c: vocab.GB_CLASS_NAMES_ZH[vocab.GBClass(c)] if isinstance(c, str) else None
        )
    return frame


def _targets(conn: Connection, principal: Principal, adcode: str | None) -> ExportQuery:
    where, params = _where(conn, principal, adcode, "t.jurisdiction_adcode", None)
    return ExportQuery(
        "name, type, CASE WHEN gb_class_derived THEN NULL ELSE gb_class END AS gb_class, population, "
        "households, address, jurisdiction_adcode AS jurisdiction, ST_AsBinary(geom) AS wkb",
        f"protection_targets t WHERE {where}",
        "jurisdiction_adcode, type, name",
        params,
        _target_frame,
    )


def _zone_frame(frame: pd.DataFrame) -> pd.DataFrame:
    if len(frame):
        frame["level"] = frame["level"].map(ZONE_LEVEL_NAMES_ZH)
    return frame


def _zones(conn: Connection, principal: Principal, adcode: str | None) -> ExportQuery:
    where, params = _where(conn, principal, adcode, "t.parent_adcode", None)
    return ExportQuery(
        "adcode, name, level, parent_adcode, source, ST_AsBinary(geom) AS wkb",
        f"jurisdictions t WHERE level IN ('park', 'grid') AND {where}",
        "adcode",
        params,
        _zone_frame,
    )


_EXPORTERS: dict[Kind, Callable[[Connection, Principal, str | None], ExportQuery]] = {
    Kind.enterprises: _enterprises,
    Kind.risk_units: _risk_units,
    Kind.public_risks: _public_risks,
    Kind.protection_targets: _targets,
    Kind.zones: _zones,
}


# --- registers: 一企一册, 一县一册 ------------------------------------------------------------------


def enterprise_register(conn: Connection, enterprise_id: int, principal: Principal) -> dict[str, Any]:
    """One enterprise's register (一企一册): its header and its risk units (as the risk-unit export)."""
    check_export_allowed(principal, Kind.risk_units)
    if principal.role is Role.enterprise and principal.enterprise_id != enterprise_id:
        raise NotFound(f"no enterprise with id {enterprise_id}")  # another's: as if it did not exist
    row = (
        conn.execute(
            text(
                "SELECT e.id, e.credit_code, e.name, e.sector, e.business_type, e.address, e.employees, "
                "e.supervising_department, e.contact_person, e.contact_phone, e.jurisdiction_adcode, j.name AS jurisdiction_name "
                "FROM enterprises e LEFT JOIN jurisdictions j ON j.adcode = e.jurisdiction_adcode WHERE e.id = :i"
            ),
            {"i": enterprise_id},
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"no enterprise with id {enterprise_id}")
    if principal.role is Role.regulator and not in_area(conn, principal, row["jurisdiction_adcode"]):
        raise NotFound(f"no enterprise with id {enterprise_id}")
    header = dict(row)
    sectors = vocab.sectors()
    header["sector_name"] = (
        sectors[header["sector"]].name_zh if header["sector"] in sectors else header["sector"]
    )
    frame, geoms = _frame(
        conn,
        f"SELECT e.credit_code AS enterprise_credit_code, e.name AS enterprise_name, {_RISK_SELECT} "  # noqa: S608
        "FROM risk_units t JOIN enterprises e ON e.id = t.enterprise_id WHERE e.id = :i ORDER BY t.level, t.name",
        {"i": enterprise_id},
    )
    hazards = [
        dict(r)
        for r in conn.execute(
            text(
                "SELECT h.id, r.name AS risk_unit_name, h.description, h.grade, h.status, h.reported_on, "
                "h.deadline, h.supervised FROM hazards h LEFT JOIN risk_units r ON r.id = h.risk_unit_id "
                "WHERE h.enterprise_id = :i AND h.status NOT IN ('accepted', 'closed') ORDER BY h.reported_on, h.id"
            ),
            {"i": enterprise_id},
        ).mappings()
    ]
    return {
        "enterprise": header,
        "risk_units": _risk_frame(frame),
        "geometries": geoms,
        "open_hazards": hazards,
        "hazards_by_unit": _hazard_summaries(hazards),
    }


def _hazard_summaries(hazards: list[dict[str, Any]]) -> dict[str, str]:
    """Per risk unit (by name), the 存在隐患情况 of seed 004 二(一)7: how many hidden hazards are open, how
    many of them major, and what they are."""
    by_unit: dict[str, list[dict[str, Any]]] = {}
    for h in hazards:
        by_unit.setdefault(h["risk_unit_name"] or "", []).append(h)
    out = {}
    for name, found in by_unit.items():
        major = sum(1 for h in found if h["grade"] == "major")
        what = "；".join(str(h["description"])[:40] for h in found[:3]) + ("……" if len(found) > 3 else "")
        out[name] = f"未销号隐患 {len(found)} 项" + (f"（重大 {major} 项）" if major else "") + f"：{what}"
    return out


def county_register(conn: Connection, adcode: str, principal: Principal) -> dict[str, Any]:
    """A jurisdiction's register of its major and large risks (一县一册): levels 1 and 2, enterprise
    risk points and public-area risks of the whole subtree."""
    # 404 for an unknown adcode; 403 for a regulator outside its area or an enterprise, 401 for the public
    j = require_area(conn, principal, adcode, detail=True)
    if j["level"] not in _ADMIN:
        raise InvalidInput.one(
            "adcode", "a register is kept per administrative unit, not per park or grid", "须为行政区划"
        )
    where, params = _where(conn, principal, adcode, "t.jurisdiction_adcode", None)
    rows = (
        conn.execute(
            text(
                "SELECT j.name AS jurisdiction_name, t.jurisdiction_adcode, e.name AS enterprise_name, e.credit_code, "  # noqa: S608 (identifiers from our specs; values bound)
                "COALESCE(e.sector, t.sector) AS sector, t.kind, t.name, t.level, t.accident_types, t.hazards, "
                "t.control_measures, t.control_level, t.responsible_department, t.responsible_person, "
                "t.responsible_phone, e.supervising_department, t.next_assessment_due "
                "FROM risk_units t LEFT JOIN enterprises e ON e.id = t.enterprise_id "
                "LEFT JOIN jurisdictions j ON j.adcode = t.jurisdiction_adcode "
                f"WHERE t.level <= 2 AND {where} ORDER BY t.level, t.jurisdiction_adcode, e.name NULLS FIRST, t.name"
            ),
            params,
        )
        .mappings()
        .all()
    )
    return {"jurisdiction": dict(j), "rows": [dict(r) for r in rows]}
