"""Users on the command line (`riskmap users …`) and the demo's users, one per role."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from api.settings import Settings
from geo.access import SYSTEM, Role
from geo.errors import SetupError
from geo.store import users
from geo.store.bootstrap import config_dir
from geo.store.engine import make_engine
from geo.store.models import Enterprise
from geo.store.repository import jurisdiction_subtree

DEMO_FILE_NAME = "demo-users.txt"
DEMO_REGULATOR_ADCODE = "350505"  # 泉港区, the county of the seed documents


def _engine(settings: Settings) -> Engine:
    return make_engine(settings.db.sqlalchemy_url, pool_size=1)


def add_user(
    settings: Settings,
    username: str,
    password: str,
    role: str,
    *,
    adcodes: Sequence[str] = (),
    enterprise_id: int | None = None,
) -> None:
    engine = _engine(settings)
    try:
        with engine.begin() as conn:
            users.create_user(
                conn, SYSTEM, username, password, role, adcodes=adcodes, enterprise_id=enterprise_id
            )
    finally:
        engine.dispose()


def list_users(settings: Settings) -> list[dict[str, Any]]:
    engine = _engine(settings)
    try:
        with engine.connect() as conn:
            return users.list_users(conn, SYSTEM)
    finally:
        engine.dispose()


def new_api_key(settings: Settings, username: str) -> str:
    engine = _engine(settings)
    try:
        with engine.begin() as conn:
            return users.create_api_key(conn, SYSTEM, username)
    finally:
        engine.dispose()


def list_api_keys(settings: Settings, username: str) -> list[dict[str, Any]]:
    engine = _engine(settings)
    try:
        with engine.connect() as conn:
            return users.list_api_keys(conn, SYSTEM, username)
    finally:
        engine.dispose()


def revoke_api_keys(settings: Settings, username: str, key: str | None) -> list[dict[str, Any]]:
    """Revoke one key of a user (by id, prefix or the whole key), or all its keys when `key` is None."""
    engine = _engine(settings)
    try:
        with engine.begin() as conn:
            return users.revoke_api_keys(conn, SYSTEM, username, key)
    finally:
        engine.dispose()


def set_active(settings: Settings, username: str, active: bool) -> bool:
    engine = _engine(settings)
    try:
        with engine.begin() as conn:
            return users.set_active(conn, SYSTEM, username, active)
    finally:
        engine.dispose()


def demo_file(directory: Path | None = None) -> Path:
    return (directory or config_dir()) / DEMO_FILE_NAME


def _write_private(path: Path, text: str) -> None:
    """Write a file only its owner may read (0600), replacing it whole."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def demo_users(
    engine: Engine, *, echo: Callable[[str], None] = print, directory: Path | None = None
) -> list[tuple[str, str, str]]:
    """One demo user per role with a random password: demo-admin, demo-regulator (泉港区 350505) and
    demo-enterprise (the first synthetic enterprise of 泉港区). Made again on every demo load (the
    enterprise ids change); printed and kept in ~/.config/riskmap/demo-users.txt (0600)."""
    with engine.begin() as conn:
        enterprise = conn.execute(
            select(Enterprise.id, Enterprise.name)
            .where(
                Enterprise.synthetic,
                Enterprise.jurisdiction_adcode.in_(jurisdiction_subtree(DEMO_REGULATOR_ADCODE)),
            )
            .order_by(Enterprise.id)
            .limit(1)
        ).first()
        if enterprise is None:
            raise SetupError(f"the demo has no enterprise in {DEMO_REGULATOR_ADCODE}: load the demo first")
        made = []
        for role, scope in (
            (Role.admin, {}),
            (Role.regulator, {"adcodes": [DEMO_REGULATOR_ADCODE]}),
            (Role.enterprise, {"enterprise_id": int(enterprise.id)}),
        ):
            username = f"demo-{role}"
            password = secrets.token_urlsafe(12)
            users.remove_user(conn, SYSTEM, username)
            users.create_user(conn, SYSTEM, username, password, str(role), **scope)
            what = {
                Role.admin: "everything",
                Role.regulator: f"泉港区 {DEMO_REGULATOR_ADCODE} and below",
                Role.enterprise: f"enterprise {enterprise.id} {enterprise.name}",
            }[role]
            made.append((username, password, what))
    path = demo_file(directory)
    lines = [f"{u}\t{p}\t{w}" for u, p, w in made]
    _write_private(path, "# riskmap demo users: username, password, scope\n" + "\n".join(lines) + "\n")
    echo("demo users (sign in at /login in a browser, /docs → Authorize, or POST /api/v1/auth/token):")
    for u, p, w in made:
        echo(f"  {u:16} {p}   ({w})")
    echo(f"kept in {path} (readable by you only)")
    return made
