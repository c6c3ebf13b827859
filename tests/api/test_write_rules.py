"""Write rules of the data-access layer, through the API as the attacker's role (issues #19 and #12):

- a major or large (level 1–2) risk unit comes down only by the close-out (销号): not by an enterprise's
  import, nor by deleting it and posting it again, nor by plain SQL (the trigger of migration 0015);
- an upsert by natural key keeps the scope of the row it would change (a zone of 蚌山区 is not renamed,
  moved or reshaped by a regulator of 泉港区);
- seed 002 三(四)3: at most 10 people in one dust-explosion or ammonia-refrigeration space;
- a row lies in the jurisdiction it is filed under (else it is counted there and missing from its map).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError

from tests.api.builders import (
    BENGSHAN,
    ENTERPRISES,
    HUIAN,
    JURISDICTIONS,
    QUANGANG,
    RISK_UNITS,
    box_polygon,
    created,
    credit_code,
    enterprise_feature,
    guarded,
    if_match,
    jurisdiction_feature,
    ok,
    problem,
    risk_unit_feature,
)

IMPORTS = "/api/v1/imports"
RISK_HEADERS = ["所属企业统一社会信用代码", "风险点名称", "风险等级", "经度", "纬度"]
# A park in 蚌山区 (340303), and a square inside 泉港区 (350505)
BENGSHAN_PARK = box_polygon(117.35, 32.88, 117.36, 32.89)
QUANGANG_SQUARE = "POLYGON ((118.80 25.14, 118.81 25.14, 118.81 25.15, 118.80 25.15, 118.80 25.14))"


def csv_file(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(headers)
    w.writerows(rows)
    return buf.getvalue().encode()


def post_import(client: Any, body: bytes, kind: str, **params: Any) -> Any:
    return client.post(IMPORTS, params={"kind": kind, **params}, files={"file": ("f.csv", body)})


def levels(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return dict(conn.execute(text("SELECT name, level FROM risk_units")).all())  # type: ignore[arg-type]


@pytest.fixture
def api(client: Any) -> Any:
    return guarded(client)


@pytest.fixture
def plant(api: Any) -> dict[str, int]:
    """Enterprise 1 in 泉港区 with a major, a large and a general unit."""
    e = created(api.post(ENTERPRISES, json=enterprise_feature(1)))["id"]
    assert e == 1
    return {
        lv: created(api.post(RISK_UNITS, json=risk_unit_feature(e, level=lv, name=f"单元{lv}")))["id"]
        for lv in (1, 2, 3)
    }


# --- #19.3 close-out bypass --------------------------------------------------------------------------


def test_an_enterprise_import_cannot_lower_a_major_or_large_unit(
    plant: dict[int, int], client_as: Any, engine: Engine
) -> None:
    ent = guarded(client_as("enterprise", enterprise_id=1))
    code = credit_code(1)
    rows = [[code, f"单元{lv}", "低风险", *QUANGANG] for lv in (1, 2, 3)]
    r = post_import(ent, csv_file(RISK_HEADERS, rows), "risk_units")
    assert r.status_code == 422, r.text
    errors = {e["field"]: e for e in r.json()["errors"]}
    assert set(errors) == {"row 2.level", "row 3.level"}  # 单元3 (general) may go down to low
    assert "close-out" in errors["row 2.level"]["reason"]
    assert "销号" in errors["row 2.level"]["reason_zh"]
    assert levels(engine) == {"单元1": 1, "单元2": 2, "单元3": 3}  # nothing written
    # raising, or keeping, a level is the enterprise's to do
    rows = [[code, "单元1", "重大风险", *QUANGANG], [code, "单元3", "较大风险", *QUANGANG]]
    assert post_import(ent, csv_file(RISK_HEADERS, rows), "risk_units").status_code == 201
    assert levels(engine) == {"单元1": 1, "单元2": 2, "单元3": 2}


def test_an_enterprise_cannot_delete_a_major_unit_and_post_it_again_lower(
    api: Any, plant: dict[int, int], client_as: Any, engine: Engine
) -> None:
    ent = guarded(client_as("enterprise", enterprise_id=1))
    for lv in (1, 2):
        r = ent.delete(f"{RISK_UNITS}/{plant[lv]}", headers=if_match(ent, f"{RISK_UNITS}/{plant[lv]}"))
        assert r.status_code == 403, r.text
        assert "close-out" in r.json()["detail"]
    again = ent.post(RISK_UNITS, json=risk_unit_feature(1, level=4, name="单元1"))
    assert again.status_code == 409  # the major unit is still there
    assert levels(engine) == {"单元1": 1, "单元2": 2, "单元3": 3}
    assert (
        ent.delete(f"{RISK_UNITS}/{plant[3]}", headers=if_match(ent, f"{RISK_UNITS}/{plant[3]}")).status_code
        == 204
    )  # a general unit is the enterprise's
    # an admin may delete a major unit (the history keeps who did); a regulator writes no enterprise units
    reg = guarded(client_as("regulator", adcodes=("350505",)))
    assert (
        reg.delete(f"{RISK_UNITS}/{plant[2]}", headers=if_match(reg, f"{RISK_UNITS}/{plant[2]}")).status_code
        == 403
    )  # regulators don't write enterprise units
    assert (
        api.delete(f"{RISK_UNITS}/{plant[1]}", headers=if_match(api, f"{RISK_UNITS}/{plant[1]}")).status_code
        == 204
    )
    with engine.connect() as conn:
        assert conn.execute(
            text("SELECT action, (old_values ->> 'level')::int FROM history WHERE entity_id = :i"),
            {"i": plant[1]},
        ).one() == ("delete", 1)


def test_plain_sql_cannot_lower_a_major_unit_without_the_close_out_setting(
    plant: dict[int, int], engine: Engine
) -> None:
    with pytest.raises(IntegrityError, match="close-out"), engine.begin() as conn:
        conn.execute(text("UPDATE risk_units SET level = 4 WHERE level <= 2"))
    with engine.begin() as conn:
        conn.execute(text("SELECT set_config('riskmap.may_lower', 'off', true)"))  # an enterprise's
        with pytest.raises(IntegrityError):
            conn.execute(text("UPDATE risk_units SET level = 3 WHERE id = :i"), {"i": plant[2]})
        conn.rollback()
    with engine.begin() as conn:  # raising, and edits that keep the level, pass
        conn.execute(text("UPDATE risk_units SET level = 1, hazards = 'x' WHERE id = :i"), {"i": plant[2]})
    assert levels(engine) == {"单元1": 1, "单元2": 1, "单元3": 3}
    with engine.begin() as conn:  # what a regulator's (or admin's) transaction says
        conn.execute(text("SELECT set_config('riskmap.may_lower', 'on', true)"))
        conn.execute(text("UPDATE risk_units SET level = 3 WHERE id = :i"), {"i": plant[2]})
    assert levels(engine)["单元2"] == 3


# --- #19.4 zone hijack -------------------------------------------------------------------------------


def test_a_regulator_cannot_take_over_a_zone_of_another_county_by_its_code(
    api: Any, client_as: Any, engine: Engine
) -> None:
    created(
        api.post(
            JURISDICTIONS, json=jurisdiction_feature("BS01", "蚌山工业园", "park", "340303", BENGSHAN_PARK)
        )
    )
    reg = guarded(client_as("regulator", adcodes=("350505",)))
    headers = ["编码", "名称", "类型", "上级行政区划代码", "几何"]
    hijack = [
        ["BS01", "泉港新园", "park", "350505", QUANGANG_SQUARE],
        ["QG01", "泉港园", "park", "350505", QUANGANG_SQUARE],
    ]
    r = post_import(reg, csv_file(headers, hijack), "zones")
    assert r.status_code == 422, r.text
    (error,) = r.json()["errors"]
    assert error["field"] == "row 2.adcode"
    assert error["reason"] == "outside the jurisdictions you may edit"  # as any out-of-scope write
    assert error["reason_zh"]
    with engine.connect() as conn:
        stored = conn.execute(
            text(
                "SELECT name, parent_adcode, ST_XMin(geom) < 118 FROM jurisdictions WHERE adcode IN ('BS01', 'QG01')"
            )
        ).all()
    assert stored == [("蚌山工业园", "340303", True)]  # unchanged, and nothing else written
    assert post_import(reg, csv_file(headers, hijack[1:]), "zones").status_code == 201  # its own zone
    # the regulator of the park's county may change it
    bengshan = guarded(client_as("regulator", adcodes=("340303",)))
    square = "POLYGON ((117.35 32.88, 117.355 32.88, 117.355 32.885, 117.35 32.885, 117.35 32.88))"
    assert (
        post_import(
            bengshan, csv_file(headers, [["BS01", "蚌山园", "park", "340303", square]]), "zones"
        ).status_code
        == 201
    )


def test_a_regulator_import_never_changes_public_risks_of_another_county(
    api: Any, client_as: Any, engine: Engine
) -> None:
    created(api.post(RISK_UNITS, json=risk_unit_feature(None, name="燃气管线", level=1, at=BENGSHAN)))
    reg = guarded(client_as("regulator", adcodes=("350505",)))
    headers = ["风险点名称", "行业领域", "风险等级", "经度", "纬度"]
    # the same natural key, declared in 蚌山区: refused as out of scope
    r = post_import(
        reg,
        csv_file(headers, [["燃气管线", "城镇燃气", 4, *BENGSHAN]]),
        "public_risks",
        jurisdiction="340303",
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "row 2.geometry"
    # placed in 泉港区 it is another row of 泉港区
    assert (
        post_import(reg, csv_file(headers, [["燃气管线", "城镇燃气", 4, *QUANGANG]]), "public_risks").json()[
            "inserted"
        ]
        == 1
    )
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT jurisdiction_adcode, level FROM risk_units ORDER BY id")).all()
    assert rows == [("340303", 1), ("350505", 4)]


# --- #12.4 seed 002 三(四)3 ---------------------------------------------------------------------------


def test_at_most_ten_people_in_one_dust_or_ammonia_space(api: Any, engine: Engine) -> None:
    dust = created(api.post(ENTERPRISES, json=enterprise_feature(5, sector="粉尘涉爆")))["id"]
    err = problem(
        api.post(RISK_UNITS, json=risk_unit_feature(dust, name="抛光车间", max_occupancy=12)),
        "properties.max_occupancy",
    )
    assert "12 people" in err["reason"]
    assert "10" in err["reason_zh"]
    unit = created(api.post(RISK_UNITS, json=risk_unit_feature(dust, name="抛光车间", max_occupancy=10)))
    problem(
        api.patch(
            f"{RISK_UNITS}/{unit['id']}",
            json={"properties": {"max_occupancy": 11}},
            headers=if_match(api, f"{RISK_UNITS}/{unit['id']}"),
        ),
        "max_occupancy",
    )
    # other sectors have no such limit; public-area ammonia rooms have it too
    chem = created(api.post(ENTERPRISES, json=enterprise_feature(6)))["id"]
    created(api.post(RISK_UNITS, json=risk_unit_feature(chem, name="装置区", max_occupancy=40)))
    problem(
        api.post(RISK_UNITS, json=risk_unit_feature(None, sector="涉氨制冷", max_occupancy=11)),
        "max_occupancy",
    )
    # an import row breaking it is named by row and field; nothing is written
    headers = [*RISK_HEADERS, "最大作业人数"]
    rows = [[credit_code(5), "打磨间", 3, *QUANGANG, 10], [credit_code(5), "除尘间", 3, *QUANGANG, 25]]
    r = post_import(api, csv_file(headers, rows), "risk_units")
    assert r.status_code == 422
    assert [e["field"] for e in r.json()["errors"]] == ["row 3.max_occupancy"]
    assert "25 people" in r.json()["errors"][0]["reason"]
    public = [["冷库", "涉氨制冷", 2, *QUANGANG, 11]]
    r = post_import(
        api,
        csv_file(["风险点名称", "行业领域", "风险等级", "经度", "纬度", "最大作业人数"], public),
        "public_risks",
    )
    assert [e["field"] for e in r.json()["errors"]] == ["row 2.max_occupancy"]
    assert set(levels(engine)) == {"抛光车间", "装置区"}


# --- #12.5 places inside their jurisdiction ----------------------------------------------------------

BEIJING = (116.40, 39.90)  # no boundary of Beijing is stored


def test_a_unit_outside_its_jurisdiction_is_refused(api: Any, client_as: Any, engine: Engine) -> None:
    e = created(api.post(ENTERPRISES, json=enterprise_feature(1)))["id"]  # 泉港区
    err = problem(api.post(RISK_UNITS, json=risk_unit_feature(e, at=BEIJING)), "geometry")
    assert "350505" in err["reason"]
    assert "泉港区" in err["reason_zh"]
    # an enterprise's own POST too, and a move by PATCH
    ent = guarded(client_as("enterprise", enterprise_id=e))
    problem(ent.post(RISK_UNITS, json=risk_unit_feature(e, at=HUIAN)), "geometry")
    unit = created(ent.post(RISK_UNITS, json=risk_unit_feature(e)))
    problem(
        ent.patch(
            f"{RISK_UNITS}/{unit['id']}",
            headers=if_match(ent, f"{RISK_UNITS}/{unit['id']}"),
            json={"geometry": {"type": "Point", "coordinates": list(BEIJING)}},
        ),
        "geometry",
    )
    # declared where it lies, it is filed there
    moved = ok(
        ent.patch(
            f"{RISK_UNITS}/{unit['id']}",
            headers=if_match(ent, f"{RISK_UNITS}/{unit['id']}"),
            json={
                "geometry": {"type": "Point", "coordinates": list(HUIAN)},
                "properties": {"jurisdiction": "350521"},
            },
        )
    )
    assert moved["properties"]["jurisdiction_adcode"] == "350521"
    # a place no stored boundary covers is filed nowhere: refused, not stored out of every map
    err = problem(api.post(RISK_UNITS, json=risk_unit_feature(None, at=BEIJING)), "geometry")
    assert "every stored jurisdiction" in err["reason"]
    problem(api.post(ENTERPRISES, json=enterprise_feature(2, at=BEIJING)), "geometry")


def test_an_imported_unit_outside_its_enterprise_jurisdiction_is_named(api: Any, engine: Engine) -> None:
    created(api.post(ENTERPRISES, json=enterprise_feature(1)))
    code = credit_code(1)
    rows = [[code, "罐区", 2, *QUANGANG], [code, "北京办事处", 4, *BEIJING], [code, "蚌埠仓库", 4, *BENGSHAN]]
    r = post_import(api, csv_file(RISK_HEADERS, rows), "risk_units")
    assert r.status_code == 422
    errors = r.json()["errors"]
    assert [e["field"] for e in errors] == ["row 3.geometry", "row 4.geometry"]
    assert all("350505" in e["reason"] and "泉港区" in e["reason_zh"] for e in errors)
    assert levels(engine) == {}
    # named where it lies (蚌山区), the row is filed there; Beijing has no boundary at all
    with_place = [[*row, j] for row, j in zip(rows, ["", "", "340303"], strict=True)]
    r = post_import(api, csv_file([*RISK_HEADERS, "所属行政区划代码"], with_place), "risk_units")
    assert [e["field"] for e in r.json()["errors"]] == ["row 3.geometry"]
    r = post_import(
        api, csv_file([*RISK_HEADERS, "所属行政区划代码"], [with_place[0], with_place[2]]), "risk_units"
    )
    assert r.status_code == 201, r.text
    with engine.connect() as conn:
        assert dict(conn.execute(text("SELECT name, jurisdiction_adcode FROM risk_units")).all()) == {
            "罐区": "350505",
            "蚌埠仓库": "340303",
        }
    headers = ["风险点名称", "行业领域", "风险等级", "经度", "纬度"]
    r = post_import(api, csv_file(headers, [["天安门广场", "消防", 2, *BEIJING]]), "public_risks")
    assert [e["field"] for e in r.json()["errors"]] == ["row 2.geometry"]
    assert "every stored jurisdiction" in r.json()["errors"][0]["reason"]
