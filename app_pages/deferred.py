"""A page's slow part drawn after its map: the first run for a choice sends the map and
placeholders at once; a moment later (the browser has drawn the map) a fragment run
computes the slow part into the page's caches and reruns the page, which then draws
everything from the caches in place.

A page asks :func:`first_sight` whether this choice (the widgets the slow part depends
on) is new in the session: if so it draws placeholders and calls :func:`compute_later`
at its end. A second run of the same choice (the rerun, or a return to it) draws inline.
Used by the leader page: the area's measures, hotspot list and charts follow its map.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

import streamlit as st

AFTER_S = 1.0
"""Seconds after the page was sent before the slow part is computed: the browser draws
the map first instead of sharing the machine with the slow part's queries (at 0.4 s the
community's queries overlapped the map's drawing on a loaded 2-core machine)."""
REMEMBERED = 64
"""Choices remembered per page (older ones are deferred again; their caches may be gone)."""


def first_sight(page: str, choice: Hashable) -> bool:
    """True the first time ``choice`` is drawn on ``page`` in this session (then remembered)."""
    seen: list[Hashable] = st.session_state.setdefault(f"_deferred_{page}", [])
    if choice in seen:
        return False
    seen.append(choice)
    del seen[:-REMEMBERED]
    return True


def compute_later(page: str, compute: Callable[[], object]) -> None:
    """Call last on the page: :data:`AFTER_S` after the page reached the browser, run
    ``compute`` (the slow part's cached loaders) in a fragment run, then rerun the page
    (its next run draws from the caches; a full run stops the fragment's timer)."""
    ticks = f"_deferred_{page}_ticks"
    st.session_state[ticks] = 0

    @st.fragment(run_every=AFTER_S)
    def _later() -> None:
        # the first call is this full run's own (inline): nothing to do yet
        st.session_state[ticks] += 1
        if st.session_state[ticks] == 1:
            return
        try:
            compute()
        finally:  # a failure too is drawn by the next run, inline, not retried here
            st.rerun()

    _later()
