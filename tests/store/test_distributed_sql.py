"""The SQL of docs/scaling.md "Past one machine" (geo/store/distributed.py) runs on plain PostGIS and gives
the single-node answers: the county list a city query is pruned by, a list page by county, totals by
county, and neighbour notices across a county border answered from the county's own rows and its halo."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, text

from geo.store.distributed import (
    COUNTIES,
    HALO,
    LEVELS_BY_COUNTY,
    LIST_PAGE,
    LOAD,
    NOTICES,
    NOTICES_SINGLE_NODE,
    SCHEMA,
    sql,
)
from tests.api.builders import ENTERPRISES, HUIAN, QUANGANG, RISK_UNITS, created, enterprise_feature, guarded
from tests.api.builders import risk_unit_feature as unit

S = "distributed_shape"
QUANGANG_CODE, HUIAN_CODE = "350505", "350521"


def _run(conn: Any, template: str, **params: Any) -> Any:
    return conn.execute(text(sql(template, S)), params)


@pytest.fixture
def shape(client: Any, engine: Engine) -> Iterator[Engine]:
    api = guarded(client)
    e1 = created(api.post(ENTERPRISES, json=enterprise_feature(1, at=QUANGANG)))["id"]
    e2 = created(api.post(ENTERPRISES, json=enterprise_feature(2, at=HUIAN)))["id"]
    created(api.post(RISK_UNITS, json=unit(e1, name="液氨储罐", level=1, at=QUANGANG)))
    created(api.post(RISK_UNITS, json=unit(e2, name="液化气站", level=3, at=HUIAN)))
    with engine.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {S} CASCADE"))
        for statement in sql(SCHEMA, S).split(";"):
            if statement.strip():
                conn.execute(text(statement))
        for statement in sql(LOAD, S).split(";"):
            if statement.strip():
                conn.execute(text(statement))
        # Synthetic rows on both sides of the 泉港区 / 惠安县 border: a grid of points 250 m apart around
        # the nearest points of the two counties, each filed under the county that covers it.
        conn.execute(
            text(
                f"""
                WITH near AS (
                    SELECT ST_ClosestPoint(q.geom, h.geom) AS p
                    FROM {S}.jurisdictions q, {S}.jurisdictions h
                    WHERE q.adcode = :q AND h.adcode = :h),
                grid AS (
                    SELECT ST_SetSRID(ST_MakePoint(ST_X(p) + i * 0.0025, ST_Y(p) + k * 0.0025), 4490) AS g,
                           row_number() OVER (ORDER BY i, k) AS n
                    FROM near, generate_series(-8, 8) i, generate_series(-8, 8) k),
                placed AS (
                    SELECT grid.n, grid.g, j.adcode FROM grid
                    JOIN {S}.jurisdictions j ON j.adcode IN (:q, :h) AND ST_Covers(j.geom, grid.g))
                INSERT INTO {S}.enterprises (county_adcode, id, name, sector, jurisdiction_adcode, geom)
                SELECT adcode, 1000 + n, 'e' || n, 'hazardous_chemicals', adcode, g FROM placed
                """
            ),
            {"q": QUANGANG_CODE, "h": HUIAN_CODE},
        )
        conn.execute(
            text(
                f"""
                INSERT INTO {S}.risk_units (county_adcode, id, enterprise_id, name, level, jurisdiction_adcode, geom)
                SELECT county_adcode, id + 5000, id, 'u' || id, 1 + (id % 4)::int, jurisdiction_adcode, geom
                FROM {S}.enterprises WHERE id >= 1000 AND id % 3 = 0
                """
            )
        )
    yield engine
    with engine.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {S} CASCADE"))


def test_the_counties_a_city_query_is_pruned_by(shape: Engine) -> None:
    with shape.connect() as conn:
        city = _run(conn, COUNTIES, adcode="350500").scalar_one()
        county = _run(conn, COUNTIES, adcode=QUANGANG_CODE).scalar_one()
    assert {QUANGANG_CODE, HUIAN_CODE} <= set(city)
    assert all(c.startswith("3505") for c in city)
    assert county == [QUANGANG_CODE]


def test_a_list_page_and_totals_by_county_equal_the_single_node_answers(shape: Engine) -> None:
    with shape.connect() as conn:
        counties = _run(conn, COUNTIES, adcode="350500").scalar_one()
        subtree = conn.execute(
            text(
                f"WITH RECURSIVE s AS (SELECT adcode FROM {S}.jurisdictions WHERE adcode = '350500' UNION ALL "
                f"SELECT j.adcode FROM {S}.jurisdictions j JOIN s ON j.parent_adcode = s.adcode) "
                "SELECT array_agg(adcode) FROM s"
            )
        ).scalar_one()
        page = _run(conn, LIST_PAGE, counties=counties, subtree=subtree, limit=50, offset=10).scalars().all()
        single = (
            conn.execute(
                text(
                    f"SELECT id FROM {S}.risk_units WHERE jurisdiction_adcode = ANY(:s) ORDER BY id LIMIT 50 OFFSET 10"
                ),
                {"s": subtree},
            )
            .scalars()
            .all()
        )
        assert page == single
        assert len(page) > 0
        totals = [tuple(r) for r in _run(conn, LEVELS_BY_COUNTY, counties=counties)]
        expected = [
            tuple(r)
            for r in conn.execute(
                text(
                    f"SELECT jurisdiction_adcode, min(level), count(*) FILTER (WHERE level = 1), "
                    f"count(*) FILTER (WHERE level = 2), count(*) FILTER (WHERE level = 3), "
                    f"count(*) FILTER (WHERE level = 4) FROM {S}.risk_units "
                    "GROUP BY 1 ORDER BY 1"
                )
            )
        ]
    assert totals == expected  # every synthetic row is filed under a county itself


def test_notices_across_the_border_come_from_the_halo(shape: Engine) -> None:
    distance_m = 600.0
    with shape.begin() as conn:
        counties = [QUANGANG_CODE, HUIAN_CODE]
        _run(conn, HALO, counties=counties, halo_m=1000.0)
        halo = conn.execute(text(f"SELECT count(*) FROM {S}.enterprises_halo")).scalar_one()
        assert halo > 0
        for county in counties:
            distributed = [tuple(r) for r in _run(conn, NOTICES, county=county, distance_m=distance_m)]
            single = [tuple(r) for r in _run(conn, NOTICES_SINGLE_NODE, county=county, distance_m=distance_m)]
            assert distributed == single, county
            assert distributed
            homes = dict(conn.execute(text(f"SELECT id, county_adcode FROM {S}.enterprises")).all())
            # some recipients lie across the border: the halo is what found them
            assert any(homes[e] != county for _, e, _ in distributed), county


def test_only_plain_schema_names() -> None:
    with pytest.raises(ValueError, match="schema"):
        sql(SCHEMA, "x; DROP TABLE risk_units")
