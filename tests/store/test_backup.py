"""`riskmap db backup` and `riskmap db restore`: the demo backed up and restored into a fresh database has every
row byte for byte (history included) and gives the same four-colour answer; the schema revision is checked."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, pool, text
from sqlalchemy.engine import make_url

from geo.access import SYSTEM
from geo.errors import SetupError
from geo.store.backup import backup, dump_revision, restore
from geo.store.migrate import head_revision, upgrade
from tests.databases import drop_database

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def new_database(database_url: str) -> Iterator[Callable[[], str]]:
    """Makes empty databases (PostGIS only, from riskmap_template when there is one) dropped afterwards."""
    server = make_url(database_url)
    admin = create_engine(server, isolation_level="AUTOCOMMIT", poolclass=pool.NullPool)
    made: list[str] = []

    def make() -> str:
        name = f"riskmap_test_bk_{uuid.uuid4().hex[:8]}"
        with admin.connect() as conn:
            has_template = conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = 'riskmap_template'")
            ).scalar()
            conn.execute(
                text(f'CREATE DATABASE "{name}" {"TEMPLATE riskmap_template" if has_template else ""}')
            )
            made.append(name)
        if not has_template:
            eng = create_engine(server.set(database=name), poolclass=pool.NullPool)
            with eng.begin() as conn:
                conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
            eng.dispose()
        return server.set(database=name).render_as_string(hide_password=False)

    yield make
    with admin.connect() as conn:
        for name in made:
            drop_database(conn, name)
    admin.dispose()


def _tables(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                text(
                    "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relname <> 'spatial_ref_sys' "
                    "AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e') "
                    "ORDER BY 1"
                )
            ).scalars()
        )


def _fingerprint(engine: Engine) -> dict[str, tuple[int, str]]:
    """Per table: the row count and the MD5 of every row's text form (geometries as hex EWKB), sorted."""
    out = {}
    with engine.connect() as conn:
        for table in _tables(engine):
            count, digest = conn.execute(
                text(
                    f"SELECT count(*), md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) FROM \"{table}\" t"
                )
            ).one()  # table names come from the catalogue, not from a user
            out[table] = (count, digest)
    return out


def _four_colour(engine: Engine) -> list[tuple[str, float | None]]:
    from api.settings import DatabaseSettings, Settings
    from api.usecases.four_colour import FourColourParams, compute

    settings = Settings(db=DatabaseSettings(DATABASE_URL=str(engine.url)))
    with engine.connect() as conn:
        zones = compute(conn, SYSTEM, FourColourParams(adcode="350505", zones="grid", cell_m=2000), settings)
    return sorted(zip(zones["code"], zones["level"].astype(float).fillna(0), strict=True))


def _cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-m", "api.cli", "db", *args],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": url},
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_demo_restored_into_a_fresh_database_is_the_same(
    new_database: Callable[[], str], tmp_path: Path
) -> None:
    from geo.store.demo import load_demo

    source_url = new_database()
    upgrade(source_url)
    source = create_engine(source_url, poolclass=pool.NullPool)
    load_demo(source, seed=7, scale=0.05, echo=lambda _: None)
    with source.begin() as conn:  # an update and a delete, so history holds more than creates
        conn.execute(
            text(
                "UPDATE enterprises SET name = name || '（改）' WHERE id = (SELECT min(id) FROM enterprises)"
            )
        )
        conn.execute(
            text("DELETE FROM protection_targets WHERE id = (SELECT max(id) FROM protection_targets)")
        )
    before = _fingerprint(source)
    answer = _four_colour(source)
    assert before["history"][0] > 0
    assert before["enterprises"][0] > 0
    assert before["risk_units"][0] > 0
    assert any(level > 0 for _, level in answer)

    path = tmp_path / "riskmap.dump"
    done = _cli(source_url, "backup", str(path))
    assert done.returncode == 0, done.stderr
    assert f"schema revision {head_revision()}" in done.stdout
    assert dump_revision(path) == head_revision()

    target_url = new_database()
    done = _cli(target_url, "restore", str(path))
    assert done.returncode == 0, done.stderr
    assert "restored" in done.stdout
    assert "db upgrade" not in done.stdout
    target = create_engine(target_url, poolclass=pool.NullPool)
    try:
        assert _fingerprint(target) == before  # every table, every row, byte for byte
        assert _four_colour(target) == answer
        with target.begin() as conn:  # the sequences came along: a new row does not collide
            conn.execute(
                text("UPDATE enterprises SET name = name WHERE id = (SELECT min(id) FROM enterprises)")
            )
            next_id = conn.execute(text("SELECT nextval('history_id_seq')")).scalar_one()
            assert next_id > conn.execute(text("SELECT max(id) FROM history")).scalar_one()
        # A second restore into a database that has the schema is refused, and changes nothing.
        done = _cli(target_url, "restore", str(path))
        assert done.returncode == 2
        assert "already holds a riskmap schema" in done.stderr
        assert _fingerprint(target) == before
    finally:
        source.dispose()
        target.dispose()


def test_a_backup_of_an_unknown_revision_is_refused_before_writing(
    new_database: Callable[[], str], tmp_path: Path
) -> None:
    future_url = new_database()
    eng = create_engine(future_url, poolclass=pool.NullPool)
    with eng.begin() as conn:
        conn.execute(text("CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY)"))
        conn.execute(text("INSERT INTO alembic_version VALUES ('9999_from_the_future')"))
        conn.execute(text("CREATE TABLE marker (id int)"))
    eng.dispose()
    path = tmp_path / "future.dump"
    assert backup(future_url, path) == "9999_from_the_future"
    target_url = new_database()
    with pytest.raises(SetupError, match="9999_from_the_future, which this release of riskmap does not know"):
        restore(target_url, path)
    target = create_engine(target_url, poolclass=pool.NullPool)
    assert _tables(target) == []
    target.dispose()


def test_a_file_that_is_not_a_backup_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "not.dump"
    path.write_text("hello")
    with pytest.raises(SetupError, match="not a riskmap backup"):
        dump_revision(path)
