"""The analysis endpoints on hand-made registers with known answers."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from geo.store.zones import boundary
from geo.zones import h3_grid, square_grid
from tests.api.builders import (
    ENTERPRISES,
    HUIAN,
    JURISDICTIONS,
    QUANGANG,
    RISK_UNITS,
    box_polygon,
    created,
    enterprise_feature,
    guarded,
    jurisdiction_feature,
    ok,
    problem,
    risk_unit_feature,
)

FOUR = "/api/v1/analysis/four-color"


def _zones(client: Any, **params: Any) -> dict[str, dict[str, Any]]:
    body = ok(client.get(FOUR, params=params))
    return {f["properties"]["code"]: f["properties"] for f in body["features"]}


@pytest.fixture
def register(client: Any) -> dict[str, Any]:
    """泉港: an enterprise with units of levels 3 and 2, a public gas main of level 1; 惠安: one level-4 unit."""
    c = guarded(client)
    plant = created(c.post(ENTERPRISES, json=enterprise_feature(1)))
    created(c.post(RISK_UNITS, json=risk_unit_feature(plant["id"], name="罐区", level=3)))
    created(c.post(RISK_UNITS, json=risk_unit_feature(plant["id"], name="装卸区", level=2)))
    main = created(
        c.post(
            RISK_UNITS,
            json=risk_unit_feature(
                None,
                name="中压燃气管线",
                level=1,
                geometry={"type": "LineString", "coordinates": [[118.86, 25.12], [118.90, 25.12]]},
            ),
        )
    )
    created(
        c.post(RISK_UNITS, json=risk_unit_feature(None, name="集贸市场", level=4, at=HUIAN, sector="消防"))
    )
    return {"client": c, "plant": plant, "main": main}


def test_city_by_county_takes_the_highest_level(register: dict[str, Any]) -> None:
    c = register["client"]
    zones = _zones(c, adcode="350500")
    assert set(zones) >= {"350505", "350521", "350502"}
    quangang, huian, licheng = zones["350505"], zones["350521"], zones["350502"]
    assert quangang["level"] == 1
    assert quangang["color"] == "#FF0000"
    assert quangang["level_name"] == "重大风险"
    assert quangang["counts"] == {"1": 1, "2": 1, "3": 1, "4": 0}
    assert quangang["enterprise_ids"] == [register["plant"]["id"]]
    assert huian["level"] == 4
    assert huian["color"] == "#0000FF"
    assert huian["counts"] == {"1": 0, "2": 0, "3": 0, "4": 1}
    # An empty zone reports no level, zero counts and zero shares.
    assert licheng["level"] is None
    assert licheng["color"] is None
    assert licheng["counts"] == {"1": 0, "2": 0, "3": 0, "4": 0}
    assert set(licheng["area_share"].values()) == {0.0}


def test_grid_zones_match_the_pure_grid_and_find_the_units(register: dict[str, Any], engine: Any) -> None:
    c = register["client"]
    zones = _zones(c, adcode="350505", zones="grid", cell_m=1000)
    with engine.connect() as conn:
        expected = square_grid(boundary(conn, "350505"), cell_m=1000, code_prefix="350505")
    assert set(zones) == set(expected["code"])
    levels = sorted(z["level"] for z in zones.values() if z["level"] is not None)
    # The plant's two units share one cell (level 2); the 4 km gas main crosses several cells.
    assert levels.count(2) == 1
    assert levels.count(1) >= 4
    total = sum(sum(z["counts"].values()) for z in zones.values())
    assert total >= 2 + 4


def test_h3_zones(register: dict[str, Any], engine: Any) -> None:
    zones = _zones(register["client"], adcode="350505", zones="h3", h3_res=7)
    with engine.connect() as conn:
        expected = h3_grid(boundary(conn, "350505"), resolution=7)
    assert set(zones) == set(expected["code"])
    assert any(z["level"] == 1 for z in zones.values())


def test_parks_as_zones(register: dict[str, Any]) -> None:
    c = register["client"]
    park = box_polygon(QUANGANG[0] - 0.01, QUANGANG[1] - 0.01, QUANGANG[0] + 0.01, QUANGANG[1] + 0.01)
    created(
        c.post(JURISDICTIONS, json=jurisdiction_feature("350505P77", "测试化工园区", "park", "350505", park))
    )
    zones = _zones(c, adcode="350500", zones="parks")
    assert list(zones) == ["350505P77"]
    assert zones["350505P77"]["level"] == 2
    assert zones["350505P77"]["counts"] == {"1": 0, "2": 1, "3": 1, "4": 0}


def test_weighted_rule_is_an_option_not_the_default(register: dict[str, Any]) -> None:
    c = register["client"]
    body = ok(
        c.get(
            FOUR,
            params={"adcode": "350500", "rule": "weighted", "weights": "100,30,10,1", "breaks": "200,30,10"},
        )
    )
    props = {f["properties"]["code"]: f["properties"] for f in body["features"]}
    assert body["rule"] == "weighted"
    assert "Σ" in body["rule_description"]
    # I = 100 + 30 + 10 = 140: under the level-1 break of 200, over 30 → level 2.
    assert props["350505"]["index"] == 140
    assert props["350505"]["level"] == 2
    assert props["350521"]["level"] == 4
    assert ok(c.get(FOUR, params={"adcode": "350500"}))["rule"] == "max"


def test_enterprise_levels_and_summary(register: dict[str, Any]) -> None:
    c = register["client"]
    levels = ok(c.get("/api/v1/analysis/enterprise-levels", params={"adcode": "350505"}))
    (plant,) = levels["features"]
    assert plant["properties"]["level"] == 2
    assert plant["properties"]["counts"] == {"1": 0, "2": 1, "3": 1, "4": 0}
    assert levels["level_rule"] == "max"

    summary = ok(c.get("/api/v1/analysis/summary", params={"adcode": "350500"}))
    assert summary["risk_units"] == 4
    assert summary["public_area_risks"] == 2
    assert summary["enterprises"] == 1
    assert summary["counts"] == {"1": 1, "2": 1, "3": 1, "4": 1}
    sectors = {s["sector"]: s for s in summary["by_sector"]}
    assert sectors["hazardous_chemicals"]["risk_units"] == 2
    assert sectors["urban_gas"]["counts"]["1"] == 1
    zones = {z["adcode"]: z for z in summary["by_zone"]}
    assert zones["350505"]["level"] == 1
    assert zones["350521"]["level"] == 4
    assert zones["350502"]["risk_units"] == 0


def test_overdue_assessments_are_listed(client: Any) -> None:
    c = guarded(client)
    plant = created(c.post(ENTERPRISES, json=enterprise_feature(2)))
    old = (dt.date.today() - dt.timedelta(days=800)).isoformat()
    unit = created(c.post(RISK_UNITS, json=risk_unit_feature(plant["id"], name="反应釜", assessed_on=old)))
    created(
        c.post(
            RISK_UNITS,
            json=risk_unit_feature(plant["id"], name="新罐区", assessed_on=dt.date.today().isoformat()),
        )
    )
    overdue = ok(c.get("/api/v1/analysis/summary", params={"adcode": "350505"}))["overdue"]
    assert overdue["count"] == 1
    assert overdue["items"][0]["id"] == unit["id"]
    assert overdue["items"][0]["days_overdue"] == 800 - 365


@pytest.mark.parametrize(
    ("params", "status", "field"),
    [
        ({"adcode": "999999"}, 404, None),
        ({"adcode": "350505", "zones": "grid", "cell_m": 99}, 422, "cell_m"),
        ({"adcode": "350505", "zones": "grid", "cell_m": 50001}, 422, "cell_m"),
        ({"adcode": "350505", "zones": "grid", "cell_m": "abc"}, 422, "cell_m"),
        ({"adcode": "350505", "zones": "h3", "h3_res": 3}, 422, "h3_res"),
        ({"adcode": "350505", "zones": "h3", "h3_res": 16}, 422, "h3_res"),
        ({"adcode": "350505", "rule": "mean"}, 422, "rule"),
        ({"adcode": "350505", "zones": "counties"}, 422, "zones"),
        ({"adcode": "350505", "zones": "grid", "rule": "weighted", "weights": "1,2"}, 422, "weights"),
        ({"adcode": "350505", "zones": "grid", "rule": "weighted", "breaks": "10,30,100"}, 422, "breaks"),
        ({"adcode": "350505", "zones": "children"}, 422, "zones"),  # asked for, and none are loaded
        ({}, 422, "adcode"),
    ],
)
def test_bad_four_colour_requests(
    client: Any, params: dict[str, Any], status: int, field: str | None
) -> None:
    c = guarded(client)
    for path in (FOUR, "/maps/four-color"):
        response = c.get(path, params=params)
        if field is None:
            assert response.status_code == status, response.text
            assert "999999" in response.json()["detail"]
        else:
            problem(response, field, status=status)


@pytest.mark.parametrize("path", ["/api/v1/analysis/enterprise-levels", "/api/v1/analysis/summary"])
def test_unknown_adcode_is_404(client: Any, path: str) -> None:
    response = guarded(client).get(path, params={"adcode": "999999"})
    assert response.status_code == 404
    assert "999999" in response.json()["detail"]
