"""The one map of an area with too many risk units to draw at its whole view (above
`api.usecases.one_map.ANALYSIS_MAX_UNITS`: a province): its tiled units, enterprises and targets are drawn
from `DETAIL_MIN_ZOOM` in, and the page says so — in its notes, in the layer control and in a box on the map
while it is farther out — so an empty map is never read as an all-clear. Zoomed in, the units are there.

Here the city 泉州市 (its units in 泉港区) plays the province: `ANALYSIS_MAX_UNITS` 1, every layer tiled, the
detail zoom 12 (the city opens farther out). In headless Chromium, every outside request blocked."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from geo.store.answer_cache import AnswerCache
from maps.tiles import TileStyle, VectorTileLayer
from tests.api.builders import (
    QUANGANG,
    RISK_UNITS,
    TARGETS,
    box_polygon,
    created,
    protection_target_feature,
    risk_unit_feature,
)
from tests.maps.browser import Browser, require_chromium, serve_app
from tests.maps.frames import ARTIFACTS
from tests.worlds import admin_app, empty_register

HTML = {"Accept": "text/html"}
SIDE = 0.0006
ZOOM = 12


@pytest.fixture(scope="module")
def world(database_url: str, engine: Engine, boundaries: None) -> Iterator[dict[str, Any]]:
    empty_register(engine)
    app, headers = admin_app(database_url, engine)
    units = []
    with TestClient(app, headers=headers) as admin:
        x, y = QUANGANG
        for level in (1, 3):
            x0 = x + 0.02 * (level - 1)
            unit = created(
                admin.post(
                    RISK_UNITS,
                    json=risk_unit_feature(
                        geometry=box_polygon(x0, y, x0 + SIDE, y + SIDE), level=level, name=f"省级单元{level}"
                    ),
                )
            )
            units.append({"id": unit["id"], "level": level, "lon": x0 + SIDE / 2, "lat": y + SIDE / 2})
        created(admin.post(TARGETS, json=protection_target_feature(at=(x, y + 0.008), name="省级目标")))
    app.state.engine = engine
    yield {"app": app, "headers": headers, "units": units}
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE risk_units, protection_targets RESTART IDENTITY CASCADE"))


@pytest.fixture
def province(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("api.usecases.one_map.ANALYSIS_MAX_UNITS", 1)  # the city (2 units) plays a province
    monkeypatch.setattr("api.usecases.one_map.DETAIL_MIN_ZOOM", ZOOM)
    monkeypatch.setattr("api.usecases.one_map.use_tiles", lambda n, threshold=0: n > 0)
    monkeypatch.setattr("api.pages.one_map.CACHE", AnswerCache(0))  # made afresh


def test_a_tile_layer_with_a_first_zoom_says_it_to_leaflet() -> None:
    held = VectorTileLayer("/tiles/risk_units/{z}/{x}/{y}.pbf", TileStyle("risk_units"), min_zoom=9)
    plain = VectorTileLayer("/tiles/risk_units/{z}/{x}/{y}.pbf", TileStyle("risk_units"))
    assert held.min_zoom == 9
    assert plain.min_zoom is None
    import folium

    m = folium.Map()
    held.add_to(m)
    page = m.get_root().render()
    assert "minZoom: 9," in page
    assert ".options.minZoom = 0" in page  # the map itself may still be zoomed out


def _says(page: str, words: str) -> bool:
    """Whether the page holds `words`, as text or in a script's JSON (Folium writes names \\u-escaped)."""
    return words in page or json.dumps(words)[1:-1] in page


def test_the_province_page_says_where_its_layers_start(world: dict[str, Any], province: None) -> None:
    with TestClient(world["app"], headers=world["headers"]) as client:
        page = client.get("/map", params={"adcode": "350500"}, headers=HTML).text
    assert _says(page, f"风险单元（放大至第 {ZOOM} 级显示）")  # the layer control
    assert _says(page, f"防护目标（放大至第 {ZOOM} 级显示）")
    assert f"风险单元、防护目标放大至第 {ZOOM} 级" in page  # the page's note (no enterprise here: not tiled)
    assert f"minZoom: {ZOOM}," in page
    assert "riskmap.zoomNote(" in page


def test_an_area_under_the_limit_has_every_layer_at_every_zoom(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("api.usecases.one_map.use_tiles", lambda n, threshold=0: n > 0)
    monkeypatch.setattr("api.pages.one_map.CACHE", AnswerCache(0))
    with TestClient(world["app"], headers=world["headers"]) as client:
        county = client.get("/map", params={"adcode": "350505"}, headers=HTML).text
    assert "/tiles/risk_units/{z}/{x}/{y}.pbf?adcode=350505" in county  # tiled, from the first zoom
    assert not _says(county, "（放大至第")  # no layer name says it
    assert "（约一个市的范围）" not in county  # nor a note
    assert "minZoom:" not in county
    assert "riskmap.zoomNote(" not in county


# Before zooming: the map's zoom, the box, the layer control's names and the unit tiles asked for; then the
# box's link (to the detail zoom), then the first unit at zoom 16: the box hidden, the unit drawn from its tile.
PROBE = """(async () => {
    const map = window.riskmapMap, u = %s, sleep = ms => new Promise(r => setTimeout(r, ms));
    const note = document.getElementById("rm-zoom-note");
    const unitTiles = () => performance.getEntriesByType("resource").filter(e => e.name.includes("/tiles/risk_units/")).length;
    const state = () => ({zoom: map.getZoom(), state: note && note.dataset.state,
                          visible: !!note && note.style.display !== "none" && note.offsetHeight > 0,
                          text: note && note.textContent});
    const before = Object.assign(state(), {tiles: unitTiles(),
        labels: Array.from(document.querySelectorAll(".leaflet-control-layers-overlays label")).map(l => l.textContent.trim())});
    note.querySelector("a").click();
    await sleep(500);
    const clicked = state();
    let layer = null;
    map.eachLayer(l => { if (l.riskmapStyle && l.riskmapStyle.layer === "risk_units") { layer = l; } });
    map.setView([u.lat, u.lon], 16, {animate: false});
    let feature = null;
    for (let i = 0; i < 40 && !feature; i++) {
        await sleep(250);
        layer.queryTileFeaturesDebug(u.lon, u.lat, 4).forEach(list => list.forEach(h => {
            if (h.layerName === "risk_units" && h.feature.props.id === u.id) { feature = h.feature; }
        }));
    }
    return {before: before, clicked: clicked, after: Object.assign(state(), {tiles: unitTiles()}),
            unit: feature ? feature.props : null};
})()"""


@pytest.mark.browser
def test_the_province_map_says_zoom_in_and_shows_units_after_zooming_in(
    world: dict[str, Any], province: None
) -> None:
    require_chromium()
    unit = world["units"][0]
    with serve_app(world["app"]) as base_url, Browser(window=(1200, 800)) as browser:
        report = browser.open(
            base_url + "/map?adcode=350500",
            wait_for="window.riskmapMap && document.getElementById('rm-zoom-note')",
            evaluate=PROBE % json.dumps(unit),
            headers={"Authorization": world["headers"]["Authorization"]},
            screenshot=ARTIFACTS / "tiles" / "one_map_province_zoomed_out.png",
            timeout=90,
        )
    assert report.ready, (report.console_errors, report.failed)
    assert report.external_requests == []
    assert report.console_errors == []
    before, clicked, after = report.value["before"], report.value["clicked"], report.value["after"]
    assert before["zoom"] < ZOOM  # the city's whole view
    assert before["state"] == "hidden", before  # the box says it
    assert before["visible"], before
    assert f"风险单元、防护目标：放大至第 {ZOOM} 级显示" in before["text"]
    assert "zoom in to level 12 to see risk units" in before["text"]
    assert before["tiles"] == 0  # no unit tile asked for at the whole view
    assert f"风险单元（放大至第 {ZOOM} 级显示）" in before["labels"]
    assert clicked["zoom"] == ZOOM  # the box's link zooms to where the layers start, and the box goes
    assert clicked["state"] == "shown"
    assert not clicked["visible"]
    assert after["zoom"] == 16
    assert not after["visible"]
    assert after["tiles"] > 0
    assert report.value["unit"] is not None, report.value  # zoomed in, the unit is drawn from its tile
    assert report.value["unit"]["level"] == unit["level"]
