"""The API opens its database connections at start-up and loads PostGIS in each, so a
map's first tiles find them ready; a burst of tiles no larger than the pool opens none."""

from __future__ import annotations

from contextlib import ExitStack

import httpx
import sqlalchemy as sa

from api import create_app
from api.limits import RateLimits
from layers.db import MAX_OVERFLOW, POOL_SIZE, engine_for
from services.tiles import warm_pool
from tests.api.server import serving
from tests.conftest import app_login_engine


def _pids(engine: sa.Engine, n: int) -> set[int]:
    """The server processes of ``n`` connections checked out at once."""
    with ExitStack() as stack:
        conns = [stack.enter_context(engine.connect()) for _ in range(n)]
        return {int(c.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()) for c in conns}


def test_warming_opens_the_pools_connections_with_the_apps_own_login(demo_engine):
    # the API's login (not a superuser) may read no table: the warming reads none
    engine = sa.create_engine(
        app_login_engine(demo_engine).url, pool_size=4, max_overflow=MAX_OVERFLOW
    )
    try:
        assert engine.pool.checkedin() == 0
        assert warm_pool(engine) == 4
        assert engine.pool.checkedin() == 4
        warmed = _pids(engine, 4)
        assert len(warmed) == 4
        # the next burst of four finds the same four server processes: none opened
        assert _pids(engine, 4) == warmed
        assert warm_pool(engine, connections=2) == 2
    finally:
        engine.dispose()


def test_the_pool_keeps_a_maps_burst_of_tiles_open():
    # a 512-px tile map's first render asks for 8 tiles at once
    engine = engine_for("postgresql+psycopg://nobody@127.0.0.1:1/none")
    assert engine.pool.size() == POOL_SIZE >= 8  # type: ignore[attr-defined]


def test_gridgov_api_warms_its_connections_when_it_starts(demo_engine):
    engine = sa.create_engine(app_login_engine(demo_engine).url, pool_size=3)
    app = create_app(engine, limits=RateLimits(per_address=None, per_key=None))
    try:
        with serving(app, lifespan="on") as url:
            assert app.state.warmed.wait(30)
            assert engine.pool.checkedin() == 3  # none before start-up
            warmed = _pids(engine, 3)
            assert httpx.get(f"{url}/open311/v2/services.json").status_code == 200
            assert _pids(engine, 3) == warmed
    finally:
        engine.dispose()


def test_an_unreachable_database_at_start_up_does_not_stop_the_api():
    engine = sa.create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none", pool_size=2)
    app = create_app(engine, limits=RateLimits(per_address=None, per_key=None))
    with serving(app, lifespan="on") as url:
        assert app.state.warmed.wait(30)
        assert httpx.get(f"{url}/openapi.json").status_code == 200
    engine.dispose()
