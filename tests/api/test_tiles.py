"""Vector tiles: what each role's tiles hold (scope and attributes), the four-colour zones layer, ETags
and the cache that a write invalidates."""

from __future__ import annotations

import math
from typing import Any

import mapbox_vector_tile
from sqlalchemy import Engine, text

from geo.store import tiles as store
from tests.api.builders import (
    ENTERPRISES,
    HUIAN,
    QUANGANG,
    RISK_UNITS,
    created,
    enterprise_feature,
    risk_unit_feature,
)

Z = 10


def _tile_of(lon: float, lat: float, z: int = Z) -> tuple[int, int, int]:
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return z, x, y


def _features(response: Any, layer: str) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text[:300]
    assert response.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    decoded = mapbox_vector_tile.decode(response.content)
    return list(decoded.get(layer, {}).get("features", []))


def _in_tile(lon: float, lat: float, z: int) -> tuple[float, float]:
    n = 2**z
    fx = (lon + 180) / 360 * n
    fy = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n
    return (fx - int(fx)) * 4096, 4096 - (fy - int(fy)) * 4096


def _close(a: list[float], b: tuple[float, float]) -> bool:
    return abs(a[0] - b[0]) <= 1 and abs(a[1] - b[1]) <= 1


def _url(layer: str, at: tuple[float, float], z: int = Z) -> str:
    return "/tiles/{}/{}/{}/{}.pbf".format(layer, *_tile_of(*at, z))


def _register(client: Any) -> dict[str, int]:
    e1 = int(created(client.post(ENTERPRISES, json=enterprise_feature(1, at=QUANGANG)))["id"])
    e2 = int(
        created(client.post(ENTERPRISES, json=enterprise_feature(2, at=(QUANGANG[0] + 0.01, QUANGANG[1]))))[
            "id"
        ]
    )
    u1 = created(client.post(RISK_UNITS, json=risk_unit_feature(e1, at=QUANGANG, name="一号储罐区")))
    u2 = created(
        client.post(
            RISK_UNITS, json=risk_unit_feature(e2, at=(QUANGANG[0] + 0.01, QUANGANG[1]), name="二号储罐区")
        )
    )
    return {"E1": e1, "E2": e2, "U1": int(u1["id"]), "U2": int(u2["id"])}


def test_admin_tile_has_the_units_with_their_attributes(client: Any) -> None:
    ids = _register(client)
    found = _features(client.get(_url("risk_units", QUANGANG)), "risk_units")
    by_id = {f["properties"]["id"]: f["properties"] for f in found}
    assert set(by_id) == {ids["U1"], ids["U2"]}
    assert by_id[ids["U1"]]["name"] == "一号储罐区"
    assert by_id[ids["U1"]]["level"] == 2
    assert by_id[ids["U1"]]["enterprise_id"] == ids["E1"]
    assert "responsible_phone" not in by_id[ids["U1"]]
    assert "responsible_person" not in by_id[ids["U1"]]
    elsewhere = _features(client.get(_url("risk_units", HUIAN, z=14)), "risk_units")
    assert elsewhere == []


def test_enterprise_user_sees_only_its_own_units(client: Any, client_as: Any) -> None:
    ids = _register(client)
    mine = client_as("enterprise", enterprise_id=ids["E1"])
    units = _features(mine.get(_url("risk_units", QUANGANG)), "risk_units")
    assert {f["properties"]["id"] for f in units} == {ids["U1"]}
    firms = _features(mine.get(_url("enterprises", QUANGANG)), "enterprises")
    assert {f["properties"]["id"] for f in firms} == {ids["E1"]}
    # the same tile for the admin has both: the cache keys tiles by scope
    both = _features(client.get(_url("risk_units", QUANGANG)), "risk_units")
    assert {f["properties"]["id"] for f in both} == {ids["U1"], ids["U2"]}
    assert mine.get(_url("protection_targets", QUANGANG)).status_code == 403


def test_regulator_sees_its_area_only(client: Any, client_as: Any) -> None:
    ids = _register(client)
    huian = client_as("regulator", adcodes=("350521",))
    assert _features(huian.get(_url("risk_units", QUANGANG)), "risk_units") == []
    quangang = client_as("regulator", adcodes=("350505",))
    units = _features(quangang.get(_url("risk_units", QUANGANG)), "risk_units")
    assert {f["properties"]["id"] for f in units} == {ids["U1"], ids["U2"]}


def test_public_gets_boundaries_and_zones_without_names_or_phones(client: Any, client_as: Any) -> None:
    _register(client)
    public = client_as("public")
    for layer in ("risk_units", "enterprises", "protection_targets", "hazards"):
        assert public.get(_url(layer, QUANGANG)).status_code == 401, layer
    z, x, y = _tile_of(*QUANGANG, 8)
    zones = public.get(f"/tiles/zones/{z}/{x}/{y}.pbf", params={"adcode": "350500"})
    features = _features(zones, "zones")
    assert features, "the city's counties are in the tile"
    quangang = [f["properties"] for f in features if f["properties"]["code"] == "350505"]
    assert len(quangang) == 1
    props = quangang[0]
    assert props["n2"] == 2
    assert props["unit_count"] == 2
    assert props["level"] == 2
    assert props["color"]
    assert set(props) <= set(store.ZONE_ATTRIBUTES)
    raw = zones.content
    for secret in ("泉港石化储运", "0595", "林志强", "陈建华", "储罐区"):
        assert secret.encode() not in raw
    boundaries = _features(public.get(_url("jurisdictions", QUANGANG, z=8)), "jurisdictions")
    assert "350505" in {f["properties"]["adcode"] for f in boundaries}
    assert zones.headers["cache-control"].startswith("public")


def test_etag_304_and_a_write_invalidates(client: Any, engine: Engine) -> None:
    ids = _register(client)
    url = _url("risk_units", QUANGANG)
    first = client.get(url)
    tag = first.headers["etag"]
    assert first.headers["cache-control"] == "private, no-cache"
    again = client.get(url, headers={"If-None-Match": tag})
    assert again.status_code == 304
    assert again.content == b""
    cached = client.get(url)
    assert cached.headers["etag"] == tag
    assert cached.content == first.content
    # a write (even by COPY or plain SQL) moves the epoch: a new tag, the new level in the tile
    with engine.begin() as conn:
        conn.execute(text("UPDATE risk_units SET level = 1 WHERE id = :id"), {"id": ids["U1"]})
    changed = client.get(url, headers={"If-None-Match": tag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != tag
    levels = {f["properties"]["id"]: f["properties"]["level"] for f in _features(changed, "risk_units")}
    assert levels[ids["U1"]] == 1


def test_zone_tile_follows_a_write(client: Any) -> None:
    ids = _register(client)
    z, x, y = _tile_of(*QUANGANG, 8)
    url = f"/tiles/zones/{z}/{x}/{y}.pbf?adcode=350500"
    before = {f["properties"]["code"]: f["properties"] for f in _features(client.get(url), "zones")}
    assert before["350505"]["n2"] == 2
    client.post(RISK_UNITS, json=risk_unit_feature(ids["E1"], at=QUANGANG, name="三号", level=1))
    after = {f["properties"]["code"]: f["properties"] for f in _features(client.get(url), "zones")}
    assert after["350505"]["n1"] == 1
    assert after["350505"]["level"] == 1


def test_bad_tiles_are_4xx(client: Any) -> None:
    assert client.get("/tiles/risk_units/3/8/0.pbf").status_code == 422
    assert client.get("/tiles/risk_units/23/0/0.pbf").status_code == 422
    assert client.get("/tiles/nothing/3/0/0.pbf").status_code == 404
    assert client.get("/tiles/zones/3/0/0.pbf").status_code == 422  # no adcode
    assert client.get("/tiles/zones/3/0/0.pbf", params={"adcode": "999999"}).status_code == 404
    assert client.get("/tiles/zones/3/0/0.pbf", params={"adcode": "350500", "zones": "h3"}).status_code == 422


def test_tilejson(client: Any, client_as: Any) -> None:
    body = client.get("/tiles/zones.json", params={"adcode": "350500"}).json()
    assert body["tilejson"] == "3.0.0"
    assert body["tiles"][0].endswith("/tiles/zones/{z}/{x}/{y}.pbf?adcode=350500&zones=children")
    assert 117 < body["bounds"][0] < body["bounds"][2] < 120
    assert set(body["vector_layers"][0]["fields"]) == set(store.ZONE_ATTRIBUTES)
    assert client_as("public").get("/tiles/risk_units.json").status_code == 401
    assert "name" in client.get("/tiles/risk_units.json").json()["vector_layers"][0]["fields"]


def test_cache_is_bounded() -> None:
    cache = store.EpochCache(max_bytes=800)
    for i in range(20):
        cache.put(i, 1, b"x" * 100, 100)
    assert cache.get(0, 1) is None
    assert cache.get(19, 1) == b"x" * 100
    assert cache.get(19, 2) is None  # another epoch: stale


def test_a_tile_made_while_a_write_is_in_flight_is_not_cached(client: Any, engine: Engine) -> None:
    ids = _register(client)
    url = _url("risk_units", QUANGANG)
    with engine.connect() as writer:
        writer.execute(
            text("UPDATE risk_units SET level = 1 WHERE id = :id"), {"id": ids["U1"]}
        )  # not committed
        during = client.get(url)
        assert during.status_code == 200
        assert "etag" not in during.headers
        assert during.headers["cache-control"] == "no-store"
        levels = {f["properties"]["id"]: f["properties"]["level"] for f in _features(during, "risk_units")}
        assert levels[ids["U1"]] == 2  # the committed level
        writer.commit()
    after = client.get(url)
    assert "etag" in after.headers
    levels = {f["properties"]["id"]: f["properties"]["level"] for f in _features(after, "risk_units")}
    assert levels[ids["U1"]] == 1


def test_hazard_tiles_follow_the_hazards_scope(client: Any, client_as: Any, engine: Engine) -> None:
    ids = _register(client)
    with engine.begin() as conn:
        for unit, firm in ((ids["U1"], ids["E1"]), (ids["U2"], ids["E2"])):
            conn.execute(
                text(
                    "INSERT INTO hazards (risk_unit_id, enterprise_id, jurisdiction_adcode, geom, description, "
                    "grade, status, reported_on, reported_by) VALUES (:u, :e, '350505', "
                    "ST_SetSRID(ST_MakePoint(118.88, 25.11), 4490), '阀门泄漏', 'general', 'reported', "
                    "CURRENT_DATE, 'test')"
                ),
                {"u": unit, "e": firm},
            )
    mine = client_as("enterprise", enterprise_id=ids["E1"])
    seen = _features(mine.get(_url("hazards", QUANGANG)), "hazards")
    assert {f["properties"]["enterprise_id"] for f in seen} == {ids["E1"]}
    assert "description" not in seen[0]["properties"]
    everyone = _features(client.get(_url("hazards", QUANGANG, z=14)), "hazards")
    assert {f["properties"]["enterprise_id"] for f in everyone} == {ids["E1"], ids["E2"]}
    # at z10 the two hazards (one place) are one cell that counts both, without either's attributes
    cell = _features(client.get(_url("hazards", QUANGANG)), "hazards")
    assert [f["properties"] for f in cell] == [{"count": 2}]


def test_small_units_at_low_zoom_are_counted_per_cell(client: Any, engine: Engine) -> None:
    """Under a few pixels a unit is drawn in its cell: every unit counted once, the cell at the highest
    level of its units; zoomed in, each unit is itself again with its attributes."""
    ids = _register(client)  # two enterprises' units about 1 km apart
    lon, lat = QUANGANG
    with engine.begin() as conn:  # 30 more small units (a 20 m square each) within 300 m of U1
        for i in range(30):
            x, y = lon + 0.0001 * (i % 6) * 5, lat + 0.0001 * (i // 6) * 5
            conn.execute(
                text(
                    "INSERT INTO risk_units (kind, enterprise_id, name, level, assessment_method, geom, "
                    "jurisdiction_adcode) VALUES ('enterprise', :e, :n, :lv, 'direct', "
                    "ST_MakeEnvelope(:x, :y, :x + 0.0002, :y + 0.0002, 4490), '350505')"
                ),
                {"e": ids["E1"], "n": f"小单元{i}", "lv": 1 if i == 7 else 3, "x": x, "y": y},
            )
    alone = 0
    for z in (8, 10, 11):
        found = _features(client.get(_url("risk_units", QUANGANG, z=z)), "risk_units")
        assert sum(f["properties"]["count"] for f in found) == 32, z
        assert sum(f["properties"]["n1"] for f in found) == 1, z
        assert sum(f["properties"]["n2"] for f in found) == 2, z
        assert sum(f["properties"]["n3"] for f in found) == 29, z
        crowded = max(found, key=lambda f: f["properties"]["count"])
        assert crowded["properties"]["level"] == 1, z  # the highest level of its units
        assert "name" not in crowded["properties"]
        for f in found:
            p = f["properties"]
            assert p["count"] == p["n1"] + p["n2"] + p["n3"] + p["n4"]
            assert (f["geometry"]["type"] == "Point") == (p["count"] == 1), (
                z,
                p,
            )  # a unit alone: a point with its id
            if p["count"] == 1:
                assert p["id"], p
                assert p["name"], p
        u2 = [f for f in found if f["properties"].get("id") == ids["U2"]]
        if u2:  # alone in its cell: drawn where it is (the decoder's y points up)
            assert _close(u2[0]["geometry"]["coordinates"], _in_tile(QUANGANG[0] + 0.01, QUANGANG[1], z)), z
            alone += 1
    assert alone >= 2
    close = _features(client.get(_url("risk_units", (lon + 0.0005, lat + 0.0005), z=16)), "risk_units")
    assert close
    assert all("count" not in f["properties"] and f["properties"]["name"] for f in close)
    assert all(
        f["geometry"]["type"] == "Polygon" for f in close if f["properties"]["name"].startswith("小单元")
    )


def test_adcode_keeps_a_jurisdictions_rows(client: Any) -> None:
    _register(client)  # both in 泉港区 350505
    huian = created(client.post(RISK_UNITS, json=risk_unit_feature(at=HUIAN, name="惠安单元")))  # 350521
    z, x, y = _tile_of(*QUANGANG, 8)  # one tile holds both counties
    every = _features(client.get(f"/tiles/risk_units/{z}/{x}/{y}.pbf"), "risk_units")
    assert sum(f["properties"]["count"] for f in every) == 3
    only = _features(
        client.get(f"/tiles/risk_units/{z}/{x}/{y}.pbf", params={"adcode": "350505"}), "risk_units"
    )
    assert sum(f["properties"]["count"] for f in only) == 2
    assert huian["id"] not in {f["properties"].get("id") for f in only}
    assert client.get(f"/tiles/risk_units/{z}/{x}/{y}.pbf", params={"adcode": "999999"}).status_code == 404
    body = client.get("/tiles/risk_units.json", params={"adcode": "350505"}).json()
    assert body["tiles"][0].endswith("/tiles/risk_units/{z}/{x}/{y}.pbf?adcode=350505")
    assert {"count", "n1", "level"} <= set(body["vector_layers"][0]["fields"])


def test_enterprise_tiles_carry_the_apis_level(client: Any) -> None:
    ids = _register(client)
    client.post(RISK_UNITS, json=risk_unit_feature(ids["E2"], at=(QUANGANG[0] + 0.01, QUANGANG[1]), level=1))
    api = client.get("/api/v1/analysis/enterprise-levels", params={"adcode": "350505"})
    assert api.status_code == 200, api.text
    expected = {f["properties"]["id"]: f["properties"]["level"] for f in api.json()["features"]}
    assert expected == {ids["E1"]: 2, ids["E2"]: 1}
    for z in (10, 14):  # alone in its cell, and drawn as itself
        firms = _features(client.get(_url("enterprises", QUANGANG, z=z)), "enterprises")
        assert {f["properties"]["id"]: f["properties"]["level"] for f in firms} == expected, z
