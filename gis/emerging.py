"""Emerging hot spots on a space-time cube: Gi* per bin, Mann-Kendall trend per cell.

The cube holds one value per (time slice, cell), e.g. weekly case counts per H3 cell.
Each bin gets a space-time Gi* (its spatial neighbours in its own slice and in the
``time_window`` slices before it), a Benjamini-Hochberg corrected confidence bin, and
each cell a Mann-Kendall trend test of its Gi* z-scores over time. The cell is then
classified with the categories of ArcGIS Emerging Hot Spot Analysis (new, consecutive,
intensifying, persistent, diminishing, sporadic, oscillating, historical hot or cold
spot, or no pattern). ``docs/analytics.md`` states the rules exactly, including how
overlaps between the published definitions are resolved.

All steps are vectorised over cells: no Python loop runs per cell.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.stats import norm

from gis.hotspots import (
    HotspotInputError,
    Moments,
    _checked_weights,
    bh_adjusted,
    confidence_bins,
    gi_z,
    global_moments,
    two_sided_p,
)

MOST = 0.9
"""Share of slices that makes a cell persistently hot or cold (ArcGIS: 90 %)."""

PATTERNS = (
    "new",
    "consecutive",
    "intensifying",
    "persistent",
    "diminishing",
    "sporadic",
    "oscillating",
    "historical",
)
"""Patterns in ArcGIS's table order; when two definitions match, the first wins."""

NO_PATTERN = "no pattern"

GlobalWindow = Literal["cube", "time_window"]


class MannKendall(NamedTuple):
    """Mann-Kendall trend test, one entry per cell."""

    s: np.ndarray
    """The S statistic: concordant minus discordant pairs (positive: rising)."""
    z: np.ndarray
    """Normal-approximation z with continuity and tie corrections."""
    p: np.ndarray
    """Two-sided p-value."""
    tau: np.ndarray
    """Kendall's tau-a, ``S / (n (n − 1) / 2)``."""


class SpaceTimeGi(NamedTuple):
    """Space-time Gi* of every bin, each array shaped (slices × cells)."""

    z: np.ndarray
    p: np.ndarray
    q: np.ndarray
    bin: np.ndarray


def emerging_hotspots(
    counts: np.ndarray,
    weights: sparse.spmatrix | sparse.sparray,
    *,
    time_window: int = 1,
    global_window: GlobalWindow = "cube",
    confidence: int = 1,
    trend_alpha: float = 0.05,
    fdr: bool = True,
) -> pd.DataFrame:
    """Classify every cell of a space-time cube as an emerging hot or cold spot.

    Parameters
    ----------
    counts
        Array (slices × cells), e.g. weekly case counts per H3 cell, oldest slice first,
        cells in the order of ``weights``. Empty bins must be 0, not missing.
    weights
        Spatial weights of the cells with self-weights (:func:`gis.hotspots.h3_weights`).
    time_window
        Earlier slices in each bin's neighbourhood (ArcGIS "Neighborhood Time Step",
        default 1); 0 makes the Gi* purely spatial.
    global_window
        What each bin is compared with: ``"cube"`` all bins (ArcGIS's default) or
        ``"time_window"`` the bins of its own time window; the FDR correction runs
        over the same set.
    confidence
        Smallest ``|bin|`` that counts as a significant hot/cold bin:
        1, 2, 3 for 90, 95, 99 %.
    trend_alpha
        Significance level of the Mann-Kendall trend (intensifying / diminishing).
    fdr
        Apply the Benjamini-Hochberg correction to the bins.

    Returns
    -------
    pandas.DataFrame
        One row per cell: ``category`` (e.g. ``"intensifying hot spot"`` or
        ``"no pattern"``), ``pattern``, ``spot`` (``"hot"``, ``"cold"`` or ``""``),
        ``mk_z``, ``mk_p``, ``mk_tau`` (trend of the Gi* z-scores),
        ``share_hot_slices``, ``share_cold_slices``, ``final_z``, ``final_bin``; and
        ``trend_z``, ``trend_p``, ``hot_share``, the same as ``mk_z``, ``mk_p``,
        ``share_hot_slices`` under their earlier names.

    Raises
    ------
    HotspotInputError
        If the cube is not 2-D, has fewer than 2 slices, or does not match ``weights``.
    """
    cube = _checked_cube(counts)
    gi = space_time_gi_star(
        cube, weights, time_window=time_window, global_window=global_window, fdr=fdr
    )
    return classify_cells(gi.z, gi.bin, confidence=confidence, trend_alpha=trend_alpha)


def classify_cells(
    z: np.ndarray, bins: np.ndarray, *, confidence: int = 1, trend_alpha: float = 0.05
) -> pd.DataFrame:
    """The frame of :func:`emerging_hotspots` from the Gi* z-scores and confidence bins of
    every bin (slices × cells); each cell's row depends on its own column only."""
    trend = mann_kendall(z)
    hot, cold = bins >= confidence, bins <= -confidence
    pattern, spot = classify(hot, cold, trend.z, trend.p, trend_alpha=trend_alpha)
    category = np.where(spot == "", pattern, pattern + " " + spot + " spot")
    frame = pd.DataFrame(
        {
            "category": category,
            "pattern": pattern,
            "spot": spot,
            "mk_z": trend.z,
            "mk_p": trend.p,
            "mk_tau": trend.tau,
            "share_hot_slices": hot.mean(axis=0),
            "share_cold_slices": cold.mean(axis=0),
            "final_z": z[-1],
            "final_bin": bins[-1],
        }
    )
    # names of the first version, still read by layers.hotspots.store_emerging
    return frame.assign(trend_z=frame.mk_z, trend_p=frame.mk_p, hot_share=frame.share_hot_slices)


def space_time_gi_star(
    cube: np.ndarray,
    weights: sparse.spmatrix | sparse.sparray,
    *,
    time_window: int = 1,
    global_window: GlobalWindow = "cube",
    fdr: bool = True,
    moments: Moments | None = None,
) -> SpaceTimeGi:
    """Gi* of every bin of a (slices × cells) cube with space-time neighbourhoods.

    The neighbours of bin (t, i) are cell i's spatial neighbours (self included) in
    slices ``t − time_window … t``. With ``time_window=0`` and
    ``global_window="time_window"`` each slice is exactly :func:`gis.hotspots.gi_star`.
    ``moments``: with ``global_window="cube"``, the whole cube's :class:`Moments` when
    ``cube`` holds only some of its cells (default: :func:`gis.hotspots.global_moments`).
    """
    x = _checked_cube(cube)
    n_slices, n_cells = x.shape
    if time_window < 0:
        raise HotspotInputError(f"time_window must be >= 0, got {time_window}")
    w = _checked_weights(weights, n_cells)
    span = np.minimum(np.arange(n_slices), time_window) + 1  # slices in each window
    local = _window_sum(np.asarray(w @ x.T).T, time_window)
    weight_sum = span[:, None] * np.asarray(w.sum(axis=1)).ravel()[None, :]
    weight_sq = span[:, None] * np.asarray(w.multiply(w).sum(axis=1)).ravel()[None, :]
    if global_window == "cube":
        mean, std, n = moments or global_moments(x)
    elif global_window == "time_window":
        n = (span * n_cells)[:, None]
        mean = _window_sum(x.sum(axis=1, keepdims=True), time_window) / n
        mean_sq = _window_sum((x**2).sum(axis=1, keepdims=True), time_window) / n
        std = np.sqrt(np.maximum(mean_sq - mean**2, 0.0))
    else:
        raise HotspotInputError(f"global_window must be 'cube' or 'time_window': {global_window}")
    z = gi_z(local, weight_sum, weight_sq, mean=mean, std=std, n=n)
    p = two_sided_p(z)
    q = _fdr(p, per_slice=global_window != "cube") if fdr else p
    return SpaceTimeGi(z, p, q, confidence_bins(z, q))


def mann_kendall(series: np.ndarray, *, continuity: bool = True) -> MannKendall:
    """Mann-Kendall trend test of each column of ``series`` (slices × cells).

    Parameters
    ----------
    series
        Values in time order, one column per cell (a 1-D array is one cell).
    continuity
        Apply the continuity correction (subtract ``sign S`` before dividing).

    Returns
    -------
    MannKendall
        ``s``, ``z``, ``p`` (two-sided) and ``tau`` per cell.

    Notes
    -----
    ``Var(S) = [n(n−1)(2n+5) − Σ_t t(t−1)(2t+5)] / 18`` where ``t`` runs over the sizes
    of groups of tied values; ``z = (S − sign S) / √Var(S)`` (continuity corrected),
    0 when ``S = 0`` or every value ties. Costs n/2 vector passes over all cells.
    """
    x = np.asarray(series, dtype=float)
    x = x[:, None] if x.ndim == 1 else x
    n = x.shape[0]
    s = np.zeros(x.shape[1])
    for lag in range(1, n):  # one pass per lag, each over all cells at once
        s += np.sign(x[lag:] - x[:-lag]).sum(axis=0)
    var = (n * (n - 1) * (2 * n + 5) - _tie_term(x)) / 18.0
    corrected = s - np.sign(s) if continuity else s
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(var > 0, corrected / np.sqrt(np.where(var > 0, var, 1.0)), 0.0)
    tau = s / (n * (n - 1) / 2) if n > 1 else np.zeros_like(s)
    return MannKendall(s, z, 2.0 * norm.sf(np.abs(z)), tau)


def classify(
    hot: np.ndarray,
    cold: np.ndarray,
    trend_z: np.ndarray,
    trend_p: np.ndarray,
    *,
    trend_alpha: float = 0.05,
) -> tuple[np.ndarray, np.ndarray]:
    """Pattern and spot kind of each cell from its significant hot/cold slices.

    Parameters
    ----------
    hot, cold
        Boolean (slices × cells): the bin is a significant hot / cold spot.
    trend_z, trend_p
        Mann-Kendall z and p of each cell's Gi* z-scores.
    trend_alpha
        Significance level of the trend.

    Returns
    -------
    pattern, spot
        Object arrays: a name of :data:`PATTERNS` or ``"no pattern"``; ``"hot"``,
        ``"cold"`` or ``""``. The final slice decides the family (hot if it is hot,
        cold if it is cold); historical applies only when it is neither.
    """
    rising = (trend_p < trend_alpha) & (trend_z > 0)
    falling = (trend_p < trend_alpha) & (trend_z < 0)
    hot_pattern = _family(hot, cold, rising, falling)
    cold_pattern = _family(cold, hot, falling, rising)
    pattern = np.full(hot.shape[1], NO_PATTERN, dtype=object)
    spot = np.full(hot.shape[1], "", dtype=object)
    for kind, found in (("cold", cold_pattern), ("hot", hot_pattern)):
        mask = found != NO_PATTERN
        pattern[mask], spot[mask] = found[mask], kind
    return pattern, spot


def _family(
    same: np.ndarray, other: np.ndarray, intensifying: np.ndarray, diminishing: np.ndarray
) -> np.ndarray:
    """ArcGIS's rules for one family (hot: ``same=hot``; cold: ``same=cold``)."""
    n_slices = same.shape[0]
    final = same[-1]
    count = same.sum(axis=0)
    run = _final_run_length(same)
    most = count * 10 >= MOST * 10 * n_slices  # integer-safe ">= 90 % of slices"
    rules = {
        "new": final & (count == 1),
        "consecutive": final & (run >= 2) & (count == run) & ~most,
        "intensifying": final & most & intensifying,
        "persistent": final & most & ~intensifying & ~diminishing,
        "diminishing": final & most & diminishing,
        "sporadic": final & ~most & ~other.any(axis=0),
        "oscillating": final & ~most & other[:-1].any(axis=0),
        "historical": ~final & ~other[-1] & most,
    }
    out = np.full(same.shape[1], NO_PATTERN, dtype=object)
    for name in reversed(PATTERNS):  # earlier patterns overwrite later ones: first match wins
        out[rules[name]] = name
    return out


def _final_run_length(flags: np.ndarray) -> np.ndarray:
    """Length of the uninterrupted run of True ending in the last slice, per column."""
    broken = ~flags[::-1]
    return np.where(broken.any(axis=0), broken.argmax(axis=0), flags.shape[0])


def _window_sum(a: np.ndarray, time_window: int) -> np.ndarray:
    """Sum over slices ``t − time_window … t`` along axis 0 (fewer at the start)."""
    total = np.cumsum(a, axis=0)
    out = total.copy()
    width = time_window + 1
    if width < len(a):
        out[width:] -= total[:-width]
    return out


def _tie_term(x: np.ndarray) -> np.ndarray:
    """Σ t(t−1)(2t+5) over groups of tied values, per column."""
    n, m = x.shape
    ordered = np.sort(x, axis=0)
    starts = np.vstack([np.ones((1, m), dtype=bool), ordered[1:] != ordered[:-1]])
    group = np.cumsum(starts, axis=0) - 1 + np.arange(m)[None, :] * n
    t = np.bincount(group.T.ravel(), minlength=n * m).reshape(m, n).astype(float)
    return (t * (t - 1) * (2 * t + 5)).sum(axis=1)


def _fdr(p: np.ndarray, *, per_slice: bool) -> np.ndarray:
    if not per_slice:
        return bh_adjusted(p.ravel()).reshape(p.shape)
    return np.vstack([bh_adjusted(row) for row in p])  # one pass per slice, not per cell


def _checked_cube(counts: np.ndarray) -> np.ndarray:
    cube = np.asarray(counts, dtype=float)
    if cube.ndim != 2:
        raise HotspotInputError(f"counts must be (slices × cells), got shape {cube.shape}")
    if cube.shape[0] < 2:
        raise HotspotInputError(f"an emerging-hotspot cube needs >= 2 slices, got {cube.shape[0]}")
    if not np.isfinite(cube).all():
        raise HotspotInputError("counts must be finite (use 0 for empty bins)")
    return cube
