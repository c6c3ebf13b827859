"""The one map (风险一张图) of a jurisdiction, as the caller may see it: what each layer shows, fetched
once, and the map drawn from it. The page (/map) and the command line call this; each role gets what it
may see and nothing more:

- admins and the area's regulators: zones, boundaries, enterprises, risk units, protection targets,
  safety-distance problems, joint-prevention clusters and open hidden hazards;
- an enterprise user: the published zones, its own enterprise and risk units and its own open hazards;
- the public: the published map (zones and counts).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import folium
import geopandas as gpd
import pandas as pd
import shapely
from sqlalchemy import Connection

from api.settings import Settings
from api.usecases import joint_prevention as jp
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
from geo.store import hazards as hazard_store
from geo.store import repository as repo
from geo.store import safety_distance as safety_store
from geo.store.repository import get_jurisdiction_row, may_see_detail
from geo.store.summary import map_boundaries, map_risk_units
from geo.store.summary import summary as register_summary
from maps.one_map import one_map
from maps.tiles import use_tiles

MAX_HAZARDS = 20_000


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
    violations: pd.DataFrame | None = None
    clusters: gpd.GeoDataFrame | None = None
    hazards: gpd.GeoDataFrame | None = None
    unit_counts: dict[int, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    tiled: list[str] = field(default_factory=list)  # layers drawn from vector tiles (their frames not read)


def _hazards_frame(conn: Connection, principal: Principal, adcode: str, as_of: dt.date) -> gpd.GeoDataFrame:
    rows, total = hazard_store.list_hazards(
        conn, principal, as_of=as_of, adcode=adcode, open_only=True, limit=MAX_HAZARDS
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
    counted = register_summary(conn, principal, adcode, overdue_limit=0)
    out.unit_counts = {int(k): v for k, v in counted["counts"].items()}
    if params.zones != "children":
        out.notes.append(params.zones_reason_zh)
    today = as_of or beijing_today()
    if detail:
        if use_tiles(int(counted["enterprises"])) and settings.analysis.enterprise_level_rule == "max":
            out.tiled.append("enterprises")  # the tiles' level is the highest of the units' (就高); not read
        else:
            out.enterprises = enterprises_with_levels(conn, principal, adcode, settings)
        if use_tiles(sum(out.unit_counts.values())):
            out.tiled.append("risk_units")  # every unit, from the tiles: the page stays small
        else:
            units = map_risk_units(conn, principal, adcode)
            if len(units) > settings.maps.max_risk_units:
                units = map_risk_units(conn, principal, adcode, max_level=2)
                out.notes.append("风险单元较多：图上只画重大、较大风险单元")
            out.risk_units = units
        targets = safety_store.targets_in(conn, principal, adcode)
        out.targets = gpd.GeoDataFrame(targets, geometry="geometry", crs=4490)
        report = safety_store.violations_sql(conn, principal, adcode, advice=False)  # lines only
        found = report.violations.copy()
        found["status"] = [
            "veto" if str(b) == "consultation_inner" else "violation" for b in found.get("basis", [])
        ]
        out.violations = found
        result = jp.find_clusters(conn, principal, jp.cluster_params(adcode), settings)
        out.clusters = gpd.GeoDataFrame(
            {
                "id": [c.id for c in result.clusters],
                "member_count": [len(c.members) for c in result.clusters],
                "level": [c.level or 0 for c in result.clusters],
            },
            geometry=[c.hull for c in result.clusters],
            crs=4490,
        )
        out.hazards = _hazards_frame(conn, principal, adcode, today)
    elif not public and principal.role is Role.enterprise and principal.enterprise_id is not None:
        out.enterprises = _own(conn, principal, repo.ENTERPRISES, adcode)
        out.risk_units = _own(conn, principal, repo.RISK_UNITS, adcode)
        out.hazards = _hazards_frame(conn, principal, adcode, today)
        out.notes.append("企业用户：分区为公开版，只显示本企业及其风险点、隐患")
    return out


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
        violations=data.violations,
        clusters=data.clusters,
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
    )
