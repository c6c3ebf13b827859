"""The regional four-colour map (区域安全风险四色图) computed in PostGIS over the stored risk units.

Same rules and output as the GeoPandas reference `geo.four_colour.four_colour` (see its docstring).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Final, TypeAlias

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Connection, text

from geo.errors import InvalidInput
from geo.four_colour import (
    DEFAULT_RULE,
    SRID,
    ZoneTotals,
    check_zone_geometries,
    check_zones,
    distinct_ids_per_zone,
    four_colour_options,
    summarise,
)


@dataclass(frozen=True)
class ZoneQuery:
    """Zones given by SQL: a SELECT yielding (code, name, geom) in that column order (any names;
    geometries in any SRID, transformed to 4490), values bound as :name parameters, e.g. the
    children of a jurisdiction::

        ZoneQuery("SELECT adcode, name, geom FROM jurisdictions WHERE parent_adcode = :a", {"a": "350505"})

    Codes must be unique. The output follows the select's row order. The select runs twice (zone
    list, then the aggregation); without ORDER BY in it PostgreSQL can split the aggregation
    between two processes, which on big zone sets halves the time (bench/results/four_colour.md).
    """

    sql: str
    params: Mapping[str, Any] = field(default_factory=dict)


ZoneSource: TypeAlias = gpd.GeoDataFrame | ZoneQuery

# The zones of a GeoDataFrame, staged per call and dropped after it (a failed call leaves it to the
# rollback, or to the next call on the session when autocommitting). No GiST index on the
# zones on purpose: it would only enable a units-outer join, measured ~10× slower than probing the
# units' GiST once per zone (bench/results/four_colour.md).
_STAGE_ZONES = (
    "DROP TABLE IF EXISTS pg_temp.four_colour_zones",
    """
    CREATE TEMP TABLE four_colour_zones (
        ord integer PRIMARY KEY, code text, name text, geom geometry(Geometry, 4490) NOT NULL
    )
    """,
    """
    INSERT INTO four_colour_zones (ord, code, name, geom)
    SELECT t.ord, t.code, t.name, ST_GeomFromWKB(t.wkb, 4490)
    FROM unnest(CAST(:codes AS text[]), CAST(:names AS text[]), CAST(:wkbs AS bytea[]))
        WITH ORDINALITY AS t(code, name, wkb, ord)
    """,
    "ANALYZE four_colour_zones",
)
_STAGED_ZONES = "SELECT ord, name, geom FROM four_colour_zones"
_STAGED_AREAS = "SELECT ST_Area(geom::geography, true) FROM four_colour_zones ORDER BY ord"

# The zone list of a ZoneQuery, in the select's order, in EPSG:4490.
_ZONE_LIST = """
SELECT z.code::text AS code, z.name::text AS name, ST_AsBinary(ST_Transform(z.geom, 4490)) AS wkb,
    ST_Area(ST_Transform(z.geom, 4490)::geography, true) AS area_m2
FROM ({zones}) AS z(code, name, geom)
"""

# One row per zone that has counted units. Per (zone, unit) candidate of the units' GiST, `area` is
# NULL when the unit does not count, else its geodesic area inside the zone (0 for points and lines;
# unused without area shares). The cheapest test that decides comes first: a unit wholly
# inside (prepared ST_ContainsProperly, cached per zone) counts with its stored area; only units
# crossing the boundary pay for an intersection, or without areas, for ST_Touches unless one of
# two vertices lies strictly inside the zone (then the interiors meet; point-in-polygon is cached).
# A polygon counts when its intersection with the zone has an area: for valid polygons that is
# exactly "intersects and does not only touch", and the area is needed anyway.
_FOUR_COLOUR = """
SELECT p.key,
    count(*) FILTER (WHERE p.level = 1) AS n1, count(*) FILTER (WHERE p.level = 2) AS n2,
    count(*) FILTER (WHERE p.level = 3) AS n3, count(*) FILTER (WHERE p.level = 4) AS n4,
    coalesce(sum(p.area) FILTER (WHERE p.level = 1), 0) AS a1,
    coalesce(sum(p.area) FILTER (WHERE p.level = 2), 0) AS a2,
    coalesce(sum(p.area) FILTER (WHERE p.level = 3), 0) AS a3,
    coalesce(sum(p.area) FILTER (WHERE p.level = 4), 0) AS a4,
    -- as text, parsed in one go by numpy: psycopg2 parsing 10^5-10^6 array elements is slower
    count(p.enterprise_id) AS n_ids, string_agg(p.enterprise_id::text, ',') AS ids
FROM (
    SELECT z.key, u.level, u.enterprise_id,
        CASE
            WHEN ST_ContainsProperly(z.geom, u.geom) THEN u.area_m2
            WHEN NOT ST_Intersects(z.geom, u.geom) THEN NULL
            WHEN ST_Dimension(u.geom) = 0 THEN 0
            WHEN ST_Dimension(u.geom) = 2 AND :four_colour_with_area
                THEN NULLIF(ST_Area(ST_Intersection(z.geom, u.geom)::geography, true), 0)
            WHEN ST_Dimension(u.geom) = 2 AND (
                ST_Contains(z.geom, ST_PointN(ST_ExteriorRing(u.geom), 1))
                OR ST_Contains(z.geom, ST_PointN(ST_ExteriorRing(u.geom), 3))) THEN 0
            WHEN ST_Touches(z.geom, u.geom) THEN NULL
            ELSE 0
        END AS area
    -- ST_Transform (a no-op for EPSG:4490) makes the zone geometry an expression, so the planner
    -- cannot turn the join round and probe the zones' index once per unit (~10x slower).
    FROM (SELECT z.key, ST_Transform(z.geom, 4490) AS geom FROM ({zones}) AS z(key, name, geom)) AS z
    JOIN risk_units u ON u.geom && z.geom
    OFFSET 0  -- keeps the CASE from being inlined, and evaluated again, in every aggregate below
) AS p
WHERE p.area IS NOT NULL
GROUP BY p.key
"""

# Per-statement planner settings (set_config(..., true) lasts to the end of the transaction, so the
# previous values are put back after the statement). JIT only adds compile time to these plans;
# hash aggregation saves sorting the pairs.
PLANNER_SETTINGS: Final[Mapping[str, str]] = {
    "jit": "off",
    "enable_sort": "off",
    "max_parallel_workers_per_gather": "0",
}
# With many zones: on 2 cores the zones-outer nested loop split between one worker and the leader
# takes half the time of the serial plan. (Parallel scans hand out whole pages: a few zones would all
# go to one process, so small maps stay serial and skip the worker start-up.)
PARALLEL_SETTINGS: Final[Mapping[str, str]] = {
    "max_parallel_workers_per_gather": "1",
    "parallel_setup_cost": "0",
    "parallel_tuple_cost": "0",
    "min_parallel_table_scan_size": "0",
}
PARALLEL_MIN_ZONES: Final = 64

_UNITS_IN_BBOX = """
SELECT id, level, enterprise_id, area_m2, ST_AsBinary(geom) AS wkb FROM risk_units
WHERE geom && ST_MakeEnvelope(:xmin, :ymin, :xmax, :ymax, 4490)
ORDER BY id
"""
_UNITS_IN_ZONE = """
SELECT id, level, enterprise_id, area_m2, ST_AsBinary(geom) AS wkb FROM risk_units
WHERE ST_Intersects(geom, ST_GeomFromWKB(:wkb, 4490))
ORDER BY id
"""


def four_colour_sql(
    conn: Connection,
    zones: ZoneSource,
    *,
    rule: str = DEFAULT_RULE,
    weights: Mapping[Any, float] | None = None,
    breaks: Sequence[float] | None = None,
    palette: Mapping[Any, str] | None = None,
    area_share: bool = True,
) -> gpd.GeoDataFrame:
    """The four-colour map of `zones` from the stored risk units, as `geo.four_colour.four_colour`
    computes it. `area_share=False` skips the intersections of polygon units with the zone
    boundaries (two thirds of the time on big maps) and reports `area_share` as None.
    """
    options = four_colour_options(rule=rule, weights=weights, breaks=breaks, palette=palette)
    if isinstance(zones, ZoneQuery):
        codes, names, geoms, zone_area, zones_sql, params = _zone_query(conn, zones)
        keys: list[Any] = list(codes)
    elif isinstance(zones, gpd.GeoDataFrame):
        frame = check_zones(zones)
        codes, names = frame["code"].tolist(), frame["name"].tolist()
        geoms = np.asarray(frame.geometry.array, dtype=object)
        zone_area = _stage_zones(conn, codes, names, geoms)
        zones_sql, params, keys = _STAGED_ZONES, {}, list(range(1, len(codes) + 1))
    else:
        raise TypeError(f"zones must be a GeoDataFrame or a ZoneQuery, not {type(zones).__name__}")

    sql = _with_zones(_FOUR_COLOUR, zones_sql)
    planner = {**PLANNER_SETTINGS, **(PARALLEL_SETTINGS if len(keys) >= PARALLEL_MIN_ZONES else {})}
    with _planner(conn, planner):
        rows = conn.execute(text(sql), {**params, "four_colour_with_area": area_share}).all()
    if isinstance(zones, gpd.GeoDataFrame):
        conn.execute(text(_STAGE_ZONES[0]))

    totals = _totals(rows, keys, zone_area, with_area=area_share)
    return summarise(codes, names, geoms, totals, options)


def _totals(rows: Sequence[Any], keys: list[Any], zone_area: np.ndarray, *, with_area: bool) -> ZoneTotals:
    """The aggregation's rows (zones with counted units only) spread over all zones, in order."""
    n = len(keys)
    counts = np.zeros((n, 4), dtype=np.int64)
    area = np.zeros((n, 4))
    if not rows:
        return ZoneTotals(counts, area if with_area else None, zone_area, [[] for _ in range(n)])
    at = pd.Index(keys).get_indexer([r[0] for r in rows])
    numbers = np.array([r[1:10] for r in rows], dtype=np.float64)
    counts[at] = numbers[:, 0:4]
    area[at] = numbers[:, 4:8]
    joined = ",".join(r[10] for r in rows if r[10])
    ids = np.array(joined.split(","), dtype=np.int64) if joined else np.zeros(0, dtype=np.int64)
    zone = np.repeat(at, numbers[:, 8].astype(np.int64))
    return ZoneTotals(counts, area if with_area else None, zone_area, distinct_ids_per_zone(n, zone, ids))


def _with_zones(template: str, zones_sql: str) -> str:
    """The statement with the zones' select in it: SQL of this module or of a developer's
    ZoneQuery, never a user's value (those are bound parameters)."""
    return template.replace("{zones}", zones_sql)


def _zone_query(
    conn: Connection, zones: ZoneQuery
) -> tuple[list[Any], list[Any], np.ndarray, np.ndarray, str, dict[str, Any]]:
    sql = zones.sql.strip().rstrip(";")
    params = dict(zones.params)
    rows = conn.execute(text(_with_zones(_ZONE_LIST, sql)), params).all()
    codes = [r.code for r in rows]
    if len(set(codes)) != len(codes) or any(c is None for c in codes):
        raise InvalidInput.one("zones", "zone codes must be present and unique", "区域编码须非空且唯一")
    geoms = shapely.from_wkb([bytes(r.wkb) for r in rows]) if rows else np.array([], dtype=object)
    check_zone_geometries(geoms)
    zone_area = np.array([r.area_m2 for r in rows], dtype=np.float64)
    return codes, [r.name for r in rows], np.asarray(geoms, dtype=object), zone_area, sql, params


def _stage_zones(conn: Connection, codes: list[Any], names: list[Any], geoms: np.ndarray) -> np.ndarray:
    """Load the zones into the per-call TEMP table; their geodesic areas in input order."""
    params = {
        "codes": [None if c is None else str(c) for c in codes],
        "names": [None if pd.isna(x) else str(x) for x in names],
        "wkbs": list(shapely.to_wkb(geoms)),
    }
    for i, statement in enumerate(_STAGE_ZONES):
        conn.execute(text(statement), params if i == 2 else {})
    return np.array(conn.execute(text(_STAGED_AREAS)).scalars().all(), dtype=np.float64)


@contextmanager
def _planner(conn: Connection, settings: Mapping[str, str]) -> Iterator[None]:
    """Planner settings for the statements inside, the previous values restored after them."""
    names = list(settings)
    before: dict[str, str] = dict(
        conn.execute(
            text("SELECT name, current_setting(name) FROM unnest(CAST(:names AS text[])) AS name"),
            {"names": names},
        ).all()
    )
    set_all = text(
        "SELECT set_config(name, value, true) FROM unnest(CAST(:n AS text[]), CAST(:v AS text[])) AS s(name, value)"
    )
    conn.execute(set_all, {"n": names, "v": [settings[k] for k in names]})
    yield
    # Not reached when the statement failed: the transaction is aborted and its SET LOCALs go with it.
    conn.execute(set_all, {"n": names, "v": [before[k] for k in names]})


def load_units_frame(
    conn: Connection, where: tuple[float, float, float, float] | shapely.Geometry
) -> gpd.GeoDataFrame:
    """The stored risk units (id, level, enterprise_id, area_m2, geometry; EPSG:4490) whose bounding
    box meets `where` = (xmin, ymin, xmax, ymax), or that intersect the geometry `where` (e.g. the
    union of the zones): the input of the reference `geo.four_colour.four_colour`."""
    if isinstance(where, shapely.Geometry):
        result = conn.execute(text(_UNITS_IN_ZONE), {"wkb": shapely.to_wkb(where)})
    else:
        xmin, ymin, xmax, ymax = (float(v) for v in where)
        result = conn.execute(text(_UNITS_IN_BBOX), {"xmin": xmin, "ymin": ymin, "xmax": xmax, "ymax": ymax})
    cols = list(zip(*result.all(), strict=True)) or [(), (), (), (), ()]
    ids, levels, enterprise_ids, area_m2, wkbs = cols
    return gpd.GeoDataFrame(
        {
            "id": np.asarray(ids, dtype=np.int64),
            "level": np.asarray(levels, dtype=np.int64),
            "enterprise_id": pd.array(list(enterprise_ids), dtype="Int64"),
            "area_m2": np.asarray(area_m2, dtype=np.float64),
        },
        geometry=shapely.from_wkb([bytes(w) for w in wkbs]) if wkbs else [],
        crs=SRID,
    )
