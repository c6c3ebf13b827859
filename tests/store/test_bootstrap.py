"""`riskmap db up` against the real local PostgreSQL, with throwaway riskmap_bt_* names."""

from __future__ import annotations

import secrets
import shutil
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import pytest

from geo.errors import SetupError
from geo.store import bootstrap
from geo.store.bootstrap import (
    NOTHING_TO_DO,
    DbUpReport,
    _local_db_up,
    admin_psql,
    db_up,
    mask_url,
    saved_database_url,
)
from geo.store.migrate import current_revision, head_revision

if shutil.which("pg_lsclusters") is None:
    pytest.skip("pg_lsclusters (Debian postgresql-common) is not on PATH", allow_module_level=True)
if not bootstrap.can_administer():
    pytest.skip("needs root or passwordless sudo to act as the postgres OS user", allow_module_level=True)


@dataclass
class Setup:
    role: str
    database: str
    template: str
    config_dir: Path
    first: DbUpReport
    first_lines: list[str]


def _drop(role: str, databases: list[str], template: str) -> None:
    admin_psql(
        "SELECT format('ALTER DATABASE %I WITH IS_TEMPLATE false', datname) "
        "FROM pg_database WHERE datname = :'tpl' \\gexec\n",
        variables={"tpl": template},
    )
    for db in [*databases, template]:
        admin_psql('DROP DATABASE IF EXISTS :"db" WITH (FORCE)', variables={"db": db})
    admin_psql('DROP ROLE IF EXISTS :"role"', variables={"role": role})


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    name = f"riskmap_bt_{secrets.token_hex(4)}"
    config_dir = tmp_path_factory.mktemp("config") / "riskmap"
    lines: list[str] = []
    try:
        report = _local_db_up(
            role=name, database=name, template=f"{name}_tpl", config_dir=config_dir, echo=lines.append
        )
        yield Setup(name, name, f"{name}_tpl", config_dir, report, lines)
    finally:
        _drop(name, [name, f"{name}_copy", f"{name}_nogis"], f"{name}_tpl")


def _postgis_version(url: str) -> str | None:
    conn = psycopg2.connect(**bootstrap._libpq_params(url))
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT extversion FROM pg_extension WHERE extname = 'postgis'")
            row = cur.fetchone()
            return row[0] if row else None
    finally:
        conn.close()


def test_first_run_makes_a_ready_database(setup: Setup) -> None:
    report = setup.first
    assert report.changed
    names = [s.name for s in report.steps]
    assert f"role {setup.role}" in names
    assert f"database {setup.database}" in names
    created = {f"role {setup.role}", f"database {setup.database}"}
    assert all(s.changed for s in report.steps if s.name in created)
    assert NOTHING_TO_DO not in setup.first_lines
    # one echoed line per step, then a summary
    assert setup.first_lines[: len(report.steps)] == [f"{s.name}: {s.detail}" for s in report.steps]

    assert _postgis_version(report.url)
    assert current_revision(report.url) == head_revision()
    assert "***" in report.display_url
    password = bootstrap._password_of(report.url)
    assert password
    assert password not in report.display_url
    assert report.url.startswith(f"postgresql+psycopg2://{setup.role}:")
    assert "@127.0.0.1:" in report.url


def test_saved_file_is_private_and_readable(setup: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    path = setup.config_dir / "database.env"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == f"DATABASE_URL={setup.first.url}\n"
    assert saved_database_url(setup.config_dir) == setup.first.url
    monkeypatch.setenv("XDG_CONFIG_HOME", str(setup.config_dir.parent))
    assert saved_database_url() == setup.first.url
    assert bootstrap.local_database_url() == setup.first.url


def test_second_run_changes_nothing(setup: Setup) -> None:
    lines: list[str] = []
    report = _local_db_up(
        role=setup.role,
        database=setup.database,
        template=setup.template,
        config_dir=setup.config_dir,
        echo=lines.append,
    )
    assert not report.changed, [s for s in report.steps if s.changed]
    assert report.url == setup.first.url
    assert lines[-1] == NOTHING_TO_DO
    assert any(line.startswith("migrations: at head") for line in lines)


def test_template_gives_postgis(setup: Setup) -> None:
    copy = f"{setup.database}_copy"
    conn = psycopg2.connect(**bootstrap._libpq_params(setup.first.url))
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{copy}" TEMPLATE "{setup.template}"')
    finally:
        conn.close()
    copy_url = setup.first.url.rsplit("/", 1)[0] + "/" + copy
    try:
        assert _postgis_version(copy_url)
    finally:
        admin_psql('DROP DATABASE IF EXISTS :"db" WITH (FORCE)', variables={"db": copy})


def test_database_url_path_is_idempotent(setup: Setup) -> None:
    password = bootstrap._password_of(setup.first.url)
    assert password
    for _ in range(2):
        lines: list[str] = []
        report = db_up(setup.first.url, echo=lines.append)
        assert not report.changed
        assert [s.name for s in report.steps] == ["connect", "postgis", "migrations"]
        assert lines[-1] == NOTHING_TO_DO
        assert all(password not in line for line in lines)


def test_database_url_without_postgis_rights_says_a_superuser_must_create_it(setup: Setup) -> None:
    db = f"{setup.database}_nogis"
    # from template0: no postgis; owned by the (non-superuser) test role
    admin_psql(
        'CREATE DATABASE :"db" OWNER :"role" TEMPLATE template0', variables={"db": db, "role": setup.role}
    )
    url = setup.first.url.rsplit("/", 1)[0] + "/" + db
    with pytest.raises(SetupError) as info:
        db_up(url, echo=lambda _: None)
    assert "superuser" in info.value.message
    assert "CREATE EXTENSION postgis" in info.value.message
    assert db in info.value.message


def test_bad_database_url_names_host_and_port_and_masks_password() -> None:
    url = "postgresql://someone:hunter2secret@127.0.0.1:1/nowhere"
    with pytest.raises(SetupError) as info:
        db_up(url, echo=lambda _: None)
    message = info.value.message
    assert "127.0.0.1:1" in message
    assert "nowhere" in message
    assert "hunter2secret" not in message
    assert "***" in message
    assert "refused" in message.lower()


def test_mask_url() -> None:
    assert mask_url("postgresql+psycopg2://u:p%40ss@h:5/d") == "postgresql+psycopg2://u:***@h:5/d"
    assert "secret" not in DbUpReport(url="postgresql://u:secret@h/d").display_url
