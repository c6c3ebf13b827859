"""Safety distances over HTTP: hazard kinds on risk units, existing violations, the siting check (一票否决),
exposure bands, risk contours, their maps, and every kind of bad input answered 422 with the field named."""

from __future__ import annotations

import re
from typing import Any

import pytest
from pyproj import Geod

from tests.api.builders import (
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
    assert body["summary"]["by_basis"] == {"distance": 1, "risk_contour": 2}
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
