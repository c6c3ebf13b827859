"""The one place that talks to PostGIS: tables, migrations, bootstrap and data access."""
