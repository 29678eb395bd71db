"""Quality report of a grid delineation: balance, shape, contiguity, barriers, coverage."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from city import GridSize

BARRIER_TOLERANCE_M = 0.5
"""A barrier counts as crossing a grid when more than 1 m of it runs deeper than this inside."""


@dataclass
class QualityReport:
    """Figures that say whether a delineation is fit to hand to grid workers.

    ``share_in_range`` is the share of grids whose households lie in ``[low, high]``;
    compactness is Polsby-Popper ``4πA / P²`` (1 for a disc, ~0.785 for a square);
    ``not_contiguous`` counts grids made of more than one polygon; ``barrier_crossings``
    counts grids whose interior a barrier line runs through (None without barriers);
    ``buildings_not_covered`` counts kept buildings outside their grid or without one
    (must be 0); ``max_area_gap`` is the largest ``|Σ grid area − community area| /
    community area`` over communities (gaps or overlaps, ≈ 0 when grids tile).
    """

    n_grids: int
    n_communities: int
    low: int
    high: int
    households_total: int
    households_assigned: int
    households_min: int
    households_median: float
    households_max: int
    n_in_range: int
    share_in_range: float
    compactness_min: float
    compactness_median: float
    not_contiguous: int
    not_contiguous_in_multipart_communities: int
    barrier_crossings: int | None
    grids_per_community_min: int
    grids_per_community_median: float
    grids_per_community_max: int
    buildings_assigned: int
    buildings_not_covered: int
    oversized: int
    max_area_gap: float
    small_communities: list = field(default_factory=list)
    set_aside: dict = field(default_factory=dict)
    n_input: int | None = None
    notes: list = field(default_factory=list)

    def to_dict(self) -> dict:
        """Plain, JSON-serialisable dictionary."""
        d = asdict(self)
        d["small_communities"] = [_plain(v) for v in self.small_communities]
        return {k: _plain(v) for k, v in d.items()}

    def to_text(self) -> str:
        """Human-readable report (Chinese and English labels)."""
        pct = f"{self.share_in_range:.1%}"
        lines = [
            f"网格 Grids: {self.n_grids} in {self.n_communities} communities",
            f"户数 Households per grid: min {self.households_min}, median "
            f"{self.households_median:g}, max {self.households_max}; "
            f"in {self.low}–{self.high}: {self.n_in_range} ({pct})",
            f"户数合计 Households: {self.households_total} in grids, "
            f"{self.households_assigned} in assigned buildings",
            f"紧凑度 Compactness (Polsby-Popper): min {self.compactness_min:.3f}, "
            f"median {self.compactness_median:.3f}",
            f"连通 Not contiguous (multi-part grids): {self.not_contiguous}"
            + (
                f" (of which {self.not_contiguous_in_multipart_communities} in communities "
                "that are themselves multi-part, e.g. islands)"
                if self.not_contiguous_in_multipart_communities
                else ""
            ),
            "跨越障碍 Barrier crossings: "
            + (
                "no barriers given"
                if self.barrier_crossings is None
                else str(self.barrier_crossings)
            ),
            f"每社区网格 Grids per community: min {self.grids_per_community_min}, median "
            f"{self.grids_per_community_median:g}, max {self.grids_per_community_max}",
            f"覆盖 Buildings assigned: {self.buildings_assigned}; not covered: "
            f"{self.buildings_not_covered}"
            + ("" if self.buildings_not_covered == 0 else "  <-- MUST BE 0"),
            f"铺满 Largest area gap/overlap in a community: {self.max_area_gap:.2e} of its area",
            f"超大楼 Oversized buildings (own grid, > {self.high} households): {self.oversized}",
        ]
        if self.small_communities:
            lines.append(
                f"小社区 Communities under {self.low} households (one grid each): "
                + ", ".join(str(c) for c in self.small_communities[:20])
                + (" …" if len(self.small_communities) > 20 else "")
            )
        total_aside = sum(self.set_aside.values())
        head = f"搁置 Set aside: {total_aside}"
        if self.n_input is not None:
            head += f" of {self.n_input} input rows"
        lines.append(head)
        for kind, n in sorted(self.set_aside.items()):
            lines.append(f"  - {kind}: {n}")
        for note in self.notes:
            lines.append(f"注意 Note: {note}")
        return "\n".join(lines)


def quality_report(  # noqa: PLR0913 (the inputs of the measure, options keyword-only)
    grids: gpd.GeoDataFrame,
    buildings_assigned: gpd.GeoDataFrame,
    communities: gpd.GeoDataFrame | None,
    barriers: gpd.GeoSeries | None,
    size: GridSize,
    *,
    community_key: str | None = None,
    set_aside: pd.DataFrame | None = None,
    notes: list[str] | None = None,
    n_input: int | None = None,
) -> QualityReport:
    """Measure a delineation.

    Parameters
    ----------
    grids
        ``community``, ``households``, ``geometry`` (and optionally ``oversized``).
    buildings_assigned
        Kept buildings: point ``geometry``, ``households`` and ``grid`` (row position in
        ``grids``, -1 when none).
    communities
        Community polygons keyed by ``community_key`` (default: a ``community`` or
        ``code`` column), matching ``grids["community"]``; None skips the area check.
    barriers
        Barrier lines or None.
    size
        Households per grid: the allowed range ``size.low..size.high`` is measured.
    set_aside
        Rows set aside, with a ``kind`` (or ``reason``) column to count by.

    Notes
    -----
    All geometry must share one projected CRS in metres.
    """
    low, high = size.low, size.high
    geoms = np.asarray(grids.geometry.to_numpy(), dtype=object)
    hh = grids["households"].to_numpy(dtype=np.int64)
    in_range = (hh >= low) & (hh <= high)
    area = shapely.area(geoms)
    perim = shapely.length(geoms)
    pp = np.where(perim > 0, 4 * np.pi * area / np.maximum(perim, 1e-12) ** 2, 0.0)
    per_comm = grids.groupby("community", sort=False).size()
    comm_hh = grids.groupby("community", sort=False)["households"].sum()

    bgrid = buildings_assigned["grid"].to_numpy(dtype=np.int64)
    bpts = np.asarray(buildings_assigned.geometry.to_numpy(), dtype=object)
    has = bgrid >= 0
    covered = np.zeros(len(bgrid), dtype=bool)
    if has.any():
        shapely.prepare(geoms)
        covered[has] = shapely.intersects(geoms[bgrid[has]], bpts[has])
    multi = shapely.get_num_geometries(geoms) > 1
    counts_by = "kind" if set_aside is not None and "kind" in set_aside else "reason"
    aside = (
        {}
        if set_aside is None or len(set_aside) == 0
        else {str(k): int(v) for k, v in set_aside[counts_by].value_counts().items()}
    )
    return QualityReport(
        n_grids=len(grids),
        n_communities=int(per_comm.size),
        low=low,
        high=high,
        households_total=int(hh.sum()),
        households_assigned=int(buildings_assigned["households"].sum()),
        households_min=int(hh.min()) if len(hh) else 0,
        households_median=float(np.median(hh)) if len(hh) else 0.0,
        households_max=int(hh.max()) if len(hh) else 0,
        n_in_range=int(in_range.sum()),
        share_in_range=float(in_range.mean()) if len(hh) else 0.0,
        compactness_min=float(pp.min()) if len(pp) else 0.0,
        compactness_median=float(np.median(pp)) if len(pp) else 0.0,
        not_contiguous=int(multi.sum()),
        not_contiguous_in_multipart_communities=_in_multipart(
            grids, multi, communities, community_key
        ),
        barrier_crossings=None if barriers is None else barrier_crossings(geoms, barriers),
        grids_per_community_min=int(per_comm.min()) if len(per_comm) else 0,
        grids_per_community_median=float(per_comm.median()) if len(per_comm) else 0.0,
        grids_per_community_max=int(per_comm.max()) if len(per_comm) else 0,
        buildings_assigned=int(has.sum()),
        buildings_not_covered=int((~covered).sum()),
        oversized=int(grids["oversized"].sum()) if "oversized" in grids else 0,
        max_area_gap=(
            0.0 if communities is None else _max_area_gap(grids, area, communities, community_key)
        ),
        small_communities=[k for k, v in comm_hh.items() if v < low],
        set_aside=aside,
        n_input=n_input,
        notes=list(notes or []),
    )


def barrier_crossings(grid_geoms, barriers) -> int:
    """Number of grids whose interior a barrier line runs through (more than 1 m of it)."""
    lines = np.asarray(
        barriers.to_numpy() if hasattr(barriers, "to_numpy") else barriers, dtype=object
    )
    lines = shapely.get_parts(lines[~shapely.is_missing(lines)])
    lines = np.where(shapely.get_dimensions(lines) == 2, shapely.boundary(lines), lines)
    if not len(lines) or not len(grid_geoms):
        return 0
    tree = shapely.STRtree(lines)
    gi, li = tree.query(grid_geoms, predicate="intersects")
    if not len(gi):
        return 0
    cand = np.unique(gi)
    inner = np.empty(len(grid_geoms), dtype=object)
    inner[cand] = shapely.buffer(grid_geoms[cand], -BARRIER_TOLERANCE_M)
    run = shapely.length(shapely.intersection(inner[gi], lines[li]))
    per_grid = np.bincount(gi, weights=run, minlength=len(grid_geoms))
    return int((per_grid > 1.0).sum())


def _max_area_gap(grids, area, communities, key) -> float:
    if key is None:
        key = "community" if "community" in communities.columns else "code"
    grid_area = pd.Series(area).groupby(grids["community"].to_numpy()).sum()
    comm_area = pd.Series(
        shapely.area(np.asarray(communities.geometry.to_numpy(), dtype=object)),
        index=communities[key].to_numpy(),
    )
    joined = comm_area.to_frame("c").join(grid_area.rename("g")).fillna(0.0)
    gap = (joined["g"] - joined["c"]).abs() / joined["c"].where(joined["c"] > 0, 1.0)
    return float(gap.max()) if len(gap) else 0.0


def _in_multipart(grids, multi, communities, key) -> int:
    if communities is None or not multi.any():
        return 0
    if key is None:
        key = "community" if "community" in communities.columns else "code"
    geoms = np.asarray(communities.geometry.to_numpy(), dtype=object)
    parted = set(communities[key].to_numpy()[shapely.get_num_geometries(geoms) > 1])
    return int(grids["community"].isin(parted).to_numpy()[multi].sum())


def _plain(v):
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return v
