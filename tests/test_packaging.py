"""The wheel serves the API, the pages and the maps without the source tree: templates, static files,
migrations and reference data are package data; the npm packages come from `riskmap assets install` (here the
checkout's, named by RISKMAP_MAP_ASSETS)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = textwrap.dedent(
    """
    import api, geo, maps, sys
    from pathlib import Path
    from fastapi.testclient import TestClient
    from api.app import create_app
    from api.settings import Settings

    for module in (api, geo, maps):
        assert Path(module.__file__).resolve().is_relative_to(Path(sys.argv[1])), module.__file__
    with TestClient(create_app(Settings())) as c:
        print(c.get("/api/v1/health/ready").json()["status"])
        print(c.get("/login").status_code, c.get("/static/vendor/leaflet/dist/leaflet.js").status_code)
        print(c.get("/static/app/onemap.js").status_code, c.get("/api/v1/vocabularies").status_code)
    """
)


@pytest.mark.skipif(
    not (ROOT / "maps" / "node_modules" / "leaflet").is_dir(), reason="npm packages not installed"
)
def test_the_wheel_serves_without_the_source_tree(tmp_path: Path, database_url: str) -> None:
    dist = tmp_path / "dist"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(ROOT)],
        capture_output=True,
        text=True,
        check=False,
    )
    if build.returncode != 0:
        pytest.skip(f"cannot build a wheel here (no hatchling?): {build.stderr[-300:]}")
    wheel = next(dist.glob("riskmap-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"maps/package.json", "maps/package-lock.json", "api/pages/templates/login.html"} <= names
    assert "geo/_data/assessment_bands.csv" in names
    assert any(n.startswith("geo/store/migrations/versions/") for n in names)
    assert not any("node_modules" in n for n in names)  # fetched by `riskmap assets install`, not carried

    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
        check=True,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {
        **os.environ,
        "PYTHONPATH": str(site),
        "DATABASE_URL": database_url,
        "RISKMAP_MAP_ASSETS": str((ROOT / "maps" / "node_modules").resolve()),
    }
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(site.resolve())],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["ready", "200", "200", "200", "200"]
