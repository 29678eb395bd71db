"""Patrol plans over the demo district."""

from datetime import date

from layers.demo import load_demo
from layers.patrol_plans import latest_plans, next_plan_date, plan_patrols


def test_every_worker_gets_a_route_within_the_shift(conn, small_district):
    load_demo(conn, small_district)
    day = date(2026, 11, 23)
    plans = plan_patrols(conn=conn, plan_date=day, shift_s=2 * 3600, time_limit_s=0.05)
    assert len(plans) == len(small_district.grids)
    assert (plans.duration_s <= 2 * 3600 + 1).all()
    assert (plans.length_m <= plans.baseline_m + 1e-6).all()  # never worse than the baseline
    assert plans.stops.map(len).sum() > 0
    kinds = {stop["kind"] for stops in plans.stops for stop in stops}
    assert kinds <= {"cell", "part"} and "cell" in kinds
    stored = latest_plans(conn=conn)
    assert len(stored) == (plans.geom.notna()).sum()
    assert stored.plan_date.iloc[0] == day
    # planning the same day again replaces, not duplicates
    plan_patrols(conn=conn, plan_date=day, shift_s=2 * 3600, time_limit_s=0.05)
    assert len(latest_plans(conn=conn)) == len(stored)


def test_plans_are_made_for_next_monday():
    assert next_plan_date(date(2026, 11, 22)) == date(2026, 11, 23)  # a Sunday
    assert next_plan_date(date(2026, 11, 23)) == date(2026, 11, 30)
