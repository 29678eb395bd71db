"""Emerging hotspots: Mann-Kendall on known series; categories on hand-built cubes."""

import h3.api.basic_int as h3
import numpy as np
import pytest

from gis.emerging import _categories, emerging_hotspots, mann_kendall
from gis.hotspots import h3_weights

CENTRE = h3.latlng_to_cell(31.31, 120.63, 9)


def test_mann_kendall_on_monotone_and_flat_series():
    up = np.arange(20, dtype=float)[:, None]
    z, p = mann_kendall(np.hstack([up, -up, np.ones_like(up)]))
    assert z[0] > 5 and p[0] < 1e-6
    assert z[1] < -5
    assert z[2] == 0 and p[2] == pytest.approx(1.0)
    # S for 1..4 is 6, var = 4*3*13/18: the textbook value
    z4, _ = mann_kendall(np.array([[1.0], [2.0], [3.0], [4.0]]))
    assert z4[0] == pytest.approx((6 - 1) / np.sqrt(4 * 3 * 13 / 18))


@pytest.mark.parametrize(
    "pattern, expected",
    [
        ([0] * 9 + [1], "new"),
        ([0] * 6 + [1] * 4, "consecutive"),
        ([1] * 10, "persistent"),
        ([1] * 9 + [0], "historical"),
        ([1, 0, 1, 0, 0, 1, 0, 0, 1, 1], "sporadic"),
        ([1, -1, 0, 1, 0, 0, 0, 0, 0, 1], "oscillating"),
        ([0] * 10, "no pattern"),
    ],
)
def test_categories_from_bins(pattern, expected):
    bins = np.array(pattern)[:, None] * 2
    assert _categories(bins, np.zeros(1), np.ones(1))[0] == expected


def test_trend_splits_the_always_hot():
    bins = np.full((10, 3), 3)
    trend_z = np.array([3.0, 0.2, -3.0])
    trend_p = np.array([0.001, 0.8, 0.001])
    assert list(_categories(bins, trend_z, trend_p)) == [
        "intensifying",
        "persistent",
        "diminishing",
    ]


def test_a_growing_cluster_is_found_on_a_cube():
    cells = np.array(sorted(h3.grid_disk(CENTRE, 6)), dtype=np.int64)
    rng = np.random.default_rng(1)
    cube = rng.poisson(2, (26, cells.size)).astype(float)
    core = np.isin(cells, list(h3.grid_disk(CENTRE, 1)))
    cube[-6:, core] += np.linspace(10, 40, 6)[:, None]  # appears in the last six weeks
    result = emerging_hotspots(cube, h3_weights(cells))
    centre = int(np.flatnonzero(cells == CENTRE)[0])
    assert result.category[centre] in {"consecutive", "new"}
    assert (result.category[~np.isin(cells, list(h3.grid_disk(CENTRE, 3)))] != "persistent").all()
