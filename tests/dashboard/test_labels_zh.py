"""No Chinese page shows an untranslated column name or code.

Every page of the router is run under Streamlit's AppTest in Chinese (as the leader, who
may open them all, on the first screen and with the leader's map views switched through)
and everything a person reads is scanned: table column names and text cells, metric,
widget and button labels, widget options and placeholders, tab labels, and the charts'
titles, axis titles and category labels. What counts as untranslated:
a ``snake_case`` identifier or a key of the label dictionary shown as it is, a code of the
case sources or statuses, or Streamlit's English placeholders ("Choose options").
"""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

from app_pages.leader_performance import LEVELS
from app_pages.main import PAGES
from dashboard.access import PAGE_ROLES
from dashboard.labels import TEXT
from tests.dashboard.test_pages import APP, _LoggedIn

IDENTIFIER = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)+$|^[a-z]+$")
ENGLISH_PLACEHOLDERS = {"Choose options", "Choose an option", "Select...", "Select an option"}
WIDGETS = ("selectbox", "multiselect", "radio", "select_slider", "text_input", "number_input",
           "text_area", "date_input", "checkbox", "toggle", "button")  # fmt: skip
SOURCES = {"patrol", "hotline", "app", "web", "sensor", "leader", "import"}


@pytest.fixture(scope="module")
def codes(demo_engine) -> set[str]:
    with demo_engine.connect() as conn:
        statuses = set(conn.execute(sa.text("SELECT code FROM case_statuses")).scalars())
    return SOURCES | statuses


def _raw(text: object, codes: set[str]) -> bool:
    s = str(text).strip()
    return bool(s) and (s in codes or s in TEXT or bool(IDENTIFIER.match(s)))


def _tables(at: AppTest, codes: set[str]) -> list[str]:
    found: list[str] = []
    for frame in at.dataframe:
        value = frame.value
        found += [f"column {c!r}" for c in value.columns if _raw(c, codes)]
        for column in value.columns:
            if value[column].dtype != object:
                continue
            texts = {v for v in value[column].dropna() if isinstance(v, str)}
            found += [f"cell {v!r} in {column!r}" for v in texts if _raw(v, codes)]
    return found


def _widgets(at: AppTest, codes: set[str]) -> list[str]:
    found: list[str] = []
    for kind in WIDGETS:
        for widget in getattr(at, kind):
            found += [f"{kind} label {widget.label!r}"] if _raw(widget.label, codes) else []
            options = getattr(widget, "options", None) or []
            found += [f"{kind} {widget.label!r} option {o!r}" for o in options if _raw(o, codes)]
            placeholder = getattr(widget.proto, "placeholder", "")
            # an empty multiselect placeholder shows Streamlit's English default
            if placeholder in ENGLISH_PLACEHOLDERS or (kind == "multiselect" and not placeholder):
                found.append(f"{kind} {widget.label!r} placeholder {placeholder!r}")
    return found


def _title(node: object) -> str:
    if isinstance(node, dict):
        return str(node.get("text", ""))
    return str(node or "")


def chart_texts(at: AppTest) -> list[tuple[str, str]]:
    """(where, text) of what the Plotly charts on the screen write: the titles, the axis
    titles and the category labels of the bars."""
    out: list[tuple[str, str]] = []
    for chart in at.get("plotly_chart"):
        figure = json.loads(chart.proto.spec)
        layout = figure.get("layout", {})
        out.append(("chart title", _title(layout.get("title"))))
        for axis in ("xaxis", "yaxis"):
            out.append((f"chart {axis} title", _title(layout.get(axis, {}).get("title"))))
        for trace in figure.get("data", []):
            if trace.get("type") == "bar":
                out += [("chart bar label", str(y)) for y in trace.get("y", [])]
    return [(where, text) for where, text in out if text]


def untranslated(at: AppTest, codes: set[str]) -> list[str]:
    """Everything on the current screen that a Chinese reader would see untranslated."""
    metrics = [f"metric {m.label!r}" for m in at.metric if _raw(m.label, codes)]
    tabs = [f"tab label {tab.label!r}" for tab in at.tabs if _raw(tab.label, codes)]
    charts = [f"{where} {text!r}" for where, text in chart_texts(at) if _raw(text, codes)]
    return _tables(at, codes) + _widgets(at, codes) + metrics + tabs + charts


def leader_levels(at: AppTest, codes: set[str]) -> list[str]:
    """What the leader's ranked chart shows untranslated at each level (one drawn at a time)."""
    problems: list[str] = []
    for level in LEVELS:
        at.radio(key="leader_level").set_value(level).run()
        assert not at.exception, at.exception
        problems += [f"chart of {level}: {p}" for p in untranslated(at, codes)]
    return problems


def _login_for(page: str) -> str:
    """A demo login that opens ``page``: the leader where it may, else the first role that may
    (the demo's logins are named after their roles)."""
    roles = PAGE_ROLES[page]
    return "leader" if "leader" in roles else sorted(roles)[0]


@pytest.mark.parametrize("page", list(PAGES))
def test_no_chinese_page_shows_an_untranslated_name_or_code(demo_app_url, monkeypatch, codes, page):
    monkeypatch.setenv("DATABASE_URL", demo_app_url)
    app = AppTest.from_file(str(APP), default_timeout=120)
    at = _LoggedIn(app, _login_for(page)).run()
    at.switch_page(PAGES[page][0]).run()
    at.run()  # the leader's area figures come on the next run (app_pages.deferred)
    assert not at.exception, at.exception
    assert at.session_state["lang"] == "zh"
    problems = untranslated(at, codes)
    if page == "leader":  # every chart level, every map view, the top hotspot's drill-down
        problems += leader_levels(at, codes)
        at.button(key="hotspot_1").click().run()
        problems += untranslated(at, codes)
        for view in ("heat_grid", "hotspots", "heat_weekly"):
            at.sidebar.radio(key="leader_map_shows").set_value(view).run()
            assert not at.exception, at.exception
            problems += [f"{view}: {p}" for p in untranslated(at, codes)]
    assert not problems, "\n".join(sorted(set(problems)))


def test_the_leader_page_has_levels_and_charts_to_scan(demo_app_url, monkeypatch):
    # the scan above reads the charts of every level: the leader page has them (so it sees them)
    monkeypatch.setenv("DATABASE_URL", demo_app_url)
    at = _LoggedIn(AppTest.from_file(str(APP), default_timeout=120), "leader").run()
    at.switch_page(PAGES["leader"][0]).run()
    at.run()  # the area's figures come on the next run (app_pages.deferred)
    assert not at.exception, at.exception
    assert at.radio(key="leader_level").options == ["处置部门", "街道", "社区", "网格"]
    for level in LEVELS:
        at.radio(key="leader_level").set_value(level).run()
        texts = chart_texts(at)
        assert len(at.get("plotly_chart")) == 1, level  # the level picked, not all four
        assert any(where == "chart xaxis title" for where, _ in texts), level
        assert any(where == "chart bar label" for where, _ in texts), level


def test_the_scan_finds_what_it_is_for(codes):
    # the checks above can fail: raw names and codes are caught, labels are not
    assert _raw("worker_code", codes) and _raw("households", codes) and _raw("patrol", codes)
    assert not _raw("网格员", codes) and not _raw("SWJ", codes) and not _raw("P0208", codes)
    assert not _raw(pd.Timestamp("2026-01-01"), codes)
