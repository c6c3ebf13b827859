"""Acceptance, in headless Chromium with every request outside the server blocked: sign in → the import page
→ upload a CSV with three bad rows → the dry-run report names each (row, field, reason) and nothing is
written → upload a good file → confirm → imported; then the siting check page → paste a polygon → the
verdict and its conflicts; the register list and a detail page with its history. Screenshots of the main
pages go to artifacts/ (with RISKMAP_UPDATE_SCREENSHOTS=1 to docs/screenshots/)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api.app import create_app
from api.settings import AuthSettings, DatabaseSettings, Settings
from geo.access import SYSTEM
from geo.store import users
from tests.api.builders import (
    ENTERPRISES,
    QUANGANG,
    RISK_UNITS,
    TARGETS,
    box_polygon,
    created,
    enterprise_feature,
    protection_target_feature,
    risk_unit_feature,
)
from tests.io.helpers import ENTERPRISE_HEADERS, enterprise_rows
from tests.maps.browser import Browser, require_chromium, serve_app
from tests.maps.test_pages_browser import SCREENSHOTS, Tab, _fill_and_submit
from tests.principals import TEST_SECRET, add_test_user, bearer

pytestmark = pytest.mark.browser

PASSWORD = "a long enough password"
USER = "workpages-admin"
ENTERPRISE_USER = "workpages-ent"
OWN = "泉港页面石化有限公司"


@pytest.fixture(scope="module")
def world(database_url: str, engine: Engine, boundaries: None) -> Iterator[dict[str, Any]]:
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE risk_units, protection_targets, enterprises RESTART IDENTITY CASCADE"))
        users.remove_user(conn, SYSTEM, USER)
        users.remove_user(conn, SYSTEM, ENTERPRISE_USER)
    settings = Settings(db=DatabaseSettings(DATABASE_URL=database_url), auth=AuthSettings(secret=TEST_SECRET))
    app = create_app(settings)
    with TestClient(app, headers=bearer(add_test_user(engine, "admin"), "admin")) as admin:
        own = created(admin.post(ENTERPRISES, json=enterprise_feature(91, at=QUANGANG, name=OWN)))
        x, y = QUANGANG
        created(
            admin.post(
                RISK_UNITS,
                json=risk_unit_feature(
                    own["id"],
                    geometry=box_polygon(x, y, x + 0.001, y + 0.001),
                    level=1,
                    name="页面液氨储罐区",
                    hazard_kind="liquefied_hydrocarbon_tanks",
                    capacity_m3=2000,
                ),
            )
        )
        created(admin.post(TARGETS, json=protection_target_feature(at=(x + 0.01, y + 0.01), name="页面小学")))
        unit_id = admin.get(RISK_UNITS).json()["features"][0]["id"]
        case = admin.post(
            "/api/v1/closeouts", json={"risk_unit_id": unit_id, "assigning_unit": "泉港区应急管理局"}
        )
        assert case.status_code == 201, case.text
        with engine.begin() as conn:
            users.create_user(conn, SYSTEM, USER, PASSWORD, "admin")
            users.create_user(conn, SYSTEM, ENTERPRISE_USER, PASSWORD, "enterprise", enterprise_id=own["id"])
        app.state.engine = engine
        yield {"app": app, "own": own}
    with engine.begin() as conn:
        users.remove_user(conn, SYSTEM, USER)
        users.remove_user(conn, SYSTEM, ENTERPRISE_USER)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    require_chromium()
    with Browser(window=(1280, 860)) as b:
        yield b


def _csv(rows: list[list[Any]]) -> str:
    return "\n".join(",".join(str(c) for c in row) for row in [ENTERPRISE_HEADERS, *rows]) + "\n"


def _upload(csv: str, name: str) -> str:
    """Put a file into the import form's file input and submit the form (the dry run)."""
    return f"""(() => {{
        const input = document.getElementById("rm-import-file");
        const files = new DataTransfer();
        files.items.add(new File([{json.dumps(csv)}], {json.dumps(name)}, {{type: "text/csv"}}));
        input.files = files.files;
        document.getElementById("rm-import-kind").value = "enterprises";
        document.getElementById("rm-import-form").requestSubmit();
        return true;
    }})()"""


def _wait(tab: Tab, condition: str, seconds: float = 20) -> None:
    for _ in range(int(seconds * 4)):
        if tab.value(f"Boolean({condition})"):
            return
        tab.session.pump(0.25)
    shown = tab.value("document.querySelector('main').innerText") + str(tab.report.console_errors)
    raise AssertionError(f"{condition} did not become true; the page shows: {shown}")


def test_import_and_siting_check_in_the_browser(
    world: dict[str, Any], browser: Browser, engine: Engine
) -> None:
    good = enterprise_rows(4, start=300)
    bad = [list(r) for r in good[1:]]
    bad[0][0] = "91350505MA2XXXXX0X"  # a credit code with a wrong check digit
    bad[1][1] = ""  # no name
    bad[2][6] = 95.0  # latitude out of range
    with serve_app(world["app"]) as base_url:
        tab = Tab(browser)
        try:
            at = urlsplit(tab.goto(base_url + "/work/import"))
            assert at.path == "/login"
            landing = tab.submit(
                _fill_and_submit(USER, PASSWORD), wait_for="document.getElementById('rm-user')"
            )
            assert urlsplit(landing).path == "/work/import"
            nav = tab.value("Array.from(document.querySelectorAll('#rm-worknav a')).map(a => a.textContent)")
            assert "选址核查" in nav
            assert "双随机计划" in nav

            # three bad rows and a good one: each bad row named, nothing written
            tab.value(_upload(_csv([good[0], *bad]), "bad.csv"))
            _wait(tab, "document.getElementById('rm-import-summary')")
            report = tab.value(
                "Array.from(document.querySelectorAll('#rm-import-report tbody tr'))"
                ".map(tr => Array.from(tr.cells).map(td => td.textContent))"
            )
            named_rows = {r[0] for r in report}
            assert named_rows == {"3", "4", "5"}, report  # the header is row 1
            assert all(r[1] and r[2] and r[3] for r in report), report  # field, reason zh and en
            assert "3 行有问题" in tab.value("document.getElementById('rm-import-summary').textContent")
            assert tab.value("document.getElementById('rm-import-confirm').hidden") is True
            tab.screenshot(SCREENSHOTS / "work_import.png")
            with engine.connect() as conn:
                assert conn.execute(text("SELECT count(*) FROM enterprises")).scalar_one() == 1

            # a good file: the dry run passes, confirm writes it
            tab.value(_upload(_csv(good), "good.csv"))
            _wait(tab, "!document.getElementById('rm-import-confirm').hidden")
            tab.value("document.getElementById('rm-import-confirm').click(); true")
            _wait(tab, "document.getElementById('rm-import-done')")
            assert "新增 4 条" in tab.value("document.getElementById('rm-import-done').textContent")
            with engine.connect() as conn:
                assert conn.execute(text("SELECT count(*) FROM enterprises")).scalar_one() == 5

            # the siting check: a housing estate right next to the level-1 unit
            tab.goto(base_url + "/work/siting")
            x, y = QUANGANG
            polygon = box_polygon(x + 0.0012, y, x + 0.0022, y + 0.001)["coordinates"]
            geometry = json.dumps({"type": "Polygon", "coordinates": polygon})
            tab.value(
                f"document.getElementById('rm-siting-geometry').value = {json.dumps(geometry)};"
                "document.getElementById('rm-siting-households').value = '300';"
                "document.getElementById('rm-siting-name').value = '拟建页面小区';"
                "document.getElementById('rm-siting-form').requestSubmit(); true"
            )
            _wait(tab, "document.getElementById('rm-siting-verdict')")
            verdict = tab.value("document.getElementById('rm-siting-verdict').dataset.verdict")
            assert verdict in ("veto", "advise"), verdict  # next to a level-1 unit: never ok
            assert "结论" in tab.value("document.getElementById('rm-siting-verdict').textContent")
            conflicts = tab.value("document.querySelectorAll('#rm-siting-conflicts tbody tr').length")
            assert conflicts >= 1
            # on the map: the proposal and the line to the unit it conflicts with
            assert tab.value("document.querySelectorAll('#rm-siting-map path').length") >= 2
            tab.screenshot(SCREENSHOTS / "work_siting.png")

            # the register list and a detail page with its history
            tab.goto(base_url + "/work/enterprises")
            assert OWN in tab.value("document.getElementById('rm-list').innerText")
            tab.screenshot(SCREENSHOTS / "work_enterprises.png")
            tab.goto(base_url + f"/work/enterprises/{world['own']['id']}")
            assert "新建" in tab.value("document.getElementById('rm-history').innerText")
            assert "页面液氨储罐区" in tab.value("document.getElementById('rm-units').innerText")
            tab.screenshot(SCREENSHOTS / "work_enterprise.png")

            # the month's plan made into inspections to fill in, from the plan page; again: none twice
            tab.goto(base_url + "/work/inspection-plan")
            button = "document.querySelector('button.rm-plan-make[data-adcode=\"350000\"]')"
            made = f"{button}.parentNode.querySelector('.rm-plan-made').textContent"
            tab.value(f"{button}.click(); true")
            _wait(tab, f"{made}.startsWith('新建')", seconds=60)
            with engine.connect() as conn:
                planned = conn.execute(
                    text("SELECT count(*) FROM inspections WHERE status = 'planned'")
                ).scalar_one()
            assert planned >= 1
            assert tab.value(made).startswith(f"新建 {planned} 条"), tab.value(made)
            tab.value(f"{button}.click(); true")
            _wait(tab, f"{made}.startsWith('新建 0 条')", seconds=60)
            assert f"已有 {planned} 条" in tab.value(made)

            assert tab.report.external_requests == []
            assert tab.report.blocked == []
            assert tab.report.console_errors == []
            assert urlsplit(tab.submit("document.getElementById('rm-logout').click(), true")).path == "/login"
        finally:
            tab.close()

        # the enterprise user: its own enterprise, calendar and notices; no siting check in its bar
        tab = Tab(browser)
        try:
            tab.goto(base_url + "/work/my-enterprise")
            tab.submit(
                _fill_and_submit(ENTERPRISE_USER, PASSWORD), wait_for="document.getElementById('rm-user')"
            )
            assert urlsplit(tab.location()).path == "/work/my-enterprise"
            nav = tab.value("Array.from(document.querySelectorAll('#rm-worknav a')).map(a => a.textContent)")
            assert "我的企业" in nav
            assert "选址核查" not in nav
            assert OWN in tab.value("document.getElementById('rm-mine-name').textContent")
            assert tab.value("document.querySelectorAll('#rm-self-dates li').length") >= 28
            assert "页面液氨储罐区" in tab.value("document.getElementById('rm-notices').innerText")
            tab.screenshot(SCREENSHOTS / "work_my_enterprise.png")

            # its close-out case: request the close-out from the page
            tab.goto(base_url + "/work/closeouts")
            assert "已交办" in tab.value("document.getElementById('rm-list').innerText")
            tab.submit(
                "(() => { const f = document.querySelector('form.rm-step');"
                " f.elements.evidence.value = '增设紧急切断阀和可燃气体报警联锁';"
                " f.elements.signed_by.value = '王建国';"
                " f.elements.assessment_inputs.value = 'L=1 E=6 C=7';"
                " f.querySelector('button[value=request]').click(); return true; })()"
            )
            _wait(tab, "document.getElementById('rm-list').innerText.includes('已申请销号')")
            assert tab.value("document.querySelectorAll('form.rm-step').length") == 0
            assert tab.report.external_requests == []
        finally:
            tab.close()
