"""The operator page's live strip: polls for changes, alerts on urgent ones, redraws on news.

A Streamlit fragment that reruns on its own every :data:`POLL_S` seconds (no reload of
the browser page). Each run asks :func:`services.live.poll` what happened since the last
run; when something did, it clears the page's cached queue and reruns the whole page, so
the map, the queue and the counts show the change. Urgent new cases raise a toast and an
alert that stays until the operator acknowledges it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

import streamlit as st

from app_pages.resources import engine, scope
from dashboard.labels import LOCAL_TZ, pick, t
from dashboard.safe_text import markdown_text as md
from services.live import CaseChange, poll, start

POLL_S = 2
"""Seconds between polls: a change shows within this plus one page run (well under 10 s)."""
RECENT = 8
"""Changes listed in the strip."""


def live_version(area: str | None) -> str | None:
    """The page's data version: the newest history id the live strip has seen for
    ``area`` (None before its first run). A change the strip finds raises it."""
    cursor = st.session_state.get(_cursor_key(area))
    return str(cursor.last_id) if cursor is not None else None


def _cursor_key(area: str | None) -> str:
    return f"live_cursor_{area or 'all'}"


def live_strip(lang: str, area: str | None, on_change: Callable[[], None]) -> None:
    """Draw the live strip and keep it polling; ``on_change`` runs before a page rerun."""
    st.session_state.setdefault("live_recent", [])
    st.session_state.setdefault("live_alerts", [])
    _strip(lang, area, on_change)


@st.fragment(run_every=POLL_S)
def _strip(lang: str, area: str | None, on_change: Callable[[], None]) -> None:
    key = _cursor_key(area)
    cursor = st.session_state.get(key)
    if cursor is None:
        st.session_state[key] = start(engine(), scope=scope(), community=area)
        changes: list[CaseChange] = []
    else:
        found = poll(engine(), scope=scope(), cursor=cursor, community=area)
        st.session_state[key] = found.cursor
        changes = found.changes
    if changes:
        recent = st.session_state["live_recent"]
        st.session_state["live_recent"] = (list(reversed(changes)) + recent)[:RECENT]
        urgent = [c for c in changes if c.is_urgent and c.is_new_report]
        st.session_state["live_alerts"] = st.session_state["live_alerts"] + urgent
        for c in urgent:
            st.toast(
                t("live_urgent_toast", lang).format(case_no=c.case_no),
                icon=":material/notification_important:",
            )
    # drawn before the page reruns: the browser shows the change at once
    _draw(lang)
    if changes:
        on_change()
        st.rerun(scope="app")


def _draw(lang: str) -> None:
    checked = datetime.now(ZoneInfo(LOCAL_TZ)).strftime("%H:%M:%S")
    alerts: list[CaseChange] = st.session_state["live_alerts"]
    if alerts:
        names = "、".join(
            f"{md(c.case_no)}（{md(pick(c.category_zh, c.category_en, lang))}）" for c in alerts
        )
        st.error(f"**{t('live_urgent', lang)}** {names}", icon=":material/notification_important:")
        if st.button(t("live_acknowledge", lang), key="live_ack"):
            st.session_state["live_alerts"] = []
            st.rerun(scope="fragment")
    recent: list[CaseChange] = st.session_state["live_recent"]
    with st.container(border=True):
        st.caption(t("live_caption", lang).format(at=checked, seconds=POLL_S))
        if not recent:
            st.caption(t("live_nothing_yet", lang))
        for c in recent:
            at = c.at.astimezone(ZoneInfo(LOCAL_TZ)).strftime("%H:%M:%S")
            what = t("live_new", lang) if c.is_new_report else t(f"act_{c.action}", lang)
            flag = f"**【{t('urgency_urgent', lang)}】** " if c.is_urgent else ""
            st.markdown(
                f"{flag}`{at}` **{md(c.case_no)}** · {md(pick(c.category_zh, c.category_en, lang))}"
                f" · {md(what)} → {md(pick(c.status_zh, c.status_en, lang))}",
                help=None,
            )
