"""Service routes (health, vocabularies, docs), paging and the error envelope."""

from __future__ import annotations

from typing import Any

import pytest

from geo.store.migrate import head_revision
from tests.api.builders import (
    ENTERPRISES,
    HUIAN,
    JURISDICTIONS,
    QUANGANG,
    RISK_UNITS,
    TARGETS,
    count,
    created,
    enterprise_feature,
    guarded,
    ok,
    problem,
)


@pytest.fixture
def api(client: Any) -> Any:
    return guarded(client)


def test_health(api: Any) -> None:
    body = ok(api.get("/api/v1/health"))
    assert body["status"] == "ok"
    assert body["schema_revision"] == head_revision()
    assert body["postgis"].split(".")[0].isdigit()
    assert int(body["postgis"].split(".")[0]) >= 3


def test_vocabularies(api: Any) -> None:
    v = ok(api.get("/api/v1/vocabularies"))
    assert [lv["level"] for lv in v["levels"]] == [1, 2, 3, 4]
    assert [lv["colour_zh"] for lv in v["levels"]] == ["红", "橙", "黄", "蓝"]
    assert v["levels"][0]["name_zh"] == "重大风险"
    sectors = {s["code"]: s for s in v["sectors"]}
    assert sectors["hazardous_chemicals"]["name_zh"] == "危险化学品"
    assert sectors["hazardous_chemicals"]["high_risk"] is True
    assert sectors["construction"]["high_risk"] is False
    accidents = {a["code"]: a["name_zh"] for a in v["accident_types"]}
    assert len(accidents) == 20
    assert accidents["08"] == "火灾"
    assert accidents["19"] == "中毒和窒息"
    types = {t["code"]: t["name_zh"] for t in v["protection_target_types"]}
    assert types["school"] == "学校"
    assert "residential" in types
    assert [c["code"] for c in v["gb_classes"]] == [
        "high_sensitive",
        "important",
        "general_1",
        "general_2",
        "general_3",
    ]
    assert v["control_levels"] == ["company", "workshop", "team", "post"]
    lec = {b["level"]: b for b in v["assessment_bands"]["LEC"]}
    assert lec[1]["min_exclusive"] == 320
    assert lec[4]["max_inclusive"] == 70
    assert set(v["assessment_bands"]) == {"LEC", "LS", "MES"}


def test_docs_and_openapi(api: Any) -> None:
    docs = api.get("/docs")
    assert docs.status_code == 200
    assert "text/html" in docs.headers["content-type"]
    assert "swagger" in docs.text.lower()
    schema = ok(api.get("/openapi.json"))
    paths = schema["paths"]
    for path in (ENTERPRISES, RISK_UNITS, TARGETS, JURISDICTIONS):
        assert path in paths
        assert f"{path}/{{key}}" in paths
    assert set(paths[ENTERPRISES]) == {"get", "post"}
    assert set(paths[f"{ENTERPRISES}/{{key}}"]) == {"get", "patch", "delete"}
    assert "patch" not in paths[f"{JURISDICTIONS}/{{key}}"]
    assert "/api/v1/health" in paths
    assert "/api/v1/vocabularies" in paths
    params = {p["name"] for p in paths[ENTERPRISES]["get"]["parameters"]}
    assert params >= {"crs", "bbox", "adcode", "limit", "offset"}
    root = api.get("/", follow_redirects=False)
    assert root.status_code in (302, 307)
    assert root.headers["location"] == "/map"  # the one map, or on to /login


def test_unknown_routes_use_the_error_envelope(api: Any) -> None:
    r = api.get("/api/v1/nothing-here")
    assert r.status_code == 404
    assert r.json() == {"detail": "Not Found", "errors": [], "request_id": r.headers["X-Request-ID"]}
    r = api.put(f"{ENTERPRISES}/1", json={})
    assert r.status_code == 405
    assert set(r.json()) == {"detail", "errors", "request_id"}


def test_pagination(api: Any) -> None:
    made = [
        created(api.post(ENTERPRISES, json=enterprise_feature(n, at=QUANGANG)))["id"] for n in range(1, 8)
    ]
    created(api.post(ENTERPRISES, json=enterprise_feature(99, at=HUIAN)))  # outside the filter below
    pages: list[dict[str, Any]] = []
    url: str | None = f"{ENTERPRISES}?adcode=350505&limit=3"
    while url is not None:
        page = ok(api.get(url))
        pages.append(page)
        url = page["next"]
        assert len(pages) <= 3
    assert [p["numberReturned"] for p in pages] == [3, 3, 1]
    assert [len(p["features"]) for p in pages] == [3, 3, 1]
    assert all(p["numberMatched"] == 7 for p in pages)
    assert [f["id"] for p in pages for f in p["features"]] == made  # in id order, none twice, none missed
    for p in pages[:2]:
        assert "adcode=350505" in p["next"]  # the filter travels with the link
        assert [lk["href"] for lk in p["links"] if lk["rel"] == "next"] == [p["next"]]
        assert all(lk["type"] == "application/geo+json" for lk in p["links"])
    assert pages[2]["next"] is None
    assert not [lk for lk in pages[2]["links"] if lk["rel"] == "next"]
    assert not [lk for lk in pages[0]["links"] if lk["rel"] == "prev"]
    prev = [lk["href"] for lk in pages[2]["links"] if lk["rel"] == "prev"]
    assert len(prev) == 1
    assert [f["id"] for f in ok(api.get(prev[0]))["features"]] == made[3:6]

    beyond = ok(api.get(ENTERPRISES, params={"offset": 100}))
    assert (beyond["numberMatched"], beyond["numberReturned"], beyond["features"]) == (8, 0, [])
    assert beyond["next"] is None
    default = ok(api.get(ENTERPRISES))
    assert default["numberReturned"] == 8
    assert default["next"] is None
    problem(api.get(ENTERPRISES, params={"offset": 10**19}), "offset")
    assert count(api, ENTERPRISES, limit=1) == 8


def test_list_content_type(api: Any) -> None:
    r = api.get(TARGETS)
    assert r.headers["content-type"].startswith("application/geo+json")
    assert r.json() == {
        "type": "FeatureCollection",
        "features": [],
        "numberMatched": 0,
        "numberReturned": 0,
        "links": [{"rel": "self", "href": f"http://testserver{TARGETS}", "type": "application/geo+json"}],
        "next": None,
    }


def test_the_500_guard_works() -> None:
    """`guarded` (used by every API test here) fails the test on a server error."""
    import httpx

    def handler(request: httpx.Request) -> httpx.Response:
        status = 500 if request.url.path == "/boom" else 200
        return httpx.Response(status, json={"detail": "x", "errors": []})

    with httpx.Client(transport=httpx.MockTransport(handler), base_url="http://t") as c:
        guarded(c)
        guarded(c)  # idempotent
        assert len(c.event_hooks["response"]) == 1
        assert c.get("/fine").status_code == 200
        with pytest.raises(AssertionError, match="500"):
            c.get("/boom")
