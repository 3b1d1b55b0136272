"""The read API and dashboard: FastAPI, API keys with roles, Prometheus metrics."""
