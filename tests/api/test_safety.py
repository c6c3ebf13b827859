"""Safety distances over HTTP: hazard kinds on risk units, existing violations, the siting check (一票否决),
exposure bands, risk contours, their maps, and every kind of bad input answered 422 with the field named."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyproj import Geod

from tests.api.builders import (
    BENGSHAN,
    ENTERPRISES,
    HUIAN,
    QUANGANG,
    RISK_UNITS,
    TARGETS,
    created,
    enterprise_feature,
    guarded,
    if_match,
    ok,
    point,
    problem,
    protection_target_feature,
    risk_unit_feature,
)

GEOD = Geod(ellps="GRS80")
SAFETY = "/api/v1/analysis/safety-distance"
SITING = "/api/v1/analysis/siting-check"
EXPOSURE = "/api/v1/analysis/exposure"
BOWTIE = {
    "type": "Polygon",
    "coordinates": [[[118.87, 25.10], [118.89, 25.12], [118.89, 25.10], [118.87, 25.12], [118.87, 25.10]]],
}


def at(distance_m: float, azimuth: float, origin: tuple[float, float] = QUANGANG) -> tuple[float, float]:
    lon, lat, _ = GEOD.fwd(origin[0], origin[1], azimuth, distance_m)
    return float(lon), float(lat)


def square(centre: tuple[float, float], half_m: float) -> dict[str, Any]:
    w, s, e, n = (
        at(half_m, 270, centre)[0],
        at(half_m, 180, centre)[1],
        at(half_m, 90, centre)[0],
        at(half_m, 0, centre)[1],
    )
    return {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}


@pytest.fixture
def api(client: Any) -> Any:
    return guarded(client)


@pytest.fixture
def register(api: Any) -> dict[str, Any]:
    """泉港: a tank group (150 m), a school 120 m north of it, a village 400 m south, a care home 200 m east."""
    plant = created(api.post(ENTERPRISES, json=enterprise_feature(1)))
    tanks = created(
        api.post(
            RISK_UNITS,
            json=risk_unit_feature(
                plant["id"], name="液化烃球罐区", level=1, hazard_kind="液化烃罐组", capacity_m3=2000
            ),
        )
    )
    school = created(api.post(TARGETS, json=protection_target_feature(at=at(120, 0), population=1500)))
    village = created(
        api.post(
            TARGETS,
            json=protection_target_feature(at=at(400, 180), name="后龙村", type="village", households=80),
        )
    )
    care = created(
        api.post(
            TARGETS,
            json=protection_target_feature(at=at(200, 90), name="敬老院", type="care_home", population=60),
        )
    )
    return {"api": api, "plant": plant, "tanks": tanks, "school": school, "village": village, "care": care}


# --- hazard kinds on risk units ------------------------------------------------------------------------------


def test_risk_units_carry_a_checked_hazard_kind(register: dict[str, Any]) -> None:
    api, tanks = register["api"], register["tanks"]
    assert tanks["properties"]["hazard_kind"] == "liquefied_hydrocarbon_tanks"
    assert tanks["properties"]["capacity_m3"] == 2000
    fetched = ok(api.get(f"{RISK_UNITS}/{tanks['id']}"))
    assert fetched["properties"]["hazard_kind"] == "liquefied_hydrocarbon_tanks"
    bad = api.patch(
        f"{RISK_UNITS}/{tanks['id']}",
        json={"properties": {"hazard_kind": "核电站"}},
        headers=if_match(api, f"{RISK_UNITS}/{tanks['id']}"),
    )
    assert "unknown hazard kind" in problem(bad, "properties.hazard_kind")["reason"]
    plant = register["plant"]["id"]
    no_volume = api.post(
        RISK_UNITS, json=risk_unit_feature(plant, name="储配站", hazard_kind="lpg_supply_base")
    )
    assert problem(no_volume, "properties.capacity_m3")["reason_zh"]
    too_big = api.post(
        RISK_UNITS,
        json=risk_unit_feature(plant, name="储配站", hazard_kind="lpg_supply_base", capacity_m3=5000),
    )
    assert "1000" in problem(too_big, "properties.capacity_m3")["reason"]
    negative = api.post(RISK_UNITS, json=risk_unit_feature(plant, name="罐", capacity_m3=-5))
    problem(negative, "capacity_m3")
    lpg = created(
        api.post(
            RISK_UNITS,
            json=risk_unit_feature(
                plant, name="储配站", hazard_kind="LPG supply base (pressurised tanks)", capacity_m3=300
            ),
        )
    )
    assert lpg["properties"]["hazard_kind"] == "lpg_supply_base"


# --- existing violations ---------------------------------------------------------------------------------------


def test_violations_of_a_county(register: dict[str, Any]) -> None:
    api = register["api"]
    body = ok(api.get(SAFETY, params={"adcode": "350505"}))
    assert body["type"] == "FeatureCollection"
    assert body["name"] == "泉港区"
    assert body["numberReturned"] == 1
    (f,) = body["features"]
    p = f["properties"]
    assert p["hazard"]["risk_unit_id"] == register["tanks"]["id"]
    assert p["hazard"]["enterprise_id"] == register["plant"]["id"]
    assert p["target"]["protection_target_id"] == register["school"]["id"]
    assert p["target"]["gb_class"] == "high_sensitive"
    assert p["distance_m"] == pytest.approx(120, rel=0.005)
    assert p["required_m"] == 150
    assert p["shortfall_m"] == pytest.approx(30, abs=0.7)
    assert p["rule"]["standard"] == "GB 50160"
    assert p["rule"]["clause"].startswith("表 4.1.9")
    assert p["rule"]["verify"] is True
    assert p["basis"] == ["distance"]
    assert p["people_exposed"] == 1500
    assert p["population_estimated"] is False
    assert p["side"] == "both"
    assert p["metric_crs"] == "EPSG:4549"
    assert "150 米" in p["explanation_zh"]
    assert "150 m" in p["explanation_en"]
    assert f["geometry"]["type"] == "LineString"
    summary = body["summary"]
    assert summary["violations"] == 1
    assert summary["people_exposed"] == 1500
    assert summary["by_gb_class"]["high_sensitive"] == 1
    assert summary["hazards_checked"] == 1
    assert body["unchecked"] == []
    # In GCJ-02 the line comes back shifted by the offset (hundreds of metres), the distances do not.
    gcj = ok(api.get(SAFETY, params={"adcode": "350505", "crs": "gcj02"}))
    assert gcj["features"][0]["properties"]["distance_m"] == p["distance_m"]
    assert gcj["features"][0]["geometry"]["coordinates"] != f["geometry"]["coordinates"]
    # The same pair seen from the city, and nothing in the next county.
    assert ok(api.get(SAFETY, params={"adcode": "350500"}))["numberReturned"] == 1
    assert ok(api.get(SAFETY, params={"adcode": "350521"}))["numberReturned"] == 0
    assert api.get(SAFETY, params={"adcode": "999999"}).status_code == 404
    problem(api.get(SAFETY), "adcode")


def test_a_contour_makes_a_far_target_a_violation(register: dict[str, Any]) -> None:
    api, tanks = register["api"], register["tanks"]
    path = f"/api/v1/risk-units/{tanks['id']}/risk-contours"
    contours = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": square(QUANGANG, 300),
                "properties": {"individual_risk": 3e-6, "source": "QRA"},
            },
            {"type": "Feature", "geometry": square(QUANGANG, 800), "properties": {"individual_risk": 3e-7}},
        ],
    }
    put = ok(api.put(path, json=contours))
    assert [f["properties"]["individual_risk"] for f in put["features"]] == [3e-7, 3e-6]
    assert ok(api.get(path))["features"] == put["features"]
    body = ok(api.get(SAFETY, params={"adcode": "350505"}))
    by_target = {f["properties"]["target"]["protection_target_id"]: f["properties"] for f in body["features"]}
    care = by_target[register["care"]["id"]]  # 200 m: beyond 150 m but inside 3e-6 (its existing criterion)
    assert care["basis"] == ["risk_contour"]
    assert care["criterion_per_year"] == pytest.approx(3e-6)
    assert "个人风险" in care["explanation_zh"]
    assert register["village"]["id"] not in by_target  # 400 m: inside 3e-7 only, and its criterion is 3e-6
    assert body["summary"]["by_basis"] == {"distance": 1, "consultation_inner": 0, "risk_contour": 2}
    bad = api.put(
        path,
        json={
            "type": "FeatureCollection",
            "features": [{"type": "Feature", "geometry": BOWTIE, "properties": {"individual_risk": 2}}],
        },
    )
    assert bad.status_code == 422
    problem(bad, "individual_risk")
    bowtie = api.put(
        path,
        json={
            "type": "FeatureCollection",
            "features": [{"type": "Feature", "geometry": BOWTIE, "properties": {"individual_risk": 1e-5}}],
        },
    )
    problem(bowtie, "features[0].geometry")
    assert api.get("/api/v1/risk-units/999999/risk-contours").status_code == 404


# --- siting check ------------------------------------------------------------------------------------------------


def test_a_school_too_close_is_vetoed_with_the_move(register: dict[str, Any]) -> None:
    api = register["api"]
    body = ok(
        api.post(SITING, json={"geometry": point(*at(100, 270)), "target_type": "学校", "population": 800})
    )
    assert body["verdict"] == "veto"
    assert body["verdict_zh"].startswith("否决")
    assert "一票否决" in body["explanation_zh"]
    assert body["explanation_en"].startswith("Veto")
    assert body["proposal"]["gb_class"] == "high_sensitive"
    (f,) = body["features"]
    p = f["properties"]
    assert p["existing"]["kind"] == "hazard"
    assert p["existing"]["id"] == register["tanks"]["id"]
    assert p["distance_m"] == pytest.approx(100, rel=0.005)
    assert p["required_m"] == 150
    assert p["move_m"] == pytest.approx(50, abs=0.6)
    assert p["rule"]["citation"] == "GB 50160-2008 表 4.1.9"
    assert body["max_move_m"] == pytest.approx(50, abs=0.6)
    assert f["geometry"]["type"] == "LineString"


def test_a_plant_near_targets_advise_and_ok(register: dict[str, Any]) -> None:
    api = register["api"]
    # A class 甲/乙 process unit (100 m) 250 m north of the tank farm: the school is 130 m off, within 1.5 × 100 m.
    site = at(250, 0)
    body = ok(
        api.post(
            SITING, json={"geometry": point(*site), "hazard_kind": "process_unit_a_b", "name": "拟建装置"}
        )
    )
    assert body["verdict"] == "advise"
    assert body["proposal"]["reach_m"] == 100
    statuses = {f["properties"]["existing"]["id"]: f["properties"]["status"] for f in body["features"]}
    assert statuses == {register["school"]["id"]: "advise"}
    assert body["features"][0]["properties"]["clear_advise_m"] > 0
    far = ok(api.post(SITING, json={"geometry": point(*at(3000, 270)), "hazard_kind": "process_unit_a_b"}))
    assert far["verdict"] == "ok"
    assert far["features"] == []
    assert far["explanation_zh"].startswith("符合")
    # A polygon proposal, in GCJ-02: the same place, converted on the way in.
    from geo.coords import from_storage_xy

    x0, y0 = from_storage_xy(*at(2000, 270), "gcj02")
    x1, _ = from_storage_xy(*at(2100, 270), "gcj02")
    poly = {
        "type": "Polygon",
        "coordinates": [[[x1, y0], [x0, y0], [x0, y0 + 0.001], [x1, y0 + 0.001], [x1, y0]]],
    }
    assert (
        ok(
            api.post(
                SITING,
                json={"geometry": poly, "crs": "gcj02", "target_type": "residential", "households": 300},
            )
        )["verdict"]
        == "ok"
    )


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        ({"geometry": BOWTIE, "hazard_kind": "process_unit_a_b"}, "geometry", "invalid geometry"),
        (
            {"geometry": point(*QUANGANG), "hazard_kind": "nuclear_reactor"},
            "hazard_kind",
            "unknown hazard kind",
        ),
        (
            {"geometry": point(*QUANGANG), "target_type": "spaceport", "population": 5},
            "target_type",
            "unknown",
        ),
        (
            {"geometry": point(*QUANGANG), "target_type": "residential"},
            "population",
            "population or households",
        ),
        ({"geometry": point(*QUANGANG), "hazard_kind": "lpg_supply_base"}, "capacity_m3", "storage volume"),
        (
            {"geometry": point(*QUANGANG), "hazard_kind": "lpg_supply_base", "capacity_m3": 9000},
            "capacity_m3",
            "no rule",
        ),
        ({"geometry": point(2.35, 48.85), "hazard_kind": "process_unit_a_b"}, "geometry", "outside China"),
        ({"geometry": point(*QUANGANG)}, "hazard_kind", "either"),
        (
            {"geometry": point(*QUANGANG), "hazard_kind": "process_unit_a_b", "target_type": "school"},
            "hazard_kind",
            "not both",
        ),
        ({"geometry": point(*QUANGANG), "hazard_kind": "process_unit_a_b", "crs": "epsg:3857"}, "crs", ""),
        (
            {
                "geometry": {"type": "LineString", "coordinates": [[118.88, 25.11], [118.89, 25.11]]},
                "hazard_kind": "elevated_flare",
            },
            "geometry",
            "not allowed",
        ),
        (
            {"geometry": point(*QUANGANG), "target_type": "school", "gb_class": "very_sensitive"},
            "gb_class",
            "",
        ),
        ({"geometry": point(*QUANGANG), "target_type": "school", "advise_factor": 0.5}, "advise_factor", ""),
        ({"geometry": point(*QUANGANG), "hazard_kind": "process_unit_a_b", "colour": "red"}, "colour", ""),
    ],
)
def test_bad_siting_requests_are_422_naming_the_field(
    api: Any, body: dict[str, Any], field: str, reason: str
) -> None:
    found = problem(api.post(SITING, json=body), field)
    assert reason in found["reason"]


def test_all_problems_of_a_siting_request_at_once(api: Any) -> None:
    response = api.post(SITING, json={"geometry": BOWTIE, "hazard_kind": "nuclear_reactor"})
    assert response.status_code == 422
    fields = [e["field"] for e in response.json()["errors"]]
    assert fields == ["geometry", "hazard_kind"]
    assert all(e.get("reason_zh") for e in response.json()["errors"])


# --- exposure ------------------------------------------------------------------------------------------------------


def test_exposure_bands_around_a_unit(register: dict[str, Any]) -> None:
    api, tanks = register["api"], register["tanks"]
    body = ok(api.get(EXPOSURE, params={"risk_unit_id": tanks["id"]}))
    assert [(b["from_m"], b["to_m"]) for b in body["bands"]] == [(0, 100), (100, 300), (300, 1000)]
    assert [b["target_ids"] for b in body["bands"]] == [
        [],
        sorted([register["school"]["id"], register["care"]["id"]]),
        [register["village"]["id"]],
    ]
    assert body["bands"][2]["people"] == round(80 * 2.62)
    assert body["bands"][2]["estimated_targets"] == 1
    assert body["total_people"] == 1500 + 60 + round(80 * 2.62)
    custom = ok(api.get(EXPOSURE, params={"risk_unit_id": tanks["id"], "bands": "150,500"}))
    assert [b["targets"] for b in custom["bands"]] == [1, 2]
    problem(api.get(EXPOSURE, params={"risk_unit_id": tanks["id"], "bands": "300,100"}), "bands")
    problem(api.get(EXPOSURE, params={"risk_unit_id": "x"}), "risk_unit_id")
    assert api.get(EXPOSURE, params={"risk_unit_id": 999999}).status_code == 404


# --- maps -------------------------------------------------------------------------------------------------------------


def _offline(page: str) -> None:
    urls = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert urls
    assert not [u for u in urls if u.startswith(("http:", "https:", "//"))], urls


def test_maps_are_served(register: dict[str, Any]) -> None:
    api = register["api"]
    r = api.get("/maps/safety-distance", params={"adcode": "350505"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    page = r.text
    _offline(page)
    assert "/static/vendor/leaflet/dist/leaflet.js" in page
    assert "泉港区安全防护距离核查图" in page
    assert "rm-violation" in page
    assert '"label":"120 米"' in page or '"label":"121 米"' in page
    r = api.post(
        "/maps/siting-check",
        json={"geometry": point(*at(100, 270)), "target_type": "school", "population": 600},
    )
    assert r.status_code == 200
    _offline(r.text)
    assert "否决" in r.text
    r = api.post(
        "/maps/siting-check", json={"geometry": point(*at(60, 90, HUIAN)), "hazard_kind": "elevated_flare"}
    )
    assert r.status_code == 200
    assert "建议距离" in r.text
    problem(
        api.post("/maps/siting-check", json={"geometry": point(*QUANGANG), "hazard_kind": "x"}), "hazard_kind"
    )
    assert api.get("/maps/safety-distance", params={"adcode": "999999"}).status_code == 404


# --- level-aware screening over HTTP ------------------------------------------------------------------------------------


def test_hazard_kinds_are_listed_for_clients(api: Any) -> None:
    vocab = ok(api.get("/api/v1/vocabularies"))
    kinds = {k["code"]: k for k in vocab["hazard_kinds"]}
    assert {"gas_pipeline_high", "oil_pipeline", "fireworks_production", "filling_station"} <= set(kinds)
    assert kinds["gas_pipeline_high"]["standard"] == "GB 50028"
    assert kinds["gas_pipeline_high"]["verify"] is True
    assert kinds["fireworks_production"]["tabulated"] is False
    assert [z["level"] for z in vocab["consultation_zones"]] == [1, 2]
    schema = ok(api.get("/openapi.json"))["components"]["schemas"]["SitingRequest"]["properties"]
    enum = next(s["enum"] for s in schema["hazard_kind"]["anyOf"] if "enum" in s)
    assert enum == list(kinds)


def _pipeline(api: Any, level: int = 1, kind: str | None = "gas_pipeline_medium") -> dict[str, Any]:
    line = {"type": "LineString", "coordinates": [list(at(800, 270)), list(at(800, 90))]}
    props: dict[str, Any] = {"name": "泉港大道中压燃气管道", "level": level}
    if kind is not None:
        props["hazard_kind"] = kind
    return created(api.post(RISK_UNITS, json=risk_unit_feature(geometry=line, **props)))


def test_housing_20_m_from_a_level_1_gas_pipeline_is_not_ok(api: Any) -> None:
    pipe = _pipeline(api)
    body = {"geometry": point(*at(20, 0)), "target_type": "residential", "households": 500, "name": "某小区"}
    result = ok(api.post(SITING, json=body))
    assert result["verdict"] == "advise"
    (f,) = result["features"]
    assert f["properties"]["existing"]["id"] == pipe["id"]
    assert f["properties"]["existing"]["level"] == 1
    assert f["properties"]["basis"] == "consultation"
    assert f["properties"]["rule"]["verify"] is True
    assert "泉港大道中压燃气管道" in result["explanation_zh"]
    assert "1级重大风险" in result["explanation_zh"]
    assert "20 m" in result["explanation_en"]


def test_a_boiler_room_without_a_kind_is_screened(api: Any) -> None:
    boiler = created(api.post(RISK_UNITS, json=risk_unit_feature(name="导热油炉房", level=1)))
    school = {"target_type": "school", "population": 800}
    near = ok(api.post(SITING, json={"geometry": point(*at(300, 0)), **school}))
    assert near["verdict"] == "advise"
    assert near["features"][0]["properties"]["existing"]["id"] == boiler["id"]
    assert "导热油炉房" in near["explanation_zh"]
    assert "no tabulated distance; within the consultation zone of a major risk" in near["explanation_en"]
    assert near["unchecked"] == []
    far = ok(api.post(SITING, json={"geometry": point(*at(3000, 0)), **school}))
    assert (far["verdict"], far["features"], far["unchecked"]) == ("ok", [], [])
    kid = ok(
        api.post(
            SITING, json={"geometry": point(*at(40, 0)), "target_type": "kindergarten", "population": 90}
        )
    )
    assert kid["verdict"] == "veto"
    assert kid["features"][0]["properties"]["basis"] == "consultation_inner"
    # The violations list and its map use the same screening.
    kindergarten = created(
        api.post(
            TARGETS,
            json=protection_target_feature(
                at=at(40, 0), name="阳光幼儿园", type="kindergarten", population=90
            ),
        )
    )
    listed = ok(api.get(SAFETY, params={"adcode": "350505"}))
    (v,) = listed["features"]
    assert v["properties"]["target"]["protection_target_id"] == kindergarten["id"]
    assert v["properties"]["basis"] == ["consultation_inner"]
    assert v["properties"]["hazard"]["level"] == 1
    assert v["properties"]["consultation"]["inner_m"] == 150
    page = api.get("/maps/safety-distance", params={"adcode": "350505"}).text
    assert "咨询区" in page


def test_a_proposed_plant_with_a_level_screens_its_consultation_zone(api: Any) -> None:
    created(api.post(TARGETS, json=protection_target_feature(at=at(600, 0), population=900)))
    body = {"geometry": point(*QUANGANG), "hazard_kind": "fireworks_production"}
    assert ok(api.post(SITING, json=body))["verdict"] == "advise"  # untabulated: a note, never ok
    with_level = ok(api.post(SITING, json={**body, "level": 1}))
    assert with_level["verdict"] == "advise"
    assert with_level["features"][0]["properties"]["basis"] == "consultation"
    assert with_level["proposal"]["consultation_m"] == 1000
    problem(
        api.post(SITING, json={**body, "target_type": "school", "hazard_kind": None, "level": 1}), "level"
    )


# --- scope: analyses that take a geometry (issue #19 item 2) ----------------------------------------------------------


def _two_part(a: tuple[float, float], b: tuple[float, float]) -> dict[str, Any]:
    big, small = square(a, 500), square(b, 200)
    return {"type": "MultiPolygon", "coordinates": [big["coordinates"], small["coordinates"]]}


def test_a_siting_geometry_reaching_into_another_jurisdiction_is_refused(api: Any, client_as: Any) -> None:
    """Regression: only the representative point was checked, so a MultiPolygon with a part in 340303 let
    the 350505 regulator read the hazards and targets of 蚌山区."""
    other = created(
        api.post(
            RISK_UNITS,
            json=risk_unit_feature(
                at=BENGSHAN, name="蚌山燃气调压站", level=1, hazard_kind="liquefied_hydrocarbon_tanks"
            ),
        )
    )
    assert other["properties"]["jurisdiction_adcode"] == "340303"
    regulator = guarded(client_as("regulator", adcodes=("350505",)))
    body = {"geometry": _two_part(QUANGANG, BENGSHAN), "target_type": "school", "population": 800}
    r = regulator.post(SITING, json=body)
    assert r.status_code == 403, r.text
    assert "geometry" in r.text
    assert "part 1" in r.text
    assert "蚌山燃气调压站" not in r.text
    assert regulator.post("/maps/siting-check", json=body).status_code == 403
    # Wholly inside: answered; an admin may check anywhere.
    inside = regulator.post(SITING, json={**body, "geometry": square(QUANGANG, 300)})
    assert inside.status_code == 200
    assert ok(api.post(SITING, json=body))["features"][0]["properties"]["existing"]["id"] == other["id"]


def _border_point(engine: Any) -> tuple[tuple[float, float], tuple[float, float]]:
    """A point 60 m inside 泉港区 from its border with 惠安县, and one 60 m inside 惠安县."""
    from sqlalchemy import text

    with engine.connect() as conn:
        x, y = conn.execute(
            text(
                "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(ST_Intersection(ST_Boundary(a.geom), "
                "ST_Boundary(b.geom))) AS p FROM jurisdictions a, jurisdictions b "
                "WHERE a.adcode = '350505' AND b.adcode = '350521') s"
            )
        ).one()
        covers = text(
            "SELECT ST_Covers(geom, ST_SetSRID(ST_Point(:x, :y), 4490)) FROM jurisdictions WHERE adcode = :a"
        )
        for az in range(0, 360, 10):
            here, there = at(60, az, (x, y)), at(60, az + 180, (x, y))
            if (
                conn.execute(covers, {"x": here[0], "y": here[1], "a": "350505"}).scalar()
                and conn.execute(covers, {"x": there[0], "y": there[1], "a": "350521"}).scalar()
            ):
                return here, there
    raise AssertionError("no crossing found")


@pytest.fixture
def across(api: Any, engine: Any) -> dict[str, Any]:
    """Units and targets on both sides of the 泉港/惠安 border, and in 蚌山区."""
    here, there = _border_point(engine)
    ours = created(
        api.post(RISK_UNITS, json=risk_unit_feature(at=at(200, 0, here), name="本区球罐区", level=1))
    )
    theirs = created(api.post(RISK_UNITS, json=risk_unit_feature(at=there, name="惠安外区储罐", level=1)))
    bengshan = created(
        api.post(RISK_UNITS, json=risk_unit_feature(at=BENGSHAN, name="蚌山外区储罐", level=1))
    )
    t_ours = created(api.post(TARGETS, json=protection_target_feature(at=at(150, 90, here), name="本区小学")))
    t_theirs = created(
        api.post(TARGETS, json=protection_target_feature(at=at(150, 90, there), name="惠安外区小学"))
    )
    assert theirs["properties"]["jurisdiction_adcode"] == "350521"
    assert t_theirs["properties"]["jurisdiction_adcode"] == "350521"
    return {
        "here": here,
        "ours": {ours["id"], t_ours["id"]},
        "theirs": {
            ("hazard", theirs["id"]),
            ("hazard", bengshan["id"]),
            ("protection_target", t_theirs["id"]),
        },
        "their_names": ["惠安外区", "蚌山外区"],
        "ours_unit": ours["id"],
        "their_targets": {t_theirs["id"]},
    }


def test_what_lies_across_the_border_counts_but_is_not_named(across: dict[str, Any], client_as: Any) -> None:
    regulator = guarded(client_as("regulator", adcodes=("350505",)))
    body = {"geometry": point(*across["here"]), "target_type": "kindergarten", "population": 90}
    result = ok(regulator.post(SITING, json=body))
    assert result["verdict"] == "veto"  # the 惠安 unit 60 m away vetoes it, unnamed
    outside = [
        f["properties"] for f in result["features"] if f["properties"]["existing"].get("outside_scope")
    ]
    assert outside
    assert all(p["existing"]["id"] is None and f_geom_none(result, p) for p in outside)
    assert result["outside_scope"] == len(outside)
    assert "辖区外" in result["explanation_zh"]
    for name in across["their_names"]:
        assert name not in str(result)
    page = regulator.post("/maps/siting-check", json=body).text
    for name in across["their_names"]:
        assert name not in page


def f_geom_none(result: dict[str, Any], props: dict[str, Any]) -> bool:
    return all(f["geometry"] is None for f in result["features"] if f["properties"] is props)


def _leaks(body: Any, across: dict[str, Any]) -> list[str]:
    text_ = str(body)
    return [n for n in across["their_names"] if n in text_]


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    d=st.floats(0, 1500),
    az=st.floats(0, 360),
    half=st.one_of(st.none(), st.floats(20, 600)),
    kind=st.sampled_from(["school", "residential", "process_unit_a_b", "lpg_supply_base"]),
)
def test_siting_geometries_never_read_another_scope(
    across: dict[str, Any], client_as: Any, d: float, az: float, half: float | None, kind: str
) -> None:
    regulator = guarded(client_as("regulator", adcodes=("350505",)))
    centre = at(d, az, across["here"])
    geometry = point(*centre) if half is None else square(centre, half)
    body: dict[str, Any] = {"geometry": geometry}
    if kind in ("school", "residential"):
        body |= {"target_type": kind, "population": 500}
    else:
        body |= {"hazard_kind": kind, "capacity_m3": 300.0 if kind == "lpg_supply_base" else None, "level": 1}
    r = regulator.post(SITING, json=body)
    if r.status_code == 403:
        assert "geometry" in r.text
        assert not _leaks(r.text, across)
        return
    result = ok(r)
    assert not _leaks(result, across)
    for f in result["features"]:
        e = f["properties"]["existing"]
        if e.get("outside_scope"):
            assert e["id"] is None
            assert f["geometry"] is None
        else:
            assert (e["kind"], e["id"]) not in across["theirs"]
    assert all(
        u["risk_unit_id"] is None or u["name"] not in across["their_names"] for u in result["unchecked"]
    )


@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
@given(d=st.floats(0, 800), az=st.floats(0, 360))
def test_exposure_never_lists_another_scopes_targets(
    across: dict[str, Any], api: Any, client_as: Any, d: float, az: float
) -> None:
    regulator = guarded(client_as("regulator", adcodes=("350505",)))
    unit = created(
        api.post(RISK_UNITS, json=risk_unit_feature(at=at(d, az, across["here"]), name="随机单元"))
    )
    try:
        r = regulator.get(EXPOSURE, params={"risk_unit_id": unit["id"], "bands": "300,1500"})
        if unit["properties"]["jurisdiction_adcode"] != "350505":
            assert r.status_code == 404
            return
        body = ok(r)
        listed = {i for b in body["bands"] for i in b["target_ids"]}
        assert not listed & across["their_targets"]
        assert sum(b["targets"] for b in body["bands"]) == len(listed) + sum(
            b["target_ids_outside_scope"] for b in body["bands"]
        )
    finally:
        api.delete(f"{RISK_UNITS}/{unit['id']}")
