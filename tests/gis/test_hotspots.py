"""Gi* hotspots: hand-computed answers, FDR, weights, and agreement with PySAL esda."""

import h3.api.basic_int as h3
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import sparse
from scipy.stats import false_discovery_control

from gis.hotspots import (
    GiStarResult,
    HotspotInputError,
    bh_adjusted,
    confidence_bins,
    contiguity_weights,
    distance_band_weights,
    fdr_threshold,
    gi_star,
    h3_weights,
)

CENTRE = h3.latlng_to_cell(31.31, 120.63, 9)


def make_patch(k: int = 6, centre: int = CENTRE) -> np.ndarray:
    """H3 cells within ``k`` rings of ``centre``, sorted."""
    return np.array(sorted(h3.grid_disk(centre, k)), dtype=np.int64)


def make_square_grids(side: int = 5, size_m: float = 100.0) -> np.ndarray:
    """``side × side`` square grids, row-major."""
    return np.array(
        [
            shapely.box(c * size_m, r * size_m, (c + 1) * size_m, (r + 1) * size_m)
            for r in range(side)
            for c in range(side)
        ]
    )


def index_of(cells: np.ndarray, cell: int) -> int:
    return int(np.flatnonzero(cells == cell)[0])


# weights ---------------------------------------------------------------------------------


def test_h3_weights_are_symmetric_binary_with_self():
    cells = make_patch(3)
    w = h3_weights(cells)
    assert (w != w.T).nnz == 0
    assert set(np.unique(w.data)) == {1.0}
    assert (w.diagonal() == 1).all()
    assert w[index_of(cells, CENTRE)].sum() == 7  # itself and six touching cells
    assert h3_weights(cells, k=2)[index_of(cells, CENTRE)].sum() == 19


def test_h3_weights_without_self_and_at_the_edge():
    cells = make_patch(1)
    w = h3_weights(cells, self_weight=False)
    assert w.diagonal().sum() == 0
    assert w[index_of(cells, CENTRE)].sum() == 6
    edge = next(i for i, c in enumerate(cells) if c != CENTRE)
    assert w[edge].sum() == 3  # centre and its two ring neighbours; the rest is outside


def test_h3_weights_reject_duplicates_and_mixed_resolutions():
    with pytest.raises(HotspotInputError, match="unique"):
        h3_weights(np.array([CENTRE, CENTRE]))
    with pytest.raises(HotspotInputError, match="resolution"):
        h3_weights(np.array([CENTRE, h3.cell_to_parent(CENTRE, 8)]))


def test_queen_contiguity_of_square_grids():
    w = contiguity_weights(make_square_grids(3))
    assert w[4].sum() == 9  # the middle touches all eight, plus itself
    assert w[0].sum() == 4  # a corner: itself, two edges, one diagonal
    assert contiguity_weights(make_square_grids(3), self_weight=False)[0].sum() == 3


def test_distance_band_on_a_line():
    xy = np.array([[0.0, 0.0], [100.0, 0.0], [200.0, 0.0]])
    w = distance_band_weights(xy, radius_m=150).toarray()
    np.testing.assert_array_equal(w, [[1, 1, 0], [1, 1, 1], [0, 1, 1]])


# Gi* known answers -----------------------------------------------------------------------


def test_a_single_hot_grid_by_hand():
    # 5 × 5 grids, 100 in the middle, 0 elsewhere: mean 4, S = √(10000/25 − 16) = √384.
    # middle: Σw = 9, Σw² = 9 → z = (100 − 4·9) / (√384 · √((25·9 − 81)/24)) = 64/48
    # corner: Σw = 4, no hot neighbour → z = (0 − 16) / (√384 · √((100 − 16)/24))
    values = np.zeros(25)
    values[12] = 100
    result = gi_star(values, contiguity_weights(make_square_grids(5)))
    assert result.z[12] == pytest.approx(4 / 3)
    assert result.z[0] == pytest.approx(-16 / np.sqrt(384 * 3.5))
    assert result.z[12] == result.z.max()
    assert (result.bin == 0).all()  # one high value among 25 is not significant


def test_a_hot_cluster_among_cold_cells_is_a_99_percent_hotspot():
    cells = make_patch(6)
    values = np.random.default_rng(0).poisson(2, cells.size).astype(float)
    values[np.isin(cells, list(h3.grid_disk(CENTRE, 1)))] += 40
    result = gi_star(values, h3_weights(cells))
    centre = index_of(cells, CENTRE)
    assert result.z[centre] > 5 and result.bin[centre] == 3 and result.significant[centre]
    far = ~np.isin(cells, list(h3.grid_disk(CENTRE, 3)))
    assert (result.bin[far] <= 0).all()


def test_a_cold_cluster_gets_negative_bins():
    cells = make_patch(6)
    values = np.full(cells.size, 10.0) + np.random.default_rng(2).poisson(1, cells.size)
    values[np.isin(cells, list(h3.grid_disk(CENTRE, 2)))] = 0
    result = gi_star(values, h3_weights(cells))
    assert result.bin[index_of(cells, CENTRE)] == -3


def test_uniform_values_have_no_hotspots():
    cells = make_patch(3)
    result = gi_star(np.full(cells.size, 5.0), h3_weights(cells))
    assert (result.z == 0).all() and (result.p == 1).all() and (result.bin == 0).all()


def test_result_is_a_frame_that_joins_its_cells():
    cells = make_patch(2)
    result = gi_star(np.arange(cells.size, dtype=float), h3_weights(cells))
    assert isinstance(result, GiStarResult)
    assert list(result.columns) == ["z", "p", "q", "significant", "bin"]
    joined = pd.concat([pd.DataFrame({"cell": cells}), result], axis=1)
    assert joined.shape == (cells.size, 6)


@settings(max_examples=40, deadline=None)
@given(
    values=arrays(float, 19, elements=st.floats(-1e3, 1e3, allow_subnormal=False)),
    scale=st.floats(0.01, 100),
    shift=st.floats(-1e3, 1e3),
)
def test_z_ignores_units_and_flips_with_sign(values, scale, shift):
    w = h3_weights(make_patch(2))
    if np.ptp(values) < 1e-3:
        return  # a (near-)constant field has no pattern to keep
    z = gi_star(values, w).z.to_numpy()
    np.testing.assert_allclose(gi_star(values * scale + shift, w).z, z, atol=1e-6)
    np.testing.assert_allclose(gi_star(-values, w).z, -z, atol=1e-9)


# agreement with esda ---------------------------------------------------------------------


@pytest.mark.parametrize("weights_class", ["Graph", "W"])
def test_agrees_with_esda_on_the_same_weights(weights_class):
    from esda.getisord import G_Local
    from libpysal.graph import Graph
    from libpysal.weights import WSP

    cells = make_patch(5)
    values = np.random.default_rng(3).gamma(2, 3, cells.size)
    w = h3_weights(cells)  # diagonal 1: esda keeps it as the Gi* self-weight
    pysal_w = Graph.from_sparse(w) if weights_class == "Graph" else WSP(w).to_W()
    theirs = G_Local(values, pysal_w, transform="B", star=True, permutations=0)
    ours = gi_star(values, w)
    np.testing.assert_allclose(ours.z, theirs.Zs, rtol=1e-9, atol=1e-12)
    # esda's p_norm is one-sided (normal survival function of |z|)
    np.testing.assert_allclose(ours.p, 2 * theirs.p_norm, rtol=1e-9, atol=1e-15)


def test_fdr_decisions_agree_with_esda_and_scipy():
    from esda import fdr

    p = np.random.default_rng(5).beta(0.3, 4, 500)
    q = bh_adjusted(p)
    np.testing.assert_allclose(q, false_discovery_control(p, method="bh"))
    for alpha in (0.01, 0.05, 0.10):
        np.testing.assert_array_equal(q <= alpha, p < fdr(p, alpha))


# FDR and bins ----------------------------------------------------------------------------


def test_benjamini_hochberg_threshold_textbook():
    p = np.array([0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205, 0.212, 0.216])
    assert fdr_threshold(p, 0.05) == pytest.approx(0.008)
    assert fdr_threshold(np.array([0.5, 0.9]), 0.05) == -1.0
    assert (bh_adjusted(p)[:2] <= 0.05).all() and (bh_adjusted(p)[2:] > 0.05).all()


def test_bins_from_adjusted_p_values():
    z = np.array([3.0, 2.5, 2.0, 1.8, -3.0, -2.0, 0.5])
    q = np.array([0.005, 0.03, 0.08, 0.2, 0.001, 0.04, 0.9])
    np.testing.assert_array_equal(confidence_bins(z, q), [3, 2, 1, 0, -3, -2, 0])


def test_fdr_removes_the_hotspots_noise_would_give():
    cells = make_patch(10)
    values = np.random.default_rng(11).poisson(5, cells.size).astype(float)
    w = h3_weights(cells)
    raw = gi_star(values, w, fdr=False)
    corrected = gi_star(values, w)
    assert (raw.bin != 0).sum() > 10  # ~10 % of 331 cells pass at 90 % by chance
    assert (corrected.bin != 0).sum() < (raw.bin != 0).sum()
    assert (np.abs(corrected.bin) <= np.abs(raw.bin)).all()
    assert (corrected.q >= corrected.p).all()


def test_alpha_fdr_sets_the_significant_flag():
    cells = make_patch(6)
    values = np.random.default_rng(0).poisson(2, cells.size).astype(float)
    values[np.isin(cells, list(h3.grid_disk(CENTRE, 1)))] += 6
    w = h3_weights(cells)
    loose, strict = gi_star(values, w, alpha_fdr=0.10), gi_star(values, w, alpha_fdr=0.001)
    assert strict.significant.sum() <= loose.significant.sum()
    assert (loose.significant == (loose.q <= 0.10)).all()


# bad input -------------------------------------------------------------------------------


def test_bad_input_is_refused_with_a_reason():
    w = h3_weights(make_patch(1))
    with pytest.raises(HotspotInputError, match="weights are"):
        gi_star(np.ones(5), w)
    with pytest.raises(HotspotInputError, match="self-weight"):
        gi_star(np.ones(7), h3_weights(make_patch(1), self_weight=False))
    with pytest.raises(HotspotInputError, match="finite"):
        gi_star(np.array([1, 2, np.nan, 4, 5, 6, 7.0]), w)
    with pytest.raises(HotspotInputError, match="at least 3"):
        gi_star(np.ones(2), sparse.identity(2))
    with pytest.raises(HotspotInputError, match="non-negative"):
        gi_star(np.ones(3), -sparse.identity(3))


# the study area (gis.heat, kept from the first version of this file) ---------------------


def test_the_study_area_counts_empty_cells_and_keeps_edge_cells():
    from gis.heat import cells_covering, with_zeros

    area = shapely.box(120.62, 31.30, 120.64, 31.32)
    cells = cells_covering(area, 9)
    outside = h3.latlng_to_cell(31.40, 120.70, 9)
    counts = pd.DataFrame({"cell": [cells[0], outside], "n": [5, 2]})
    full = with_zeros(counts, cells)
    assert len(full) == len(cells) + 1 and full.n.sum() == 7
    assert (full.n == 0).sum() == len(cells) - 1
