"""The pages of the daily work (日常工作页面), Chinese first, under one navigation bar: the register lists
(enterprises, risk units, protection targets, hidden hazards) with filters and paging, each row's detail
page with its change history; the import page (upload → dry-run report → confirm); the siting check;
exports and templates; joint prevention, cross-inspection and the 双随机 plan; close-out cases to act on.

Server-rendered Jinja2; the two interactive pages (import, siting check) use one script file
(`/static/app/work.js`) that calls the JSON API with the session's CSRF token. Every read goes through the
same data-access layer as the API (`geo.store`), so a role sees exactly what the API would give it: rows of
another enterprise are 404, a page a role may not use is 403 (and is not in its navigation bar). Thin:
parse → store/use case → render."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import Connection

from api.auth import PrincipalDep
from api.deps import EngineDep, SettingsDep
from api.pages import STATIC_PREFIX, templates
from api.pages.signin import ROLE_ZH, _session_csrf
from api.usecases import history as history_usecase
from api.usecases import my_enterprise
from api.usecases.joint_prevention import sector_names
from geo import closeout as closeout_rules
from geo import hazards as hazard_rules
from geo.access import Forbidden, Principal, Role, Unauthenticated
from geo.io.fields import KIND_NAMES_ZH, Kind, primary_headers
from geo.joint_prevention import parse_period
from geo.store import closeout as closeout_store
from geo.store import hazards as hazard_store
from geo.store import repository as repo
from geo.store import users
from geo.store.imports import check_kind_allowed
from geo.store.search import search

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
ALL = (Role.admin, Role.regulator, Role.enterprise)
STAFF = (Role.admin, Role.regulator)
# A filter form sends every field, the ones left at 全部 empty: an empty value is no filter.
Adcode = Annotated[str | None, Query(max_length=12, pattern=r"^(\d{6,12})?$")]
Level = Annotated[str | None, Query(max_length=1, pattern=r"^[1-4]?$")]
HazardStatus = Annotated[
    str | None, Query(max_length=16, pattern="^(" + "|".join(hazard_rules.Status) + ")?$")
]
CaseStatus = Annotated[
    str | None, Query(max_length=16, pattern="^(" + "|".join(closeout_rules.Status) + ")?$")
]


def _blank(value: str | None) -> str | None:
    return value or None


Offset = Annotated[int, Query(ge=0, le=10_000_000)]
Q = Annotated[str | None, Query(max_length=100)]

LEVEL_ZH = {1: "重大风险", 2: "较大风险", 3: "一般风险", 4: "低风险"}
# Field labels of the detail pages and history: the Chinese headers of the import templates, and these.
MORE_LABELS = {
    "id": "编号",
    "jurisdiction_adcode": "行政区划代码",
    "enterprise_id": "所属企业编号",
    "kind": "类型",
    "assessment_inputs": "评估参数",
    "assessment_score": "评估分值",
    "gb_class_derived": "类别（推定）",
    "synthetic": "演示数据",
    "version": "版本",
    "created_at": "创建时间",
    "updated_at": "更新时间",
    "level": "风险等级",
    "risk_unit_count": "风险点数",
    "site": "厂区边界",
    "geom": "位置",
}


def _labels(kind: Kind) -> dict[str, str]:
    return {**MORE_LABELS, **primary_headers(kind)}


@dataclass(frozen=True)
class NavItem:
    key: str
    zh: str
    en: str
    href: str
    roles: tuple[Role, ...]


NAV = (
    NavItem("map", "一张图", "One map", "/map", ALL),
    NavItem("enterprises", "企业", "Enterprises", "/work/enterprises", ALL),
    NavItem("risk_units", "风险点", "Risk units", "/work/risk-units", ALL),
    NavItem("protection_targets", "防护目标", "Protection targets", "/work/protection-targets", STAFF),
    NavItem("import", "导入", "Import", "/work/import", ALL),
    NavItem("exports", "导出", "Exports and templates", "/work/exports", ALL),
    NavItem("siting", "选址核查", "Siting check", "/work/siting", STAFF),
    NavItem("joint", "联防联控", "Joint prevention", "/work/joint-prevention", STAFF),
    NavItem("plan", "双随机计划", "Random inspection plan", "/work/inspection-plan", STAFF),
    NavItem("closeouts", "销号", "Close-outs", "/work/closeouts", ALL),
    NavItem("hazards", "隐患", "Hidden hazards", "/work/hazards", ALL),
    NavItem("mine", "我的企业", "My enterprise", "/work/my-enterprise", (Role.enterprise,)),
    NavItem("home", "我的工作台", "My workspace", "/home", ALL),
)
NAV_BY_KEY = {item.key: item for item in NAV}


def nav_for(principal: Principal) -> list[NavItem]:
    """The navigation bar of a role: only what it may use."""
    return [item for item in NAV if principal.role in item.roles]


def _require(principal: Principal, key: str) -> None:
    if principal.is_public:
        raise Unauthenticated("sign in to see this page")
    item = NAV_BY_KEY[key]
    if principal.role not in item.roles:
        raise Forbidden(f"a {principal.role} user may not open {item.en}")


def _render(
    request: Request, principal: Principal, active: str, name: str, context: dict[str, Any]
) -> HTMLResponse:
    response = templates.TemplateResponse(
        request,
        name,
        {
            "static": STATIC_PREFIX,
            "csrf": _session_csrf(request),
            "nav": nav_for(principal),
            "active": active,
            "user": principal.username,
            "role": str(principal.role),
            "role_zh": ROLE_ZH.get(principal.role, str(principal.role)),
            "level_zh": LEVEL_ZH,
            **context,
        },
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def _shown(value: Any) -> Any:
    """A timestamp to the minute (local to the server's zone as stored); anything else as it is."""
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return value


def _areas(conn: Connection, principal: Principal) -> list[dict[str, Any]]:
    return list(users.workspace(conn, principal)["areas"])


def _paging(path: str, params: dict[str, Any], offset: int, total: int) -> dict[str, Any]:
    kept = {k: v for k, v in params.items() if v not in (None, "")}

    def link(at: int) -> str:
        return f"{path}?{urlencode({**kept, 'offset': at})}"

    return {
        "first": offset + 1 if total else 0,
        "last": min(offset + PAGE_SIZE, total),
        "total": total,
        "prev": link(max(offset - PAGE_SIZE, 0)) if offset > 0 else None,
        "next": link(offset + PAGE_SIZE) if offset + PAGE_SIZE < total else None,
    }


# --- the registers ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Register:
    key: str  # nav key
    path: str
    entity: history_usecase.Entity
    resource: repo.Resource
    search_kind: str
    title: str
    title_en: str
    columns: tuple[tuple[str, str], ...]  # (field, Chinese heading) of the list
    kind: Kind = Kind.enterprises  # whose template headers label the fields
    level_filter: bool = False


REGISTERS = {
    "enterprises": Register(
        "enterprises",
        "/work/enterprises",
        "enterprises",
        repo.ENTERPRISES,
        "enterprise",
        "企业",
        "Enterprises",
        (
            ("credit_code", "统一社会信用代码"),
            ("name", "企业名称"),
            ("level", "风险等级"),
            ("sector", "行业领域"),
            ("address", "地址"),
            ("jurisdiction_adcode", "行政区"),
        ),
    ),
    "risk-units": Register(
        "risk_units",
        "/work/risk-units",
        "risk_units",
        repo.RISK_UNITS,
        "risk_unit",
        "风险点",
        "Risk units",
        (
            ("name", "名称"),
            ("level", "风险等级"),
            ("kind", "类型"),
            ("sector", "行业领域"),
            ("next_assessment_due", "下次评估"),
            ("jurisdiction_adcode", "行政区"),
        ),
        kind=Kind.risk_units,
        level_filter=True,
    ),
    "protection-targets": Register(
        "protection_targets",
        "/work/protection-targets",
        "protection_targets",
        repo.PROTECTION_TARGETS,
        "protection_target",
        "防护目标",
        "Protection targets",
        (
            ("name", "名称"),
            ("type", "类型"),
            ("gb_class", "GB 36894 类别"),
            ("population", "人数"),
            ("households", "户数"),
            ("jurisdiction_adcode", "行政区"),
        ),
        kind=Kind.protection_targets,
    ),
}


def _register(
    request: Request,
    engine: Any,
    principal: Principal,
    reg: Register,
    adcode: str | None,
    level: int | None,
    q: str | None,
    offset: int,
) -> HTMLResponse:
    _require(principal, reg.key)
    q = (q or "").strip() or None
    with engine.connect() as conn:
        repo.visible(principal, reg.resource)  # 403 for a role that may not read this register at all
        areas = _areas(conn, principal)
        if q:
            found = [
                r
                for r in search(conn, principal, q, adcode=adcode, limit=200)
                if r["kind"] == reg.search_kind
            ]
            ids = [int(r["id"]) for r in found]
            rows = [repo.get_feature(conn, principal, reg.resource, i) for i in ids]
            if level is not None:
                rows = [r for r in rows if r.get("level") == level]
            total = len(rows)
            rows = rows[offset : offset + PAGE_SIZE]
        else:
            page = repo.list_features(
                conn,
                principal,
                reg.resource,
                adcode=adcode,
                filters={"level": level} if reg.level_filter else None,
                limit=PAGE_SIZE,
                offset=offset,
            )
            rows, total = page.rows, page.total
    params = {"adcode": adcode, "level": level, "q": q}
    return _render(
        request,
        principal,
        reg.key,
        "work_list.html",
        {
            "reg": reg,
            "rows": rows,
            "areas": areas,
            "filters": params,
            "paging": _paging(reg.path, params, offset, total),
            "sectors": sector_names(),
        },
    )


def _detail(request: Request, engine: Any, principal: Principal, reg: Register, key: int) -> HTMLResponse:
    _require(principal, reg.key)
    with engine.connect() as conn:
        row = repo.get_feature(conn, principal, reg.resource, key)  # 404 outside the principal's scope
        history = history_usecase.entity_history(conn, principal, reg.entity, key).records
        units: list[dict[str, Any]] = []
        if reg.resource is repo.ENTERPRISES:
            units = repo.list_features(
                conn, principal, repo.RISK_UNITS, filters={"enterprise_id": key}, limit=500
            ).rows
    fields = [(k, _shown(v)) for k, v in row.items() if k not in ("geometry", "site")]
    changes = []
    for record in history:
        old, new = record.get("old_values") or {}, record.get("new_values") or {}
        names = sorted(set(old) | set(new), key=lambda n: (n not in ("name", "level"), n))
        changes.append(
            {
                "action": record["action"],
                "actor": record.get("actor"),
                "at": _shown(record.get("at")),
                "fields": [
                    (n, old.get(n), new.get(n))
                    for n in names
                    if old.get(n) != new.get(n) and n not in ("geom", "version", "updated_at")
                ],
            }
        )
    return _render(
        request,
        principal,
        reg.key,
        "work_detail.html",
        {
            "reg": reg,
            "row": row,
            "fields": fields,
            "changes": changes,
            "units": units,
            "key": key,
            "labels": _labels(reg.kind),
            "sectors": sector_names(),
        },
    )


@router.get("/work/enterprises", response_class=HTMLResponse)
def enterprises_page(
    request: Request,
    engine: EngineDep,
    principal: PrincipalDep,
    adcode: Adcode = None,
    q: Q = None,
    offset: Offset = 0,
) -> Response:
    return _register(request, engine, principal, REGISTERS["enterprises"], _blank(adcode), None, q, offset)


@router.get("/work/risk-units", response_class=HTMLResponse)
def risk_units_page(
    request: Request,
    engine: EngineDep,
    principal: PrincipalDep,
    adcode: Adcode = None,
    level: Level = None,
    q: Q = None,
    offset: Offset = 0,
) -> Response:
    lv = int(level) if level else None
    return _register(request, engine, principal, REGISTERS["risk-units"], _blank(adcode), lv, q, offset)


@router.get("/work/protection-targets", response_class=HTMLResponse)
def protection_targets_page(
    request: Request,
    engine: EngineDep,
    principal: PrincipalDep,
    adcode: Adcode = None,
    q: Q = None,
    offset: Offset = 0,
) -> Response:
    register = REGISTERS["protection-targets"]
    return _register(request, engine, principal, register, _blank(adcode), None, q, offset)


@router.get("/work/enterprises/{key}", response_class=HTMLResponse)
def enterprise_page(request: Request, engine: EngineDep, principal: PrincipalDep, key: int) -> Response:
    return _detail(request, engine, principal, REGISTERS["enterprises"], key)


@router.get("/work/risk-units/{key}", response_class=HTMLResponse)
def risk_unit_page(request: Request, engine: EngineDep, principal: PrincipalDep, key: int) -> Response:
    return _detail(request, engine, principal, REGISTERS["risk-units"], key)


@router.get("/work/protection-targets/{key}", response_class=HTMLResponse)
def protection_target_page(
    request: Request, engine: EngineDep, principal: PrincipalDep, key: int
) -> Response:
    return _detail(request, engine, principal, REGISTERS["protection-targets"], key)


# --- hidden hazards and close-out cases ---------------------------------------------------------------


@router.get("/work/hazards", response_class=HTMLResponse)
def hazards_page(
    request: Request,
    engine: EngineDep,
    principal: PrincipalDep,
    adcode: Adcode = None,
    status: HazardStatus = None,
    open_only: bool = False,
    offset: Offset = 0,
) -> Response:
    _require(principal, "hazards")
    adcode = _blank(adcode)
    state = hazard_rules.Status(status) if status else None
    with engine.connect() as conn:
        areas = _areas(conn, principal)
        rows, total = hazard_store.list_hazards(
            conn,
            principal,
            as_of=dt.date.today(),
            adcode=adcode,
            status=state,
            open_only=open_only,
            limit=PAGE_SIZE,
            offset=offset,
        )
    params = {"adcode": adcode, "status": status or None, "open_only": open_only or None}
    return _render(
        request,
        principal,
        "hazards",
        "work_hazards.html",
        {
            "rows": rows,
            "areas": areas,
            "filters": params,
            "statuses": hazard_rules.STATUS_ZH,
            "grades": hazard_rules.GRADE_ZH,
            "paging": _paging("/work/hazards", params, offset, total),
        },
    )


@router.get("/work/hazards/{key}", response_class=HTMLResponse)
def hazard_page(request: Request, engine: EngineDep, principal: PrincipalDep, key: int) -> Response:
    _require(principal, "hazards")
    with engine.connect() as conn:
        hazard = hazard_store.get_hazard(conn, principal, key, as_of=dt.date.today())
        status = hazard_rules.Status(hazard["status"])
        # the steps the hazard's state allows and this user may take (the API checks both again)
        actions = [
            action.value
            for (state, action) in hazard_rules.TRANSITIONS
            if state is status and hazard_store._may(conn, principal, action, hazard)
        ]
    steps = hazard.pop("events", [])
    hazard.pop("attachments", None)
    fields = [(k, _shown(v)) for k, v in hazard.items() if not isinstance(v, list | dict)]
    for step in steps:
        step["at"] = _shown(step.get("at"))
    return _render(
        request,
        principal,
        "hazards",
        "work_hazard.html",
        {
            "hazard": hazard,
            "fields": fields,
            "steps": steps,
            "actions": actions,
            "action_zh": hazard_rules.ACTION_ZH,
            "statuses": hazard_rules.STATUS_ZH,
            "grades": hazard_rules.GRADE_ZH,
        },
    )


# What a role does next with a close-out case in each status (the JSON API takes the step).
CLOSEOUT_NEXT = {
    closeout_rules.Status.assigned: ((Role.enterprise, Role.admin), "request"),
    closeout_rules.Status.rejected: ((Role.enterprise, Role.admin), "request"),
    closeout_rules.Status.requested: ((Role.regulator, Role.admin), "decide"),
}


@router.get("/work/closeouts", response_class=HTMLResponse)
def closeouts_page(
    request: Request,
    engine: EngineDep,
    principal: PrincipalDep,
    adcode: Adcode = None,
    status: CaseStatus = None,
    offset: Offset = 0,
) -> Response:
    _require(principal, "closeouts")
    adcode = _blank(adcode)
    state = closeout_rules.Status(status) if status else None
    with engine.connect() as conn:
        areas = _areas(conn, principal)
        rows, total = closeout_store.list_cases(
            conn,
            principal,
            as_of=dt.date.today(),
            status=state,
            adcode=adcode,
            limit=PAGE_SIZE,
            offset=offset,
        )
    for row in rows:
        step = CLOSEOUT_NEXT.get(closeout_rules.Status(row["status"]))
        row["next_step"] = step[1] if step and principal.role in step[0] else None
    params = {"adcode": adcode, "status": status or None}
    return _render(
        request,
        principal,
        "closeouts",
        "work_closeouts.html",
        {
            "rows": rows,
            "areas": areas,
            "filters": params,
            "statuses": closeout_rules.STATUS_ZH,
            "paging": _paging("/work/closeouts", params, offset, total),
        },
    )


# --- import, exports, siting check, joint prevention, the plan ----------------------------------------


@router.get("/work/import", response_class=HTMLResponse)
def import_page(request: Request, engine: EngineDep, principal: PrincipalDep) -> Response:
    _require(principal, "import")
    kinds = []
    for kind in Kind:
        try:
            check_kind_allowed(principal, kind)
        except (Forbidden, Unauthenticated):
            continue
        kinds.append((kind.value, KIND_NAMES_ZH[kind]))
    return _render(request, principal, "import", "work_import.html", {"kinds": kinds})


@router.get("/work/exports", response_class=HTMLResponse)
def exports_page(request: Request, engine: EngineDep, principal: PrincipalDep) -> Response:
    _require(principal, "exports")
    with engine.connect() as conn:
        areas = _areas(conn, principal)
    kinds = []
    for kind in Kind:
        readable = principal.role in STAFF or kind in (Kind.enterprises, Kind.risk_units)
        try:
            check_kind_allowed(principal, kind)
            template = True
        except (Forbidden, Unauthenticated):
            template = False
        if readable or template:
            kinds.append(
                {"kind": kind.value, "zh": KIND_NAMES_ZH[kind], "export": readable, "template": template}
            )
    return _render(
        request,
        principal,
        "exports",
        "work_exports.html",
        {"kinds": kinds, "areas": areas, "enterprise_id": principal.enterprise_id},
    )


@router.get("/work/siting", response_class=HTMLResponse)
def siting_page(request: Request, principal: PrincipalDep, settings: SettingsDep) -> Response:
    _require(principal, "siting")
    leaflet = f"{settings.maps.asset_prefix.rstrip('/')}/leaflet/dist"  # served by us (maps/assets.py)
    return _render(request, principal, "siting", "work_siting.html", {"leaflet": leaflet})


@router.get("/work/joint-prevention", response_class=HTMLResponse)
def joint_prevention_page(request: Request, engine: EngineDep, principal: PrincipalDep) -> Response:
    _require(principal, "joint")
    with engine.connect() as conn:
        areas = _areas(conn, principal)
    return _render(request, principal, "joint", "work_joint.html", {"areas": areas})


@router.get("/work/inspection-plan", response_class=HTMLResponse)
def inspection_plan_page(request: Request, engine: EngineDep, principal: PrincipalDep) -> Response:
    _require(principal, "plan")
    with engine.connect() as conn:
        areas = _areas(conn, principal)
    today = dt.date.today()
    return _render(
        request,
        principal,
        "plan",
        "work_plan.html",
        {"areas": areas, "month": today.strftime("%Y-%m"), "year": today.strftime("%Y")},
    )


@router.get("/work/my-enterprise", response_class=HTMLResponse)
def my_enterprise_page(
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    period: Annotated[str | None, Query(max_length=7, pattern=r"^\d{4}(-\d{2})?$")] = None,
) -> Response:
    """An enterprise user's own enterprise: its risk units, its self-inspection calendar of the month, and
    the neighbour notices of its level-1/2 units."""
    _require(principal, "mine")
    month = parse_period(period or dt.date.today().strftime("%Y-%m"))
    with engine.connect() as conn:
        calendar = my_enterprise.self_inspection_calendar(conn, principal, month, settings)
        notices = my_enterprise.neighbour_notices(conn, principal)
        units = repo.list_features(
            conn, principal, repo.RISK_UNITS, filters={"enterprise_id": principal.enterprise_id}, limit=500
        ).rows
    return _render(
        request,
        principal,
        "mine",
        "work_mine.html",
        {"calendar": calendar, "notices": notices, "units": units, "sectors": sector_names()},
    )
