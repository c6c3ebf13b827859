"""The demo loads real boundaries and a synthetic register, and the API's adcode filter follows them."""

from __future__ import annotations

import shapely
from shapely.geometry import shape
from sqlalchemy import Engine, text

from geo.store.demo import load_demo


def test_demo_register_lands_inside_real_boundaries(engine: Engine, client) -> None:
    counts = load_demo(engine, seed=7, scale=0.05, echo=lambda _: None)
    assert counts["enterprises"] > 0
    assert counts["risk units"] > counts["enterprises"]

    with engine.connect() as conn:
        synthetic = conn.execute(text("SELECT bool_and(synthetic), count(*) FROM enterprises")).one()
        levels = conn.execute(
            text("SELECT array_agg(DISTINCT level ORDER BY level) FROM risk_units")
        ).scalar()
        inside = conn.execute(
            text(
                "SELECT count(*) FROM enterprises e JOIN jurisdictions j ON j.adcode = '350505' "
                "WHERE ST_Covers(j.geom, e.geom)"
            )
        ).scalar()
    assert synthetic == (True, counts["enterprises"])
    assert levels == [1, 2, 3, 4]

    boundary = shape(client.get("/api/v1/jurisdictions/350505").json()["geometry"])
    page = client.get("/api/v1/enterprises", params={"adcode": "350505", "limit": 5000}).json()
    points = [shape(f["geometry"]) for f in page["features"]]
    assert page["numberMatched"] == inside > 0
    assert all(boundary.covers(p) for p in points)
    assert all(f["properties"]["synthetic"] for f in page["features"])

    # The city's subtree holds 泉港 and its neighbours, and nothing from 蚌山区 (Anhui).
    city = client.get("/api/v1/enterprises", params={"adcode": "350500", "limit": 1}).json()
    assert city["numberMatched"] > inside
    anhui = shape(client.get("/api/v1/jurisdictions/340303").json()["geometry"])
    all_city = client.get("/api/v1/enterprises", params={"adcode": "350500", "limit": 5000}).json()
    assert not shapely.intersects(
        anhui, shapely.multipoints([shape(f["geometry"]) for f in all_city["features"]])
    )

    # Every row lies in the jurisdiction it is filed under, and dust and ammonia rooms hold at most 10
    # people (seed 002 三(四)3): the write rules the API and imports keep (docs/security.md).
    with engine.connect() as conn:
        for table in ("enterprises", "risk_units", "protection_targets"):
            misplaced = conn.execute(
                text(
                    f"SELECT count(*) FROM {table} t LEFT JOIN jurisdictions j ON j.adcode = t.jurisdiction_adcode "
                    "WHERE j.geom IS NULL OR NOT ST_Covers(j.geom, ST_PointOnSurface(t.geom))"
                )
            ).scalar()
            assert misplaced == 0, table
        crowded = conn.execute(
            text(
                "SELECT count(*) FROM risk_units r LEFT JOIN enterprises e ON e.id = r.enterprise_id "
                "WHERE coalesce(e.sector, r.sector) IN ('dust_explosion', 'ammonia_refrigeration') "
                "AND r.max_occupancy > 10"
            )
        ).scalar()
        assert crowded == 0

    # Hidden hazards in every state, on synthetic units, with every step recorded.
    with engine.connect() as conn:
        states = conn.execute(
            text("SELECT array_agg(DISTINCT status ORDER BY status), bool_and(synthetic) FROM hazards")
        ).one()
        steps = conn.execute(
            text(
                "SELECT count(*) FROM hazards h WHERE (SELECT count(*) FROM hazard_events e "
                "WHERE e.hazard_id = h.id) < CASE h.status WHEN 'reported' THEN 1 WHEN 'closed' THEN 6 ELSE 2 END"
            )
        ).scalar()
    assert states == (sorted(["reported", "assigned", "rectifying", "rectified", "accepted", "closed"]), True)
    assert counts["hidden hazards"] > 0
    assert steps == 0

    # Loading again replaces the synthetic rows instead of adding to them.
    again = load_demo(engine, seed=7, scale=0.05, echo=lambda _: None)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM enterprises")).scalar() == again["enterprises"]
        assert conn.execute(text("SELECT count(*) FROM hazards")).scalar() == again["hidden hazards"]
