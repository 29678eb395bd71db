"""Patrol plans over the demo district."""

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
    assert len(plans) == len(small_district.grids)
    assert (plans.duration_s <= 2 * 3600 + 1).all()
    assert (plans.length_m <= plans.baseline_m + 1e-6).all()  # never worse than the baseline
    assert plans.length_m.sum() < 0.95 * plans.baseline_m.sum()  # and better overall
    assert plans.stops.map(len).sum() > 0
    kinds = {stop["kind"] for stops in plans.stops for stop in stops}
    assert kinds <= {"cell", "part"} and "cell" in kinds
    stored = latest_plans(conn=conn)
    assert len(stored) == (plans.geom.notna()).sum()
    assert stored.plan_date.iloc[0] == day
    # the routes walk the demo's roads: a good share of each line lies on a road (the rest
    # are the straight legs between a stop and the road), far more than without roads
    roads = gpd.read_postgis(sa.text("SELECT geom FROM roads"), conn, geom_col="geom")
    epsg = utm_epsg(*roads.geometry.iloc[0].coords[0])
    on_road = shapely.union_all(roads.to_crs(epsg).geometry.to_numpy()).buffer(1.0)

    def share_on_road(plans_gdf):
        lines = plans_gdf.to_crs(epsg).geometry
        return sum(line.intersection(on_road).length for line in lines) / lines.length.sum()

    with_roads = share_on_road(stored)
    # planning the same day again replaces, not duplicates
    plan_patrols(conn=conn, plan_date=day, shift_s=2 * 3600, time_limit_s=0.05)
    assert len(latest_plans(conn=conn)) == len(stored)
    conn.execute(sa.text("DELETE FROM roads"))  # no network: straight line × detour
    plan_patrols(conn=conn, plan_date=day, shift_s=2 * 3600, time_limit_s=0.05)
    without_roads = share_on_road(latest_plans(conn=conn))
    assert with_roads > 0.35 and with_roads > 2 * without_roads


def test_plans_are_made_for_next_monday():
    assert next_plan_date(date(2026, 11, 22)) == date(2026, 11, 23)  # a Sunday
    assert next_plan_date(date(2026, 11, 23)) == date(2026, 11, 30)
