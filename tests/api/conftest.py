"""API fixtures: the app on its own committed test database, and an API key."""

import httpx
import pytest

from api import create_app
from api.limits import RateLimits
from layers.workflow.access import create_api_key
from tests.api.field_fixtures import field_app_engine, field_db  # noqa: F401 (shared)
from tests.api.server import serving
from tests.workflow.factories import served_database


@pytest.fixture(scope="session")
def api_engine():
    """A committed database with the test area (the API commits every request)."""
    eng = served_database("gridgov_test_api")
    yield eng
    eng.dispose()


@pytest.fixture(scope="session")
def api_key(api_engine) -> str:
    with api_engine.begin() as conn:
        return create_api_key(conn=conn, client="test-app")


@pytest.fixture(scope="session")
def base_url(api_engine):
    """The API served by uvicorn on loopback (no rate limits: schemathesis sends hundreds
    of requests a minute; tests/api/test_security.py serves limited apps of its own)."""
    with serving(create_app(api_engine, limits=RateLimits(per_address=None, per_key=None))) as url:
        yield url


@pytest.fixture(scope="session")
def client(base_url):
    with httpx.Client(base_url=base_url, timeout=30) as c:
        yield c
