"""The shop owner's dashboard at /dashboard (routes.py), served by the API's own process."""

from shelflm.serving.http.dashboard.history import sampling
from shelflm.serving.http.dashboard.routes import dashboard_routes

__all__ = ["dashboard_routes", "sampling"]
