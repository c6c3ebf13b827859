"""Who is asking: the principal every data-access call is made for.

The API turns a token or an API key into a `Principal`; `geo/store/` takes one on every read and
write of the register and applies its scope there, so a route cannot forget it. Roles:

- ``admin``: everything.
- ``regulator``: reads everything inside its jurisdictions (adcode subtrees); writes public-area risks
  and protection targets there; verifies close-outs (销号).
- ``enterprise``: reads and writes only its own enterprise and that enterprise's risk units.
- ``public`` (anonymous): only published maps and aggregated statistics — never names, people, phones or
  the exact position of a single risk unit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from geo.errors import RiskmapError


class Role(StrEnum):
    admin = "admin"
    regulator = "regulator"
    enterprise = "enterprise"
    public = "public"


class Forbidden(RiskmapError):
    """The principal is known but may not do this (HTTP 403)."""


class Unauthenticated(RiskmapError):
    """No valid credentials were given where they are needed (HTTP 401)."""


@dataclass(frozen=True)
class Principal:
    """An authenticated user (or the anonymous public) and the scope of what it may touch."""

    role: Role
    username: str = "anonymous"
    user_id: int | None = None
    adcodes: tuple[str, ...] = field(default=())  # regulator: roots of the subtrees it oversees
    enterprise_id: int | None = None  # enterprise: the one enterprise it speaks for

    @property
    def is_admin(self) -> bool:
        return self.role is Role.admin

    @property
    def is_public(self) -> bool:
        return self.role is Role.public

    @property
    def actor(self) -> str:
        """How history records name this principal."""
        return self.username


ANONYMOUS = Principal(Role.public)
SYSTEM = Principal(
    Role.admin, username="system"
)  # command-line loads (`riskmap demo`, imports by an operator)
