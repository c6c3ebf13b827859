"""Enterprises (生产经营单位) over HTTP: CRUD round trips, normalisation, versions, coordinate systems."""

from __future__ import annotations

from typing import Any

import pytest

from geo.coords import bd09_to_wgs84, gcj02_to_wgs84, geodesic_distance_m
from tests.api.builders import (
    ENTERPRISES,
    HUIAN,
    QUANGANG,
    QUANGANG_2,
    RISK_UNITS,
    box_polygon,
    count,
    created,
    credit_code,
    enterprise_feature,
    guarded,
    if_match,
    ok,
    point,
    problem,
    risk_unit_feature,
)


@pytest.fixture
def api(client: Any) -> Any:
    return guarded(client)


def test_create_get_list_patch_delete_round_trip(api: Any) -> None:
    sent = enterprise_feature(1, sector="危险化学品", contact_phone="+86 138 0013 8000")
    body = created(api.post(ENTERPRISES, json=sent))
    eid = body["id"]
    props = body["properties"]
    assert body["type"] == "Feature"
    assert props["id"] == eid
    assert props["credit_code"] == sent["properties"]["credit_code"]
    assert props["name"] == "泉港石化储运有限公司1号"
    assert props["address"] == "福建省泉州市泉港区南埔镇"
    assert props["supervising_department"] == "泉港区应急管理局"
    assert props["contact_person"] == "林志强"
    assert props["business_type"] == "危化品储存"
    assert props["sector"] == "hazardous_chemicals"  # 中文 name → code
    assert props["contact_phone"] == "13800138000"  # +86 and spaces dropped
    assert props["employees"] == 120
    assert props["jurisdiction_adcode"] == "350505"
    assert props["version"] == 1
    assert props["level"] is None
    assert props["risk_unit_count"] == 0
    assert props["site"] is None
    assert body["geometry"] == point(*QUANGANG)
    assert api.post(ENTERPRISES, json=sent).status_code == 409  # the create happened once

    got = api.get(f"{ENTERPRISES}/{eid}")
    assert ok(got) == body
    etag1 = got.headers["etag"]
    assert etag1.startswith('"1-')  # strong: the version and a digest of the answer

    listed = ok(api.get(ENTERPRISES))
    assert listed["type"] == "FeatureCollection"
    assert listed["numberMatched"] == listed["numberReturned"] == 1
    assert listed["features"] == [body]

    patch = {
        "properties": {
            "name": "泉港石化储运（福建）有限公司",
            "employees": 150,
            "contact_phone": "0595-87781234",
        },
        "geometry": point(*QUANGANG_2),
    }
    patched = api.patch(f"{ENTERPRISES}/{eid}", json=patch, headers={"If-Match": etag1})
    new = ok(patched)
    assert patched.headers["etag"].startswith('"2-')
    assert new["properties"]["version"] == 2
    assert new["properties"]["name"] == "泉港石化储运（福建）有限公司"
    assert new["properties"]["employees"] == 150
    assert new["properties"]["contact_phone"] == "0595-87781234"
    assert new["properties"]["credit_code"] == props["credit_code"]  # untouched fields kept
    assert new["properties"]["sector"] == "hazardous_chemicals"
    assert new["properties"]["address"] == props["address"]
    assert new["geometry"] == point(*QUANGANG_2)
    assert new["properties"]["updated_at"] >= props["updated_at"]

    again = api.get(f"{ENTERPRISES}/{eid}")
    assert ok(again) == new
    assert again.headers["etag"] == patched.headers["etag"]

    assert (
        api.delete(f"{ENTERPRISES}/{eid}", headers=if_match(api, f"{ENTERPRISES}/{eid}")).status_code == 204
    )
    assert api.get(f"{ENTERPRISES}/{eid}").status_code == 404
    assert (
        api.delete(f"{ENTERPRISES}/{eid}", headers=if_match(api, f"{ENTERPRISES}/{eid}")).status_code == 404
    )
    assert (
        api.patch(
            f"{ENTERPRISES}/{eid}",
            json={"properties": {"employees": 1}},
            headers=if_match(api, f"{ENTERPRISES}/{eid}"),
        ).status_code
        == 404
    )
    assert count(api, ENTERPRISES) == 0


def test_404_body_is_the_error_json(api: Any) -> None:
    r = api.get(f"{ENTERPRISES}/424242")
    assert r.status_code == 404
    assert r.json() == {
        "detail": "no enterprise with id 424242",
        "errors": [],
        "request_id": r.headers["X-Request-ID"],
    }


def test_stale_if_match_is_412_and_changes_nothing(api: Any) -> None:
    e = created(api.post(ENTERPRISES, json=enterprise_feature(1)))
    url = f"{ENTERPRISES}/{e['id']}"
    first = api.get(url).headers["etag"]
    ok(api.patch(url, json={"properties": {"employees": 7}}, headers={"If-Match": first}))
    before = api.get(url)
    stale = api.patch(
        url,
        json={"properties": {"employees": 99}, "geometry": point(*QUANGANG_2)},
        headers={"If-Match": first},
    )
    found = problem(stale, "If-Match", status=412)
    assert before.headers["etag"] in found["reason"]  # says what the current version is
    assert found["reason_zh"]
    after = api.get(url)
    assert ok(after) == ok(before)
    assert after.json()["properties"]["employees"] == 7
    assert after.headers["etag"] == before.headers["etag"]
    # one of several tags may match; "*" means "whatever is stored" (the client opts out of the check)
    several = {"If-Match": f"{first}, {before.headers['etag']}"}
    assert (
        ok(api.patch(url, json={"properties": {"employees": 8}}, headers=several))["properties"]["version"]
        == 3
    )
    assert (
        ok(api.patch(url, json={"properties": {"employees": 9}}, headers={"If-Match": "*"}))["properties"][
            "version"
        ]
        == 4
    )
    assert problem(
        api.patch(url, json={"properties": {"employees": 10}}, headers={"If-Match": "abc"}), "If-Match"
    )
    assert ok(api.get(url))["properties"]["employees"] == 9  # the malformed tag wrote nothing


def test_fetched_feature_can_be_edited_and_sent_back(api: Any) -> None:
    """Server-computed properties (version, level 就高, risk_unit_count…) in a fetched Feature are ignored."""
    e = created(api.post(ENTERPRISES, json=enterprise_feature(1)))
    created(api.post(RISK_UNITS, json=risk_unit_feature(e["id"], level=3)))
    fetched = ok(api.get(f"{ENTERPRISES}/{e['id']}"))
    assert fetched["properties"]["level"] == 3
    fetched["properties"]["employees"] = 321
    new = ok(
        api.patch(f"{ENTERPRISES}/{e['id']}", json=fetched, headers=if_match(api, f"{ENTERPRISES}/{e['id']}"))
    )
    assert new["properties"]["employees"] == 321
    assert new["properties"]["level"] == 3
    assert new["properties"]["risk_unit_count"] == 1
    assert new["properties"]["version"] == 2


def test_sector_codes_and_english_names_accepted(api: Any) -> None:
    a = created(api.post(ENTERPRISES, json=enterprise_feature(1, sector="construction")))
    b = created(api.post(ENTERPRISES, json=enterprise_feature(2, sector="Urban gas", at=QUANGANG_2)))
    c = created(api.post(ENTERPRISES, json=enterprise_feature(3, sector="粉尘涉爆")))
    assert [x["properties"]["sector"] for x in (a, b, c)] == ["construction", "urban_gas", "dust_explosion"]
    assert ok(api.get(ENTERPRISES, params={"sector": "urban_gas"}))["features"][0]["id"] == b["id"]


def test_credit_code_is_normalised(api: Any) -> None:
    code = credit_code(5)
    e = created(api.post(ENTERPRISES, json=enterprise_feature(5, credit_code=f"  {code.lower()} ")))
    assert e["properties"]["credit_code"] == code


def test_site_polygon_round_trip(api: Any) -> None:
    lon, lat = QUANGANG
    site = box_polygon(
        round(lon - 0.002, 6), round(lat - 0.002, 6), round(lon + 0.002, 6), round(lat + 0.002, 6)
    )
    e = created(api.post(ENTERPRISES, json=enterprise_feature(1, site=site)))
    assert e["properties"]["site"]["type"] == "MultiPolygon"
    assert e["properties"]["site"]["coordinates"] == [site["coordinates"]]
    # patching something else keeps the site; sending null removes it
    kept = ok(
        api.patch(
            f"{ENTERPRISES}/{e['id']}",
            json={"properties": {"employees": 3}},
            headers=if_match(api, f"{ENTERPRISES}/{e['id']}"),
        )
    )
    assert kept["properties"]["site"] == e["properties"]["site"]
    gone = ok(
        api.patch(
            f"{ENTERPRISES}/{e['id']}",
            json={"properties": {"site": None}},
            headers=if_match(api, f"{ENTERPRISES}/{e['id']}"),
        )
    )
    assert gone["properties"]["site"] is None


def test_declared_jurisdiction_is_refined_to_the_deepest_unit(api: Any) -> None:
    e = created(api.post(ENTERPRISES, json=enterprise_feature(1, jurisdiction="350500")))
    assert e["properties"]["jurisdiction_adcode"] == "350505"
    assert "jurisdiction" not in e["properties"]


def test_moving_an_enterprise_reassigns_its_jurisdiction(api: Any) -> None:
    e = created(api.post(ENTERPRISES, json=enterprise_feature(1)))
    moved = ok(
        api.patch(
            f"{ENTERPRISES}/{e['id']}",
            json={"geometry": point(*HUIAN)},
            headers=if_match(api, f"{ENTERPRISES}/{e['id']}"),
        )
    )
    assert moved["properties"]["jurisdiction_adcode"] == "350521"
    assert ok(api.get(ENTERPRISES, params={"adcode": "350521"}))["numberMatched"] == 1
    assert ok(api.get(ENTERPRISES, params={"adcode": "350505"}))["numberMatched"] == 0


def test_enterprise_level_is_the_highest_of_its_units_and_delete_cascades(api: Any) -> None:
    e = created(api.post(ENTERPRISES, json=enterprise_feature(1)))
    other = created(api.post(ENTERPRISES, json=enterprise_feature(2, at=QUANGANG_2)))
    units = [
        created(api.post(RISK_UNITS, json=risk_unit_feature(e["id"], name=f"风险点{lv}", level=lv)))
        for lv in (3, 2, 4)
    ]
    created(api.post(RISK_UNITS, json=risk_unit_feature(other["id"], name="别家风险点", level=1)))
    got = ok(api.get(f"{ENTERPRISES}/{e['id']}"))["properties"]
    assert got["level"] == 2  # 就高: the smallest number
    assert got["risk_unit_count"] == 3
    listed = {f["id"]: f["properties"] for f in ok(api.get(ENTERPRISES))["features"]}
    assert (listed[e["id"]]["level"], listed[e["id"]]["risk_unit_count"]) == (2, 3)
    assert (listed[other["id"]]["level"], listed[other["id"]]["risk_unit_count"]) == (1, 1)

    ok(
        api.patch(
            f"{RISK_UNITS}/{units[1]['id']}",
            json={"properties": {"level": 4}},
            headers=if_match(api, f"{RISK_UNITS}/{units[1]['id']}"),
        )
    )
    assert ok(api.get(f"{ENTERPRISES}/{e['id']}"))["properties"]["level"] == 3
    assert (
        api.delete(
            f"{RISK_UNITS}/{units[0]['id']}", headers=if_match(api, f"{RISK_UNITS}/{units[0]['id']}")
        ).status_code
        == 204
    )
    after = ok(api.get(f"{ENTERPRISES}/{e['id']}"))["properties"]
    assert (after["level"], after["risk_unit_count"]) == (4, 2)

    assert (
        api.delete(f"{ENTERPRISES}/{e['id']}", headers=if_match(api, f"{ENTERPRISES}/{e['id']}")).status_code
        == 204
    )
    for u in units:
        assert api.get(f"{RISK_UNITS}/{u['id']}").status_code == 404
    assert count(api, RISK_UNITS) == 1
    assert count(api, RISK_UNITS, enterprise_id=e["id"]) == 0


# --- coordinate systems ------------------------------------------------------------------------------


@pytest.mark.parametrize(("crs", "to_wgs84"), [("gcj02", gcj02_to_wgs84), ("bd09", bd09_to_wgs84)])
def test_offset_crs_is_converted_on_the_way_in_and_out(api: Any, crs: str, to_wgs84: Any) -> None:
    raw = (118.86, 25.13)  # numbers as AMap / Baidu show them
    e = created(api.post(ENTERPRISES, params={"crs": crs}, json=enterprise_feature(1, at=raw)))
    # the response is in the request's crs: the numbers sent
    assert e["geometry"]["coordinates"] == pytest.approx(list(raw), abs=1e-6)

    stored = ok(api.get(f"{ENTERPRISES}/{e['id']}"))["geometry"]["coordinates"]
    moved = geodesic_distance_m(raw[0], raw[1], stored[0], stored[1])
    assert 200 < moved < 2000, moved  # GCJ-02 / BD-09 offsets are hundreds of metres
    wlon, wlat = to_wgs84(*raw)
    assert geodesic_distance_m(wlon, wlat, stored[0], stored[1]) < 1.0
    assert (
        ok(api.get(f"{ENTERPRISES}/{e['id']}", params={"crs": "wgs84"}))["geometry"]["coordinates"] == stored
    )

    back = ok(api.get(f"{ENTERPRISES}/{e['id']}", params={"crs": crs}))["geometry"]["coordinates"]
    assert back == pytest.approx(list(raw), abs=1e-6)
    listed = ok(api.get(ENTERPRISES, params={"crs": crs}))["features"][0]["geometry"]["coordinates"]
    assert listed == pytest.approx(list(raw), abs=1e-6)

    # a patch in the same crs with the same numbers leaves the stored point where it was
    ok(
        api.patch(
            f"{ENTERPRISES}/{e['id']}",
            params={"crs": crs},
            json={"geometry": point(*raw)},
            headers=if_match(api, f"{ENTERPRISES}/{e['id']}"),
        )
    )
    again = ok(api.get(f"{ENTERPRISES}/{e['id']}"))["geometry"]["coordinates"]
    assert again == pytest.approx(stored, abs=1e-7)


def test_crs_aliases_and_wgs84_store_the_numbers_as_sent(api: Any) -> None:
    a = created(api.post(ENTERPRISES, params={"crs": "EPSG:4326"}, json=enterprise_feature(1)))
    b = created(api.post(ENTERPRISES, params={"crs": "GCJ-02"}, json=enterprise_feature(2)))
    assert ok(api.get(f"{ENTERPRISES}/{a['id']}"))["geometry"] == point(*QUANGANG)
    assert ok(api.get(f"{ENTERPRISES}/{b['id']}"))["geometry"] != point(*QUANGANG)


def test_site_is_converted_with_the_location(api: Any) -> None:
    lon, lat = 118.86, 25.13
    site = box_polygon(lon - 0.002, lat - 0.002, lon + 0.002, lat + 0.002)
    e = created(
        api.post(ENTERPRISES, params={"crs": "gcj02"}, json=enterprise_feature(1, at=(lon, lat), site=site))
    )
    assert e["properties"]["site"]["coordinates"][0][0][0] == pytest.approx(
        [lon - 0.002, lat - 0.002], abs=1e-6
    )
    stored = ok(api.get(f"{ENTERPRISES}/{e['id']}"))["properties"]["site"]["coordinates"][0][0][0]
    wlon, wlat = gcj02_to_wgs84(lon - 0.002, lat - 0.002)
    assert geodesic_distance_m(wlon, wlat, stored[0], stored[1]) < 1.0


def test_altitude_is_accepted_and_dropped(api: Any) -> None:
    e = created(
        api.post(
            ENTERPRISES,
            json=enterprise_feature(1, geometry={"type": "Point", "coordinates": [*QUANGANG, 12.5]}),
        )
    )
    assert e["geometry"] == point(*QUANGANG)
    assert ok(api.get(f"{ENTERPRISES}/{e['id']}"))["geometry"] == point(*QUANGANG)
