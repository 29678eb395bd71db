"""Gi* and emerging hot spots in parts, on a Dask cluster or in this process: the results of
:func:`gis.hotspots.gi_star` and :func:`gis.emerging.emerging_hotspots` over a whole study
area, bit for bit.

The study area's H3 cells are split into parts by an H3 parent cell (a few parents per
part). A part computes the cells of its *core*; it reads the counts of its core and of a
*halo*, the study cells within ``rings`` rings of the core (the ``k`` of
:func:`gis.hotspots.h3_weights`), so that every core cell sees the neighbourhood it has in
the whole area. What is global is computed once, outside the parts, and handed to them:

- the mean and standard deviation of all values (:class:`gis.hotspots.Moments`, from the
  exact sums of a cheap aggregate: identical to the whole array's, whatever the order);
- the Benjamini-Hochberg correction, which ranks every p-value of the area. Gi*: the
  parts return z and p of their core cells and the caller corrects them all at once, as the
  single-process path does. Emerging hot spots have one p-value per cell and slice (a year
  of weeks: 52 × the cells), so the parts keep theirs on the worker and send back only the
  p-values that can pass the test at all (``p <= 0.1``); from those the caller finds, per
  confidence level, the largest p-value that passes (:func:`fdr_p_thresholds`) and each
  part classifies its cells with them (:func:`bins_from_thresholds`): the same bins as
  ``confidence_bins(z, bh_adjusted(p))`` over the whole cube.

Integer counts make every neighbourhood sum exact, so z, p and the classes are equal to
the single-process ones, not merely close.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import h3.api.basic_int as h3
import numpy as np
import pandas as pd
from scipy import sparse

from gis.emerging import _window_sum, classify_cells
from gis.hotspots import (
    CONFIDENCE_LEVELS,
    HotspotInputError,
    Moments,
    bh_adjusted,
    confidence_bins,
    gi_z,
    two_sided_p,
)

RINGS = 1
"""Ring distance of the weights the layers use (``h3_weights(cells)``: k = 1)."""
P_CANDIDATE = 0.10 * (1 + 1e-9)
"""p-values above this cannot pass Benjamini-Hochberg at the loosest level (0.10): a hair
above it, so that rounding in ``p m / rank`` cannot drop a passing p-value."""
CountsLoader = Callable[[np.ndarray], pd.DataFrame]
"""Reads the counts of some cells: (cell, n) for Gi*, (slice, cell, n) for emerging; cells
without a row count 0. Must be picklable (a module-level function or a partial of one)."""


@dataclass(frozen=True)
class HotspotPart:
    """A part: its core cells (whose results it gives), every study cell it reads, and the
    core rows of the weights (``core × cells``: the rows of ``h3_weights`` of the whole
    area for the core cells, restricted to the columns the part holds)."""

    core: np.ndarray
    cells: np.ndarray
    weights: sparse.csr_matrix


@dataclass(frozen=True)
class PartSpaceTime:
    """Space-time Gi* of one part's core cells (slices × core), kept where it was computed."""

    cells: np.ndarray
    z: np.ndarray
    p: np.ndarray


def h3_parent(cells: np.ndarray, resolution: int) -> np.ndarray:
    """Parent of every H3 cell at ``resolution`` (vectorised ``h3.cell_to_parent``).

    An H3 index holds its resolution in bits 52-55 and one 3-bit digit per resolution
    below; a parent is the cell with its resolution set and the finer digits set to 7.
    """
    cells = np.asarray(cells, dtype=np.int64)
    unused = (1 << (3 * (15 - resolution))) - 1
    return (cells & ~np.int64(0xF << 52)) | np.int64(resolution << 52) | np.int64(unused)


def split_cells(cells: np.ndarray, n_parts: int) -> list[np.ndarray]:
    """Split study ``cells`` (unique, one resolution) into up to ``n_parts`` cores.

    A core is a run of H3 parent cells (the coarsest resolution with at least ``n_parts``
    parents), balanced by cells; cells sorted by integer value keep parents together.
    """
    cells = np.unique(np.asarray(cells, dtype=np.int64))
    if cells.size == 0:
        return []
    resolution = int((cells[0] >> 52) & 0xF)
    for coarse in range(resolution + 1):
        parents = h3_parent(cells, coarse)
        if np.unique(parents).size >= n_parts:
            break
    order = np.argsort(parents, kind="stable")
    cells, parents = cells[order], parents[order]
    starts = np.flatnonzero(np.r_[True, parents[1:] != parents[:-1]])  # first cell of a parent
    cuts = np.searchsorted(starts, np.linspace(0, cells.size, n_parts + 1)[1:-1], side="left")
    edges = np.unique(np.r_[0, starts[np.minimum(cuts, starts.size - 1)], cells.size])
    return [np.sort(cells[a:b]) for a, b in itertools.pairwise(edges) if b > a]


def with_halo(
    core: np.ndarray, study: np.ndarray, rings: int = RINGS, halo: int | None = None
) -> HotspotPart:
    """The part of ``core`` (sorted): its study cells within ``halo`` rings (default
    ``rings``; ``study`` sorted) and the binary weights of its core cells at ``rings``.

    The ring disks are drawn once, for the core cells only: they give both the halo and the
    weights' rows (a halo narrower than ``rings`` only serves to show that exact results
    need it)."""
    core = np.asarray(core, dtype=np.int64)
    flat, sizes = _disks(core, rings)
    reach = flat if halo is None or halo == rings else _disks(core, halo)[0]
    near = np.unique(np.r_[core, reach])
    cells = near[np.isin(near, study, assume_unique=True)]
    cols = np.minimum(np.searchsorted(cells, flat), max(cells.size - 1, 0))
    held = cells[cols] == flat
    rows = np.repeat(np.arange(core.size), sizes)
    weights = sparse.csr_matrix(
        (np.ones(int(held.sum())), (rows[held], cols[held])), shape=(core.size, cells.size)
    )
    return HotspotPart(core=core, cells=cells, weights=weights)


def _disks(cells: np.ndarray, rings: int) -> tuple[np.ndarray, np.ndarray]:
    """Every cell's ``grid_disk`` (itself included), flattened, and the size of each."""
    disks = [h3.grid_disk(c, rings) for c in cells.tolist()]
    sizes = np.fromiter((len(d) for d in disks), dtype=np.int64, count=len(disks))
    flat = np.fromiter(itertools.chain.from_iterable(disks), dtype=np.int64, count=int(sizes.sum()))
    return flat, sizes


def part_gi_star(
    core: np.ndarray,
    *,
    study: np.ndarray,
    load: CountsLoader,
    moments: Moments,
    rings: int = RINGS,
    halo: int | None = None,
) -> pd.DataFrame:
    """Gi* z and p of the ``core`` cells of one part (cell, n, z, p), read through ``load``.

    ``halo``: rings of neighbours read around the core (default ``rings``, what exact
    results need; fewer only to show that they do)."""
    part = with_halo(core, study, rings, halo)
    counts = load(part.cells)
    x = (
        pd.Series(counts.n.to_numpy(float), index=counts.cell.to_numpy(np.int64))
        .groupby(level=0)
        .sum()
        .reindex(part.cells, fill_value=0.0)
        .to_numpy()
    )
    w = part.weights
    row_sum = np.asarray(w.sum(axis=1)).ravel()  # binary weights: also the sum of squares
    z = gi_z(w @ x, row_sum, row_sum, mean=moments.mean, std=moments.std, n=moments.n)
    n = x[np.searchsorted(part.cells, part.core)].astype(np.int64)
    return pd.DataFrame({"cell": part.core, "n": n, "z": z, "p": two_sided_p(z)})


def combine_gi_star(parts: Sequence[pd.DataFrame], study: np.ndarray) -> pd.DataFrame:
    """Join the parts' Gi* (cell, n, z, p) in ``study`` order and correct them at once:
    the frame :func:`layers.hotspots.hotspot_cells` returns (cell, n, z, p, q, significant, bin).
    """
    frame = pd.concat(parts, ignore_index=True).sort_values("cell", ignore_index=True)
    _check_cover(frame.cell.to_numpy(), study)
    q = bh_adjusted(frame.p.to_numpy())
    bins = confidence_bins(frame.z.to_numpy(), q)
    return frame.assign(q=q, significant=q <= 0.05, bin=bins)


def part_space_time(
    core: np.ndarray,
    *,
    study: np.ndarray,
    load: CountsLoader,
    moments: Moments,
    n_slices: int,
    time_window: int = 1,
    rings: int = RINGS,
    halo: int | None = None,
) -> PartSpaceTime:
    """Space-time Gi* (as :func:`gis.emerging.space_time_gi_star`, ``global_window="cube"``)
    of the ``core`` cells of one part; counts (slice, cell, n) read through ``load``
    (``halo`` as in :func:`part_gi_star`)."""
    part = with_halo(core, study, rings, halo)
    counts = load(part.cells)
    cube = np.zeros((n_slices, part.cells.size))
    if len(counts):
        cols = np.searchsorted(part.cells, counts.cell.to_numpy(np.int64))
        np.add.at(cube, (counts.slice.to_numpy(np.int64), cols), counts.n.to_numpy(float))
    w = part.weights
    span = np.minimum(np.arange(n_slices), time_window) + 1
    row_sum = np.asarray(w.sum(axis=1)).ravel()  # binary weights: also the sum of squares
    local = _window_sum(np.asarray(w @ cube.T).T, time_window)
    weight_sum = span[:, None] * row_sum[None, :]
    z = gi_z(local, weight_sum, weight_sum, mean=moments.mean, std=moments.std, n=moments.n)
    return PartSpaceTime(cells=part.core, z=z, p=two_sided_p(z))


def candidate_p(part: PartSpaceTime) -> np.ndarray:
    """The part's p-values that could pass Benjamini-Hochberg at 0.10 (sorted)."""
    p = part.p.ravel()
    return np.sort(p[p <= P_CANDIDATE])


def fdr_p_thresholds(candidates: np.ndarray, m: int) -> dict[float, float]:
    """Per confidence level ``alpha``, the largest p-value that passes Benjamini-Hochberg
    over ``m`` p-values of which ``candidates`` are all those ``<= P_CANDIDATE`` (−1: none).

    A bin passes at ``alpha`` exactly when its p-value is at most the threshold: its
    adjusted p-value, ``min_{j >= rank} p_(j) m / j``, is ``<= alpha`` (the same
    floating-point products as :func:`gis.hotspots.bh_adjusted`: a p-value above
    ``P_CANDIDATE`` only adds terms above 0.10).
    """
    p = np.sort(np.asarray(candidates, dtype=float))
    if p.size > m:
        raise HotspotInputError(f"{p.size} candidate p-values out of {m}")
    scaled = p * m / np.arange(1, p.size + 1)
    q = np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)
    return {
        alpha: float(p[q <= alpha].max()) if (q <= alpha).any() else -1.0
        for _, alpha in CONFIDENCE_LEVELS
    }


def bins_from_thresholds(
    z: np.ndarray, p: np.ndarray, thresholds: dict[float, float]
) -> np.ndarray:
    """±3/±2/±1 where ``p`` passes the level's threshold (:func:`fdr_p_thresholds`)."""
    level = np.zeros(np.shape(p), dtype=np.int64)
    for bin_, alpha in reversed(CONFIDENCE_LEVELS):  # 90 % first, stricter levels overwrite
        level[p <= thresholds[alpha]] = bin_
    return level * np.sign(z).astype(np.int64)


def classify_part(
    part: PartSpaceTime,
    thresholds: dict[float, float],
    *,
    confidence: int = 1,
    trend_alpha: float = 0.05,
) -> pd.DataFrame:
    """The emerging-hotspot rows of one part's core cells (as ``emerging_hotspots`` + cell)."""
    bins = bins_from_thresholds(part.z, part.p, thresholds)
    frame = classify_cells(part.z, bins, confidence=confidence, trend_alpha=trend_alpha)
    return frame.assign(cell=part.cells)


def combine_emerging(parts: Sequence[pd.DataFrame], study: np.ndarray) -> pd.DataFrame:
    """Join the parts' rows in ``study`` order."""
    frame = pd.concat(parts, ignore_index=True).sort_values("cell", ignore_index=True)
    _check_cover(frame.cell.to_numpy(), study)
    return frame


def gi_star_in_parts(
    client: Any | None,
    study: np.ndarray,
    load: CountsLoader,
    moments: Moments,
    n_parts: int,
    *,
    rings: int = RINGS,
    halo: int | None = None,
) -> pd.DataFrame:
    """Gi* of every ``study`` cell, part by part on ``client`` (a ``distributed.Client``;
    None: one after another here); the frame of :func:`combine_gi_star`.

    ``load`` reads the counts of the cells of a part (:data:`CountsLoader`); ``moments``
    are those of the counts of all ``study`` cells; ``halo`` as in :func:`part_gi_star`.
    """
    study = np.unique(np.asarray(study, dtype=np.int64))
    cores = split_cells(study, n_parts)
    if client is None:
        results = [
            part_gi_star(c, study=study, load=load, moments=moments, rings=rings, halo=halo)
            for c in cores
        ]
    else:
        shared = client.scatter(study, broadcast=True)
        futures = client.map(
            part_gi_star,
            cores,
            study=shared,
            load=load,
            moments=moments,
            rings=rings,
            halo=halo,
            pure=False,
        )
        results = client.gather(futures)
    return combine_gi_star(results, study)


def emerging_in_parts(
    client: Any | None,
    study: np.ndarray,
    load: CountsLoader,
    moments: Moments,
    n_parts: int,
    *,
    n_slices: int,
    time_window: int = 1,
    halo: int | None = None,
) -> pd.DataFrame:
    """Emerging hot spots of every ``study`` cell in parts (two passes: space-time Gi* kept
    on the workers, then the classes with the cube's FDR thresholds); the frame of
    :func:`combine_emerging`. ``moments``: of the whole (n_slices × study) cube."""
    study = np.unique(np.asarray(study, dtype=np.int64))
    cores = split_cells(study, n_parts)
    m = n_slices * study.size
    options = {"load": load, "moments": moments, "n_slices": n_slices}
    options |= {"time_window": time_window, "halo": halo}
    if client is None:
        gis = [part_space_time(c, study=study, **options) for c in cores]  # type: ignore[arg-type]
        thresholds = fdr_p_thresholds(np.concatenate([candidate_p(g) for g in gis]), m)
        return combine_emerging([classify_part(g, thresholds) for g in gis], study)
    shared = client.scatter(study, broadcast=True)
    futures = client.map(part_space_time, cores, study=shared, pure=False, **options)
    try:
        candidates = client.gather(client.map(candidate_p, futures, pure=False))
        thresholds = fdr_p_thresholds(np.concatenate(candidates), m)
        rows = client.gather(client.map(classify_part, futures, thresholds=thresholds))
    finally:
        client.cancel(futures)
    return combine_emerging(rows, study)


def frame_counts(cells: np.ndarray, *, counts: pd.DataFrame) -> pd.DataFrame:
    """A :data:`CountsLoader` over counts in memory: the rows of ``counts`` in ``cells``
    (for synthetic fields and benchmarks; ``functools.partial(frame_counts, counts=…)``)."""
    return counts[np.isin(counts.cell.to_numpy(np.int64), cells)]


def _check_cover(cells: np.ndarray, study: np.ndarray) -> None:
    if cells.size != study.size or not np.array_equal(cells, study):
        raise HotspotInputError(
            f"the parts gave {cells.size} cells for a study area of {study.size}: "
            "every cell must be in the core of exactly one part"
        )
