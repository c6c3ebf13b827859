"""Joint prevention (联防联控) in PostGIS: co-location clusters of similar enterprises, neighbour notices
(seed 004 二(一)4) and the register figures that inspection plans and key targets need.

Distances are metres in the CGCS2000 3° Gauss–Krüger zone of the jurisdiction asked for (geo.coords), never
degrees or web Mercator. Every value is a bound parameter.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Connection, text

from geo.access import Principal, Role
from geo.coords import gauss_kruger_epsg
from geo.errors import InvalidInput, NotFound
from geo.joint_prevention import (
    Member,
    SimilarityRule,
    Trade,
    TradeLinks,
    check_distance,
    components,
    trade_links,
)
from geo.store.repository import IN_SUBTREE_SQL, deny, get_jurisdiction_row, require_area, subtree_codes

Method = Literal["auto", "dbscan", "cliques", "pairs"]
METHODS: Final[Mapping[str, str]] = {
    "auto": "dbscan when the trade similarity is transitive over the trades present, else cliques",
    "dbscan": "ST_ClusterDBSCAN(site, d, 1) partitioned by similarity group (exact only when transitive)",
    "cliques": "ST_ClusterDBSCAN(site, d, 1) partitioned by the cliques of a clique cover of the similarity "
    "(each sector; each table row), a site once per clique of its trade; connected components of all",
    "pairs": "every pair within d of similar trades by ST_DWithin on a GiST index of the metric sites; "
    "connected components (scipy.sparse.csgraph)",
}
DBSCAN_WORK_MEM: Final = "128MB"
HULL_PAD_M: Final = 30.0
"""The cluster hull is widened by this many metres so that two points or a line still make a polygon."""

# The GRS80 (CGCS2000) ellipsoid: metres per degree, for the index boxes only (the test itself is metric).
_A: Final = 6_378_137.0
_E2: Final = 0.006_694_380_022_90
_MIN_M_PER_DEG_LAT: Final = 110_574.0  # at the equator, the shortest degree of latitude
_BOX_MARGIN: Final = 1.05


def box_degrees(distance_m: float, max_abs_lat: float) -> tuple[float, float]:
    """(dlon, dlat) in degrees that surely contain every point within distance_m of a point at latitude
    up to max_abs_lat: a prefilter for the lon/lat GiST indexes. Gauss–Krüger distances are never shorter
    than on the ellipsoid (scale factor ≥ 1), so what passes the metric test lies in the box."""
    lat = math.radians(min(abs(max_abs_lat) + 1.0, 85.0))
    m_per_deg_lon = math.pi / 180 * _A * math.cos(lat) / math.sqrt(1 - _E2 * math.sin(lat) ** 2)
    return distance_m * _BOX_MARGIN / m_per_deg_lon, distance_m * _BOX_MARGIN / _MIN_M_PER_DEG_LAT


@dataclass(frozen=True)
class Frame:
    """The jurisdiction's metric CRS and the boxes of its index prefilters."""

    adcode: str
    name: str
    level: str
    srid: int
    max_abs_lat: float
    subtree: tuple[
        str, ...
    ] = ()  # an administrative unit's subtree, bound as :subtree (repository.in_subtree)

    @property
    def params(self) -> dict[str, Any]:
        return {"adcode": self.adcode, "subtree": list(self.subtree)}


def metric_frame(conn: Connection, principal: Principal, adcode: str) -> Frame:
    """The jurisdiction (NotFound if unknown) and its CGCS2000 3° Gauss–Krüger zone, chosen by the
    longitude of its centroid (EPSG:4534–4554). Every joint-prevention analysis starts here: they name
    enterprises and units, so only admins and the area's regulators pass (403, 401 when anonymous)."""
    j = require_area(conn, principal, adcode, detail=True)
    row = conn.execute(
        text(
            "SELECT ST_X(ST_Centroid(geom)) AS lon, greatest(abs(ST_YMin(geom)), abs(ST_YMax(geom))) AS lat "
            "FROM jurisdictions WHERE adcode = :adcode"
        ),
        {"adcode": adcode},
    ).one()
    subtree = () if j["level"] in ("park", "grid") else tuple(subtree_codes(conn, [adcode]))
    return Frame(adcode, j["name"], j["level"], gauss_kruger_epsg(float(row.lon)), float(row.lat), subtree)


# --- clusters ----------------------------------------------------------------------------------------------

# Which rows a jurisdiction holds: those filed under it or below it (administrative units), or, for a park or
# grid (zones filtered by place), those whose point lies in it. Fixed fragments, chosen by the level.
_ZONE_GEOM: Final = "(SELECT geom FROM jurisdictions WHERE adcode = :adcode)"
_IN_ADMIN: Final = IN_SUBTREE_SQL.replace("{column}", "{a}.jurisdiction_adcode")  # :subtree, Frame.subtree
_IN_PLACE: Final = f"{{a}}.geom && {_ZONE_GEOM} AND ST_Covers({_ZONE_GEOM}, {{a}}.geom)"
_UNIT_IN_PLACE: Final = f"{{a}}.geom && {_ZONE_GEOM} AND ST_Intersects({_ZONE_GEOM}, {{a}}.geom)"


def _inside(frame: Frame, alias: str, *, unit: bool = False) -> str:
    if frame.level in ("park", "grid"):
        return (_UNIT_IN_PLACE if unit else _IN_PLACE).format(a=alias)
    return _IN_ADMIN.format(a=alias)


# Enterprises near the jurisdiction's border (candidates for the neighbours across it): the border cut into
# short pieces (segmentized every 0.01°, at most 8 vertices a piece), each piece's box widened by the index
# box of d, and the lon/lat GiST indexes of enterprises.geom and .site. Only these are tested in metres.
_RING: Final = """ring AS MATERIALIZED (
    SELECT ST_Expand(piece, :dlon, :dlat) AS box
    FROM jurisdictions, ST_Subdivide(ST_Segmentize(ST_Boundary(geom), 0.01), 8) AS piece
    WHERE adcode = :adcode AND :neighbours
), near AS MATERIALIZED (
    SELECT DISTINCT e.id FROM ring JOIN enterprises e ON e.geom && ring.box OR e.site && ring.box
)"""

# (sector, business type) → trade index (0-based, in the order of TradeLinks.trades).
_TRADE_INDEX: Final = (
    "(SELECT sector, bt, (n - 1)::int AS trade "
    "FROM unnest(CAST(:t_sectors AS text[]), CAST(:t_bts AS text[])) WITH ORDINALITY AS u(sector, bt, n)) AS t"
)

# The enterprises to cluster, their sites (boundary polygon, else the point) in the metric CRS: those of the
# jurisdiction, and (when asked) those outside it whose site is within d of its boundary, the neighbours
# across the border with whom a cross-region (跨区域) cluster can form. One CTE prefix for the statements below.
_SITES: Final = (
    """
WITH j AS MATERIALIZED (
    SELECT ST_Transform(geom, :srid) AS g FROM jurisdictions WHERE adcode = :adcode
), """  # noqa: S608 (fixed fragments; values are bound)
    + _RING
    + """, sites AS MATERIALIZED (
    SELECT e.id, t.trade, e.sector, true AS inside, ST_Transform(coalesce(e.site, e.geom), :srid) AS g
    FROM enterprises e JOIN """
    + _TRADE_INDEX
    + """ ON e.sector = t.sector AND coalesce(e.business_type, '') = t.bt
    WHERE {inside}
    UNION ALL
    SELECT e.id, t.trade, e.sector, false AS inside, ST_Transform(coalesce(e.site, e.geom), :srid) AS g
    FROM enterprises e JOIN """
    + _TRADE_INDEX
    + """ ON e.sector = t.sector AND coalesce(e.business_type, '') = t.bt, j
    WHERE e.id IN (SELECT id FROM near)
      AND NOT coalesce({inside}, false)
      AND ST_DWithin(ST_Transform(coalesce(e.site, e.geom), :srid), j.g, :d)
)
"""
)

# The trades that may be present: those of the jurisdiction and of the enterprises near its border (a
# superset of the sites' trades, found without transforming anything).
_TRADES: Final = (
    "\nWITH "  # noqa: S608 (fixed fragments; values are bound)
    + _RING
    + """
SELECT DISTINCT e.sector, coalesce(e.business_type, '') FROM enterprises e WHERE {inside}
UNION
SELECT DISTINCT e.sector, coalesce(e.business_type, '') FROM enterprises e WHERE e.id IN (SELECT id FROM near)
"""
)

# Trade index → partition; a trade in several cliques has one row per clique.
_TRADE_MAP: Final = "unnest(CAST(:trades AS int[]), CAST(:parts AS int[])) AS m(trade, part)"

# DBSCAN(d, 1) per partition; the rows come back as five arrays (much faster to fetch than 100k rows).
_DBSCAN: Final = (
    _SITES  # noqa: S608 (fixed fragments; values are bound)
    + """, clustered AS (
    SELECT s.id, s.inside, s.trade, m.part, ST_ClusterDBSCAN(s.g, :d, 1) OVER (PARTITION BY m.part) AS c
    FROM sites s JOIN """
    + _TRADE_MAP
    + """ ON s.trade = m.trade
)
SELECT array_agg(id), array_agg(inside), array_agg(trade), array_agg(part), array_agg(c) FROM clustered
"""
)

# Pairs of sites within d whose trades are similar, through a GiST index on the metric geometries.
_PAIR_SITES: Final = (
    "CREATE TEMP TABLE jp_pairs ON COMMIT DROP AS "  # noqa: S608 (fixed fragments; values are bound)
    + _SITES
    + "SELECT s.id, s.inside, s.trade, s.g FROM sites s"
)
_PAIRS = text(
    """
SELECT a.id AS a, b.id AS b
FROM jp_pairs a
JOIN jp_pairs b ON a.id < b.id AND ST_DWithin(a.g, b.g, :d)
JOIN unnest(CAST(:pa AS int[]), CAST(:pb AS int[])) AS p(ta, tb) ON p.ta = a.trade AND p.tb = b.trade
"""
)


@dataclass(frozen=True)
class ClusterRun:
    """The clustering of one jurisdiction: every enterprise considered, with its component label."""

    frame: Frame
    distance_m: float
    method: str
    links: TradeLinks
    ids: NDArray[np.int64]  # sorted
    inside: NDArray[np.bool_]
    trade_index: NDArray[np.int64]
    labels: NDArray[np.int64]
    rows: int  # rows clustered by DBSCAN (a site once per clique of its trade), or pairs fetched


def _scope(frame: Frame, distance_m: float, neighbours: bool) -> dict[str, Any]:
    dlon, dlat = box_degrees(distance_m, frame.max_abs_lat)
    return {
        **frame.params,
        "srid": frame.srid,
        "dlon": dlon,
        "dlat": dlat,
        "d": distance_m,
        "neighbours": neighbours,
    }


def _trades(conn: Connection, frame: Frame, scope: Mapping[str, Any]) -> list[Trade]:
    rows = conn.execute(text(_TRADES.format(inside=_inside(frame, "e"))), scope).all()
    return [Trade(r[0], r[1]) for r in rows]


def _trade_map(links: TradeLinks, parts: Sequence[Sequence[int]]) -> dict[str, list[Any]]:
    """Bound arrays of _TRADE_MAP: one row per (trade, partition) for partitions parts[p] = trades."""
    rows = sorted((t, p) for p, members in enumerate(parts) for t in members)
    return {
        "t_sectors": [t.sector for t in links.trades],
        "t_bts": [t.business_type for t in links.trades],
        "trades": [t for t, _ in rows],
        "parts": [p for _, p in rows],
    }


def _dbscan_edges(
    conn: Connection, frame: Frame, scope: Mapping[str, Any], maps: dict[str, list[Any]]
) -> tuple[
    NDArray[np.int64], NDArray[np.bool_], NDArray[np.int64], NDArray[np.int64], NDArray[np.int64], int
]:
    """ids, inside, trade of each site, and edges (positions in ids) joining the members of each DBSCAN
    cluster of each partition."""
    query = text(_DBSCAN.format(inside=_inside(frame, "e")))
    # The window sorts the sites by partition: in memory, not in an external merge on disk (for this
    # transaction only; 100k sites need some 30 MB).
    conn.execute(text("SELECT set_config('work_mem', :work_mem, true)"), {"work_mem": DBSCAN_WORK_MEM})
    row_id, row_inside, row_trade, row_part, row_c = conn.execute(query, {**scope, **maps}).one()
    if not row_id:
        empty = np.zeros(0, dtype=np.int64)
        return empty, np.zeros(0, dtype=np.bool_), empty, empty, empty, 0
    row_ids = np.array(row_id, dtype=np.int64)
    ids, first_row = np.unique(row_ids, return_index=True)
    position = np.searchsorted(ids, row_ids)
    # Rows of one DBSCAN cluster (same partition, same label) are connected: each to the first of them.
    key = np.array(row_part, dtype=np.int64) * (len(row_ids) + 1) + np.array(row_c, dtype=np.int64)
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    return (
        ids,
        np.array(row_inside, dtype=np.bool_)[first_row],
        np.array(row_trade, dtype=np.int64)[first_row],
        position,
        position[first[inverse]],
        len(row_ids),
    )


def cluster_enterprises(
    conn: Connection,
    principal: Principal,
    adcode: str,
    *,
    distance_m: float = 500.0,
    rules: Sequence[SimilarityRule] = (),
    widen: bool = True,
    method: Method | str = "auto",
    neighbours: bool = True,
) -> ClusterRun:
    """Single-linkage clusters of the jurisdiction's enterprises: linked when their sites are within
    distance_m metres and their trades are similar (the same sector; ``widen`` adds the rows of
    ``rules``). method=pairs stages a temporary table that goes at the end of the caller's transaction.

    ``method`` (see METHODS) picks how PostGIS finds the links; all give the same partition, which the
    tests check. ``dbscan`` is refused when the similarity is not transitive over the trades present.
    """
    distance_m = check_distance(distance_m)
    if method not in METHODS:
        raise InvalidInput.one(
            "method",
            f"unknown method {method!r}; expected one of {', '.join(METHODS)}",
            f"未知方法 {method!r}",
        )
    frame = metric_frame(conn, principal, adcode)
    scope = _scope(frame, distance_m, neighbours)
    links = trade_links(_trades(conn, frame, scope), rules, widen=widen)
    if method == "auto":
        method = "dbscan" if links.transitive else "cliques"
    if method == "dbscan" and not links.transitive:
        raise InvalidInput.one(
            "method",
            "the trade similarity is not transitive over the trades present, so DBSCAN per group would link "
            "enterprises whose trades are not similar; use cliques or pairs",
            "行业相似关系不可传递，按组 DBSCAN 会误连，请使用 cliques 或 pairs",
        )
    n_trades = len(links.trades)
    if method == "pairs":
        maps = _trade_map(links, [range(n_trades)])
        conn.execute(text("DROP TABLE IF EXISTS pg_temp.jp_pairs"))
        conn.execute(text(_PAIR_SITES.format(inside=_inside(frame, "e"))), {**scope, **maps})
        conn.execute(text("CREATE INDEX ON jp_pairs USING gist (g)"))
        conn.execute(text("ANALYZE jp_pairs"))
        sites = conn.execute(text("SELECT id, inside, trade FROM jp_pairs ORDER BY id")).all()
        ids = np.array([r[0] for r in sites], dtype=np.int64)
        inside = np.array([r[1] for r in sites], dtype=np.bool_)
        trade_index = np.array([r[2] for r in sites], dtype=np.int64)
        pa, pb = links.similar_pairs()
        pairs = conn.execute(_PAIRS, {"d": distance_m, "pa": pa.tolist(), "pb": pb.tolist()}).all()
        a = np.searchsorted(ids, np.array([p[0] for p in pairs], dtype=np.int64))
        b = np.searchsorted(ids, np.array([p[1] for p in pairs], dtype=np.int64))
        count = len(pairs)
    else:
        if method == "dbscan":
            parts: list[Sequence[int]] = [
                [int(i) for i in np.flatnonzero(links.groups == g)] for g in np.unique(links.groups)
            ]
        else:
            parts = [list(c) for c in links.cliques]
        ids, inside, trade_index, a, b, count = _dbscan_edges(conn, frame, scope, _trade_map(links, parts))
    labels = components(len(ids), a, b)
    return ClusterRun(frame, distance_m, str(method), links, ids, inside, trade_index, labels, count)


_MEMBERS = text(
    """
SELECT e.id, e.name, e.credit_code, e.sector, e.business_type, e.jurisdiction_adcode, j.name AS jname,
    ST_X(e.geom) AS lon, ST_Y(e.geom) AS lat,
    count(u.id) FILTER (WHERE u.level = 1) AS l1, count(u.id) FILTER (WHERE u.level = 2) AS l2,
    count(u.id) FILTER (WHERE u.level = 3) AS l3, count(u.id) FILTER (WHERE u.level = 4) AS l4
FROM enterprises e
LEFT JOIN risk_units u ON u.enterprise_id = e.id
LEFT JOIN jurisdictions j ON j.adcode = e.jurisdiction_adcode
WHERE e.id = ANY(CAST(:ids AS bigint[]))
GROUP BY e.id, j.name
ORDER BY e.id
"""
)

_HULLS = text(
    """
SELECT m.c, ST_AsBinary(ST_Transform(ST_Buffer(ST_ConvexHull(ST_Collect(
        ST_Transform(coalesce(e.site, e.geom), :srid))), :pad, 'quad_segs=4'), 4490)) AS wkb
FROM enterprises e JOIN unnest(CAST(:ids AS bigint[]), CAST(:labels AS bigint[])) AS m(id, c) ON m.id = e.id
GROUP BY m.c
"""
)


@dataclass(frozen=True)
class ClusterMembers:
    """The members of the clusters kept (≥ min_size members, at least one inside), their labels and hulls."""

    members: list[Member]
    labels: list[int]
    hulls: Mapping[int, BaseGeometry | None]


def cluster_members(
    conn: Connection,
    run: ClusterRun,
    *,
    min_size: int = 2,
    sector: str | None = None,
    level_of: Any = None,
    hull_pad_m: float = HULL_PAD_M,
) -> ClusterMembers:
    """Register fields, risk-unit counts and hulls of the clusters of `run` with at least min_size members
    and at least one member inside the jurisdiction (and, when `sector` is given, one of that sector).

    ``level_of`` maps an (n, 4) array of unit counts to levels (geo.joint_prevention.enterprise_levels by
    default). The hull is the convex hull of the members' sites in the metric CRS, widened hull_pad_m."""
    from geo.joint_prevention import enterprise_levels

    labels = run.labels
    if len(labels) == 0:
        return ClusterMembers([], [], {})
    sizes = np.bincount(labels)
    has_inside = np.bincount(labels, weights=run.inside.astype(np.float64)) > 0
    keep = (sizes[labels] >= min_size) & has_inside[labels]
    if sector is not None:
        sector_of = np.array([t.sector == sector for t in run.links.trades], dtype=np.bool_)
        has_sector = np.bincount(labels, weights=sector_of[run.trade_index].astype(np.float64)) > 0
        keep &= has_sector[labels]
    ids = run.ids[keep]
    kept_labels = labels[keep]
    if len(ids) == 0:
        return ClusterMembers([], [], {})
    rows = [tuple(r) for r in conn.execute(_MEMBERS, {"ids": ids.tolist()}).all()]
    counts = np.array([r[9:13] for r in rows], dtype=np.int64).reshape(-1, 4)
    levels = (level_of or enterprise_levels)(counts)
    inside = dict(zip(run.ids.tolist(), run.inside.tolist(), strict=True))
    members = [
        Member(
            int(r[0]),
            r[1],
            r[2],
            r[3],
            r[4],
            r[5],
            r[6],
            bool(inside[int(r[0])]),
            (int(r[9]), int(r[10]), int(r[11]), int(r[12])),
            lv,
            float(r[7]),
            float(r[8]),
        )
        for r, lv in zip(rows, levels, strict=True)
    ]
    label_of = dict(zip(ids.tolist(), kept_labels.tolist(), strict=True))
    member_labels = [int(label_of[m.id]) for m in members]
    hull_rows = conn.execute(
        _HULLS,
        {"ids": ids.tolist(), "labels": kept_labels.tolist(), "pad": hull_pad_m, "srid": run.frame.srid},
    ).all()
    hulls = {int(r.c): shapely.from_wkb(bytes(r.wkb)) for r in hull_rows}
    return ClusterMembers(members, member_labels, hulls)


# --- jurisdictions: paths and the roster's units --------------------------------------------------------------

_PATHS = text(
    """
WITH RECURSIVE up AS (
    SELECT adcode AS start, adcode, parent_adcode, 0 AS depth FROM jurisdictions
    WHERE adcode = ANY(CAST(:codes AS text[]))
    UNION ALL
    SELECT up.start, j.adcode, j.parent_adcode, up.depth + 1
    FROM jurisdictions j JOIN up ON j.adcode = up.parent_adcode
)
SELECT start, array_agg(adcode ORDER BY depth) AS path FROM up GROUP BY start
"""
)


def jurisdiction_paths(conn: Connection, adcodes: Sequence[str | None]) -> dict[str, tuple[str, ...]]:
    """adcode → (adcode, its parent, …, the root) for each adcode given."""
    codes = sorted({c for c in adcodes if c})
    if not codes:
        return {}
    return {r.start: tuple(r.path) for r in conn.execute(_PATHS, {"codes": codes}).all()}


_COUNTY_UNITS = text(
    """
WITH RECURSIVE up AS (
    SELECT adcode, parent_adcode, level FROM jurisdictions WHERE adcode = :adcode
    UNION ALL
    SELECT j.adcode, j.parent_adcode, j.level FROM jurisdictions j JOIN up ON j.adcode = up.parent_adcode
), county AS (
    SELECT adcode, parent_adcode FROM up WHERE level = 'county' LIMIT 1
)
SELECT adcode, name, level, parent_adcode FROM jurisdictions
WHERE level = 'county' AND (
    adcode IN (SELECT descendant FROM jurisdiction_closure WHERE ancestor = :adcode)
    OR parent_adcode = (SELECT parent_adcode FROM county)
    OR adcode = (SELECT adcode FROM county)
)
ORDER BY adcode
"""
)


@dataclass(frozen=True)
class RosterUnits:
    """The county-level units whose inspectors may work in a jurisdiction: a city's counties, or a county
    and its sibling counties (the parent's other counties)."""

    units: list[tuple[str, str]]
    parent_adcode: str | None


def roster_units(conn: Connection, principal: Principal, adcode: str) -> RosterUnits:
    require_area(conn, principal, adcode, detail=True)
    rows = conn.execute(_COUNTY_UNITS, {"adcode": adcode}).all()
    parent = conn.execute(
        text(
            "WITH RECURSIVE up AS (SELECT adcode, parent_adcode, level FROM jurisdictions WHERE adcode = :adcode "
            "UNION ALL SELECT j.adcode, j.parent_adcode, j.level FROM jurisdictions j "
            "JOIN up ON j.adcode = up.parent_adcode) "
            "SELECT coalesce((SELECT parent_adcode FROM up WHERE level = 'county' LIMIT 1), "
            "(SELECT adcode FROM up WHERE level = 'city' LIMIT 1))"
        ),
        {"adcode": adcode},
    ).scalar()
    return RosterUnits([(r.adcode, r.name) for r in rows], parent)


# --- enterprises for the plans --------------------------------------------------------------------------------

_PLAN_ENTERPRISES: Final = """
SELECT e.id, e.name, e.credit_code, e.sector, e.business_type, e.jurisdiction_adcode, j.name AS jname,
    count(u.id) FILTER (WHERE u.level = 1) AS l1, count(u.id) FILTER (WHERE u.level = 2) AS l2,
    count(u.id) FILTER (WHERE u.level = 3) AS l3, count(u.id) FILTER (WHERE u.level = 4) AS l4
FROM enterprises e
LEFT JOIN risk_units u ON u.enterprise_id = e.id
LEFT JOIN jurisdictions j ON j.adcode = e.jurisdiction_adcode
WHERE {inside}
GROUP BY e.id, j.name
ORDER BY e.id
"""


def plan_enterprises(conn: Connection, principal: Principal, adcode: str) -> list[Any]:
    """The jurisdiction's enterprises with their risk units by level (rows with id, name, credit_code,
    sector, business_type, jurisdiction_adcode, jname, l1–l4)."""
    frame = metric_frame(conn, principal, adcode)
    query = text(_PLAN_ENTERPRISES.format(inside=_inside(frame, "e")))
    return list(conn.execute(query, frame.params).all())


# --- neighbour notices (seed 004 二(一)4) -------------------------------------------------------------------

_NOTICE_UNITS: Final = """
SELECT u.id, u.name, u.level, u.kind, u.enterprise_id, e.name AS enterprise_name,
    coalesce(u.sector, e.sector) AS sector, u.accident_types, u.hazards, u.control_measures,
    u.responsible_person, u.responsible_phone, u.jurisdiction_adcode
FROM risk_units u LEFT JOIN enterprises e ON e.id = u.enterprise_id
WHERE {inside} AND u.level <= :max_level
ORDER BY u.level, u.id
LIMIT :limit OFFSET :offset
"""

_NOTICE_COUNT: Final = """
SELECT count(*) FROM risk_units u WHERE {inside} AND u.level <= :max_level
"""

# Index prefilter in lon/lat (&& with a box that surely holds every site within d), exact test and
# distance in metres in the Gauss–Krüger zone. EXPLAIN shows the GiST indexes of enterprises.geom/site and
# protection_targets.geom (tests/store/test_clusters.py checks it).
_NOTICE_ENTERPRISES = text(
    """
WITH u AS (
    SELECT id, enterprise_id, geom, ST_Expand(geom, :dlon, :dlat) AS box, ST_Transform(geom, :srid) AS g
    FROM risk_units WHERE id = ANY(CAST(:ids AS bigint[]))
)
SELECT u.id AS unit_id, e.id, e.name, e.sector, e.contact_person, e.contact_phone, e.jurisdiction_adcode,
    ST_Distance(u.g, ST_Transform(coalesce(e.site, e.geom), :srid)) AS distance_m
FROM u JOIN enterprises e ON (e.geom && u.box OR e.site && u.box)
WHERE e.id IS DISTINCT FROM u.enterprise_id
  AND ST_DWithin(u.g, ST_Transform(coalesce(e.site, e.geom), :srid), :d)
ORDER BY u.id, distance_m, e.id
"""
)

_NOTICE_TARGETS = text(
    """
WITH u AS (
    SELECT id, ST_Expand(geom, :dlon, :dlat) AS box, ST_Transform(geom, :srid) AS g
    FROM risk_units WHERE id = ANY(CAST(:ids AS bigint[]))
)
SELECT u.id AS unit_id, t.id, t.name, t.type, t.gb_class, t.population, t.jurisdiction_adcode,
    ST_Distance(u.g, ST_Transform(t.geom, :srid)) AS distance_m
FROM u JOIN protection_targets t ON t.geom && u.box
WHERE ST_DWithin(u.g, ST_Transform(t.geom, :srid), :d)
ORDER BY u.id, distance_m, t.id
"""
)


@dataclass(frozen=True)
class Notices:
    total: int
    units: list[Any]
    enterprises: dict[int, list[Any]]
    targets: dict[int, list[Any]]
    srid: int


def neighbour_notices(
    conn: Connection,
    principal: Principal,
    adcode: str,
    *,
    distance_m: float = 500.0,
    max_level: int = 2,
    limit: int = 500,
    offset: int = 0,
) -> Notices:
    """For each level-1 (and level-2 when max_level = 2) risk unit of the jurisdiction, ordered by level and
    id, a page of them: the other enterprises (not its owner) and the protection targets whose geometry is
    within distance_m metres of the unit, with the distance. Neighbours across the border are included."""
    distance_m = check_distance(distance_m)
    if max_level not in (1, 2):
        raise InvalidInput.one("max_level", "must be 1 (重大) or 2 (重大 and 较大)", "只能为 1 或 2")
    frame = metric_frame(conn, principal, adcode)
    p = {**frame.params, "max_level": max_level}
    inside = _inside(frame, "u", unit=True)
    total = int(conn.execute(text(_NOTICE_COUNT.format(inside=inside)), p).scalar_one())
    units = list(
        conn.execute(text(_NOTICE_UNITS.format(inside=inside)), {**p, "limit": limit, "offset": offset}).all()
    )
    ids = [int(u.id) for u in units]
    enterprises: dict[int, list[Any]] = {i: [] for i in ids}
    targets: dict[int, list[Any]] = {i: [] for i in ids}
    if ids:
        dlon, dlat = box_degrees(distance_m, frame.max_abs_lat)
        q = {"ids": ids, "srid": frame.srid, "d": distance_m, "dlon": dlon, "dlat": dlat}
        for r in conn.execute(_NOTICE_ENTERPRISES, q).all():
            enterprises[int(r.unit_id)].append(r)
        for r in conn.execute(_NOTICE_TARGETS, q).all():
            targets[int(r.unit_id)].append(r)
    return Notices(total, units, enterprises, targets, frame.srid)


_OWN_NOTICE_UNITS = text(
    """
SELECT u.id, u.name, u.level, u.kind, u.enterprise_id, u.hazards, u.control_measures,
    u.responsible_person, u.responsible_phone, u.jurisdiction_adcode,
    ST_X(ST_Centroid(u.geom)) AS lon, abs(ST_Y(ST_Centroid(u.geom))) AS lat
FROM risk_units u
WHERE u.enterprise_id = :enterprise_id AND u.level <= :max_level
ORDER BY u.level, u.id
"""
)


def own_unit_notices(
    conn: Connection, principal: Principal, *, distance_m: float = 500.0, max_level: int = 2
) -> Notices:
    """An enterprise user's own neighbour notices: for each of its own level-1 (and level-2) risk units, the
    other enterprises and protection targets within distance_m metres — what `neighbour_notices` gives a
    regulator for the same units, without the rest of the jurisdiction. Enterprise users only (their own
    enterprise); the Gauss–Krüger zone is chosen by the longitude of the units' centroid."""
    if principal.role is not Role.enterprise or principal.enterprise_id is None:
        raise deny(principal, "read an enterprise's own neighbour notices")
    distance_m = check_distance(distance_m)
    if max_level not in (1, 2):
        raise InvalidInput.one("max_level", "must be 1 (重大) or 2 (重大 and 较大)", "只能为 1 或 2")
    units = list(
        conn.execute(
            _OWN_NOTICE_UNITS, {"enterprise_id": principal.enterprise_id, "max_level": max_level}
        ).all()
    )
    ids = [int(u.id) for u in units]
    enterprises: dict[int, list[Any]] = {i: [] for i in ids}
    targets: dict[int, list[Any]] = {i: [] for i in ids}
    srid = 0
    if ids:
        srid = gauss_kruger_epsg(float(np.mean([float(u.lon) for u in units])))
        dlon, dlat = box_degrees(distance_m, max(float(u.lat) for u in units))
        q = {"ids": ids, "srid": srid, "d": distance_m, "dlon": dlon, "dlat": dlat}
        for r in conn.execute(_NOTICE_ENTERPRISES, q).all():
            enterprises[int(r.unit_id)].append(r)
        for r in conn.execute(_NOTICE_TARGETS, q).all():
            targets[int(r.unit_id)].append(r)
    return Notices(len(units), units, enterprises, targets, srid)


# --- key targets -------------------------------------------------------------------------------------------

_ZONES = text(
    """
SELECT adcode, name, level FROM jurisdictions WHERE parent_adcode = :adcode AND level = ANY(CAST(:levels AS text[]))
ORDER BY adcode
"""
)

# Each enterprise with its units and overdue units by level, and the zone it falls in: a child admin unit
# by the tree (its filing unit or an ancestor under the jurisdiction), or a park (园区) by place.
_KEY_ENTERPRISES: Final = """
WITH tree AS (
    SELECT c.adcode AS zone, d.descendant AS adcode FROM jurisdictions c
    JOIN jurisdiction_closure d ON d.ancestor = c.adcode
    WHERE c.parent_adcode = :adcode AND c.level = ANY(CAST(:tree_levels AS text[]))
), parks AS (
    SELECT adcode, geom FROM jurisdictions WHERE parent_adcode = :adcode AND level = 'park' AND :by_park
)
SELECT e.id, e.name, e.jurisdiction_adcode,
    coalesce(
        (SELECT t.zone FROM tree t WHERE t.adcode = e.jurisdiction_adcode LIMIT 1),
        (SELECT p.adcode FROM parks p WHERE ST_Covers(p.geom, e.geom) ORDER BY p.adcode LIMIT 1)
    ) AS zone,
    count(u.id) FILTER (WHERE u.level = 1) AS l1, count(u.id) FILTER (WHERE u.level = 2) AS l2,
    count(u.id) FILTER (WHERE u.level = 3) AS l3, count(u.id) FILTER (WHERE u.level = 4) AS l4,
    count(u.id) FILTER (WHERE u.level = 1 AND u.next_assessment_due < :today) AS o1,
    count(u.id) FILTER (WHERE u.level = 2 AND u.next_assessment_due < :today) AS o2,
    count(u.id) FILTER (WHERE u.level = 3 AND u.next_assessment_due < :today) AS o3,
    count(u.id) FILTER (WHERE u.level = 4 AND u.next_assessment_due < :today) AS o4
FROM enterprises e LEFT JOIN risk_units u ON u.enterprise_id = e.id
WHERE {inside}
GROUP BY e.id
ORDER BY e.id
"""

_KEY_PUBLIC: Final = """
WITH tree AS (
    SELECT c.adcode AS zone, d.descendant AS adcode FROM jurisdictions c
    JOIN jurisdiction_closure d ON d.ancestor = c.adcode
    WHERE c.parent_adcode = :adcode AND c.level = ANY(CAST(:tree_levels AS text[]))
), parks AS (
    SELECT adcode, geom FROM jurisdictions WHERE parent_adcode = :adcode AND level = 'park' AND :by_park
)
SELECT u.id, u.level, (u.next_assessment_due < :today) IS TRUE AS overdue,
    coalesce(
        (SELECT t.zone FROM tree t WHERE t.adcode = u.jurisdiction_adcode LIMIT 1),
        (SELECT p.adcode FROM parks p WHERE ST_Intersects(p.geom, u.geom) ORDER BY p.adcode LIMIT 1)
    ) AS zone
FROM risk_units u
WHERE u.kind = 'public_area' AND {inside}
ORDER BY u.id
"""


@dataclass(frozen=True)
class KeyTargetData:
    zone_kind: str  # 'county' | 'township' | 'park' | 'none'
    zones: list[Any]
    enterprises: list[Any]
    public_units: list[Any]


def key_target_data(
    conn: Connection, principal: Principal, adcode: str, *, today: dt.date | None = None
) -> KeyTargetData:
    """The figures key targets are ranked on. Zones: a city's counties; a county's townships when loaded,
    else its parks (园区)."""
    frame = metric_frame(conn, principal, adcode)
    j = get_jurisdiction_row(conn, adcode)
    today = today or dt.date.today()
    by_park = False
    zones: list[Any] = []
    kind = "none"
    for candidate in (
        (["county"], ["township"], ["park"])
        if j["level"] in ("province", "city")
        else (
            ["township"],
            ["park"],
        )
    ):
        zones = list(conn.execute(_ZONES, {"adcode": adcode, "levels": candidate}).all())
        if zones:
            kind = candidate[0]
            by_park = kind == "park"
            break
    tree_levels = [] if by_park or kind == "none" else [kind]
    p = {**frame.params, "today": today, "tree_levels": tree_levels, "by_park": by_park}
    enterprises = list(conn.execute(text(_KEY_ENTERPRISES.format(inside=_inside(frame, "e"))), p).all())
    public = list(conn.execute(text(_KEY_PUBLIC.format(inside=_inside(frame, "u", unit=True))), p).all())
    return KeyTargetData(kind, zones, enterprises, public)


def explain(conn: Connection, statement: str, params: Mapping[str, Any]) -> str:
    """EXPLAIN of one of this module's statements (for the tests and the benchmark)."""
    queries = {"notice_enterprises": _NOTICE_ENTERPRISES, "notice_targets": _NOTICE_TARGETS}
    if statement not in queries:
        raise NotFound(f"no statement {statement!r}")
    rows = conn.execute(text("EXPLAIN " + str(queries[statement].text)), dict(params)).all()
    return "\n".join(r[0] for r in rows)
