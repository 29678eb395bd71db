"""Workflow fixtures: a served area inside the per-test transaction, or committed."""

import pytest

from tests.workflow.factories import make_area, served_database


@pytest.fixture
def area(conn):
    """One street with two communities, grids and area departments (rolled back after)."""
    return make_area(conn)


@pytest.fixture(scope="session")
def served_engine():
    """A committed database with the test area, for tests that need several connections."""
    eng = served_database("gridgov_test_workflow")
    yield eng
    eng.dispose()
