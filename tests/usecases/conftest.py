"""The register the use-case tests read, written straight into PostGIS (no HTTP): in 泉港区 (350505) a chain
of three chemical plants A–B–C (450 m steps; levels 1, 2, 3), a filling station D and an LPG shop E 300 m
apart (levels 3 and 4), a scenic spot F with no unit, and a school 300 m south of A."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, text

from api.settings import Settings
from tests.store.test_clusters import FUEL, LPG, QUANGANG, TOURISM, Register, offset


@pytest.fixture(scope="module")
def layout(engine: Engine, boundaries: None) -> dict[str, Any]:
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE risk_units, protection_targets, enterprises RESTART IDENTITY CASCADE"))
        conn.execute(text("TRUNCATE history, closeouts RESTART IDENTITY CASCADE"))
    reg = Register(engine)
    a = QUANGANG
    d = offset(a, 0, 2500)
    ids = {
        "A": reg.enterprise(a, levels=[1], name="A厂"),
        "B": reg.enterprise(offset(a, 90, 450), levels=[2], name="B厂"),
        "C": reg.enterprise(offset(a, 90, 900), levels=[3], name="C厂"),
        "D": reg.enterprise(d, FUEL, levels=[3], name="D站"),
        "E": reg.enterprise(offset(d, 60, 300), LPG, levels=[4], name="=E店"),  # a formula-like name
        "F": reg.enterprise(offset(offset(a, 90, 900), 0, 450), TOURISM, name="F景区"),
    }
    ids["school"] = reg.target(offset(a, 180, 300), "测试小学")
    reg.save()
    return ids


@pytest.fixture(scope="module")
def settings() -> Settings:
    return Settings()
