"""Re-delineating a cluster of grids: only when that does better, with up to two neighbours."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import shapely

from city import GridSize
from gis.delineate import Delineation, delineate
from gis.redraw.broken import Neighbours
from gis.redraw.inputs import RedrawInputs
from gis.redraw.reasons import Held, JoinedToImprove, Reason, cluster_of

MAX_JOIN = 2
"""Neighbours a cluster may take in when redrawing it alone does not bring it into range."""

Run = Callable[[np.ndarray], Delineation]
"""Delineate the union of the given grids (positions in the current grids)."""


@dataclass
class Clusters:
    """The grids of one round and why each must be redrawn (updated as clusters are done).

    Attributes
    ----------
    reasons
        Per grid: why it must be redrawn, None while it may stay.
    notes
        Grids that broke but are kept because no redraw did better: why.
    after, n_buildings
        Households and buildings per grid now.
    """

    current: gpd.GeoDataFrame
    reasons: list[Reason | None]
    after: np.ndarray
    n_buildings: np.ndarray
    neighbours: Neighbours
    size: GridSize
    notes: dict[int, Held] = field(default_factory=dict)

    def hold(self, members: np.ndarray) -> None:
        """Keep ``members`` after all: each remembers why it broke."""
        for i in members:
            self.notes[int(i)] = Held(self.reasons[int(i)], MAX_JOIN)  # type: ignore[arg-type]
            self.reasons[int(i)] = None

    def release(self, members: np.ndarray) -> None:
        """Undo :meth:`hold`: ``members`` must be redrawn again, for the reason they broke."""
        for i in members:
            self.reasons[int(i)] = self.notes.pop(int(i)).reason


def badness(households: np.ndarray, n_buildings: np.ndarray, size: GridSize) -> int:
    """Households outside the range, summed over grids (a lone tower block is fine)."""
    h = np.asarray(households, dtype=np.int64)
    lone = np.asarray(n_buildings) == 1
    over = np.where(lone, 0, np.clip(h - size.high, 0, None))
    return int((np.clip(size.low - h, 0, None) + over).sum())


def improving_redraw(
    state: Clusters, members: np.ndarray, run: Run
) -> tuple[np.ndarray, Delineation | None]:
    """Redraw a cluster, taking in up to ``MAX_JOIN`` neighbours, if that does better.

    "Better" means fewer households outside the range over the grids involved.
    When no attempt does better the cluster keeps its grids (a redraw never
    makes grids worse, and running it twice changes nothing the second time).
    """
    tried = [int(m) for m in members]
    best: tuple[list[int], Delineation, int] | None = None
    for _attempt in range(1 + MAX_JOIN):
        result = run(np.array(tried))
        old = badness(state.after[tried], state.n_buildings[tried], state.size)
        new = badness(result.grids.households, result.grids.n_buildings, state.size)
        if new < old and (best is None or new < best[2]):
            best = (list(tried), result, new)
        if new == 0:
            break
        border: dict[int, float] = {}
        for m in tried:
            for j, length in state.neighbours[m].items():
                if state.reasons[j] is None and j not in tried:
                    border[j] = border.get(j, 0.0) + length
        if not border:
            break
        tried.append(max(border, key=lambda j: border[j]))
    if best is None:
        state.hold(members)
        return members, None
    joined = JoinedToImprove(cluster_of(state.current.code[members]))
    for j in best[0]:
        if state.reasons[j] is None:
            state.reasons[j] = joined
    return np.array(best[0]), best[1]


def delineate_area(
    inputs: RedrawInputs,
    current: gpd.GeoDataFrame,
    members: np.ndarray,
    community: str,
    buildings: gpd.GeoDataFrame,
    *,
    polygon: shapely.Geometry | None = None,
) -> Delineation:
    """Delineate a cluster (the union of its grids) or a whole community (``polygon``)."""
    if polygon is None:
        polygon = shapely.make_valid(shapely.union_all(current.geometry.to_numpy()[members]))
    key = inputs.community_key
    area = gpd.GeoDataFrame({key: [community]}, geometry=[polygon], crs=current.crs)
    barriers = inputs.barriers
    if barriers is not None and len(barriers):
        barriers = barriers[barriers.intersects(polygon.buffer(1.0))]
    return delineate(
        buildings,
        area,
        community_key=key,
        households=inputs.households,
        barriers=barriers,
        size=inputs.grid,
    )
