"""jurisdiction_closure: every (ancestor, descendant) pair of the jurisdiction tree, kept by triggers

Revision ID: 0023s
Revises: 0022p
Create Date: 2026-12-04 23:40:00

A subtree filter walked down `jurisdictions.parent_adcode` with a recursive CTE, whose output PostgreSQL
estimates at a guess (on the synthetic province: all 39,701 jurisdictions for a county of ~400), so a
county's list hashed or scanned the million risk units instead of probing the index on
`jurisdiction_adcode`. `jurisdiction_closure` holds each jurisdiction with itself and with every
ancestor; `SELECT descendant FROM jurisdiction_closure WHERE ancestor = :adcode` is estimated from the
table's statistics (the most common ancestors, the province and the cities, are in its MCV list).

Statement-level AFTER triggers with transition tables keep it: an INSERT (or COPY) walks up from the new
rows; a DELETE removes the pairs of the deleted rows; an UPDATE that changes an adcode or parent_adcode
recomputes the rows below the moved ones (an UPDATE of names or geometries pays one EXCEPT over its
rows); TRUNCATE empties it. A writer that disables the triggers (a bulk load) calls
`jurisdiction_closure_rebuild()` afterwards. The walks use UNION, so a cycle in parent_adcode ends.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0023s"
down_revision: str | None = "0022p"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (ancestor, descendant) of the rows of `{start}` (a query of adcodes) and every ancestor above them.
_WALK_UP = """
        INSERT INTO jurisdiction_closure (ancestor, descendant)
        WITH RECURSIVE up (ancestor, descendant) AS (
            SELECT adcode, adcode FROM jurisdictions WHERE adcode IN ({start})
            UNION
            SELECT j.parent_adcode, u.descendant FROM up u JOIN jurisdictions j ON j.adcode = u.ancestor
            WHERE j.parent_adcode IS NOT NULL
        )
        SELECT ancestor, descendant FROM up
        ON CONFLICT DO NOTHING;"""

_SYNC = f"""
CREATE FUNCTION jurisdiction_closure_sync() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    stale text[];
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        TRUNCATE jurisdiction_closure;
    ELSIF TG_OP = 'INSERT' THEN
        {_WALK_UP.format(start="SELECT adcode FROM closure_new")}
    ELSIF TG_OP = 'DELETE' THEN
        DELETE FROM jurisdiction_closure
        WHERE descendant IN (SELECT adcode FROM closure_old) OR ancestor IN (SELECT adcode FROM closure_old);
    ELSE
        -- the rows below a moved row (itself included), and the rows under their new adcodes
        SELECT array_agg(DISTINCT code) INTO stale FROM (
            SELECT c.descendant AS code FROM jurisdiction_closure c
            WHERE c.ancestor IN (SELECT adcode FROM (
                SELECT adcode, parent_adcode FROM closure_old
                EXCEPT SELECT adcode, parent_adcode FROM closure_new) moved)
            UNION ALL
            SELECT adcode FROM (
                SELECT adcode, parent_adcode FROM closure_new
                EXCEPT SELECT adcode, parent_adcode FROM closure_old) moved
        ) s;
        IF stale IS NOT NULL THEN
            DELETE FROM jurisdiction_closure WHERE descendant = ANY(stale);
            {_WALK_UP.format(start="SELECT unnest(stale)")}
        END IF;
    END IF;
    RETURN NULL;
END $$
"""  # noqa: S608 (built from this module's constants only)

_REBUILD = f"""
CREATE FUNCTION jurisdiction_closure_rebuild() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE jurisdiction_closure;
    {_WALK_UP.format(start="SELECT adcode FROM jurisdictions")}
END $$
"""  # noqa: S608 (built from this module's constants only)

_TRIGGERS = (
    "CREATE TRIGGER closure_inserted AFTER INSERT ON jurisdictions REFERENCING NEW TABLE AS closure_new "
    "FOR EACH STATEMENT EXECUTE FUNCTION jurisdiction_closure_sync()",
    "CREATE TRIGGER closure_deleted AFTER DELETE ON jurisdictions REFERENCING OLD TABLE AS closure_old "
    "FOR EACH STATEMENT EXECUTE FUNCTION jurisdiction_closure_sync()",
    "CREATE TRIGGER closure_updated AFTER UPDATE ON jurisdictions "
    "REFERENCING OLD TABLE AS closure_old NEW TABLE AS closure_new "
    "FOR EACH STATEMENT EXECUTE FUNCTION jurisdiction_closure_sync()",
    "CREATE TRIGGER closure_truncated AFTER TRUNCATE ON jurisdictions "
    "FOR EACH STATEMENT EXECUTE FUNCTION jurisdiction_closure_sync()",
)


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE jurisdiction_closure (
            ancestor varchar(12) NOT NULL,
            descendant varchar(12) NOT NULL,
            CONSTRAINT pk_jurisdiction_closure PRIMARY KEY (ancestor, descendant)
        )
        """
    )
    op.execute("CREATE INDEX ix_jurisdiction_closure_descendant ON jurisdiction_closure (descendant)")
    op.execute(_SYNC)
    op.execute(_REBUILD)
    for statement in _TRIGGERS:
        op.execute(statement)
    op.execute("SELECT jurisdiction_closure_rebuild()")
    op.execute("ANALYZE jurisdiction_closure")


def downgrade() -> None:
    for name in ("closure_inserted", "closure_deleted", "closure_updated", "closure_truncated"):
        op.execute(f"DROP TRIGGER {name} ON jurisdictions")
    op.execute("DROP FUNCTION jurisdiction_closure_rebuild()")
    op.execute("DROP FUNCTION jurisdiction_closure_sync()")
    op.execute("DROP TABLE jurisdiction_closure")
