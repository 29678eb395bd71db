"""GridGov dashboard: the entry script is a router (pages live in app_pages/).

It also draws what every page shares in the sidebar — language, area and time window —
so that these choices persist from page to page.
"""

from __future__ import annotations

import streamlit as st

from app_pages.resources import area_choices, day_range
from dashboard.labels import LANGUAGES, t

# an emoji favicon: a :material: icon here would be fetched from Google Fonts
st.set_page_config(page_title="GridGov", page_icon="🗺️", layout="wide")

if "lang" not in st.session_state:
    st.session_state["lang"] = "zh"
with st.sidebar:
    st.selectbox("语言 / Language", list(LANGUAGES), format_func=LANGUAGES.get, key="lang")
lang = st.session_state["lang"]

pages = [
    st.Page(
        "app_pages/district_map.py",
        title=t("district_map", lang),
        icon=":material/map:",
        url_path="district",
        default=True,
    ),
    st.Page(
        "app_pages/operator.py",
        title=t("operator", lang),
        icon=":material/support_agent:",
        url_path="operator",
    ),
    st.Page(
        "app_pages/supervisor.py",
        title=t("supervisor", lang),
        icon=":material/directions_walk:",
        url_path="supervisor",
    ),
    st.Page(
        "app_pages/leader.py",
        title=t("leader", lang),
        icon=":material/local_fire_department:",
        url_path="leader",
    ),
]
page = st.navigation(pages)

with st.sidebar:
    names = {code: (zh if lang == "zh" else en) for code, zh, en in area_choices()}
    st.selectbox(
        t("area", lang),
        [None, *names],
        key="area",
        format_func=lambda code: t("whole_street", lang) if code is None else names[code],
    )
    days = day_range()
    if days:
        st.slider(
            t("time_window", lang), min_value=days[0], max_value=days[1], value=days, key="window"
        )
page.run()
