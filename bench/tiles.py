"""Vector tiles: riskmap's /tiles (ST_AsMVT, scoped, simplified per zoom) against tipg on the same table.

    python -m bench.tiles --rows 100000 --peer-python PYTHON_OF_A_VENV_WITH_TIPG

Makes the database riskmap_bench_tiles with `rows` polygons (20–200 m squares, levels 1–4 at 5/15/40/40 %,
numpy seed 42) as risk units, at the density of shared/performance.md's 1 M polygons over a 300 km square
(so a z10 tile holds about as many features as there). Serves it with riskmap (one uvicorn process, the
cache off: every tile made fresh; and again with the cache on, as deployed) and with tipg (the peer, from its
own venv, one uvicorn process; up at the same time as riskmap with the cache off, the two asked request by
request in turn), and asks both for the same tiles: sequential p50/p95 at z8/z10/z12/z14 (3
passes over up to 12 tiles per zoom around the centre) and tiles/s with 8 concurrent clients on loopback
(bounded: 8 × 12 requests per zoom). tipg is asked for the same attributes (`properties=`).

    python -m bench.tiles --database riskmap_bench_province --peer-python ...

measures an existing riskmap database's risk_units as they are (nothing loaded; a user `bench-tiles`, an
admin, is made there for the API key): the tiles nearest the centre of the table's extent.
"""

from __future__ import annotations

import argparse
import http.client
import math
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bench.common import create_database, database_exists, libpq_url, machine, server_url
from geo.access import SYSTEM
from geo.store import users

DB = "riskmap_bench_tiles"
CENTRE = (118.5, 25.0)
ZOOMS = (8, 10, 12, 14)
ATTRS = "id,name,level,kind,enterprise_id,jurisdiction_adcode"
OURS_PATH = "/tiles/risk_units/{z}/{x}/{y}.pbf"
TIPG_PATH = "/collections/public.risk_units/tiles/WebMercatorQuad/{z}/{x}/{y}?properties=" + ATTRS
"""tipg's tile of the same table, asked for the same attributes as riskmap's risk_units layer."""


def riskmap_command(url: str, port: int, secret: str) -> list[str]:
    """riskmap serving database `url` on loopback `port` (one uvicorn process)."""
    code = (
        "import uvicorn; from api.app import create_app; "
        "from api.settings import AuthSettings, DatabaseSettings, Settings; "
        f"uvicorn.run(create_app(Settings(db=DatabaseSettings(DATABASE_URL={url!r}), "
        f"auth=AuthSettings(secret={secret!r}))), host='127.0.0.1', port={port}, log_level='warning')"
    )
    return [sys.executable, "-c", code]


def tipg_command(peer_python: str, url: str, port: int) -> tuple[list[str], dict[str, str]]:
    """The peer: tipg (from the venv of `peer_python`) serving the public schema of `url` on loopback `port`,
    as (command, environment)."""
    cmd = [peer_python, "-m", "uvicorn", "tipg.main:app", "--host", "127.0.0.1", "--port", str(port)]
    return [*cmd, "--log-level", "warning"], {"DATABASE_URL": libpq_url(url), "TIPG_DB_SCHEMAS": '["public"]'}


SECRET = "bench-tiles-" + "k3J9xQ2mZr7Lw8Vb5Nt1Hc6Yp4Fd0Gs"


def load(url: str, rows: int) -> None:
    """`rows` squares in a square of side 300 km × sqrt(rows / 1 M) around CENTRE."""
    rng = np.random.default_rng(42)
    side_m = 300_000 * math.sqrt(rows / 1_000_000)
    m_lat = 1 / 111_320
    m_lon = 1 / (111_320 * math.cos(math.radians(CENTRE[1])))
    x = CENTRE[0] + (rng.random(rows) - 0.5) * side_m * m_lon
    y = CENTRE[1] + (rng.random(rows) - 0.5) * side_m * m_lat
    size = 20 + rng.random(rows) * 180
    level = rng.choice([1, 2, 3, 4], size=rows, p=[0.05, 0.15, 0.4, 0.4])
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE risk_units RESTART IDENTITY CASCADE"))
        conn.execute(
            text("ALTER TABLE risk_units DISABLE TRIGGER USER")
        )  # a bulk load; tile_epoch moves below
        conn.execute(
            text(
                """
                INSERT INTO risk_units (kind, name, sector, level, assessment_method, geom, synthetic)
                SELECT 'public_area', '单元' || i, '城镇燃气', lv, 'direct',
                       ST_MakeEnvelope(x, y, x + s * :mlon, y + s * :mlat, 4490), true
                FROM unnest(CAST(:x AS float8[]), CAST(:y AS float8[]), CAST(:s AS float8[]),
                            CAST(:lv AS int[])) WITH ORDINALITY AS t(x, y, s, lv, i)
                """
            ),
            {
                "x": x.tolist(),
                "y": y.tolist(),
                "s": size.tolist(),
                "lv": level.tolist(),
                "mlon": m_lon,
                "mlat": m_lat,
            },
        )
        conn.execute(text("ALTER TABLE risk_units ENABLE TRIGGER USER"))
        conn.execute(text("SELECT nextval('tile_epoch')"))
        conn.execute(text("ANALYZE risk_units"))
        users.remove_user(conn, SYSTEM, "bench-tiles")
        users.create_user(conn, SYSTEM, "bench-tiles", "a long bench password 1", "admin")
    engine.dispose()


def api_key(url: str) -> str:
    engine = create_engine(url)
    with engine.begin() as conn:
        key = users.create_api_key(conn, SYSTEM, "bench-tiles")
    engine.dispose()
    return key


def tiles_at(z: int, rows: int, n: int = 12) -> list[tuple[int, int, int]]:
    """Up to n tiles at zoom z nearest the centre, inside the data square."""
    half = 150_000 * math.sqrt(rows / 1_000_000)
    lat_d, lon_d = half / 111_320, half / (111_320 * math.cos(math.radians(CENTRE[1])))
    return tiles_around(z, CENTRE, lon_d, lat_d, n)


def tiles_around(
    z: int, centre: tuple[float, float], lon_d: float, lat_d: float, n: int = 12
) -> list[tuple[int, int, int]]:
    """Up to n tiles at zoom z nearest `centre`, inside the box of half-sides lon_d × lat_d degrees."""

    def xy(lon: float, lat: float) -> tuple[float, float]:
        k = 2**z
        return (lon + 180) / 360 * k, (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * k

    x0, y1 = xy(centre[0] - lon_d, centre[1] - lat_d)
    x1, y0 = xy(centre[0] + lon_d, centre[1] + lat_d)
    cx, cy = xy(*centre)
    found = [(z, x, y) for x in range(int(x0), int(x1) + 1) for y in range(int(y0), int(y1) + 1)]
    found.sort(key=lambda t: (t[1] + 0.5 - cx) ** 2 + (t[2] + 0.5 - cy) ** 2)
    return found[:n]


@contextmanager
def server(cmd: list[str], env: dict[str, str], port: int) -> Iterator[None]:
    # The server's log goes to a file: a pipe nobody reads fills up and stalls the server mid-run.
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(cmd, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=log)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                    c.request("GET", "/")
                    c.getresponse().read()
                    break
                except OSError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        log.seek(0)
                        raise RuntimeError(f"server did not start: {log.read().decode()[-2000:]}") from None
                    time.sleep(0.3)
            yield
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


class Client:
    def __init__(self, port: int, path: str, headers: dict[str, str]) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.path, self.headers = path, headers

    def get(self, z: int, x: int, y: int) -> tuple[float, int]:
        t = time.perf_counter()
        self.conn.request("GET", self.path.format(z=z, x=x, y=y), headers=self.headers)
        r = self.conn.getresponse()
        body = r.read()
        if r.status != 200:
            raise RuntimeError(f"{r.status} {body[:200]!r}")
        return time.perf_counter() - t, len(body)


def sequential(client: Client, tiles: list[tuple[int, int, int]], passes: int = 3) -> dict[str, float]:
    client.get(*tiles[0])  # warm the connection and the process
    times, sizes = [], []
    for _ in range(passes):
        for t in tiles:
            s, n = client.get(*t)
            times.append(s)
            sizes.append(n)
    times.sort()
    return {
        "p50": statistics.median(times) * 1000,
        "p95": times[min(len(times) - 1, int(0.95 * len(times)))] * 1000,
        "kb": statistics.median(sizes) / 1024,
    }


def alternating(
    clients: dict[str, Client], tiles: list[tuple[int, int, int]], passes: int = 3
) -> dict[str, dict[str, float]]:
    """`sequential` for several servers at once, request by request in turn (the first of each turn
    rotating), so each is measured under the same load of a shared machine."""
    names = list(clients)
    for c in clients.values():
        c.get(*tiles[0])
    times: dict[str, list[float]] = {n: [] for n in names}
    sizes: dict[str, list[int]] = {n: [] for n in names}
    k = 0
    for _ in range(passes):
        for t in tiles:
            k += 1
            for n in names[k % len(names) :] + names[: k % len(names)]:
                secs, size = clients[n].get(*t)
                times[n].append(secs)
                sizes[n].append(size)
    out = {}
    for n in names:
        ts = sorted(times[n])
        out[n] = {
            "p50": statistics.median(ts) * 1000,
            "p95": ts[min(len(ts) - 1, int(0.95 * len(ts)))] * 1000,
            "kb": statistics.median(sizes[n]) / 1024,
        }
    return out


def concurrent(port: int, path: str, headers: dict[str, str], tiles: list[tuple[int, int, int]]) -> float:
    clients = [Client(port, path, headers) for _ in range(8)]
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            for k in range(len(tiles)):
                clients[i].get(*tiles[(i + k) % len(tiles)])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(8)]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    if errors:
        raise errors[0]
    return 8 * len(tiles) / (time.perf_counter() - t)


def measure(
    name: str, port: int, path: str, headers: dict[str, str], rows: int
) -> dict[int, dict[str, float]]:
    return measure_tiles(name, port, path, headers, lambda z: tiles_at(z, rows))


def measure_tiles(
    name: str,
    port: int,
    path: str,
    headers: dict[str, str],
    pick: Callable[[int], list[tuple[int, int, int]]],
    zooms: tuple[int, ...] = ZOOMS,
) -> dict[int, dict[str, float]]:
    """`measure` with the tiles of each zoom chosen by `pick(z)`."""
    out = {}
    for z in zooms:
        tiles = pick(z)
        if not tiles:
            raise RuntimeError(f"no tiles at z{z}: is the table empty?")
        seq = sequential(Client(port, path, headers), tiles)
        seq["tps"] = concurrent(port, path, headers, tiles)
        seq["n"] = len(tiles)
        out[z] = seq
        print(
            f"{name} z{z}: p50 {seq['p50']:.1f} ms p95 {seq['p95']:.1f} ms {seq['kb']:.0f} KB {seq['tps']:.0f} tiles/s",
            flush=True,
        )
    return out


def existing(name: str) -> tuple[str, Callable[[int], list[tuple[int, int, int]]]]:
    """The URL of an existing riskmap database `name` (with an admin `bench-tiles` for the API key) and the
    tiles to ask there: those nearest the centre of risk_units' extent."""
    if not database_exists(name):
        raise SystemExit(f"no database {name!r}")
    url = server_url().set(database=name).render_as_string(hide_password=False)
    engine = create_engine(url)
    with engine.begin() as conn:
        box = conn.execute(
            text(
                "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(geom) e FROM risk_units) b"
            )
        ).one()
        if not users.principal_of(conn, "bench-tiles"):
            users.remove_user(conn, SYSTEM, "bench-tiles")  # an inactive one
            users.create_user(conn, SYSTEM, "bench-tiles", "a long bench password 1", "admin")
    engine.dispose()
    if box[0] is None:
        raise SystemExit(f"{name}: risk_units is empty")
    x0, y0, x1, y1 = (float(v) for v in box)
    centre, lon_d, lat_d = ((x0 + x1) / 2, (y0 + y1) / 2), (x1 - x0) / 2, (y1 - y0) / 2
    return url, lambda z: tiles_around(z, centre, lon_d, lat_d)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--peer-python", default=os.environ.get("BENCH_TIPG_PYTHON", "python3"))
    ap.add_argument("--skip-load", action="store_true")
    ap.add_argument(
        "--database", help="measure this existing riskmap database's risk_units as they are (no load)"
    )
    args = ap.parse_args()
    pick: Callable[[int], list[tuple[int, int, int]]] = lambda z: tiles_at(z, args.rows)  # noqa: E731
    if args.database:
        url, pick = existing(args.database)
    elif args.skip_load:
        url = str(make_url(os.environ.get("BENCH_URL", "")))
    else:
        url = create_database(DB)
        t = time.perf_counter()
        load(url, args.rows)
        print(f"loaded {args.rows} polygons in {time.perf_counter() - t:.1f} s", flush=True)
    key = api_key(url)
    ours = riskmap_command(url, 8791, SECRET)
    tipg, tipg_env = tipg_command(args.peer_python, url, 8792)
    results: dict[str, Any] = {"riskmap, cache off": {}, "riskmap, cache on": {}, "tipg": {}}
    print(machine(), f"load average {os.getloadavg()[0]:.1f}", flush=True)
    # riskmap (cache off) and tipg are up at once and asked request by request in turn (sequential), then
    # zoom by zoom in turn (concurrent): on a shared machine the load moves by 2-4x within minutes, so a peer
    # measured minutes later is not measured under the same load.
    with server(ours, {"RISKMAP_TILE_CACHE_MB": "0"}, 8791), server(tipg, tipg_env, 8792):
        peers = {
            "riskmap, cache off": (8791, OURS_PATH, {"X-API-Key": key}),
            "tipg": (8792, TIPG_PATH, {}),
        }
        for i, z in enumerate(ZOOMS):
            tiles = pick(z)
            seq = alternating({n: Client(*peer) for n, peer in peers.items()}, tiles)
            for n in list(peers)[:: -1 if i % 2 else 1]:
                seq[n]["tps"] = concurrent(*peers[n], tiles)
                seq[n]["n"] = len(tiles)
                results[n][z] = seq[n]
                r = seq[n]
                print(
                    f"{n} z{z}: p50 {r['p50']:.1f} ms p95 {r['p95']:.1f} ms {r['kb']:.0f} KB {r['tps']:.0f} tiles/s",
                    flush=True,
                )
    with server(ours, {"RISKMAP_TILE_CACHE_MB": "64"}, 8791):
        results["riskmap, cache on"] = measure_tiles(
            "riskmap, cache on", 8791, OURS_PATH, {"X-API-Key": key}, pick
        )
    print(f"load average {os.getloadavg()[0]:.1f}", flush=True)
    print("| zoom | " + " | ".join(f"{k} p50 / p95 ms, KB, tiles/s (8 clients)" for k in results) + " |")
    print("|---" * (len(results) + 1) + "|")
    for z in ZOOMS:
        cells = [
            f"{r[z]['p50']:.1f} / {r[z]['p95']:.1f}, {r[z]['kb']:.0f} KB, {r[z]['tps']:.0f}"
            for r in results.values()
        ]
        print(f"| z{z} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
