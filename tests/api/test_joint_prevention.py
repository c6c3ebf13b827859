"""The joint-prevention endpoints on a hand-made register in 泉港区 built through the API: clusters, cross-
inspection, the 双随机 plan (JSON, CSV, Excel), neighbour notices, key targets, the map, and bad input."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from pyproj import Geod
from shapely.geometry import Point, shape
from sqlalchemy import Engine

from geo.closeout import calendar
from tests.api.builders import (
    ENTERPRISES,
    QUANGANG,
    RISK_UNITS,
    TARGETS,
    created,
    enterprise_feature,
    ok,
    problem,
    protection_target_feature,
    risk_unit_feature,
    shared_client,
)

BASE = "/api/v1/analysis"
CLUSTERS = f"{BASE}/joint-prevention"
CROSS = f"{BASE}/cross-inspection"
PLAN = f"{BASE}/inspection-plan"
NOTICES = f"{BASE}/neighbour-notices"
KEY = f"{BASE}/key-targets"
MAP = "/maps/joint-prevention"
GEOD = Geod(ellps="GRS80")


def offset(origin: tuple[float, float], azimuth: float, metres: float) -> tuple[float, float]:
    lon, lat, _ = GEOD.fwd(origin[0], origin[1], azimuth, metres)
    return float(lon), float(lat)


@pytest.fixture(scope="module")
def layout(database_url: str, engine: Engine, boundaries: None) -> Iterator[dict[str, Any]]:
    """A chain of three chemical plants (A–B–C, 450 m steps, levels 1/2/3), a filling station and an LPG
    shop 300 m apart (levels 3/4), a scenic spot 450 m from C with no units, and a school 300 m from A."""
    with shared_client(database_url, engine) as c:
        ids: dict[str, int] = {}

        def enterprise(key: str, n: int, at: tuple[float, float], level: int | None, **props: Any) -> None:
            ids[key] = created(
                c.post(ENTERPRISES, json=enterprise_feature(n, at=at, name=f"{key}厂", **props))
            )["id"]
            if level is not None:
                created(
                    c.post(
                        RISK_UNITS, json=risk_unit_feature(ids[key], at=at, name=f"{key}罐区", level=level)
                    )
                )

        a = QUANGANG
        enterprise("A", 1, a, 1, business_type="危化品生产")
        enterprise("B", 2, offset(a, 90, 450), 2, business_type="危化品储存")
        enterprise("C", 3, offset(a, 90, 900), 3, business_type="危化品生产")
        d = offset(a, 0, 2500)
        enterprise("D", 4, d, 3, business_type="加油站")
        enterprise("E", 5, offset(d, 60, 300), 4, sector="城镇燃气", business_type="瓶装液化气供应站")
        enterprise(
            "F", 6, offset(offset(a, 90, 900), 0, 450), None, sector="旅游景区", business_type="景区经营"
        )
        ids["school"] = created(c.post(TARGETS, json=protection_target_feature(at=offset(a, 180, 300))))["id"]
        yield {"client": c, **ids}


def _members(feature: dict[str, Any]) -> set[int]:
    return {m["id"] for m in feature["properties"]["members"]}


# --- clusters ------------------------------------------------------------------------------------------------


def test_clusters_are_geojson_with_levels_hulls_and_members(layout: dict[str, Any]) -> None:
    c = layout["client"]
    response = c.get(CLUSTERS, params={"adcode": "350505"})
    body = ok(response)
    assert response.headers["content-type"].startswith("application/geo+json")
    assert body["metric_crs"] == "EPSG:4549"
    assert body["method"] == "cliques"  # 加油站 ~ 瓶装液化气供应站 makes the similarity non-transitive
    assert body["similarity"]["transitive"] is False
    assert body["numberReturned"] == 2
    chain, fuel = body["features"]
    assert _members(chain) == {layout["A"], layout["B"], layout["C"]}
    assert _members(fuel) == {layout["D"], layout["E"]}
    props = chain["properties"]
    assert props["id"] == 1
    assert props["level"] == 1
    assert props["level_name"] == "重大风险"
    assert props["color"] == "#FF0000"
    assert props["counts"] == {"1": 1, "2": 1, "3": 1, "4": 0, "none": 0}
    assert props["member_count"] == 3
    assert props["cross_region"] is False
    assert props["jurisdictions"] == [{"adcode": "350505", "name": "泉港区"}]
    assert [s["code"] for s in fuel["properties"]["sectors"]] == ["hazardous_chemicals", "urban_gas"]
    assert fuel["properties"]["level"] == 3
    hull = shape(chain["geometry"])
    assert hull.geom_type == "Polygon"
    assert hull.covers(Point(QUANGANG))
    assert body["enterprises_in_clusters"] == 5
    assert body["level_counts"] == {"1": 1, "2": 0, "3": 1, "4": 0, "none": 0}


def test_trades_sector_and_distance_change_the_links(layout: dict[str, Any]) -> None:
    c = layout["client"]
    same_sector = ok(c.get(CLUSTERS, params={"adcode": "350505", "trades": "sector"}))
    assert [_members(f) for f in same_sector["features"]] == [{layout["A"], layout["B"], layout["C"]}]
    assert same_sector["method"] == "dbscan"
    short = ok(c.get(CLUSTERS, params={"adcode": "350505", "distance_m": 400}))
    assert [_members(f) for f in short["features"]] == [{layout["D"], layout["E"]}]
    gas = ok(c.get(CLUSTERS, params={"adcode": "350505", "sector": "城镇燃气"}))
    assert [_members(f) for f in gas["features"]] == [{layout["D"], layout["E"]}]
    pairs = ok(c.get(CLUSTERS, params={"adcode": "350505", "method": "pairs"}))
    assert [_members(f) for f in pairs["features"]] == [
        _members(f) for f in ok(c.get(CLUSTERS, params={"adcode": "350505"}))["features"]
    ]


# --- cross-inspection -------------------------------------------------------------------------------------------


def test_cross_inspection_meets_its_constraints_and_one_seed_gives_one_plan(layout: dict[str, Any]) -> None:
    c = layout["client"]
    body = ok(c.get(CROSS, params={"adcode": "350505", "seed": 11}))
    assert all(body["constraints"].values()), body["constraints"]
    chain = body["clusters"][0]
    checks = [(x["inspector"]["id"], x["inspected"]["id"]) for x in chain["checks"]]
    members = [layout["A"], layout["B"], layout["C"]]
    assert sorted(a for a, _ in checks) == sorted(members)
    assert sorted(b for _, b in checks) == sorted(members)
    assert not any((b, a) in checks for a, b in checks)
    team = chain["team"]
    assert team["jurisdiction_adcode"] != "350505"
    assert team["jurisdiction_adcode"].startswith("3505")
    assert team["synthetic"] is True
    assert body["roster"]["synthetic"] is True
    assert "350527" not in body["roster"]["jurisdictions"]  # 金门县 gets no synthetic roster
    assert ok(c.get(CROSS, params={"adcode": "350505", "seed": 11})) == body
    plans = {str(ok(c.get(CROSS, params={"adcode": "350505", "seed": s}))["clusters"]) for s in range(6)}
    assert len(plans) > 1


# --- the inspection plan --------------------------------------------------------------------------------------


def test_a_years_plan_follows_the_levels(layout: dict[str, Any]) -> None:
    c = layout["client"]
    body = ok(c.get(PLAN, params={"adcode": "350505", "period": "2026", "seed": 3}))
    per = Counter(x["enterprise_id"] for x in body["random_checks"]["items"])
    expected = {"A": 12, "B": 6, "C": 4, "D": 4, "E": 1, "F": 1}  # F has no unit: checked as low risk
    assert {k: per[layout[k]] for k in expected} == expected
    assert body["unassessed_enterprises"] == 1
    for item in body["random_checks"]["items"]:
        people = item["inspectors"]
        assert len(people) == 2
        assert all(p["jurisdiction_adcode"] == "350505" for p in people)  # the home department inspects
        assert calendar().is_working_day(dt.date.fromisoformat(item["date"]))  # never a weekend or holiday
    assert body["roster"]["synthetic"] is True
    selfs = {s["enterprise_id"]: s for s in body["self_inspection"]["items"]}
    assert selfs[layout["A"]]["count"] == 365
    assert selfs[layout["E"]]["count"] == 12
    assert "dates" not in selfs[layout["A"]]
    assert ok(c.get(PLAN, params={"adcode": "350505", "period": "2026", "seed": 3})) == body


def test_a_months_plan_lists_dates_and_matches_the_year(layout: dict[str, Any]) -> None:
    c = layout["client"]
    month = ok(c.get(PLAN, params={"adcode": "350505", "period": "2026-12", "seed": 3}))
    year = ok(c.get(PLAN, params={"adcode": "350505", "period": "2026", "seed": 3}))
    in_december = sorted(
        (x["date"], x["enterprise_id"])
        for x in year["random_checks"]["items"]
        if x["date"].startswith("2026-12")
    )
    assert sorted((x["date"], x["enterprise_id"]) for x in month["random_checks"]["items"]) == in_december
    assert layout["A"] in {x["enterprise_id"] for x in month["random_checks"]["items"]}  # 重大: every month
    selfs = {s["enterprise_id"]: s for s in month["self_inspection"]["items"]}
    assert len(selfs[layout["A"]]["dates"]) == 31
    assert selfs[layout["C"]]["dates"] == ["2026-12-01", "2026-12-16"]


def test_the_plan_exports_as_csv_and_excel(layout: dict[str, Any]) -> None:
    c = layout["client"]
    params = {"adcode": "350505", "period": "2026", "seed": 3}
    checks = ok(c.get(PLAN, params=params))["random_checks"]["count"]
    response = c.get(PLAN, params={**params, "format": "csv"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    assert response.content.startswith(b"\xef\xbb\xbf")  # a BOM, for Excel
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][0] == "检查日期 date"
    assert len(rows) == checks + 1
    assert {r[3] for r in rows[1:]} == {"A厂", "B厂", "C厂", "D厂", "E厂", "F厂"}
    assert all(r[10] == r[12] == "泉港区" for r in rows[1:])  # inspected by the home department
    selfs = list(
        csv.reader(io.StringIO(c.get(PLAN, params={**params, "format": "csv", "part": "self"}).text))
    )
    assert len(selfs) == 7

    from openpyxl import load_workbook

    response = c.get(PLAN, params={**params, "format": "xlsx"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/vnd.openxmlformats")
    book = load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == ["双随机抽查计划", "企业自查频次", "说明"]
    assert book["双随机抽查计划"].max_row == checks + 1
    assert book["企业自查频次"].max_row == 7
    notes = [row[0] for row in book["说明"].iter_rows(values_only=True)]
    assert "随机种子 seed" in notes


def test_the_json_plan_is_paged_and_the_downloads_hold_it_all(layout: dict[str, Any]) -> None:
    c = layout["client"]
    params = {"adcode": "350505", "period": "2026", "seed": 3}
    whole = ok(c.get(PLAN, params={**params, "limit": 5000}))
    assert whole["next"] is None
    assert whole["random_checks"]["numberReturned"] == whole["random_checks"]["numberMatched"] == 28
    assert whole["self_inspection"]["numberMatched"] == 6
    checks: list[dict[str, Any]] = []
    selfs: list[dict[str, Any]] = []
    url: str | None = str(c.get(PLAN, params={**params, "limit": 5}).url)
    pages = 0
    while url:
        page = ok(c.get(url))
        pages += 1
        assert (page["limit"], page["offset"]) == (5, 5 * (pages - 1))
        # totals are the whole plan's on every page
        assert page["random_checks"]["count"] == 28
        assert page["random_checks"]["by_level"] == whole["random_checks"]["by_level"]
        assert page["self_inspection"]["count"] == whole["self_inspection"]["count"]
        assert page["random_checks"]["numberReturned"] == len(page["random_checks"]["items"]) <= 5
        checks += page["random_checks"]["items"]
        selfs += page["self_inspection"]["items"]
        rels = {x["rel"] for x in page["links"]}
        assert ("prev" in rels) == (pages > 1)
        assert ("next" in rels) == (page["next"] is not None)
        url = page["next"]
    assert pages == 6  # 28 checks by 5
    assert checks == whole["random_checks"]["items"]
    assert selfs == whole["self_inspection"]["items"]
    assert [x["date"] for x in checks] == sorted(x["date"] for x in checks)
    # the alternates are the whole plan, whatever the page
    alternates = {x["type"]: x["href"] for x in whole["links"] if x["rel"] == "alternate"}
    xlsx = alternates["application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"]
    assert "format=xlsx" in xlsx
    assert "limit" not in xlsx
    response = c.get(xlsx)
    assert response.status_code == 200
    from openpyxl import load_workbook

    assert load_workbook(io.BytesIO(response.content))["双随机抽查计划"].max_row == 28 + 1
    # the CSV stream is gzipped when the client takes it (the middleware leaves streams alone), else not
    zipped = c.get(PLAN, params={**params, "format": "csv"}, headers={"Accept-Encoding": "gzip"})
    plain = c.get(PLAN, params={**params, "format": "csv"}, headers={"Accept-Encoding": "identity"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.headers["vary"] == "Accept-Encoding"
    assert "content-encoding" not in plain.headers
    assert zipped.content == plain.content  # decoded by the client
    rows = list(csv.reader(io.StringIO(plain.content.decode("utf-8-sig"))))
    assert len(rows) == 28 + 1


@pytest.mark.parametrize(("name", "value"), [("limit", 0), ("limit", 5001), ("offset", -1)])
def test_a_plan_page_out_of_bounds_is_refused(layout: dict[str, Any], name: str, value: int) -> None:
    response = layout["client"].get(PLAN, params={"adcode": "350505", "period": "2026", name: value})
    problem(response, name)


# --- neighbour notices ----------------------------------------------------------------------------------------


def test_neighbour_notices_for_level_1_and_2_units(layout: dict[str, Any]) -> None:
    c = layout["client"]
    body = ok(c.get(NOTICES, params={"adcode": "350505", "distance_m": 500}))
    assert body["numberMatched"] == 2
    first, second = body["notices"]
    assert first["risk_unit"]["enterprise_id"] == layout["A"]
    assert first["risk_unit"]["level"] == 1
    assert [e["id"] for e in first["enterprises"]] == [layout["B"]]
    assert first["enterprises"][0]["distance_m"] == pytest.approx(450, abs=1)
    assert [t["id"] for t in first["protection_targets"]] == [layout["school"]]
    assert first["protection_targets"][0]["distance_m"] == pytest.approx(300, abs=1)
    assert first["recipients"] == 2
    assert second["risk_unit"]["enterprise_id"] == layout["B"]
    assert {e["id"] for e in second["enterprises"]} == {layout["A"], layout["C"]}
    assert second["protection_targets"] == []  # 541 m away
    only_major = ok(c.get(NOTICES, params={"adcode": "350505", "max_level": 1}))
    assert only_major["numberMatched"] == 1


# --- key targets --------------------------------------------------------------------------------------------


def test_key_targets_rank_enterprises_and_zones(layout: dict[str, Any]) -> None:
    c = layout["client"]
    county = ok(c.get(KEY, params={"adcode": "350505"}))
    assert county["top"] == {"zones": 3, "enterprises": 5}
    keys = [e["id"] for e in county["key_enterprises"]]
    assert keys[:2] == [layout["A"], layout["B"]]
    assert len(keys) == 5
    assert layout["F"] not in keys  # score 0
    assert county["key_enterprises"][0]["score"] == 100
    assert "Σ" in county["score"]
    city = ok(c.get(KEY, params={"adcode": "350500"}))
    assert city["zone_kind"] == "county"
    assert city["top"]["enterprises"] == 10
    assert [z["adcode"] for z in city["key_zones"]] == ["350505"]
    assert city["key_zones"][0]["score"] == 100 + 30 + 10 + 10 + 1


# --- the map ------------------------------------------------------------------------------------------------


def test_map_is_served_with_local_assets(layout: dict[str, Any]) -> None:
    response = layout["client"].get(MAP, params={"adcode": "350505", "seed": 2})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    # folium writes non-ASCII text in its JSON as \\uXXXX escapes: read it as a person would.
    page = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), response.text)
    assert "rm-jp-legend" in page
    assert "/static/vendor/leaflet/dist/leaflet.js" in page
    assert "cdn.jsdelivr.net" not in page
    assert "泉港区联防联控组团与交叉互查图" in page


# --- bad input ----------------------------------------------------------------------------------------------

CLUSTER_PATHS = [CLUSTERS, CROSS, MAP]


@pytest.mark.parametrize("path", [*CLUSTER_PATHS, NOTICES])
@pytest.mark.parametrize("distance", ["0", "-5", "10001", "1e9", "abc", "nan"])
def test_bad_distances_are_422_naming_the_field(layout: dict[str, Any], path: str, distance: str) -> None:
    found = problem(
        layout["client"].get(path, params={"adcode": "350505", "distance_m": distance}), "distance_m"
    )
    assert found["reason"]


@pytest.mark.parametrize("period", ["2026-13", "2026-00", "26-12", "2026/12", "2026-1", "december", "1999"])
def test_malformed_periods_are_422_naming_the_field(layout: dict[str, Any], period: str) -> None:
    found = problem(layout["client"].get(PLAN, params={"adcode": "350505", "period": period}), "period")
    assert "YYYY-MM" in found["reason"]
    assert found["reason_zh"]


@pytest.mark.parametrize(
    ("path", "extra"),
    [(CLUSTERS, {}), (CROSS, {}), (PLAN, {"period": "2026-12"}), (NOTICES, {}), (KEY, {}), (MAP, {})],
)
def test_unknown_adcode_is_404_naming_the_field(
    layout: dict[str, Any], path: str, extra: dict[str, str]
) -> None:
    response = layout["client"].get(path, params={"adcode": "999999", **extra})
    found = problem(response, "adcode", status=404)
    assert "999999" in found["reason"]
    assert "999999" in response.json()["detail"]


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        (CLUSTERS, {"sector": "不存在的行业"}, "sector"),
        (CLUSTERS, {"trades": "any"}, "trades"),
        (CLUSTERS, {"method": "kmeans"}, "method"),
        (CROSS, {"seed": "-1"}, "seed"),
        (PLAN, {"period": "2026-12", "format": "pdf"}, "format"),
        (PLAN, {"period": "2026-12", "part": "both"}, "part"),
        (PLAN, {}, "period"),
        (NOTICES, {"max_level": "3"}, "max_level"),
        (KEY, {"enterprises_top": "0"}, "enterprises_top"),
    ],
)
def test_other_bad_parameters_are_422_naming_the_field(
    layout: dict[str, Any], path: str, params: dict[str, str], field: str
) -> None:
    problem(layout["client"].get(path, params={"adcode": "350505", **params}), field)


def test_several_problems_are_reported_at_once(layout: dict[str, Any]) -> None:
    response = layout["client"].get(CLUSTERS, params={"adcode": "350505", "distance_m": "0", "method": "x"})
    fields = {e["field"] for e in response.json()["errors"]}
    assert fields == {"distance_m", "method"}
