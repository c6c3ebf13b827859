"""Property tests (hypothesis) of the write rules, issue #19 items 3 and 4: random import rows from one
scope — an enterprise's, a regulator's of 泉港区 — with random codes, names, levels, places and declared
jurisdictions never change a row of another scope, never lower a level-1/2 unit without a close-out,
and never leave a row outside the jurisdiction it is filed under. Each import is accepted or refused as a
whole; the invariants are checked against the database before and after every example."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, text

from tests.api.builders import (
    BENGSHAN,
    ENTERPRISES,
    HUIAN,
    JURISDICTIONS,
    QUANGANG,
    QUANGANG_2,
    RISK_UNITS,
    box_polygon,
    created,
    credit_code,
    enterprise_feature,
    guarded,
    jurisdiction_feature,
    risk_unit_feature,
)
from tests.api.test_write_rules import RISK_HEADERS, csv_file, post_import

PLACES = {"泉港": QUANGANG, "泉港2": QUANGANG_2, "惠安": HUIAN, "蚌山": BENGSHAN, "北京": (116.40, 39.90)}
NAMES = [f"单元{i}" for i in range(6)]
LEVELS = [1, 2, 3, 4, 1, 2]
SQUARES = {
    "泉港": "POLYGON ((118.80 25.14, 118.81 25.14, 118.81 25.15, 118.80 25.15, 118.80 25.14))",
    "蚌山": "POLYGON ((117.35 32.88, 117.355 32.88, 117.355 32.885, 117.35 32.885, 117.35 32.88))",
}
EXAMPLES = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# What no import of the attacker may change: every column that matters, and the version.
OTHER_UNITS = (
    "SELECT id, name, level, enterprise_id, jurisdiction_adcode, ST_AsText(geom), version FROM risk_units "
    "WHERE {where} ORDER BY id"
)
BENGSHAN_ROWS = (
    "SELECT 'unit', id::text, name, level::text, ST_AsText(geom), version::text FROM risk_units "
    "WHERE jurisdiction_adcode = '340303' "
    "UNION ALL SELECT 'zone', adcode, name, parent_adcode, ST_AsText(geom), level FROM jurisdictions "
    "WHERE parent_adcode = '340303' ORDER BY 1, 2"
)
MISPLACED = (
    "SELECT t.id FROM risk_units t LEFT JOIN jurisdictions j ON j.adcode = t.jurisdiction_adcode "
    "WHERE j.geom IS NULL OR NOT ST_Covers(j.geom, ST_PointOnSurface(t.geom))"
)


def rows_of(engine: Engine, sql: str) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql)).all()]


@pytest.fixture
def register(client: Any) -> Any:
    """Enterprises 1 and 2 in 泉港区, 3 in 蚌山区, each with units 单元0–5 at levels 1, 2, 3, 4, 1, 2; a
    public-area risk and a park in each county."""
    api = guarded(client)
    for n, at in ((1, QUANGANG), (2, QUANGANG_2), (3, BENGSHAN)):
        e = created(api.post(ENTERPRISES, json=enterprise_feature(n, at=at)))["id"]
        assert e == n
        for name, level in zip(NAMES, LEVELS, strict=True):
            created(api.post(RISK_UNITS, json=risk_unit_feature(e, at=at, name=name, level=level)))
    for at in (QUANGANG, BENGSHAN):
        created(api.post(RISK_UNITS, json=risk_unit_feature(None, at=at, name="燃气管线", level=1)))
    for code, parent, box in (
        ("QG01", "350505", (118.80, 25.14, 118.81, 25.15)),
        ("BS01", "340303", (117.35, 32.88, 117.36, 32.89)),
    ):
        created(
            api.post(
                JURISDICTIONS, json=jurisdiction_feature(code, f"{code}园", "park", parent, box_polygon(*box))
            )
        )
    return api


risk_row = st.tuples(
    st.sampled_from([1, 2, 3]),  # whose credit code
    st.sampled_from([*NAMES, "新单元"]),
    st.sampled_from(["重大风险", "较大风险", "一般风险", "低风险", 4, 3]),
    st.sampled_from(sorted(PLACES)),
    st.sampled_from(["", "350505", "350521", "340303"]),
)


@EXAMPLES
@given(rows=st.lists(risk_row, min_size=1, max_size=8))
def test_an_enterprise_import_never_touches_other_enterprises_nor_lowers_a_major_unit(
    register: Any, client_as: Any, engine: Engine, rows: list[tuple[Any, ...]]
) -> None:
    ent = guarded(client_as("enterprise", enterprise_id=1))
    others = rows_of(engine, OTHER_UNITS.format(where="enterprise_id IS DISTINCT FROM 1"))
    major = {
        r[0] for r in rows_of(engine, "SELECT name FROM risk_units WHERE enterprise_id = 1 AND level <= 2")
    }
    body = csv_file(
        [*RISK_HEADERS, "所属行政区划代码"],
        [[credit_code(e), name, level, *PLACES[place], declared] for e, name, level, place, declared in rows],
    )
    response = post_import(ent, body, "risk_units")
    assert response.status_code in (201, 422), response.text
    assert rows_of(engine, OTHER_UNITS.format(where="enterprise_id IS DISTINCT FROM 1")) == others
    still = {
        r[0] for r in rows_of(engine, "SELECT name FROM risk_units WHERE enterprise_id = 1 AND level <= 2")
    }
    assert major <= still  # a major or large unit stays major or large
    assert rows_of(engine, MISPLACED) == []


zone_row = st.tuples(
    st.sampled_from(["QG01", "BS01", "XX01"]),
    st.sampled_from(["350505", "340303"]),
    st.sampled_from(sorted(SQUARES)),
    st.sampled_from(["新园", "旧园"]),
)
public_row = st.tuples(
    st.sampled_from(["燃气管线", "中心广场"]),
    st.sampled_from(["城镇燃气", "消防"]),
    st.sampled_from([1, 2, 3, 4]),
    st.sampled_from(sorted(PLACES)),
    st.sampled_from(["", "350505", "340303"]),
)


@EXAMPLES
@given(zones=st.lists(zone_row, max_size=4), risks=st.lists(public_row, max_size=6))
def test_a_regulator_import_never_reads_or_changes_rows_of_another_county(
    register: Any, client_as: Any, engine: Engine, zones: list[tuple[Any, ...]], risks: list[tuple[Any, ...]]
) -> None:
    reg = guarded(client_as("regulator", adcodes=("350505",)))
    before = rows_of(engine, BENGSHAN_ROWS)
    for code, parent, sq, name in zones:  # a file per row: one refused row doesn't hide another
        body = csv_file(
            ["编码", "名称", "类型", "上级行政区划代码", "几何"], [[code, name, "park", parent, SQUARES[sq]]]
        )
        r = post_import(reg, body, "zones")
        assert r.status_code in (201, 422), r.text
        for error in r.json().get("errors", []):  # nothing of 蚌山区 is told beyond "not yours"
            assert "蚌山" not in error["reason"] + (error["reason_zh"] or "")
    if risks:
        body = csv_file(
            ["风险点名称", "行业领域", "风险等级", "经度", "纬度", "所属行政区划代码"],
            [[name, sector, level, *PLACES[place], d] for name, sector, level, place, d in risks],
        )
        r = post_import(reg, body, "public_risks")
        assert r.status_code in (201, 422), r.text
    assert rows_of(engine, BENGSHAN_ROWS) == before
    assert rows_of(engine, MISPLACED) == []
