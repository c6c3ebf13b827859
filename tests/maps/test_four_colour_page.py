"""The four-colour map a government publishes, on the demo register (issue 15): the default request answers
for a county without townships (API, page, print, command line) and says which zones it used and why; the
demo city's districts are told apart by the density rule; every zone says why it has its colour (the deciding
units named for internal roles only); the web map names its zones and shows open hazards to internal roles;
and the API, the summary, both legends and the white paper count the same units the same way."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from api.app import create_app
from api.auth import current_principal
from api.cli import app as cli
from api.settings import AuthSettings, DatabaseSettings, Settings
from api.usecases import white_paper
from api.usecases.four_colour import default_cell_m
from geo.access import SYSTEM
from geo.store.demo import load_demo
from geo.store.repository import clear_synthetic
from tests.api.builders import guarded
from tests.maps.browser import Browser, require_chromium, serve_app
from tests.maps.frames import ARTIFACTS
from tests.principals import TEST_SECRET, add_test_user, bearer
from tests.worlds import empty_register

FOUR = "/api/v1/analysis/four-color"
COUNTY, CITY = "350505", "350500"  # 泉港区 has no townships loaded; 泉州市 has its 12 districts


@pytest.fixture(scope="module")
def demo(engine: Engine, boundaries: None) -> Iterator[None]:
    """The demo register as `riskmap demo` loads it (full size: the density breaks are set on it)."""
    empty_register(engine)
    load_demo(engine, echo=lambda _: None)
    yield
    with engine.begin() as conn:
        clear_synthetic(conn)


@pytest.fixture(scope="module")
def settings(database_url: str) -> Settings:
    return Settings(db=DatabaseSettings(DATABASE_URL=database_url), auth=AuthSettings(secret=TEST_SECRET))


@pytest.fixture(scope="module")
def admin(settings: Settings, engine: Engine, demo: None) -> Iterator[Any]:
    headers = bearer(add_test_user(engine, "admin"), "admin")
    with TestClient(create_app(settings), headers=headers) as c:
        yield guarded(c)


@pytest.fixture(scope="module")
def public(settings: Settings, demo: None) -> Iterator[Any]:
    with TestClient(create_app(settings)) as c:
        yield guarded(c)


def ok(response: Any) -> Any:
    assert response.status_code == 200, response.text[:500]
    return response


def legend(page: str) -> tuple[dict[str, int], dict[str, int], str]:
    """(zones per level, units per level, the whole legend HTML) of a four-colour page: the legend is a
    JSON string in the page's script."""
    found = re.search(r"div\.innerHTML = (\".*?\");\n", page)
    assert found, "the page has a legend"
    html = json.loads(found.group(1))
    zones, units = {}, {}
    for level, z, u in re.findall(
        r'data-level="(\w+)">.*?<td class="rm-n">(\d+)</td><td class="rm-n">([\d—]+)</td>', html
    ):
        zones[level] = int(z)
        if u != "—":
            units[level] = int(u)
    return zones, units, html


# --- 1. defaults that inform -------------------------------------------------------------------------------


def test_the_default_request_for_a_county_without_townships_is_answered(
    admin: Any, public: Any, database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for client in (admin, public):
        body = ok(client.get(FOUR, params={"adcode": COUNTY})).json()
        used = body["zones_used"]
        assert (body["zones"], used["kind"], used["default"]) == ("grid", "grid", True)
        assert 1000 <= used["cell_m"] <= 10_000  # never finer than the public may see
        assert "no child jurisdictions" in used["reason"]
        assert "未导入下级行政区划" in used["reason_zh"]
        assert body["numberReturned"] == len(body["features"]) > 20
        assert sum(f["properties"]["unit_count"] for f in body["features"]) > 0

    page = ok(admin.get("/maps/four-color", params={"adcode": COUNTY})).text
    _, _, html = legend(page)
    assert "未导入下级行政区划" in html  # the legend says which zones and why
    png = ok(admin.get("/maps/four-color.png", params={"adcode": COUNTY}))
    assert png.headers["content-type"] == "image/png"
    assert png.content.startswith(b"\x89PNG")
    assert ok(public.get("/maps/four-color.pdf", params={"adcode": COUNTY})).content.startswith(b"%PDF")

    monkeypatch.setenv("DATABASE_URL", database_url)
    out = tmp_path / "county.png"
    done = CliRunner().invoke(cli, ["map", "four-color", "--adcode", COUNTY, "-o", str(out)])
    assert done.exit_code == 0, done.output
    assert out.read_bytes().startswith(b"\x89PNG")
    assert "no child jurisdictions are loaded" in done.output


@pytest.mark.parametrize(
    ("area_km2", "cell_m"),
    [(0.5, 1000), (312, 1500), (3_000, 4500), (40_000, 16_500), (1_000_000, 50_000), (None, 1000)],
)
def test_the_default_cell_suits_the_area(area_km2: float | None, cell_m: float) -> None:
    """About a dozen cells across, never finer than the public may see nor coarser than cell_m allows."""
    assert default_cell_m(area_km2 * 1e6 if area_km2 else None) == cell_m


def test_the_city_defaults_to_its_districts_and_says_so(admin: Any) -> None:
    body = ok(admin.get(FOUR, params={"adcode": CITY})).json()
    assert body["zones_used"]["kind"] == "children"
    assert body["zones_used"]["reason_zh"] == "默认：按已导入的 12 个下级行政区分区"
    asked = ok(admin.get(FOUR, params={"adcode": CITY, "zones": "children"})).json()["zones_used"]
    assert asked["default"] is False
    # A county's children asked for explicitly, when none are loaded, is still a clear 422.
    assert admin.get(FOUR, params={"adcode": COUNTY, "zones": "children"}).status_code == 422


# --- 4. the density rule --------------------------------------------------------------------------------------


def test_the_density_rule_tells_the_demo_citys_districts_apart(admin: Any) -> None:
    levels = {}
    for rule in ("max", "weighted", "density"):
        body = ok(admin.get(FOUR, params={"adcode": CITY, "rule": rule})).json()
        levels[rule] = {
            f["properties"]["name"]: f["properties"]["level"]
            for f in body["features"]
            if f["properties"]["unit_count"]
        }
    assert len(levels["max"]) == 11
    assert set(levels["max"].values()) == set(levels["weighted"].values()) == {1}  # the issue's complaint
    assert len(set(levels["density"].values())) >= 3
    assert levels["density"]["鲤城区"] == 1  # the dense old town
    assert levels["density"]["安溪县"] == 4  # the big mountain county


# --- 3. why each zone has its colour --------------------------------------------------------------------------


def test_every_zone_says_why_and_only_internal_roles_get_the_deciding_units(
    admin: Any, public: Any, engine: Engine
) -> None:
    inside = ok(admin.get(FOUR, params={"adcode": CITY})).json()["features"]
    outside = ok(public.get(FOUR, params={"adcode": CITY})).json()["features"]
    with engine.connect() as conn:
        names = {r[0]: (r[1], r[2]) for r in conn.execute(text("SELECT id, level, name FROM risk_units"))}
    for f, g in zip(inside, outside, strict=True):
        p, q = f["properties"], g["properties"]
        assert p["why"]["text_zh"]
        if p["level"] is None:
            assert "deciding_units" not in p["why"]
            continue
        level = p["level"]
        assert p["why"]["deciding_level"] == level
        assert p["why"]["deciding_count"] == p["counts"][str(level)]
        deciding = p["why"]["deciding_units"]
        assert 1 <= len(deciding["ids"]) <= 5
        # units filed across the city's border count but are not named
        assert len(deciding["ids"]) + deciding["more"] <= p["why"]["deciding_count"]
        for ident, label in zip(deciding["ids"], deciding["names"], strict=True):
            assert names[ident][0] == level
            assert label.startswith(names[ident][1])
        # the public answer: the same figures, no unit or enterprise named
        assert "deciding_units" not in q["why"]
        assert {k: v for k, v in p["why"].items() if k != "deciding_units"} == q["why"]
        assert not any(label in json.dumps(g, ensure_ascii=False) for label in deciding["names"])


def test_weighted_and_density_zones_give_their_index_and_break(admin: Any) -> None:
    for rule, first_break in (("weighted", 100.0), ("density", 60.0)):
        for f in ok(admin.get(FOUR, params={"adcode": CITY, "rule": rule})).json()["features"]:
            why = f["properties"]["why"]
            if f["properties"]["level"] == 1:
                assert why["index"] >= why["break"] == first_break
            if rule == "density" and f["properties"]["level"]:
                assert why["index"] == pytest.approx(why["weighted_units"] / why["area_km2"], rel=1e-3)


# --- 5. one set of numbers ------------------------------------------------------------------------------------


def test_the_api_summary_legends_and_white_paper_count_alike(
    admin: Any, engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    import maps.print

    printed: dict[str, Any] = {}
    draw_legend = maps.print._legend

    def spy(ax: Any, palette: Any, zone_counts: Any, unit_counts: Any, *rest: Any) -> None:
        printed["zones"], printed["units"] = dict(zone_counts), dict(unit_counts)
        draw_legend(ax, palette, zone_counts, unit_counts, *rest)

    monkeypatch.setattr(maps.print, "_legend", spy)
    for adcode in (CITY, COUNTY):
        body = ok(admin.get(FOUR, params={"adcode": adcode})).json()
        api_units = {int(k): v for k, v in body["unit_counts"].items()}
        api_zones = {int(k): v for k, v in body["zone_counts"].items() if k != "none"}
        summary = ok(admin.get("/api/v1/analysis/summary", params={"adcode": adcode})).json()
        assert api_units == {int(k): v for k, v in summary["counts"].items()}
        assert sum(api_units.values()) == summary["risk_units"] > 0

        web_zones, web_units, html = legend(ok(admin.get("/maps/four-color", params={"adcode": adcode})).text)
        assert {int(k): v for k, v in web_units.items()} == api_units
        assert {int(k): v for k, v in web_zones.items() if k != "none"} == api_zones
        assert "每个计一次" in html  # the legend says what is counted

        ok(admin.get("/maps/four-color.png", params={"adcode": adcode}))
        assert printed["units"] == api_units
        assert {k: v for k, v in printed["zones"].items() if k is not None} == api_zones

        today = dt.date.today()
        paper = white_paper.gather(
            engine, SYSTEM, adcode, white_paper.parse_period(today.strftime("%Y-%m")), settings, public=False
        )
        assert paper.counts == api_units
        if body["zones"] == "children":  # the paper's zone table is the map's zones, counted alike
            assert [(z, n, c) for z, _, n, c in paper.by_zone] == [
                (
                    f["properties"]["name"],
                    f["properties"]["unit_count"],
                    {int(k): v for k, v in f["properties"]["counts"].items()},
                )
                for f in body["features"]
            ]


# --- 2 and 6. labels, popups and the hazard layer --------------------------------------------------------------


def has(page: str, value: str) -> bool:
    """Whether the page holds the text as written or as JSON with \\u escapes (the layers' names)."""
    return value in page or json.dumps(value)[1:-1] in page


def test_the_page_names_its_zones_and_shows_open_hazards_to_internal_roles(admin: Any, public: Any) -> None:
    city = ok(admin.get("/maps/four-color", params={"adcode": CITY})).text
    assert has(city, "区域名称")  # the labels layer
    assert has(city, "鲤城区")
    assert has(city, "未销号隐患（黑框：逾期）")  # the layer of open hidden hazards
    assert "决定颜色的风险单元" in city  # the popup's line
    dynamic = ok(admin.get("/maps/four-color", params={"adcode": COUNTY, "levels": "dynamic"})).text
    _, _, html = legend(dynamic)
    assert "动态等级" in html
    published = ok(public.get("/maps/four-color", params={"adcode": CITY, "public": "true"})).text
    assert has(published, "区域名称")
    assert not has(published, "未销号隐患（黑框：逾期）")
    assert '"deciding_units"' not in published


@pytest.mark.browser
def test_labels_and_the_why_popup_in_chromium(settings: Settings, engine: Engine, demo: None) -> None:
    require_chromium()
    app = create_app(settings)
    app.state.engine = engine  # serve_app runs the app without the lifespan that would make one
    app.dependency_overrides[current_principal] = lambda: SYSTEM
    click = (
        "(function () { var p = document.querySelector('path[data-zone=\"350505\"]');"
        " if (p && !document.querySelector('.leaflet-popup')) {"
        "   p.dispatchEvent(new MouseEvent('click', {bubbles: true, clientX: 700, clientY: 500})); }"
        " return document.querySelector('.leaflet-popup'); })()"
    )
    with serve_app(app) as base, Browser(window=(1400, 1000)) as browser:
        report = browser.open(
            f"{base}/maps/four-color?adcode={CITY}&rule=density",
            wait_for=click,
            screenshot=ARTIFACTS / "four_colour_city_density.png",
            evaluate="({labels: Array.from(document.querySelectorAll('.rm-label span')).map(function (s) {"
            " return s.textContent; }), popup: document.querySelector('.leaflet-popup').innerText})",
            timeout=120,
        )
    assert report.ready
    assert report.console_errors == []
    assert report.external_requests == []
    assert {"鲤城区", "泉港区", "安溪县"} <= set(report.value["labels"])
    assert "为何为此颜色" in report.value["popup"]
    assert "风险密度 D = " in report.value["popup"]
    assert "决定颜色的风险单元" not in report.value["popup"]  # only the 就高 rule names them
