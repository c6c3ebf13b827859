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
statement of a mapped table moves (migration 0017). A tile is stored only by a reader that held the
advisory lock `TILE_LOCK` exclusively while reading (no write in flight; a writer waits a few
milliseconds), so a cached tile and its ETag always match the data as of that epoch. When a write is in
flight the tile is made fresh and sent without an ETag, uncached.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import Connection, Engine, Table, bindparam, func, literal_column, select, text
from sqlalchemy.sql import ColumnElement

from geo.access import Principal, Role
from geo.store import repository as repo
from geo.store.models import Hazard

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


LAYERS: Final[dict[str, Layer]] = {
    "jurisdictions": Layer(
        "jurisdictions",
        repo.J,
        ("adcode", "name", "level"),
        repo.JURISDICTIONS,
        "administrative boundaries, parks and grids (public)",
    ),
    "risk_units": Layer(
        "risk_units",
        repo.R,
        ("id", "name", "level", "kind", "enterprise_id", "jurisdiction_adcode"),
        repo.RISK_UNITS,
        "risk units (风险单元) with their level 1–4",
    ),
    "enterprises": Layer(
        "enterprises",
        repo.E,
        ("id", "name", "sector", "jurisdiction_adcode"),
        repo.ENTERPRISES,
        "enterprises (sites as points)",
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


def layer_tile(conn: Connection, principal: Principal, layer: Layer, z: int, x: int, y: int) -> bytes:
    """The MVT of one layer's rows that `principal` may see (an empty tile is b"")."""
    t: Table = layer.table
    where = [t.c.geom.op("&&")(_search_box(z, x, y)), *scope(principal, layer)]
    if layer.name == "hazards":
        where.append(t.c.status.in_(OPEN_HAZARD_STATES))
    rows = (
        select(_mvt_geom(t.c.geom, z, x, y).label("geom"), *(t.c[a] for a in layer.attributes))
        .where(*where)
        .subquery("rows")
    )
    mvt = select(rows).where(rows.c.geom.is_not(None)).subquery("mvt")
    q = select(
        func.ST_AsMVT(literal_column("mvt"), bindparam("layer", layer.name), EXTENT, "geom")
    ).select_from(mvt)
    return bytes(conn.execute(q).scalar() or b"")


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
    """An LRU of values made at a `tile_epoch` value, bounded in bytes; thread-safe."""

    def __init__(self, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[Hashable, tuple[int, Any, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable, epoch: int) -> Any | None:
        with self._lock:
            item = self._items.get(key)
            if item is None or item[0] != epoch:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return item[1]

    def put(self, key: Hashable, epoch: int, value: Any, size: int) -> None:
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


def epoch(conn: Connection) -> int:
    """The write counter now (moved by each write statement of a mapped table)."""
    return int(
        conn.execute(
            text("SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM tile_epoch")
        ).scalar_one()
    )


def etag(at: int, key: Hashable) -> str:
    digest = hashlib.sha256(repr((at, key)).encode()).hexdigest()[:32]
    return f'"{digest}"'


@dataclass(frozen=True)
class Answer:
    body: bytes | None  # None: not modified (the caller's If-None-Match matched)
    etag: str | None  # None: made while a write was in flight, not cached, not to be revalidated


def cached(
    engine: Engine,
    key: Hashable,
    make: Callable[[Connection], Any],
    *,
    size: Callable[[Any], int] = len,
    if_none_match: str | None = None,
    cache: EpochCache = CACHE,
) -> tuple[Any, str | None, bool]:
    """(value, ETag, not_modified) for `key`: from the cache at the current epoch, else made by `make` under
    the exclusive tile lock and stored. Authorisation must be checked before (the cache does not)."""
    with engine.begin() as conn:  # one connection: hits and 304s cost one query
        now = epoch(conn)
        tag = etag(now, key)
        if if_none_match is not None and tag in (s.strip() for s in if_none_match.split(",")):
            return None, tag, True
        hit = cache.get(key, now)
        if hit is not None:
            return hit, tag, False
        locked = bool(conn.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": TILE_LOCK}).scalar())
        value = make(conn)
        if not locked:
            return value, None, False
        made_at = epoch(conn)
    cache.put(key, made_at, value, size(value))
    return value, etag(made_at, key), False
