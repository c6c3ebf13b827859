"""List pages are made by PostgreSQL (json_build_object, ST_AsGeoJSON) and, in GCJ-02 and BD-09, by one
vectorised conversion: each listed Feature must equal what a single GET of the row answers, in every crs,
with the same scope and order as before."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.builders import (
    ENTERPRISES,
    QUANGANG_2,
    RISK_UNITS,
    TARGETS,
    box_polygon,
    created,
    enterprise_feature,
    guarded,
    ok,
    protection_target_feature,
    risk_unit_feature,
)

CRSS = ("cgcs2000", "wgs84", "gcj02", "bd09")


@pytest.fixture
def api(client: Any) -> Any:
    return guarded(client)


@pytest.fixture
def rows(api: Any) -> dict[str, list[int]]:
    site = box_polygon(118.875, 25.105, 118.885, 25.115)
    e1 = created(api.post(ENTERPRISES, json=enterprise_feature(1, site=site)))["id"]
    e2 = created(api.post(ENTERPRISES, json=enterprise_feature(2, at=QUANGANG_2, contact_person=None)))["id"]
    units = [
        created(
            api.post(RISK_UNITS, json=risk_unit_feature(e1, name="液氨储罐区", accident_types=["04", "16"]))
        )["id"],
        created(
            api.post(
                RISK_UNITS,
                json=risk_unit_feature(
                    e1,
                    name="LEC 评估的装卸区",
                    level=None,
                    assessment_method="LEC",
                    assessment_inputs={"L": 3, "E": 6, "C": 15},
                    assessed_on="2026-03-01",
                    capacity_m3=None,
                    geometry=box_polygon(118.876, 25.106, 118.878, 25.108),
                ),
            )
        )["id"],
        created(
            api.post(RISK_UNITS, json=risk_unit_feature(None, name='燃气管线 "老城段"\n<b>', at=QUANGANG_2))
        )["id"],
    ]
    target = created(api.post(TARGETS, json=protection_target_feature(population=800)))["id"]
    return {ENTERPRISES: [e1, e2], RISK_UNITS: units, TARGETS: [target]}


@pytest.mark.parametrize("crs", CRSS)
def test_a_listed_feature_is_what_its_get_answers(api: Any, rows: dict[str, list[int]], crs: str) -> None:
    for path, keys in rows.items():
        listed = ok(api.get(path, params={"crs": crs, "limit": 10}))
        assert [f["id"] for f in listed["features"]] == keys
        assert listed["numberMatched"] == listed["numberReturned"] == len(keys)
        for f in listed["features"]:
            single = ok(api.get(f"{path}/{f['id']}", params={"crs": crs}))
            assert f == single, (path, crs)


def test_a_page_of_a_list_links_on_and_keeps_its_etag(api: Any, rows: dict[str, list[int]]) -> None:
    first = api.get(RISK_UNITS, params={"limit": 2, "crs": "gcj02"})
    body = ok(first)
    assert [f["id"] for f in body["features"]] == rows[RISK_UNITS][:2]
    assert body["numberMatched"] == 3
    assert body["numberReturned"] == 2
    assert body["next"] is not None
    assert "offset=2" in body["next"]
    again = api.get(
        RISK_UNITS, params={"limit": 2, "crs": "gcj02"}, headers={"If-None-Match": first.headers["etag"]}
    )
    assert again.status_code == 304
    rest = ok(api.get(body["next"]))
    assert [f["id"] for f in rest["features"]] == rows[RISK_UNITS][2:]
    assert rest["next"] is None


def test_an_enterprise_user_lists_only_its_own(client_as: Any, rows: dict[str, list[int]]) -> None:
    e1 = rows[ENTERPRISES][0]
    own = guarded(client_as("enterprise", enterprise_id=e1))
    listed = ok(own.get(RISK_UNITS, params={"crs": "bd09"}))
    assert [f["id"] for f in listed["features"]] == rows[RISK_UNITS][:2]
    assert ok(own.get(ENTERPRISES))["numberMatched"] == 1
    assert guarded(client_as("public")).get(RISK_UNITS).status_code == 401


def test_an_empty_page(api: Any) -> None:
    body = ok(api.get(RISK_UNITS, params={"crs": "gcj02"}))
    assert body["features"] == []
    assert body["numberMatched"] == 0
    assert body["next"] is None
