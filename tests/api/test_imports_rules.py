"""An import and a POST accept and reject the same things; places, duplicates and natural keys."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, text

from tests.api.builders import (
    ENTERPRISES,
    RISK_UNITS,
    created,
    credit_code,
    enterprise_feature,
    guarded,
    ok,
    risk_unit_feature,
)

IMPORTS = "/api/v1/imports"


def _csv(client: Any, body: str, kind: str, **params: Any) -> Any:
    return client.post(IMPORTS, params={"kind": kind, **params}, files={"file": ("f.csv", body.encode())})


@pytest.fixture
def api(client: Any) -> Any:
    return guarded(client)


# (property, POST value, CSV header, CSV cell)
SAME_RULES = [
    ("contact_phone", "0595-123", "联系电话", "0595-123"),
    ("credit_code", "913505057000000012", "统一社会信用代码", "913505057000000012"),
    ("sector", "采矿", "行业领域", "采矿"),
]


@pytest.mark.parametrize(("prop", "value", "header", "cell"), SAME_RULES)
def test_enterprise_rules_are_the_api_rules(api: Any, prop: str, value: str, header: str, cell: str) -> None:
    post = api.post(ENTERPRISES, json=enterprise_feature(1, **{prop: value}))
    assert post.status_code == 422
    reason = next(e for e in post.json()["errors"] if e["field"] == f"properties.{prop}")
    cells = {
        "统一社会信用代码": credit_code(1),
        "企业名称": "泉港石化",
        "行业领域": "危险化学品",
        "联系电话": "0595-87781234",
    }
    cells[header] = cell
    body = ",".join(cells) + ",经度,纬度\n" + ",".join(cells.values()) + ",118.88,25.11\n"
    report = ok(_csv(api, body, "enterprises", dry_run="true"))
    found = next(e for e in report["errors"] if e["field"] == f"row 2.{prop}")
    assert found["reason"] == reason["reason"]
    assert found["reason_zh"] == reason["reason_zh"]


RISK_RULES = [
    (
        {"assessment_method": "LEC", "assessment_inputs": {"L": 3, "E": 6, "C": 15}, "level": 4},
        "评估方法,L,E,C,风险等级",
        "LEC,3,6,15,4",
        "level",
    ),
    (
        {"assessment_method": "LEC", "assessment_inputs": {"L": 4, "E": 6, "C": 15}},
        "评估方法,L,E,C",
        "LEC,4,6,15",
        "assessment_inputs.L",
    ),
    ({"accident_types": ["火灾", "飞碟"]}, "可能导致的事故类型", "火灾、飞碟", "accident_types[1]"),
    (
        {"assessed_on": "2026-01-01", "next_assessment_due": "2029-01-01"},
        "评估日期,下次评估日期",
        "2026-01-01,2029-01-01",
        "next_assessment_due",
    ),
]


@pytest.mark.parametrize(("props", "headers", "cells", "field"), RISK_RULES)
def test_risk_unit_rules_are_the_api_rules(
    api: Any, props: dict[str, Any], headers: str, cells: str, field: str
) -> None:
    eid = created(api.post(ENTERPRISES, json=enterprise_feature(1)))["id"]
    feature = risk_unit_feature(eid, **props)
    if "level" not in props:
        feature["properties"].pop("level", None)
        if "assessment_method" not in props:
            feature["properties"]["level"] = 2
    post = api.post(RISK_UNITS, json=feature)
    assert post.status_code == 422, post.text
    reasons = {e["field"].removeprefix("properties."): e for e in post.json()["errors"]}
    body = f"所属企业统一社会信用代码,风险点名称,{headers}" + (
        ",风险等级" if "level" not in headers and "评估方法" not in headers else ""
    )
    body += (
        f",经度,纬度\n{credit_code(1)},液氨储罐区,{cells}"
        + (",2" if "level" not in headers and "评估方法" not in headers else "")
        + ",118.88,25.11\n"
    )
    report = ok(_csv(api, body, "risk_units", dry_run="true"))
    imported = {e["field"].removeprefix("row 2."): e for e in report["errors"]}
    file_field = field.replace("assessment_inputs.", "factor_")
    assert file_field in imported, report["errors"]
    assert field in reasons, post.json()
    assert imported[file_field]["reason"] == reasons[field]["reason"]


def test_rows_outside_the_declared_jurisdiction_are_named(api: Any, engine: Engine) -> None:
    body = "防护目标名称,防护目标类型,人数,经度,纬度\n泉港一中,学校,900,118.88,25.11\n蚌山小学,学校,900,117.355,32.886\n"
    response = _csv(api, body, "protection_targets", jurisdiction="350505")
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["row 3.geometry"]
    assert "outside jurisdiction 350505" in response.json()["errors"][0]["reason"]
    assert _csv(api, body, "protection_targets").status_code == 201  # without it, each lands where it lies
    with engine.connect() as conn:
        places = dict(conn.execute(text("SELECT name, jurisdiction_adcode FROM protection_targets")).all())
    assert places == {"泉港一中": "350505", "蚌山小学": "340303"}


def test_duplicates_in_the_file_name_the_first_row(api: Any) -> None:
    body = "风险点名称,行业领域,风险等级,经度,纬度\n燃气管线,城镇燃气,2,118.88,25.11\n燃气管线,城镇燃气,3,118.881,25.111\n燃气管线,消防,3,118.881,25.111\n"
    response = _csv(api, body, "public_risks")
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert [e["field"] for e in errors] == ["row 3.name"]
    assert "row 2" in errors[0]["reason"]
    assert "第 2 行" in errors[0]["reason_zh"]


def test_public_risks_and_targets_upsert_by_their_natural_keys(api: Any, engine: Engine) -> None:
    risks = "风险点名称,行业领域,风险等级,管控措施,经度,纬度\n燃气管线,城镇燃气,2,巡检,118.88,25.11\n中心广场,消防,3,限流,118.89,25.12\n"
    assert _csv(api, risks, "public_risks").json()["inserted"] == 2
    fixed = risks.replace("巡检", "每日巡检").replace(",2,", ",1,")
    again = _csv(api, fixed, "public_risks").json()
    assert (again["inserted"], again["updated"], again["unchanged"]) == (0, 1, 1)  # 中心广场 is as stored
    targets = "防护目标名称,防护目标类型,户数,经度,纬度\n南山村,村庄,45,118.88,25.11\n"
    assert _csv(api, targets, "protection_targets").json()["inserted"] == 1
    assert _csv(api, targets.replace("45", "12"), "protection_targets").json()["updated"] == 1
    with engine.connect() as conn:
        assert conn.execute(
            text("SELECT level, control_measures FROM risk_units WHERE name = '燃气管线'")
        ).one() == (1, "每日巡检")
        assert conn.execute(text("SELECT households, gb_class FROM protection_targets")).one() == (
            12,
            "general_2",
        )
        assert conn.execute(text("SELECT count(*) FROM risk_units")).scalar_one() == 2
