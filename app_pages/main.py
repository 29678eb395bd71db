"""The dashboard's router: login first, then the pages the user's role may open.

The user's role decides which pages exist and every query then runs under that role
and its area (PostgreSQL row-level security). It also draws what every page shares
in the sidebar — language, area, time window and base map — so that these choices
persist from page to page. ``app.py`` (the entry script Streamlit runs) calls
:func:`run` on every rerun.
"""

from __future__ import annotations

import time

import streamlit as st

from app_pages.resources import area_choices, day_range, engine
from dashboard.access import pages_for
from dashboard.labels import LANGUAGES, t
from dashboard.maps import available_base_maps
from services.areas import narrower
from services.login import LoginLocked, User, login, session_expired, still_logged_in

PAGES = {
    "district": ("app_pages/district_map.py", ":material/map:", "district"),
    "operator": ("app_pages/operator.py", ":material/support_agent:", "operator"),
    "hotline": ("app_pages/hotline.py", ":material/call:", "hotline"),
    "board": ("app_pages/board.py", ":material/alarm:", "board"),
    "supervisor": ("app_pages/supervisor.py", ":material/directions_walk:", "supervisor"),
    "leader": ("app_pages/leader.py", ":material/local_fire_department:", "leader"),
}
"""Page name -> (script, icon, URL path); paths are relative to the entry script."""


def run() -> None:
    """One run of the app: language, login or the user's pages, the shared sidebar."""
    # an emoji favicon: a :material: icon here would be fetched from Google Fonts
    st.set_page_config(page_title="GridGov", page_icon="🗺️", layout="wide")
    if "lang" not in st.session_state:
        st.session_state["lang"] = "zh"
    with st.sidebar:
        st.selectbox(
            "语言 / Language", list(LANGUAGES), format_func=lambda k: LANGUAGES[k], key="lang"
        )
    lang = st.session_state["lang"]
    user = st.session_state.get("user")
    if user is not None:
        # every rerun: a disabled login or an idle session ends here, not at the next login
        idle = session_expired(st.session_state.get("last_active", 0.0), time.monotonic())
        if idle or not still_logged_in(engine(), username=user.username):
            end_session()
            st.session_state["session_ended"] = True
            user = None
        else:
            st.session_state["last_active"] = time.monotonic()
    if user is None:
        if st.session_state.pop("session_ended", False):
            st.warning(t("session_ended", lang))
        page = st.navigation([st.Page(login_form, title=t("login", lang), url_path="login")])
        page.run()
        st.stop()
    page = st.navigation(
        [
            st.Page(
                PAGES[name][0],
                title=t("district_map" if name == "district" else name, lang),
                icon=PAGES[name][1],
                url_path=PAGES[name][2],
                default=i == 0,
            )
            for i, name in enumerate(pages_for(user.role))
        ]
    )
    shared_sidebar(user, lang)
    page.run()


def login_form() -> None:
    """The login form; a good name and password put the user in the session."""
    lang = st.session_state.get("lang", "zh")
    st.title(t("app_title", lang))
    st.caption(t("login_note", lang))
    with st.form("login"):
        username = st.text_input(t("username", lang), key="login_username")
        password = st.text_input(t("password", lang), type="password", key="login_password")
        if st.form_submit_button(t("login", lang)):
            try:
                user = login(
                    engine(),
                    username=username.strip(),
                    password=password,
                    address=st.context.ip_address,
                )
            except LoginLocked as exc:
                st.error(t("login_locked", lang).format(seconds=exc.retry_after_s))
                return
            if user is None:
                st.error(t("login_failed", lang))
            else:
                st.session_state["user"] = user
                st.session_state["last_active"] = time.monotonic()
                st.rerun()


def end_session() -> None:
    """Forget the login and everything the session held (the language stays)."""
    for key in list(st.session_state):
        if key != "lang":
            del st.session_state[key]


def shared_sidebar(user: User, lang: str) -> None:
    """Who is logged in, log out, and the area, time window and base map every page uses."""
    with st.sidebar:
        st.caption(f"{user.username} · {t('role_' + user.role, lang)}")
        if st.button(t("logout", lang), key="logout"):
            end_session()
            st.rerun()
        area_picker(user, lang)
        days = day_range(user.scope)
        if days:
            st.slider(
                t("time_window", lang),
                min_value=days[0],
                max_value=days[1],
                value=days,
                key="window",
            )
        st.selectbox(
            t("base_map", lang),
            available_base_maps(),
            key="base_map",
            format_func=lambda choice: t(f"base_{choice}", lang),
        )


def area_picker(user: User, lang: str) -> None:
    """District → street → community: one picker per level with more than one choice.

    Every page reads the narrowest choice from ``st.session_state["area"]`` (any level's
    code; None = the user's whole area). The district and street pickers appear only
    when the user sees more than one; choosing one narrows the next and sets ``area``.
    """
    choices = area_choices(user.scope)
    by_code = {c.code: c for c in choices}
    districts = narrower(choices, "district", None)
    district = (
        st.selectbox(
            t("pick_district", lang),
            [None, *(c.code for c in districts)],
            key="area_district",
            format_func=lambda c: t("all_districts", lang) if c is None else by_code[c].name(lang),
            on_change=_narrowed,
            args=("district",),
        )
        if len(districts) > 1
        else None
    )
    streets = narrower(choices, "street", district)
    street = (
        st.selectbox(
            t("pick_street", lang),
            [None, *(c.code for c in streets)],
            key="area_street",
            format_func=lambda c: t("all_streets", lang) if c is None else by_code[c].name(lang),
            on_change=_narrowed,
            args=("street",),
        )
        if len(streets) > 1
        else None
    )
    wider = [code for code in (district, street) if code]
    options = [None, *wider, *(c.code for c in narrower(choices, "community", street or district))]
    if st.session_state.get("area") not in options:
        st.session_state["area"] = wider[-1] if wider else None
    whole = "my_area" if user.scope.area else "whole_city" if len(streets) > 1 else "whole_street"

    def label(code: str | None) -> str:
        if code is None:
            return t(whole, lang)
        choice = by_code[code]
        if choice.level == "community":
            return choice.name(lang)
        return t(f"whole_{choice.level}_of", lang).format(name=choice.name(lang))

    # an area-scoped user's "whole" is its own area (row-level security), never more
    st.selectbox(t("area", lang), options, key="area", format_func=label)


def _narrowed(level: str) -> None:
    """A district or street was picked: the pages narrow to it (and a new district clears
    the street)."""
    district = st.session_state.get("area_district")
    if level == "district":
        st.session_state["area_street"] = None
    street = st.session_state.get("area_street")
    st.session_state["area"] = street or district
