"""Dynamic levels beyond the four-colour map (issue #14 item 3): the enterprise levels, the summary and the
trend take `levels=assessed|dynamic`; under dynamic an open 重大隐患 raises its unit (and so its enterprise)
to level 1 and says which hazard raised it, and closing it restores the assessed level."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.builders import (
    ENTERPRISES,
    HUIAN,
    QUANGANG,
    RISK_UNITS,
    created,
    enterprise_feature,
    ok,
    problem,
    risk_unit_feature,
)

HAZARDS = "/api/v1/hazards"
LEVELS = "/api/v1/analysis/enterprise-levels"
SUMMARY = "/api/v1/analysis/summary"
FIVE = {"responsible": "安全部", "measures": "更换阀门", "funds": "10 万元", "plan": "停用罐区"}


@pytest.fixture
def world(client: Any, client_as: Any) -> dict[str, Any]:
    e1 = int(created(client.post(ENTERPRISES, json=enterprise_feature(1, at=QUANGANG)))["id"])
    e2 = int(created(client.post(ENTERPRISES, json=enterprise_feature(2, at=HUIAN)))["id"])
    u1 = int(created(client.post(RISK_UNITS, json=risk_unit_feature(e1, at=QUANGANG, level=3)))["id"])
    created(client.post(RISK_UNITS, json=risk_unit_feature(e1, at=QUANGANG, level=4, name="仓库")))
    created(client.post(RISK_UNITS, json=risk_unit_feature(e2, at=HUIAN, level=3)))
    return {
        "admin": client,
        "regulator": client_as("regulator", adcodes=("350505",)),
        "regulator_b": client_as("regulator", adcodes=("350505",)),
        "enterprise": client_as("enterprise", enterprise_id=e1),
        "public": client_as("public"),
        "e1": e1,
        "u1": u1,
    }


def _major(c: Any, unit: int) -> int:
    body = {"risk_unit_id": unit, "grade": "major", "criterion": "HC12", "description": "储罐区报警器失效"}
    return int(created(c.post(HAZARDS, json=body))["id"])


def _close(world: dict[str, Any], key: int) -> None:
    reg = world["regulator"]
    ok(reg.post(f"{HAZARDS}/{key}/assign", json={"working_days": 5, **FIVE}))
    ok(world["enterprise"].post(f"{HAZARDS}/{key}/rectify", json={"rectification": "已整改"}))
    ok(world["regulator_b"].post(f"{HAZARDS}/{key}/accept", json={"evaluator": "评估公司"}))
    ok(reg.post(f"{HAZARDS}/{key}/close", json={}))


def _enterprise(c: Any, e: int, **params: str) -> dict[str, Any]:
    body = ok(c.get(LEVELS, params={"adcode": "350505", **params}))
    props: dict[str, Any] = next(f["properties"] for f in body["features"] if f["id"] == e)
    return props


def test_a_major_hazard_raises_the_enterprise_and_the_summary(world: dict[str, Any]) -> None:
    reg, e1, u1 = world["regulator"], world["e1"], world["u1"]
    assert _enterprise(reg, e1)["level"] == 3
    before = ok(reg.get(SUMMARY, params={"adcode": "350505", "levels": "dynamic"}))
    assert before["counts"] == {"1": 0, "2": 0, "3": 1, "4": 1}
    assert before["raised_units"] == 0

    key = _major(reg, u1)
    dynamic = _enterprise(reg, e1, levels="dynamic")
    assert dynamic["level"] == 1
    assert dynamic["counts"] == {"1": 1, "2": 0, "3": 0, "4": 1}
    assert dynamic["raised"] == [
        {
            "risk_unit_id": u1,
            "name": "液氨储罐区",
            "enterprise_id": e1,
            "assessed_level": 3,
            "dynamic_level": 1,
            "rules": ["DR1"],
            "raised_by": [{"hazard_id": key, "grade": "major", "rule": "DR1"}],
        }
    ]
    assessed = _enterprise(reg, e1)
    assert assessed["level"] == 3  # the assessed levels are unchanged
    assert "raised" not in assessed

    raised = ok(reg.get(SUMMARY, params={"adcode": "350505", "levels": "dynamic"}))
    assert raised["levels"] == "dynamic"
    assert raised["counts"] == {"1": 1, "2": 0, "3": 0, "4": 1}
    assert raised["raised_units"] == 1
    assert raised["raised"][0]["raised_by"] == [{"hazard_id": key, "grade": "major", "rule": "DR1"}]
    assert sum(s["counts"]["1"] for s in raised["by_sector"]) == 1
    plain = ok(reg.get(SUMMARY, params={"adcode": "350505"}))
    assert plain["counts"] == {"1": 0, "2": 0, "3": 1, "4": 1}
    assert plain["levels"] == "assessed"
    public = ok(world["public"].get(SUMMARY, params={"adcode": "350505", "levels": "dynamic"}))
    assert public["counts"] == raised["counts"]  # aggregates are public, the hazards are not
    assert "raised" not in public

    _close(world, key)
    assert _enterprise(reg, e1, levels="dynamic")["level"] == 3
    assert _enterprise(reg, e1, levels="dynamic")["raised"] == []
    after = ok(reg.get(SUMMARY, params={"adcode": "350505", "levels": "dynamic"}))
    assert after["counts"] == plain["counts"]
    assert after["raised"] == []

    problem(reg.get(LEVELS, params={"adcode": "350505", "levels": "live"}), "levels")
    problem(reg.get(SUMMARY, params={"adcode": "350505", "levels": "live"}), "levels")


def test_the_trend_keeps_both_levels(world: dict[str, Any], client: Any) -> None:
    """A major hazard reported in October and closed in November: the dynamic trend shows its unit at level
    1 at October's end only; the assessed trend is unchanged."""
    reg = world["regulator"]
    unit = int(
        created(
            client.post(
                RISK_UNITS,
                json=risk_unit_feature(
                    world["e1"], at=QUANGANG, level=3, name="装卸区", assessed_on="2026-01-10"
                ),
            )
        )["id"]
    )
    body = {
        "risk_unit_id": unit,
        "grade": "major",
        "criterion": "HC12",
        "description": "装卸区静电接地失效",
        "reported_on": "2026-10-15",
    }
    key = int(created(reg.post(HAZARDS, json=body))["id"])
    ok(reg.post(f"{HAZARDS}/{key}/assign", json={"working_days": 5, "on": "2026-10-16", **FIVE}))
    ok(
        world["enterprise"].post(
            f"{HAZARDS}/{key}/rectify", json={"rectification": "已整改", "on": "2026-11-02"}
        )
    )
    ok(
        world["regulator_b"].post(
            f"{HAZARDS}/{key}/accept", json={"evaluator": "评估公司", "on": "2026-11-05"}
        )
    )
    ok(reg.post(f"{HAZARDS}/{key}/close", json={"on": "2026-11-06"}))

    params = {"adcode": "350505", "from": "2026-09", "to": "2026-11"}
    assessed = {
        m["month"]: m["counts"] for m in ok(reg.get("/api/v1/analysis/trend", params=params))["months"]
    }
    assert all(c["3"] >= 1 and c["1"] == 0 for c in assessed.values())
    dynamic = ok(reg.get("/api/v1/analysis/trend", params={**params, "levels": "dynamic"}))["months"]
    by_month = {m["month"]: m for m in dynamic}
    assert {m: by_month[m]["assessed_counts"] for m in by_month} == assessed
    assert by_month["2026-09"]["counts"] == assessed["2026-09"]
    october = by_month["2026-10"]
    assert october["counts"]["1"] == 1
    assert october["counts"]["3"] == assessed["2026-10"]["3"] - 1
    assert october["raised_units"] == 1
    assert october["raised"] == [
        {
            "risk_unit_id": unit,
            "assessed_level": 3,
            "dynamic_level": 1,
            "rules": ["DR1"],
            "raised_by": [{"hazard_id": key, "grade": "major", "rule": "DR1"}],
        }
    ]
    assert by_month["2026-11"]["counts"] == assessed["2026-11"]  # closed on 6 November
    assert by_month["2026-11"]["raised"] == []
    public = ok(world["public"].get("/api/v1/analysis/trend", params={**params, "levels": "dynamic"}))[
        "months"
    ]
    assert [m["counts"] for m in public] == [m["counts"] for m in dynamic]
    assert all("raised" not in m for m in public)
    problem(reg.get("/api/v1/analysis/trend", params={**params, "levels": "live"}), "levels")
