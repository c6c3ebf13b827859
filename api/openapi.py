"""The OpenAPI document as a contract a client can be generated from.

- `operation_id`: every route's operationId, readable and unique (`listRiskUnits`), given to the app as
  `generate_unique_id_function`. A route missing from `OPERATION_IDS` gets its function's name in camelCase
  (tests/api/test_openapi.py checks that every id is unique).
- `ERRORS` and `error_responses`: our error body (api/errors.py: `detail`, `errors` with field / reason /
  reason_zh, `request_id`) on every error status a route can give, decided from what the route takes (a
  principal: 401/403; any parameter: 404/422; a write: 409 and 413; `If-Match`: 412/428; the database:
  503), written once here rather than on each route.
- `EXAMPLES`: a request example for every write, by operationId.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

from api.schemas import ErrorBody, ErrorItem

# --- operationIds -----------------------------------------------------------------------------------------------

OPERATION_IDS: dict[str, str] = {
    "GET /metrics": "getMetrics",
    "GET /api/v1/health": "getHealth",
    "GET /api/v1/health/live": "getLiveness",
    "GET /api/v1/health/ready": "getReadiness",
    "POST /api/v1/auth/token": "signIn",
    "GET /api/v1/auth/me": "whoAmI",
    "GET /api/v1/auth/session": "getSession",
    "GET /api/v1/vocabularies": "getVocabularies",
    "GET /api/v1/analysis/four-color": "getFourColourZones",
    "GET /api/v1/analysis/enterprise-levels": "listEnterpriseLevels",
    "GET /api/v1/analysis/summary": "getSummary",
    "GET /maps/four-color": "getFourColourMap",
    "GET /maps/four-color.png": "getFourColourMapPng",
    "GET /maps/four-color.pdf": "getFourColourMapPdf",
    "GET /api/v1/analysis/safety-distance": "listSafetyDistanceViolations",
    "POST /api/v1/analysis/siting-check": "checkSiting",
    "GET /api/v1/analysis/exposure": "getExposure",
    "PUT /api/v1/risk-units/{risk_unit_id}/risk-contours": "putRiskContours",
    "GET /api/v1/risk-units/{risk_unit_id}/risk-contours": "getRiskContours",
    "GET /maps/safety-distance": "getSafetyDistanceMap",
    "POST /maps/siting-check": "getSitingCheckMap",
    "GET /api/v1/analysis/joint-prevention": "listJointPreventionClusters",
    "GET /api/v1/analysis/cross-inspection": "getCrossInspection",
    "GET /api/v1/analysis/inspection-plan": "getInspectionPlan",
    "GET /api/v1/analysis/neighbour-notices": "listNeighbourNotices",
    "GET /api/v1/analysis/key-targets": "listKeyTargets",
    "GET /maps/joint-prevention": "getJointPreventionMap",
    "GET /api/v1/enterprises/{key}/history": "getEnterpriseHistory",
    "GET /api/v1/risk-units/{key}/history": "getRiskUnitHistory",
    "GET /api/v1/protection-targets/{key}/history": "getProtectionTargetHistory",
    "GET /api/v1/analysis/trend": "getTrend",
    "POST /api/v1/closeouts": "assignCloseout",
    "GET /api/v1/closeouts": "listCloseouts",
    "GET /api/v1/closeouts/overdue": "listOverdueCloseouts",
    "GET /api/v1/closeouts/announcements": "listCloseoutAnnouncements",
    "GET /api/v1/closeouts/{key}": "getCloseout",
    "POST /api/v1/closeouts/{key}/request": "requestCloseout",
    "POST /api/v1/closeouts/{key}/approve": "approveCloseout",
    "POST /api/v1/closeouts/{key}/reject": "rejectCloseout",
    "POST /api/v1/hazards": "reportHazard",
    "GET /api/v1/hazards": "listHazards",
    "POST /api/v1/hazards/import": "importHazards",
    "GET /api/v1/hazards/statistics": "getHazardStatistics",
    "GET /api/v1/hazards/lists.xlsx": "getHazardListsWorkbook",
    "GET /api/v1/hazards/announcements": "listHazardAnnouncements",
    "GET /api/v1/hazards/{key}": "getHazard",
    "POST /api/v1/hazards/{key}/assign": "assignHazard",
    "POST /api/v1/hazards/{key}/start": "startHazardRectification",
    "POST /api/v1/hazards/{key}/rectify": "rectifyHazard",
    "POST /api/v1/hazards/{key}/accept": "acceptHazard",
    "POST /api/v1/hazards/{key}/reject": "rejectHazardAcceptance",
    "POST /api/v1/hazards/{key}/close": "closeHazard",
    "POST /api/v1/hazards/{key}/supervise": "superviseHazard",
    "POST /api/v1/hazards/{key}/attachments": "addHazardAttachment",
    "GET /api/v1/hazards/{key}/attachments/{attachment_id}": "getHazardAttachment",
    "POST /api/v1/roster": "loadRoster",
    "GET /api/v1/roster": "listRoster",
    "GET /api/v1/search": "search",
    "POST /api/v1/imports": "createImport",
    "GET /api/v1/exports": "exportRegister",
    "GET /api/v1/templates/{kind}.xlsx": "getImportTemplate",
    "GET /api/v1/exports/enterprise-register/{enterprise_id}.xlsx": "getEnterpriseRegisterXlsx",
    "GET /api/v1/exports/enterprise-register/{enterprise_id}.pdf": "getEnterpriseRegisterPdf",
    "GET /api/v1/exports/county-register/{adcode}.xlsx": "getCountyRegisterXlsx",
    "GET /tiles/{layer}/{z}/{x}/{y}.pbf": "getTile",
    "GET /tiles/{layer}.json": "getTileJson",
    "GET /api/v1/reports/white-paper": "getWhitePaper",
    "POST /api/v1/inspections": "recordInspection",
    "GET /api/v1/inspections": "listInspections",
    "GET /api/v1/inspections/{key}": "getInspection",
    "PATCH /api/v1/inspections/{key}": "fillInInspection",
    "POST /api/v1/inspections/from-plan": "createInspectionsFromPlan",
    "GET /api/v1/inspections/{key}/history": "getInspectionHistory",
    "GET /api/v1/analysis/inspection-coverage": "getInspectionCoverage",
    "GET /api/v1/analysis/dynamic-levels": "listDynamicLevels",
}


def _camel(name: str) -> str:
    head, *rest = [p for p in re.split(r"[^0-9A-Za-z]+", name) if p]
    return head[:1].lower() + head[1:] + "".join(p[:1].upper() + p[1:] for p in rest)


def operation_id(route: APIRoute) -> str:
    """The route's operationId: from `OPERATION_IDS`, else its name in camelCase (the register's CRUD routes
    are named `list_risk_units`, `get_risk_unit`, … by api/features.crud_router)."""
    for method in sorted(route.methods or ()):
        found = OPERATION_IDS.get(f"{method} {route.path_format}")
        if found:
            return found
    return _camel(route.name)


# --- errors -----------------------------------------------------------------------------------------------------

ERRORS: dict[int, str] = {
    401: "not signed in, or the token, API key or session is not (or no longer) valid",
    403: "your role may not do this (or a cookie-signed write without X-CSRF-Token)",
    404: "no such row, or it is outside your scope (as if it did not exist)",
    409: "the write conflicts with a stored row (a duplicate natural key, a row still referenced, a step "
    "the current state does not allow)",
    412: "If-Match names no current version of the row (it changed, or the tag is weak): nothing written",
    413: "the request body is larger than the service accepts",
    422: "invalid input: every problem with its field and the reason in English and Chinese",
    428: "If-Match is missing: send the ETag you read, or *",
    429: "too many requests at once (or failed sign-ins): `Retry-After` says when to try again",
    503: "the database is unavailable or the request ran past its time limit: try again shortly",
}
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
NO_DATABASE = frozenset({"getLiveness", "getMetrics"})


def error_statuses(method: str, operation: dict[str, Any]) -> set[int]:
    """The error statuses an operation can answer, from what it takes (see the module's docstring): a route
    that reads the principal has the security schemes of api/auth.py in its `security`."""
    statuses: set[int] = set()
    if operation["operationId"] not in NO_DATABASE:
        statuses.add(503)
    if operation.get("security"):
        statuses |= {401, 403}
    params = operation.get("parameters", [])
    if params or "requestBody" in operation:
        statuses |= {404, 422}
    if method.upper() in WRITES:
        statuses |= {404, 409, 413, 422}
    if any(p.get("in") == "header" and p["name"].lower() == "if-match" for p in params):
        statuses |= {412, 428}
    return statuses


def _error_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
    }


# --- request examples -----------------------------------------------------------------------------------------

_POINT = {"type": "Point", "coordinates": [118.88, 25.11]}  # 泉港区, CGCS2000 lon/lat
EXAMPLES: dict[str, Any] = {
    "createEnterprise": {
        "type": "Feature",
        "geometry": _POINT,
        "properties": {
            "credit_code": "913505057000000011",
            "name": "泉港石化储运有限公司",
            "sector": "危险化学品",
            "business_type": "危化品储存",
            "address": "福建省泉州市泉港区南埔镇",
            "employees": 120,
            "contact_person": "林志强",
            "contact_phone": "0595 8778 1234",
        },
    },
    "updateEnterprise": {
        "type": "Feature",
        "properties": {"employees": 135, "contact_phone": "0595 8778 4321"},
    },
    "createRiskUnit": {
        "type": "Feature",
        "geometry": _POINT,
        "properties": {
            "sector": "城镇燃气",
            "name": "南埔燃气调压站",
            "level": 2,
            "hazards": "天然气泄漏、火灾爆炸",
            "control_measures": "设置可燃气体报警仪，双人巡检",
            "control_level": "company",
            "responsible_person": "陈建华",
            "assessed_on": "2026-03-01",
        },
    },
    "updateRiskUnit": {"type": "Feature", "properties": {"level": 3, "control_measures": "加装紧急切断阀"}},
    "createProtectionTarget": {
        "type": "Feature",
        "geometry": _POINT,
        "properties": {
            "name": "泉港区第一中学",
            "type": "school",
            "population": 2400,
            "address": "泉港区山腰街道",
        },
    },
    "updateProtectionTarget": {"type": "Feature", "properties": {"population": 2600}},
    "createJurisdiction": {
        "type": "Feature",
        "geometry": {
            "type": "Polygon",
            "coordinates": [
                [[118.80, 25.14], [118.84, 25.14], [118.84, 25.18], [118.80, 25.18], [118.80, 25.14]]
            ],
        },
        "properties": {
            "adcode": "P350505001",
            "name": "泉港石化工业园区",
            "level": "park",
            "parent_adcode": "350505",
            "source": "园区管委会 2026",
        },
    },
    "checkSiting": {
        "geometry": _POINT,
        "crs": "cgcs2000",
        "name": "拟建小学",
        "target_type": "school",
        "population": 1200,
    },
    "getSitingCheckMap": {
        "geometry": _POINT,
        "crs": "cgcs2000",
        "hazard_kind": "lpg_supply_base",
        "capacity_m3": 200,
    },
    "putRiskContours": {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [
                        [
                            [118.878, 25.108],
                            [118.882, 25.108],
                            [118.882, 25.112],
                            [118.878, 25.112],
                            [118.878, 25.108],
                        ]
                    ],
                },
                "properties": {"individual_risk": 3e-6, "source": "定量风险评价报告 2026"},
            }
        ],
    },
    "assignCloseout": {
        "risk_unit_id": 1,
        "assigning_unit": "泉港区应急管理局",
        "letter_ref": "泉港应急〔2026〕12号",
    },
    "requestCloseout": {
        "evidence": "储罐区增设紧急切断和SIS联锁，经重新评估为一般风险",
        "signed_by": "林志强",
        "proposed_level": 3,
        "assessment_method": "LEC",
        "assessment_inputs": {"L": 1, "E": 6, "C": 15},
    },
    "approveCloseout": {"reason": "现场核查措施落实", "decided_on": "2026-11-20"},
    "rejectCloseout": {"reason": "紧急切断阀未投用"},
    "reportHazard": {
        "description": "液氨储罐区有毒气体报警仪失效",
        "grade": "general",
        "risk_unit_id": 1,
        "reported_on": "2026-11-02",
    },
    "assignHazard": {"working_days": 10, "notice_ref": "泉港应急整改〔2026〕8号", "responsible": "林志强"},
    "startHazardRectification": {"on": "2026-11-04"},
    "rectifyHazard": {"rectification": "更换报警仪并校验", "on": "2026-11-10"},
    "acceptHazard": {"on": "2026-11-12"},
    "rejectHazardAcceptance": {"reason": "报警仪未接入中控室", "on": "2026-11-12"},
    "closeHazard": {"on": "2026-11-13"},
    "superviseHazard": {"supervising_unit": "泉州市安全生产委员会办公室", "on": "2026-11-05"},
    "recordInspection": {
        "kind": "self",
        "enterprise_id": 1,
        "risk_unit_ids": [1],
        "inspected_on": "2026-11-02",
        "inspectors": "安全科 王磊",
        "result": "hazards_found",
    },
    "createInspectionsFromPlan": {"adcode": "350505", "period": "2026-12", "seed": 0, "part": "all"},
    "fillInInspection": {
        "result": "hazards_found",
        "inspected_on": "2026-12-08",
        "inspectors": "泉港区应急管理局 陈明、林华",
        "checklist": "危险化学品企业安全风险隐患排查治理导则",
        "risk_unit_ids": [1],
        "findings": [{"description": "可燃气体报警仪未定期校验", "grade": "general", "risk_unit_id": 1}],
    },
    "signIn": {"username": "regulator", "password": "correct horse battery staple"},
    "createImport": {"file": "风险点台账.xlsx (the file's bytes)"},
    "importHazards": {"file": "隐患清单.xlsx (the file's bytes)"},
    "loadRoster": {"file": "执法人员名录库.xlsx (the file's bytes)"},
    "addHazardAttachment": {"file": "整改后照片.jpg (the file's bytes)"},
}


def _add_example(operation: dict[str, Any]) -> None:
    example = EXAMPLES.get(operation["operationId"])
    body = operation.get("requestBody")
    if example is None or body is None:
        return
    for media in body.get("content", {}).values():
        media.setdefault("example", copy.deepcopy(example))


# pydantic names two same-named enums by their modules; clients get readable names instead
RENAMED = {"geo__closeout__Status": "CloseoutStatus", "geo__hazards__Status": "HazardStatus"}


def _rename_schemas(doc: dict[str, Any], renamed: dict[str, str]) -> None:
    schemas = doc.get("components", {}).get("schemas", {})
    for old, new in renamed.items():
        if old in schemas:
            schemas[new] = schemas.pop(old)
            schemas[new]["title"] = new
    refs = {f"#/components/schemas/{o}": f"#/components/schemas/{n}" for o, n in renamed.items()}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref in refs:
                node["$ref"] = refs[ref]
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(doc)


# --- the document -----------------------------------------------------------------------------------------------


def install(app: FastAPI) -> None:
    """Finish the app's OpenAPI document: error responses with our body, request examples."""
    make = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        doc = make()
        schemas = doc.setdefault("components", {}).setdefault("schemas", {})
        for model in (ErrorBody, ErrorItem):
            found = model.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas.update(found.pop("$defs", {}))
            schemas[model.__name__] = found
        # FastAPI's own validation error body is never sent (api/errors.py answers 422 with ErrorBody)
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
        _rename_schemas(doc, RENAMED)
        for ops in doc.get("paths", {}).values():
            for method, operation in ops.items():
                responses = operation.setdefault("responses", {})
                for status in sorted(error_statuses(method, operation)):
                    given = responses.get(str(status), {})
                    description = given.get("description") or ERRORS[status]
                    if str(status) == "422" and description == "Validation Error":
                        description = ERRORS[422]
                    responses[str(status)] = {**given, **_error_response(description)}
                for status, given in responses.items():  # statuses a route names itself
                    if status.startswith(("4", "5")) and "content" not in given:
                        given.update(_error_response(given.get("description") or "error"))
                _add_example(operation)
        return doc

    app.openapi = openapi  # type: ignore[method-assign]
