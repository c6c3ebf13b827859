"""The one map (风险一张图) of a jurisdiction, as the caller may see it: what each layer shows, fetched
once, and the map drawn from it (the page /map). Each role gets what it may see and nothing more:

- admins and the area's regulators: zones, boundaries, enterprises, risk units, protection targets,
  safety-distance problems, joint-prevention clusters and open hidden hazards;
- an enterprise user: the published zones, its own enterprise and risk units and its own open hazards;
- the public: the published map (zones and counts).

The page is bounded at any scale: a register layer above `maps.tiles.FEATURE_THRESHOLD` features is drawn
from the vector tiles (never read for the page), and the analyses (safety-distance violations,
joint-prevention clusters) are not run for the page at all: the browser fetches them after the map is
drawn, from their JSON API with the user's own credentials (`Overlay`), and says "loading" until they
answer. Above `ANALYSIS_MAX_UNITS` risk units (a province) they are not fetched: the page says so and
offers the children instead.
"""

from __future__ import annotations

import datetime as dt
import urllib.parse
from dataclasses import dataclass, field
from typing import Final

import folium
import geopandas as gpd
import shapely
from sqlalchemy import Connection

from api.settings import Settings
from api.usecases.four_colour import (
    FourColourParams,
    compute,
    enterprises_with_levels,
    resolve_zones,
    tiles,
    zones_zh,
)
from geo import hazards as hazard_rules
from geo.access import Principal, Role
from geo.closeout import today as beijing_today
from geo.hazards import Status
from geo.store import filed
from geo.store import hazards as hazard_store
from geo.store import repository as repo
from geo.store import safety_distance as safety_store
from geo.store.repository import get_jurisdiction_row, may_see_detail
from geo.store.summary import map_boundaries, map_risk_units
from maps.one_map import Overlay, one_map
from maps.tiles import FEATURE_THRESHOLD, use_tiles

MAX_HAZARDS = 20_000
ANALYSIS_MAX_UNITS: Final = 200_000
"""Above this many risk units in the jurisdiction (a province), the page does not fetch the analyses: the
violations of a province take about 15 s of the database and its clusters' answer tens of megabytes
(bench/results/one_map.md); the page asks for a city or county instead."""
DETAIL_MIN_ZOOM: int | None = 9
"""Above `ANALYSIS_MAX_UNITS` units the tiled units, enterprises and targets are drawn from this zoom in (a
city of the synthetic province fills the window at 9): at the province's whole view (zoom 7) 1,000,000
units are a smear of cells that says less than the zones, and their tiles were most of its first load (a
cold z7 unit tile 1.3 s; bench/results/one_map.md). The map and its layer control say so."""
DETAIL_LAYERS_ZH: Final = {"risk_units": "风险单元", "enterprises": "企业", "protection_targets": "防护目标"}
MAX_CHILD_LINKS: Final = 30
TARGETS_THRESHOLD: Final = 1000
"""Protection targets are tiled above this many (not `FEATURE_THRESHOLD`): they are outlines, about 200
bytes each inline — the demo city's 3,486 were 0.7 MB of its 1 MB page and as many SVG paths to draw."""


@dataclass
class OneMap:
    """Everything the one map shows, and what was left out and why (said on the page)."""

    adcode: str
    name: str
    zones_kind: str
    zones_label: str
    zones: gpd.GeoDataFrame
    boundaries: gpd.GeoDataFrame
    public: bool
    enterprises: gpd.GeoDataFrame | None = None
    risk_units: gpd.GeoDataFrame | None = None
    targets: gpd.GeoDataFrame | None = None
    hazards: gpd.GeoDataFrame | None = None
    unit_counts: dict[int, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    tiled: list[str] = field(default_factory=list)  # layers drawn from vector tiles (their frames not read)
    overlays: list[Overlay] = field(default_factory=list)  # analyses the browser fetches after the map
    detail_zoom: int | None = None  # the tiled units, enterprises and targets drawn from this zoom in


def _hazards_frame(
    conn: Connection, principal: Principal, adcode: str, as_of: dt.date, *, limit: int = MAX_HAZARDS
) -> gpd.GeoDataFrame:
    """Open hazards (the first `limit`; attrs["total"]: how many there are)."""
    rows, total = hazard_store.list_hazards(
        conn, principal, as_of=as_of, adcode=adcode, open_only=True, limit=limit
    )
    frame = gpd.GeoDataFrame(
        {
            "id": [r["id"] for r in rows],
            "description": [r["description"] for r in rows],
            "grade": [r["grade"] for r in rows],
            "status_zh": [hazard_rules.STATUS_ZH[Status(r["status"])] for r in rows],
            "overdue": [bool(r["overdue"] or r["evaluation_overdue"]) for r in rows],
        },
        geometry=[shapely.Point(r["lon"], r["lat"]) for r in rows],
        crs=4490,
    )
    frame.attrs["total"] = total
    return frame


def gather(
    conn: Connection,
    principal: Principal,
    adcode: str,
    settings: Settings,
    *,
    public: bool = False,
    as_of: dt.date | None = None,
) -> OneMap:
    """The one map's data for `adcode` as `principal` may see it (public=True: the published map)."""
    params = resolve_zones(conn, FourColourParams(adcode))  # the default zones, as the four-colour map's
    detail = not public and may_see_detail(conn, principal, adcode)
    zones = compute(conn, principal, params, settings)
    out = OneMap(
        adcode=adcode,
        name=get_jurisdiction_row(conn, adcode)["name"],
        zones_kind=params.zones,
        zones_label=zones_zh(params),
        zones=zones,
        boundaries=map_boundaries(conn, adcode),
        public=not detail and principal.role is not Role.enterprise,
    )
    # the legend's counts, each unit once (summary.level_counts's, found from the units' filing codes)
    counts = filed.unit_level_counts(conn, principal, adcode)
    out.unit_counts = {lv: int(counts[str(lv)]) for lv in (1, 2, 3, 4)}
    if params.zones != "children":
        out.notes.append(params.zones_reason_zh)
    today = as_of or beijing_today()
    if detail:
        _detail_layers(conn, principal, adcode, settings, out, today)
    elif not public and principal.role is Role.enterprise and principal.enterprise_id is not None:
        out.enterprises = _own(conn, principal, repo.ENTERPRISES, adcode)
        out.risk_units = _own(conn, principal, repo.RISK_UNITS, adcode)
        out.hazards = _hazards_frame(conn, principal, adcode, today)
        out.notes.append("企业用户：分区为公开版，只显示本企业及其风险点、隐患")
    return out


def _count(conn: Connection, principal: Principal, res: repo.Resource, adcode: str, threshold: int) -> int:
    """How many rows of `res` the principal sees in the jurisdiction (the data-access layer's scope), counted
    up to threshold + 1: enough for `use_tiles` to decide, without counting a province's 100,000."""
    return filed.count_upto(conn, principal, res, adcode, threshold + 1)


def _detail_layers(
    conn: Connection, principal: Principal, adcode: str, settings: Settings, out: OneMap, today: dt.date
) -> None:
    """What an admin or the area's regulator sees: each register layer inline when small, tiled when not;
    the analyses as overlays the browser fetches."""
    enterprises = _count(conn, principal, repo.ENTERPRISES, adcode, FEATURE_THRESHOLD)
    if use_tiles(enterprises) and settings.analysis.enterprise_level_rule == "max":
        out.tiled.append("enterprises")  # the tiles' level is the highest of the units' (就高); not read
    else:
        out.enterprises = enterprises_with_levels(conn, principal, adcode, settings)
    units = sum(out.unit_counts.values())
    if use_tiles(units):
        out.tiled.append("risk_units")  # every unit, from the tiles: the page stays small
    else:
        frame = map_risk_units(conn, principal, adcode)
        if len(frame) > settings.maps.max_risk_units:
            frame = map_risk_units(conn, principal, adcode, max_level=2)
            out.notes.append("风险单元较多：图上只画重大、较大风险单元")
        out.risk_units = frame
    if use_tiles(
        _count(conn, principal, repo.PROTECTION_TARGETS, adcode, TARGETS_THRESHOLD), TARGETS_THRESHOLD
    ):
        out.tiled.append("protection_targets")
    else:
        targets = safety_store.targets_in(conn, principal, adcode)
        out.targets = gpd.GeoDataFrame(targets, geometry="geometry", crs=4490)
    held = [zh for layer, zh in DETAIL_LAYERS_ZH.items() if layer in out.tiled]
    if DETAIL_MIN_ZOOM is not None and units > ANALYSIS_MAX_UNITS and held:
        out.detail_zoom = DETAIL_MIN_ZOOM
        out.notes.append(
            f"本辖区风险单元 {units:,} 个：{'、'.join(held)}放大至第 {DETAIL_MIN_ZOOM} 级（约一个市的范围）显示，"
            "全域视图只显示四色分区"
        )
    hazards = _hazards_frame(conn, principal, adcode, today, limit=FEATURE_THRESHOLD)
    if use_tiles(int(hazards.attrs["total"])):
        out.tiled.append("hazards")
    else:
        out.hazards = hazards
    out.overlays = analysis_overlays(adcode, units, out.boundaries)


def analysis_overlays(adcode: str, units: int, boundaries: gpd.GeoDataFrame) -> list[Overlay]:
    """The safety-distance violations and the joint-prevention clusters of `adcode`, as the URLs of their
    JSON API (the same answers as /api/v1/analysis/…, scoped by the caller's own credentials), or, above
    `ANALYSIS_MAX_UNITS` units, refused with the children to choose from."""
    query = urllib.parse.urlencode({"adcode": adcode})
    made = (
        ("violations", "安全防护距离问题", f"/api/v1/analysis/safety-distance?{query}"),
        ("clusters", "联防联控组", f"/api/v1/analysis/joint-prevention?{query}"),
    )
    if units <= ANALYSIS_MAX_UNITS:
        return [Overlay(key, name, url) for key, name, url in made]
    children = [
        (str(r["name"]), "/map?" + urllib.parse.urlencode({"adcode": r["adcode"]}))
        for r in boundaries.to_dict("records")
        if str(r["adcode"]) != adcode
    ][:MAX_CHILD_LINKS]
    refused = (
        f"本辖区风险单元 {units:,} 个，超过一张图分析上限 {ANALYSIS_MAX_UNITS:,} 个，未计算——"
        "请选择下级行政区（市、县）查看"
    )
    return [Overlay(key, name, None, refused=refused, children=children) for key, name, _ in made]


def _own(conn: Connection, principal: Principal, res: repo.Resource, adcode: str) -> gpd.GeoDataFrame:
    """An enterprise user's own rows of `res` in the jurisdiction (the data-access layer keeps the scope)."""
    page = repo.list_features(conn, principal, res, adcode=adcode, limit=10_000)
    rows = [{k: v for k, v in r.items() if k != "geometry"} for r in page.rows]
    return gpd.GeoDataFrame(rows, geometry=[r["geometry"] for r in page.rows], crs=4490)


def draw(data: OneMap, settings: Settings) -> folium.Map:
    return one_map(
        data.zones,
        boundaries=data.boundaries,
        enterprises=data.enterprises,
        risk_units=data.risk_units,
        targets=data.targets,
        hazards=data.hazards,
        public=data.public,
        palette=settings.maps.palette_map(),
        title=f"{data.name}安全风险一张图",
        tiles=tiles(settings),
        asset_prefix=settings.maps.asset_prefix,
        unit_counts=data.unit_counts,
        zone_labels=data.zones_kind == "children",
        tiled=data.tiled,
        tiles_adcode=data.adcode,
        overlays=data.overlays,
        detail_zoom=data.detail_zoom,
        detail_reason=f"本辖区风险单元 {sum(data.unit_counts.values()):,} 个，全域视图只显示四色分区",
    )
