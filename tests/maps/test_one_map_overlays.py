"""The one map's analyses (safety-distance violations, joint-prevention clusters) are not in the page: the
browser asks our JSON API for them after the map is drawn, with the user's own credentials, and draws the
answers. Until an answer has come, the map says "加载中"; a failed one says it was not checked; an area too
big to analyse for a page (a province) says so and offers the children. Nothing ever reads as "no
violations" before the check has answered. In headless Chromium, every outside request blocked."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pyproj import Geod
from sqlalchemy import Engine, text

from geo.store import safety_distance
from geo.store.answer_cache import AnswerCache
from tests.api.builders import (
    ENTERPRISES,
    QUANGANG,
    RISK_UNITS,
    TARGETS,
    created,
    enterprise_feature,
    ok,
    protection_target_feature,
    risk_unit_feature,
)
from tests.maps.browser import Browser, require_chromium, serve_app
from tests.principals import add_test_user, bearer
from tests.worlds import admin_app, empty_register

HTML = {"Accept": "text/html"}
SAFETY = "/api/v1/analysis/safety-distance"
CLUSTERS = "/api/v1/analysis/joint-prevention"
GEOD = Geod(ellps="GRS80")
READY = "window.riskmapMap && document.querySelector('.leaflet-overlay-pane path')"
SETTLED = (
    f"{READY} && document.querySelectorAll('#rm-overlays li').length === 2 && "
    "!document.querySelector('#rm-overlays li[data-state=loading]')"
)
# What the map shows of its overlays: each status line, its layer-control label, and what was drawn.
SHOWN = """(() => {
    const out = {};
    document.querySelectorAll('#rm-overlays li').forEach(li => {
        out[li.dataset.overlay] = {state: li.dataset.state, text: li.textContent,
            links: Array.from(li.querySelectorAll('a')).map(a => a.getAttribute('href')), drawn: []};
    });
    window.riskmapMap.eachLayer(l => {
        if (!l.riskmapOverlay) { return; }
        l.eachLayer(g => g.eachLayer(f => out[l.riskmapOverlay.key].drawn.push(f.feature.properties)));
    });
    out.labels = Array.from(document.querySelectorAll('.leaflet-control-layers-overlays label'))
        .map(x => x.textContent.trim());
    out.atPaint = window.atPaint || null;
    return out;
})()"""
# Kept the first time the map is drawn (the browser polls it): the overlays' states at that moment.
AT_PAINT = (
    f"{READY} && document.getElementById('rm-overlays') && (window.atPaint = window.atPaint || JSON.stringify("
    "{items: Array.from(document.querySelectorAll('#rm-overlays li')).map(li => [li.dataset.overlay, "
    "li.dataset.state, li.textContent]), labels: Array.from(document.querySelectorAll("
    "'.leaflet-control-layers-overlays label')).map(x => x.textContent.trim())}))"
)


def at(distance_m: float, azimuth: float, origin: tuple[float, float] = QUANGANG) -> tuple[float, float]:
    lon, lat, _ = GEOD.fwd(origin[0], origin[1], azimuth, distance_m)
    return float(lon), float(lat)


@pytest.fixture(scope="module")
def world(database_url: str, engine: Engine, boundaries: None) -> Iterator[dict[str, Any]]:
    """泉港: a tank group (level 1, 150 m) with a school 120 m north (a violation by distance); 2 km east a
    level-1 unit of no hazard kind with a kindergarten 80 m from it (inside its inner consultation zone:
    vetoed); the two enterprises 300 m apart, of one trade (a joint-prevention cluster)."""
    empty_register(engine)
    app, admin_headers = admin_app(database_url, engine)
    with TestClient(app, headers=admin_headers) as admin:
        plant = created(admin.post(ENTERPRISES, json=enterprise_feature(81, name="泉港一张图储运公司")))
        far = at(2000, 90)
        other = created(
            admin.post(ENTERPRISES, json=enterprise_feature(82, at=at(300, 90), name="泉港一张图仓储公司"))
        )
        created(
            admin.post(
                RISK_UNITS,
                json=risk_unit_feature(
                    plant["id"], name="一张图球罐区", level=1, hazard_kind="液化烃罐组", capacity_m3=2000
                ),
            )
        )
        created(
            admin.post(
                RISK_UNITS,
                json=risk_unit_feature(other["id"], at=far, name="一张图无类型重大危险源", level=1),
            )
        )
        created(
            admin.post(
                TARGETS, json=protection_target_feature(at=at(120, 0), name="一张图中学", population=1500)
            )
        )
        created(
            admin.post(
                TARGETS,
                json=protection_target_feature(at=at(80, 0, far), name="一张图幼儿园", type="kindergarten"),
            )
        )
        violations = ok(admin.get(SAFETY, params={"adcode": "350505"}))
        clusters = ok(admin.get(CLUSTERS, params={"adcode": "350505"}))
    app.state.engine = engine
    yield {
        "app": app,
        "admin": admin_headers,
        "regulator": bearer(add_test_user(engine, "regulator", adcodes=("350505",)), "regulator"),
        "violations": violations,
        "clusters": clusters,
    }
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE risk_units, protection_targets, enterprises RESTART IDENTITY CASCADE"))


def test_the_api_answers_a_violation_of_a_unit_of_no_hazard_kind(world: dict[str, Any]) -> None:
    """The overlay reads this answer: a level-1 unit of no hazard kind screened by its consultation zone gave a
    NaN kind, and the API a 500, which the map can only show as a failure."""
    found = {f["properties"]["hazard"]["name"]: f["properties"] for f in world["violations"]["features"]}
    assert set(found) == {"一张图球罐区", "一张图无类型重大危险源"}
    vetoed = found["一张图无类型重大危险源"]
    assert vetoed["basis"] == ["consultation_inner"]
    assert vetoed["hazard"]["hazard_kind"] is None
    assert found["一张图球罐区"]["hazard"]["hazard_kind"] == "liquefied_hydrocarbon_tanks"
    assert world["clusters"]["numberReturned"] == 1


def test_the_page_carries_no_analysis(world: dict[str, Any]) -> None:
    with TestClient(world["app"], headers=world["regulator"]) as client:
        page = client.get("/map", params={"adcode": "350505"}, headers=HTML)
    assert page.status_code == 200
    assert "riskmap.violations(" not in page.text  # not drawn from the page: fetched
    assert "riskmap.clusters(" not in page.text
    assert "一张图无类型重大危险源 →" not in page.text
    assert json.dumps(f"{SAFETY}?adcode=350505") in page.text
    assert json.dumps(f"{CLUSTERS}?adcode=350505") in page.text
    assert json.dumps("安全防护距离问题（加载中…）") in page.text  # the layer's name until the answer comes


@pytest.fixture
def uncached(monkeypatch: pytest.MonkeyPatch) -> None:
    """The page made afresh: a test that changes how it is made must not get another test's kept page."""
    monkeypatch.setattr("api.pages.one_map.CACHE", AnswerCache(0))


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    require_chromium()
    with Browser(window=(1400, 900)) as b:
        yield b


def _open(
    browser: Browser, base_url: str, headers: dict[str, str], wait_for: str, adcode: str = "350505"
) -> Any:
    return browser.open(
        f"{base_url}/map?adcode={adcode}",
        wait_for=wait_for,
        evaluate=SHOWN,
        headers={"Authorization": headers["Authorization"]},
        timeout=60,
    )


@pytest.mark.browser
def test_the_analyses_are_drawn_after_the_map_as_the_api_answers(
    world: dict[str, Any], browser: Browser
) -> None:
    with serve_app(world["app"]) as base_url:
        report = _open(browser, base_url, world["regulator"], SETTLED)
    assert report.ready, (report.console_errors, report.failed)
    assert report.external_requests == []
    assert report.console_errors == []  # a CSP violation would be one
    assert any(f"{SAFETY}?adcode=350505" in u for u in report.requests)
    shown = report.value
    violations, clusters = shown["violations"], shown["clusters"]
    assert violations["state"] == "ready"
    assert clusters["state"] == "ready"
    expected = {
        (f["properties"]["hazard"]["name"], f["properties"]["target"]["name"])
        for f in world["violations"]["features"]
    }
    assert {(p["h"], p["t"]) for p in violations["drawn"]} == expected
    by_unit = {p["h"]: p["s"] for p in violations["drawn"]}
    assert by_unit == {"一张图球罐区": "violation", "一张图无类型重大危险源": "veto"}
    assert violations["text"].startswith("安全防护距离问题：2 处不符合安全防护距离（已核查 ")
    assert [p["k"] for p in clusters["drawn"]] == [
        f["properties"]["member_count"] for f in world["clusters"]["features"]
    ]
    assert "安全防护距离问题（2）" in shown["labels"]
    assert "联防联控组（1）" in shown["labels"]


def _slow(seconds: float) -> Any:
    original = safety_distance.violations_sql

    def slow(*args: Any, **kwargs: Any) -> Any:
        time.sleep(seconds)
        return original(*args, **kwargs)

    return slow


@pytest.mark.browser
def test_an_analysis_not_yet_answered_says_loading_never_none(
    world: dict[str, Any], browser: Browser, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("api.routers.safety.store.violations_sql", _slow(3))
    with serve_app(world["app"]) as base_url:
        report = _open(browser, base_url, world["admin"], AT_PAINT)
    assert report.ready
    at_paint = json.loads(report.value["atPaint"])
    items = {key: (state, said) for key, state, said in at_paint["items"]}
    state, said = items["violations"]
    assert state == "loading"
    assert "加载中" in said
    assert "未发现" not in said
    assert "0" not in said
    assert "安全防护距离问题（加载中…）" in at_paint["labels"]
    assert report.value["violations"]["state"] == "ready"  # and then it came
    assert report.console_errors == []


@pytest.mark.browser
def test_a_failed_analysis_says_it_was_not_checked(
    world: dict[str, Any], browser: Browser, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the analysis broke")

    monkeypatch.setattr("api.routers.safety.store.violations_sql", broken)
    with serve_app(world["app"]) as base_url:
        report = _open(browser, base_url, world["admin"], SETTLED)
    assert report.ready
    violations = report.value["violations"]
    assert violations["state"] == "failed"
    assert "加载失败（HTTP 500" in violations["text"]
    assert "未核查，不代表没有问题" in violations["text"]
    assert violations["drawn"] == []
    assert "安全防护距离问题（加载失败）" in report.value["labels"]
    assert report.value["clusters"]["state"] == "ready"  # the other overlay is not held up
    assert [e for e in report.console_errors if "500" not in e] == []


@pytest.mark.browser
def test_an_area_too_big_to_analyse_offers_its_children(
    world: dict[str, Any], browser: Browser, monkeypatch: pytest.MonkeyPatch, uncached: None
) -> None:
    monkeypatch.setattr("api.usecases.one_map.ANALYSIS_MAX_UNITS", 1)  # the city (2 units) plays a province
    with serve_app(world["app"]) as base_url:
        report = _open(browser, base_url, world["admin"], SETTLED, adcode="350500")
    assert report.ready
    assert not any("/api/v1/analysis/" in u for u in report.requests)  # not asked for
    for key in ("violations", "clusters"):
        shown = report.value[key]
        assert shown["state"] == "refused"
        assert "未计算" in shown["text"]
        assert "请选择下级行政区" in shown["text"]
        assert "/map?adcode=350505" in shown["links"]  # 泉港区, one of the city's children
        assert shown["drawn"] == []
    assert "安全防护距离问题（未计算）" in report.value["labels"]
    assert report.console_errors == []
