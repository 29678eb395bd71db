"""Shared, cached resources of the pages (the engine, the user, area and day choices); no SQL."""

from __future__ import annotations

from datetime import date

import streamlit as st

from layers.auth import Scope, User
from layers.db import get_app_engine
from layers.views import community_choices, rollup_days


@st.cache_resource(show_spinner=False)
def engine():  # type: ignore[no-untyped-def]
    """One pooled engine for the whole app (DATABASE_URL or the local database)."""
    return get_app_engine()


def user() -> User:
    """The logged-in user (app.py stops every run before a page without one)."""
    return st.session_state["user"]


def scope() -> Scope:
    """The logged-in user's role and area: every query runs under it, and caches key on it."""
    return user().scope


def base() -> str:
    """The base map chosen in the shared sidebar (default none: offline)."""
    return st.session_state.get("base_map", "none")


@st.cache_data(ttl=600, show_spinner=False)
def area_choices(scope: Scope) -> list[tuple[str, str, str]]:
    """Communities the user may narrow every page to: (code, name_zh, name_en)."""
    return community_choices(engine(), scope=scope)


@st.cache_data(ttl=600, show_spinner=False)
def day_range(scope: Scope) -> tuple[date, date] | None:
    """First and last day with cases (from the rollup)."""
    return rollup_days(engine(), scope=scope)
