"""The four-colour map's rules, checked on hand-made zones and units (pure, no database)."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Geod
from shapely.geometry import LineString, MultiPolygon, Point, Polygon, box

from geo.errors import InvalidInput
from geo.four_colour import (
    DEFAULT_PALETTE,
    RULES,
    ZoneTotals,
    distinct_ids_per_zone,
    four_colour,
    four_colour_options,
    geodesic_area_m2,
    summarise,
    why_text,
)

GEOD = Geod(ellps="GRS80")
X0, Y0, D = 114.0, 25.0, 0.01  # zones are 0.01° squares at 25°N, about 1 km across


def cell(i: int, j: int = 0) -> Polygon:
    return box(X0 + i * D, Y0 + j * D, X0 + (i + 1) * D, Y0 + (j + 1) * D)


def zones_frame(*geoms: Any, codes: list[str] | None = None) -> gpd.GeoDataFrame:
    codes = codes or [f"Z{i}" for i in range(len(geoms))]
    return gpd.GeoDataFrame(
        {"code": codes, "name": [f"区 {c}" for c in codes]}, geometry=list(geoms), crs=4490
    )


def units_frame(*rows: tuple[int, Any, int | None]) -> gpd.GeoDataFrame:
    """(level, geometry, enterprise_id) per unit."""
    return gpd.GeoDataFrame(
        {
            "id": np.arange(1, len(rows) + 1),
            "level": [r[0] for r in rows],
            "enterprise_id": pd.array([r[2] for r in rows], dtype="Int64"),
        },
        geometry=[r[1] for r in rows],
        crs=4490,
    )


def area(g: Any) -> float:
    return abs(GEOD.geometry_area_perimeter(g)[0])


def by_code(result: gpd.GeoDataFrame) -> dict[str, dict[str, Any]]:
    return {r["code"]: r for r in result.to_dict("records")}


def test_polygon_straddling_two_zones_counts_in_both_with_its_area_split() -> None:
    unit = box(X0 + 0.7 * D, Y0 + 0.2 * D, X0 + 1.5 * D, Y0 + 0.6 * D)
    out = by_code(four_colour(zones_frame(cell(0), cell(1)), units_frame((2, unit, 7))))
    for code, zone in (("Z0", cell(0)), ("Z1", cell(1))):
        assert out[code]["counts"] == {1: 0, 2: 1, 3: 0, 4: 0}
        assert out[code]["level"] == 2
        expected = round(area(unit.intersection(zone)) / area(zone), 6)
        assert out[code]["area_share"][2] == pytest.approx(expected, abs=1e-12)
        assert out[code]["enterprise_ids"] == [7]
    assert out["Z0"]["area_share"][2] == pytest.approx(0.3 * 0.4, abs=2e-4)  # 30 % × 40 % of the cell
    assert out["Z1"]["area_share"][2] == pytest.approx(0.5 * 0.4, abs=2e-4)


def test_polygon_only_touching_a_zone_edge_does_not_count_there() -> None:
    outside = box(X0 + D, Y0 + 0.2 * D, X0 + 1.3 * D, Y0 + 0.4 * D)  # shares part of Z0's east edge
    corner = box(X0 + D, Y0 + D, X0 + 1.2 * D, Y0 + 1.2 * D)  # meets Z0 at its north-east corner only
    out = by_code(
        four_colour(zones_frame(cell(0), cell(1)), units_frame((1, outside, None), (2, corner, None)))
    )
    assert out["Z0"]["unit_count"] == 0
    assert pd.isna(out["Z0"]["level"])
    assert out["Z1"]["counts"] == {1: 1, 2: 0, 3: 0, 4: 0}


def test_point_on_the_shared_edge_counts_in_both_zones() -> None:
    out = by_code(
        four_colour(zones_frame(cell(0), cell(1)), units_frame((3, Point(X0 + D, Y0 + 0.5 * D), 4)))
    )
    for code in ("Z0", "Z1"):
        assert out[code]["counts"] == {1: 0, 2: 0, 3: 1, 4: 0}
        assert out[code]["area_share"] == {1: 0.0, 2: 0.0, 3: 0.0, 4: 0.0}
        assert out[code]["enterprise_ids"] == [4]


def test_pipeline_crossing_three_zones_counts_in_each_without_area() -> None:
    pipeline = LineString([(X0 + 0.5 * D, Y0 + 0.5 * D), (X0 + 2.5 * D, Y0 + 0.6 * D)])
    out = four_colour(zones_frame(cell(0), cell(1), cell(2)), units_frame((1, pipeline, None)))
    assert out["counts"].tolist() == [{1: 1, 2: 0, 3: 0, 4: 0}] * 3
    assert out["level"].tolist() == [1, 1, 1]
    assert out["color"].tolist() == [DEFAULT_PALETTE[1]] * 3
    assert all(sum(s.values()) == 0 for s in out["area_share"])


def test_line_along_a_shared_edge_counts_in_neither_zone() -> None:
    along = LineString([(X0 + D, Y0 + 0.1 * D), (X0 + D, Y0 + 0.9 * D)])
    out = four_colour(zones_frame(cell(0), cell(1)), units_frame((1, along, None)))
    assert out["unit_count"].tolist() == [0, 0]


def test_empty_zone_has_no_level_no_colour_and_zero_counts() -> None:
    out = four_colour(zones_frame(cell(0), cell(5)), units_frame((1, Point(X0 + 0.5 * D, Y0 + 0.5 * D), 3)))
    empty = out.iloc[1]
    assert empty["level"] is pd.NA
    assert empty["color"] is None
    assert empty["counts"] == {1: 0, 2: 0, 3: 0, 4: 0}
    assert empty["area_share"] == {1: 0.0, 2: 0.0, 3: 0.0, 4: 0.0}
    assert empty["enterprise_ids"] == []
    assert empty["unit_count"] == 0


def test_zone_with_only_level_4_units_is_blue() -> None:
    units = units_frame(
        (4, box(X0 + 0.1 * D, Y0 + 0.1 * D, X0 + 0.2 * D, Y0 + 0.2 * D), None),
        (4, Point(X0 + 0.5 * D, Y0 + 0.5 * D), None),
    )
    out = four_colour(zones_frame(cell(0)), units).iloc[0]
    assert out["level"] == 4
    assert out["color"] == "#0000FF"
    assert out["counts"] == {1: 0, 2: 0, 3: 0, 4: 2}
    assert out["area_share"][4] == pytest.approx(0.01, abs=2e-5)


def test_highest_level_wins_by_default() -> None:
    inside = [Point(X0 + (0.1 + 0.1 * k) * D, Y0 + 0.5 * D) for k in range(4)]
    units = units_frame(*[(lv, p, None) for lv, p in zip((4, 3, 2, 3), inside, strict=True)])
    out = four_colour(zones_frame(cell(0)), units).iloc[0]
    assert (out["level"], out["color"], out["index"]) == (2, DEFAULT_PALETTE[2], None)


def _points(counts: dict[int, int]) -> gpd.GeoDataFrame:
    rows = [
        (lv, Point(X0 + (k + 1) / 100 * D, Y0 + lv / 10 * D), None)
        for lv, n in counts.items()
        for k in range(n)
    ]
    return units_frame(*rows)


@pytest.mark.parametrize(
    ("counts", "index", "level"),
    [
        ({1: 0, 2: 1, 3: 2, 4: 5}, 55.0, 2),  # 30 + 2·10 + 5·1
        ({1: 0, 2: 0, 3: 0, 4: 9}, 9.0, 4),
        ({1: 0, 2: 0, 3: 1, 4: 0}, 10.0, 3),
        ({1: 0, 2: 3, 3: 1, 4: 0}, 100.0, 1),  # no red unit, yet the index reaches the red break
        ({1: 1, 2: 0, 3: 0, 4: 0}, 100.0, 1),
    ],
)
def test_weighted_rule_on_known_counts(counts: dict[int, int], index: float, level: int) -> None:
    out = four_colour(zones_frame(cell(0), cell(3)), _points(counts), rule="weighted")
    assert out.iloc[0]["counts"] == counts
    assert out.iloc[0]["index"] == index
    assert out.iloc[0]["level"] == level
    assert out.iloc[1]["index"] == 0.0
    assert out.iloc[1]["level"] is pd.NA


def test_weighted_rule_with_own_weights_and_breaks() -> None:
    units = _points({1: 0, 2: 0, 3: 0, 4: 6})
    out = four_colour(
        zones_frame(cell(0)), units, rule="weighted", weights={1: 50, 2: 20, 3: 5, 4: 2}, breaks=(40, 12, 6)
    )
    assert (out.iloc[0]["index"], out.iloc[0]["level"]) == (12.0, 2)


def test_custom_palette() -> None:
    palette = {1: "#a50026", 2: "#f46d43", 3: "#fee08b", 4: "#4575b4"}
    out = four_colour(zones_frame(cell(0)), _points({1: 0, 2: 0, 3: 1, 4: 0}), palette=palette)
    assert out.iloc[0]["color"] == "#fee08b"


def test_overlapping_units_of_a_level_add_up_and_the_share_is_clipped_to_one() -> None:
    zone = cell(0)
    big = box(X0 - D, Y0 - D, X0 + 2 * D, Y0 + 2 * D)  # covers the whole zone, twice
    out = four_colour(zones_frame(zone), units_frame((3, big, 1), (3, big, 2), (4, zone, 2))).iloc[0]
    assert out["counts"] == {1: 0, 2: 0, 3: 2, 4: 1}
    assert out["area_share"] == {1: 0.0, 2: 0.0, 3: 1.0, 4: 1.0}
    assert out["enterprise_ids"] == [1, 2]


def test_half_covered_zone_share_by_overlap() -> None:
    half = box(X0, Y0, X0 + 0.5 * D, Y0 + D)
    out = four_colour(zones_frame(cell(0)), units_frame((2, half, None), (2, half, None))).iloc[0]
    assert out["area_share"][2] == pytest.approx(1.0, abs=1e-5)  # two halves: 2 × 0.5


def test_output_keeps_the_input_order_types_and_crs() -> None:
    zones = zones_frame(cell(2), cell(0), cell(1), codes=["c", "a", "b"])
    zones.index = [10, 20, 30]
    out = four_colour(zones, units_frame((1, Point(X0 + 0.5 * D, Y0 + 0.5 * D), None)))
    assert out["code"].tolist() == ["c", "a", "b"]
    assert out["level"].dtype == "Int64"
    assert out["level"].tolist()[1] == 1
    assert out.crs.to_epsg() == 4490
    assert list(out.columns) == [
        "code", "name", "level", "color", "counts", "area_share", "enterprise_ids", "unit_count", "index", "why",
        "geometry",
    ]  # fmt: skip
    assert out.geometry.iloc[0].equals(cell(2))


def test_zones_in_another_crs_are_converted() -> None:
    zones = zones_frame(cell(0), cell(1)).to_crs(4547)
    out = four_colour(zones, units_frame((2, Point(X0 + 1.5 * D, Y0 + 0.5 * D), None)))
    assert out["unit_count"].tolist() == [0, 1]
    assert out.crs.to_epsg() == 4490


def test_without_area_shares_the_counts_stay() -> None:
    units = units_frame(
        (2, box(X0 + 0.7 * D, Y0 + 0.2 * D, X0 + 1.5 * D, Y0 + 0.6 * D), None),
        (1, box(X0 + D, Y0 + 0.2 * D, X0 + 1.3 * D, Y0 + 0.4 * D), None),  # touches Z0 only
    )
    zones = zones_frame(cell(0), cell(1))
    full, fast = four_colour(zones, units), four_colour(zones, units, area_share=False)
    assert (
        fast["counts"].tolist()
        == full["counts"].tolist()
        == [{1: 0, 2: 1, 3: 0, 4: 0}, {1: 1, 2: 1, 3: 0, 4: 0}]
    )
    assert fast["area_share"].tolist() == [None, None]


def test_stored_unit_areas_are_used_for_units_wholly_inside() -> None:
    units = units_frame((3, box(X0 + 0.1 * D, Y0 + 0.1 * D, X0 + 0.2 * D, Y0 + 0.2 * D), None))
    units["area_m2"] = [area(cell(0)) / 4]  # not the real area: proves the column is used
    assert four_colour(zones_frame(cell(0)), units).iloc[0]["area_share"][3] == 0.25


def test_no_units_at_all() -> None:
    out = four_colour(zones_frame(cell(0)), units_frame())
    assert out.iloc[0]["unit_count"] == 0


def test_geodesic_area_matches_pyproj_for_holes_and_parts() -> None:
    holed = Polygon(
        cell(0).exterior.coords, [box(X0 + 0.2 * D, Y0 + 0.2 * D, X0 + 0.4 * D, Y0 + 0.4 * D).exterior.coords]
    )
    clockwise = shapely.orient_polygons(cell(3), exterior_cw=True)
    multi = MultiPolygon([cell(1), cell(4)])
    got = geodesic_area_m2(
        np.array([holed, clockwise, multi, Point(X0, Y0), LineString([(X0, Y0), (X0 + D, Y0)])])
    )
    assert got[0] == pytest.approx(
        area(cell(0)) - area(box(X0 + 0.2 * D, Y0 + 0.2 * D, X0 + 0.4 * D, Y0 + 0.4 * D)), rel=1e-12
    )
    assert got[1] == pytest.approx(area(cell(3)), rel=1e-12)
    assert got[2] == pytest.approx(area(cell(1)) + area(cell(4)), rel=1e-12)
    assert got[3:].tolist() == [0.0, 0.0]
    assert got[0] == pytest.approx(0.96 * 1_118_000, rel=0.01)  # 1.01 km × 1.11 km at 25°N, less the hole


def test_rules_are_documented() -> None:
    assert set(RULES) == {"max", "weighted", "density"}
    assert "data/four_colour_density.csv" in RULES["density"]
    assert "就高" in RULES["max"]
    assert "100" in RULES["weighted"]


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"rule": "mean"}, "rule"),
        ({"weights": {1: 1, 2: 1, 3: 1}}, "weights"),
        ({"weights": {1: 1, 2: 1, 3: 1, 4: 0}}, "weights"),
        ({"breaks": (10, 30, 100)}, "breaks"),
        ({"breaks": (100, 30)}, "breaks"),
        ({"palette": {1: "#f00", 2: "#f80", 3: "#ff0"}}, "palette"),
    ],
)
def test_bad_options_are_refused_with_the_field(options: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        four_colour_options(**options)
    assert err.value.problems[0].field == field


def test_options_take_string_level_keys_as_json_gives_them() -> None:
    opts = four_colour_options(
        palette={"1": "a", "2": "b", "3": "c", "4": "d"}, weights={"1": 5, "2": 4, "3": 3, "4": 2}
    )
    assert opts.palette[3] == "c"
    assert opts.weights[1] == 5


@pytest.mark.parametrize(
    ("zones", "units", "field"),
    [
        (zones_frame(Point(X0, Y0)), units_frame(), "zones[0].geometry"),
        (zones_frame(cell(0)).drop(columns="name"), units_frame(), "zones"),
        (zones_frame(cell(0)).set_crs(None, allow_override=True), units_frame(), "zones"),
        (zones_frame(cell(0)), units_frame((5, Point(X0, Y0), None)), "units[0].level"),
    ],
)
def test_bad_inputs_are_refused(zones: gpd.GeoDataFrame, units: gpd.GeoDataFrame, field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        four_colour(zones, units)
    assert err.value.problems[0].field == field


def test_summarise_from_totals() -> None:
    totals = ZoneTotals(
        counts=np.array([[0, 0, 2, 1], [0, 0, 0, 0]]),
        area_m2=np.array([[0, 0, 50.0, 25.0], [0, 0, 0, 0]]),
        zone_area_m2=np.array([100.0, 0.0]),
        enterprise_ids=[[3], []],
    )
    out = summarise(["a", "b"], ["A", "B"], [cell(0), cell(1)], totals, four_colour_options())
    assert out["level"].tolist()[0] == 3
    assert out["area_share"].tolist() == [{1: 0.0, 2: 0.0, 3: 0.5, 4: 0.25}, {1: 0.0, 2: 0.0, 3: 0.0, 4: 0.0}]


def test_no_zones() -> None:
    out = four_colour(zones_frame(), units_frame((1, Point(X0, Y0), None)))
    assert len(out) == 0
    assert out.crs.to_epsg() == 4490


def test_density_breaks_come_from_the_data_file_with_their_rationale() -> None:
    from geo.four_colour import DENSITY_BREAKS
    from geo.resources import read_table

    rows = read_table("four_colour_density.csv")
    assert tuple(float(r["min_per_km2"]) for r in rows) == DENSITY_BREAKS
    assert all("[verify]" in r["source"] for r in rows)
    assert four_colour_options(rule="density").breaks == DENSITY_BREAKS


def test_every_zone_says_why_it_has_its_level() -> None:
    counts = {1: 0, 2: 3, 3: 1, 4: 0}
    zones = zones_frame(cell(0), cell(3))
    by_max = four_colour(zones, _points(counts))
    assert by_max.iloc[0]["why"] == {"rule": "max", "deciding_level": 2, "deciding_count": 3}
    assert why_text(by_max.iloc[0]["why"], 2) == "就高：区内最高等级为较大风险，共 3 个较大风险单元"
    assert by_max.iloc[1]["why"] == {"rule": "max"}
    assert why_text(by_max.iloc[1]["why"], None) == "区内无风险单元"
    weighted = four_colour(zones, _points(counts), rule="weighted").iloc[0]["why"]
    assert (weighted["index"], weighted["break"]) == (100.0, 100.0)
    assert why_text(weighted, 1) == "加权指数 I = 100 ≥ 100，为重大风险"
    density = four_colour(zones, _points(counts), rule="density").iloc[0]["why"]
    assert density["weighted_units"] == 100.0
    assert 1.0 < density["area_km2"] < 1.2  # 0.01° squares at 25°N
    assert density["index"] == pytest.approx(100.0 / density["area_km2"], rel=1e-2)
    assert density["break"] == 60.0
    assert why_text(density, 1).startswith("风险密度 D = 100 ÷ 1.1")


@pytest.mark.parametrize(
    ("n", "low", "high"),
    [
        (50, 1, 1_000),  # one int64 key per (zone, id)
        (50, -5, 1_000),  # negative ids: the two-key sort
        (3, 0, 2**61),  # a key that would overflow int64: the two-key sort
        (1, 7, 8),
    ],
)
def test_distinct_ids_per_zone_are_each_zones_sorted_set(n: int, low: int, high: int) -> None:
    rng = np.random.default_rng(16)
    zone = rng.integers(0, n, 5_000)
    ids = rng.integers(low, high, 5_000, dtype=np.int64)
    assert distinct_ids_per_zone(n, zone, ids) == [sorted(set(ids[zone == z].tolist())) for z in range(n)]
    assert distinct_ids_per_zone(4, np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)) == [
        [],
        [],
        [],
        [],
    ]
