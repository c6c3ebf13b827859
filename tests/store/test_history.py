"""The register's history in PostGIS: triggers record every path with its author, the scope of who may
read it, and the monthly level trend rebuilt from it."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import shapely
from sqlalchemy import Connection, Engine, text

from geo.access import Principal, Role, Unauthenticated
from geo.errors import InvalidInput, NotFound
from geo.store import repository as repo
from geo.store.bulk import copy_rows
from geo.store.history import entity_history, level_trend, set_actor
from tests.api.builders import move_creation

ALICE = Principal(Role.enterprise, username="alice", enterprise_id=1)
BOB = Principal(Role.regulator, username="bob", adcodes=("350500",))  # 泉州市: holds 泉港区 350505
ADMIN = Principal(Role.admin, username="root")
PUBLIC = Principal(Role.public)
BENGBU_REGULATOR = Principal(Role.regulator, username="carol", adcodes=("340303",))
QUANGANG = shapely.Point(118.88, 25.11)
BENGSHAN = shapely.Point(117.355, 32.886)

# Columns the database derives from the geometry (area, the place on the tile grid): never in the history.
GENERATED = ["area_m2", "tile_x", "tile_y", "tile_span", "tile_m"]


@pytest.fixture
def db(engine: Engine, boundaries: None, clean: None) -> Engine:
    return engine


def _enterprise(conn: Connection, w: Principal, n: int = 1, adcode: str = "350505") -> int:
    row = repo.create_feature(
        conn,
        w,
        repo.ENTERPRISES,
        {
            "credit_code": f"91350505{n:09d}X"[:18],
            "name": f"泉港石化{n}号",
            "sector": "hazardous_chemicals",
            "geometry": QUANGANG,
            "contact_person": "林志强",
            "jurisdiction_adcode": adcode,
        },
    )
    return int(row["id"])


def _unit(
    conn: Connection, w: Principal, enterprise_id: int | None, level: int, adcode: str = "350505", **kw: Any
) -> int:
    values: dict[str, Any] = {
        "kind": "enterprise" if enterprise_id else "public_area",
        "enterprise_id": enterprise_id,
        "sector": None if enterprise_id else "urban_gas",
        "name": kw.pop("name", f"风险点{level}"),
        "geometry": QUANGANG,
        "level": level,
        "assessment_method": "direct",
        "jurisdiction_adcode": adcode,
    }
    values.update(kw)
    return int(repo.create_feature(conn, w, repo.RISK_UNITS, values)["id"])


def _as(engine: Engine, who: Principal) -> Any:
    """A transaction whose writes are authored by `who`: (conn, writer), the writer being an admin of the
    same name (these tests are about authorship; scopes are tested in tests/store/test_scope.py)."""

    class _Tx:
        def __enter__(self) -> tuple[Connection, Principal]:
            self.ctx = engine.begin()
            conn = self.ctx.__enter__()
            set_actor(conn, who)
            return conn, Principal(Role.admin, username=who.username)

        def __exit__(self, *exc: Any) -> None:
            self.ctx.__exit__(*exc)

    return _Tx()


def _history(engine: Engine, entity: str, key: int, who: Principal = ADMIN) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return entity_history(conn, who, entity, key)


def test_three_edits_by_two_users_are_kept_with_their_authors(db: Engine) -> None:
    with _as(db, ALICE) as (conn, w):
        eid = _enterprise(conn, w)
        uid = _unit(conn, w, eid, 2, control_measures="双人巡检")
    with _as(db, BOB) as (conn, w):
        repo.update_feature(conn, w, repo.RISK_UNITS, uid, {"level": 1})
    with _as(db, ALICE) as (conn, w):
        repo.update_feature(conn, w, repo.RISK_UNITS, uid, {"control_measures": "双人巡检，加装泄漏报警"})
    with _as(db, BOB) as (conn, w):
        repo.update_feature(conn, w, repo.RISK_UNITS, uid, {"level": 2, "name": "液氨储罐区"})

    records = _history(db, "risk_units", uid)
    assert [(r["action"], r["actor"]) for r in records] == [
        ("create", "alice"),
        ("update", "bob"),
        ("update", "alice"),
        ("update", "bob"),
    ]
    create, first, second, third = records
    assert create["old_values"] is None
    assert create["new_values"]["level"] == 2
    assert create["new_values"]["geom"]["coordinates"] == [118.88, 25.11]
    assert not set(GENERATED) & set(create["new_values"])  # derived from geom: not recorded
    # An update keeps exactly what changed (and the version it moved to), old beside new.
    assert first["old_values"] == {"level": 2, "version": 1}
    assert first["new_values"] == {"level": 1, "version": 2}
    assert second["old_values"] == {"control_measures": "双人巡检", "version": 2}
    assert second["new_values"] == {"control_measures": "双人巡检，加装泄漏报警", "version": 3}
    assert third["new_values"] == {"level": 2, "name": "液氨储罐区", "version": 4}
    assert all(r["at"] is not None for r in records)


def _rebuild(records: list[dict[str, Any]]) -> dict[str, Any]:
    state: dict[str, Any] = {}
    for r in records:
        state = {} if r["action"] == "delete" else {**state, **(r["new_values"] or {})}
    return state


def test_the_history_rebuilds_the_stored_row(db: Engine) -> None:
    with _as(db, ALICE) as (conn, w):
        uid = _unit(conn, w, None, 3)
        repo.update_feature(conn, w, repo.RISK_UNITS, uid, {"hazards": "燃气泄漏", "level": 2})
        repo.update_feature(conn, w, repo.RISK_UNITS, uid, {"geometry": shapely.Point(118.9, 25.12)})
    with db.connect() as conn:
        stored = conn.execute(
            text(
                "SELECT to_jsonb(r) - CAST(:generated AS text[]) || jsonb_build_object('geom', ST_AsGeoJSON(geom)::jsonb) "
                "FROM risk_units r WHERE id = :id"
            ),
            {"id": uid, "generated": GENERATED},
        ).scalar_one()
    rebuilt = _rebuild(_history(db, "risk_units", uid))
    stored.pop("updated_at")
    rebuilt.pop("updated_at")
    assert rebuilt == stored


def _row_json(conn: Connection, uid: int) -> dict[str, Any]:
    return dict(
        conn.execute(
            text(
                "SELECT to_jsonb(r) - CAST(:generated AS text[]) || jsonb_build_object('geom', ST_AsGeoJSON(geom)::jsonb) "
                "FROM risk_units r WHERE id = :id"
            ),
            {"id": uid, "generated": GENERATED},
        ).scalar_one()
    )


@pytest.mark.parametrize("then_delete", [False, True])
def test_the_row_as_it_was_made_is_rebuilt_on_read(db: Engine, then_delete: bool) -> None:
    """Migration 0009: no 'create' record is stored; the history still shows who made the row, when, and
    the whole row as it was made, from the row now (or its delete record) with the updates undone."""
    with _as(db, ALICE) as (conn, w):
        eid = _enterprise(conn, w)
        uid = _unit(conn, w, eid, 2, control_measures="双人巡检", hazards="液氨泄漏", accident_types=["06"])
        made = _row_json(conn, uid)
    with _as(db, BOB) as (conn, w):
        repo.update_feature(conn, w, repo.RISK_UNITS, uid, {"level": 1, "hazards": None})
        repo.update_feature(conn, w, repo.RISK_UNITS, uid, {"geometry": shapely.Point(118.9, 25.12)})
        repo.update_feature(conn, w, repo.RISK_UNITS, uid, {"control_measures": "加装泄漏报警", "level": 3})
        if then_delete:
            conn.execute(text("DELETE FROM risk_units WHERE id = :id"), {"id": uid})
    with db.connect() as conn:
        kept = conn.execute(
            text("SELECT count(*) FROM history WHERE entity_id = :id AND action = 'create'"), {"id": uid}
        ).scalar_one()
    assert kept == 0
    records = _history(db, "risk_units", uid)
    assert [r["action"] for r in records] == ["create", "update", "update", "update"] + (
        ["delete"] if then_delete else []
    )
    assert (records[0]["actor"], records[0]["id"]) == ("alice", None)
    assert records[0]["at"] == dt.datetime.fromisoformat(made["created_at"])
    assert records[0]["new_values"] == made


def test_writes_outside_riskmap_are_recorded_as_the_database_user(db: Engine) -> None:
    with db.begin() as conn:
        uid = conn.execute(
            text(
                "INSERT INTO risk_units (kind, name, sector, geom, level, assessment_method, jurisdiction_adcode) "
                "VALUES ('public_area', '燃气调压站', 'urban_gas', ST_SetSRID(ST_Point(118.9, 25.12), 4490), 3, "
                "'direct', '350505') RETURNING id"
            )
        ).scalar_one()
        conn.execute(text("UPDATE risk_units SET level = 4 WHERE id = :id"), {"id": uid})
        user = conn.execute(text("SELECT session_user")).scalar_one()
    actors = [r["actor"] for r in _history(db, "risk_units", uid)]
    assert actors == [f"db:{user}", f"db:{user}"]


def test_an_update_that_changes_nothing_leaves_no_record(db: Engine) -> None:
    with _as(db, ALICE) as (conn, w):
        uid = _unit(conn, w, None, 3)
        conn.execute(
            text("UPDATE risk_units SET level = level, updated_at = now() WHERE id = :id"), {"id": uid}
        )
    assert [r["action"] for r in _history(db, "risk_units", uid)] == ["create"]


def test_deletes_and_cascades_are_recorded_and_stay_readable_by_admin(db: Engine) -> None:
    with _as(db, ALICE) as (conn, w):
        eid = _enterprise(conn, w)
        uid = _unit(conn, w, eid, 1)
    with _as(db, BOB) as (conn, w):
        repo.delete_feature(conn, w, repo.ENTERPRISES, eid)  # cascades to its risk unit
    unit = _history(db, "risk_units", uid)
    assert [(r["action"], r["actor"]) for r in unit] == [("create", "alice"), ("delete", "bob")]
    assert unit[-1]["old_values"]["level"] == 1
    assert unit[-1]["new_values"] is None
    assert [r["action"] for r in _history(db, "enterprises", eid)] == ["create", "delete"]
    with pytest.raises(NotFound):
        _history(db, "risk_units", uid, BOB)  # a regulator no longer sees a deleted row


def test_a_copy_import_records_its_author_on_every_row(db: Engine) -> None:
    rows = [
        {
            "kind": "public_area",
            "name": f"燃气管线{i}",
            "sector": "urban_gas",
            "level": 1 + i % 4,
            "assessment_method": "direct",
            "jurisdiction_adcode": "350505",
            "geometry": QUANGANG,
        }
        for i in range(50)
    ]
    with _as(db, BOB) as (conn, _w):
        copy_rows(
            conn,
            "risk_units",
            rows,
            columns=["kind", "name", "sector", "level", "assessment_method", "jurisdiction_adcode"],
            geometry_columns={"geometry": "geom"},
        )
    with db.connect() as conn:
        got = conn.execute(
            text("SELECT count(*), min(created_by), max(created_by), min(id) FROM risk_units")
        ).one()
        stored = conn.execute(text("SELECT count(*) FROM history")).scalar_one()
    assert tuple(got)[:3] == (50, "bob", "bob")
    assert stored == 0  # no record per row: the making is read from the row (migration 0009)
    (create,) = _history(db, "risk_units", got[3])
    assert (create["action"], create["actor"], create["new_values"]["name"]) == ("create", "bob", "燃气管线0")


def test_protection_targets_are_recorded_too(db: Engine) -> None:
    with _as(db, BOB) as (conn, w):
        row = repo.create_feature(
            conn,
            w,
            repo.PROTECTION_TARGETS,
            {
                "name": "泉港一中",
                "type": "school",
                "gb_class": "high_sensitive",
                "geometry": QUANGANG,
                "jurisdiction_adcode": "350505",
            },
        )
        repo.update_feature(conn, w, repo.PROTECTION_TARGETS, row["id"], {"population": 1800})
    records = _history(db, "protection_targets", row["id"], BOB)
    assert [(r["action"], r["actor"]) for r in records] == [("create", "bob"), ("update", "bob")]
    assert records[1]["new_values"]["population"] == 1800


@pytest.mark.parametrize(
    ("who", "entity", "visible"),
    [
        (ADMIN, "risk_units", True),
        (BOB, "risk_units", True),
        (BOB, "enterprises", True),
        (BENGBU_REGULATOR, "risk_units", False),
        (ALICE, "risk_units", True),
        (ALICE, "enterprises", True),
        (Principal(Role.enterprise, username="eve", enterprise_id=2), "risk_units", False),
        (Principal(Role.enterprise, username="eve", enterprise_id=2), "enterprises", False),
        (Principal(Role.enterprise, username="nobody"), "risk_units", False),
        (PUBLIC, "risk_units", False),
        (PUBLIC, "enterprises", False),
    ],
)
def test_who_may_read_a_history(db: Engine, who: Principal, entity: str, visible: bool) -> None:
    with _as(db, ADMIN) as (conn, w):
        eid = _enterprise(conn, w)  # id 1: ALICE's enterprise
        _enterprise(conn, w, 2)
        uid = _unit(conn, w, eid, 2)
    key = uid if entity == "risk_units" else eid
    if visible:
        assert _history(db, entity, key, who)[0]["action"] == "create"
    else:  # the public is asked to sign in; a signed-in user is not told the row exists
        with pytest.raises(Unauthenticated if who.is_public else NotFound):
            _history(db, entity, key, who)


def test_an_enterprise_never_reads_a_protection_targets_history(db: Engine) -> None:
    with _as(db, ADMIN) as (conn, w):
        _enterprise(conn, w)
        row = repo.create_feature(
            conn,
            w,
            repo.PROTECTION_TARGETS,
            {
                "name": "村庄",
                "type": "village",
                "gb_class": "general_1",
                "geometry": QUANGANG,
                "jurisdiction_adcode": "350505",
            },
        )
    with pytest.raises(NotFound):
        _history(db, "protection_targets", row["id"], ALICE)


def test_no_history_for_a_row_that_never_existed(db: Engine) -> None:
    with pytest.raises(NotFound):
        _history(db, "risk_units", 999_999)


# --- trend ----------------------------------------------------------------------------------------


def _redate(conn: Connection, entity_id: int, when: list[str]) -> None:
    """Move the making of one unit and then its records to the given times (UTC), in order: the sequence
    of edits by hand. The making is the row's created_at (kept in its 'delete' record once deleted)."""
    made, *rest = when
    ids = (
        conn.execute(
            text("SELECT id FROM history WHERE entity = 'risk_units' AND entity_id = :e ORDER BY id"),
            {"e": entity_id},
        )
        .scalars()
        .all()
    )
    assert len(ids) == len(rest)
    for hid, at in zip(ids, rest, strict=True):
        conn.execute(
            text("UPDATE history SET at = CAST(:at AS timestamptz) WHERE id = :id"), {"at": at, "id": hid}
        )
    move_creation(conn, entity_id, made)


def test_trend_follows_a_hand_built_sequence_of_edits(db: Engine) -> None:
    with _as(db, BOB) as (conn, w):
        u1 = _unit(conn, w, None, 1, name="u1")
        repo.update_feature(conn, w, repo.RISK_UNITS, u1, {"level": 3})  # closed out in March
        u2 = _unit(conn, w, None, 2, name="u2")
        repo.delete_feature(conn, w, repo.RISK_UNITS, u2)  # deleted in February
        u3 = _unit(conn, w, None, 4, name="u3")  # created 28 Feb 23:30 Beijing time: February
        u3b = _unit(conn, w, None, 4, name="u3b")  # created 1 March 00:30 Beijing time: March
        u4 = _unit(
            conn, w, None, 3, adcode="340303", name="u4", geometry=BENGSHAN
        )  # moves into 泉港区 in April
        repo.update_feature(
            conn, w, repo.RISK_UNITS, u4, {"jurisdiction_adcode": "350505", "geometry": QUANGANG}
        )
        u5 = _unit(conn, w, None, 2, name="u5")
        repo.update_feature(conn, w, repo.RISK_UNITS, u5, {"level": 1})
        repo.update_feature(conn, w, repo.RISK_UNITS, u5, {"hazards": "名称以外的修改"})
        _redate(conn, u1, ["2026-01-10T02:00Z", "2026-03-05T02:00Z"])
        _redate(conn, u2, ["2026-01-20T02:00Z", "2026-02-15T02:00Z"])
        _redate(conn, u3, ["2026-02-28T15:30Z"])
        _redate(conn, u3b, ["2026-02-28T16:30Z"])
        _redate(conn, u4, ["2026-01-05T02:00Z", "2026-04-02T02:00Z"])
        _redate(conn, u5, ["2026-01-25T02:00Z", "2026-04-10T02:00Z", "2026-05-03T02:00Z"])
    with db.connect() as conn:
        trend = level_trend(conn, "350505", dt.date(2025, 12, 1), dt.date(2026, 6, 1))
        bengbu = level_trend(conn, "340303", dt.date(2026, 3, 1), dt.date(2026, 4, 1))
        city = level_trend(conn, "350500", dt.date(2026, 4, 1), dt.date(2026, 4, 1))
    got = {m["month"]: [m["counts"][str(lv)] for lv in (1, 2, 3, 4)] for m in trend}
    assert got == {
        "2025-12": [0, 0, 0, 0],
        "2026-01": [1, 2, 0, 0],  # u1, u2, u5
        "2026-02": [1, 1, 0, 1],  # u2 deleted, u3 made on the last evening
        "2026-03": [0, 1, 1, 2],  # u1 closed out to 3, u3b
        "2026-04": [1, 0, 2, 2],  # u4 moved in, u5 raised to 1
        "2026-05": [1, 0, 2, 2],  # an edit of another field changes nothing
        "2026-06": [1, 0, 2, 2],
    }
    assert [m["total"] for m in trend] == [0, 3, 3, 4, 5, 5, 5]
    assert [m["counts"]["3"] for m in bengbu] == [1, 0]  # u4 left 蚌山区 in April
    assert city[0]["counts"] == trend[4]["counts"]  # the city holds the county


def test_trend_of_the_last_month_matches_the_register(db: Engine) -> None:
    with _as(db, BOB) as (conn, w):
        for i, level in enumerate((1, 2, 2, 3, 4, 4, 4)):
            uid = _unit(conn, w, None, level, name=f"n{i}")
        repo.update_feature(conn, w, repo.RISK_UNITS, uid, {"level": 1})
        today = conn.execute(text("SELECT (now() AT TIME ZONE 'Asia/Shanghai')::date")).scalar_one()
        register = dict(conn.execute(text("SELECT level, count(*) FROM risk_units GROUP BY level")).all())
    month = today.replace(day=1)
    with db.connect() as conn:
        (now,) = level_trend(conn, "350505", month, month)
    assert now["counts"] == {str(lv): register.get(lv, 0) for lv in (1, 2, 3, 4)}


@pytest.mark.parametrize(
    ("adcode", "first", "last", "field"),
    [
        ("350505", dt.date(2026, 5, 1), dt.date(2026, 4, 1), "to"),
        ("350505", dt.date(2000, 1, 1), dt.date(2026, 4, 1), "to"),
    ],
)
def test_trend_rejects_bad_ranges(db: Engine, adcode: str, first: dt.date, last: dt.date, field: str) -> None:
    with db.connect() as conn, pytest.raises(InvalidInput) as err:
        level_trend(conn, adcode, first, last)
    assert err.value.problems[0].field == field
    assert err.value.problems[0].reason_zh


def test_trend_of_an_unknown_jurisdiction_is_not_found(db: Engine) -> None:
    with db.connect() as conn, pytest.raises(NotFound):
        level_trend(conn, "999999", dt.date(2026, 1, 1), dt.date(2026, 2, 1))


def test_rows_made_before_the_history_get_a_create_when_it_begins(db: Engine) -> None:
    """What migration 0005 does to an existing register (riskmap_history_backfill)."""
    with _as(db, BOB) as (conn, w):
        uid = _unit(conn, w, None, 2, hazards="燃气泄漏")
    recorded = _history(db, "risk_units", uid)[0]["new_values"]
    with db.begin() as conn:
        conn.execute(text("DELETE FROM history"))
        conn.execute(text("SELECT riskmap_history_backfill('risk_units')"))
    (create,) = _history(db, "risk_units", uid)
    assert (create["action"], create["actor"]) == ("create", "migration 0005")
    assert create["new_values"] == recorded
