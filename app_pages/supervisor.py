"""Supervisor: who walked where this week, coverage per grid, grids nobody visited, workload."""

from __future__ import annotations

import streamlit as st
from streamlit_folium import st_folium

from app_pages.resources import base, engine, scope
from dashboard import maps
from dashboard.labels import localized, pick, t
from services.areas import area_extents
from services.field_positions import worker_last_positions
from services.login import Scope
from services.supervisor import narrow_coverage, supervisor_coverage

lang = st.session_state.get("lang", "zh")
st.title(t("supervisor", lang))


@st.cache_data(ttl=300, max_entries=4, show_spinner=False)
def load(with_tracks: bool, scope: Scope):  # type: ignore[no-untyped-def]
    """The week for the user's whole area: an area change narrows it in pandas (no query)."""
    return supervisor_coverage(engine(), scope=scope, with_tracks=with_tracks)


@st.cache_data(ttl=600, show_spinner=False)
def load_extents(scope: Scope):  # type: ignore[no-untyped-def]
    return area_extents(engine(), scope=scope)


def grid_table(grids):  # type: ignore[no-untyped-def]
    """Grid code, worker and households under the page's language (no raw column names)."""
    return grids[["code", "worker_code", "households"]].rename(
        columns={
            "code": t("grids", lang),
            "worker_code": t("worker", lang),
            "households": t("households", lang),
        }
    )


# a week of tracks weighs megabytes: read and sent only when asked for
show_tracks = st.sidebar.checkbox(t("tracks", lang), value=False, key="show_tracks")
area = st.session_state.get("area")
data = narrow_coverage(load(show_tracks, scope()), area, load_extents(scope()).get(area))


@st.cache_data(ttl=30, max_entries=4, show_spinner=False)
def load_positions(scope: Scope, lang: str):  # type: ignore[no-untyped-def]
    """Each worker's last fix (field app or OsmAnd tracker) and its age, newest data."""
    return [
        {
            pick("网格员", "Worker", lang): p.worker_code,
            pick("最后位置时间", "Last fix", lang): f"{p.at:%m-%d %H:%M}",
            pick("多久以前", "Age", lang): p.age_text,
            pick("经度", "Lon", lang): round(p.lon, 5),
            pick("纬度", "Lat", lang): round(p.lat, 5),
            pick("精度（米）", "Accuracy (m)", lang): p.accuracy_m,
        }
        for p in worker_last_positions(engine(), scope=scope)
    ]


if data.grids.empty:
    st.info(t("no_grids_yet", lang))
    st.stop()
if data.days is None:  # say what is missing and which command loads it, then the grids
    st.info(t("no_patrols", lang))
    st.metric(t("unvisited_grids", lang), f"{len(data.grids):,}")
    st.dataframe(grid_table(data.grids), hide_index=True)
    st.stop()

unvisited = data.grids[data.grids.worker_patrol_days == 0]
cols = st.columns(3)
cols[0].metric(t("week", lang), f"{data.days[0]:%m-%d} – {data.days[1]:%m-%d}")
cols[1].metric(t("mean_coverage", lang), f"{data.grids.covered_share.mean():.0%}")
cols[2].metric(t("unvisited_grids", lang), f"{len(unvisited):,}")

m = maps.new_map(data.extent, base())
maps.add_coverage(m, data.grids, lang)
if show_tracks:
    maps.add_tracks(m, data.tracks, lang)
if data.plans is not None and not data.plans.empty:
    maps.add_plans(m, data.plans, lang)
st_folium(
    maps.finish(m), height=560, use_container_width=True, returned_objects=[], key="coverage_map"
)

left, right = st.columns(2)
with left:
    st.subheader(t("unvisited_grids", lang))
    st.dataframe(grid_table(unvisited), hide_index=True)
with right:
    st.subheader(t("workload", lang))
    st.dataframe(localized(data.workload, lang), hide_index=True)

if data.plans is not None and not data.plans.empty:
    st.subheader(f"{t('patrol_plan', lang)} · {data.plans.plan_date.iloc[0]}")
    st.dataframe(localized(data.plans.drop(columns=["geom", "plan_date"]), lang), hide_index=True)

# each worker's newest fix (field app or OsmAnd tracker) and its age: last, so the
# coverage tables above keep their places
with st.expander(pick("网格员最后位置 · Last positions", "Last positions · 网格员最后位置", lang)):
    st.dataframe(load_positions(scope(), lang), hide_index=True)
