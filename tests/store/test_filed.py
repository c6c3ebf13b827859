"""Counts of what is filed under a jurisdiction found from the rows' filing codes (geo.store.filed) equal the
walk down the tree they replace: `summary.level_counts` and `repository.list_features(...).total`, at every
level of the tree (a township below a county, a park zone, an area without rows, an unknown code)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine

from geo.access import Principal, Role
from geo.errors import NotFound
from geo.store import filed
from geo.store import repository as repo
from geo.store.summary import level_counts
from tests.api.builders import (
    BENGSHAN,
    ENTERPRISES,
    HUIAN,
    JURISDICTIONS,
    QUANGANG,
    RISK_UNITS,
    TARGETS,
    box_polygon,
    created,
    enterprise_feature,
    jurisdiction_feature,
    protection_target_feature,
    risk_unit_feature,
)

TOWNSHIP = (
    "350505100"  # a township of 泉港区 around QUANGANG (filed under it: its units are below the county)
)
PARK = "350505901"
ADCODES = ("350000", "350500", "350505", TOWNSHIP, PARK, "350521", "340000", "340303", "370000", "533100")


@pytest.fixture
def register(client: Any) -> None:
    x, y = QUANGANG
    for adcode, level, parent in ((TOWNSHIP, "township", "350505"), (PARK, "park", "350505")):
        created(
            client.post(
                JURISDICTIONS,
                json=jurisdiction_feature(
                    adcode, f"测试{level}", level, parent, box_polygon(x - 0.01, y - 0.01, x + 0.01, y + 0.01)
                ),
            )
        )
    spread = (
        (QUANGANG, (1, 2, 2, 3, 4)),  # in the township
        ((x + 0.03, y + 0.03), (3, 4)),  # in 泉港区 outside the township
        (HUIAN, (2, 4)),
        (BENGSHAN, (1, 3)),
    )
    for n, (at, levels) in enumerate(spread, start=1):
        enterprise = created(client.post(ENTERPRISES, json=enterprise_feature(n, at=at)))["id"]
        for i, level in enumerate(levels):
            created(
                client.post(
                    RISK_UNITS, json=risk_unit_feature(enterprise, at=at, level=level, name=f"单元{i}")
                )
            )
        created(client.post(TARGETS, json=protection_target_feature(at=at, name=f"学校{n}")))
    created(
        client.post(RISK_UNITS, json=risk_unit_feature(at=HUIAN, level=1, name="燃气管道"))
    )  # public area


@pytest.mark.parametrize("adcode", ADCODES)
def test_level_counts_equal_the_walk_down(engine: Engine, register: None, adcode: str) -> None:
    admin = Principal(Role.admin, username="filed-test")
    with engine.connect() as conn:
        assert filed.unit_level_counts(conn, admin, adcode) == level_counts(conn, admin, adcode)


def test_the_register_is_spread_over_the_tree(engine: Engine, register: None) -> None:
    """The cases above are not all empty: the township holds units below its county, the province all."""
    admin = Principal(Role.admin, username="filed-test")
    with engine.connect() as conn:
        assert filed.filed_codes(conn, "risk_units", "350000") == sorted({TOWNSHIP, "350505", "350521"})
        assert filed.filed_codes(conn, "risk_units", TOWNSHIP) == [TOWNSHIP]
        assert filed.unit_level_counts(conn, admin, "350000") == {"1": 2, "2": 3, "3": 2, "4": 3}
        assert filed.unit_level_counts(conn, admin, "350505") == {"1": 1, "2": 2, "3": 2, "4": 2}
        assert filed.unit_level_counts(conn, admin, "530000") == {"1": 0, "2": 0, "3": 0, "4": 0}


@pytest.mark.parametrize("adcode", ADCODES)
@pytest.mark.parametrize("who", ["admin", "regulator"])
def test_counts_up_to_equal_the_lists(engine: Engine, register: None, adcode: str, who: str) -> None:
    principal = (
        Principal(Role.admin, username="filed-test")
        if who == "admin"
        else Principal(Role.regulator, username="filed-reg", adcodes=("350505",))
    )
    with engine.connect() as conn:
        for res in (repo.ENTERPRISES, repo.RISK_UNITS, repo.PROTECTION_TARGETS):
            total = repo.list_features(conn, principal, res, adcode=adcode, limit=0).total
            for upto in (1, 2, 100):
                assert filed.count_upto(conn, principal, res, adcode, upto) == min(total, upto), (
                    res.name,
                    upto,
                )


def test_unknown_jurisdiction_is_not_found(engine: Engine, register: None) -> None:
    admin = Principal(Role.admin, username="filed-test")
    with engine.connect() as conn, pytest.raises(NotFound):
        filed.unit_level_counts(conn, admin, "359999")
    with engine.connect() as conn, pytest.raises(NotFound):
        filed.count_upto(conn, admin, repo.ENTERPRISES, "359999", 10)
