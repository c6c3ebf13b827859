"""Coordinates in China: input CRSs (WGS 84, GCJ-02, BD-09) to and from the storage CRS CGCS2000 (EPSG:4490),
and metric helpers (geodesic distance, CGCS2000 3-degree Gauss–Krüger zones)."""

from __future__ import annotations

import math
from collections.abc import Callable
from enum import StrEnum
from typing import Final, Protocol, TypeAlias, TypeVar, cast, overload

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray
from pyproj import Geod
from shapely.geometry.base import BaseGeometry

from geo.errors import InvalidInput

__all__ = [
    "STORAGE_EPSG",
    "InputCrs",
    "LonLatConversion",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "from_storage",
    "from_storage_xy",
    "gauss_kruger_epsg",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "geodesic_distance_m",
    "parse_crs",
    "to_storage",
    "to_storage_xy",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
]

FloatArray: TypeAlias = NDArray[np.float64]
Coord: TypeAlias = float | FloatArray  # a float when every input was a scalar, else a float64 array
_PairFn: TypeAlias = Callable[[FloatArray, FloatArray], tuple[FloatArray, FloatArray]]
_G = TypeVar("_G", bound=BaseGeometry)

STORAGE_EPSG: Final = 4490
"""CGCS2000 lon/lat. Treated as identical to WGS 84 (EPSG:4326): the two differ by centimetres."""


class InputCrs(StrEnum):
    """A lon/lat CRS in which coordinates may arrive (or be asked for); storage is always CGCS2000."""

    cgcs2000 = "cgcs2000"
    wgs84 = "wgs84"
    gcj02 = "gcj02"  # 国测局 "Mars" coordinates: Amap/Gaode, Tencent, Google Maps China
    bd09 = "bd09"  # Baidu Maps lon/lat (GCJ-02 offset once more)


_CRS_NAMES: Final[dict[str, InputCrs]] = {
    **{member.value: member for member in InputCrs},
    "epsg:4490": InputCrs.cgcs2000,
    "epsg:4326": InputCrs.wgs84,
    "gcj-02": InputCrs.gcj02,
    "bd-09": InputCrs.bd09,
}


def parse_crs(value: str, field: str = "crs") -> InputCrs:
    """The InputCrs named by value (case-insensitive; also EPSG:4490, EPSG:4326, gcj-02, bd-09)."""
    found = _CRS_NAMES.get(value.strip().lower()) if isinstance(value, str) else None
    if found is None:
        expected = ", ".join(member.value for member in InputCrs)
        raise InvalidInput.one(
            field,
            f"unknown crs {value!r}; expected one of {expected}",
            f"未知坐标系 {value!r}；应为 {'、'.join(member.value for member in InputCrs)} 之一",
        )
    return found


# --- GCJ-02 and BD-09 ------------------------------------------------------------------------------------
#
# GCJ-02 = WGS 84 + a smooth offset (the widely published formula on the Krasovsky ellipsoid), up to about
# 700 m in China. BD-09 = GCJ-02 + a second, near-constant offset of roughly 1 km. Neither has a closed-form
# inverse; the inverses here solve forward(x) == target by fixed-point iteration to _TOLERANCE degrees (the
# common one-step inverse, forward offset subtracted once, is off by up to 5 m).
#
# Outside China. Like the common implementations, no offset is applied outside a rough bounding box
# (lon 72.004–137.8347, lat 0.8293–55.8271): there all four CRSs coincide. Whether a point is offset is
# decided on its *unshifted* position: the WGS 84 position for WGS↔GCJ and WGS↔BD (both offsets or none),
# the GCJ-02 position for GCJ↔BD. Forward functions test their input; inverse functions test the solution
# they found, and return the input unchanged when that solution lies outside the box. Hence
# inverse(forward(p)) == p for every p inside the box, so for every point of China. Only in a strip about
# 1 km wide along the box edges (sea, or foreign land) can forward(inverse(q)) differ from q, since there
# the forward map is not one-to-one; and only there can WGS→BD differ from WGS→GCJ→BD.

_KRASOVSKY_A: Final = 6378245.0
_KRASOVSKY_EE: Final = 0.00669342162296594323
_X_PI: Final = math.pi * 3000.0 / 180.0
_BOX_LON: Final = (72.004, 137.8347)
_BOX_LAT: Final = (0.8293, 55.8271)
_SEARCH_MARGIN: Final = 0.1  # degrees; both offsets are below 0.02 degrees, so a preimage lies this close
_TOLERANCE: Final = 1e-11  # degrees, about a micrometre
_MAX_ITERATIONS: Final = 40  # each step shrinks the error over 50-fold; 6 or 7 steps suffice in practice


def _in_box(lon: FloatArray, lat: FloatArray, margin: float = 0.0) -> NDArray[np.bool_]:
    """Where the offsets apply: the rough China bounding box (False for NaN)."""
    return (
        (lon >= _BOX_LON[0] - margin)
        & (lon <= _BOX_LON[1] + margin)
        & (lat >= _BOX_LAT[0] - margin)
        & (lat <= _BOX_LAT[1] + margin)
    )


def _gcj_offset(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    """The GCJ-02 offset (dlon, dlat) in degrees at a WGS 84 position, ignoring the box."""
    x = lon - 105.0
    y = lat - 35.0
    shared = (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    sqrt_abs_x = np.sqrt(np.abs(x))
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sqrt_abs_x + shared
    dlat += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sqrt_abs_x + shared
    dlon += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    dlon += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    rad_lat = lat / 180.0 * np.pi
    magic = 1.0 - _KRASOVSKY_EE * np.sin(rad_lat) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_KRASOVSKY_A * (1.0 - _KRASOVSKY_EE)) / (magic * sqrt_magic) * np.pi)
    dlon = (dlon * 180.0) / (_KRASOVSKY_A / sqrt_magic * np.cos(rad_lat) * np.pi)
    return dlon, dlat


def _wgs_to_gcj_everywhere(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    dlon, dlat = _gcj_offset(lon, lat)
    return lon + dlon, lat + dlat


def _gcj_to_bd_everywhere(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    z = np.hypot(lon, lat) + 0.00002 * np.sin(lat * _X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def _forward(everywhere: _PairFn, lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Apply an offset inside the box; leave points outside it (and NaN) unchanged."""
    inside = _in_box(lon, lat)
    out_lon = lon.astype(np.float64, copy=True)
    out_lat = lat.astype(np.float64, copy=True)
    if inside.any():
        new_lon, new_lat = everywhere(lon[inside], lat[inside])
        out_lon[inside] = new_lon
        out_lat[inside] = new_lat
    return out_lon, out_lat


def _inverse(everywhere: _PairFn, lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Solve everywhere(x, y) == (lon, lat) by fixed-point iteration; keep solutions inside the box."""
    out_lon = lon.astype(np.float64, copy=True)
    out_lat = lat.astype(np.float64, copy=True)
    near = _in_box(lon, lat, _SEARCH_MARGIN)
    if not near.any():
        return out_lon, out_lat
    target_lon, target_lat = lon[near], lat[near]
    x, y = target_lon.copy(), target_lat.copy()
    for _ in range(_MAX_ITERATIONS):
        fx, fy = everywhere(x, y)
        step_lon, step_lat = target_lon - fx, target_lat - fy
        x += step_lon
        y += step_lat
        if max(float(np.max(np.abs(step_lon))), float(np.max(np.abs(step_lat)))) <= _TOLERANCE:
            break
    solved = _in_box(x, y)
    out_lon[near] = np.where(solved, x, target_lon)
    out_lat[near] = np.where(solved, y, target_lat)
    return out_lon, out_lat


def _wgs_to_gcj(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    return _forward(_wgs_to_gcj_everywhere, lon, lat)


def _gcj_to_wgs(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    return _inverse(_wgs_to_gcj_everywhere, lon, lat)


def _gcj_to_bd(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    return _forward(_gcj_to_bd_everywhere, lon, lat)


def _bd_to_gcj(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    return _inverse(_gcj_to_bd_everywhere, lon, lat)


def _wgs_to_bd_everywhere(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    return _gcj_to_bd_everywhere(*_wgs_to_gcj_everywhere(lon, lat))


def _wgs_to_bd(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    return _forward(_wgs_to_bd_everywhere, lon, lat)


def _bd_to_wgs(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    return _inverse(_wgs_to_bd_everywhere, lon, lat)


def _identity(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    return lon.astype(np.float64, copy=True), lat.astype(np.float64, copy=True)


def _vectorised(fn: _PairFn, lon: ArrayLike, lat: ArrayLike) -> tuple[Coord, Coord]:
    """Run fn on flat float64 arrays; floats back for scalar input, else arrays of the broadcast shape."""
    lon_arr, lat_arr = np.broadcast_arrays(
        np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
    )
    shape = lon_arr.shape
    with np.errstate(invalid="ignore"):
        out_lon, out_lat = fn(lon_arr.ravel(), lat_arr.ravel())
    if not shape:
        return float(out_lon[0]), float(out_lat[0])
    return out_lon.reshape(shape), out_lat.reshape(shape)


class LonLatConversion(Protocol):
    """A vectorised lon/lat conversion: floats for scalars, else float64 arrays of the broadcast shape."""

    __name__: str

    @overload
    def __call__(self, lon: float, lat: float) -> tuple[float, float]: ...
    @overload
    def __call__(self, lon: ArrayLike, lat: ArrayLike) -> tuple[FloatArray, FloatArray]: ...


def _lonlat(fn: _PairFn) -> LonLatConversion:
    """Make a function of flat float64 arrays accept scalars and arrays of any (broadcastable) shape."""

    def convert(lon: ArrayLike, lat: ArrayLike) -> tuple[Coord, Coord]:
        return _vectorised(fn, lon, lat)

    # fn's name and docstring, but not its signature, which takes flat arrays only (so no functools.wraps)
    convert.__name__ = fn.__name__
    convert.__qualname__ = fn.__qualname__
    convert.__doc__ = fn.__doc__
    return cast(LonLatConversion, convert)


@_lonlat
def wgs84_to_gcj02(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    """WGS 84 (or CGCS2000) lon/lat to GCJ-02."""
    return _wgs_to_gcj(lon, lat)


@_lonlat
def gcj02_to_wgs84(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    """GCJ-02 lon/lat to WGS 84 (or CGCS2000), solved iteratively to about 1e-11 degrees."""
    return _gcj_to_wgs(lon, lat)


@_lonlat
def gcj02_to_bd09(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    """GCJ-02 lon/lat to BD-09."""
    return _gcj_to_bd(lon, lat)


@_lonlat
def bd09_to_gcj02(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    """BD-09 lon/lat to GCJ-02, solved iteratively to about 1e-11 degrees."""
    return _bd_to_gcj(lon, lat)


@_lonlat
def wgs84_to_bd09(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    """WGS 84 (or CGCS2000) lon/lat to BD-09 (the GCJ-02 offset, then the BD-09 one)."""
    return _wgs_to_bd(lon, lat)


@_lonlat
def bd09_to_wgs84(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    """BD-09 lon/lat to WGS 84 (or CGCS2000), solved iteratively to about 1e-11 degrees."""
    return _bd_to_wgs(lon, lat)


# --- Geometries to and from storage ------------------------------------------------------------------------

_TO_STORAGE: Final[dict[InputCrs, _PairFn]] = {
    InputCrs.cgcs2000: _identity,
    InputCrs.wgs84: _identity,
    InputCrs.gcj02: _gcj_to_wgs,
    InputCrs.bd09: _bd_to_wgs,
}
_FROM_STORAGE: Final[dict[InputCrs, _PairFn]] = {
    InputCrs.cgcs2000: _identity,
    InputCrs.wgs84: _identity,
    InputCrs.gcj02: _wgs_to_gcj,
    InputCrs.bd09: _wgs_to_bd,
}


def _transform_geometry(geom: _G, fn: _PairFn) -> _G:
    if fn is _identity:
        return geom

    def apply(coords: FloatArray) -> FloatArray:
        out = np.array(coords, dtype=np.float64)  # (N, 2) or (N, 3): z is kept as it is
        with np.errstate(invalid="ignore"):
            out[:, 0], out[:, 1] = fn(out[:, 0].copy(), out[:, 1].copy())
        return out

    # include_z=None (shapely >= 2.1) keeps each part's own dimension; types-shapely still says bool
    transform = cast(Callable[..., _G], shapely.transform)
    return transform(geom, apply, include_z=None)


def to_storage(geom: _G, crs: InputCrs | str) -> _G:
    """Any shapely geometry given in crs, as CGCS2000 lon/lat (same type and structure; z kept)."""
    return _transform_geometry(geom, _TO_STORAGE[parse_crs(crs)])


def from_storage(geom: _G, crs: InputCrs | str) -> _G:
    """A stored CGCS2000 geometry expressed in crs, for output to a GCJ-02 or BD-09 map."""
    return _transform_geometry(geom, _FROM_STORAGE[parse_crs(crs)])


@overload
def to_storage_xy(lon: float, lat: float, crs: InputCrs | str) -> tuple[float, float]: ...
@overload
def to_storage_xy(lon: ArrayLike, lat: ArrayLike, crs: InputCrs | str) -> tuple[FloatArray, FloatArray]: ...
def to_storage_xy(lon: ArrayLike, lat: ArrayLike, crs: InputCrs | str) -> tuple[Coord, Coord]:
    """Lon/lat arrays (or scalars) given in crs, as CGCS2000 lon/lat."""
    return _vectorised(_TO_STORAGE[parse_crs(crs)], lon, lat)


@overload
def from_storage_xy(lon: float, lat: float, crs: InputCrs | str) -> tuple[float, float]: ...
@overload
def from_storage_xy(lon: ArrayLike, lat: ArrayLike, crs: InputCrs | str) -> tuple[FloatArray, FloatArray]: ...
def from_storage_xy(lon: ArrayLike, lat: ArrayLike, crs: InputCrs | str) -> tuple[Coord, Coord]:
    """CGCS2000 lon/lat arrays (or scalars) expressed in crs."""
    return _vectorised(_FROM_STORAGE[parse_crs(crs)], lon, lat)


# --- Metric helpers ----------------------------------------------------------------------------------------
#
# Distances and areas are computed in metres by a metric method: on the GRS80 ellipsoid (CGCS2000's), or in
# the CGCS2000 3-degree Gauss–Krüger zone of the site. Never in degrees, never in web Mercator (EPSG:3857),
# whose scale is 1/cos(lat): 10 % too long at 25°N, 22 % at 35°N.

_GEOD: Final = Geod(ellps="GRS80")
# EPSG:4534 is "CGCS2000 / 3-degree Gauss-Kruger CM 75E"; +1 per 3 degrees, up to 4554 (CM 135E).
_GK_FIRST_EPSG: Final = 4534
_GK_FIRST_CM: Final = 75
_GK_LAST_CM: Final = 135


def gauss_kruger_epsg(lon: float, field: str = "lon") -> int:
    """EPSG code (4534–4554) of the CGCS2000 3-degree Gauss–Krüger zone whose central meridian is nearest lon.

    These are the "CM nnE" codes: false easting 500 000 m without a zone prefix. A longitude exactly between
    two central meridians goes to the eastern zone (a zone covers CM - 1.5 to CM + 1.5, east edge excluded).
    """
    if not math.isfinite(lon):
        raise InvalidInput.one(
            field, f"longitude {lon!r} is not a finite number", f"经度 {lon!r} 不是有限数值"
        )
    central_meridian = 3 * math.floor((lon + 1.5) / 3.0)
    if not _GK_FIRST_CM <= central_meridian <= _GK_LAST_CM:
        raise InvalidInput.one(
            field,
            f"longitude {lon} is outside the CGCS2000 3-degree Gauss-Kruger zones (73.5 to 136.5 east)",
            f"经度 {lon} 超出 CGCS2000 3 度带高斯-克吕格投影范围（东经 73.5°–136.5°）",
        )
    return _GK_FIRST_EPSG + (central_meridian - _GK_FIRST_CM) // 3


@overload
def geodesic_distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float: ...
@overload
def geodesic_distance_m(lon1: ArrayLike, lat1: ArrayLike, lon2: ArrayLike, lat2: ArrayLike) -> FloatArray: ...
def geodesic_distance_m(lon1: ArrayLike, lat1: ArrayLike, lon2: ArrayLike, lat2: ArrayLike) -> Coord:
    """Geodesic distance in metres on the GRS80 (CGCS2000) ellipsoid; broadcasts like numpy."""
    arrays = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (lon1, lat1, lon2, lat2)))
    shape = arrays[0].shape
    flat = [np.ascontiguousarray(a.ravel()) for a in arrays]
    _, _, dist = _GEOD.inv(flat[0], flat[1], flat[2], flat[3])
    out = np.asarray(dist, dtype=np.float64)
    if not shape:
        return float(out[0])
    return out.reshape(shape)
