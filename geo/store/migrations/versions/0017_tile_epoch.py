"""tile_epoch: one counter that every write of a mapped table moves, for the vector-tile cache

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04 15:10:00

The tile server (`geo.store.tiles`) caches tiles in its process under the value of the sequence
`tile_epoch`. A statement-level BEFORE trigger on each table drawn in tiles (jurisdictions, enterprises,
risk units, protection targets, hidden hazards) takes a shared advisory lock for the rest of its
transaction and moves the counter: one call per statement, so a COPY of a million rows pays it once.
A tile is stored in the cache only by a reader that held the same lock exclusively while it read the
counter and the rows (no write in flight), so a cached tile is never older than the counter says.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The same constant as geo.store.tiles.TILE_LOCK (a migration does not import the app).
TILE_LOCK = 0x54494C45  # "TILE"
TABLES = ("jurisdictions", "enterprises", "risk_units", "protection_targets", "hazards")


def upgrade() -> None:
    op.execute("CREATE SEQUENCE tile_epoch")
    op.execute(
        f"""
        CREATE FUNCTION tile_epoch_bump() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_advisory_xact_lock_shared({TILE_LOCK});
            PERFORM nextval('tile_epoch');
            RETURN NULL;
        END $$
        """
    )
    for table in TABLES:
        op.execute(
            f"CREATE TRIGGER tile_epoch_bump BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION tile_epoch_bump()"
        )


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"DROP TRIGGER tile_epoch_bump ON {table}")
    op.execute("DROP FUNCTION tile_epoch_bump()")
    op.execute("DROP SEQUENCE tile_epoch")
