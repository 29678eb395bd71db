"""District map: communities, grids, parts and open cases as switchable layers."""

from __future__ import annotations

from datetime import datetime

import streamlit as st
from streamlit_folium import st_folium

from app_pages.resources import base, engine, scope
from dashboard import maps
from dashboard.area_counts import add_area_counts
from dashboard.labels import t, time_zone
from services.district import FEATURE_LIMIT, district_map
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
counts = data.counts
assert counts is not None  # district_map always counts
totals = {
    "communities": counts.communities,
    "grids": counts.grids,
    "parts": counts.parts,
}
legend_counts = {}
if show["communities"] and not data.communities.empty:
    maps.add_communities(m, data.communities, lang)
    legend_counts[t("communities", lang)] = f"{counts.communities:,}"
for layer, add in (("grids", maps.add_grids), ("parts", maps.add_parts)):
    if not show[layer]:
        continue
    if layer in data.aggregated:
        add_area_counts(m, data.communities, lang, layer)
        legend_counts[t(layer, lang)] = f"{totals[layer]:,} ({t('per_community', lang)})"
    elif totals[layer]:  # an empty layer comes back without a CRS: nothing to draw
        add(m, getattr(data, layer), lang)
        legend_counts[t(layer, lang)] = f"{totals[layer]:,}"
if show["open_cases"] and not data.open_cases.empty:
    maps.add_open_cases(m, data.open_cases, lang)
    legend_counts[t("open_cases", lang)] = (
        f"{len(data.open_cases):,} {t('of_total', lang)} {data.open_case_total:,}"
    )
    legend_counts[t("overdue", lang)] = f"{counts.overdue:,}"
statuses = dict(zip(data.open_cases.status, data.open_cases[f"status_{lang}"], strict=False))
maps.legend(
    lang, legend_counts, {k: v for k, v in statuses.items() if k in maps.STATUS_COLOURS}
).add_to(m)

cols = st.columns(4)
cols[0].metric(t("communities", lang), f"{counts.communities:,}")
cols[1].metric(t("grids", lang), f"{counts.grids:,}")
cols[2].metric(t("parts", lang), f"{counts.parts:,}")
cols[3].metric(
    t("open_cases", lang),
    f"{data.open_case_total:,}",
    delta=f"{counts.overdue:,} {t('overdue', lang)}",
    delta_color="inverse",
)
if data.aggregated:
    what = "、" if lang == "zh" else ", "
    st.caption(
        t("aggregated_note", lang).format(
            what=what.join(
                t("n_of", lang).format(n=totals[layer], what=t(layer, lang))
                for layer in ("grids", "parts")
                if layer in data.aggregated
            ),
            limit=FEATURE_LIMIT,
        )
    )
if counts.grids == 0:
    st.info(t("no_grids_yet", lang))
st_folium(
    maps.finish(m), height=640, use_container_width=True, returned_objects=[], key="district_map"
)
