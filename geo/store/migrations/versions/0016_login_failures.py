"""failed sign-ins in the database, so every worker process and a restart see the same counts

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04 15:05:00

`api/login_limit.py` kept the failures of each (username, address) pair and each address in one process's
memory: `riskmap serve --workers 4` allowed four times the limit, and a restart forgot them. One row per
failed (or in-flight) attempt and key; rows that left the window are deleted as attempts come in. `at` is
seconds since the epoch (the limiter's clock), so a test can run its own clock.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE login_failures (
            id bigserial PRIMARY KEY,
            kind text NOT NULL CHECK (kind IN ('pair', 'address')),
            key text NOT NULL,
            at double precision NOT NULL
        )
        """
    )
    op.execute("CREATE INDEX login_failures_key_at ON login_failures (kind, key, at)")
    op.execute("CREATE INDEX login_failures_at ON login_failures (at)")


def downgrade() -> None:
    op.execute("DROP TABLE login_failures")
