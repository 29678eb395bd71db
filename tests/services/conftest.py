"""The writable demo district of the dashboard tests, for the service commands."""

from tests.dashboard.conftest import scratch_engine

__all__ = ["scratch_engine"]
