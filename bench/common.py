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
