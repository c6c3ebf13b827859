"""table locks and an epoch of enterprises' names: answers of other tables are stored while enterprises are written

Revision ID: 0021d
Revises: 0019l
Create Date: 2026-12-04 21:00:00

The statement trigger `tile_epoch_bump` (migrations 0017, 0019l) takes one shared advisory lock,
`TILE_LOCK`, for the rest of its transaction. The answer cache (`geo.store.answer_cache`) stores an
answer only when no write was in flight at the instant its snapshot was taken; with one lock for every
table, a busy enterprise register (every PATCH holds it until commit, also while it waits for a row
lock) meant four-colour answers, which never read enterprises, were made again and again and never
stored (bench/load.py, 32 clients). The trigger now also takes a shared lock of the table written,
the pair (`TILE_LOCK`, hashtext(table name)), so a reader tries only the locks of the tables its answer
reads. `TILE_LOCK` alone stays as it was for the vector tiles (`geo.store.tiles`), which read every table.

An admin's or regulator's four-colour answer names the enterprises of the units deciding each zone, and
reads nothing else of enterprises (tests/api/test_response_cache.py holds it to that). Watching the
whole table, every PATCH of an enterprise (its people, its phone) threw the answer away. A counter of its
own, `tile_epoch_enterprise_names`, moves (with its lock, the pair (`TILE_LOCK`, hashtext('enterprise_names'))
taken shared) on an INSERT, DELETE or TRUNCATE of enterprises, and on an UPDATE of a row whose id or name
changes (a row trigger with that WHEN: an UPDATE that changes no name pays nothing).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0021d"
down_revision: str | None = "0019l"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TILE_LOCK = 0x54494C45  # the same constant as geo.store.tiles.TILE_LOCK (a migration does not import the app)


def _bump(table_lock: bool) -> str:
    per_table = (
        f"PERFORM pg_advisory_xact_lock_shared({TILE_LOCK}, hashtext(TG_TABLE_NAME));" if table_lock else ""
    )
    return f"""
        CREATE OR REPLACE FUNCTION tile_epoch_bump() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_advisory_xact_lock_shared({TILE_LOCK});
            {per_table}
            PERFORM nextval('tile_epoch');
            PERFORM nextval(('tile_epoch_' || TG_TABLE_NAME)::regclass);
            RETURN NULL;
        END $$
        """


NAMES = "enterprise_names"


def upgrade() -> None:
    op.execute(_bump(table_lock=True))
    op.execute(f"CREATE SEQUENCE tile_epoch_{NAMES}")
    op.execute(
        f"""
        CREATE FUNCTION tile_epoch_bump_named() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_advisory_xact_lock_shared({TILE_LOCK}, hashtext(TG_ARGV[0]));
            PERFORM nextval(('tile_epoch_' || TG_ARGV[0])::regclass);
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER tile_epoch_names BEFORE INSERT OR DELETE OR TRUNCATE ON enterprises "
        f"FOR EACH STATEMENT EXECUTE FUNCTION tile_epoch_bump_named('{NAMES}')"
    )
    op.execute(
        "CREATE TRIGGER tile_epoch_names_changed AFTER UPDATE ON enterprises FOR EACH ROW "
        "WHEN (OLD.id IS DISTINCT FROM NEW.id OR OLD.name IS DISTINCT FROM NEW.name) "
        f"EXECUTE FUNCTION tile_epoch_bump_named('{NAMES}')"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER tile_epoch_names_changed ON enterprises")
    op.execute("DROP TRIGGER tile_epoch_names ON enterprises")
    op.execute("DROP FUNCTION tile_epoch_bump_named()")
    op.execute(f"DROP SEQUENCE tile_epoch_{NAMES}")
    op.execute(_bump(table_lock=False))
