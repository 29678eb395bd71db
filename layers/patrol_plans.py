"""Patrol plans: for each grid worker, one shift's route through the stops that matter.

Stops per grid: the H3 resolution-10 cells with the most cases in the last ``days`` days
(scored by their count) and the parts due for inspection (damaged, lost, or surveyed
more than a year ago; score 1). Routes start and end at the community office and are
solved by :func:`gis.patrol_routing.plan_route` on walking distances over the road
network of the ``roads`` layer (all classes, noded where lines cross; each stop joins
it at its nearest node), or straight line × detour where that is shorter and crosses no
major road (paths through compounds that a street layer lacks), where no roads are
loaded, or where the network does not connect two stops.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from datetime import date, timedelta

import geopandas as gpd
import h3.api.basic_int as h3
import numpy as np
import pandas as pd
import shapely
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gis.crs import to_metric, to_wgs84, utm_epsg
from gis.patrol_routing import (
    RoadNetwork,
    crossing_pairs,
    nearest_neighbour_route,
    network_matrix,
    network_path,
    plan_route,
    walking_matrix,
)
from layers.areas import IN_AREA

HOT_CELLS_PER_GRID = 15
PARTS_PER_GRID = 25


def plan_patrols(
    *,
    conn: Connection,
    plan_date: date,
    days: int = 90,
    shift_s: float = 4 * 3600,
    time_limit_s: float = 0.3,
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """Plan and store one route per worker with a current grid (over all of the worker's
    grids); return one row per plan."""
    grids = pd.read_sql(
        sa.text("""
        SELECT g.id AS grid_id, g.worker_id, ST_X(c.office) AS lon, ST_Y(c.office) AS lat
        FROM grids_current g JOIN communities c ON c.id = g.community_id
        WHERE g.worker_id IS NOT NULL AND c.office IS NOT NULL ORDER BY g.id
    """),
        conn,
    )
    stops = _stops(conn, plan_date, days)
    if grids.empty:
        return pd.DataFrame()
    epsg = utm_epsg(float(grids.lon.mean()), float(grids.lat.mean()))
    network, barriers = road_network(conn=conn, epsg=epsg)
    rows = []
    # one route per worker: a worker who covers several grids walks all of them in one
    # shift (the plan is filed under the first grid; the key is worker and day)
    workers = list(grids.groupby("worker_id", sort=False))
    for k, (_, theirs) in enumerate(workers):
        grid = next(theirs.itertuples())
        mine = stops[stops.grid_id.isin(theirs.grid_id)]
        rows.append(
            _plan_one(
                grid, mine, epsg, shift_s, time_limit_s, network=network, network_barriers=barriers
            )
        )
        if progress:
            progress(k + 1, len(workers))
    plans = pd.DataFrame(rows)
    _store(conn, plans, plan_date)
    return plans


def road_network(*, conn: Connection, epsg: int) -> tuple[RoadNetwork | None, list]:
    """The walkable network of the ``roads`` layer in metres (``epsg``) and its barriers.

    Barriers are the major roads: a walker crosses them only where the network does
    (at a junction), never straight across. (None, []) when no roads are loaded.
    """
    lines = gpd.read_postgis(sa.text("SELECT road_class, geom FROM roads"), conn, geom_col="geom")
    if lines.empty:
        return None, []
    lines = lines.to_crs(epsg)
    barriers = list(lines.geometry[lines.road_class == "major"])
    return RoadNetwork.from_lines(list(lines.geometry)), barriers


def _stops(conn: Connection, plan_date: date, days: int) -> pd.DataFrame:
    cells = pd.read_sql(
        sa.text("""
        SELECT grid_id, h3_r10 AS cell, count(*) AS n FROM cases
        WHERE reported_at >= CAST(:d AS date) - :days AND reported_at < :d
          AND grid_id IS NOT NULL AND h3_r10 IS NOT NULL
        GROUP BY grid_id, h3_r10
    """),
        conn,
        params={"d": plan_date, "days": days},
    )
    cells = cells.sort_values("n", ascending=False).groupby("grid_id").head(HOT_CELLS_PER_GRID)
    lat_lon = [h3.cell_to_latlng(int(c)) for c in cells.cell]
    hot = pd.DataFrame(
        {
            "grid_id": cells.grid_id.to_numpy(),
            "kind": "cell",
            "ref": [h3.int_to_str(int(c)) for c in cells.cell],
            "lon": [p[1] for p in lat_lon],
            "lat": [p[0] for p in lat_lon],
            "score": cells.n.to_numpy(dtype=float),
        }
    )
    parts = pd.read_sql(
        sa.text("""
        SELECT grid_id, 'part' AS kind, part_code AS ref, ST_X(geom) AS lon, ST_Y(geom) AS lat,
               1.0 AS score
        FROM (SELECT p.*, row_number() OVER (PARTITION BY grid_id ORDER BY survey_date) AS k
              FROM parts p
              WHERE grid_id IS NOT NULL AND status <> 'removed'
                AND (status IN ('damaged', 'lost') OR survey_date < CAST(:d AS date) - 365)) x
        WHERE k <= :limit
    """),
        conn,
        params={"d": plan_date, "limit": PARTS_PER_GRID},
    )
    return pd.concat([hot, parts], ignore_index=True)


def _plan_one(
    grid,
    stops: pd.DataFrame,
    epsg: int,
    shift_s: float,  # type: ignore[no-untyped-def]
    time_limit_s: float,
    *,
    network: RoadNetwork | None = None,
    network_barriers: list | None = None,
) -> dict:
    lon = np.concatenate([[grid.lon], stops.lon.to_numpy()])
    lat = np.concatenate([[grid.lat], stops.lat.to_numpy()])
    x, y = to_metric(lon, lat, epsg)
    xy = np.column_stack([x, y])
    if network is None:
        dist = walking_matrix(xy)
    else:
        barriers = network_barriers if network_barriers is not None else []
        allowed = ~crossing_pairs(xy, barriers)
        dist, net_nodes, predecessors = network_matrix(xy, network, direct_walk=allowed)
    route = plan_route(dist, stops.score.to_numpy(), shift_s, time_limit_s=time_limit_s)
    baseline = nearest_neighbour_route(dist, route.order)
    greedy_won = baseline.length_m < route.length_m
    if greedy_won:
        # a short solver time can leave a route the greedy order beats (it happens on road
        # distances): walk the same stops in the shorter order; it fits the shift too
        route = baseline
    nodes = [0, *[s + 1 for s in route.order], 0]
    if network is None:
        path = xy[nodes]
    else:  # along the roads: Dijkstra rows are per point, so re-index them in route order
        walk = walking_matrix(xy)
        direct = np.array(
            [
                allowed[a, b] and walk[a, b] <= dist[a, b] + 1e-6
                for a, b in itertools.pairwise(nodes)
            ]
        )
        path = network_path(xy[nodes], net_nodes[nodes], predecessors[nodes], network, direct)
    blon, blat = to_wgs84(path[:, 0], path[:, 1], epsg)
    line = shapely.LineString(np.column_stack([blon, blat])) if len(nodes) > 2 else None
    return {
        "worker_id": grid.worker_id,
        "grid_id": grid.grid_id,
        "stops": [{"kind": stops.kind.iloc[s], "ref": stops.ref.iloc[s]} for s in route.order],
        "length_m": route.length_m,
        "duration_s": route.duration_s,
        "baseline_m": baseline.length_m,
        "greedy_order_used": greedy_won,
        "geom": line,
    }


def _store(conn: Connection, plans: pd.DataFrame, plan_date: date) -> None:
    conn.execute(sa.text("DELETE FROM patrol_plans WHERE plan_date = :d"), {"d": plan_date})
    rows = [
        {
            "w": int(p["worker_id"]),
            "g": int(p["grid_id"]),
            "d": plan_date,
            "stops": json.dumps(p["stops"], ensure_ascii=False),
            "n": len(p["stops"]),
            "len": float(p["length_m"]),
            "dur": float(p["duration_s"]),
            "base": float(p["baseline_m"]),
            "wkt": p["geom"].wkt,
        }
        for p in plans.to_dict("records")
        if p["geom"] is not None
    ]
    if rows:
        conn.execute(
            sa.text("""
            INSERT INTO patrol_plans (worker_id, grid_id, plan_date, stops, n_stops, length_m,
                                      duration_s, baseline_m, geom)
            VALUES (:w, :g, :d, CAST(:stops AS jsonb), :n, :len, :dur, :base,
                    ST_GeomFromText(:wkt, 4326))
        """),
            rows,
        )


def next_plan_date(today: date) -> date:
    """The Monday after ``today`` (plans are made for next week)."""
    return today + timedelta(days=7 - today.weekday())


def latest_plans(*, conn: Connection, community: str | None = None) -> gpd.GeoDataFrame:
    """The most recent day's plans (worker code, stops, length, line), or an empty frame."""
    return gpd.read_postgis(
        sa.text(f"""
        SELECT w.code AS worker_code, g.code AS grid_code, p.plan_date, p.n_stops,
               round(p.length_m) AS length_m, round(p.duration_s / 60) AS minutes, p.geom
        FROM patrol_plans p JOIN workers w ON w.id = p.worker_id
        LEFT JOIN grids g ON g.id = p.grid_id
        LEFT JOIN communities c ON c.id = g.community_id
        WHERE p.plan_date = (SELECT max(plan_date) FROM patrol_plans)
          AND {IN_AREA.format(code="c.code")}
        ORDER BY w.code
    """),
        conn,
        geom_col="geom",
        params={"community": community},
    )
