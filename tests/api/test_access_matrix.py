"""Who may do what: every route of the OpenAPI schema × every role × a row (or jurisdiction) of one's own
and one of another → the status designed for it.

The register: enterprise E1 in 泉港区 350505 (the enterprise user's own) and E2 in 惠安县 350521, a risk unit
of each, a public-area risk and a protection target in each county. The regulator oversees 350505.

Rules (see geo/store/repository.py): a row outside one's scope is invisible (404, as if it did not exist);
a visible row one may not change, or a kind of thing a role may never do, is 403 (401 when nobody signed
in); aggregates (zone levels and counts) are public. A route added without an entry here fails
`test_every_route_is_in_the_matrix`.
"""

from __future__ import annotations

import itertools
import math
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api.app import create_app
from api.settings import AuthSettings, DatabaseSettings, Settings
from geo.access import SYSTEM
from geo.store import users
from tests.api.builders import (
    ENTERPRISES,
    HUIAN,
    INNER_BOX,
    JURISDICTIONS,
    QUANGANG,
    QUANGANG_2,
    RISK_UNITS,
    TARGETS,
    box_polygon,
    created,
    enterprise_feature,
    guarded,
    jurisdiction_feature,
    point,
    protection_target_feature,
    risk_unit_feature,
)
from tests.principals import TEST_SECRET, add_test_user, bearer

ROLES = ("admin", "regulator", "enterprise", "public")
TARGETS_OF = ("own", "other")
OWN_ADCODE, OTHER_ADCODE = "350505", "350521"
HUIAN_2 = (HUIAN[0] + 0.01, HUIAN[1] + 0.01)
PASSWORD = "correct horse battery staple"


@dataclass
class World:
    admin: TestClient
    clients: dict[str, TestClient]
    ids: dict[str, int]
    token_user: str
    second_admin: TestClient  # takes steps another person must not take twice (four eyes)

    def fresh(self, path: str, feature: dict[str, Any]) -> int:
        """A new row made by the admin, for a case that changes or deletes one."""
        return int(created(self.admin.post(path, json=feature))["id"])


def _name() -> str:
    return f"测试{uuid.uuid4().hex[:8]}"


_serial = itertools.count(100)


@pytest.fixture(scope="module")
def world(database_url: str, engine: Engine, boundaries: None) -> Iterator[World]:
    with engine.begin() as conn:
        conn.execute(
            text("TRUNCATE risk_units, protection_targets, enterprises, users RESTART IDENTITY CASCADE")
        )
        conn.execute(
            text("DELETE FROM jurisdictions WHERE synthetic OR level IN ('park', 'grid', 'township')")
        )
        users.create_user(conn, SYSTEM, "matrix-token-user", PASSWORD, "admin")
    settings = Settings(db=DatabaseSettings(DATABASE_URL=database_url), auth=AuthSettings(secret=TEST_SECRET))
    app = create_app(settings)
    with TestClient(app, headers=bearer(add_test_user(engine, "admin"), "admin")) as admin:
        admin = guarded(admin)
        ids = {
            "E1": int(created(admin.post(ENTERPRISES, json=enterprise_feature(1, at=QUANGANG)))["id"]),
            "E2": int(created(admin.post(ENTERPRISES, json=enterprise_feature(2, at=HUIAN)))["id"]),
        }
        ids["U1"] = int(created(admin.post(RISK_UNITS, json=risk_unit_feature(ids["E1"], at=QUANGANG)))["id"])
        ids["U2"] = int(created(admin.post(RISK_UNITS, json=risk_unit_feature(ids["E2"], at=HUIAN)))["id"])
        ids["PA1"] = int(created(admin.post(RISK_UNITS, json=risk_unit_feature(at=QUANGANG_2)))["id"])
        ids["PA2"] = int(created(admin.post(RISK_UNITS, json=risk_unit_feature(at=HUIAN_2)))["id"])
        ids["T1"] = int(created(admin.post(TARGETS, json=protection_target_feature(at=QUANGANG_2)))["id"])
        ids["T2"] = int(created(admin.post(TARGETS, json=protection_target_feature(at=HUIAN_2)))["id"])
        clients = {
            "admin": admin,
            "regulator": TestClient(
                app, headers=bearer(add_test_user(engine, "regulator", adcodes=(OWN_ADCODE,)), "regulator")
            ),
            "enterprise": TestClient(
                app,
                headers=bearer(add_test_user(engine, "enterprise", enterprise_id=ids["E1"]), "enterprise"),
            ),
            "public": TestClient(app),
        }
        second = guarded(TestClient(app, headers=bearer(add_test_user(engine, "admin"), "admin")))
        yield World(admin, {k: guarded(c) for k, c in clients.items()}, ids, "matrix-token-user", second)


# --- requests: (method, url, keyword arguments) for a role and a target (own or other) ------------------------

Request = tuple[str, str, dict[str, Any]]
Make = Callable[[World, str, str], Request]


def _at(target: str) -> tuple[float, float]:
    return QUANGANG if target == "own" else HUIAN


def _adcode(target: str) -> str:
    return OWN_ADCODE if target == "own" else OTHER_ADCODE


def _id(key: str) -> Callable[[World, str], int]:
    return lambda w, target: w.ids[f"{key}{1 if target == 'own' else 2}"]


def _enterprise_of(w: World, target: str) -> int:
    return w.ids["E1" if target == "own" else "E2"]


def _fresh_enterprise(w: World, target: str, role: str) -> int:
    if role == "enterprise" and target == "own":
        return w.ids["E1"]  # the enterprise user's own: the only one it could ever touch
    return w.fresh(ENTERPRISES, enterprise_feature(next(_serial), at=_at(target)))


def _fresh_unit(w: World, target: str, level: int = 2) -> int:
    return w.fresh(
        RISK_UNITS, risk_unit_feature(_enterprise_of(w, target), at=_at(target), name=_name(), level=level)
    )


def _fresh_public_area(w: World, target: str) -> int:
    return w.fresh(RISK_UNITS, risk_unit_feature(at=QUANGANG_2 if target == "own" else HUIAN_2, name=_name()))


def _fresh_target(w: World, target: str) -> int:
    return w.fresh(
        TARGETS, protection_target_feature(at=QUANGANG_2 if target == "own" else HUIAN_2, name=_name())
    )


def _park(target: str) -> dict[str, Any]:
    box = (
        INNER_BOX if target == "own" else (HUIAN[0] - 0.01, HUIAN[1] - 0.01, HUIAN[0] + 0.01, HUIAN[1] + 0.01)
    )
    code = f"P{uuid.uuid4().hex[:8]}"
    return jurisdiction_feature(code, "测试园区", "park", _adcode(target), box_polygon(*box))


def _square(centre: tuple[float, float], d: float = 0.003) -> dict[str, Any]:
    return box_polygon(centre[0] - d, centre[1] - d, centre[0] + d, centre[1] + d)


def _siting(target: str) -> dict[str, Any]:
    return {
        "geometry": point(*(QUANGANG_2 if target == "own" else HUIAN_2)),
        "target_type": "school",
        "population": 500,
    }


def _get(path: str, **params: Any) -> Make:
    def make(w: World, target: str, role: str) -> Request:
        return "GET", path, {"params": {k: (v(target) if callable(v) else v) for k, v in params.items()}}

    return make


def _area(path: str, **params: Any) -> Make:
    return _get(path, adcode=_adcode, **params)


def _grid(path: str, **params: Any) -> Make:
    return _area(path, zones="grid", cell_m=10_000, **params)


ANY_VERSION = {"If-Match": "*"}


def _with_id(method: str, template: str, key: Callable[[World, str, str], int], body: Any = None) -> Make:
    def make(w: World, target: str, role: str) -> Request:
        kwargs: dict[str, Any] = {}
        if body is not None:
            kwargs["json"] = body(target) if callable(body) else body
        if method in ("PATCH", "DELETE"):
            kwargs["headers"] = ANY_VERSION  # the matrix is about scope; test_conditional.py about If-Match
        return method, template.format(key(w, target, role)), kwargs

    return make


def _post(path: str, body: Callable[[World, str], dict[str, Any]]) -> Make:
    return lambda w, target, role: ("POST", path, {"json": body(w, target)})


def _existing(key: str) -> Callable[[World, str, str], int]:
    return lambda w, target, role: _id(key)(w, target)


def _rename(target: str) -> dict[str, Any]:
    return {"properties": {"name": _name()}}


def _contours(target: str) -> dict[str, Any]:
    feature = {"type": "Feature", "geometry": _square(_at(target)), "properties": {"individual_risk": 3e-6}}
    return {"type": "FeatureCollection", "features": [feature]}


CLOSEOUTS = "/api/v1/closeouts"
LOWER = {"evidence": "增设紧急切断阀，储量由 50 t 降至 10 t", "signed_by": "张总经理", "proposed_level": 3}


def _fresh_major(w: World, target: str) -> int:
    return w.fresh(RISK_UNITS, risk_unit_feature(_id("E")(w, target), at=_at(target), level=1, name=_name()))


def _case(*steps: str) -> Callable[[World, str, str], int]:
    """A new close-out case of a new major risk of E1/E2, taken by the admin through `steps`."""

    def make(w: World, target: str, role: str) -> int:
        unit = _fresh_major(w, target)
        assigned = w.admin.post(CLOSEOUTS, json={"risk_unit_id": unit, "assigning_unit": "应急管理局"})
        assert assigned.status_code == 201, assigned.text
        key = int(assigned.json()["id"])
        for step in steps:  # by another admin: whoever requested does not verify (four eyes)
            response = w.second_admin.post(f"{CLOSEOUTS}/{key}/{step}", json=LOWER)
            assert response.status_code == 200, response.text
        return key

    return make


def _assign(w: World, target: str, role: str) -> Request:
    return (
        "POST",
        CLOSEOUTS,
        {"json": {"risk_unit_id": _fresh_major(w, target), "assigning_unit": "应急管理局"}},
    )


HAZARDS, INSPECTIONS = "/api/v1/hazards", "/api/v1/inspections"
PNG = b"\x89PNG\r\n\x1a\n" + b"0" * 64
HAZARD_STEPS: dict[str, dict[str, Any]] = {
    "assign": {"working_days": 5, "responsible": "安全部"},
    "start": {},
    "rectify": {"rectification": "已更换阀门"},
    "accept": {},
    "reject": {"reason": "未见校验记录"},
    "close": {},
    "supervise": {"supervising_unit": "区人民政府"},
}


def _hazard(*steps: str, grade: str = "general") -> Callable[[World, str, str], int]:
    """A new hazard on U1/U2, reported by the admin and taken through `steps` by a second admin (so the
    admin under test did not rectify it; the admin accepts, which four eyes allows)."""

    def make(w: World, target: str, role: str) -> int:
        body = {"risk_unit_id": _id("U")(w, target), "grade": grade, "description": _name()}
        if grade == "major":
            body["criterion"] = "HC12"
        key = int(created(w.admin.post(HAZARDS, json=body))["id"])
        for step in steps:
            by = w.admin if step == "accept" else w.second_admin  # not the one who rectified
            response = by.post(f"{HAZARDS}/{key}/{step}", json=HAZARD_STEPS[step])
            assert response.status_code == 200, response.text
        return key

    return make


def _hazard_step(action: str, *before: str, grade: str = "general") -> Make:
    return _with_id("POST", HAZARDS + "/{}/" + action, _hazard(*before, grade=grade), HAZARD_STEPS[action])


def _report_hazard(w: World, target: str, role: str) -> Request:
    body = {"risk_unit_id": _id("U")(w, target), "grade": "general", "description": _name()}
    return "POST", HAZARDS, {"json": body}


def _hazard_list(w: World, target: str, role: str) -> Request:
    csv = f"风险点ID,隐患描述,隐患等级\n{_id('U')(w, target)},{_name()},一般\n"
    return "POST", HAZARDS + "/import", {"files": {"file": ("list.csv", csv.encode())}}


def _inspection_body(w: World, target: str) -> dict[str, Any]:
    return {
        "kind": "random",
        "enterprise_id": _id("E")(w, target),
        "risk_unit_ids": [_id("U")(w, target)],
        "inspectors": "李明",
        "result": "no_hazard",
    }


def _inspection(w: World, target: str, role: str) -> int:
    response = w.admin.post(INSPECTIONS, json=_inspection_body(w, target))
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def _attach(w: World, target: str, role: str) -> Request:
    key = _hazard()(w, target, role)
    return "POST", f"{HAZARDS}/{key}/attachments", {"files": {"file": ("p.png", PNG)}}


def _attachment(w: World, target: str, role: str) -> Request:
    key = _hazard()(w, target, role)
    up = w.admin.post(f"{HAZARDS}/{key}/attachments", files={"file": ("p.png", PNG)})
    assert up.status_code == 201, up.text
    return "GET", f"{HAZARDS}/{key}/attachments/{up.json()['id']}", {}


ROSTER = "/api/v1/roster"


def _roster(w: World, target: str, role: str) -> Request:
    code = f"FJ{next(_serial)}"
    csv = f"姓名,执法证号,所属辖区代码,所属部门\n王强,{code},{_adcode(target)},应急管理局\n"
    return "POST", ROSTER, {"files": {"file": ("roster.csv", csv.encode())}}


IMPORTS, EXPORTS = "/api/v1/imports", "/api/v1/exports"


def _import_target(w: World, target: str, role: str) -> Request:
    """An import of one protection target in one's own county or the other one."""
    lon, lat = _at(target)
    csv = f"防护目标名称,防护目标类型,人数,经度,纬度\n{_name()}小学,学校,900,{lon + 0.005},{lat + 0.005}\n"
    return (
        "POST",
        IMPORTS,
        {"params": {"kind": "protection_targets"}, "files": {"file": ("t.csv", csv.encode())}},
    )


def _token(w: World, target: str, role: str) -> Request:
    return "POST", "/api/v1/auth/token", {"data": {"username": w.token_user, "password": PASSWORD}}


# --- expected statuses per role: (own, other) --------------------------------------------------------------------

Expect = dict[str, tuple[int, int]]


def everyone(status: int = 200) -> Expect:
    return dict.fromkeys(ROLES, (status, status))


def detail(ok: int = 200) -> Expect:
    """Names, people, positions: admins; regulators in their area (403 elsewhere); nobody else."""
    return {"admin": (ok, ok), "regulator": (ok, 403), "enterprise": (403, 403), "public": (401, 401)}


def admin_only(ok: int) -> Expect:
    return {"admin": (ok, ok), "regulator": (403, 403), "enterprise": (403, 403), "public": (401, 401)}


def enterprise_rows(ok: int, *, regulator: int, enterprise: tuple[int, int]) -> Expect:
    """Enterprises and their units: the regulator sees its area's (other: 404), the enterprise its own."""
    return {"admin": (ok, ok), "regulator": (regulator, 404), "enterprise": enterprise, "public": (401, 401)}


def government_rows(ok: int, *, enterprise: int) -> Expect:
    """Public-area risks and protection targets: the regulator reads and writes its area's."""
    return {
        "admin": (ok, ok),
        "regulator": (ok, 404),
        "enterprise": (enterprise, enterprise),
        "public": (401, 401),
    }


def creating(ok: int, *, enterprise: tuple[int, int], regulator: tuple[int, int]) -> Expect:
    return {"admin": (ok, ok), "regulator": regulator, "enterprise": enterprise, "public": (401, 401)}


@dataclass(frozen=True)
class Case:
    method: str
    path: str
    variant: str
    make: Make
    expect: Expect


MATRIX: list[Case] = [
    Case("POST", "/api/v1/auth/token", "password", _token, everyone(200)),
    Case("GET", "/api/v1/auth/me", "", _get("/api/v1/auth/me"), everyone(200)),
    # The browser session of a cookie: a bearer token or API key has none.
    Case("GET", "/api/v1/auth/session", "", _get("/api/v1/auth/session"), everyone(401)),
    Case("GET", "/api/v1/health", "", _get("/api/v1/health"), everyone(200)),
    Case("GET", "/api/v1/health/live", "", _get("/api/v1/health/live"), everyone(200)),
    Case("GET", "/api/v1/health/ready", "", _get("/api/v1/health/ready"), everyone(200)),
    Case(
        "GET", "/metrics", "", _get("/metrics"), admin_only(200)
    ),  # operators: admins (or the metrics token)
    Case("GET", "/api/v1/vocabularies", "", _get("/api/v1/vocabularies"), everyone(200)),
    Case("GET", "/api/v1/search", "", _get("/api/v1/search", q="测试"), everyone(200)),
    # jurisdictions: boundaries are public; loading and deleting them is an admin's
    Case("GET", JURISDICTIONS, "", _get(JURISDICTIONS, parent_adcode=_adcode), everyone(200)),
    Case(
        "GET",
        JURISDICTIONS + "/{key}",
        "",
        _with_id("GET", JURISDICTIONS + "/{}", lambda w, t, r: _adcode(t)),
        everyone(200),
    ),  # type: ignore[arg-type,return-value]
    Case(
        "POST",
        JURISDICTIONS,
        "park",
        lambda w, t, r: ("POST", JURISDICTIONS, {"json": _park(t)}),
        admin_only(201),
    ),
    Case(
        "DELETE",
        JURISDICTIONS + "/{key}",
        "park",
        lambda w, t, r: (
            "DELETE",
            f"{JURISDICTIONS}/{created(w.admin.post(JURISDICTIONS, json=_park(t)))['id']}",
            {"headers": ANY_VERSION},
        ),
        admin_only(204),
    ),
    # enterprises
    Case("GET", ENTERPRISES, "", _area(ENTERPRISES), {**everyone(200), "public": (401, 401)}),
    Case(
        "GET",
        ENTERPRISES + "/{key}",
        "",
        _with_id("GET", ENTERPRISES + "/{}", _existing("E")),
        enterprise_rows(200, regulator=200, enterprise=(200, 404)),
    ),
    Case(
        "POST",
        ENTERPRISES,
        "",
        _post(ENTERPRISES, lambda w, t: enterprise_feature(next(_serial), at=_at(t))),
        creating(201, enterprise=(403, 403), regulator=(403, 403)),
    ),
    Case(
        "PATCH",
        ENTERPRISES + "/{key}",
        "",
        _with_id("PATCH", ENTERPRISES + "/{}", lambda w, t, r: _fresh_enterprise(w, t, r), _rename),
        enterprise_rows(200, regulator=403, enterprise=(200, 404)),
    ),
    Case(
        "DELETE",
        ENTERPRISES + "/{key}",
        "",
        _with_id("DELETE", ENTERPRISES + "/{}", lambda w, t, r: _fresh_enterprise(w, t, r)),
        enterprise_rows(204, regulator=403, enterprise=(403, 404)),
    ),
    # risk units of enterprises
    Case("GET", RISK_UNITS, "", _area(RISK_UNITS), {**everyone(200), "public": (401, 401)}),
    Case(
        "GET",
        RISK_UNITS + "/{key}",
        "enterprise unit",
        _with_id("GET", RISK_UNITS + "/{}", _existing("U")),
        enterprise_rows(200, regulator=200, enterprise=(200, 404)),
    ),
    Case(
        "POST",
        RISK_UNITS,
        "enterprise unit",
        _post(RISK_UNITS, lambda w, t: risk_unit_feature(_enterprise_of(w, t), at=_at(t), name=_name())),
        creating(201, enterprise=(201, 403), regulator=(403, 403)),
    ),
    Case(
        "PATCH",
        RISK_UNITS + "/{key}",
        "enterprise unit",
        _with_id("PATCH", RISK_UNITS + "/{}", lambda w, t, r: _fresh_unit(w, t), _rename),
        enterprise_rows(200, regulator=403, enterprise=(200, 404)),
    ),
    Case(
        "DELETE",
        RISK_UNITS + "/{key}",
        "enterprise unit",
        _with_id("DELETE", RISK_UNITS + "/{}", lambda w, t, r: _fresh_unit(w, t, level=3)),
        enterprise_rows(204, regulator=403, enterprise=(204, 404)),
    ),
    Case(  # a major or large unit leaves the register only by a close-out, or by an admin (issue #19)
        "DELETE",
        RISK_UNITS + "/{key}",
        "major enterprise unit",
        _with_id("DELETE", RISK_UNITS + "/{}", lambda w, t, r: _fresh_unit(w, t, level=1)),
        enterprise_rows(204, regulator=403, enterprise=(403, 404)),
    ),
    # public-area risks (公共区域风险): the government's
    Case(
        "GET",
        RISK_UNITS + "/{key}",
        "public area",
        _with_id("GET", RISK_UNITS + "/{}", _existing("PA")),
        government_rows(200, enterprise=404),
    ),
    Case(
        "POST",
        RISK_UNITS,
        "public area",
        _post(
            RISK_UNITS, lambda w, t: risk_unit_feature(at=QUANGANG_2 if t == "own" else HUIAN_2, name=_name())
        ),
        creating(201, enterprise=(403, 403), regulator=(201, 403)),
    ),
    Case(
        "PATCH",
        RISK_UNITS + "/{key}",
        "public area",
        _with_id("PATCH", RISK_UNITS + "/{}", lambda w, t, r: _fresh_public_area(w, t), _rename),
        government_rows(200, enterprise=404),
    ),
    Case(
        "DELETE",
        RISK_UNITS + "/{key}",
        "public area",
        _with_id("DELETE", RISK_UNITS + "/{}", lambda w, t, r: _fresh_public_area(w, t)),
        government_rows(204, enterprise=404),
    ),
    # protection targets
    Case(
        "GET", TARGETS, "", _area(TARGETS), {**everyone(200), "enterprise": (403, 403), "public": (401, 401)}
    ),
    Case(
        "GET",
        TARGETS + "/{key}",
        "",
        _with_id("GET", TARGETS + "/{}", _existing("T")),
        government_rows(200, enterprise=403),
    ),
    Case(
        "POST",
        TARGETS,
        "",
        _post(
            TARGETS,
            lambda w, t: protection_target_feature(at=QUANGANG_2 if t == "own" else HUIAN_2, name=_name()),
        ),
        creating(201, enterprise=(403, 403), regulator=(201, 403)),
    ),
    Case(
        "PATCH",
        TARGETS + "/{key}",
        "",
        _with_id("PATCH", TARGETS + "/{}", lambda w, t, r: _fresh_target(w, t), _rename),
        government_rows(200, enterprise=403),
    ),
    Case(
        "DELETE",
        TARGETS + "/{key}",
        "",
        _with_id("DELETE", TARGETS + "/{}", lambda w, t, r: _fresh_target(w, t)),
        government_rows(204, enterprise=403),
    ),
    # analyses: aggregates are public, details are the area's
    Case("GET", "/api/v1/analysis/four-color", "", _grid("/api/v1/analysis/four-color"), everyone(200)),
    Case(
        "GET",
        "/api/v1/analysis/four-color",
        "fine grid",
        _area("/api/v1/analysis/four-color", zones="grid", cell_m=500),
        detail(),
    ),
    Case(
        "GET", "/api/v1/analysis/enterprise-levels", "", _area("/api/v1/analysis/enterprise-levels"), detail()
    ),
    Case("GET", "/api/v1/analysis/summary", "", _area("/api/v1/analysis/summary"), everyone(200)),
    Case("GET", "/maps/four-color", "full", _grid("/maps/four-color"), detail()),
    Case("GET", "/maps/four-color", "public", _grid("/maps/four-color", public="true"), everyone(200)),
    Case("GET", "/maps/four-color.png", "", _grid("/maps/four-color.png"), everyone(200)),
    Case("GET", "/maps/four-color.pdf", "", _grid("/maps/four-color.pdf"), everyone(200)),
    Case("GET", "/api/v1/analysis/safety-distance", "", _area("/api/v1/analysis/safety-distance"), detail()),
    Case(
        "POST",
        "/api/v1/analysis/siting-check",
        "",
        lambda w, t, r: ("POST", "/api/v1/analysis/siting-check", {"json": _siting(t)}),
        detail(),
    ),
    Case(
        "GET",
        "/api/v1/analysis/exposure",
        "",
        lambda w, t, r: ("GET", "/api/v1/analysis/exposure", {"params": {"risk_unit_id": _id("U")(w, t)}}),
        enterprise_rows(200, regulator=200, enterprise=(200, 404)),
    ),
    Case(
        "PUT",
        "/api/v1/risk-units/{risk_unit_id}/risk-contours",
        "",
        _with_id("PUT", RISK_UNITS + "/{}/risk-contours", _existing("U"), _contours),
        enterprise_rows(200, regulator=403, enterprise=(200, 404)),
    ),
    Case(
        "GET",
        "/api/v1/risk-units/{risk_unit_id}/risk-contours",
        "",
        _with_id("GET", RISK_UNITS + "/{}/risk-contours", _existing("U")),
        enterprise_rows(200, regulator=200, enterprise=(200, 404)),
    ),
    Case("GET", "/maps/safety-distance", "", _area("/maps/safety-distance"), detail()),
    Case(
        "POST",
        "/maps/siting-check",
        "",
        lambda w, t, r: ("POST", "/maps/siting-check", {"json": _siting(t)}),
        detail(),
    ),
    Case(
        "GET", "/api/v1/analysis/joint-prevention", "", _area("/api/v1/analysis/joint-prevention"), detail()
    ),
    Case(
        "GET", "/api/v1/analysis/cross-inspection", "", _area("/api/v1/analysis/cross-inspection"), detail()
    ),
    Case(
        "GET",
        "/api/v1/analysis/inspection-plan",
        "",
        _area("/api/v1/analysis/inspection-plan", period="2026-12"),
        detail(),
    ),
    Case(
        "GET", "/api/v1/analysis/neighbour-notices", "", _area("/api/v1/analysis/neighbour-notices"), detail()
    ),
    Case("GET", "/api/v1/analysis/key-targets", "", _area("/api/v1/analysis/key-targets"), detail()),
    Case("GET", "/maps/joint-prevention", "", _area("/maps/joint-prevention"), detail()),
    # history (who changed what) and the trend rebuilt from it
    Case(
        "GET",
        ENTERPRISES + "/{key}/history",
        "",
        _with_id("GET", ENTERPRISES + "/{}/history", _existing("E")),
        enterprise_rows(200, regulator=200, enterprise=(200, 404)),
    ),
    Case(
        "GET",
        RISK_UNITS + "/{key}/history",
        "",
        _with_id("GET", RISK_UNITS + "/{}/history", _existing("U")),
        enterprise_rows(200, regulator=200, enterprise=(200, 404)),
    ),
    Case(
        "GET",
        TARGETS + "/{key}/history",
        "",
        _with_id("GET", TARGETS + "/{}/history", _existing("T")),
        government_rows(200, enterprise=404),
    ),
    Case(
        "GET",
        "/api/v1/analysis/trend",
        "",
        _area("/api/v1/analysis/trend", **{"from": "2026-01", "to": "2026-12"}),
        everyone(200),
    ),
    # the risk white paper: the internal version is the area's, the public one everyone's
    Case(
        "GET",
        "/api/v1/reports/white-paper",
        "internal",
        _area("/api/v1/reports/white-paper", period="2026-11", format="docx"),
        detail(),
    ),
    Case(
        "GET",
        "/api/v1/reports/white-paper",
        "public",
        _area("/api/v1/reports/white-paper", period="2026-11", public="true", format="docx"),
        everyone(200),
    ),
    # close-out (销号): assign, request, approve or reject, lists
    Case("POST", CLOSEOUTS, "", _assign, creating(201, enterprise=(403, 404), regulator=(201, 404))),
    Case("GET", CLOSEOUTS, "", _get(CLOSEOUTS), {**everyone(200), "public": (401, 401)}),
    Case(
        "GET",
        CLOSEOUTS + "/overdue",
        "",
        _area(CLOSEOUTS + "/overdue"),
        {"admin": (200, 200), "regulator": (200, 200), "enterprise": (403, 403), "public": (401, 401)},
    ),
    Case("GET", CLOSEOUTS + "/announcements", "", _get(CLOSEOUTS + "/announcements"), everyone(200)),
    Case(
        "GET",
        CLOSEOUTS + "/{key}",
        "",
        _with_id("GET", CLOSEOUTS + "/{}", _case()),
        enterprise_rows(200, regulator=200, enterprise=(200, 404)),
    ),
    Case(
        "POST",
        CLOSEOUTS + "/{key}/request",
        "",
        _with_id("POST", CLOSEOUTS + "/{}/request", _case(), LOWER),
        enterprise_rows(200, regulator=403, enterprise=(200, 404)),
    ),
    Case(
        "POST",
        CLOSEOUTS + "/{key}/approve",
        "",
        _with_id("POST", CLOSEOUTS + "/{}/approve", _case("request"), {}),
        enterprise_rows(200, regulator=200, enterprise=(403, 404)),
    ),
    Case(
        "POST",
        CLOSEOUTS + "/{key}/reject",
        "",
        _with_id("POST", CLOSEOUTS + "/{}/reject", _case("request"), {"reason": "未见联锁调试记录"}),
        enterprise_rows(200, regulator=200, enterprise=(403, 404)),
    ),
    # hidden hazards (隐患排查治理): inspections, the register, the steps of the loop, attachments
    Case(
        "POST",
        INSPECTIONS,
        "",
        _post(INSPECTIONS, _inspection_body),
        creating(201, enterprise=(403, 403), regulator=(201, 422)),
    ),
    Case("GET", INSPECTIONS, "", _get(INSPECTIONS), {**everyone(200), "public": (401, 401)}),
    Case(
        "GET",
        INSPECTIONS + "/{key}",
        "",
        _with_id("GET", INSPECTIONS + "/{}", _inspection),
        enterprise_rows(200, regulator=200, enterprise=(200, 404)),
    ),
    Case(
        "PATCH",
        INSPECTIONS + "/{key}",
        "",
        _with_id("PATCH", INSPECTIONS + "/{}", _inspection, {"notes": "复查"}),
        enterprise_rows(200, regulator=200, enterprise=(403, 404)),
    ),
    Case(
        "GET",
        INSPECTIONS + "/{key}/history",
        "",
        _with_id("GET", INSPECTIONS + "/{}/history", _inspection),
        enterprise_rows(200, regulator=200, enterprise=(200, 404)),
    ),
    Case(
        "POST",
        INSPECTIONS + "/from-plan",
        "",
        _post(
            INSPECTIONS + "/from-plan",
            lambda w, t: {"adcode": _adcode(t), "period": "2025-11", "part": "random"},
        ),
        {"admin": (201, 201), "regulator": (201, 403), "enterprise": (403, 403), "public": (401, 401)},
    ),
    Case("POST", HAZARDS, "", _report_hazard, creating(201, enterprise=(201, 422), regulator=(201, 422))),
    Case("GET", HAZARDS, "", _get(HAZARDS), {**everyone(200), "public": (401, 401)}),
    Case(
        "POST",
        HAZARDS + "/import",
        "",
        _hazard_list,
        creating(201, enterprise=(201, 422), regulator=(201, 422)),
    ),
    Case(
        "GET",
        HAZARDS + "/statistics",
        "",
        _area(HAZARDS + "/statistics", month="2026-11"),
        {"admin": (200, 200), "regulator": (200, 403), "enterprise": (200, 200), "public": (401, 401)},
    ),
    Case("GET", HAZARDS + "/announcements", "", _get(HAZARDS + "/announcements"), everyone(200)),
    Case(
        "GET",
        HAZARDS + "/lists.xlsx",
        "",
        _area(HAZARDS + "/lists.xlsx"),
        {"admin": (200, 200), "regulator": (200, 403), "enterprise": (200, 200), "public": (401, 401)},
    ),
    Case(
        "GET",
        HAZARDS + "/{key}",
        "",
        _with_id("GET", HAZARDS + "/{}", _hazard()),
        enterprise_rows(200, regulator=200, enterprise=(200, 404)),
    ),
    Case(
        "POST",
        HAZARDS + "/{key}/assign",
        "",
        _hazard_step("assign"),
        enterprise_rows(200, regulator=200, enterprise=(200, 404)),
    ),
    Case(
        "POST",
        HAZARDS + "/{key}/start",
        "",
        _hazard_step("start", "assign"),
        enterprise_rows(200, regulator=403, enterprise=(200, 404)),
    ),
    Case(
        "POST",
        HAZARDS + "/{key}/rectify",
        "",
        _hazard_step("rectify", "assign"),
        enterprise_rows(200, regulator=403, enterprise=(200, 404)),
    ),
    Case(
        "POST",
        HAZARDS + "/{key}/accept",
        "",
        _hazard_step("accept", "assign", "rectify"),
        enterprise_rows(200, regulator=200, enterprise=(403, 404)),
    ),
    Case(
        "POST",
        HAZARDS + "/{key}/reject",
        "",
        _hazard_step("reject", "assign", "rectify"),
        enterprise_rows(200, regulator=200, enterprise=(403, 404)),
    ),
    Case(
        "POST",
        HAZARDS + "/{key}/close",
        "",
        _hazard_step("close", "assign", "rectify", "accept"),
        enterprise_rows(200, regulator=200, enterprise=(403, 404)),
    ),
    Case(
        "POST",
        HAZARDS + "/{key}/supervise",
        "",
        _hazard_step("supervise", grade="major"),
        enterprise_rows(200, regulator=200, enterprise=(403, 404)),
    ),
    Case(
        "POST",
        HAZARDS + "/{key}/attachments",
        "",
        _attach,
        enterprise_rows(201, regulator=201, enterprise=(201, 404)),
    ),
    Case(
        "GET",
        HAZARDS + "/{key}/attachments/{attachment_id}",
        "",
        _attachment,
        enterprise_rows(200, regulator=200, enterprise=(200, 404)),
    ),
    Case(
        "GET",
        "/api/v1/analysis/inspection-coverage",
        "",
        _area("/api/v1/analysis/inspection-coverage", period="2026-11"),
        detail(),
    ),
    Case(
        "GET",
        "/api/v1/analysis/dynamic-levels",
        "",
        _area("/api/v1/analysis/dynamic-levels"),
        {"admin": (200, 200), "regulator": (200, 403), "enterprise": (200, 200), "public": (401, 401)},
    ),
    Case("POST", ROSTER, "", _roster, creating(201, enterprise=(403, 403), regulator=(201, 422))),
    Case(
        "GET",
        ROSTER,
        "",
        _get(ROSTER),
        {"admin": (200, 200), "regulator": (200, 200), "enterprise": (403, 403), "public": (401, 401)},
    ),
    # imports and exports (the rows one may see; registers of one's own enterprise or area)
    Case(
        "POST",
        IMPORTS,
        "",
        _import_target,
        {"admin": (201, 201), "regulator": (201, 422), "enterprise": (403, 403), "public": (401, 401)},
    ),
    Case(
        "GET",
        EXPORTS,
        "",
        _area(EXPORTS, kind="risk_units"),
        {**everyone(200), "public": (401, 401)},
    ),
    Case(
        "GET", "/api/v1/templates/{kind}.xlsx", "", _get("/api/v1/templates/risk_units.xlsx"), everyone(200)
    ),
    Case(
        "GET",
        EXPORTS + "/enterprise-register/{enterprise_id}.xlsx",
        "",
        _with_id("GET", EXPORTS + "/enterprise-register/{}.xlsx", _existing("E")),
        enterprise_rows(200, regulator=200, enterprise=(200, 404)),
    ),
    Case(
        "GET",
        EXPORTS + "/enterprise-register/{enterprise_id}.pdf",
        "",
        _with_id("GET", EXPORTS + "/enterprise-register/{}.pdf", _existing("E")),
        enterprise_rows(200, regulator=200, enterprise=(200, 404)),
    ),
    Case(
        "GET",
        EXPORTS + "/county-register/{adcode}.xlsx",
        "",
        lambda w, t, r: ("GET", f"{EXPORTS}/county-register/{_adcode(t)}.xlsx", {}),
        detail(),
    ),
]


def _tile(layer: str, **params: Any) -> Make:
    """The z12 tile of one's own county or the other one: rows are filtered by scope, never a 404."""

    def make(w: World, target: str, role: str) -> Request:
        lon, lat = _at(target)
        n = 2**12
        x = int((lon + 180) / 360 * n)
        y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
        return "GET", f"/tiles/{layer}/12/{x}/{y}.pbf", {"params": params}

    return make


TILE, TILEJSON = "/tiles/{layer}/{z}/{x}/{y}.pbf", "/tiles/{layer}.json"
SCOPED_TILE = {"admin": (200, 200), "regulator": (200, 200), "enterprise": (200, 200), "public": (401, 401)}
GOVERNMENT_TILE = {
    "admin": (200, 200),
    "regulator": (200, 200),
    "enterprise": (403, 403),
    "public": (401, 401),
}
MATRIX += [
    # vector tiles: a tile holds only the rows one may read (filtered, so 200); the public gets boundaries
    # and four-colour zones (aggregates) only
    Case("GET", TILE, "risk units", _tile("risk_units"), SCOPED_TILE),
    Case("GET", TILE, "enterprises", _tile("enterprises"), SCOPED_TILE),
    Case("GET", TILE, "hazards", _tile("hazards"), SCOPED_TILE),
    Case("GET", TILE, "protection targets", _tile("protection_targets"), GOVERNMENT_TILE),
    Case("GET", TILE, "boundaries", _tile("jurisdictions"), everyone(200)),
    Case("GET", TILE, "zones", _tile("zones", adcode="350500"), everyone(200)),
    Case("GET", TILEJSON, "zones", _get("/tiles/zones.json", adcode="350500"), everyone(200)),
    Case("GET", TILEJSON, "risk units", _get("/tiles/risk_units.json"), SCOPED_TILE),
    Case("GET", TILEJSON, "protection targets", _get("/tiles/protection_targets.json"), GOVERNMENT_TILE),
]


def test_every_route_is_in_the_matrix(world: World) -> None:
    schema = world.admin.get("/openapi.json").json()
    routes = {(m.upper(), p) for p, ops in schema["paths"].items() for m in ops}
    covered = {(c.method, c.path) for c in MATRIX}
    assert routes - covered == set(), "routes without an entry in the access matrix"
    assert covered - routes == set(), "matrix entries for routes that do not exist"


@pytest.mark.parametrize("target", TARGETS_OF)
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("case", MATRIX, ids=[f"{c.method} {c.path} {c.variant}".strip() for c in MATRIX])
def test_access(world: World, case: Case, role: str, target: str) -> None:
    method, url, kwargs = case.make(world, target, role)
    response = world.clients[role].request(method, url, **kwargs)
    want = case.expect[role][0 if target == "own" else 1]
    assert response.status_code == want, f"{role} {method} {url} ({target}): {response.text[:300]}"
    if want == 401:
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    if want in (401, 403, 404):
        assert response.json()["detail"]


@pytest.mark.parametrize("path", [ENTERPRISES, RISK_UNITS, TARGETS])
@pytest.mark.parametrize("role", ["regulator", "enterprise"])
def test_lists_hold_only_rows_in_scope(world: World, role: str, path: str) -> None:
    response = world.clients[role].get(path, params={"limit": 5000})
    if role == "enterprise" and path == TARGETS:
        assert response.status_code == 403
        return
    rows = response.json()["features"]
    assert rows, "the scope is not empty"
    for row in rows:
        props = row["properties"]
        if role == "regulator":
            assert props["jurisdiction_adcode"] == OWN_ADCODE, props
        elif path == ENTERPRISES:
            assert row["id"] == world.ids["E1"]
        else:
            assert props["enterprise_id"] == world.ids["E1"]
