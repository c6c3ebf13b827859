"""The one map (风险一张图, /map), the workspace's landing page: what each role gets in the page, and the whole
flow in headless Chromium with every request outside the server blocked — sign in → the map with its layers
and legend → switch a layer → search an enterprise and land on it → click a risk unit and read its panel →
sign out → the map is gone; an enterprise user sees its own data only; the public the published map."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from geo.access import SYSTEM
from geo.store import users
from geo.store.answer_cache import CACHE
from tests.api.builders import (
    ENTERPRISES,
    HUIAN,
    QUANGANG,
    RISK_UNITS,
    TARGETS,
    box_polygon,
    created,
    enterprise_feature,
    protection_target_feature,
    risk_unit_feature,
)
from tests.maps.browser import Browser, require_chromium, serve_app
from tests.maps.frames import ARTIFACTS
from tests.maps.test_pages_browser import Tab, _fill_and_submit
from tests.principals import add_test_user, bearer
from tests.worlds import admin_app, empty_register

PASSWORD = "a long enough password"
HTML = {"Accept": "text/html"}
OWN = "泉港一张图石化有限公司"
OTHER = "惠安一张图化工有限公司"
UNIT = "一张图液氨储罐区"
LAYERS = {
    "风险分区（红橙黄蓝）",
    "行政区划边界",
    "风险单元（面、管线、点）",
    "企业",
    "防护目标（GB 36894 分类）",
    "未销号隐患（黑框：逾期）",
}


@pytest.fixture(scope="module")
def world(database_url: str, engine: Engine, boundaries: None) -> Iterator[dict[str, Any]]:
    empty_register(engine)
    with engine.begin() as conn:
        for name in ("onemap-reg", "onemap-ent"):
            users.remove_user(conn, SYSTEM, name)
    app, headers = admin_app(database_url, engine)
    with TestClient(app, headers=headers) as admin:
        own = created(admin.post(ENTERPRISES, json=enterprise_feature(71, at=QUANGANG, name=OWN)))
        other = created(admin.post(ENTERPRISES, json=enterprise_feature(72, at=HUIAN, name=OTHER)))
        x, y = QUANGANG
        unit = created(
            admin.post(
                RISK_UNITS,
                json=risk_unit_feature(
                    own["id"], geometry=box_polygon(x, y, x + 0.002, y + 0.002), level=1, name=UNIT
                ),
            )
        )
        created(
            admin.post(RISK_UNITS, json=risk_unit_feature(other["id"], at=HUIAN, level=2, name="惠安储罐"))
        )
        created(
            admin.post(TARGETS, json=protection_target_feature(at=(x + 0.003, y + 0.003), name="一张图小学"))
        )
        hazard = admin.post(
            "/api/v1/hazards",
            json={"risk_unit_id": unit["id"], "grade": "general", "description": "报警器失效"},
        )
        assert hazard.status_code == 201, hazard.text
        with engine.begin() as conn:
            users.create_user(conn, SYSTEM, "onemap-reg", PASSWORD, "regulator", adcodes=["350505"])
            users.create_user(conn, SYSTEM, "onemap-ent", PASSWORD, "enterprise", enterprise_id=own["id"])
        app.state.engine = engine
        yield {"app": app, "admin": admin, "own": own, "other": other, "unit": unit}


def _page(app: Any, engine: Engine, role: str, path: str, **scope: Any) -> Any:
    client = (
        TestClient(app)
        if role == "public"
        else TestClient(app, headers=bearer(add_test_user(engine, role, **scope), role))
    )
    return client.get(path, headers=HTML, follow_redirects=False)


def test_each_role_gets_its_own_map(world: dict[str, Any], engine: Engine) -> None:
    app = world["app"]
    reg = _page(app, engine, "regulator", "/map", adcodes=("350505",))
    assert reg.status_code == 200, reg.text[:500]
    page = reg.text
    assert json.dumps("泉港区安全风险一张图") in page  # the title (JSON in the page's script)
    assert 'aria-current="page">泉港区</a>' in page  # the navigation bar
    assert OWN in page
    assert OTHER not in page  # 惠安 is not the regulator's
    for builder in (
        "riskmap.zones",
        "riskmap.units",
        "riskmap.enterprises",
        "riskmap.targets",
        "riskmap.hazards",
    ):
        assert builder in page
    assert len(reg.content) < 2_000_000  # a county's one map stays under 2 MB
    assert reg.headers["content-security-policy"].startswith("default-src 'self'")

    ent = _page(app, engine, "enterprise", "/map", enterprise_id=world["own"]["id"])
    assert ent.status_code == 200
    assert OWN in ent.text
    assert OTHER not in ent.text
    assert (
        "riskmap.targets" not in ent.text
    )  # no protection targets, violations or clusters for an enterprise

    public = _page(app, engine, "public", "/map?public=true&adcode=350505")
    assert public.status_code == 200
    assert OWN not in public.text
    assert UNIT not in public.text
    assert "riskmap.enterprises(" not in public.text
    anonymous = _page(app, engine, "public", "/map")
    assert (anonymous.status_code, anonymous.headers["location"]) == (303, "/login?next=%2Fmap")
    # another county's map, for a regulator of 泉港: the published version only (its zones are public)
    elsewhere = _page(app, engine, "regulator", "/map?adcode=350521", adcodes=("350505",))
    assert elsewhere.status_code == 200
    assert OTHER not in elsewhere.text
    assert "riskmap.enterprises(" not in elsewhere.text


def test_the_map_is_kept_until_a_write(world: dict[str, Any], engine: Engine) -> None:
    """Two regulators of one area: the second gets the first's map from the answer cache, with its own name
    and session in the page around it; a new protection target shows at the next request."""
    first = add_test_user(engine, "regulator", adcodes=("350505",))
    second = add_test_user(engine, "regulator", adcodes=("350505",))
    app = world["app"]
    made = TestClient(app, headers=bearer(first, "regulator")).get("/map?adcode=350505", headers=HTML)
    hits = CACHE.store.hits
    kept = TestClient(app, headers=bearer(second, "regulator")).get("/map?adcode=350505", headers=HTML)
    assert kept.status_code == 200
    assert CACHE.store.hits == hits + 1  # served from the cache
    assert f'<span id="rm-user">{second}</span>' in kept.text
    assert first not in kept.text
    assert "一张图小学" in kept.text
    assert kept.text.count("<header") == 1
    assert kept.text.index("onemap.js") < kept.text.index("</head>") < kept.text.index('id="rm-panel"')
    x, y = QUANGANG
    world["admin"].post(
        TARGETS, json=protection_target_feature(at=(x + 0.004, y + 0.004), name="一张图幼儿园")
    )
    after = TestClient(app, headers=bearer(second, "regulator")).get("/map?adcode=350505", headers=HTML)
    assert "一张图幼儿园" in after.text  # the write moved the epoch: made again
    assert made.status_code == 200


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    require_chromium()
    with Browser(window=(1400, 900)) as b:
        yield b


READY = "window.riskmapMap && document.querySelector('.leaflet-overlay-pane path')"


def _sign_in(tab: Tab, base_url: str, username: str) -> str:
    at = urlsplit(tab.goto(base_url + "/map"))
    assert at.path == "/login"
    assert parse_qs(at.query)["next"] == ["/map"]
    return tab.submit(_fill_and_submit(username, PASSWORD), wait_for=READY)


@pytest.mark.browser
def test_the_one_map_in_the_browser(world: dict[str, Any], browser: Browser) -> None:
    with serve_app(world["app"]) as base_url:
        tab = Tab(browser)
        try:
            assert urlsplit(_sign_in(tab, base_url, "onemap-reg")).path == "/map"
            labels = set(
                tab.value(
                    "Array.from(document.querySelectorAll('.leaflet-control-layers-overlays label'))"
                    ".map(l => l.textContent.trim())"
                )
            )
            assert labels >= LAYERS
            # the analyses, fetched with the session's cookie, have answered (not 401, not loading)
            states: list[str] = []
            for _ in range(60):
                states = tab.value(
                    "Array.from(document.querySelectorAll('#rm-overlays li')).map(li => li.dataset.state)"
                )
                if states and "loading" not in states:
                    break
                tab.session.pump(0.5)
            assert states == ["ready", "ready"]
            assert "重大风险" in tab.value("document.getElementById('rm-legend').innerText")
            tab.screenshot(ARTIFACTS / "pages" / "one_map.png")

            # switch the protection targets off and on again
            toggle = (
                "(() => { const l = Array.from(document.querySelectorAll('.leaflet-control-layers-overlays label'))"
                ".find(x => x.textContent.includes('防护目标')); l.querySelector('input').click(); "
                "return document.querySelectorAll('.rm-target').length; })()"
            )
            assert tab.value("document.querySelectorAll('.rm-target').length") > 0
            assert tab.value(toggle) == 0
            assert tab.value(toggle) > 0

            # search the enterprise and land on it
            zoom = tab.value("window.riskmapMap.getZoom()")
            tab.value(
                f"document.getElementById('rm-search-q').value = {json.dumps(OWN[:4])};"
                "document.getElementById('rm-search').requestSubmit(); true"
            )
            tab.session.pump(1.5)
            hits = tab.value(
                "Array.from(document.querySelectorAll('#rm-results li')).map(li => li.dataset.kind + ':' + li.innerText)"
            )
            assert any(h.startswith("enterprise:") and OWN in h for h in hits), hits
            tab.value(
                "Array.from(document.querySelectorAll('#rm-results li')).find(li => li.dataset.kind === 'enterprise').click(); true"
            )
            tab.session.pump(1.5)
            assert tab.value("window.riskmapMap.getZoom()") > zoom
            panel = tab.value("document.getElementById('rm-panel').innerText")
            assert world["own"]["properties"]["credit_code"] in panel
            assert "一企一册" in panel

            # click the risk unit: its register fields in the panel
            tab.value(
                "(() => { let done = false; window.riskmapMap.eachLayer(l => { const p = l.feature && l.feature.properties;"
                f" if (!done && p && p.n === {json.dumps(UNIT)}) {{ done = true;"
                " l.fire('click', {latlng: l.getBounds().getCenter(), layer: l}, true); } }); return done; })()"
            )
            tab.session.pump(1.5)
            panel = tab.value("document.getElementById('rm-panel').innerText")
            assert UNIT in panel
            assert "重大风险" in panel
            assert "变更历史" in panel

            # sign out: the map is gone
            out = tab.submit("document.getElementById('rm-logout').click(), true")
            assert urlsplit(out).path == "/login"
            assert urlsplit(tab.goto(base_url + "/map")).path == "/login"
            assert tab.value("document.querySelector('.leaflet-pane')") is None
            assert tab.report.external_requests == []
            assert tab.report.blocked == []
            assert [e for e in tab.report.console_errors if "401" not in e] == []
        finally:
            tab.close()

        # the enterprise user: its own enterprise, nothing of the other
        tab = Tab(browser)
        try:
            _sign_in(tab, base_url, "onemap-ent")
            names = tab.value(
                "(() => { const out = []; window.riskmapMap.eachLayer(l => { const p = l.feature && l.feature.properties;"
                " if (p && p.n) out.push(p.n); }); return out; })()"
            )
            assert OWN in names
            assert OTHER not in names
            assert tab.value("document.querySelectorAll('.rm-target').length") == 0
            assert urlsplit(tab.submit("document.getElementById('rm-logout').click(), true")).path == "/login"
        finally:
            tab.close()

        # the public: the published map and nothing more
        report = browser.open(base_url + "/map?public=true&adcode=350505", wait_for=READY, timeout=40)
        assert report.ready
        assert OWN not in report.dom
        assert report.external_requests == []
