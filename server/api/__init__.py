"""HTTP API (FastAPI routers): auth, alerts, directory, reports, live feed."""
