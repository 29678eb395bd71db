"""District map: communities, grids, parts and open cases as switchable layers."""

from __future__ import annotations

from datetime import datetime

import streamlit as st
from streamlit_folium import st_folium

from app_pages.resources import base, engine, scope
from dashboard import maps
from dashboard.labels import t, time_zone
from services.district import district_map
from services.login import Scope

# open cases drawn at most (overdue first): more would not read, and would weigh megabytes
# (a comment, not a docstring: Streamlit's magic would print a bare string on the page)
CASE_LIMIT = 1_500

lang = st.session_state.get("lang", "zh")
st.title(t("district_map", lang))


@st.cache_data(ttl=60, max_entries=4, show_spinner=False)
def load(now_minute: datetime, area: str | None, scope: Scope):  # type: ignore[no-untyped-def]
    return district_map(
        engine(), scope=scope, now=now_minute, community=area, case_limit=CASE_LIMIT
    )


now = datetime.now(time_zone()).replace(second=0, microsecond=0)
data = load(now, st.session_state.get("area"), scope())
if data.extent is None:
    st.info(t("no_data", lang))
    st.stop()

with st.sidebar:
    st.subheader(t("layers", lang))
    show = {
        # parts are many small dots: on request, so that the first page stays light
        key: st.checkbox(t(key, lang), value=key != "parts", key=f"layer_{key}")
        for key in ("communities", "grids", "parts", "open_cases")
    }

m = maps.new_map(data.extent, base())
counts = {}
if show["communities"]:
    maps.add_communities(m, data.communities, lang)
    counts[t("communities", lang)] = f"{len(data.communities):,}"
if show["grids"]:
    maps.add_grids(m, data.grids, lang)
    counts[t("grids", lang)] = f"{len(data.grids):,}"
if show["parts"]:
    maps.add_parts(m, data.parts, lang)
    counts[t("parts", lang)] = f"{len(data.parts):,}"
overdue = int(data.open_cases.overdue.sum())
if show["open_cases"]:
    maps.add_open_cases(m, data.open_cases, lang)
    counts[t("open_cases", lang)] = (
        f"{len(data.open_cases):,} {t('of_total', lang)} {data.open_case_total:,}"
    )
    counts[t("overdue", lang)] = f"{overdue:,}"
statuses = dict(zip(data.open_cases.status, data.open_cases[f"status_{lang}"], strict=False))
maps.legend(lang, counts, {k: v for k, v in statuses.items() if k in maps.STATUS_COLOURS}).add_to(m)

cols = st.columns(4)
cols[0].metric(t("communities", lang), f"{len(data.communities):,}")
cols[1].metric(t("grids", lang), f"{len(data.grids):,}")
cols[2].metric(t("parts", lang), f"{len(data.parts):,}")
cols[3].metric(
    t("open_cases", lang),
    f"{data.open_case_total:,}",
    delta=f"{overdue:,} {t('overdue', lang)}",
    delta_color="inverse",
)
st_folium(
    maps.finish(m), height=640, use_container_width=True, returned_objects=[], key="district_map"
)
