"""Signing in, for the tests: the suite's token secret, users of each role, their bearer headers."""

from __future__ import annotations

import secrets
import uuid

from sqlalchemy import Engine, text

TEST_SECRET = secrets.token_urlsafe(32)  # signs the suite's tokens; made per run, never stored


def add_test_user(
    engine: Engine, role: str, *, adcodes: tuple[str, ...] = (), enterprise_id: int | None = None
) -> str:
    """A user row for the tests (its password is unknown: the tests sign in with minted tokens)."""
    username = f"test-{role}-{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO users (username, password_hash, role, adcodes, enterprise_id) "
                "VALUES (:u, 'not a hash: no password signs in', :r, :a, :e)"
            ),
            {"u": username, "r": role, "a": list(adcodes), "e": enterprise_id},
        )
    return username


def bearer(username: str, role: str) -> dict[str, str]:
    """The Authorization header of a token for `username`, signed with the suite's secret."""
    from api.auth import mint_token
    from geo.access import Principal, Role

    return {"Authorization": f"Bearer {mint_token(Principal(Role(role), username), TEST_SECRET, 60)}"}
