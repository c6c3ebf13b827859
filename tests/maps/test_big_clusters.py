"""Readable clusters on the joint-prevention map: a cluster of more than BIG_CLUSTER_MEMBERS members (a whole
park) is drawn closed — its hull and a count label — and opens into its members and 交叉互查 arrows on zoom
(OPEN_ZOOM) or on a click; small clusters are drawn as before. The renderer on hand-made frames, then the
served map in headless Chromium (screenshots in artifacts/maps/joint_prevention_big_*.png)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import geopandas as gpd
import pytest
from shapely.geometry import LineString, MultiPoint, Point
from sqlalchemy import Engine

from api.settings import DatabaseSettings, Settings
from geo.store.engine import make_engine
from maps.joint_prevention import BIG_CLUSTER_MEMBERS, OPEN_ZOOM, joint_prevention_map
from tests.maps.browser import Browser, require_chromium, serve_app
from tests.maps.frames import ARTIFACTS
from tests.store import test_clusters as layouts

P = layouts.QUANGANG
BIG = BIG_CLUSTER_MEMBERS + 5  # 30 members: drawn closed


def _grid(n: int, origin: tuple[float, float], step_m: float = 150.0) -> list[tuple[float, float]]:
    """n points on a grid of 6 columns, step_m apart, starting at origin and running east and south."""
    return [
        layouts.offset(layouts.offset(origin, 90, step_m * (i % 6)), 180, step_m * (i // 6)) for i in range(n)
    ]


def _frames(
    big: int = BIG, name: str = "乙化工"
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """A big cluster (id 7) of `big` members in a cycle of checks, and a small one (id 8) of three."""
    big_pts = _grid(big, P)
    small_pts = _grid(3, layouts.offset(P, 270, 3000))
    clusters = gpd.GeoDataFrame(
        {
            "id": [7, 8],
            "level": [1, 3],
            "member_count": [big, 3],
            "cross_region": [False, False],
            "name_zh": [f"组团 7（{big} 家）", "组团 8（3 家）"],
        },
        geometry=[
            MultiPoint(big_pts).convex_hull.buffer(0.001),
            MultiPoint(small_pts).convex_hull.buffer(0.001),
        ],
        crs=4490,
    )
    ids = list(range(1, big + 4))
    cluster_of = [7] * big + [8] * 3
    members = gpd.GeoDataFrame(
        {
            "id": ids,
            "name": [f"{name}{i}" for i in ids],
            "level": [1 + i % 4 for i in ids],
            "cluster_id": cluster_of,
        },
        geometry=[Point(p) for p in big_pts + small_pts],
        crs=4490,
    )
    rows, lines = [], []
    for group in (ids[:big], ids[big:]):
        for a, b in zip(group, group[1:] + group[:1], strict=True):
            pa, pb = (big_pts + small_pts)[a - 1], (big_pts + small_pts)[b - 1]
            rows.append(
                {
                    "cluster_id": cluster_of[a - 1],
                    "inspector": f"{name}{a}",
                    "inspected": f"{name}{b}",
                    "inspector_id": a,
                    "inspected_id": b,
                }
            )
            lines.append(LineString([pa, pb]))
    return clusters, members, gpd.GeoDataFrame(rows, geometry=lines, crs=4490)


def _render(clusters: gpd.GeoDataFrame, members: gpd.GeoDataFrame, checks: gpd.GeoDataFrame) -> str:
    """The page with JSON's \\uXXXX escapes read back, so that Chinese text can be looked for."""
    page = joint_prevention_map(clusters, members=members, checks=checks).get_root().render()
    return re.sub(r"\\u([0-9a-fA-F]{4})", lambda match: chr(int(match.group(1), 16)), page)


def _opener_data(page: str) -> dict[str, Any]:
    found = re.search(r'\}, (\{"open_zoom":.*?\})\);\n', page)
    assert found, "the opener script's data"
    return dict(json.loads(found.group(1)))


def test_a_big_cluster_is_drawn_closed_with_its_count_and_a_small_one_as_before() -> None:
    clusters, members, checks = _frames()
    page = _render(clusters, members, checks)
    data = _opener_data(page)
    assert data["open_zoom"] == OPEN_ZOOM
    (big,) = data["clusters"]  # only the big cluster gets a label
    assert big["id"] == 7
    assert big["label"] == f"{BIG} 家"
    assert f"交叉互查 {BIG} 条" in big["title"]
    (south, west), (north, east) = big["bounds"]
    lat, lon = big["point"]
    assert south <= lat <= north
    assert west <= lon <= east
    assert clusters.geometry[0].contains(Point(lon, lat))  # the label sits inside the hull
    # Its members and checks are in a group that starts off the map and out of the layer control.
    assert len(re.findall(r"L\.featureGroup\(", page)) == 2  # the 交叉互查 overlay and the big cluster
    assert "rm-jp-faint" in page  # its arrows, faint until a member is picked
    assert f"大组团（超过 {BIG_CLUSTER_MEMBERS} 家，1 个）" in page


def test_without_member_counts_the_members_are_counted() -> None:
    clusters, members, checks = _frames()
    page = _render(clusters.drop(columns=["member_count"]), members, checks)
    assert [c["label"] for c in _opener_data(page)["clusters"]] == [f"{BIG} 家"]


def test_clusters_at_the_threshold_stay_open() -> None:
    clusters, members, checks = _frames(big=BIG_CLUSTER_MEMBERS)
    page = _render(clusters, members, checks)
    assert "open_zoom" not in page
    assert "大组团" not in page


def test_names_reach_the_opener_as_script_json() -> None:
    """The opener's data is JSON safe inside <script> (geo.escape.script_json): no markup or script end in it;
    member names stay in the folium layers, escaped as before."""
    clusters, members, checks = _frames(name="</script><img src=x onerror=alert(1)>")
    raw = joint_prevention_map(clusters, members=members, checks=checks).get_root().render()
    assert "<img src=x" not in raw
    assert "</script><img" not in raw
    assert "&lt;/script&gt;&lt;img src=x" in _render(clusters, members, checks)  # shown as text


# --- in the browser -----------------------------------------------------------------------------------------


@pytest.fixture
def app_with_park(database_url: str, engine: Engine, boundaries: None, clean: None) -> Iterator[Any]:
    """A park of 30 chemical plants 150 m apart (one cluster) and a pair of textile mills 6 km west."""
    from api.app import create_app
    from api.auth import current_principal
    from geo.access import SYSTEM

    reg = layouts.Register(engine)
    for i, at in enumerate(_grid(BIG, P)):
        reg.enterprise(at, layouts.PLANT, levels=[1 + i % 4])
    west = layouts.offset(P, 270, 6000)
    reg.enterprise(west, layouts.TEXTILE, levels=[3])
    reg.enterprise(layouts.offset(west, 0, 200), layouts.TEXTILE, levels=[4])
    reg.save()
    app = create_app(Settings(db=DatabaseSettings(DATABASE_URL=database_url)))
    app.state.engine = make_engine(database_url)  # serve_app runs without the lifespan that makes it
    app.dependency_overrides[current_principal] = lambda: SYSTEM
    yield app
    app.state.engine.dispose()


_MAP = "Object.values(window).find((v) => v instanceof L.Map)"
_READY = "window.L && document.querySelector('.rm-jp-hull') && document.querySelector('.rm-jp-count-text')"
_COUNTS = f"""
const counts = () => {{
  const map = {_MAP};
  return {{
    zoom: map.getZoom(),
    open: map.getContainer().getAttribute("data-open-clusters"),
    hulls: document.querySelectorAll("path.rm-jp-hull").length,
    labels: [...document.querySelectorAll(".rm-jp-count-text")].map((e) => e.textContent),
    members: document.querySelectorAll("path.rm-jp-member").length,
    checks: document.querySelectorAll("path.rm-jp-check").length,
    faint: document.querySelectorAll("path.rm-jp-check.rm-jp-faint").length,
    picked: document.querySelectorAll("path.rm-jp-picked").length,
  }};
}};
const settle = (map) => new Promise((done) => {{
  let timer = setTimeout(done, 1500);
  map.once("moveend", () => {{ clearTimeout(timer); setTimeout(done, 100); }});
}});
"""
# At the first view; zoomed in to OPEN_ZOOM on the park; back out; then the label clicked; a member picked.
_STEPS = (
    "(async () => {"
    + _COUNTS
    + f"""
  const map = {_MAP};
  const first = counts();
  const hull = [...document.querySelectorAll(".rm-jp-count-text")][0];
  let park = null;
  map.eachLayer((l) => {{ const p = l.feature && l.feature.properties;
    if (p && p.member_count > {BIG_CLUSTER_MEMBERS} && l.getBounds) {{ park = l.getBounds(); }} }});
  let wait = settle(map); map.setView(park.getCenter(), {OPEN_ZOOM}, {{animate: false}}); await wait;
  const zoomed = counts();
  wait = settle(map); map.setView(park.getCenter(), first.zoom, {{animate: false}}); await wait;
  const back = counts();
  wait = settle(map); document.querySelector(".rm-jp-count-text").click(); await wait;
  const clicked = counts();
  let member = null;
  map.eachLayer((l) => {{ const p = l.feature && l.feature.properties;
    if (!member && p && p.cluster_id !== undefined && p.name && l.getLatLng) {{ member = l; }} }});
  member.fire("click", {{latlng: member.getLatLng()}}, true);
  const picked = counts();
  return {{first, zoomed, back, clicked, picked, hull: !!hull}};
}})()"""
)
# For the screenshot of the park opened: click its label, then wait until the map has flown there.
_OPENED = (
    f"(() => {{ const map = window.L && {_MAP}; if (!map) return false;"
    " if (!window.__rmClicked) { const t = document.querySelector('.rm-jp-count-text'); if (!t) return false;"
    " t.click(); window.__rmClicked = true; return false; }"
    " return map.getContainer().getAttribute('data-open-clusters') !== ''"
    " && !document.querySelector('.leaflet-zoom-anim'); })()"
)


@pytest.mark.browser
def test_the_park_opens_on_zoom_and_on_click_in_chromium(app_with_park: Any) -> None:
    require_chromium()
    closed, opened = (
        ARTIFACTS / "joint_prevention_big_closed.png",
        ARTIFACTS / "joint_prevention_big_open.png",
    )
    url = "/maps/joint-prevention?adcode=350505&seed=1"
    with serve_app(app_with_park) as base_url, Browser(window=(1200, 900)) as browser:
        report = browser.open(base_url + url, wait_for=_READY, evaluate=_STEPS, screenshot=closed, timeout=60)
        shown = browser.open(base_url + url, wait_for=_OPENED, screenshot=opened, timeout=60)
    assert report.ready, report.console_errors
    assert shown.ready, shown.console_errors
    state = report.value
    first, zoomed, back, clicked, picked = (
        state[k] for k in ("first", "zoomed", "back", "clicked", "picked")
    )
    # At the first view: the park is one hull with its count; only the small pair's members and checks drawn.
    assert first["zoom"] < OPEN_ZOOM
    assert first["hulls"] == 2
    assert first["labels"] == [f"{BIG} 家"]
    assert first["open"] == ""
    assert first["members"] == 2
    assert first["checks"] == 2
    # Zoomed in to OPEN_ZOOM: the park's members and its (faint) checks, the label gone.
    assert zoomed["zoom"] == OPEN_ZOOM
    assert zoomed["open"] != ""
    assert zoomed["labels"] == []
    assert zoomed["members"] >= BIG  # the pair may be out of view, still drawn
    assert zoomed["faint"] == BIG
    # Back out: closed again.
    assert back["open"] == ""
    assert back["labels"] == [f"{BIG} 家"]
    assert back["members"] == 2
    # Clicked: open, zoomed in to it.
    assert clicked["open"] != ""
    assert clicked["members"] == BIG + 2
    assert clicked["zoom"] > first["zoom"]
    # A member picked: its two checks (the line and arrowhead of each) stand out.
    assert picked["picked"] == 4
    assert report.external_requests == []
    assert shown.external_requests == []
    assert [e for e in report.console_errors + shown.console_errors if "favicon" not in e] == []
    assert closed.stat().st_size > 20_000
    assert opened.stat().st_size > 20_000
