"""The four-colour zones (public) and the hidden hazards (scoped as /api/v1/hazards) as OGC API collections."""

from __future__ import annotations

from typing import Any

from tests.api.builders import (
    ENTERPRISES,
    HUIAN,
    QUANGANG,
    RISK_UNITS,
    created,
    enterprise_feature,
    guarded,
    ok,
    risk_unit_feature,
)

OGC = "/ogc/collections"
ZONES = f"{OGC}/four-colour-zones"
HAZARDS = f"{OGC}/hazards"


def _register(client: Any) -> dict[str, int]:
    c = guarded(client)
    e1 = created(c.post(ENTERPRISES, json=enterprise_feature(1, at=QUANGANG)))["id"]
    e2 = created(c.post(ENTERPRISES, json=enterprise_feature(2, at=HUIAN)))["id"]
    u1 = created(c.post(RISK_UNITS, json=risk_unit_feature(e1, at=QUANGANG, level=1)))["id"]
    u2 = created(c.post(RISK_UNITS, json=risk_unit_feature(e2, at=HUIAN, level=3)))["id"]
    return {"e1": e1, "e2": e2, "u1": u1, "u2": u2}


def test_zones_are_the_public_four_colour_map(client: Any, client_as: Any) -> None:
    _register(client)
    public = guarded(client_as("public"))
    ids = {col["id"] for col in ok(public.get(OGC))["collections"]}
    assert {"four-colour-zones", "hazards"} <= ids

    page = ok(public.get(f"{ZONES}/items", params={"adcode": "350500"}))
    by_code = {f["id"]: f for f in page["features"]}
    api = ok(public.get("/api/v1/analysis/four-color", params={"adcode": "350500"}))
    assert page["numberMatched"] == len(api["features"]) == len(by_code)
    for zone in api["features"]:  # the same zones, levels, colours and counts as the API's map
        got = by_code[zone["id"]]["properties"]
        for name in ("level", "color", "counts", "name"):
            assert got[name] == zone["properties"][name]
        assert "enterprise_ids" not in got  # public: aggregates only
        assert got["adcode"] == "350500"
    assert by_code["350505"]["properties"]["level"] == 1
    assert by_code["350505"]["properties"]["color"] is not None
    assert by_code["350521"]["properties"]["level"] == 3
    assert by_code["350505"]["geometry"]["type"] in ("Polygon", "MultiPolygon")

    # the level queryable and a bbox around 泉港区's point
    red = ok(public.get(f"{ZONES}/items", params={"adcode": "350500", "level": "1"}))
    assert [f["id"] for f in red["features"]] == ["350505"]
    lon, lat = QUANGANG
    boxed = ok(public.get(f"{ZONES}/items", params={"adcode": "350500", "bbox": f"{lon},{lat},{lon},{lat}"}))
    assert "350505" in {f["id"] for f in boxed["features"]}
    assert "350521" not in {f["id"] for f in boxed["features"]}

    # one zone by its code, found in its parent's map
    one = ok(public.get(f"{ZONES}/items/350505"))
    assert one["properties"]["level"] == 1
    assert public.get(f"{ZONES}/items/999999").status_code == 404

    # without adcode: the zones of the top-level units loaded (for the public), paged with next links
    default = ok(public.get(f"{ZONES}/items", params={"limit": 2}))
    assert default["numberMatched"] > 2
    assert any(link["rel"] == "next" for link in default["links"])


def test_hazards_are_scoped_like_the_api(client: Any, client_as: Any) -> None:
    made = _register(client)
    admin = guarded(client)
    for unit in (made["u1"], made["u1"], made["u2"]):
        body = {"risk_unit_id": unit, "grade": "general", "description": "可燃气体报警器失效"}
        created(admin.post("/api/v1/hazards", json=body))
    regulator = guarded(client_as("regulator", adcodes=("350505",)))
    page = ok(regulator.get(f"{HAZARDS}/items"))
    api = ok(regulator.get("/api/v1/hazards"))
    assert page["numberMatched"] == api["numberMatched"] == 2
    assert {f["id"] for f in page["features"]} == {f["id"] for f in api["features"]}
    first = page["features"][0]
    assert first["geometry"]["type"] == "Point"
    assert first["properties"]["status"] == "reported"
    assert first["properties"]["grade_zh"]

    other = guarded(client_as("regulator", adcodes=("350521",)))
    theirs = ok(other.get(f"{HAZARDS}/items"))
    assert theirs["numberMatched"] == 1
    assert other.get(f"{HAZARDS}/items/{first['id']}").status_code == 404  # out of scope
    assert ok(regulator.get(f"{HAZARDS}/items/{first['id']}"))["id"] == first["id"]
    assert client_as("public").get(f"{HAZARDS}/items").status_code == 401

    # adcode: a jurisdiction's subtree, as in /api/v1 (the admin sees both counties)
    assert ok(admin.get(f"{HAZARDS}/items", params={"adcode": "350521"}))["numberMatched"] == 1
    units = ok(admin.get(f"{OGC}/risk-units/items", params={"adcode": "350505"}))
    assert [f["id"] for f in units["features"]] == [made["u1"]]

    # filters and a bbox that holds none of them
    assert ok(regulator.get(f"{HAZARDS}/items", params={"grade": "major"}))["numberMatched"] == 0
    assert regulator.get(f"{HAZARDS}/items", params={"grade": "huge"}).status_code == 422
    far = ok(regulator.get(f"{HAZARDS}/items", params={"bbox": "100,20,100.1,20.1"}))
    assert far["numberMatched"] == 0
    # EPSG:4490 is lat/lon
    lat_first = ok(
        regulator.get(f"{HAZARDS}/items", params={"crs": "http://www.opengis.net/def/crs/EPSG/0/4490"})
    )
    lat, lon = lat_first["features"][0]["geometry"]["coordinates"]
    assert abs(lon - QUANGANG[0]) < 0.01
    assert abs(lat - QUANGANG[1]) < 0.01
