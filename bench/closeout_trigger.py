"""Benchmark: what the close-out trigger of migration 0010 (`closeout_required`) costs an UPDATE of risk
units — the path of an import's updates and of every PATCH — against the same UPDATE with the trigger
disabled (the peer, same run, same table; the history and four-colour-cache triggers stay on in every
mode).

Modes, each an `UPDATE risk_units SET version = version + 1` of every row, in its own transaction:
- `on`: the trigger, `riskmap.may_lower = on` (admins, regulators, imports by the command line);
- `off`: the trigger, `riskmap.may_lower = off` (an enterprise): it joins the transition tables;
- `disabled`: `ALTER TABLE risk_units DISABLE TRIGGER closeout_required` (the peer).
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from pathlib import Path

from common import create_database, machine
from sqlalchemy import create_engine, text

DB_NAME = "riskmap_bench_closeout_trigger"
RESULTS = Path(__file__).resolve().parent / "results" / "closeout_trigger.md"
MODES = ("on", "off", "disabled")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--units", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--output", type=Path, default=RESULTS)
    args = ap.parse_args()
    engine = create_engine(create_database(DB_NAME))
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO risk_units (kind, sector, name, level, assessment_method, geom) "
                "SELECT 'public_area', 'urban_gas', 'u' || i, 1 + i % 4, 'direct', "
                "ST_SetSRID(ST_Point(118.8 + (i % 300) * 0.0005, 25.1 + (i / 300) * 0.0005), 4490) "
                "FROM generate_series(1, :n) AS i"
            ),
            {"n": args.units},
        )
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE risk_units"))
    times: dict[str, list[float]] = {m: [] for m in MODES}
    for _ in range(args.repeat):
        for mode in MODES:  # interleaved, so drift of the shared machine falls on every mode alike
            with engine.begin() as conn:
                if mode == "disabled":
                    conn.execute(text("ALTER TABLE risk_units DISABLE TRIGGER closeout_required"))
                conn.execute(
                    text("SELECT set_config('riskmap.may_lower', :v, true)"),
                    {"v": "off" if mode == "off" else "on"},
                )
                start = time.perf_counter()
                conn.execute(text("UPDATE risk_units SET version = version + 1"))
                times[mode].append(time.perf_counter() - start)
                if mode == "disabled":
                    conn.execute(text("ALTER TABLE risk_units ENABLE TRIGGER closeout_required"))
            with engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM risk_units"))
    peer = statistics.median(times["disabled"])
    rows = [
        f"| {m} | {statistics.median(times[m]):.3f} | {statistics.median(times[m]) / peer:.2f}× | "
        f"{', '.join(f'{t:.3f}' for t in times[m])} |"
        for m in MODES
    ]
    report = "\n".join(
        [
            "# The close-out trigger (migration 0010) on an UPDATE of every risk unit",
            "",
            f"- date: {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')}",
            f"- machine: {machine()}",
            f"- data: {args.units:,} public-area risk units (levels 1–4 in turn), history and cache triggers on",
            f"- command: `.venv/bin/python bench/closeout_trigger.py --units {args.units} --repeat {args.repeat}`",
            f"- times: median of {args.repeat} runs of `UPDATE risk_units SET version = version + 1` (wall "
            "clock, one transaction each, VACUUM between, not timed), modes interleaved",
            "",
            "| mode | median s | against disabled | runs s |",
            "|---|---:|---:|---|",
            *rows,
            "",
            "`on`: the trigger reads the setting and returns (admins, regulators, the command line). "
            "`off`: an enterprise's transaction, the trigger groups the old rows at level 1–2 and the new at 3–4 by id (no row is "
            "lowered here, so it runs to the end). `disabled`: the peer, the same UPDATE without the trigger.",
            "",
        ]
    )
    args.output.write_text(report, "utf-8")
    sys.stdout.write(report)


if __name__ == "__main__":
    main()
