"""The leader page: measures beside closure on the first screen, hotspots by place that
zoom the map, drill-down to a place's cases, charts in per cent, the weekly animation."""

import pytest
from streamlit.testing.v1 import AppTest

from tests.dashboard.test_pages import APP, _LoggedIn


@pytest.fixture
def leader(demo_app_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", demo_app_url)
    return _LoggedIn(AppTest.from_file(str(APP), default_timeout=90))


def _page(leader):
    at = leader.run()
    at.switch_page("app_pages/leader.py").run()
    assert not at.exception, at.exception
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
