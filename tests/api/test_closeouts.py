"""The close-out (销号) workflow over HTTP, acting as each role through `current_principal` overrides:
assignment, request, rejection, approval, what each role may do, the overdue lists across 国庆 and the
public announcements."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import Engine

from api.auth import current_principal
from geo.access import SYSTEM, Principal, Role
from tests.api.builders import (
    BENGSHAN,
    ENTERPRISES,
    RISK_UNITS,
    created,
    enterprise_feature,
    guarded,
    if_match,
    move_creation,
    ok,
    problem,
    risk_unit_feature,
)

CLOSEOUTS = "/api/v1/closeouts"
REG = Principal(Role.regulator, username="quangang-reg", adcodes=("350505",))
CITY_REG = Principal(Role.regulator, username="quanzhou-reg", adcodes=("350500",))
OTHER_REG = Principal(Role.regulator, username="bengshan-reg", adcodes=("340303",))
ENT = Principal(Role.enterprise, username="chem-1", enterprise_id=1)
OTHER_ENT = Principal(Role.enterprise, username="chem-2", enterprise_id=2)
PUBLIC = Principal(Role.public)
SIGNATORY = "王建国"
LOWER = {
    "evidence": "增设紧急切断阀和可燃气体报警联锁，储量由 50 t 降至 10 t",
    "signed_by": SIGNATORY,
    "assessment_method": "LEC",
    "assessment_inputs": {"L": 1, "E": 6, "C": 7},  # D = 42: low (4)
}


class Api:
    """The TestClient, acting as one principal at a time."""

    def __init__(self, client: Any) -> None:
        self.c = guarded(client)

    def as_(self, who: Principal) -> Any:
        self.c.app.dependency_overrides[current_principal] = lambda: who
        return self.c


@pytest.fixture
def api(client: Any) -> Any:
    a = Api(client)
    yield a
    client.app.dependency_overrides.clear()


@pytest.fixture
def units(api: Api) -> dict[str, int]:
    """Enterprise 1 with a major (1), a large (2) and a low (4) unit; enterprise 2 in 蚌山区 with a large one."""
    c = api.as_(SYSTEM)
    e1 = created(c.post(ENTERPRISES, json=enterprise_feature(1)))["id"]
    e2 = created(c.post(ENTERPRISES, json=enterprise_feature(2, at=BENGSHAN)))["id"]
    assert (e1, e2) == (1, 2)
    out = {
        "major": created(c.post(RISK_UNITS, json=risk_unit_feature(e1, level=1, name="液氨储罐区")))["id"],
        "large": created(c.post(RISK_UNITS, json=risk_unit_feature(e1, level=2, name="装卸站台")))["id"],
        "low": created(c.post(RISK_UNITS, json=risk_unit_feature(e1, level=4, name="办公楼")))["id"],
        "bengshan": created(c.post(RISK_UNITS, json=risk_unit_feature(e2, at=BENGSHAN, level=2)))["id"],
    }
    return out


def _assign(api: Api, unit: int, who: Principal = REG, **extra: Any) -> Any:
    return api.as_(who).post(
        CLOSEOUTS, json={"risk_unit_id": unit, "assigning_unit": "泉港区应急管理局", **extra}
    )


def test_the_whole_close_out_of_a_major_risk(api: Api, units: dict[str, int]) -> None:
    case = ok_created(_assign(api, units["major"], letter_ref="泉港应急交〔2026〕12号"))
    assert case["status"] == "assigned"
    assert (case["old_level"], case["assigned_by"], case["assigned_late"]) == (1, REG.username, False)
    key = case["id"]

    # The first request is rejected, the second approved.
    first = ok(api.as_(ENT).post(f"{CLOSEOUTS}/{key}/request", json=LOWER))
    assert (first["status"], first["proposed_level"], first["proposed_score"]) == ("requested", 4, 42.0)
    assert first["verification_due"] > first["requested_on"]
    rejected = ok(api.as_(REG).post(f"{CLOSEOUTS}/{key}/reject", json={"reason": "现场未见报警联锁"}))
    assert (rejected["status"], rejected["decision_reason"]) == ("rejected", "现场未见报警联锁")
    ok(api.as_(ENT).post(f"{CLOSEOUTS}/{key}/request", json=LOWER | {"evidence": "报警联锁已投用"}))
    approved = ok(api.as_(REG).post(f"{CLOSEOUTS}/{key}/approve", json={}))
    assert (approved["status"], approved["new_level"], approved["decided_by"]) == (
        "approved",
        4,
        REG.username,
    )
    assert [e["action"] for e in approved["events"]] == ["assign", "request", "reject", "request", "approve"]
    assert [e["actor"] for e in approved["events"]] == [
        REG.username,
        "chem-1",
        REG.username,
        "chem-1",
        REG.username,
    ]

    unit = ok(api.as_(SYSTEM).get(f"{RISK_UNITS}/{units['major']}"))["properties"]
    assert (unit["level"], unit["assessment_method"], unit["assessment_score"]) == (4, "LEC", 42.0)
    last = ok(api.as_(SYSTEM).get(f"{RISK_UNITS}/{units['major']}/history"))["records"][-1]
    assert last["actor"] == REG.username  # the approval is in the unit's history under the regulator's name
    assert (last["old_values"]["level"], last["new_values"]["level"]) == (1, 4)

    again = api.as_(REG).post(f"{CLOSEOUTS}/{key}/approve", json={})
    assert problem(again, "status", status=409)["reason_zh"]


def ok_created(response: Any) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_the_public_announcement_names_no_one(api: Api, units: dict[str, int]) -> None:
    for unit in ("major", "large"):
        key = ok_created(_assign(api, units[unit]))["id"]
        ok(api.as_(ENT).post(f"{CLOSEOUTS}/{key}/request", json=LOWER))
        ok(api.as_(CITY_REG).post(f"{CLOSEOUTS}/{key}/approve", json={}))
    response = api.as_(PUBLIC).get(f"{CLOSEOUTS}/announcements", params={"adcode": "350500"})
    (entry,) = ok(response)["announcements"]  # only the major risk is announced
    assert entry["risk_unit_name"] == "液氨储罐区"
    assert entry["enterprise_name"] == "泉港石化储运有限公司1号"
    assert (entry["old_level"], entry["new_level"], entry["new_level_name"]) == (1, 4, "低风险")
    assert entry["jurisdiction_name"] == "泉港区"
    raw = response.text
    for secret in (
        SIGNATORY,
        "林志强",
        "8778",
        "陈建华",
        REG.username,
        CITY_REG.username,
        "chem-1",
        "报警联锁",
    ):
        assert secret not in json.dumps(json.loads(raw), ensure_ascii=False)
    assert "coordinates" not in raw
    assert "geometry" not in raw
    assert (
        ok(api.as_(PUBLIC).get(f"{CLOSEOUTS}/announcements", params={"adcode": "340303"}))["announcements"]
        == []
    )


@pytest.mark.parametrize(
    ("who", "status"),
    [(ENT, 403), (OTHER_ENT, 404), (OTHER_REG, 404), (PUBLIC, 401), (REG, 201), (CITY_REG, 201)],
)
def test_who_may_assign(api: Api, units: dict[str, int], who: Principal, status: int) -> None:
    response = _assign(api, units["major"], who)
    assert response.status_code == status, response.text
    if status == 404:
        assert problem(response, "risk_unit_id", status=404)["reason_zh"]


@pytest.mark.parametrize(
    ("step", "who", "status"),
    [
        ("request", REG, 403),  # an enterprise's risk: its own principal person asks
        ("request", OTHER_ENT, 404),
        ("request", PUBLIC, 401),
        ("approve", ENT, 403),
        ("approve", OTHER_REG, 404),
        ("reject", ENT, 403),
        ("reject", OTHER_ENT, 404),
    ],
)
def test_who_may_request_and_verify(
    api: Api, units: dict[str, int], step: str, who: Principal, status: int
) -> None:
    key = ok_created(_assign(api, units["major"]))["id"]
    if step != "request":
        ok(api.as_(ENT).post(f"{CLOSEOUTS}/{key}/request", json=LOWER))
    body = LOWER if step == "request" else {"reason": "不符合销号条件"}
    response = api.as_(who).post(f"{CLOSEOUTS}/{key}/{step}", json=body)
    assert response.status_code == status, response.text


def test_a_regulator_requests_for_a_public_area_risk(api: Api) -> None:
    unit = created(
        api.as_(SYSTEM).post(RISK_UNITS, json=risk_unit_feature(None, level=2, name="燃气主干管"))
    )["id"]
    key = ok_created(_assign(api, unit))["id"]
    ok(api.as_(REG).post(f"{CLOSEOUTS}/{key}/request", json=LOWER | {"signed_by": "区住建局局长"}))
    # four eyes: the regulator who asked does not verify; another one of the area does
    assert problem(api.as_(REG).post(f"{CLOSEOUTS}/{key}/approve", json={}), "actor")["reason_zh"]
    approved = ok(api.as_(CITY_REG).post(f"{CLOSEOUTS}/{key}/approve", json={}))
    assert approved["new_level"] == 4
    assert approved["decided_by"] != approved["requested_by"]


def test_an_approval_writes_the_new_controls_into_the_unit(api: Api, units: dict[str, int]) -> None:
    key = ok_created(_assign(api, units["major"]))["id"]
    ok(api.as_(ENT).post(f"{CLOSEOUTS}/{key}/request", json=LOWER))
    ok(api.as_(REG).post(f"{CLOSEOUTS}/{key}/approve", json={}))
    unit = ok(api.as_(REG).get(f"{RISK_UNITS}/{units['major']}"))["properties"]
    assert unit["control_measures"] == LOWER["evidence"]
    assert (unit["level"], unit["assessment_method"]) == (4, "LEC")


def test_who_may_read_cases(api: Api, units: dict[str, int]) -> None:
    key = ok_created(_assign(api, units["major"]))["id"]
    for who in (ENT, REG, CITY_REG, SYSTEM):
        assert ok(api.as_(who).get(f"{CLOSEOUTS}/{key}"))["id"] == key
        assert [c["id"] for c in ok(api.as_(who).get(CLOSEOUTS))["cases"]] == [key]
    for who in (OTHER_ENT, OTHER_REG):
        assert api.as_(who).get(f"{CLOSEOUTS}/{key}").status_code == 404
    assert api.as_(PUBLIC).get(f"{CLOSEOUTS}/{key}").status_code == 401
    assert ok(api.as_(OTHER_REG).get(CLOSEOUTS))["cases"] == []
    assert api.as_(PUBLIC).get(CLOSEOUTS).status_code == 401
    assert api.as_(ENT).get(f"{CLOSEOUTS}/overdue").status_code == 403


def test_invalid_steps_name_the_field(api: Api, units: dict[str, int]) -> None:
    assert problem(_assign(api, units["low"]), "risk_unit_id")["reason_zh"]  # 422: a low risk
    assert problem(_assign(api, 999_999), "risk_unit_id", status=404)["reason_zh"]
    key = ok_created(_assign(api, units["large"]))["id"]
    assert problem(_assign(api, units["large"]), "risk_unit_id", status=409)["reason_zh"]  # assigned twice
    assert problem(api.as_(REG).post(f"{CLOSEOUTS}/{key}/approve", json={}), "status", status=409)
    assert problem(
        api.as_(ENT).post(
            f"{CLOSEOUTS}/{key}/request", json=LOWER | {"assessment_inputs": {"L": 10, "E": 6, "C": 40}}
        ),
        "proposed_level",
    )  # still major after the "new controls"
    assert problem(api.as_(ENT).post(f"{CLOSEOUTS}/{key}/request", json={"evidence": "x"}), "signed_by")
    assert problem(
        api.as_(ENT).post(f"{CLOSEOUTS}/{key}/request", json=LOWER | {"requested_on": "2020-01-01"}),
        "requested_on",
    )
    assert problem(api.as_(ENT).post(f"{CLOSEOUTS}/999999/request", json=LOWER), "id", status=404)
    ok(api.as_(ENT).post(f"{CLOSEOUTS}/{key}/request", json=LOWER))
    assert problem(api.as_(REG).post(f"{CLOSEOUTS}/{key}/reject", json={}), "reason")
    # The unit was lowered by a plain edit meanwhile: nothing is left to close out.
    api.as_(SYSTEM).patch(
        f"{RISK_UNITS}/{units['large']}",
        json={"properties": {"level": 3}},
        headers=if_match(api.as_(SYSTEM), f"{RISK_UNITS}/{units['large']}"),
    )
    assert problem(api.as_(REG).post(f"{CLOSEOUTS}/{key}/approve", json={}), "risk_unit_id", status=409)


def _redate_creation(engine: Engine, unit: int, at: str) -> None:
    with engine.begin() as conn:
        move_creation(conn, unit, at)


def test_overdue_assignments_and_verifications_across_national_day(
    api: Api, units: dict[str, int], engine: Engine
) -> None:
    # The large unit was identified on Tue 29 Sep 2026: due on Fri 9 Oct (30 Sep, 8 Oct, 9 Oct).
    _redate_creation(engine, units["large"], "2026-09-29T10:00+08:00")
    _redate_creation(engine, units["bengshan"], "2026-09-29T10:00+08:00")
    # The major one on 8 Sep, assigned on the 10th; the request of Fri 18 Sep is due Fri 9 Oct
    # (20 Sep worked, 25 Sep 中秋 and 1–7 Oct 国庆 off).
    _redate_creation(engine, units["major"], "2026-09-08T10:00+08:00")
    key = ok_created(_assign(api, units["major"], assigned_on="2026-09-10"))["id"]
    ok(api.as_(ENT).post(f"{CLOSEOUTS}/{key}/request", json=LOWER | {"requested_on": "2026-09-18"}))

    on_time = ok(api.as_(REG).get(f"{CLOSEOUTS}/overdue", params={"as_of": "2026-10-09"}))
    assert (on_time["assignments"], on_time["verifications"]) == ([], [])
    late = ok(api.as_(REG).get(f"{CLOSEOUTS}/overdue", params={"as_of": "2026-10-10"}))  # a make-up Saturday
    (unit,) = late["assignments"]
    assert (unit["id"], unit["identified_on"], unit["assignment_due"]) == (
        units["large"],
        "2026-09-29",
        "2026-10-09",
    )
    assert unit["working_days_overdue"] == 1
    (case,) = late["verifications"]
    assert (case["id"], case["verification_due"], case["working_days_overdue"]) == (key, "2026-10-09", 1)
    # 蚌山区's unit is overdue too, but not in 泉港区's lists; the admin sees it.
    assert units["bengshan"] not in [u["id"] for u in late["assignments"]]
    everything = ok(api.as_(SYSTEM).get(f"{CLOSEOUTS}/overdue", params={"as_of": "2026-10-10"}))
    assert units["bengshan"] in [u["id"] for u in everything["assignments"]]
    assert (
        ok(api.as_(OTHER_REG).get(f"{CLOSEOUTS}/overdue", params={"as_of": "2026-10-10"}))["verifications"]
        == []
    )


def test_a_late_assignment_is_flagged(api: Api, units: dict[str, int], engine: Engine) -> None:
    _redate_creation(engine, units["large"], "2024-09-27T10:00+08:00")  # due Tue 8 Oct 2024
    case = ok_created(_assign(api, units["large"], assigned_on="2024-10-09"))
    assert (case["identified_on"], case["assignment_due"], case["assigned_late"]) == (
        "2024-09-27",
        "2024-10-08",
        True,
    )
    early = _assign(api, units["major"], assigned_on="2000-01-01")
    assert problem(early, "assigned_on")["reason_zh"]


def test_a_new_request_comes_after_the_rejection(api: Api, units: dict[str, int], engine: Engine) -> None:
    _redate_creation(engine, units["major"], "2026-09-08T10:00+08:00")
    key = ok_created(_assign(api, units["major"], assigned_on="2026-09-10"))["id"]
    ok(api.as_(ENT).post(f"{CLOSEOUTS}/{key}/request", json=LOWER | {"requested_on": "2026-09-18"}))
    early = api.as_(REG).post(
        f"{CLOSEOUTS}/{key}/reject", json={"reason": "未整改", "decided_on": "2026-09-17"}
    )
    assert problem(early, "decided_on")["reason_zh"]
    ok(api.as_(REG).post(f"{CLOSEOUTS}/{key}/reject", json={"reason": "未整改", "decided_on": "2026-09-30"}))
    before = api.as_(ENT).post(f"{CLOSEOUTS}/{key}/request", json=LOWER | {"requested_on": "2026-09-25"})
    assert "rejection" in problem(before, "requested_on")["reason"]
    again = ok(api.as_(ENT).post(f"{CLOSEOUTS}/{key}/request", json=LOWER | {"requested_on": "2026-10-08"}))
    # 10 working days from Thu 8 Oct: 9, 10 (make-up Saturday), 12–16, 19, 20, 21 Oct.
    assert (again["status"], again["verification_due"]) == ("requested", "2026-10-21")


def test_an_enterprise_cannot_close_out_by_editing_the_level(api: Api, units: dict[str, int]) -> None:
    """Lowering a major or large risk to general or low is the regulator's approval, not an edit."""
    major, low = f"{RISK_UNITS}/{units['major']}", f"{RISK_UNITS}/{units['low']}"
    response = api.as_(ENT).patch(
        major, json={"properties": {"level": 3}}, headers=if_match(api.as_(ENT), major)
    )
    assert response.status_code == 403
    assert "/api/v1/closeouts" in response.json()["detail"]
    assert ok(api.as_(SYSTEM).get(major))["properties"]["level"] == 1
    assert (
        ok(api.as_(ENT).patch(low, json={"properties": {"level": 2}}, headers=if_match(api.as_(ENT), low)))[
            "properties"
        ]["level"]
        == 2
    )  # raising
    assert (
        ok(
            api.as_(ENT).patch(
                major, json={"properties": {"hazards": "液氨泄漏"}}, headers=if_match(api.as_(ENT), major)
            )
        )["properties"]["level"]
        == 1
    )
