"""The one map with its big layers on vector tiles (api/usecases/one_map.py switches a layer to tiles above
`maps.tiles.FEATURE_THRESHOLD`; here the threshold is 0 so a small register is tiled): the page holds no unit
inline, and in headless Chromium, every outside request blocked, each risk unit is painted in the colour the
four-colour API gives its level, both as read from the rendered tile features and as the pixels of the tile
canvas at the unit; a click on a tiled unit opens the side panel."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from geo.store.answer_cache import AnswerCache
from maps.one_map import TARGET_CLASSES
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
SIDE = 0.0006  # about 60 m: many pixels at zoom 16


@pytest.fixture(scope="module")
def world(database_url: str, engine: Engine, boundaries: None) -> Iterator[dict[str, Any]]:
    empty_register(engine)
    app, headers = admin_app(database_url, engine)
    units = []
    with TestClient(app, headers=headers) as admin:
        x, y = QUANGANG
        for level in (1, 2, 3, 4):  # public-area units 2 km apart, one per 1 km grid cell
            x0 = x + 0.02 * (level - 1)
            unit = created(
                admin.post(
                    RISK_UNITS,
                    json=risk_unit_feature(
                        geometry=box_polygon(x0, y, x0 + SIDE, y + SIDE), level=level, name=f"瓦片单元{level}"
                    ),
                )
            )
            units.append({"id": unit["id"], "level": level, "lon": x0 + SIDE / 2, "lat": y + SIDE / 2})
        targets = []
        for i, extra in enumerate(
            ({"type": "school"}, {"type": "village", "households": 80}, {"type": "hospital"})
        ):
            at = (x + 0.02 * i, y + 0.008)  # 900 m north of the units
            made = created(
                admin.post(TARGETS, json=protection_target_feature(at=at, name=f"瓦片目标{i}", **extra))
            )
            gb_class = admin.get(f"{TARGETS}/{made['id']}").json()["properties"]["gb_class"]
            targets.append({"id": made["id"], "gb_class": gb_class, "lon": at[0], "lat": at[1]})
        four = admin.get(
            "/api/v1/analysis/four-color", params={"adcode": "350505", "zones": "grid", "cell_m": 1000}
        )
        assert four.status_code == 200, four.text
        colours = {
            f["properties"]["level"]: f["properties"]["color"]
            for f in four.json()["features"]
            if f["properties"].get("level")
        }
    assert set(colours) == {1, 2, 3, 4}
    app.state.engine = engine
    yield {"app": app, "headers": headers, "units": units, "colours": colours, "targets": targets}
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE risk_units RESTART IDENTITY CASCADE"))


@pytest.fixture
def tiled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("api.usecases.one_map.use_tiles", lambda n, threshold=0: n > 0)
    monkeypatch.setattr("api.pages.one_map.CACHE", AnswerCache(0))  # made afresh, tiled


def test_the_page_holds_tile_layers_not_the_units(world: dict[str, Any], tiled: None) -> None:
    with TestClient(world["app"], headers=world["headers"]) as client:
        page = client.get("/map", params={"adcode": "350505"}, headers=HTML)
    assert page.status_code == 200
    assert "/tiles/risk_units/{z}/{x}/{y}.pbf?adcode=350505" in page.text
    assert "瓦片单元1" not in page.text  # the units come with the tiles
    assert "/static/vendor/protomaps-leaflet/dist/protomaps-leaflet.js" in page.text
    assert "unpkg.com" not in page.text


# For each unit: centre the map on it at zoom 16, wait for the tiles, then read the feature the tile layer
# drew there (and the colour its style gives it) and the tile canvas's pixel at the unit's centre.
PROBE = """(async () => {
    const map = window.riskmapMap, units = %s, out = [];
    let layer = null;
    map.eachLayer(l => { if (l.riskmapStyle && l.riskmapStyle.layer === "risk_units") { layer = l; } });
    if (!layer) { return {error: "no tiled risk_units layer"}; }
    const sleep = ms => new Promise(r => setTimeout(r, ms));
    for (const u of units) {
        map.setView([u.lat, u.lon], 16, {animate: false});
        let pixel = null, feature = null;
        for (let i = 0; i < 40 && (!pixel || !feature); i++) {
            await sleep(250);
            const at = map.latLngToContainerPoint([u.lat, u.lon]), box = map.getContainer().getBoundingClientRect();
            const cx = box.left + at.x, cy = box.top + at.y;
            for (const c of document.querySelectorAll("canvas.leaflet-tile")) {
                const r = c.getBoundingClientRect();
                if (cx < r.left || cx >= r.right || cy < r.top || cy >= r.bottom || !c.width) { continue; }
                const px = Math.floor((cx - r.left) * c.width / r.width), py = Math.floor((cy - r.top) * c.height / r.height);
                const d = c.getContext("2d").getImageData(px, py, 1, 1).data;
                if (d[3] > 0) { pixel = [d[0], d[1], d[2], d[3]]; }
            }
            layer.queryTileFeaturesDebug(u.lon, u.lat, 4).forEach(list => list.forEach(h => {
                if (h.layerName === "risk_units" && h.feature.props.id === u.id) { feature = h.feature; }
            }));
        }
        out.push({id: u.id, pixel: pixel, props: feature ? feature.props : null,
                  painted: feature ? layer.riskmapColour(feature) : null});
    }
    const u = units[0];
    map.setView([u.lat, u.lon], 16, {animate: false});
    await sleep(500);
    map.fire("click", {latlng: L.latLng(u.lat, u.lon)});
    await sleep(1500);
    return {units: out, panel: document.getElementById("rm-panel-title").textContent};
})()"""


def _rgb(colour: str) -> tuple[int, int, int]:
    c = colour.lstrip("#")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


@pytest.mark.browser
def test_tiled_units_are_painted_in_the_apis_colours(world: dict[str, Any], tiled: None) -> None:
    require_chromium()
    units, colours = world["units"], world["colours"]
    with serve_app(world["app"]) as base_url, Browser(window=(1200, 800)) as browser:
        report = browser.open(
            base_url + "/map?adcode=350505",
            wait_for="window.riskmapMap && document.querySelectorAll('canvas.leaflet-tile').length > 0",
            evaluate=PROBE % json.dumps(units),
            headers={"Authorization": world["headers"]["Authorization"]},
            screenshot=ARTIFACTS / "tiles" / "one_map_tiled.png",
            timeout=90,
        )
    assert report.ready, (report.console_errors, report.failed)
    assert report.external_requests == []
    assert report.console_errors == []  # a CSP violation would be one
    assert any("/tiles/risk_units/" in u for u in report.requests), report.requests
    found = {u["id"]: u for u in report.value["units"]}
    for unit in units:
        seen = found[unit["id"]]
        expected = colours[unit["level"]]
        assert seen["props"] is not None, unit  # drawn from the tile, with its attributes
        assert seen["props"]["level"] == unit["level"]
        assert seen["painted"].lower() == expected.lower(), (unit, seen)
        assert seen["pixel"] is not None, unit
        assert all(abs(a - b) <= 3 for a, b in zip(seen["pixel"][:3], _rgb(expected), strict=True)), (
            unit,
            seen,
        )
    assert report.value["panel"] == "瓦片单元1"  # the click opened the side panel on the unit


# Each target's drawn feature on the tiled protection_targets layer and the colour its style paints it.
TARGET_PROBE = """(async () => {
    const map = window.riskmapMap, targets = %s, out = [];
    let layer = null;
    map.eachLayer(l => { if (l.riskmapStyle && l.riskmapStyle.layer === "protection_targets") { layer = l; } });
    if (!layer) { return {error: "no tiled protection_targets layer"}; }
    const sleep = ms => new Promise(r => setTimeout(r, ms));
    for (const t of targets) {
        map.setView([t.lat, t.lon], 16, {animate: false});
        let feature = null;
        for (let i = 0; i < 40 && !feature; i++) {
            await sleep(250);
            layer.queryTileFeaturesDebug(t.lon, t.lat, 8).forEach(list => list.forEach(h => {
                if (h.layerName === "protection_targets" && h.feature.props.id === t.id) { feature = h.feature; }
            }));
        }
        out.push({id: t.id, props: feature ? feature.props : null, painted: feature ? layer.riskmapColour(feature) : null});
    }
    return out;
})()"""


@pytest.mark.browser
def test_tiled_targets_are_painted_in_their_gb_class_colours(world: dict[str, Any], tiled: None) -> None:
    """Above the targets' threshold (here 0) the protection targets come from /tiles, each painted in the
    colour of the GB 36894 class the API gives it (the legend's, as inline targets are)."""
    require_chromium()
    targets = world["targets"]
    assert {t["gb_class"] for t in targets} >= {"high_sensitive"}
    with serve_app(world["app"]) as base_url, Browser(window=(1200, 800)) as browser:
        report = browser.open(
            base_url + "/map?adcode=350505",
            wait_for="window.riskmapMap && document.querySelectorAll('canvas.leaflet-tile').length > 0",
            evaluate=TARGET_PROBE % json.dumps(targets),
            headers={"Authorization": world["headers"]["Authorization"]},
            timeout=90,
        )
    assert report.ready, (report.console_errors, report.failed)
    assert report.external_requests == []
    assert report.console_errors == []
    assert "瓦片目标0" not in report.dom.split("</head>", 1)[1].split("<script")[0]  # not inline
    assert any("/tiles/protection_targets/" in u for u in report.requests), report.requests
    found = {t["id"]: t for t in report.value}
    for target in targets:
        seen = found[target["id"]]
        assert seen["props"] is not None, target
        assert seen["props"]["gb_class"] == target["gb_class"]
        assert seen["painted"].lower() == TARGET_CLASSES[target["gb_class"]][0].lower(), (target, seen)
