"""Patrol routes for one shift: visit the stops that matter most within the time budget.

Each worker starts and ends at the community office; stops (hotspot cells, parts due
for inspection) carry a score and a service time. The route is a prize-collecting
travelling-salesman problem solved with OR-Tools routing (guided local search): every
stop is optional, skipping it costs its score (converted to metres), and the walk
plus the time spent at the stops must fit the shift (a time dimension capped at the
budget). The baseline walks the *same* chosen stops in nearest-neighbour order.

Distances are walking distances in metres in a projected CRS: shortest paths over a
road network when one is given (:class:`RoadNetwork`, from a networkx graph or edge
arrays), else straight-line or Manhattan distance times a detour factor.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from typing import Any, Literal

import numpy as np
import shapely
from ortools.constraint_solver import pywrapcp, routing_enums_pb2
from scipy import sparse
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

from gis.errors import GridGovError

DETOUR_FACTOR = 1.3
"""Walking distance ÷ straight-line distance in a street grid (the fallback)."""
SPEED_MPS = 1.2
"""Walking speed, metres per second."""
SERVICE_S = 180.0
"""Time spent at each stop, seconds."""
METRES_PER_SCORE = 100_000.0
"""Skipping a stop of score 1 costs as much as walking this far: score comes first."""

Metric = Literal["euclidean", "manhattan"]


class RoutingInputError(GridGovError, ValueError):
    """Inputs a route cannot be planned from (shapes, negative budgets, empty networks)."""

    code = "bad_routing_input"
    kind = "bad_input"


@dataclass(frozen=True)
class Stop:
    """A place worth visiting: coordinates in metres (projected CRS), score, service time."""

    stop_id: Hashable
    x: float
    y: float
    score: float
    service_s: float = SERVICE_S


@dataclass(frozen=True)
class Shift:
    """One worker's shift: the office (start and end), candidate stops, time budget."""

    worker_id: Hashable
    depot_xy: tuple[float, float]
    stops: Sequence[Stop]
    budget_s: float = 4 * 3600.0


@dataclass(frozen=True)
class Route:
    """A route over a distance matrix: stop indices (0-based) in walking order, totals."""

    order: list[int]
    length_m: float
    duration_s: float
    skipped: list[int]


@dataclass(frozen=True)
class PlanResult:
    """One worker's plan, and the nearest-neighbour baseline over the same stops."""

    worker_id: Hashable
    stop_ids: list[Hashable]
    length_m: float
    duration_s: float
    score: float
    skipped_ids: list[Hashable]
    baseline_length_m: float
    baseline_duration_s: float
    path_xy: np.ndarray = field(repr=False)
    """Polyline office → stops → office in metres (along the roads on a network)."""


@dataclass(frozen=True)
class RoadNetwork:
    """A walkable road network: node coordinates (m) and a sparse matrix of edge lengths."""

    node_xy: np.ndarray
    lengths: sparse.csr_matrix

    @classmethod
    def from_edges(
        cls,
        node_xy: np.ndarray,
        edges: np.ndarray,
        length_m: np.ndarray | None = None,
        *,
        directed: bool = False,
    ) -> RoadNetwork:
        """Build from ``m × 2`` node coordinates and ``e × 2`` node-index pairs.

        Parameters
        ----------
        node_xy
            Node coordinates in metres (projected CRS).
        edges
            Pairs of node indices.
        length_m
            Edge lengths in metres; straight-line node distance when omitted.
        directed
            Keep edge direction (walkers usually ignore one-way streets: default False).
        """
        xy = np.asarray(node_xy, dtype=float).reshape(-1, 2)
        uv = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
        if len(xy) == 0:
            raise RoutingInputError("road network has no nodes")
        if uv.size and (uv.min() < 0 or uv.max() >= len(xy)):
            raise RoutingInputError(f"edges refer to nodes outside 0..{len(xy) - 1}")
        if length_m is None:
            length = np.hypot(*(xy[uv[:, 0]] - xy[uv[:, 1]]).T)
        else:
            length = np.asarray(length_m, dtype=float).ravel()
        if length.size != len(uv) or (length < 0).any():
            raise RoutingInputError("need one non-negative length per edge")
        if not directed:
            uv = np.vstack([uv, uv[:, ::-1]])
            length = np.concatenate([length, length])
        return cls(xy, _shortest_edges(uv, length, len(xy)))

    @classmethod
    def from_lines(
        cls,
        lines: Sequence[Any],
        *,
        snap_m: float = 0.5,
        max_segment_m: float = 40.0,
        join_m: float = 15.0,
    ) -> RoadNetwork:
        """Build from road centre lines (shapely LineStrings in metres).

        The lines are noded first (split where they cross, ``shapely.union_all``),
        so crossing streets connect even when neither has a vertex there; end
        points closer than ``snap_m`` are one node. A line end that stops short
        of another line by at most ``join_m`` is joined to it (side streets drawn
        up to the kerb of a main road rather than to its centre line — common in
        survey data and OpenStreetMap). Segments longer than ``max_segment_m`` get
        intermediate nodes, so that a stop joins the road near where it stands
        rather than at the next crossing.
        """
        geoms = [g for g in lines if g is not None and not g.is_empty]
        if not geoms:
            raise RoutingInputError("road network has no lines")
        geoms += _joins(geoms, join_m, snap_m)
        noded = shapely.get_parts(shapely.union_all(np.array(geoms, dtype=object)))
        noded = shapely.segmentize(noded, max_segment_m)
        coords, index = shapely.get_coordinates(noded, return_index=True)
        key = np.round(coords / snap_m).astype(np.int64)
        uniq, node_of = np.unique(key, axis=0, return_inverse=True)
        node_of = node_of.ravel()
        xy = np.zeros((len(uniq), 2))
        np.add.at(xy, node_of, coords)
        xy /= np.bincount(node_of, minlength=len(uniq))[:, None]
        same_line = index[1:] == index[:-1]
        uv = np.column_stack([node_of[:-1], node_of[1:]])[same_line]
        seg = np.hypot(*(coords[1:] - coords[:-1]).T)[same_line]
        keep = uv[:, 0] != uv[:, 1]
        return cls.from_edges(xy, uv[keep], seg[keep])

    @classmethod
    def from_networkx(cls, graph: Any, *, weight: str = "length") -> RoadNetwork:
        """Build from a networkx graph whose nodes carry ``x``/``y`` in metres.

        Edge attribute ``weight`` is the length (straight line when missing); parallel
        edges keep the shortest. Directed graphs are treated as walkable both ways.
        Project an osmnx graph first (``osmnx.project_graph``).
        """
        nodes = list(graph.nodes)
        try:
            xy = np.array([(graph.nodes[n]["x"], graph.nodes[n]["y"]) for n in nodes], float)
        except KeyError as missing:
            raise RoutingInputError(f"every node needs x and y attributes: {missing}") from None
        position = {n: i for i, n in enumerate(nodes)}
        data = list(graph.edges(data=True))
        uv = np.array([(position[u], position[v]) for u, v, _ in data], dtype=np.int64)
        given = np.array([d.get(weight, np.nan) for _, _, d in data], dtype=float)
        if len(data) and np.isnan(given).any():
            straight = np.hypot(*(xy[uv[:, 0]] - xy[uv[:, 1]]).T)
            given = np.where(np.isnan(given), straight, given)
        return cls.from_edges(xy, uv.reshape(-1, 2), given, directed=False)


def _joins(lines: list[Any], join_m: float, snap_m: float) -> list[Any]:
    """Short connectors from line ends that stop within ``join_m`` of another line.

    Each connector runs from the end to the nearest point of the nearest other
    line and 0.5 m beyond, so that noding splits that line there.
    """
    if join_m <= 0 or len(lines) < 2:
        return []
    arr = np.array(lines, dtype=object)
    tree = shapely.STRtree(arr)
    out = []
    for k, line in enumerate(lines):
        coords = shapely.get_coordinates(line)
        for end in (coords[0], coords[-1]):
            point = shapely.Point(end)
            near = [j for j in tree.query(point, predicate="dwithin", distance=join_m) if j != k]
            if not near:
                continue
            gaps = shapely.distance(arr[near], point)
            if gaps.min() <= snap_m:
                continue  # already meets another line
            target = arr[near[int(np.argmin(gaps))]]
            to = np.asarray(shapely.get_coordinates(shapely.shortest_line(point, target))[-1])
            step = to - end
            out.append(shapely.LineString([end, to + 0.5 * step / np.hypot(*step)]))
    return out


def walking_matrix(
    xy: np.ndarray, detour: float = DETOUR_FACTOR, metric: Metric = "euclidean"
) -> np.ndarray:
    """Walking distances (m) between points (row 0: the office) without a road network.

    Parameters
    ----------
    xy
        ``k × 2`` coordinates in metres (projected CRS).
    detour
        Factor on the straight-line or Manhattan distance.
    metric
        ``"euclidean"`` or ``"manhattan"`` (a street grid aligned with the axes).
    """
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    delta = np.abs(xy[:, None, :] - xy[None, :, :])
    if metric == "euclidean":
        d = np.hypot(delta[..., 0], delta[..., 1])
    elif metric == "manhattan":
        d = delta.sum(axis=-1)
    else:
        raise RoutingInputError(f"metric must be 'euclidean' or 'manhattan', got {metric!r}")
    return d * detour


def network_matrix(
    xy: np.ndarray,
    network: RoadNetwork,
    detour: float = DETOUR_FACTOR,
    *,
    direct_walk: bool | np.ndarray = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Walking distances (m) between points over ``network``.

    Each point joins the network at its nearest node by a straight walk. Pairs the
    network does not connect fall back to straight line × ``detour``. With
    ``direct_walk`` (True, or a ``k × k`` boolean matrix of the pairs allowed) a
    pair is also walked directly (straight line × ``detour``) when that is shorter
    than going by the roads: paths through residential compounds and squares that
    a street layer does not hold. Pairs a barrier separates (a major road, a river:
    see :func:`crossing_pairs`) should not be allowed.

    Returns
    -------
    dist, nodes, predecessors
        ``k × k`` distances; each point's network node; Dijkstra predecessor rows
        (one per point) for drawing the paths (:func:`network_path`).
    """
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    access, nodes = cKDTree(network.node_xy).query(xy)
    on_net, predecessors = dijkstra(
        network.lengths, directed=True, indices=nodes, return_predecessors=True
    )
    dist = access[:, None] + on_net[:, nodes] + access[None, :]
    unreachable = ~np.isfinite(dist)
    if unreachable.any():
        dist[unreachable] = walking_matrix(xy, detour)[unreachable]
    if np.any(direct_walk):
        allowed = np.broadcast_to(np.asarray(direct_walk, dtype=bool), dist.shape)
        dist = np.where(allowed, np.minimum(dist, walking_matrix(xy, detour)), dist)
    np.fill_diagonal(dist, 0.0)
    return dist, nodes, predecessors


def crossing_pairs(xy: np.ndarray, barriers: Sequence[Any]) -> np.ndarray:
    """``k × k`` booleans: does the straight line between points i and j cross a barrier?

    ``barriers``: shapely lines or polygons in the points' metric CRS (major roads,
    rivers). The matrix is symmetric with a False diagonal.
    """
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    k = len(xy)
    out = np.zeros((k, k), dtype=bool)
    lines = [b for b in barriers if b is not None and not b.is_empty]
    if k < 2 or not lines:
        return out
    i, j = np.triu_indices(k, 1)
    segments = shapely.linestrings(np.stack([xy[i], xy[j]], axis=1))
    hit_segment, _ = shapely.STRtree(np.array(lines, dtype=object)).query(
        segments, predicate="intersects"
    )
    crossed = np.zeros(len(segments), dtype=bool)
    crossed[hit_segment] = True
    out[i, j] = crossed
    out[j, i] = crossed
    return out


def network_path(
    xy: np.ndarray,
    nodes: np.ndarray,
    predecessors: np.ndarray,
    network: RoadNetwork,
    direct: np.ndarray | None = None,
) -> np.ndarray:
    """Polyline through points ``xy`` in order, following the network between them.

    ``direct[a]`` True draws the leg from point ``a`` to ``a + 1`` as a straight walk
    (where :func:`network_matrix` with ``direct_walk`` found that shorter).
    """
    parts = [xy[:1]]
    for a in range(len(xy) - 1):
        if direct is not None and direct[a]:
            parts.append(xy[a + 1 : a + 2])
            continue
        chain, node = [], nodes[a + 1]
        while node >= 0 and node != nodes[a]:
            chain.append(node)
            node = predecessors[a, node]
        reached = node == nodes[a]
        legs = [network.node_xy[[nodes[a], *chain[::-1]]]] if reached else []
        parts.extend([*legs, xy[a + 1 : a + 2]])
    return np.vstack(parts)


def plan_route(
    dist_m: np.ndarray,
    scores: np.ndarray,
    budget_s: float,
    *,
    speed_mps: float = SPEED_MPS,
    service_s: float | np.ndarray = SERVICE_S,
    time_limit_s: float = 0.3,
    metres_per_score: float = METRES_PER_SCORE,
) -> Route:
    """Best-scoring round trip from node 0 (the office) within ``budget_s``.

    Parameters
    ----------
    dist_m
        ``(n+1) × (n+1)`` walking distances in metres; node 0 is the office.
    scores
        ``n`` stop scores; skipping a stop costs ``score × metres_per_score`` metres,
        so stops with score <= 0 are never worth a detour.
    budget_s
        Shift length in seconds: walking plus service time must fit.
    speed_mps
        Walking speed.
    service_s
        Seconds spent at each stop (scalar or ``n`` values).
    time_limit_s
        Wall-clock limit of the guided local search.
    metres_per_score
        Price of one unit of score in metres of walking.

    Returns
    -------
    Route
        Visited stop indices in order, length, duration (walk + service), skipped stops.
    """
    dist, scores, service = _checked_problem(dist_m, scores, service_s, budget_s, speed_mps)
    n = len(scores)
    if n == 0:
        return _route(dist, [], speed_mps, service)
    manager = pywrapcp.RoutingIndexManager(n + 1, 1, 0)
    routing = pywrapcp.RoutingModel(manager)
    # decimetres for the objective, whole seconds (rounded up) for the budget
    cost = routing.RegisterTransitMatrix(np.rint(dist * 10).astype(np.int64).tolist())
    routing.SetArcCostEvaluatorOfAllVehicles(cost)
    at_node = np.concatenate([[0.0], service])[:, None]
    seconds = np.ceil(dist / speed_mps + at_node).astype(np.int64)
    routing.AddDimension(
        routing.RegisterTransitMatrix(seconds.tolist()), 0, int(budget_s), True, "time"
    )
    penalties = np.rint(np.maximum(scores, 0) * metres_per_score * 10).astype(np.int64)
    for node in range(1, n + 1):
        routing.AddDisjunction([manager.NodeToIndex(node)], int(penalties[node - 1]))
    solution = routing.SolveWithParameters(_search_parameters(time_limit_s))
    order: list[int] = []
    if solution is not None:
        index = solution.Value(routing.NextVar(routing.Start(0)))
        while not routing.IsEnd(index):
            order.append(manager.IndexToNode(index) - 1)
            index = solution.Value(routing.NextVar(index))
    return _route(dist, order, speed_mps, service)


def nearest_neighbour_route(
    dist_m: np.ndarray,
    visit: Sequence[int],
    speed_mps: float = SPEED_MPS,
    service_s: float | np.ndarray = SERVICE_S,
) -> Route:
    """The baseline: from the office, always walk to the nearest unvisited stop of ``visit``.

    ``visit`` holds 0-based stop indices (row ``i + 1`` of ``dist_m``); ties go to the
    lower index. The budget is not checked: the baseline walks exactly these stops.
    """
    dist = np.asarray(dist_m, dtype=float)
    service = np.broadcast_to(np.asarray(service_s, dtype=float), (len(dist) - 1,))
    left = sorted(set(visit))
    order: list[int] = []
    here = 0
    while left:
        nxt = min(left, key=lambda s: (dist[here, s + 1], s))
        order.append(nxt)
        left.remove(nxt)
        here = nxt + 1
    return _route(dist, order, speed_mps, service)


def plan_routes(
    shifts: Sequence[Shift],
    *,
    network: RoadNetwork | None = None,
    speed_mps: float = SPEED_MPS,
    detour: float = DETOUR_FACTOR,
    metric: Metric = "euclidean",
    time_limit_s: float = 0.3,
    metres_per_score: float = METRES_PER_SCORE,
    n_jobs: int = 1,
) -> list[PlanResult]:
    """Plan one shift's route for each worker, with its nearest-neighbour baseline.

    Parameters
    ----------
    shifts
        One :class:`Shift` per worker (office, candidate stops, budget), metres.
    network
        Road network to walk on; without one, ``metric`` distance × ``detour``.
    speed_mps, detour, metric, time_limit_s, metres_per_score
        As in :func:`plan_route` and :func:`walking_matrix`.
    n_jobs
        Worker processes (each shift is independent); 1 solves in this process.

    Returns
    -------
    list of PlanResult
        In the order of ``shifts``.
    """
    options = _Options(network, speed_mps, detour, metric, time_limit_s, metres_per_score)
    if n_jobs <= 1 or len(shifts) < 2:
        return [_plan_shift(shift, options) for shift in shifts]
    batches = [list(shifts[i::n_jobs]) for i in range(n_jobs)]
    with ProcessPoolExecutor(n_jobs, mp_context=get_context("spawn")) as pool:
        done = list(pool.map(_plan_batch, batches, [options] * n_jobs))
    results: list[PlanResult] = [None] * len(shifts)  # type: ignore[list-item]
    for i, batch in enumerate(done):
        results[i::n_jobs] = batch
    return results


@dataclass(frozen=True)
class _Options:
    network: RoadNetwork | None
    speed_mps: float
    detour: float
    metric: Metric
    time_limit_s: float
    metres_per_score: float


def _plan_batch(shifts: list[Shift], options: _Options) -> list[PlanResult]:
    return [_plan_shift(shift, options) for shift in shifts]


def _plan_shift(shift: Shift, o: _Options) -> PlanResult:
    xy = np.array([shift.depot_xy, *((s.x, s.y) for s in shift.stops)], dtype=float)
    xy = xy.reshape(-1, 2)
    if o.network is None:
        dist = walking_matrix(xy, o.detour, o.metric)
    else:
        dist, nodes, predecessors = network_matrix(xy, o.network, o.detour)
    scores = np.array([s.score for s in shift.stops], dtype=float)
    service = np.array([s.service_s for s in shift.stops], dtype=float)
    route = plan_route(
        dist,
        scores,
        shift.budget_s,
        speed_mps=o.speed_mps,
        service_s=service,
        time_limit_s=o.time_limit_s,
        metres_per_score=o.metres_per_score,
    )
    baseline = nearest_neighbour_route(dist, route.order, o.speed_mps, service)
    walk = [0, *(i + 1 for i in route.order), 0]
    if o.network is None:
        path = xy[walk]
    else:
        path = network_path(xy[walk], nodes[walk], predecessors[walk], o.network)
    return PlanResult(
        worker_id=shift.worker_id,
        stop_ids=[shift.stops[i].stop_id for i in route.order],
        length_m=route.length_m,
        duration_s=route.duration_s,
        score=float(scores[route.order].sum()),
        skipped_ids=[shift.stops[i].stop_id for i in route.skipped],
        baseline_length_m=baseline.length_m,
        baseline_duration_s=baseline.duration_s,
        path_xy=path,
    )


def _search_parameters(time_limit_s: float) -> Any:
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PATH_CHEAPEST_ARC
    params.local_search_metaheuristic = (
        routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    )
    params.time_limit.FromMilliseconds(max(1, int(time_limit_s * 1000)))
    return params


def _checked_problem(
    dist_m: np.ndarray,
    scores: np.ndarray,
    service_s: float | np.ndarray,
    budget_s: float,
    speed_mps: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    dist = np.asarray(dist_m, dtype=float)
    scores = np.asarray(scores, dtype=float).ravel()
    n = len(scores)
    if dist.shape != (n + 1, n + 1):
        raise RoutingInputError(f"distances are {dist.shape}; {n} stops need {(n + 1, n + 1)}")
    if not np.isfinite(dist).all() or (dist < 0).any():
        raise RoutingInputError("distances must be finite and non-negative")
    if not (budget_s >= 0 and speed_mps > 0 and math.isfinite(budget_s)):
        raise RoutingInputError(f"need budget_s >= 0 and speed_mps > 0: {budget_s}, {speed_mps}")
    service = np.broadcast_to(np.asarray(service_s, dtype=float), (n,))
    if (service < 0).any() or not np.isfinite(scores).all():
        raise RoutingInputError("service times must be >= 0 and scores finite")
    return dist, scores, service


def _route(dist: np.ndarray, order: list[int], speed_mps: float, service: np.ndarray) -> Route:
    nodes = np.array([0, *(s + 1 for s in order), 0])
    length = float(dist[nodes[:-1], nodes[1:]].sum())
    skipped = sorted(set(range(len(dist) - 1)) - set(order))
    duration = length / speed_mps + float(np.asarray(service)[np.asarray(order, dtype=int)].sum())
    return Route(list(order), length, duration, skipped)


def _shortest_edges(uv: np.ndarray, length: np.ndarray, n: int) -> sparse.csr_matrix:
    """Sparse length matrix keeping the shortest of parallel edges (csr would sum them)."""
    order = np.lexsort((length, uv[:, 1], uv[:, 0]))
    uv, length = uv[order], length[order]
    first = np.ones(len(uv), dtype=bool)
    first[1:] = (uv[1:] != uv[:-1]).any(axis=1)
    uv, length = uv[first], length[first]
    # csgraph reads an explicit 0 as "no edge": keep zero-length edges just above 0
    return sparse.csr_matrix((np.maximum(length, 1e-9), (uv[:, 0], uv[:, 1])), shape=(n, n))
