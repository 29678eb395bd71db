"""Hotline intake (12345): register a caller's report, with the duplicate hint beside it."""

from __future__ import annotations

import uuid
from datetime import datetime

import folium
import streamlit as st
from streamlit_folium import st_folium

from app_pages.resources import base, engine, scope, user
from dashboard import maps
from dashboard.labels import pick, t
from dashboard.safe_text import markdown_text as md
from services.errors import GridGovError, describe
from services.hotline import (
    HotlineCall,
    Place,
    categories,
    duplicate_hint,
    find_places,
    hotline_area,
    register_call,
)
from services.login import Scope

lang = st.session_state.get("lang", "zh")
st.title(t("hotline", lang))
st.caption(t("hl_intro", lang))


@st.cache_data(ttl=600, show_spinner=False)
def load_categories(scope: Scope):  # type: ignore[no-untyped-def]
    return categories(engine(), scope=scope)


@st.cache_data(ttl=600, show_spinner=False)
def load_area(scope: Scope):  # type: ignore[no-untyped-def]
    return hotline_area(engine(), scope=scope)


def new_call() -> None:
    """A fresh form: a new call id (the id that makes a re-send the same case)."""
    st.session_state["hl_call_id"] = uuid.uuid4().hex
    for key in ("hl_point", "hl_done", "hl_name", "hl_phone", "hl_description", "hl_search"):
        st.session_state.pop(key, None)
    st.session_state["hl_urgent"] = False


if "hl_call_id" not in st.session_state:
    new_call()

kinds = load_categories(scope())
by_code = {k.service_code: k for k in kinds}
left, right = st.columns([2, 3])
with left:
    code = st.selectbox(
        t("hl_category", lang),
        list(by_code),
        format_func=lambda c: (
            f"{pick(by_code[c].major_zh, by_code[c].major_en, lang)} · "
            f"{pick(by_code[c].name_zh, by_code[c].name_en, lang)}"
        ),
        key="hl_category",
    )
    text = st.text_input(t("hl_place_search", lang), key="hl_search").strip()
    found: list[Place] = find_places(engine(), scope=scope(), text=text) if text else []
    if text and not found:
        st.caption(t("hl_no_places", lang).format(text=md(text)))
    if found:
        places = {f"{p.kind}:{p.ref}": p for p in found}
        chosen = st.radio(
            t("hl_place_pick", lang),
            list(places),
            format_func=lambda k: (
                f"{t('place_' + places[k].kind, lang)} · "
                f"{pick(places[k].name_zh, places[k].name_en, lang)}"
            ),
            key="hl_place",
        )
        spot = places[chosen]
        if st.session_state.get("hl_search_pick") != (text, chosen):
            st.session_state["hl_search_pick"] = (text, chosen)
            st.session_state["hl_point"] = (spot.lon, spot.lat, "search")

with right:
    area = load_area(scope())
    m = maps.new_map(area.extent, base())
    maps.add_communities(m, area.communities, lang)
    point = st.session_state.get("hl_point")
    if point:
        # a circle, not folium's default pin (its image would come from a CDN)
        folium.CircleMarker(
            [point[1], point[0]], radius=9, color="#b71c1c", weight=3, fill=True
        ).add_to(m)
        m.location = [point[1], point[0]]
    st.caption(t("hl_map_click", lang))
    clicked = st_folium(
        maps.finish(m),
        height=380,
        use_container_width=True,
        returned_objects=["last_clicked"],
        key="hotline_map",
    )
    click = (clicked or {}).get("last_clicked")
    if click and st.session_state.get("hl_last_click") != click:
        st.session_state["hl_last_click"] = click
        st.session_state["hl_point"] = (float(click["lng"]), float(click["lat"]), "map")
        st.rerun()

point = st.session_state.get("hl_point")
with left:
    if point:
        how = t("hl_from_search" if point[2] == "search" else "hl_from_map", lang)
        st.info(t("hl_location", lang).format(lat=point[1], lon=point[0], how=how))
        twins = duplicate_hint(
            engine(),
            scope=scope(),
            lon=point[0],
            lat=point[1],
            service_code=code,
            at=datetime.now().astimezone(),
        )
        if twins:
            st.warning(t("hl_duplicates", lang).format(metres=100))
            for d in twins:
                st.markdown(
                    "- "
                    + md(
                        t("hl_duplicate_line", lang).format(
                            case_no=d.case_no,
                            category=pick(d.name_zh, d.name_en, lang),
                            status=pick(d.status_zh, d.status_en, lang),
                            metres=d.distance_m,
                        )
                    )
                )
        else:
            st.caption(t("hl_no_duplicates", lang))
    else:
        st.caption(t("hl_no_location", lang))

with st.form("hotline_call"):
    cols = st.columns(2)
    name = cols[0].text_input(t("hl_caller_name", lang), key="hl_name", max_chars=40)
    phone = cols[1].text_input(t("hl_caller_phone", lang), key="hl_phone", max_chars=20)
    description = st.text_area(t("hl_description", lang), key="hl_description", max_chars=4000)
    urgent = st.checkbox(t("hl_urgent", lang), key="hl_urgent")
    if st.form_submit_button(t("hl_submit", lang), type="primary"):
        call = HotlineCall(
            call_id=st.session_state["hl_call_id"],
            caller_name=name,
            caller_phone=phone,
            service_code=code or "",
            lon=point[0] if point else None,
            lat=point[1] if point else None,
            description=description,
            urgency="urgent" if urgent else "normal",
        )
        try:
            done = register_call(engine(), scope=scope(), actor=user().username, call=call)
        except GridGovError as exc:
            st.error(md(describe(exc)))
        else:
            st.session_state["hl_done"] = (done.case_no, done.created)

if st.session_state.get("hl_done"):
    case_no, created = st.session_state["hl_done"]
    st.success(t("hl_done" if created else "hl_again", lang).format(case_no=case_no))
    st.button(t("hl_new_call", lang), on_click=new_call, key="hl_next")
