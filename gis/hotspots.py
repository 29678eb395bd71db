"""Hotspots: Getis-Ord Gi* on H3 cells, with a false-discovery-rate correction.

Gi* (Getis & Ord 1992; Ord & Getis 1995) compares the sum of values in a cell's
neighbourhood (the cell itself included) with what the whole study area would
give; it is a z-score. Significance uses the normal approximation, two-sided,
and the Benjamini-Hochberg false-discovery-rate correction over all cells
(as ArcGIS's "Apply False Discovery Rate Correction"): a cell gets a confidence
bin ±3 / ±2 / ±1 (99 / 95 / 90 %) only when its p-value passes the FDR
threshold at that level; 0 otherwise.
"""

from __future__ import annotations

import h3.api.basic_int as h3
import numpy as np
import pandas as pd
from scipy import sparse
from scipy.stats import norm

CONFIDENCE_LEVELS = ((3, 0.01), (2, 0.05), (1, 0.10))
"""(bin, alpha): 99 %, 95 % and 90 % confidence."""


class HotspotInputError(ValueError):
    """Inputs that make Gi* meaningless (too few cells, mismatched shapes)."""


def h3_weights(cells: np.ndarray, k: int = 1) -> sparse.csr_matrix:
    """Binary contiguity of H3 cells: 1 between cells within ``k`` rings, self included.

    Parameters
    ----------
    cells
        H3 cells as integers (one resolution).
    k
        Ring distance that counts as neighbouring (1: the six touching cells).

    Returns
    -------
    scipy.sparse.csr_matrix
        ``n × n`` binary weights, diagonal 1 (the "star" in Gi*).
    """
    cells = np.asarray(cells, dtype=np.int64)
    index = pd.Index(cells)
    if index.has_duplicates:
        raise HotspotInputError("h3_weights: cells must be unique")
    rows, cols = [], []
    for i, cell in enumerate(cells):
        ring = np.fromiter(h3.grid_disk(int(cell), k), dtype=np.int64)
        j = index.get_indexer(ring)
        j = j[j >= 0]
        rows.append(np.full(j.size, i))
        cols.append(j)
    r = np.concatenate(rows) if rows else np.empty(0, dtype=int)
    c = np.concatenate(cols) if cols else np.empty(0, dtype=int)
    return sparse.csr_matrix((np.ones(r.size), (r, c)), shape=(len(cells), len(cells)))


def gi_star(values: np.ndarray, weights: sparse.spmatrix) -> pd.DataFrame:
    """Gi* z-score, p-value and FDR-corrected confidence bin of every cell.

    Parameters
    ----------
    values
        One value per cell (e.g. case counts), in the order of ``weights``.
    weights
        ``n × n`` spatial weights including each cell's own weight (see :func:`h3_weights`).

    Returns
    -------
    pandas.DataFrame
        ``z``, ``p`` (two-sided), ``bin`` in −3 … 3 (0: not significant after FDR).
    """
    x = np.asarray(values, dtype=float)
    n = x.size
    w = sparse.csr_matrix(weights, dtype=float)
    if w.shape != (n, n):
        raise HotspotInputError(f"weights are {w.shape}, values have {n} cells")
    if n < 3:
        raise HotspotInputError("Gi* needs at least 3 cells")
    mean = x.mean()
    s = np.sqrt((x**2).mean() - mean**2)
    wi = np.asarray(w.sum(axis=1)).ravel()
    s1i = np.asarray(w.multiply(w).sum(axis=1)).ravel()
    numerator = w @ x - mean * wi
    denominator = s * np.sqrt((n * s1i - wi**2) / (n - 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(denominator > 0, numerator / denominator, 0.0)
    p = 2 * norm.sf(np.abs(z))
    return pd.DataFrame({"z": z, "p": p, "bin": confidence_bins(z, p)})


def confidence_bins(z: np.ndarray, p: np.ndarray) -> np.ndarray:
    """±3/±2/±1 where ``p`` passes the Benjamini-Hochberg threshold at 99/95/90 %."""
    bins = np.zeros(len(z), dtype=int)
    for level, alpha in reversed(CONFIDENCE_LEVELS):  # 90 % first, stricter levels overwrite
        significant = p <= fdr_threshold(p, alpha)
        bins[significant] = level * np.sign(z[significant]).astype(int)
    return bins


def fdr_threshold(p: np.ndarray, alpha: float) -> float:
    """Largest p-value declared significant by Benjamini-Hochberg at ``alpha`` (−1: none)."""
    ordered = np.sort(np.asarray(p, dtype=float))
    m = ordered.size
    passing = ordered <= alpha * np.arange(1, m + 1) / m
    return float(ordered[passing].max()) if passing.any() else -1.0
