"""The leader's performance, drawn: the headline figures with the measures closure rates
hide beside them, ranked coloured charts per department, street, community and grid, the
recurring parts and the workers' load, and the Excel export. (Not a page of its own: the
leader page calls :func:`headline_row` and :func:`charts`.)"""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd
import streamlit as st

from app_pages.resources import engine
from dashboard import charts
from dashboard.export import excel_workbook
from dashboard.labels import localized, pick, t, time_zone
from services.leader import HEADLINE, headline, performance
from services.login import Scope

LEVELS = ("departments", "streets", "communities", "grids")


@st.cache_data(ttl=300, max_entries=16, show_spinner=False)
def load_performance(
    start: date,
    end: date,
    now_hour: datetime,
    recurrence_days: int,
    scope: Scope,
    *,
    area: str | None = None,
):  # type: ignore[no-untyped-def]
    return performance(
        engine(),
        scope=scope,
        start=start,
        end=end,
        now=now_hour,
        recurrence_days=recurrence_days,
        community=area,
    )


def tables_for(
    window: tuple[date, date], scope: Scope, area: str | None = None
) -> dict[str, pd.DataFrame]:
    """The measures of the window in the area picked (None: the user's whole area), from
    the measures rollup (cached for the hour; recurrence within 30 days)."""
    days = int(st.session_state.get("recurrence_days", 30))
    return load_performance(window[0], window[1], this_hour(), days, scope, area=area)


def this_hour() -> datetime:
    """Now in the city, to the hour: the measures' "now" (backlog age, overdue), cached
    for the hour."""
    return datetime.now(time_zone()).replace(minute=0, second=0, microsecond=0)


def measures_choice(window: tuple[date, date], area: str | None) -> tuple[object, ...]:
    """What :func:`tables_for` depends on besides the user: a new one is computed later."""
    return (window, area, this_hour(), int(st.session_state.get("recurrence_days", 30)))


def _shown(key: str, value: float | None) -> str:
    if value is None:
        return "—"
    if charts.MEASURES[key].share:
        return f"{100 * value:.1f} %"
    return f"{value:.1f}"


def headline_row(tables: dict[str, pd.DataFrame], lang: str) -> None:
    """Closure and on-time closure, and beside them the measures they hide, each with its
    sample size."""
    figures = headline(tables)
    samples = {
        "cases": t("cases", lang),
        "closed": t("closed", lang),
        "backlog_open": t("backlog_open", lang),
        "households": t("households", lang),
    }
    columns = st.columns(len(HEADLINE))
    for column, key in zip(columns, HEADLINE, strict=True):
        sample = charts.MEASURES[key].sample
        if key == "cases_per_100_households":
            sample = "households"
        n = int(figures.get(sample) or 0)
        column.metric(
            t(key, lang),
            _shown(key, figures.get(key)),
            help=f"{samples[sample]} n={n:,}",
        )
        column.caption(f"n={n:,}")


def _label_column(level: str, frame: pd.DataFrame, lang: str) -> pd.DataFrame:
    if level == "grids":
        return frame.assign(label=frame.code)
    return frame.assign(
        label=[pick(z, e, lang) for z, e in zip(frame.name_zh, frame.name_en, strict=True)]
    )


def _recurrence_input(lang: str) -> None:
    st.number_input(
        t("recurrence_days", lang), min_value=1, max_value=365, value=30, key="recurrence_days"
    )


def charts_section(
    tables: dict[str, pd.DataFrame] | None, window: tuple[date, date], lang: str
) -> None:
    """A measure chosen once, ranked per department, street, community and grid (worst
    first, units with a small sample hidden and counted), then the detail tables.
    ``tables`` None: the controls and a note that the charts are being computed (the page
    draws them on its next run, see :mod:`app_pages.deferred`)."""
    st.subheader(t("performance", lang))
    st.caption(t("performance_note", lang))
    left, right = st.columns(2)
    key = left.selectbox(
        t("measure", lang),
        list(charts.MEASURES),
        format_func=lambda k: t(k, lang),
        key="leader_measure",
    )
    minimum = right.number_input(
        t("min_sample", lang), min_value=1, max_value=1000, value=charts.MIN_SAMPLE,
        key="leader_min_sample",
    )  # fmt: skip
    if tables is None:
        st.caption(t("area_figures_coming", lang))
        with st.expander(t("performance_tables", lang)):
            _recurrence_input(lang)  # drawn, so that its value is kept
        return
    measure = charts.MEASURES[key]
    # one level's chart at a time (a picker, not tabs: tabs draw every chart, and four
    # Plotly charts held the browser for a second while the map of an area change waited)
    level = st.radio(
        t("chart_level", lang),
        LEVELS,
        format_func=lambda v: t(v, lang),
        horizontal=True,
        key="leader_level",
    )
    frame = _label_column(level, tables[level], lang)
    if key not in frame.columns:
        st.info(t("measure_not_for_level", lang))
    else:
        fig, hidden = charts.ranked_bars(
            frame, measure, label="label", lang=lang, min_sample=int(minimum)
        )
        st.plotly_chart(fig, width="stretch", key=f"leader_chart_{level}")
        if hidden:
            st.caption(t("hidden_small_sample", lang).format(n=hidden, min=int(minimum)))
    with st.expander(t("places", lang), expanded=True):
        st.dataframe(localized(_places(tables["places"], lang), lang), hide_index=True)
    with st.expander(t("workers", lang), expanded=True):
        st.dataframe(localized(tables["workers"], lang), hide_index=True)
    with st.expander(t("performance_tables", lang)):
        _recurrence_input(lang)
        for level in LEVELS:
            st.caption(t(level, lang))
            st.dataframe(localized(_named(tables[level], lang), lang), hide_index=True)
    st.download_button(
        t("export_excel", lang),
        # built when clicked, not on every run (0.5 s of the server's run for a street)
        lambda: excel_workbook(tables),
        file_name=f"gridgov-performance-{window[0]}-{window[1]}.xlsx",
        mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )


def department_name(zh: object, en: object, lang: str) -> str:
    """A department as a person reads it: in Chinese its Chinese name with the English
    beside it, in English the English name; "—" when there is none."""
    if not isinstance(zh, str) or not zh:
        return "—"
    english = en if isinstance(en, str) and en else zh
    if lang != "zh":
        return english
    return zh if english == zh else f"{zh} ({english})"


def _places(frame: pd.DataFrame, lang: str) -> pd.DataFrame:
    """The recurring parts as shown: the department by name, not by its code."""
    named = frame.assign(
        department=[
            department_name(z, e, lang)
            for z, e in zip(frame.department_zh, frame.department_en, strict=True)
        ]
    )
    return _named(named.drop(columns=["department_code", "department_zh", "department_en"]), lang)


def _named(frame: pd.DataFrame, lang: str) -> pd.DataFrame:
    """Keep the name in the screen's language only, and no raw class code."""
    drop = [c for c in ("name_en" if lang == "zh" else "name_zh", "service_code") if c in frame]
    return frame.drop(columns=drop)
