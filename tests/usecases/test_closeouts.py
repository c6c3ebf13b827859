"""api.usecases.closeouts without HTTP: a major risk assigned, its close-out requested by the enterprise and
approved by the regulator on one connection; the level comes down in the history under the regulator's
name and the announcement lists it. Rolled back at the end."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, text

from api.usecases import closeouts, history
from geo.access import ANONYMOUS, Forbidden, Principal, Role, Unauthenticated
from geo.closeout import Status
from geo.errors import InvalidInput, NotFound

REGULATOR = Principal(Role.regulator, "quangang-reg", adcodes=("350505",))
ELSEWHERE = Principal(Role.regulator, "huian-reg", adcodes=("350521",))


@pytest.fixture
def conn(engine: Engine, layout: dict[str, Any]) -> Iterator[Connection]:
    with engine.connect() as c, c.begin() as tx:
        yield c
        tx.rollback()


def test_a_major_risk_closed_out(conn: Connection, layout: dict[str, Any]) -> None:
    unit = conn.execute(
        text("SELECT id FROM risk_units WHERE enterprise_id = :e"), {"e": layout["A"]}
    ).scalar_one()
    owner = Principal(Role.enterprise, "a-plant", enterprise_id=layout["A"])
    with pytest.raises(NotFound):  # out of its scope: as if there were no such unit
        closeouts.assign(conn, ELSEWHERE, unit, assigning_unit="惠安县应急管理局")
    with pytest.raises(Forbidden):  # an enterprise does not assign
        closeouts.assign(conn, owner, unit, assigning_unit="泉港区应急管理局")
    case = closeouts.assign(
        conn, REGULATOR, unit, assigning_unit="泉港区应急管理局", letter_ref="泉应急〔2026〕1号"
    )
    assert case["status"] == Status.assigned.value
    assert case["assigned_late"] is False  # identified today, assigned today
    fields = {"evidence": "增设紧急切断阀，储量由 50 t 降至 10 t", "signed_by": "王建国", "proposed_level": 3}
    with pytest.raises(InvalidInput):
        closeouts.request(
            conn, owner, case["id"], {**fields, "proposed_level": 2}
        )  # must come down to 3 or 4
    closeouts.request(conn, owner, case["id"], fields)
    assert [c["id"] for c in closeouts.list_cases(conn, REGULATOR, status=Status.requested).cases] == [
        case["id"]
    ]
    assert closeouts.list_cases(conn, ELSEWHERE).number_matched == 0
    done = closeouts.decide(conn, REGULATOR, case["id"], approve=True)
    assert done["status"] == Status.approved.value
    assert [e["action"] for e in closeouts.get_case(conn, owner, case["id"])["events"]] == [
        "assign",
        "request",
        "approve",
    ]
    assert [a["risk_unit_name"] for a in closeouts.announcements(conn, adcode="350505")] == ["风险点1"]
    with pytest.raises(Unauthenticated):
        closeouts.overdue(conn, ANONYMOUS)

    records = history.entity_history(conn, REGULATOR, "risk_units", unit)
    update = records.records[-1]
    assert (update["action"], update["actor"]) == ("update", "quangang-reg")
    assert (update["old_values"]["level"], update["new_values"]["level"]) == (1, 3)
    with pytest.raises(NotFound):
        history.entity_history(conn, ELSEWHERE, "risk_units", unit)
