"""The inspectors' roster (执法人员名录库) from Excel: rows checked all at once, scoped to the regulator's
jurisdictions, re-loading deactivates the dropped, and the stored roster feeds the plans' Inspectors."""

from __future__ import annotations

import io
from typing import Any

import openpyxl
import pytest
from sqlalchemy import Engine

from geo.store.roster import roster_for
from tests.api.builders import ENTERPRISES, QUANGANG, created, enterprise_feature, problem

ROSTER = "/api/v1/roster"
HEADER = ["姓名", "执法证号", "所属辖区代码", "所属部门", "检查组", "回避企业"]


def _xlsx(rows: list[list[Any]], header: list[str] = HEADER) -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(header)
    for r in rows:
        ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _post(c: Any, data: bytes, name: str = "名录库.xlsx", **params: Any) -> Any:
    return c.post(ROSTER, params=params, files={"file": (name, data)})


def test_load_list_and_use_the_roster(client: Any, client_as: Any, engine: Engine) -> None:
    ent = created(client.post(ENTERPRISES, json=enterprise_feature(1, at=QUANGANG)))
    code = ent["properties"]["credit_code"]
    reg = client_as("regulator", adcodes=("350505",))
    rows = [
        ["王强", "FJ0001", 350505, "泉港区应急管理局", "一组", code],
        ["李明", "FJ0002", "350505", "泉港区应急管理局", "一组", ""],
        ["张华", "FJ0003", "350505", "泉港区应急管理局", "二组", None],
    ]
    dry = _post(reg, _xlsx(rows), dry_run="true")
    assert dry.status_code == 200, dry.text
    assert dry.json() == {"dry_run": True, "inspectors": 3}
    assert reg.get(ROSTER).json()["count"] == 0
    loaded = _post(reg, _xlsx(rows))
    assert loaded.status_code == 201, loaded.text
    listed = reg.get(ROSTER).json()["inspectors"]
    assert [r["code"] for r in listed] == ["FJ0001", "FJ0002", "FJ0003"]
    with engine.connect() as conn:
        inspectors, teams = roster_for(conn, ["350505"])
    assert {i.id: i.avoid for i in inspectors}["FJ0001"] == frozenset({ent["id"]})
    assert sorted(len(t.inspector_ids) for t in teams) == [1, 2]
    assert not any(i.synthetic for i in inspectors)
    # loading again without 张华 deactivates him
    again = _post(reg, _xlsx(rows[:2]))
    assert again.json()["deactivated"] == 1
    with engine.connect() as conn:
        assert [i.id for i in roster_for(conn, ["350505"])[0]] == ["FJ0001", "FJ0002"]
    # another regulator and the enterprise see none of it; the public must sign in
    assert client_as("regulator", adcodes=("350521",)).get(ROSTER).json()["count"] == 0
    assert client_as("enterprise", enterprise_id=ent["id"]).get(ROSTER).status_code == 403
    assert client_as("public").get(ROSTER).status_code == 401


def test_bad_rows_are_named_and_nothing_is_stored(client: Any, client_as: Any) -> None:
    reg = client_as("regulator", adcodes=("350505",))
    rows = [
        ["王强", "FJ0001", "350505", "泉港区应急管理局", "一组", "91350000XXXXXXXXXX"],
        ["", "FJ0002", "350505", "泉港区应急管理局", "", ""],
        ["李明", "FJ0001", "350521", "惠安县应急管理局", "", ""],
    ]
    response = _post(reg, _xlsx(rows))
    fields = {e["field"] for e in response.json()["errors"]}
    assert response.status_code == 422
    assert {"row 2.avoid", "row 3.name", "row 4.code"} <= fields
    # a row outside the regulator's jurisdictions
    outside = _post(reg, _xlsx([["李明", "FJ0009", "350521", "惠安县应急管理局", "", ""]]))
    assert problem(outside, "row 2.jurisdiction_adcode")["reason_zh"]
    assert reg.get(ROSTER).json()["count"] == 0
    # a missing column; a file that is not a roster format
    problem(_post(reg, _xlsx([["王强"]], header=["姓名"])), "header")
    problem(_post(reg, b"{}", name="roster.geojson"), "file")


@pytest.mark.parametrize("name", ["名录库.csv"])
def test_csv_roster(client: Any, client_as: Any, name: str) -> None:
    reg = client_as("regulator", adcodes=("350505",))
    csv = "姓名,执法证号,所属辖区代码,所属部门\n王强,FJ0101,350505,泉港区应急管理局\n".encode("utf-8-sig")
    assert _post(reg, csv, name=name).status_code == 201


def test_the_plan_draws_from_the_stored_roster(client: Any, client_as: Any) -> None:
    from tests.api.builders import RISK_UNITS, risk_unit_feature

    ent = created(client.post(ENTERPRISES, json=enterprise_feature(1, at=QUANGANG)))
    created(client.post(RISK_UNITS, json=risk_unit_feature(ent["id"], at=QUANGANG, level=1)))
    reg = client_as("regulator", adcodes=("350505",))
    rows = [[f"执法{i}", f"FJ{i:04d}", "350505", "泉港区应急管理局", "一组", ""] for i in range(4)]
    rows[0][5] = ent["properties"]["credit_code"]  # FJ0000 must avoid the enterprise
    assert _post(reg, _xlsx(rows)).status_code == 201
    plan = reg.get("/api/v1/analysis/inspection-plan", params={"adcode": "350505", "period": "2026-12"})
    body = plan.json()
    assert plan.status_code == 200, plan.text
    assert body["roster"]["synthetic"] is False
    used = {p["id"] for item in body["random_checks"]["items"] for p in item["inspectors"]}
    assert used
    assert used <= {"FJ0001", "FJ0002", "FJ0003"}
    cross = reg.get("/api/v1/analysis/cross-inspection", params={"adcode": "350505"}).json()
    assert cross["roster"]["synthetic"] is False
