"""The OpenAPI document as a contract: readable unique operationIds, typed GeoJSON answers, our error body on
every error status, an example for every write; and a client generated from it (datamodel-code-generator's
pydantic models, called by operationId) lists risk units and creates one against the running app."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from api.app import create_app
from api.openapi import EXAMPLES, OPERATION_IDS
from api.settings import AuthSettings, DatabaseSettings, Settings
from tests.principals import TEST_SECRET

METHODS = ("get", "post", "put", "patch", "delete")
CRUD = re.compile(r"^(list|get|create|update|delete)(Jurisdiction|Enterprise|RiskUnit|ProtectionTarget)s?$")


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    app = create_app(
        Settings(
            db=DatabaseSettings(DATABASE_URL="postgresql://unused@127.0.0.1/none"),
            auth=AuthSettings(secret=TEST_SECRET),
        )
    )
    return app.openapi()


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(m, p, op) for p, ops in doc["paths"].items() for m, op in ops.items() if m in METHODS]


def test_operation_ids_are_explicit_readable_and_unique(doc: dict[str, Any]) -> None:
    ids = [op["operationId"] for _, _, op in _operations(doc)]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    for method, path, op in _operations(doc):
        oid = op["operationId"]
        assert re.fullmatch(r"[a-z][A-Za-z0-9]+", oid), (method, path, oid)
        # named in the table, or one of the register's CRUD routes named by api/features.crud_router
        assert oid in OPERATION_IDS.values() or CRUD.match(oid), (method, path, oid)
    assert doc["paths"]["/api/v1/risk-units"]["get"]["operationId"] == "listRiskUnits"
    assert doc["paths"]["/api/v1/risk-units"]["post"]["operationId"] == "createRiskUnit"
    assert doc["paths"]["/api/v1/risk-units/{key}"]["patch"]["operationId"] == "updateRiskUnit"


def test_register_answers_are_typed_geojson(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    for path, noun in (
        ("/api/v1/enterprises", "Enterprise"),
        ("/api/v1/risk-units", "RiskUnit"),
        ("/api/v1/protection-targets", "ProtectionTarget"),
        ("/api/v1/jurisdictions", "Jurisdiction"),
    ):
        listed = doc["paths"][path]["get"]["responses"]["200"]["content"]
        assert list(listed) == ["application/geo+json"]
        assert listed["application/geo+json"]["schema"] == {
            "$ref": f"#/components/schemas/{noun}FeatureCollection"
        }
        one = doc["paths"][path]["post"]["responses"]["201"]["content"]
        assert one["application/geo+json"]["schema"] == {"$ref": f"#/components/schemas/{noun}Feature"}
        assert f"{noun}Record" in schemas
    risk_unit = schemas["RiskUnitRecord"]["properties"]
    assert {"type": "integer"} in risk_unit["id"]["anyOf"]
    assert {"type": "integer"} in risk_unit["level"]["anyOf"]
    assert {"$ref": "#/components/schemas/RiskUnitKind"} in risk_unit["kind"]["anyOf"]
    assert {"type": "string", "format": "date"} in risk_unit["assessed_on"]["anyOf"]
    for path, method, ref in (
        ("/api/v1/analysis/four-color", "get", "FourColourFeatureCollection"),
        ("/api/v1/hazards", "get", "HazardFeatureCollection"),
        ("/api/v1/hazards/{key}", "get", "HazardFeature"),
    ):
        content = doc["paths"][path][method]["responses"]["200"]["content"]
        assert content["application/geo+json"]["schema"] == {"$ref": f"#/components/schemas/{ref}"}
    token = doc["paths"]["/api/v1/auth/token"]["post"]["responses"]["200"]["content"]["application/json"]
    assert token["schema"] == {"$ref": "#/components/schemas/Token"}
    # files are documented as what they are, not as JSON
    export = doc["paths"]["/api/v1/exports"]["get"]["responses"]["200"]["content"]
    assert "application/geopackage+sqlite3" in export
    assert "application/json" not in export


def test_every_error_status_has_our_error_body(doc: dict[str, Any]) -> None:
    body = doc["components"]["schemas"]["ErrorBody"]
    assert set(body["required"]) == {"detail", "errors", "request_id"}
    assert "HTTPValidationError" not in doc["components"]["schemas"]  # FastAPI's 422 body is never sent
    for method, path, op in _operations(doc):
        for status, response in op["responses"].items():
            if status.startswith(("4", "5")):
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (method, path, status)
    risk_units = doc["paths"]["/api/v1/risk-units/{key}"]
    assert {"401", "403", "404", "409", "412", "422", "428", "503"} <= set(risk_units["patch"]["responses"])
    assert {"401", "403", "404", "422", "503"} <= set(risk_units["get"]["responses"])
    # every reference resolves
    names = set(re.findall(r"#/components/schemas/([^\"]+)", json.dumps(doc)))
    assert names <= set(doc["components"]["schemas"])


def test_every_write_has_an_example_that_fits_its_schema(doc: dict[str, Any]) -> None:
    bundle = {"components": doc["components"]}
    for method, path, op in _operations(doc):
        if "requestBody" not in op:
            continue
        for media_type, media in op["requestBody"]["content"].items():
            assert "example" in media, (method, path, op["operationId"])
            if media_type == "application/json":
                schema = {**bundle, **media["schema"]}
                jsonschema.Draft202012Validator(schema).validate(media["example"])
    assert set(EXAMPLES) <= {op["operationId"] for _, _, op in _operations(doc)}


def test_register_examples_are_accepted(client: Any) -> None:
    """The examples are real requests: the app accepts them as they are."""
    doc = client.get("/openapi.json").json()
    for path, wanted in (
        ("/api/v1/enterprises", 201),
        ("/api/v1/risk-units", 201),
        ("/api/v1/protection-targets", 201),
        ("/api/v1/analysis/siting-check", 200),
    ):
        example = doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]["example"]
        response = client.post(path, json=example)
        assert response.status_code == wanted, (path, response.text)


def _fits(doc: dict[str, Any], response: Any, method: str, template: str) -> None:
    """The answer validates against the schema the document gives for its status and media type."""
    documented = doc["paths"][template][method]["responses"][str(response.status_code)]
    media = response.headers["content-type"].split(";")[0]
    schema = {"components": doc["components"], **documented["content"][media]["schema"]}
    jsonschema.Draft202012Validator(schema).validate(response.json())


def test_real_answers_fit_their_schemas(client: Any, client_as: Any) -> None:
    """Answers with real rows in them (which random requests seldom reach) are what the document says."""
    from tests.api.builders import (
        ENTERPRISES,
        RISK_UNITS,
        TARGETS,
        created,
        enterprise_feature,
        protection_target_feature,
        risk_unit_feature,
    )

    doc = client.get("/openapi.json").json()
    e = created(client.post(ENTERPRISES, json=enterprise_feature(1)))["id"]
    unit = created(client.post(RISK_UNITS, json=risk_unit_feature(e, level=1, assessed_on="2020-01-01")))[
        "id"
    ]
    created(client.post(RISK_UNITS, json=risk_unit_feature(None, name="加气站")))
    created(client.post(TARGETS, json=protection_target_feature()))
    hazard = {"risk_unit_id": unit, "grade": "general", "description": "报警器失效"}
    key = created(client.post("/api/v1/hazards", json=hazard))["id"]
    assigned = client.post(f"/api/v1/hazards/{key}/assign", json={"working_days": 5})
    _fits(doc, assigned, "post", "/api/v1/hazards/{key}/assign")
    inspection = {
        "kind": "self",
        "enterprise_id": e,
        "risk_unit_ids": [unit],
        "inspectors": "安全科",
        "result": "no_hazard",
    }
    recorded = client.post("/api/v1/inspections", json=inspection)
    assert recorded.status_code == 201, recorded.text
    _fits(doc, recorded, "post", "/api/v1/inspections")
    _fits(doc, client.get(f"/api/v1/inspections/{recorded.json()['id']}"), "get", "/api/v1/inspections/{key}")
    _fits(doc, client.get("/api/v1/inspections"), "get", "/api/v1/inspections")
    planned = client.post("/api/v1/inspections/from-plan", json={"adcode": "350505", "period": "2026-12"})
    assert planned.status_code == 201, planned.text
    _fits(doc, planned, "post", "/api/v1/inspections/from-plan")
    case = client.post("/api/v1/closeouts", json={"risk_unit_id": unit, "assigning_unit": "泉港区应急管理局"})
    assert case.status_code == 201, case.text
    _fits(doc, case, "post", "/api/v1/closeouts")
    _fits(doc, client.get(f"/api/v1/closeouts/{case.json()['id']}"), "get", "/api/v1/closeouts/{key}")
    _fits(doc, client.get("/api/v1/closeouts"), "get", "/api/v1/closeouts")
    for url, template in (
        (ENTERPRISES, "/api/v1/enterprises"),
        (f"{ENTERPRISES}/{e}", "/api/v1/enterprises/{key}"),
        (RISK_UNITS, "/api/v1/risk-units"),
        (f"{RISK_UNITS}/{unit}", "/api/v1/risk-units/{key}"),
        (TARGETS, "/api/v1/protection-targets"),
        ("/api/v1/jurisdictions?limit=3", "/api/v1/jurisdictions"),
        ("/api/v1/jurisdictions/350505", "/api/v1/jurisdictions/{key}"),
        ("/api/v1/analysis/four-color?adcode=350500", "/api/v1/analysis/four-color"),
        ("/api/v1/analysis/four-color?adcode=350500&levels=dynamic", "/api/v1/analysis/four-color"),
        ("/api/v1/hazards", "/api/v1/hazards"),
        (f"/api/v1/hazards/{key}", "/api/v1/hazards/{key}"),
        ("/api/v1/auth/me", "/api/v1/auth/me"),
        ("/api/v1/search?q=泉港", "/api/v1/search"),
        (f"{RISK_UNITS}/{unit}/history", "/api/v1/risk-units/{key}/history"),
        ("/api/v1/analysis/trend?adcode=350505&from=2026-01&to=2026-03", "/api/v1/analysis/trend"),
        ("/api/v1/analysis/enterprise-levels?adcode=350505", "/api/v1/analysis/enterprise-levels"),
        (
            "/api/v1/analysis/enterprise-levels?adcode=350505&levels=dynamic",
            "/api/v1/analysis/enterprise-levels",
        ),
        ("/api/v1/analysis/summary?adcode=350505", "/api/v1/analysis/summary"),
        ("/api/v1/health", "/api/v1/health"),
        ("/api/v1/health/live", "/api/v1/health/live"),
        ("/api/v1/health/ready", "/api/v1/health/ready"),
        ("/api/v1/vocabularies", "/api/v1/vocabularies"),
        ("/api/v1/hazards/statistics?month=2026-12", "/api/v1/hazards/statistics"),
        ("/api/v1/hazards/announcements", "/api/v1/hazards/announcements"),
        ("/api/v1/roster", "/api/v1/roster"),
        ("/api/v1/analysis/inspection-plan?adcode=350505&period=2026-12", "/api/v1/analysis/inspection-plan"),
        (
            "/api/v1/analysis/inspection-coverage?adcode=350505&period=2026-12",
            "/api/v1/analysis/inspection-coverage",
        ),
        ("/api/v1/analysis/dynamic-levels?adcode=350505", "/api/v1/analysis/dynamic-levels"),
        ("/api/v1/closeouts/overdue", "/api/v1/closeouts/overdue"),
        ("/api/v1/analysis/cross-inspection?adcode=350505", "/api/v1/analysis/cross-inspection"),
        ("/api/v1/analysis/neighbour-notices?adcode=350505", "/api/v1/analysis/neighbour-notices"),
        ("/api/v1/analysis/key-targets?adcode=350505", "/api/v1/analysis/key-targets"),
        (f"/api/v1/analysis/exposure?risk_unit_id={unit}", "/api/v1/analysis/exposure"),
        ("/api/v1/closeouts/announcements", "/api/v1/closeouts/announcements"),
        ("/tiles/risk_units.json", "/tiles/{layer}.json"),
        ("/tiles/zones.json?adcode=350505", "/tiles/{layer}.json"),
        ("/api/v1/analysis/summary?adcode=350505&levels=dynamic", "/api/v1/analysis/summary"),
        (
            "/api/v1/analysis/trend?adcode=350505&from=2026-01&to=2026-03&levels=dynamic",
            "/api/v1/analysis/trend",
        ),
        ("/api/v1/analysis/safety-distance?adcode=350505", "/api/v1/analysis/safety-distance"),
    ):
        response = client.get(url)
        assert response.status_code == 200, (url, response.text)
        _fits(doc, response, "get", template)
    exported = client.get("/api/v1/exports", params={"kind": "protection_targets", "format": "geojson"})
    assert exported.status_code == 200
    files = {"file": ("targets.geojson", exported.content, "application/geo+json")}
    for dry_run, status in (("true", 200), ("false", 201)):
        params = {"kind": "protection_targets", "dry_run": dry_run}
        report = client.post("/api/v1/imports", params=params, files=files)
        assert report.status_code == status, report.text
        _fits(doc, report, "post", "/api/v1/imports")
    public = client_as("public").get("/api/v1/analysis/four-color", params={"adcode": "350500"})
    _fits(doc, public, "get", "/api/v1/analysis/four-color")
    for url, template in (
        (f"{RISK_UNITS}/999999", "/api/v1/risk-units/{key}"),
        (RISK_UNITS + "?limit=0", RISK_UNITS),
    ):
        refused = client.get(url)
        assert refused.status_code in (404, 422)
        _fits(doc, refused, "get", template)


# --- a generated client ---------------------------------------------------------------------------------------


class GeneratedClient:
    """Calls operations by their operationId, with the document's method and path: what a generated client
    does. Bodies go in and out through the generated pydantic models."""

    def __init__(self, http: Any, doc: dict[str, Any]) -> None:
        self.http = http
        self.ops = {
            op["operationId"]: (m, p)
            for p, ops in doc["paths"].items()
            for m, op in ops.items()
            if m in METHODS
        }

    def call(self, operation_id: str, *, body: Any = None, **params: Any) -> Any:
        method, path = self.ops[operation_id]
        for name in re.findall(r"{(\w+)}", path):
            path = path.replace(f"{{{name}}}", str(params.pop(name)))
        payload = body.model_dump(mode="json", exclude_unset=True) if body is not None else None
        return self.http.request(method.upper(), path, params=params, json=payload)


def _generate_models(doc: dict[str, Any], folder: Path) -> Any:
    source = folder / "openapi.json"
    source.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    out = folder / "riskmap_models.py"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "datamodel_code_generator",
            "--input",
            str(source),
            "--input-file-type",
            "openapi",
            "--output",
            str(out),
            "--output-model-type",
            "pydantic_v2.BaseModel",
            "--formatters",
            "builtin",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    spec = importlib.util.spec_from_file_location("riskmap_models", out)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["riskmap_models"] = module
    spec.loader.exec_module(module)
    return module


def test_generated_client_lists_and_creates_risk_units(client: Any, tmp_path: Path) -> None:
    doc = client.get("/openapi.json").json()
    models = _generate_models(doc, tmp_path)
    api = GeneratedClient(client, doc)

    empty = models.RiskUnitFeatureCollection.model_validate(api.call("listRiskUnits").json())
    assert empty.numberMatched == 0
    assert empty.features == []

    new = models.FeatureInRiskUnitProperties(
        type="Feature",
        geometry={"type": "Point", "coordinates": [118.88, 25.11]},  # 泉港区
        properties=models.RiskUnitProperties(
            name="南埔燃气调压站",
            sector="城镇燃气",
            level=2,
            control_level=models.ControlLevel.company,
            assessed_on="2026-03-01",
        ),
    )
    response = api.call("createRiskUnit", body=new)
    assert response.status_code == 201, response.text
    assert response.headers["content-type"].startswith("application/geo+json")
    made = models.RiskUnitFeature.model_validate(response.json())
    assert made.properties.name == "南埔燃气调压站"
    assert made.properties.level == 2
    assert made.properties.kind == models.RiskUnitKind.public_area
    assert made.properties.jurisdiction_adcode == "350505"
    assert made.geometry is not None
    assert made.geometry.coordinates == [118.88, 25.11]

    listed = models.RiskUnitFeatureCollection.model_validate(api.call("listRiskUnits", level=2).json())
    assert listed.numberMatched == 1
    assert [f.id for f in listed.features] == [made.id]
    again = models.RiskUnitFeature.model_validate(api.call("getRiskUnit", key=made.id).json())
    assert again.properties.control_level == models.ControlLevel.company

    # an error answers with the documented body, in both languages
    bad = models.FeatureInRiskUnitProperties.model_construct(
        type="Feature",
        geometry=None,
        properties=models.RiskUnitProperties(name="无位置", sector="城镇燃气", level=2),
    )
    refused = api.call("createRiskUnit", body=bad)
    assert refused.status_code == 422
    error = models.ErrorBody.model_validate(refused.json())
    assert [e.field for e in error.errors] == ["geometry"]
    assert error.errors[0].reason_zh
    assert error.request_id

    # pydantic's own checks name the field and say why in both languages too
    missing = api.call(
        "createRiskUnit", body=models.FeatureInRiskUnitProperties.model_construct(type="Feature")
    )
    assert missing.status_code == 422
    problems = models.ErrorBody.model_validate(missing.json()).errors
    assert {p.field for p in problems} >= {"geometry", "properties"}
    assert all(p.reason_zh for p in problems)


def test_unreadable_bodies_are_422_naming_the_body(client: Any) -> None:
    """FastAPI and Starlette answer 400 for a body they cannot parse; ours is the documented 422."""
    multipart = client.post(
        "/api/v1/roster",
        content=b"--b\r\nFalse--b--\r\n",
        headers={"Content-Type": "multipart/form-data; boundary=b"},
    )
    not_utf8 = client.post(
        "/api/v1/enterprises", content=b'{"type": "\xff\xfe"}', headers={"Content-Type": "application/json"}
    )
    for response in (multipart, not_utf8):
        assert response.status_code == 422, response.text
        (problem,) = response.json()["errors"]
        assert problem["field"] == "body"
        assert problem["reason_zh"]
