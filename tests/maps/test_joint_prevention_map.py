"""The joint-prevention map: the renderer on hand-made frames, and the served page drawn in headless Chromium
from a register in the test database (Leaflet up, hulls and arrows drawn, legend, popups, nothing fetched off
this machine). The screenshot goes to artifacts/maps/joint_prevention_map.png."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import LineString, Point, Polygon
from sqlalchemy import Engine

from api.settings import DatabaseSettings, Settings
from geo.store.engine import make_engine
from geo.vocab import DEFAULT_PALETTE, LEVEL_NAMES_ZH
from maps.joint_prevention import arrowheads, joint_prevention_map
from tests.maps.browser import Browser, require_chromium, serve_app
from tests.maps.frames import ARTIFACTS
from tests.store import test_clusters as layouts

P = (118.86, 25.12)


def _render(m: folium.Map) -> str:
    page = m.get_root().render()
    return re.sub(r"\\u([0-9a-fA-F]{4})", lambda match: chr(int(match.group(1), 16)), page)


def _frames() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    a, b, c = P, (P[0] + 0.005, P[1]), (P[0] + 0.005, P[1] + 0.004)
    clusters = gpd.GeoDataFrame(
        {
            "id": [1, 2],
            "level": [1, None],
            "member_count": [3, 2],
            "cross_region": [True, False],
            "name_zh": ["组团 1（3 家）", "组团 2（2 家）"],
            "team_zh": ["惠安县应急管理局执法一组", "无"],
        },
        geometry=[Polygon([a, b, c]).buffer(0.001), Point(P[0], P[1] - 0.01).buffer(0.002)],
        crs=4490,
    )
    members = gpd.GeoDataFrame(
        {
            "id": [1, 2, 3],
            "name": ["甲化工", "乙储运", "丙化工"],
            "level": [1, 2, 3],
            "cluster_id": [1, 1, 1],
        },
        geometry=[Point(a), Point(b), Point(c)],
        crs=4490,
    )
    checks = gpd.GeoDataFrame(
        {
            "cluster_id": [1, 1, 1],
            "inspector": ["甲化工", "乙储运", "丙化工"],
            "inspected": ["乙储运", "丙化工", "甲化工"],
        },
        geometry=[LineString([a, b]), LineString([b, c]), LineString([c, a])],
        crs=4490,
    )
    return clusters, members, checks


def test_renderer_draws_every_layer_from_local_assets() -> None:
    clusters, members, checks = _frames()
    page = _render(joint_prevention_map(clusters, members=members, checks=checks, title="测试联防联控图"))
    assert "rm-jp-hull rm-level-1" in page
    assert "rm-jp-hull rm-level-none" in page
    assert "rm-jp-member rm-level-2" in page
    assert "rm-jp-check" in page
    assert "rm-jp-arrow" in page
    assert "测试联防联控图" in page
    for name in LEVEL_NAMES_ZH.values():
        assert name in page
    assert "交叉互查：检查方 → 被检查方（3 条）" in page
    assert "跨区域联防组团（1 个）" in page
    urls = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert urls
    assert all(u.startswith("/static/vendor/") for u in urls), urls


def test_members_at_one_point_and_no_clusters_draw_without_error() -> None:
    """Co-located members give zero-length check lines and no arrowheads; an empty frame has no columns."""
    clusters, members, checks = _frames()
    same = members.set_geometry([Point(P)] * 3, crs=4490)
    flat = checks.set_geometry([LineString([P, P])] * 3, crs=4490)
    page = _render(joint_prevention_map(clusters, members=same, checks=flat, title="同址"))
    assert "rm-jp-arrow" not in page
    assert "rm-jp-member" in page
    empty = gpd.GeoDataFrame({"id": [], "level": []}, geometry=[], crs=4490)
    assert "rm-jp-hull" not in _render(joint_prevention_map(empty, title="无组团"))


def test_arrowheads_point_from_inspector_to_inspected() -> None:
    line = LineString([P, (P[0] + 0.01, P[1])])
    (head,) = arrowheads(np.array([line], dtype=object))
    tip = max(head.exterior.coords, key=lambda xy: xy[0])
    assert head.geom_type == "Polygon"
    assert P[0] + 0.007 < tip[0] < P[0] + 0.01  # 3/4 of the way along, pointing east
    assert head.area > 0
    assert arrowheads(np.array([LineString([P, P])], dtype=object))[0] is None


# --- in the browser -----------------------------------------------------------------------------------------

_READY = "window.L && document.querySelector('.leaflet-container') && document.querySelector('.rm-jp-hull')"
_STATE = """
(async () => {
  const map = Object.values(window).find((v) => v instanceof L.Map);
  const hulls = [...document.querySelectorAll("path.rm-jp-hull")].map((p) => ({
    cls: p.getAttribute("class"), fill: p.getAttribute("fill"), dash: p.getAttribute("stroke-dasharray")}));
  let popup = "";
  map.eachLayer((layer) => {
    const props = layer.feature && layer.feature.properties;
    if (!popup && props && props.name_zh && props.level === 1 && layer.getBounds) {
      layer.fire("click", {latlng: layer.getBounds().getCenter()}, true);
      const el = document.querySelector(".leaflet-popup-content");
      popup = el ? el.textContent : "";
    }
  });
  return {
    leaflet: typeof L === "object" && !!map,
    hulls: hulls,
    members: document.querySelectorAll("path.rm-jp-member").length,
    checks: document.querySelectorAll("path.rm-jp-check").length,
    arrows: document.querySelectorAll("path.rm-jp-arrow").length,
    legend: (document.getElementById("rm-jp-legend") || {}).textContent || "",
    title: (document.getElementById("rm-jp-title") || {}).textContent || "",
    popup: popup,
  };
})()
"""


@pytest.fixture
def app_with_register(database_url: str, engine: Engine, boundaries: None, clean: None) -> Iterator[Any]:
    """Five clusters around 泉港 (levels 1, 2, 3, none, and a cross-border pair) and a few loners."""
    from api.app import create_app
    from api.auth import current_principal
    from geo.access import SYSTEM

    reg = layouts.Register(engine)
    off = layouts.offset
    for i, level in enumerate([1, 2, 3, 3]):  # a chemical chain with sites
        at = off(P, 90, 420 * i)
        reg.enterprise(at, layouts.PLANT, site=layouts.square_site(at, 60), levels=[level])
    south = off(P, 180, 2500)
    for i, level in enumerate([3, 4, 4]):
        reg.enterprise(off(south, 60 * i, 300 * (i > 0)), layouts.TEXTILE, levels=[level])
    fuel = off(P, 0, 2200)
    reg.enterprise(fuel, layouts.FUEL, levels=[2])
    reg.enterprise(off(fuel, 120, 350), layouts.LPG, levels=[4])
    west = off(P, 270, 2500)
    reg.enterprise(west, layouts.TOURISM)
    reg.enterprise(off(west, 30, 400), layouts.TOURISM)
    reg.enterprise(off(P, 300, 1500), layouts.MILL, levels=[1])  # alone
    with engine.connect() as conn:
        here, there = layouts._border_pair(conn, "350505", "350521")
    reg.enterprise(here, layouts.PLANT, "350505", levels=[3])
    reg.enterprise(there, layouts.PLANT, "350521", levels=[2])
    reg.save()
    app = create_app(Settings(db=DatabaseSettings(DATABASE_URL=database_url)))
    app.state.engine = make_engine(database_url)  # serve_app runs without the lifespan that makes it
    app.dependency_overrides[current_principal] = lambda: SYSTEM  # the full map, as an admin
    yield app
    app.state.engine.dispose()


@pytest.mark.browser
def test_served_map_draws_in_chromium(app_with_register: Any) -> None:
    require_chromium()
    shot = ARTIFACTS / "joint_prevention_map.png"
    with serve_app(app_with_register) as base_url, Browser(window=(1400, 1000)) as browser:
        report = browser.open(
            f"{base_url}/maps/joint-prevention?adcode=350505&seed=1",
            wait_for=_READY,
            evaluate=_STATE,
            screenshot=shot,
            timeout=60,
        )
    assert report.ready, report
    state = report.value
    assert state["leaflet"]
    assert len(state["hulls"]) == 5
    levels = sorted(re.search(r"rm-level-(\w+)", h["cls"]).group(1) for h in state["hulls"])  # type: ignore[union-attr]
    assert levels == ["1", "2", "2", "3", "none"]
    for hull in state["hulls"]:
        level = re.search(r"rm-level-(\w+)", hull["cls"]).group(1)  # type: ignore[union-attr]
        if level != "none":
            assert hull["fill"].upper() == DEFAULT_PALETTE[int(level)].upper()
    assert sum(1 for h in state["hulls"] if h["dash"]) == 1  # the cross-border pair
    assert state["members"] == 4 + 3 + 2 + 2 + 2
    assert state["checks"] == state["arrows"] == 13  # every member inspects one other
    for text in [*LEVEL_NAMES_ZH.values(), "交叉互查", "跨区域联防组团（1 个）"]:
        assert text in state["legend"]
    assert state["title"].startswith("泉港区联防联控组团与交叉互查图")
    assert "组团" in state["popup"]
    assert "异地交叉检查组" in state["popup"]
    assert "重大风险（红）" in state["popup"]
    # Every request went to our test server; none failed; no script error.
    assert report.external_requests == []
    assert report.blocked == []
    # The app serves no favicon; Chromium asks for one anyway.
    assert [f for f in report.failed if not f[0].endswith("/favicon.ico")] == []
    assert [e for e in report.console_errors if "favicon" not in e] == []
    assert all(url.startswith(base_url) for url in report.requests)
    assert shot.stat().st_size > 20_000
