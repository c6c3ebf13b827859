"""Scopes are kept by the data-access layer itself, whatever route (or script) calls it; every write names
its actor for the history triggers."""

from __future__ import annotations

from typing import Any

import pytest
from shapely.geometry import Point
from sqlalchemy import Engine, text

from geo.access import ANONYMOUS, SYSTEM, Forbidden, Principal, Role, Unauthenticated
from geo.errors import NotFound
from geo.register import clean_risk_unit
from geo.store import repository as repo
from geo.store import safety_distance as sd_store
from geo.store.summary import enterprise_levels, summary
from geo.store.zones import zone_source
from tests.api.builders import HUIAN, QUANGANG

REGULATOR = Principal(Role.regulator, "reg", user_id=1, adcodes=("350505",))


def _enterprise(conn: Any, n: int, at: tuple[float, float]) -> int:
    adcode = repo.covering_admin_unit(conn, Point(at))
    values = {
        "credit_code": f"91350505MA{n:07d}X",
        "name": f"企业{n}",
        "sector": "hazardous_chemicals",
        "geometry": Point(at),
        "jurisdiction_adcode": adcode,
    }
    return int(repo.create_feature(conn, SYSTEM, repo.ENTERPRISES, values)["id"])


@pytest.fixture
def two(engine: Engine, boundaries: None, clean: None) -> dict[str, int]:
    with engine.begin() as conn:
        return {"own": _enterprise(conn, 1, QUANGANG), "other": _enterprise(conn, 2, HUIAN)}


def test_reads_are_filtered_for_a_regulator_and_an_enterprise(engine: Engine, two: dict[str, int]) -> None:
    mine = Principal(Role.enterprise, "ent", user_id=2, enterprise_id=two["other"])
    with engine.connect() as conn:
        page = repo.list_features(conn, REGULATOR, repo.ENTERPRISES)
        assert [r["id"] for r in page.rows] == [two["own"]]
        assert page.total == 1
        assert [r["id"] for r in repo.list_features(conn, mine, repo.ENTERPRISES).rows] == [two["other"]]
        with pytest.raises(NotFound):
            repo.get_feature(conn, REGULATOR, repo.ENTERPRISES, two["other"])
        with pytest.raises(NotFound):
            repo.get_feature(conn, mine, repo.ENTERPRISES, two["own"])
        with pytest.raises(Unauthenticated):
            repo.list_features(conn, ANONYMOUS, repo.ENTERPRISES)
        with pytest.raises(Forbidden):
            repo.list_features(conn, mine, repo.PROTECTION_TARGETS)
        assert (
            repo.list_features(conn, ANONYMOUS, repo.JURISDICTIONS, limit=1).total > 0
        )  # boundaries are public


def test_analyses_check_the_area(engine: Engine, two: dict[str, int]) -> None:
    with engine.connect() as conn:
        assert len(enterprise_levels(conn, REGULATOR, "350505")) == 1
        with pytest.raises(Forbidden):
            enterprise_levels(conn, REGULATOR, "350521")
        with pytest.raises(Forbidden):
            sd_store.violations_sql(conn, REGULATOR, "350500")  # the city is above its county
        with pytest.raises(Unauthenticated):
            sd_store.hazards_in(conn, ANONYMOUS, "350505")
        assert summary(conn, ANONYMOUS, "350505")["enterprises"] == 1  # counts are public
        with pytest.raises(Unauthenticated):
            zone_source(conn, ANONYMOUS, "350505", "grid", cell_m=200)  # too fine to be public
        zone_source(conn, REGULATOR, "350505", "grid", cell_m=200)


def test_writes_name_the_actor_and_keep_the_scope(engine: Engine, two: dict[str, int]) -> None:
    with engine.begin() as conn:
        values = {
            **clean_risk_unit({"name": "燃气管道", "sector": "城镇燃气", "level": 2}, owner_sector=None),
            "geometry": Point(QUANGANG),
            "jurisdiction_adcode": "350505",
        }
        row = repo.create_feature(conn, REGULATOR, repo.RISK_UNITS, values)
        assert conn.execute(text("SELECT current_setting('riskmap.actor', true)")).scalar() == "reg"
        with pytest.raises(Forbidden):  # moving it out of its county
            repo.update_feature(
                conn, REGULATOR, repo.RISK_UNITS, row["id"], {"jurisdiction_adcode": "350521"}
            )
        with pytest.raises(Forbidden):  # an enterprise's unit is the enterprise's to write
            repo.create_feature(
                conn,
                REGULATOR,
                repo.RISK_UNITS,
                {**values, "kind": "enterprise", "enterprise_id": two["own"]},
            )
    with engine.connect() as conn:  # the setting lasts one transaction only
        assert not conn.execute(text("SELECT current_setting('riskmap.actor', true)")).scalar()
