"""The SQL that changes when the register is spread over a Citus cluster (docs/scaling.md, "Past one
machine"), written so it runs on plain PostGIS too: tests/store/test_distributed_sql.py builds the
distributed shape in a schema of its own and checks each statement against the single-node answer.

On Citus the tables below would be distributed by `county_adcode` and co-located
(`DISTRIBUTE` below, not run here: Citus is not installed on this machine), boundaries and vocabularies
replicated as reference tables. Every statement keeps the county in its joins, so Citus runs it on the
shards of those counties only and never moves rows between nodes. Values are bound parameters; the only
identifier is the schema, chosen by the caller from code (never from a request).
"""

from __future__ import annotations

from typing import Final

# The county (区县) a row is filed under: itself for a county; the county above a township or village;
# a row filed at a city or province (no county covers it) keeps that adcode as its own "county".
COUNTY_OF: Final = """CASE
    WHEN j.level IN ('township', 'village') THEN left(j.adcode, 6)
    ELSE j.adcode END"""

SCHEMA: Final = """
CREATE SCHEMA IF NOT EXISTS {schema};
-- reference tables (replicated to every node): boundaries, and what rows are filed under
CREATE TABLE {schema}.jurisdictions AS SELECT adcode, name, level, parent_adcode, geom FROM public.jurisdictions;
-- distributed tables: the distribution column is in every primary key, so each key is unique per shard
CREATE TABLE {schema}.enterprises (
    county_adcode text NOT NULL, id bigint NOT NULL, name text, sector text, jurisdiction_adcode text,
    geom geometry(Point, 4490) NOT NULL, PRIMARY KEY (county_adcode, id));
CREATE TABLE {schema}.risk_units (
    county_adcode text NOT NULL, id bigint NOT NULL, enterprise_id bigint, name text, level smallint,
    jurisdiction_adcode text, geom geometry(Geometry, 4490) NOT NULL, PRIMARY KEY (county_adcode, id));
-- the halo: copies of other counties' enterprises within halo_m of a county, filed under that county, so a
-- distance across the border is answered on the county's own shard
CREATE TABLE {schema}.enterprises_halo (
    county_adcode text NOT NULL, id bigint NOT NULL, home_county text NOT NULL, name text, sector text,
    geom geometry(Point, 4490) NOT NULL, PRIMARY KEY (county_adcode, id));
CREATE INDEX ON {schema}.enterprises USING gist (geom);
CREATE INDEX ON {schema}.enterprises_halo USING gist (geom);
CREATE INDEX ON {schema}.risk_units USING gist (geom);
"""

# On Citus only (not run here): shards by county, co-located, boundaries replicated.
DISTRIBUTE: Final = """
SELECT create_reference_table('{schema}.jurisdictions');
SELECT create_distributed_table('{schema}.enterprises', 'county_adcode');
SELECT create_distributed_table('{schema}.risk_units', 'county_adcode', colocate_with => '{schema}.enterprises');
SELECT create_distributed_table('{schema}.enterprises_halo', 'county_adcode', colocate_with => '{schema}.enterprises');
"""

LOAD: Final = (
    """
INSERT INTO {schema}.enterprises (county_adcode, id, name, sector, jurisdiction_adcode, geom)
SELECT """
    + COUNTY_OF
    + """, e.id, e.name, e.sector, e.jurisdiction_adcode, e.geom
FROM public.enterprises e JOIN public.jurisdictions j ON j.adcode = e.jurisdiction_adcode;
INSERT INTO {schema}.risk_units (county_adcode, id, enterprise_id, name, level, jurisdiction_adcode, geom)
SELECT """
    + COUNTY_OF
    + """, r.id, r.enterprise_id, r.name, r.level, r.jurisdiction_adcode, r.geom
FROM public.risk_units r JOIN public.jurisdictions j ON j.adcode = r.jurisdiction_adcode;
"""
)

# The counties of a subtree, read from the reference table first: the list the distributed query is
# pruned by (`county_adcode = ANY(:counties)`), a router query for one county, a few shards for a city.
COUNTIES: Final = """
WITH RECURSIVE subtree AS (
    SELECT adcode, level FROM {schema}.jurisdictions WHERE adcode = :adcode
    UNION ALL
    SELECT j.adcode, j.level FROM {schema}.jurisdictions j JOIN subtree s ON j.parent_adcode = s.adcode)
SELECT coalesce(array_agg(DISTINCT CASE WHEN level IN ('township', 'village') THEN left(adcode, 6)
                                        ELSE adcode END), '{{}}')
FROM subtree WHERE level IN ('county', 'township', 'village') OR adcode = :adcode
"""

# A list page: the recursive walk over the distributed table becomes an equality on the distribution
# column plus the same jurisdiction filter (rows filed under a township of the county).
LIST_PAGE: Final = """
SELECT r.id FROM {schema}.risk_units r
WHERE r.county_adcode = ANY(:counties) AND r.jurisdiction_adcode = ANY(:subtree)
ORDER BY r.id LIMIT :limit OFFSET :offset
"""

# Keeping the halo: each county gets the other counties' enterprises within halo_m of its boundary
# (the largest distance any analysis asks across a border: notices up to 10 km are paged by county, the
# consultation zone is 1,000 m). Distances in the county's 3° Gauss–Krüger zone (EPSG:4534–4554); the
# degree box only finds candidates (1° of latitude is ≥ 110 km, of longitude ≥ 85 km this side of 40° N —
# take 1/80,000° per metre to stay wide). Run per changed county after writes (a batch, or a trigger).
HALO: Final = """
INSERT INTO {schema}.enterprises_halo (county_adcode, id, home_county, name, sector, geom)
SELECT c.adcode, e.id, e.county_adcode, e.name, e.sector, e.geom
FROM {schema}.jurisdictions c
JOIN {schema}.enterprises e
  ON e.county_adcode <> c.adcode
 AND e.geom && ST_Expand(c.geom, :halo_m / 80000.0)
 AND ST_DWithin(ST_Transform(e.geom, 4534 + round((ST_X(ST_Centroid(c.geom)) - 75) / 3)::int),
                ST_Transform(c.geom, 4534 + round((ST_X(ST_Centroid(c.geom)) - 75) / 3)::int), :halo_m)
WHERE c.adcode = ANY(:counties) AND c.level = 'county'
ON CONFLICT DO NOTHING
"""

# Neighbour notices of one county (seed 004): its level-1/2 units against enterprises of its own and of
# its halo — every table joined on the same county_adcode, so the statement runs on that county's shard.
NOTICES: Final = """
WITH zone AS (
    SELECT 4534 + round((ST_X(ST_Centroid(geom)) - 75) / 3)::int AS srid
    FROM {schema}.jurisdictions WHERE adcode = :county),
neighbours AS (
    SELECT county_adcode, id, geom FROM {schema}.enterprises WHERE county_adcode = :county
    UNION ALL
    SELECT county_adcode, id, geom FROM {schema}.enterprises_halo WHERE county_adcode = :county)
SELECT u.id AS unit_id, n.id AS enterprise_id,
       round(ST_Distance(ST_Transform(u.geom, z.srid), ST_Transform(n.geom, z.srid))::numeric, 1) AS distance_m
FROM {schema}.risk_units u
CROSS JOIN zone z
JOIN neighbours n
  ON n.county_adcode = u.county_adcode
 AND n.geom && ST_Expand(u.geom, :distance_m / 80000.0)
 AND ST_DWithin(ST_Transform(u.geom, z.srid), ST_Transform(n.geom, z.srid), :distance_m)
 AND n.id IS DISTINCT FROM u.enterprise_id
WHERE u.county_adcode = :county AND u.level <= 2
ORDER BY u.id, distance_m, n.id
"""

# The same question on one node, over the whole table: what the distributed form must equal.
NOTICES_SINGLE_NODE: Final = """
WITH zone AS (
    SELECT 4534 + round((ST_X(ST_Centroid(geom)) - 75) / 3)::int AS srid
    FROM {schema}.jurisdictions WHERE adcode = :county)
SELECT u.id AS unit_id, e.id AS enterprise_id,
       round(ST_Distance(ST_Transform(u.geom, z.srid), ST_Transform(e.geom, z.srid))::numeric, 1) AS distance_m
FROM {schema}.risk_units u
CROSS JOIN zone z
JOIN {schema}.enterprises e
  ON ST_DWithin(ST_Transform(u.geom, z.srid), ST_Transform(e.geom, z.srid), :distance_m)
 AND e.id IS DISTINCT FROM u.enterprise_id
WHERE u.county_adcode = :county AND u.level <= 2
ORDER BY u.id, distance_m, e.id
"""

# Four-colour totals per county (zones = the county's townships would work the same way): an aggregate
# grouped by the distribution column is pushed down whole to each shard; the coordinator only concatenates.
LEVELS_BY_COUNTY: Final = """
SELECT county_adcode, min(level) AS level, count(*) FILTER (WHERE level = 1) AS n1,
       count(*) FILTER (WHERE level = 2) AS n2, count(*) FILTER (WHERE level = 3) AS n3,
       count(*) FILTER (WHERE level = 4) AS n4
FROM {schema}.risk_units WHERE county_adcode = ANY(:counties)
GROUP BY county_adcode ORDER BY county_adcode
"""


def sql(template: str, schema: str) -> str:
    """A statement for `schema`, which must be a plain lower-case name chosen in code."""
    if not schema.isidentifier() or schema.lower() != schema:
        raise ValueError(f"not a plain schema name: {schema!r}")
    return template.format(schema=schema)
