"""geo.coords: GCJ-02 / BD-09 conversions, geometries to and from storage, metric helpers (no database)."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray
from pyproj import CRS, Geod, Transformer
from shapely.geometry import (
    GeometryCollection,
    LineString,
    MultiPoint,
    MultiPolygon,
    Point,
    Polygon,
)
from shapely.geometry.base import BaseGeometry

from geo.coords import (
    InputCrs,
    LonLatConversion,
    bd09_to_gcj02,
    bd09_to_wgs84,
    from_storage,
    from_storage_xy,
    gauss_kruger_epsg,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    geodesic_distance_m,
    parse_crs,
    to_storage,
    to_storage_xy,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)
from geo.errors import InvalidInput

GEOD = Geod(ellps="GRS80")
Convert = LonLatConversion

# (forward, inverse) pairs
PAIRS: list[tuple[Convert, Convert]] = [
    (wgs84_to_gcj02, gcj02_to_wgs84),
    (wgs84_to_bd09, bd09_to_wgs84),
    (gcj02_to_bd09, bd09_to_gcj02),
]
PAIR_IDS = ["wgs84-gcj02", "wgs84-bd09", "gcj02-bd09"]
ALL_CONVERSIONS = [f for pair in PAIRS for f in pair]

# Every sampled point lies in China's own extent (lon 73.66–135.05, lat 3.86–53.55, the box of
# wandergis/coordtransform's out_of_china), well inside the offset box of geo.coords.
CHINA_LON = (73.66, 135.05)
CHINA_LAT = (3.86, 53.55)


def metres(lon1: Any, lat1: Any, lon2: Any, lat2: Any) -> NDArray[np.float64]:
    """Geodesic distance on GRS80, independent of the function under test."""
    return np.asarray(GEOD.inv(lon1, lat1, lon2, lat2)[2], dtype=np.float64)


@pytest.fixture(scope="module")
def china_points() -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    rng = np.random.default_rng(20240601)
    return rng.uniform(*CHINA_LON, 5000), rng.uniform(*CHINA_LAT, 5000)


# --- Round trips ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("forward", "inverse"), PAIRS, ids=PAIR_IDS)
def test_round_trips_across_china_are_far_below_a_metre(
    forward: Convert, inverse: Convert, china_points: tuple[NDArray[np.float64], NDArray[np.float64]]
) -> None:
    lon, lat = china_points
    there = forward(lon, lat)
    back = inverse(*there)
    assert metres(lon, lat, *back).max() < 1e-3  # measured: a few nanometres
    # and the other way round: the inverse really is the solution of forward(x) == target
    solved = inverse(lon, lat)
    again = forward(*solved)
    assert metres(lon, lat, *again).max() < 1e-3


@settings(max_examples=300, deadline=None)
@given(
    lon=st.floats(72.01, 137.83),  # the whole offset box (lon 72.004–137.8347, lat 0.8293–55.8271)
    lat=st.floats(0.83, 55.82),
    pair=st.sampled_from(PAIRS),
)
def test_inverse_undoes_forward_everywhere_in_the_box(
    lon: float, lat: float, pair: tuple[Convert, Convert]
) -> None:
    forward, inverse = pair
    back_lon, back_lat = inverse(*forward(lon, lat))
    assert abs(back_lon - lon) < 1e-9
    assert abs(back_lat - lat) < 1e-9


@settings(max_examples=300, deadline=None)
@given(lon=st.floats(-180.0, 180.0), lat=st.floats(-90.0, 90.0), convert=st.sampled_from(ALL_CONVERSIONS))
def test_no_offset_outside_the_box(lon: float, lat: float, convert: Convert) -> None:
    margin = 0.1  # within 0.1 degree of the box, an inverse may find a preimage inside it
    outside = not (72.004 - margin <= lon <= 137.8347 + margin and 0.8293 - margin <= lat <= 55.8271 + margin)
    if not outside:
        return
    assert convert(lon, lat) == (lon, lat)


@pytest.mark.parametrize(
    ("lon", "lat"), [(2.35, 48.85), (-74.0, 40.7), (139.69, 35.69), (151.2, -33.9), (100.5, 56.5)]
)
def test_places_abroad_are_not_moved(lon: float, lat: float) -> None:
    for convert in ALL_CONVERSIONS:
        assert convert(lon, lat) == (lon, lat)


def test_gcj_offset_has_the_known_size(china_points: tuple[NDArray[np.float64], NDArray[np.float64]]) -> None:
    lon, lat = china_points
    offset = metres(lon, lat, *wgs84_to_gcj02(lon, lat))
    # measured over the sample: 21–710 m, median about 400 m (small only near the far west and far south)
    assert offset.max() < 750
    assert offset.min() > 10
    assert 300 < np.median(offset) < 500
    assert np.mean((offset > 100) & (offset < 700)) > 0.97
    # Tian'anmen, Beijing: measured 556 m (the familiar "about half a kilometre" of Beijing maps)
    assert 500 < metres(116.397, 39.909, *wgs84_to_gcj02(116.397, 39.909)) < 620
    # BD-09 moves GCJ-02 by roughly another kilometre: measured 766–1010 m
    second = metres(lon, lat, *gcj02_to_bd09(lon, lat))
    assert second.min() > 700
    assert second.max() < 1100


# --- Published sample points ------------------------------------------------------------------------------
# Each row: (input lon, lat), (output lon, lat), tolerance in degrees, source.
# - eviltransform: googollee/eviltransform python/test.py (same rows in c/test.c, go/transform_test.go), given
#   there as (lat, lng) pairs; reordered to (lon, lat) here.
# - coordtransform: wandergis/coordtransform test/app.js (the "//result" block, input 116.404, 39.915).
# - GeoCraft: ShangjinTang/GeoCraft README.md (usage example, input 116.404, 39.915).
# - pyxis: Glatzel/pyxis python/tests/test_crypto.py. Its values differ from the Krasovsky formula by about
#   8e-8 degrees (under 1 cm; the library evidently uses slightly different constants), hence 1e-6.

WGS_TO_GCJ = [
    ((121.5272106, 31.1774276), (121.531541859215, 31.17530398364597), 1e-9, "eviltransform Shanghai"),
    ((113.912316, 22.543847), (113.9171764808363, 22.540796131694766), 1e-9, "eviltransform Shenzhen"),
    ((116.377817, 39.911954), (116.38404722455657, 39.91334545536069), 1e-9, "eviltransform Beijing"),
    ((116.404, 39.915), (116.41024449916938, 39.91640428150164), 1e-9, "coordtransform"),
    ((121.0917077, 30.6107779), (121.09626935575027, 30.608604331756705), 1e-6, "pyxis"),
]
GCJ_TO_BD = [
    ((116.404, 39.915), (116.41036949371029, 39.92133699351021), 1e-9, "coordtransform"),
    ((121.09626935575027, 30.608604331756705), (121.10271732371203, 30.61484572185035), 1e-9, "pyxis"),
]
WGS_TO_BD = [
    ((116.404, 39.915), (116.41662724378733, 39.922699552216216), 1e-9, "GeoCraft"),
    ((121.0917077, 30.6107779), (121.10271732371203, 30.61484572185035), 1e-6, "pyxis"),
]
PUBLISHED = (
    [(wgs84_to_gcj02, gcj02_to_wgs84, *row) for row in WGS_TO_GCJ]
    + [(gcj02_to_bd09, bd09_to_gcj02, *row) for row in GCJ_TO_BD]
    + [(wgs84_to_bd09, bd09_to_wgs84, *row) for row in WGS_TO_BD]
)


@pytest.mark.parametrize(
    ("forward", "inverse", "given", "expected", "tolerance", "source"),
    PUBLISHED,
    ids=[f"{row[0].__name__}-{row[5]}" for row in PUBLISHED],
)
def test_published_pairs(
    forward: Convert,
    inverse: Convert,
    given: tuple[float, float],
    expected: tuple[float, float],
    tolerance: float,
    source: str,
) -> None:
    lon, lat = forward(*given)
    assert lon == pytest.approx(expected[0], abs=tolerance), source
    assert lat == pytest.approx(expected[1], abs=tolerance), source
    # the iterative inverse takes the published output back to the published input
    back_lon, back_lat = inverse(*expected)
    assert back_lon == pytest.approx(given[0], abs=tolerance), source
    assert back_lat == pytest.approx(given[1], abs=tolerance), source


def test_published_one_step_inverses_are_close_to_the_exact_ones() -> None:
    # wandergis/coordtransform test/app.js also lists its one-step (approximate) inverses of
    # (116.404, 39.915); the exact inverse must land within the error of such an approximation (metres).
    assert metres(116.39775550083061, 39.91359571849836, *gcj02_to_wgs84(116.404, 39.915)) < 2.0
    assert metres(116.39762729119315, 39.90865673957631, *bd09_to_gcj02(116.404, 39.915)) < 2.0


# --- Shapes and types -------------------------------------------------------------------------------------


def test_scalars_give_floats_and_arrays_keep_their_shape() -> None:
    lon, lat = wgs84_to_gcj02(116.4, 39.9)
    assert type(lon) is float
    assert type(lat) is float
    grid_lon, grid_lat = np.meshgrid(np.linspace(110, 120, 4), np.linspace(25, 35, 3))
    for convert in ALL_CONVERSIONS:
        out_lon, out_lat = convert(grid_lon, grid_lat)
        assert out_lon.shape == out_lat.shape == (3, 4)
        assert out_lon.dtype == out_lat.dtype == np.float64
    # broadcasting, lists and ints
    out_lon, out_lat = gcj02_to_wgs84([116, 117, 118], 30)
    assert out_lon.shape == out_lat.shape == (3,)
    assert out_lat[0] != out_lat[1]
    assert gcj02_to_wgs84(np.empty(0), np.empty(0))[0].shape == (0,)


def test_nan_stays_nan() -> None:
    lon = np.array([np.nan, 116.4, 116.4])
    lat = np.array([39.9, np.nan, 39.9])
    for convert in ALL_CONVERSIONS:
        out_lon, out_lat = convert(lon, lat)
        assert np.isnan(out_lon[0])
        assert np.isnan(out_lat[1])
        assert np.isfinite(out_lon[2])
        assert np.isfinite(out_lat[2])


def test_inputs_are_not_modified() -> None:
    lon = np.array([116.4, 121.5])
    lat = np.array([39.9, 31.2])
    for convert in ALL_CONVERSIONS:
        convert(lon, lat)
    assert lon.tolist() == [116.4, 121.5]
    assert lat.tolist() == [39.9, 31.2]


# --- parse_crs --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("cgcs2000", InputCrs.cgcs2000),
        ("CGCS2000", InputCrs.cgcs2000),
        ("EPSG:4490", InputCrs.cgcs2000),
        ("epsg:4490", InputCrs.cgcs2000),
        ("wgs84", InputCrs.wgs84),
        ("WGS84", InputCrs.wgs84),
        ("EPSG:4326", InputCrs.wgs84),
        ("gcj02", InputCrs.gcj02),
        ("GCJ-02", InputCrs.gcj02),
        ("gcj-02", InputCrs.gcj02),
        ("bd09", InputCrs.bd09),
        ("BD-09", InputCrs.bd09),
        (" bd-09 ", InputCrs.bd09),
        (InputCrs.gcj02, InputCrs.gcj02),
    ],
)
def test_parse_crs_accepts_names_and_aliases(value: str, expected: InputCrs) -> None:
    assert parse_crs(value) is expected


@pytest.mark.parametrize("value", ["utm", "", "EPSG:3857", "gcj", "bd09ll", "EPSG:4490x"])
def test_parse_crs_rejects_unknown_names_with_the_field(value: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_crs(value, "features[3].crs")
    (problem,) = caught.value.problems
    assert problem.field == "features[3].crs"
    assert problem.reason == f"unknown crs {value!r}; expected one of cgcs2000, wgs84, gcj02, bd09"
    assert problem.reason_zh is not None
    assert problem.reason_zh.startswith("未知坐标系")


def test_parse_crs_default_field_and_a_non_string() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_crs(4326)  # type: ignore[arg-type]
    assert caught.value.problems[0].field == "crs"


# --- Geometries to and from storage -----------------------------------------------------------------------


def square(lon: float, lat: float, side_deg: float = 0.01) -> Polygon:
    return Polygon(
        [(lon, lat), (lon + side_deg, lat), (lon + side_deg, lat + side_deg), (lon, lat + side_deg)]
    )


QUANZHOU = square(118.58, 24.90)
WITH_HOLE = Polygon(
    QUANZHOU.exterior.coords, [[(118.583, 24.903), (118.586, 24.903), (118.586, 24.906), (118.583, 24.906)]]
)
GEOMETRIES: dict[str, BaseGeometry] = {
    "point": Point(117.3, 34.8),
    "linestring": LineString([(98.5, 24.4), (98.52, 24.43), (98.55, 24.41)]),
    "polygon": QUANZHOU,
    "polygon-with-hole": WITH_HOLE,
    "multipoint": MultiPoint([(113.9, 22.5), (121.5, 31.2)]),
    "multipolygon": MultiPolygon([QUANZHOU, square(117.3, 34.8)]),
    "collection": GeometryCollection([Point(116.4, 39.9), LineString([(116.4, 39.9), (116.41, 39.91)])]),
}


def vertex_shift_m(a: BaseGeometry, b: BaseGeometry) -> NDArray[np.float64]:
    ca = shapely.get_coordinates(a)
    cb = shapely.get_coordinates(b)
    assert ca.shape == cb.shape
    return metres(ca[:, 0], ca[:, 1], cb[:, 0], cb[:, 1])


@pytest.mark.parametrize("crs", ["gcj02", "bd09"])
@pytest.mark.parametrize("name", list(GEOMETRIES))
def test_to_storage_moves_every_vertex_and_keeps_type_and_validity(name: str, crs: str) -> None:
    geom = GEOMETRIES[name]
    stored = to_storage(geom, crs)
    assert stored.geom_type == geom.geom_type
    assert stored.is_valid
    assert len(shapely.get_parts(stored)) == len(shapely.get_parts(geom))
    shift = vertex_shift_m(geom, stored)
    assert shift.min() > 10  # it did move (GCJ 100–700 m, BD about 1 km more)
    assert shift.max() < 2000
    if isinstance(geom, Polygon):
        assert isinstance(stored, Polygon)
        assert len(stored.interiors) == len(geom.interiors)
        # nearly a shift: the offsets' local scale differs from 1 by at most about 0.6 % (GCJ-02) and
        # 1.4 % (BD-09), measured over 3000 random 1 km squares in China
        assert stored.area == pytest.approx(geom.area, rel=0.02)
    back = from_storage(stored, crs)
    assert back.geom_type == geom.geom_type
    assert vertex_shift_m(geom, back).max() < 1e-3  # measured: nanometres


@pytest.mark.parametrize("crs", ["gcj02", "bd09"])
@pytest.mark.parametrize("name", list(GEOMETRIES))
def test_from_storage_then_to_storage_is_identity(name: str, crs: str) -> None:
    geom = GEOMETRIES[name]
    assert vertex_shift_m(geom, to_storage(from_storage(geom, crs), crs)).max() < 1e-3


@pytest.mark.parametrize("crs", ["cgcs2000", "wgs84", "EPSG:4490", "EPSG:4326", InputCrs.wgs84])
def test_cgcs2000_and_wgs84_are_stored_as_given(crs: str) -> None:
    for geom in GEOMETRIES.values():
        assert to_storage(geom, crs).equals_exact(geom, tolerance=0)
        assert from_storage(geom, crs).equals_exact(geom, tolerance=0)


def test_to_storage_agrees_with_the_point_functions_and_keeps_z() -> None:
    stored = to_storage(Point(118.6, 24.9, 35.0), "bd09")
    assert stored.has_z
    assert stored.z == 35.0
    assert (stored.x, stored.y) == bd09_to_wgs84(118.6, 24.9)
    line = to_storage(LineString([(118.6, 24.9, 1.0), (118.7, 25.0, 2.0)]), InputCrs.gcj02)
    assert shapely.get_coordinates(line, include_z=True)[:, 2].tolist() == [1.0, 2.0]
    assert line.coords[1][:2] == gcj02_to_wgs84(118.7, 25.0)


def test_to_storage_of_empty_geometries_and_places_abroad() -> None:
    assert to_storage(Polygon(), "gcj02").is_empty
    tokyo = square(139.69, 35.68)
    assert to_storage(tokyo, "bd09").equals_exact(tokyo, tolerance=0)


def test_to_storage_rejects_an_unknown_crs() -> None:
    with pytest.raises(InvalidInput) as caught:
        to_storage(QUANZHOU, "mercator")
    assert caught.value.problems[0].field == "crs"


def test_to_storage_xy_and_from_storage_xy() -> None:
    lon = np.array([[118.6, 117.3, 98.5]])
    lat = np.array([[24.9, 34.8, 24.4]])
    stored_lon, stored_lat = to_storage_xy(lon, lat, "BD-09")
    assert stored_lon.shape == stored_lat.shape == (1, 3)
    expected_lon, expected_lat = bd09_to_wgs84(lon, lat)
    assert np.array_equal(stored_lon, expected_lon)
    assert np.array_equal(stored_lat, expected_lat)
    back_lon, back_lat = from_storage_xy(stored_lon, stored_lat, "bd09")
    assert metres(lon, lat, back_lon, back_lat).max() < 1e-3
    same_lon, same_lat = to_storage_xy(118.6, 24.9, "wgs84")
    assert (same_lon, same_lat) == (118.6, 24.9)
    assert type(same_lon) is float


# --- Gauss–Krüger zones and distances ---------------------------------------------------------------------


def central_meridian(epsg: int) -> float:
    """The central meridian pyproj reports for an EPSG code (and that it is a CGCS2000 GK zone)."""
    crs = CRS.from_epsg(epsg)
    assert crs.name.startswith("CGCS2000 / 3-degree Gauss-Kruger CM ")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "you will likely lose projection information"
        params = crs.to_dict()
    assert params["proj"] == "tmerc"
    assert params["ellps"] == "GRS80"
    assert params["k"] == 1
    assert params["x_0"] == 500000
    return float(params["lon_0"])


@pytest.mark.parametrize(
    ("lon", "place", "cm", "epsg"),
    [(118.7, "Quanzhou", 120, 4549), (117.3, "Zaozhuang", 117, 4548), (98.5, "Dehong", 99, 4542)],
)
def test_gauss_kruger_zone_of_a_place(lon: float, place: str, cm: int, epsg: int) -> None:
    assert gauss_kruger_epsg(lon) == epsg, place
    assert central_meridian(epsg) == cm
    assert CRS.from_epsg(epsg).name.endswith(f"CM {cm}E")


def test_gauss_kruger_table_matches_pyproj_for_every_zone() -> None:
    for cm in range(75, 136, 3):
        epsg = gauss_kruger_epsg(cm)
        assert 4534 <= epsg <= 4554
        assert central_meridian(epsg) == cm
        assert gauss_kruger_epsg(cm - 1.49) == epsg
        assert gauss_kruger_epsg(cm + 1.49) == epsg
    assert gauss_kruger_epsg(75) == 4534
    assert gauss_kruger_epsg(135) == 4554
    assert gauss_kruger_epsg(118.5) == 4549  # halfway goes east
    assert gauss_kruger_epsg(73.5) == 4534
    assert gauss_kruger_epsg(136.49) == 4554


@pytest.mark.parametrize("lon", [73.49, 136.5, 10.0, -118.7, math.nan, math.inf])
def test_gauss_kruger_rejects_longitudes_outside_the_zones(lon: float) -> None:
    with pytest.raises(InvalidInput) as caught:
        gauss_kruger_epsg(lon, field="site.lon")
    assert caught.value.problems[0].field == "site.lon"


# (lon, lat) starts at 22°N (Shenzhen), 25°N (near Quanzhou, 1.3° from its central meridian) and 35°N
# (near Zaozhuang), plus one start at the very edge of a zone (1.49° from the central meridian).
STARTS = [(113.95, 22.0), (118.7, 25.0), (117.3, 35.0), (116.49, 35.0)]


@pytest.mark.parametrize(("lon", "lat"), STARTS)
def test_gauss_kruger_distance_matches_geodesic_but_web_mercator_does_not(lon: float, lat: float) -> None:
    epsg = gauss_kruger_epsg(lon)
    to_gk = Transformer.from_crs("EPSG:4490", f"EPSG:{epsg}", always_xy=True)
    to_mercator = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True)
    for distance in (1000.0, 2500.0, 5000.0):
        for azimuth in (0.0, 45.0, 90.0, 135.0):
            end_lon, end_lat, _ = GEOD.fwd(lon, lat, azimuth, distance)
            geodesic = geodesic_distance_m(lon, lat, end_lon, end_lat)
            assert geodesic == pytest.approx(distance, abs=1e-6)
            x1, y1 = to_gk.transform(lon, lat)
            x2, y2 = to_gk.transform(end_lon, end_lat)
            assert math.hypot(x2 - x1, y2 - y1) == pytest.approx(geodesic, rel=1e-3)
            mx1, my1 = to_mercator.transform(lon, lat)
            mx2, my2 = to_mercator.transform(end_lon, end_lat)
            # web Mercator stretches by 1/cos(lat): +7.8 % at 22°N, +10.3 % at 25°N, +22 % at 35°N
            assert math.hypot(mx2 - mx1, my2 - my1) / geodesic > 1.05


def test_geodesic_distance_values_and_shapes() -> None:
    # along the equator (a geodesic) one degree of longitude is a * pi / 180, a = 6 378 137 m for GRS80
    one_degree = geodesic_distance_m(100.0, 0.0, 101.0, 0.0)
    assert type(one_degree) is float
    assert one_degree == pytest.approx(6378137.0 * math.pi / 180.0, abs=1e-6)
    assert geodesic_distance_m(118.6, 24.9, 118.6, 24.9) == 0.0
    out = geodesic_distance_m(np.array([[100.0, 100.0, 100.0]]), 0.0, 101.0, np.array([0.0, 0.0, 0.0]))
    assert isinstance(out, np.ndarray)
    assert out.shape == (1, 3)
    assert out == pytest.approx(np.full((1, 3), one_degree))
