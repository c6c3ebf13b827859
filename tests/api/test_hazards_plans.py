"""Plans become inspections to fill in (issue #14 item 1): the 双随机 plan and the cross-inspection
assignments made into `planned` inspections (idempotent, scoped), one filled in with If-Match, its history
kept, its findings reported as hazards, and the coverage comparing the plan with what was done from these
records."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from pyproj import Geod

from geo.closeout import calendar
from tests.api.builders import (
    ENTERPRISES,
    HUIAN,
    QUANGANG,
    RISK_UNITS,
    created,
    enterprise_feature,
    if_match,
    ok,
    problem,
    risk_unit_feature,
)

INSPECTIONS = "/api/v1/inspections"
FROM_PLAN = f"{INSPECTIONS}/from-plan"
COVERAGE = "/api/v1/analysis/inspection-coverage"
PERIOD = "2025"  # wholly past: every planned check is due, and may be filled in


def _near(origin: tuple[float, float], metres: float) -> tuple[float, float]:
    lon, lat, _ = Geod(ellps="GRS80").fwd(origin[0], origin[1], 90, metres)
    return float(lon), float(lat)


@pytest.fixture
def world(client: Any, client_as: Any) -> dict[str, Any]:
    e1 = int(created(client.post(ENTERPRISES, json=enterprise_feature(1, at=QUANGANG)))["id"])
    e3 = int(created(client.post(ENTERPRISES, json=enterprise_feature(3, at=_near(QUANGANG, 300))))["id"])
    e2 = int(created(client.post(ENTERPRISES, json=enterprise_feature(2, at=HUIAN)))["id"])
    u1 = int(created(client.post(RISK_UNITS, json=risk_unit_feature(e1, at=QUANGANG, level=3)))["id"])
    created(client.post(RISK_UNITS, json=risk_unit_feature(e3, at=_near(QUANGANG, 300), level=2)))
    u2 = int(created(client.post(RISK_UNITS, json=risk_unit_feature(e2, at=HUIAN, level=3)))["id"])
    return {
        "admin": client,
        "regulator": client_as("regulator", adcodes=("350505",)),
        "other_regulator": client_as("regulator", adcodes=("350521",)),
        "enterprise": client_as("enterprise", enterprise_id=e1),
        "public": client_as("public"),
        "e1": e1,
        "e2": e2,
        "e3": e3,
        "u1": u1,
        "u2": u2,
    }


def _planned(c: Any, **params: Any) -> list[dict[str, Any]]:
    body = ok(c.get(INSPECTIONS, params={"status": "planned", "limit": 1000, **params}))
    rows: list[dict[str, Any]] = body["inspections"]
    return rows


def test_a_plan_becomes_planned_inspections_once(world: dict[str, Any]) -> None:
    reg = world["regulator"]
    plan = ok(reg.get("/api/v1/analysis/inspection-plan", params={"adcode": "350505", "period": PERIOD}))
    drawn = {(c["enterprise_id"], c["date"]) for c in plan["random_checks"]["items"]}

    made = reg.post(FROM_PLAN, json={"adcode": "350505", "period": PERIOD, "part": "random"})
    assert made.status_code == 201, made.text
    first = made.json()
    assert first["existing"] == []
    assert first["outside_jurisdiction"] == []
    assert len(first["created"]) == len(drawn) > 0
    rows = _planned(reg, kind="random")
    assert {(r["enterprise_id"], r["inspected_on"]) for r in rows} == drawn  # the plan's checks, one each
    cal = calendar()
    for r in rows:
        assert r["status"] == "planned"
        assert r["result"] is None
        assert cal.is_working_day(dt.date.fromisoformat(r["inspected_on"]))
        assert r["inspectors"]
        assert "（" in r["inspectors"]
        assert r["plan_ref"] == f"双随机 350505 {PERIOD} seed 0"
        assert r["plan_key"] == f"random:{r['enterprise_id']}:{r['plan']['window']}"

    # again, or with another seed: nothing is made twice (keyed by enterprise and frequency window)
    for seed in (0, 7):
        again = ok_created(reg.post(FROM_PLAN, json={"adcode": "350505", "period": PERIOD, "seed": seed}))
        assert [i for i in again["created"] if i in first["created"]] == []
        assert set(first["created"]) <= set(again["existing"])
    assert len(_planned(reg, kind="random")) == len(drawn)

    # planned inspections are not on the check list of 五个清单 nor done in the coverage
    cover = ok(reg.get(COVERAGE, params={"adcode": "350505", "period": PERIOD}))
    assert cover["plan_source"]["recorded"] == len(drawn)
    assert sum(v["done"] for v in cover["by_level"].values()) == 0
    assert {m["inspection_id"] for m in cover["missed"] if m["kind"] == "random"} == set(first["created"])


def ok_created(response: Any) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_making_a_plan_is_scoped(world: dict[str, Any]) -> None:
    body = {"adcode": "350505", "period": PERIOD}
    assert world["other_regulator"].post(FROM_PLAN, json=body).status_code == 403
    assert world["enterprise"].post(FROM_PLAN, json=body).status_code == 403
    assert world["public"].post(FROM_PLAN, json=body).status_code == 401
    assert _planned(world["admin"]) == []  # nothing written
    problem(world["regulator"].post(FROM_PLAN, json={**body, "period": "2025-13"}), "period")
    problem(world["regulator"].post(FROM_PLAN, json={**body, "part": "self"}), "part")
    # the other county's regulator makes its own county's checks only, and cannot see 泉港's
    theirs = ok_created(world["other_regulator"].post(FROM_PLAN, json={"adcode": "350521", "period": PERIOD}))
    assert theirs["created"]
    assert {r["enterprise_id"] for r in _planned(world["admin"])} == {world["e2"]}
    assert world["regulator"].get(f"{INSPECTIONS}/{theirs['created'][0]}").status_code == 404


def test_cross_inspection_assignments_become_planned_inspections(world: dict[str, Any]) -> None:
    reg = world["regulator"]
    made = ok_created(reg.post(FROM_PLAN, json={"adcode": "350505", "period": "2025-11", "part": "cross"}))
    rows = _planned(reg, kind="cross")
    assert {r["enterprise_id"] for r in rows} == {world["e1"], world["e3"]}  # each member inspected once
    assert sorted(r["id"] for r in rows) == made["created"]
    for r in rows:
        assert r["plan_key"] == f"cross:{r['enterprise_id']}:2025-11"
        assert calendar().is_working_day(dt.date.fromisoformat(r["inspected_on"]))
        assert "2025-11-01" <= r["inspected_on"] <= "2025-11-30"
        assert "互查企业" in r["inspectors"]
        peer = r["plan"]["peer_enterprise_id"]
        assert peer in (world["e1"], world["e3"])
        assert peer != r["enterprise_id"]
    again = ok_created(reg.post(FROM_PLAN, json={"adcode": "350505", "period": "2025-11", "part": "cross"}))
    assert again["created"] == []
    assert again["existing"] == made["created"]
    cover = ok(reg.get(COVERAGE, params={"adcode": "350505", "period": "2025-11"}))
    assert cover["cross"]["planned"] == 2
    assert cover["cross"]["done"] == 0


def test_a_planned_inspection_is_filled_in(world: dict[str, Any]) -> None:
    reg, ent = world["regulator"], world["enterprise"]
    ok_created(reg.post(FROM_PLAN, json={"adcode": "350505", "period": PERIOD, "part": "random"}))
    target = next(r for r in _planned(reg, kind="random") if r["enterprise_id"] == world["e1"])
    url = f"{INSPECTIONS}/{target['id']}"
    read = reg.get(url)
    etag = read.headers["etag"]
    assert etag.startswith('"1-')
    day = target["inspected_on"]
    good = {
        "result": "hazards_found",
        "inspected_on": day,
        "checklist": "危险化学品企业安全检查表",
        "risk_unit_ids": [world["u1"]],
        "findings": [{"risk_unit_id": world["u1"], "grade": "general", "description": "静电接地线松脱"}],
    }

    assert reg.patch(url, json=good).status_code == 428  # If-Match required
    assert ent.patch(url, json=good, headers={"If-Match": "*"}).status_code == 403  # not its self-inspection
    assert world["other_regulator"].patch(url, json=good, headers={"If-Match": "*"}).status_code == 404
    headers = {"If-Match": etag}
    # bad input: all at once, nothing written
    bad = reg.patch(
        url,
        json={**good, "findings": [{"risk_unit_id": world["u2"], "grade": "general", "description": "x"}]},
        headers=headers,
    )
    problem(bad, "findings[0].risk_unit_id")
    problem(reg.patch(url, json={"inspected_on": day}, headers=headers), "result")
    later = (dt.date.today() + dt.timedelta(days=400)).isoformat()
    problem(reg.patch(url, json={**good, "inspected_on": later}, headers=headers), "inspected_on")
    problem(reg.patch(url, json={**good, "inspected_on": "2024-01-02"}, headers=headers), "inspected_on")
    problem(reg.patch(url, json={**good, "result": "no_hazard"}, headers=headers), "result")
    problem(reg.patch(url, json={**good, "risk_unit_ids": [world["u2"]]}, headers=headers), "risk_unit_ids")
    problem(
        reg.patch(url, json={**good, "findings": [{"grade": "minor", "description": "x"}]}, headers=headers),
        "grade",
    )
    unchanged = reg.get(url)
    assert unchanged.headers["etag"] == etag
    assert unchanged.json()["status"] == "planned"
    assert unchanged.json()["hazard_ids"] == []

    filled = reg.patch(url, json=good, headers=headers)
    assert filled.status_code == 200, filled.text
    row = filled.json()
    assert row["status"] == "done"
    assert row["result"] == "hazards_found"
    assert row["version"] == 2
    assert row["checklist"] == "危险化学品企业安全检查表"
    assert len(row["hazard_ids"]) == 1
    hazard = ok(reg.get(f"/api/v1/hazards/{row['hazard_ids'][0]}"))["properties"]
    assert hazard["inspection_id"] == target["id"]
    assert hazard["reported_on"] == day
    assert filled.headers["etag"] != etag
    # the version read before is stale now
    assert reg.patch(url, json={"notes": "复查"}, headers=headers).status_code == 412
    ok(reg.patch(url, json={"notes": "复查"}, headers=if_match(reg, url)))

    history = ok(reg.get(f"{url}/history"))["records"]
    assert history[0]["action"] == "create"
    assert history[0]["new_values"]["status"] == "planned"
    assert history[1]["old_values"]["status"] == "planned"
    assert history[1]["new_values"]["status"] == "done"
    assert history[2]["new_values"]["notes"] == "复查"
    assert "status" not in history[2]["new_values"]
    assert ok(ent.get(f"{url}/history"))["records"]  # the owning enterprise reads it
    assert world["other_regulator"].get(f"{url}/history").status_code == 404

    cover = ok(reg.get(COVERAGE, params={"adcode": "350505", "period": PERIOD}))
    assert sum(v["done"] for v in cover["by_level"].values()) == 1
    assert target["id"] not in {m["inspection_id"] for m in cover["missed"]}


def test_an_enterprise_fills_in_its_own_self_inspection(world: dict[str, Any]) -> None:
    ent = world["enterprise"]
    made = ok_created(
        ent.post(
            INSPECTIONS,
            json={
                "kind": "self",
                "enterprise_id": world["e1"],
                "inspectors": "安全部",
                "result": "no_hazard",
            },
        )
    )
    url = f"{INSPECTIONS}/{made['id']}"
    changed = ok(ent.patch(url, json={"checklist": "日常巡检表"}, headers=if_match(ent, url)))
    assert changed["checklist"] == "日常巡检表"
    assert changed["version"] == 2


def test_the_command_line_makes_the_same_planned_inspections(
    world: dict[str, Any], database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from api.cli import app

    monkeypatch.setenv("DATABASE_URL", database_url)
    runner = CliRunner()
    args = ["plan-inspections", "--adcode", "350505", "--period", PERIOD, "--part", "random"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    made = len(_planned(world["admin"], kind="random"))
    assert made > 0
    assert f"{made} planned inspections made, 0 made before" in first.output
    again = runner.invoke(app, args)
    assert f"0 planned inspections made, {made} made before" in again.output
    # the API keys the same checks: nothing more
    assert (
        ok_created(
            world["regulator"].post(FROM_PLAN, json={"adcode": "350505", "period": PERIOD, "part": "random"})
        )["created"]
        == []
    )
    bad = runner.invoke(app, [*args[:-1], "self"])
    assert bad.exit_code != 0
    assert "part" in bad.output
