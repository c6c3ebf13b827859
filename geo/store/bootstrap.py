"""Make a PostGIS database ready with no configuration (`riskmap db up`).

Two paths:

* ``DATABASE_URL`` given: check it connects, make sure the ``postgis`` extension is there, run the
  migrations. Nothing is installed or started on this machine.
* Nothing given: a local PostGIS on Debian/Ubuntu. Install PostgreSQL + PostGIS with apt-get when
  missing, create/start a cluster (postgresql-common's ``pg_*cluster`` tools), create the ``riskmap``
  role, database and ``riskmap_template`` (PostGIS installed, ``IS_TEMPLATE``) as the ``postgres``
  OS user, save the connection URL (random password) to ``$XDG_CONFIG_HOME/riskmap/database.env``
  and run the migrations.

Every step is idempotent and says whether it changed anything, so a second run is a no-op.
"""

from __future__ import annotations

import glob
import os
import re
import secrets
import shlex
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from geo.errors import SetupError

ROLE = "riskmap"
DATABASE = "riskmap"
TEMPLATE = "riskmap_template"
ENV_FILE_NAME = "database.env"
MIN_SERVER_MAJOR = 13
POSTGIS_SERVER_EXAMPLES = (
    "e.g. `sudo apt-get install postgresql postgresql-15-postgis-3` on Debian/Ubuntu, "
    "`brew install postgresql@16 postgis` on macOS, or `docker run -d -p 5432:5432 "
    "-e POSTGRES_PASSWORD=secret postgis/postgis:16-3.4`"
)
_SETUP_HINT = (
    f"install PostgreSQL ≥ {MIN_SERVER_MAJOR} with PostGIS 3 ({POSTGIS_SERVER_EXAMPLES}), "
    "or set DATABASE_URL=postgresql://user:pass@host/db to a PostGIS server"
)

_PG_BIN_GLOB = "/usr/lib/postgresql/*/bin/postgres"
_POSTGIS_CONTROL_GLOB = "/usr/share/postgresql/*/extension/postgis.control"
_CANDIDATE_VERSIONS = ("17", "16", "15", "14", "13")
_VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TRANSIENT = (
    "connection refused",
    "the database system is starting up",
    "the database system is shutting down",
    "could not connect to server",
    "no such file or directory",
    "timeout expired",
    "server closed the connection unexpectedly",
)


# --------------------------------------------------------------------------------------------- report


@dataclass
class Step:
    """One thing `db up` checked or did."""

    name: str
    changed: bool
    detail: str

    def line(self) -> str:
        return f"{self.name}: {self.detail}"


@dataclass
class DbUpReport:
    """What `db up` did; `url` holds the real password, `display_url` masks it."""

    url: str
    steps: list[Step] = field(default_factory=list)
    config_file: Path | None = None

    @property
    def display_url(self) -> str:
        return mask_url(self.url)

    @property
    def changed(self) -> bool:
        return any(step.changed for step in self.steps)


NOTHING_TO_DO = "nothing to do: the database was already ready"


class _Recorder:
    def __init__(self, report: DbUpReport, echo: Callable[[str], None]) -> None:
        self.report = report
        self.echo = echo

    def __call__(self, name: str, changed: bool, detail: str) -> Step:
        step = Step(name, changed, detail)
        self.report.steps.append(step)
        self.echo(step.line())
        return step

    def finish(self) -> DbUpReport:
        if self.report.changed:
            where = f", saved in {self.report.config_file}" if self.report.config_file else ""
            self.echo(f"ready: {self.report.display_url}{where}")
        else:
            self.echo(NOTHING_TO_DO)
        return self.report


# ------------------------------------------------------------------------------------------------ URLs


def mask_url(url: str) -> str:
    """The URL with its password replaced by ***; never raises."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


def _password_of(url: str) -> str | None:
    try:
        from sqlalchemy.engine import make_url

        pw = make_url(url).password
        return None if pw is None else str(pw)
    except Exception:
        return None


def _scrub(text: str, url: str) -> str:
    pw = _password_of(url)
    return text.replace(pw, "***") if pw else text


def normalize_url(url: str) -> str:
    """postgres:// and postgresql:// → postgresql+psycopg2:// (the driver riskmap ships with)."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg2://" + url.removeprefix("postgresql://")
    return url


def _libpq_params(url: str) -> dict[str, str | int]:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        u = make_url(normalize_url(url))
    except (ArgumentError, ValueError) as exc:
        raise SetupError(
            f"DATABASE_URL is not a valid URL ({mask_url(url)}): {_scrub(str(exc), url)}"
        ) from exc
    params: dict[str, str | int] = {}
    for key, value in u.translate_connect_args(username="user", database="dbname").items():
        if value is not None and value != "":
            params[key] = value
    for key, value in u.query.items():
        params[key] = value if isinstance(value, str) else value[-1]
    return params


def _where(url: str) -> str:
    try:
        p = _libpq_params(url)
    except SetupError:
        return mask_url(url)
    host = p.get("host", "localhost (socket)")
    port = p.get("port", 5432)
    return f"{host}:{port}, database {p.get('dbname', '?')!s} as user {p.get('user', '?')!s}"


def local_database_url(
    password: str | None = None,
    port: int | None = None,
    *,
    role: str = ROLE,
    database: str = DATABASE,
    host: str = "127.0.0.1",
) -> str:
    """The local database's URL.

    With a password, build it (`postgresql+psycopg2://role:password@127.0.0.1:port/database`).
    Without one, the URL `riskmap db up` saved (SetupError when it has not been run yet).
    """
    if password is None:
        saved = saved_database_url()
        if saved is None:
            raise SetupError(
                f"no local database has been set up ({config_file()} is missing): run `riskmap db up`, "
                "or set DATABASE_URL=postgresql://user:pass@host/db"
            )
        return saved
    return (
        f"postgresql+psycopg2://{quote(role, safe='')}:{quote(password, safe='')}"
        f"@{host}:{port or 5432}/{quote(database, safe='')}"
    )


# ------------------------------------------------------------------------------------- saved URL file


def config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "riskmap"


def config_file(directory: Path | None = None) -> Path:
    return (directory or config_dir()) / ENV_FILE_NAME


def _read_env_file(path: Path, name: str = "DATABASE_URL") -> str | None:
    try:
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise SetupError(f"cannot read {path}: {exc.strerror}") from exc
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("export "):
            line = line.removeprefix("export ").strip()
        if line.startswith(f"{name}="):
            value = line.removeprefix(f"{name}=").strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            return value or None
    return None


def saved_database_url(directory: Path | None = None) -> str | None:
    """DATABASE_URL saved by `riskmap db up` (in $XDG_CONFIG_HOME/riskmap/database.env), if any."""
    return _read_env_file(config_file(directory))


def _write_env_file(path: Path, url: str, name: str = "DATABASE_URL") -> bool:
    """Write `name=url` (DATABASE_URL by default) with mode 0600; return whether the file changed."""
    content = f"{name}={url}\n"
    try:
        current = path.read_text(encoding="utf-8")
    except OSError:
        current = None
    if current == content:
        if path.stat().st_mode & 0o077:
            path.chmod(0o600)
            return True
        return False
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(content)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return True


AUTH_FILE_NAME = "auth.env"


def saved_auth_secret(directory: Path | None = None) -> str:
    """The development token-signing secret kept beside the database URL ($XDG_CONFIG_HOME/riskmap/auth.env,
    mode 0600): made (random, 256 bits) on first use, so no secret is ever in the repository."""
    path = (directory or config_dir()) / AUTH_FILE_NAME
    secret = _read_env_file(path, "RISKMAP_AUTH_SECRET")
    if secret is None:
        secret = secrets.token_urlsafe(32)
        _write_env_file(path, secret, "RISKMAP_AUTH_SECRET")
    return secret


# ------------------------------------------------------------------------------------------ processes


def _tail(text: str, lines: int = 12) -> str:
    out = [ln for ln in text.strip().splitlines() if ln.strip()]
    return "\n".join(out[-lines:])


def _env() -> dict[str, str]:
    # libpq variables of the caller must not redirect the admin commands; messages in English to parse.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C"
    env.pop("LANGUAGE", None)
    return env


def _run(
    cmd: Sequence[str],
    *,
    timeout: float = 120,
    input_text: str | None = None,
    check: bool = True,
    what: str | None = None,
    extra_env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run an argument list; failures become SetupError with the command and its stderr tail."""
    shown = what or shlex.join(cmd)
    env = _env()
    if extra_env:
        env.update(extra_env)
    try:
        proc = subprocess.run(
            list(cmd),
            input=input_text,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            cwd="/",
            check=False,
        )
    except FileNotFoundError as exc:
        raise SetupError(f"`{shown}` failed: {cmd[0]} is not installed or not on PATH") from exc
    except subprocess.TimeoutExpired as exc:
        raise SetupError(f"`{shown}` did not finish within {timeout:.0f} s") from exc
    if check and proc.returncode != 0:
        tail = _tail(proc.stderr) or _tail(proc.stdout) or f"exit status {proc.returncode}"
        raise SetupError(f"`{shown}` failed:\n{tail}")
    return proc


def _is_root() -> bool:
    geteuid = getattr(os, "geteuid", None)
    return geteuid is not None and geteuid() == 0


def _current_user() -> str:
    try:
        import pwd

        return pwd.getpwuid(os.geteuid()).pw_name
    except Exception:  # no pwd module (Windows) or an unnamed uid
        return os.environ.get("USER") or ""


def _sudo_ok() -> bool:
    if shutil.which("sudo") is None:
        return False
    try:
        proc = subprocess.run(
            ["sudo", "-n", "true"], capture_output=True, timeout=15, check=False, cwd="/", env=_env()
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0


def can_administer() -> bool:
    """Whether this process can run commands as root / postgres (root, or passwordless sudo)."""
    return _is_root() or _sudo_ok()


def _as_root(cmd: list[str], why: str) -> list[str]:
    if _is_root():
        return cmd
    if _sudo_ok():
        return ["sudo", "-n", *cmd]
    raise SetupError(
        f"{why} needs root, and sudo is not available without a password. Run it yourself:\n"
        f"    sudo {shlex.join(cmd)}\n"
        "then run `riskmap db up` again (or run `riskmap db up` as root); "
        "or set DATABASE_URL=postgresql://user:pass@host/db to a PostGIS server"
    )


def _as_postgres(cmd: list[str]) -> list[str]:
    if _current_user() == "postgres":
        return cmd
    if _is_root():
        return ["runuser", "-u", "postgres", "--", *cmd]
    if _sudo_ok():
        return ["sudo", "-n", "-u", "postgres", "--", *cmd]
    raise SetupError(
        "setting up the local database runs psql as the `postgres` OS user, which needs root or "
        "passwordless sudo: run `sudo riskmap db up` (or as root), "
        "or set DATABASE_URL=postgresql://user:pass@host/db to a PostGIS server"
    )


def admin_psql(
    sql: str,
    *,
    db: str = "postgres",
    variables: dict[str, str] | None = None,
    port: int | None = None,
    timeout: float = 300,
) -> str:
    """Run `sql` with psql as the `postgres` OS user (peer auth over the local socket); return stdout.

    Values go in through `variables` (psql `-v name=value`) and are referenced as `:'name'` (a string
    literal) or `:"name"` (an identifier), so psql quotes them. Output is unaligned, tuples only.
    """
    cmd = ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", db]
    if port is not None:
        cmd += ["-p", str(int(port))]
    for name, value in (variables or {}).items():
        if not _VAR_NAME.match(name):
            raise ValueError(f"bad psql variable name {name!r}")
        cmd += ["-v", f"{name}={value}"]
    cmd += ["-f", "-"]
    full = _as_postgres(cmd)
    proc = _run(full, input_text=sql, timeout=timeout, what=f"psql -d {db} (as postgres)", check=False)
    if proc.returncode != 0:
        tail = _tail(proc.stderr) or _tail(proc.stdout) or f"exit status {proc.returncode}"
        raise SetupError(f"psql as postgres in database {db!r} failed:\n{tail}")
    return proc.stdout.strip()


# --------------------------------------------------------------------------------------- connections


def _try_connect(url: str, connect_timeout: int = 5) -> tuple[Any, str | None]:
    """(connection, None) or (None, reason)."""
    import psycopg2

    params = _libpq_params(url)
    params.setdefault("connect_timeout", connect_timeout)
    try:
        return psycopg2.connect(**params), None
    except psycopg2.Error as exc:
        return None, _scrub(str(exc).strip(), url)


def _connect_error(url: str, reason: str) -> SetupError:
    return SetupError(f"cannot connect to PostgreSQL at {_where(url)} ({mask_url(url)}): {reason}")


def wait_until_ready(url: str, timeout_s: float = 30) -> None:
    """Wait until `url` accepts connections; SetupError (password masked) when it does not in time.

    Only waits out transient failures (refused, starting up); a bad password or missing database
    fails at once.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        conn, reason = _try_connect(url)
        if conn is not None:
            conn.close()
            return
        assert reason is not None
        transient = any(t in reason.lower() for t in _TRANSIENT)
        if not transient or time.monotonic() >= deadline:
            raise _connect_error(url, reason)
        time.sleep(0.5)


# --------------------------------------------------------------------------------------- migrations


def _migrate(url: str, record: _Recorder) -> None:
    from sqlalchemy.exc import OperationalError

    from geo.store.migrate import upgrade

    try:
        before, after = upgrade(url)
    except OperationalError as exc:
        raise SetupError(f"migrations on {_where(url)} failed: {_scrub(str(exc.orig), url)}") from exc
    if before == after:
        record("migrations", False, f"at head {after}")
    else:
        record("migrations", True, f"upgraded {before} → {after}")


# ------------------------------------------------------------------------------- DATABASE_URL path


def _remote_db_up(url: str, record: _Recorder) -> None:
    import psycopg2

    conn, reason = _try_connect(url)
    if conn is None:
        assert reason is not None
        raise _connect_error(url, reason)
    params = _libpq_params(url)
    dbname = str(params.get("dbname", ""))
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT current_setting('server_version_num')::int, current_database()")
            version_num, dbname = cur.fetchone()
            if version_num < MIN_SERVER_MAJOR * 10000:
                raise SetupError(
                    f"PostgreSQL at {_where(url)} is version {version_num // 10000}; riskmap needs "
                    f"≥ {MIN_SERVER_MAJOR} with PostGIS 3"
                )
            record("connect", False, f"{mask_url(url)} (PostgreSQL {version_num // 10000})")
            cur.execute("SELECT extversion FROM pg_extension WHERE extname = 'postgis'")
            row = cur.fetchone()
            if row is not None:
                record("postgis", False, f"{row[0]} in {dbname}")
            else:
                cur.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'")
                if cur.fetchone() is None:
                    raise SetupError(
                        f"the PostgreSQL server at {_where(url)} has no PostGIS extension: install "
                        f"PostGIS 3 on that server ({POSTGIS_SERVER_EXAMPLES}), or point DATABASE_URL "
                        "at one that has it"
                    )
                try:
                    cur.execute("CREATE EXTENSION IF NOT EXISTS postgis")
                except psycopg2.errors.InsufficientPrivilege as exc:
                    raise SetupError(
                        f"user {params.get('user', '?')!s} may not create the postgis extension in database "
                        f"{dbname}: a superuser must run `CREATE EXTENSION postgis;` in it once, e.g. "
                        f"`psql -h {params.get('host', 'localhost')} -p {params.get('port', 5432)} "
                        f"-U postgres -d {dbname} -c 'CREATE EXTENSION postgis'`; then run `riskmap db up` "
                        "again"
                    ) from exc
                cur.execute("SELECT extversion FROM pg_extension WHERE extname = 'postgis'")
                (version,) = cur.fetchone()
                record("postgis", True, f"installed {version} in {dbname}")
    except psycopg2.Error as exc:
        raise SetupError(f"PostgreSQL at {_where(url)}: {_scrub(str(exc).strip(), url)}") from exc
    finally:
        conn.close()
    _migrate(normalize_url(url), record)


# ---------------------------------------------------------------------------------- local packages


def _major(path: str, marker: str) -> str | None:
    m = re.search(marker, path)
    return m.group(1) if m else None


def installed_servers() -> dict[str, bool]:
    """{major version: has PostGIS} for the PostgreSQL servers installed in Debian's layout."""
    servers: dict[str, bool] = {}
    for path in glob.glob(_PG_BIN_GLOB):
        v = _major(path, r"/usr/lib/postgresql/([^/]+)/bin/postgres$")
        if v:
            servers[v] = False
    for path in glob.glob(_POSTGIS_CONTROL_GLOB):
        v = _major(path, r"/usr/share/postgresql/([^/]+)/extension/postgis\.control$")
        if v in servers:
            servers[v] = True
    return servers


def _vkey(v: str) -> tuple[int, str]:
    return (int(v), v) if v.isdigit() else (-1, v)


def _is_debian() -> bool:
    return Path("/etc/debian_version").exists() or shutil.which("apt-get") is not None


def _apt_candidate(package: str) -> bool:
    proc = _run(["apt-cache", "policy", package], check=False, timeout=60)
    m = re.search(r"Candidate:\s*(\S+)", proc.stdout)
    return bool(m and m.group(1) != "(none)")


def _apt_default_version() -> str | None:
    """The distro's default PostgreSQL major (the `postgresql` metapackage's dependency)."""
    proc = _run(["apt-cache", "depends", "postgresql"], check=False, timeout=60)
    m = re.search(r"Depends:\s*postgresql-(\d+)\b", proc.stdout)
    if m and _apt_candidate(f"postgresql-{m.group(1)}-postgis-3"):
        return m.group(1)
    for v in _CANDIDATE_VERSIONS:
        if _apt_candidate(f"postgresql-{v}") and _apt_candidate(f"postgresql-{v}-postgis-3"):
            return v
    return None


def _ensure_packages(record: _Recorder, install: bool, echo: Callable[[str], None]) -> str:
    """Return the PostgreSQL major version to use, installing server/PostGIS with apt-get if needed."""
    servers = installed_servers()
    ready = sorted((v for v, gis in servers.items() if gis), key=_vkey)
    clusters = {c.version for c in _list_clusters()} if shutil.which("pg_lsclusters") else set()
    if ready:
        with_cluster = [v for v in ready if v in clusters]
        version = (with_cluster or ready)[-1]
        record("postgresql", False, f"{version} present")
        return version

    if servers:  # a server without PostGIS: add PostGIS for it
        with_cluster = [v for v in sorted(servers, key=_vkey) if v in clusters]
        version = (with_cluster or sorted(servers, key=_vkey))[-1]
        packages = [f"postgresql-{version}-postgis-3"]
        missing = f"PostgreSQL {version} is installed but PostGIS is not"
    else:
        version = ""
        packages = []
        missing = "PostgreSQL is not installed"

    if not _is_debian():
        raise SetupError(f"{missing}: {_SETUP_HINT}")
    if packages:
        planned = packages
    else:
        try:
            guess = _apt_default_version()  # apt-cache needs no root; the lists may be stale
        except SetupError:
            guess = None
        planned = ["postgresql", f"postgresql-{guess or '<version>'}-postgis-3"]
    manual = f"sudo apt-get update && sudo apt-get install -y {shlex.join(planned)}"
    if not install:
        raise SetupError(f"{missing} (installing is turned off): run `{manual}`; or {_SETUP_HINT}")
    if not (_is_root() or _sudo_ok()):
        raise SetupError(
            f"{missing}, and installing it needs root (sudo is not available without a password). Run:\n"
            f"    {manual}\n"
            "then run `riskmap db up` again; or set DATABASE_URL=postgresql://user:pass@host/db "
            "to a PostGIS server"
        )

    echo(f"postgresql: {missing.lower()}; installing with apt-get…")
    apt_env = {"DEBIAN_FRONTEND": "noninteractive"}
    _run(_as_root(["apt-get", "update"], "apt-get update"), timeout=600, extra_env=apt_env)
    if not packages:
        version = _apt_default_version() or ""
        if not version:
            raise SetupError(
                "apt cannot find a PostgreSQL server with PostGIS 3 (postgresql-<version>-postgis-3) in the "
                f"configured repositories: {_SETUP_HINT}"
            )
        packages = ["postgresql", f"postgresql-{version}", f"postgresql-{version}-postgis-3"]
    cmd = _as_root(["apt-get", "install", "-y", *packages], "installing PostgreSQL")
    if cmd[0] == "sudo":  # sudo resets the environment; pass DEBIAN_FRONTEND through env(1)
        cmd = ["sudo", "-n", "env", "DEBIAN_FRONTEND=noninteractive", *cmd[2:]]
    _run(cmd, timeout=1800, extra_env=apt_env)
    if not installed_servers().get(version):
        raise SetupError(
            f"apt-get installed {' '.join(packages)} but /usr/lib/postgresql/{version}/bin/postgres or "
            f"PostGIS for {version} is still missing: {_SETUP_HINT}"
        )
    what = "postgis for " if len(packages) == 1 else ""
    record("postgresql", True, f"installed {what}{version} (apt-get)")
    return version


# ---------------------------------------------------------------------------------------- clusters


@dataclass(frozen=True)
class Cluster:
    version: str
    name: str
    port: int
    status: str

    @property
    def online(self) -> bool:
        return self.status.split(",")[0] == "online"


def _list_clusters() -> list[Cluster]:
    proc = _run(["pg_lsclusters", "--no-header"], timeout=60)
    clusters = []
    for line in proc.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[2].isdigit():
            clusters.append(Cluster(parts[0], parts[1], int(parts[2]), parts[3]))
    return clusters


def _ensure_cluster(version: str, record: _Recorder) -> Cluster:
    if shutil.which("pg_lsclusters") is None:
        raise SetupError(
            "pg_lsclusters (Debian's postgresql-common) is not on PATH, so riskmap cannot manage a local "
            f"cluster: install the `postgresql-common` package; or {_SETUP_HINT}"
        )
    mine = [c for c in _list_clusters() if c.version == version]
    mine.sort(key=lambda c: (not c.online, c.name != "main", c.name))
    if not mine:
        _run(
            _as_root(
                ["pg_createcluster", version, "main", "--start"], f"creating PostgreSQL {version} cluster"
            ),
            timeout=300,
        )
        cluster = _find_cluster(version, "main")
        record(f"cluster {version}/main", True, f"created and started on port {cluster.port}")
        return cluster
    cluster = mine[0]
    label = f"cluster {cluster.version}/{cluster.name}"
    if cluster.online:
        record(label, False, "already running")
        return cluster
    _run(
        _as_root(
            ["pg_ctlcluster", cluster.version, cluster.name, "start"], f"starting the PostgreSQL {label}"
        ),
        timeout=300,
    )
    cluster = _find_cluster(cluster.version, cluster.name)
    if not cluster.online:
        raise SetupError(
            f"{label} did not come online (status {cluster.status}); see "
            f"/var/log/postgresql/postgresql-{cluster.version}-{cluster.name}.log"
        )
    record(label, True, f"started on port {cluster.port}")
    return cluster


def _find_cluster(version: str, name: str) -> Cluster:
    for c in _list_clusters():
        if c.version == version and c.name == name:
            return c
    raise SetupError(f"cluster {version}/{name} is missing after creating it; see `pg_lsclusters`")


# ------------------------------------------------------------------------------ roles and databases


def _ensure_role(role: str, password: str | None, port: int, record: _Recorder) -> str:
    """Create or repair the login role; return the password that now works."""
    v = {"role": role}
    row = admin_psql(
        "SELECT rolcanlogin, rolcreatedb FROM pg_roles WHERE rolname = :'role'", variables=v, port=port
    )
    label = f"role {role}"
    if not row:
        password = password or secrets.token_urlsafe(24)
        admin_psql(
            "CREATE ROLE :\"role\" LOGIN CREATEDB PASSWORD :'password'",
            variables={**v, "password": password},
            port=port,
        )
        record(label, True, "created")
        return password

    can_login, can_createdb = (x == "t" for x in row.split("|"))
    reason = None
    if password is None:
        password = secrets.token_urlsafe(24)
        reason = "password reset (no saved connection file)"
    elif not can_login or not _password_works(role, password, port):
        reason = "password reset to the saved one"
    if reason is None and not can_createdb:
        admin_psql('ALTER ROLE :"role" CREATEDB', variables=v, port=port)
        record(label, True, "exists; granted CREATEDB")
        return password
    if reason is not None:
        admin_psql(
            "ALTER ROLE :\"role\" WITH LOGIN CREATEDB PASSWORD :'password'",
            variables={**v, "password": password},
            port=port,
        )
        record(label, True, reason)
        return password
    record(label, False, "exists")
    return password


def _password_works(role: str, password: str, port: int) -> bool:
    conn, reason = _try_connect(local_database_url(password, port, role=role, database="postgres"))
    if conn is not None:
        conn.close()
        return True
    assert reason is not None
    if "password authentication failed" in reason or "no password supplied" in reason:
        return False
    raise _connect_error(local_database_url(password, port, role=role, database="postgres"), reason)


def _ensure_database(name: str, owner: str, port: int, record: _Recorder, label: str) -> bool:
    """Create `name` owned by `owner` if missing; return whether it was created."""
    v = {"db": name, "owner": owner}
    current_owner = admin_psql(
        "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = :'db'", variables=v, port=port
    )
    if not current_owner:
        admin_psql('CREATE DATABASE :"db" OWNER :"owner"', variables=v, port=port)
        record(label, True, "created")
        return True
    if current_owner != owner:
        admin_psql('ALTER DATABASE :"db" OWNER TO :"owner"', variables=v, port=port)
        record(label, True, f"exists; owner changed from {current_owner} to {owner}")
        return False
    record(label, False, "exists")
    return False


def _postgis_version(db: str, port: int) -> str:
    return admin_psql("SELECT extversion FROM pg_extension WHERE extname = 'postgis'", db=db, port=port)


def _ensure_postgis(db: str, port: int) -> tuple[bool, str]:
    """(created?, version) of the postgis extension in `db`."""
    version = _postgis_version(db, port)
    if version:
        return False, version
    admin_psql("CREATE EXTENSION IF NOT EXISTS postgis", db=db, port=port)
    return True, _postgis_version(db, port)


def _ensure_template(template: str, owner: str, port: int, record: _Recorder) -> None:
    """A database with PostGIS, flagged IS_TEMPLATE, for `CREATE DATABASE x TEMPLATE <template>`.

    IS_TEMPLATE is set last, so a flagged template is complete and is not connected to again (a
    connection to a template makes concurrent `CREATE DATABASE … TEMPLATE` calls fail).
    """
    v = {"db": template, "owner": owner}
    row = admin_psql(
        "SELECT datistemplate, pg_get_userbyid(datdba) FROM pg_database WHERE datname = :'db'",
        variables=v,
        port=port,
    )
    label = f"template {template}"
    if row:
        is_template, current_owner = row.split("|", 1)
        if is_template == "t" and current_owner == owner:
            record(label, False, "ready")
            return
    created = False
    if not row:
        admin_psql('CREATE DATABASE :"db" OWNER :"owner"', variables=v, port=port)
        created = True
    else:
        admin_psql('ALTER DATABASE :"db" OWNER TO :"owner"', variables=v, port=port)
    _, version = _ensure_postgis(template, port)
    admin_psql('ALTER DATABASE :"db" WITH IS_TEMPLATE true', variables=v, port=port)
    record(label, True, f"{'created' if created else 'repaired'} (postgis {version}, IS_TEMPLATE)")


# ------------------------------------------------------------------------------------------ db up


def _local_db_up(
    *,
    role: str = ROLE,
    database: str = DATABASE,
    template: str = TEMPLATE,
    config_dir: Path | None = None,
    echo: Callable[[str], None] = print,
    install: bool = True,
) -> DbUpReport:
    """The no-DATABASE_URL path with every name a parameter (tests use throwaway names)."""
    path = config_file(config_dir)
    report = DbUpReport(url="", config_file=path)
    record = _Recorder(report, echo)

    version = _ensure_packages(record, install, echo)
    cluster = _ensure_cluster(version, record)
    wait_until_ready_socket(cluster.port)

    saved = _read_env_file(path)
    saved_password = None
    if saved is not None:
        try:
            params = _libpq_params(saved)
        except SetupError:
            params = {}
        if params.get("user") == role and params.get("dbname") == database:
            saved_password = _password_of(saved)

    password = _ensure_role(role, saved_password, cluster.port, record)
    _ensure_database(database, role, cluster.port, record, f"database {database}")
    created, gis_version = _ensure_postgis(database, cluster.port)
    record("postgis", created, f"{'installed ' if created else ''}{gis_version} in {database}")
    _ensure_template(template, role, cluster.port, record)

    url = local_database_url(password, cluster.port, role=role, database=database)
    report.url = url
    changed = _write_env_file(path, url)
    record("connection file", changed, f"{'saved' if changed else 'unchanged'} {path}")

    wait_until_ready(url)
    _migrate(url, record)
    return record.finish()


def wait_until_ready_socket(port: int, timeout_s: float = 30) -> None:
    """Wait until the local cluster on `port` answers `pg_isready` (when the tool is there)."""
    if shutil.which("pg_isready") is None:
        return
    deadline = time.monotonic() + timeout_s
    while True:
        proc = _run(["pg_isready", "-q", "-p", str(port)], check=False, timeout=30)
        if proc.returncode == 0:
            return
        if time.monotonic() >= deadline:
            raise SetupError(f"the local PostgreSQL on port {port} is not accepting connections (pg_isready)")
        time.sleep(0.5)


def db_up(
    database_url: str | None,
    *,
    echo: Callable[[str], None] = print,
    install: bool = True,
) -> DbUpReport:
    """Make a PostGIS database ready: the one at `database_url`, or a local one set up from scratch.

    With `database_url`: connect, ensure PostGIS, migrate; never installs or starts anything here.
    Without: install/start a local PostgreSQL + PostGIS (Debian/Ubuntu), create role, database and
    template, save the URL to $XDG_CONFIG_HOME/riskmap/database.env, migrate. Idempotent.
    """
    if database_url:
        report = DbUpReport(url=database_url)
        record = _Recorder(report, echo)
        _remote_db_up(database_url, record)
        return record.finish()
    return _local_db_up(echo=echo, install=install)
