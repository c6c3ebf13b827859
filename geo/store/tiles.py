"""Mapbox vector tiles (MVT) of the register, made by PostGIS (`ST_AsMVT`), scoped like every other read.

Tile math is web Mercator (EPSG:3857) by definition: geometries are transformed to 3857 for display only;
no distance is ever computed there. Rows are found with the GiST index on the stored CGCS2000 `geom`
(the tile's envelope, with its buffer, transformed to 4490: Mercator maps a rectangle to a rectangle),
simplified to about half a pixel of a 256-pixel tile at that zoom, then clipped and quantised by
`ST_AsMVTGeom` (extent 4096, buffer 64).

Scope: `repository.visible` decides who reads which rows (the public: boundaries and four-colour zones
only); the attributes of each layer are fixed here (`LAYERS`), so no name, person or phone is in a tile
that the role may not see.

Cache: tiles are kept in this process under the value of the `tile_epoch` sequence, which every write
statement of a mapped table moves (migration 0017) after taking the advisory lock `TILE_LOCK` shared
until its transaction ends. A tile is stored only when the reader could take that lock exclusively for an
instant before reading (no write in flight) and the epoch is the same after the tile was made, so a cached
tile and its ETag always match the data as of that epoch. Otherwise it is sent without an ETag, uncached.
"""

from __future__ import annotations

import hashlib
import math
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import (
    BigInteger,
    Connection,
    Float,
    Table,
    and_,
    bindparam,
    case,
    cast,
    func,
    literal_column,
    null,
    or_,
    select,
    text,
    true,
    union_all,
)
from sqlalchemy.sql import ColumnElement
from sqlalchemy.types import UserDefinedType

from geo.access import Principal, Role
from geo.store import repository as repo
from geo.store.models import TILE_WIDE, Hazard

TILE_LOCK: Final = 0x54494C45  # the same constant as migration 0017's
EXTENT: Final = 4096
BUFFER: Final = 64
MAX_ZOOM: Final = 22
WORLD: Final = 20037508.342789244  # half the side of the web-Mercator square, metres (display only)
H: Final = Hazard.__table__

OPEN_HAZARD_STATES: Final = ("reported", "assigned", "rectifying", "rectified", "accepted")


@dataclass(frozen=True)
class Layer:
    """A table drawn as tiles: the rows `res` scopes, with these attributes."""

    name: str
    table: Any
    attributes: tuple[str, ...]
    resource: repo.Resource | None  # None: hidden hazards (their own scope rule)
    description: str
    cells: bool = True  # small features drawn per cell at low zooms (not boundaries)
    graded: bool = False  # has a risk level 1–4 (`level_of`; cells carry the highest and n1–n4)
    placed: bool = False  # stores its place on the tile grid (tile_x, tile_y, tile_span, tile_m: 0024t)


LAYERS: Final[dict[str, Layer]] = {
    "jurisdictions": Layer(
        "jurisdictions",
        repo.J,
        ("adcode", "name", "level"),
        repo.JURISDICTIONS,
        "administrative boundaries, parks and grids (public)",
        cells=False,
    ),
    "risk_units": Layer(
        "risk_units",
        repo.R,
        ("id", "name", "level", "kind", "enterprise_id", "jurisdiction_adcode"),
        repo.RISK_UNITS,
        "risk units (风险单元) with their level 1–4",
        graded=True,
        placed=True,
    ),
    "enterprises": Layer(
        "enterprises",
        repo.E,
        ("id", "name", "sector", "jurisdiction_adcode"),
        repo.ENTERPRISES,
        "enterprises (sites as points), with `level`: the highest of their risk units' (就高)",
        graded=True,
    ),
    "protection_targets": Layer(
        "protection_targets",
        repo.P,
        ("id", "name", "type", "gb_class", "jurisdiction_adcode"),
        repo.PROTECTION_TARGETS,
        "protection targets (防护目标) by GB 36894 class",
    ),
    "hazards": Layer(
        "hazards",
        H,
        ("id", "grade", "status", "risk_unit_id", "enterprise_id", "jurisdiction_adcode"),
        None,
        "open hidden hazards (隐患)",
    ),
}


def level_of(layer: Layer, t: Any) -> Any:
    """A graded layer's level: a risk unit's own; an enterprise's the highest of its units' (就高, the
    default `RISKMAP_ENTERPRISE_LEVEL_RULE`)."""
    if layer.name == "enterprises":
        return select(func.min(repo.R.c.level)).where(repo.R.c.enterprise_id == t.c.id).scalar_subquery()
    return t.c.level


def columns(layer: Layer, t: Any) -> list[Any]:
    """The attributes a tile of `layer` carries (the level of a graded layer included)."""
    out = [t.c[a] for a in layer.attributes]
    if layer.graded and "level" not in layer.attributes:
        out.append(level_of(layer, t).label("level"))
    return out


ZONE_ATTRIBUTES: Final = ("code", "name", "level", "color", "n1", "n2", "n3", "n4", "unit_count")


def scope_key(principal: Principal) -> tuple[Hashable, ...]:
    """What a principal's tiles depend on: the same key gives the same rows."""
    if principal.is_admin:
        return ("admin",)
    return (str(principal.role), tuple(sorted(principal.adcodes)), principal.enterprise_id)


def _hazard_scope(principal: Principal) -> list[ColumnElement[bool]]:
    if principal.is_admin:
        return []
    if principal.role is Role.regulator:
        return [H.c.jurisdiction_adcode.in_(repo.area_of(principal))]
    if principal.role is Role.enterprise and principal.enterprise_id is not None:
        return [H.c.enterprise_id == principal.enterprise_id]
    raise repo.deny(principal, "see hidden hazards")


def scope(principal: Principal, layer: Layer) -> list[ColumnElement[bool]]:
    """WHERE clauses of `layer` for `principal`; raises (401/403) if the role may not read it. Call this
    before looking in the cache."""
    if layer.resource is None:
        return _hazard_scope(principal)
    return repo.visible(principal, layer.resource)


def tolerance(z: int) -> float:
    """About half a pixel of a 256-pixel tile at zoom z, in Mercator metres (display simplification)."""
    return 2 * WORLD / (2**z) / 512


def _envelope(z: int, x: int, y: int) -> Any:
    return func.ST_TileEnvelope(bindparam("z", z), bindparam("x", x), bindparam("y", y))


def _search_box(z: int, x: int, y: int) -> Any:
    """The tile with its buffer, as a 4490 box for the GiST index."""
    margin = BUFFER / EXTENT
    whole = func.ST_MakeEnvelope(-WORLD, -WORLD, WORLD, WORLD, 3857)
    env = func.ST_TileEnvelope(bindparam("bz", z), bindparam("bx", x), bindparam("by", y), whole, margin)
    return func.ST_Transform(env, repo.SRID)


def _mvt_geom(geom: Any, z: int, x: int, y: int) -> Any:
    mercator = func.ST_Simplify(func.ST_Transform(geom, 3857), bindparam("tol", tolerance(z)), True)
    return func.ST_AsMVTGeom(mercator, _envelope(z, x, y), EXTENT, BUFFER, True)


CELL_PX: Final = 4
"""Side of a cell, in pixels of a 256-pixel tile: features smaller than this are drawn per cell."""
CELL: Final = CELL_PX * EXTENT // 256  # the same in tile units
CELL_MAX_ZOOM: Final = 11
"""Above this zoom every feature is drawn as itself (a cell is then under 140 m)."""
LEVELS: Final = (1, 2, 3, 4)


def _cell_scales(z: int, x: int, y: int) -> dict[str, float]:
    """Constants turning CGCS2000 lon/lat (treated as WGS 84: display only, the two agree to centimetres)
    into tile units of tile z/x/y with Mercator's formulas, so no feature is transformed one by one."""
    n = float(2**z)
    a = n * EXTENT / 360  # tile units per degree of longitude
    return {
        "ca": a,
        "cb": 180 * a - x * EXTENT,
        "cc": n * EXTENT / 2 - y * EXTENT,
        "cd": n * EXTENT / (2 * math.pi),  # tile units per unit of Mercator's y on the unit sphere
    }


def layer_tile(
    conn: Connection, principal: Principal, layer: Layer, z: int, x: int, y: int, *, adcode: str | None = None
) -> bytes:
    """The MVT of one layer's rows that `principal` may see (an empty tile is b""): `layer_tile_at`'s
    tile."""
    return layer_tile_at(conn, principal, layer, z, x, y, adcode=adcode).value


def layer_tile_at(
    conn: Connection, principal: Principal, layer: Layer, z: int, x: int, y: int, *, adcode: str | None = None
) -> Made:
    """The MVT of one layer's rows that `principal` may see (an empty tile is b"").

    At zooms up to `CELL_MAX_ZOOM`, features smaller than a cell (`CELL_PX` pixels) are not drawn one by
    one (they would be under a few pixels): each cell of the tile's grid that holds any is one square
    feature with `count` (how many) and, for a graded layer, `level` (the highest: the smallest number)
    and n1–n4 (how many of each level); a cell holding only one is that feature's centre as a point with
    its `id` too. Each feature is counted in exactly one tile (the one its box's centre lies in), so
    none is left out. Features at least a cell wide are drawn as themselves with all their attributes,
    as every feature is above `CELL_MAX_ZOOM`.

    With it, in the same statement, the write counter (`epoch`) read after the statement's snapshot was
    taken (so any write the tile holds has moved it): `cached` needs no statement of its own for that."""
    where_scope = scope(principal, layer)  # raises (401/403) when the role may not read the layer
    aggregate = layer.cells and z <= CELL_MAX_ZOOM
    key = (layer.name, aggregate, scope_key(principal), adcode, conn.dialect.name)
    with _STATEMENTS_LOCK:
        kept = _STATEMENTS.get(key)
        if kept is not None:
            _STATEMENTS.move_to_end(key)
    if kept is None:
        kept = compiled_tile_statement(conn, layer, where_scope, aggregate, adcode)
        with _STATEMENTS_LOCK:
            _STATEMENTS[key] = kept
            while len(_STATEMENTS) > _STATEMENTS_MAX:
                _STATEMENTS.popitem(last=False)
    sql, fixed = kept
    body, at = conn.exec_driver_sql(sql, {**fixed, **tile_params(layer, aggregate, z, x, y)}).one()
    return Made(bytes(body or b""), int(at))


def compiled_tile_statement(
    conn: Connection, layer: Layer, where_scope: list[Any], aggregate: bool, adcode: str | None
) -> tuple[str, dict[str, Any]]:
    """The SQL of a tile of `layer` (with `TILE_SETTINGS`) and its parameters that are the same for every tile;
    `tile_params` gives the others."""
    compiled = _tile_statement(layer, where_scope, aggregate, adcode).compile(
        dialect=conn.dialect, compile_kwargs={"render_postcompile": True}
    )
    return TILE_SETTINGS + str(compiled), dict(compiled.params)


def tile_params(layer: Layer, aggregate: bool, z: int, x: int, y: int) -> dict[str, Any]:
    """Every value that differs from tile to tile: the named bound parameters of a compiled tile statement."""
    params: dict[str, Any] = {"z": z, "x": x, "y": y, "bz": z, "bx": x, "by": y, "tol": tolerance(z)}
    if aggregate:
        params.update(_placed_params(z, x, y) if layer.placed else _cell_scales(z, x, y))
    return params


TILE_SETTINGS: Final = (
    "SELECT set_config('jit', 'off', true), set_config('work_mem', '32MB', true), "
    "set_config('max_parallel_workers_per_gather', '0', true); "
)
"""Sent with a tile's statement, in the same query (one round trip; one transaction, even on a connection in
autocommit): no JIT (compiling a z8 tile's plan took 0.7 s, longer than the tile), room to group a tile's
rows in memory, and no parallel plan (a z12 tile's parallel scan of the whole table took 280 ms, against
9 ms from the index on one core: the planner weighs the per-row geometry functions into its choice)."""

# Tile statements by (layer, cells or not, the principal's scope, adcode), compiled: building one took
# 0.3 ms (z12+) to 6 ms (a z≤11 statement with cells) of Python a tile. Bounded: one entry per scope in use.
_STATEMENTS: OrderedDict[Hashable, tuple[str, dict[str, Any]]] = OrderedDict()
_STATEMENTS_LOCK = threading.Lock()
_STATEMENTS_MAX: Final = 512


def _tile_statement(layer: Layer, where_scope: list[Any], aggregate: bool, adcode: str | None) -> Any:
    """The statement of a tile of `layer` with the bound parameters z, x, y (bz, bx, by), tol (and ca–cd
    for cells); its values at z = x = y = 0 are placeholders."""
    z = x = y = 0
    t: Table = layer.table
    where = [t.c.geom.op("&&")(_search_box(z, x, y)), *where_scope]
    if layer.name == "hazards":
        where.append(t.c.status.in_(OPEN_HAZARD_STATES))
    if adcode is not None:  # only the rows filed under this jurisdiction's subtree
        where.append(t.c.jurisdiction_adcode.in_(repo.jurisdiction_subtree(adcode)))
    attrs = columns(layer, t)
    if not aggregate:
        # No `geom IS NOT NULL` filter: ST_AsMVT skips a row whose geometry is NULL (outside the tile), and
        # the filter made PostgreSQL compute every geometry twice (once for it, once for the tile).
        mvt: Any = select(_mvt_geom(t.c.geom, z, x, y).label("geom"), *attrs).where(*where).subquery("mvt")
    elif layer.placed:
        mvt = _placed_cells_and_features(t, attrs, where[1:], z, x, y)
    else:
        level = level_of(layer, t) if layer.graded else None
        mvt = _cells_and_features(t, attrs, where, level, z, x, y)
    return select(
        func.ST_AsMVT(literal_column("mvt"), bindparam("layer", layer.name), EXTENT, "geom"),
        literal_column(f"({EPOCH_SQL})", BigInteger),
    ).select_from(mvt)


def _cells_and_features(
    t: Table, attrs: list[Any], where: list[Any], level_sql: Any, z: int, x: int, y: int
) -> Any:
    """One pass over the tile's rows (no transform for the small ones: Mercator's formulas on the bounding
    box, in tile units), grouped by cell; a feature at least a cell wide is a group of its own."""
    f8 = Float(precision=53)
    ca, cb, cc, cd = (bindparam(k, 0.0, type_=f8) for k in ("ca", "cb", "cc", "cd"))  # values: _cell_scales

    def num(v: float) -> Any:
        return literal_column(repr(float(v)), f8)

    graded = level_sql is not None
    level = [level_sql.label("level")] if graded else []
    found = (
        select(t.c.geom, t.c.id, *level, cast(t.c.geom, Box3D).label("b"))
        .where(*where)
        .offset(0)  # a fence: each row's box is computed once
        .subquery("found")
    )
    x0, x1 = func.ST_XMin(found.c.b, type_=f8), func.ST_XMax(found.c.b, type_=f8)
    y0, y1 = func.ST_YMin(found.c.b, type_=f8), func.ST_YMax(found.c.b, type_=f8)
    lat2 = func.radians(y0 + y1, type_=f8)  # twice the latitude of the box's centre, radians
    wide = func.greatest(
        (x1 - x0) * ca, func.radians(y1 - y0, type_=f8) * cd / func.cos(lat2 * num(0.5), type_=f8)
    )
    ty = cc - cd * func.ln(func.tan(lat2 * num(0.25) + num(math.pi / 4), type_=f8), type_=f8)
    placed = (
        select(
            found.c.geom,
            found.c.id,
            *(found.c.level for _ in level),
            ((x0 + x1) * num(0.5) * ca + cb).label("tx"),  # the box's centre in tile units
            ty.label("ty"),
            (wide >= num(CELL)).label("big"),
        )
        .offset(0)
        .subquery("placed")
    )
    inside = and_(placed.c.tx >= 0, placed.c.tx < EXTENT, placed.c.ty >= 0, placed.c.ty < EXTENT)
    side = EXTENT // CELL
    group = case(
        (placed.c.big, -placed.c.id),
        else_=cast(func.floor(placed.c.tx / num(CELL)), BigInteger) * side
        + cast(func.floor(placed.c.ty / num(CELL)), BigInteger),
    ).label("cell")
    keyed = select(placed, group).where(or_(placed.c.big, inside)).subquery("keyed")
    big = func.bool_or(keyed.c.big)
    n = func.count()
    cx, cy = func.min(keyed.c.cell) / side, func.min(keyed.c.cell) % side
    square = func.ST_Reverse(func.ST_MakeEnvelope(cx * CELL, cy * CELL, cx * CELL + CELL, cy * CELL + CELL))
    point = func.ST_MakePoint(func.round(func.min(keyed.c.tx)), func.round(func.min(keyed.c.ty)))
    drawn = _mvt_geom(func.array_agg(keyed.c.geom).filter(keyed.c.big)[1], z, x, y)
    tallies = [case((~big, n)).label("count")]
    if graded:
        tallies.append(func.min(keyed.c.level).label("level"))
        tallies += [case((~big, func.count().filter(keyed.c.level == k))).label(f"n{k}") for k in LEVELS]
    grouped = (
        select(
            case((big, drawn), (n == 1, point), else_=square).label("geom"),
            case((n == 1, func.min(keyed.c.id))).label("id"),  # a feature drawn alone, or alone in its cell
            *tallies,
        )
        .group_by(keyed.c.cell)
        .subquery("grouped")
    )
    return _with_attributes(t, attrs, grouped, graded)


def _with_attributes(t: Table, attrs: list[Any], grouped: Any, graded: bool) -> Any:
    """The MVT rows of `grouped` (geom, id of a feature drawn alone or alone in its cell, count, and for a graded
    layer level and n1–n4), with the other attributes of each feature drawn alone looked up by its primary key;
    rows whose geometry fell outside the tile dropped."""
    kept = {"id", "level"} if graded else {"id"}
    own = [a for a in attrs if a.name not in kept]
    one = select(*own).where(t.c.id == grouped.c.id).limit(1).lateral("one")  # a lookup per feature
    shown = [grouped.c[a.name] if a.name in kept else one.c[a.name] for a in attrs]
    counts = [grouped.c.count, *(grouped.c[f"n{k}"] for k in LEVELS if graded)]
    return (
        select(grouped.c.geom, *shown, *counts)
        .select_from(grouped.outerjoin(one, true()))
        .where(grouped.c.geom.is_not(None))
        .subquery("mvt")
    )


PLACED_ZOOM: Final = 11
"""The zoom of the stored tile_x / tile_y / tile_span (tile units of zoom 11: 2^23 a side)."""


def morton(x: int, y: int) -> int:
    """x's bits in the even places, y's in the odd ones: `riskmap_morton` of migration 0024t."""
    m = 0
    for bit in range(32):
        m |= ((x >> bit) & 1) << (2 * bit) | ((y >> bit) & 1) << (2 * bit + 1)
    return m


def _placed_params(z: int, x: int, y: int) -> dict[str, Any]:
    """The bound values of a placed layer's cells at tile z/x/y: the tile's range of Morton codes, the shift
    from a stored place to its cell, and the scale from stored units to this tile's."""
    down = PLACED_ZOOM - z  # zoom-11 units per unit of this zoom: 2**down
    first = morton(x, y) << (2 * (down + 12))
    return {
        "mlo": first,
        "mhi": first + (1 << (2 * (down + 12))),
        "csh": down + 6,  # a cell is 64 = 2**6 units of this zoom
        "cx0": x * (EXTENT // CELL),
        "cy0": y * (EXTENT // CELL),
        "scale": 2.0**-down,
        "ox": float(x * EXTENT),
        "oy": float(y * EXTENT),
        "wide": float(CELL << down),
    }


def _placed_cells_and_features(t: Table, attrs: list[Any], scoped: list[Any], z: int, x: int, y: int) -> Any:
    """`_cells_and_features` for a table that stores each row's place (risk units): the small rows of the
    tile, those whose box centre lies in it, from an index-only range scan of their Morton codes grouped by
    cell (no geometry read); the rows at least a cell wide that meet the tile, from the partial GiST index
    of wide rows, drawn as themselves. The same cells, counts and levels as the per-row placement (a single
    row's point is placed to 2^(z-11) of a tile unit: under a pixel)."""
    i8, f8 = BigInteger(), Float(precision=53)
    mlo, mhi, csh, cx0, cy0 = (bindparam(k, 0, type_=i8) for k in ("mlo", "mhi", "csh", "cx0", "cy0"))
    scale, ox, oy, wide = (bindparam(k, 0.0, type_=f8) for k in ("scale", "ox", "oy", "wide"))
    side = EXTENT // CELL
    cell = ((t.c.tile_x.op(">>")(csh) - cx0) * side + (t.c.tile_y.op(">>")(csh) - cy0)).label("cell")
    n = func.count()
    small = (
        select(
            cell,
            n.label("n"),
            func.min(t.c.level).label("level"),
            *(func.count().filter(t.c.level == k).label(f"n{k}") for k in LEVELS),
            func.min(t.c.id).label("id"),
            func.min(t.c.tile_x).label("px"),
            func.min(t.c.tile_y).label("py"),
        )
        .where(t.c.tile_m >= mlo, t.c.tile_m < mhi, t.c.tile_span < wide, *scoped)
        .group_by(literal_column("1"))
        .subquery("small")
    )
    cx, cy = small.c.cell / side, small.c.cell % side
    square = func.ST_Reverse(func.ST_MakeEnvelope(cx * CELL, cy * CELL, cx * CELL + CELL, cy * CELL + CELL))
    point = func.ST_MakePoint(
        func.round(cast(small.c.px, f8) * scale - ox), func.round(cast(small.c.py, f8) * scale - oy)
    )
    cells = select(
        case((small.c.n == 1, point), else_=square).label("geom"),
        case((small.c.n == 1, small.c.id)).label("id"),
        small.c.n.label("count"),
        small.c.level,
        *(small.c[f"n{k}"] for k in LEVELS),
    )
    none = cast(null(), i8)
    wide_rows = select(
        _mvt_geom(t.c.geom, z, x, y).label("geom"),
        t.c.id,
        none.label("count"),
        t.c.level,
        *(none.label(f"n{k}") for k in LEVELS),
    ).where(
        t.c.geom.op("&&")(_search_box(z, x, y)),
        t.c.tile_span >= literal_column(str(TILE_WIDE), f8),  # the partial index's own condition
        t.c.tile_span >= wide,
        *scoped,
    )
    return _with_attributes(t, attrs, union_all(cells, wide_rows).subquery("grouped"), graded=True)


class Box3D(UserDefinedType[Any]):
    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "box3d"


_ZONES_TILE = """
WITH zone AS (
    SELECT * FROM unnest(CAST(:codes AS text[]), CAST(:levels AS int[]), CAST(:colors AS text[]),
                         CAST(:n1 AS int[]), CAST(:n2 AS int[]), CAST(:n3 AS int[]), CAST(:n4 AS int[]),
                         CAST(:units AS int[]))
        AS z(code, level, color, n1, n2, n3, n4, unit_count)
), mvt AS (
    SELECT ST_AsMVTGeom(ST_Simplify(ST_Transform(j.geom, 3857), :tol, true), ST_TileEnvelope(:z, :x, :y),
                        4096, 64, true) AS geom,
           zone.code, j.name, zone.level, zone.color, zone.n1, zone.n2, zone.n3, zone.n4, zone.unit_count
    FROM zone JOIN jurisdictions j ON j.adcode = zone.code
    WHERE j.geom && ST_Transform(ST_TileEnvelope(:z, :x, :y,
              ST_MakeEnvelope(-20037508.342789244, -20037508.342789244,
                              20037508.342789244, 20037508.342789244, 3857), 0.015625), 4490)
)
SELECT ST_AsMVT(mvt, 'zones', 4096, 'geom') FROM mvt WHERE geom IS NOT NULL
"""


@dataclass(frozen=True)
class ZoneTable:
    """Four-colour zones that are stored jurisdictions (e.g. the children of an adcode), with their level,
    colour (None when no risk) and counts by level."""

    codes: Sequence[str]
    levels: Sequence[int | None]
    colors: Sequence[str | None]
    counts: Sequence[Sequence[int]]  # n1..n4 per zone
    unit_counts: Sequence[int]


def zones_tile(conn: Connection, zones: ZoneTable, z: int, x: int, y: int) -> bytes:
    params = {
        "codes": list(zones.codes),
        "levels": list(zones.levels),
        "colors": list(zones.colors),
        "n1": [c[0] for c in zones.counts],
        "n2": [c[1] for c in zones.counts],
        "n3": [c[2] for c in zones.counts],
        "n4": [c[3] for c in zones.counts],
        "units": list(zones.unit_counts),
        "tol": tolerance(z),
        "z": z,
        "x": x,
        "y": y,
    }
    return bytes(conn.execute(text(_ZONES_TILE), params).scalar() or b"")


# --- the cache ---------------------------------------------------------------------------------------


class EpochCache:
    """An LRU of values made at an epoch (`tile_epoch`, or the answer cache's tuple of per-table counters),
    bounded in bytes; thread-safe."""

    def __init__(self, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[Hashable, tuple[Hashable, Any, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable, epoch: Hashable) -> Any | None:
        with self._lock:
            item = self._items.get(key)
            if item is None or item[0] != epoch:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return item[1]

    def put(self, key: Hashable, epoch: Hashable, value: Any, size: int) -> None:
        if size > self.max_bytes // 8:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= old[2]
            self._items[key] = (epoch, value, size)
            self._bytes += size
            while self._bytes > self.max_bytes and self._items:
                _, (_, _, dropped) = self._items.popitem(last=False)
                self._bytes -= dropped

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0


# RISKMAP_TILE_CACHE_MB=0 turns the cache off (the bench measures tiles made fresh that way).
CACHE: Final = EpochCache(int(float(os.environ.get("RISKMAP_TILE_CACHE_MB", "64")) * 1024 * 1024))


EPOCH_SQL: Final = "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM tile_epoch"


def epoch(conn: Connection) -> int:
    """The write counter now (moved by each write statement of a mapped table)."""
    return int(conn.execute(text(EPOCH_SQL)).scalar_one())


@dataclass(frozen=True)
class Made:
    """A value made by a statement that also read the epoch after its snapshot (`layer_tile_at`)."""

    value: Any
    epoch: int


def etag(at: int, key: Hashable) -> str:
    digest = hashlib.sha256(repr((at, key)).encode()).hexdigest()[:32]
    return f'"{digest}"'


@dataclass(frozen=True)
class Answer:
    body: bytes | None  # None: not modified (the caller's If-None-Match matched)
    etag: str | None  # None: made while a write was in flight, not cached, not to be revalidated


def cached(
    conn: Connection,
    key: Hashable,
    make: Callable[[Connection], Any],
    *,
    size: Callable[[Any], int] = len,
    if_none_match: str | None = None,
    cache: EpochCache = CACHE,
) -> tuple[Any, str | None, bool]:
    """(value, ETag, not_modified) for `key`: from the cache at the current epoch, else made by `make` and
    stored. A hit or a 304 costs one statement, a miss two when `make` returns a `Made` (its statement read
    the epoch: `layer_tile_at`), else three. `conn` may be in autocommit (the layers' tiles: no BEGIN and
    COMMIT round trips; `layer_tile_at` sends its settings with its statement) or in a transaction
    (`engine.begin()`: the zones, whose settings the first statement sets for it). Authorisation must be
    checked before (the cache does not)."""
    # Is a write in flight? Every write statement of a mapped table holds TILE_LOCK shared until its
    # transaction ends (and moves the epoch first). The epoch is read first (the sequence's row is scanned
    # before the row's expressions are evaluated), then the lock, taken exclusively and let go at once,
    # says no write was in flight at that instant, so the data made at `now` is all committed; a write that
    # starts later moves the epoch, which is read again once the tile is made (after the snapshot the tile
    # was made from). Readers hold the lock only for that instant: concurrent tiles do not shut each other
    # out of the cache, nor does a writer wait for a tile.
    now, clear = conn.execute(
        text(
            "SELECT CASE WHEN is_called THEN last_value ELSE 0 END, "
            "CASE WHEN pg_try_advisory_lock(:k) THEN pg_advisory_unlock(:k) ELSE false END, "
            "set_config('jit', 'off', true), set_config('work_mem', '32MB', true), "
            "set_config('max_parallel_workers_per_gather', '0', true) FROM tile_epoch"
        ),
        {"k": TILE_LOCK},
    ).one()[:2]
    now = int(now)
    tag = etag(now, key)
    if if_none_match is not None and tag in (s.strip() for s in if_none_match.split(",")):
        return None, tag, True
    hit = cache.get(key, now)
    if hit is not None:
        return hit, tag, False
    made = make(conn)
    value, made_at = (made.value, made.epoch) if isinstance(made, Made) else (made, epoch(conn))
    if not clear or made_at != now:
        return value, None, False
    cache.put(key, now, value, size(value))
    return value, tag, False
