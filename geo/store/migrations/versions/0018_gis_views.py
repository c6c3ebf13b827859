"""honest geometry types for direct PostGIS readers, and read-only typed views in schema `gis`

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04 15:10:00

PostGIS's `geometry_columns` takes the type of an untyped (GEOMETRY) column from the first quoted word
of a CHECK on `geometrytype(…) = …`: the geom_kind CHECKs of risk_units and protection_targets
(`GeometryType(geom) IN ('POINT', …)`) made QGIS and ogr2ogr read both tables as Point layers, and
ogr2ogr copied their polygons into a Point layer. The CHECKs are rewritten to the same rule in a form
PostGIS does not parse (`ARRAY[…] @> ARRAY[GeometryType(geom)]`), so `geometry_columns` says GEOMETRY.

For GIS clients that want one geometry type per layer, schema `gis` holds read-only views, one per
table and geometry type, with typed columns (`geometry(MultiPolygon, 4490)` …) that `geometry_columns`
reports truly. A direct connection bypasses the API's scopes (roles, jurisdictions): see
docs/architecture.md ("Direct PostGIS readers") for giving QGIS users a read-only role.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RISK_UNIT_KINDS = ("POINT", "LINESTRING", "POLYGON", "MULTIPOINT", "MULTILINESTRING", "MULTIPOLYGON")
TARGET_KINDS = ("POINT", "POLYGON", "MULTIPOINT", "MULTIPOLYGON")

ENTERPRISE_COLUMNS = (
    "id, credit_code, name, sector, business_type, address, employees, supervising_department, "
    "contact_person, contact_phone, jurisdiction_adcode, synthetic, version, created_at, updated_at"
)
RISK_UNIT_COLUMNS = (
    "id, enterprise_id, kind, name, sector, level, assessment_method, assessment_score, assessment_table, "
    "array_to_string(accident_types, ',') AS accident_types, hazards, control_measures, control_level, "
    "responsible_department, responsible_person, responsible_phone, assessed_on, next_assessment_due, "
    "max_occupancy, hazard_kind, capacity_m3, jurisdiction_adcode, synthetic, version, created_at, updated_at"
)
TARGET_COLUMNS = (
    "id, name, type, gb_class, gb_class_derived, population, households, address, jurisdiction_adcode, "
    "synthetic, version, created_at, updated_at"
)
JURISDICTION_COLUMNS = "adcode, name, level, parent_adcode, source, synthetic, created_at"

# view name → (columns, table, geometry expression, typed geometry, geometry types it takes)
VIEWS = {
    "enterprises": (ENTERPRISE_COLUMNS, "enterprises", "geom", "Point", ("POINT",)),
    "enterprise_sites": (ENTERPRISE_COLUMNS, "enterprises", "ST_Multi(site)", "MultiPolygon", None),
    "risk_unit_points": (
        RISK_UNIT_COLUMNS,
        "risk_units",
        "ST_Multi(geom)",
        "MultiPoint",
        ("POINT", "MULTIPOINT"),
    ),
    "risk_unit_lines": (
        RISK_UNIT_COLUMNS,
        "risk_units",
        "ST_Multi(geom)",
        "MultiLineString",
        ("LINESTRING", "MULTILINESTRING"),
    ),
    "risk_unit_areas": (
        RISK_UNIT_COLUMNS,
        "risk_units",
        "ST_Multi(geom)",
        "MultiPolygon",
        ("POLYGON", "MULTIPOLYGON"),
    ),
    "protection_target_points": (
        TARGET_COLUMNS,
        "protection_targets",
        "ST_Multi(geom)",
        "MultiPoint",
        ("POINT", "MULTIPOINT"),
    ),
    "protection_target_areas": (
        TARGET_COLUMNS,
        "protection_targets",
        "ST_Multi(geom)",
        "MultiPolygon",
        ("POLYGON", "MULTIPOLYGON"),
    ),
    "jurisdictions": (JURISDICTION_COLUMNS, "jurisdictions", "geom", "MultiPolygon", None),
}


def _check(table: str, kinds: Sequence[str], *, parsed_by_postgis: bool) -> None:
    listed = ", ".join(f"'{k}'" for k in kinds)  # constants of this file, not user input
    op.execute(f"ALTER TABLE {table} DROP CONSTRAINT ck_{table}_geom_kind")
    rule = (
        f"GeometryType(geom) IN ({listed})"
        if parsed_by_postgis
        else f"ARRAY[{listed}]::text[] @> ARRAY[GeometryType(geom)]"
    )
    op.execute(f"ALTER TABLE {table} ADD CONSTRAINT ck_{table}_geom_kind CHECK ({rule})")


def upgrade() -> None:
    _check("risk_units", RISK_UNIT_KINDS, parsed_by_postgis=False)
    _check("protection_targets", TARGET_KINDS, parsed_by_postgis=False)
    op.execute("CREATE SCHEMA IF NOT EXISTS gis")
    op.execute("COMMENT ON SCHEMA gis IS 'read-only views of the register for GIS clients (QGIS, ogr2ogr)'")
    for view, (columns, table, geom, typed, kinds) in VIEWS.items():
        source = "site" if "site" in geom else "geom"
        where = f"{source} IS NOT NULL"
        if kinds:
            where += " AND GeometryType({}) IN ({})".format(source, ", ".join(f"'{k}'" for k in kinds))
        op.execute(
            # names and types from the constants above; no value from outside
            f"CREATE VIEW gis.{view} WITH (security_barrier) AS SELECT {columns}, "  # noqa: S608
            f"({geom})::geometry({typed}, 4490) AS geom FROM public.{table} WHERE {where}"
        )


def downgrade() -> None:
    op.execute("DROP SCHEMA IF EXISTS gis CASCADE")
    _check("risk_units", RISK_UNIT_KINDS, parsed_by_postgis=True)
    _check("protection_targets", TARGET_KINDS, parsed_by_postgis=True)
