"""What was planned against what was done (issue #14: a plan can be compared with what was done): the
双随机 plan of a period beside the inspections recorded (geo.store.hazards), by level, and the
cross-inspection (交叉互查) assignments made into inspections, and each enterprise's self-inspections against
its calendar (seed 003 二(五), 三(四)).

The plan is the inspections made from it (POST /api/v1/inspections/from-plan: status `planned` until filled
in, keyed by `plan_key`), and, for the checks of the draw not yet made into records, the draw itself
(api.usecases.inspection_plan, same seed). A planned check is done when its record is filled in (status
`done`), or when another regulator's inspection (random, department, cross or third party) of that
enterprise is recorded as done in the check's window."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from api.settings import Settings
from api.usecases.inspection_plan import draw_inspection_plan, random_key, window_bounds
from geo.access import Principal
from geo.joint_prevention import Period
from geo.store import hazards as store

REGULATOR_KINDS = frozenset({"random", "department", "cross", "third_party"})


@dataclass
class Coverage:
    adcode: str
    period: str
    seed: int
    by_level: dict[int, dict[str, Any]] = field(default_factory=dict)
    missed: list[dict[str, Any]] = field(default_factory=list)
    self_inspection: list[dict[str, Any]] = field(default_factory=list)
    cross: dict[str, Any] = field(default_factory=dict)
    plan_source: dict[str, int] = field(default_factory=dict)  # checks from records / from the draw


@dataclass(frozen=True)
class _Check:
    enterprise_id: int
    name: str | None
    level: int
    window: str
    start: dt.date
    end: dt.date
    date: dt.date
    inspection_id: int | None  # the planned record, when the check was made into one
    filled_in: bool


def _overlaps(start: dt.date, end: dt.date, period: Period) -> bool:
    return start <= period.end and end >= period.start


def _recorded(rows: list[dict[str, Any]], source: str, period: Period) -> dict[str, _Check]:
    out: dict[str, _Check] = {}
    for r in rows:
        plan = r.get("plan") or {}
        if plan.get("source") != source or r["enterprise_id"] is None:
            continue
        start, end = dt.date.fromisoformat(plan["window_start"]), dt.date.fromisoformat(plan["window_end"])
        if not _overlaps(start, end, period):
            continue
        out[r["plan_key"]] = _Check(
            int(r["enterprise_id"]),
            None,
            int(plan.get("level") or 4),
            plan["window"],
            start,
            end,
            dt.date.fromisoformat(plan["planned_on"]),
            int(r["id"]),
            r["status"] == "done",
        )
    return out


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
        if r["status"] != "done" or r["enterprise_id"] is None:
            continue
        if r["kind"] in REGULATOR_KINDS:
            done[int(r["enterprise_id"])].append(r["inspected_on"])
        elif r["kind"] == "self" and period.start <= r["inspected_on"] <= period.end:
            selfs[int(r["enterprise_id"])] += 1
    checks = _recorded(rows, "random", period)
    recorded = len(checks)
    for c in plan.checks:
        checks.setdefault(
            random_key(c.enterprise_id, c.window),
            _Check(c.enterprise_id, None, c.level, c.window, *window_bounds(c.window), c.date, None, False),
        )
    out = Coverage(
        adcode, period.label, seed, plan_source={"recorded": recorded, "drawn": len(checks) - recorded}
    )

    def tally(found: dict[str, _Check], kind: str) -> dict[int, Counter[str]]:
        counts: dict[int, Counter[str]] = defaultdict(Counter)
        for check in sorted(found.values(), key=lambda c: (c.date, c.enterprise_id)):
            start, end = check.start, check.end
            due = check.date <= as_of or end < as_of  # a check still ahead is not yet missed
            hit = check.filled_in or any(start <= d <= end for d in done.get(check.enterprise_id, []))
            t = counts[check.level]
            t["planned"] += 1
            t["due"] += due
            t["done"] += hit
            if due and not hit:
                e = plan.enterprises.get(check.enterprise_id)
                out.missed.append(
                    {
                        "kind": kind,
                        "enterprise_id": check.enterprise_id,
                        "name": e.name if e is not None else None,
                        "level": check.level,
                        "window": check.window,
                        "planned_date": check.date,
                        "inspection_id": check.inspection_id,
                    }
                )
        return counts

    def shares(t: Counter[str]) -> dict[str, Any]:
        return {
            "planned": t["planned"],
            "due": t["due"],
            "done": t["done"],
            "share_done_of_due": round(t["done"] / t["due"], 4) if t["due"] else None,
        }

    by_level = tally(checks, "random")
    for level in sorted(by_level):
        out.by_level[level] = shares(by_level[level])
    cross = tally(_recorded(rows, "cross", period), "cross")
    out.cross = shares(sum(cross.values(), Counter()))
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
