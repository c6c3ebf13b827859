"""Settings from the environment (prefix RISKMAP_, plus DATABASE_URL), built once by the app factory."""

from __future__ import annotations

import itertools
import math
import zlib
from collections import Counter
from collections.abc import Sequence
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from geo.errors import SetupError

LOCAL_DATABASE_URL = "postgresql+psycopg2://riskmap@127.0.0.1:5432/riskmap"


class DatabaseSettings(BaseSettings):
    """Where the PostGIS database is. Without DATABASE_URL, the local one `riskmap db up` makes."""

    model_config = SettingsConfigDict(extra="ignore")

    database_url: str | None = Field(default=None, validation_alias="DATABASE_URL")
    pool_size: int = Field(default=5, validation_alias="RISKMAP_DB_POOL_SIZE")
    statement_timeout_ms: int = Field(default=60_000, validation_alias="RISKMAP_DB_STATEMENT_TIMEOUT_MS")

    @property
    def sqlalchemy_url(self) -> str:
        """DATABASE_URL, else the local database `riskmap db up` made (its URL saved beside the user's config)."""
        url = self.database_url
        if not url:
            from geo.store.bootstrap import saved_database_url

            url = saved_database_url() or LOCAL_DATABASE_URL
        if url.startswith("postgres://"):
            url = "postgresql://" + url.removeprefix("postgres://")
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg2://" + url.removeprefix("postgresql://")
        return url


class ApiSettings(BaseSettings):
    """How the HTTP service behaves."""

    model_config = SettingsConfigDict(env_prefix="RISKMAP_", extra="ignore")

    title: str = "riskmap"
    default_page_size: int = 100
    max_page_size: int = 5_000
    cors_origins: list[str] = []
    debug: bool = False
    worker_threads: int = Field(
        default=6,
        ge=1,
        description="threads per worker process running requests at once (RISKMAP_WORKER_THREADS); more wait "
        "their turn. Python runs one thread at a time: 40 (the default of the server's thread pool) made every "
        "request wait for the others' turns, and 32 clients got a third of the throughput of 8 (bench/load.py)",
    )


class MapSettings(BaseSettings):
    """How maps look: base tiles (none by default: government networks are often closed), palette."""

    model_config = SettingsConfigDict(env_prefix="RISKMAP_MAP_", extra="ignore")

    tiles: Literal["none", "osm", "tianditu", "custom"] = "none"
    tiles_url: str | None = None
    tiles_attribution: str | None = None
    tiles_subdomains: str | None = None
    tianditu_key: str | None = None
    palette: str = Field(
        default="#FF0000,#FF7F00,#FFFF00,#0000FF",
        description="colours of levels 1–4 (红橙黄蓝), comma-separated",
    )
    asset_prefix: str = "/static/vendor"
    data_source: str = "riskmap 风险数据库"
    max_risk_units: int = Field(default=5_000, description="above this, the map draws only levels 1–2 units")

    def palette_map(self) -> dict[int, str]:
        colours = [c.strip() for c in self.palette.split(",")]
        if len(colours) != 4 or not all(colours):
            raise ValueError("RISKMAP_MAP_PALETTE needs four colours, for levels 1 to 4")
        return dict(zip((1, 2, 3, 4), colours, strict=True))


class AnalysisSettings(BaseSettings):
    """Rules of the analyses that a government may choose."""

    model_config = SettingsConfigDict(env_prefix="RISKMAP_", extra="ignore")

    enterprise_level_rule: Literal["max", "weighted"] = Field(
        default="max", description="an enterprise's level from its risk units: max (就高) or weighted"
    )


# Secrets that must never sign production tokens: empty, placeholders, the examples of documentation.
WEAK_SECRETS = frozenset({"", "secret", "changeme", "change-me", "dev", "development", "riskmap", "default"})
MIN_SECRET_LENGTH = 32
MIN_SECRET_BITS = 128


def _shannon_bits(symbols: Sequence[object]) -> float:
    n = len(symbols)
    return max(0.0, -sum(c * math.log2(c / n) for c in Counter(symbols).values())) if n else 0.0


def estimated_secret_bits(value: str) -> float:
    """A generous estimate of a secret's entropy, the least of: the Shannon entropy of its characters times
    its length; the same of the steps between neighbouring characters; the bits zlib needs for it (less
    its framing). One repeated letter is 0 bits, a run such as `abcdef…` or a repeated block such as
    `Zq9-Zq9-…` next to nothing; 64 random hex digits or `secrets.token_urlsafe(48)` are well over 128
    (32 hex digits hold 128 bits, but no estimate from the characters can tell: use more). It cannot
    see that a secret was published somewhere."""
    steps = [ord(b) - ord(a) for a, b in itertools.pairwise(value)]
    compressed = 8 * max(0, len(zlib.compress(value.encode(), 9)) - 8)
    return min(_shannon_bits(value), _shannon_bits(steps), float(compressed))


class AuthSettings(BaseSettings):
    """Sign-in: the token-signing secret, token (and browser session) lifetime, and whether this is a
    production service."""

    model_config = SettingsConfigDict(env_prefix="RISKMAP_AUTH_", extra="ignore")

    secret: SecretStr | None = Field(
        default=None,
        description="HS256 key of the access tokens; production needs 32+ random characters, about 128 bits "
        "of entropy or more (e.g. `secrets.token_urlsafe(48)`)",
    )
    token_minutes: int = Field(default=60, ge=1, le=7 * 24 * 60, description="lifetime of an access token")
    environment: Literal["development", "production"] = Field(
        default="development",
        description="production refuses to start without a strong secret; development makes one and keeps "
        "it in ~/.config/riskmap/auth.env (0600)",
    )
    login_max_failures: int = Field(
        default=5,
        ge=1,
        description="failed sign-ins of one username from one client address within the window before 429",
    )
    login_max_failures_per_address: int = Field(
        default=20,
        ge=1,
        description="failed sign-ins from one client address within the window before 429 (raise it when "
        "many users share one address, e.g. an office behind one NAT or a proxy that does not forward it)",
    )
    login_window_minutes: float = Field(
        default=15, gt=0, le=24 * 60, description="the sliding window the failed sign-ins are counted in"
    )
    cookie_secure: bool | None = Field(
        default=None,
        description="whether the browser session cookie is Secure (sent over HTTPS only); unset, it is when "
        "the sign-in request came over HTTPS (behind a TLS proxy, run uvicorn with --proxy-headers)",
    )

    def signing_key(self) -> str:
        """The secret to sign tokens with; in production a missing, default, short or guessable one (under
        `MIN_SECRET_BITS` by `estimated_secret_bits`) is refused. Development accepts any it is given."""
        value = self.secret.get_secret_value() if self.secret is not None else None
        if self.environment == "production":
            advice = (
                "in production (RISKMAP_AUTH_ENVIRONMENT=production), e.g. "
                '`python -c "import secrets; print(secrets.token_urlsafe(48))"`; refusing to start'
            )
            if value is None or value.strip().lower() in WEAK_SECRETS or len(value) < MIN_SECRET_LENGTH:
                raise SetupError(
                    "RISKMAP_AUTH_SECRET must be set to a random string of at least "
                    f"{MIN_SECRET_LENGTH} characters {advice}"
                )
            bits = estimated_secret_bits(value)
            if bits < MIN_SECRET_BITS:
                raise SetupError(
                    f"RISKMAP_AUTH_SECRET is long enough but not random: about {bits:.0f} bits of entropy "
                    f"(estimated from its characters), at least {MIN_SECRET_BITS} are needed {advice}"
                )
            return value
        if value:
            return value
        from geo.store.bootstrap import saved_auth_secret

        return saved_auth_secret()


class ImportSettings(BaseSettings):
    """Limits of register imports (POST /api/v1/imports)."""

    model_config = SettingsConfigDict(env_prefix="RISKMAP_IMPORT_", extra="ignore")

    max_upload_bytes: int = Field(default=50 * 1024 * 1024, description="largest upload, in bytes")
    max_unzipped_bytes: int = Field(default=1 << 30, description="largest total size a zip may expand to")
    max_zip_members: int = Field(default=1_000, description="most files a zip may hold")
    max_zip_ratio: float = Field(default=200.0, description="largest compression ratio of a zip member")


class LimitSettings(BaseSettings):
    """What one request may cost (docs/security.md, Limits): checked before any work starts, with a time
    limit on the work itself. Per role as JSON, e.g. RISKMAP_LIMIT_MAX_ZONES='{"public": 10000, ...}'
    (a role left out keeps its default)."""

    model_config = SettingsConfigDict(env_prefix="RISKMAP_LIMIT_", extra="ignore")

    max_body_bytes: int = Field(
        default=20 * 1024 * 1024,
        description="largest request body other than a multipart upload (JSON features, boundaries), in bytes; "
        "refused with 413 before authentication",
    )
    max_zones: dict[str, int] = Field(
        default={"public": 20_000, "enterprise": 20_000, "regulator": 50_000, "admin": 100_000},
        description="most zones (cells, children…) one map or analysis may have, per role",
    )
    max_zone_units: dict[str, float] = Field(
        default={"public": 2e9, "enterprise": 2e9, "regulator": 1e10, "admin": 1e11},
        description="most zones × risk units in the area (a planner estimate) one map or analysis may cover, "
        "per role: a coarse bound on the aggregation and the map's layers beside the zone cap",
    )
    seconds: dict[str, float] = Field(
        default={"public": 20, "enterprise": 20, "regulator": 60, "admin": 120},
        description="time limit of one expensive request (Python and SQL work), per role",
    )
    max_concurrent: int = Field(
        default=2, ge=1, description="expensive requests one process runs at once; more are refused with 429"
    )

    def for_role(self, field: str, role: str) -> float:
        values: dict[str, float] = getattr(self, field)
        defaults: dict[str, float] = type(self).model_fields[field].default
        return values.get(role, defaults[role])


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    db: DatabaseSettings = Field(default_factory=DatabaseSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    maps: MapSettings = Field(default_factory=MapSettings)
    analysis: AnalysisSettings = Field(default_factory=AnalysisSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    imports: ImportSettings = Field(default_factory=ImportSettings)
    limits: LimitSettings = Field(default_factory=LimitSettings)
