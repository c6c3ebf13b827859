"""The 双随机 inspection plan (seed 003 三(四)) and the enterprises' self-inspection calendar (seed 003 二(五)):
the draw, and the plan as tables (the sheets of the CSV and Excel files)."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import Connection

from api.settings import Settings
from api.usecases.joint_prevention import (
    ClusterParams,
    CrossInspection,
    choice,
    cluster_params,
    draw_cross_inspection,
    jurisdiction,
    level_rule,
    regions,
    roster,
    sector_names,
)
from geo.access import Principal
from geo.closeout import calendar as closeout_calendar
from geo.io.writers import Sheet
from geo.joint_prevention import (
    Inspector,
    Period,
    PlanEnterprise,
    RandomCheck,
    SelfInspection,
    inspection_frequencies,
    random_checks,
    self_inspections,
)
from geo.store import hazards as hazard_store
from geo.store import joint_prevention as store
from geo.vocab import LEVEL_NAMES_ZH

DRAW_NOTE_ZH = (
    "检查日期为工作日；由企业所在辖区（或其上级）的执法人员检查，回避企业不抽；本辖区可抽人员不足时从其他辖区抽取并注明；"
    "搭档尽量不重复"
)


@dataclass(frozen=True)
class Plan:
    adcode: str
    name: str
    period: Period
    seed: int
    enterprises: dict[int, Any]  # id → register row (geo.store.joint_prevention.plan_enterprises)
    levels: dict[int, int | None]  # None: no assessed unit (planned as low risk)
    checks: list[RandomCheck]
    self_checks: list[SelfInspection]
    inspectors: dict[str, Inspector]
    roster_units: list[tuple[str, str]]
    roster_synthetic: bool = True
    roster_note_zh: str = ""


def _roster_size(enterprises: Sequence[PlanEnterprise], period: Period) -> int:
    """Inspectors per unit of a synthetic roster: enough that a unit's own staff need not repeat a pair
    (each check uses one of C(n, 2) pairs; 1.5 times the checks expected is asked for), at most 60."""
    per_year = {f.level: f.per_year() for f in inspection_frequencies() if f.plan == "regulator"}
    share = 1.0 if period.kind == "year" else 1 / 12
    expected = sum(per_year[e.level or 4] for e in enterprises) * share * 1.5 + 10
    return min(60, max(8, math.ceil((1 + math.sqrt(1 + 8 * expected)) / 2)))


def draw_inspection_plan(
    conn: Connection, principal: Principal, adcode: str, period: Period, seed: int, settings: Settings
) -> Plan:
    """Each enterprise inspected once in every window of its level's frequency, on a random working day,
    by two inspectors of its home department (geo.joint_prevention.random_checks) from the stored roster,
    or a synthetic one while none is loaded; and each enterprise's self-inspection calendar. Same seed,
    same plan."""
    frame = jurisdiction(conn, principal, adcode)
    rows = store.plan_enterprises(conn, principal, adcode)
    counts = np.array([[r.l1, r.l2, r.l3, r.l4] for r in rows], dtype=np.int64).reshape(-1, 4)
    levels = level_rule(settings)(counts)
    paths = regions(conn, [r.jurisdiction_adcode for r in rows])
    enterprises = [
        PlanEnterprise(int(r.id), lv, paths[r.jurisdiction_adcode])
        for r, lv in zip(rows, levels, strict=True)
    ]
    size = _roster_size(enterprises, period)
    who = roster(conn, principal, adcode, seed=seed, inspectors_per_jurisdiction=size)
    inspectors, units = who.inspectors, who.units
    checks = random_checks(enterprises, inspectors, period, seed=seed)
    return Plan(
        adcode,
        frame.name,
        period,
        seed,
        {int(r.id): r for r in rows},
        {e.id: e.level for e in enterprises},
        checks,
        self_inspections(enterprises, period),
        {p.id: p for p in inspectors},
        units,
        who.synthetic,
        who.note_zh,
    )


# --- the plan as tables -------------------------------------------------------------------------------------

CHECK_HEADER = [
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
SELF_HEADER = [
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


def check_sheet(plan: Plan) -> Sheet:
    """The 双随机 checks, one row each (a city's year: 43,000; each enterprise's and inspector's cells are
    made once)."""
    freq = {f.level: f.name_zh for f in inspection_frequencies() if f.plan == "regulator"}
    names = sector_names()
    enterprise_cells: dict[int, list[Any]] = {}
    for c in plan.checks:
        if c.enterprise_id not in enterprise_cells:
            e = plan.enterprises[c.enterprise_id]
            enterprise_cells[c.enterprise_id] = [
                c.enterprise_id,
                e.name,
                e.credit_code,
                names.get(e.sector, e.sector),
                e.jname or e.jurisdiction_adcode,
            ]
    level_cells = {
        (lv, assessed): [
            f"{lv} {LEVEL_NAMES_ZH[lv]}" + ("" if assessed else "（未评估，按低风险）"),
            freq[lv],
        ]
        for lv in freq
        for assessed in (True, False)
    }
    person = {i: [f"{p.name}（{i}）", p.jurisdiction_name] for i, p in plan.inspectors.items()}
    synthetic = {i for i, p in plan.inspectors.items() if p.synthetic}
    rows = []
    for c in plan.checks:
        row = [c.date.isoformat(), c.window, *enterprise_cells[c.enterprise_id]]
        row += level_cells[c.level, bool(plan.levels[c.enterprise_id])]
        for i in c.inspector_ids[:2]:
            row += person[i]
        row.append("合成（演示）synthetic" if any(i in synthetic for i in c.inspector_ids) else "")
        rows.append(row)
    return Sheet("双随机抽查计划", CHECK_HEADER, rows)


def self_sheet(plan: Plan) -> Sheet:
    """Each enterprise's self-inspection frequency; the dates too when the period is a month."""
    with_dates = plan.period.kind == "month"
    rows = []
    for s in plan.self_checks:
        e = plan.enterprises[s.enterprise_id]
        dates = " ".join(d.isoformat() for d in s.dates(plan.period)) if with_dates else ""
        rows.append(
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
    return Sheet("企业自查频次", SELF_HEADER, rows)


def notes_sheet(plan: Plan) -> Sheet:
    """What the plan is: jurisdiction, period, seed, roster, the frequencies and their sources."""
    rows: list[list[Any]] = [
        ["辖区 jurisdiction", f"{plan.name}（{plan.adcode}）"],
        ["周期 period", plan.period.label],
        ["随机种子 seed", plan.seed],
        ["抽查次数 checks", len(plan.checks)],
        ["名录库 roster", plan.roster_note_zh],
        ["抽取规则 draw", DRAW_NOTE_ZH],
        *[
            [f"{'双随机' if f.plan == 'regulator' else '自查'} {f.level} 级", f"{f.name_zh}（{f.source}）"]
            for f in inspection_frequencies()
        ],
    ]
    return Sheet("说明", ["项目 item", "内容 value"], rows)


def plan_sheets(plan: Plan) -> list[Sheet]:
    """The workbook: checks, self-inspection, notes."""
    return [check_sheet(plan), self_sheet(plan), notes_sheet(plan)]


# --- the plan as inspections to fill in (issue #14 item 1) -------------------------------------------------

PARTS = ("random", "cross", "all")


def window_bounds(label: str) -> tuple[dt.date, dt.date]:
    """A frequency window '2026-11' or '2026-11/2026-12' → its first and last day."""
    first, _, last = label.partition("/")
    start = dt.date.fromisoformat(f"{first}-01")
    end_month = dt.date.fromisoformat(f"{last or first}-01")
    nxt = dt.date(end_month.year + (end_month.month == 12), end_month.month % 12 + 1, 1)
    return start, nxt - dt.timedelta(days=1)


def random_key(enterprise_id: int, window: str) -> str:
    """One 双随机 check per enterprise and frequency window, whatever the seed or the area asked."""
    return f"random:{enterprise_id}:{window}"


def cross_key(enterprise_id: int, period: Period) -> str:
    """One cross-inspection (交叉互查) of an enterprise per period."""
    return f"cross:{enterprise_id}:{period.label}"


def _names(ids: Sequence[str], inspectors: dict[str, Inspector]) -> str:
    return "、".join(f"{inspectors[i].name}（{i}）" if i in inspectors else i for i in ids)


def _random_records(plan: Plan) -> list[dict[str, Any]]:
    """One planned inspection per check (a city's year: 43,000; what repeats is worked out once)."""
    out = []
    label = {i: f"{p.name}（{i}）" for i, p in plan.inspectors.items()}
    windows = {w: tuple(d.isoformat() for d in window_bounds(w)) for w in {c.window for c in plan.checks}}
    plan_ref = f"双随机 {plan.adcode} {plan.period.label} seed {plan.seed}"
    for c in plan.checks:
        e = plan.enterprises[c.enterprise_id]
        start, end = windows[c.window]
        out.append(
            {
                "kind": "random",
                "enterprise_id": c.enterprise_id,
                "jurisdiction_adcode": e.jurisdiction_adcode,
                "inspected_on": c.date,
                "inspectors": "、".join(label.get(i, i) for i in c.inspector_ids),
                "plan_ref": plan_ref,
                "plan_key": random_key(c.enterprise_id, c.window),
                "plan": {
                    "source": "random",
                    "adcode": plan.adcode,
                    "period": plan.period.label,
                    "seed": plan.seed,
                    "level": c.level,
                    "window": c.window,
                    "window_start": start,
                    "window_end": end,
                    "planned_on": c.date.isoformat(),
                    "inspector_ids": list(c.inspector_ids),
                    "from_outside": c.from_outside,
                    "roster_synthetic": plan.roster_synthetic,
                },
            }
        )
    return out


def _working_day(period: Period, seed: int, key: int) -> dt.date:
    """A working day of the period drawn for one cluster (same seed, same day)."""
    cal = closeout_calendar()
    days = [
        period.start + dt.timedelta(days=i)
        for i in range(period.days())
        if cal.is_working_day(period.start + dt.timedelta(days=i))
    ]
    rng = np.random.default_rng((seed, key))
    return days[int(rng.integers(len(days)))]


def _cross_records(cross: CrossInspection, period: Period) -> tuple[list[dict[str, Any]], list[int]]:
    """One record per enterprise inspected in the cycle of its cluster (交叉互查: another member inspects
    it), on a working day of the period, by the 异地 team the cluster was given (its inspectors from the
    roster). Clusters no team could be sent to are returned apart (their keys)."""
    who = {p.id: p for p in cross.inspectors}
    out: list[dict[str, Any]] = []
    without_team: list[int] = []
    for cluster in cross.clusters:
        team = cross.team_of(cluster)
        if team is None:
            without_team.append(cluster.key)
            continue
        day = _working_day(period, cross.seed, cluster.key)
        members = {m.id: m for m in cluster.members}
        for by, inspected in cross.checks[cluster.key]:
            m = members[inspected]
            peer = members[by]
            out.append(
                {
                    "kind": "cross",
                    "enterprise_id": inspected,
                    "jurisdiction_adcode": m.jurisdiction_adcode,
                    "inspected_on": day,
                    "inspectors": f"{team.name}：{_names(team.inspector_ids, who)}；互查企业：{peer.name}",
                    "plan_ref": f"交叉互查 {cross.result.params.adcode} {period.label} seed {cross.seed}",
                    "plan_key": cross_key(inspected, period),
                    "plan": {
                        "source": "cross",
                        "adcode": cross.result.params.adcode,
                        "period": period.label,
                        "seed": cross.seed,
                        "level": m.level,
                        "window": period.label,
                        "window_start": period.start.isoformat(),
                        "window_end": period.end.isoformat(),
                        "planned_on": day.isoformat(),
                        "cluster_key": cluster.key,
                        "team_id": team.id,
                        "inspector_ids": list(team.inspector_ids),
                        "peer_enterprise_id": by,
                        "roster_synthetic": cross.roster_synthetic,
                    },
                }
            )
    return out, without_team


@dataclass(frozen=True)
class RecordedPlan:
    """What making a plan's inspections did: ids made now, ids made before (same plan_key), enterprises
    left out because they lie outside the caller's jurisdictions, clusters no team could be sent to."""

    adcode: str
    period: Period
    seed: int
    part: str
    created: list[int]
    existing: list[int]
    outside: list[int]
    clusters_without_team: list[int]


def record_plan(
    conn: Connection,
    principal: Principal,
    adcode: str,
    period: Period,
    seed: int,
    settings: Settings,
    *,
    part: str = "all",
    cross: ClusterParams | None = None,
) -> RecordedPlan:
    """The 双随机 plan (`random`), the cross-inspection assignments (`cross`) or both (`all`) of a period made
    into inspections in the `planned` state, one per planned check: the enterprise, the working day, the
    inspectors from the roster, the kind, `plan_ref`. Idempotent: each record is keyed by the check it
    carries out (random_key, cross_key), and a key made before is not made again. A regulator makes the
    records of enterprises in its jurisdictions only (a cluster's neighbour across the border is left out)."""
    choice("part", part, PARTS)
    records: list[dict[str, Any]] = []
    without_team: list[int] = []
    if part in ("random", "all"):
        records += _random_records(draw_inspection_plan(conn, principal, adcode, period, seed, settings))
    if part in ("cross", "all"):
        drawn = draw_cross_inspection(conn, principal, cross or cluster_params(adcode), settings, seed)
        more, without_team = _cross_records(drawn, period)
        records += more
    done = hazard_store.plan_inspections(conn, principal, records)
    return RecordedPlan(
        adcode, period, seed, part, done["created"], done["existing"], done["outside"], without_team
    )
