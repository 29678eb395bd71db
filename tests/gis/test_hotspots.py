"""Gi* hotspots: known answers, and agreement with PySAL esda on the same weights."""

import h3.api.basic_int as h3
import numpy as np
import pytest

from gis.hotspots import fdr_threshold, gi_star, h3_weights

CENTRE = h3.latlng_to_cell(31.31, 120.63, 9)


def _patch(k: int = 6) -> np.ndarray:
    return np.array(sorted(h3.grid_disk(CENTRE, k)), dtype=np.int64)


def test_weights_are_symmetric_binary_with_self():
    cells = _patch(2)
    w = h3_weights(cells)
    assert (w != w.T).nnz == 0
    assert set(np.unique(w.data)) == {1.0}
    assert (w.diagonal() == 1).all()
    centre = int(np.flatnonzero(cells == CENTRE)[0])
    assert w[centre].sum() == 7  # itself and six touching cells


def test_a_single_hot_cell_among_cold_ones_is_a_hotspot():
    cells = _patch(6)
    rng = np.random.default_rng(0)
    values = rng.poisson(2, cells.size).astype(float)
    hot = np.isin(cells, list(h3.grid_disk(CENTRE, 1)))
    values[hot] += 40
    result = gi_star(values, h3_weights(cells))
    centre = int(np.flatnonzero(cells == CENTRE)[0])
    assert result.z[centre] > 5 and result.bin[centre] == 3
    far = ~np.isin(cells, list(h3.grid_disk(CENTRE, 3)))
    assert (result.bin[far] <= 0).all()


def test_uniform_values_have_no_hotspots():
    cells = _patch(3)
    result = gi_star(np.full(cells.size, 5.0), h3_weights(cells))
    assert (result.z == 0).all() and (result.bin == 0).all()


def test_agrees_with_esda_on_the_same_weights():
    import warnings

    from libpysal.weights import WSP

    with warnings.catch_warnings():  # esda and libpysal warn about their own internals
        warnings.simplefilter("ignore")
        from esda.getisord import G_Local

        cells = _patch(5)
        rng = np.random.default_rng(3)
        values = rng.gamma(2, 3, cells.size)
        w = h3_weights(cells)
        ours = gi_star(values, w)
        # esda takes the weights without the diagonal and adds self-weight for star=True
        off_diagonal = w.copy()
        off_diagonal.setdiag(0)
        off_diagonal.eliminate_zeros()
        wobj = WSP(off_diagonal.tocsr()).to_W(silence_warnings=True)
        theirs = G_Local(values, wobj, transform="B", star=True, permutations=0)
    np.testing.assert_allclose(ours.z.to_numpy(), theirs.Zs, rtol=1e-6, atol=1e-9)


def test_benjamini_hochberg_threshold():
    p = np.array([0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205, 0.212, 0.216])
    assert fdr_threshold(p, 0.05) == pytest.approx(0.008)
    assert fdr_threshold(np.array([0.5, 0.9]), 0.05) == -1.0


def test_the_study_area_counts_empty_cells_and_keeps_edge_cells():
    import pandas as pd
    import shapely

    from gis.heat import cells_covering, with_zeros

    area = shapely.box(120.62, 31.30, 120.64, 31.32)
    cells = cells_covering(area, 9)
    outside = h3.latlng_to_cell(31.40, 120.70, 9)
    counts = pd.DataFrame({"cell": [cells[0], outside], "n": [5, 2]})
    full = with_zeros(counts, cells)
    assert len(full) == len(cells) + 1 and full.n.sum() == 7
    assert (full.n == 0).sum() == len(cells) - 1
