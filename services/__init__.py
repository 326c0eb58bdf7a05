"""services/: the FastAPI planning API (later issue)."""
