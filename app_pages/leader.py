"""Leader: where cases concentrate (H3 heat, heat per grid, kernel density, Gi* hotspots)
and how they trend, for any time window."""

from __future__ import annotations

from datetime import date
from typing import cast

import folium
import pandas as pd
import streamlit as st
from streamlit_folium import st_folium

from app_pages import deferred, leader_places
from app_pages import leader_performance as perf
from app_pages.leader_places import drill_down, hotspot_list, weekly_animation
from app_pages.resources import base, day_range, engine, scope
from dashboard import dynamic_map, leader_maps, maps
from dashboard.labels import pick, t
from dashboard.offline import localize_assets
from services.areas import area_extents
from services.leader import (
    leader_density,
    leader_grid_heat,
    leader_heat_by_area,
    leader_hotspots,
    major_choices,
    narrow_heat,
)
from services.login import Scope

lang = st.session_state.get("lang", "zh")
st.title(t("leader", lang))


@st.cache_data(ttl=300, max_entries=32, show_spinner=False)
def load(start: date, end: date, categories: tuple[str, ...] | None, scope: Scope):  # type: ignore[no-untyped-def]
    """The window's rollups for the user's whole area, per community: an area change
    is then a pandas filter of this (no query)."""
    return leader_heat_by_area(
        engine(),
        scope=scope,
        start=start,
        end=end,
        categories=list(categories) if categories else None,
    )


@st.cache_data(ttl=600, show_spinner=False)
def load_majors():  # type: ignore[no-untyped-def]
    return major_choices(engine())


@st.cache_data(ttl=600, show_spinner=False)
def load_extents(scope: Scope):  # type: ignore[no-untyped-def]
    return area_extents(engine(), scope=scope)


area = st.session_state.get("area")
days = day_range(scope())
if days is None:
    st.info(t("no_data", lang))
    st.stop()
window = st.session_state.get("window", days)

with st.sidebar:
    picked = st.select_slider(
        t("h3_resolution", lang),
        options=["auto", 7, 8, 9],
        value="auto",
        format_func=lambda r: t("auto", lang) if r == "auto" else f"r{r}",
        key="h3_resolution",
    )
    labels = {r.service_code: pick(r.name_zh, r.name_en, lang) for r in load_majors().itertuples()}
    chosen = st.multiselect(
        t("category", lang),
        list(labels),
        format_func=lambda c: labels[c],
        placeholder=t("choose_options", lang),
        key="leader_categories",
    )
    views_of_map = ["heat_h3", "heat_grid", "density", "hotspots", "heat_weekly"]
    shows = st.radio(
        t("map_shows", lang),
        views_of_map,
        format_func=lambda v: t(v, lang),
        key="leader_map_shows",
    )


MAP_VIEWS = {"heat_grid": leader_grid_heat, "density": leader_density, "hotspots": leader_hotspots}


@st.cache_data(ttl=300, max_entries=32, show_spinner=False)
def load_map_view(
    shows: str,
    start: date,
    end: date,
    categories: tuple[str, ...] | None,
    area: str | None,
    *,
    scope: Scope,
    resolution: int | None = None,
):  # type: ignore[no-untyped-def]
    """Heat per grid, density bands or Gi* hotspots (only these take a resolution)."""
    extra = {} if resolution is None else {"resolution": resolution}
    return MAP_VIEWS[shows](
        engine(),
        scope=scope,
        start=start,
        end=end,
        categories=list(categories) if categories else None,
        community=area,
        **extra,
    )


extent = load_extents(scope()).get(area)
resolution = maps.heat_resolution(extent, cast(int | str, picked))
cells, daily = narrow_heat(load(window[0], window[1], tuple(chosen) or None, scope()), area)
total = int(cells.n.sum()) if not cells.empty else 0
cats = tuple(chosen) or None
st.metric(t("cases_in_window", lang), f"{total:,}")
# the area's own figures (headline measures, hotspot list, charts) are queries of their
# own: the first run of a new choice sends the map with placeholders, and they are
# computed a moment later and drawn in place (app_pages.deferred); their row is here
later = deferred.first_sight(
    "leader",
    (cats, leader_places.hotspot_days(), *perf.measures_choice(window, area), scope()),
)
headline_slot = st.container()

left, right = st.columns([3, 2])
# the map first, then the hotspot list: an area change redraws the map without waiting for
# the list's queries (a hotspot's button sets the choice before the page runs)
chosen_spot = leader_places.chosen_spot()
with left:
    outlines, roads = leader_places.place_map_layers(area)
    if shows == "heat_weekly":
        weekly_animation(
            window, cats=cats, area=area, resolution=resolution, outlines=outlines, lang=lang
        )
        clicked = None
    else:
        m = maps.new_map(extent, base())
        if shows == "hotspots":
            spots = load_map_view(
                shows, window[0], window[1], cats, area, scope=scope(), resolution=resolution
            )
            maps.add_hotspot_cells(m, spots.cells, resolution, lang)
        elif shows == "heat_grid":
            maps.add_grid_heat(
                m, load_map_view(shows, window[0], window[1], cats, area, scope=scope()), lang
            )
        elif shows == "density":
            smooth = load_map_view(shows, window[0], window[1], cats, area, scope=scope())
            maps.add_density(m, smooth.bands, smooth.bandwidth_m, lang)
        else:
            maps.add_heat_cells(m, cells, resolution, lang)
        leader_maps.add_places(m, outlines, roads, lang)  # over the heat, so they stay legible
        if chosen_spot is not None:
            leader_maps.add_chosen(m, chosen_spot.outline, lang)
            leader_maps.zoom_to(m, chosen_spot.bounds)
        # the map stays, its layers are swapped: an area or view change redraws them in the
        # map the browser has, instead of a new map in a new frame (dashboard.dynamic_map)
        shown = dynamic_map.split(
            localize_assets(m), maps.new_map(load_extents(scope()).get(None), base())
        )
        clicked = dynamic_map.click_on(
            st_folium(
                localize_assets(shown.base),
                feature_group_to_add=shown.groups,
                layer_control=folium.LayerControl(collapsed=False),
                height=560,
                width="stretch",
                returned_objects=["last_active_drawing"],
                key=f"leader_map_{chosen_spot.cell if chosen_spot else 'all'}",
            ),
            shown.drawn_ids(),
        )
with right:
    hotspot_list(window, cats, area, lang, later=later)
drill_down(window, cats, chosen_spot, clicked, lang)
tables = None if later else perf.tables_for(window, scope(), area)
with headline_slot:
    if tables is None:
        st.caption(t("area_figures_coming", lang))
    else:
        perf.headline_row(tables, lang)

if not daily.empty:
    st.subheader(t("trend", lang))
    weekly = maps.weekly_trend(daily, lang)
    # one row per class with its weekly sparkline: the data grid draws on a canvas, far
    # lighter for the browser than a Vega chart (which doubled the time of an area change)
    trend = pd.DataFrame(
        {
            t("category", lang): weekly.columns,
            t("cases", lang): weekly.sum().astype(int).to_numpy(),
            t("weekly", lang): [weekly[c].astype(int).tolist() for c in weekly.columns],
        }
    ).sort_values(t("cases", lang), ascending=False)
    st.dataframe(
        trend,
        hide_index=True,
        width="stretch",
        column_config={
            t("weekly", lang): st.column_config.LineChartColumn(
                t("weekly", lang), width="large", y_min=0
            )
        },
        key="leader_trend",
    )


perf.charts_section(tables, window, lang)
if later:
    deferred.compute_later(
        "leader",
        lambda: (
            leader_places.load_hotspots(window, cats, area),
            perf.tables_for(window, scope(), area),
        ),
    )
