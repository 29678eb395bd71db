"""The leader page: measures beside closure on the first screen, hotspots by place that
zoom the map, drill-down to a place's cases, charts in per cent, the weekly animation."""

from datetime import UTC, datetime

import pytest
from streamlit.testing.v1 import AppTest

from tests.dashboard.test_pages import APP, _LoggedIn


@pytest.fixture
def leader(demo_app_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", demo_app_url)
    return _LoggedIn(AppTest.from_file(str(APP), default_timeout=90))


COMING = "正在计算所选区域的指标…"


def _page(leader):
    at = leader.run()
    at.switch_page("app_pages/leader.py").run()
    return _and_the_area_figures(at)


def _and_the_area_figures(at):
    """The run a new choice gets (the map, placeholders for the area's figures), then the
    run the deferred fragment asks for (app_pages.deferred): the figures drawn."""
    assert not at.exception, at.exception
    assert COMING in [c.value for c in at.caption]
    assert not any(m.label == "按期结案率" for m in at.metric)
    at.run()
    assert not at.exception, at.exception
    assert COMING not in [c.value for c in at.caption]
    return at


def test_measures_on_the_first_screen_and_the_top_hotspot_drills_down(leader):
    at = _page(leader)
    labels = [m.label for m in at.metric]
    for shown in ("结案率", "按期结案率", "部件复发率", "虚假结案率", "漏报占比", "主动发现占比",
                  "积压天数中位数", "每百户案件"):  # fmt: skip
        assert shown in labels, labels
    closure = {m.label: m.value for m in at.metric}["结案率"]
    assert closure.endswith("%") and float(closure.rstrip(" %")) >= 97.0
    assert not at.toggle  # nothing behind a toggle
    first = at.button(key="hotspot_1")
    assert "社区" in first.label  # named by its community
    first.click().run()
    assert not at.exception, at.exception
    assert at.session_state["leader_hotspot"]
    cases = next(d.value for d in at.dataframe if "上报时间" in d.value.columns)
    assert len(cases) > 0
    assert {"案件编号", "上报时间", "来源"} <= set(cases.columns)
    assert not set(cases["来源"]) & {"patrol", "hotline", "app", "web"}


def _department_bars(at) -> dict[str, tuple[float, int]]:
    """The departments chart (the level drawn first): name -> (value in %, sample n)."""
    import json
    import re

    figure = json.loads(at.get("plotly_chart")[0].proto.spec)
    bar = figure["data"][0]
    samples = [int(re.search(r"n=([\d,]+)", x).group(1).replace(",", "")) for x in bar["text"]]
    return {y: (x, n) for y, x, n in zip(bar["y"], _values(bar["x"]), samples, strict=True)}


def _values(data) -> list[float]:
    """Plotly's JSON writes numeric arrays typed ({"dtype": "f8", "bdata": base64})."""
    import base64

    import numpy as np

    if isinstance(data, dict):
        return np.frombuffer(base64.b64decode(data["bdata"]), dtype=data["dtype"]).tolist()
    return [float(v) for v in data]


def test_the_charts_follow_the_area_and_equal_the_database(leader, demo_engine):
    import sqlalchemy as sa

    from layers import measures

    at = _page(leader)
    assert at.radio(key="leader_level").value == "departments"  # drawn first
    whole = _department_bars(at)
    with demo_engine.connect() as conn:
        start, end = conn.execute(sa.text("SELECT min(day), max(day) FROM case_daily")).one()
        community = conn.execute(
            sa.text("""SELECT a.code FROM cases c JOIN communities a ON a.id = c.community_id
                       GROUP BY a.code ORDER BY count(*) DESC LIMIT 1""")
        ).scalar_one()
    _and_the_area_figures(at.selectbox(key="area").set_value(community).run())
    narrowed = _department_bars(at)
    with demo_engine.connect() as conn:  # the raw cases of that community, not the rollup
        expected = measures.department_performance(
            conn=conn,
            start=start,
            end=end,
            now=datetime.now(UTC),
            community=community,
            source="cases",
        ).set_index("name_zh")
    assert narrowed and narrowed != whole
    for name, (value, n) in narrowed.items():
        assert n == expected.loc[name, "cases"], name
        assert value == pytest.approx(100 * float(expected.loc[name, "closure_rate"])), name
    assert sum(n for _, n in narrowed.values()) < sum(n for _, n in whole.values())


def test_recurring_parts_name_their_department(leader, demo_engine):
    import sqlalchemy as sa

    at = _page(leader)
    with demo_engine.connect() as conn:
        departments = dict(conn.execute(sa.text("SELECT code, name_zh FROM departments")).all())
    places = next(d.value for d in at.dataframe if "结案后复发次数" in d.value.columns)
    assert len(places) > 0
    shown = set(places["处置部门"])
    assert not shown & set(departments), shown  # no code like SZGC
    assert all(any(s.startswith(name) for name in departments.values()) for s in shown), shown
    assert any("(" in s for s in shown)  # the English beside the Chinese
