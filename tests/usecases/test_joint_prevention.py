"""api.usecases.joint_prevention called as a page or the command line would: a connection, a principal and
typed parameters, no HTTP. The register is tests/usecases/conftest.py's."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from shapely.geometry import Point
from sqlalchemy import Connection, Engine

from api.settings import Settings
from api.usecases import joint_prevention as jp
from geo.access import ANONYMOUS, SYSTEM, Forbidden, Principal, Role, Unauthenticated
from geo.errors import InvalidInput, NotFound
from tests.store.test_clusters import QUANGANG

REGULATOR = Principal(Role.regulator, "quangang", adcodes=("350505",))
ELSEWHERE = Principal(Role.regulator, "huian", adcodes=("350521",))


@pytest.fixture
def conn(engine: Engine, layout: dict[str, Any]) -> Iterator[Connection]:
    with engine.connect() as c:
        yield c
        c.rollback()


def _members(cluster: Any) -> set[int]:
    return {m.id for m in cluster.members}


def test_parameters_are_checked_all_at_once() -> None:
    with pytest.raises(InvalidInput) as caught:
        jp.cluster_params("350505", distance_m=0, trades="any", method="kmeans", sector="不存在的行业")
    assert {p.field for p in caught.value.problems} == {"distance_m", "trades", "method", "sector"}
    assert all(p.reason_zh for p in caught.value.problems)
    assert jp.cluster_params("350505", sector="城镇燃气").sector == "urban_gas"  # a 中文名 becomes the code


def test_clusters_of_a_county(conn: Connection, layout: dict[str, Any], settings: Settings) -> None:
    result = jp.find_clusters(conn, REGULATOR, jp.cluster_params("350505"), settings)
    assert (result.frame.name, result.frame.srid) == ("泉港区", 4549)
    assert result.run.method == "cliques"  # 加油站 ~ 瓶装液化气供应站: the similarity is not transitive
    chain, fuel = result.clusters
    assert _members(chain) == {layout["A"], layout["B"], layout["C"]}
    assert _members(fuel) == {layout["D"], layout["E"]}
    assert (chain.level, fuel.level) == (1, 3)  # 就高
    assert chain.hull is not None
    assert chain.hull.covers(Point(QUANGANG))
    same_sector = jp.find_clusters(conn, SYSTEM, jp.cluster_params("350505", trades="sector"), settings)
    assert [_members(c) for c in same_sector.clusters] == [_members(chain)]


def test_unknown_and_forbidden_jurisdictions(conn: Connection, settings: Settings) -> None:
    with pytest.raises(jp.UnknownJurisdiction) as caught:
        jp.find_clusters(conn, SYSTEM, jp.cluster_params("999999"), settings)
    assert isinstance(caught.value, NotFound)  # 404 in api/errors.py's table
    assert [p.as_dict() for p in caught.value.problems] == [
        {
            "field": "adcode",
            "reason": "no jurisdiction with adcode '999999'",
            "reason_zh": "行政区划代码 999999 不存在",
        }
    ]
    with pytest.raises(Forbidden):
        jp.find_clusters(conn, ELSEWHERE, jp.cluster_params("350505"), settings)
    with pytest.raises(Unauthenticated):
        jp.find_neighbour_notices(conn, ANONYMOUS, "350505")


def test_cross_inspection_keeps_its_rules_and_one_seed_gives_one_plan(
    conn: Connection, layout: dict[str, Any], settings: Settings
) -> None:
    params = jp.cluster_params("350505")
    plan = jp.draw_cross_inspection(conn, REGULATOR, params, settings, seed=11)
    constraints = plan.constraints()
    assert all(vars(constraints).values()), constraints
    chain = plan.clusters[0]
    pairs = plan.checks[chain.key]
    assert sorted(a for a, _ in pairs) == sorted(_members(chain))
    assert sorted(b for _, b in pairs) == sorted(_members(chain))
    team = plan.team_of(chain)
    assert team is not None
    assert team.synthetic
    assert team.jurisdiction_adcode != "350505"
    assert team.jurisdiction_adcode not in plan.regions[chain.key]
    again = jp.draw_cross_inspection(conn, REGULATOR, params, settings, seed=11)
    assert again.checks == plan.checks
    assert again.team_by_cluster == plan.team_by_cluster


def test_the_maps_layers(conn: Connection, layout: dict[str, Any], settings: Settings) -> None:
    layers = jp.joint_prevention_layers(conn, REGULATOR, jp.cluster_params("350505"), settings, seed=2)
    assert layers.title == "泉港区联防联控组团与交叉互查图（500 米）"
    assert list(layers.clusters["member_count"]) == [3, 2]
    assert layers.clusters.crs.to_epsg() == 4490
    assert set(layers.members["id"]) == {layout[k] for k in "ABCDE"}
    assert layers.checks is not None
    assert len(layers.checks) == 5  # every member inspects one other
    by_name = dict(zip(layers.members["name"], layers.members["inspects"], strict=True))
    assert by_name["D站"] == "=E店"
    assert by_name["=E店"] == "D站"  # two members: they inspect each other
    assert layers.boundaries is not None
    assert "350505" in set(layers.boundaries["adcode"])


def test_neighbour_notices(conn: Connection, layout: dict[str, Any]) -> None:
    result = jp.find_neighbour_notices(conn, REGULATOR, "350505", distance_m=500)
    assert result.found.total == 2
    first, second = result.found.units
    assert first.enterprise_id == layout["A"]
    assert [e.id for e in result.found.enterprises[int(first.id)]] == [layout["B"]]
    assert [t.id for t in result.found.targets[int(first.id)]] == [layout["school"]]
    assert float(result.found.targets[int(first.id)][0].distance_m) == pytest.approx(300, abs=1)
    assert second.enterprise_id == layout["B"]
    with pytest.raises(InvalidInput) as caught:
        jp.find_neighbour_notices(conn, REGULATOR, "350505", distance_m=20_000)
    assert caught.value.problems[0].field == "distance_m"


def test_key_targets(conn: Connection, layout: dict[str, Any]) -> None:
    county = jp.rank_key_targets(conn, REGULATOR, "350505", date=dt.date(2026, 12, 1))
    assert (county.top_zones, county.top_enterprises) == (3, 5)
    keys = [int(r.code) for r in county.ranked.enterprises if r.key]
    assert keys[:2] == [layout["A"], layout["B"]]
    assert layout["F"] not in keys  # no unit, score 0
    assert county.date == dt.date(2026, 12, 1)
    city = jp.rank_key_targets(conn, SYSTEM, "350500", enterprises_top=2)
    assert (city.zone_kind, city.zone_kind_zh) == ("county", "重点县（市、区）")
    assert city.top_enterprises == 2
    assert [r.code for r in city.ranked.zones if r.key] == ["350505"]
    assert city.date == dt.date.today()
