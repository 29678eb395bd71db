"""Refine a block's grids after the construction: bring grids out of range into range.

Household-weighted halving (:mod:`gis.partition`) balances parts by construction, but with
lumpy weights (tower blocks of 50–450 households) a cut cannot fall between two households
of one building, so a part can come out 150 households off. :func:`refine_grids` repairs
that by local search over the contiguity graph of the sites (their Delaunay graph, the
dual of their Voronoi cells):

1. take a grid out of range and a neighbourhood of it: each adjacent grid on its own, then
   all of them together;
2. re-split those grids' sites into ``k`` parts, for every ``k`` near the number of grids
   taken (one fewer: two half-empty grids become one; one more: an overfull pair becomes
   three), by recursive bisection that tries eight cut directions and every cut position
   and keeps the one whose sides can best be split into grids in range;
3. accept the best re-split if every new part is contiguous in the site graph and the
   households outside the range (then the number of grids outside it) went down.

Every accepted step lowers an integer, so the search ends; sites never leave their block
(the caller refines one block at a time, so no site crosses a barrier or a community
edge), and a small block riding on a grid as one virtual site moves as a whole. Sites with
a grid of their own (tower blocks) are left alone.

Pure numpy / scipy; no geometry is built here (the caller unions the Voronoi cells).
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np
import shapely
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import Delaunay, QhullError

ANGLES = np.linspace(0.0, np.pi, 8, endpoint=False)
"""Cut directions tried when re-splitting (every 22.5°)."""

MAX_REGION = 12
"""At most this many grids are re-split together (a grid, its neighbours and theirs)."""

RINGS = 4
"""Grids this many steps from a grid out of range get the exact (clipped) site graph."""

MAX_STEPS_PER_GRID = 12
"""Work bound: attempts per grid of the block (each accepted step lowers the badness)."""


def badness(households: np.ndarray, low: int, high: int) -> tuple[int, int]:
    """(households outside ``[low, high]`` summed over grids, number of grids outside).

    Examples
    --------
    >>> badness(np.array([250, 400, 520]), 300, 500)
    (70, 2)
    """
    h = np.asarray(households, dtype=np.int64)
    over = np.clip(low - h, 0, None) + np.clip(h - high, 0, None)
    return int(over.sum()), int((over > 0).sum())


def refine_grids(
    x: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    labels: np.ndarray,
    *,
    low: int,
    high: int,
    graph: csr_matrix | None = None,
) -> np.ndarray:
    """Labels of a block's sites after moving sites between adjacent grids to fit the range.

    Parameters
    ----------
    x, y, w
        The block's sites (metres) and their households; every site is a candidate to move.
    labels
        Grid of each site from the construction, ``0 .. k-1``.
    low, high
        Allowed households per grid.
    graph
        Adjacency of the sites (:func:`site_graph`); default: their Delaunay graph.
        A grid whose sites fall apart in it first gives its minor pieces to the
        adjacent grid that balances best (the Voronoi polygons would be in pieces).

    Returns
    -------
    numpy.ndarray
        New labels ``0 .. k'-1`` (``k'`` may differ from ``k`` by merges and splits).
        The search never raises the households outside the range (only the mending of
        a grid in pieces, which the polygons would need anyway, may); without a
        ``graph``, labels are returned unchanged when every grid is in range.
    """
    labels = np.asarray(labels, dtype=np.int64).copy()
    w = np.asarray(w, dtype=np.int64)
    if len(labels) < 2:
        return labels
    sums = np.bincount(labels, weights=w).astype(np.int64)
    if badness(sums, low, high)[0] == 0 and graph is None:
        return labels
    state = _State(x, y, w, labels, sums, low=low, high=high, graph=graph)
    state.mend()
    state.search()
    return _compact(state.labels)


class _State:
    """Labels, grid sums and the site graph of one block during the search."""

    def __init__(self, x, y, w, labels, sums, *, low, high, graph):
        self.x, self.y, self.w = np.asarray(x, float), np.asarray(y, float), w
        self.labels, self.low, self.high = labels, low, high
        self.sums = list(int(s) for s in sums)
        self.graph = site_graph(self.x, self.y) if graph is None else graph.tocsr()
        self.version: dict[int, int] = {}
        self.failed: set[tuple] = set()
        self.members: dict[int, set[int]] = {}
        for i, lab in enumerate(labels):
            self.members.setdefault(int(lab), set()).add(i)

    def out(self, g: int) -> bool:
        return g in self.members and not self.low <= self.sums[g] <= self.high

    def neighbours(self, g: int) -> list[int]:
        ptr, ind = self.graph.indptr, self.graph.indices
        adj = np.concatenate([ind[ptr[s] : ptr[s + 1]] for s in self.members[g]])
        return [int(h) for h in np.unique(self.labels[adj]) if h != g]

    def mend(self) -> None:
        """Give each minor piece of a grid that falls apart to the neighbour balancing best."""
        n = len(self.labels)
        g = self.graph.tocoo()
        same = self.labels[g.row] == self.labels[g.col]
        sub = coo_matrix((np.ones(int(same.sum())), (g.row[same], g.col[same])), shape=(n, n))
        n_comp, comp = connected_components(sub, directed=False)
        if n_comp == len(self.members):
            return
        weight = np.bincount(comp, weights=self.w, minlength=n_comp) + 1e-6 * np.bincount(
            comp, minlength=n_comp
        )
        main: dict[int, int] = {}
        for c in np.argsort(-weight, kind="stable"):
            lab = int(self.labels[np.flatnonzero(comp == c)[0]])
            main.setdefault(lab, int(c))
        for c in np.argsort(weight, kind="stable"):
            sites = np.flatnonzero(comp == c)
            lab = int(self.labels[sites[0]])
            if main[lab] == c:
                continue
            adj = self.graph[sites].indices
            others = sorted({int(h) for h in self.labels[adj]} - {lab})
            if not others:
                continue
            moved = int(self.w[sites].sum())
            h = min(
                others,
                key=lambda o: (
                    badness(
                        np.array([self.sums[o] + moved, self.sums[lab] - moved]),
                        self.low,
                        self.high,
                    ),
                    o,
                ),
            )
            self.labels[sites] = h
            self.sums[h] += moved
            self.sums[lab] -= moved
            self.members[lab] -= set(int(i) for i in sites)
            self.members[h] |= set(int(i) for i in sites)

    def search(self) -> None:
        queue = deque(g for g in sorted(self.members) if self.out(g))
        budget = MAX_STEPS_PER_GRID * max(1, len(self.members))
        while queue and budget > 0:
            g = queue.popleft()
            budget -= 1
            if not self.out(g):
                continue
            changed = self.improve(g)
            if changed:
                for h in changed:
                    if self.out(h):
                        queue.append(h)
                        for n in self.neighbours(h):
                            if self.out(n):
                                queue.append(n)

    def improve(self, g: int) -> list[int]:
        """Best improving re-split of ``g`` with some neighbours; the grids it touched."""
        nbrs = self.neighbours(g)
        nbrs.sort(key=lambda h: self.sums[h] if self.sums[g] > self.high else -self.sums[h])
        regions = [[g, h] for h in nbrs]
        if len(nbrs) > 1:
            regions.append([g, *nbrs])
        ring = sorted({q for h in nbrs for q in self.neighbours(h)} - {g, *nbrs})
        if ring and len(nbrs) + len(ring) < MAX_REGION:
            regions.append([g, *nbrs, *ring])
        if not nbrs:
            regions = [[g]]
        best = None
        for region in regions:
            key = tuple(sorted((r, self.version.get(r, 0)) for r in region))
            if key in self.failed:
                continue
            old = badness(np.array([self.sums[r] for r in region]), self.low, self.high)
            found = self._resplit(region, old)
            if found is None:
                self.failed.add(key)
            if found is not None and (best is None or found[0] < best[0]):
                best = (found[0], region, found[1], found[2])
                if found[0] == (0, 0):
                    break
        if best is None:
            return []
        _, region, sites, parts = best
        return self._apply(region, sites, parts)

    def _resplit(self, region, old):
        sites = np.array(sorted(set().union(*(self.members[r] for r in region))), dtype=np.int64)
        total = int(self.w[sites].sum())
        best = None
        x, y, w = self.x[sites], self.y[sites], self.w[sites]
        for k in _part_counts(total, len(region), self.low, self.high, len(sites)):
            local = split_sites(x, y, w, k, low=self.low, high=self.high)
            new = badness(np.bincount(local, weights=w), self.low, self.high)
            if new < old and (best is None or new < best[0]) and self._contiguous(sites, local):
                best = (new, sites, local)
            if best is not None and best[0] == (0, 0):
                return best
        return best

    def _contiguous(self, sites: np.ndarray, local: np.ndarray) -> bool:
        """Is every new part connected in the site graph (search from one site per part)?"""
        ptr, ind = self.graph.indptr, self.graph.indices
        part = dict(zip(sites.tolist(), local.tolist(), strict=True))
        seen: set[int] = set()
        for j in range(int(local.max()) + 1):
            start = int(sites[np.argmax(local == j)])
            todo = [start]
            seen.add(start)
            while todo:
                s = todo.pop()
                for t in ind[ptr[s] : ptr[s + 1]].tolist():
                    if t not in seen and part.get(t) == j:
                        seen.add(t)
                        todo.append(t)
        return len(seen) == len(sites)

    def _apply(self, region, sites, local) -> list[int]:
        k = int(local.max()) + 1
        ids = sorted(region)
        while len(ids) < k:
            ids.append(len(self.sums))
            self.sums.append(0)
        for r in region:
            del self.members[r]
            self.sums[r] = 0
        for r in ids:
            self.version[r] = self.version.get(r, 0) + 1
        for j in range(k):
            mine = sites[local == j]
            self.labels[mine] = ids[j]
            self.members[ids[j]] = set(int(s) for s in mine)
            self.sums[ids[j]] = int(self.w[mine].sum())
        return ids[:k]


def _part_counts(total: int, n_now: int, low: int, high: int, n_sites: int) -> list[int]:
    """Numbers of parts worth trying for ``total`` households now in ``n_now`` grids."""
    ks = {k for k in (n_now - 1, n_now, n_now + 1) if 1 <= k <= n_sites}
    lo_k, hi_k = math.ceil(total / high), total // low
    feasible = {k for k in ks if lo_k <= k <= hi_k}
    return sorted(feasible or ks, key=lambda k: abs(k - n_now))


def split_sites(
    x: np.ndarray, y: np.ndarray, w: np.ndarray, k: int, *, low: int, high: int
) -> np.ndarray:
    """Labels ``0 .. k-1`` of a recursive bisection that fits each part into the range.

    Each cut tries :data:`ANGLES` and every position, and keeps the one whose two sides
    can best hold their share of parts in ``[low, high]`` (households beyond
    ``k1·low … k1·high`` on each side), then the most even split, then the cut across
    the longest extent (compact parts).
    """
    labels = np.zeros(len(x), dtype=np.int64)
    stack = [(np.arange(len(x)), k)]
    nxt = 0
    cos, sin = np.cos(ANGLES), np.sin(ANGLES)
    while stack:
        idx, kk = stack.pop()
        kk = min(kk, len(idx))
        if kk <= 1:
            labels[idx] = nxt
            nxt += 1
            continue
        proj = np.outer(x[idx], cos) + np.outer(y[idx], sin)  # (n, angles)
        extent = np.ptp(proj, axis=0)
        shape_cost = (1.0 - extent / max(float(extent.max()), 1e-9)) * high
        order = np.argsort(proj, axis=0, kind="stable")
        cum = np.cumsum(w[idx][order], axis=0)
        total = int(cum[-1, 0])
        best = None
        for k1 in sorted({kk // 2, kk - kk // 2}):
            k2 = kk - k1
            cuts = np.arange(k1, len(idx) - k2 + 1)
            left = cum[cuts - 1]  # (cuts, angles)
            right = total - left
            miss = _miss(left, k1, low, high) + _miss(right, k2, low, high)
            score = miss * 1e6 + np.abs(left / k1 - right / k2) + shape_cost
            j = int(np.argmin(score))
            if best is None or score.flat[j] < best[0]:
                c, a = divmod(j, len(ANGLES))
                best = (float(score.flat[j]), order[:, a], int(cuts[c]), k1)
        assert best is not None
        _, col, cut, k1 = best
        stack.append((idx[col[cut:]], kk - k1))
        stack.append((idx[col[:cut]], k1))
    return labels


def _miss(total: np.ndarray, k: int, low: int, high: int) -> np.ndarray:
    return np.maximum(k * low - total, 0) + np.maximum(total - k * high, 0)


def site_graph(x: np.ndarray, y: np.ndarray, region=None, active=None) -> csr_matrix:
    """Symmetric adjacency of sites whose Voronoi cells, clipped to ``region``, share an edge.

    The candidates are the Delaunay edges (the unclipped cells' neighbours); with a
    ``region`` (the block, shapely polygon) an edge is kept only where the two cells'
    common side (the segment between the circumcentres of the edge's two triangles, or a
    ray for an edge of the hull) has a length and meets the region, so that sites
    connected in the graph have cells that are connected in the block. ``active``
    (boolean per site) limits that check to edges between active sites; the others stay
    as Delaunay gives them. Fewer than three sites, or sites on one line, are chained in
    order along the line.
    """
    n = len(x)
    edges, sides = _triangulation(x, y, region)
    if sides is not None and len(edges):
        check = np.ones(len(edges), dtype=bool)
        if active is not None:
            check = active[edges[:, 0]] & active[edges[:, 1]]
        if check.any():
            shapely.prepare(region)
            keep = np.ones(len(edges), dtype=bool)
            sub = sides[check]
            keep[check] = (shapely.length(sub) > 1e-6) & shapely.intersects(region, sub)
            edges = edges[keep]
    a = np.r_[edges[:, 0], edges[:, 1]]
    b = np.r_[edges[:, 1], edges[:, 0]]
    g = coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n)).tocsr()
    g.data[:] = 1.0
    return g


def delaunay_edges(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Unique Delaunay edges ``(i, j)``, ``i < j``; a chain along the line for degenerate input."""
    return _triangulation(x, y, None)[0]


def _triangulation(x, y, region):
    """Delaunay edges and, with a ``region``, each edge's Voronoi side as a line."""
    n = len(x)
    pts = np.c_[x, y] - (np.c_[x, y].mean(axis=0) if n else 0.0)
    if n >= 3:
        try:
            tri = Delaunay(pts, qhull_options="QJ")
        except (QhullError, ValueError):
            tri = None
        if tri is not None:
            return _edges_and_sides(tri, pts, region, np.c_[x, y].mean(axis=0))
    axis = 0 if np.ptp(x) >= np.ptp(y) else 1
    order = np.argsort(pts[:, axis], kind="stable")
    return np.sort(np.c_[order[:-1], order[1:]], axis=1), None


def _edges_and_sides(tri, pts, region, origin):
    s, nb = tri.simplices, tri.neighbors
    a, b, c = pts[s[:, 0]], pts[s[:, 1]], pts[s[:, 2]]
    d = 2 * (a[:, 0] * (b[:, 1] - c[:, 1]) + b[:, 0] * (c[:, 1] - a[:, 1]))
    d += 2 * c[:, 0] * (a[:, 1] - b[:, 1])
    d = np.where(np.abs(d) < 1e-12, 1e-12, d)
    na, nb2, nc = (a**2).sum(1), (b**2).sum(1), (c**2).sum(1)
    ux = (na * (b[:, 1] - c[:, 1]) + nb2 * (c[:, 1] - a[:, 1]) + nc * (a[:, 1] - b[:, 1])) / d
    uy = (na * (c[:, 0] - b[:, 0]) + nb2 * (a[:, 0] - c[:, 0]) + nc * (b[:, 0] - a[:, 0])) / d
    cc = np.c_[ux, uy]
    span = 4.0 * float(np.ptp(pts, axis=0).max() + 1.0)
    if region is not None:
        xmin, ymin, xmax, ymax = region.bounds
        span += 4.0 * max(xmax - xmin, ymax - ymin)
    edges, starts, ends = [], [], []
    for k in range(3):
        e = s[:, [(k + 1) % 3, (k + 2) % 3]]
        other = nb[:, k]
        end = cc[np.maximum(other, 0)].copy()
        hull = other < 0
        if hull.any():
            p0, p1, opp = pts[e[hull, 0]], pts[e[hull, 1]], pts[s[hull, k]]
            normal = np.c_[-(p1 - p0)[:, 1], (p1 - p0)[:, 0]]
            away = np.sign(((p0 - opp) * normal).sum(1, keepdims=True))
            normal *= np.where(away == 0, 1.0, away)
            normal /= np.maximum(np.hypot(normal[:, 0], normal[:, 1]), 1e-12)[:, None]
            end[hull] = cc[hull] + normal * span
        edges.append(np.sort(e, axis=1))
        starts.append(cc)
        ends.append(end)
    edges_all = np.vstack(edges)
    uniq, first = np.unique(edges_all, axis=0, return_index=True)
    if region is None:
        return uniq, None
    seg = np.stack([np.vstack(starts)[first], np.vstack(ends)[first]], axis=1) + origin
    return uniq, shapely.linestrings(seg)


def near_out_of_range(
    x: np.ndarray, y: np.ndarray, w: np.ndarray, labels: np.ndarray, *, low: int, high: int
) -> np.ndarray:
    """Sites of grids out of range and of the grids up to :data:`RINGS` steps from them."""
    edges = delaunay_edges(x, y)
    sums = np.bincount(labels, weights=w)
    hot = (sums < low) | (sums > high)
    la, lb = labels[edges[:, 0]], labels[edges[:, 1]]
    for _ in range(RINGS):
        touch = hot[la] | hot[lb]
        hot[la[touch]] = True
        hot[lb[touch]] = True
    return hot[labels]


def _compact(labels: np.ndarray) -> np.ndarray:
    _, inverse = np.unique(labels, return_inverse=True)
    return inverse.astype(np.int64)
