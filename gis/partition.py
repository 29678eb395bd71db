"""Partition one community into parts of about ``target`` households: the geometry core.

Steps 1, 3 and 4 of :mod:`gis.delineate` (which prepares the input, calls
:func:`partition_community` once per community and reports on the result):
cut the community into blocks along the barrier lines and attach small blocks
to a neighbour, split each block's sites by recursive household-weighted
bisection, refine the blocks whose parts miss the range (:func:`gis.refine.refine_grids`),
and assemble each part's polygon from the sites' Voronoi cells,
clipped to the block, mending parts that came out in pieces.
"""

from __future__ import annotations

import math

import numpy as np
import shapely

from gis.refine import near_out_of_range, refine_grids, site_graph

REFINE = True
"""Run the refinement step (:mod:`gis.refine`) after the construction; False gives the
construction alone (the method before the refinement, kept as the benchmarks' baseline)."""


def n_parts(total: int, target: int, low: int, high: int) -> int:
    """Number of grids for ``total`` households: ``total / k`` in ``[low, high]``, near target.

    Examples
    --------
    >>> n_parts(4000, 400, 300, 500), n_parts(550, 400, 300, 500), n_parts(120, 400, 300, 500)
    (10, 1, 1)
    """
    if total <= 0:
        return 1
    k = max(1, round(total / target))
    k_min, k_max = math.ceil(total / high), math.floor(total / low)
    if k_min <= k_max:
        k = min(max(k, k_min), k_max)
    return max(1, k)


def partition_community(poly, x, y, w, lines, *, target, low, high):
    """Parts of one community: a list of ``(site positions, polygon, oversized)``.

    ``poly`` is the community in a metre CRS, ``x``/``y``/``w`` its sites (one per
    location) and their households, ``lines`` the barrier lines (or None); parts
    aim at ``target`` households within ``[low, high]``. The polygons tile ``poly``;
    every site is in exactly one part.
    """
    if len(x) == 0 or w.sum() < low:
        return [(np.arange(len(x)), poly, False)]
    blocks, block_of, attached = _blocks(poly, lines, x, y, w, target=target, low=low, high=high)
    parts = []
    for b, block in enumerate(blocks):
        members = np.flatnonzero(block_of == b)
        extra = [(geom, x[sites], y[sites], w[sites], vp) for geom, sites, _, vp in attached[b]]
        everyone = np.concatenate([members, *(sites for _, sites, _, _ in attached[b])])
        for sub, geom, over in _delineate_block(
            block, x[members], y[members], w[members], extra, target=target, low=low, high=high
        ):
            parts.append((everyone[sub], geom, over))
    return parts


def _blocks(poly, lines, x, y, w, *, target, low, high):
    """Cut ``poly`` along ``lines`` into blocks.

    Returns the blocks, the block of each site (-1 for sites of attached blocks) and,
    per block, the small blocks attached to it as ``(geometry, sites, households,
    point on the shared edge)``. Small blocks (under ``low`` households) merge with a
    small neighbour, or attach to a big one, along their longest shared edge.
    """
    faces = _faces(poly, lines)
    if faces is None:
        return ([poly], np.zeros(len(x), dtype=np.int64), [[]])
    block_of = _locate(shapely.points(x, y), faces)
    geoms = list(faces)
    weight = np.bincount(block_of, weights=w, minlength=len(geoms))
    alive = np.ones(len(geoms), dtype=bool)
    target_of = np.full(len(geoms), -1)
    vpoint: list = [None] * len(geoms)
    tree = shapely.STRtree(faces)
    owner = np.arange(len(geoms))  # face -> live block holding it (-1 once attached)
    while alive.sum() > 1:
        small = np.flatnonzero(alive & (weight < low))
        if not len(small):
            break
        s = int(small[np.argmin(weight[small])])
        others = np.unique(owner[tree.query(geoms[s], predicate="intersects")])
        others = others[(others != s) & (others >= 0)]
        length = np.zeros(0)
        if len(others):
            other_geoms = np.asarray([geoms[i] for i in others], dtype=object)
            shared = shapely.intersection(shapely.boundary(geoms[s]), shapely.boundary(other_geoms))
            length = shapely.length(shared)
        if len(length) and length.max() > 0:
            # the neighbour whose grids come out best balanced with it, then the longest edge
            miss = np.array([_imbalance(weight[s] + weight[t], target, low, high) for t in others])
            j = int(np.lexsort((-length, miss))[0])
            if length[j] <= 0:
                j = int(np.argmax(length))
            point = _edge_point(shared[j])
        else:  # an island: hang it on the nearest block (the grid will be multi-part)
            others, j, point = _nearest_block(geoms, s, alive)
        t = int(others[j])
        alive[s] = False
        if weight[t] < low:
            geoms[t] = shapely.union_all([geoms[t], geoms[s]])
            block_of[block_of == s] = t
            owner[owner == s] = t
        else:
            target_of[s] = t
            vpoint[s] = point
            owner[owner == s] = -1
        weight[t] += weight[s]
    live = np.flatnonzero(alive)
    remap = np.full(len(geoms), -1, dtype=np.int64)
    remap[live] = np.arange(len(live))
    attached: list[list] = [[] for _ in live]
    for s in np.flatnonzero(target_of >= 0):
        sites = np.flatnonzero(block_of == s)
        attached[remap[target_of[s]]].append((geoms[s], sites, int(w[sites].sum()), vpoint[s]))
    return [geoms[i] for i in live], remap[block_of], attached


def _faces(poly, lines):
    """Faces of ``poly`` cut along ``lines``, its holes left out; None if fewer than two."""
    if lines is None or not shapely.intersects(lines, poly):
        return None
    # lines clipped to a margin around the community (not to the community itself) so that
    # they cross its boundary and get noded there; clipped exactly they may end a hair short
    xmin, ymin, xmax, ymax = poly.bounds
    near = shapely.clip_by_rect(lines, xmin - 10, ymin - 10, xmax + 10, ymax + 10)
    noded = shapely.union_all([shapely.boundary(poly), near])
    faces = np.asarray(shapely.get_parts(shapely.polygonize(shapely.get_parts(noded))))
    if len(faces):
        # drop faces that fill the community's holes
        faces = faces[shapely.contains(poly, shapely.point_on_surface(faces))]
    return faces if len(faces) > 1 else None


def _edge_point(shared):
    """Middle of the longest line of a shared boundary (any shared point if it has no line)."""
    # flatten twice: a shared boundary can be a collection holding multi-lines
    edge = max(shapely.get_parts(shapely.get_parts(shared)), key=shapely.length)
    point = shapely.line_interpolate_point(edge, 0.5, normalized=True)
    if point is None or point.is_empty:  # no line among the parts: any shared point
        point = shapely.point_on_surface(shared)
    return point


def _nearest_block(geoms, s, alive):
    """The live blocks but ``s``, the index of the nearest among them, and its nearest point."""
    others = np.flatnonzero(alive)
    others = others[others != s]
    other_geoms = np.asarray([geoms[i] for i in others], dtype=object)
    j = int(np.argmin(shapely.distance(geoms[s], other_geoms)))
    point = shapely.get_point(shapely.shortest_line(geoms[s], other_geoms[j]), 1)
    return others, j, point


def _imbalance(total, target, low, high) -> float:
    """How far the mean grid of a block with ``total`` households falls outside the range."""
    mean = total / n_parts(int(total), target, low, high)
    return max(0.0, low - mean, mean - high)


def _locate(pts, polys):
    """Index of the polygon each point lies in (nearest one if none, e.g. on an edge)."""
    tree = shapely.STRtree(polys)
    pi, gi = tree.query(pts, predicate="intersects")
    out = np.full(len(pts), -1, dtype=np.int64)
    out[pi[::-1]] = gi[::-1]  # first hit wins
    lost = np.flatnonzero(out < 0)
    if len(lost):
        _, gi = tree.query_nearest(pts[lost], all_matches=False)
        out[lost] = gi
    return out


def _joining_point(attached, block) -> tuple[float, float]:
    """Where an attached small block joins the bisection: the point on the shared edge;
    for a degenerate contact (no point, or an empty sliver of a block) the middle of its
    sites, else a point of the block it rides on."""
    geom, xs, ys, _, point = attached
    if point is not None and not point.is_empty:
        return point.x, point.y
    if len(xs):
        return float(np.mean(xs)), float(np.mean(ys))
    inner = shapely.point_on_surface(geom if not geom.is_empty else block)
    return inner.x, inner.y


def _delineate_block(block, x, y, w, extra, *, target, low, high):
    """Parts of one block: list of (site positions, polygon, oversized).

    ``extra`` lists small blocks attached to this one as ``(geometry, x, y, w, point on
    the shared edge)``: each joins the bisection as one virtual site at that point, so
    it ends up whole in exactly one part. Site positions returned count the block's own
    sites first, then the attached blocks' sites in order.
    """
    n = len(x)
    if n == 0 and not extra:
        return [(np.arange(0), block, False)]
    at = [_joining_point(e, block) for e in extra]
    vx = np.array([p[0] for p in at])
    vy = np.array([p[1] for p in at])
    vw = np.array([int(e[3].sum()) for e in extra], dtype=np.int64)
    bx, by, bw = np.r_[x, vx], np.r_[y, vy], np.r_[w, vw].astype(np.int64)
    oversized = bw > high
    labels = np.full(len(bx), -1, dtype=np.int64)
    rest = np.flatnonzero(~oversized)
    k = 0
    if len(rest):
        k = n_parts(int(bw[rest].sum()), target, low, high)
        labels[rest] = _bisect(bx[rest], by[rest], bw[rest], k)
        if REFINE:
            labels[rest] = _refine(
                block, extra, bx, by, bw, rest=rest, labels=labels[rest], low=low, high=high
            )
        k = int(labels[rest].max()) + 1
    big = np.flatnonzero(oversized)
    labels[big] = k + np.arange(len(big))
    n_lab = k + len(big)
    unions, labels = _part_unions(block, bx, by, labels, n_lab)
    # clip each part to the block plus the small blocks it carries: the edge between them
    # is then inside both operands, so no sliver seam splits the part
    carried: list[list] = [[] for _ in range(n_lab)]
    for j, e in enumerate(extra):
        carried[labels[n + j]].append(e[0])
    polys = []
    for lab in range(n_lab):
        if unions[lab] is None:
            polys.append(None)
        elif carried[lab]:
            region = shapely.union_all([block, *carried[lab]])
            polys.append(
                shapely.intersection(shapely.union_all([unions[lab], *carried[lab]]), region)
            )
        else:
            polys.append(shapely.intersection(unions[lab], block))
    # sites for mending: the block's own, then the attached blocks' (label of their virtual site)
    ax = np.concatenate([x, *(e[1] for e in extra)])
    ay = np.concatenate([y, *(e[2] for e in extra)])
    aw = np.concatenate([w, *(e[3] for e in extra)]).astype(np.int64)
    alab = np.concatenate(
        [labels[:n], *(np.full(len(e[1]), labels[n + j]) for j, e in enumerate(extra))]
    ).astype(np.int64)
    polys, alab = _mend_fragments(polys, alab, ax, ay, aw)
    out = []
    for lab in range(n_lab):
        members = np.flatnonzero(alab == lab)
        if len(members) == 0 and (polys[lab] is None or polys[lab].is_empty):
            continue
        out.append((members, _areal(polys[lab]), bool(lab >= k)))
    return out


def _refine(block, extra, bx, by, bw, *, rest, labels, low, high):  # noqa: PLR0913 (block, carried blocks, sites as x/y/households, which sites, range: all needed)
    """Labels of the block's ordinary sites after :func:`gis.refine.refine_grids`.

    Only blocks with a part out of range are refined; their site graph is that of the
    Voronoi cells clipped to the block and the small blocks it carries, towers included
    as obstacles (a tower's own grid separates the cells around it).
    """
    sums = np.bincount(labels, weights=bw[rest])
    if len(rest) < 2 or ((sums >= low) & (sums <= high)).all():
        return labels
    region = shapely.union_all([block, *(e[0] for e in extra)]) if extra else block
    active = np.zeros(len(bx), dtype=bool)
    active[rest] = near_out_of_range(bx[rest], by[rest], bw[rest], labels, low=low, high=high)
    graph = site_graph(bx, by, region, active)[rest][:, rest]
    return refine_grids(bx[rest], by[rest], bw[rest], labels, low=low, high=high, graph=graph)


def _areal(geom):
    """Polygon or MultiPolygon of the areal parts (clipping can leave stray lines/points)."""
    if geom is None or geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = shapely.get_parts(geom)
    parts = parts[shapely.get_type_id(parts) == 3]
    if len(parts) == 1:
        return parts[0]
    return shapely.multipolygons(parts) if len(parts) else shapely.Polygon()


def _bisect(x, y, w, k):
    """Labels 0..k-1 from recursive household-weighted coordinate bisection."""
    labels = np.zeros(len(x), dtype=np.int64)
    stack = [(np.arange(len(x)), k, 0)]
    next_label = 0
    while stack:
        idx, kk, _ = stack.pop()
        kk = min(kk, len(idx))
        if kk <= 1:
            labels[idx] = next_label
            next_label += 1
            continue
        k1 = kk // 2
        xs, ys = x[idx], y[idx]
        coord = xs if np.ptp(xs) >= np.ptp(ys) else ys
        order = np.argsort(coord, kind="stable")
        cum = np.cumsum(w[idx][order])
        total = cum[-1]
        c = int(np.searchsorted(cum, total * k1 / kk))
        # choose the cut (c or c+1 sites on the left) whose per-part averages match best
        best, best_err = None, None
        for cut in (c, c + 1):
            if not k1 <= cut <= len(idx) - (kk - k1):
                continue
            left = cum[cut - 1]
            err = abs(left / k1 - (total - left) / (kk - k1))
            if best_err is None or err < best_err:
                best, best_err = cut, err
        if best is None:
            best = min(max(c, k1), len(idx) - (kk - k1))
        stack.append((idx[order[best:]], kk - k1, 0))
        stack.append((idx[order[:best]], k1, 0))
    return labels


def _part_unions(block, x, y, labels, n_lab):
    """Union of the sites' Voronoi cells per label (not yet clipped to the block).

    Returns the unions and the labels (sites that share one cell, i.e. coincide, get
    the label of the first of them so that no cell lands in two parts).
    """
    env = shapely.buffer(shapely.envelope(block), 10.0)
    if n_lab == 1:
        return [env], labels
    pts = shapely.points(x, y)
    cell_of = None
    try:
        diagram = shapely.voronoi_polygons(shapely.multipoints(pts), extend_to=env, ordered=True)
        cells = shapely.get_parts(diagram)
        if len(cells) == len(pts):
            owner = labels
            cell_of = np.arange(len(pts))
    except shapely.errors.GEOSException:  # coincident sites
        pass
    if cell_of is None:
        cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(pts), extend_to=env))
        cell_of = _locate(pts, cells)
        first = np.full(len(cells), -1, dtype=np.int64)
        first[cell_of[::-1]] = np.arange(len(pts))[::-1]
        labels = labels[first[cell_of]]
        used = first >= 0
        cells = cells[used]
        owner = labels[first[used]]
    order = np.argsort(owner, kind="stable")
    cuts = np.searchsorted(owner[order], np.arange(1, n_lab))
    unions = [
        shapely.coverage_union_all(group) if len(group) else None
        for group in np.split(cells[order], cuts)
    ]
    return unions, labels


def _mend_fragments(polys, labels, x, y, w):
    """Give minor pieces of multi-piece parts (and their sites) to the longest-edge neighbour."""
    polys = list(polys)
    n_pieces = np.array([0 if p is None else shapely.get_num_geometries(p) for p in polys])
    multi = [
        i
        for i, p in enumerate(polys)
        if p is not None and p.geom_type != "Polygon" and n_pieces[i] > 1
    ]
    if not multi:
        return polys, labels
    pts = shapely.points(x, y)
    for lab in multi:
        pieces = list(shapely.get_parts(_areal(polys[lab])))
        members = np.flatnonzero(labels == lab)
        if len(pieces) <= 1:
            continue
        hits = [shapely.intersects(p, pts[members]) for p in pieces]
        weight = [w[members][h].sum() + 1e-9 * p.area for h, p in zip(hits, pieces, strict=True)]
        main = int(np.argmax(weight))
        keep = [pieces[main]]
        for j, piece in enumerate(pieces):
            if j == main:
                continue
            others = [i for i in range(len(polys)) if i != lab and polys[i] is not None]
            if not others:
                keep.append(piece)
                continue
            shared = shapely.length(
                shapely.intersection(
                    shapely.boundary(piece),
                    shapely.boundary(np.asarray([polys[i] for i in others])),
                )
            )
            if shared.max() <= 0:
                keep.append(piece)
                continue
            t = others[int(np.argmax(shared))]
            polys[t] = shapely.union_all([polys[t], piece])
            moved = members[hits[j] & ~hits[main]]
            moved = moved[labels[moved] == lab]
            labels[moved] = t
        polys[lab] = keep[0] if len(keep) == 1 else shapely.multipolygons(keep)
    return polys, labels
