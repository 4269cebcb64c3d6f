"""The web service: FastAPI app (``create_app``), auth, one router per resource, dashboard."""

from ceasewatch.serve.app import create_app
from ceasewatch.serve.settings import ServeSettings

__all__ = ["ServeSettings", "create_app"]
