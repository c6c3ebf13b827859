"""The four-colour web map: offline assets, public variant, and what a browser actually draws."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import folium
import geopandas as gpd
import pytest
from fastapi import FastAPI
from fastapi.responses import HTMLResponse, Response
from fastapi.testclient import TestClient
from folium import plugins
from pydantic import ValidationError
from shapely.geometry import Point

from geo.errors import SetupError
from geo.vocab import DEFAULT_PALETTE, LEVEL_NAMES_ZH
from maps.assets import (
    DEFAULT_PREFIX,
    PACKAGES,
    ExternalAssetError,
    check_assets,
    local_assets_url_map,
    localise,
    mount,
)
from maps.four_colour import (
    CLUSTER_THRESHOLD,
    NO_RISK_COLOUR,
    NO_RISK_LABEL,
    TileSetting,
    four_colour_map,
    save_html,
)
from tests.maps.browser import Browser, PageReport, require_chromium, serve_app
from tests.maps.frames import (
    ARTIFACTS,
    CONTACT_PEOPLE,
    CONTACT_PHONES,
    CREDIT_CODES,
    ENTERPRISE_NAMES,
    RESPONSIBLE_PEOPLE,
    RESPONSIBLE_PHONES,
    UNIT_NAMES,
)

_SRC_HREF = re.compile(r'<script[^>]*\ssrc="([^"]+)"|<link[^>]*\shref="([^"]+)"')
_CSS_URL = re.compile(r"""url\(\s*['"]?([^'")]+?)['"]?\s*\)""")


def _linked_urls(page: str) -> list[str]:
    return [a or b for a, b in _SRC_HREF.findall(page)]


def _render(m: folium.Map) -> str:
    """The page as a person could read it: folium writes non-ASCII text in its JSON as \\uXXXX escapes."""
    page = m.get_root().render()
    return re.sub(r"\\u([0-9a-fA-F]{4})", lambda match: chr(int(match.group(1), 16)), page)


@pytest.fixture
def internal_map(
    zones: gpd.GeoDataFrame,
    enterprises: gpd.GeoDataFrame,
    risk_units: gpd.GeoDataFrame,
    county_boundaries: gpd.GeoDataFrame,
) -> folium.Map:
    return four_colour_map(
        zones,
        boundaries=county_boundaries,
        enterprises=enterprises,
        risk_units=risk_units,
        title="泉港区区域安全风险空间分布图",
    )


# --- offline assets ------------------------------------------------------------------------------------------


def test_every_folium_default_and_used_plugin_has_a_local_copy() -> None:
    url_map = local_assets_url_map()
    used = [*folium.Map.default_js, *folium.Map.default_css]
    for plugin in (plugins.MarkerCluster, plugins.Fullscreen):
        used += [*plugin.default_js, *plugin.default_css]
    assert {url for _, url in used} <= set(url_map)
    assert all(local.startswith(DEFAULT_PREFIX + "/") for local in url_map.values())
    root = check_assets()
    for pkg in PACKAGES:
        for path in pkg.files.values():
            assert (root / pkg.npm / path).is_file(), f"{pkg.npm}/{path}"


def test_check_assets_says_how_to_install(tmp_path: Path) -> None:
    with pytest.raises(SetupError, match=r"scripts/setup\.sh.*npm ci") as caught:
        check_assets(tmp_path)
    assert "leaflet is not installed" in caught.value.message


def test_localise_raises_on_an_unknown_cdn_url() -> None:
    m = folium.Map(tiles=None)
    plugins.MiniMap().add_to(m)  # leaflet-minimap is not in maps/package.json
    with pytest.raises(
        ExternalAssetError, match=r"MiniMap: https://cdnjs\.cloudflare\.com/.*Control\.MiniMap\.js"
    ):
        localise(m)


def test_localise_rewrites_header_links_and_keeps_class_defaults() -> None:
    m = folium.Map(tiles=None)
    m.get_root().header.add_child(
        folium.CssLink("https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.css")
    )
    localise(m, "/assets")
    assert all(url.startswith("/assets/") for url in _linked_urls(_render(m)))
    # Instance lists replaced, the class-level ones untouched (other maps in the process still see them).
    assert folium.Map.default_js[0][1].startswith("https://")


def test_map_html_links_only_our_asset_prefix(internal_map: folium.Map, tmp_path: Path) -> None:
    page = save_html(internal_map, tmp_path / "map.html").read_text(encoding="utf-8")
    urls = _linked_urls(page)
    assert len(urls) >= 12
    assert all(url.startswith(DEFAULT_PREFIX + "/") for url in urls), urls
    assert not [url for url in urls if re.match(r"(?i)^(https?:)?//", url)]


def test_configured_tiles_are_the_only_external_urls(zones: gpd.GeoDataFrame) -> None:
    with pytest.raises(ValidationError, match="key"):
        TileSetting(kind="tianditu")
    page = _render(
        four_colour_map(zones, tiles=TileSetting(kind="tianditu", key="abc123"), asset_prefix="/v")
    )
    assert all(url.startswith("/v/") for url in _linked_urls(page))
    assert "tianditu.gov.cn/vec_w/wmts" in page
    assert "tianditu.gov.cn/cva_w/wmts" in page
    assert "tk=abc123" in page
    assert "天地图" in page
    plain = _render(four_colour_map(zones))
    assert "L.tileLayer" not in plain
    assert "tile.openstreetmap.org" not in plain


def test_mount_serves_the_assets_and_what_their_css_points_at() -> None:
    app = FastAPI()
    mount(app)
    client = TestClient(app)
    for local in local_assets_url_map().values():
        response = client.get(local)
        assert response.status_code == 200, local
        if not local.endswith(".css"):
            continue
        assert response.headers["content-type"].startswith("text/css")
        # Fonts and images that the stylesheet names relative to itself must be served too.
        base = local.rsplit("/", 1)[0]
        for ref in set(_CSS_URL.findall(response.text)):
            if ref.startswith(("data:", "#")):
                continue
            target = f"{base}/{ref.split('?')[0].split('#')[0]}"
            assert client.get(target).status_code == 200, f"{local} -> {ref}"
    # Only asset files of the needed folders: no package.json, README or sources.
    assert client.get(f"{DEFAULT_PREFIX}/leaflet/package.json").status_code == 404
    assert client.get(f"{DEFAULT_PREFIX}/leaflet.fullscreen/index.html").status_code == 404
    assert client.get(f"{DEFAULT_PREFIX}/jquery/src/core.js").status_code == 404


# --- content -------------------------------------------------------------------------------------------------


def test_internal_map_shows_the_register(internal_map: folium.Map) -> None:
    page = _render(internal_map)
    for name in ENTERPRISE_NAMES + UNIT_NAMES:
        assert name in page
    assert "火灾" in page
    assert "容器爆炸" in page
    assert "中毒和窒息" in page
    assert "储罐区设置可燃气体报警和紧急切断" in page
    assert RESPONSIBLE_PEOPLE[0] in page
    assert "风险单元（面、管线、点）" in page
    assert "rm-unit rm-unit-line rm-level-2" in page
    assert 'div.id = "rm-legend"' in page
    for level, name in LEVEL_NAMES_ZH.items():
        assert name in page, level


def test_public_map_has_zones_and_counts_only(
    zones: gpd.GeoDataFrame,
    enterprises: gpd.GeoDataFrame,
    risk_units: gpd.GeoDataFrame,
    county_boundaries: gpd.GeoDataFrame,
) -> None:
    leaky = zones.copy()
    leaky["enterprise_names"] = [ENTERPRISE_NAMES[:2], ENTERPRISE_NAMES[2:], [], [], []]
    leaky["contact_phone"] = [*CONTACT_PHONES, "", ""]
    m = four_colour_map(
        leaky, boundaries=county_boundaries, enterprises=enterprises, risk_units=risk_units, public=True
    )
    page = _render(m)
    for secret in (
        ENTERPRISE_NAMES
        + CREDIT_CODES
        + CONTACT_PEOPLE
        + CONTACT_PHONES
        + UNIT_NAMES
        + RESPONSIBLE_PEOPLE
        + RESPONSIBLE_PHONES
    ):
        assert secret not in page, secret
    assert "rm-unit" not in page
    assert "风险单元（面" not in page
    assert "rm-enterprise" not in page
    assert "enterprise_ids" not in page
    # What is public is still there: zone names, levels and counts.
    assert "山腰街道" in page
    assert "重大风险（红）" in page
    assert "涉及企业 2 家" in page


def test_many_enterprises_are_clustered_from_local_assets(zones: gpd.GeoDataFrame) -> None:
    n = CLUSTER_THRESHOLD + 1
    many = gpd.GeoDataFrame(
        {"id": range(n), "name": [f"企业{i}" for i in range(n)], "sector": ["other"] * n, "level": [4] * n},
        geometry=[Point(118.81 + (i % 20) * 0.01, 25.06 + (i // 20) * 0.005) for i in range(n)],
        crs=4490,
    )
    page = _render(four_colour_map(zones, enterprises=many))
    assert "L.markerClusterGroup" in page
    assert f"{DEFAULT_PREFIX}/leaflet.markercluster/dist/leaflet.markercluster.js" in page


def test_palette_given_wins_over_zone_colours(zones: gpd.GeoDataFrame) -> None:
    page = _render(four_colour_map(zones, palette={1: "#C00000", 2: "#ED7D31", 3: "#FFC000", 4: "#4472C4"}))
    assert "#C00000" in page
    assert "#4472C4" in page
    assert '"fillColor": "#FF0000"' not in page


def test_standalone_file_inlines_everything(internal_map: folium.Map, tmp_path: Path) -> None:
    page = save_html(internal_map, tmp_path / "map.html", inline_assets=True).read_text(encoding="utf-8")
    assert _linked_urls(page) == []
    assert f'src="{DEFAULT_PREFIX}' not in page
    assert f'href="{DEFAULT_PREFIX}' not in page
    assert "data:font/woff2;base64," in page  # fontawesome and glyphicons fonts travel with the page
    assert 500_000 < len(page) < 4_000_000


# --- in a browser ------------------------------------------------------------------------------------------

_STATE = """(() => {
    const paths = Array.from(document.querySelectorAll("path.rm-zone"));
    const maps = Object.keys(window).filter(k => k.startsWith("map_") && window.L && window[k] instanceof L.Map);
    const first = paths[0];
    let popup = "";
    if (first) {
        const box = first.getBoundingClientRect();
        first.dispatchEvent(new MouseEvent("click", {bubbles: true, clientX: box.x + box.width / 2,
                                                     clientY: box.y + box.height / 2}));
        const content = document.querySelector(".leaflet-popup-content");
        popup = content ? content.innerText : "";
    }
    const legend = document.getElementById("rm-legend");
    return {
        leaflet: typeof window.L === "object" && typeof L.version === "string",
        maps: maps.length,
        container: document.querySelectorAll(".leaflet-container").length,
        panes: document.querySelectorAll(".leaflet-pane.leaflet-overlay-pane svg").length,
        zones: paths.map(p => ({cls: p.getAttribute("class"), fill: p.getAttribute("fill")})),
        units: document.querySelectorAll("path.rm-unit").length,
        enterprises: document.querySelectorAll("path.rm-enterprise").length,
        legend: legend ? legend.innerText : null,
        title: (document.getElementById("rm-title") || {}).innerText || null,
        scale: (document.querySelector(".leaflet-control-scale-line") || {}).innerText || null,
        fullscreen: document.querySelectorAll(".leaflet-control-zoom-fullscreen").length,
        popup: popup,
    };
})()"""
_READY = "window.L && document.querySelectorAll('path.rm-zone').length > 0"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    require_chromium()
    with Browser(window=(1400, 1000)) as b:
        yield b


def _expected_fill(cls: str) -> str:
    level = re.search(r"rm-level-(\w+)", cls)
    assert level is not None, cls
    return NO_RISK_COLOUR if level.group(1) == "none" else DEFAULT_PALETTE[int(level.group(1))]


def _assert_offline(report: PageReport) -> None:
    assert report.external_requests == [], report.external_requests
    assert report.blocked == []
    assert report.failed == [], report.failed
    assert report.console_errors == [], report.console_errors


@pytest.mark.browser
def test_served_map_draws_in_chromium(
    internal_map: folium.Map, zones: gpd.GeoDataFrame, browser: Browser
) -> None:
    page = _render(internal_map)
    app = FastAPI()
    mount(app)
    app.add_api_route("/map", lambda: HTMLResponse(page))
    app.add_api_route("/favicon.ico", lambda: Response(status_code=204))
    shot = ARTIFACTS / "four_colour_map.png"
    with serve_app(app) as base_url:
        report = browser.open(f"{base_url}/map", wait_for=_READY, evaluate=_STATE, screenshot=shot)
    assert report.ready, report
    state = report.value
    assert state["leaflet"]
    assert state["maps"] == 1
    assert state["container"] == 1
    assert state["panes"] >= 1
    assert len(state["zones"]) == len(zones)
    for path in state["zones"]:
        assert path["fill"].upper() == _expected_fill(path["cls"]).upper(), path
    assert sorted(p["cls"].split()[1] for p in state["zones"]) == [
        "rm-level-1",
        "rm-level-2",
        "rm-level-3",
        "rm-level-4",
        "rm-level-none",
    ]
    assert state["units"] == 3
    assert state["enterprises"] == 3
    for name in [*LEVEL_NAMES_ZH.values(), NO_RISK_LABEL]:
        assert name in state["legend"]
    assert state["title"] == "泉港区区域安全风险空间分布图"
    assert state["scale"]
    assert state["scale"].endswith(("km", " m"))
    assert "mi" not in state["scale"]
    assert state["fullscreen"] == 1
    assert "山腰街道" in state["popup"], state["popup"]
    assert "重大风险（红）" in state["popup"]
    # Every request went to our test server: the page, its scripts, styles and their fonts and images.
    assert report.requests
    assert all(url.startswith(base_url) for url in report.requests)
    assert any(url.endswith("/leaflet/dist/leaflet.js") for url in report.requests)
    _assert_offline(report)
    assert shot.stat().st_size > 20_000


@pytest.mark.browser
def test_standalone_file_draws_without_a_server(internal_map: folium.Map, browser: Browser) -> None:
    path = save_html(internal_map, ARTIFACTS / "four_colour_map_standalone.html", inline_assets=True)
    report = browser.open(
        path, wait_for=_READY, evaluate=_STATE, screenshot=ARTIFACTS / "four_colour_map_standalone.png"
    )
    assert report.ready, report
    assert len(report.value["zones"]) == 5
    assert report.value["legend"]
    assert all(url.startswith(("file:", "data:")) for url in report.requests), report.requests
    _assert_offline(report)


@pytest.mark.browser
def test_browser_blocks_requests_that_leave_the_machine(tmp_path: Path, browser: Browser) -> None:
    page = tmp_path / "leak.html"
    page.write_text(
        '<html><body><img src="https://example.org/x.png"><script>window.done = true</script></body></html>',
        encoding="utf-8",
    )
    report = browser.open(page, wait_for="window.done")
    assert report.ready
    assert report.external_requests == ["https://example.org/x.png"]
    assert report.blocked == ["https://example.org/x.png"]
    assert any("example.org" in url for url, _ in report.failed)
