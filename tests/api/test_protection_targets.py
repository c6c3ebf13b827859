"""Protection targets (防护目标) over HTTP: GB 36894-2018 classes derived, kept and re-derived."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine

from tests.api.builders import (
    HUIAN,
    QUANGANG,
    QUANGANG_2,
    TARGETS,
    box_polygon,
    count,
    created,
    guarded,
    ids,
    if_match,
    ok,
    point,
    problem,
    protection_target_feature,
    shared_client,
)


@pytest.fixture
def api(client: Any) -> Any:
    return guarded(client)


@pytest.fixture(scope="module")
def shared(database_url: str, engine: Engine, boundaries: None) -> Iterator[Any]:
    """For the table-driven class test: its cases are independent rows, so they share one client."""
    with shared_client(database_url, engine) as c:
        yield c


def test_round_trip(api: Any) -> None:
    body = created(api.post(TARGETS, json=protection_target_feature(population=1800)))
    tid = body["id"]
    p = body["properties"]
    assert p["name"] == "泉港区第一中学"
    assert p["address"] == "泉港区山腰街道"
    assert p["type"] == "school"
    assert p["gb_class"] == "high_sensitive"
    assert p["gb_class_derived"] is True
    assert p["population"] == 1800
    assert p["households"] is None
    assert p["jurisdiction_adcode"] == "350505"
    assert p["version"] == 1
    assert body["geometry"] == point(*QUANGANG)

    got = api.get(f"{TARGETS}/{tid}")
    assert ok(got) == body
    assert got.headers["etag"].startswith('"1-')
    assert ok(api.get(TARGETS))["features"] == [body]

    area = box_polygon(118.90, 25.14, 118.92, 25.16)
    r = api.patch(
        f"{TARGETS}/{tid}",
        json={"properties": {"name": "泉港区第二中学", "population": 2100}, "geometry": area},
        headers={"If-Match": got.headers["etag"]},
    )
    new = ok(r)
    assert r.headers["etag"].startswith('"2-')
    assert new["properties"]["version"] == 2
    assert new["properties"]["name"] == "泉港区第二中学"
    assert new["properties"]["population"] == 2100
    assert new["properties"]["gb_class"] == "high_sensitive"
    assert new["properties"]["address"] == "泉港区山腰街道"
    assert new["geometry"] == area
    assert ok(api.get(f"{TARGETS}/{tid}")) == new

    assert (
        api.patch(
            f"{TARGETS}/{tid}", json={"properties": {"name": "x"}}, headers={"If-Match": got.headers["etag"]}
        ).status_code
        == 412
    )
    assert ok(api.get(f"{TARGETS}/{tid}"))["properties"]["name"] == "泉港区第二中学"

    assert api.delete(f"{TARGETS}/{tid}", headers=if_match(api, f"{TARGETS}/{tid}")).status_code == 204
    assert api.get(f"{TARGETS}/{tid}").status_code == 404
    assert count(api, TARGETS) == 0


@pytest.mark.parametrize(
    ("props", "expected"),
    [
        ({"type": "school"}, "high_sensitive"),
        ({"type": "学校"}, "high_sensitive"),
        ({"type": "幼儿园", "population": 3}, "high_sensitive"),  # the type decides, not the count
        ({"type": "hospital"}, "high_sensitive"),
        ({"type": "government"}, "important"),
        ({"type": "residential", "households": 40}, "general_1"),
        ({"type": "居住区", "households": 30}, "general_1"),
        ({"type": "residential", "households": 15}, "general_2"),
        ({"type": "residential", "households": 5, "population": 10}, "general_3"),
        ({"type": "residential", "households": 5, "population": 150}, "general_1"),  # the higher count wins
        ({"type": "village", "population": 40}, "general_2"),
        ({"type": "office", "population": 0}, "general_3"),
    ],
)
def test_class_is_derived(shared: Any, props: dict[str, Any], expected: str) -> None:
    body = created(shared.post(TARGETS, json=protection_target_feature(name="目标", **props)))
    assert body["properties"]["gb_class"] == expected
    assert body["properties"]["gb_class_derived"] is True


def test_type_name_normalised_to_code(api: Any) -> None:
    body = created(api.post(TARGETS, json=protection_target_feature(type="养老院/福利院")))
    assert body["properties"]["type"] == "care_home"
    assert ids(ok(api.get(TARGETS, params={"type": "care_home"}))) == {body["id"]}
    assert ids(ok(api.get(TARGETS, params={"gb_class": "high_sensitive"}))) == {body["id"]}


def test_explicit_class_is_kept(api: Any) -> None:
    body = created(
        api.post(
            TARGETS,
            json=protection_target_feature(
                name="南埔镇居民区", type="residential", households=5, population=10, gb_class="general_1"
            ),
        )
    )
    assert body["properties"]["gb_class"] == "general_1"
    assert body["properties"]["gb_class_derived"] is False
    # a user's class survives a change of the counts
    new = ok(
        api.patch(
            f"{TARGETS}/{body['id']}",
            json={"properties": {"households": 12}},
            headers=if_match(api, f"{TARGETS}/{body['id']}"),
        )
    )
    assert new["properties"]["gb_class"] == "general_1"
    assert new["properties"]["gb_class_derived"] is False
    assert new["properties"]["households"] == 12


def test_derived_class_is_re_derived_when_households_change(api: Any) -> None:
    body = created(
        api.post(
            TARGETS, json=protection_target_feature(name="南埔镇居民区", type="residential", households=15)
        )
    )
    assert body["properties"]["gb_class"] == "general_2"
    url = f"{TARGETS}/{body['id']}"
    up = ok(api.patch(url, json={"properties": {"households": 40}}, headers=if_match(api, url)))
    assert (up["properties"]["gb_class"], up["properties"]["gb_class_derived"]) == ("general_1", True)
    down = ok(
        api.patch(url, json={"properties": {"households": 5, "population": 10}}, headers=if_match(api, url))
    )
    assert (down["properties"]["gb_class"], down["properties"]["gb_class_derived"]) == ("general_3", True)
    # a fetched Feature sent back with a new count is re-derived too
    fetched = ok(api.get(url))
    fetched["properties"]["households"] = 15
    again = ok(api.patch(url, json=fetched, headers=if_match(api, url)))
    assert (again["properties"]["gb_class"], again["properties"]["gb_class_derived"]) == ("general_2", True)
    # setting a class by hand makes it fixed
    fixed = ok(api.patch(url, json={"properties": {"gb_class": "important"}}, headers=if_match(api, url)))
    assert (fixed["properties"]["gb_class"], fixed["properties"]["gb_class_derived"]) == ("important", False)
    assert (
        ok(api.patch(url, json={"properties": {"households": 50}}, headers=if_match(api, url)))["properties"][
            "gb_class"
        ]
        == "important"
    )


def test_residential_needs_a_count_or_a_class(api: Any) -> None:
    r = api.post(TARGETS, json=protection_target_feature(type="residential"))
    assert "households" in problem(r, "properties.gb_class")["reason"]
    assert count(api, TARGETS) == 0


def test_multipoint_and_jurisdiction(api: Any) -> None:
    geom = {"type": "MultiPoint", "coordinates": [list(HUIAN), [118.83, 24.99]]}
    body = created(
        api.post(TARGETS, json=protection_target_feature(geometry=geom, type="village", population=300))
    )
    assert body["geometry"] == geom
    assert body["properties"]["jurisdiction_adcode"] == "350521"
    moved = ok(
        api.patch(
            f"{TARGETS}/{body['id']}",
            json={"geometry": point(*QUANGANG_2)},
            headers=if_match(api, f"{TARGETS}/{body['id']}"),
        )
    )
    assert moved["properties"]["jurisdiction_adcode"] == "350505"


def test_line_is_not_a_protection_target(api: Any) -> None:
    line = {"type": "LineString", "coordinates": [list(QUANGANG), list(QUANGANG_2)]}
    assert (
        "LineString"
        in problem(api.post(TARGETS, json=protection_target_feature(geometry=line)), "geometry")["reason"]
    )
    assert count(api, TARGETS) == 0
