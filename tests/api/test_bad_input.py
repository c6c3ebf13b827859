"""Bad input is a 422 (409 for a duplicate) naming the field, and leaves the database as it was."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine

from tests.api.builders import (
    ENTERPRISES,
    HUIAN,
    QUANGANG,
    QUANGANG_2,
    RISK_UNITS,
    TARGETS,
    box_polygon,
    count,
    created,
    credit_code,
    enterprise_feature,
    if_match,
    ok,
    point,
    problem,
    protection_target_feature,
    risk_unit_feature,
    shared_client,
)

BOWTIE = {
    "type": "Polygon",
    "coordinates": [[[118.87, 25.10], [118.89, 25.12], [118.89, 25.10], [118.87, 25.12], [118.87, 25.10]]],
}
TOKYO = (139.7, 35.7)
SWAPPED = (25.1, 118.9)
VALID = credit_code(1)


@pytest.fixture(scope="module")
def api(database_url: str, engine: Engine, boundaries: None) -> Iterator[Any]:
    # One client and one set of rows for the module: every test here must leave them as they are.
    with shared_client(database_url, engine) as c:
        yield c


@pytest.fixture(scope="module")
def owner(api: Any) -> dict[str, Any]:
    """One enterprise with one risk unit, and a protection target, so 'unchanged' means something."""
    e = created(api.post(ENTERPRISES, json=enterprise_feature(1)))
    e["unit"] = created(api.post(RISK_UNITS, json=risk_unit_feature(e["id"], name="已有风险点")))
    created(api.post(TARGETS, json=protection_target_feature()))
    return e


def _snapshot(api: Any) -> list[dict[str, Any]]:
    return [ok(api.get(path, params={"limit": 1000})) for path in (ENTERPRISES, RISK_UNITS, TARGETS)]


@pytest.fixture(scope="module")
def baseline(api: Any, owner: dict[str, Any]) -> list[dict[str, Any]]:
    return _snapshot(api)


@pytest.fixture
def unchanged(api: Any, baseline: list[dict[str, Any]]) -> Iterator[None]:
    """Asserts after the test that no row was added, removed or changed."""
    yield
    after = _snapshot(api)
    assert [c["numberMatched"] for c in after] == [c["numberMatched"] for c in baseline] == [1, 1, 1]
    assert after == baseline


def _enterprise(**overrides: Any) -> dict[str, Any]:
    return enterprise_feature(2, at=QUANGANG_2, **overrides)


# --- enterprises ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (VALID[:17] + ("0" if VALID[17] != "0" else "1"), "check digit"),
        (VALID[:17], "length"),
        (VALID + "1", "length"),
        (VALID[:9] + "I" + VALID[10:], "illegal character"),
        (VALID[:9] + "中" + VALID[10:], "illegal character"),
        ("91ABCDEF" + VALID[8:], "positions 3–8"),
        ("", "length"),
    ],
)
def test_invalid_credit_code(api: Any, unchanged: None, code: str, reason: str) -> None:
    err = problem(api.post(ENTERPRISES, json=_enterprise(credit_code=code)), "properties.credit_code")
    assert err["field"] == "properties.credit_code"
    assert reason in err["reason"]
    assert err["reason_zh"]


def test_duplicate_credit_code_is_409(api: Any, unchanged: None, owner: dict[str, Any]) -> None:
    dup = _enterprise(credit_code=owner["properties"]["credit_code"].lower(), name="另一家公司")
    r = api.post(ENTERPRISES, json=dup)
    assert r.status_code == 409
    assert "credit_code" in r.json()["detail"]
    other = created(api.post(ENTERPRISES, json=_enterprise()))
    r = api.patch(
        f"{ENTERPRISES}/{other['id']}",
        json={"properties": {"credit_code": VALID}},
        headers=if_match(api, f"{ENTERPRISES}/{other['id']}"),
    )
    assert r.status_code == 409
    assert "credit_code" in r.json()["detail"]
    assert ok(api.get(f"{ENTERPRISES}/{other['id']}"))["properties"]["credit_code"] == credit_code(2)
    assert (
        api.delete(
            f"{ENTERPRISES}/{other['id']}", headers=if_match(api, f"{ENTERPRISES}/{other['id']}")
        ).status_code
        == 204
    )


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"sector": "航天"}, "properties.sector"),
        ({"sector": ""}, "properties.sector"),
        ({"employees": -1}, "properties.employees"),
        ({"employees": "many"}, "properties.employees"),
        ({"contact_phone": "12345"}, "properties.contact_phone"),
        ({"contact_phone": "1380013800"}, "properties.contact_phone"),
        ({"nmae": "泉港石化"}, "properties.nmae"),
        ({"name": ""}, "properties.name"),
        ({"name": None}, "properties.name"),
        ({"jurisdiction": "350521"}, "properties.jurisdiction"),  # the point is in 泉港区
        ({"jurisdiction": "340303"}, "properties.jurisdiction"),
        ({"jurisdiction": "350599"}, "properties.jurisdiction"),  # no such unit
        ({"site": BOWTIE}, "properties.site"),
        ({"site": point(*QUANGANG)}, "properties.site"),
    ],
)
def test_invalid_enterprise_property(
    api: Any, unchanged: None, overrides: dict[str, Any], field: str
) -> None:
    assert problem(api.post(ENTERPRISES, json=_enterprise(**overrides)), field)["field"] == field


def test_missing_required_properties_are_all_named(api: Any, unchanged: None) -> None:
    r = api.post(ENTERPRISES, json={"type": "Feature", "geometry": point(*QUANGANG_2), "properties": {}})
    problem(r, "properties.name")
    fields = {e["field"] for e in r.json()["errors"]}
    assert fields >= {"properties.credit_code", "properties.name", "properties.sector"}


def test_every_domain_problem_is_listed_at_once(api: Any, unchanged: None) -> None:
    r = api.post(ENTERPRISES, json=_enterprise(credit_code=VALID[:17], sector="航天", contact_phone="12"))
    fields = {e["field"] for e in r.json()["errors"]}
    assert r.status_code == 422
    assert fields == {"properties.credit_code", "properties.sector", "properties.contact_phone"}
    assert "properties.credit_code" in r.json()["detail"]


# --- geometry and GeoJSON ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("geometry", "reason"),
    [
        (point(*TOKYO), "outside China"),
        (point(*SWAPPED), "longitude"),
        (point(181.0, 25.0), "longitude"),
        ({"type": "Point"}, "coordinates"),
        ({"type": "Pointy", "coordinates": list(QUANGANG)}, "Pointy"),
        ({"type": "Point", "coordinates": ["118.88", "25.11"]}, "numbers"),
        ({"type": "Point", "coordinates": [118.88, None]}, "numbers"),
        ({"type": "Point", "coordinates": [True, 25.11]}, "numbers"),
        ({"type": "Point", "coordinates": [118.88]}, "malformed"),
        ({"type": "Point", "coordinates": "118.88,25.11"}, "numbers"),
        ({"type": "Point", "coordinates": [[118.88, 25.11]]}, "malformed"),
        ({"type": "Point", "coordinates": []}, "malformed"),
        ({"coordinates": list(QUANGANG)}, "type"),
        (box_polygon(118.87, 25.10, 118.89, 25.12), "Polygon is not allowed"),
        ("POINT (118.88 25.11)", "dictionary"),
        (None, "location"),
    ],
)
def test_invalid_enterprise_geometry(api: Any, unchanged: None, geometry: Any, reason: str) -> None:
    feature = _enterprise()
    feature["geometry"] = geometry
    err = problem(api.post(ENTERPRISES, json=feature), "geometry")
    assert err["field"] == "geometry"
    assert reason.lower() in err["reason"].lower()


@pytest.mark.parametrize(
    ("geometry", "reason"),
    [
        (
            {
                "type": "Polygon",
                "coordinates": [[["118.87", "25.1"], [118.89, 25.1], [118.89, 25.12], [118.87, 25.1]]],
            },
            "numbers",
        ),
        (
            {
                "type": "Polygon",
                "coordinates": [[118.87, 25.1], [118.89, 25.1], [118.89, 25.12], [118.87, 25.1]],
            },
            "malformed",
        ),
        ({"type": "Polygon", "coordinates": []}, "empty"),
        (
            {"type": "Polygon", "coordinates": [[[118.87, 25.1], [118.89, 25.1], [118.87, 25.1]]]},
            "too few points",
        ),
        ({"type": "LineString", "coordinates": [[118.87, 25.1]]}, "malformed"),
        (
            {
                "type": "MultiPolygon",
                "coordinates": [[[118.87, 25.1], [118.89, 25.1], [118.89, 25.12], [118.87, 25.1]]],
            },
            "malformed",
        ),
        ({"type": "GeometryCollection", "geometries": [point(*QUANGANG)]}, "not allowed"),
        ({"type": "LineString", "coordinates": [[118.87, 25.1], [139.7, 35.7]]}, "outside China"),
    ],
)
def test_invalid_risk_unit_geometry(api: Any, unchanged: None, geometry: Any, reason: str) -> None:
    err = problem(api.post(RISK_UNITS, json=risk_unit_feature(None, geometry=geometry)), "geometry")
    assert reason.lower() in err["reason"].lower()


@pytest.mark.parametrize("path", [RISK_UNITS, TARGETS])
def test_self_intersecting_polygon(api: Any, unchanged: None, path: str) -> None:
    feature = (
        risk_unit_feature(None, geometry=BOWTIE)
        if path == RISK_UNITS
        else protection_target_feature(geometry=BOWTIE)
    )
    err = problem(api.post(path, json=feature), "geometry")
    assert "self-intersection" in err["reason"].lower()


def test_geometry_outside_china_in_a_patch(api: Any, unchanged: None, owner: dict[str, Any]) -> None:
    url = f"{ENTERPRISES}/{owner['id']}"
    problem(
        api.patch(
            url, json={"geometry": point(*TOKYO), "properties": {"employees": 3}}, headers=if_match(api, url)
        ),
        "geometry",
    )
    problem(api.patch(url, json={"geometry": point(*SWAPPED)}, headers=if_match(api, url)), "geometry")
    problem(
        api.patch(
            url,
            json={"geometry": {"type": "Point", "coordinates": ["118.9", "25.1"]}},
            headers=if_match(api, url),
        ),
        "geometry",
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "FeatureCollection", "features": []}, "type"),
        ({"geometry": point(*QUANGANG_2), "properties": {}}, "type"),
        ({"type": "Feature", "geometry": point(*QUANGANG_2)}, "properties"),
        ({"type": "Feature", "geometry": point(*QUANGANG_2), "properties": "名称"}, "properties"),
        ([1, 2], "body"),
        ("a string", "body"),
    ],
)
def test_not_a_feature(api: Any, unchanged: None, body: Any, field: str) -> None:
    assert problem(api.post(ENTERPRISES, json=body), field)["field"] == field


@pytest.mark.parametrize("content", [b"not json at all", b'{"type": "Feature", ', b"", "名称".encode()])
def test_body_not_json(api: Any, unchanged: None, content: bytes) -> None:
    r = api.post(ENTERPRISES, content=content, headers={"content-type": "application/json"})
    assert problem(r, "body")["field"] == "body"


def test_patch_body_not_json(api: Any, unchanged: None, owner: dict[str, Any]) -> None:
    r = api.patch(f"{ENTERPRISES}/{owner['id']}", content=b"{{", headers={"content-type": "application/json"})
    assert problem(r, "body")["field"] == "body"


@pytest.mark.parametrize("crs", ["mars", "EPSG:3857", "", "gcj"])
def test_unknown_crs(api: Any, unchanged: None, crs: str) -> None:
    r = api.post(ENTERPRISES, params={"crs": crs}, json=_enterprise())
    assert problem(r, "crs")["field"] == "crs"
    assert problem(api.get(ENTERPRISES, params={"crs": crs}), "crs")["field"] == "crs"


# --- risk units -------------------------------------------------------------------------------------


@pytest.mark.parametrize("level", [0, 5, -1, "2.5", 2.5, "2", True, "重大"])
def test_invalid_level(api: Any, unchanged: None, owner: dict[str, Any], level: Any) -> None:
    r = api.post(RISK_UNITS, json=risk_unit_feature(owner["id"], level=level))
    assert problem(r, "level")["field"] == "properties.level"
    r = api.patch(
        f"{RISK_UNITS}/{owner['unit']['id']}",
        json={"properties": {"level": level}},
        headers=if_match(api, f"{RISK_UNITS}/{owner['unit']['id']}"),
    )
    assert problem(r, "level")["field"] == "properties.level"


@pytest.mark.parametrize(
    ("inputs", "field"),
    [
        ({"L": 7, "E": 6, "C": 15}, "inputs.L"),
        ({"L": 6, "E": 4, "C": 15}, "inputs.E"),
        ({"L": 6, "E": 6}, "inputs.C"),
        ({"L": 6, "E": 6, "C": 15, "X": 1}, "inputs.X"),
        (None, "inputs"),
    ],
)
def test_lec_factor_not_allowed(
    api: Any, unchanged: None, owner: dict[str, Any], inputs: dict[str, float] | None, field: str
) -> None:
    feature = risk_unit_feature(owner["id"], level=None, assessment_method="LEC", assessment_inputs=inputs)
    err = problem(api.post(RISK_UNITS, json=feature), field)
    assert err["field"] == f"properties.assessment_{field}"


def test_level_contradicting_the_lec_score(api: Any, unchanged: None, owner: dict[str, Any]) -> None:
    feature = risk_unit_feature(
        owner["id"], level=4, assessment_method="LEC", assessment_inputs={"L": 6, "E": 6, "C": 15}
    )
    err = problem(api.post(RISK_UNITS, json=feature), "level")
    assert err["field"] == "properties.level"
    assert "540" in err["reason"]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"accident_types": ["99"]}, "properties.accident_types[0]"),
        ({"accident_types": ["08", "爆炸"]}, "properties.accident_types[1]"),
        ({"accident_types": "08"}, "properties.accident_types"),
        ({"enterprise_id": 987654}, "properties.enterprise_id"),
        ({"responsible_phone": "010-123"}, "properties.responsible_phone"),
        ({"assessment_method": "HAZOP"}, "properties.assessment_method"),
        ({"control_level": "boss"}, "properties.control_level"),
        ({"max_occupancy": -3}, "properties.max_occupancy"),
        ({"assessed_on": "2025-02-30"}, "properties.assessed_on"),
        ({"jurisdiction": "340303"}, "properties.jurisdiction"),
        ({"nmae": "x"}, "properties.nmae"),
    ],
)
def test_invalid_risk_unit_property(
    api: Any, unchanged: None, owner: dict[str, Any], overrides: dict[str, Any], field: str
) -> None:
    feature = risk_unit_feature(owner["id"])
    feature["properties"].update(overrides)
    assert problem(api.post(RISK_UNITS, json=feature), field)["field"] == field


# --- protection targets -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"type": "spaceport"}, "properties.type"),
        ({"type": "residential"}, "properties.gb_class"),
        ({"type": "residential", "gb_class": "general_9"}, "properties.gb_class"),
        ({"type": "residential", "households": -1}, "properties.households"),
        ({"population": -5}, "properties.population"),
        ({"jurisdiction": "350521"}, "properties.jurisdiction"),
    ],
)
def test_invalid_protection_target(api: Any, unchanged: None, overrides: dict[str, Any], field: str) -> None:
    assert problem(api.post(TARGETS, json=protection_target_feature(**overrides)), field)["field"] == field


# --- patches that fail change nothing ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"properties": {"sector": "航天", "employees": 9}}, "properties.sector"),
        ({"properties": {"employees": -9}}, "properties.employees"),
        ({"properties": {"nmae": "x"}}, "properties.nmae"),
        ({"properties": {"credit_code": "123"}}, "properties.credit_code"),
        ({"properties": {"jurisdiction": "340303"}}, "properties.jurisdiction"),
        ({"properties": {"employees": 9}, "geometry": point(*HUIAN[::-1])}, "geometry"),
        ({"properties": {"employees": 9}, "geometry": BOWTIE}, "geometry"),
        ({"properties": {"name": ""}}, "properties.name"),
    ],
)
def test_failed_patch_changes_nothing(
    api: Any, unchanged: None, owner: dict[str, Any], patch: dict[str, Any], field: str
) -> None:
    url = f"{ENTERPRISES}/{owner['id']}"
    before = if_match(api, url)
    assert problem(api.patch(url, json=patch, headers=before), field)["field"] == field
    assert if_match(api, url) == before


def test_bad_paging_parameters(api: Any, unchanged: None) -> None:
    problem(api.get(ENTERPRISES, params={"limit": 0}), "limit")
    problem(api.get(ENTERPRISES, params={"limit": 100_000}), "limit")
    problem(api.get(ENTERPRISES, params={"offset": -1}), "offset")
    problem(api.get(ENTERPRISES, params={"limit": "ten"}), "limit")
    problem(api.get(f"{ENTERPRISES}/abc"), "key")
    assert count(api, ENTERPRISES, offset=50) == 1


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/v1/analysis/joint-prevention?adcode=%00", "adcode"),
        ("/api/v1/analysis/four-color?adcode=3505%0005&zones=children", "adcode"),
        (f"{ENTERPRISES}?q=%E6%B3%89%00", "q"),
        ("/api/v1/jurisdictions/35%0005", "path"),
    ],
)
def test_a_nul_in_a_parameter_is_422_naming_it(api: Any, unchanged: None, path: str, field: str) -> None:
    r = api.get(path)
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == field
    assert "NUL" in r.json()["detail"]


def test_a_nul_in_a_json_value_is_422(api: Any, unchanged: None) -> None:
    r = api.post(ENTERPRISES, json=_enterprise(name="泉港\u0000化工"))
    assert r.status_code == 422, r.text
