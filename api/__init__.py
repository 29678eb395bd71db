"""GridGov's HTTP API: Open311 GeoReport v2 (a front door: no SQL here)."""

from api.app import create_app

__all__ = ["create_app"]
