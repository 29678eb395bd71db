"""Settle a community's grids so that a redraw right after the delineation changes nothing.

:func:`gis.redraw.propose_redraw` re-delineates every cluster of grids out of range (with
up to two neighbours) and takes the result when it has fewer households outside the range.
:func:`settle_grids` runs that same search inside the delineation, on the grids just drawn,
until it finds nothing to take: the result is then a fixed point of the redraw. It mirrors
the redraw step by step (which grids are broken, clusters by shared border, neighbours
joined to clusters whose households cannot make grids in range, the greedy choice of up to
:data:`MAX_JOIN` neighbours, the retry of declined clusters once the others are held, the
order of the grids by their codes), and re-delineates a cluster with the same function the
redraw reaches through :func:`gis.delineate.delineate` (passed in as ``redelineate``).

A cluster that is every grid of the area is not re-delineated here: that is the area itself,
already delineated by the same function.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import shapely

MAX_JOIN = 2
"""Neighbours a cluster may take in (as in :mod:`gis.redraw`)."""
BORDER_M = 1.0
"""Grids sharing less border than this (metres) are not neighbours (as in :mod:`gis.redraw`)."""
MAX_ROUNDS = 8
"""Rounds of the search; each round that changes something lowers the households out of range."""

Part = tuple[np.ndarray, object, bool]
"""(site positions, polygon, oversized) — one grid as :func:`gis.partition.partition_community`
returns it."""


def settle_grids(
    parts: list[Part],
    w: np.ndarray,
    n_buildings: np.ndarray,
    *,
    low: int,
    high: int,
    redelineate: Callable[[object, np.ndarray], list[Part]],
) -> list[Part]:
    """Parts of one community after the redraw's cluster search has nothing left to improve.

    Parameters
    ----------
    parts
        The community's grids: site positions, polygon (metres), oversized flag.
    w, n_buildings
        Households and number of buildings of each site.
    low, high
        Allowed households per grid.
    redelineate
        ``redelineate(polygon, site_positions)``: delineate the union of some grids as if
        it were a community (parts with positions into ``site_positions``).

    Returns
    -------
    list
        Parts in the same form; every site is still in exactly one part and the polygons
        still tile the community.
    """
    parts = list(parts)
    cache: dict[tuple[int, ...], tuple[list, list[Part]]] = {}
    for _round in range(MAX_ROUNDS):
        if len(parts) < 2:
            return parts
        grids = _Grids(parts, w, n_buildings, low=low, high=high, cache=cache)
        if not any(r is not None for r in grids.reasons):
            return parts
        replaced = grids.search(redelineate)
        if not replaced:
            return parts
        parts = grids.rebuild(replaced)
    return parts


class _Grids:
    """The redraw's view of a community's grids: order, counts, reasons, neighbours."""

    def __init__(self, parts, w, n_buildings, *, low, high, cache):
        self.cache = cache
        order = _code_order([p[1] for p in parts])
        self.parts = [parts[i] for i in order]
        self.low, self.high = low, high
        self.after = np.array([int(w[p[0]].sum()) for p in self.parts], dtype=np.int64)
        self.n_b = np.array([int(n_buildings[p[0]].sum()) for p in self.parts], dtype=np.int64)
        self.w, self.nb = w, n_buildings
        n = len(self.parts)
        self.reasons: list[bool | None] = [
            True if (self.after[i] > high and self.n_b[i] > 1) or self.after[i] < low else None
            for i in range(n)
        ]
        self.neighbours = _neighbours([p[1] for p in self.parts])

    def search(self, redelineate) -> list[tuple[list[int], list[Part]]]:
        """One round of the redraw; the clusters it would redraw, with their new grids."""
        self._make_feasible()
        done: list[tuple[list[int], list[Part]]] = []
        declined: list[list[int]] = []
        for members in self._clusters():
            tried, result = self._improving(members, redelineate)
            if result is None:
                declined.append(tried)
            else:
                done.append((tried, result))
        for _pass in range(2):
            retried = []
            for held in declined:
                if any(self.reasons[i] is not None for i in held):
                    continue
                for i in held:
                    self.reasons[i] = True
                tried, result = self._improving(held, redelineate)
                if result is None:
                    retried.append(tried)
                else:
                    done.append((tried, result))
            if len(retried) == len(declined):
                break
            declined = retried
        return done

    def _badness(self, households, n_b) -> int:
        h = np.asarray(households, dtype=np.int64)
        lone = np.asarray(n_b) == 1
        over = np.where(lone, 0, np.clip(h - self.high, 0, None))
        return int((np.clip(self.low - h, 0, None) + over).sum())

    def _feasible(self, total: int) -> bool:
        return total > 0 and -(-total // self.high) <= total // self.low

    def _make_feasible(self) -> None:
        n = len(self.parts)
        while True:
            for members in self._clusters():
                total = int(self.after[members].sum())
                if len(members) == n or self._feasible(total):
                    continue
                border: dict[int, float] = {}
                for m in members:
                    for j, length in self.neighbours[m].items():
                        if self.reasons[j] is None:
                            border[j] = border.get(j, 0.0) + length
                if not border:
                    continue
                best = max(
                    border,
                    key=lambda j: (self._feasible(total + int(self.after[j])), border[j]),
                )
                self.reasons[best] = True
                break
            else:
                return

    def _clusters(self) -> list[list[int]]:
        broken = [i for i, r in enumerate(self.reasons) if r is not None]
        seen: set[int] = set()
        out = []
        for start in broken:
            if start in seen:
                continue
            group, todo = [], [start]
            seen.add(start)
            while todo:
                i = todo.pop()
                group.append(i)
                for j in self.neighbours[i]:
                    if j not in seen and self.reasons[j] is not None:
                        seen.add(j)
                        todo.append(j)
            out.append(sorted(group))
        return out

    def _improving(self, members, redelineate):
        tried = [int(m) for m in members]
        best = None
        for _attempt in range(1 + MAX_JOIN):
            if len(tried) == len(self.parts):
                break  # the whole area: delineated by the same function already
            result = self._redraw(tried, redelineate)
            old = self._badness(self.after[tried], self.n_b[tried])
            new = self._badness(
                [int(self.w[p[0]].sum()) for p in result],
                [int(self.nb[p[0]].sum()) for p in result],
            )
            if new < old and (best is None or new < best[2]):
                best = (list(tried), result, new)
            if new == 0:
                break
            border: dict[int, float] = {}
            for m in tried:
                for j, length in self.neighbours[m].items():
                    if self.reasons[j] is None and j not in tried:
                        border[j] = border.get(j, 0.0) + length
            if not border:
                break
            tried.append(max(border, key=lambda j: border[j]))
        if best is None:
            for i in members:
                self.reasons[int(i)] = None
            return list(members), None
        for j in best[0]:
            self.reasons[j] = True
        return best[0], best[1]

    def _redraw(self, tried, redelineate) -> list[Part]:
        """The grids ``tried`` re-delineated as one area (the same grids, in the same order,
        are re-delineated once per settling: the declined ones come back in later passes)."""
        geoms = [self.parts[i][1] for i in tried]
        key = tuple(id(g) for g in geoms)
        if key in self.cache:
            return self.cache[key][1]
        sites = np.sort(np.concatenate([self.parts[i][0] for i in tried]))
        union = shapely.make_valid(shapely.union_all(geoms))
        result = [(sites[m], geom, over) for m, geom, over in redelineate(union, sites)]
        self.cache[key] = (geoms, result)  # the geometries stay alive: their ids stay unique
        return result

    def rebuild(self, replaced) -> list[Part]:
        gone = {i for tried, _ in replaced for i in tried}
        out = [p for i, p in enumerate(self.parts) if i not in gone]
        for _tried, result in replaced:
            out.extend(result)
        return out


def _code_order(geoms) -> np.ndarray:
    """Order of grids by their codes (:func:`gis.grid_codes.number_grids`: north→south bands,
    west→east), the order in which the redraw meets them."""
    g = np.asarray(geoms, dtype=object)
    centroid = shapely.centroid(g)
    cx, cy = shapely.get_x(centroid), shapely.get_y(centroid)
    height = float(np.median(np.sqrt(shapely.area(g)))) or 1.0
    band = np.floor((cy.max() - cy) / height)
    rows = np.arange(len(g))
    return rows[np.lexsort((rows, -cy, cx, band))]


def _neighbours(geoms) -> list[dict[int, float]]:
    """Grids sharing at least :data:`BORDER_M` of border: ``[{j: shared length}]``."""
    g = np.asarray(geoms, dtype=object)
    tree = shapely.STRtree(g)
    left, right = tree.query(g, predicate="intersects")
    keep = left < right
    left, right = left[keep], right[keep]
    shared = shapely.length(
        shapely.intersection(shapely.boundary(g[left]), shapely.boundary(g[right]))
    )
    out: list[dict[int, float]] = [{} for _ in range(len(g))]
    for a, b, length in zip(left, right, shared, strict=True):
        if length >= BORDER_M:
            out[int(a)][int(b)] = out[int(b)][int(a)] = float(length)
    return out
