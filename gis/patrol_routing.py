"""Patrol routes for one shift: visit the stops that matter most within the time budget.

Each worker starts and ends at the community office; stops (hotspot cells, parts due
for inspection) carry a score. The route is a prize-collecting travelling-salesman
problem solved with OR-Tools routing (guided local search): a stop may be skipped at
the cost of its score, and the walk plus the time spent at stops must fit the shift.

Distances are walking distances in metres on a projected CRS: straight lines times a
detour factor (the fallback when no road network is loaded), or shortest paths over
a road network given as a precomputed distance matrix.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from ortools.constraint_solver import pywrapcp, routing_enums_pb2

DETOUR_FACTOR = 1.3
"""Walking distance ÷ straight-line distance in a street grid (the fallback)."""
SPEED_MPS = 1.2
SERVICE_S = 180
SCORE_SCALE = 1_000_000
"""Skipping a stop costs its score times this (in metres): visits come before distance."""


@dataclass(frozen=True)
class Route:
    """One worker's route: stop indices in walking order, and its totals."""

    order: list[int]
    length_m: float
    duration_s: float
    skipped: list[int]


def walking_matrix(xy: np.ndarray, detour: float = DETOUR_FACTOR) -> np.ndarray:
    """Walking distances (m) between points (row 0: the office), straight × detour."""
    d = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
    return d * detour


def plan_route(
    dist_m: np.ndarray,
    scores: np.ndarray,
    budget_s: float,
    speed_mps: float = SPEED_MPS,
    service_s: float = SERVICE_S,
    time_limit_s: float = 0.3,
) -> Route:
    """Best-scoring round trip from node 0 (the office) within ``budget_s``.

    Parameters
    ----------
    dist_m
        (n+1) × (n+1) walking distances; node 0 is the office, nodes 1..n the stops.
    scores
        n scores (higher = more important to visit).
    """
    n = len(dist_m)
    manager = pywrapcp.RoutingIndexManager(n, 1, 0)
    routing = pywrapcp.RoutingModel(manager)
    dist = np.rint(dist_m).astype(int)

    def distance(i: int, j: int) -> int:
        return int(dist[manager.IndexToNode(i), manager.IndexToNode(j)])

    def seconds(i: int, j: int) -> int:
        a, b = manager.IndexToNode(i), manager.IndexToNode(j)
        return int(dist[a, b] / speed_mps + (service_s if a != 0 else 0))

    routing.SetArcCostEvaluatorOfAllVehicles(routing.RegisterTransitCallback(distance))
    routing.AddDimension(routing.RegisterTransitCallback(seconds), 0, int(budget_s), True, "time")
    for node in range(1, n):
        penalty = int(max(scores[node - 1], 0) * SCORE_SCALE) + 1
        routing.AddDisjunction([manager.NodeToIndex(node)], penalty)
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PATH_CHEAPEST_ARC
    params.local_search_metaheuristic = (
        routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    )
    params.time_limit.FromMilliseconds(int(time_limit_s * 1000))
    solution = routing.SolveWithParameters(params)
    order: list[int] = []
    if solution is not None:
        index = solution.Value(routing.NextVar(routing.Start(0)))
        while not routing.IsEnd(index):
            order.append(manager.IndexToNode(index) - 1)
            index = solution.Value(routing.NextVar(index))
    return _route(dist_m, order, n - 1, speed_mps, service_s)


def nearest_neighbour_route(
    dist_m: np.ndarray, visit: list[int], speed_mps: float = SPEED_MPS, service_s: float = SERVICE_S
) -> Route:
    """The baseline: from the office, always walk to the nearest unvisited stop of ``visit``."""
    left = set(visit)
    order: list[int] = []
    here = 0
    while left:
        nxt = min(left, key=lambda s: dist_m[here, s + 1])
        order.append(nxt)
        left.remove(nxt)
        here = nxt + 1
    return _route(dist_m, order, len(dist_m) - 1, speed_mps, service_s)


def _route(
    dist_m: np.ndarray, order: list[int], n_stops: int, speed_mps: float, service_s: float
) -> Route:
    nodes = [0, *[s + 1 for s in order], 0]
    length = float(sum(dist_m[a, b] for a, b in itertools.pairwise(nodes)))
    skipped = sorted(set(range(n_stops)) - set(order))
    return Route(order, length, length / speed_mps + service_s * len(order), skipped)
