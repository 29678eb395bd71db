"""Operator: live operations — open cases on the map, the queue beside it, a case's file."""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import replace
from datetime import datetime

import pandas as pd
import streamlit as st
from streamlit_folium import st_folium

from app_pages.live_feed import live_strip, live_version
from app_pages.resources import base, engine, scope, user
from dashboard import maps, tile_map
from dashboard.labels import LOCAL_TZ, TEXT, localized, pick, position_text, t, time_zone
from dashboard.safe_text import markdown_text as md
from services.case_commands import (
    ActionRequest,
    photo,
    photo_for_action,
    reveal_contacts,
    take_action,
)
from services.errors import GridGovError, PhotoError, describe
from services.login import Scope
from services.operator import CaseFile, case_file, find_case, operator_desk
from services.tiles import tile_access

lang = st.session_state.get("lang", "zh")
st.title(t("operator", lang))


@st.cache_data(ttl=30, max_entries=4, show_spinner=False)
def load(now_minute: datetime, area: str | None, scope: Scope):  # type: ignore[no-untyped-def]
    return operator_desk(engine(), scope=scope, now=now_minute, community=area)


# live: polls for changes every few seconds and reruns the page when there are some
live_strip(lang, st.session_state.get("area"), load.clear)
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
    choose = t("choose_options", lang)
    chosen_categories = st.multiselect(
        t("category", lang),
        sorted(queue.category.unique()),
        key="op_categories",
        placeholder=choose,
    )
    chosen_sources = st.multiselect(
        t("source", lang),
        sorted(queue.source.unique()),
        key="op_sources",
        placeholder=choose,
        format_func=lambda code: t(f"src_{code}", lang) if f"src_{code}" in TEXT else code,
    )
    chosen_communities = st.multiselect(
        t("community", lang),
        sorted(queue.community.unique()),
        key="op_communities",
        placeholder=choose,
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

cols = st.columns(5)
cols[0].metric(t("open_cases", lang), f"{desk.open_case_total:,}")
cols[1].metric(t("shown", lang), f"{len(shown):,}")
cols[2].metric(t("live_new_count", lang), f"{int((shown.status == 'reported').sum()):,}")
cols[3].metric(t("live_urgent_count", lang), f"{int((shown.urgency == 'urgent').sum()):,}")
cols[4].metric(t("overdue", lang), f"{int(shown.overdue.sum()):,}")

left, right = st.columns([3, 2])
with left:
    m = maps.new_map(desk.extent, base())
    tiled = desk.open_case_total > len(queue)
    if tiled:
        # more open cases than the queue holds: the offline base map, the communities and
        # every open case drawn from vector tiles of `gridgov api`, one request per tile
        # for all three (docs/tiles.md; the threshold: GRIDGOV_LIVE_TILES_ABOVE)
        codes = sorted(shown.service_code.unique()) if chosen_categories else None
        tile_map.add_tile_layers(
            m,
            tile_access(scope()),
            lang=lang,
            layers=tile_map.LIVE_LAYERS,
            categories=codes,
            area=st.session_state.get("area"),
            combine=True,
            tile_size=tile_map.LIVE_TILE_SIZE,
            # the live strip's cursor: a change it saw is a new tile URL, so the map's
            # rerun draws the new case (neither the browser's nor the API's cache answers)
            version=live_version(st.session_state.get("area")),
            bounds=desk.extent,  # no request for a tile outside the area
        )
        st.caption(t("live_tiles_note", lang).format(n=desk.open_case_total))
    else:
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
        # the clicked feature itself: its id says which case it is
        returned_objects=["last_active_drawing"],
        key="operator_map",
    )
with right:
    # new reports waiting to be accepted first, then overdue, then the least time left
    table = shown.assign(
        _new=shown.status == "reported", _urgent=shown.urgency == "urgent"
    ).sort_values(
        ["_new", "_urgent", "overdue", "hours_left", "age_hours"],
        ascending=[False, False, False, True, True],
    )[
        [
            "id",
            "case_no",
            "category",
            "urgency",
            "state",
            "source",
            "community",
            "age_hours",
            "hours_left",
            "overdue",
        ]
    ]
    table = table.assign(urgency=[t(f"urgency_{u}", lang) for u in table.urgency])
    picked = st.dataframe(
        localized(table.drop(columns="id"), lang),
        hide_index=True,
        height=520,
        on_select="rerun",
        selection_mode="single-row",
        # a new key after each action: the queue reorders, so an old row selection
        # would point at another case
        key=f"op_queue_{st.session_state.get('op_acted', 0)}",
    )

clicked_id = maps.selected_id(clicked, "case")
selected = int(clicked_id) if clicked_id else None
rows = picked.selection.rows if picked else []
if rows:
    selected = int(table.iloc[rows[0]].id)
if selected is not None:
    st.session_state["op_case"] = selected
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
    """The case file and the actions the user's role may take, each one service command."""
    file = case_file(engine(), scope=scope(), case_id=case_id, now=datetime.now(now.tzinfo))
    if file is None:
        return
    show_summary(file)
    show_photos(file)
    show_reporters(file)
    st.markdown(f"**{t('case_actions', lang)}**")
    if not file.actions:
        st.caption(t("no_actions", lang))
    else:
        action_form(file)
    if st.session_state.get("op_done"):
        st.success(st.session_state.pop("op_done"))
    st.markdown(f"**{t('history', lang)}**")
    history = file.history.drop(columns=["attachments"], errors="ignore")
    history["at"] = history["at"].dt.tz_convert(LOCAL_TZ).dt.strftime("%Y-%m-%d %H:%M")
    st.dataframe(localized(history, lang), hide_index=True, key="op_history")


def status_name(file: CaseFile, status: str) -> str:
    """A status as people read it: its name in ``case_statuses``."""
    zh, en = file.status_names.get(status, (status, status))
    return pick(zh, en, lang)


def show_summary(file: CaseFile) -> None:
    """Number, category, status, deadline countdown, handling unit, place and routing."""
    case = file.case
    st.subheader(
        f"{t('case_no', lang)} {md(case.case_no)} · "
        f"{pick(case.category_zh, case.category_en, lang)}"
    )
    info = st.columns(5)
    info[0].metric(t("status", lang), pick(case.status_zh, case.status_en, lang))
    left_h = file.deadline.remaining_hours
    info[1].metric(
        t("deadline_countdown", lang),
        "—" if left_h is None else f"{left_h:,.1f}",
        delta=None if left_h is None or left_h >= 0 else t("overdue", lang),
        delta_color="inverse",
    )
    info[2].metric(
        t("department", lang), pick(case.department_zh or "—", case.department_en or "—", lang)
    )
    info[3].metric(t("source", lang), case.source)
    info[4].metric(t("escalation_level", lang), file.deadline.escalation_level)
    # a description is what a caller or an imported file said: plain text, never Markdown
    # (no remote images fetched by the operator's browser, no planted links or colours)
    st.text(case.description or "")
    st.caption(
        f"{t('grids', lang)} {md(case.grid_code or '—')} · "
        f"{md(pick(case.community_zh or '', case.community_en or '', lang))} · "
        f"{position_text(case.lon, case.lat, case.location_accuracy_m, lang)}"
        + (f" · {t('part_code', lang)} {md(case.part_code)}" if case.part_code else "")
        + (
            f" · {t('pending_request', lang)}: {md(case.pending_request)}"
            if case.pending_request
            else ""
        )
    )
    if case.dispatch_rule or case.dispatch_reason:
        st.markdown(
            f"**{t('routing_reason', lang)}** ({md(case.dispatch_rule or '—')}): "
            f"{md(case.dispatch_reason or '—')}"
        )
    if file.assignments:
        st.dataframe(localized(pd.DataFrame(file.assignments), lang), hide_index=True)


def show_photos(file: CaseFile) -> None:
    """The case's photos: uploaded ones read by the server, the app's own static ones."""
    media = [m for m in file.case.media if isinstance(m, dict) and m.get("url")]
    photos = media + [
        a for row in file.history.get("attachments", []) for a in (row or []) if isinstance(a, dict)
    ]
    if not photos:
        return
    st.markdown(f"**{t('photos', lang)}**")
    for item in photos:
        url = str(item.get("url") or "")
        if item.get("path"):  # uploaded here: read by the server for this user only
            try:
                # inline (a data: URL in this session), never a public /media/ link
                st.image(photo(str(item["path"])), width=240, caption=item.get("name"))
            except PhotoError as exc:
                st.caption(md(exc))
        # only the app's own files are shown inline: nothing is fetched from outside
        elif url.startswith("/app/static/"):
            st.image(url, width=240)
        else:
            st.caption(md(url or str(item)))


def show_reporters(file: CaseFile) -> None:
    """Masked reporters; unmasked (and recorded) on request for roles that may see them."""
    if not file.case.reporters:
        return
    me = user()
    st.caption(t("reporters_masked", lang))
    st.dataframe(localized(pd.DataFrame(file.case.reporters), lang), hide_index=True)
    if me.scope.sees_personal_data and st.button(
        t("show_contacts", lang), key=f"contacts_{file.case.id}"
    ):
        contacts = reveal_contacts(
            engine(), scope=me.scope, actor=me.username, case_id=file.case.id
        )
        st.dataframe(localized(pd.DataFrame(contacts), lang), hide_index=True)


def action_form(file: CaseFile) -> None:
    """The form of the actions the role may take now; one service command on submit."""
    case = file.case
    with st.form(f"act_{case.id}_{case.version}"):
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
            twins = {d.id: d for d in file.duplicates}
            target = st.selectbox(
                t("merge_into", lang),
                list(twins),
                format_func=lambda i: t("duplicate_choice", lang).format(
                    case_no=twins[i].case_no,
                    metres=twins[i].distance_m,
                    status=status_name(file, twins[i].status),
                ),
                key="op_merge_into",
            )
        reason = st.text_input(t("reason", lang), key="op_reason")
        upload = (
            st.file_uploader(
                t("photo_for", lang).format(
                    actions=", ".join(t(f"act_{a}", lang) for a in file.photo_actions)
                ),
                type=["jpg", "jpeg", "png", "webp"],
                key=f"op_photo_{case.id}",
            )
            if file.photo_actions
            else None
        )
        if st.form_submit_button(t("do_action", lang)):
            request = ActionRequest(
                case_id=case.id,
                action=action,
                expected_version=case.version,
                reason=reason.strip() or None,
                department_code=department if action == "dispatch" else None,
                merge_into=target if action == "merge" else None,
            )
            submit(file, request, upload)


def submit(file: CaseFile, request: ActionRequest, upload) -> None:  # type: ignore[no-untyped-def]
    """Store the photo the action needs, take the action, say what happened."""
    me = user()
    try:
        with ExitStack() as keep:  # a refused action leaves no photo behind
            if request.action in file.photo_actions:
                if upload is None:
                    raise PhotoError(t("photo_needed", lang))
                stored = keep.enter_context(
                    photo_for_action(upload.getvalue(), case_id=request.case_id, name=upload.name)
                )
                request = replace(request, attachments=[stored])
            done = take_action(engine(), scope=me.scope, actor=me.username, request=request)
    except GridGovError as exc:
        st.error(md(describe(exc)))
    else:
        load.clear()
        st.session_state["op_acted"] = st.session_state.get("op_acted", 0) + 1
        st.session_state["op_done"] = t("action_done", lang).format(
            action=t(f"act_{request.action}", lang), status=status_name(file, done.status)
        )
        st.rerun()


if case_id is not None:
    show_case_file(case_id)
