"""The hotline and supervision-board pages under Streamlit's AppTest (real PostGIS)."""

from __future__ import annotations

import sqlalchemy as sa

from tests.dashboard.test_pages import _LoggedIn, anonymous

__all__ = ["anonymous"]  # the fixture: the app as its production login, on the demo


def test_the_hotline_page_registers_a_call_once_and_names_a_bad_field(
    scratch_app,
    scratch_engine,  # type: ignore[no-untyped-def]
):
    with scratch_engine.connect() as conn:
        road = conn.execute(
            sa.text("SELECT name_zh FROM roads WHERE road_class = 'minor' ORDER BY id LIMIT 1")
        ).scalar_one()
    at = _LoggedIn(scratch_app, "operator").run()
    at.switch_page("app_pages/hotline.py").run()
    assert not at.exception
    at.text_input(key="hl_search").input(road).run()
    assert any("位置" in i.value for i in at.info)  # the first match is the location
    at.text_input(key="hl_name").input("赵六")
    at.text_input(key="hl_phone").input("139123")  # too short for any number
    at.text_area(key="hl_description").input("垃圾满溢 / bins overflowing")
    at.button(key="FormSubmitter:hotline_call-登记来电").click().run()
    assert any("来电号码" in e.value and "landline" in e.value for e in at.error)
    at.text_input(key="hl_phone").input("13912340000")
    at.button(key="FormSubmitter:hotline_call-登记来电").click().run()
    done = [s.value for s in at.success]
    assert done and "已登记为案件" in done[0]
    case_no = done[0].split()[-1]
    # the same call sent again (a double click): the one case
    at.button(key="FormSubmitter:hotline_call-登记来电").click().run()
    assert any("未重复登记" in s.value and case_no in s.value for s in at.success)
    with scratch_engine.connect() as conn:
        n, source = conn.execute(
            sa.text(
                "SELECT count(*), min(source) FROM cases c JOIN reporters r "
                "ON r.case_id = c.id WHERE r.phone = '13912340000'"
            )
        ).one()
    assert (n, source) == (1, "hotline")


def test_the_board_counts_red_cases_per_department(anonymous, demo_engine):  # type: ignore[no-untyped-def]
    at = _LoggedIn(anonymous, "shift_leader").run()
    at.switch_page("app_pages/board.py").run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    red = int(metrics["红牌·超期"].replace(",", ""))
    with demo_engine.connect() as conn:
        # the demo's "now" is long after its last report: every dispatched deadline passed
        overdue = conn.execute(
            sa.text("""SELECT count(*) FROM cases WHERE status IN ('dispatched', 'in_handling')
                       AND deadline_at < now()""")
        ).scalar_one()
    assert red == overdue > 0
    # the shift leader reads escalations; operators make them
    assert any("值班长在此查看" in c.value for c in at.caption)
