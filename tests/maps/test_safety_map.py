"""The safety-distance maps in headless Chromium: Leaflet up, rings and labelled violation lines drawn,
targets coloured by status, legend and verdict shown, and not one request leaving the machine."""

from __future__ import annotations

from collections.abc import Iterator

import folium
import geopandas as gpd
import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.responses import HTMLResponse, Response
from pyproj import Geod
from shapely.geometry import Point, box

from geo import safety_distance as sd
from maps.assets import mount
from maps.safety_distance import STATUS_COLOURS, safety_distance_map, siting_check_map
from tests.maps.browser import Browser, PageReport, require_chromium, serve_app
from tests.maps.frames import ARTIFACTS

GEOD = Geod(ellps="GRS80")
ORIGIN = (118.88, 25.11)  # 泉港区
LPG = (118.88694, 25.11)  # ~700 m east: a 400 m³ LPG supply base (70 m)


def at(distance_m: float, azimuth: float, origin: tuple[float, float] = ORIGIN) -> Point:
    lon, lat, _ = GEOD.fwd(origin[0], origin[1], azimuth, distance_m)
    return Point(lon, lat)


def square(centre: Point, half_m: float) -> box:
    o = (centre.x, centre.y)
    return box(at(half_m, 270, o).x, at(half_m, 180, o).y, at(half_m, 90, o).x, at(half_m, 0, o).y)


@pytest.fixture(scope="module")
def scene() -> dict[str, gpd.GeoDataFrame]:
    hazards = gpd.GeoDataFrame(
        {
            "id": [1, 2],
            "name": ["1#液化烃球罐区", "液化石油气储配站"],
            "hazard_kind": ["liquefied_hydrocarbon_tanks", "lpg_supply_base"],
            "capacity_m3": [np.nan, 400.0],
            "enterprise_name": ["泉港石化储运有限公司", "泉港燃气有限公司"],
        },
        geometry=[square(Point(ORIGIN), 40), Point(LPG)],
        crs=4490,
    )
    targets = gpd.GeoDataFrame(
        {
            "id": [10, 11, 12, 13, 14],
            "name": ["山腰中心小学", "后龙村", "敬老院", "海景花园", "前黄村"],
            "type": ["school", "village", "care_home", "residential", "village"],
            "gb_class": ["high_sensitive", "general_1", "high_sensitive", "general_1", "general_2"],
            "population": [1200, np.nan, 80, np.nan, np.nan],
            "households": [np.nan, 120, np.nan, 400, 20],
        },
        geometry=[
            at(150, 0),
            square(at(250, 200), 60),
            at(90, 0, LPG),
            square(at(600, 300), 80),
            at(50, 180, LPG),
        ],
        crs=4490,
    )
    return {"hazards": hazards, "targets": targets}


def _status(hazards: gpd.GeoDataFrame, targets: gpd.GeoDataFrame) -> dict[int, str]:
    reach = [
        1.5 * sd.reach_m(k, None if np.isnan(c) else c)
        for k, c in zip(hazards["hazard_kind"], hazards["capacity_m3"], strict=True)
    ]
    pairs = sd.assess_pairs(sd.candidate_pairs(hazards, targets, reach), advise_factor=1.5)
    out: dict[int, str] = {}
    for t, s in zip(pairs["target_id"], pairs["status"], strict=True):
        if s == "violation" or out.get(int(t)) != "violation":
            out[int(t)] = s
    return out


@pytest.fixture(scope="module")
def violations_map(scene: dict[str, gpd.GeoDataFrame]) -> tuple[folium.Map, int]:
    hazards, targets = scene["hazards"], scene["targets"]
    contour = gpd.GeoDataFrame({"individual_risk": [3e-6]}, geometry=[square(Point(ORIGIN), 350)], crs=4490)
    found = sd.violations(hazards, targets, with_lines=True)
    status = _status(hazards, targets)
    shown = targets.assign(status=[status.get(int(i), "ok") for i in targets["id"]])
    m = safety_distance_map(
        hazards=hazards,
        targets=shown,
        violations=found,
        rings=sd.required_rings(hazards),
        contours=contour,
        title="泉港区安全防护距离核查图",
    )
    return m, len(found)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    require_chromium()
    with Browser(window=(1400, 1000)) as b:
        yield b


_STATE = """(() => {
    const labels = Array.from(document.querySelectorAll(".rm-distance-label")).map(e => e.innerText);
    const targets = Array.from(document.querySelectorAll("path.rm-target")).map(p => p.getAttribute("class"));
    const legend = document.getElementById("rm-legend");
    const verdict = document.getElementById("rm-verdict");
    return {
        leaflet: typeof window.L === "object" && typeof L.version === "string",
        containers: document.querySelectorAll(".leaflet-container").length,
        rings: document.querySelectorAll("path.rm-ring").length,
        lines: document.querySelectorAll("path.rm-violation").length,
        hazards: document.querySelectorAll("path.rm-hazard").length,
        contours: document.querySelectorAll("path.rm-contour").length,
        proposal: document.querySelectorAll("path.rm-proposal").length,
        labels: labels,
        targets: targets,
        fills: Array.from(document.querySelectorAll("path.rm-target")).map(p => p.getAttribute("fill")),
        legend: legend ? legend.innerText : null,
        title: (document.getElementById("rm-title") || {}).innerText || null,
        verdict: verdict ? verdict.innerText : null,
        scale: (document.querySelector(".leaflet-control-scale-line") || {}).innerText || null,
        layers: document.querySelectorAll(".leaflet-control-layers-overlays label").length,
    };
})()"""
_READY = "window.L && document.querySelectorAll('path.rm-hazard').length > 0"


def _open(browser: Browser, m: folium.Map, shot: str) -> PageReport:
    page = m.get_root().render()
    app = FastAPI()
    mount(app)
    app.add_api_route("/map", lambda: HTMLResponse(page))
    app.add_api_route("/favicon.ico", lambda: Response(status_code=204))
    with serve_app(app) as base_url:
        report = browser.open(
            f"{base_url}/map", wait_for=_READY, evaluate=_STATE, screenshot=ARTIFACTS / shot
        )
    assert report.ready, report
    assert report.requests
    assert all(url.startswith(base_url) for url in report.requests), report.requests
    assert report.external_requests == []
    assert report.blocked == []
    assert report.failed == []
    assert report.console_errors == []
    return report


@pytest.mark.browser
def test_violations_map_draws_in_chromium(browser: Browser, violations_map: tuple[folium.Map, int]) -> None:
    m, n_violations = violations_map
    report = _open(browser, m, "safety_distance_map.png")
    state = report.value
    assert state["leaflet"]
    assert state["containers"] == 1
    # School 110 m and 后龙村 (edge) from the tanks (150 m); 前黄村 50 m from the LPG base (70 m).
    assert n_violations == 3
    assert state["lines"] == n_violations
    assert len(state["labels"]) == n_violations
    assert all(label.endswith(" 米") for label in state["labels"])
    assert state["rings"] == 2  # one per hazard: 150 m (all classes) and 70 m (400 m³ LPG)
    assert state["hazards"] == 2
    assert state["contours"] == 1
    assert len(state["targets"]) == 5
    assert sum("rm-status-violation" in c for c in state["targets"]) == 3
    assert sum("rm-status-advise" in c for c in state["targets"]) == 1  # 敬老院 90 m from the LPG base
    assert sum("rm-status-ok" in c for c in state["targets"]) == 1
    assert STATUS_COLOURS["violation"].lower() in [f.lower() for f in state["fills"]]
    for words in ("危险源", "安全防护距离", "违反安全防护距离", "符合", "违规连线"):
        assert words in state["legend"]
    assert state["title"] == "泉港区安全防护距离核查图"
    assert state["scale"].endswith(("m", "km"))
    assert state["layers"] >= 4
    assert report.screenshot is not None
    assert report.screenshot.stat().st_size > 20_000


@pytest.mark.browser
def test_siting_map_shows_the_verdict(browser: Browser, scene: dict[str, gpd.GeoDataFrame]) -> None:
    hazards, targets = scene["hazards"], scene["targets"]
    site = square(at(120, 330), 40)
    proposal = sd.hazard_proposal("process_unit_a_b", name="拟建甲类装置")
    result = sd.siting_check(site, proposal, hazards=hazards, targets=targets)
    assert result.verdict == "veto"
    me = gpd.GeoDataFrame(
        {"id": [0], "hazard_kind": [proposal.hazard_kind], "capacity_m3": [None]}, geometry=[site], crs=4490
    )
    ids = [c.existing["id"] for c in result.conflicts]
    m = siting_check_map(
        geometry=site,
        result=result,
        proposal_name=proposal.name,
        hazards=hazards,
        targets=targets[targets["id"].isin(ids)],
        rings=sd.required_rings(me),
        title="拟建甲类装置选址安全防护距离核查",
    )
    state = _open(browser, m, "siting_check_map.png").value
    assert state["proposal"] == 1
    assert state["lines"] == len(result.conflicts)
    assert state["verdict"].startswith("否决")
    assert "一票否决" in state["verdict"]
    assert state["rings"] == 1
    assert "拟建项目" in state["legend"]
