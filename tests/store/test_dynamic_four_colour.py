"""A risk map that moves with the hidden hazards: an open 重大隐患 turns its unit's zone red on the dynamic
four-colour map, closing it restores the assessed colour, in PostGIS and in the GeoPandas reference."""

from __future__ import annotations

import datetime as dt
from typing import Any

import geopandas as gpd
import pytest
import shapely
from sqlalchemy import Engine, text

from geo.access import SYSTEM
from geo.four_colour import four_colour
from geo.hazards import Action
from geo.store import hazards
from geo.store.four_colour import four_colour_sql, load_units_frame

TODAY = dt.date(2026, 11, 16)
BOX = (118.80, 25.10, 118.90, 25.20)


def _zones() -> gpd.GeoDataFrame:
    xmin, ymin, xmax, ymax = BOX
    mid = (xmin + xmax) / 2
    return gpd.GeoDataFrame(
        {"code": ["W", "E"], "name": ["西", "东"]},
        geometry=[shapely.box(xmin, ymin, mid, ymax), shapely.box(mid, ymin, xmax, ymax)],
        crs=4490,
    )


def _levels(frame: gpd.GeoDataFrame) -> dict[str, Any]:
    return {
        c: (None if lv is None or lv != lv else int(lv))
        for c, lv in zip(frame["code"], frame["level"], strict=True)
    }


@pytest.fixture
def units(engine: Engine, boundaries: None, clean: None) -> dict[str, int]:
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO risk_units (name, level, assessment_method, kind, sector, geom, jurisdiction_adcode) "
                "VALUES ('西区仓库', 3, 'direct', 'public_area', 'urban_gas', "
                "ST_SetSRID(ST_MakePoint(118.82, 25.15), 4490), '350505'), ('东区管廊', 4, 'direct', "
                "'public_area', 'urban_gas', ST_SetSRID(ST_MakePoint(118.88, 25.15), 4490), '350505')"
            )
        )
        rows = conn.execute(text("SELECT name, id FROM risk_units")).all()
    return {name: int(i) for name, i in rows}


def _maps(engine: Engine) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    with engine.connect() as conn:
        shown = hazards.raised_levels(conn)
        assessed = four_colour_sql(conn, _zones())
        dynamic = four_colour_sql(conn, _zones(), shown_levels=shown)
        frame = load_units_frame(conn, BOX)
    frame["level"] = [shown.get(int(i), int(lv)) for i, lv in zip(frame["id"], frame["level"], strict=True)]
    reference = four_colour(_zones(), frame)
    assert _levels(reference) == _levels(dynamic)
    assert reference["counts"].tolist() == dynamic["counts"].tolist()
    return (
        _levels(assessed),
        _levels(dynamic),
        dict(zip(dynamic["code"], dynamic["raised_units"], strict=True)),
    )


def test_an_open_major_hazard_turns_the_zone_red_until_closed(engine: Engine, units: dict[str, int]) -> None:
    assert _maps(engine)[1] == {"W": 3, "E": 4}
    with engine.begin() as conn:
        found = hazards.report(
            conn,
            SYSTEM,
            {
                "risk_unit_id": units["西区仓库"],
                "grade": "major",
                "criterion": "HC12",
                "description": "报警器失效",
            },
            today=TODAY,
        )
    assessed, dynamic, raised = _maps(engine)
    assert assessed == {"W": 3, "E": 4}
    assert dynamic == {"W": 1, "E": 4}
    assert raised == {"W": 1, "E": 0}
    key = found["id"]
    steps: list[tuple[Action, dict[str, Any]]] = [
        (
            Action.assign,
            {
                "working_days": 5,
                "responsible": "区住建局",
                "measures": "更换",
                "funds": "财政",
                "plan": "预案",
            },
        ),
        (Action.rectify, {"rectification": "已更换"}),
    ]
    with engine.begin() as conn:
        for action, body in steps:
            hazards.step(conn, SYSTEM, key, action, body, today=TODAY)
    assert _maps(engine)[1] == {"W": 1, "E": 4}  # rectified but not yet accepted: still open
    other = type(SYSTEM)(SYSTEM.role, username="second-admin")
    with engine.begin() as conn:
        hazards.step(conn, other, key, Action.accept, {"evaluator": "评估公司"}, today=TODAY)
    assert _maps(engine)[1] == {"W": 3, "E": 4}  # accepted: the assessed colour is back


def test_three_open_general_hazards_raise_one_level(engine: Engine, units: dict[str, int]) -> None:
    with engine.begin() as conn:
        for _ in range(3):
            hazards.report(
                conn,
                SYSTEM,
                {"risk_unit_id": units["东区管廊"], "grade": "general", "description": "井盖破损"},
                today=TODAY,
            )
    assert _maps(engine)[1] == {"W": 3, "E": 3}
