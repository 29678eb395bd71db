"""Each page runs under Streamlit's AppTest against the demo database."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

APP = Path(__file__).resolve().parents[2] / "app.py"


@pytest.fixture
def app(demo_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", demo_url)
    return AppTest.from_file(str(APP), default_timeout=60)


def test_district_map_page_renders_counts(app, small_district):
    at = app.run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["社区"] == str(len(small_district.communities))
    assert metrics["网格"] == str(len(small_district.grids))


def test_language_switch(app):
    at = app.run()
    at.sidebar.selectbox[0].set_value("en").run()
    assert not at.exception
    assert at.title[0].value == "District map"
    assert "Open cases" in [m.label for m in at.metric]


def test_leader_page_heat_and_trend(app, small_district):
    at = app.run()
    at.switch_page("app_pages/leader.py").run()
    assert not at.exception
    total = {m.label: m.value for m in at.metric}["时段内案件"]
    assert int(total.replace(",", "")) == len(small_district.cases)
    # narrowing the window narrows the count
    _, end = at.sidebar.slider[0].value
    at.sidebar.slider[0].set_value((end, end)).run()
    assert not at.exception
    narrowed = int({m.label: m.value for m in at.metric}["时段内案件"].replace(",", ""))
    assert 0 < narrowed < len(small_district.cases)


def test_supervisor_page_coverage_and_workload(app, small_district):
    at = app.run()
    at.switch_page("app_pages/supervisor.py").run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["平均覆盖率"].endswith("%")
    workload = at.dataframe[1].value
    assert len(workload) == len(small_district.workers)
    assert workload.km_walked.sum() > 0


def test_operator_page_queue_filters_and_case_file(app, demo_engine):
    import sqlalchemy as sa

    with demo_engine.connect() as conn:
        n_open = conn.execute(
            sa.text(
                "SELECT count(*) FROM cases c JOIN case_statuses s ON s.code = c.status "
                "WHERE s.is_open"
            )
        ).scalar_one()
    at = app.run()
    at.switch_page("app_pages/operator.py").run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert int(metrics["在办案件"].replace(",", "")) == n_open
    at.sidebar.toggle[0].set_value(True).run()
    shown = int({m.label: m.value for m in at.metric}["显示"].replace(",", ""))
    overdue = int({m.label: m.value for m in at.metric}["超期"].replace(",", ""))
    assert shown == overdue


def test_leader_performance_tables_and_excel_export(app, small_district):
    import io

    import pandas as pd

    at = app.run()
    at.switch_page("app_pages/leader.py").run()
    assert not at.exception
    at.toggle(key="show_performance").set_value(True).run()
    assert not at.exception
    departments = at.dataframe[0].value
    assert "复发率" in departments.columns and departments["案件数"].sum() == len(
        small_district.cases
    )
    from dashboard.export import excel_workbook

    book = pd.read_excel(io.BytesIO(excel_workbook({"departments": departments})), sheet_name=None)
    assert len(book["departments"]) == len(departments)


def test_the_area_filter_narrows_every_page_and_persists(app, small_district):
    one = small_district.communities.code.iloc[0]
    at = app.run()
    at.sidebar.selectbox(key="area").set_value(one).run()
    assert not at.exception
    assert {m.label: m.value for m in at.metric}["社区"] == "1"
    grids_here = (small_district.grids.community_code == one).sum()
    assert {m.label: m.value for m in at.metric}["网格"] == str(grids_here)
    at.switch_page("app_pages/supervisor.py").run()
    assert not at.exception
    assert at.sidebar.selectbox(key="area").value == one  # still chosen on the next page
    assert len(at.dataframe[1].value) == grids_here  # workload of this community's workers


def test_supervisor_tracks_on_request(app):
    at = app.run()
    at.switch_page("app_pages/supervisor.py").run()
    at.sidebar.checkbox(key="show_tracks").check().run()
    assert not at.exception


def test_leader_hotspots_toggle(app):
    at = app.run()
    at.switch_page("app_pages/leader.py").run()
    at.sidebar.toggle(key="show_hotspots").set_value(True).run()
    assert not at.exception
