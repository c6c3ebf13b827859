"""Acceptance: the served four-colour maps on the demo register, in headless Chromium, against the API.

The demo (seed 3, a tenth of its size) is loaded into the session's test database once for this module and
removed afterwards; the real app is served on 127.0.0.1 and Chromium may reach nothing else.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.responses import Response as PlainResponse
from sqlalchemy import Engine, text

from api.app import create_app
from api.auth import current_principal
from api.settings import DatabaseSettings, Settings
from geo.access import SYSTEM
from geo.store.demo import load_demo
from geo.store.repository import clear_synthetic
from geo.vocab import LEVEL_NAMES_ZH
from maps.assets import mount
from maps.four_colour import NO_RISK_COLOUR, NO_RISK_LABEL, four_colour_map, level_label
from tests.maps.browser import Browser, PageReport, require_chromium, serve_app
from tests.maps.frames import ARTIFACTS, make_enterprises, make_risk_units, make_zones

pytestmark = pytest.mark.browser

CITY = "350500"  # 泉州市
COUNTY = "350505"  # 泉港区
CITY_MAP = {"adcode": CITY}
COUNTY_GRID = {"adcode": COUNTY, "zones": "grid", "cell_m": "1000"}

# What a page drew, read once it is ready: zones by the code on their paths, legend rows, markers.
_STATE = """(() => {
    const maps = Object.keys(window).filter(k => k.startsWith("map_") && window.L && window[k] instanceof L.Map);
    const zones = {};
    for (const path of document.querySelectorAll("path.rm-zone")) {
        const code = path.getAttribute("data-zone");
        (zones[code] = zones[code] || []).push({fill: path.getAttribute("fill"), cls: path.getAttribute("class")});
    }
    const legend = {};
    for (const row of document.querySelectorAll("#rm-legend tr.rm-legend-row")) {
        const cells = row.querySelectorAll("td");
        legend[row.dataset.level] = {label: cells[1].innerText.trim(), zones: Number(cells[2].innerText)};
    }
    const clusters = Array.from(document.querySelectorAll(".marker-cluster")).map(c => Number(c.innerText));
    return {
        leaflet: typeof window.L === "object" && typeof L.version === "string",
        maps: maps.length,
        paths: document.querySelectorAll("path.rm-zone").length,
        zones: zones,
        legend: legend,
        legendText: (document.getElementById("rm-legend") || {}).innerText || null,
        title: (document.getElementById("rm-title") || {}).innerText || null,
        units: document.querySelectorAll("path.rm-unit").length,
        enterprises: document.querySelectorAll("path.rm-enterprise").length,
        clustered: clusters.reduce((a, b) => a + b, 0),
        clusters: clusters.length,
    };
})()"""
_READY = "window.L && document.querySelectorAll('path.rm-zone').length > 0"
# Opens the popup of the first enterprise marker drawn on its own and returns its text.
_ENTERPRISE_POPUP = """(() => {
    const marker = document.querySelector("path.rm-enterprise");
    if (!marker) { return null; }
    const box = marker.getBoundingClientRect();
    marker.dispatchEvent(new MouseEvent("click", {bubbles: true, clientX: box.x + box.width / 2,
                                                  clientY: box.y + box.height / 2}));
    const popups = document.querySelectorAll(".leaflet-popup-content");
    return popups.length ? popups[popups.length - 1].innerText : null;
})()"""


@pytest.fixture(scope="module")
def demo(engine: Engine) -> Iterator[dict[str, int]]:
    started = time.perf_counter()
    counts = load_demo(engine, seed=3, scale=0.1, echo=lambda _: None)
    assert time.perf_counter() - started < 30, "loading a tenth of the demo should take seconds"
    yield counts
    with engine.begin() as conn:  # the next test modules get the register as they found it
        clear_synthetic(conn)


@pytest.fixture(scope="module")
def base_url(database_url: str, engine: Engine, demo: dict[str, int]) -> Iterator[str]:
    app = create_app(Settings(db=DatabaseSettings(DATABASE_URL=database_url)))
    app.state.engine = engine  # serve_app runs the app without the lifespan that would make one
    app.dependency_overrides[current_principal] = lambda: SYSTEM  # the register's full maps, as an admin
    with serve_app(app) as url:
        yield url


@pytest.fixture(scope="module")
def http(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    require_chromium()
    with Browser(window=(1400, 1000)) as b:
        yield b


def _api_zones(http: httpx.Client, params: dict[str, str]) -> dict[str, Any]:
    response = http.get("/api/v1/analysis/four-color", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["numberReturned"] == len(body["features"]) > 0
    return body


def _enterprise_count(http: httpx.Client, adcode: str) -> int:
    response = http.get("/api/v1/analysis/enterprise-levels", params={"adcode": adcode})
    assert response.status_code == 200, response.text
    return int(response.json()["numberReturned"])


def _not_favicon(report: PageReport) -> tuple[list[tuple[str, str]], list[str]]:
    """Failed requests and console errors, but for the favicon the app does not serve (not the map's)."""
    failed = [(url, why) for url, why in report.failed if not url.endswith("/favicon.ico")]
    errors = [e for e in report.console_errors if "favicon.ico" not in e]
    return failed, errors


def _assert_only_localhost(report: PageReport, base_url: str) -> None:
    assert report.external_requests == [], report.external_requests
    assert report.blocked == []
    assert report.requests
    assert all(url.startswith(base_url) for url in report.requests), report.requests
    assert any(url.endswith("/leaflet/dist/leaflet.js") for url in report.requests)
    failed, errors = _not_favicon(report)
    assert failed == []
    assert errors == []


def _assert_zones_match(state: dict[str, Any], api: dict[str, Any]) -> None:
    """Every zone of the API drawn once, in the API's colour (grey without risk units), legend counts alike."""
    features = api["features"]
    expected = {f["properties"]["code"]: f["properties"] for f in features}
    assert len(expected) == len(features)
    assert set(state["zones"]) == set(expected)
    assert len(state["zones"]) == api["numberReturned"]
    # A MultiPolygon zone is one path in Leaflet: one path per zone.
    assert state["paths"] == len(features)
    for code, paths in state["zones"].items():
        props = expected[code]
        colour = props["color"] if props["level"] is not None else NO_RISK_COLOUR
        for path in paths:
            assert path["fill"].upper() == colour.upper(), (code, path, props["level"])
            assert f"rm-level-{props['level'] or 'none'}" in path["cls"].split(), (code, path)
    for name in LEVEL_NAMES_ZH.values():
        assert name in state["legendText"]
    counts = api["zone_counts"]
    for level in (1, 2, 3, 4):
        assert state["legend"][str(level)] == {"label": level_label(level), "zones": counts[str(level)]}
    assert state["legend"]["none"] == {"label": NO_RISK_LABEL, "zones": counts["none"]}


def test_city_by_county_draws_the_apis_zones(base_url: str, http: httpx.Client, browser: Browser) -> None:
    api = _api_zones(http, CITY_MAP)
    shot = ARTIFACTS / "quanzhou_by_county.png"
    report = browser.open(
        f"{base_url}/maps/four-color?adcode={CITY}",
        wait_for=_READY,
        evaluate=_STATE,
        screenshot=shot,
        timeout=60,
    )
    assert report.ready, report
    state = report.value
    assert state["leaflet"]
    assert state["maps"] == 1
    assert state["title"] == "泉州市区域安全风险空间分布图"
    assert len(api["features"]) == 12  # the city's counties
    _assert_zones_match(state, api)
    # Every enterprise is on the map: in a cluster (over 200 of them) or drawn on its own.
    assert state["clusters"] > 0
    assert state["clustered"] + state["enterprises"] == _enterprise_count(http, CITY)
    assert state["units"] > 0
    _assert_only_localhost(report, base_url)
    assert shot.stat().st_size > 30_000

    # The data goes into the page once, compactly: a few hundred bytes per marker (it was 24 MB for the full
    # demo when folium wrote a script block and an HTML popup per marker).
    page = http.get("/maps/four-color", params=CITY_MAP).text
    assert len(page.encode()) < 1_500_000
    blocks = re.findall(r'<script type="application/json" id="[^"]+">(.*?)</script>', page, re.S)
    assert len(blocks) == 6  # zones, boundaries, risk units, enterprises, zone names, open hazards
    assert not [n for block in blocks for n in re.findall(r"\d+\.\d{7,}", block)]  # 6 decimals at most


def test_county_grid_draws_the_apis_zones(base_url: str, http: httpx.Client, browser: Browser) -> None:
    api = _api_zones(http, COUNTY_GRID)
    query = "&".join(f"{k}={v}" for k, v in COUNTY_GRID.items())
    shot = ARTIFACTS / "quangang_grid_1km.png"
    report = browser.open(
        f"{base_url}/maps/four-color?{query}", wait_for=_READY, evaluate=_STATE, screenshot=shot, timeout=60
    )
    assert report.ready, report
    state = report.value
    assert state["leaflet"]
    assert state["maps"] == 1
    assert state["title"] == "泉港区区域安全风险空间分布图"
    assert len(api["features"]) > 100  # 1 km cells over about 400 km²
    _assert_zones_match(state, api)
    # Under 200 enterprises: each its own marker, none clustered.
    assert state["clusters"] == 0
    assert state["enterprises"] == _enterprise_count(http, COUNTY)
    assert state["units"] > 0
    _assert_only_localhost(report, base_url)
    assert shot.stat().st_size > 30_000

    popup = browser.open(f"{base_url}/maps/four-color?{query}", wait_for=_READY, evaluate=_ENTERPRISE_POPUP)
    assert popup.value, popup
    for field in ("行业", "风险等级", "统一社会信用代码", "风险单元", "联系人"):
        assert field in popup.value


def _secrets(engine: Engine, adcode: str) -> list[str]:
    """Names, people, phones and credit codes of the register under adcode (its enterprises and units)."""
    subtree = """
        WITH RECURSIVE subtree AS (
            SELECT adcode FROM jurisdictions WHERE adcode = :adcode
            UNION ALL SELECT j.adcode FROM jurisdictions j JOIN subtree s ON j.parent_adcode = s.adcode
        )
    """
    with engine.connect() as conn:
        enterprises = conn.execute(
            text(
                f"{subtree} SELECT name, credit_code, contact_person, contact_phone FROM enterprises "
                "WHERE jurisdiction_adcode IN (SELECT adcode FROM subtree) ORDER BY id"
            ),
            {"adcode": adcode},
        ).all()
        units = conn.execute(
            text(
                f"{subtree} SELECT name, responsible_person, responsible_phone FROM risk_units "
                "WHERE jurisdiction_adcode IN (SELECT adcode FROM subtree) ORDER BY id"
            ),
            {"adcode": adcode},
        ).all()
    assert len(enterprises) > 10
    assert len(units) > len(enterprises)
    people = [v for row in enterprises for v in row] + [v for row in units for v in row[1:]]
    # Unit names are generic (储罐区, 反应釜区): only the longer ones say whose unit it is.
    names = [row[0] for row in units if row[0] and len(row[0]) >= 5]
    return sorted({v for v in people + names if v})


def test_public_map_carries_no_names_people_phones_or_codes(
    base_url: str, http: httpx.Client, engine: Engine, browser: Browser
) -> None:
    params = {**COUNTY_GRID, "public": "true"}
    response = http.get("/maps/four-color", params=params)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    secrets = _secrets(engine, COUNTY)
    leaked = [s for s in secrets if s in page]
    assert leaked == []
    assert not re.search(r"\b1[3-9]\d{9}\b", page)  # no mobile phone number at all
    assert "rm-enterprise" not in page
    assert "rm-unit" not in page

    api = _api_zones(http, COUNTY_GRID)
    query = "&".join(f"{k}={v}" for k, v in params.items())
    report = browser.open(f"{base_url}/maps/four-color?{query}", wait_for=_READY, evaluate=_STATE)
    assert report.ready, report
    state = report.value
    _assert_zones_match(state, api)
    assert state["enterprises"] == state["units"] == state["clusters"] == 0
    _assert_only_localhost(report, base_url)


@pytest.mark.parametrize(
    ("suffix", "media_type", "magic"),
    [(".png", "image/png", b"\x89PNG\r\n"), (".pdf", "application/pdf", b"%PDF-")],
)
def test_print_versions(http: httpx.Client, suffix: str, media_type: str, magic: bytes) -> None:
    response = http.get(f"/maps/four-color{suffix}", params={"adcode": COUNTY, "zones": "grid"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == media_type
    assert response.content.startswith(magic)
    assert len(response.content) > 20_000


@pytest.mark.parametrize("path", ["/maps/four-color", "/maps/four-color.png", "/maps/four-color.pdf"])
@pytest.mark.parametrize(
    ("params", "status", "field"),
    [
        ({"adcode": "999999"}, 404, None),
        ({"adcode": COUNTY, "zones": "grid", "cell_m": "50"}, 422, "cell_m"),
        ({"adcode": COUNTY, "zones": "h3", "h3_res": "99"}, 422, "h3_res"),
        ({"adcode": COUNTY, "rule": "foo"}, 422, "rule"),
    ],
)
def test_bad_input_is_a_json_4xx(
    http: httpx.Client, path: str, params: dict[str, str], status: int, field: str | None
) -> None:
    response = http.get(path, params=params)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["detail"]
    if field is not None:
        assert [e["field"] for e in body["errors"]] == [field]


# --- popups are made in the browser: what they show of the register must stay text ---------------------------

_HOSTILE = {
    "zone": "{{ 7*7 }}<u>镇</u>",
    "enterprise": '<img src="/x.png" onerror="window.__xss = 1">化工',
    "measure": "</script><script>window.__xss = 2</script>巡检",
    "person": '<svg onload="window.__xss = 3">张三',
}
_POPUPS = """(async () => {
    const texts = [];
    let injected = 0;
    for (const selector of ["path.rm-zone", "path.rm-unit", "path.rm-enterprise"]) {
        for (const el of document.querySelectorAll(selector)) {
            const box = el.getBoundingClientRect();
            el.dispatchEvent(new MouseEvent("click", {bubbles: true, clientX: box.x + box.width / 2,
                                                      clientY: box.y + box.height / 2}));
            const popups = document.querySelectorAll(".leaflet-popup-content");
            const popup = popups[popups.length - 1];
            texts.push(popup ? popup.innerText : "");
            injected += popup ? popup.querySelectorAll("img, svg, u").length : 0;
        }
    }
    await new Promise(resolve => setTimeout(resolve, 500));  // an injected onerror / onload would have run
    return {texts: texts, injected: injected, xss: window.__xss || null};
})()"""


def test_register_text_stays_text_in_popups(browser: Browser) -> None:
    zones = make_zones()
    zones.loc[0, "name"] = _HOSTILE["zone"]
    enterprises = make_enterprises()
    enterprises.loc[0, "name"] = _HOSTILE["enterprise"]
    units = make_risk_units()
    units.loc[0, "control_measures"] = _HOSTILE["measure"]
    units.loc[0, "responsible_person"] = _HOSTILE["person"]
    page = four_colour_map(zones, enterprises=enterprises, risk_units=units).get_root().render()
    assert "</script><script>" not in page
    assert "{{ 7*7 }}" in page  # the page is not a template: nothing in the data is evaluated
    app = FastAPI()
    mount(app)
    app.add_api_route("/map", lambda: HTMLResponse(page))
    app.add_api_route("/favicon.ico", lambda: PlainResponse(status_code=204))
    with serve_app(app) as url:
        report = browser.open(f"{url}/map", wait_for=_READY, evaluate=_POPUPS)
    assert report.ready, report
    result = report.value
    assert result["xss"] is None
    assert result["injected"] == 0
    shown = "\n".join(result["texts"])
    for text_ in _HOSTILE.values():
        assert text_ in shown, text_
    assert report.console_errors == []
