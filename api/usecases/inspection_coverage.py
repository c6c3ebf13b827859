"""What was planned against what was done (issue #14: a plan can be compared with what was done): the
双随机 plan of a period (api.usecases.inspection_plan) beside the inspections recorded (geo.store.hazards),
by level — each planned check is done when a regulator's inspection (random, department, cross or third
party) of that enterprise falls in the check's frequency window — and each enterprise's self-inspections
against its calendar (seed 003 二(五), 三(四))."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from api.settings import Settings
from api.usecases.inspection_plan import draw_inspection_plan
from geo.access import Principal
from geo.joint_prevention import Period
from geo.store import hazards as store

REGULATOR_KINDS = frozenset({"random", "department", "cross", "third_party"})


def _window(label: str) -> tuple[dt.date, dt.date]:
    """'2026-11' or '2026-11/2026-12' → the first and last day."""
    first, _, last = label.partition("/")
    start = dt.date.fromisoformat(f"{first}-01")
    end_month = dt.date.fromisoformat(f"{last or first}-01")
    nxt = dt.date(end_month.year + (end_month.month == 12), end_month.month % 12 + 1, 1)
    return start, nxt - dt.timedelta(days=1)


@dataclass
class Coverage:
    adcode: str
    period: str
    seed: int
    by_level: dict[int, dict[str, Any]] = field(default_factory=dict)
    missed: list[dict[str, Any]] = field(default_factory=list)
    self_inspection: list[dict[str, Any]] = field(default_factory=list)


def coverage(
    conn: Connection,
    principal: Principal,
    adcode: str,
    period: Period,
    seed: int,
    settings: Settings,
    *,
    as_of: dt.date,
) -> Coverage:
    plan = draw_inspection_plan(conn, principal, adcode, period, seed, settings)
    rows, _ = store.list_inspections(conn, principal, adcode=adcode, limit=10_000_000)
    done: dict[int, list[dt.date]] = defaultdict(list)
    selfs: Counter[int] = Counter()
    for r in rows:
        if r["enterprise_id"] is None or not period.start <= r["inspected_on"] <= period.end:
            continue
        if r["kind"] in REGULATOR_KINDS:
            done[int(r["enterprise_id"])].append(r["inspected_on"])
        elif r["kind"] == "self":
            selfs[int(r["enterprise_id"])] += 1
    out = Coverage(adcode, period.label, seed)
    tally: dict[int, Counter[str]] = defaultdict(Counter)
    for check in plan.checks:
        start, end = _window(check.window)
        due = check.date <= as_of or end < as_of  # a check still ahead is not yet missed
        hit = any(start <= d <= end for d in done.get(check.enterprise_id, []))
        t = tally[check.level]
        t["planned"] += 1
        t["due"] += due
        t["done"] += hit
        if due and not hit:
            e = plan.enterprises[check.enterprise_id]
            out.missed.append(
                {
                    "enterprise_id": check.enterprise_id,
                    "name": e.name,
                    "level": check.level,
                    "window": check.window,
                    "planned_date": check.date,
                }
            )
    for level in sorted(tally):
        t = tally[level]
        out.by_level[level] = {
            "planned": t["planned"],
            "due": t["due"],
            "done": t["done"],
            "share_done_of_due": round(t["done"] / t["due"], 4) if t["due"] else None,
        }
    for s in plan.self_checks:
        expected = sum(1 for d in s.dates(period) if d <= as_of)
        out.self_inspection.append(
            {
                "enterprise_id": s.enterprise_id,
                "level": s.level,
                "expected_to_date": expected,
                "recorded": selfs.get(s.enterprise_id, 0),
                "schedule_zh": s.schedule_zh,
            }
        )
    return out
