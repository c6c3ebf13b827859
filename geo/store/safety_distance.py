"""Safety distances (安全防护距离) in PostGIS: candidate (hazard, target) pairs, contour hits, siting and
exposure queries; the rules are applied by geo.safety_distance, the same code as the GeoPandas reference."""

# ruff: noqa: S608  (statements are built from this module's constant fragments only; values are bound)
from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Final

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Connection, text

from geo import safety_distance as sd
from geo.access import Forbidden, Principal, Role
from geo.errors import InvalidInput, NotFound
from geo.geometry import as_multipolygon
from geo.store import repository as repo
from geo.store.repository import IN_SUBTREE_SQL, get_jurisdiction_row, subtree_codes
from geo.vocab import ADMIN_LEVELS

# How the spatial index is used: storage is lon/lat (EPSG:4490) with GiST indexes, so candidates are found with
# `geom && ST_Expand(hazard, dlon, dlat)`, a box in degrees at least `reach` metres wide in every direction
# (dlat = reach / 110 km, dlon = reach / (111 km · cos φmax), each +1 %); the exact distance is then measured
# edge to edge in the hazard's CGCS2000 Gauss–Krüger zone. Casting to geography in the predicate would defeat
# the index, and buffers would lose pairs at the edge (../shared/performance.md).

SRID: Final = 4490
# Per statement: on 2 cores a serial nested loop into the GiST beats a parallel plan, and JIT only adds
# compile time to these short queries.
PLANNER_SETTINGS: Final[Mapping[str, str]] = {"jit": "off", "max_parallel_workers_per_gather": "0"}
_M_PER_DEG_LAT: Final = sd.M_PER_DEG_LAT  # low, so the box in degrees errs wide
_M_PER_DEG_LON_EQ: Final = sd.M_PER_DEG_LON_EQ
_MARGIN: Final = sd.BOX_MARGIN

# Scope predicates: rows filed under the jurisdiction's subtree (:subtree, its adcodes read first and bound as
# one constant array: repository.in_subtree says why), or (parks, grids) rows inside the zone.
_ADMIN_SCOPE = IN_SUBTREE_SQL.replace("{column}", "{t}.jurisdiction_adcode")
_ZONE_SCOPE = "ST_Intersects({t}.geom, (SELECT geom FROM jurisdictions WHERE adcode = :adcode))"
_EPSG_SQL = "(4534 + (3 * floor((ST_X(ST_PointOnSurface({g})) + 1.5) / 3)::int - 75) / 3)"
_AREA_SQL = "CASE WHEN GeometryType(t.geom) IN ('POLYGON', 'MULTIPOLYGON') THEN ST_Area(t.geom::geography, true) ELSE 0 END"
_HAZARD_COLUMNS = """
    {h}.id AS hazard_id, {h}.name AS hazard_name, {h}.hazard_kind, {h}.capacity_m3, {h}.enterprise_id,
    {h}.jurisdiction_adcode AS hazard_adcode, {h}.level AS hazard_level"""
_TARGET_COLUMNS = f"""
    t.id AS target_id, t.name AS target_name, t.type AS target_type, t.gb_class, t.population, t.households,
    t.population_estimated, {_AREA_SQL} AS target_area_m2, t.jurisdiction_adcode AS target_adcode"""

# Candidate pairs of an adcode, both directions of seed 000 (四): hazards filed here with targets anywhere
# around them, and hazards anywhere near (inside the scope's box widened by the largest reach) with targets
# filed here. reach per hazard = the largest distance of the rules that match its kind and volume (× factor),
# or its level's consultation distance (levels 1, 2: every such unit, whatever its kind), the larger.
_CANDIDATES = f"""
WITH rules AS (
    SELECT * FROM unnest(CAST(:r_kind AS text[]), CAST(:r_min AS float8[]), CAST(:r_max AS float8[]),
        CAST(:r_dist AS float8[])) AS r(kind, min_cap, max_cap, distance_m)
),
zones AS (
    SELECT * FROM unnest(CAST(:z_level AS int[]), CAST(:z_dist AS float8[])) AS z(level, distance_m)
),
h AS MATERIALIZED (
    SELECT u.id, u.name, u.hazard_kind, u.capacity_m3, u.enterprise_id, u.jurisdiction_adcode, u.level, u.geom,
        greatest(coalesce(reach.m * :factor, 0), coalesce(zone.m, 0)) AS reach_m,
        {_EPSG_SQL.format(g="u.geom")} AS epsg, ({{h_scope}}) AS in_scope
    FROM risk_units u
    CROSS JOIN LATERAL (
        SELECT max(r.distance_m) AS m FROM rules r
        WHERE r.kind = u.hazard_kind
            AND (r.min_cap IS NULL OR u.capacity_m3 > r.min_cap)
            AND (r.max_cap IS NULL OR u.capacity_m3 <= r.max_cap)
    ) AS reach
    CROSS JOIN LATERAL (SELECT max(z.distance_m) AS m FROM zones z WHERE z.level = u.level) AS zone
    WHERE ((u.hazard_kind IS NOT NULL AND reach.m IS NOT NULL) OR zone.m IS NOT NULL)
        AND (({{h_scope}}) OR u.geom && ST_MakeEnvelope(:xmin, :ymin, :xmax, :ymax, {SRID}))
),
hm AS MATERIALIZED (
    SELECT h.*, ST_Transform(h.geom, h.epsg) AS gm, h.reach_m / {_M_PER_DEG_LAT} * {_MARGIN} AS dlat,
        h.reach_m / ({_M_PER_DEG_LON_EQ} * cos(radians(least(89.0,
            greatest(abs(ST_YMin(h.geom)), abs(ST_YMax(h.geom))) + h.reach_m / {_M_PER_DEG_LAT} * {_MARGIN}))))
            * {_MARGIN} AS dlon
    FROM h
    ORDER BY h.geom  -- Hilbert order (PostGIS 3): successive probes touch the same index pages
)
SELECT {_HAZARD_COLUMNS.format(h="hm")}, {_TARGET_COLUMNS},
    x.d AS distance_m, hm.epsg, hm.in_scope AS hazard_in_scope,
    ({{t_scope}}) AS target_in_scope{{line}}
FROM hm
JOIN protection_targets t ON t.geom && ST_Expand(hm.geom, hm.dlon, hm.dlat)
-- OFFSET 0 fences: each candidate is projected once and measured once.
CROSS JOIN LATERAL (
    SELECT y.tm, ST_Distance(hm.gm, y.tm) AS d
    FROM (SELECT ST_Transform(t.geom, hm.epsg) AS tm OFFSET 0) AS y OFFSET 0
) AS x
WHERE x.d <= hm.reach_m AND (hm.in_scope OR ({{t_scope}}))
"""
_LINE = ",\n    ST_AsBinary(ST_Transform(ST_ShortestLine(hm.gm, x.tm), 4490)) AS line"

# Targets intersecting a risk contour (any level), where the contour's unit or the target is filed here.
_CONTOUR_HITS = f"""
SELECT {_HAZARD_COLUMNS.format(h="u")}, {_TARGET_COLUMNS},
    ST_Distance(ST_Transform(u.geom, z.epsg), ST_Transform(t.geom, z.epsg)) AS distance_m, z.epsg,
    ({{h_scope}}) AS hazard_in_scope, ({{t_scope}}) AS target_in_scope,
    c.id AS contour_id, c.individual_risk
FROM risk_contours c
JOIN risk_units u ON u.id = c.risk_unit_id
JOIN protection_targets t ON ST_Intersects(c.geom, t.geom)
CROSS JOIN LATERAL (SELECT {_EPSG_SQL.format(g="u.geom")} AS epsg) AS z
WHERE ({{h_scope}}) OR ({{t_scope}})
"""

# Screened units: a hazard kind, or a level with a consultation zone (:levels).
_SCREENED = "(u.hazard_kind IS NOT NULL OR u.level = ANY(CAST(:levels AS int[])))"
_HAZARD_KINDS_HERE = f"""
SELECT u.id, u.name, u.hazard_kind, u.capacity_m3, u.level FROM risk_units u
WHERE {_SCREENED} AND ({{h_scope}})
ORDER BY u.id
"""
_HAZARDS_HERE = f"""
SELECT u.id, u.name, u.hazard_kind, u.capacity_m3, u.enterprise_id, u.jurisdiction_adcode, u.level,
    e.name AS enterprise_name, ST_AsBinary(u.geom) AS wkb
FROM risk_units u LEFT JOIN enterprises e ON e.id = u.enterprise_id
WHERE {_SCREENED} AND ({{h_scope}})
ORDER BY u.id
"""
_TARGETS_HERE = f"""
SELECT t.id, t.name, t.type, t.gb_class, t.population, t.households, t.population_estimated,
    t.jurisdiction_adcode, {_AREA_SQL} AS target_area_m2, ST_AsBinary(t.geom) AS wkb
FROM protection_targets t
WHERE {{t_scope}}
ORDER BY t.id
"""

# Around one geometry (a proposal, a risk unit): targets, or hazards, within :reach metres in :epsg.
_TARGETS_NEAR = f"""
SELECT {_TARGET_COLUMNS}, ST_Distance(p.gm, x.tm) AS distance_m,
    ST_AsBinary(ST_Transform(ST_ShortestLine(p.gm, x.tm), 4490)) AS line
FROM (SELECT ST_Transform(ST_GeomFromWKB(:wkb, {SRID}), :epsg) AS gm) AS p
JOIN protection_targets t ON t.geom && ST_MakeEnvelope(:xmin, :ymin, :xmax, :ymax, {SRID})
CROSS JOIN LATERAL (SELECT ST_Transform(t.geom, :epsg) AS tm) AS x
WHERE ST_DWithin(p.gm, x.tm, :reach)
"""
# Two probes: units of a screened level (1, 2) within :reach (their consultation zones), other units with a
# hazard kind within :kreach (advise_factor × the largest tabulated distance): most units are levels 3–4, and
# a box of :kreach holds a twentieth of one of :reach.
_HAZARDS_NEAR = f"""
SELECT {_HAZARD_COLUMNS.format(h="u")}, ST_Distance(p.gm, x.um) AS distance_m,
    ST_AsBinary(ST_Transform(ST_ShortestLine(p.gm, x.um), 4490)) AS line
FROM (SELECT ST_Transform(ST_GeomFromWKB(:wkb, {SRID}), :epsg) AS gm) AS p
JOIN (
    SELECT u.* FROM risk_units u
    WHERE u.geom && ST_MakeEnvelope(:xmin, :ymin, :xmax, :ymax, {SRID}) AND u.level = ANY(CAST(:levels AS int[]))
    UNION ALL
    SELECT u.* FROM risk_units u
    WHERE u.geom && ST_MakeEnvelope(:kxmin, :kymin, :kxmax, :kymax, {SRID}) AND u.hazard_kind IS NOT NULL
        AND NOT u.level = ANY(CAST(:levels AS int[]))
) AS u ON true
CROSS JOIN LATERAL (SELECT ST_Transform(u.geom, :epsg) AS um) AS x
WHERE ST_DWithin(p.gm, x.um, CASE WHEN u.level = ANY(CAST(:levels AS int[])) THEN :reach ELSE :kreach END)
"""
_CONTOURS_UNDER = f"""
SELECT {_HAZARD_COLUMNS.format(h="u")}, c.id AS contour_id, c.individual_risk, ST_AsBinary(c.geom) AS contour_wkb,
    ST_Distance(ST_Transform(u.geom, :epsg), ST_Transform(ST_GeomFromWKB(:wkb, {SRID}), :epsg)) AS distance_m
FROM risk_contours c JOIN risk_units u ON u.id = c.risk_unit_id
WHERE ST_Intersects(c.geom, ST_GeomFromWKB(:wkb, {SRID}))
"""


# --- helpers ------------------------------------------------------------------------------------------------


@contextmanager
def _planner(conn: Connection) -> Iterator[None]:
    """PLANNER_SETTINGS for the statements inside (SET LOCAL), the previous values put back after."""
    names = list(PLANNER_SETTINGS)
    before: dict[str, str] = dict(
        conn.execute(
            text("SELECT name, current_setting(name) FROM unnest(CAST(:names AS text[])) AS name"),
            {"names": names},
        ).all()
    )
    set_all = text(
        "SELECT set_config(name, value, true) FROM unnest(CAST(:n AS text[]), CAST(:v AS text[])) AS s(name, value)"
    )
    conn.execute(set_all, {"n": names, "v": [PLANNER_SETTINGS[k] for k in names]})
    yield
    conn.execute(set_all, {"n": names, "v": [before[k] for k in names]})


def degree_box(bounds: Sequence[float], reach_m: float) -> tuple[float, float, float, float]:
    """(xmin, ymin, xmax, ymax) in degrees, at least reach_m metres beyond `bounds` on every side."""
    xmin, ymin, xmax, ymax = (float(v) for v in bounds)
    dlat = reach_m / _M_PER_DEG_LAT * _MARGIN
    lat = min(89.0, max(abs(ymin), abs(ymax)) + dlat)
    dlon = reach_m / (_M_PER_DEG_LON_EQ * math.cos(math.radians(lat))) * _MARGIN
    return xmin - dlon, ymin - dlat, xmax + dlon, ymax + dlat


def _zone_params(consultation: bool = True) -> dict[str, list[Any]]:
    """Per level, how far its zone reaches: the consultation distance, or (violations only) the inner zone."""
    zones = {lv: sd.zone_reach_m(lv, consultation) for lv in sd.consultation_zones()}
    zones = {lv: m for lv, m in zones.items() if m > 0}
    return {"z_level": list(zones), "z_dist": list(zones.values())}


def _rule_params() -> dict[str, list[Any]]:
    """The reach of each (kind, volume band): the largest distance over the target classes."""
    reach: dict[tuple[str, float | None, float | None], float] = {}
    for r in sd.distance_rules():
        key = (r.hazard_kind, r.min_capacity_m3, r.max_capacity_m3)
        reach[key] = max(reach.get(key, 0.0), r.distance_m)
    return {
        "r_kind": [k[0] for k in reach],
        "r_min": [k[1] for k in reach],
        "r_max": [k[2] for k in reach],
        "r_dist": list(reach.values()),
    }


@dataclass(frozen=True)
class _Scope:
    adcode: str
    name: str
    level: str
    bounds: tuple[float, float, float, float]
    h_scope: str
    t_scope: str
    subtree: list[str]  # the adcodes of an administrative unit's subtree (none for a park or grid)

    @property
    def params(self) -> dict[str, Any]:
        return {"adcode": self.adcode, "subtree": self.subtree}


def _scope(conn: Connection, adcode: str) -> _Scope:
    j = get_jurisdiction_row(conn, adcode)  # NotFound → 404
    bounds = conn.execute(
        text(
            "SELECT ST_XMin(geom), ST_YMin(geom), ST_XMax(geom), ST_YMax(geom) FROM jurisdictions WHERE adcode = :a"
        ),
        {"a": adcode},
    ).one()
    admin = j["level"] in {str(x) for x in ADMIN_LEVELS}
    pattern = _ADMIN_SCOPE if admin else _ZONE_SCOPE
    return _Scope(
        adcode,
        str(j["name"]),
        str(j["level"]),
        tuple(float(v) for v in bounds),  # type: ignore[arg-type]
        pattern.format(t="u"),
        pattern.format(t="t"),
        subtree_codes(conn, [adcode]) if admin else [],
    )


def _frame(rows: Sequence[Any], keys: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame([tuple(r) for r in rows], columns=list(keys))


def _decode_lines(frame: pd.DataFrame, column: str = "line") -> pd.DataFrame:
    if column in frame and len(frame):
        frame[column] = list(shapely.from_wkb([bytes(b) for b in frame[column]]))
    return frame


# --- violations -----------------------------------------------------------------------------------------------


@dataclass
class ViolationReport:
    """What violations_sql finds in one jurisdiction."""

    adcode: str
    name: str
    violations: pd.DataFrame  # geo.safety_distance.VIOLATION_COLUMNS (+ line, side)
    pairs: pd.DataFrame  # every candidate pair with required_m and status (violation / advise / ok)
    hazards_checked: int
    unchecked: list[dict[str, Any]] = field(default_factory=list)


def candidate_pairs_sql(
    conn: Connection,
    adcode: str,
    *,
    reach_factor: float = 1.0,
    with_lines: bool = True,
    consultation: bool = True,
) -> pd.DataFrame:
    """Candidate pairs (PAIR_COLUMNS, hazard_in_scope, target_in_scope, line) of an adcode: every hazard
    and target within reach_factor × the hazard's largest required distance or its level's consultation
    distance (only the inner zone when not `consultation`), one side filed here."""
    scope = _scope(conn, adcode)
    sql, params = _candidates_statement(scope, reach_factor, with_lines, consultation)
    with _planner(conn):
        result = conn.execute(text(sql), params)
        frame = _frame(result.all(), list(result.keys()))
    return _decode_lines(frame)


def _candidates_statement(
    scope: _Scope, reach_factor: float, with_lines: bool, consultation: bool = True
) -> tuple[str, dict[str, Any]]:
    zones = _zone_params(consultation)
    xmin, ymin, xmax, ymax = degree_box(
        scope.bounds, max([reach_factor * sd.max_reach_m(), *zones["z_dist"]])
    )
    sql = _CANDIDATES.format(h_scope=scope.h_scope, t_scope=scope.t_scope, line=_LINE if with_lines else "")
    params = {
        **scope.params,
        "factor": float(reach_factor),
        "xmin": xmin,
        "ymin": ymin,
        "xmax": xmax,
        "ymax": ymax,
        **_rule_params(),
        **zones,
    }
    return sql, params


def contour_hits_sql(conn: Connection, adcode: str) -> pd.DataFrame:
    """Targets inside risk contours (any level), the contour's unit or the target filed in adcode."""
    scope = _scope(conn, adcode)
    result = conn.execute(
        text(_CONTOUR_HITS.format(h_scope=scope.h_scope, t_scope=scope.t_scope)), scope.params
    )
    return _frame(result.all(), list(result.keys()))


def violations_sql(
    conn: Connection,
    principal: Principal,
    adcode: str,
    *,
    with_lines: bool = True,
    advise_factor: float = sd.ADVISE_FACTOR,
    advice: bool = True,
) -> ViolationReport:
    """Every (hazard, target) pair of the adcode (either filed here) closer than its required distance,
    a highly sensitive target inside a level-1 unit's inner consultation zone, or a target inside a risk
    contour its class may not be in, as geo.safety_distance.violations computes it. With `advice`,
    `pairs` holds every screened pair (status 'advise' within advise_factor × required or inside a
    level-1/2 unit's consultation zone), for the summary and maps; without, only the violations' search
    is done (reach: the tabulated distances and the inner zones). Admins and the area's regulators only
    (the other side of a pair may lie across the border)."""
    repo.require_area(conn, principal, adcode, detail=True)
    scope = _scope(conn, adcode)
    # Lines are drawn for the violations only, after the fact: most candidates are not violations.
    pairs = candidate_pairs_sql(
        conn, adcode, reach_factor=advise_factor if advice else 1.0, with_lines=False, consultation=advice
    )
    found = sd.assess_violations(pairs, contour_hits_sql(conn, adcode))
    found["side"] = [
        "both" if h and t else "hazard" if h else "target"
        for h, t in zip(found["hazard_in_scope"].tolist(), found["target_in_scope"].tolist(), strict=True)
    ]
    if with_lines:
        found["line"] = None
        if len(found):
            _fill_missing_lines(conn, found)
    result = conn.execute(
        text(_HAZARD_KINDS_HERE.format(h_scope=scope.h_scope)),
        {**scope.params, "levels": sd.screened_levels()},
    )
    hazards = _frame(result.all(), list(result.keys()))
    unchecked = sd.unchecked_hazards(hazards)
    return ViolationReport(
        adcode=adcode,
        name=scope.name,
        violations=found,
        pairs=sd.assess_pairs(pairs, advise_factor=advise_factor if advice else 1.0),
        hazards_checked=len(hazards) - len(unchecked),
        unchecked=unchecked,
    )


def _num(value: Any) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def _fill_missing_lines(conn: Connection, found: pd.DataFrame) -> None:
    """The shortest line of each pair that has none yet, measured in the pair's zone, back in EPSG:4490."""
    missing = [i for i, line in enumerate(found["line"]) if not isinstance(line, BaseGeometry)]
    if not missing:
        return
    rows = conn.execute(
        text(
            """
            SELECT ST_AsBinary(ST_Transform(ST_ShortestLine(ST_Transform(u.geom, p.epsg), ST_Transform(t.geom, p.epsg)), 4490))
            FROM unnest(CAST(:h AS bigint[]), CAST(:t AS bigint[]), CAST(:e AS int[])) WITH ORDINALITY AS p(h, t, epsg, n)
            JOIN risk_units u ON u.id = p.h JOIN protection_targets t ON t.id = p.t
            ORDER BY p.n
            """
        ),
        {
            "h": [int(v) for v in found["hazard_id"].to_numpy()[missing]],
            "t": [int(v) for v in found["target_id"].to_numpy()[missing]],
            "e": [int(v) for v in found["epsg"].to_numpy()[missing]],
        },
    ).scalars()
    lines = list(found["line"])
    for i, wkb in zip(missing, rows, strict=True):
        lines[i] = shapely.from_wkb(bytes(wkb))
    found["line"] = lines


def explain_violations(conn: Connection, adcode: str, *, analyze: bool = False) -> str:
    """The plan of the candidate-pair statement (EXPLAIN, or EXPLAIN ANALYZE): it must probe the targets'
    GiST index (ix_protection_targets_geom_gist) once per hazard."""
    scope = _scope(conn, adcode)
    sql, params = _candidates_statement(
        scope, 1.0, False, consultation=False
    )  # as violations_sql(advice=False)
    prefix = "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) " if analyze else "EXPLAIN (COSTS OFF) "
    with _planner(conn):
        return "\n".join(str(r[0]) for r in conn.execute(text(prefix + sql), params))


def hazards_in(conn: Connection, principal: Principal, adcode: str) -> gpd.GeoDataFrame:
    """Risk units with a hazard kind filed in the adcode (id, name, hazard_kind, capacity_m3, enterprise_id,
    jurisdiction_adcode, level, enterprise_name, geometry)."""
    repo.require_area(conn, principal, adcode, detail=True)
    scope = _scope(conn, adcode)
    result = conn.execute(
        text(_HAZARDS_HERE.format(h_scope=scope.h_scope)), {**scope.params, "levels": sd.screened_levels()}
    )
    return _geo_frame(result.all(), list(result.keys()))


def targets_in(conn: Connection, principal: Principal, adcode: str) -> gpd.GeoDataFrame:
    """Protection targets filed in the adcode, with their outline's geodesic area (target_area_m2)."""
    repo.require_area(conn, principal, adcode, detail=True)
    scope = _scope(conn, adcode)
    result = conn.execute(text(_TARGETS_HERE.format(t_scope=scope.t_scope)), scope.params)
    return _geo_frame(result.all(), list(result.keys()))


def hazards_by_id(conn: Connection, principal: Principal, ids: Sequence[int]) -> gpd.GeoDataFrame:
    """Risk units by id, as hazards_in gives them (for hazards outside a scope that a violation names)."""
    repo.require_detail(principal)
    result = conn.execute(
        text(
            "SELECT u.id, u.name, u.hazard_kind, u.capacity_m3, u.enterprise_id, u.jurisdiction_adcode, u.level, "
            "e.name AS enterprise_name, ST_AsBinary(u.geom) AS wkb FROM risk_units u "
            "LEFT JOIN enterprises e ON e.id = u.enterprise_id WHERE u.id = ANY(CAST(:ids AS bigint[])) ORDER BY u.id"
        ),
        {"ids": [int(i) for i in ids]},
    )
    return _geo_frame(result.all(), list(result.keys()))


def targets_by_id(conn: Connection, principal: Principal, ids: Sequence[int]) -> gpd.GeoDataFrame:
    """Protection targets by id, as targets_in gives them."""
    repo.require_detail(principal)
    result = conn.execute(
        text(
            "SELECT t.id, t.name, t.type, t.gb_class, t.population, t.households, t.population_estimated, "
            f"t.jurisdiction_adcode, {_AREA_SQL} AS target_area_m2, ST_AsBinary(t.geom) AS wkb "
            "FROM protection_targets t WHERE t.id = ANY(CAST(:ids AS bigint[])) ORDER BY t.id"
        ),
        {"ids": [int(i) for i in ids]},
    )
    return _geo_frame(result.all(), list(result.keys()))


def _geo_frame(rows: Sequence[Any], keys: list[str]) -> gpd.GeoDataFrame:
    frame = _frame(rows, keys)
    wkb = frame.pop("wkb") if "wkb" in frame else pd.Series(dtype=object)
    geoms = shapely.from_wkb([bytes(b) for b in wkb]) if len(wkb) else np.array([], dtype=object)
    return gpd.GeoDataFrame(frame, geometry=list(geoms), crs=SRID)


# --- siting check --------------------------------------------------------------------------------------------


def _around(
    conn: Connection,
    sql: str,
    geometry: BaseGeometry,
    epsg: int,
    reach: float,
    kind_reach: float | None = None,
) -> list[dict[str, Any]]:
    """Rows within `reach` metres of one geometry, as dicts (a handful: no DataFrame, no planner settings);
    for _HAZARDS_NEAR, units of levels 3–4 within `kind_reach`."""
    xmin, ymin, xmax, ymax = degree_box(geometry.bounds, reach)
    params = {"wkb": shapely.to_wkb(geometry), "epsg": epsg, "reach": float(reach),
              "xmin": xmin, "ymin": ymin, "xmax": xmax, "ymax": ymax}  # fmt: skip
    if sql is _HAZARDS_NEAR:
        k = float(reach if kind_reach is None else min(kind_reach, reach))
        kx0, ky0, kx1, ky1 = degree_box(geometry.bounds, k)
        params |= {"levels": sd.screened_levels(), "kreach": k, "kxmin": kx0, "kymin": ky0, "kxmax": kx1,
                   "kymax": ky1}  # fmt: skip
    result = conn.execute(text(sql), params)
    keys = list(result.keys())
    rows = [dict(zip(keys, r, strict=True)) for r in result]
    for row in rows:
        row["line"] = shapely.from_wkb(bytes(row["line"]))
        row["epsg"] = epsg
    return rows


def siting_check_sql(
    conn: Connection,
    principal: Principal,
    geometry: BaseGeometry,
    proposal: sd.Proposal,
    *,
    advise_factor: float = sd.ADVISE_FACTOR,
) -> sd.SitingResult:
    """The siting check (一票否决) of a proposal at `geometry` (EPSG:4490) against the stored register,
    as geo.safety_distance.siting_check computes it. Admins, and regulators for a site wholly inside their
    area (403 naming the parts outside); what lies across the area's border near the site counts for the
    verdict but is not named (docs/security.md, "Analyses that take a geometry")."""
    repo.require_detail(principal, "run siting checks (they name existing hazards and targets)")
    require_inside_area(conn, principal, geometry)
    area = visible_adcodes(conn, principal)
    epsg = sd.zone_epsg(geometry)
    reach = sd.siting_reach_m(proposal, advise_factor)
    hits = None
    if isinstance(proposal, sd.HazardProposal):
        candidates = _around(conn, _TARGETS_NEAR, geometry, epsg, reach) if reach > 0 else []
    else:
        # Levels 3–4 matter only within the largest tabulated distance × advise_factor (unchecked ones too).
        kind_reach = advise_factor * sd.max_reach_m()
        candidates = _around(conn, _HAZARDS_NEAR, geometry, epsg, reach, kind_reach)
        hits = _contours_under(conn, geometry, epsg)
    visible = None if area is None else _in(area)
    return sd.assess_siting(
        proposal, candidates, hits, epsg=epsg, advise_factor=advise_factor, visible=visible
    )


def _in(area: frozenset[str]) -> Any:
    def visible(adcode: str | None) -> bool:
        return adcode is not None and adcode in area

    return visible


def visible_adcodes(conn: Connection, principal: Principal) -> frozenset[str] | None:
    """The adcodes whose rows the principal may see one by one (repository.visible's rule for regulators;
    None: all, for admins; empty for everyone else)."""
    if principal.is_admin:
        return None
    if principal.role is not Role.regulator:
        return frozenset()
    return frozenset(str(a) for a in conn.execute(repo.area_of(principal)).scalars())


def require_inside_area(conn: Connection, principal: Principal, geometry: BaseGeometry) -> None:
    """403 unless every part of `geometry` lies inside the principal's jurisdictions (admins: anywhere)."""
    if principal.is_admin:
        return
    parts = list(getattr(geometry, "geoms", [geometry]))
    inside = conn.execute(
        text(
            f"""
            SELECT p.n, coalesce((SELECT ST_Covers(ST_Union(j.geom), ST_GeomFromWKB(p.wkb, {SRID}))
                FROM jurisdictions j WHERE j.adcode = ANY(CAST(:adcodes AS text[]))), false)
            FROM unnest(CAST(:wkbs AS bytea[])) WITH ORDINALITY AS p(wkb, n) ORDER BY p.n
            """
        ),
        {"adcodes": list(principal.adcodes), "wkbs": [shapely.to_wkb(g) for g in parts]},
    ).all()
    outside = [int(n) for n, ok in inside if not ok]
    if outside:
        which = (
            "the geometry"
            if len(parts) == 1
            else f"part{'s' if len(outside) > 1 else ''} {', '.join(str(n - 1) for n in outside)} of the geometry"
        )
        raise Forbidden(
            f"geometry: {which} (counted from 0) lies outside your jurisdictions "
            f"({', '.join(principal.adcodes)}): a siting check runs on a site wholly inside them "
            "(几何图形超出您的辖区)"
        )


def _contours_under(conn: Connection, geometry: BaseGeometry, epsg: int) -> list[dict[str, Any]]:
    result = conn.execute(text(_CONTOURS_UNDER), {"wkb": shapely.to_wkb(geometry), "epsg": epsg})
    keys = list(result.keys())
    rows = [dict(zip(keys, r, strict=True)) for r in result]
    if rows:
        g_m = sd.to_zone(np.array([geometry], dtype=object), epsg)[0]
        contours = sd.to_zone(shapely.from_wkb([bytes(r.pop("contour_wkb")) for r in rows]), epsg)
        for row, c in zip(rows, contours, strict=True):
            row["escape_m"] = sd.escape_distance(g_m, c)
    return rows


def explain_siting(conn: Connection, geometry: BaseGeometry, reach: float) -> str:
    """The plan of the siting check's target search (for the benchmark's notes and the tests)."""
    epsg = sd.zone_epsg(geometry)
    xmin, ymin, xmax, ymax = degree_box(geometry.bounds, reach)
    params = {"wkb": shapely.to_wkb(geometry), "epsg": epsg, "reach": reach, "xmin": xmin, "ymin": ymin,
              "xmax": xmax, "ymax": ymax}  # fmt: skip
    with _planner(conn):
        return "\n".join(
            str(r[0]) for r in conn.execute(text("EXPLAIN (COSTS OFF) " + _TARGETS_NEAR), params)
        )


# --- exposure ----------------------------------------------------------------------------------------------


def risk_unit_geometry(conn: Connection, principal: Principal, risk_unit_id: int) -> dict[str, Any]:
    """A risk unit the principal may see (else NotFound, as for GET /risk-units/{id})."""
    repo.get_feature(conn, principal, repo.RISK_UNITS, risk_unit_id)
    row = (
        conn.execute(
            text(
                "SELECT id, name, hazard_kind, capacity_m3, jurisdiction_adcode, ST_AsBinary(geom) AS wkb "
                "FROM risk_units WHERE id = :id"
            ),
            {"id": risk_unit_id},
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"no risk unit with id {risk_unit_id}")
    out = dict(row)
    out["geometry"] = shapely.from_wkb(bytes(out.pop("wkb")))
    return out


_EXPOSURE_COLUMNS: Final = [
    "target_id", "target_name", "target_type", "gb_class", "population", "households", "population_estimated",
    "target_area_m2", "target_adcode", "distance_m", "line", "epsg",
]  # fmt: skip


def exposure_sql(
    conn: Connection, principal: Principal, risk_unit_id: int, bands: Sequence[float] = sd.DEFAULT_BANDS
) -> dict[str, Any]:
    """People, households and targets in distance bands around a risk unit (edge to edge, metres), for
    whoever may see the unit (its enterprise too: the bands are counts). The counts take every target; the
    ids only those the caller may see (`target_ids_outside_scope` counts the others)."""
    unit = risk_unit_geometry(conn, principal, risk_unit_id)
    geom = unit["geometry"]
    epsg = sd.zone_epsg(geom)
    near = _around(conn, _TARGETS_NEAR, geom, epsg, float(max(bands)))
    out_bands = sd.exposure_bands(pd.DataFrame(near, columns=_EXPOSURE_COLUMNS), bands)
    area = visible_adcodes(conn, principal)
    if area is not None:
        where = {int(r["target_id"]): r["target_adcode"] for r in near}
        for band in out_bands:
            ids = band["target_ids"]
            band["target_ids"] = [i for i in ids if where.get(i) in area]
            band["target_ids_outside_scope"] = len(ids) - len(band["target_ids"])
    return {
        "risk_unit_id": int(unit["id"]),
        "name": unit["name"],
        "hazard_kind": unit["hazard_kind"],
        "jurisdiction_adcode": unit["jurisdiction_adcode"],
        "epsg": epsg,
        "geometry": geom,
        "bands": out_bands,
    }


# --- risk contours -------------------------------------------------------------------------------------------


def replace_risk_contours(
    conn: Connection,
    principal: Principal,
    risk_unit_id: int,
    contours: Sequence[tuple[float, BaseGeometry, str | None]],
) -> list[dict[str, Any]]:
    """Replace a risk unit's individual-risk contours with (individual_risk per year, polygon, source),
    if the principal may change the unit (404 if it cannot see it, 403 if it may not write it)."""
    unit = repo.get_feature(conn, principal, repo.RISK_UNITS, risk_unit_id)
    repo.check_write(conn, principal, repo.RISK_UNITS, unit)
    repo.set_actor(conn, principal)
    levels = [float(r) for r, _, _ in contours]
    if len(set(levels)) != len(levels):
        raise InvalidInput.one("features", "one contour per risk level", "每个风险等级只能有一条等值线")
    conn.execute(text("DELETE FROM risk_contours WHERE risk_unit_id = :id"), {"id": risk_unit_id})
    if contours:
        conn.execute(
            text(
                f"INSERT INTO risk_contours (risk_unit_id, individual_risk, geom, source) "
                f"SELECT :id, r, ST_GeomFromWKB(w, {SRID}), s FROM unnest(CAST(:r AS float8[]), "
                "CAST(:w AS bytea[]), CAST(:s AS text[])) AS c(r, w, s)"
            ),
            {
                "id": risk_unit_id,
                "r": levels,
                "w": [shapely.to_wkb(as_multipolygon(g)) for _, g, _ in contours],
                "s": [s for _, _, s in contours],
            },
        )
    return risk_contours(conn, principal, risk_unit_id)


def risk_contours(
    conn: Connection, principal: Principal, risk_unit_id: int | None = None
) -> list[dict[str, Any]]:
    """Stored contours (id, risk_unit_id, individual_risk, source, geometry), of one unit (that the
    principal may see) or all (admins and regulators)."""
    if risk_unit_id is None:
        repo.require_detail(principal)
    else:
        repo.get_feature(conn, principal, repo.RISK_UNITS, risk_unit_id)
    rows = conn.execute(
        text(
            "SELECT id, risk_unit_id, individual_risk, source, ST_AsBinary(geom) AS wkb FROM risk_contours "
            "WHERE CAST(:id AS bigint) IS NULL OR risk_unit_id = :id ORDER BY risk_unit_id, individual_risk"
        ),
        {"id": risk_unit_id},
    ).mappings()
    return [
        {**{k: v for k, v in r.items() if k != "wkb"}, "geometry": shapely.from_wkb(bytes(r["wkb"]))}
        for r in rows
    ]


def load_frames(
    conn: Connection, bounds: Sequence[float] | None = None
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """(hazards, targets, contours) stored in a lon/lat box (all when None): the reference's input."""
    box = list(bounds) if bounds is not None else [-180.0, -90.0, 180.0, 90.0]
    env = f"ST_MakeEnvelope(:xmin, :ymin, :xmax, :ymax, {SRID})"
    p = dict(zip(("xmin", "ymin", "xmax", "ymax"), (float(v) for v in box), strict=True))
    h = conn.execute(
        text(
            "SELECT id, name, hazard_kind, capacity_m3, enterprise_id, jurisdiction_adcode, level, "
            "ST_AsBinary(geom) AS wkb FROM risk_units "
            f"WHERE (hazard_kind IS NOT NULL OR level = ANY(CAST(:levels AS int[]))) AND geom && {env} ORDER BY id"
        ),
        {**p, "levels": sd.screened_levels()},
    )
    hazards = _geo_frame(h.all(), list(h.keys()))
    t = conn.execute(
        text(
            "SELECT id, name, type, gb_class, population, households, population_estimated, jurisdiction_adcode, "
            f"ST_AsBinary(geom) AS wkb FROM protection_targets WHERE geom && {env} ORDER BY id"
        ),
        p,
    )
    targets = _geo_frame(t.all(), list(t.keys()))
    c = conn.execute(
        text(
            "SELECT id, risk_unit_id, individual_risk, ST_AsBinary(geom) AS wkb FROM risk_contours "
            f"WHERE geom && {env} ORDER BY id"
        ),
        p,
    )
    contours = _geo_frame(c.all(), list(c.keys()))
    return hazards, targets, contours
