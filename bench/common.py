"""What every benchmark here shares: its own database on the local server, medians, the machine."""

from __future__ import annotations

import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from api.settings import DatabaseSettings
from geo.store.migrate import upgrade

# The peers' SQL, written by hand (not riskmap's own queries): an area's jurisdictions, a page of GeoJSON Features
# built by PostGIS, and the rows of a GeoJSON export for pyogrio.
SUBTREE = """WITH RECURSIVE subtree AS (
    SELECT adcode FROM jurisdictions WHERE adcode = :adcode
    UNION ALL SELECT j.adcode FROM jurisdictions j JOIN subtree s ON j.parent_adcode = s.adcode)"""


def json_agg_sql(table: str) -> str:
    """The peer of a list page: the area's first 5,000 rows of `table` (a constant of the bench) as GeoJSON
    Features in one statement."""
    return (
        SUBTREE
        + f"""
SELECT json_build_object('type', 'FeatureCollection', 'features', json_agg(f))::text FROM (
    SELECT json_build_object('type', 'Feature', 'id', r.id, 'geometry', ST_AsGeoJSON(r.geom, 7, 0)::json,
                             'properties', to_jsonb(r) - 'geom') AS f
    FROM {table} r WHERE r.jurisdiction_adcode IN (SELECT adcode FROM subtree)
    ORDER BY r.id LIMIT 5000) page"""
    )


EXPORT_ROWS = (
    SUBTREE
    + """
SELECT r.id, r.enterprise_id, r.kind, r.name, r.sector, r.level, r.assessment_method, r.assessment_score,
       array_to_string(r.accident_types, ',') AS accident_types, r.hazards, r.control_measures,
       r.control_level, r.responsible_department, r.responsible_person, r.responsible_phone,
       r.assessed_on, r.next_assessment_due, r.max_occupancy, r.hazard_kind, r.capacity_m3,
       r.jurisdiction_adcode, r.geom
FROM risk_units r WHERE r.jurisdiction_adcode IN (SELECT adcode FROM subtree) ORDER BY r.id"""
)
"""The peer of the GeoJSON export: the area's risk units with the export's columns, for read_postgis + pyogrio."""


def libpq_url(url: str) -> str:
    """A SQLAlchemy URL as libpq's (what tipg and other peers read from DATABASE_URL)."""
    u = make_url(url)
    return f"postgresql://{u.username}:{u.password or ''}@{u.host}:{u.port or 5432}/{u.database}"


def server_url() -> sqlalchemy.URL:
    return make_url(DatabaseSettings().sqlalchemy_url)


def create_database(name: str) -> str:
    """A fresh database from riskmap_template (as tests/conftest.py makes them), migrated to head."""
    server = server_url()
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        has_template = conn.execute(
            text("SELECT 1 FROM pg_database WHERE datname = 'riskmap_template'")
        ).scalar()
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))  # our constant name
        conn.execute(text(f'CREATE DATABASE "{name}" {"TEMPLATE riskmap_template" if has_template else ""}'))
    admin.dispose()
    url = server.set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    return url


def database_exists(name: str) -> bool:
    admin = create_engine(server_url())
    with admin.connect() as conn:
        found = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).scalar()
    admin.dispose()
    return bool(found)


def psycopg2_dsn(url: str) -> str:
    u = make_url(url)
    return f"host={u.host} port={u.port or 5432} dbname={u.database} user={u.username} password={u.password}"


def median_of(repeat: int, fn: Callable[[], Any]) -> tuple[float, list[float], Any]:
    """(median seconds, every run's seconds, the last result) of `repeat` calls of fn."""
    times, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), times, result


def machine() -> str:
    model = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    nproc = subprocess.run(["nproc"], capture_output=True, text=True, check=False).stdout.strip()
    mem = Path("/proc/meminfo").read_text().split()[1]
    return f"{nproc} vCPU ({model}), {int(mem) / 2**20:.0f} GB RAM"


NOTES = "<!-- notes: the bench rewrites what is above this line and keeps what is below -->"


def write_report(path: Path, report: str) -> None:
    """Write `report` to `path` above the notes marker, keeping what was written by hand below it."""
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{report.rstrip()}\n\n{NOTES}{old.partition(NOTES)[2] or chr(10)}", encoding="utf-8")
