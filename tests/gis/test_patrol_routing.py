"""Patrol routes on stops whose best route is known; networks; the nearest-neighbour baseline."""

import networkx as nx
import numpy as np
import pytest

from gis.patrol_routing import (
    RoadNetwork,
    RoutingInputError,
    Shift,
    Stop,
    crossing_pairs,
    nearest_neighbour_route,
    network_matrix,
    network_path,
    plan_route,
    plan_routes,
    walking_matrix,
)

SQUARE = np.array([[0, 0], [100, 0], [100, 100], [0, 100]], dtype=float)


def make_shift(xy: np.ndarray, scores=None, budget_s: float = 4 * 3600, worker="w1") -> Shift:
    """Office at ``xy[0]``, one stop per further row, ids ``s1``, ``s2`` …"""
    scores = np.ones(len(xy) - 1) if scores is None else scores
    stops = [
        Stop(f"s{i}", float(x), float(y), float(s))
        for i, ((x, y), s) in enumerate(zip(xy[1:], scores, strict=True), start=1)
    ]
    return Shift(worker, (float(xy[0, 0]), float(xy[0, 1])), stops, budget_s)


# distances -------------------------------------------------------------------------------


def test_walking_distances_straight_and_manhattan():
    d = walking_matrix(SQUARE, detour=1.0)
    assert d[0, 2] == pytest.approx(100 * np.sqrt(2)) and d[1, 3] == d[0, 2]
    m = walking_matrix(SQUARE, detour=1.3, metric="manhattan")
    assert m[0, 2] == pytest.approx(260) and m[0, 1] == pytest.approx(130)
    with pytest.raises(RoutingInputError, match="metric"):
        walking_matrix(SQUARE, metric="crow")  # type: ignore[arg-type]


def test_a_river_makes_the_network_distance_longer_than_the_straight_line():
    # two banks 20 m apart, the only bridge 200 m upstream: a U-shaped road
    nodes = np.array([[0, 0], [0, 200], [20, 200], [20, 0]], dtype=float)
    network = RoadNetwork.from_edges(nodes, np.array([[0, 1], [1, 2], [2, 3]]))
    points = np.array([[-5, 0], [25, 0]], dtype=float)  # each 5 m off its bank's road end
    dist, nodes_of, _ = network_matrix(points, network)
    assert list(nodes_of) == [0, 3]
    assert dist[0, 1] == pytest.approx(5 + 420 + 5) and dist[1, 0] == dist[0, 1]


def test_pairs_the_network_does_not_connect_fall_back_to_the_detour():
    nodes = np.array([[0, 0], [10, 0], [500, 0], [510, 0]], dtype=float)
    network = RoadNetwork.from_edges(nodes, np.array([[0, 1], [2, 3]]))
    dist, _, _ = network_matrix(np.array([[0, 0], [510, 0.0]]), network, detour=1.3)
    assert dist[0, 1] == pytest.approx(510 * 1.3)


def test_a_networkx_graph_keeps_the_shortest_parallel_edge_and_measures_missing_lengths():
    graph = nx.MultiGraph()
    graph.add_node("a", x=0.0, y=0.0)
    graph.add_node("b", x=100.0, y=0.0)
    graph.add_node("c", x=100.0, y=50.0)
    graph.add_edge("a", "b", length=180.0)
    graph.add_edge("a", "b", length=120.0)
    graph.add_edge("b", "c")  # no length: straight line, 50 m
    network = RoadNetwork.from_networkx(graph)
    dist, _, _ = network_matrix(np.array([[0, 0], [100, 50.0]]), network)
    assert dist[0, 1] == pytest.approx(170)
    graph.add_node("d")
    with pytest.raises(RoutingInputError, match="x and y"):
        RoadNetwork.from_networkx(graph)


def test_crossing_lines_are_noded_into_a_connected_network():
    import shapely

    # a plus sign of two streets without a shared vertex, and a stub ending on the first
    lines = [
        shapely.LineString([(0, 100), (200, 100)]),
        shapely.LineString([(100, 0), (100, 200)]),
        shapely.LineString([(200, 100), (200, 300)]),
    ]
    network = RoadNetwork.from_lines(lines, max_segment_m=1000)
    assert len(network.node_xy) == 6  # 5 ends + the crossing at (100, 100), no densifying
    assert len(RoadNetwork.from_lines(lines, max_segment_m=50).node_xy) == 6 + 2 + 2 + 3
    dist, _, _ = network_matrix(np.array([[0, 100], [100, 0], [200, 300.0]]), network)
    assert dist[0, 1] == pytest.approx(200)  # through the crossing, not straight × detour
    assert dist[1, 2] == pytest.approx(100 + 100 + 200)
    with pytest.raises(RoutingInputError, match="no lines"):
        RoadNetwork.from_lines([])


def test_edges_outside_the_nodes_are_refused():
    with pytest.raises(RoutingInputError, match="outside"):
        RoadNetwork.from_edges(SQUARE, np.array([[0, 4]]))
    with pytest.raises(RoutingInputError, match="length"):
        RoadNetwork.from_edges(SQUARE, np.array([[0, 1]]), np.array([-1.0]))


# routes with known answers ---------------------------------------------------------------


def test_the_square_is_walked_around_not_across():
    # office at a corner of a 100 m square, stops at the other three corners
    route = plan_route(walking_matrix(SQUARE, detour=1.0), np.ones(3), budget_s=10_000)
    assert route.order in ([0, 1, 2], [2, 1, 0])
    assert route.length_m == pytest.approx(400)
    assert route.duration_s == pytest.approx(400 / 1.2 + 3 * 180)


def test_four_stops_at_the_corners_around_an_office_in_the_middle():
    xy = np.vstack([[50.0, 50.0], SQUARE])
    route = plan_route(walking_matrix(xy, detour=1.0), np.ones(4), budget_s=10_000)
    assert route.length_m == pytest.approx(300 + 100 * np.sqrt(2))  # 2 half-diagonals + 3 sides


def test_stops_on_a_line_beat_the_zigzag_of_nearest_neighbour():
    # office at 0, stops at 10, −11, 40, −70: best is out to one end and back past the
    # office to the other (2 × 110 m); nearest neighbour zigzags 10, −11, 40, −70, home
    # (10 + 21 + 51 + 110 + 70 = 262 m)
    xy = np.array([[0, 0], [10, 0], [-11, 0], [40, 0], [-70, 0]], dtype=float)
    dist = walking_matrix(xy, detour=1.0)
    best = plan_route(dist, np.ones(4), budget_s=10_000)
    nn = nearest_neighbour_route(dist, best.order)
    assert best.length_m == pytest.approx(220)
    assert nn.order == [0, 1, 2, 3] and nn.length_m == pytest.approx(262)


def test_a_tight_budget_keeps_the_best_stops():
    xy = np.array([[0, 0], [50, 0], [-50, 0], [0, 2000]], dtype=float)
    scores = np.array([5.0, 1.0, 9.0])  # the far stop is important but out of reach
    route = plan_route(walking_matrix(xy, detour=1.0), scores, budget_s=600, service_s=60)
    assert sorted(route.order) == [0, 1] and route.skipped == [2]
    assert route.duration_s <= 600


def test_when_only_one_of_two_fits_the_higher_score_wins():
    xy = np.array([[0, 0], [100, 0], [-100, 0]], dtype=float)
    # 200 m there and back = 167 s walking + 180 s service: one stop fits in 400 s, not two
    route = plan_route(walking_matrix(xy, detour=1.0), np.array([2.0, 7.0]), budget_s=400)
    assert route.order == [1] and route.skipped == [0]


def test_stops_without_score_are_not_worth_a_detour():
    xy = np.array([[0, 0], [100, 0], [0, 100]], dtype=float)
    route = plan_route(walking_matrix(xy), np.array([3.0, 0.0]), budget_s=10_000)
    assert route.order == [0] and route.skipped == [1]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_shifts_respect_the_budget_and_beat_or_match_the_baseline(seed):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 400, (31, 2))
    dist = walking_matrix(xy)
    service = rng.uniform(60, 300, 30)
    best = plan_route(dist, rng.uniform(1, 5, 30), 3600, service_s=service, time_limit_s=0.2)
    assert best.skipped  # an hour is not enough for all 30
    assert best.duration_s <= 3600
    nn = nearest_neighbour_route(dist, best.order, service_s=service)
    assert sorted(nn.order) == sorted(best.order)
    assert nn.length_m >= best.length_m - 1e-6
    assert nn.duration_s - best.duration_s == pytest.approx((nn.length_m - best.length_m) / 1.2)


def test_no_stops_is_a_stay_at_the_office():
    route = plan_route(np.zeros((1, 1)), np.zeros(0), budget_s=100)
    assert route.order == [] and route.length_m == 0 and route.duration_s == 0


def test_bad_problems_are_refused():
    with pytest.raises(RoutingInputError, match="stops need"):
        plan_route(np.zeros((3, 3)), np.ones(3), budget_s=100)
    with pytest.raises(RoutingInputError, match="budget_s"):
        plan_route(walking_matrix(SQUARE), np.ones(3), budget_s=-1)
    with pytest.raises(RoutingInputError, match="finite"):
        plan_route(np.full((2, 2), np.inf), np.ones(1), budget_s=100)


# plans for workers -----------------------------------------------------------------------


def test_plans_name_stops_by_id_and_compare_with_the_baseline():
    shift = make_shift(np.array([[0, 0], [10, 0], [-11, 0], [40, 0], [-70, 0]], float))
    (plan,) = plan_routes([shift], detour=1.0)
    assert sorted(plan.stop_ids) == ["s1", "s2", "s3", "s4"] and plan.skipped_ids == []
    assert plan.length_m == pytest.approx(220) and plan.baseline_length_m == pytest.approx(262)
    assert plan.score == 4
    np.testing.assert_array_equal(plan.path_xy[0], plan.path_xy[-1])
    assert len(plan.path_xy) == 6  # office, four stops, office


def test_plans_on_a_network_follow_the_roads():
    # office and one stop on either bank of the river from the network test
    nodes = np.array([[0, 0], [0, 200], [20, 200], [20, 0]], dtype=float)
    network = RoadNetwork.from_edges(nodes, np.array([[0, 1], [1, 2], [2, 3]]))
    shift = make_shift(np.array([[0, 0], [20, 0]], dtype=float))
    (plan,) = plan_routes([shift], network=network)
    assert plan.length_m == pytest.approx(2 * 420)
    assert {(0.0, 200.0), (20.0, 200.0)} <= {tuple(p) for p in plan.path_xy.tolist()}
    (straight,) = plan_routes([shift])
    assert straight.length_m == pytest.approx(2 * 20 * 1.3)


def test_a_direct_walk_is_taken_where_the_roads_go_round():
    # two stops 30 m apart inside a block whose only road runs 200 m round it
    nodes = np.array([[0, 0], [0, 200], [100, 200], [100, 0]], dtype=float)
    network = RoadNetwork.from_edges(nodes, np.array([[0, 1], [1, 2], [2, 3]]))
    points = np.array([[35, 10], [65, 10]], dtype=float)
    by_road, road_nodes, pred = network_matrix(points, network, detour=1.3)
    direct, _, _ = network_matrix(points, network, detour=1.3, direct_walk=True)
    assert by_road[0, 1] > 400 and direct[0, 1] == pytest.approx(30 * 1.3)
    path = network_path(points, road_nodes, pred, network, np.array([True]))
    assert len(path) == 2  # a straight leg, not round by the road
    assert len(network_path(points, road_nodes, pred, network)) > 2


def test_no_direct_walk_across_a_barrier():
    import shapely

    nodes = np.array([[0, 0], [0, 200], [100, 200], [100, 0]], dtype=float)
    network = RoadNetwork.from_edges(nodes, np.array([[0, 1], [1, 2], [2, 3]]))
    points = np.array([[35, 10], [65, 10], [36, 12]], dtype=float)
    wall = [shapely.LineString([(50, -50), (50, 100)])]  # a major road between 0 and 1
    crossing = crossing_pairs(points, wall)
    assert (
        crossing[0, 1] and crossing[1, 0] and not crossing[0, 2] and not crossing.diagonal().any()
    )
    dist, _, _ = network_matrix(points, network, detour=1.3, direct_walk=~crossing)
    assert dist[0, 1] > 400  # round by the roads
    assert dist[0, 2] == pytest.approx(np.hypot(1, 2) * 1.3)  # same side: straight


def test_side_streets_that_stop_short_of_a_main_road_are_joined_to_it():
    import shapely

    main = shapely.LineString([(0, 0), (300, 0)])
    side = shapely.LineString([(150, 12), (150, 200)])  # stops 12 m short of the centre line
    far = shapely.LineString([(0, 60), (40, 60)])  # a dead end 60 m away stays apart
    network = RoadNetwork.from_lines([main, side, far], max_segment_m=1000)
    dist, _, _ = network_matrix(np.array([[0, 0], [150, 200.0]]), network)
    assert dist[0, 1] == pytest.approx(150 + 12 + 188, abs=0.5)  # along the roads, joined
    unjoined = RoadNetwork.from_lines([main, side, far], max_segment_m=1000, join_m=0)
    dist, _, _ = network_matrix(np.array([[0, 0], [150, 200.0]]), unjoined)
    assert dist[0, 1] == pytest.approx(np.hypot(150, 200) * 1.3)  # disconnected: fallback
