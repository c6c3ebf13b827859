"""riskmap HTTP service (FastAPI) and command line."""
