"""Emerging hotspots on a space-time cube: Gi* per time slice, Mann-Kendall trend per cell.

Follows the categories of ArcGIS Emerging Hot Spot Analysis, for hot spots
(cells never significantly hot get "no pattern"; cold-spot categories are not
reported here). With ``n`` slices, "most" means at least 90 % of them:

- new: hot in the final slice only;
- consecutive: one uninterrupted run of hot slices ending in the final slice, the
  run shorter than 90 % of the slices, and no hot slice before it;
- intensifying / persistent / diminishing: hot in ≥ 90 % of the slices including the
  final one, with a significant upward / no significant / a significant downward
  Mann-Kendall trend of the cell's Gi* z-scores;
- sporadic: hot in the final slice, on-and-off before, < 90 % hot, never cold;
- oscillating: hot in the final slice, cold in some earlier slice, < 90 % hot;
- historical: not hot in the final slice but hot in ≥ 90 % of the slices;
- no pattern: none of the above.

"Hot" means a positive Gi* bin (significant at 90 % or more after FDR in that slice).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.stats import norm

from gis.hotspots import confidence_bins, gi_star

MOST = 0.9
TREND_ALPHA = 0.05


def mann_kendall(series: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mann-Kendall trend test of each column of ``series`` (slices × cells).

    Returns
    -------
    z, p
        The normal-approximation z (continuity corrected; positive = rising) and
        the two-sided p-value per cell. Ties are not corrected for.
    """
    x = np.asarray(series, dtype=float)
    n = x.shape[0]
    i, j = np.triu_indices(n, k=1)
    s = np.sign(x[j] - x[i]).sum(axis=0)
    var = n * (n - 1) * (2 * n + 5) / 18.0
    z = np.where(s > 0, (s - 1) / np.sqrt(var), np.where(s < 0, (s + 1) / np.sqrt(var), 0.0))
    return z, 2 * norm.sf(np.abs(z))


def emerging_hotspots(counts: np.ndarray, weights: sparse.spmatrix) -> pd.DataFrame:
    """Classify every cell of a space-time cube.

    Parameters
    ----------
    counts
        Array (slices × cells), e.g. weekly case counts per H3 cell, oldest first.
    weights
        Spatial weights of the cells, self included (:func:`gis.hotspots.h3_weights`).

    Returns
    -------
    pandas.DataFrame
        Per cell: ``category``, ``trend_z``, ``trend_p``, ``hot_share`` (share of hot
        slices), ``final_bin`` (Gi* bin of the last slice).
    """
    cube = np.asarray(counts, dtype=float)
    w = sparse.csr_matrix(weights, dtype=float)
    z = np.vstack([gi_star(slice_, w).z.to_numpy() for slice_ in cube])
    p = 2 * norm.sf(np.abs(z))
    bins = np.vstack([confidence_bins(zs, ps) for zs, ps in zip(z, p, strict=True)])
    trend_z, trend_p = mann_kendall(z)
    return pd.DataFrame(
        {
            "category": _categories(bins, trend_z, trend_p),
            "trend_z": trend_z,
            "trend_p": trend_p,
            "hot_share": (bins > 0).mean(axis=0),
            "final_bin": bins[-1],
        }
    )


def _categories(bins: np.ndarray, trend_z: np.ndarray, trend_p: np.ndarray) -> np.ndarray:
    hot = bins > 0
    n = hot.shape[0]
    final = hot[-1]
    share = hot.mean(axis=0)
    ever_cold = (bins < 0).any(axis=0)
    run = _final_run_length(hot)
    hot_before_run = hot.sum(axis=0) > run
    trend = np.where(trend_p < TREND_ALPHA, np.sign(trend_z), 0)
    out = np.full(hot.shape[1], "no pattern", dtype=object)
    most = share >= MOST
    out[~final & most] = "historical"
    out[final & ~ever_cold & ~most & hot_before_run] = "sporadic"
    out[final & ever_cold & ~most] = "oscillating"
    out[final & ~hot_before_run & (run >= 2) & (run < MOST * n)] = "consecutive"
    out[final & (hot.sum(axis=0) == 1)] = "new"
    out[final & most & (trend > 0)] = "intensifying"
    out[final & most & (trend == 0)] = "persistent"
    out[final & most & (trend < 0)] = "diminishing"
    return out


def _final_run_length(hot: np.ndarray) -> np.ndarray:
    """Length of the uninterrupted run of hot slices ending in the last slice."""
    not_hot = ~hot[::-1]
    first_break = np.where(not_hot.any(axis=0), not_hot.argmax(axis=0), hot.shape[0])
    return first_break
