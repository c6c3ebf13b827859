"""Hidden hazards (隐患排查治理) through the API: the whole loop with deadlines in working days, overdue,
re-opening, 挂牌督办, four eyes, scopes, bad input, attachments and the dynamic level."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from geo.hazards import deadline, dynamic_level
from tests.api.builders import (
    ENTERPRISES,
    HUIAN,
    QUANGANG,
    RISK_UNITS,
    created,
    enterprise_feature,
    ok,
    point,
    problem,
    risk_unit_feature,
)

HAZARDS = "/api/v1/hazards"
INSPECTIONS = "/api/v1/inspections"
FIVE = {
    "responsible": "安全部 王强",
    "measures": "更换泄漏阀门，增设可燃气体报警",
    "funds": "12 万元，已列入年度安全投入",
    "plan": "整改期间停用罐区，现场设警戒，应急预案见附件",
}
JPEG = b"\xff\xd8\xff\xe0" + b"0" * 100
PNG = b"\x89PNG\r\n\x1a\n" + b"0" * 100


@pytest.fixture
def world(client: Any, client_as: Any) -> dict[str, Any]:
    e1 = int(created(client.post(ENTERPRISES, json=enterprise_feature(1, at=QUANGANG)))["id"])
    e2 = int(created(client.post(ENTERPRISES, json=enterprise_feature(2, at=HUIAN)))["id"])
    u1 = int(created(client.post(RISK_UNITS, json=risk_unit_feature(e1, at=QUANGANG, level=3)))["id"])
    u2 = int(created(client.post(RISK_UNITS, json=risk_unit_feature(e2, at=HUIAN, level=3)))["id"])
    return {
        "admin": client,
        "regulator": client_as("regulator", adcodes=("350505",)),
        "regulator_b": client_as("regulator", adcodes=("350505",)),
        "other_regulator": client_as("regulator", adcodes=("350521",)),
        "enterprise": client_as("enterprise", enterprise_id=e1),
        "public": client_as("public"),
        "e1": e1,
        "e2": e2,
        "u1": u1,
        "u2": u2,
    }


def _report(c: Any, unit: int, grade: str = "general", **more: Any) -> dict[str, Any]:
    body = {"risk_unit_id": unit, "grade": grade, "description": "储罐区可燃气体报警器失效", **more}
    if grade == "major" and "criterion" not in more:
        body["criterion"] = "HC12"
    return created(c.post(HAZARDS, json=body))


def _made(response: Any) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _step(c: Any, key: int, action: str, **body: Any) -> dict[str, Any]:
    return ok(c.post(f"{HAZARDS}/{key}/{action}", json=body))


def test_the_whole_loop_of_a_major_hazard(world: dict[str, Any]) -> None:
    ent, reg, reg_b = world["enterprise"], world["regulator"], world["regulator_b"]
    found = _report(reg, world["u1"], "major")
    key = found["id"]
    assert found["properties"]["status"] == "reported"
    assert found["properties"]["enterprise_id"] == world["e1"]
    assert found["geometry"]["type"] == "Point"

    assigned = _step(reg, key, "assign", working_days=10, notice_ref="泉应急隐改〔2026〕12号", **FIVE)
    props = assigned["properties"]
    assert props["status"] == "assigned"
    assert props["deadline"] == deadline(dt.date.fromisoformat(props["assigned_on"]), 10).day.isoformat()

    _step(ent, key, "start")
    rectified = _step(ent, key, "rectify", rectification="已更换阀门并校验报警器")["properties"]
    assert rectified["status"] == "rectified"
    assert rectified["evaluation_due"] is not None  # third-party evaluation within 10 working days

    # the enterprise cannot accept its own rectification; a major one needs the third party named
    assert ent.post(f"{HAZARDS}/{key}/accept", json={"evaluator": "某评估公司"}).status_code == 403
    problem(reg.post(f"{HAZARDS}/{key}/accept", json={}), "evaluator")

    # a failed acceptance re-opens it
    reopened = _step(reg, key, "reject", reason="报警器未联锁")["properties"]
    assert reopened["status"] == "rectifying"
    assert reopened["rectified_by"] is None
    _step(ent, key, "rectify", rectification="报警器已联锁切断阀")
    _step(reg_b, key, "accept", evaluator="福建某安全评价有限公司")
    closed = _step(reg, key, "close")["properties"]
    assert closed["status"] == "closed"
    assert not closed["open"]

    full = ok(reg.get(f"{HAZARDS}/{key}"))["properties"]
    assert [e["action"] for e in full["events"]] == [
        "report",
        "assign",
        "start",
        "rectify",
        "reject",
        "rectify",
        "accept",
        "close",
    ]


def test_the_rectifier_may_not_accept_a_public_area_hazard(world: dict[str, Any]) -> None:
    admin, reg, reg_b = world["admin"], world["regulator"], world["regulator_b"]
    unit = int(created(admin.post(RISK_UNITS, json=risk_unit_feature(at=(118.91, 25.15), level=3)))["id"])
    key = _report(reg, unit)["id"]
    _step(reg, key, "assign", working_days=5, responsible="区住建局")
    _step(reg, key, "rectify", rectification="已修复")
    problem(reg.post(f"{HAZARDS}/{key}/accept", json={}), "actor")
    assert _step(reg_b, key, "accept")["properties"]["status"] == "accepted"


def test_a_major_hazard_needs_five_implementations_and_a_criterion(world: dict[str, Any]) -> None:
    reg = world["regulator"]
    problem(
        reg.post(HAZARDS, json={"risk_unit_id": world["u1"], "grade": "major", "description": "x"}),
        "criterion",
    )
    key = _report(reg, world["u1"], "major")["id"]
    response = reg.post(f"{HAZARDS}/{key}/assign", json={"working_days": 5, "responsible": "王强"})
    fields = {e["field"] for e in response.json()["errors"]}
    assert response.status_code == 422
    assert {"measures", "funds", "plan"} <= fields


def test_bad_input_writes_nothing(world: dict[str, Any]) -> None:
    ent, reg = world["enterprise"], world["regulator"]
    before = ok(world["admin"].get(HAZARDS))["numberMatched"]
    # a hazard on a unit of another enterprise: named, and the same answer as a unit that does not exist
    other = ent.post(HAZARDS, json={"risk_unit_id": world["u2"], "grade": "general", "description": "x"})
    missing = ent.post(HAZARDS, json={"risk_unit_id": 10**9, "grade": "general", "description": "x"})
    problem(other, "risk_unit_id")
    assert other.json()["errors"][0]["reason"].replace(str(world["u2"]), "N") == missing.json()["errors"][0][
        "reason"
    ].replace(str(10**9), "N")
    key = _report(reg, world["u1"])["id"]
    # a deadline in the past; a state change out of order
    problem(
        reg.post(f"{HAZARDS}/{key}/assign", json={"deadline": "2020-01-06", "responsible": "x"}), "deadline"
    )
    problem(reg.post(f"{HAZARDS}/{key}/accept", json={}), "status", status=409)
    # attachments: not an image or PDF; too large
    bad = reg.post(f"{HAZARDS}/{key}/attachments", files={"file": ("x.jpg", b"<html>not a photo</html>")})
    problem(bad, "file")
    huge = reg.post(f"{HAZARDS}/{key}/attachments", files={"file": ("x.jpg", JPEG + b"0" * (10 * 2**20))})
    problem(huge, "file")
    assert ok(world["admin"].get(HAZARDS))["numberMatched"] == before + 1
    assert ok(reg.get(f"{HAZARDS}/{key}"))["properties"]["status"] == "reported"
    assert ok(reg.get(f"{HAZARDS}/{key}"))["properties"]["attachments"] == []


def test_attachments_are_kept_and_served_as_downloads(world: dict[str, Any]) -> None:
    ent = world["enterprise"]
    key = _report(ent, world["u1"])["id"]
    up = _made(ent.post(f"{HAZARDS}/{key}/attachments", files={"file": ("../../etc/现场.png", PNG)}))
    assert up["media_type"] == "image/png"
    assert up["filename"] == "现场.png"
    got = ent.get(f"{HAZARDS}/{key}/attachments/{up['id']}")
    assert got.status_code == 200
    assert got.content == PNG
    assert got.headers["content-type"] == "image/png"
    assert got.headers["content-disposition"].startswith("attachment")
    assert world["other_regulator"].get(f"{HAZARDS}/{key}/attachments/{up['id']}").status_code == 404


def test_scopes(world: dict[str, Any]) -> None:
    reg, other, ent, public = (
        world["regulator"],
        world["other_regulator"],
        world["enterprise"],
        world["public"],
    )
    mine = _report(ent, world["u1"])["id"]
    theirs = _report(world["admin"], world["u2"])["id"]
    assert other.get(f"{HAZARDS}/{mine}").status_code == 404
    assert (
        other.post(f"{HAZARDS}/{mine}/assign", json={"working_days": 3, "responsible": "x"}).status_code
        == 404
    )
    assert {f["id"] for f in ok(other.get(HAZARDS))["features"]} == {theirs}
    assert {f["id"] for f in ok(reg.get(HAZARDS))["features"]} == {mine}
    assert {f["id"] for f in ok(ent.get(HAZARDS))["features"]} == {mine}
    assert ent.get(f"{HAZARDS}/{theirs}").status_code == 404
    assert public.get(HAZARDS).status_code == 401
    # an enterprise records only self-inspections
    assert (
        ent.post(
            INSPECTIONS,
            json={"kind": "random", "risk_unit_ids": [world["u1"]], "inspectors": "x", "result": "no_hazard"},
        ).status_code
        == 403
    )


def test_inspection_and_its_hazards(world: dict[str, Any]) -> None:
    reg = world["regulator"]
    inspection = _made(
        reg.post(
            INSPECTIONS,
            json={
                "kind": "random",
                "enterprise_id": world["e1"],
                "risk_unit_ids": [world["u1"]],
                "inspectors": "李明、张华",
                "checklist": "危险化学品企业安全检查表",
                "result": "hazards_found",
                "plan_ref": "双随机 350505 2026-12",
            },
        )
    )
    assert inspection["jurisdiction_adcode"] == "350505"
    key = _report(reg, world["u1"], inspection_id=inspection["id"])["id"]
    assert ok(reg.get(f"{INSPECTIONS}/{inspection['id']}"))["hazard_ids"] == [key]
    listed = ok(world["enterprise"].get(INSPECTIONS))
    assert listed["numberMatched"] == 1
    assert world["other_regulator"].get(f"{INSPECTIONS}/{inspection['id']}").status_code == 404


def test_overdue_and_supervision(world: dict[str, Any]) -> None:
    reg = world["regulator"]
    key = _report(reg, world["u1"], "major")["id"]
    problem(
        reg.post(f"{HAZARDS}/{key}/supervise", json={"supervising_unit": " "}), "supervising_unit", status=422
    )
    supervised = _step(reg, key, "supervise", supervising_unit="泉港区人民政府")["properties"]
    assert supervised["supervised"] is True
    due = _step(reg, key, "assign", working_days=3, **FIVE)["properties"]["deadline"]
    late = (dt.date.fromisoformat(due) + dt.timedelta(days=1)).isoformat()
    overdue = ok(reg.get(HAZARDS, params={"overdue": "true", "as_of": late}))
    assert [f["id"] for f in overdue["features"]] == [key]
    assert overdue["features"][0]["properties"]["working_days_overdue"] >= 0
    assert ok(reg.get(HAZARDS, params={"overdue": "true", "as_of": due}))["numberMatched"] == 0
    assert ok(reg.get(HAZARDS, params={"supervised": "true"}))["numberMatched"] == 1
    general = _report(reg, world["u1"])["id"]
    problem(reg.post(f"{HAZARDS}/{general}/supervise", json={"supervising_unit": "区政府"}), "grade")


def test_open_hazards_raise_the_dynamic_level(world: dict[str, Any]) -> None:
    reg = world["regulator"]
    url = "/api/v1/analysis/dynamic-levels"
    assert ok(reg.get(url, params={"adcode": "350505"}))["units"] == []
    generals = [_report(reg, world["u1"])["id"] for _ in range(3)]
    unit = ok(reg.get(url, params={"adcode": "350505"}))["units"][0]
    assert (unit["assessed_level"], unit["dynamic_level"], unit["rules"]) == (3, 2, ["DR2"])
    assert unit["raised_by_hazards"] == generals
    major = _report(reg, world["u1"], "major")["id"]
    unit = ok(reg.get(url, params={"adcode": "350505"}))["units"][0]
    assert unit["dynamic_level"] == 1
    assert major in unit["raised_by_hazards"]


def test_dynamic_level_rule() -> None:
    assert dynamic_level(3, []).level == 3
    assert dynamic_level(4, [(1, "general"), (2, "general")]).level == 4
    assert dynamic_level(4, [(1, "general"), (2, "general"), (3, "general")]).level == 3
    raised = dynamic_level(2, [(7, "major")])
    assert (raised.level, raised.hazard_ids, raised.raised) == (1, (7,), True)
    assert dynamic_level(1, [(7, "major")]).raised is False


def test_deadline_across_national_day() -> None:
    # 2026-09-30 (Wed) + 3 working days: 国庆 1–7 Oct are holidays; 8, 9 Oct and the make-up Saturday 10 Oct
    due = deadline(dt.date(2026, 9, 30), 3)
    assert due.day == dt.date(2026, 10, 10)
    assert deadline(dt.date(2026, 9, 30), 4).day == dt.date(2026, 10, 12)
    assert not due.provisional
    assert deadline(dt.date(2026, 12, 30), 5).provisional  # past the calendar: say so


def test_location_point(world: dict[str, Any]) -> None:
    key = _report(world["regulator"], world["u1"], geometry=point(118.8805, 25.1105))["id"]
    got = ok(world["regulator"].get(f"{HAZARDS}/{key}"))
    assert got["geometry"]["coordinates"] == pytest.approx([118.8805, 25.1105])


def test_monthly_statistics_and_announcements(world: dict[str, Any]) -> None:
    reg, reg_b = world["regulator"], world["regulator_b"]
    today = dt.date.today()
    month = today.strftime("%Y-%m")
    major = _report(reg, world["u1"], "major")["id"]
    _report(reg, world["u1"])
    _step(reg, major, "supervise", supervising_unit="泉港区人民政府")
    _step(reg, major, "assign", working_days=5, **FIVE)
    _step(world["enterprise"], major, "rectify", rectification="已整改")
    _step(reg_b, major, "accept", evaluator="评估公司")
    _step(reg, major, "close")
    stats = ok(reg.get(f"{HAZARDS}/statistics", params={"month": month, "adcode": "350505"}))
    assert stats["total"]["found"] == 2
    assert stats["by_grade"]["major"]["closed"] == 1
    assert stats["by_grade"]["general"]["open"] == 1
    assert stats["total"]["rectification_rate"] == 0.5
    assert stats["report_due"].endswith("-03")
    assert (
        world["other_regulator"]
        .get(f"{HAZARDS}/statistics", params={"month": month, "adcode": "350505"})
        .status_code
        == 403
    )
    assert world["public"].get(f"{HAZARDS}/statistics", params={"month": month}).status_code == 401
    problem(reg.get(f"{HAZARDS}/statistics", params={"month": "2026-13"}), "month")
    public = ok(world["public"].get(f"{HAZARDS}/announcements"))["announcements"]
    assert [a["id"] for a in public] == [major]
    assert public[0]["criterion_zh"]
    assert not {"description", "reported_by", "responsible", "lon", "lat"} & set(public[0])


def test_five_lists_workbook(world: dict[str, Any]) -> None:
    import io

    import openpyxl

    reg, ent = world["regulator"], world["enterprise"]
    key = _report(reg, world["u1"], "major")["id"]
    _step(reg, key, "assign", working_days=5, notice_ref="泉应急隐改〔2026〕1号", **FIVE)
    _report(ent, world["u1"], description='=HYPERLINK("http://x")')
    got = reg.get(f"{HAZARDS}/lists.xlsx", params={"adcode": "350505"})
    assert got.status_code == 200, got.text
    wb = openpyxl.load_workbook(io.BytesIO(got.content))
    assert wb.sheetnames == ["检查清单", "隐患清单", "整改清单", "销号清单", "措施清单"]
    hazards = wb["隐患清单"]
    assert hazards.max_row == 3
    assert isinstance(hazards["B2"].value, dt.datetime)  # a real date cell
    assert str(hazards["E3"].value).startswith("'=")  # a formula-like description is defused
    assert wb["整改清单"]["C2"].value == "泉应急隐改〔2026〕1号"
    assert wb["措施清单"].max_row == 2
    assert hazards.page_setup.orientation == "landscape"
    assert hazards.print_title_rows == "$1:$1"  # the header on every printed page
    own = ent.get(f"{HAZARDS}/lists.xlsx")
    assert own.status_code == 200
    assert openpyxl.load_workbook(io.BytesIO(own.content))["隐患清单"].max_row == 3
    assert (
        world["other_regulator"].get(f"{HAZARDS}/lists.xlsx", params={"adcode": "350505"}).status_code == 403
    )
    problem(reg.get(f"{HAZARDS}/lists.xlsx"), "adcode")


def _list_xlsx(rows: list[list[Any]], header: list[str]) -> bytes:
    import io

    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(header)
    for r in rows:
        ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def test_import_a_hazard_list_all_or_nothing(world: dict[str, Any], client: Any) -> None:
    ent = world["enterprise"]
    code = ok(client.get(f"{ENTERPRISES}/{world['e1']}"))["properties"]["credit_code"]
    unit_name = ok(client.get(f"{RISK_UNITS}/{world['u1']}"))["properties"]["name"]
    header = [
        "统一社会信用代码",
        "风险点名称",
        "风险点ID",
        "隐患描述",
        "隐患等级",
        "判定依据",
        "发现日期",
        "经度",
        "纬度",
    ]
    good = [
        [code, unit_name, None, "安全阀超期未检", "一般", None, dt.date(2026, 11, 2), None, None],
        [None, None, world["u1"], "可燃气体报警器未联锁", "重大", "HC12", "2026-11-03", 118.8801, 25.1101],
    ]
    bad = [
        *good,
        [None, None, world["u2"], "另一家企业的风险点", "一般", None, None, None, None],  # not theirs
        [code, unit_name, None, "", "特大", None, "昨天", None, None],
    ]
    before = ok(ent.get(HAZARDS))["numberMatched"]
    refused = ent.post(f"{HAZARDS}/import", files={"file": ("隐患清单.xlsx", _list_xlsx(bad, header))})
    assert refused.status_code == 422, refused.text
    fields = {e["field"] for e in refused.json()["errors"]}
    assert {"row 4.risk_unit_id", "row 5.description", "row 5.grade", "row 5.reported_on"} <= fields
    assert ok(ent.get(HAZARDS))["numberMatched"] == before  # nothing kept
    dry = ent.post(
        f"{HAZARDS}/import", params={"dry_run": "true"}, files={"file": ("l.xlsx", _list_xlsx(good, header))}
    )
    assert dry.json() == {"dry_run": True, "hazards": 2}
    assert ok(ent.get(HAZARDS))["numberMatched"] == before
    made = ent.post(f"{HAZARDS}/import", files={"file": ("l.xlsx", _list_xlsx(good, header))})
    assert made.status_code == 201, made.text
    ids = made.json()["ids"]
    major = ok(ent.get(f"{HAZARDS}/{ids[1]}"))
    assert major["properties"]["grade"] == "major"
    assert major["geometry"]["coordinates"] == pytest.approx([118.8801, 25.1101])
    assert ok(ent.get(f"{HAZARDS}/{ids[0]}"))["properties"]["reported_on"] == "2026-11-02"
    problem(
        ent.post(f"{HAZARDS}/import", files={"file": ("l.xlsx", _list_xlsx([["x"]], ["备注"]))}), "header"
    )


def test_the_four_colour_api_offers_dynamic_levels(world: dict[str, Any]) -> None:
    reg = world["regulator"]
    params = {"adcode": "350505", "zones": "grid", "cell_m": 5000}

    def levels(**more: str) -> dict[str, Any]:
        body = ok(reg.get("/api/v1/analysis/four-color", params={**params, **more}))
        return {
            f["id"]: (f["properties"]["level"], f["properties"].get("raised_units"))
            for f in body["features"]
            if f["properties"]["level"]
        }

    assessed = levels()
    assert {v[0] for v in assessed.values()} == {3}
    key = _report(reg, world["u1"], "major")["id"]
    dynamic = levels(levels="dynamic")
    assert sorted(v for v in dynamic.values()) == [(1, 1)]  # the unit's zone is red, one unit raised
    assert levels() == assessed  # the assessed map is unchanged
    _step(reg, key, "assign", working_days=5, **FIVE)
    _step(world["enterprise"], key, "rectify", rectification="已整改")
    _step(world["regulator_b"], key, "accept", evaluator="评估公司")
    assert {k: v[0] for k, v in levels(levels="dynamic").items()} == {k: v[0] for k, v in assessed.items()}
    problem(reg.get("/api/v1/analysis/four-color", params={**params, "levels": "live"}), "levels")


def test_the_plan_beside_what_was_done(world: dict[str, Any]) -> None:
    reg = world["regulator"]
    period = "2025"  # wholly past: every planned check is due
    url = "/api/v1/analysis/inspection-coverage"
    before = ok(reg.get(url, params={"adcode": "350505", "period": period}))
    planned = sum(v["planned"] for v in before["by_level"].values())
    assert planned > 0
    assert sum(v["done"] for v in before["by_level"].values()) == 0
    missed = before["missed"]
    assert len(missed) == planned
    first = missed[0]
    # the regulator records the inspection the plan asked for, inside the check's window
    day = first["planned_date"]
    made = reg.post(
        INSPECTIONS,
        json={
            "kind": "random",
            "enterprise_id": first["enterprise_id"],
            "inspected_on": day,
            "inspectors": "李明、张华",
            "result": "no_hazard",
            "plan_ref": f"双随机 350505 {period}",
        },
    )
    assert made.status_code == 201, made.text
    after = ok(reg.get(url, params={"adcode": "350505", "period": period}))
    assert sum(v["done"] for v in after["by_level"].values()) == 1
    assert len(after["missed"]) == planned - 1
    assert {s["enterprise_id"] for s in after["self_inspection"]} >= {world["e1"]}
    assert world["other_regulator"].get(url, params={"adcode": "350505", "period": period}).status_code == 403


def test_the_enterprise_register_says_which_hazards_are_open(world: dict[str, Any]) -> None:
    import io

    import openpyxl
    from pypdf import PdfReader

    reg = world["regulator"]
    _report(reg, world["u1"], "major", description="储罐区可燃气体报警器失效未修复")
    book = reg.get(f"/api/v1/exports/enterprise-register/{world['e1']}.xlsx")
    assert book.status_code == 200, book.text
    sheet = openpyxl.load_workbook(io.BytesIO(book.content))["存在隐患情况"]
    assert sheet["C2"].value == "储罐区可燃气体报警器失效未修复"
    assert sheet["D2"].value == "重大隐患"
    pdf = reg.get(f"/api/v1/exports/enterprise-register/{world['e1']}.pdf")
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages).replace("\n", "")
    assert "存在隐患情况" in text
    assert "重大1项" in text.replace(" ", "")
