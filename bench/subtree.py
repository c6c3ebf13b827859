"""Benchmark: county- and city-scoped statements of the synthetic province with the subtree read three ways.

riskmap's own store functions run (list pages, a regulator's list, joint-prevention clusters, safety
distances, the summary); the subtree they filter by is swapped, in the same run and database:

- `walk` (before, migration 0021d's SQL): `col IN (subquery)` with a recursive CTE down
  `jurisdictions.parent_adcode`, which PostgreSQL estimates at a guess (every jurisdiction);
- `closure`: `col IN (SELECT descendant FROM jurisdiction_closure WHERE ancestor = :adcode)` (migration
  0023s), estimated from the table's statistics, but still a join whose rows per code are the average;
- `array` (now, as `four_colour.deciding_units`): the codes read from the closure first, then
  `col = ANY(CAST(:subtree AS text[]))`, which PostgreSQL estimates code by code from the column's
  statistics and probes the index with.

`walk` and `closure` replace `repository.in_subtree` / `in_area_codes` (and `subtree_codes` by nothing) and
rewrite the hand-written statements' `= ANY(CAST(:subtree AS text[]))` to their subquery as the statement
leaves SQLAlchemy; every statement sent is checked to carry its variant's subtree. The statements are
otherwise today's (the summary's zone counts read the subtree's units in a CTE first, for every variant). Each cell is the
median of `--runs` calls after one untimed warm-up call.

    python bench/subtree.py --database riskmap_bench_province_st   # a copy upgraded to 0023s
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import ColumnElement, Connection, Select, create_engine, event, false, select, text

from bench.common import machine, server_url, write_report
from geo.access import Principal, Role
from geo.store import joint_prevention, repository, safety_distance, summary
from geo.store.repository import JC, RISK_UNITS

RESULTS = Path(__file__).resolve().parent / "results" / "subtree.md"
VARIANTS = ("walk", "closure", "array")
ADMIN = Principal(Role.admin, "bench")
MODULES: tuple[ModuleType, ...] = (repository, joint_prevention, safety_distance, summary)

# migration 0021d's SQL, the "before"
WALK_SQL = """(WITH RECURSIVE subtree AS (
    SELECT adcode FROM jurisdictions WHERE adcode = %(bench_adcode)s
    UNION ALL
    SELECT j.adcode FROM jurisdictions j JOIN subtree s ON j.parent_adcode = s.adcode
) SELECT adcode FROM subtree)"""
CLOSURE_SQL = "(SELECT descendant FROM jurisdiction_closure WHERE ancestor = %(bench_adcode)s)"
ANY_SQL = "= ANY(CAST(%(subtree)s AS text[]))"
# summary's zones: their subtrees from the closure (now) or walked (before)
TREE_NOW = """tree AS (
    SELECT c.adcode AS zone, d.descendant AS adcode FROM jurisdictions c
    JOIN jurisdiction_closure d ON d.ancestor = c.adcode
    WHERE c.parent_adcode = %(adcode)s AND c.level NOT IN ('park', 'grid')
)"""
TREE_WALK = """RECURSIVE tree AS (
    SELECT c.adcode AS zone, c.adcode FROM jurisdictions c
    WHERE c.parent_adcode = %(adcode)s AND c.level NOT IN ('park', 'grid')
    UNION ALL
    SELECT t.zone, j.adcode FROM jurisdictions j JOIN tree t ON j.parent_adcode = t.adcode
)"""
WALK_MARKS = (
    "JOIN subtree s ON j.parent_adcode",
    "parent_adcode = subtree.adcode",
    "parent_adcode = area.adcode",
)
CURRENT: list[str] = ["array", ""]  # the variant, the adcode of the statement measured


def walk_subtree(adcode: str) -> Select[Any]:
    J = repository.J
    top = select(J.c.adcode).where(J.c.adcode == adcode).cte("subtree", recursive=True)
    top = top.union_all(select(J.c.adcode).where(J.c.parent_adcode == top.c.adcode))
    return select(top.c.adcode)


def walk_area(principal: Principal) -> Select[Any]:
    J = repository.J
    top = select(J.c.adcode).where(J.c.adcode.in_(list(principal.adcodes))).cte("area", recursive=True)
    top = top.union_all(select(J.c.adcode).where(J.c.parent_adcode == top.c.adcode))
    return select(top.c.adcode)


def closure_area(principal: Principal) -> Select[Any]:
    return select(JC.c.descendant).where(JC.c.ancestor.in_(list(principal.adcodes)))


def _rewrite(
    conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool
) -> tuple[str, Any]:
    """The hand-written statements' constant array as the variant's subquery, on its :adcode."""
    name, adcode = CURRENT
    if name != "array" and ANY_SQL in statement:
        statement = statement.replace(ANY_SQL, "IN " + (WALK_SQL if name == "walk" else CLOSURE_SQL))
        parameters = {**parameters, "bench_adcode": adcode}
    if name == "walk":
        statement = statement.replace(TREE_NOW, TREE_WALK)
    return statement, parameters


@contextlib.contextmanager
def variant(name: str, adcode: str) -> Iterator[None]:
    """Swap the subtree of the store modules for `name`."""
    saved: list[tuple[ModuleType, str, Any]] = []

    def swap(module: ModuleType, attr: str, value: Any) -> None:
        saved.append((module, attr, getattr(module, attr)))
        setattr(module, attr, value)

    if name != "array":
        subtree = walk_subtree if name == "walk" else repository.jurisdiction_subtree
        area = walk_area if name == "walk" else closure_area

        def in_subtree(conn: Connection, column: ColumnElement[Any], adcode: str) -> ColumnElement[bool]:
            return column.in_(subtree(adcode))

        def in_area_codes(conn: Connection, column: ColumnElement[Any], p: Principal) -> ColumnElement[bool]:
            return column.in_(area(p)) if p.adcodes else false()

        swap(repository, "in_subtree", in_subtree)
        swap(repository, "in_area_codes", in_area_codes)
        for module in MODULES:
            if hasattr(module, "subtree_codes"):
                swap(module, "subtree_codes", lambda conn, adcodes: [])
    CURRENT[:] = [name, adcode]
    try:
        yield
    finally:
        CURRENT[:] = ["array", ""]
        for module, attr, value in reversed(saved):
            setattr(module, attr, value)


def cases(county: str, city: str) -> list[tuple[str, str, Callable[[Connection], str]]]:
    """(label, the adcode of its hand-written SQL, call) of each statement measured."""

    def listing(principal: Principal, adcode: str | None) -> Callable[[Connection], str]:
        def call(conn: Connection) -> str:
            page = repository.list_features(conn, principal, RISK_UNITS, adcode=adcode)
            return f"{page.total:,} units"

        return call

    def regulator(adcode: str) -> Principal:
        return Principal(Role.regulator, "bench-reg", user_id=1, adcodes=(adcode,))

    def clusters(conn: Connection) -> str:
        run = joint_prevention.cluster_enterprises(conn, ADMIN, county)
        return f"{int(run.inside.sum()):,} enterprises, {len(set(run.labels.tolist())):,} components"

    def distances(conn: Connection) -> str:
        report = safety_distance.violations_sql(conn, ADMIN, county)
        return f"{len(report.violations):,} violations"

    def totals(adcode: str) -> Callable[[Connection], str]:
        def call(conn: Connection) -> str:
            answer = summary.summary(conn, ADMIN, adcode)
            return f"{answer['risk_units']:,} units, {len(answer['by_zone'])} zones"

        return call

    return [
        (f"risk-unit list of county {county} (admin, `?jurisdiction=`)", county, listing(ADMIN, county)),
        (f"risk-unit list of city {city} (admin, `?jurisdiction=`)", city, listing(ADMIN, city)),
        (f"risk-unit list of a regulator of county {county}", county, listing(regulator(county), None)),
        (f"risk-unit list of a regulator of city {city}", city, listing(regulator(city), None)),
        (f"joint-prevention clusters of county {county}", county, clusters),
        (f"safety distances of county {county}", county, distances),
        (f"summary of county {county}", county, totals(county)),
        (f"summary of city {city}", city, totals(city)),
    ]


def estimates(conn: Connection, adcodes: list[str]) -> list[str]:
    """The planner's rows for each subtree, walked and from the closure, beside the true count."""
    lines = [
        "| subtree of | level | codes | walk's estimate | closure's estimate |",
        "|---|---|---:|---:|---:|",
    ]
    for a in adcodes:
        level = conn.execute(text("SELECT level FROM jurisdictions WHERE adcode = :a"), {"a": a}).scalar()
        got = []
        for sql in (
            "EXPLAIN (FORMAT JSON) SELECT * FROM " + WALK_SQL.replace("%(bench_adcode)s", ":a") + " s",
            "EXPLAIN (FORMAT JSON) " + CLOSURE_SQL.replace("%(bench_adcode)s", ":a").strip("()"),
        ):
            got.append(conn.execute(text(sql), {"a": a}).scalar_one()[0]["Plan"]["Plan Rows"])
        n = len(repository.subtree_codes(conn, [a]))
        lines.append(f"| {a} | {level} | {n:,} | {got[0]:,} | {got[1]:,} |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--database", default="riskmap_bench_province_st")
    ap.add_argument("--county", default="359505")
    ap.add_argument("--city", default="359500")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", default="", help="comma-separated numbers (1-based) of the statements to run")
    ap.add_argument("--output", type=Path, default=RESULTS)
    args = ap.parse_args()
    engine = create_engine(server_url().set(database=args.database))
    sent: list[str] = []
    event.listen(engine, "before_cursor_execute", _rewrite, retval=True)  # before the one that records
    event.listen(engine, "before_cursor_execute", lambda *a: sent.append(a[2]))
    with engine.connect() as conn:
        township = conn.execute(
            text("SELECT min(adcode) FROM jurisdictions WHERE parent_adcode = :c"), {"c": args.county}
        ).scalar_one()
        province = conn.execute(
            text("SELECT adcode FROM jurisdictions WHERE parent_adcode IS NULL")
        ).scalar_one()
        planned = estimates(conn, [province, args.city, args.county, township])
    chosen = cases(args.county, args.city)
    only = {int(i) for i in args.only.split(",") if i}
    load = os.getloadavg()
    rows = []
    for i, (label, adcode, call) in enumerate(chosen, 1):
        if only and i not in only:
            continue
        cells, answers = [], set()
        for name in VARIANTS:
            with variant(name, adcode), engine.connect() as conn:
                call(conn)
                conn.rollback()
                sent.clear()
                times = []
                for _ in range(args.runs):
                    t = time.perf_counter()
                    answers.add(call(conn))
                    times.append(time.perf_counter() - t)
                    conn.rollback()
            marks = {
                "walk": any(any(m in s for m in WALK_MARKS) for s in sent),
                "closure": any(
                    "jurisdiction_closure WHERE ancestor" in s or "jurisdiction_closure.ancestor" in s
                    for s in sent
                ),
                "array": any("ANY(CAST(%(subtree)s" in s or "adcode = ANY (CAST(" in s for s in sent),
            }
            if not marks[name] or any(v for k, v in marks.items() if k != name and k != "closure"):
                raise SystemExit(f"{label}, {name}: the statements sent carry {marks}")
            cells.append(statistics.median(times) * 1000)
            print(f"{label}: {name} {cells[-1]:,.0f} ms", flush=True)
        if len(answers) != 1:
            raise SystemExit(f"{label}: the variants disagree: {answers}")
        rows.append(
            f"| {label} | {answers.pop()} | {cells[0]:,.0f} | {cells[1]:,.0f} | **{cells[2]:,.0f}** |"
        )
    report = [
        "# County- and city-scoped statements: the subtree walked, joined from the closure table, or as a constant array",
        "",
        f"`python bench/subtree.py --database {args.database} --runs {args.runs}`, "
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {machine()}, load average "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the start. Synthetic province (bench/province.py: 1 M risk "
        "units, 100 k enterprises, 100 k targets, 39,700 jurisdictions), upgraded to 0023s. riskmap's store "
        "functions, the subtree swapped (see the module's docstring); each cell the median of "
        f"{args.runs} calls after a warm-up, in ms.",
        "",
        "| statement | answer | walk (before) | closure join | **constant array (now)** |",
        "|---|---|---:|---:|---:|",
        *rows,
        "",
        "The planner's rows for a subtree (EXPLAIN), each level:",
        "",
        *planned,
    ]
    write_report(args.output, "\n".join(report))
    print(f"written to {args.output}")


if __name__ == "__main__":
    main()
