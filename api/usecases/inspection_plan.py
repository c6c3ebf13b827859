"""The 双随机 inspection plan (seed 003 三(四)) and the enterprises' self-inspection calendar (seed 003 二(五)):
the draw, and the plan as tables (the sheets of the CSV and Excel files)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import Connection

from api.settings import Settings
from api.usecases.joint_prevention import jurisdiction, level_rule, regions, roster, sector_names
from geo.access import Principal
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
    """The 双随机 checks, one row each."""
    freq = {f.level: f.name_zh for f in inspection_frequencies() if f.plan == "regulator"}
    names = sector_names()
    rows = []
    for c in plan.checks:
        e = plan.enterprises[c.enterprise_id]
        people = [plan.inspectors[i] for i in c.inspector_ids]
        row = [
            c.date.isoformat(),
            c.window,
            c.enterprise_id,
            e.name,
            e.credit_code,
            names.get(e.sector, e.sector),
            e.jname or e.jurisdiction_adcode,
            f"{c.level} {LEVEL_NAMES_ZH[c.level]}"
            + ("" if plan.levels[c.enterprise_id] else "（未评估，按低风险）"),
            freq[c.level],
        ]
        for p in people[:2]:
            row += [f"{p.name}（{p.id}）", p.jurisdiction_name]
        row.append("合成（演示）synthetic" if any(p.synthetic for p in people) else "")
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
