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


def _cached_case_months(conn: sa.Connection) -> set[str]:
    """The month partitions of ``cases`` whose indexes this server process holds in its
    catalogue cache (a cached index has its own ``index info`` memory context)."""
    rows = conn.execute(
        sa.text("""
            SELECT DISTINCT t.relname FROM pg_backend_memory_contexts m
            JOIN pg_class i ON i.relname = m.ident AND i.relkind = 'i'
            JOIN pg_index x ON x.indexrelid = i.oid
            JOIN pg_class t ON t.oid = x.indrelid
            JOIN pg_inherits h ON h.inhrelid = t.oid
            WHERE m.name = 'index info' AND h.inhparent = 'cases'::regclass
        """)
    ).scalars()
    return set(rows)


def test_warming_plans_a_tile_so_the_first_real_one_finds_the_catalogue_read(demo_engine):
    # a first tile on 1 M cases paid ~25 ms to read the month partitions' catalogue; a
    # warmed connection has read every month's indexes, and kept nothing of the warming
    with demo_engine.connect() as conn:
        months = set(
            conn.execute(
                sa.text("SELECT inhrelid::regclass::text FROM pg_inherits"
                        " WHERE inhparent = 'cases'::regclass")
            ).scalars()
        )  # fmt: skip
    assert len(months) >= 2
    engine = sa.create_engine(demo_engine.url, pool_size=1, max_overflow=0)
    try:
        with engine.connect() as cold:
            assert _cached_case_months(cold) == set()  # a new server process
        engine.dispose()
        assert warm_pool(engine) == 1
        with engine.connect() as warmed:
            assert _cached_case_months(warmed) == months
            pid = warmed.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
            left = warmed.execute(
                sa.text("SELECT count(*) FROM gridgov_entries WHERE pid = :p"), {"p": pid}
            ).scalar_one()
            assert left == 0  # the warming's identity was rolled back with its tile
            user = warmed.execute(sa.text("SELECT current_user")).scalar_one()
            assert user == engine.url.username  # the warming's role was reset too
    finally:
        engine.dispose()


def test_the_api_routes_a_request_of_its_own_before_it_serves_the_first(demo_engine):
    # FastAPI prepares its routes on the first request (~50-110 ms, which a map's first
    # tiles all waited for): the app sends itself one at start-up, answered 404
    from api.app import START_PATH

    engine = sa.create_engine(app_login_engine(demo_engine).url, pool_size=1)
    app = create_app(engine, limits=RateLimits(per_address=None, per_key=None))
    seen: list[tuple[str, int]] = []

    @app.middleware("http")
    async def record(request, call_next):  # type: ignore[no-untyped-def]
        response = await call_next(request)
        seen.append((request.url.path, response.status_code))
        return response

    try:
        with serving(app, lifespan="on") as url:
            assert seen == [(START_PATH, 404)]
            assert httpx.get(f"{url}/open311/v2/services.json").status_code == 200
            assert [path for path, _ in seen] == [START_PATH, "/open311/v2/services.json"]
    finally:
        engine.dispose()


def test_an_error_in_the_start_up_request_does_not_stop_the_api():
    from api.app import START_PATH

    engine = sa.create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none", pool_size=1)
    app = create_app(engine, limits=RateLimits(per_address=None, per_key=None))

    @app.middleware("http")
    async def broken(request, call_next):  # type: ignore[no-untyped-def]
        if request.url.path == START_PATH:
            raise RuntimeError("a middleware that fails on its first request")
        return await call_next(request)

    with serving(app, lifespan="on") as url:
        assert httpx.get(f"{url}/openapi.json").status_code == 200
    engine.dispose()
