"""The regional four-colour map (区域安全风险四色图) computed in PostGIS over the stored risk units.

Same rules and output as the GeoPandas reference `geo.four_colour.four_colour` (see its docstring).
Zones that are stored jurisdictions keep their totals in `four_colour_zone_totals`, which the
database's triggers keep current (migration 0007; see `ZoneQuery` and `_fill`).
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
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from geo import deadline
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

    With ``stored=True`` the codes are adcodes of `jurisdictions` and the geometries their stored
    ``geom`` (children, parks, grids): each zone's totals are then kept in ``four_colour_zone_totals``
    after the first map that needs them, and the database's triggers drop them whenever a risk unit
    near the zone or the zone itself is written, so a map reads cached zones and computes the rest.
    """

    sql: str
    params: Mapping[str, Any] = field(default_factory=dict)
    stored: bool = False


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
    SELECT t.ord + :offset, t.code, t.name, ST_GeomFromWKB(t.wkb, 4490)
    FROM unnest(CAST(:codes AS text[]), CAST(:names AS text[]), CAST(:wkbs AS bytea[]))
        WITH ORDINALITY AS t(code, name, wkb, ord)
    """,
    "ANALYZE four_colour_zones",
)
_STAGE_BATCH = 5_000
_STAGED_ZONES = "SELECT ord, name, geom FROM four_colour_zones"
_STAGED_AREAS = "SELECT ST_Area(geom::geography, true) FROM four_colour_zones ORDER BY ord"

# The zone list of a ZoneQuery, in the select's order, in EPSG:4490.
_ZONE_LIST = """
SELECT z.code::text AS code, z.name::text AS name, ST_AsBinary(ST_Transform(z.geom, 4490)) AS wkb,
    ST_Area(ST_Transform(z.geom, 4490)::geography, true) AS area_m2
FROM ({zones}) AS z(code, name, geom)
"""
# The same for stored zones, with their cached totals where there are some (area_m2 NULL where not).
_STORED_ZONE_LIST = """
SELECT z.code::text AS code, z.name::text AS name, ST_AsBinary(ST_Transform(z.geom, 4490)) AS wkb,
    t.zone_area_m2 AS area_m2, t.n1, t.n2, t.n3, t.n4, t.a1, t.a2, t.a3, t.a4, t.n_ids, t.ids
FROM (SELECT row_number() OVER () AS four_colour_ord, s.* FROM ({zones}) AS s(code, name, geom)) AS z
LEFT JOIN four_colour_zone_totals t ON t.zone_adcode = z.code
ORDER BY z.four_colour_ord
"""
_ZONE_AREAS = """
SELECT z.code::text, ST_Area(ST_Transform(z.geom, 4490)::geography, true) FROM ({zones}) AS z(code, name, geom)
"""
# The zones of a ZoneQuery whose totals are not cached.
_STALE_ZONES = """
SELECT s.code, s.name, s.geom FROM ({zones}) AS s(code, name, geom)
WHERE s.code::text = ANY(CAST(:four_colour_stale AS text[]))
"""
_STORE_TOTALS = """
INSERT INTO four_colour_zone_totals (zone_adcode, zone_area_m2, n1, n2, n3, n4, a1, a2, a3, a4, n_ids, ids)
SELECT * FROM unnest(
    CAST(:code AS text[]), CAST(:area AS float8[]), CAST(:n1 AS int[]), CAST(:n2 AS int[]), CAST(:n3 AS int[]),
    CAST(:n4 AS int[]), CAST(:a1 AS float8[]), CAST(:a2 AS float8[]), CAST(:a3 AS float8[]),
    CAST(:a4 AS float8[]), CAST(:n_ids AS int[]), CAST(:ids AS text[]))
ON CONFLICT (zone_adcode) DO NOTHING
"""
# Writers of risk_units and jurisdictions hold this advisory lock shared from the start of each
# statement to their commit and count their statements in a sequence (migration 0007). Holding it
# exclusively, a filler knows no write is in flight; the same count before reading and before storing
# means none started in between, so what it read is still current.
WRITE_LOCK: Final = 0x46435A54
_WRITE_MARK = """
SELECT CASE WHEN pg_try_advisory_xact_lock(:lock)
    THEN (SELECT last_value::text || ':' || is_called::text FROM four_colour_writes) END
"""

# One row per zone that has counted units. Per (zone, unit) candidate of the units' GiST, `area` is
# NULL when the unit does not count, else its geodesic area inside the zone (0 for points and lines;
# unused without area shares). The cheapest test that decides comes first: a unit wholly
# inside (prepared ST_ContainsProperly, cached per zone) counts with its stored area; only units
# crossing the boundary pay for an intersection, or without areas, for ST_Touches unless one of
# two vertices lies strictly inside the zone (then the interiors meet; point-in-polygon is cached).
# A polygon counts when its intersection with the zone has an area: for valid polygons that is
# exactly "intersects and does not only touch", and the area is needed anyway.
# A unit's counted area inside zone z (NULL: it does not count), shared by the totals and the raised pairs.
_COUNTED_AREA = """        CASE
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
        END AS area"""
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
{counted_area}
    -- ST_Transform (a no-op for EPSG:4490) makes the zone geometry an expression, so the planner
    -- cannot turn the join round and probe the zones' index once per unit (~10x slower).
    FROM (SELECT z.key, ST_Transform(z.geom, 4490) AS geom FROM ({zones}) AS z(key, name, geom)) AS z
    JOIN risk_units u ON u.geom && z.geom
    OFFSET 0  -- keeps the CASE from being inlined, and evaluated again, in every aggregate below
) AS p
WHERE p.area IS NOT NULL
GROUP BY p.key
""".replace("{counted_area}", _COUNTED_AREA)

# For a map of dynamic levels (open hidden hazards raise some units' levels): the (zone, unit) pairs of
# the raised units only, with each unit's stored and shown level and its counted area (as above), so the
# assessed totals (cached or not) are moved from one level to the other.
_RAISED_PAIRS = """
SELECT p.key, p.level, p.shown, p.area FROM (
    SELECT z.key, u.level, d.shown,
{counted_area}
    FROM (SELECT z.key, ST_Transform(z.geom, 4490) AS geom FROM ({zones}) AS z(key, name, geom)) AS z
    JOIN (risk_units u JOIN unnest(CAST(:raised_ids AS bigint[]), CAST(:raised_levels AS int[]))
        AS d(id, shown) ON d.id = u.id) ON u.geom && z.geom
    OFFSET 0
) AS p
WHERE p.area IS NOT NULL AND p.shown <> p.level
""".replace("{counted_area}", _COUNTED_AREA)

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
    shown_levels: Mapping[int, int] | None = None,
) -> gpd.GeoDataFrame:
    """The four-colour map of `zones` from the stored risk units, as `geo.four_colour.four_colour`
    computes it. `area_share=False` skips the intersections of polygon units with the zone
    boundaries (two thirds of the time on big maps) and reports `area_share` as None.

    `shown_levels` (unit id → level) maps the units whose shown level differs from the stored one (the
    dynamic levels of units with open hidden hazards, geo.store.hazards.raised_levels): the totals are
    computed from the stored levels (from the cache where it has them) and those units moved to their
    shown level; `raised_units` then counts them per zone.
    """
    options = four_colour_options(rule=rule, weights=weights, breaks=breaks, palette=palette)
    cached: list[Any] = []
    if isinstance(zones, ZoneQuery):
        codes, names, geoms, zone_area, zones_sql, params, cached = _zone_query(conn, zones)
        keys: list[Any] = list(codes)
    elif isinstance(zones, gpd.GeoDataFrame):
        frame = check_zones(zones)
        codes, names = frame["code"].tolist(), frame["name"].tolist()
        geoms = np.asarray(frame.geometry.array, dtype=object)
        zone_area = _stage_zones(conn, codes, names, geoms)
        zones_sql, params, keys = _STAGED_ZONES, {}, list(range(1, len(codes) + 1))
    else:
        raise TypeError(f"zones must be a GeoDataFrame or a ZoneQuery, not {type(zones).__name__}")

    planner = {**PLANNER_SETTINGS, **(PARALLEL_SETTINGS if len(keys) >= PARALLEL_MIN_ZONES else {})}
    if isinstance(zones, ZoneQuery) and zones.stored:
        rows, zone_area = _stored_totals(conn, keys, cached, zones_sql, params, planner, with_area=area_share)
    else:
        rows = _aggregate(conn, zones_sql, params, planner, with_area=area_share)
    raised: np.ndarray | None = None
    pairs: list[Any] = []
    if shown_levels:
        pairs = _raised_pairs(conn, zones_sql, params, planner, shown_levels, with_area=area_share)
    if isinstance(zones, gpd.GeoDataFrame):
        conn.execute(text(_STAGE_ZONES[0]))

    totals = _totals(rows, keys, zone_area, with_area=area_share)
    if shown_levels is not None:
        raised = _move_levels(totals, keys, pairs)
    out = summarise(codes, names, geoms, totals, options)
    if raised is not None:
        out["raised_units"] = raised
    return out


def _raised_pairs(
    conn: Connection,
    zones_sql: str,
    params: Mapping[str, Any],
    planner: Mapping[str, str],
    shown_levels: Mapping[int, int],
    *,
    with_area: bool,
) -> list[Any]:
    ids = list(shown_levels)
    with _planner(conn, planner):
        result = conn.execute(
            text(_with_zones(_RAISED_PAIRS, zones_sql)),
            {
                **params,
                "four_colour_with_area": with_area,
                "raised_ids": ids,
                "raised_levels": [int(shown_levels[i]) for i in ids],
            },
        )
        return list(result.all())


def _move_levels(totals: ZoneTotals, keys: list[Any], pairs: Sequence[Any]) -> np.ndarray:
    """Move each raised (zone, unit) pair from its stored level to its shown one, in place; how many
    raised units each zone holds."""
    raised = np.zeros(len(keys), dtype=np.int64)
    if not pairs:
        return raised
    at = pd.Index(keys).get_indexer([p[0] for p in pairs])
    old = np.array([p[1] for p in pairs], dtype=np.int64) - 1
    new = np.array([p[2] for p in pairs], dtype=np.int64) - 1
    area = np.array([p[3] for p in pairs], dtype=np.float64)
    np.subtract.at(totals.counts, (at, old), 1)
    np.add.at(totals.counts, (at, new), 1)
    if totals.area_m2 is not None:
        np.subtract.at(totals.area_m2, (at, old), area)
        np.add.at(totals.area_m2, (at, new), area)
    np.add.at(raised, at, 1)
    return raised


def _aggregate(
    conn: Connection,
    zones_sql: str,
    params: Mapping[str, Any],
    planner: Mapping[str, str],
    *,
    with_area: bool,
) -> list[Any]:
    """_FOUR_COLOUR's rows (key, n1..n4, a1..a4, n_ids, ids) for the zones of `zones_sql`."""
    with _planner(conn, planner):
        result = conn.execute(
            text(_with_zones(_FOUR_COLOUR, zones_sql)), {**params, "four_colour_with_area": with_area}
        )
        return list(result.all())


def _stored_totals(
    conn: Connection,
    codes: list[Any],
    cached: list[Any],
    zones_sql: str,
    params: Mapping[str, Any],
    planner: Mapping[str, str],
    *,
    with_area: bool,
) -> tuple[list[Any], np.ndarray]:
    """Rows as _aggregate's and the zone areas, for stored zones: cached totals where there are
    some (`cached`: rows of (code, zone area, n1..n4, a1..a4, n_ids, ids)); the other zones
    aggregated, and stored when nothing was written meanwhile (`_fill`)."""
    area = {r[0]: r[1] for r in cached}
    rows: list[Any] = [(r[0], *r[2:]) for r in cached]
    stale = [c for c in codes if c not in area]
    if stale:
        if len(stale) < len(codes):
            zones_sql = _with_zones(_STALE_ZONES, zones_sql)
            params = {**params, "four_colour_stale": stale}
        got = _fill(conn, zones_sql, params, planner, stale)
        if got is None:  # a write in flight, or a snapshot older than this statement: not stored
            got = (
                _aggregate(conn, zones_sql, params, planner, with_area=with_area),
                _zone_areas(conn, zones_sql, params),
            )
        rows += got[0]
        area.update(got[1])
    return rows, np.array([area[c] for c in codes], dtype=np.float64)


def _zone_areas(conn: Connection, zones_sql: str, params: Mapping[str, Any]) -> dict[str, float]:
    return {r[0]: r[1] for r in conn.execute(text(_with_zones(_ZONE_AREAS, zones_sql)), params)}


def _fill(
    conn: Connection,
    zones_sql: str,
    params: Mapping[str, Any],
    planner: Mapping[str, str],
    stale: list[Any],
) -> tuple[list[Any], dict[str, float]] | None:
    """Aggregate the stale zones (with areas) on a connection of its own and store their totals.
    None, nothing computed, when a write to the units or zones is in flight (this connection's own
    uncommitted ones included) or the caller's transaction reads an older snapshot than a new
    connection would. The totals are returned even when a write started meanwhile and they are not
    stored: they are those of the moment they were read."""
    isolation, timeout = conn.execute(
        text("SELECT current_setting('transaction_isolation'), current_setting('statement_timeout')")
    ).one()
    if isolation != "read committed":
        return None
    with _filler(conn.engine).connect() as fc:
        mark = fc.execute(text(_WRITE_MARK), {"lock": WRITE_LOCK}).scalar()
        fc.commit()
        if mark is None:
            return None
        planner = {**planner, "statement_timeout": timeout}
        got = _aggregate(fc, zones_sql, params, planner, with_area=True), _zone_areas(fc, zones_sql, params)
        fc.commit()
        if fc.execute(text(_WRITE_MARK), {"lock": WRITE_LOCK}).scalar() == mark:
            try:
                fc.execute(text("SELECT set_config('lock_timeout', '2s', true)"))
                fc.execute(text(_STORE_TOTALS), _store_params(stale, *got))
                fc.commit()
            except DBAPIError:  # e.g. a lock held by a transaction that is not a writer of ours
                fc.rollback()
        return got


def _store_params(stale: list[Any], rows: list[Any], area: Mapping[str, float]) -> dict[str, list[Any]]:
    """_STORE_TOTALS's arrays: every stale zone, with zeros where no unit counted."""
    by_code = {r[0]: r for r in rows}
    zero = (None, 0, 0, 0, 0, 0.0, 0.0, 0.0, 0.0, 0, None)
    filled = [by_code.get(c, zero) for c in stale]
    columns = ("n1", "n2", "n3", "n4", "a1", "a2", "a3", "a4", "n_ids", "ids")
    out: dict[str, list[Any]] = {"code": list(stale), "area": [area[c] for c in stale]}
    for i, name in enumerate(columns, start=1):
        out[name] = [r[i] for r in filled]
    return out


_FILLERS: dict[str, Engine] = {}


def _filler(engine: Engine) -> Engine:
    """An unpooled engine on the same database: the fill never waits for the caller's pool."""
    url = engine.url.render_as_string(hide_password=False)
    if url not in _FILLERS:
        _FILLERS[url] = create_engine(engine.url, poolclass=NullPool)
    return _FILLERS[url]


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
    # numpy's text parser: a tenth of the time of str.split and int() per id (1,000,000 ids: 0.03 s)
    ids = np.fromstring(joined, dtype=np.int64, sep=",") if joined else np.zeros(0, dtype=np.int64)
    zone = np.repeat(at, numbers[:, 8].astype(np.int64))
    if zone.size != ids.size:  # the parser stops at what it cannot read: never count from a partial list
        raise ValueError(f"enterprise ids: {ids.size} read, {zone.size} expected")
    return ZoneTotals(counts, area if with_area else None, zone_area, distinct_ids_per_zone(n, zone, ids))


def _with_zones(template: str, zones_sql: str) -> str:
    """The statement with the zones' select in it: SQL of this module or of a developer's
    ZoneQuery, never a user's value (those are bound parameters)."""
    return template.replace("{zones}", zones_sql)


def _zone_query(
    conn: Connection, zones: ZoneQuery
) -> tuple[list[Any], list[Any], np.ndarray, np.ndarray, str, dict[str, Any], list[Any]]:
    """The zones, their areas (NaN for stored zones without cached totals), the SQL and its
    parameters, and for stored zones their cached totals (code, area, n1..n4, a1..a4, n_ids, ids)."""
    sql = zones.sql.strip().rstrip(";")
    params = dict(zones.params)
    rows = conn.execute(
        text(_with_zones(_STORED_ZONE_LIST if zones.stored else _ZONE_LIST, sql)), params
    ).all()
    codes = [r.code for r in rows]
    if len(set(codes)) != len(codes) or any(c is None for c in codes):
        raise InvalidInput.one("zones", "zone codes must be present and unique", "区域编码须非空且唯一")
    geoms = shapely.from_wkb([bytes(r.wkb) for r in rows]) if rows else np.array([], dtype=object)
    check_zone_geometries(geoms)
    zone_area = np.array([r.area_m2 for r in rows], dtype=np.float64)
    cached = [(r[0], *r[3:]) for r in rows if zones.stored and r.area_m2 is not None]
    return codes, [r.name for r in rows], np.asarray(geoms, dtype=object), zone_area, sql, params, cached


def _stage_zones(conn: Connection, codes: list[Any], names: list[Any], geoms: np.ndarray) -> np.ndarray:
    """Load the zones into the per-call TEMP table; their geodesic areas in input order."""
    codes = [None if c is None else str(c) for c in codes]
    names = [None if pd.isna(x) else str(x) for x in names]
    conn.execute(text(_STAGE_ZONES[0]))
    conn.execute(text(_STAGE_ZONES[1]))
    # In batches: psycopg2 quotes a parameter holding the GIL, ~0.5 s for 90,000 zones in one go, which
    # stalls every other request of the process; the time limit is checked between batches.
    for start in range(0, len(codes), _STAGE_BATCH):
        deadline.check()
        end = start + _STAGE_BATCH
        params = {
            "offset": start,
            "codes": codes[start:end],
            "names": names[start:end],
            "wkbs": list(shapely.to_wkb(geoms[start:end])),
        }
        conn.execute(text(_STAGE_ZONES[2]), params)
    conn.execute(text(_STAGE_ZONES[3]))
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


# The units that decide each zone's level under the 就高 rule: those of the zone's level that count for it
# (the same test as the totals), the first few by id, with the unit's and its enterprise's names; named only
# when filed inside the mapped jurisdiction (units across the border count but are not named).
_DECIDING = """
WITH
-- materialised: each zone's geometry is parsed once (and prepared once for the containment tests), not
-- per candidate unit
zones AS MATERIALIZED (
    SELECT z.ord, z.level, ST_GeomFromWKB(z.wkb, 4490) AS geom
    FROM unnest(CAST(:ords AS int[]), CAST(:wkbs AS bytea[]), CAST(:levels AS int[])) AS z(ord, wkb, level)
)
SELECT z.ord, d.id, d.name, d.enterprise_name
FROM zones AS z
CROSS JOIN LATERAL (
    -- the geometric test last, on the candidates in id order until `per_zone` pass: the cheap tests and
    -- the sort first (OFFSET 0 keeps the planner from folding the geometric test in: on a province's city
    -- zones it tested every candidate, minutes), then the exact test row by row
    SELECT u.id, u.name, e.name AS enterprise_name
    FROM (
        SELECT u.id, u.name, u.enterprise_id, u.geom, u.area_m2
        FROM risk_units u
        LEFT JOIN unnest(CAST(:raised_ids AS bigint[]), CAST(:raised_levels AS int[])) AS r(id, shown)
            ON r.id = u.id
        WHERE u.geom && z.geom
            -- only units of the zone's level (or raised ones) go on
            AND (u.level = z.level OR u.id = ANY(CAST(:raised_ids AS bigint[])))
            AND coalesce(r.shown, u.level) = z.level
            -- the area's codes as one constant array (hashed by PostgreSQL): a join with the recursive walk
            -- was planned as a loop over its rows per candidate (a province's 40,000 codes: minutes); the codes
            -- units are filed under (geo.store.filed), not the whole subtree
            AND u.jurisdiction_adcode::text = ANY(CAST(:codes AS text[]))
        ORDER BY u.id
        OFFSET 0
    ) AS u
    LEFT JOIN enterprises e ON e.id = u.enterprise_id
    WHERE ({counted}) IS NOT NULL
    ORDER BY u.id
    LIMIT :per_zone
) AS d
"""
DECIDING_PER_ZONE: Final = 5
DECIDING_MAX_ZONES: Final = 2_000


def deciding_units(
    conn: Connection,
    principal: Any,
    adcode: str,
    zones: gpd.GeoDataFrame,
    *,
    shown_levels: Mapping[int, int] | None = None,
    per_zone: int = DECIDING_PER_ZONE,
) -> list[dict[str, Any]] | None:
    """Per zone of a 就高 map (rows of `four_colour_sql`: geometry, level, counts), the risk units that
    decide its level: {"ids": the first `per_zone` ids, "names": "unit（enterprise）", "more": how many
    others count at that level, named or not} (an empty dict for a zone without level). Only for those who may see the jurisdiction's detail (admins,
    its regulators): None for anyone else, and None above DECIDING_MAX_ZONES zones (the counts say it)."""
    from geo.store.filed import filed_codes
    from geo.store.repository import may_see_detail

    if len(zones) > DECIDING_MAX_ZONES or not may_see_detail(conn, principal, adcode):
        return None
    out: list[dict[str, Any]] = [{} for _ in range(len(zones))]
    levels = [0 if pd.isna(v) else int(v) for v in zones["level"]]
    at = [i for i, lv in enumerate(levels) if lv]
    if not at:
        return out
    raised = dict(shown_levels or {})
    counted = _COUNTED_AREA.rsplit(" AS area", 1)[0]
    sql = _DECIDING.replace("{counted}", counted)
    # the codes the area's units are filed under (a province's 90, found in milliseconds), not every code of
    # its subtree (39,700: their walk and the statement's planning with them took 0.15 s)
    codes = filed_codes(conn, "risk_units", adcode)
    rows = conn.execute(
        text(sql),
        {
            "codes": codes,
            "ords": at,
            "wkbs": list(shapely.to_wkb(np.asarray(zones.geometry.array, dtype=object)[at])),
            "levels": [levels[i] for i in at],
            "per_zone": per_zone,
            "raised_ids": list(raised),
            "raised_levels": [int(v) for v in raised.values()],
            "four_colour_with_area": False,  # the same units count, without measuring their areas
        },
    ).all()
    for ord_, ident, name, enterprise in rows:
        item = out[ord_]
        item.setdefault("ids", []).append(int(ident))
        item.setdefault("names", []).append(f"{name}（{enterprise}）" if enterprise else str(name))
    for i in at:
        if out[i]:
            at_level = int(zones["counts"].iloc[i][levels[i]])
            out[i]["more"] = max(0, at_level - len(out[i]["ids"]))
    return out
