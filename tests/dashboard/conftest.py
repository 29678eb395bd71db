"""A writable demo district for the AppTests that act on cases."""

import os

import pytest

from tests.dashboard.scratch import scratch_district


@pytest.fixture(scope="session")
def scratch_engine(small_district):  # type: ignore[no-untyped-def]
    engine = scratch_district(small_district, "gridgov_test_scratch_apptest")
    yield engine
    engine.dispose()


def _fresh_caches() -> None:
    """AppTests share the process's Streamlit caches: another database needs empty ones."""
    import streamlit as st

    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.fixture
def scratch_app(scratch_engine, monkeypatch):  # type: ignore[no-untyped-def]
    from streamlit.testing.v1 import AppTest

    from tests.dashboard.test_pages import APP

    monkeypatch.setenv("DATABASE_URL", scratch_engine.url.render_as_string(hide_password=False))
    assert os.environ["DATABASE_URL"]
    _fresh_caches()
    yield AppTest.from_file(str(APP), default_timeout=60)
    _fresh_caches()
