"""Shared, cached resources of the pages (the engine); no SQL here."""

from __future__ import annotations

import streamlit as st

from layers.db import get_engine


@st.cache_resource(show_spinner=False)
def engine():  # type: ignore[no-untyped-def]
    """One pooled engine for the whole app (DATABASE_URL or the local database)."""
    return get_engine()
