"""OGC API – Features at /ogc: landing page, conformance, collections, items with paging, CRS by
reference (CRS84 lon/lat, EPSG:4490 lat/lon), bbox, property and datetime filters, in each role's scope."""

from __future__ import annotations

from typing import Any

from tests.api.builders import (
    ENTERPRISES,
    HUIAN,
    QUANGANG,
    QUANGANG_2,
    RISK_UNITS,
    created,
    enterprise_feature,
    guarded,
    ok,
    risk_unit_feature,
)

OGC = "/ogc"


def _register(client: Any) -> dict[str, Any]:
    c = guarded(client)
    e1 = created(c.post(ENTERPRISES, json=enterprise_feature(1, at=QUANGANG)))["id"]
    e2 = created(c.post(ENTERPRISES, json=enterprise_feature(2, at=HUIAN)))["id"]
    own = [
        created(
            c.post(RISK_UNITS, json=risk_unit_feature(e1, at=QUANGANG, name=f"储罐区{i}", level=1 + i % 4))
        )["id"]
        for i in range(5)
    ]
    public = created(
        c.post(
            RISK_UNITS,
            json=risk_unit_feature(None, at=QUANGANG_2, name="加气站周边", assessed_on="2024-03-01"),
        )
    )["id"]
    other = created(c.post(RISK_UNITS, json=risk_unit_feature(e2, at=HUIAN, name="惠安储罐")))["id"]
    return {"e1": e1, "e2": e2, "own": own, "public": public, "other": other}


def test_landing_conformance_collections(client: Any) -> None:
    c = guarded(client)
    landing = ok(c.get(OGC))
    rels = {link["rel"]: link["href"] for link in landing["links"]}
    assert rels["conformance"].endswith("/ogc/conformance")
    assert rels["data"].endswith("/ogc/collections")
    conf = ok(c.get(f"{OGC}/conformance"))["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core" in conf
    assert "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs" in conf
    cols = ok(c.get(f"{OGC}/collections"))["collections"]
    ids = {col["id"] for col in cols}
    assert {"enterprises", "risk-units", "public-area-risks", "protection-targets", "jurisdictions"} <= ids
    ru = next(col for col in cols if col["id"] == "risk-units")
    assert "http://www.opengis.net/def/crs/EPSG/0/4490" in ru["crs"]
    assert any(link["rel"] == "items" for link in ru["links"])
    assert c.get(f"{OGC}/collections/nope").status_code == 404
    q = ok(c.get(f"{OGC}/collections/risk-units/queryables"))
    assert {"level", "kind", "assessed_on"} <= set(q["properties"])


def test_items_scope_paging_and_filters(client: Any, client_as: Any) -> None:
    made = _register(client)
    regulator = guarded(client_as("regulator", adcodes=("350505",)))
    items = f"{OGC}/collections/risk-units/items"
    first = regulator.get(items, params={"limit": 4})
    assert first.status_code == 200
    assert first.headers["content-type"].startswith("application/geo+json")
    assert first.headers["content-crs"] == "<http://www.opengis.net/def/crs/OGC/1.3/CRS84>"
    body = first.json()
    assert body["numberMatched"] == 6
    assert body["numberReturned"] == 4
    nxt = next(link["href"] for link in body["links"] if link["rel"] == "next")
    second = ok(regulator.get(nxt))
    assert second["numberReturned"] == 2
    assert not any(link["rel"] == "next" for link in second["links"])
    seen = {f["id"] for f in body["features"]} | {f["id"] for f in second["features"]}
    assert seen == {*made["own"], made["public"]}  # none of 惠安县
    # the same count as /api/v1
    assert ok(regulator.get(RISK_UNITS))["numberMatched"] == 6
    # out of scope: 404, as in /api/v1
    assert regulator.get(f"{items}/{made['other']}").status_code == 404
    assert regulator.get(f"{items}/abc").status_code == 404
    one = ok(regulator.get(f"{items}/{made['own'][0]}"))
    assert abs(one["geometry"]["coordinates"][0] - QUANGANG[0]) < 1e-4  # CRS84: lon first
    # public-area risks: only the public-area unit, and a unit of an enterprise is not one of them
    pub = ok(regulator.get(f"{OGC}/collections/public-area-risks/items"))
    assert [f["id"] for f in pub["features"]] == [made["public"]]
    assert regulator.get(f"{OGC}/collections/public-area-risks/items/{made['own'][0]}").status_code == 404
    # property filter, datetime, bbox
    lvl = ok(regulator.get(items, params={"level": 1}))
    assert {f["properties"]["level"] for f in lvl["features"]} == {1}
    dated = ok(regulator.get(items, params={"datetime": "2024-01-01/2024-12-31"}))
    assert [f["id"] for f in dated["features"]] == [made["public"]]
    assert ok(regulator.get(items, params={"datetime": "../2023-12-31"}))["numberMatched"] == 0
    box = ok(regulator.get(items, params={"bbox": "118.90,25.14,118.92,25.16"}))
    assert [f["id"] for f in box["features"]] == [made["public"]]
    bad = regulator.get(items, params={"datetime": "soon"})
    assert bad.status_code == 422
    assert "datetime" in bad.text
    # an enterprise user sees its own units only; the public none
    mine = guarded(client_as("enterprise", enterprise_id=made["e1"]))
    assert ok(mine.get(items))["numberMatched"] == 5
    assert client_as("public").get(items).status_code in (401, 403)


def test_crs_by_reference_swaps_axes(client: Any) -> None:
    made = _register(client)
    c = guarded(client)
    url = f"{OGC}/collections/risk-units/items/{made['own'][0]}"
    lonlat = c.get(url)
    latlon = c.get(url, params={"crs": "http://www.opengis.net/def/crs/EPSG/0/4490"})
    assert latlon.headers["content-crs"] == "<http://www.opengis.net/def/crs/EPSG/0/4490>"
    x, y = lonlat.json()["geometry"]["coordinates"]
    lat, lon = latlon.json()["geometry"]["coordinates"]
    assert abs(lon - x) < 1e-5
    assert abs(lat - y) < 1e-5
    assert lon > 100
    # a bbox in EPSG:4490 is lat/lon too
    box = ok(
        c.get(
            f"{OGC}/collections/risk-units/items",
            params={
                "bbox": "25.14,118.90,25.16,118.92",
                "bbox-crs": "http://www.opengis.net/def/crs/EPSG/0/4490",
            },
        )
    )
    assert [f["id"] for f in box["features"]] == [made["public"]]
    assert c.get(url, params={"crs": "EPSG:3857"}).status_code == 422
