"""Gi* and emerging hot spots in parts with a halo (:mod:`gis.hotspots_dask`) equal the
whole-area results bit for bit, on a synthetic field whose hotspots straddle the parts;
without the halo they do not."""

from __future__ import annotations

from functools import partial

import h3.api.basic_int as h3
import numpy as np
import pandas as pd
import pytest

from gis.emerging import emerging_hotspots
from gis.hotspots import gi_star, global_moments, h3_weights
from gis.hotspots_dask import (
    emerging_in_parts,
    fdr_p_thresholds,
    frame_counts,
    gi_star_in_parts,
    h3_parent,
    split_cells,
)

CENTRE = h3.latlng_to_cell(31.30, 120.60, 9)
N_PARTS = 8


def boundary_field(weeks: int = 1, seed: int = 3) -> tuple[np.ndarray, pd.DataFrame]:
    """Study cells (a disk of ~4,600 r9 cells split into streets/parts) and weekly counts
    (slice, cell, n): a Poisson background plus growing bumps centred on cells at the edge
    between two parts, so that every hotspot crosses a part boundary."""
    study = np.sort(np.array(list(h3.grid_disk(CENTRE, 39)), dtype=np.int64))
    owner = np.zeros(study.size, dtype=np.int64)
    for i, core in enumerate(split_cells(study, N_PARTS)):
        owner[np.isin(study, core)] = i
    of = dict(zip(study.tolist(), owner.tolist(), strict=True))
    edge = [c for c in study.tolist() if {of.get(n, of[c]) for n in h3.grid_disk(c, 1)} != {of[c]}]
    rng = np.random.default_rng(seed)
    centres = rng.choice(edge, size=6, replace=False)
    rows = []
    for t in range(weeks):
        n = rng.poisson(0.4, study.size)
        for k, centre in enumerate(centres):
            bump = np.isin(study, list(h3.grid_disk(int(centre), 2)))
            n[bump] += rng.poisson(1 + t * (k % 3) / 2, int(bump.sum()))
        rows.append(pd.DataFrame({"slice": t, "cell": study, "n": n})[n > 0])
    return study, pd.concat(rows, ignore_index=True)


def test_h3_parent_is_h3s():
    cells = np.array(list(h3.grid_disk(CENTRE, 5)), dtype=np.int64)
    for res in (0, 5, 7, 8, 9):
        expected = [h3.cell_to_parent(int(c), res) for c in cells]
        np.testing.assert_array_equal(h3_parent(cells, res), expected)


def test_split_cells_gives_disjoint_cores_covering_the_area():
    study, _ = boundary_field()
    cores = split_cells(study, N_PARTS)
    assert len(cores) == N_PARTS
    np.testing.assert_array_equal(np.sort(np.concatenate(cores)), study)
    assert max(map(len, cores)) < 2.5 * study.size / N_PARTS


@pytest.mark.parametrize("halo", [None, 0])
def test_gi_star_in_parts_equals_the_whole_area_only_with_the_halo(halo):
    study, counts = boundary_field()
    x = counts.set_index("cell").n.reindex(study, fill_value=0).to_numpy()
    whole = gi_star(x, h3_weights(study))
    hot = study[whole.bin.to_numpy() > 0]
    cores = split_cells(study, N_PARTS)
    assert sum(np.isin(hot, c).any() for c in cores) >= 3  # hot cells in several parts
    load = partial(frame_counts, counts=counts[["cell", "n"]])
    parts = gi_star_in_parts(None, study, load, global_moments(x), N_PARTS, halo=halo)
    np.testing.assert_array_equal(parts.cell, study)
    np.testing.assert_array_equal(parts.n, x)
    same = [np.array_equal(parts[c], whole[c]) for c in ("z", "p", "q", "bin")]
    assert all(same) if halo is None else not any(same)


@pytest.mark.parametrize("halo", [None, 0])
def test_emerging_in_parts_equals_the_whole_cube_only_with_the_halo(halo):
    weeks = 10
    study, counts = boundary_field(weeks=weeks)
    cube = np.zeros((weeks, study.size))
    cube[counts.slice, np.searchsorted(study, counts.cell)] = counts.n
    whole = emerging_hotspots(cube, h3_weights(study)).assign(cell=study)
    assert (whole.category != "no pattern").sum() > 50
    load = partial(frame_counts, counts=counts)
    parts = emerging_in_parts(
        None, study, load, global_moments(cube), N_PARTS, n_slices=weeks, halo=halo
    )
    if halo is None:
        pd.testing.assert_frame_equal(parts, whole, check_exact=True)
    else:
        assert (parts.category != whole.category).sum() > 10


def test_fdr_thresholds_give_the_bins_of_the_adjusted_p_values():
    from gis.hotspots import bh_adjusted

    p = np.random.default_rng(1).beta(0.3, 2.0, 20_000)
    q = bh_adjusted(p)
    thresholds = fdr_p_thresholds(p[p <= 0.1000001], p.size)
    for alpha, t in thresholds.items():
        np.testing.assert_array_equal(p <= t, q <= alpha)
