"""Hotspots: Getis-Ord Gi* on H3 cells or grids, with a false-discovery-rate correction.

Gi* (Getis & Ord 1992; Ord & Getis 1995) compares the sum of the values in a cell's
neighbourhood, the cell itself included, with what the whole study area would give
there; the statistic is a z-score. Significance uses the normal approximation,
two-sided. With the false-discovery-rate correction on (the default, as ArcGIS's
"Apply False Discovery Rate (FDR) Correction"), a cell gets the confidence bin
±3 / ±2 / ±1 (99 / 95 / 90 %) only when its p-value passes the Benjamini-Hochberg
step-up test at 0.01 / 0.05 / 0.10 over all cells; 0 otherwise.

Everything is a sparse matrix product: no Python loop runs per cell in :func:`gi_star`.
See ``docs/analytics.md`` for the formulas.
"""

from __future__ import annotations

import itertools
import math
from fractions import Fraction
from typing import NamedTuple

import h3.api.basic_int as h3
import numpy as np
import pandas as pd
import shapely
from scipy import sparse
from scipy.spatial import cKDTree
from scipy.stats import norm

from gis.errors import GridGovError

CONFIDENCE_LEVELS = ((3, 0.01), (2, 0.05), (1, 0.10))
"""(bin, alpha) pairs: 99 %, 95 % and 90 % confidence."""

GI_STAR_COLUMNS = ("z", "p", "q", "significant", "bin")

EXACT_SUM_LIMIT = 2**53
"""Integer sums below this are exact in float64 and in int64 alike."""


class HotspotInputError(GridGovError, ValueError):
    """Inputs that make Gi* meaningless (too few cells, mismatched shapes, bad weights)."""

    code = "bad_hotspot_input"
    kind = "bad_input"


class GiStarResult(pd.DataFrame):
    """Gi* per cell, one row per cell in the order of the weights.

    Columns
    -------
    z : float
        Gi* z-score (positive: values higher than expected around the cell).
    p : float
        Two-sided p-value from the normal approximation.
    q : float
        Benjamini-Hochberg adjusted p-value (the smallest FDR at which the cell is
        significant); equal to ``p`` when the FDR correction is off.
    significant : bool
        ``q <= alpha_fdr``.
    bin : int
        −3 … 3: cold/hot spot at 99/95/90 % confidence, 0 not significant.

    Notes
    -----
    A plain :class:`pandas.DataFrame` in every other respect (``pd.concat`` with
    other frames works as usual); the name documents what :func:`gi_star` returns.
    """

    @property
    def _constructor(self) -> type[pd.DataFrame]:
        return GiStarResult


class Moments(NamedTuple):
    """The study area's mean, population standard deviation and number of values."""

    mean: float
    std: float
    n: int


def global_moments(values: np.ndarray) -> Moments:
    """Mean and population standard deviation of ``values``, exactly rounded for counts.

    Integer values (case counts) go through :func:`moments_from_sums`, so that a caller
    holding only the sums (a cheap aggregate over a whole province) gets bit for bit the
    mean and standard deviation of the whole array; other values use numpy's.
    """
    x = np.asarray(values, dtype=float).ravel()
    whole = x.size > 0 and bool(np.all(x == np.round(x)))
    if whole and float(np.abs(x).max()) ** 2 * x.size < EXACT_SUM_LIMIT:
        ints = x.astype(np.int64)
        return moments_from_sums(int(ints.sum()), int((ints * ints).sum()), x.size)
    return Moments(float(x.mean()), float(x.std()), int(x.size))


def moments_from_sums(total: int, total_sq: int, n: int) -> Moments:
    """:class:`Moments` of ``n`` integers from their sum and sum of squares (exact arithmetic,
    then one rounding each: the result does not depend on the order of the values)."""
    if n <= 0:
        raise HotspotInputError(f"moments of {n} values")
    variance = Fraction(n * total_sq - total * total, n * n)
    return Moments(total / n, math.sqrt(max(float(variance), 0.0)), n)


def h3_weights(cells: np.ndarray, k: int = 1, *, self_weight: bool = True) -> sparse.csr_matrix:
    """Binary contiguity of H3 cells: 1 between cells at most ``k`` rings apart.

    Parameters
    ----------
    cells
        Unique H3 cells as integers (``h3.api.basic_int``), all of one resolution.
    k
        Ring distance that counts as neighbouring (1: the six touching cells).
    self_weight
        Put 1 on the diagonal (each cell is its own neighbour: the "star" of Gi*).

    Returns
    -------
    scipy.sparse.csr_matrix
        ``n × n`` symmetric binary weights, in the order of ``cells``.

    Raises
    ------
    HotspotInputError
        If cells repeat, mix resolutions or ``k`` is negative.
    """
    cells = np.asarray(cells, dtype=np.int64)
    if k < 0:
        raise HotspotInputError(f"h3_weights: k must be >= 0, got {k}")
    index = pd.Index(cells)
    if index.has_duplicates:
        raise HotspotInputError("h3_weights: cells must be unique")
    if np.unique((cells >> 52) & 0xF).size > 1:  # the resolution sits in bits 52-55
        raise HotspotInputError("h3_weights: cells mix H3 resolutions")
    disks = [h3.grid_disk(int(c), k) for c in cells.tolist()]
    sizes = np.fromiter((len(d) for d in disks), dtype=np.int64, count=len(disks))
    flat = np.fromiter(
        itertools.chain.from_iterable(disks), dtype=np.uint64, count=int(sizes.sum())
    )
    cols = index.get_indexer(flat.astype(np.int64))
    rows = np.repeat(np.arange(cells.size), sizes)
    keep = cols >= 0
    if not self_weight:
        keep &= cols != rows
    return _binary(rows[keep], cols[keep], cells.size)


def contiguity_weights(geoms: np.ndarray, *, self_weight: bool = True) -> sparse.csr_matrix:
    """Queen contiguity of polygons (grids): 1 between polygons sharing a point.

    Parameters
    ----------
    geoms
        Array of shapely (Multi)Polygons, e.g. the grids of a street (any CRS).
    self_weight
        Put 1 on the diagonal (the "star" of Gi*).

    Returns
    -------
    scipy.sparse.csr_matrix
        ``n × n`` symmetric binary weights, in the order of ``geoms``.
    """
    geoms = np.asarray(geoms, dtype=object)
    if geoms.size == 0:
        return sparse.csr_matrix((0, 0))
    tree = shapely.STRtree(geoms)
    rows, cols = tree.query(geoms, predicate="intersects")
    keep = np.ones(rows.size, dtype=bool) if self_weight else rows != cols
    return _binary(rows[keep], cols[keep], geoms.size)


def distance_band_weights(
    xy: np.ndarray, radius_m: float, *, self_weight: bool = True
) -> sparse.csr_matrix:
    """Fixed distance band: 1 between points at most ``radius_m`` apart.

    Parameters
    ----------
    xy
        ``n × 2`` coordinates in metres (a projected CRS), e.g. cell or grid centroids.
    radius_m
        Neighbourhood radius in metres (ArcGIS's "Distance Band").
    self_weight
        Put 1 on the diagonal (the "star" of Gi*).

    Returns
    -------
    scipy.sparse.csr_matrix
        ``n × n`` symmetric binary weights.
    """
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    pairs = cKDTree(xy).query_pairs(radius_m, output_type="ndarray")
    rows = np.concatenate([pairs[:, 0], pairs[:, 1]])
    cols = np.concatenate([pairs[:, 1], pairs[:, 0]])
    if self_weight:
        rows = np.concatenate([rows, np.arange(len(xy))])
        cols = np.concatenate([cols, np.arange(len(xy))])
    return _binary(rows, cols, len(xy))


def gi_star(
    values: np.ndarray,
    weights: sparse.spmatrix | sparse.sparray,
    *,
    alpha_fdr: float = 0.05,
    fdr: bool = True,
    moments: Moments | None = None,
) -> GiStarResult:
    """Gi* z-score, p-value and FDR-corrected confidence bin of every cell.

    Parameters
    ----------
    values
        One value per cell (e.g. case counts), in the order of ``weights``.
    weights
        ``n × n`` non-negative spatial weights with each cell's own weight on the
        diagonal (see :func:`h3_weights`); binary weights are the usual choice.
    alpha_fdr
        False discovery rate for the ``significant`` flag.
    fdr
        Apply the Benjamini-Hochberg correction to ``q``, ``significant`` and ``bin``
        (ArcGIS's option); without it they use the raw p-values.
    moments
        The study area's :class:`Moments` when ``values`` are only part of it (default:
        :func:`global_moments` of ``values``).

    Returns
    -------
    GiStarResult
        Columns ``z``, ``p``, ``q``, ``significant``, ``bin``; one row per cell.

    Raises
    ------
    HotspotInputError
        If shapes disagree, fewer than 3 cells, values are not finite, or a
        cell has no self-weight.
    """
    x = np.asarray(values, dtype=float).ravel()
    w = _checked_weights(weights, x.size)
    if not np.isfinite(x).all():
        raise HotspotInputError("gi_star: values must be finite (use 0 for empty cells)")
    row_sum = np.asarray(w.sum(axis=1)).ravel()
    row_sq_sum = np.asarray(w.multiply(w).sum(axis=1)).ravel()
    m = moments or global_moments(x)
    z = gi_z(w @ x, row_sum, row_sq_sum, mean=m.mean, std=m.std, n=m.n)
    p = two_sided_p(z)
    q = bh_adjusted(p) if fdr else p
    return GiStarResult(
        {"z": z, "p": p, "q": q, "significant": q <= alpha_fdr, "bin": confidence_bins(z, q)}
    )


def gi_z(
    local_sum: np.ndarray,
    weight_sum: np.ndarray,
    weight_sq_sum: np.ndarray,
    *,
    mean: float | np.ndarray,
    std: float | np.ndarray,
    n: int | np.ndarray,
) -> np.ndarray:
    """The Gi* z-score from its ingredients (shared with the space-time version).

    ``z = (Σ_j w_ij x_j − x̄ Σ_j w_ij) / (S √((n Σ_j w_ij² − (Σ_j w_ij)²) / (n − 1)))``
    with ``S`` the population standard deviation of the ``n`` values. Cells whose
    denominator is 0 (constant values, or a neighbourhood that is the whole area)
    get ``z = 0``.
    """
    numerator = local_sum - mean * weight_sum
    spread = np.maximum(n * weight_sq_sum - weight_sum**2, 0.0) / (np.asarray(n) - 1)
    denominator = std * np.sqrt(spread)
    # relative tolerance: a constant field gives a std of rounding noise, not 0
    tiny = denominator <= 1e-12 * np.maximum(np.abs(mean) * weight_sum, 1e-300)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(tiny, 0.0, numerator / np.where(tiny, 1.0, denominator))


def two_sided_p(z: np.ndarray) -> np.ndarray:
    """Two-sided p-value of standard-normal z-scores."""
    return 2.0 * norm.sf(np.abs(z))


def bh_adjusted(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values) over all of ``p``.

    A p-value passes the BH step-up test at level ``alpha`` exactly when its
    adjusted value is ``<= alpha``; the same as
    ``scipy.stats.false_discovery_control(p, method="bh")``.
    """
    p = np.asarray(p, dtype=float)
    m = p.size
    if m == 0:
        return p.copy()
    order = np.argsort(p, kind="stable")
    scaled = p[order] * m / np.arange(1, m + 1)
    monotone = np.minimum.accumulate(scaled[::-1])[::-1]
    q = np.empty(m)
    q[order] = np.minimum(monotone, 1.0)
    return q


def fdr_threshold(p: np.ndarray, alpha: float) -> float:
    """Largest p-value declared significant by Benjamini-Hochberg at ``alpha`` (−1: none)."""
    ordered = np.sort(np.asarray(p, dtype=float))
    m = ordered.size
    passing = ordered <= alpha * np.arange(1, m + 1) / m
    return float(ordered[passing].max()) if passing.any() else -1.0


def confidence_bins(z: np.ndarray, q: np.ndarray) -> np.ndarray:
    """±3/±2/±1 where (adjusted) p-values ``q`` are <= 0.01/0.05/0.10; 0 otherwise."""
    q = np.asarray(q, dtype=float)
    level = np.zeros(q.shape, dtype=np.int64)
    for bin_, alpha in reversed(CONFIDENCE_LEVELS):  # 90 % first, stricter levels overwrite
        level[q <= alpha] = bin_
    return level * np.sign(z).astype(np.int64)


def _checked_weights(weights: sparse.spmatrix | sparse.sparray, n: int) -> sparse.csr_matrix:
    w = sparse.csr_matrix(weights, dtype=float)
    if w.shape != (n, n):
        raise HotspotInputError(f"gi_star: weights are {w.shape}, values have {n} cells")
    if n < 3:
        raise HotspotInputError(f"gi_star: needs at least 3 cells, got {n}")
    if w.nnz and w.data.min() < 0:
        raise HotspotInputError("gi_star: weights must be non-negative")
    missing = np.flatnonzero(w.diagonal() <= 0)
    if missing.size:
        raise HotspotInputError(
            f"gi_star: {missing.size} cells (first: row {missing[0]}) have no self-weight; "
            "Gi* counts each cell as its own neighbour: build weights with self_weight=True "
            "or add the identity matrix"
        )
    return w


def _binary(rows: np.ndarray, cols: np.ndarray, n: int) -> sparse.csr_matrix:
    w = sparse.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(n, n))
    w.data[:] = 1.0  # duplicate pairs sum on construction; weights stay binary
    return w
