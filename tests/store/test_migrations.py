"""The Alembic migrations: head on the session database, down and up again on a fresh one, the models
matching the migrated schema, spatial indexes, and the CHECK constraints doing their job in SQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, create_engine, inspect, pool, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from geo.store.migrate import current_revision, downgrade, head_revision, upgrade
from geo.store.models import SPATIAL_COLUMNS, Base
from tests.databases import drop_database

TEMPLATE = "riskmap_template"
REGISTER_TABLES = {"jurisdictions", "enterprises", "risk_units", "protection_targets"}
CHECK_VIOLATION = "23514"

POINT = "ST_GeomFromText('POINT(118.88 25.11)', 4490)"
BOWTIE = (
    "ST_GeomFromText('POLYGON((118.87 25.10, 118.89 25.12, 118.89 25.10, 118.87 25.12, 118.87 25.10))', 4490)"
)
BOWTIE_MULTI = f"ST_Multi({BOWTIE})"


def _ours(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """As the migrations' env.py: tables in the database with no model (PostGIS's spatial_ref_sys, tiger,
    topology) are not ours."""
    return not (type_ == "table" and reflected and compare_to is None)


@pytest.fixture(scope="module")
def fresh_url(database_url: str) -> Iterator[str]:
    """A new, empty database made from riskmap_template (PostGIS installed), dropped afterwards."""
    server = make_url(database_url)
    admin = create_engine(server, isolation_level="AUTOCOMMIT", poolclass=pool.NullPool)
    name = f"riskmap_mig_{uuid.uuid4().hex[:8]}"
    try:
        with admin.connect() as conn:
            if not conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :t"), {"t": TEMPLATE}
            ).scalar():
                pytest.skip(f"no {TEMPLATE} database (made by `riskmap db up`)")
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE {TEMPLATE}'))
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            drop_database(conn, name)
        admin.dispose()


def _tables(url: str) -> set[str]:
    eng = create_engine(url, poolclass=pool.NullPool)
    try:
        return set(inspect(eng).get_table_names())
    finally:
        eng.dispose()


def _schema_diff(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"include_object": _ours, "compare_type": True})
        return list(compare_metadata(ctx, Base.metadata))


def test_session_database_is_at_head(engine: Engine, database_url: str) -> None:
    head = head_revision()
    assert head is not None
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [head]
    assert current_revision(database_url) == head
    assert _tables(database_url) >= REGISTER_TABLES


def test_upgrade_downgrade_upgrade_on_a_fresh_database(fresh_url: str) -> None:
    assert current_revision(fresh_url) is None
    assert not (_tables(fresh_url) & REGISTER_TABLES)

    before, after = upgrade(fresh_url)
    assert (before, after) == (None, head_revision())
    assert _tables(fresh_url) >= REGISTER_TABLES

    assert upgrade(fresh_url) == (head_revision(), head_revision())  # idempotent

    downgrade(fresh_url, "base")
    assert current_revision(fresh_url) is None
    assert not (_tables(fresh_url) & REGISTER_TABLES)
    assert "spatial_ref_sys" in _tables(fresh_url)  # PostGIS itself stays

    assert upgrade(fresh_url) == (None, head_revision())
    eng = create_engine(fresh_url, poolclass=pool.NullPool)
    try:
        assert _schema_diff(eng) == []
        with eng.begin() as conn:  # the schema works: a row goes in
            conn.execute(
                text(
                    f"INSERT INTO jurisdictions (adcode, name, level, geom) VALUES ('350000', '福建省', 'province', "
                    f"ST_Multi(ST_Buffer({POINT}, 0.1)))"
                )
            )
            assert conn.execute(text("SELECT count(*) FROM jurisdictions")).scalar() == 1
    finally:
        eng.dispose()


def test_models_match_the_migrated_schema(engine: Engine) -> None:
    assert _schema_diff(engine) == []


def test_every_geometry_column_has_a_gist_index(engine: Engine) -> None:
    with engine.connect() as conn:
        columns = {
            (t, c)
            for t, c in conn.execute(
                text(
                    "SELECT f_table_name, f_geometry_column FROM geometry_columns WHERE f_table_schema = 'public'"
                )
            )
        }
        indexes = conn.execute(
            text("SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'")
        ).all()
    expected = {(t, c) for t, cs in SPATIAL_COLUMNS.items() for c in cs}
    assert columns == expected
    for table, column in sorted(columns):
        gist = [name for t, name, d in indexes if t == table and f"USING gist ({column})" in d]
        assert gist, f"no GiST index on {table}.{column}"


def _rejected(engine: Engine, sql: str) -> str:
    """Run one statement that must break a CHECK constraint; return the constraint's name."""
    with engine.connect() as conn, conn.begin():
        with pytest.raises(IntegrityError) as err:
            conn.execute(text(sql))
        diag = err.value.orig.diag  # type: ignore[union-attr]
        assert err.value.orig.pgcode == CHECK_VIOLATION  # type: ignore[union-attr]
        return str(diag.constraint_name)


def _risk_unit_sql(level: int, geom: str = POINT) -> str:
    return (
        "INSERT INTO risk_units (kind, name, sector, geom, level, assessment_method) "
        f"VALUES ('public_area', '测试', 'urban_gas', {geom}, {level}, 'direct')"
    )


@pytest.mark.parametrize("level", [0, 5, -1])
def test_check_rejects_a_level_out_of_range(engine: Engine, level: int) -> None:
    assert _rejected(engine, _risk_unit_sql(level)) == "ck_risk_units_level_range"


def test_a_valid_row_passes_the_checks(engine: Engine) -> None:
    with engine.connect() as conn, conn.begin() as tx:
        for level in (1, 4):
            conn.execute(text(_risk_unit_sql(level)))
        tx.rollback()


@pytest.mark.parametrize(
    ("sql", "constraint"),
    [
        (_risk_unit_sql(2, BOWTIE), "ck_risk_units_geom_valid"),
        (
            "INSERT INTO jurisdictions (adcode, name, level, geom) "
            f"VALUES ('P_BAD', '坏园区', 'park', {BOWTIE_MULTI})",
            "ck_jurisdictions_geom_valid",
        ),
        (
            "INSERT INTO enterprises (credit_code, name, sector, geom, site) "
            f"VALUES ('913505057000000011', '坏厂区', 'other', {POINT}, {BOWTIE_MULTI})",
            "ck_enterprises_site_valid",
        ),
        (
            "INSERT INTO protection_targets (name, type, gb_class, geom) "
            f"VALUES ('坏目标', 'school', 'high_sensitive', {BOWTIE})",
            "ck_protection_targets_geom_valid",
        ),
    ],
)
def test_check_rejects_an_invalid_geometry(engine: Engine, sql: str, constraint: str) -> None:
    assert _rejected(engine, sql) == constraint


def test_other_checks(engine: Engine) -> None:
    assert _rejected(engine, _risk_unit_sql(2).replace("'public_area'", "'enterprise'")) == (
        "ck_risk_units_kind_matches_owner"
    )
    assert (
        _rejected(
            engine,
            "INSERT INTO jurisdictions (adcode, name, level, geom) "
            f"VALUES ('P1', 'x', 'zone', ST_Multi(ST_Buffer({POINT}, 0.01)))",
        )
        == "ck_jurisdictions_level_known"
    )
    assert (
        _rejected(
            engine,
            "INSERT INTO enterprises (credit_code, name, sector, geom) "
            f"VALUES ('123', 'x', 'other', {POINT})",
        )
        == "ck_enterprises_credit_code_length"
    )


def test_0009_moves_the_authors_of_creates_onto_the_rows_and_back(fresh_url: str) -> None:
    """Rows made under 0008 keep their author and date through 0009 (created_by; the 'delete' record of
    a deleted row), the 'create' records go; the downgrade writes them back."""
    upgrade(fresh_url)
    downgrade(fresh_url, "0008")
    eng = create_engine(fresh_url, poolclass=pool.NullPool)
    unit = (
        "INSERT INTO risk_units (kind, name, sector, geom, level, assessment_method, jurisdiction_adcode) "
        f"VALUES ('public_area', :n, 'urban_gas', {POINT}, 2, 'direct', '350000') RETURNING id"
    )
    try:
        with eng.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO jurisdictions (adcode, name, level, geom) VALUES ('350000', '福建省', 'province', "
                    f"ST_Multi(ST_Buffer({POINT}, 0.1))) ON CONFLICT (adcode) DO NOTHING"
                )
            )
            conn.execute(text("SELECT set_config('riskmap.actor', 'alice', true)"))
            kept = conn.execute(text(unit), {"n": "kept"}).scalar_one()
            gone = conn.execute(text(unit), {"n": "gone"}).scalar_one()
        with eng.begin() as conn:
            conn.execute(text("SELECT set_config('riskmap.actor', 'bob', true)"))
            conn.execute(text("DELETE FROM risk_units WHERE id = :id"), {"id": gone})
        upgrade(fresh_url)
        with eng.connect() as conn:
            assert (
                conn.execute(text("SELECT created_by FROM risk_units WHERE id = :id"), {"id": kept}).scalar()
                == "alice"
            )
            deleted = conn.execute(
                text("SELECT actor, old_values ->> 'created_by' FROM history WHERE action = 'delete'")
            ).one()
            assert tuple(deleted) == ("bob", "alice")
            assert conn.execute(text("SELECT count(*) FROM history WHERE action = 'create'")).scalar() == 0
        downgrade(fresh_url, "0008")
        with eng.connect() as conn:
            creates = conn.execute(
                text(
                    "SELECT entity_id, actor, new_values ->> 'level' FROM history WHERE action = 'create' ORDER BY entity_id"
                )
            ).all()
        assert [tuple(c) for c in creates if c[0] in (kept, gone)] == [
            (kept, "alice", "2"),
            (gone, "alice", "2"),
        ]
    finally:
        eng.dispose()
        upgrade(fresh_url)


def test_0023_fills_the_closure_of_existing_jurisdictions_and_drops_it(fresh_url: str) -> None:
    """Upgrading to 0023s fills jurisdiction_closure from the rows already there (and its triggers keep it);
    the downgrade drops the table, its functions and triggers."""
    upgrade(fresh_url)
    downgrade(fresh_url, "0022p")
    eng = create_engine(fresh_url, poolclass=pool.NullPool)
    box = f"ST_Multi(ST_Buffer({POINT}, 0.1))"
    try:
        with eng.begin() as conn:
            conn.execute(text("TRUNCATE jurisdictions CASCADE"))
            conn.execute(
                text(
                    "INSERT INTO jurisdictions (adcode, name, level, parent_adcode, geom) VALUES "
                    f"('350000', 'p', 'province', NULL, {box}), ('350500', 'c', 'city', '350000', {box}), "
                    f"('350505', 'x', 'county', '350500', {box})"
                )
            )
        upgrade(fresh_url)
        with eng.begin() as conn:
            pairs = set(conn.execute(text("SELECT ancestor, descendant FROM jurisdiction_closure")).all())
            assert pairs == {
                ("350000", "350000"),
                ("350000", "350500"),
                ("350000", "350505"),
                ("350500", "350500"),
                ("350500", "350505"),
                ("350505", "350505"),
            }
            conn.execute(
                text(
                    f"INSERT INTO jurisdictions (adcode, name, level, parent_adcode, geom) VALUES ('350505001', 't', 'township', '350505', {box})"
                )
            )
            assert (
                conn.execute(
                    text("SELECT count(*) FROM jurisdiction_closure WHERE descendant = '350505001'")
                ).scalar()
                == 4
            )
        downgrade(fresh_url, "0022p")
        with eng.connect() as conn:
            assert conn.execute(text("SELECT to_regclass('jurisdiction_closure')")).scalar() is None
            assert conn.execute(text("SELECT to_regproc('jurisdiction_closure_sync')")).scalar() is None
            assert not conn.execute(
                text("SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'closure_%'")
            ).scalar()
    finally:
        eng.dispose()
        upgrade(fresh_url)
