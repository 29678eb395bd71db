"""Which grids a redraw must redraw, and in which connected clusters."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from city import GridSize
from gis.redraw.reasons import (
    BoundaryChanged,
    BrokenReason,
    BuildingsOutside,
    CommunityGone,
    JoinedInfeasible,
    NoGeometry,
    Reason,
    TooFew,
    TooMany,
    cluster_of,
)

BORDER_M = 1.0
"""Grids sharing less border than this (metres) are not neighbours."""
COVER_TOLERANCE = 0.005
"""Share of area by which grids may miss or overrun their community (float noise)."""

Neighbours = dict[int, dict[int, float]]
"""{grid: {neighbouring grid: length of shared border in metres}}."""


def broken_reasons(
    current: gpd.GeoDataFrame,
    communities: pd.Series,
    stale: set[str],
    counts: tuple[np.ndarray, np.ndarray, np.ndarray],
    size: GridSize,
) -> list[Reason | None]:
    """Why each grid must be redrawn (None: it may stay).

    Parameters
    ----------
    counts
        Per grid: households now, buildings, buildings outside every grid it is nearest to.
    """
    after, n_buildings, uncovered = counts
    geoms = current.geometry.to_numpy()
    before = current.households.to_numpy(dtype=float)
    only = current.community.map(current.community.value_counts()).to_numpy() == 1
    reasons: list[Reason | None] = []
    for i, community in enumerate(current.community):
        change = 0 if np.isnan(before[i]) else int(after[i] - before[i])
        why: BrokenReason | None = None
        if community not in communities.index:
            why = CommunityGone(community)
        elif community in stale:
            why = BoundaryChanged(community)
        elif geoms[i] is None or geoms[i].is_empty:
            why = NoGeometry()
        elif uncovered[i]:
            why = BuildingsOutside(int(uncovered[i]))
        elif after[i] > size.high and n_buildings[i] > 1:
            why = TooMany(int(after[i]), size.high, change)
        elif after[i] < size.low and not only[i]:
            why = TooFew(int(after[i]), size.low, change)
        reasons.append(why)
    return reasons


def stale_communities(current: gpd.GeoDataFrame, communities: pd.Series) -> set[str]:
    """Communities whose grids no longer tile them (boundary moved, grids missing)."""
    stale = set()
    for code, geoms in current.geometry.groupby(current.community):
        if code not in communities.index:
            continue
        poly = communities[code]
        union = shapely.union_all(geoms.to_numpy())
        if shapely.symmetric_difference(union, poly).area > COVER_TOLERANCE * poly.area:
            stale.add(code)
    return stale


def neighbours_of(current: gpd.GeoDataFrame) -> Neighbours:
    """Grids of one community sharing a border: {i: {j: shared length}}."""
    geoms = current.geometry.to_numpy()
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="intersects")
    same = (left < right) & (
        current.community.to_numpy()[left] == current.community.to_numpy()[right]
    )
    left, right = left[same], right[same]
    shared = shapely.length(
        shapely.intersection(shapely.boundary(geoms[left]), shapely.boundary(geoms[right]))
    )
    out: Neighbours = {i: {} for i in range(len(current))}
    for a, b, length in zip(left, right, shared, strict=True):
        if length >= BORDER_M:
            out[int(a)][int(b)] = out[int(b)][int(a)] = float(length)
    return out


def _feasible(total: int, low: int, high: int) -> bool:
    """Can ``total`` households be split into whole grids of low..high each?"""
    return total > 0 and -(-total // high) <= total // low


def make_feasible(
    current: gpd.GeoDataFrame,
    reasons: list[Reason | None],
    after: np.ndarray,
    neighbours: Neighbours,
    size: GridSize,
) -> list[Reason | None]:
    """Add neighbours to clusters whose households cannot be split into grids in range."""
    reasons = list(reasons)
    size_of_community = current.community.value_counts()
    while True:
        for members in clusters(reasons, neighbours):
            total = int(after[members].sum())
            whole = len(members) == size_of_community[current.community[members[0]]]
            if whole or size.feasible(total):
                continue
            border: dict[int, float] = {}
            for m in members:
                for j, length in neighbours[m].items():
                    if reasons[j] is None:
                        border[j] = border.get(j, 0.0) + length
            if not border:
                continue
            # prefer a neighbour that makes the union feasible, then the longest border
            best = max(border, key=lambda j: (size.feasible(total + int(after[j])), border[j]))
            reasons[best] = JoinedInfeasible(
                cluster_of(current.code[members]), total, size.low, size.high
            )
            break
        else:
            return reasons


def clusters(reasons: list[Reason | None], neighbours: Neighbours) -> list[np.ndarray]:
    """Connected groups of grids to redraw (by shared border), in order of their first grid."""
    broken = np.flatnonzero([r is not None for r in reasons])
    if broken.size == 0:
        return []
    pos = {int(b): k for k, b in enumerate(broken)}
    edges = [(pos[int(i)], pos[j]) for i in broken for j in neighbours[int(i)] if j in pos]
    rows = np.array([e[0] for e in edges], dtype=np.int64)
    cols = np.array([e[1] for e in edges], dtype=np.int64)
    graph = coo_matrix((np.ones(len(edges)), (rows, cols)), shape=(broken.size, broken.size))
    _n, label = connected_components(graph, directed=False)
    return [broken[label == k] for k in np.unique(label)]
