"""Supervision board (督办): per department, cases near (yellow) or past (red) deadline."""

from __future__ import annotations

from collections.abc import Hashable
from datetime import datetime

import pandas as pd
import streamlit as st

from app_pages.resources import engine, scope, user
from dashboard.labels import LOCAL_TZ, pick, t
from dashboard.safe_text import markdown_text as md
from services.board import escalate, supervision_board
from services.errors import GridGovError, describe
from services.login import Scope

lang = st.session_state.get("lang", "zh")
st.title(t("board", lang))
st.caption(t("bd_intro", lang))

MARK_COLOURS = {"yellow": "background-color: #fff3b0", "red": "background-color: #ffc9c9"}


@st.cache_data(ttl=60, max_entries=4, show_spinner=False)
def load(now_minute: datetime, area: str | None, scope: Scope):  # type: ignore[no-untyped-def]
    return supervision_board(engine(), scope=scope, now=now_minute, community=area)


now = datetime.now().astimezone().replace(second=0, microsecond=0)
board = load(now, st.session_state.get("area"), scope())
if st.session_state.get("bd_done"):
    st.success(st.session_state.pop("bd_done"))

cols = st.columns(3)
cols[0].metric(t("bd_red", lang), f"{sum(d.red for d in board.departments):,}")
cols[1].metric(t("bd_yellow", lang), f"{sum(d.yellow for d in board.departments):,}")
cols[2].metric(t("bd_escalated", lang), f"{sum(d.escalated for d in board.departments):,}")

summary = pd.DataFrame(
    {
        t("bd_department", lang): [
            pick(d.department_zh, d.department_en, lang) for d in board.departments
        ],
        t("bd_red", lang): [d.red for d in board.departments],
        t("bd_yellow", lang): [d.yellow for d in board.departments],
        t("bd_escalated", lang): [d.escalated for d in board.departments],
        t("bd_supervised", lang): [d.supervised for d in board.departments],
    }
)
st.dataframe(summary, hide_index=True, key="bd_summary")

if not board.cases:
    st.info(t("bd_nothing", lang))
    st.stop()


def _when(at: datetime | None) -> str:
    return "" if at is None else pd.Timestamp(at).tz_convert(LOCAL_TZ).strftime("%m-%d %H:%M")


for line in board.departments:
    mine = [c for c in board.cases if c.department_code == line.department_code]
    if not mine:
        continue
    title = (
        f"{pick(line.department_zh, line.department_en, lang)} · "
        f"{t('bd_red', lang)} {line.red} · {t('bd_yellow', lang)} {line.yellow}"
    )
    with st.expander(md(title), expanded=line.red > 0):
        frame = pd.DataFrame(
            {
                t("bd_mark", lang): [t(f"bd_mark_{c.mark}", lang) for c in mine],
                t("case_no", lang): [c.case_no for c in mine],
                t("category", lang): [pick(c.category_zh, c.category_en, lang) for c in mine],
                t("status", lang): [pick(c.status_zh, c.status_en, lang) for c in mine],
                t("community", lang): [
                    pick(c.community_zh or "", c.community_en or "", lang) for c in mine
                ],
                t("bd_deadline", lang): [_when(c.deadline_at) for c in mine],
                t("bd_hours_left", lang): [c.remaining_hours for c in mine],
                t("bd_limit_hours", lang): [c.limit_hours for c in mine],
                t("bd_escalated_at", lang): [_when(c.escalated_at) for c in mine],
            }
        )
        marks = [MARK_COLOURS[c.mark] for c in mine]
        hours: list[Hashable] = [t("bd_hours_left", lang), t("bd_limit_hours", lang)]
        st.dataframe(
            frame.style.apply(lambda _row, m=marks: [m[_row.name]] * len(_row), axis=1).format(
                "{:.1f}", subset=hours
            ),
            hide_index=True,
            key=f"bd_cases_{line.department_code}",
        )

me = user()
st.subheader(t("bd_escalate_title", lang))
if me.scope.role != "operator":
    st.caption(t("bd_only_operator", lang))
else:
    open_ones = {c.id: c for c in board.cases if c.escalated_at is None} or {
        c.id: c for c in board.cases
    }
    with st.form("bd_escalate"):
        picked = st.selectbox(
            t("bd_escalate_case", lang),
            list(open_ones),
            format_func=lambda i: (
                f"{t(f'bd_mark_{open_ones[i].mark}', lang)} {open_ones[i].case_no} · "
                f"{pick(open_ones[i].department_zh, open_ones[i].department_en, lang)} · "
                f"{open_ones[i].remaining_hours:+.1f} h"
            ),
            key="bd_case",
        )
        reason = st.text_input(t("bd_escalate_reason", lang), key="bd_reason")
        if st.form_submit_button(t("bd_escalate_submit", lang)):
            case = open_ones[picked]
            try:
                escalate(
                    engine(),
                    scope=me.scope,
                    actor=me.username,
                    case_id=case.id,
                    expected_version=case.version,
                    reason=reason,
                )
            except GridGovError as exc:
                st.error(md(describe(exc)))
            else:
                load.clear()
                st.session_state["bd_done"] = t("bd_escalate_done", lang).format(
                    case_no=case.case_no
                )
                st.rerun()
