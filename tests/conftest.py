"""Test fixtures: a real PostGIS, one rolled-back transaction per test.

The server is ``TEST_DATABASE_URL`` when set, else GridGov's managed local
cluster (started if needed). Tests get their own databases on it
(``gridgov_test`` for layer tests, ``gridgov_test_demo`` with a small demo
district for views, the app and the browser). A test that cannot reach
PostGIS fails; nothing is skipped.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pandas as pd
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, make_url

from city import time_zone
from layers import migrate
from layers.db import check_connection, database_url, normalise_url
from tests.dask_cluster import dask_cluster  # noqa: F401 (a fixture: the Dask tests share it)

TEST_DB = "gridgov_test"
DEMO_DB = "gridgov_test_demo"
SMALL_DEMO = {
    "seed": 7,
    "households": 8_000,
    "n_communities": 4,
    "n_parts": 600,
    "n_cases": 6_000,
    "as_of": pd.Timestamp("2026-11-20 18:00", tz=time_zone().key),
}


def server_url(database: str = "postgres") -> str:
    """URL of the test server, pointed at ``database``."""
    raw = os.environ.get("TEST_DATABASE_URL")
    url = normalise_url(raw) if raw else database_url()
    return make_url(url).set(database=database).render_as_string(hide_password=False)


def recreate_database(name: str) -> Engine:
    """Drop and create database ``name`` on the test server; return its engine.

    ``GRIDGOV_TEST_DB_SUFFIX`` (optional) is appended to the name, so that two
    test runs on one server (e.g. two checkouts) do not drop each other's databases.
    """
    name = name + os.environ.get("GRIDGOV_TEST_DB_SUFFIX", "")
    admin = sa.create_engine(server_url(), isolation_level="AUTOCOMMIT")
    check_connection(admin)
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return sa.create_engine(server_url(name))


APP_TEST_LOGIN = "gridgov_test_app"
_APP_TEST_PASSWORD = secrets.token_urlsafe(18)
"""One password per test run: a login is per server, so a new password for each engine
would lock out every URL handed out before (a session fixture's, a subprocess's)."""


def app_login_engine(admin: Engine) -> Engine:
    """An engine on ``admin``'s database that logs in as the app does: a non-superuser.

    The login ``gridgov_test_app`` (made here, on any test server) is a member of
    ``gridgov_app`` (migration 0013) and nothing else, like a production app login
    on an external server; on the managed cluster the app's own ``gridgov_app``
    login works the same way.
    """
    password = _APP_TEST_PASSWORD
    with admin.connect() as conn, conn.begin():
        conn.execute(
            sa.text(f"""
            DO $$ BEGIN
                IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_TEST_LOGIN}') THEN
                    CREATE ROLE {APP_TEST_LOGIN} LOGIN;
                END IF;
            END $$""")
        )
        conn.execute(
            sa.text(f"ALTER ROLE {APP_TEST_LOGIN} LOGIN INHERIT NOSUPERUSER PASSWORD '{password}'")
        )
        conn.execute(sa.text(f"GRANT gridgov_app TO {APP_TEST_LOGIN}"))
    url = admin.url.set(username=APP_TEST_LOGIN, password=password)
    return sa.create_engine(url)


@pytest.fixture(scope="session")
def engine() -> Iterator[Engine]:
    """A freshly migrated test database with the catalogue loaded."""
    from layers.catalogue import load_catalogue

    eng = recreate_database(TEST_DB)
    migrate.upgrade(eng)
    with eng.begin() as conn:
        load_catalogue(conn)
    yield eng
    eng.dispose()


@pytest.fixture
def conn(engine: Engine) -> Iterator[Connection]:
    """A connection inside a transaction that is rolled back after the test."""
    with engine.connect() as connection:
        transaction = connection.begin()
        try:
            yield connection
        finally:
            transaction.rollback()


@pytest.fixture(scope="session")
def small_district():  # type: ignore[no-untyped-def]
    """A small demo district (4 communities, 8,000 households), generated once."""
    from gis.demo import generate_district
    from layers.catalogue import read_categories

    return generate_district(read_categories(), **SMALL_DEMO)


@pytest.fixture(scope="session")
def demo_engine(small_district) -> Iterator[Engine]:  # type: ignore[no-untyped-def]
    """A committed database holding the small demo district (read-only for tests)."""
    from layers.demo import load_demo

    eng = recreate_database(DEMO_DB)
    migrate.upgrade(eng)
    with eng.begin() as conn:
        load_demo(conn, small_district)
    yield eng
    eng.dispose()


@pytest.fixture(scope="session")
def demo_url(demo_engine: Engine) -> str:
    """DATABASE_URL of the demo database (for the app and subprocesses)."""
    return demo_engine.url.render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def demo_app_url(demo_engine: Engine) -> str:
    """DATABASE_URL of the demo database for the app's own login (a non-superuser)."""
    eng = app_login_engine(demo_engine)
    url = eng.url.render_as_string(hide_password=False)
    eng.dispose()
    return url
