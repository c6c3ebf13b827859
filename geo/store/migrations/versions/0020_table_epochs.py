"""tile_epoch per table: the answer cache knows which tables moved

Revision ID: 0019l
Revises: 0019h
Create Date: 2026-12-04 17:00:00

Migration 0017's statement trigger `tile_epoch_bump` moves one counter, `tile_epoch`, on every write to
jurisdictions, enterprises, risk units, protection targets and hidden hazards. The answer cache
(`geo.store.answer_cache`) keeps four-colour answers and map pages, which read only some of those tables:
an enterprise's PATCH must not throw away every four-colour answer. The same trigger function now also
moves a counter of the table written, `tile_epoch_<table>`, after taking the same shared advisory lock
(so a reader holding it exclusively sees no write in flight on any of them). `tile_epoch` moves as before.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0019l"
down_revision: str | None = "0019h"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TILE_LOCK = 0x54494C45  # the same constant as geo.store.tiles.TILE_LOCK (a migration does not import the app)
TABLES = ("jurisdictions", "enterprises", "risk_units", "protection_targets", "hazards")


def upgrade() -> None:
    for table in TABLES:
        op.execute(f"CREATE SEQUENCE tile_epoch_{table}")
    op.execute(
        f"""
        CREATE OR REPLACE FUNCTION tile_epoch_bump() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_advisory_xact_lock_shared({TILE_LOCK});
            PERFORM nextval('tile_epoch');
            PERFORM nextval(('tile_epoch_' || TG_TABLE_NAME)::regclass);
            RETURN NULL;
        END $$
        """
    )


def downgrade() -> None:
    op.execute(
        f"""
        CREATE OR REPLACE FUNCTION tile_epoch_bump() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_advisory_xact_lock_shared({TILE_LOCK});
            PERFORM nextval('tile_epoch');
            RETURN NULL;
        END $$
        """
    )
    for table in TABLES:
        op.execute(f"DROP SEQUENCE tile_epoch_{table}")
