"""`…/{id}/history` and the level trend over HTTP, acting as each role through `current_principal`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from api.auth import current_principal
from geo.access import SYSTEM, Principal, Role
from tests.api.builders import (
    BENGSHAN,
    ENTERPRISES,
    INNER_BOX,
    JURISDICTIONS,
    RISK_UNITS,
    TARGETS,
    box_polygon,
    created,
    enterprise_feature,
    guarded,
    if_match,
    jurisdiction_feature,
    ok,
    problem,
    protection_target_feature,
    risk_unit_feature,
)

ADMIN = Principal(Role.admin, username="root")
REG = Principal(Role.regulator, username="quangang-reg", adcodes=("350505",))
OTHER_REG = Principal(Role.regulator, username="bengshan-reg", adcodes=("340303",))
ENT = Principal(Role.enterprise, username="chem-1", enterprise_id=1)
OTHER_ENT = Principal(Role.enterprise, username="chem-2", enterprise_id=2)
PUBLIC = Principal(Role.public)
TREND = "/api/v1/analysis/trend"


@pytest.fixture
def act(client: Any) -> Iterator[Any]:
    """act(principal) → the client acting as that principal."""
    c = guarded(client)

    def as_(who: Principal) -> Any:
        c.app.dependency_overrides[current_principal] = lambda: who
        return c

    yield as_
    c.app.dependency_overrides.clear()


@pytest.fixture
def rows(act: Any) -> dict[str, int]:
    c = act(SYSTEM)
    e1 = created(c.post(ENTERPRISES, json=enterprise_feature(1)))["id"]
    e2 = created(c.post(ENTERPRISES, json=enterprise_feature(2, at=BENGSHAN)))["id"]
    assert (e1, e2) == (1, 2)
    return {
        "enterprise": e1,
        "unit": created(c.post(RISK_UNITS, json=risk_unit_feature(e1, level=2)))["id"],
        "other_unit": created(c.post(RISK_UNITS, json=risk_unit_feature(e2, at=BENGSHAN)))["id"],
        "target": created(c.post(TARGETS, json=protection_target_feature()))["id"],
    }


def test_three_edits_by_two_users_through_the_api(act: Any, rows: dict[str, int]) -> None:
    unit = f"{RISK_UNITS}/{rows['unit']}"
    ok(
        act(ENT).patch(
            unit, json={"properties": {"control_measures": "加装泄漏报警"}}, headers=if_match(act(ENT), unit)
        )
    )
    ok(act(ADMIN).patch(unit, json={"properties": {"level": 1}}, headers=if_match(act(ADMIN), unit)))
    ok(act(ENT).patch(unit, json={"properties": {"hazards": "液氨泄漏"}}, headers=if_match(act(ENT), unit)))
    records = ok(act(REG).get(f"{unit}/history"))["records"]
    assert [(r["action"], r["actor"]) for r in records[1:]] == [
        ("update", "chem-1"),
        ("update", "root"),
        ("update", "chem-1"),
    ]


def test_three_edits_by_two_signed_in_users(client: Any, client_as: Any) -> None:
    """The same with real bearer tokens of two users: the author is the user the token names."""
    admin = guarded(client)
    enterprise = created(admin.post(ENTERPRISES, json=enterprise_feature(1)))["id"]
    unit = (
        f"{RISK_UNITS}/{created(admin.post(RISK_UNITS, json=risk_unit_feature(enterprise, level=2)))['id']}"
    )
    owner = client_as("enterprise", enterprise_id=enterprise)
    ok(
        owner.patch(
            unit, json={"properties": {"control_measures": "加装泄漏报警"}}, headers=if_match(owner, unit)
        )
    )
    ok(admin.patch(unit, json={"properties": {"level": 1}}, headers=if_match(admin, unit)))
    ok(owner.patch(unit, json={"properties": {"hazards": "液氨泄漏"}}, headers=if_match(owner, unit)))
    me = {who: ok(c.get("/api/v1/auth/me"))["username"] for who, c in (("owner", owner), ("admin", admin))}
    records = ok(admin.get(f"{unit}/history"))["records"]
    assert [(r["action"], r["actor"]) for r in records] == [
        ("create", me["admin"]),
        ("update", me["owner"]),
        ("update", me["admin"]),
        ("update", me["owner"]),
    ]
    assert records[2]["old_values"]["level"] == 2
    assert records[2]["new_values"]["level"] == 1


def test_every_edit_is_in_the_history_in_order(act: Any, rows: dict[str, int]) -> None:
    unit = f"{RISK_UNITS}/{rows['unit']}"
    for patch in ({"control_measures": "加装泄漏报警"}, {"level": 1}, {"hazards": "液氨泄漏"}):
        ok(act(SYSTEM).patch(unit, json={"properties": patch}, headers=if_match(act(SYSTEM), unit)))
    body = ok(act(ADMIN).get(f"{unit}/history"))
    assert (body["entity"], body["id"]) == ("risk_units", rows["unit"])
    records = body["records"]
    assert [r["action"] for r in records] == ["create", "update", "update", "update"]
    assert [sorted(set(r["new_values"]) - {"version"}) for r in records[1:]] == [
        ["control_measures"],
        ["level"],
        ["hazards"],
    ]
    assert records[2]["old_values"]["level"] == 2
    assert records[0]["at"] <= records[-1]["at"]


@pytest.mark.parametrize(
    ("who", "what", "status"),
    [
        (ADMIN, "unit", 200),
        (REG, "unit", 200),
        (REG, "enterprise", 200),
        (REG, "target", 200),
        (REG, "other_unit", 404),
        (OTHER_REG, "unit", 404),
        (OTHER_REG, "other_unit", 200),
        (ENT, "unit", 200),
        (ENT, "enterprise", 200),
        (ENT, "target", 404),
        (ENT, "other_unit", 404),
        (OTHER_ENT, "unit", 404),
        (OTHER_ENT, "enterprise", 404),
        (PUBLIC, "unit", 401),
        (PUBLIC, "enterprise", 401),
        (PUBLIC, "target", 401),
    ],
)
def test_who_may_read_a_history(
    act: Any, rows: dict[str, int], who: Principal, what: str, status: int
) -> None:
    path = {"unit": RISK_UNITS, "other_unit": RISK_UNITS, "enterprise": ENTERPRISES, "target": TARGETS}[what]
    response = act(who).get(f"{path}/{rows[what]}/history")
    assert response.status_code == status, response.text
    if status == 200:
        assert response.json()["records"][0]["action"] == "create"


def test_a_deleted_rows_history_stays_with_the_admin(act: Any, rows: dict[str, int]) -> None:
    assert (
        act(SYSTEM)
        .delete(f"{RISK_UNITS}/{rows['unit']}", headers=if_match(act(SYSTEM), f"{RISK_UNITS}/{rows['unit']}"))
        .status_code
        == 204
    )
    records = ok(act(ADMIN).get(f"{RISK_UNITS}/{rows['unit']}/history"))["records"]
    assert [r["action"] for r in records] == ["create", "delete"]
    assert act(REG).get(f"{RISK_UNITS}/{rows['unit']}/history").status_code == 404
    assert act(ENT).get(f"{RISK_UNITS}/{rows['unit']}/history").status_code == 404


def test_bad_ids_are_422_and_unknown_ones_404(act: Any) -> None:
    assert problem(act(ADMIN).get(f"{RISK_UNITS}/0/history"), "key")
    assert problem(act(ADMIN).get(f"{RISK_UNITS}/abc/history"), "key")
    assert act(ADMIN).get(f"{TARGETS}/12345/history").status_code == 404


def test_the_public_reads_the_trend(act: Any, rows: dict[str, int]) -> None:
    body = ok(act(PUBLIC).get(TREND, params={"adcode": "350500", "from": "2026-01", "to": "2030-12"}))
    assert body["name"] == "泉州市"
    assert len(body["months"]) == 60
    assert body["months"][0] == {"month": "2026-01", "counts": {"1": 0, "2": 0, "3": 0, "4": 0}, "total": 0}
    assert body["months"][-1]["counts"] == {"1": 0, "2": 1, "3": 0, "4": 0}  # 泉港区's unit, not 蚌山区's
    text = str(body)
    assert "液氨" not in text
    assert "chem" not in text


@pytest.mark.parametrize(
    ("params", "field", "status"),
    [
        ({"adcode": "350505", "from": "2026-13", "to": "2026-12"}, "from", 422),
        ({"adcode": "350505", "from": "2026-01", "to": "26-1"}, "to", 422),
        ({"adcode": "350505", "from": "2026-05", "to": "2026-01"}, "to", 422),
        ({"adcode": "350505", "from": "2026-01"}, "to", 422),
        ({"adcode": "350505' OR 1=1 --", "from": "2026-01", "to": "2026-02"}, "adcode", 422),
    ],
)
def test_bad_trend_requests_name_the_field(act: Any, params: dict[str, str], field: str, status: int) -> None:
    problem(act(PUBLIC).get(TREND, params=params), field, status=status)


def test_trend_of_unknown_or_zone_jurisdictions(act: Any) -> None:
    assert (
        act(PUBLIC).get(TREND, params={"adcode": "999999", "from": "2026-01", "to": "2026-02"}).status_code
        == 404
    )
    park = jurisdiction_feature("P350505", "泉港石化园区", "park", "350505", box_polygon(*INNER_BOX))
    created(act(SYSTEM).post(JURISDICTIONS, json=park))
    problem(
        act(PUBLIC).get(TREND, params={"adcode": "P350505", "from": "2026-01", "to": "2026-02"}), "adcode"
    )
