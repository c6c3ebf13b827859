"""The daily-work pages (/work/…): each role gets the navigation bar of what it may use and the rows it may
see; one enterprise's pages are not reachable by another; list filters and paging; a detail page shows the
fields and the change history (who, when, old → new)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.api.builders import (
    ENTERPRISES,
    HUIAN,
    QUANGANG,
    RISK_UNITS,
    TARGETS,
    created,
    enterprise_feature,
    if_match,
    protection_target_feature,
    risk_unit_feature,
)
from tests.principals import add_test_user, bearer
from tests.worlds import admin_app, empty_register

HTML = {"Accept": "text/html"}
OWN = "泉港工作页石化有限公司"
OTHER = "惠安工作页化工有限公司"
UNIT = "工作页液氨储罐区"
OTHER_UNIT = "惠安工作页储罐"
TARGET = "工作页小学"


@pytest.fixture(scope="module")
def world(database_url: str, engine: Engine, boundaries: None) -> Iterator[dict[str, Any]]:
    empty_register(engine)
    app, headers = admin_app(database_url, engine)
    with TestClient(app, headers=headers) as admin:
        own = created(admin.post(ENTERPRISES, json=enterprise_feature(81, at=QUANGANG, name=OWN)))
        other = created(admin.post(ENTERPRISES, json=enterprise_feature(82, at=HUIAN, name=OTHER)))
        unit = created(admin.post(RISK_UNITS, json=risk_unit_feature(own["id"], level=1, name=UNIT)))
        other_unit = created(
            admin.post(RISK_UNITS, json=risk_unit_feature(other["id"], at=HUIAN, level=2, name=OTHER_UNIT))
        )
        for i in range(55):  # more than one page of risk units for 泉港
            created(
                admin.post(
                    RISK_UNITS, json=risk_unit_feature(own["id"], level=3, name=f"工作页装卸点{i:02d}")
                )
            )
        created(admin.post(TARGETS, json=protection_target_feature(name=TARGET)))
        url = f"{RISK_UNITS}/{unit['id']}"
        changed = admin.patch(
            url, json={"properties": {"responsible_person": "林志强"}}, headers=if_match(admin, url)
        )
        assert changed.status_code == 200, changed.text
        hazard = admin.post(
            "/api/v1/hazards",
            json={"risk_unit_id": unit["id"], "grade": "general", "description": "工作页报警器失效"},
        )
        assert hazard.status_code == 201, hazard.text
        app.state.engine = engine
        yield {"app": app, "own": own, "other": other, "unit": unit, "other_unit": other_unit}


def _client(world: dict[str, Any], engine: Engine, role: str, **scope: Any) -> TestClient:
    return TestClient(world["app"], headers={**HTML, **bearer(add_test_user(engine, role, **scope), role)})


def _nav(page: str) -> list[str]:
    nav = page.split('id="rm-worknav"', 1)[1].split("</nav>", 1)[0]
    return [part.split(">", 1)[1].split("<", 1)[0] for part in nav.split("<a ")[1:]]


def test_the_navigation_bar_shows_what_the_role_may_use(world: dict[str, Any], engine: Engine) -> None:
    admin = _client(world, engine, "admin")
    reg = _client(world, engine, "regulator", adcodes=("350505",))
    ent = _client(world, engine, "enterprise", enterprise_id=world["own"]["id"])
    full = [
        "一张图",
        "企业",
        "风险点",
        "防护目标",
        "导入",
        "导出",
        "选址核查",
        "联防联控",
        "双随机计划",
        "销号",
        "隐患",
        "我的工作台",
    ]
    for client in (admin, reg):
        page = client.get("/work/enterprises")
        assert page.status_code == 200, page.text[:300]
        assert _nav(page.text) == full
    page = ent.get("/work/enterprises")
    assert page.status_code == 200
    assert _nav(page.text) == [
        "一张图",
        "企业",
        "风险点",
        "导入",
        "导出",
        "销号",
        "隐患",
        "我的企业",
        "我的工作台",
    ]
    # what is not in its bar is 403 for it, as in the JSON API
    for path in (
        "/work/protection-targets",
        "/work/siting",
        "/work/joint-prevention",
        "/work/inspection-plan",
    ):
        assert ent.get(path).status_code == 403, path
    # anonymous: sent to sign in
    anonymous = TestClient(world["app"]).get("/work/enterprises", headers=HTML, follow_redirects=False)
    assert (anonymous.status_code, anonymous.headers["location"]) == (
        303,
        "/login?next=%2Fwork%2Fenterprises",
    )


def test_register_lists_filter_and_page(world: dict[str, Any], engine: Engine) -> None:
    admin = _client(world, engine, "admin")
    reg = _client(world, engine, "regulator", adcodes=("350505",))
    page = reg.get("/work/enterprises").text
    assert OWN in page
    assert OTHER not in page  # 惠安 is not the regulator's
    assert f'href="/work/enterprises/{world["own"]["id"]}"' in page

    units = admin.get("/work/risk-units").text
    assert "第 1–50 条，共 57 条" in units
    assert 'rel="next"' in units
    second = admin.get("/work/risk-units?offset=50").text
    assert "第 51–57 条，共 57 条" in second
    assert 'rel="prev"' in second
    major = admin.get("/work/risk-units?level=1").text
    assert UNIT in major
    assert "工作页装卸点" not in major
    assert "共 1 条" in major
    assert '<option value="1" selected>' in major  # the form keeps the filter
    by_area = admin.get("/work/risk-units?adcode=350521").text
    assert OTHER_UNIT in by_area
    assert UNIT not in by_area
    found = admin.get("/work/enterprises", params={"q": "惠安工作页"}).text
    assert OTHER in found
    assert OWN not in found
    targets = reg.get("/work/protection-targets").text
    assert TARGET in targets
    # the filter form sends the fields left at 全部 empty: no filter
    everything = admin.get("/work/risk-units?adcode=&level=&q=")
    assert everything.status_code == 200
    assert "共 57 条" in everything.text
    assert admin.get("/work/hazards?adcode=&status=").status_code == 200
    assert admin.get("/work/closeouts?adcode=&status=").status_code == 200
    assert admin.get("/work/hazards?status=nonsense").status_code == 422
    bad = admin.get("/work/risk-units?level=9")
    assert bad.status_code == 422


def test_detail_page_shows_fields_and_history(world: dict[str, Any], engine: Engine) -> None:
    admin = _client(world, engine, "admin")
    page = admin.get(f"/work/risk-units/{world['unit']['id']}")
    assert page.status_code == 200
    text_ = page.text
    assert UNIT in text_
    assert "重大风险" in text_
    history = text_.split('id="rm-history"', 1)[1]
    assert "新建" in history
    assert "修改" in history
    assert "responsible_person" in history
    assert "陈建华 → 林志强" in history
    enterprise = admin.get(f"/work/enterprises/{world['own']['id']}").text
    assert UNIT in enterprise.split('id="rm-units"', 1)[1]
    assert f"/api/v1/exports/enterprise-register/{world['own']['id']}.xlsx" in enterprise


def test_no_page_of_one_enterprise_is_reachable_by_another(world: dict[str, Any], engine: Engine) -> None:
    ent = _client(world, engine, "enterprise", enterprise_id=world["own"]["id"])
    own = ent.get(f"/work/enterprises/{world['own']['id']}")
    assert own.status_code == 200
    assert OWN in own.text
    listing = ent.get("/work/enterprises").text
    assert OWN in listing
    assert OTHER not in listing
    units = ent.get("/work/risk-units").text
    assert UNIT in units
    assert OTHER_UNIT not in units
    assert ent.get(f"/work/enterprises/{world['other']['id']}").status_code == 404
    assert ent.get(f"/work/risk-units/{world['other_unit']['id']}").status_code == 404
    assert OTHER not in ent.get("/work/enterprises", params={"q": "惠安"}).text
    hazards = ent.get("/work/hazards").text
    assert "工作页报警器失效" in hazards
    # a regulator of another county sees neither
    elsewhere = _client(world, engine, "regulator", adcodes=("350521",))
    assert elsewhere.get(f"/work/enterprises/{world['own']['id']}").status_code == 404
    assert OWN not in elsewhere.get("/work/enterprises").text


def test_work_pages_render_for_each_role(world: dict[str, Any], engine: Engine) -> None:
    admin = _client(world, engine, "admin")
    reg = _client(world, engine, "regulator", adcodes=("350505",))
    ent = _client(world, engine, "enterprise", enterprise_id=world["own"]["id"])
    hazards = reg.get("/work/hazards?open_only=true")
    assert "工作页报警器失效" in hazards.text
    hazard_id = hazards.text.split('href="/work/hazards/', 1)[1].split('"', 1)[0]
    detail = reg.get(f"/work/hazards/{hazard_id}").text
    assert "已上报" in detail
    # a reported hazard: the regulator issues the rectification notice; the enterprise of a
    # regulator-found hazard may too (五落实 by itself), nobody may accept it yet
    assert 'value="assign"' in detail
    assert 'value="accept"' not in detail
    assert 'value="assign"' in ent.get(f"/work/hazards/{hazard_id}").text
    assert "工作页报警器失效" in detail
    assert reg.get("/work/closeouts").status_code == 200
    assert ent.get("/work/closeouts").status_code == 200
    imp = reg.get("/work/import").text
    assert 'value="protection_targets"' in imp
    assert 'value="enterprises"' not in imp
    ent_imp = ent.get("/work/import").text
    assert 'value="enterprises"' in ent_imp
    assert 'value="protection_targets"' not in ent_imp
    assert '<meta name="csrf-token"' not in imp  # bearer callers have no cookie; the browser test covers it
    exports = ent.get("/work/exports").text
    assert f"/api/v1/exports/enterprise-register/{world['own']['id']}.pdf" in exports
    assert "kind=protection_targets" not in exports
    assert "county-register/350505.xlsx" in reg.get("/work/exports").text
    assert "选址核查" in admin.get("/work/siting").text
    assert "/maps/joint-prevention?adcode=350505" in reg.get("/work/joint-prevention").text
    plan_page = reg.get("/work/inspection-plan").text
    assert "format=xlsx" in plan_page
    year = dt.date.today().year
    assert f"/api/v1/analysis/inspection-plan?adcode=350505&amp;period={year}&amp;format=xlsx" in plan_page
    for path in ("/work/enterprises", "/work/import", "/work/siting"):
        csp = admin.get(path).headers["content-security-policy"]
        assert "default-src 'self'" in csp


def test_an_enterprise_sees_its_own_calendar_and_neighbour_notices(
    world: dict[str, Any], engine: Engine
) -> None:
    ent = _client(world, engine, "enterprise", enterprise_id=world["own"]["id"])
    page = ent.get("/work/my-enterprise?period=2026-02")
    assert page.status_code == 200, page.text[:500]
    body = page.text
    assert OWN in body
    assert UNIT in body.split('id="rm-units"', 1)[1]
    # a level-1 unit makes the enterprise 重大 (就高): self-inspection every day of the month
    rule = body.split('id="rm-self-rule"', 1)[1].split("</p>", 1)[0]
    assert "重大风险" in rule
    assert "本期 28 次" in rule
    dates = body.split('id="rm-self-dates"', 1)[1].split("</ul>", 1)[0]
    assert dates.count("<li>") == 28
    assert "2026-02-01" in dates
    assert "2026-02-28" in dates
    # the neighbour notice of its level-1 unit: the school next to it; the level-3 units need none
    notices = body.split('id="rm-notices"', 1)[1]
    assert UNIT in notices
    assert TARGET in notices
    assert "工作页装卸点" not in notices
    assert OTHER_UNIT not in notices
    # the other enterprise (惠安, level 2) sees its own unit and not ours
    other = _client(world, engine, "enterprise", enterprise_id=world["other"]["id"])
    theirs = other.get("/work/my-enterprise").text
    assert OTHER_UNIT in theirs
    assert UNIT not in theirs
    assert OWN not in theirs
    # regulators and admins use the jurisdiction-wide analyses instead
    reg = _client(world, engine, "regulator", adcodes=("350505",))
    assert reg.get("/work/my-enterprise").status_code == 403
    assert ent.get("/work/my-enterprise?period=2026-13").status_code == 422
    # the JSON analyses stay closed to enterprise users (the access matrix is unchanged)
    api = TestClient(
        world["app"],
        headers=bearer(add_test_user(engine, "enterprise", enterprise_id=world["own"]["id"]), "enterprise"),
    )
    assert api.get("/api/v1/analysis/neighbour-notices?adcode=350505").status_code == 403


def test_close_out_cases_offer_the_next_step_of_the_role(world: dict[str, Any], engine: Engine) -> None:
    admin = TestClient(world["app"], headers=bearer(add_test_user(engine, "admin"), "admin"))
    case = admin.post(
        "/api/v1/closeouts", json={"risk_unit_id": world["unit"]["id"], "assigning_unit": "泉港区应急管理局"}
    )
    assert case.status_code == 201, case.text
    key = case.json()["id"]
    ent = _client(world, engine, "enterprise", enterprise_id=world["own"]["id"])
    reg = _client(world, engine, "regulator", adcodes=("350505",))
    mine = ent.get("/work/closeouts").text
    assert f'data-case="{key}"' in mine
    assert 'value="request"' in mine
    assert f'data-case="{key}"' not in reg.get("/work/closeouts").text  # waiting for the enterprise
    other = _client(world, engine, "enterprise", enterprise_id=world["other"]["id"])
    assert f'data-case="{key}"' not in other.get("/work/closeouts").text
    asked = TestClient(
        world["app"],
        headers=bearer(add_test_user(engine, "enterprise", enterprise_id=world["own"]["id"]), "enterprise"),
    ).post(
        f"/api/v1/closeouts/{key}/request",
        json={
            "evidence": "增设紧急切断阀",
            "signed_by": "王建国",
            "assessment_method": "LEC",
            "assessment_inputs": {"L": 1, "E": 6, "C": 7},
        },
    )
    assert asked.status_code == 200, asked.text
    theirs = reg.get("/work/closeouts").text
    assert f'data-case="{key}"' in theirs
    assert 'value="approve"' in theirs
    assert 'value="reject"' in theirs
    assert f'data-case="{key}"' not in ent.get("/work/closeouts").text  # waiting for the regulator
