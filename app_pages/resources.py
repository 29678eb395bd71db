"""Shared, cached resources of the pages (the engine, the user, area and day choices); no SQL."""

from __future__ import annotations

from datetime import date

import streamlit as st

from services.areas import AreaChoice, rollup_days
from services.areas import area_choices as _area_choices
from services.login import Scope, User
from services.uow import Engine, open_engine


@st.cache_resource(show_spinner=False)
def engine() -> Engine:
    """One pooled engine for the whole app (DATABASE_URL or the local database)."""
    return open_engine()


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
def area_choices(scope: Scope) -> list[AreaChoice]:
    """Districts, streets and communities the user may narrow every page to."""
    return _area_choices(engine(), scope=scope)


@st.cache_data(ttl=600, show_spinner=False)
def day_range(scope: Scope) -> tuple[date, date] | None:
    """First and last day with cases (from the rollup)."""
    return rollup_days(engine(), scope=scope)
