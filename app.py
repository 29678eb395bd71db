"""GridGov dashboard: the entry script is a router (pages live in app_pages/)."""

from __future__ import annotations

import streamlit as st

from dashboard.labels import LANGUAGES, t

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
st.navigation(pages).run()
