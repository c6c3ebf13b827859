"""Joint prevention (联防联控) routes: co-location clusters, cross-inspection (交叉互查, 异地交叉检查), the 双随机
inspection plan (JSON, CSV, Excel), neighbour notices, key targets, and the joint-prevention map. Each route
parses its parameters, calls its use case (api/usecases/joint_prevention.py, inspection_plan.py) and formats
the result."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse

from api.auth import PrincipalDep
from api.compression import accepts_gzip
from api.deps import EngineDep, SettingsDep
from api.features import GEOJSON
from api.schemas import (
    BINARY_OF,
    GEOJSON_COLLECTION,
    CrossInspectionPlan,
    InspectionPlan,
    KeyTargets,
    NeighbourNotices,
)
from api.usecases import joint_prevention as jp
from api.usecases.four_colour import tiles
from api.usecases.inspection_plan import Plan, check_sheet, draw_inspection_plan, plan_sheets, self_sheet
from api.usecases.joint_prevention import TRADES, ClusterParams, CrossInspection, choice
from geo.errors import InvalidInput
from geo.geometry import to_geojson
from geo.io.streaming import csv_chunks, gzip_chunks, xlsx_chunks
from geo.io.writers import MEDIA_TYPES
from geo.joint_prevention import (
    DEFAULT_DISTANCE_M,
    KEY_TARGET_SCORE,
    Cluster,
    Inspector,
    Team,
    inspection_frequencies,
    parse_period,
)
from geo.store import joint_prevention as store
from geo.vocab import LEVEL_NAMES_ZH
from maps.joint_prevention import joint_prevention_map

analysis = APIRouter(prefix="/api/v1/analysis", tags=["joint prevention"])
maps = APIRouter(prefix="/maps", tags=["maps"])


# --- parameters ---------------------------------------------------------------------------------------------


def cluster_params(
    adcode: Annotated[str, Query(description="行政区划代码", examples=["350505"])],
    distance_m: Annotated[
        float, Query(description="link distance in metres between sites (0 < d ≤ 10,000)")
    ] = DEFAULT_DISTANCE_M,
    sector: Annotated[
        str | None, Query(description="only clusters with a member of this sector (code or 中文名)")
    ] = None,
    trades: Annotated[str, Query(description="; ".join(f"{k}: {v}" for k, v in TRADES.items()))] = "similar",
    method: Annotated[
        str, Query(description="; ".join(f"{k}: {v}" for k, v in store.METHODS.items()))
    ] = "auto",
    neighbours: Annotated[
        bool, Query(description="include enterprises across the border within distance_m (跨区域联防)")
    ] = True,
) -> ClusterParams:
    return jp.cluster_params(adcode, distance_m, sector, trades, method, neighbours)


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _respond(body: dict[str, Any], media_type: str = "application/json") -> Response:
    """A JSON response written by json.dumps (jsonable_encoder takes seconds on a city's payload)."""
    text = json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=_json_default)
    return Response(text.encode("utf-8"), media_type=media_type)


ClusterDep = Annotated[ClusterParams, Depends(cluster_params)]
SeedDep = Annotated[int, Query(ge=0, le=2**63 - 1, description="random seed: one seed, one plan")]


def _level_name(level: int | None) -> str | None:
    return LEVEL_NAMES_ZH.get(level) if level else None


# --- 1. clusters --------------------------------------------------------------------------------------------


def _cluster_feature(c: Cluster, palette: dict[int, str], names: dict[str, str]) -> dict[str, Any]:
    return {
        "type": "Feature",
        "id": c.id,
        "geometry": to_geojson(c.hull) if c.hull is not None else None,
        "properties": {
            "id": c.id,
            "key": c.key,
            "level": c.level,
            "level_name": _level_name(c.level),
            "color": palette.get(c.level) if c.level else None,
            "member_count": len(c.members),
            "counts": c.counts,
            "unit_counts": c.unit_counts,
            "sectors": [{"code": s, "name": names.get(s, s)} for s in c.sectors],
            "business_types": list(c.business_types),
            "cross_region": c.cross_region,
            "jurisdictions": [{"adcode": a, "name": n} for a, n in c.jurisdictions],
            "members": [
                {
                    "id": m.id,
                    "name": m.name,
                    "credit_code": m.credit_code,
                    "sector": m.sector,
                    "business_type": m.business_type,
                    "level": m.level,
                    "jurisdiction_adcode": m.jurisdiction_adcode,
                    "inside": m.inside,
                }
                for m in c.members
            ],
        },
    }


@analysis.get(
    "/joint-prevention",
    summary="Joint-prevention clusters (联防联控组团): co-located enterprises of similar trades",
    **GEOJSON_COLLECTION,
)
def joint_prevention(
    params: ClusterDep, engine: EngineDep, settings: SettingsDep, principal: PrincipalDep
) -> Response:
    """Enterprises are linked when their sites (boundary polygon, else point) are within `distance_m`
    metres, measured in the jurisdiction's CGCS2000 3° Gauss–Krüger zone, and their trades are similar
    (`trades`); clusters are the connected components of the links (single linkage) with 2 or more
    members and one inside the jurisdiction. Each feature is a cluster: its hull (convex hull of the sites,
    widened 30 m), highest level (就高), members and counts by level, sectors, and whether it crosses a
    jurisdiction border (`cross_region`, 跨区域联防)."""
    with engine.connect() as conn:
        result = jp.find_clusters(conn, principal, params, settings)
    frame, run, clusters = result.frame, result.run, result.clusters
    palette = settings.maps.palette_map()
    names = jp.sector_names()
    body = {
        "type": "FeatureCollection",
        "adcode": params.adcode,
        "name": frame.name,
        "distance_m": params.distance_m,
        "metric_crs": f"EPSG:{frame.srid}",
        "trades": params.trades,
        "method": run.method,
        "similarity": {
            "transitive": run.links.transitive,
            "rules_used": [r.as_dict() for r in run.links.rules_used],
        },
        "enterprises_considered": len(run.ids),
        "enterprises_inside": int(run.inside.sum()),
        "enterprises_in_clusters": sum(len(c.members) for c in clusters),
        "cross_region_clusters": sum(c.cross_region for c in clusters),
        "level_counts": {str(lv): sum(1 for c in clusters if c.level == lv) for lv in (1, 2, 3, 4)}
        | {"none": sum(1 for c in clusters if c.level is None)},
        "numberReturned": len(clusters),
        "features": [_cluster_feature(c, palette, names) for c in clusters],
    }
    return _respond(body, GEOJSON)


@analysis.get(
    "/cross-inspection",
    summary="Cross-inspection (交叉互查) inside clusters and 异地交叉检查 by regulators' teams",
    response_model=CrossInspectionPlan,
)
def cross_inspection(
    params: ClusterDep,
    engine: EngineDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    seed: SeedDep = 0,
) -> Response:
    """Inside each cluster every member inspects exactly one other and is inspected by exactly one (a random
    cycle: never itself, no mutual pair where the cluster has 3 or more). Each cluster also gets one
    regulators' inspection team from another jurisdiction (异地交叉检查: never its own, loads balanced).
    The teams come from the stored roster (POST /api/v1/roster), else a synthetic one (marked so). Same
    seed, same plan."""
    with engine.connect() as conn:
        plan = jp.draw_cross_inspection(conn, principal, params, settings, seed)
    return _respond(_cross_inspection_json(plan))


def _cross_inspection_json(plan: CrossInspection) -> dict[str, Any]:
    params, frame, clusters = plan.result.params, plan.result.frame, plan.clusters
    names = {m.id: m.name for c in clusters for m in c.members}
    person = {p.id: p for p in plan.inspectors}
    return {
        "adcode": params.adcode,
        "name": frame.name,
        "seed": plan.seed,
        "distance_m": params.distance_m,
        "trades": params.trades,
        "clusters": [
            {
                "id": c.id,
                "key": c.key,
                "level": c.level,
                "level_name": _level_name(c.level),
                "member_count": len(c.members),
                "cross_region": c.cross_region,
                "jurisdictions": [{"adcode": a, "name": n} for a, n in c.jurisdictions],
                "checks": [
                    {
                        "inspector": {"id": a, "name": names[a]},
                        "inspected": {"id": b, "name": names[b]},
                    }
                    for a, b in plan.checks[c.key]
                ],
                "team": _team_json(plan.team_of(c), person),
            }
            for c in clusters
        ],
        "teams": [
            {
                **(_team_json(t, person) or {}),
                "clusters": [c.id for c in clusters if plan.team_by_cluster.get(c.key) == t.id],
                "load": plan.loads.get(t.id, 0),
            }
            for t in plan.teams
        ],
        "constraints": asdict(plan.constraints()),
        "roster": {
            "synthetic": plan.roster_synthetic,
            "note": "synthetic demonstration teams (合成的演示检查组), one roster per county-level unit"
            if plan.roster_synthetic
            else "the stored roster (执法人员名录库)",
            "jurisdictions": sorted({t.jurisdiction_adcode for t in plan.teams}),
        },
    }


def _team_json(team: Team | None, person: dict[str, Inspector]) -> dict[str, Any] | None:
    if team is None:
        return None
    return {
        "id": team.id,
        "name": team.name,
        "jurisdiction_adcode": team.jurisdiction_adcode,
        "jurisdiction_name": team.jurisdiction_name,
        "inspectors": [{"id": i, "name": person[i].name} for i in team.inspector_ids],
        "synthetic": team.synthetic,
    }


# --- 3. the inspection plan ---------------------------------------------------------------------------------

PlanFormat = Literal["json", "csv", "xlsx"]
PLAN_PAGE = 1_000  # checks (and self-inspection rows) in a JSON page unless `limit` says otherwise
PLAN_MAX_PAGE = 5_000


@analysis.get(
    "/inspection-plan",
    summary="The 双随机 inspection plan by level and each enterprise's self-inspection calendar",
    responses={
        200: {
            "model": InspectionPlan,
            "content": {
                "application/json": {},
                "text/csv": BINARY_OF,
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": BINARY_OF,
            },
        }
    },
)
def inspection_plan(
    request: Request,
    adcode: Annotated[str, Query(description="行政区划代码", examples=["350505"])],
    period: Annotated[str, Query(description="a month YYYY-MM or a year YYYY", examples=["2026-12"])],
    engine: EngineDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    seed: SeedDep = 0,
    format: Annotated[
        str, Query(description="json (paged), csv (one table, see part) or xlsx (all sheets): the whole plan")
    ] = "json",
    part: Annotated[
        str, Query(description="csv only: random (双随机 checks) or self (自查 calendar)")
    ] = "random",
    limit: Annotated[
        int,
        Query(
            ge=1,
            le=PLAN_MAX_PAGE,
            description="json only: checks (in date order) and self-inspection rows (by enterprise) per page",
        ),
    ] = PLAN_PAGE,
    offset: Annotated[int, Query(ge=0, description="json only: rows of each list skipped")] = 0,
) -> Response:
    """Regulators' 双随机 draw (seed 003 三(四)): each enterprise inspected once in every window of its
    level's frequency (重大 monthly, 较大 every two months, 一般 quarterly, 低 yearly; data/inspection_frequencies.csv),
    on a random working day; two inspectors of the enterprise's home department drawn from the roster for
    each check (those who must avoid it excluded; from elsewhere only when too few are left, marked
    `from_outside`), pairs not repeated while others are free, loads even. Self-inspection (seed 003 二(五)): 红 daily,
    橙 weekly, 黄 half-monthly, 蓝 monthly. Enterprises without an assessed unit follow the low-risk rows.
    The roster is the one loaded with POST /api/v1/roster, else a synthetic one (marked so).

    The JSON answer is paged (`limit`, `offset`; `next` links the following page; counts and `by_level`
    are the whole plan's): a city's year is 43,000 checks. The CSV and Excel downloads hold the whole plan
    and are streamed."""
    problems = []
    try:
        parsed = parse_period(period)
    except InvalidInput as exc:
        problems += exc.problems
    for field, value, allowed in (
        ("format", format, ("json", "csv", "xlsx")),
        ("part", part, ("random", "self")),
    ):
        try:
            choice(field, value, allowed)
        except InvalidInput as exc:
            problems += exc.problems
    if problems:
        raise InvalidInput(problems)
    with engine.connect() as conn:
        plan = draw_inspection_plan(conn, principal, adcode, parsed, seed, settings)
    filename = f"inspection-plan-{adcode}-{parsed.label}"
    if format == "csv":
        sheet = self_sheet(plan) if part == "self" else check_sheet(plan)
        body = csv_chunks(sheet.header, sheet.rows)
        headers = {
            "Content-Disposition": f'attachment; filename="{filename}-{part}.csv"',
        }
        # the gzip middleware leaves a stream alone (and says Vary: Accept-Encoding for text/csv)
        if accepts_gzip(request.headers.get("accept-encoding", "")):
            body = gzip_chunks(body)
            headers["Content-Encoding"] = "gzip"
        return StreamingResponse(body, media_type=MEDIA_TYPES["csv"], headers=headers)
    if format == "xlsx":
        return StreamingResponse(
            xlsx_chunks(plan_sheets(plan)),
            media_type=MEDIA_TYPES["xlsx"],
            headers={"Content-Disposition": f'attachment; filename="{filename}.xlsx"'},
        )
    return _respond(_plan_json(plan, request, limit, offset))


def _page_links(request: Request, limit: int, offset: int, total: int) -> list[dict[str, str]]:
    def at(start: int) -> str:
        return str(request.url.include_query_params(offset=start, limit=limit))

    links = [{"rel": "self", "href": str(request.url), "type": "application/json"}]
    if offset + limit < total:
        links.append({"rel": "next", "href": at(offset + limit), "type": "application/json"})
    if offset > 0:
        links.append({"rel": "prev", "href": at(max(0, offset - limit)), "type": "application/json"})
    for fmt, media in (("xlsx", MEDIA_TYPES["xlsx"]), ("csv", MEDIA_TYPES["csv"])):
        whole = request.url.remove_query_params(["limit", "offset"]).include_query_params(format=fmt)
        links.append({"rel": "alternate", "href": str(whole), "type": media, "title": "the whole plan"})
    return links


def _plan_json(plan: Plan, request: Request, limit: int, offset: int) -> dict[str, Any]:
    """The plan's totals and one page of each list: checks [offset, offset + limit) in date order, and the
    self-inspection rows of the same positions (by enterprise id)."""
    by_level = {str(lv): sum(1 for c in plan.checks if c.level == lv) for lv in (1, 2, 3, 4)}
    checks = plan.checks[offset : offset + limit]
    selfs = plan.self_checks[offset : offset + limit]
    links = _page_links(request, limit, offset, max(len(plan.checks), len(plan.self_checks)))
    return {
        "adcode": plan.adcode,
        "name": plan.name,
        "period": plan.period.label,
        "start": plan.period.start,
        "end": plan.period.end,
        "seed": plan.seed,
        "frequencies": [
            {
                "plan": f.plan,
                "level": f.level,
                "every": f.every,
                "unit": f.unit,
                "name_zh": f.name_zh,
                "source": f.source,
            }
            for f in inspection_frequencies()
        ],
        "roster": {
            "synthetic": plan.roster_synthetic,
            "note": plan.roster_note_zh,
            "jurisdictions": [{"adcode": a, "name": n} for a, n in plan.roster_units],
            "inspectors": len(plan.inspectors),
        },
        "enterprises": len(plan.enterprises),
        "unassessed_enterprises": sum(1 for lv in plan.levels.values() if lv is None),
        "limit": limit,
        "offset": offset,
        "next": next((x["href"] for x in links if x["rel"] == "next"), None),
        "links": links,
        "random_checks": {
            "count": len(plan.checks),
            "by_level": by_level,
            "numberMatched": len(plan.checks),
            "numberReturned": len(checks),
            "items": [
                {
                    "date": c.date,
                    "window": c.window,
                    "enterprise_id": c.enterprise_id,
                    "enterprise_name": plan.enterprises[c.enterprise_id].name,
                    "jurisdiction_adcode": plan.enterprises[c.enterprise_id].jurisdiction_adcode,
                    "level": plan.levels[c.enterprise_id],
                    "frequency_level": c.level,
                    "inspectors": [
                        {
                            "id": i,
                            "name": plan.inspectors[i].name,
                            "jurisdiction_adcode": plan.inspectors[i].jurisdiction_adcode,
                        }
                        for i in c.inspector_ids
                    ],
                    "from_outside": c.from_outside,
                }
                for c in checks
            ],
        },
        "self_inspection": {
            "count": sum(s.count for s in plan.self_checks),
            "numberMatched": len(plan.self_checks),
            "numberReturned": len(selfs),
            "items": [
                {
                    "enterprise_id": s.enterprise_id,
                    "enterprise_name": plan.enterprises[s.enterprise_id].name,
                    "level": plan.levels[s.enterprise_id],
                    "frequency_level": s.level,
                    "frequency": s.frequency.name_zh,
                    "schedule": s.schedule_zh,
                    "count": s.count,
                    **({"dates": s.dates(plan.period)} if plan.period.kind == "month" else {}),
                }
                for s in selfs
            ],
        },
    }


# --- 4. neighbour notices -----------------------------------------------------------------------------------


@analysis.get(
    "/neighbour-notices",
    summary="Who must be told of each level-1/2 risk unit: neighbouring enterprises and protection targets",
    response_model=NeighbourNotices,
)
def neighbour_notices(
    adcode: Annotated[str, Query(description="行政区划代码", examples=["350505"])],
    engine: EngineDep,
    principal: PrincipalDep,
    distance_m: Annotated[
        float, Query(description="notice distance in metres (0 < d ≤ 10,000)")
    ] = DEFAULT_DISTANCE_M,
    max_level: Annotated[int, Query(description="1: 重大 only; 2: 重大 and 较大")] = 2,
    limit: Annotated[int, Query(ge=1, le=5_000, description="risk units per page")] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    """Seed 004 二(一)4: the information and emergency measures of level-1 and level-2 risk points are to be
    given to adjacent units. For each such risk unit (by level, then id; paged), the other enterprises and
    the protection targets whose geometry lies within `distance_m` metres (Gauss–Krüger zone of the
    jurisdiction), nearest first, across the border too."""
    with engine.connect() as conn:
        result = jp.find_neighbour_notices(
            conn, principal, adcode, distance_m=distance_m, max_level=max_level, limit=limit, offset=offset
        )
    found = result.found
    notices = []
    for u in found.units:
        ents = found.enterprises[int(u.id)]
        targets = found.targets[int(u.id)]
        notices.append(
            {
                "risk_unit": {
                    "id": u.id,
                    "name": u.name,
                    "level": u.level,
                    "level_name": _level_name(u.level),
                    "kind": u.kind,
                    "enterprise_id": u.enterprise_id,
                    "enterprise_name": u.enterprise_name,
                    "sector": u.sector,
                    "accident_types": list(u.accident_types or []),
                    "hazards": u.hazards,
                    "control_measures": u.control_measures,
                    "responsible_person": u.responsible_person,
                    "responsible_phone": u.responsible_phone,
                },
                "recipients": len(ents) + len(targets),
                "enterprises": [
                    {
                        "id": e.id,
                        "name": e.name,
                        "sector": e.sector,
                        "contact_person": e.contact_person,
                        "contact_phone": e.contact_phone,
                        "jurisdiction_adcode": e.jurisdiction_adcode,
                        "distance_m": round(float(e.distance_m), 1),
                    }
                    for e in ents
                ],
                "protection_targets": [
                    {
                        "id": t.id,
                        "name": t.name,
                        "type": t.type,
                        "gb_class": t.gb_class,
                        "population": t.population,
                        "jurisdiction_adcode": t.jurisdiction_adcode,
                        "distance_m": round(float(t.distance_m), 1),
                    }
                    for t in targets
                ],
            }
        )
    body = {
        "adcode": adcode,
        "name": result.frame.name,
        "distance_m": distance_m,
        "metric_crs": f"EPSG:{found.srid}",
        "max_level": max_level,
        "numberMatched": found.total,
        "numberReturned": len(notices),
        "limit": limit,
        "offset": offset,
        "notices": notices,
    }
    return _respond(body)


# --- 5. key targets -----------------------------------------------------------------------------------------


@analysis.get(
    "/key-targets",
    summary="Key zones and key enterprises (重点乡镇/县区、重点企业) by a documented score",
    response_model=KeyTargets,
)
def key_target_ranking(
    adcode: Annotated[str, Query(description="行政区划代码", examples=["350505"])],
    engine: EngineDep,
    principal: PrincipalDep,
    zones_top: Annotated[int | None, Query(ge=1, le=20, description="key zones to pick (default 3)")] = None,
    enterprises_top: Annotated[
        int | None,
        Query(ge=1, le=100, description="key enterprises to pick (default 5 for a county, 10 for a city)"),
    ] = None,
    date: Annotated[
        dt.date | None, Query(description="the day overdue assessments are counted on (default today)")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=5_000, description="enterprises listed in the ranking")] = 50,
) -> Response:
    """Seed 003 三(三): a county picks 2–3 key townships and 5 key enterprises, a city 2–3 key counties and
    10 key enterprises. Zones are a city's counties, a county's townships when loaded, else its parks (园区).
    The score is in `score`."""
    with engine.connect() as conn:
        result = jp.rank_key_targets(
            conn, principal, adcode, zones_top=zones_top, enterprises_top=enterprises_top, date=date
        )
    frame, ranked = result.frame, result.ranked

    def item(r: Any, *, enterprise: bool) -> dict[str, Any]:
        out = {
            "rank": r.rank,
            ("id" if enterprise else "adcode"): int(r.code) if enterprise else r.code,
            "name": r.name,
            "score": r.score,
            "level": r.level,
            "level_name": _level_name(r.level),
            "counts": r.counts,
            "overdue": r.overdue,
            "key": r.key,
        }
        if enterprise:
            out["zone"] = result.zone_of.get(r.code)
        return out

    body = {
        "adcode": adcode,
        "name": frame.name,
        "level": frame.level,
        "date": result.date.isoformat(),
        "score": KEY_TARGET_SCORE,
        "rule": "seed 003 三(三): 市 2–3 个重点县区、10 个重点企业；县 2–3 个重点乡镇、5 个重点企业",
        "zone_kind": result.zone_kind,
        "zone_kind_zh": result.zone_kind_zh,
        "top": {"zones": result.top_zones, "enterprises": result.top_enterprises},
        "key_zones": [item(r, enterprise=False) for r in ranked.zones if r.key],
        "key_enterprises": [item(r, enterprise=True) for r in ranked.enterprises if r.key],
        "zones": [item(r, enterprise=False) for r in ranked.zones],
        "enterprises": [item(r, enterprise=True) for r in ranked.enterprises[:limit]],
        "numberMatched": len(ranked.enterprises),
    }
    return _respond(body)


# --- 6. the map ---------------------------------------------------------------------------------------------


@maps.get(
    "/joint-prevention",
    response_class=HTMLResponse,
    summary="The joint-prevention map: clusters and cross-inspection",
)
def joint_prevention_html(
    params: ClusterDep,
    engine: EngineDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    seed: SeedDep = 0,
) -> Response:
    """Cluster hulls coloured by their highest level (dashed outline: 跨区域), member markers coloured by
    their own level, arrows from inspector to inspected (交叉互查), popups with the 异地 team, a legend."""
    with engine.connect() as conn:
        layers = jp.joint_prevention_layers(conn, principal, params, settings, seed)
    m = joint_prevention_map(
        layers.clusters,
        members=layers.members,
        checks=layers.checks,
        boundaries=layers.boundaries,
        palette=settings.maps.palette_map(),
        title=layers.title,
        tiles=tiles(settings),
        asset_prefix=settings.maps.asset_prefix,
    )
    return HTMLResponse(m.get_root().render())


# One router for api/app.py to include: the analysis endpoints and the map (routes are copied on include).
router = APIRouter()
router.include_router(analysis)
router.include_router(maps)
