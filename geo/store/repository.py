"""Data access for the register: every query riskmap runs against PostGIS goes through here.

Values are always bound parameters; identifiers come only from the table specs below.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, cast

import shapely
from geoalchemy2.shape import from_shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy import (
    BigInteger,
    Connection,
    DateTime,
    Table,
    Text,
    any_,
    case,
    delete,
    false,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql import ColumnElement, Select

from geo.access import Forbidden, Principal, Role, Unauthenticated
from geo.errors import Conflict, InvalidInput, NotFound, PreconditionFailed, Problem
from geo.store.models import SRID, Enterprise, Jurisdiction, JurisdictionClosure, ProtectionTarget, RiskUnit
from geo.vocab import ADMIN_LEVELS

J = cast(Table, Jurisdiction.__table__)
JC = cast(Table, JurisdictionClosure.__table__)
E = cast(Table, Enterprise.__table__)
R = cast(Table, RiskUnit.__table__)
P = cast(Table, ProtectionTarget.__table__)

_LEVEL_RANK = {str(level): rank for rank, level in enumerate(ADMIN_LEVELS, start=1)}


@dataclass(frozen=True)
class Resource:
    """How one register table is read and written."""

    name: str
    table: Table
    key: str
    geometry: str
    properties: tuple[str, ...]
    geometries_in_properties: tuple[str, ...] = ()
    unique_fields: Mapping[str, str] = field(default_factory=dict)  # constraint name → field


JURISDICTIONS = Resource(
    "jurisdiction",
    J,
    "adcode",
    "geom",
    ("adcode", "name", "level", "parent_adcode", "source", "synthetic", "created_at"),
)
ENTERPRISES = Resource(
    "enterprise",
    E,
    "id",
    "geom",
    (
        "id",
        "credit_code",
        "name",
        "sector",
        "business_type",
        "address",
        "employees",
        "supervising_department",
        "contact_person",
        "contact_phone",
        "jurisdiction_adcode",
        "synthetic",
        "version",
        "created_at",
        "updated_at",
    ),
    geometries_in_properties=("site",),
    unique_fields={"uq_enterprises_credit_code": "credit_code"},
)
RISK_UNITS = Resource(
    "risk unit",
    R,
    "id",
    "geom",
    (
        "id",
        "enterprise_id",
        "kind",
        "name",
        "sector",
        "level",
        "assessment_method",
        "assessment_inputs",
        "assessment_score",
        "assessment_table",
        "accident_types",
        "hazards",
        "control_measures",
        "control_level",
        "responsible_department",
        "responsible_person",
        "responsible_phone",
        "assessed_on",
        "next_assessment_due",
        "max_occupancy",
        "hazard_kind",
        "capacity_m3",
        "jurisdiction_adcode",
        "synthetic",
        "version",
        "created_at",
        "updated_at",
    ),
    unique_fields={"uq_risk_units_enterprise_id_name": "name"},
)
PROTECTION_TARGETS = Resource(
    "protection target",
    P,
    "id",
    "geom",
    (
        "id",
        "name",
        "type",
        "gb_class",
        "gb_class_derived",
        "population",
        "households",
        "address",
        "jurisdiction_adcode",
        "synthetic",
        "version",
        "created_at",
        "updated_at",
    ),
)


@dataclass
class Page:
    rows: list[dict[str, Any]]
    total: int
    limit: int
    offset: int


# --- scope: who may read and write what -------------------------------------------------------------
#
# Rows outside a principal's scope are invisible: reading, changing or deleting one is a 404, as if it
# did not exist. A role that may never do something (the public reading the register, a regulator
# creating an enterprise) gets 403, or 401 when nobody signed in. Jurisdictions (boundaries) are public.


def deny(principal: Principal, what: str) -> Forbidden | Unauthenticated:
    """The error for a principal that may not do `what`: 401 for the anonymous public, else 403."""
    if principal.is_public:
        return Unauthenticated(f"sign in to {what}")
    return Forbidden(f"a {principal.role} user may not {what}")


def set_actor(conn: Connection, principal: Principal) -> None:
    """Name the principal for this transaction (history triggers read `riskmap.actor`), and say whether
    it may lower a level-1/2 risk unit (`riskmap.may_lower`, read by the trigger of migration 0015):
    admins and regulators (who approve close-outs) may, enterprises and plain SQL may not."""
    may_lower = "on" if principal.is_admin or principal.role is Role.regulator else "off"
    conn.execute(
        text("SELECT set_config('riskmap.actor', :actor, true), set_config('riskmap.may_lower', :may, true)"),
        {"actor": principal.actor, "may": may_lower},
    )


def area_of(principal: Principal) -> Select[Any]:
    """The adcodes a regulator oversees: the union of its subtrees."""
    if not principal.adcodes:
        return select(JC.c.descendant.label("adcode")).where(false())
    return select(JC.c.descendant.label("adcode")).where(JC.c.ancestor.in_(list(principal.adcodes)))


def in_area(conn: Connection, principal: Principal, adcode: str | None) -> bool:
    """Whether a jurisdiction (or park, grid) lies in the principal's area; admins' area is everything."""
    if principal.is_admin:
        return True
    if principal.role is not Role.regulator or adcode is None:
        return False
    return bool(
        conn.execute(select(func.count()).where(area_of(principal).subquery().c.adcode == adcode)).scalar()
    )


def may_see_detail(conn: Connection, principal: Principal, adcode: str) -> bool:
    """Names, people, phones and positions of single units of a jurisdiction: admins, and regulators
    inside their area. Everyone else gets aggregates (levels and counts) only."""
    return principal.is_admin or (principal.role is Role.regulator and in_area(conn, principal, adcode))


def require_area(conn: Connection, principal: Principal, adcode: str, *, detail: bool) -> dict[str, Any]:
    """The jurisdiction row (NotFound if unknown), if `principal` may analyse it: aggregates (levels and
    counts) are public; `detail` needs `may_see_detail` (403 for a regulator outside its area)."""
    row = get_jurisdiction_row(conn, adcode)
    if not detail or may_see_detail(conn, principal, adcode):
        return row
    if principal.role is Role.regulator:
        raise Forbidden(
            f"jurisdiction {adcode} is outside your jurisdictions ({', '.join(principal.adcodes)})"
        )
    raise deny(principal, f"see the details of jurisdiction {adcode}: only levels and counts are public")


def require_detail(principal: Principal, what: str = "see single risk units, enterprises or people") -> None:
    """Admins and regulators only (their area is checked where the rows are read)."""
    if principal.role not in (Role.admin, Role.regulator):
        raise deny(principal, what)


def visible(principal: Principal, res: Resource, conn: Connection | None = None) -> list[ColumnElement[bool]]:
    """WHERE clauses limiting `res` to the principal's scope (none for an admin); raises if the role may
    not read this resource at all. With `conn`, a regulator's area is read first and bound as one
    constant array (`in_area_codes`), which plans better than the subquery built without it."""
    t = res.table
    if principal.is_admin or res is JURISDICTIONS:
        return []
    if principal.role is Role.regulator:
        if conn is not None:
            return [in_area_codes(conn, t.c.jurisdiction_adcode, principal)]
        return [t.c.jurisdiction_adcode.in_(area_of(principal))]
    if principal.role is Role.enterprise and principal.enterprise_id is not None:
        if res is ENTERPRISES:
            return [t.c.id == principal.enterprise_id]
        if res is RISK_UNITS:
            return [t.c.enterprise_id == principal.enterprise_id]
    raise deny(principal, f"read {res.name}s")


def check_write(conn: Connection, principal: Principal, res: Resource, row: Mapping[str, Any]) -> None:
    """Raise unless the principal may create or keep a row with these values (403)."""
    if principal.is_admin:
        return
    what = f"write this {res.name}"
    if principal.role is Role.regulator and (
        res is PROTECTION_TARGETS or (res is RISK_UNITS and row.get("enterprise_id") is None)
    ):
        if in_area(conn, principal, row.get("jurisdiction_adcode")):
            return
        raise Forbidden(
            f"the {res.name} would lie outside your jurisdictions ({', '.join(principal.adcodes)})"
        )
    if principal.role is Role.enterprise and principal.enterprise_id is not None:
        if res is RISK_UNITS and row.get("enterprise_id") == principal.enterprise_id:
            return
        if res is ENTERPRISES and row.get("id") == principal.enterprise_id:
            return
        if res in (ENTERPRISES, RISK_UNITS):
            what = f"write a {res.name} of another enterprise"
    raise deny(principal, what)


def closeout_required(level: int) -> Forbidden:
    return Forbidden(
        f"a level-{level} risk is lowered to general or low only by a close-out (销号): "
        "POST /api/v1/closeouts/{case}/request; the regulator's approval changes the level"
    )


def check_no_self_close_out(
    principal: Principal, res: Resource, existing: Mapping[str, Any], values: Mapping[str, Any]
) -> None:
    """An enterprise may raise its units' levels, but a major or large risk comes down to general or low
    only through the close-out (销号) a regulator verifies (seed 002 三(二)4), not by an edit."""
    if principal.role is not Role.enterprise or res is not RISK_UNITS:
        return
    old, new = existing.get("level"), values.get("level", existing.get("level"))
    if old in (1, 2) and new is not None and new > 2:
        raise closeout_required(old)


def check_no_self_delete(principal: Principal, res: Resource, existing: Mapping[str, Any]) -> None:
    """Deleting a major or large risk would lower it with no close-out at all (and a re-created unit
    could come back at level 4): an enterprise may not delete its level-1/2 units; an admin may (and a
    regulator its public-area risks); the delete is kept in the history under their name."""
    if principal.role is Role.enterprise and res is RISK_UNITS and existing.get("level") in (1, 2):
        raise Forbidden(
            f"a level-{existing['level']} risk unit is not deleted by its enterprise: it leaves the "
            "register of major and large risks only by a close-out (销号, POST /api/v1/closeouts/{case}/"
            "request) or by an admin"
        )


# --- jurisdictions -------------------------------------------------------------------------------


# The same set as `jurisdiction_subtree`, as a CTE for hand-written SQL: `WITH {SUBTREE_CTE}` (or `WITH
# RECURSIVE`, when other CTEs of the statement recurse) gives `subtree(adcode)` for the bound :adcode.
SUBTREE_CTE: Final = """subtree AS (
    SELECT descendant AS adcode FROM jurisdiction_closure WHERE ancestor = :adcode
)"""


def jurisdiction_subtree(adcode: str) -> Select[Any]:
    """adcode and everything below it, from the closure table `jurisdiction_closure` (migration 0023s), which
    PostgreSQL estimates from its statistics: a recursive walk down parent_adcode was estimated at a guess
    (every jurisdiction), so a county's statements scanned all the risk units instead of their index."""
    return select(JC.c.descendant.label("adcode")).where(JC.c.ancestor == adcode)


def _descendants(adcodes: Sequence[str]) -> Select[Any]:
    """The adcodes of the subtrees of `adcodes` (each with itself), once each, from the closure table."""
    return select(JC.c.descendant).where(JC.c.ancestor.in_(list(adcodes))).distinct()


def subtree_codes(conn: Connection, adcodes: Sequence[str]) -> list[str]:
    """The adcodes of the subtrees of `adcodes` (each with itself), sorted, from the closure table."""
    if not adcodes:
        return []
    return [str(c) for c in conn.execute(_descendants(adcodes).order_by(JC.c.descendant)).scalars()]


def in_codes(column: ColumnElement[Any], codes: Sequence[str]) -> ColumnElement[bool]:
    """`column = ANY(CAST(:codes AS text[]))`: one constant array, which PostgreSQL estimates element by
    element from the column's statistics and probes an index with (or hashes, in a filter)."""
    return column == any_(sql_cast(literal(list(codes), ARRAY(Text)), ARRAY(Text)))


# Above this many codes a subtree (a province's 39,700) is filtered by the closure subquery instead: planning
# and sending the array cost more than the join saves (bench/results/subtree.md).
ARRAY_MAX: Final = 10_000


def _codes_or_none(conn: Connection, adcodes: Sequence[str]) -> list[str] | None:
    codes = [str(c) for c in conn.execute(_descendants(adcodes).limit(ARRAY_MAX + 1)).scalars()]
    return None if len(codes) > ARRAY_MAX else codes


def in_subtree(conn: Connection, column: ColumnElement[Any], adcode: str) -> ColumnElement[bool]:
    """`column` lies in adcode's subtree: the codes read first, then bound as one constant array (up to
    ARRAY_MAX codes). On the synthetic province (bench/subtree.py) a county's statements run 5–15× faster
    than with `column IN (jurisdiction_subtree(adcode))`: its units are filed at a few of its 441 codes,
    which a join with the subtree (estimated at the average rows per code) cannot know and the constant
    array, estimated code by code from the column's statistics, can."""
    codes = _codes_or_none(conn, [adcode])
    return column.in_(jurisdiction_subtree(adcode)) if codes is None else in_codes(column, codes)


def in_area_codes(conn: Connection, column: ColumnElement[Any], principal: Principal) -> ColumnElement[bool]:
    """`column` lies in a regulator's area, as `in_subtree` (no adcodes: nothing)."""
    if not principal.adcodes:
        return false()
    codes = _codes_or_none(conn, principal.adcodes)
    return column.in_(area_of(principal)) if codes is None else in_codes(column, codes)


# The predicate of hand-written SQL for `in_subtree`: bind :subtree to `subtree_codes(conn, [adcode])` (always
# the array: a province's summary takes 3.1 s so, 2.5 s by the closure join, 3.7 s walked).
IN_SUBTREE_SQL: Final = "{column} = ANY(CAST(:subtree AS text[]))"


def get_jurisdiction_row(conn: Connection, adcode: str) -> dict[str, Any]:
    row = conn.execute(select(J.c.adcode, J.c.name, J.c.level).where(J.c.adcode == adcode)).mappings().first()
    if row is None:
        raise NotFound(f"no jurisdiction with adcode {adcode!r}")
    return dict(row)


def covering_admin_unit(conn: Connection, geom: BaseGeometry, within: str | None = None) -> str | None:
    """The deepest administrative unit covering a representative point of `geom`."""
    point = geom if geom.geom_type == "Point" else geom.representative_point()
    rank = func.array_position(
        text("ARRAY['province','city','county','township','village']::text[]"), J.c.level
    )
    q = (
        select(J.c.adcode)
        .where(J.c.level.in_([str(x) for x in ADMIN_LEVELS]))
        .where(func.ST_Covers(J.c.geom, from_shape(point, srid=SRID)))
        .order_by(rank.desc())
        .limit(1)
    )
    if within is not None:
        q = q.where(J.c.adcode.in_(jurisdiction_subtree(within)))
    return conn.execute(q).scalar()


def assign_jurisdiction(
    conn: Connection, geom: BaseGeometry, declared: str | None, *, field_name: str
) -> str | None:
    """The unit to file a row under: the deepest admin unit containing it, inside `declared` if given."""
    if declared is None:
        return covering_admin_unit(conn, geom)
    level = conn.execute(select(J.c.level).where(J.c.adcode == declared)).scalar()
    if level is None:
        raise InvalidInput.one(
            field_name, f"no jurisdiction with adcode {declared!r}", f"行政区划 {declared} 不存在"
        )
    if level not in _LEVEL_RANK:
        # A park or grid is a zone with no admin units below it: check the place, file under the admin unit.
        point = geom if geom.geom_type == "Point" else geom.representative_point()
        zone = select(J.c.geom).where(J.c.adcode == declared).scalar_subquery()
        inside = conn.execute(select(func.ST_Covers(zone, from_shape(point, srid=SRID)))).scalar()
        found = covering_admin_unit(conn, geom) if inside else None
    else:
        found = covering_admin_unit(conn, geom, within=declared)
    if found is None:
        raise InvalidInput.one(
            field_name,
            f"the geometry lies outside jurisdiction {declared}",
            f"位置不在所申报的行政区划 {declared} 内",
        )
    return found


NOWHERE_REASONS = (
    "lies outside every stored jurisdiction: check the coordinates (swapped longitude and latitude, the "
    "wrong crs) or load the boundary of the place first",
    "位置不在任何已录入的行政区划内：请核对坐标（经纬度是否颠倒、坐标系是否正确），或先录入该地行政区划边界",
)


def outside_reasons(adcode: str, name: str | None) -> tuple[str, str]:
    label = f"{adcode} ({name})" if name else adcode
    return (
        f"lies outside jurisdiction {label}, which it would be filed under: check the coordinates, or "
        "name the jurisdiction where it lies (property `jurisdiction`)",
        f"位置不在其所属行政区划 {label} 内：请核对坐标，或填写其所在的行政区划",
    )


def check_place(conn: Connection, res: Resource, values: Mapping[str, Any]) -> None:
    """A register row must lie in the jurisdiction it is filed under (a point on its geometry, as
    `assign_jurisdiction` files it), else it is counted there and missing from the map: 422 naming the
    geometry and the jurisdiction. A row no stored boundary covers is filed nowhere: refused too."""
    if res not in (ENTERPRISES, RISK_UNITS, PROTECTION_TARGETS) or values.get("geometry") is None:
        return
    geom = values["geometry"]
    adcode = values.get("jurisdiction_adcode")
    if adcode is None:
        raise InvalidInput.one("geometry", *NOWHERE_REASONS)
    point = geom if geom.geom_type == "Point" else geom.representative_point()
    row = conn.execute(
        select(J.c.name, func.ST_Covers(J.c.geom, from_shape(point, srid=SRID))).where(J.c.adcode == adcode)
    ).first()
    if row is not None and not row[1]:  # an unknown adcode is the foreign key's error
        raise InvalidInput.one("geometry", *outside_reasons(adcode, row[0]))


def _reassign_into(conn: Connection, adcode: str, parent: str | None) -> None:
    """A newly loaded unit (say a township) takes the rows of its parent that it covers."""
    for table in (E, P, R):
        point = func.ST_PointOnSurface(table.c.geom)
        conn.execute(
            update(table)
            .where(table.c.jurisdiction_adcode.is_not_distinct_from(parent))
            .where(func.ST_Covers(select(J.c.geom).where(J.c.adcode == adcode).scalar_subquery(), point))
            .values(jurisdiction_adcode=adcode)
        )


def create_jurisdiction(
    conn: Connection, principal: Principal, values: Mapping[str, Any], geom: BaseGeometry
) -> dict[str, Any]:
    if not principal.is_admin:
        raise deny(principal, "load jurisdictions")
    set_actor(conn, principal)
    adcode = values["adcode"]
    if conn.execute(select(J.c.adcode).where(J.c.adcode == adcode)).first():
        raise Conflict(
            f"a jurisdiction with adcode {adcode} exists already", "properties.adcode", "行政区划代码已存在"
        )
    parent = values.get("parent_adcode")
    if parent is not None and not conn.execute(select(J.c.adcode).where(J.c.adcode == parent)).first():
        raise InvalidInput.one("properties.parent_adcode", f"no jurisdiction with adcode {parent!r}")
    conn.execute(insert(J).values(**values, geom=from_shape(geom, srid=SRID)))
    if str(values["level"]) in _LEVEL_RANK:
        _reassign_into(conn, adcode, parent)
    return get_feature(conn, principal, JURISDICTIONS, adcode)


def upsert_jurisdictions(conn: Connection, rows: Iterable[Mapping[str, Any]]) -> int:
    """Bulk load boundaries (the demo, imports): insert or replace by adcode, parents first."""
    stmt = text(
        """
        INSERT INTO jurisdictions (adcode, name, level, parent_adcode, source, synthetic, geom)
        VALUES (:adcode, :name, :level, :parent_adcode, :source, :synthetic,
                ST_Multi(ST_GeomFromWKB(:wkb, 4490)))
        ON CONFLICT (adcode) DO UPDATE SET name = EXCLUDED.name, level = EXCLUDED.level,
            parent_adcode = EXCLUDED.parent_adcode, source = EXCLUDED.source,
            synthetic = EXCLUDED.synthetic, geom = EXCLUDED.geom
        WHERE (jurisdictions.name, jurisdictions.level, jurisdictions.parent_adcode, jurisdictions.source,
               jurisdictions.synthetic, jurisdictions.geom)
            IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.level, EXCLUDED.parent_adcode, EXCLUDED.source,
               EXCLUDED.synthetic, EXCLUDED.geom)
        """
    )
    params = [
        {
            "adcode": r["adcode"],
            "name": r["name"],
            "level": r["level"],
            "parent_adcode": r.get("parent_adcode"),
            "source": r.get("source"),
            "synthetic": bool(r.get("synthetic", False)),
            "wkb": shapely.to_wkb(r["geometry"]),
        }
        for r in rows
    ]
    if params:
        conn.execute(stmt, params)
    return len(params)


# --- generic reads ---------------------------------------------------------------------------------


def _columns(res: Resource) -> list[ColumnElement[Any]]:
    cols: list[ColumnElement[Any]] = [res.table.c[name] for name in res.properties]
    cols.append(func.ST_AsBinary(res.table.c[res.geometry]).label("_geom"))
    for g in res.geometries_in_properties:
        cols.append(func.ST_AsBinary(res.table.c[g]).label(f"_{g}"))
    return cols


def _shape_row(res: Resource, row: Mapping[Any, Any]) -> dict[str, Any]:
    out = dict(row)
    out["geometry"] = shapely.from_wkb(bytes(out.pop("_geom")))
    for g in res.geometries_in_properties:
        raw = out.pop(f"_{g}")
        out[g] = shapely.from_wkb(bytes(raw)) if raw is not None else None
    return out


def _enterprise_extras(res: Resource) -> list[ColumnElement[Any]]:
    if res is not ENTERPRISES:
        return []
    # Enterprise level (就高): the highest level (smallest number) among its risk units.
    level = select(func.min(R.c.level)).where(R.c.enterprise_id == E.c.id).scalar_subquery()
    count = select(func.count()).where(R.c.enterprise_id == E.c.id).scalar_subquery()
    return [level.label("level"), count.label("risk_unit_count")]


def get_feature(conn: Connection, principal: Principal, res: Resource, key: Any) -> dict[str, Any]:
    """One row, if it exists inside the principal's scope (else NotFound: its existence is not told)."""
    q = (
        select(*_columns(res), *_enterprise_extras(res))
        .where(res.table.c[res.key] == key)
        .where(*visible(principal, res, conn))
    )
    row = conn.execute(q).mappings().first()
    if row is None:
        raise NotFound(f"no {res.name} with {res.key} {key}")
    return _shape_row(res, row)


def list_features(
    conn: Connection,
    principal: Principal,
    res: Resource,
    *,
    adcode: str | None = None,
    bbox: Sequence[float] | None = None,
    filters: Mapping[str, Any] | None = None,
    ranges: Mapping[str, tuple[Any, Any]] | None = None,
    limit: int = 100,
    offset: int = 0,
) -> Page:
    """Rows in the principal's scope; `filters` are equalities, `ranges` closed intervals (either end may
    be None for an open end)."""
    t = res.table
    where = _list_where(conn, principal, res, adcode=adcode, bbox=bbox, filters=filters, ranges=ranges)
    total = conn.execute(select(func.count()).select_from(t).where(*where)).scalar_one()
    q = (
        select(*_columns(res), *_enterprise_extras(res))
        .where(*where)
        .order_by(t.c[res.key])
        .limit(limit)
        .offset(offset)
    )
    rows = [_shape_row(res, r) for r in conn.execute(q).mappings()]
    return Page(rows=rows, total=total, limit=limit, offset=offset)


def _list_where(
    conn: Connection,
    principal: Principal,
    res: Resource,
    *,
    adcode: str | None,
    bbox: Sequence[float] | None,
    filters: Mapping[str, Any] | None,
    ranges: Mapping[str, tuple[Any, Any]] | None,
) -> list[ColumnElement[bool]]:
    """The WHERE of a list: the principal's scope, then the request's filters."""
    t = res.table
    where: list[ColumnElement[bool]] = visible(principal, res, conn)
    if adcode is not None:
        j = get_jurisdiction_row(conn, adcode)
        if res is JURISDICTIONS:
            where.append(in_subtree(conn, t.c.adcode, adcode))
        elif j["level"] in _LEVEL_RANK:
            where.append(in_subtree(conn, t.c.jurisdiction_adcode, adcode))
        else:  # parks and grids are zones cutting across the admin tree: filter by place
            zone = select(J.c.geom).where(J.c.adcode == adcode).scalar_subquery()
            where.append(func.ST_Intersects(t.c[res.geometry], zone))
    if bbox is not None:
        env = func.ST_MakeEnvelope(bbox[0], bbox[1], bbox[2], bbox[3], SRID)
        where.append(func.ST_Intersects(t.c[res.geometry], env))
    for name, value in (filters or {}).items():
        if value is not None:
            where.append(t.c[name] == value)
    for name, (low, high) in (ranges or {}).items():
        if low is not None:
            where.append(t.c[name] >= low)
        if high is not None:
            where.append(t.c[name] <= high)
    return where


# The same page as `list_features`, its GeoJSON made by PostgreSQL: each row's properties as one JSON
# object (json_build_object, with dates and times written as Python's isoformat writes them, so a list
# says what a single GET says) and each geometry as GeoJSON text (ST_AsGeoJSON, 7 decimals: ~1 cm, as
# `geo.geometry.to_geojson`) — or as WKB, for the caller to convert (GCJ-02, BD-09) in one vectorised pass.


@dataclass
class JsonPage:
    """`keys` (JSON text of each row's key), `properties` (JSON objects without the geometries in
    properties), `geometries` (GeoJSON text or WKB), `extra` (name → GeoJSON text or WKB or None)."""

    keys: list[str]
    properties: list[str]
    geometries: list[Any]
    extra: dict[str, list[Any]]
    total: int
    limit: int
    offset: int


def _iso_timestamp(col: ColumnElement[Any]) -> ColumnElement[Any]:
    """A timestamptz as `datetime.isoformat()` writes what the driver reads (the session's time zone;
    microseconds only when there are any)."""
    micro = func.to_char(col, literal(".US"))
    has_micro = func.extract("microseconds", col).cast(BigInteger) % 1_000_000 != 0
    return (
        func.to_char(col, literal('YYYY-MM-DD"T"HH24:MI:SS'))
        + case((has_micro, micro), else_=literal(""))
        + func.to_char(col, literal("TZH:TZM"))
    )


def _json_value(col: ColumnElement[Any]) -> ColumnElement[Any]:
    if isinstance(col.type, DateTime):
        return case((col.is_(None), None), else_=_iso_timestamp(col))
    return col


def _geojson_or_wkb(col: ColumnElement[Any], geojson: bool) -> ColumnElement[Any]:
    # options 0: no "crs" member (PostGIS adds one for an SRID other than 4326 by default)
    return func.ST_AsGeoJSON(col, 7, 0) if geojson else func.ST_AsBinary(col)


def list_features_json(
    conn: Connection,
    principal: Principal,
    res: Resource,
    *,
    geojson: bool = True,
    adcode: str | None = None,
    bbox: Sequence[float] | None = None,
    filters: Mapping[str, Any] | None = None,
    limit: int = 100,
    offset: int = 0,
) -> JsonPage:
    """`list_features` with each row's answer made in SQL: the scope and filters are the same (one
    WHERE), the rows come in the same order. `geojson=False` gives WKB geometries to convert."""
    t = res.table
    where = _list_where(conn, principal, res, adcode=adcode, bbox=bbox, filters=filters, ranges=None)
    total = conn.execute(select(func.count()).select_from(t).where(*where)).scalar_one()
    page = (
        select(t.c[res.key].label("_key"))
        .where(*where)
        .order_by(t.c[res.key])
        .limit(limit)
        .offset(offset)
        .subquery("page")
    )
    pairs: list[Any] = []
    for name in res.properties:
        pairs += [literal(name), _json_value(t.c[name])]
    for col in _enterprise_extras(res):
        pairs += [literal(col.name), col]
    props = func.json_build_object(*pairs)
    q = (
        select(
            func.to_json(t.c[res.key]).cast(Text).label("key"),
            props.cast(Text).label("props"),
            _geojson_or_wkb(t.c[res.geometry], geojson).label("geom"),
            *[_geojson_or_wkb(t.c[g], geojson).label(f"_{g}") for g in res.geometries_in_properties],
        )
        .select_from(t.join(page, page.c._key == t.c[res.key]))
        .order_by(t.c[res.key])
    )
    rows = conn.execute(q).all()
    extra = {g: [r[3 + i] for r in rows] for i, g in enumerate(res.geometries_in_properties)}
    return JsonPage(
        keys=[r[0] for r in rows],
        properties=[r[1] for r in rows],
        geometries=[r[2] for r in rows],
        extra=extra,
        total=total,
        limit=limit,
        offset=offset,
    )


# --- generic writes --------------------------------------------------------------------------------


def _write_values(res: Resource, values: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in values.items():
        if name == "geometry":
            out[res.geometry] = from_shape(value, srid=SRID)
        elif name in res.geometries_in_properties:
            out[name] = None if value is None else from_shape(value, srid=SRID)
        elif name == "assessment_inputs" and value is not None:
            out[name] = json.loads(json.dumps(value))
        else:
            out[name] = value
    return out


def _integrity(res: Resource, exc: IntegrityError) -> Exception:
    constraint = getattr(getattr(exc.orig, "diag", None), "constraint_name", None) or ""
    if constraint in res.unique_fields:
        f = res.unique_fields[constraint]
        return Conflict(f"another {res.name} has the same {f}", f"properties.{f}", "与已有记录重复")
    if constraint == "closeout_required":  # migration 0015's trigger, behind check_no_self_close_out
        return Forbidden("a level-1/2 risk unit is lowered to general or low only by a close-out (销号)")
    if constraint.startswith("fk_"):
        col = constraint.removeprefix(f"fk_{res.table.name}_")
        return InvalidInput([Problem(f"properties.{col}", "refers to a row that does not exist")])
    return InvalidInput([Problem("body", f"rejected by the database constraint {constraint or 'unknown'}")])


def create_feature(
    conn: Connection, principal: Principal, res: Resource, values: Mapping[str, Any]
) -> dict[str, Any]:
    check_write(conn, principal, res, values)
    check_place(conn, res, values)
    set_actor(conn, principal)
    try:
        with conn.begin_nested():
            key = conn.execute(
                insert(res.table).values(**_write_values(res, values)).returning(res.table.c[res.key])
            ).scalar_one()
    except IntegrityError as exc:
        raise _integrity(res, exc) from None
    return get_feature(conn, principal, res, key)


def _stale(res: Resource, expected_version: int | None) -> PreconditionFailed:
    return PreconditionFailed(
        f"the {res.name} changed since version {expected_version}: fetch it again",
        "If-Match",
        "数据已被他人修改，请重新获取后再改",
    )


def update_feature(
    conn: Connection,
    principal: Principal,
    res: Resource,
    key: Any,
    values: Mapping[str, Any],
    *,
    expected_version: int | None = None,
    existing: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Change a row the principal may see (else 404) and write, before and after the change (else 403).

    Values equal to the stored ones change nothing: the row is not updated, so its version (the ETag),
    `updated_at` and `synthetic` stay and the history records nothing. A stale `expected_version` is a
    409 either way. `existing`: the row as `get_feature` gave it to this principal in this transaction
    (the caller's read, not made again)."""
    if existing is None:
        existing = get_feature(conn, principal, res, key)
    check_write(conn, principal, res, existing)
    check_write(conn, principal, res, {**existing, **values})
    check_no_self_close_out(principal, res, existing, values)
    if "geometry" in values or "jurisdiction_adcode" in values:
        check_place(conn, res, {**existing, **values})
    set_actor(conn, principal)
    t = res.table
    written = _write_values(res, values)
    q = update(t).where(t.c[res.key] == key)
    if expected_version is not None:
        q = q.where(t.c.version == expected_version)
    # Each value bound with its column's type, as SET binds it (a geometry through ST_GeomFromEWKT).
    differs = [t.c[name].is_distinct_from(literal(v, t.c[name].type)) for name, v in written.items()]
    q = q.where(or_(false(), *differs))
    q = q.values(**written, version=t.c.version + 1, updated_at=func.now())
    try:
        with conn.begin_nested():
            n = conn.execute(q).rowcount
    except IntegrityError as exc:
        raise _integrity(res, exc) from None
    row = get_feature(conn, principal, res, key)  # raises NotFound when it is gone
    if n == 0 and expected_version is not None and row["version"] != expected_version:
        raise _stale(res, expected_version)
    return row


def delete_feature(
    conn: Connection, principal: Principal, res: Resource, key: Any, *, expected_version: int | None = None
) -> None:
    """Delete a row the principal may see (else 404) and write (else 403); enterprises and jurisdictions
    only by an admin. With `expected_version`, a row changed since is not deleted (412)."""
    existing = get_feature(conn, principal, res, key)
    if res in (ENTERPRISES, JURISDICTIONS) and not principal.is_admin:
        raise deny(principal, f"delete {res.name}s")
    check_write(conn, principal, res, existing)
    check_no_self_delete(principal, res, existing)
    set_actor(conn, principal)
    q = delete(res.table).where(res.table.c[res.key] == key)
    if expected_version is not None:
        q = q.where(res.table.c.version == expected_version)
    try:
        with conn.begin_nested():
            if res is JURISDICTIONS:
                # Rows filed under the unit go back to its parent rather than to no jurisdiction at all.
                parent = select(J.c.parent_adcode).where(J.c.adcode == key).scalar_subquery()
                for t in (E, P, R):
                    conn.execute(
                        update(t).where(t.c.jurisdiction_adcode == key).values(jurisdiction_adcode=parent)
                    )
            n = conn.execute(q).rowcount
    except IntegrityError:
        raise Conflict(
            f"the {res.name} {key} is still referenced (child jurisdictions): delete those first",
            res.key,
            "仍有下级行政区划引用，请先删除下级",
        ) from None
    if n == 0:
        raise _stale(res, expected_version)


def enterprise_owner(conn: Connection, enterprise_id: int, *, field_name: str) -> dict[str, Any]:
    row = (
        conn.execute(select(E.c.id, E.c.sector, E.c.jurisdiction_adcode).where(E.c.id == enterprise_id))
        .mappings()
        .first()
    )
    if row is None:
        raise InvalidInput.one(
            field_name, f"no enterprise with id {enterprise_id}", f"企业 {enterprise_id} 不存在"
        )
    return dict(row)


def enterprise_ids_by_credit_code(conn: Connection, codes: Sequence[str]) -> dict[str, int]:
    rows = conn.execute(select(E.c.credit_code, E.c.id).where(E.c.credit_code.in_(list(codes))))
    return {str(code): int(id_) for code, id_ in rows.all()}


def bulk_insert(conn: Connection, res: Resource, rows: Sequence[Mapping[str, Any]]) -> list[Any]:
    """Insert many rows in one statement (the demo loader); returns their keys in order."""
    if not rows:
        return []
    params = [_write_values(res, r) for r in rows]
    keys = conn.execute(
        insert(res.table).returning(res.table.c[res.key], sort_by_parameter_order=True), params
    )
    return list(keys.scalars())


def clear_synthetic(conn: Connection) -> dict[str, int]:
    """Remove what the demo loaded (rows marked synthetic), leaving real rows alone."""
    counts = {}
    for t in (R, P, E):
        counts[t.name] = conn.execute(delete(t).where(t.c.synthetic.is_(True))).rowcount
    counts[J.name] = conn.execute(delete(J).where(J.c.synthetic.is_(True))).rowcount
    return counts
