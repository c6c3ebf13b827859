"""A Folium map with a vector-tile layer (maps/tiles.py) in real headless Chromium, under the production CSP:
protomaps-leaflet comes from our server, fetches /tiles/zones/… and paints the zones' colours."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import folium
import pytest
from fastapi.responses import HTMLResponse
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api.app import create_app
from api.settings import AuthSettings, DatabaseSettings, Settings
from maps import assets
from maps.tiles import TileStyle, add_tile_layer
from tests.api.builders import QUANGANG, created, risk_unit_feature
from tests.maps.browser import Browser, require_chromium, serve_app
from tests.principals import TEST_SECRET, add_test_user, bearer

pytestmark = pytest.mark.browser
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "tiles"

# Paint what the tile canvases hold: pixels that are neither transparent nor the map's grey background.
COLOURED = """(() => {
    let n = 0;
    for (const c of document.querySelectorAll("canvas.leaflet-tile")) {
        const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
        for (let i = 0; i < d.length; i += 4) { if (d[i + 3] > 0 && d[i] > d[i + 2] + 40) { n++; } }
    }
    return {coloured: n, tiles: document.querySelectorAll("canvas.leaflet-tile").length};
})()"""


@pytest.fixture(scope="module")
def base_url(database_url: str, engine: Engine, boundaries: None) -> Iterator[str]:
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE risk_units, protection_targets, enterprises RESTART IDENTITY CASCADE"))
    settings = Settings(db=DatabaseSettings(DATABASE_URL=database_url), auth=AuthSettings(secret=TEST_SECRET))
    app = create_app(settings)
    app.state.engine = engine
    with TestClient(app, headers=bearer(add_test_user(engine, "admin"), "admin")) as admin:
        created(admin.post("/api/v1/risk-units", json=risk_unit_feature(at=QUANGANG, level=1, name="测试")))

    @app.get("/test-tiles", include_in_schema=False)
    def page() -> HTMLResponse:
        m = folium.Map(location=[25.0, 118.7], zoom_start=9, tiles=None)
        add_tile_layer(
            m,
            "/tiles/zones/{z}/{x}/{y}.pbf?adcode=350500",
            TileStyle("zones", "polygon", color_property="color", popup_fields=("name", "level")),
            name="四色分区",
        )
        assets.localise(m, settings.maps.asset_prefix)
        return HTMLResponse(m.get_root().render())

    with serve_app(app) as url:
        yield url
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE risk_units RESTART IDENTITY CASCADE"))


def test_tiled_zones_draw_under_the_csp(base_url: str) -> None:
    require_chromium()
    with Browser(window=(900, 700)) as browser:
        report = browser.open(
            f"{base_url}/test-tiles",
            wait_for="document.querySelectorAll('canvas.leaflet-tile-loaded').length > 0",
            evaluate=COLOURED,
            screenshot=ARTIFACTS / "zones.png",
            settle=1.0,
        )
    assert report.ready, (report.console_errors, report.failed)
    assert report.external_requests == []
    assert report.console_errors == []  # a CSP violation would be one
    assert any("/static/vendor/protomaps-leaflet/dist/protomaps-leaflet.js" in u for u in report.requests)
    assert any("/tiles/zones/" in u for u in report.requests)
    assert report.value["tiles"] > 0
    assert report.value["coloured"] > 1000, report.value  # 泉港区 has a level-1 (red) risk
