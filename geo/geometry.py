"""Parse GeoJSON geometries from users: check shape, validity and place, convert to CGCS2000."""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from typing import Any

import shapely
from shapely.geometry import MultiPolygon, Polygon, mapping, shape
from shapely.geometry.base import BaseGeometry

from geo.errors import InvalidInput

POINT = frozenset({"Point"})
POLYGONAL = frozenset({"Polygon", "MultiPolygon"})
POINT_OR_POLYGON = frozenset({"Point", "MultiPoint", "Polygon", "MultiPolygon"})
ANY_SIMPLE = frozenset({"Point", "LineString", "Polygon", "MultiPoint", "MultiLineString", "MultiPolygon"})
GEOJSON_TYPES = ANY_SIMPLE | {"GeometryCollection"}


def parse_geometry(
    obj: Any,
    *,
    field: str = "geometry",
    allowed: Collection[str] = ANY_SIMPLE,
    crs: str = "cgcs2000",
    require_in_china: bool = True,
) -> BaseGeometry:
    """A GeoJSON geometry object → a valid shapely geometry in CGCS2000 lon/lat.

    Raises InvalidInput naming `field` with the reason: malformed GeoJSON, a type not allowed here,
    coordinates out of range, an invalid shape (with GEOS's reason, e.g. a self-intersection), or a
    place outside China.
    """
    from geo.coords import to_storage  # local: coords is heavy on numpy, keep import light

    if not isinstance(obj, Mapping):
        raise InvalidInput.one(field, "expected a GeoJSON geometry object", "应为 GeoJSON 几何对象")
    gtype = obj.get("type")
    if gtype not in GEOJSON_TYPES:
        raise InvalidInput.one(field, f"unknown GeoJSON geometry type {gtype!r}", f"未知的几何类型 {gtype!r}")
    if gtype not in allowed:
        kinds = ", ".join(sorted(allowed))
        raise InvalidInput.one(
            field, f"a {gtype} is not allowed here; expected {kinds}", f"此处不接受 {gtype}，应为 {kinds}"
        )
    if "coordinates" not in obj:
        raise InvalidInput.one(field, "GeoJSON geometry has no 'coordinates'", "几何对象缺少 coordinates")
    if not _well_formed(obj["coordinates"], _NESTING[gtype]):
        # shapely reads "118.9" as 118.9 and [[x, y]] as a Point; RFC 7946 allows neither
        raise InvalidInput.one(
            field,
            f"malformed GeoJSON coordinates: a {gtype} needs {_NESTING_TEXT[_NESTING[gtype]]} "
            "[lon, lat] positions of two numbers",
            "几何坐标格式错误（坐标须为数值）",
        )
    try:
        geom = shape(dict(obj))
    except Exception as exc:  # shapely raises several types for malformed coordinates
        raise InvalidInput.one(field, f"malformed GeoJSON coordinates: {exc}", "几何坐标格式错误") from None
    if geom.is_empty:
        raise InvalidInput.one(field, "the geometry is empty", "几何为空")
    geom = shapely.force_2d(geom)  # RFC 7946 allows an altitude; the register's columns are 2D
    coords = shapely.get_coordinates(geom)
    if not all(math.isfinite(v) for v in coords.ravel()):
        raise InvalidInput.one(field, "coordinates must be finite numbers", "坐标必须为有限数值")
    if (abs(coords[:, 0]) > 180).any() or (abs(coords[:, 1]) > 90).any():
        raise InvalidInput.one(
            field,
            "coordinates must be longitude, latitude in degrees (|lon| ≤ 180, |lat| ≤ 90)",
            "坐标应为经纬度（经度在前）",
        )
    if not geom.is_valid:
        reason = shapely.is_valid_reason(geom)
        raise InvalidInput.one(field, f"invalid geometry: {reason}", f"几何无效：{reason}")
    geom = to_storage(geom, crs)
    if require_in_china:
        from geo.boundaries import is_in_china

        if not is_in_china(geom):
            raise InvalidInput.one(
                field,
                "the geometry lies outside China; riskmap stores places in China only "
                "(check that longitude comes first and the crs is right)",
                "几何位于中国境外（请检查经纬度顺序与坐标系）",
            )
    return geom


_NESTING = {
    "Point": 0,
    "LineString": 1,
    "MultiPoint": 1,
    "Polygon": 2,
    "MultiLineString": 2,
    "MultiPolygon": 3,
}
_NESTING_TEXT = {0: "one", 1: "an array of", 2: "an array of arrays of", 3: "an array of arrays of arrays of"}


def _well_formed(coords: Any, depth: int) -> bool:
    """GeoJSON nesting of positions, each position 2 (or 3, with altitude) numbers."""
    if not isinstance(coords, list | tuple):
        return False
    if depth == 0:
        return 2 <= len(coords) <= 3 and all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in coords
        )
    return all(_well_formed(c, depth - 1) for c in coords)


def as_multipolygon(geom: BaseGeometry) -> MultiPolygon:
    if isinstance(geom, Polygon):
        return MultiPolygon([geom])
    if isinstance(geom, MultiPolygon):
        return geom
    raise TypeError(f"expected a polygon, got {geom.geom_type}")


def to_geojson(
    geom: BaseGeometry | None, *, crs: str = "cgcs2000", precision: int = 7
) -> dict[str, Any] | None:
    """A stored geometry as a GeoJSON dict in the caller's crs, rounded to ~1 cm."""
    if geom is None:
        return None
    if crs != "cgcs2000":
        from geo.coords import from_storage

        geom = from_storage(geom, crs)
    return dict(mapping(shapely.set_precision(geom, 10**-precision, mode="pointwise")))
