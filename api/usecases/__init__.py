"""Use cases (the application layer): fetch from `geo/store` → compute with `geo/` → assemble a plain result.

A use case takes a connection, the principal and typed parameters and returns a dataclass or a
GeoDataFrame; it imports neither FastAPI nor Folium and writes no response. The JSON routers
(`api/routers/`), the HTML pages and the command line (`api/cli.py`) call the same use case and only
format its result, so none of them repeats another's assembly.
"""
