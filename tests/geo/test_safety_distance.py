"""The safety-distance reference (geo.safety_distance): rules as data, metric distances at three latitudes,
edge-to-edge polygons, risk contours, the siting verdict and its move distance, exposure bands."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyproj import Geod, Transformer
from shapely.geometry import LineString, Point, Polygon, box

from geo import safety_distance as sd
from geo.errors import InvalidInput
from geo.resources import read_table

GEOD = Geod(ellps="GRS80")
# (lon, lat) of three test sites: 22°N (Pearl River delta), 25°N (泉港), 35°N (Shandong).
SITES = {22: (113.55, 22.0), 25: (118.88, 25.0), 35: (117.55, 35.0)}


def at(origin: tuple[float, float], distance_m: float, azimuth: float) -> Point:
    lon, lat, _ = GEOD.fwd(origin[0], origin[1], azimuth, distance_m)
    return Point(lon, lat)


def geodesic(a: Point, b: Point) -> float:
    return float(GEOD.inv(a.x, a.y, b.x, b.y)[2])


def metric_square(centre: Point, half_m: float) -> Polygon:
    """A square of side 2·half_m around centre, north-up, built from geodesic offsets."""
    north = at((centre.x, centre.y), half_m, 0).y
    south = at((centre.x, centre.y), half_m, 180).y
    east = at((centre.x, centre.y), half_m, 90).x
    west = at((centre.x, centre.y), half_m, 270).x
    return box(west, south, east, north)


def hazards_frame(rows: list[dict[str, object]]) -> gpd.GeoDataFrame:
    geoms = [r.pop("geometry") for r in rows]
    frame = pd.DataFrame(rows)
    for col, default in (("name", "危险源"), ("capacity_m3", None)):
        if col not in frame:
            frame[col] = default
    return gpd.GeoDataFrame(frame, geometry=geoms, crs=4490)


def targets_frame(rows: list[dict[str, object]]) -> gpd.GeoDataFrame:
    geoms = [r.pop("geometry") for r in rows]
    frame = pd.DataFrame(rows)
    for col, default in (("name", "目标"), ("population", None), ("households", None)):
        if col not in frame:
            frame[col] = default
    return gpd.GeoDataFrame(frame, geometry=geoms, crs=4490)


# --- rules as data ---------------------------------------------------------------------------------------


def test_every_rule_row_names_its_standard_edition_clause_and_source() -> None:
    rows = read_table("safety_distance_rules.csv")
    assert len({r["rule_id"] for r in rows}) == len(rows)
    for r in rows:
        for col in ("hazard_kind", "hazard_name_zh", "standard", "edition", "clause", "source", "in_force"):
            assert r[col].strip(), (r["rule_id"], col)
    # The unchecked figures of domain.md §6 stay flagged in the data.
    flagged = {r["rule_id"] for r in rows if "[verify]" in r["source"] + r["clause"] + r["edition"]}
    assert {r["rule_id"] for r in rows if r["standard"] == "GB 50160" and r["edition"] == "2008"} <= flagged


def test_domain_figures_are_the_rules() -> None:
    school = "high_sensitive"
    assert sd.rule_for("liquefied_hydrocarbon_tanks", None, school).distance_m == 150  # type: ignore[union-attr]
    assert sd.rule_for("elevated_flare", None, "general_1").distance_m == 120  # type: ignore[union-attr]
    assert sd.rule_for("process_unit_a_b", None, "general_2").distance_m == 100  # type: ignore[union-attr]
    lpg = {
        cap: sd.rule_for("lpg_supply_base", cap, school).distance_m
        for cap in (50, 51, 200, 201, 500, 501, 1000)
    }  # type: ignore[union-attr]
    assert lpg == {50: 45, 51: 50, 200: 50, 201: 70, 500: 70, 501: 90, 1000: 90}
    assert sd.rule_for("lpg_supply_base", 1500, school) is None
    assert sd.rule_for("filling_station", None, "important").distance_m == 50  # type: ignore[union-attr]
    assert sd.rule_for("filling_station", None, "general_1").distance_m == 25  # type: ignore[union-attr]
    # Superseded editions stay in the file but do not govern.
    assert {r.edition for r in sd.distance_rules() if r.hazard_kind == "liquefied_hydrocarbon_tanks"} == {
        "2008"
    }
    rule = sd.rule_for("liquefied_hydrocarbon_tanks", None, school)
    assert rule is not None
    assert rule.citation == "GB 50160-2008 表 4.1.9"
    assert rule.verify


def test_individual_risk_criteria_follow_gb_36894() -> None:
    expected = {
        "high_sensitive": (3e-7, 3e-6),
        "important": (3e-7, 3e-6),
        "general_1": (3e-7, 3e-6),
        "general_2": (3e-6, 1e-5),
        "general_3": (1e-5, 3e-5),
    }
    for cls, (new, existing) in expected.items():
        assert sd.criterion(cls, "new") == pytest.approx(new)
        assert sd.criterion(cls, "existing") == pytest.approx(existing)
    assert sd.sci(3e-6) == "3×10⁻⁶"


def test_hazard_kinds_by_code_chinese_or_english_name() -> None:
    assert sd.hazard_kind_code("液化烃罐组") == "liquefied_hydrocarbon_tanks"
    assert sd.hazard_kind_code("LPG supply base (pressurised tanks)") == "lpg_supply_base"
    assert sd.hazard_kind_code("液化石油气供应基地") == "lpg_supply_base"
    assert sd.hazard_kind_code(" filling_station ") == "filling_station"
    with pytest.raises(InvalidInput) as err:
        sd.hazard_kind_code("nuclear_plant", "properties.hazard_kind")
    assert err.value.problems[0].field == "properties.hazard_kind"
    assert "unknown hazard kind" in err.value.problems[0].reason
    kinds = sd.hazard_kinds()
    assert kinds["lpg_supply_base"].capacity_banded
    assert kinds["lpg_supply_base"].max_capacity_m3 == 1000
    assert not kinds["fireworks_warehouse"].tabulated


def test_a_volume_banded_kind_needs_a_covered_volume() -> None:
    sd.check_capacity("lpg_supply_base", 300)
    sd.check_capacity("liquefied_hydrocarbon_tanks", None)
    for bad in (None, 5000.0, -1.0):
        with pytest.raises(InvalidInput) as err:
            sd.check_capacity("lpg_supply_base", bad, "capacity_m3")
        assert err.value.problems[0].field == "capacity_m3"
        assert err.value.problems[0].reason_zh
    assert sd.unchecked_reason("lpg_supply_base", None) is not None
    assert sd.unchecked_reason("fireworks_warehouse", None) is not None
    assert sd.unchecked_reason("lpg_supply_base", 120) is None


def test_population_estimates_are_documented_and_flagged() -> None:
    assert sd.estimate_people("residential", 900, 100, None) == (900, False, None)
    n, estimated, how = sd.estimate_people("village", None, 100, None)
    assert (n, estimated) == (262, True)
    assert how is not None
    assert "2.62" in how
    n, estimated, _ = sd.estimate_people("school", None, None, 20_000)
    assert (n, estimated) == (1000, True)  # 20 m² per pupil
    n, estimated, how = sd.estimate_people("kindergarten", None, None, None)
    assert (n, estimated) == (180, True)
    assert how is not None
    assert "assumption" in how
    assert sd.estimate_people("prison", None, None, None)[1]
    assert sd.estimate_people("unknown_type", None, None, None)[0] == 50  # the '*' fallback


# --- distances -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("lat", sorted(SITES))
def test_distances_agree_with_geodesic_within_half_a_percent(lat: int) -> None:
    origin = SITES[lat]
    hazard = Point(origin)
    rows = []
    for i, (d, az) in enumerate((d, az) for d in (30, 80, 140, 145) for az in (0, 45, 90, 200, 315)):
        rows.append({"id": i, "type": "village", "gb_class": "general_1", "geometry": at(origin, d, az)})
    targets = targets_frame(rows)
    hazards = hazards_frame([{"id": 1, "hazard_kind": "liquefied_hydrocarbon_tanks", "geometry": hazard}])
    found = sd.violations(hazards, targets)
    assert len(found) == len(targets)  # all within 150 m
    truth = {int(t.id): geodesic(hazard, t.geometry) for t in targets.itertuples()}
    for row in found.itertuples():
        assert row.distance_m == pytest.approx(truth[row.target_id], rel=0.005)
        assert row.distance_m == pytest.approx(truth[row.target_id], rel=5e-4)  # in fact much closer
    assert set(found["epsg"]) == {sd.zone_epsg(hazard)}


def test_web_mercator_would_pass_what_the_true_distance_breaks() -> None:
    origin = SITES[25]
    hazard = Point(origin)
    target = at(origin, 140, 0)  # 140 m north of a 150 m tank group
    mercator = Transformer.from_crs(4490, 3857, always_xy=True)
    x0, y0 = mercator.transform(*origin)
    x1, y1 = mercator.transform(target.x, target.y)
    assert math.hypot(x1 - x0, y1 - y0) > 150  # web Mercator: ~154 m, "passes"
    found = sd.violations(
        hazards_frame([{"id": 1, "hazard_kind": "liquefied_hydrocarbon_tanks", "geometry": hazard}]),
        targets_frame([{"id": 7, "type": "village", "gb_class": "general_1", "geometry": target}]),
    )
    assert len(found) == 1
    assert found.at[0, "distance_m"] == pytest.approx(140, rel=0.005)
    assert found.at[0, "shortfall_m"] == pytest.approx(10, abs=0.75)


def test_polygon_to_polygon_distance_is_edge_to_edge() -> None:
    origin = SITES[35]
    tanks = metric_square(Point(origin), 50)  # 100 m square
    # A housing estate whose south edge is 100 m north of the tanks' north edge; centres 200 m apart.
    centre = at(origin, 50 + 100 + 50, 0)
    estate = metric_square(centre, 50)
    found = sd.violations(
        hazards_frame([{"id": 1, "hazard_kind": "liquefied_hydrocarbon_tanks", "geometry": tanks}]),
        targets_frame(
            [{"id": 2, "type": "residential", "gb_class": "general_1", "households": 200, "geometry": estate}]
        ),
    )
    assert len(found) == 1
    assert found.at[0, "distance_m"] == pytest.approx(100, rel=0.005)
    assert geodesic(Point(origin), centre) == pytest.approx(200, rel=1e-6)  # centroid to centroid would pass
    assert found.at[0, "people"] == round(200 * 2.62)
    assert bool(found.at[0, "population_estimated"])
    line = found.at[0, "explanation_en"]
    assert "100 m" in line
    assert "150 m" in line


def test_a_hazard_inside_a_target_is_at_distance_zero() -> None:
    origin = SITES[25]
    village = metric_square(Point(origin), 200)
    found = sd.violations(
        hazards_frame([{"id": 1, "hazard_kind": "process_unit_a_b", "geometry": Point(origin)}]),
        targets_frame(
            [{"id": 2, "type": "village", "gb_class": "general_2", "population": 60, "geometry": village}]
        ),
    )
    assert found.at[0, "distance_m"] == 0
    assert found.at[0, "situation"] == "hazard_inside_target"
    assert "位于其内" in found.at[0, "explanation_zh"]


def test_unchecked_hazards_are_not_silently_passed() -> None:
    origin = SITES[25]
    hazards = hazards_frame(
        [
            {"id": 1, "hazard_kind": "lpg_supply_base", "capacity_m3": None, "geometry": Point(origin)},
            {"id": 2, "hazard_kind": "fireworks_warehouse", "geometry": at(origin, 5000, 90)},
            {
                "id": 3,
                "hazard_kind": "lpg_supply_base",
                "capacity_m3": 300.0,
                "geometry": at(origin, 9000, 90),
            },
        ]
    )
    targets = targets_frame(
        [{"id": 9, "type": "school", "gb_class": "high_sensitive", "geometry": at(origin, 20, 0)}]
    )
    assert sd.violations(hazards, targets).empty
    unchecked = sd.unchecked_hazards(hazards)
    assert [u["risk_unit_id"] for u in unchecked] == [1, 2]
    assert all(u["reason"] and u["reason_zh"] for u in unchecked)


def test_a_target_inside_a_contour_above_its_criterion_violates() -> None:
    origin = SITES[25]
    hazard = Point(origin)
    contour_1e5 = metric_square(Point(origin), 600)  # risk ≥ 1e-5 within ±600 m
    hazards = hazards_frame([{"id": 1, "hazard_kind": "liquefied_hydrocarbon_tanks", "geometry": hazard}])
    targets = targets_frame(
        [
            {"id": 1, "type": "school", "gb_class": "high_sensitive", "geometry": at(origin, 400, 90)},
            {
                "id": 2,
                "type": "village",
                "gb_class": "general_3",
                "population": 12,
                "geometry": at(origin, 400, 180),
            },
            {
                "id": 3,
                "type": "village",
                "gb_class": "general_1",
                "population": 300,
                "geometry": at(origin, 100, 0),
            },
        ]
    )
    contours = gpd.GeoDataFrame(
        {"id": [10], "risk_unit_id": [1], "individual_risk": [1e-5]}, geometry=[contour_1e5], crs=4490
    )
    found = sd.violations(hazards, targets, contours=contours).set_index("target_id")
    # School (existing criterion 3e-6) inside 1e-5: violation by risk, beyond 150 m.
    assert found.loc[1, "basis"] == ["risk_contour"]
    assert found.loc[1, "contour_risk"] == pytest.approx(1e-5)
    assert found.loc[1, "criterion_per_year"] == pytest.approx(3e-6)
    assert np.isnan(found.loc[1, "shortfall_m"])
    assert "GB 36894" in found.loc[1, "explanation_zh"]
    # 三类 (criterion 3e-5 for an existing installation) may be inside 1e-5.
    assert 2 not in found.index
    # Close and inside: both bases.
    assert found.loc[3, "basis"] == ["distance", "risk_contour"]
    # A new installation is held to the stricter criteria: 三类 accepts at most 1e-5 then.
    new = sd.violations(hazards, targets, contours=contours, installation="new").set_index("target_id")
    assert 2 in new.index


# --- siting check ---------------------------------------------------------------------------------------------


def _scene() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    origin = SITES[25]
    hazards = hazards_frame(
        [
            {
                "id": 1,
                "name": "球罐区",
                "hazard_kind": "liquefied_hydrocarbon_tanks",
                "geometry": Point(origin),
            },
            {
                "id": 2,
                "name": "储配站",
                "hazard_kind": "lpg_supply_base",
                "capacity_m3": None,
                "geometry": at(origin, 3000, 90),
            },
        ]
    )
    targets = targets_frame(
        [
            {
                "id": 5,
                "name": "第一中学",
                "type": "school",
                "gb_class": "high_sensitive",
                "population": 1500,
                "geometry": at(origin, 1000, 0),
            }
        ]
    )
    return hazards, targets


@pytest.mark.parametrize(
    ("distance", "verdict"),
    [(100.0, "veto"), (149.0, "veto"), (151.0, "advise"), (224.0, "advise"), (226.0, "ok")],
)
def test_a_proposed_school_near_a_tank_group(distance: float, verdict: str) -> None:
    hazards, targets = _scene()
    site = at(SITES[25], distance, 270)
    result = sd.siting_check(
        site, sd.target_proposal("学校", population=800), hazards=hazards, targets=targets
    )
    assert result.verdict == verdict
    assert result.explanation_zh
    assert result.explanation_en
    if verdict == "ok":
        assert result.conflicts == []
        return
    (conflict,) = result.conflicts
    assert conflict.existing == {
        "kind": "hazard",
        "id": 1,
        "name": "球罐区",
        "hazard_kind": "liquefied_hydrocarbon_tanks",
        "capacity_m3": None,
        "enterprise_id": None,
        "level": None,
        "jurisdiction_adcode": None,
    }
    assert conflict.required_m == 150
    assert conflict.rule is not None
    assert conflict.rule["citation"] == "GB 50160-2008 表 4.1.9"
    assert conflict.distance_m == pytest.approx(distance, rel=0.005)
    if verdict == "veto":
        assert conflict.status == "veto"
        assert conflict.move_m == pytest.approx(150 - conflict.distance_m)
        assert "一票否决" in conflict.explanation_zh
        # Moved that far straight away, the school meets the distance.
        moved = at(SITES[25], distance + conflict.move_m + 0.01, 270)  # type: ignore[operator]
        assert (
            sd.siting_check(
                moved, sd.target_proposal("school", population=800), hazards=hazards, targets=targets
            ).verdict
            == "advise"
        )
    else:
        assert conflict.status == "advise"
        assert conflict.move_m == 0
        assert conflict.clear_advise_m == pytest.approx(225 - conflict.distance_m)


def test_a_proposed_plant_is_checked_against_every_target_class() -> None:
    hazards, targets = _scene()
    site = at(SITES[25], 1090, 0)  # 90 m from the school
    result = sd.siting_check(site, sd.hazard_proposal("process_unit_a_b"), hazards=hazards, targets=targets)
    assert result.verdict == "veto"
    assert result.conflicts[0].existing["id"] == 5
    assert result.conflicts[0].required_m == 100
    assert result.conflicts[0].people == 1500
    assert result.max_move_m == pytest.approx(10, abs=0.6)
    far = sd.siting_check(
        at(SITES[25], 2000, 0), sd.hazard_proposal("process_unit_a_b"), hazards=hazards, targets=targets
    )
    assert far.verdict == "ok"


def test_a_proposal_near_an_unchecked_hazard_draws_advice() -> None:
    hazards, targets = _scene()
    near_lpg = at(SITES[25], 3040, 90)
    result = sd.siting_check(near_lpg, sd.target_proposal("school"), hazards=hazards, targets=targets)
    assert result.verdict == "advise"
    assert [u["risk_unit_id"] for u in result.unchecked] == [2]
    fireworks = sd.siting_check(
        at(SITES[25], 5000, 180), sd.hazard_proposal("烟花爆竹仓库"), hazards=hazards, targets=targets
    )
    assert fireworks.verdict == "advise"
    assert fireworks.notes


def test_a_proposal_inside_a_risk_contour_is_vetoed_with_its_way_out() -> None:
    hazards, targets = _scene()
    contour = metric_square(Point(SITES[25]), 600)
    contours = gpd.GeoDataFrame(
        {"id": [1], "risk_unit_id": [1], "individual_risk": [3e-6]}, geometry=[contour], crs=4490
    )
    site = at(SITES[25], 500, 90)  # 100 m inside the east edge
    result = sd.siting_check(
        site, sd.target_proposal("school"), hazards=hazards, targets=targets, contours=contours
    )
    assert result.verdict == "veto"
    (conflict,) = result.conflicts
    assert conflict.basis == "risk_contour"
    assert conflict.move_m == pytest.approx(100, rel=0.01)
    # A 三类 target may stand where the risk is 3e-6 (existing installation: 3e-5).
    hamlet = sd.target_proposal("village", households=5)
    assert hamlet.gb_class == "general_3"
    assert sd.siting_check(site, hamlet, hazards=hazards, targets=targets, contours=contours).verdict == "ok"


def test_proposals_are_validated_with_the_field_named() -> None:
    with pytest.raises(InvalidInput) as err:
        sd.target_proposal("residential")
    assert err.value.problems[0].field == "population"
    with pytest.raises(InvalidInput) as err:
        sd.target_proposal("spaceport", population=10)
    assert err.value.problems[0].field == "target_type"
    with pytest.raises(InvalidInput) as err:
        sd.hazard_proposal("lpg_supply_base")
    assert err.value.problems[0].field == "capacity_m3"
    with pytest.raises(InvalidInput) as err:
        sd.hazard_proposal("reactor")
    assert err.value.problems[0].field == "hazard_kind"
    assert sd.target_proposal("residential", households=40).gb_class == "general_1"
    assert sd.target_proposal("residential", households=40, gb_class="general_2").gb_class == "general_2"


# --- exposure and rings ------------------------------------------------------------------------------------------


def test_exposure_bands_count_each_target_once_by_its_nearest_edge() -> None:
    origin = SITES[25]
    targets = targets_frame(
        [
            {
                "id": 1,
                "type": "village",
                "gb_class": "general_1",
                "population": 100,
                "geometry": at(origin, 50, 0),
            },
            {
                "id": 2,
                "type": "village",
                "gb_class": "general_2",
                "households": 10,
                "geometry": at(origin, 150, 90),
            },
            {
                "id": 3,
                "type": "school",
                "gb_class": "high_sensitive",
                "population": 900,
                "geometry": metric_square(at(origin, 700, 180), 200),
            },
            {
                "id": 4,
                "type": "village",
                "gb_class": "general_1",
                "population": 5000,
                "geometry": at(origin, 1500, 0),
            },
        ]
    )
    bands = sd.exposure(Point(origin), targets, sd.parse_bands("100,300,1000"))
    assert [(b["from_m"], b["to_m"]) for b in bands] == [(0, 100), (100, 300), (300, 1000)]
    assert [b["target_ids"] for b in bands] == [[1], [2], [3]]
    assert [b["people"] for b in bands] == [100, 26, 900]
    assert bands[1]["estimated_targets"] == 1
    assert bands[2]["people_by_gb_class"]["high_sensitive"] == 900


@pytest.mark.parametrize("bad", ["", "a,b", "300,100", "0,100", "100,20000", ",".join(["1"] * 11)])
def test_bad_bands_are_refused(bad: str) -> None:
    with pytest.raises(InvalidInput) as err:
        sd.parse_bands(bad)
    assert err.value.problems[0].field == "bands"


def test_rings_are_metric_circles_for_display() -> None:
    origin = SITES[35]
    hazards = hazards_frame(
        [
            {"id": 1, "hazard_kind": "filling_station", "geometry": Point(origin)},
            {
                "id": 2,
                "hazard_kind": "lpg_supply_base",
                "capacity_m3": 600.0,
                "geometry": at(origin, 2000, 0),
            },
        ]
    )
    rings = sd.required_rings(hazards)
    got = list(zip(rings["hazard_id"], rings["distance_m"], strict=True))
    assert got == [(1, 16.0), (1, 20.0), (1, 25.0), (1, 50.0), (2, 90.0)]  # GB 50156 表 4.0.4 by class
    assert rings.iloc[3]["gb_classes"] == ["high_sensitive", "important"]
    assert rings.iloc[4]["label_zh"] == "90 米：所有防护目标"
    area = abs(GEOD.geometry_area_perimeter(rings.geometry.iloc[3])[0])
    assert area == pytest.approx(math.pi * 50**2, rel=0.005)
    assert shapely.get_num_coordinates(rings.geometry.iloc[3]) > 100


def test_the_demo_gives_its_hazards_known_kinds() -> None:
    from geo import demo

    assert set(demo._HAZARD_KINDS.values()) <= set(sd.hazard_kinds())
    assert set(demo._CAPACITY_PER_M2) <= set(sd.hazard_kinds())
    # Every kind the demo uses with a volume band gets a volume.
    assert {k for k in demo._HAZARD_KINDS.values() if sd.hazard_kinds()[k].capacity_banded} <= set(
        demo._CAPACITY_PER_M2
    )


def test_a_contour_counts_for_a_unit_without_a_hazard_kind() -> None:
    origin = SITES[25]
    units = hazards_frame([{"id": 1, "name": "液氨储罐", "hazard_kind": None, "geometry": Point(origin)}])
    targets = targets_frame(
        [
            {
                "id": 2,
                "type": "school",
                "gb_class": "high_sensitive",
                "population": 300,
                "geometry": at(origin, 250, 0),
            }
        ]
    )
    contours = gpd.GeoDataFrame(
        {"id": [1], "risk_unit_id": [1], "individual_risk": [1e-5]},
        geometry=[metric_square(Point(origin), 400)],
        crs=4490,
    )
    (row,) = sd.violations(units, targets, contours=contours).itertuples()
    assert row.basis == ["risk_contour"]
    assert np.isnan(row.required_m)
    assert "位于液氨储罐个人风险 1×10⁻⁵/年 等值线内" in row.explanation_zh
    assert "None" not in row.explanation_zh + row.explanation_en


# --- level-aware screening: consultation zones (issue: a level-1/2 unit is screened whatever its kind) -------------

ORIGIN = SITES[25]
NO_TARGETS = targets_frame([])


def unit(geometry: object, kind: str | None = None, level: int = 1, **extra: object) -> gpd.GeoDataFrame:
    return hazards_frame(
        [{"id": 7, "name": "导热油炉房", "hazard_kind": kind, "level": level, "geometry": geometry, **extra}]
    )


def test_consultation_zones_are_data() -> None:
    zones = sd.consultation_zones()
    assert {lv: (z.consultation_m, z.inner_m) for lv, z in zones.items()} == {1: (1000, 150), 2: (500, None)}
    assert zones[1].inner_gb_classes == {"high_sensitive"}
    assert all(z.verify for z in zones.values())  # an assumption of riskmap, shown as such
    assert sd.screened_levels() == [1, 2]


def test_new_kinds_cite_standard_edition_and_clause() -> None:
    kinds = sd.hazard_kinds()
    for code, standard in (
        ("gas_pipeline_medium", "GB 50028"),
        ("gas_pipeline_sub_high", "GB 50028"),
        ("gas_pipeline_high", "GB 50028"),
        ("oil_pipeline", "GB 50253"),
        ("gas_transmission_pipeline", "GB 50251"),
        ("fireworks_production", "GB 50161"),
        ("ammonia_refrigeration", "GB 50072"),
        ("dust_explosion", "GB 15577"),
    ):
        assert kinds[code].standard == standard
    for row in read_table("safety_distance_rules.csv"):
        assert all((row["standard"], row["edition"], row["clause"])), row["rule_id"]
    # Unverified figures keep their flag, and it reaches the output.
    rule = sd.rule_for("gas_pipeline_high", None, "general_1")
    assert rule is not None
    assert rule.verify
    assert rule.as_dict()["verify"] is True
    assert sd.rule_for("filling_station", None, "general_3").distance_m == 16  # type: ignore[union-attr]


def test_housing_20_m_from_a_level_1_gas_pipeline_is_not_ok() -> None:
    pipe = LineString([at(ORIGIN, 500, 270), at(ORIGIN, 500, 90)])
    housing = sd.target_proposal("residential", households=500, name="某小区")
    for kind in ("gas_pipeline_medium", "gas_pipeline_sub_high", "gas_pipeline_high", None):
        result = sd.siting_check(at(ORIGIN, 20, 0), housing, hazards=unit(pipe, kind), targets=NO_TARGETS)
        assert result.verdict != "ok", kind
        assert "导热油炉房" in result.explanation_zh
        assert "1级重大风险" in result.explanation_zh
        assert "level-1" in result.explanation_en
        assert "20 m" in result.explanation_en
    high = sd.siting_check(
        at(ORIGIN, 20, 0), housing, hazards=unit(pipe, "gas_pipeline_high"), targets=NO_TARGETS
    )
    assert high.verdict == "veto"  # 30 m (GB 50028 6.4.12 [verify])
    assert high.conflicts[0].rule["verify"] is True  # type: ignore[index]
    assert "GB 50028-2006 6.4.12 [verify]" in high.conflicts[0].explanation_zh  # shown, not hidden
    medium = sd.siting_check(
        at(ORIGIN, 20, 0), housing, hazards=unit(pipe, "gas_pipeline_medium"), targets=NO_TARGETS
    )
    assert medium.verdict == "advise"  # 1.5 m met, but inside the 1,000 m consultation zone
    assert medium.conflicts[0].basis == "consultation"
    assert "consultation zone of a major risk" in medium.conflicts[0].explanation_en


@pytest.mark.parametrize(
    ("geometry", "offset"),
    [
        (Point(ORIGIN), 0.0),
        (LineString([at(ORIGIN, 200, 270), at(ORIGIN, 200, 90)]), 0.0),
        (metric_square(Point(ORIGIN), 30), 30.0),
    ],
    ids=["point", "line", "polygon"],
)
def test_a_school_near_a_level_1_unit_of_unknown_kind(geometry: object, offset: float) -> None:
    school = sd.target_proposal("school", population=800)
    hazards = unit(geometry)
    near = sd.siting_check(at(ORIGIN, 300 + offset, 0), school, hazards=hazards, targets=NO_TARGETS)
    assert near.verdict == "advise"
    (c,) = near.conflicts
    assert (c.existing["id"], c.existing["level"], c.basis, c.status) == (7, 1, "consultation", "advise")
    assert c.distance_m == pytest.approx(300, rel=0.01)
    assert "no tabulated distance; within the consultation zone of a major risk" in c.explanation_en
    assert "导热油炉房" in near.explanation_zh
    assert "300 米" in near.explanation_zh
    assert "300 m" in near.explanation_en
    assert "level-1" in near.explanation_en
    far = sd.siting_check(at(ORIGIN, 3000 + offset, 0), school, hazards=hazards, targets=NO_TARGETS)
    assert far.verdict == "ok"
    assert far.conflicts == []
    assert far.unchecked == []
    kindergarten = sd.target_proposal("kindergarten", population=120)
    veto = sd.siting_check(at(ORIGIN, 40 + offset, 0), kindergarten, hazards=hazards, targets=NO_TARGETS)
    assert veto.verdict == "veto"
    (v,) = veto.conflicts
    assert (v.basis, v.status, v.required_m) == ("consultation_inner", "veto", 150)
    assert v.move_m == pytest.approx(110, abs=1.5)
    assert "一票否决" in veto.explanation_zh
    assert "导热油炉房" in veto.explanation_zh


def test_level_2_advises_without_an_inner_veto_and_levels_3_4_are_not_screened() -> None:
    kindergarten = sd.target_proposal("kindergarten", population=120)
    for level, verdict in ((2, "advise"), (3, "ok"), (4, "ok")):
        result = sd.siting_check(
            at(ORIGIN, 40, 0), kindergarten, hazards=unit(Point(ORIGIN), level=level), targets=NO_TARGETS
        )
        assert result.verdict == verdict, level
    far = sd.siting_check(
        at(ORIGIN, 600, 0), kindergarten, hazards=unit(Point(ORIGIN), level=2), targets=NO_TARGETS
    )
    assert far.verdict == "ok"


def test_a_tabulated_distance_met_inside_the_zone_still_advises() -> None:
    tanks = unit(Point(ORIGIN), "liquefied_hydrocarbon_tanks")
    school = sd.target_proposal("school", population=800)
    result = sd.siting_check(at(ORIGIN, 400, 0), school, hazards=tanks, targets=NO_TARGETS)
    assert result.verdict == "advise"
    assert result.conflicts[0].basis == "consultation"
    assert "meets the 150 m" in result.conflicts[0].explanation_en


def test_unchecked_units_are_named_and_never_beside_ok() -> None:
    lpg = unit(Point(ORIGIN), "lpg_supply_base", level=3)  # no volume: its distance cannot be found
    school = sd.target_proposal("school", population=800)
    near = sd.siting_check(at(ORIGIN, 100, 0), school, hazards=lpg, targets=NO_TARGETS)
    assert near.verdict == "advise"
    assert [u["risk_unit_id"] for u in near.unchecked] == [7]
    assert "导热油炉房" in near.explanation_zh
    assert "无法核查" in near.explanation_zh
    # Beyond the largest distance that could apply to an LPG supply base (90 m × 1.5): nothing to check.
    far = sd.siting_check(at(ORIGIN, 200, 0), school, hazards=lpg, targets=NO_TARGETS)
    assert (far.verdict, far.unchecked) == ("ok", [])


def test_violations_list_screens_level_1_units_of_any_kind() -> None:
    hazards = unit(metric_square(Point(ORIGIN), 10))
    targets = targets_frame(
        [
            {"id": 1, "type": "kindergarten", "gb_class": "high_sensitive", "population": 100,
             "geometry": at(ORIGIN, 50, 0)},
            {"id": 2, "type": "residential", "gb_class": "general_1", "households": 200,
             "geometry": at(ORIGIN, 50, 180)},
            {"id": 3, "type": "school", "gb_class": "high_sensitive", "population": 900,
             "geometry": at(ORIGIN, 600, 90)},
        ]
    )  # fmt: skip
    found = sd.violations(hazards, targets)
    assert found["target_id"].tolist() == [1]
    assert found.at[0, "basis"] == ["consultation_inner"]
    assert found.at[0, "shortfall_m"] == pytest.approx(110, abs=1.5)
    assert "一票否决" in found.at[0, "explanation_zh"]
    pairs = sd.screened_pairs(hazards, targets).sort_values("target_id")
    assert list(zip(pairs["target_id"], pairs["status"], pairs["basis"], strict=True)) == [
        (1, "violation", "consultation_inner"),
        (2, "advise", "consultation"),
        (3, "advise", "consultation"),
    ]


KINDS_ANY = [None, "liquefied_hydrocarbon_tanks", "lpg_supply_base", "fireworks_warehouse", "gas_pipeline_medium",
             "filling_station", "made_up_kind"]  # fmt: skip
CLASSES = [str(c) for c in sd.GBClass]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(KINDS_ANY),
    cap=st.one_of(st.none(), st.sampled_from([30.0, 150.0, 400.0, 800.0, 5000.0])),
    level=st.one_of(st.none(), st.integers(1, 4)),
    gb_class=st.sampled_from(CLASSES),
    d=st.floats(0, 1500),
    factor=st.sampled_from([1.0, 1.5, 2.0]),
)
def test_assess_pairs_is_screen_pair_vectorised(
    kind: str | None, cap: float | None, level: int | None, gb_class: str, d: float, factor: float
) -> None:
    pairs = pd.DataFrame(
        {"hazard_kind": [kind], "capacity_m3": [cap], "hazard_level": [level], "gb_class": [gb_class],
         "distance_m": [d]}
    )  # fmt: skip
    one = sd.screen_pair(kind, cap, level, gb_class, d, factor)
    out = sd.assess_pairs(pairs, advise_factor=factor)
    if one is None:
        assert out.empty
    else:
        assert (out.at[0, "status"], out.at[0, "basis"]) == (one.status, one.basis)


unit_strategy = st.fixed_dictionaries(
    {
        "kind": st.sampled_from(KINDS_ANY[:-1]),
        "cap": st.one_of(st.none(), st.sampled_from([30.0, 800.0])),
        "level": st.integers(1, 4),
        "d": st.floats(0, 2500),
        "az": st.floats(0, 360),
        "shape": st.sampled_from(["point", "line", "polygon"]),
    }
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    units=st.lists(unit_strategy, min_size=1, max_size=6),
    target_type=st.sampled_from([("school", 800, None), ("residential", None, 500), ("office", 300, None)]),
)
def test_no_ok_inside_a_consultation_zone(units: list[dict[str, object]], target_type: tuple) -> None:
    """For random layouts: whenever a level-1/2 unit lies within its consultation distance of the proposal,
    the verdict is not ok; and `unchecked` is never non-empty beside ok."""
    site = Point(ORIGIN)
    rows = []
    for i, u in enumerate(units):
        c = at(ORIGIN, float(u["d"]), float(u["az"]))  # type: ignore[arg-type]
        geom = {
            "point": c,
            "line": LineString([c, at((c.x, c.y), 80, float(u["az"]) + 90)]),  # type: ignore[arg-type]
            "polygon": metric_square(c, 20),
        }[str(u["shape"])]
        kind = u["kind"] if u["kind"] != "lpg_supply_base" or u["cap"] is not None else "lpg_supply_base"
        rows.append(
            {"id": i + 1, "hazard_kind": kind, "capacity_m3": u["cap"], "level": u["level"], "geometry": geom}
        )
    hazards = hazards_frame(rows)
    ttype, pop, hh = target_type
    proposal = sd.target_proposal(ttype, population=pop, households=hh)
    result = sd.siting_check(site, proposal, hazards=hazards, targets=NO_TARGETS)
    g = sd.to_zone(np.array([site], dtype=object), 4549)[0]
    h_m = sd.to_zone(np.asarray(hazards.geometry.values, dtype=object), 4549)
    inside = [
        float(shapely.distance(g, hm)) < sd.consultation_m(lv)
        for hm, lv in zip(h_m, hazards["level"], strict=True)
    ]
    if any(inside):
        assert result.verdict != "ok"
    if result.unchecked:
        assert result.verdict != "ok"
    if result.verdict == "ok":
        assert result.conflicts == []
        assert result.unchecked == []
