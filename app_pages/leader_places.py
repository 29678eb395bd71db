"""The leader page's places: the hotspot list (named by community and nearest road, with
top classes and trend; a click zooms the map), the drill-down to a place's cases and the
week-by-week heat. (Not a page of its own: the leader page calls these.)"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import geopandas as gpd
import pandas as pd
import streamlit as st

from app_pages.resources import engine, scope
from dashboard import charts, maps
from dashboard.labels import LOCAL_TZ, localized, pick, t
from dashboard.safe_text import markdown_text
from gis import heat
from services.leader_places import (
    HOTSPOT_PERIODS,
    cases_of_place,
    hotspot_period,
    place_layers,
    ranked_hotspots,
    weekly_heat,
)
from services.login import Scope

HOTSPOT_LEVEL = 9
"""Hotspots are listed on H3 r9 cells (~0.1 km², a block or two: a place a leader can name)."""


@dataclass(frozen=True)
class ChosenSpot:
    """The hotspot the leader clicked: its cell, bounds and outline."""

    cell: str
    bounds: tuple[float, float, float, float]
    outline: gpd.GeoDataFrame


@st.cache_data(ttl=600, show_spinner=False)
def _layers(scope: Scope):  # type: ignore[no-untyped-def]
    layers = place_layers(engine(), scope=scope)
    return layers.communities, layers.roads


@st.cache_data(ttl=600, max_entries=64, show_spinner=False)
def _area_layers(scope: Scope, area: str | None):  # type: ignore[no-untyped-def]
    outlines, roads = _layers(scope)
    if area is None or outlines.empty:
        return outlines, roads
    mine = outlines[outlines.code.str.startswith(area)]
    if mine.empty:
        return mine, roads.iloc[0:0]
    minx, miny, maxx, maxy = mine.total_bounds
    return mine, roads.cx[minx:maxx, miny:maxy]


def place_map_layers(area: str | None = None) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """(community outlines with label points, major roads) of the user's area, or of the
    area picked (any level): its communities and the roads crossing their extent — an
    area's map carries no other area's features."""
    return _area_layers(scope(), area)  # type: ignore[no-any-return]


@st.cache_data(ttl=300, max_entries=32, show_spinner=False)
def _hotspots(
    start: date, end: date, categories: tuple[str, ...] | None, area: str | None, scope: Scope
):  # type: ignore[no-untyped-def]
    return ranked_hotspots(
        engine(),
        scope=scope,
        start=start,
        end=end,
        resolution=HOTSPOT_LEVEL,
        categories=list(categories) if categories else None,
        community=area,
    )


def _trend_text(row: pd.Series, lang: str) -> str:
    if row.trend == "new":
        return t("trend_new", lang)
    arrow = {"up": "↑", "down": "↓", "flat": "→"}[str(row.trend)]
    return (
        f"{arrow} {100 * float(row.change):+.0f} % ({t('previous_period', lang)} {int(row.n_prev)})"
    )


def _choose(cell: str | None) -> None:
    """A hotspot button's callback: run before the page, so the map (drawn before the
    list) already zooms to the chosen hotspot."""
    if cell is None:
        st.session_state.pop("leader_hotspot", None)
    else:
        st.session_state["leader_hotspot"] = cell


def chosen_spot() -> ChosenSpot | None:
    """The hotspot the leader clicked (its cell, bounds and outline), or None."""
    chosen = st.session_state.get("leader_hotspot")
    if not chosen:
        return None
    import h3.api.basic_int as h3

    try:
        cell = h3.str_to_int(str(chosen))
    except (ValueError, TypeError):
        return None
    outline = heat.cell_polygons(pd.DataFrame({"cell": [cell], "n": [0]}))
    minx, miny, maxx, maxy = (float(v) for v in outline.total_bounds)
    return ChosenSpot(str(chosen), (minx, miny, maxx, maxy), outline)


def hotspot_days() -> int:
    """The hotspot period picked (days; the radio's default before it is drawn)."""
    return int(st.session_state.get("hotspot_days", HOTSPOT_PERIODS[1]))


def _hotspot_window(window: tuple[date, date]) -> tuple[date, date]:
    start, end = hotspot_period(window[1], hotspot_days())
    return max(start, window[0]), end


def load_hotspots(
    window: tuple[date, date], cats: tuple[str, ...] | None, area: str | None
) -> pd.DataFrame:
    """The ranked hotspots of the period picked (cached): what :func:`hotspot_list` draws."""
    start, end = _hotspot_window(window)
    return _hotspots(start, end, cats, area, scope())  # type: ignore[no-any-return]


def hotspot_list(
    window: tuple[date, date],
    cats: tuple[str, ...] | None,
    area: str | None,
    lang: str,
    *,
    later: bool = False,
) -> None:
    """The ranked hotspots of the last days of the window; a click chooses one (see
    :func:`chosen_spot`). ``later``: the period picker and a note that the list is being
    computed (the page draws it on its next run, see :mod:`app_pages.deferred`)."""
    st.subheader(t("hotspot_list", lang))
    st.radio(
        t("hotspot_period", lang),
        HOTSPOT_PERIODS,
        index=1,
        format_func=lambda d: t("last_days", lang).format(days=d),
        horizontal=True,
        key="hotspot_days",
    )
    start, end = _hotspot_window(window)
    st.caption(t("hotspot_note", lang).format(start=start, end=end))
    if later:
        st.caption(t("area_figures_coming", lang))
        return
    spots: Any = load_hotspots(window, cats, area)  # rows read by name below
    if spots.empty:
        st.info(t("no_cases", lang))
        return
    st.button(t("show_whole_area", lang), key="hotspot_clear", on_click=_choose, args=(None,))
    for row in spots.itertuples():
        place = pick(row.community_zh, row.community_en, lang)
        road = pick(row.road_zh, row.road_en, lang)
        near = f" · {markdown_text(t('near_road', lang).format(road=road))}" if road else ""
        count = f"{int(row.n)} {t('cases_unit', lang)}"
        label = f"{row.rank}. {markdown_text(place)}{near} — {count}"
        st.button(
            label, key=f"hotspot_{row.rank}", width="stretch", on_click=_choose, args=(row.cell,)
        )
        classes = pick(row.classes_zh, row.classes_en, lang)
        st.caption(
            f"{markdown_text(classes)} · "
            f"{markdown_text(_trend_text(pd.Series(row._asdict()), lang))}"
        )


@st.cache_data(ttl=300, max_entries=32, show_spinner=False)
def _cases(
    start: date,
    end: date,
    *,
    cell: str | None,
    grid: str | None,
    categories: tuple[str, ...] | None,
    scope: Scope,
):  # type: ignore[no-untyped-def]
    return cases_of_place(
        engine(),
        scope=scope,
        start=start,
        end=end,
        cell=cell,
        grid_code=grid,
        categories=list(categories) if categories else None,
    )


def drill_down(
    window: tuple[date, date],
    cats: tuple[str, ...] | None,
    spot: ChosenSpot | None,
    clicked: dict | None,
    lang: str,
) -> None:
    """The cases of the hexagon or grid clicked on the map, else of the chosen hotspot."""
    cell = maps.selected_id(clicked, "h3") or maps.selected_id(clicked, "chosen")
    grid = maps.selected_id(clicked, "grid")
    start, end = window
    if cell is None and grid is None and spot is not None:
        cell = spot.cell
        start = max(
            start, hotspot_period(window[1], int(st.session_state.get("hotspot_days", 28)))[0]
        )
    st.subheader(t("place_cases", lang))
    if cell is None and grid is None:
        st.caption(t("drill_down_hint", lang))
        return
    what = f"{t('grid', lang)} {grid}" if grid else f"H3 {cell}"
    cases = _cases(start, end, cell=cell, grid=grid, categories=cats, scope=scope())
    st.caption(
        t("place_cases_of", lang).format(
            place=markdown_text(what), n=len(cases), start=start, end=end
        )
    )
    shown = pd.DataFrame(
        {
            "case_no": cases.case_no,
            "reported_at": pd.to_datetime(cases.reported_at, utc=True)
            .dt.tz_convert(LOCAL_TZ)
            .dt.strftime("%Y-%m-%d %H:%M"),
            "part_major": [
                pick(z, e, lang) for z, e in zip(cases.major_zh, cases.major_en, strict=True)
            ],
            "category": [
                pick(z, e, lang) for z, e in zip(cases.category_zh, cases.category_en, strict=True)
            ],
            "status": [
                pick(z, e, lang) for z, e in zip(cases.status_zh, cases.status_en, strict=True)
            ],
            "source": [t(f"src_{s}", lang) for s in cases.source],
            "grid": cases.grid,
            "community": [
                pick(z, e, lang)
                for z, e in zip(cases.community_zh, cases.community_en, strict=True)
            ],
        }
    ).rename(columns={"part_major": "major_class"})
    st.dataframe(localized(shown, lang), hide_index=True, width="stretch", key="place_cases")


@st.cache_data(ttl=300, max_entries=16, show_spinner=False)
def _weekly(
    start: date,
    end: date,
    *,
    categories: tuple[str, ...] | None,
    area: str | None,
    resolution: int,
    scope: Scope,
):  # type: ignore[no-untyped-def]
    return weekly_heat(
        engine(),
        scope=scope,
        start=start,
        end=end,
        resolution=resolution,
        categories=list(categories) if categories else None,
        community=area,
    )


def weekly_animation(
    window: tuple[date, date],
    *,
    cats: tuple[str, ...] | None,
    area: str | None,
    resolution: int,
    outlines: gpd.GeoDataFrame,
    lang: str,
) -> None:
    """The heat week by week (play, or drag the slider), over the community outlines."""
    level = resolution
    weekly = _weekly(
        window[0], window[1], categories=cats, area=area, resolution=level, scope=scope()
    )
    if weekly.empty:
        st.info(t("no_cases", lang))
        return
    fig = charts.heat_animation(weekly, outlines, lang=lang, resolution=level)
    st.plotly_chart(fig, width="stretch", key="leader_animation")
