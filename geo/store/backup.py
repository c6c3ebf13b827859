"""Back up and restore the database with pg_dump and pg_restore (custom format), checking the schema revision.

`backup` writes one file that holds the schema and every row (history, users, sessions and sign-in counts
included). `restore` loads such a file into an EMPTY database (one without riskmap tables; PostGIS may be
there already) after reading the file's schema revision: a revision this release does not know (a newer
release made the dump) is refused before anything is written; an older one is restored, and the caller is
told to run `riskmap db upgrade`. pg_restore stops at the first error (`--exit-on-error`) and runs in one
transaction, so a failed restore leaves the database as empty as it was.

The client programs come from the PostgreSQL client package (`postgresql-client-15` on Debian); pg_dump
must be at least as new as the server. The password goes to them in PGPASSWORD, never on the command line.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, pool, text
from sqlalchemy.engine import make_url

from geo.errors import SetupError
from geo.store.migrate import alembic_config, head_revision

# The extension itself, its comment and the rows of its table spatial_ref_sys are the database's (PostGIS
# installs them; writing them needs a superuser). riskmap adds no spatial reference systems of its own.
_EXTENSION_ENTRY = re.compile(
    r"^\d+; \d+ \d+ ((EXTENSION|COMMENT) - (EXTENSION )?\S+|TABLE DATA \S+ spatial_ref_sys )"
)


def _program(name: str) -> str:
    found = shutil.which(name)
    if not found:
        raise SetupError(f"{name} not found: install the PostgreSQL client programs (postgresql-client-15)")
    return found


def _env(url: str) -> dict[str, str]:
    """libpq's environment for a SQLAlchemy URL (the password stays out of the process list)."""
    u = make_url(url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(
        {
            "PGHOST": u.host or "127.0.0.1",
            "PGPORT": str(u.port or 5432),
            "PGUSER": u.username or "",
            "PGDATABASE": u.database or "",
        }
    )
    if u.password:
        env["PGPASSWORD"] = str(u.password)
    return env


def _run(args: list[str], url: str, what: str) -> str:
    done = subprocess.run(args, env=_env(url), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SetupError(f"{what} failed: {done.stderr.strip()[-2000:]}")
    return done.stdout


def _major(version_text: str) -> int:
    match = re.search(r"(\d+)(?:\.\d+)?", version_text)
    if not match:
        raise SetupError(f"cannot read a version from {version_text!r}")
    return int(match.group(1))


def _server_major(url: str) -> int:
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SHOW server_version_num")).scalar_one()) // 10_000
    finally:
        engine.dispose()


def backup(url: str, path: Path) -> str:
    """Write the database at `url` to `path` (pg_dump custom format); return its schema revision."""
    pg_dump = _program("pg_dump")
    client = _major(_run([pg_dump, "--version"], url, "pg_dump --version"))
    server = _server_major(url)
    if client < server:
        raise SetupError(
            f"pg_dump is version {client} but the server is {server}: install postgresql-client-{server}"
        )
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    finally:
        engine.dispose()
    path.parent.mkdir(parents=True, exist_ok=True)
    _run([pg_dump, "--format=custom", "--no-owner", "--no-privileges", f"--file={path}"], url, "pg_dump")
    return str(revision)


def dump_revision(path: Path) -> str:
    """The schema revision recorded in a backup file (its alembic_version row)."""
    pg_restore = _program("pg_restore")
    if not path.is_file():
        raise SetupError(f"no backup file at {path}")
    done = subprocess.run(
        [pg_restore, "--data-only", "--table=alembic_version", "--file=-", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SetupError(f"{path} is not a riskmap backup (pg_restore: {done.stderr.strip()[-500:]})")
    lines = done.stdout.splitlines()
    for n, line in enumerate(lines):
        if line.startswith("COPY ") and "alembic_version" in line and n + 1 < len(lines):
            revision = lines[n + 1].strip()
            if revision and revision != "\\.":
                return revision
    raise SetupError(f"{path} has no schema revision (alembic_version): not a riskmap backup")


def known_revisions() -> set[str]:
    script = ScriptDirectory.from_config(alembic_config("postgresql://"))
    return {r.revision for r in script.walk_revisions()}


def restore(url: str, path: Path) -> tuple[str, str | None]:
    """Load the backup at `path` into the empty database at `url`; return (the dump's revision, the head
    revision of this release). Refused before anything is written when the revision is unknown or the
    database already has riskmap tables."""
    pg_restore = _program("pg_restore")
    revision = dump_revision(path)
    if revision not in known_revisions():
        raise SetupError(
            f"the backup is at schema revision {revision}, which this release of riskmap does not know "
            f"(its newest is {head_revision()}): restore it with the release that made it"
        )
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.begin() as conn:
            if conn.execute(text("SELECT to_regclass('public.alembic_version') IS NOT NULL")).scalar_one():
                raise SetupError(
                    "the database already holds a riskmap schema: restore into an empty database "
                    "(createdb, then point DATABASE_URL at it)"
                )
            has_postgis = conn.execute(
                text("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'postgis')")
            ).scalar_one()
        if not has_postgis:
            try:
                with engine.begin() as conn:
                    conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
            except Exception as exc:
                raise SetupError(
                    f"the database lacks PostGIS and this role cannot create it ({type(exc).__name__}): "
                    "run `CREATE EXTENSION postgis` in it as a superuser"
                ) from exc
    finally:
        engine.dispose()
    listing = _run([pg_restore, "--list", str(path)], url, "pg_restore --list")
    kept = [line for line in listing.splitlines() if not _EXTENSION_ENTRY.match(line)]
    with tempfile.TemporaryDirectory(prefix="riskmap-restore-") as folder:
        list_file = Path(folder) / "restore.list"
        list_file.write_text("\n".join(kept) + "\n", encoding="utf-8")
        _run(
            [
                pg_restore,
                "--no-owner",
                "--no-privileges",
                "--exit-on-error",
                "--single-transaction",
                f"--use-list={list_file}",
                f"--dbname={make_url(url).database}",
                str(path),
            ],
            url,
            "pg_restore",
        )
    return revision, head_revision()
