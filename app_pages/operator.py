"""Operator: live operations — open cases on the map, the queue beside it, a case's file."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import streamlit as st
from streamlit_folium import st_folium

from app_pages.resources import base, engine, scope, user
from dashboard import maps
from dashboard.labels import LOCAL_TZ, localized, pick, t, time_zone
from layers.auth import Scope
from layers.media import PhotoError, read_photo, store_photo
from layers.views import case_action, case_file, find_case, operator_desk, reporter_contacts
from layers.workflow.errors import WorkflowError

lang = st.session_state.get("lang", "zh")
st.title(t("operator", lang))


@st.cache_data(ttl=30, max_entries=4, show_spinner=False)
def load(now_minute: datetime, area: str | None, scope: Scope):  # type: ignore[no-untyped-def]
    return operator_desk(engine(), scope=scope, now=now_minute, community=area)


now = datetime.now(time_zone()).replace(second=0, microsecond=0)
desk = load(now, st.session_state.get("area"), scope())
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
    wanted = st.text_input(t("find_case_no", lang), key="op_find").strip()
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
    m = maps.new_map(desk.extent, base())
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
    # new reports waiting to be accepted first, then overdue, then the least time left
    table = shown.assign(_new=shown.status == "reported").sort_values(
        ["_new", "overdue", "hours_left", "age_hours"], ascending=[False, False, True, True]
    )[
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
    ]
    picked = st.dataframe(
        localized(table, lang),
        hide_index=True,
        height=520,
        on_select="rerun",
        selection_mode="single-row",
        # a new key after each action: the queue reorders, so an old row selection
        # would point at another case
        key=f"op_queue_{st.session_state.get('op_acted', 0)}",
    )

selected_no = maps.case_no_from_tooltip((clicked or {}).get("last_object_clicked_tooltip"))
rows = picked.selection.rows if picked else []
if rows:
    selected_no = table.iloc[rows[0]].case_no
if selected_no:
    st.session_state["op_case"] = int(queue.loc[queue.case_no == selected_no, "id"].iloc[0])
elif wanted and wanted != st.session_state.get("op_found"):
    # a case number typed in (e.g. a caller asking after their case): open or closed
    found = find_case(engine(), scope=scope(), case_no=wanted)
    st.session_state["op_found"] = wanted
    if found is None:
        st.sidebar.warning(t("case_not_found", lang).format(case_no=wanted))
    else:
        st.session_state["op_case"] = found
case_id = st.session_state.get("op_case")


def show_case_file(case_id: int) -> None:
    """The case file and the actions the user's role may take, each one call into layers."""
    me = user()
    file = case_file(engine(), scope=me.scope, case_id=case_id, now=datetime.now(now.tzinfo))
    if file is None:
        return
    detail = file.detail
    st.subheader(
        f"{t('case_no', lang)} {detail['case_no']} · "
        f"{pick(detail['category_zh'], detail['category_en'], lang)}"
    )
    info = st.columns(5)
    info[0].metric(t("status", lang), pick(detail["status_zh"], detail["status_en"], lang))
    left_h = file.deadline["remaining_hours"]
    info[1].metric(
        t("deadline_countdown", lang),
        "—" if left_h is None else f"{left_h:,.1f}",
        delta=None if left_h is None or left_h >= 0 else t("overdue", lang),
        delta_color="inverse",
    )
    info[2].metric(
        t("department", lang),
        pick(detail["department_zh"] or "—", detail["department_en"] or "—", lang),
    )
    info[3].metric(t("source", lang), detail["source"])
    info[4].metric(t("escalation_level", lang), file.deadline["escalation_level"])
    st.write(detail["description"])
    st.caption(
        f"{t('grids', lang)} {detail['grid_code'] or '—'} · "
        f"{pick(detail['community_zh'] or '', detail['community_en'] or '', lang)}"
        + (
            f" · {t('pending_request', lang)}: {detail['pending_request']}"
            if detail["pending_request"]
            else ""
        )
    )
    if detail["dispatch_rule"] or detail["dispatch_reason"]:
        st.markdown(
            f"**{t('routing_reason', lang)}** ({detail['dispatch_rule'] or '—'}): "
            f"{detail['dispatch_reason'] or '—'}"
        )
    if file.assignments:
        st.dataframe(
            localized(
                pd.DataFrame(file.assignments)[
                    ["department_code", "role", "rule", "reason", "assigned_at", "deadline_at"]
                ],
                lang,
            ),
            hide_index=True,
        )
    media = [m for m in (detail["media"] or []) if isinstance(m, dict) and m.get("url")]
    photos = media + [
        a for row in file.history.get("attachments", []) for a in (row or []) if isinstance(a, dict)
    ]
    if photos:
        st.markdown(f"**{t('photos', lang)}**")
        for item in photos:
            url = str(item.get("url") or "")
            if item.get("path"):  # uploaded here: read by the server for this user only
                try:
                    st.image(read_photo(str(item["path"])), width=240, caption=item.get("name"))
                except PhotoError as exc:
                    st.caption(str(exc))
            # only the app's own files are shown inline: nothing is fetched from outside
            elif url.startswith("/app/static/"):
                st.image(url, width=240)
            else:
                st.caption(url or str(item))
    if detail["reporters"]:
        st.caption(t("reporters_masked", lang))
        st.dataframe(localized(pd.DataFrame(detail["reporters"]), lang), hide_index=True)
        if me.scope.sees_personal_data and st.button(
            t("show_contacts", lang), key=f"contacts_{case_id}"
        ):
            contacts = reporter_contacts(
                engine(), scope=me.scope, actor=me.username, case_id=case_id
            )
            st.dataframe(localized(pd.DataFrame(contacts), lang), hide_index=True)

    st.markdown(f"**{t('case_actions', lang)}**")
    if not file.actions:
        st.caption(t("no_actions", lang))
    else:
        with st.form(f"act_{case_id}_{detail['version']}"):
            action = st.radio(
                t("action", lang),
                file.actions,
                format_func=lambda a: t(f"act_{a}", lang),
                horizontal=True,
                key="op_action",
            )
            department = None
            if "dispatch" in file.actions:
                names = {c: pick(z, e, lang) for c, z, e in file.departments}
                department = st.selectbox(
                    t("dispatch_to", lang),
                    [None, *names],
                    format_func=lambda c: t("route_by_rules", lang) if c is None else names[c],
                    key="op_department",
                )
            target = None
            if file.duplicates:
                twins = {d["id"]: d for d in file.duplicates}
                target = st.selectbox(
                    t("merge_into", lang),
                    list(twins),
                    format_func=lambda i: t("duplicate_choice", lang).format(
                        case_no=twins[i]["case_no"],
                        metres=float(twins[i]["distance_m"]),
                        status=t(f"st_{twins[i]['status']}", lang),
                    ),
                    key="op_merge_into",
                )
            reason = st.text_input(t("reason", lang), key="op_reason")
            photo = (
                st.file_uploader(
                    t("photo_for", lang).format(
                        actions=", ".join(t(f"act_{a}", lang) for a in file.photo_actions)
                    ),
                    type=["jpg", "jpeg", "png", "webp"],
                    key=f"op_photo_{case_id}",
                )
                if file.photo_actions
                else None
            )
            if st.form_submit_button(t("do_action", lang)):
                try:
                    attachments = None
                    if action in file.photo_actions:
                        if photo is None:
                            raise PhotoError(t("photo_needed", lang))
                        attachments = [
                            store_photo(photo.getvalue(), case_id=case_id, name=photo.name)
                        ]
                    done = case_action(
                        engine(),
                        scope=me.scope,
                        actor=me.username,
                        case_id=case_id,
                        action=action,
                        expected_version=int(detail["version"]),
                        reason=reason.strip() or None,
                        department_code=department if action == "dispatch" else None,
                        attachments=attachments,
                        merge_into=target if action == "merge" else None,
                    )
                except PhotoError as exc:
                    st.error(str(exc))
                except WorkflowError as exc:
                    st.error(f"{exc.code}: {exc}")
                else:
                    load.clear()
                    st.session_state["op_acted"] = st.session_state.get("op_acted", 0) + 1
                    st.session_state["op_done"] = t("action_done", lang).format(
                        action=t(f"act_{action}", lang), status=t(f"st_{done.status}", lang)
                    )
                    st.rerun()
    if st.session_state.get("op_done"):
        st.success(st.session_state.pop("op_done"))
    st.markdown(f"**{t('history', lang)}**")
    history = file.history.drop(columns=["attachments"], errors="ignore")
    history["at"] = history["at"].dt.tz_convert(LOCAL_TZ).dt.strftime("%Y-%m-%d %H:%M")
    st.dataframe(localized(history, lang), hide_index=True, key="op_history")


if case_id is not None:
    show_case_file(case_id)
