"""Risk units (风险点) and public-area risks (公共区域风险) over HTTP: assessment, dates, ownership."""

from __future__ import annotations

import itertools
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
    box_polygon,
    count,
    created,
    enterprise_feature,
    guarded,
    ids,
    if_match,
    ok,
    point,
    problem,
    risk_unit_feature,
    shared_client,
)

LEC = "LEC"


@pytest.fixture
def api(client: Any) -> Any:
    return guarded(client)


@pytest.fixture(scope="module")
def shared(database_url: str, engine: Engine, boundaries: None) -> Iterator[Any]:
    """For the table-driven tests below: each makes its own enterprise, so they may share one client."""
    with shared_client(database_url, engine) as c:
        yield c


_codes = itertools.count(100)


def _new_enterprise(api: Any, **overrides: Any) -> dict[str, Any]:
    return created(api.post(ENTERPRISES, json=enterprise_feature(next(_codes), **overrides)))


@pytest.fixture
def chem(api: Any) -> dict[str, Any]:
    """A hazardous-chemicals enterprise in 泉港区."""
    return created(api.post(ENTERPRISES, json=enterprise_feature(1)))


def test_lec_unit_round_trip(api: Any, chem: dict[str, Any]) -> None:
    sent = risk_unit_feature(
        chem["id"],
        level=None,
        assessment_method=LEC,
        assessment_inputs={"L": 6, "E": 6, "C": 7},  # D = 252 → 较大风险
        accident_types=["8", "火灾", "中毒和窒息", "Electric shock"],
        responsible_phone="138-0013-8000",
        assessed_on="2025-03-15",
        max_occupancy=6,
    )
    body = created(api.post(RISK_UNITS, json=sent))
    uid = body["id"]
    p = body["properties"]
    assert p["enterprise_id"] == chem["id"]
    assert p["kind"] == "enterprise"
    assert p["name"] == "液氨储罐区"
    assert p["hazards"] == "液氨泄漏、中毒窒息"
    assert p["control_measures"] == "设置有毒气体报警仪，双人巡检"
    assert p["responsible_person"] == "陈建华"
    assert p["control_level"] == "company"
    assert p["sector"] is None  # an enterprise unit takes its enterprise's sector
    assert p["level"] == 2
    assert p["assessment_method"] == "LEC"
    assert p["assessment_score"] == 252
    assert p["assessment_inputs"] == {"L": 6, "E": 6, "C": 7}
    assert p["assessment_table"] == "default"
    assert p["accident_types"] == ["08", "19", "05"]  # "8" and 火灾 are both 08, kept once
    assert p["responsible_phone"] == "13800138000"
    assert p["assessed_on"] == "2025-03-15"
    assert p["next_assessment_due"] == "2026-03-15"  # hazardous chemicals: yearly
    assert p["max_occupancy"] == 6
    assert p["jurisdiction_adcode"] == "350505"
    assert p["version"] == 1
    assert body["geometry"] == point(*QUANGANG)

    got = api.get(f"{RISK_UNITS}/{uid}")
    assert ok(got) == body
    assert got.headers["etag"].startswith('"1-')
    assert ok(api.get(RISK_UNITS))["features"] == [body]

    # new factors: the level follows them (the stored level 2 is not kept against them)
    line = {"type": "LineString", "coordinates": [[118.88, 25.11], [118.885, 25.112]]}
    patched = api.patch(
        f"{RISK_UNITS}/{uid}",
        json={
            "properties": {"assessment_inputs": {"L": 3, "E": 6, "C": 7}, "hazards": "泄漏"},
            "geometry": line,
        },
        headers={"If-Match": got.headers["etag"]},
    )
    new = ok(patched)
    assert patched.headers["etag"].startswith('"2-')
    assert new["properties"]["version"] == 2
    assert new["properties"]["assessment_score"] == 126
    assert new["properties"]["level"] == 3
    assert new["properties"]["hazards"] == "泄漏"
    assert new["properties"]["accident_types"] == ["08", "19", "05"]
    assert new["properties"]["next_assessment_due"] == "2026-03-15"
    assert new["geometry"] == line
    assert ok(api.get(f"{RISK_UNITS}/{uid}")) == new

    stale = api.patch(
        f"{RISK_UNITS}/{uid}",
        json={"properties": {"hazards": "x"}},
        headers={"If-Match": got.headers["etag"]},
    )
    assert stale.status_code == 412
    assert ok(api.get(f"{RISK_UNITS}/{uid}"))["properties"]["hazards"] == "泄漏"

    assert api.delete(f"{RISK_UNITS}/{uid}", headers=if_match(api, f"{RISK_UNITS}/{uid}")).status_code == 204
    assert api.get(f"{RISK_UNITS}/{uid}").status_code == 404
    assert count(api, RISK_UNITS) == 0
    assert ok(api.get(f"{ENTERPRISES}/{chem['id']}"))["properties"]["risk_unit_count"] == 0


@pytest.mark.parametrize(
    ("method", "inputs", "score", "level"),
    [
        ("LEC", {"L": 6, "E": 6, "C": 15}, 540, 1),
        ("LEC", {"l": 3, "e": 6, "c": 7}, 126, 3),  # factor names are case-insensitive
        ("LEC", {"L": 0.5, "E": 6, "C": 15}, 45, 4),
        ("LS", {"L": 4, "S": 4}, 16, 2),
        ("LS", {"L": 5, "S": 5}, 25, 1),
        ("MES", {"M": 3, "E": 6, "S": 4}, 72, 3),
    ],
)
def test_scored_methods_give_score_and_level(
    shared: Any, method: str, inputs: dict[str, float], score: float, level: int
) -> None:
    api = shared
    chem = _new_enterprise(api)
    body = created(
        api.post(
            RISK_UNITS,
            json=risk_unit_feature(
                chem["id"], level=None, assessment_method=method, assessment_inputs=inputs
            ),
        )
    )
    p = body["properties"]
    assert (p["assessment_method"], p["assessment_score"], p["level"]) == (method, score, level)
    assert p["assessment_inputs"] == {k.upper(): v for k, v in inputs.items()}
    assert ok(api.get(f"{ENTERPRISES}/{chem['id']}"))["properties"]["level"] == level


def test_level_agreeing_with_the_score_is_accepted(api: Any, chem: dict[str, Any]) -> None:
    body = created(
        api.post(
            RISK_UNITS,
            json=risk_unit_feature(
                chem["id"], level=1, assessment_method="LEC", assessment_inputs={"L": 6, "E": 6, "C": 15}
            ),
        )
    )
    assert body["properties"]["level"] == 1


def test_direct_level(api: Any, chem: dict[str, Any]) -> None:
    body = created(api.post(RISK_UNITS, json=risk_unit_feature(chem["id"], level=3)))
    p = body["properties"]
    assert (p["level"], p["assessment_method"], p["assessment_score"], p["assessment_inputs"]) == (
        3,
        "direct",
        None,
        None,
    )
    assert p["accident_types"] == []
    assert p["next_assessment_due"] is None
    # a direct level can be changed directly
    assert (
        ok(
            api.patch(
                f"{RISK_UNITS}/{body['id']}",
                json={"properties": {"level": 1}},
                headers=if_match(api, f"{RISK_UNITS}/{body['id']}"),
            )
        )["properties"]["level"]
        == 1
    )


def test_direct_method_needs_a_level(api: Any, chem: dict[str, Any]) -> None:
    r = api.post(RISK_UNITS, json=risk_unit_feature(chem["id"], level=None))
    assert "level" in problem(r, "level")["field"]
    assert count(api, RISK_UNITS) == 0


@pytest.mark.parametrize(
    ("sector", "assessed", "due"),
    [
        ("危险化学品", "2025-03-15", "2026-03-15"),
        ("construction", "2025-03-15", "2028-03-15"),
        ("fireworks", "2024-02-29", "2025-02-28"),  # no 29 February next year
        ("建筑施工", "2024-02-29", "2027-02-28"),
    ],
)
def test_next_assessment_due_follows_the_enterprise_sector(
    shared: Any, sector: str, assessed: str, due: str
) -> None:
    e = _new_enterprise(shared, sector=sector)
    u = created(shared.post(RISK_UNITS, json=risk_unit_feature(e["id"], assessed_on=assessed)))
    assert u["properties"]["next_assessment_due"] == due


def test_explicit_next_assessment_due_within_the_rule_is_kept(api: Any) -> None:
    e = created(api.post(ENTERPRISES, json=enterprise_feature(2, sector="construction")))
    u = created(
        api.post(
            RISK_UNITS,
            json=risk_unit_feature(e["id"], assessed_on="2025-03-15", next_assessment_due="2026-09-01"),
        )
    )
    assert u["properties"]["next_assessment_due"] == "2026-09-01"


def test_next_assessment_due_later_than_allowed_is_refused(api: Any, chem: dict[str, Any]) -> None:
    r = api.post(
        RISK_UNITS,
        json=risk_unit_feature(chem["id"], assessed_on="2025-03-15", next_assessment_due="2027-03-15"),
    )
    assert "2026-03-15" in problem(r, "properties.next_assessment_due")["reason"]
    r = api.post(RISK_UNITS, json=risk_unit_feature(chem["id"], assessed_on="2099-01-01"))
    problem(r, "properties.assessed_on")
    assert count(api, RISK_UNITS) == 0


def test_public_area_risk(api: Any) -> None:
    sent = risk_unit_feature(
        None, name="泉港区燃气中压管网", sector="城镇燃气", level=2, assessed_on="2025-01-10", at=HUIAN
    )
    body = created(api.post(RISK_UNITS, json=sent))
    p = body["properties"]
    assert p["kind"] == "public_area"
    assert p["enterprise_id"] is None
    assert p["sector"] == "urban_gas"
    assert p["next_assessment_due"] == "2026-01-10"  # urban gas is a high-risk sector
    assert p["jurisdiction_adcode"] == "350521"  # from its own place, there is no owner
    tourism = created(
        api.post(
            RISK_UNITS,
            json=risk_unit_feature(
                None, name="清源山景区", sector="tourism", level=3, assessed_on="2025-01-10"
            ),
        )
    )
    assert tourism["properties"]["next_assessment_due"] == "2028-01-10"
    assert count(api, RISK_UNITS, kind="public_area") == 2
    assert count(api, RISK_UNITS, kind="enterprise") == 0


def test_public_area_risk_needs_a_sector(api: Any) -> None:
    feature = risk_unit_feature(None)
    del feature["properties"]["sector"]
    problem(api.post(RISK_UNITS, json=feature), "properties.sector")
    problem(api.post(RISK_UNITS, json=risk_unit_feature(None, sector="火箭发射")), "properties.sector")
    assert count(api, RISK_UNITS) == 0


def test_kind_must_match_ownership(api: Any, chem: dict[str, Any]) -> None:
    problem(api.post(RISK_UNITS, json=risk_unit_feature(None, kind="enterprise")), "properties.kind")
    problem(api.post(RISK_UNITS, json=risk_unit_feature(chem["id"], kind="public_area")), "properties.kind")
    assert count(api, RISK_UNITS) == 0


def test_pipeline_linestring_and_polygon_area(api: Any) -> None:
    pipeline = {"type": "LineString", "coordinates": [[118.80, 25.14], [118.85, 25.15], [118.90, 25.13]]}
    p = created(
        api.post(
            RISK_UNITS,
            json=risk_unit_feature(
                None, name="泉港—惠安输油管道", sector="石油天然气管道", level=1, geometry=pipeline
            ),
        )
    )
    assert p["geometry"] == pipeline
    assert p["properties"]["jurisdiction_adcode"] == "350505"
    area = box_polygon(118.87, 25.10, 118.89, 25.12)
    a = created(api.post(RISK_UNITS, json=risk_unit_feature(None, name="罐区", level=2, geometry=area)))
    assert a["geometry"] == area
    assert ids(ok(api.get(RISK_UNITS, params={"adcode": "350505"}))) == {p["id"], a["id"]}


def test_enterprise_unit_takes_the_enterprise_jurisdiction(api: Any) -> None:
    e = created(api.post(ENTERPRISES, json=enterprise_feature(3, at=HUIAN)))
    u = created(api.post(RISK_UNITS, json=risk_unit_feature(e["id"], at=HUIAN)))
    assert u["properties"]["jurisdiction_adcode"] == "350521"
    # a unit outside the enterprise's county would be counted there and missing from its map: 422 ...
    err = problem(api.post(RISK_UNITS, json=risk_unit_feature(e["id"], at=QUANGANG, name="码头")), "geometry")
    assert "350521" in err["reason"]
    assert "惠安县" in err["reason_zh"]
    # ... unless the caller names the jurisdiction where it lies
    there = created(
        api.post(RISK_UNITS, json=risk_unit_feature(e["id"], at=QUANGANG, name="码头", jurisdiction="350505"))
    )
    assert there["properties"]["jurisdiction_adcode"] == "350505"


def test_unit_names_are_unique_per_enterprise(api: Any, chem: dict[str, Any]) -> None:
    created(api.post(RISK_UNITS, json=risk_unit_feature(chem["id"], name="装卸区")))
    dup = api.post(RISK_UNITS, json=risk_unit_feature(chem["id"], name="装卸区"))
    assert dup.status_code == 409
    assert "name" in dup.json()["detail"]
    other = created(api.post(ENTERPRISES, json=enterprise_feature(2, at=QUANGANG_2)))
    created(api.post(RISK_UNITS, json=risk_unit_feature(other["id"], name="装卸区")))
    assert count(api, RISK_UNITS) == 2


def test_filters(api: Any, chem: dict[str, Any]) -> None:
    a = created(api.post(RISK_UNITS, json=risk_unit_feature(chem["id"], name="a", level=1)))
    b = created(api.post(RISK_UNITS, json=risk_unit_feature(chem["id"], name="b", level=3)))
    c = created(api.post(RISK_UNITS, json=risk_unit_feature(None, name="c", level=3)))
    assert ids(ok(api.get(RISK_UNITS, params={"level": 3}))) == {b["id"], c["id"]}
    assert ids(ok(api.get(RISK_UNITS, params={"enterprise_id": chem["id"]}))) == {a["id"], b["id"]}
    assert ids(ok(api.get(RISK_UNITS, params={"kind": "public_area", "level": 3}))) == {c["id"]}
    problem(api.get(RISK_UNITS, params={"level": 5}), "level")
    problem(api.get(RISK_UNITS, params={"enterprise_id": "x"}), "enterprise_id")


def test_patch_factors_contradicting_a_sent_level_is_refused(api: Any, chem: dict[str, Any]) -> None:
    u = created(
        api.post(
            RISK_UNITS,
            json=risk_unit_feature(
                chem["id"], level=None, assessment_method=LEC, assessment_inputs={"L": 6, "E": 6, "C": 7}
            ),
        )
    )
    r = api.patch(
        f"{RISK_UNITS}/{u['id']}",
        json={"properties": {"level": 1}},
        headers=if_match(api, f"{RISK_UNITS}/{u['id']}"),
    )
    problem(r, "level")
    after = ok(api.get(f"{RISK_UNITS}/{u['id']}"))["properties"]
    assert (after["level"], after["version"]) == (2, 1)


def test_switching_from_factors_to_a_direct_level(api: Any, chem: dict[str, Any]) -> None:
    u = created(
        api.post(
            RISK_UNITS,
            json=risk_unit_feature(
                chem["id"], level=None, assessment_method=LEC, assessment_inputs={"L": 6, "E": 6, "C": 7}
            ),
        )
    )
    new = ok(
        api.patch(
            f"{RISK_UNITS}/{u['id']}",
            json={"properties": {"assessment_method": "direct", "level": 4}},
            headers=if_match(api, f"{RISK_UNITS}/{u['id']}"),
        )
    )
    p = new["properties"]
    assert (p["level"], p["assessment_method"], p["assessment_score"], p["assessment_inputs"]) == (
        4,
        "direct",
        None,
        None,
    )


def test_reassessment_moves_the_derived_due_date(api: Any, chem: dict[str, Any]) -> None:
    u = created(api.post(RISK_UNITS, json=risk_unit_feature(chem["id"], assessed_on="2025-03-15")))
    assert u["properties"]["next_assessment_due"] == "2026-03-15"
    new = ok(
        api.patch(
            f"{RISK_UNITS}/{u['id']}",
            json={"properties": {"assessed_on": "2026-03-01", "level": 3}},
            headers=if_match(api, f"{RISK_UNITS}/{u['id']}"),
        )
    )
    assert new["properties"]["assessed_on"] == "2026-03-01"
    assert new["properties"]["next_assessment_due"] == "2027-03-01"
    # an earlier assessment date (a correction) gives an earlier due date, not an error
    fixed = ok(
        api.patch(
            f"{RISK_UNITS}/{u['id']}",
            json={"properties": {"assessed_on": "2025-01-02"}},
            headers=if_match(api, f"{RISK_UNITS}/{u['id']}"),
        )
    )
    assert fixed["properties"]["next_assessment_due"] == "2026-01-02"
    # a due date sent with the patch is the user's
    mine = ok(
        api.patch(
            f"{RISK_UNITS}/{u['id']}",
            json={"properties": {"assessed_on": "2025-02-01", "next_assessment_due": "2025-12-31"}},
            headers=if_match(api, f"{RISK_UNITS}/{u['id']}"),
        )
    )
    assert mine["properties"]["next_assessment_due"] == "2025-12-31"
