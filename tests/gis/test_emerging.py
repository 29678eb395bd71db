"""Emerging hotspots: Mann-Kendall on known series, categories on hand-built bins and cubes."""

import h3.api.basic_int as h3
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import sparse
from scipy.stats import kendalltau

from gis.emerging import (
    NO_PATTERN,
    classify,
    emerging_hotspots,
    mann_kendall,
    space_time_gi_star,
)
from gis.hotspots import HotspotInputError, gi_star, h3_weights

CENTRE = h3.latlng_to_cell(31.31, 120.63, 9)


def make_patch(k: int = 6) -> np.ndarray:
    return np.array(sorted(h3.grid_disk(CENTRE, k)), dtype=np.int64)


def make_cube(cells: np.ndarray, n_slices: int, seed: int = 1) -> np.ndarray:
    """Poisson(2) noise, (slices × cells)."""
    return np.random.default_rng(seed).poisson(2, (n_slices, cells.size)).astype(float)


def category_of(pattern: str) -> str:
    """Category of one cell whose slices are written as a string: + hot, - cold, . neither."""
    flags = np.array(list(pattern))[:, None]
    found, spot = classify(flags == "+", flags == "-", np.zeros(1), np.ones(1))
    return found[0] if spot[0] == "" else f"{found[0]} {spot[0]} spot"


# Mann-Kendall ------------------------------------------------------------------------------


def test_mann_kendall_on_monotone_and_flat_series():
    up = np.arange(10, dtype=float)
    result = mann_kendall(np.column_stack([up, -up, np.ones(10)]))
    # S = 45 pairs, Var = 10·9·25/18 = 125, z = (45 − 1)/√125
    assert result.s[0] == 45 and result.tau[0] == 1
    assert result.z[0] == pytest.approx(44 / np.sqrt(125))
    assert result.p[0] == pytest.approx(8.3e-5, rel=0.01)
    assert result.z[1] == pytest.approx(-44 / np.sqrt(125)) and result.tau[1] == -1
    assert result.z[2] == 0 and result.p[2] == 1  # all tied: no variance, no trend


def test_mann_kendall_textbook_values_with_ties():
    # 1, 2, 3, 4: S = 6, Var = 4·3·13/18
    assert mann_kendall(np.array([1.0, 2, 3, 4])).z[0] == pytest.approx(5 / np.sqrt(26 / 3))
    # 1, 1, 2, 3: S = 5, one pair tied: Var = (156 − 2·1·9)/18
    assert mann_kendall(np.array([1.0, 1, 2, 3])).z[0] == pytest.approx(4 / np.sqrt(138 / 18))


def test_mann_kendall_agrees_with_scipy_kendalltau():
    rng = np.random.default_rng(8)
    series = rng.integers(0, 6, (30, 12)).astype(float)  # many ties
    result = mann_kendall(series, continuity=False)
    for j in range(series.shape[1]):
        expected = kendalltau(np.arange(30), series[:, j], method="asymptotic")
        assert result.p[j] == pytest.approx(expected.pvalue, rel=1e-9)


@settings(max_examples=50, deadline=None)
@given(arrays(float, (12, 3), elements=st.integers(-400, 400).map(lambda k: k / 4)))
def test_mann_kendall_is_a_rank_test(series):
    # values a quarter apart (ties included): arctan keeps every order and tie of them in
    # floating point; two values a few ulps apart could collapse into one tie under arctan
    # and make the rescaled series a different series (found with the constant −100)
    result = mann_kendall(series)
    np.testing.assert_allclose(mann_kendall(-series).z, -result.z, atol=1e-12)
    np.testing.assert_allclose(mann_kendall(np.arctan(series / 50)).z, result.z, atol=1e-12)
    assert ((result.p >= 0) & (result.p <= 1)).all()


# categories --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "slices, expected",
    [
        ("..........", NO_PATTERN),
        (".........+", "new hot spot"),
        ("-........+", "new hot spot"),  # first match in ArcGIS's order: new before oscillating
        ("......++++", "consecutive hot spot"),
        ("+++++++++.", "historical hot spot"),
        ("++++++++.+", "persistent hot spot"),  # 90 % hot, final hot, no trend
        ("+.+..+..++", "sporadic hot spot"),
        ("+-.+.....+", "oscillating hot spot"),
        ("..+.......", NO_PATTERN),  # hot once, long ago: not final, not 90 %
        (".........-", "new cold spot"),
        ("......----", "consecutive cold spot"),
        ("---------.", "historical cold spot"),
        ("-.-..-..--", "sporadic cold spot"),
        ("++..-....-", "oscillating cold spot"),
        ("+++++++++-", "new cold spot"),  # the final slice decides the family
    ],
)
def test_categories_from_hand_built_slices(slices, expected):
    assert category_of(slices) == expected


def test_the_trend_splits_the_always_hot_and_the_always_cold():
    hot = np.ones((10, 3), dtype=bool)
    trend_z, trend_p = np.array([3.0, 0.2, -3.0]), np.array([0.001, 0.8, 0.001])
    pattern, spot = classify(hot, ~hot, trend_z, trend_p)
    assert list(pattern) == ["intensifying", "persistent", "diminishing"]
    assert list(spot) == ["hot"] * 3
    pattern, spot = classify(~hot, hot, trend_z, trend_p)
    assert list(pattern) == ["diminishing", "persistent", "intensifying"]  # colder = stronger
    assert list(spot) == ["cold"] * 3


def test_a_trend_must_be_significant():
    hot = np.ones((10, 1), dtype=bool)
    assert classify(hot, ~hot, np.array([1.9]), np.array([0.06]))[0][0] == "persistent"
    assert classify(hot, ~hot, np.array([1.9]), np.array([0.06]), trend_alpha=0.1)[0][0] == (
        "intensifying"
    )


# space-time Gi* ----------------------------------------------------------------------------


def test_without_a_time_window_each_slice_is_plain_gi_star():
    cells = make_patch(4)
    cube, w = make_cube(cells, 6), h3_weights(cells)
    result = space_time_gi_star(cube, w, time_window=0, global_window="time_window")
    for t in range(6):
        expected = gi_star(cube[t], w)
        np.testing.assert_allclose(result.z[t], expected.z, atol=1e-12)
        np.testing.assert_array_equal(result.bin[t], expected.bin)


@pytest.mark.parametrize("time_window", [0, 1, 3])
def test_space_time_gi_star_equals_gi_star_on_explicit_space_time_weights(time_window):
    cells = make_patch(3)
    n_slices = 8
    cube, w = make_cube(cells, n_slices, seed=4), h3_weights(cells)
    # block (t, s) of the big matrix is w when s is in t − time_window … t
    lags = sparse.diags(
        [np.ones(n_slices - lag) for lag in range(time_window + 1)],
        [-lag for lag in range(time_window + 1)],
        shape=(n_slices, n_slices),
    )
    big = sparse.kron(lags, w, format="csr")
    expected = gi_star(cube.ravel(), big)  # one Gi* over every bin of the cube, one FDR
    result = space_time_gi_star(cube, w, time_window=time_window)
    np.testing.assert_allclose(result.z.ravel(), expected.z, atol=1e-12)
    np.testing.assert_allclose(result.q.ravel(), expected.q, atol=1e-12)
    np.testing.assert_array_equal(result.bin.ravel(), expected.bin)


# whole cubes -------------------------------------------------------------------------------


def test_a_cluster_that_keeps_growing_is_intensifying():
    cells = make_patch(6)
    cube = make_cube(cells, 30)
    core = np.isin(cells, list(h3.grid_disk(CENTRE, 1)))
    cube[:, core] += np.linspace(8, 40, 30)[:, None]
    result = emerging_hotspots(cube, h3_weights(cells))
    centre = int(np.flatnonzero(cells == CENTRE)[0])
    assert result.category[centre] == "intensifying hot spot"
    assert result.mk_z[centre] > 0 and result.share_hot_slices[centre] >= 0.9
    far = ~np.isin(cells, list(h3.grid_disk(CENTRE, 3)))
    assert not result.spot[far].eq("hot").any()


@pytest.mark.parametrize("weeks, expected", [(1, "new hot spot"), (4, "consecutive hot spot")])
def test_a_cluster_that_appears_at_the_end(weeks, expected):
    cells = make_patch(6)
    cube = make_cube(cells, 26)
    cube[-weeks:, np.isin(cells, list(h3.grid_disk(CENTRE, 1)))] += 30
    result = emerging_hotspots(cube, h3_weights(cells), time_window=0)
    centre = int(np.flatnonzero(cells == CENTRE)[0])
    assert result.category[centre] == expected
    assert result.final_bin[centre] == 3


def test_noise_has_no_pattern():
    cells = make_patch(6)
    result = emerging_hotspots(make_cube(cells, 20, seed=9), h3_weights(cells))
    assert (result.category == NO_PATTERN).mean() > 0.95
    assert set(result.columns) >= {"category", "mk_z", "mk_p", "share_hot_slices"}


def test_bad_cubes_are_refused():
    cells = make_patch(1)
    w = h3_weights(cells)
    with pytest.raises(HotspotInputError, match="slices"):
        emerging_hotspots(np.ones(7), w)
    with pytest.raises(HotspotInputError, match=">= 2 slices"):
        emerging_hotspots(np.ones((1, 7)), w)
    with pytest.raises(HotspotInputError, match="weights are"):
        emerging_hotspots(np.ones((5, 6)), w)
    with pytest.raises(HotspotInputError, match="global_window"):
        emerging_hotspots(np.ones((5, 7)), w, global_window="week")  # type: ignore[arg-type]
