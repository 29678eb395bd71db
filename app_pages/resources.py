"""Shared, cached resources of the pages (the engine, area and day choices); no SQL here."""

from __future__ import annotations

from datetime import date

import streamlit as st

from layers.db import get_engine
from layers.views import community_choices, rollup_days


@st.cache_resource(show_spinner=False)
def engine():  # type: ignore[no-untyped-def]
    """One pooled engine for the whole app (DATABASE_URL or the local database)."""
    return get_engine()


@st.cache_data(ttl=600, show_spinner=False)
def area_choices() -> list[tuple[str, str, str]]:
    """Communities to narrow every page to: (code, name_zh, name_en)."""
    return community_choices(engine())


@st.cache_data(ttl=600, show_spinner=False)
def day_range() -> tuple[date, date] | None:
    """First and last day with cases (from the rollup)."""
    return rollup_days(engine())
