"""Operator: live operations — open cases on the map, the queue beside it, a case's file."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pandas as pd
import streamlit as st
from streamlit_folium import st_folium

from app_pages.resources import engine
from dashboard import maps
from dashboard.labels import LOCAL_TZ, localized, pick, t
from layers.views import case_file, operator_desk

lang = st.session_state.get("lang", "zh")
st.title(t("operator", lang))


@st.cache_data(ttl=30, max_entries=4, show_spinner=False)
def load(now_minute: datetime, area: str | None):  # type: ignore[no-untyped-def]
    return operator_desk(engine(), now=now_minute, community=area)


now = datetime.now(timezone(timedelta(hours=8))).replace(second=0, microsecond=0)
desk = load(now, st.session_state.get("area"))
queue = desk.queue
if queue.empty:
    st.info(t("no_open_cases", lang))
    st.stop()

queue = queue.assign(
    category=[pick(z, e, lang) for z, e in zip(queue.category_zh, queue.category_en, strict=True)],
    state=[pick(z, e, lang) for z, e in zip(queue.status_zh, queue.status_en, strict=True)],
    community=[
        pick(z, e, lang)
        for z, e in zip(queue.community_zh.fillna(""), queue.community_en.fillna(""), strict=True)
    ],
)
with st.sidebar:
    st.subheader(t("filters", lang))
    chosen_categories = st.multiselect(
        t("category", lang), sorted(queue.category.unique()), key="op_categories"
    )
    chosen_sources = st.multiselect(
        t("source", lang), sorted(queue.source.unique()), key="op_sources"
    )
    chosen_communities = st.multiselect(
        t("community", lang), sorted(queue.community.unique()), key="op_communities"
    )
    overdue_only = st.toggle(t("overdue_only", lang), key="op_overdue_only")

mask = pd.Series(True, index=queue.index)
if chosen_categories:
    mask &= queue.category.isin(chosen_categories)
if chosen_sources:
    mask &= queue.source.isin(chosen_sources)
if chosen_communities:
    mask &= queue.community.isin(chosen_communities)
if overdue_only:
    mask &= queue.overdue
shown = queue[mask]

cols = st.columns(3)
cols[0].metric(t("open_cases", lang), f"{desk.open_case_total:,}")
cols[1].metric(t("shown", lang), f"{len(shown):,}")
cols[2].metric(t("overdue", lang), f"{int(shown.overdue.sum()):,}")

left, right = st.columns([3, 2])
with left:
    m = maps.new_map(desk.extent)
    maps.add_communities(m, desk.communities, lang)
    maps.add_open_cases(m, shown, lang)
    maps.legend(
        lang,
        {t("shown", lang): f"{len(shown):,}"},
        {k: v for k, v in zip(shown.status, shown.state, strict=False) if k in maps.STATUS_COLOURS},
    ).add_to(m)
    clicked = st_folium(
        maps.finish(m),
        height=520,
        use_container_width=True,
        returned_objects=["last_object_clicked_tooltip"],
        key="operator_map",
    )
with right:
    table = shown[
        [
            "case_no",
            "category",
            "state",
            "source",
            "community",
            "age_hours",
            "hours_left",
            "overdue",
        ]
    ].sort_values(["overdue", "hours_left"], ascending=[False, True])
    picked = st.dataframe(
        localized(table, lang),
        hide_index=True,
        height=520,
        on_select="rerun",
        selection_mode="single-row",
        key="op_queue",
    )

selected_no = maps.case_no_from_tooltip((clicked or {}).get("last_object_clicked_tooltip"))
rows = picked.selection.rows if picked else []
if rows:
    selected_no = table.iloc[rows[0]].case_no
if selected_no:
    case_id = int(queue.loc[queue.case_no == selected_no, "id"].iloc[0])
    detail, history = case_file(engine(), case_id=case_id)
    if detail:
        st.subheader(
            f"{t('case_no', lang)} {detail['case_no']} · "
            f"{pick(detail['category_zh'], detail['category_en'], lang)}"
        )
        info = st.columns(4)
        info[0].metric(t("status", lang), pick(detail["status_zh"], detail["status_en"], lang))
        left_h = (
            (detail["deadline_at"] - now).total_seconds() / 3600 if detail["deadline_at"] else None
        )
        info[1].metric(t("hours_left", lang), "—" if left_h is None else f"{left_h:,.1f}")
        info[2].metric(
            t("department", lang),
            pick(detail["department_zh"] or "—", detail["department_en"] or "—", lang),
        )
        info[3].metric(t("source", lang), detail["source"])
        st.write(detail["description"])
        st.caption(
            f"{t('grids', lang)} {detail['grid_code'] or '—'} · "
            f"{pick(detail['community_zh'] or '', detail['community_en'] or '', lang)}"
        )
        if detail["reporters"]:
            st.caption(t("reporters_masked", lang))
            st.dataframe(localized(pd.DataFrame(detail["reporters"]), lang), hide_index=True)
        history["at"] = history["at"].dt.tz_convert(LOCAL_TZ).dt.strftime("%Y-%m-%d %H:%M")
        st.dataframe(localized(history, lang), hide_index=True)
