"""Kernel density: known answers for one point, agreement with the exact sum, bands, bad input."""

import h3.api.basic_int as h3
import numpy as np
import pandas as pd
import pytest
import shapely

from gis.kde import KdeError, default_bandwidth, density_bands, density_surface, h3_density_bands


def test_one_point_peaks_at_the_quartic_kernels_height():
    # quartic kernel K(d) = 3/(π h²) (1 - d²/h²)²: at the point, 3/(π h²) per m² times the weight
    h = 500.0
    s = density_surface(np.array([1000.0]), np.array([2000.0]), np.array([7.0]), bandwidth=h)
    expected = 7.0 * 3 / (np.pi * h**2) * 1e6  # per km²
    assert s.density.max() == pytest.approx(expected, rel=0.02)
    row, col = np.unravel_index(s.density.argmax(), s.density.shape)
    assert abs(s.xs[col] - 1000.0) <= s.cell and abs(s.ys[row] - 2000.0) <= s.cell
    # nothing beyond the bandwidth (quartic support), the whole weight inside
    far = (s.xs[None, :] - 1000.0) ** 2 + (s.ys[:, None] - 2000.0) ** 2 > (h + 2 * s.cell) ** 2
    assert s.density[far].max() < 1e-6 * expected
    assert s.integral() == pytest.approx(7.0, rel=1e-6)


@pytest.mark.parametrize("kernel", ["quartic", "gaussian"])
def test_binned_surface_agrees_with_the_exact_kernel_sum(kernel):
    rng = np.random.default_rng(3)
    x = np.r_[rng.normal(0, 400, 300), rng.normal(2500, 700, 200)]
    y = np.r_[rng.normal(0, 400, 300), rng.normal(900, 300, 200)]
    w = rng.integers(1, 5, x.size).astype(float)
    h = 350.0
    s = density_surface(x, y, w, bandwidth=h, kernel=kernel)
    gx, gy = np.meshgrid(s.xs[::7], s.ys[::7])
    d2 = (gx[..., None] - x) ** 2 + (gy[..., None] - y) ** 2
    if kernel == "quartic":
        k = np.where(d2 < h * h, 3 / (np.pi * h * h) * (1 - d2 / (h * h)) ** 2, 0.0)
    else:
        k = np.exp(-d2 / (2 * h * h)) / (2 * np.pi * h * h)
    exact = (k * w).sum(axis=-1) * 1e6
    binned = s.density[::7, ::7]
    assert np.abs(binned - exact).max() < 0.015 * exact.max()  # measured 0.7 % and 0.3 %
    assert s.integral() == pytest.approx(w.sum(), rel=0.01)


def test_default_bandwidth_follows_the_spread():
    rng = np.random.default_rng(0)
    tight = default_bandwidth(rng.normal(0, 100, 1000), rng.normal(0, 100, 1000))
    wide = default_bandwidth(rng.normal(0, 1000, 1000), rng.normal(0, 1000, 1000))
    assert 5 < tight < 100 and wide == pytest.approx(10 * tight, rel=0.2)


def test_bands_nest_without_overlap_and_hold_the_peak():
    rng = np.random.default_rng(1)
    x, y = rng.normal(0, 300, 2000), rng.normal(0, 300, 2000)
    s = density_surface(x, y, bandwidth=250)
    bands = density_bands(s, 5)
    assert list(bands.band) == [1, 2, 3, 4, 5]
    assert (bands.lower.to_numpy()[1:] == bands.upper.to_numpy()[:-1]).all()
    union = shapely.union_all(bands.geometry.to_numpy())
    assert union.area == pytest.approx(bands.area.sum(), rel=1e-6)  # no overlap
    row, col = np.unravel_index(s.density.argmax(), s.density.shape)
    peak = shapely.Point(s.xs[col], s.ys[row])
    assert bands.geometry.iloc[-1].buffer(s.cell).contains(peak)
    # the lowest band encloses the busy centre's neighbourhood, not far-away land
    assert not union.contains(shapely.Point(5000, 5000))


def test_h3_counts_give_wgs84_bands_around_the_busy_cell():
    centre = h3.latlng_to_cell(31.23, 121.47, 9)
    ring = list(h3.grid_disk(centre, 3))
    counts = pd.DataFrame({"cell": ring, "n": [50 if c == centre else 1 for c in ring]})
    bands, surface = h3_density_bands(counts, bandwidth=400, levels=4)
    assert bands.crs.to_epsg() == 4326
    top = bands.geometry.iloc[-1]
    assert (
        top.contains(shapely.Point(121.47, 31.23).buffer(0))
        or top.distance(shapely.Point(121.47, 31.23)) < 0.002
    )
    assert surface.integral() == pytest.approx(counts.n.sum(), rel=0.01)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kernel": "box"}, "kernel 'box'"),
        ({"bandwidth": 0}, "bandwidth must be positive"),
        ({"cell": -1}, "cell must be positive"),
        ({"weights": np.array([1.0, -2.0])}, "point #1 has -2.0"),
        ({"weights": np.array([0.0, 0.0])}, "no points with positive weight"),
        ({"weights": np.array([1.0])}, "1 weights for 2 points"),
    ],
)
def test_bad_input_is_named(kwargs, message):
    with pytest.raises(KdeError, match=message):
        density_surface(np.array([0.0, 1.0]), np.array([0.0, 1.0]), **kwargs)


def test_points_without_coordinates_are_refused():
    with pytest.raises(KdeError, match="1 points without finite coordinates"):
        density_surface(np.array([0.0, np.nan]), np.array([0.0, 1.0]), bandwidth=100)
    with pytest.raises(KdeError, match="no cases"):
        h3_density_bands(pd.DataFrame({"cell": [], "n": []}))


def test_default_bandwidth_on_h3_counts_is_at_least_one_and_a_half_cell_edges():
    centre = h3.latlng_to_cell(31.23, 121.47, 9)
    ring = list(h3.grid_disk(centre, 20))
    counts = pd.DataFrame({"cell": ring, "n": [1000] * len(ring)})  # many cases: small Silverman
    _, surface = h3_density_bands(counts)
    assert surface.bandwidth >= 1.5 * h3.average_hexagon_edge_length(9, "m")
