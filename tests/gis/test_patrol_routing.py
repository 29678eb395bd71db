"""Patrol routes on stops whose best route is known."""

import numpy as np
import pytest

from gis.patrol_routing import nearest_neighbour_route, plan_route, walking_matrix


def test_the_square_is_walked_around_not_across():
    # office at a corner of a 100 m square, stops at the other three corners
    xy = np.array([[0, 0], [100, 0], [100, 100], [0, 100]], dtype=float)
    route = plan_route(walking_matrix(xy, detour=1.0), np.ones(3), budget_s=10_000)
    assert sorted(route.order) == [0, 1, 2]
    assert route.length_m == pytest.approx(400)
    assert route.order in ([0, 1, 2], [2, 1, 0])


def test_a_tight_budget_keeps_the_best_stops():
    xy = np.array([[0, 0], [50, 0], [-50, 0], [0, 2000]], dtype=float)
    scores = np.array([5.0, 1.0, 9.0])  # the far stop is important but out of reach
    route = plan_route(walking_matrix(xy, detour=1.0), scores, budget_s=600, service_s=60)
    assert route.skipped == [2]
    assert route.duration_s <= 600


def test_the_baseline_visits_the_same_stops_and_is_never_shorter_here():
    rng = np.random.default_rng(4)
    xy = rng.uniform(0, 300, (25, 2))
    dist = walking_matrix(xy)
    best = plan_route(dist, rng.uniform(1, 5, 24), budget_s=4 * 3600, time_limit_s=0.5)
    nn = nearest_neighbour_route(dist, best.order)
    assert sorted(nn.order) == sorted(best.order)
    assert nn.length_m >= best.length_m - 1e-6
