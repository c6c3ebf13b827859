"""Jurisdictions, parks and townships over HTTP, and the `adcode` and `bbox` filters of every resource."""

from __future__ import annotations

from typing import Any

import pytest
from shapely.geometry import shape

from geo.coords import wgs84_to_gcj02
from tests.api.builders import (
    BENGSHAN,
    ENTERPRISES,
    HUIAN,
    IN_BOX,
    IN_BOX_2,
    INNER_BOX,
    JURISDICTIONS,
    QUANGANG,
    QUANGANG_2,
    QUANGANG_3,
    RISK_UNITS,
    TARGETS,
    box_polygon,
    count,
    created,
    enterprise_feature,
    guarded,
    ids,
    if_match,
    jurisdiction_feature,
    ok,
    point,
    problem,
    protection_target_feature,
    risk_unit_feature,
)

PARK = "350505P99"
TOWNSHIP = "350505100"


@pytest.fixture
def api(client: Any) -> Any:
    return guarded(client)


@pytest.fixture
def spread(api: Any) -> dict[str, dict[str, Any]]:
    """Enterprises in 泉港区 (three, two of them inside INNER_BOX), 惠安县 and 蚌山区."""
    places = {"qg_box": IN_BOX, "qg_box_2": IN_BOX_2, "qg": QUANGANG_3, "huian": HUIAN, "bengshan": BENGSHAN}
    return {
        key: created(api.post(ENTERPRISES, json=enterprise_feature(n, at=at)))
        for n, (key, at) in enumerate(places.items(), start=1)
    }


def _boundary(api: Any, adcode: str) -> Any:
    return shape(ok(api.get(f"{JURISDICTIONS}/{adcode}"))["geometry"])


def test_seed_boundaries_are_served(api: Any) -> None:
    qg = ok(api.get(f"{JURISDICTIONS}/350505"))
    assert qg["id"] == "350505"
    assert qg["properties"]["name"] == "泉港区"
    assert qg["properties"]["level"] == "county"
    assert qg["properties"]["parent_adcode"] == "350500"
    assert qg["geometry"]["type"] == "MultiPolygon"
    assert shape(qg["geometry"]).contains(shape(point(*QUANGANG)))
    counties = ok(api.get(JURISDICTIONS, params={"parent_adcode": "350500", "limit": 50}))
    assert {f["id"] for f in counties["features"]} >= {"350505", "350521", "350582"}
    assert all(f["properties"]["level"] == "county" for f in counties["features"])
    subtree = ids(ok(api.get(JURISDICTIONS, params={"adcode": "350500", "limit": 50})))
    assert "350500" in subtree
    assert "350505" in subtree
    assert "340303" not in subtree
    assert count(api, JURISDICTIONS, level="province") == 4
    assert ids(ok(api.get(JURISDICTIONS, params={"level": "city"}))) == {
        "340300",
        "350500",
        "370400",
        "533100",
    }
    assert api.get(f"{JURISDICTIONS}/999999").status_code == 404


def test_adcode_filter_county(api: Any, spread: dict[str, dict[str, Any]]) -> None:
    qg = _boundary(api, "350505")
    found = ok(api.get(ENTERPRISES, params={"adcode": "350505"}))
    assert ids(found) == {spread[k]["id"] for k in ("qg_box", "qg_box_2", "qg")}
    for f in found["features"]:
        assert qg.contains(shape(f["geometry"]))
        assert f["properties"]["jurisdiction_adcode"] == "350505"
    assert spread["huian"]["id"] not in ids(found)
    assert spread["bengshan"]["id"] not in ids(found)
    assert ids(ok(api.get(ENTERPRISES, params={"adcode": "350521"}))) == {spread["huian"]["id"]}
    assert ids(ok(api.get(ENTERPRISES, params={"adcode": "340303"}))) == {spread["bengshan"]["id"]}


def test_adcode_filter_city_and_province_take_the_subtree(
    api: Any, spread: dict[str, dict[str, Any]]
) -> None:
    city = ids(ok(api.get(ENTERPRISES, params={"adcode": "350500"})))
    assert city == {spread[k]["id"] for k in ("qg_box", "qg_box_2", "qg", "huian")}
    assert ids(ok(api.get(ENTERPRISES, params={"adcode": "350000"}))) == city
    assert ids(ok(api.get(ENTERPRISES, params={"adcode": "340000"}))) == {spread["bengshan"]["id"]}
    assert ok(api.get(ENTERPRISES, params={"adcode": "533100"}))["numberMatched"] == 0


def test_adcode_filter_on_units_and_targets(api: Any, spread: dict[str, dict[str, Any]]) -> None:
    qg_unit = created(api.post(RISK_UNITS, json=risk_unit_feature(spread["qg"]["id"], at=QUANGANG_3)))
    huian_unit = created(api.post(RISK_UNITS, json=risk_unit_feature(spread["huian"]["id"], at=HUIAN)))
    public = created(api.post(RISK_UNITS, json=risk_unit_feature(None, at=QUANGANG_2)))
    school = created(api.post(TARGETS, json=protection_target_feature(at=QUANGANG_2)))
    far = created(api.post(TARGETS, json=protection_target_feature(at=BENGSHAN)))
    assert ids(ok(api.get(RISK_UNITS, params={"adcode": "350505"}))) == {qg_unit["id"], public["id"]}
    assert ids(ok(api.get(RISK_UNITS, params={"adcode": "350500"}))) == {
        qg_unit["id"],
        public["id"],
        huian_unit["id"],
    }
    assert ids(ok(api.get(TARGETS, params={"adcode": "350505"}))) == {school["id"]}
    assert ids(ok(api.get(TARGETS, params={"adcode": "340303"}))) == {far["id"]}


def test_unknown_adcode_is_404(api: Any) -> None:
    for path in (ENTERPRISES, RISK_UNITS, TARGETS, JURISDICTIONS):
        r = api.get(path, params={"adcode": "350599"})
        assert r.status_code == 404, path
        assert r.json() == {
            "detail": "no jurisdiction with adcode '350599'",
            "errors": [],
            "request_id": r.headers["X-Request-ID"],
        }


def test_bbox_filter(api: Any, spread: dict[str, dict[str, Any]]) -> None:
    lon, lat = IN_BOX
    near = ok(
        api.get(ENTERPRISES, params={"bbox": f"{lon - 0.005},{lat - 0.005},{lon + 0.005},{lat + 0.005}"})
    )
    assert ids(near) == {spread["qg_box"]["id"]}
    box = ok(api.get(ENTERPRISES, params={"bbox": ",".join(map(str, INNER_BOX))}))
    assert ids(box) == {spread["qg_box"]["id"], spread["qg_box_2"]["id"]}
    for f in box["features"]:
        x, y = f["geometry"]["coordinates"]
        assert INNER_BOX[0] <= x <= INNER_BOX[2]
        assert INNER_BOX[1] <= y <= INNER_BOX[3]
    # combined with adcode: both must hold
    assert ids(ok(api.get(ENTERPRISES, params={"bbox": "117,24,120,34", "adcode": "350521"}))) == {
        spread["huian"]["id"]
    }
    assert ok(api.get(ENTERPRISES, params={"bbox": "100,20,101,21"}))["numberMatched"] == 0


def test_bbox_in_an_offset_crs(api: Any, spread: dict[str, dict[str, Any]]) -> None:
    # a tight box around the GCJ-02 position of the point finds it; the same box read as CGCS2000 does not
    glon, glat = wgs84_to_gcj02(*IN_BOX)
    bbox = f"{glon - 0.001},{glat - 0.001},{glon + 0.001},{glat + 0.001}"
    assert ids(ok(api.get(ENTERPRISES, params={"bbox": bbox, "crs": "gcj02"}))) == {spread["qg_box"]["id"]}
    assert ok(api.get(ENTERPRISES, params={"bbox": bbox}))["numberMatched"] == 0


def test_malformed_bbox_is_422(api: Any, spread: dict[str, dict[str, Any]]) -> None:
    for bbox in ("1,2,3", "a,b,c,d", "118.9,25.0,118.8,25.3", "118.8,25.0,118.9,95", "", "1,2,3,4,5"):
        for path in (ENTERPRISES, RISK_UNITS):
            assert problem(api.get(path, params={"bbox": bbox}), "bbox")["field"] == "bbox", bbox


def test_park_filters_by_place(api: Any, spread: dict[str, dict[str, Any]]) -> None:
    park = created(
        api.post(
            JURISDICTIONS,
            json=jurisdiction_feature(PARK, "泉港石化工业园区", "park", "350505", box_polygon(*INNER_BOX)),
        )
    )
    assert park["id"] == PARK
    assert park["properties"]["level"] == "park"
    assert park["properties"]["parent_adcode"] == "350505"
    assert park["geometry"]["type"] == "MultiPolygon"
    assert ok(api.get(f"{JURISDICTIONS}/{PARK}"))["properties"]["name"] == "泉港石化工业园区"

    inside = ok(api.get(ENTERPRISES, params={"adcode": PARK}))
    assert ids(inside) == {spread["qg_box"]["id"], spread["qg_box_2"]["id"]}
    zone = _boundary(api, PARK)
    for f in inside["features"]:
        assert zone.contains(shape(f["geometry"]))
        assert f["properties"]["jurisdiction_adcode"] == "350505"  # a park is a zone, not an admin unit
    # units and targets by place too
    unit = created(api.post(RISK_UNITS, json=risk_unit_feature(None, at=IN_BOX)))
    created(api.post(RISK_UNITS, json=risk_unit_feature(None, name="外", at=QUANGANG)))
    pipe = {"type": "LineString", "coordinates": [[118.79, 25.15], [118.81, 25.15]]}  # crosses the park edge
    crossing = created(api.post(RISK_UNITS, json=risk_unit_feature(None, name="管道", geometry=pipe)))
    assert ids(ok(api.get(RISK_UNITS, params={"adcode": PARK}))) == {unit["id"], crossing["id"]}
    # the county still finds everything in it, park or not
    assert count(api, ENTERPRISES, adcode="350505") == 3
    assert PARK in ids(ok(api.get(JURISDICTIONS, params={"adcode": "350505"})))

    assert (
        api.delete(f"{JURISDICTIONS}/{PARK}", headers=if_match(api, f"{JURISDICTIONS}/{PARK}")).status_code
        == 204
    )
    assert api.get(f"{JURISDICTIONS}/{PARK}").status_code == 404
    assert api.get(ENTERPRISES, params={"adcode": PARK}).status_code == 404
    assert count(api, ENTERPRISES) == 5


def test_declaring_a_park_files_under_the_admin_unit(api: Any) -> None:
    created(
        api.post(
            JURISDICTIONS,
            json=jurisdiction_feature(PARK, "泉港石化工业园区", "park", "350505", box_polygon(*INNER_BOX)),
        )
    )
    e = created(api.post(ENTERPRISES, json=enterprise_feature(1, at=IN_BOX, jurisdiction=PARK)))
    assert e["properties"]["jurisdiction_adcode"] == "350505"
    outside = api.post(ENTERPRISES, json=enterprise_feature(2, at=QUANGANG, jurisdiction=PARK))
    assert PARK in problem(outside, "properties.jurisdiction")["reason"]
    assert count(api, ENTERPRISES) == 1


def test_new_township_takes_the_rows_it_covers(api: Any, spread: dict[str, dict[str, Any]]) -> None:
    unit = created(api.post(RISK_UNITS, json=risk_unit_feature(None, at=IN_BOX_2)))
    target = created(api.post(TARGETS, json=protection_target_feature(at=IN_BOX)))
    outside_target = created(api.post(TARGETS, json=protection_target_feature(at=QUANGANG)))
    town = created(
        api.post(
            JURISDICTIONS,
            json=jurisdiction_feature(TOWNSHIP, "南埔镇", "township", "350505", box_polygon(*INNER_BOX)),
        )
    )
    assert town["properties"]["level"] == "township"

    def filed(path: str, key: int) -> str:
        return str(ok(api.get(f"{path}/{key}"))["properties"]["jurisdiction_adcode"])

    assert filed(ENTERPRISES, spread["qg_box"]["id"]) == TOWNSHIP
    assert filed(ENTERPRISES, spread["qg_box_2"]["id"]) == TOWNSHIP
    assert filed(ENTERPRISES, spread["qg"]["id"]) == "350505"
    assert filed(ENTERPRISES, spread["huian"]["id"]) == "350521"
    assert filed(RISK_UNITS, unit["id"]) == TOWNSHIP
    assert filed(TARGETS, target["id"]) == TOWNSHIP
    assert filed(TARGETS, outside_target["id"]) == "350505"

    in_town = {spread["qg_box"]["id"], spread["qg_box_2"]["id"]}
    assert ids(ok(api.get(ENTERPRISES, params={"adcode": TOWNSHIP}))) == in_town
    assert ids(ok(api.get(ENTERPRISES, params={"adcode": "350505"}))) == in_town | {spread["qg"]["id"]}
    assert count(api, ENTERPRISES, adcode="350500") == 4
    # rows created afterwards land in the township directly
    later = created(api.post(ENTERPRISES, json=enterprise_feature(9, at=(118.82, 25.16))))
    assert later["properties"]["jurisdiction_adcode"] == TOWNSHIP

    # deleting the township gives its rows back to the county, not to nobody
    assert (
        api.delete(
            f"{JURISDICTIONS}/{TOWNSHIP}", headers=if_match(api, f"{JURISDICTIONS}/{TOWNSHIP}")
        ).status_code
        == 204
    )
    assert filed(ENTERPRISES, spread["qg_box"]["id"]) == "350505"
    assert filed(RISK_UNITS, unit["id"]) == "350505"
    assert filed(TARGETS, target["id"]) == "350505"
    assert count(api, ENTERPRISES, adcode="350505") == 4


def test_jurisdiction_create_errors(api: Any) -> None:
    before = count(api, JURISDICTIONS)
    square = box_polygon(*INNER_BOX)
    dup = api.post(JURISDICTIONS, json=jurisdiction_feature("350505", "泉港区", "county", "350500", square))
    assert dup.status_code == 409
    assert "350505" in dup.json()["detail"]
    problem(
        api.post(JURISDICTIONS, json=jurisdiction_feature("3505051", "x", "township", "350505", square)),
        "properties.adcode",
    )
    problem(
        api.post(JURISDICTIONS, json=jurisdiction_feature("990505100", "x", "township", "350505", square)),
        "properties.adcode",
    )
    problem(
        api.post(JURISDICTIONS, json=jurisdiction_feature("P1", "x", "park", "350599", square)),
        "properties.parent_adcode",
    )
    problem(
        api.post(JURISDICTIONS, json=jurisdiction_feature("P1", "x", "zone", "350505", square)),
        "properties.level",
    )
    problem(
        api.post(JURISDICTIONS, json=jurisdiction_feature("P 1", "x", "park", "350505", square)),
        "properties.adcode",
    )
    problem(
        api.post(JURISDICTIONS, json=jurisdiction_feature("P1", "x", "park", "350505", point(*IN_BOX))),
        "geometry",
    )
    bowtie = {
        "type": "Polygon",
        "coordinates": [[[118.8, 25.14], [118.84, 25.18], [118.84, 25.14], [118.8, 25.18], [118.8, 25.14]]],
    }
    reason = problem(
        api.post(JURISDICTIONS, json=jurisdiction_feature("P1", "x", "park", "350505", bowtie)), "geometry"
    )["reason"]
    assert "self-intersection" in reason.lower()
    assert count(api, JURISDICTIONS) == before


def test_jurisdictions_are_not_patched_and_parents_not_deleted(api: Any) -> None:
    r = api.patch(
        f"{JURISDICTIONS}/350505",
        json={"properties": {"name": "x"}},
        headers=if_match(api, f"{JURISDICTIONS}/350505"),
    )
    assert r.status_code == 405
    assert set(r.json()) == {"detail", "errors", "request_id"}
    blocked = api.delete(f"{JURISDICTIONS}/350500", headers=if_match(api, f"{JURISDICTIONS}/350500"))
    assert blocked.status_code == 409
    assert "350500" in blocked.json()["detail"]
    assert ok(api.get(f"{JURISDICTIONS}/350500"))["properties"]["name"] == "泉州市"
    assert ok(api.get(f"{JURISDICTIONS}/350505"))["properties"]["name"] == "泉港区"
