"""Patrol plans over the demo district."""

import itertools
from datetime import date

import geopandas as gpd
import shapely
import sqlalchemy as sa

from gis.crs import utm_epsg
from layers.demo import load_demo
from layers.patrol_plans import latest_plans, next_plan_date, plan_patrols


def test_every_worker_gets_a_route_within_the_shift(conn, small_district):
    load_demo(conn, small_district)
    day = date(2026, 11, 23)
    plans = plan_patrols(conn=conn, plan_date=day, shift_s=2 * 3600, time_limit_s=0.05)
    # one route per worker (the demo plants a worker who covers two grids)
    assert len(plans) == small_district.grids.worker_code.nunique()
    assert (plans.duration_s <= 2 * 3600 + 1).all()
    assert (plans.length_m <= plans.baseline_m + 1e-6).all()  # never worse than the baseline
    assert plans.length_m.sum() < 0.95 * plans.baseline_m.sum()  # and better overall
    assert plans.stops.map(len).sum() > 0
    kinds = {stop["kind"] for stops in plans.stops for stop in stops}
    assert kinds <= {"cell", "part"} and "cell" in kinds
    stored = latest_plans(conn=conn)
    assert len(stored) == (plans.geom.notna()).sum()
    assert stored.plan_date.iloc[0] == day
    # walkers cut across blocks but never straight across a major road: every leg that
    # leaves the roads and crosses a major road is a violation
    roads = gpd.read_postgis(sa.text("SELECT road_class, geom FROM roads"), conn, geom_col="geom")
    epsg = utm_epsg(*roads.geometry.iloc[0].coords[0])
    roads = roads.to_crs(epsg)
    on_road = shapely.union_all(roads.geometry.to_numpy()).buffer(1.0)
    major = shapely.union_all(roads.geometry[roads.road_class == "major"].to_numpy())
    assert not major.is_empty
    legs = [
        shapely.LineString(pair)
        for line in stored.to_crs(epsg).geometry
        for pair in itertools.pairwise(line.coords)
    ]
    off_road = [leg for leg in legs if not on_road.contains(leg)]
    assert off_road and len(off_road) < len(legs)  # both kinds of leg occur
    assert not [
        leg
        for leg in off_road
        if leg.crosses(major)
        and not on_road.covers(shapely.Point(leg.coords[0]))
        and not on_road.covers(shapely.Point(leg.coords[1]))
    ]
    # planning the same day again replaces, not duplicates
    plan_patrols(conn=conn, plan_date=day, shift_s=2 * 3600, time_limit_s=0.05)
    assert len(latest_plans(conn=conn)) == len(stored)


def test_plans_are_made_for_next_monday():
    assert next_plan_date(date(2026, 11, 22)) == date(2026, 11, 23)  # a Sunday
    assert next_plan_date(date(2026, 11, 23)) == date(2026, 11, 30)
