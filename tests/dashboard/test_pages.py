"""Each page runs under Streamlit's AppTest against the demo database."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from layers.auth import DEMO_PASSWORD

APP = Path(__file__).resolve().parents[2] / "app.py"


@pytest.fixture
def anonymous(demo_app_url, monkeypatch):
    # the app logs in as it does in production: a non-superuser member of gridgov_app
    monkeypatch.setenv("DATABASE_URL", demo_app_url)
    return AppTest.from_file(str(APP), default_timeout=60)


def log_in(at: AppTest, username: str, password: str = DEMO_PASSWORD) -> AppTest:
    """Fill in the login form and submit it (the way a user does)."""
    at.run()
    at.text_input(key="login_username").input(username)
    at.text_input(key="login_password").input(password)
    at.button[0].click().run()
    return at


class _LoggedIn:
    """An AppTest whose ``run()`` logs in as the leader first (every page is open to it)."""

    def __init__(self, at: AppTest, username: str = "leader") -> None:
        self._at, self._username, self._in = at, username, False

    def run(self) -> AppTest:
        if not self._in:
            self._in = True
            return log_in(self._at, self._username)
        return self._at.run()


@pytest.fixture
def app(anonymous):
    return _LoggedIn(anonymous)


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
    # the trend: one row per major class with its weekly sparkline, adding up to the total
    trend = next(d.value for d in at.dataframe if "每周案件" in d.value.columns)
    assert trend["案件数"].sum() == len(small_district.cases)
    assert all(sum(w) == n for w, n in zip(trend["每周案件"], trend["案件数"], strict=True))
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
    assert workload["步行(公里)"].sum() > 0  # its columns are labelled, not raw names


def test_operator_page_queue_filters_and_case_file(anonymous, demo_engine):
    import sqlalchemy as sa

    with demo_engine.connect() as conn:
        n_open = conn.execute(
            sa.text(
                "SELECT count(*) FROM cases c JOIN case_statuses s ON s.code = c.status "
                "WHERE s.is_open"
            )
        ).scalar_one()
    at = _LoggedIn(anonymous, "operator").run()
    at.switch_page("app_pages/operator.py").run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert int(metrics["在办案件"].replace(",", "")) == n_open
    at.sidebar.toggle[0].set_value(True).run()
    shown = int({m.label: m.value for m in at.metric}["显示"].replace(",", ""))
    overdue = int({m.label: m.value for m in at.metric}["超期"].replace(",", ""))
    assert shown == overdue


def test_operator_finds_any_case_by_its_number(anonymous, demo_engine):
    import sqlalchemy as sa

    with demo_engine.connect() as conn:
        closed = conn.execute(
            sa.text("SELECT case_no FROM cases WHERE status = 'closed' ORDER BY id LIMIT 1")
        ).scalar_one()
    at = _LoggedIn(anonymous, "operator").run()
    at.switch_page("app_pages/operator.py").run()
    at.sidebar.text_input(key="op_find").set_value(f" {closed} ").run()
    assert not at.exception
    assert any(closed in h.value for h in at.subheader)  # a closed case is not in the queue
    at.sidebar.text_input(key="op_find").set_value("R0000").run()
    assert any("R0000" in w.value for w in at.sidebar.warning)


def test_leader_performance_tables_and_excel_export(app, small_district):
    import io

    import pandas as pd

    at = app.run()
    at.switch_page("app_pages/leader.py").run()
    at.run()  # the area's figures come on the next run (app_pages.deferred)
    assert not at.exception  # the measures are on the first screen: no toggle
    departments = next(d.value for d in at.dataframe if "复发率" in d.value.columns)
    assert departments["案件数"].sum() == len(small_district.cases)
    from dashboard.export import excel_workbook

    book = pd.read_excel(io.BytesIO(excel_workbook({"departments": departments})), sheet_name=None)
    assert len(book["departments"]) == len(departments)


def test_the_leader_page_shows_the_planted_problems_first(app, small_district):
    # the page is told nothing: the tables rank what the measures find
    at = app.run()
    at.switch_page("app_pages/leader.py").run()
    at.run()  # the area's figures come on the next run (app_pages.deferred)
    assert not at.exception
    tables = [d.value for d in at.dataframe]
    places = next(t for t in tables if "结案后复发次数" in t.columns)
    assert places["部件编码"].iloc[0] == small_district.plants.corner_part
    workers = next(t for t in tables if "户数/公平份额" in t.columns)
    top = workers.sort_values("户数/公平份额", ascending=False).iloc[0]
    assert top["网格员"] == small_district.plants.overloaded_worker
    grids = next(t for t in tables if "漏报占比" in t.columns)
    assert grids.sort_values("漏报占比").iloc[-1]["编码"] == small_district.plants.silent_grid


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


@pytest.mark.parametrize("shows", ["hotspots", "heat_grid", "density"])
def test_leader_map_views(app, shows):
    at = app.run()
    at.switch_page("app_pages/leader.py").run()
    at.sidebar.radio(key="leader_map_shows").set_value(shows).run()
    assert not at.exception


def test_the_login_form_comes_first_and_refuses_a_wrong_password(anonymous):
    at = anonymous.run()
    assert not at.exception
    assert not at.metric  # nothing of the district before a login
    assert [b.label for b in at.button] == ["登录"]
    log_in(anonymous, "leader", "not the password")
    assert at.error and "不正确" in at.error[0].value
    assert not at.metric


def test_a_community_supervisor_sees_only_its_community(anonymous, demo_engine, small_district):
    import sqlalchemy as sa

    with demo_engine.connect() as conn:
        own = conn.execute(
            sa.text("SELECT area FROM app_users WHERE username = 'supervisor'")
        ).scalar_one()
        open_here = conn.execute(
            sa.text("""SELECT count(*) FROM cases c JOIN case_statuses s ON s.code = c.status
                       JOIN communities m ON m.id = c.community_id
                       WHERE s.is_open AND m.code = :c"""),
            {"c": own},
        ).scalar_one()
    at = log_in(anonymous, "supervisor")
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["社区"] == "1"
    assert metrics["网格"] == str((small_district.grids.community_code == own).sum())
    assert metrics["在办案件"] == f"{open_here:,}"
    # the area picker offers only its own community
    assert len(at.sidebar.selectbox(key="area").options) == 2  # "my area" and its community
    # the supervisor page: only its community's grids and workers
    at.switch_page("app_pages/supervisor.py").run()
    assert not at.exception
    assert len(at.dataframe[1].value) == (small_district.grids.community_code == own).sum()
    # no operator page for a supervisor
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("app_pages/operator.py")


def test_a_dispatcher_dispatches_a_registered_case(scratch_app, scratch_engine):
    import sqlalchemy as sa

    from tests.dashboard.scratch import new_case

    case_id, case_no = new_case(scratch_engine, upto="registered")
    at = _LoggedIn(scratch_app, "dispatcher").run()
    at.switch_page("app_pages/operator.py").run()
    assert not at.exception
    at.session_state["op_case"] = case_id
    at.run()
    assert not at.exception
    assert any(case_no in s.value for s in at.subheader)
    assert at.radio(key="op_action").options == ["派遣"]  # a dispatcher may only dispatch it
    at.radio(key="op_action").set_value("dispatch")
    at.text_input(key="op_reason").input("按派遣规则")
    next(b for b in at.button if b.label == "执行").click().run()
    assert not at.exception
    assert at.success, [e.value for e in at.error]
    with scratch_engine.connect() as conn:
        status = conn.execute(
            sa.text("SELECT status FROM cases WHERE id = :i"), {"i": case_id}
        ).scalar_one()
        last = conn.execute(
            sa.text(
                "SELECT actor, role, action, to_status FROM case_events WHERE case_id = :i "
                "ORDER BY id DESC LIMIT 1"
            ),
            {"i": case_id},
        ).one()
    assert status == "dispatched"
    assert tuple(last) == ("dispatcher", "dispatcher", "dispatch", "dispatched")
    # the file now shows the routing reason and the deadline countdown
    assert any("派遣依据" in m.value for m in at.markdown)
    assert {m.label: m.value for m in at.metric}["剩余工作时间(小时)"] != "—"


def test_a_reject_without_reason_is_refused_and_nothing_written(scratch_app, scratch_engine):
    import sqlalchemy as sa

    from tests.dashboard.scratch import new_case

    case_id, _ = new_case(scratch_engine, upto="reported")
    at = _LoggedIn(scratch_app, "operator").run()
    at.switch_page("app_pages/operator.py").run()
    at.session_state["op_case"] = case_id
    at.run()
    assert set(at.radio(key="op_action").options) >= {"受理", "不予受理"}
    at.radio(key="op_action").set_value("reject")
    next(b for b in at.button if b.label == "执行").click().run()
    assert at.error and "reason" in at.error[0].value.lower()
    with scratch_engine.connect() as conn:
        status = conn.execute(
            sa.text("SELECT status FROM cases WHERE id = :i"), {"i": case_id}
        ).scalar_one()
    assert status == "reported"


def test_an_operator_merges_a_duplicate_from_the_case_file(scratch_app, scratch_engine):
    import sqlalchemy as sa

    from tests.dashboard.scratch import new_case

    first, first_no = new_case(scratch_engine, upto="accepted")
    second, _ = new_case(scratch_engine, upto="reported")
    at = _LoggedIn(scratch_app, "operator").run()
    at.switch_page("app_pages/operator.py").run()
    at.session_state["op_case"] = second
    at.run()
    assert not at.exception
    assert "合并为重复案件" in at.radio(key="op_action").options
    assert first_no in at.selectbox(key="op_merge_into").format_func(first)
    at.radio(key="op_action").set_value("merge")
    at.selectbox(key="op_merge_into").set_value(first)
    at.text_input(key="op_reason").input("同一处垃圾满溢")
    next(b for b in at.button if b.label == "执行").click().run()
    assert not at.exception
    assert at.success, [e.value for e in at.error]
    with scratch_engine.connect() as conn:
        status, merged_into = conn.execute(
            sa.text("SELECT status, merged_into FROM cases WHERE id = :i"), {"i": second}
        ).one()
    assert (status, merged_into) == ("rejected", first)
