"""Redraw grids when housing changes, keeping as many grids (and their codes) as possible.

:func:`propose_redraw` takes the grids in force and new building/household data
and proposes a new delineation: a grid whose household count is still inside
the allowed range (and that still lies in its community and covers its
buildings) keeps its geometry and code. Connected clusters of grids that went
out of range are re-delineated together by :func:`gis.delineate.delineate`,
with the cluster's union standing in for the community; a neighbour joins the
cluster when its households cannot otherwise be split into grids in range.

:func:`plan_replacement` turns a fresh delineation of whole communities into
the same kind of proposal, so that a full redraw also keeps the codes of the
grids it happens to draw again.

In both, a new grid that covers most of an old grid (intersection over union
≥ ``SUCCESSOR_IOU``) continues that grid's code as a new version ("changed");
other new grids get fresh sequence numbers after the highest ever used in
their community (a retired code is never reused).

All geometry must be in one projected CRS (metres).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from gis.assign import assign_to_polygons
from gis.delineate import Delineation, delineate
from gis.errors import GridGovError
from gis.grid_codes import highest_sequences, number_grids, validate_grid_codes
from gis.grid_quality import QualityReport, quality_report

KEPT, CHANGED, RETIRED, NEW = "kept", "changed", "retired", "new"
ACTION_ZH = {KEPT: "保留", CHANGED: "调整", RETIRED: "撤销", NEW: "新增"}
"""Chinese labels of the actions of a change list."""
SUCCESSOR_IOU = 0.5
"""A new grid overlapping an old one this much (IoU) continues its code."""
SAME_IOU = 0.999
"""A new grid overlapping an old one this much is the same grid (kept)."""
BORDER_M = 1.0
"""Grids sharing less border than this (metres) are not neighbours."""
COVER_TOLERANCE = 0.005
"""Share of area by which grids may miss or overrun their community (float noise)."""

Progress = Callable[[str, int, int], None]
"""progress(label, done, total): called before each cluster and once at the end."""


class RedrawError(GridGovError, ValueError):
    """The current grids or the inputs of a redraw are unusable; the message says why."""

    code = "bad_redraw_input"
    kind = "bad_input"


@dataclass
class Redraw:
    """A proposed delineation and how it differs from the grids in force.

    Attributes
    ----------
    grids
        The proposal: code, community, households, n_buildings, oversized,
        action (kept/changed/new), previous (the code it continues, or None),
        geometry.
    changes
        One row per old or new grid: code, community, action, action_zh,
        households_before, households_after, reason. Retired grids appear here
        only.
    assignment
        Input building index → row position in ``grids`` (buildings set aside
        are not in it).
    set_aside
        Buildings not placed: row (input index), reason.
    report
        Quality report of the whole proposal (:mod:`gis.grid_quality`).
    delineations
        The delineation of each re-delineated cluster or community.
    """

    grids: gpd.GeoDataFrame
    changes: pd.DataFrame
    assignment: pd.Series
    set_aside: pd.DataFrame
    report: QualityReport
    delineations: list[Delineation] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Number of grids per action (kept, changed, retired, new)."""
        got = self.changes.action.value_counts()
        return {a: int(got.get(a, 0)) for a in (KEPT, CHANGED, RETIRED, NEW)}

    def to_text(self) -> str:
        """The change list as plain text, one line per grid that is not kept unchanged."""
        c = self.counts()
        lines = [
            f"grids kept 保留 {c[KEPT]}, changed 调整 {c[CHANGED]}, "
            f"retired 撤销 {c[RETIRED]}, new 新增 {c[NEW]}"
        ]
        moved = self.changes[self.changes.action != KEPT]
        for row in moved.to_dict("records"):
            before = _count_text(row["households_before"])
            after = _count_text(row["households_after"])
            lines.append(
                f"  {row['code']}  {row['action']:<7} {ACTION_ZH[row['action']]}  "
                f"households {before} → {after}  {row['reason']}"
            )
        return "\n".join(lines)


def propose_redraw(
    current: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame,
    communities: gpd.GeoDataFrame,
    *,
    community_key: str = "code",
    households: str = "households",
    barriers: gpd.GeoSeries | None = None,
    target: int = 400,
    low: int = 300,
    high: int = 500,
    highest: Mapping[str, int] | None = None,
    progress: Progress | None = None,
    rounds: int = 4,
) -> Redraw:
    """Propose a redraw of ``current`` for new household data.

    Parameters
    ----------
    current
        Grids in force: ``code`` (15 digits), ``households`` (the count stored
        with the grid), geometry. Their community is the code's first 12 digits.
    buildings
        Points (or polygons) with a household count in column ``households``.
    communities
        Community polygons with their 12-digit code in ``community_key``.
    barriers
        Lines grids must not cross (major roads, rivers), passed to delineate.
    target, low, high
        Households per grid: aim and allowed range.
    highest
        Highest sequence ever used per community (retired grids included);
        the current codes are always taken into account as well.
    progress
        ``progress(label, done, total)`` before each re-delineated cluster.
    rounds
        A round can leave a redrawn cluster better but not yet in range; the
        redraw is repeated on its own proposal until nothing changes (at most
        ``rounds`` times) and the rounds are folded into one change list, so
        that running the redraw again on its result changes nothing.

    Returns
    -------
    Redraw

    Raises
    ------
    RedrawError
        A grid code is malformed or grids/buildings are not in one projected CRS.
    gis.delineate.DelineationError
        Re-delineating a cluster or community failed.
    """
    args: dict[str, Any] = {
        "community_key": community_key,
        "households": households,
        "barriers": barriers,
        "target": target,
        "low": low,
        "high": high,
    }
    done = [
        _redraw_once(current, buildings, communities, highest=highest, progress=progress, **args)
    ]
    seen = dict(highest or {})
    while len(done) < rounds and set(done[-1].changes.action) != {KEPT}:
        for code, seq in highest_sequences(done[-1].changes.code).items():
            seen[code] = max(seen.get(code, 0), seq)
        proposal = done[-1].grids[["code", "households", "geometry"]]
        done.append(
            _redraw_once(proposal, buildings, communities, highest=seen, progress=None, **args)
        )
    if len(done) == 1:
        return done[0]
    return _fold(_current_frame(current), done, _highest(_current_frame(current), highest), low)


def _fold(
    current: gpd.GeoDataFrame, rounds: list[Redraw], highest: dict[str, int], low: int
) -> Redraw:
    """Several rounds of redrawing as one proposal and change list against ``current``."""
    final = rounds[-1]
    grids = final.grids.copy()
    old = current.set_index("code")
    reasons: dict[str, list[str]] = {}
    for r in rounds:
        for code, reason in r.changes[r.changes.action != KEPT][["code", "reason"]].to_numpy():
            if reason not in reasons.setdefault(str(code), []):
                reasons[str(code)].append(str(reason))
    first_kept = rounds[0].changes.set_index("code").reason
    actions: list[str] = []
    previous: list[str | None] = []
    for code, geom in zip(grids.code, grids.geometry, strict=True):
        if code not in old.index:
            actions.append(NEW)
            previous.append(None)
            continue
        before = old.geometry[code]
        inter = shapely.area(shapely.intersection(geom, before))
        same = inter / (geom.area + before.area - inter) >= SAME_IOU
        actions.append(KEPT if same else CHANGED)
        previous.append(code)
    grids["action"], grids["previous"] = actions, previous
    kept = grids.action == KEPT
    grids.loc[kept, "geometry"] = old.geometry.reindex(grids.code[kept]).to_numpy()
    new = np.flatnonzero(grids.action == NEW)
    if new.size:
        start = {c: highest.get(c, 0) + 1 for c in grids.community.iloc[new]}
        codes = number_grids(grids.community.iloc[new], grids.geometry.iloc[new], start=start)
        grids.loc[grids.index[new], "code"] = codes.to_numpy()
    rows = []
    touched = old[~old.index.isin(grids.code[kept])]
    for row in grids.itertuples():
        if row.action == NEW:
            over = touched.index[
                shapely.area(shapely.intersection(touched.geometry.to_numpy(), row.geometry)) > 1.0
            ]
            why = (
                f"drawn in place of {_seqs(pd.Series(over))}"
                if len(over)
                else ("the community had no grids")
            )
            before = np.nan
        else:
            before = old.households[row.code]
            why = (
                "; then ".join(reasons[row.code])
                if row.code in reasons and row.action == CHANGED
                else str(first_kept.get(row.code, "households in range, unchanged"))
            )
        rows.append((row.code, row.community, row.action, before, row.households, why))
    for code in old.index.difference(grids.code):
        why = "; then ".join(reasons.get(code, ["retired"]))
        rows.append((code, old.community[code], RETIRED, old.households[code], np.nan, why))
    changes = pd.DataFrame(rows, columns=list(CHANGE_COLUMNS))
    changes["action_zh"] = changes.action.map(ACTION_ZH)
    changes = changes.sort_values("code", kind="stable").reset_index(drop=True)
    changes = changes[[*CHANGE_COLUMNS[:3], "action_zh", *CHANGE_COLUMNS[3:]]]
    order = np.argsort(grids.code.to_numpy(), kind="stable")
    position = np.empty(len(order), dtype=np.int64)
    position[order] = np.arange(len(order))
    grids = grids.iloc[order].reset_index(drop=True)
    assignment = pd.Series(position[final.assignment.to_numpy()], index=final.assignment.index)
    delineations = [d for r in rounds for d in r.delineations]
    return Redraw(grids, changes, assignment, final.set_aside, final.report, delineations)


def _redraw_once(
    current: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame,
    communities: gpd.GeoDataFrame,
    *,
    community_key: str,
    households: str,
    barriers: gpd.GeoSeries | None,
    target: int,
    low: int,
    high: int,
    highest: Mapping[str, int] | None,
    progress: Progress | None,
) -> Redraw:
    """One round of :func:`propose_redraw`."""
    _check_crs(current, buildings, communities)
    current = _current_frame(current)
    comm = communities.set_index(communities[community_key].astype(str)).geometry
    good, set_aside = _usable_buildings(buildings, households)
    pts = shapely.point_on_surface(good.geometry.to_numpy())
    hh = good[households].to_numpy(dtype=np.int64)
    comm_of = assign_to_polygons(pts, comm.to_numpy())
    outside = comm_of < 0
    set_aside = pd.concat(
        [
            set_aside,
            pd.DataFrame({"row": good.index[outside], "reason": "outside every community"}),
        ],
        ignore_index=True,
    )
    building_comm = np.where(outside, None, comm.index.to_numpy()[comm_of.clip(0)])
    grid_of = assign_to_polygons(pts, current.geometry.to_numpy())
    grid_of[outside] = -1
    stray = np.flatnonzero((grid_of < 0) & ~outside)
    grid_of[stray] = _nearest_grid(pts[stray], building_comm[stray], current)
    n = len(current)
    placed = grid_of >= 0
    after = np.bincount(grid_of[placed], weights=hh[placed], minlength=n).astype(np.int64)
    n_buildings = np.bincount(grid_of[placed], minlength=n)
    uncovered = np.bincount(grid_of[stray][grid_of[stray] >= 0], minlength=n)
    stale = _stale_communities(current, comm)
    stale |= set(building_comm[stray][grid_of[stray] < 0]) - set(current.community)
    reasons = _broken_reasons(current, comm, stale, after, n_buildings, uncovered, low, high)
    neighbours = _neighbours(current)
    reasons = _make_feasible(current, reasons, after, neighbours, low, high)
    whole = (
        current.community.isin(stale).to_numpy() | ~current.community.isin(comm.index).to_numpy()
    )
    jobs: list[tuple[np.ndarray, str, shapely.Geometry | None]] = [
        (members, current.community[members[0]], None)
        for members in _clusters(
            [None if w else r for r, w in zip(reasons, whole, strict=True)], neighbours
        )
    ]
    for code in sorted(stale):
        members = np.flatnonzero(current.community.to_numpy() == code)
        jobs.append((members, code, comm[code]))
    highest = _highest(current, highest)
    notes: dict[int, str] = {}
    new_grids, delineations = [], []
    declined: list[tuple[np.ndarray, Callable[[np.ndarray], Delineation]]] = []
    for k, (members, community, polygon) in enumerate(jobs):
        if progress:
            what = _seqs(current.code[members]) if polygon is None else "all grids"
            progress(f"community {community}: {what}", k, len(jobs))

        def run(m: np.ndarray, polygon=polygon, community=community) -> Delineation:
            mask = (building_comm == community) if polygon is not None else np.isin(grid_of, m)
            return _delineate_area(
                current,
                m,
                polygon,
                community,
                good[mask & ~outside],
                households,
                barriers,
                community_key,
                target,
                low,
                high,
            )

        result: Delineation | None
        if polygon is not None:
            result = run(members)
        else:
            members, result = _improving_redraw(
                current, members, reasons, notes, after, n_buildings, neighbours, run, low, high
            )
            if result is None:
                declined.append((members, run))
                continue
        delineations.append(result)
        set_aside = pd.concat([set_aside, result.set_aside], ignore_index=True)
        new_grids.append((members, result, None))
    # a cluster declined early may do better now that later declined grids can join it
    for _pass in range(2):
        retried: list[tuple[np.ndarray, Callable[[np.ndarray], Delineation]]] = []
        for held, again in declined:
            if any(reasons[int(i)] is not None for i in held):
                continue  # taken into another cluster's redraw meanwhile
            for i in held:
                reasons[int(i)] = notes.pop(int(i)).split(HELD)[0]
            members, result = _improving_redraw(
                current, held, reasons, notes, after, n_buildings, neighbours, again, low, high
            )
            if result is None:
                retried.append((members, again))
                continue
            delineations.append(result)
            set_aside = pd.concat([set_aside, result.set_aside], ignore_index=True)
            new_grids.append((members, result, None))
        if len(retried) == len(declined):
            break
        declined = retried
    for g in range(n):
        if reasons[g] is not None:
            notes.pop(g, None)
    if progress:
        progress("done", len(jobs), len(jobs))
    kept = [i for i in range(n) if reasons[i] is None]
    kept_rows = [
        _row(current, i, KEPT, after[i], n_buildings[i], current.code[i], high)
        | ({"note": notes[i]} if i in notes else {})
        for i in kept
    ]
    gone = [
        i for i in range(n) if reasons[i] is not None and current.community[i] not in comm.index
    ]
    proposal, changes = _assemble(
        current,
        kept_rows,
        new_grids,
        reasons,
        after,
        highest,
        high,
        low,
        communities.crs,
        gone=gone,
    )
    position = pd.Series(np.arange(len(proposal)), index=proposal.code.to_numpy())
    assignment = pd.Series(-1, index=good.index, dtype=np.int64)
    is_kept = np.zeros(n + 1, dtype=bool)
    is_kept[kept] = True
    mask = placed & is_kept[np.where(placed, grid_of, n)]
    assignment[mask] = position.reindex(current.code.to_numpy()[grid_of[mask]]).to_numpy()
    for _members, result, _ in new_grids:
        codes = result.grids["_code"].to_numpy()
        rows = result.assignment.dropna().astype(np.int64)
        assignment[rows.index] = position.reindex(codes[rows.to_numpy()]).to_numpy()
    assignment = assignment[assignment >= 0]
    set_aside = set_aside.reset_index(drop=True)
    report = _report(
        proposal,
        good,
        households,
        assignment,
        communities,
        community_key,
        barriers,
        low,
        high,
        set_aside,
        len(buildings),
    )
    return Redraw(proposal, changes, assignment, set_aside, report, delineations)


def plan_replacement(
    current: gpd.GeoDataFrame,
    result: Delineation,
    *,
    low: int = 300,
    high: int = 500,
    highest: Mapping[str, int] | None = None,
) -> Redraw:
    """A fresh delineation of whole communities as a change list against ``current``.

    New grids that are the same as, or the successor of, a current grid of the
    same community keep its code; the others get fresh codes; current grids of
    the delineated communities without successor are retired. Current grids of
    other communities are not touched and not listed.
    """
    _check_crs(current, result.grids)
    current = _current_frame(current)
    grids = result.grids.reset_index(drop=True)
    grids["community"] = grids.community.astype(str)
    delineated = sorted(set(grids.community))
    current = current[current.community.isin(delineated)].reset_index(drop=True)
    highest = _highest(current, highest)
    new_grids = []
    for community in delineated:
        members = np.flatnonzero(current.community.to_numpy() == community)
        rows = np.flatnonzero(grids.community.to_numpy() == community)
        part = Delineation(
            grids=grids.iloc[rows].reset_index(drop=True),
            assignment=pd.Series(dtype=np.int64),
            set_aside=result.set_aside.iloc[0:0],
            report=result.report,
        )
        new_grids.append((members, part, rows))
    reasons: list[str | None] = ["community delineated afresh"] * len(current)
    after = np.zeros(len(current), dtype=np.int64)
    proposal, changes = _assemble(
        current, [], new_grids, reasons, after, highest, high, low, grids.crs, fresh=True
    )
    code_of_row = np.empty(len(grids), dtype=object)
    for _members, part, rows in new_grids:
        code_of_row[rows] = part.grids["_code"].to_numpy()
    position = pd.Series(np.arange(len(proposal)), index=proposal.code.to_numpy())
    assigned = result.assignment.dropna().astype(np.int64)
    assignment = pd.Series(
        position.reindex(code_of_row[assigned.to_numpy()]).to_numpy(), index=assigned.index
    )
    return Redraw(proposal, changes, assignment, result.set_aside, result.report, [result])


def report_current(
    current: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame,
    communities: gpd.GeoDataFrame,
    barriers: gpd.GeoSeries | None = None,
    *,
    community_key: str = "code",
    households: str = "households",
    low: int = 300,
    high: int = 500,
) -> QualityReport:
    """Quality report of existing grids, households counted from ``buildings`` now.

    Buildings outside every grid count as not covered; bad rows and buildings
    outside every community are set aside, as in a redraw.
    """
    _check_crs(current, buildings, communities)
    grids = _current_frame(current)
    good, set_aside = _usable_buildings(buildings, households)
    pts = shapely.point_on_surface(good.geometry.to_numpy())
    comm = communities.geometry.to_numpy()
    outside = assign_to_polygons(pts, comm) < 0
    set_aside = pd.concat(
        [
            set_aside,
            pd.DataFrame(
                {
                    "row": good.index[outside],
                    "reason": "outside every community",
                    "kind": "outside every community",
                }
            ),
        ],
        ignore_index=True,
    )
    grid_of = assign_to_polygons(pts, grids.geometry.to_numpy())
    hh = good[households].to_numpy(dtype=np.int64)
    inside = grid_of >= 0
    grids["households"] = np.bincount(grid_of[inside], weights=hh[inside], minlength=len(grids))
    grids["households"] = grids.households.astype(np.int64)
    n_b = np.bincount(grid_of[inside], minlength=len(grids))
    grids["oversized"] = (grids.households > high) & (n_b == 1)
    assignment = pd.Series(grid_of, index=good.index)[~outside]
    return _report(
        grids,
        good,
        households,
        assignment,
        communities,
        community_key,
        barriers,
        low,
        high,
        set_aside,
        len(buildings),
    )


# -- inputs -----------------------------------------------------------------------------------


def _check_crs(*frames: gpd.GeoDataFrame) -> None:
    crs = {str(f.crs) for f in frames if f.crs is not None}
    if len(crs) > 1:
        raise RedrawError(f"grids, buildings and communities must share one CRS, got {crs}")
    for f in frames:
        if f.crs is not None and not f.crs.is_projected:
            raise RedrawError(f"geometry must be in a projected CRS (metres), got {f.crs}")


def _report(
    proposal: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame,
    households: str,
    assignment: pd.Series,
    communities: gpd.GeoDataFrame,
    community_key: str,
    barriers: gpd.GeoSeries | None,
    low: int,
    high: int,
    set_aside: pd.DataFrame,
    n_input: int,
) -> QualityReport:
    """Quality report of the whole proposal, buildings as placed by it."""
    placed = buildings[~buildings.index.isin(set_aside.row)]
    grid = assignment.reindex(placed.index).fillna(-1).astype(np.int64)
    assigned = gpd.GeoDataFrame(
        {"households": placed[households].to_numpy(), "grid": grid.to_numpy()},
        geometry=shapely.point_on_surface(placed.geometry.to_numpy()),
        crs=proposal.crs,
    )
    areas = communities[communities[community_key].astype(str).isin(proposal.community)]
    areas = gpd.GeoDataFrame(
        {"community": areas[community_key].astype(str).to_numpy()},
        geometry=areas.geometry.to_numpy(),
        crs=proposal.crs,
    )
    lines = None
    if barriers is not None and len(barriers):
        lines = gpd.GeoSeries([shapely.union_all(barriers.to_numpy())], crs=proposal.crs)
    return quality_report(
        proposal, assigned, areas, lines, low, high, set_aside=set_aside, n_input=n_input
    )


def _current_frame(current: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    if "code" not in current:
        raise RedrawError("the current grids need a 'code' column")
    validate_grid_codes(current.code)
    if current.code.duplicated().any():
        dup = sorted(set(current.code[current.code.duplicated()]))
        raise RedrawError(f"grid codes occur more than once among the current grids: {dup[:10]}")
    out = current.reset_index(drop=True).copy()
    out["code"] = out.code.astype(str)
    out["community"] = out.code.str[:12]
    if "households" not in out:
        out["households"] = np.nan
    return out


def _usable_buildings(
    buildings: gpd.GeoDataFrame, households: str
) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Buildings with a location and a non-negative whole household count; the rest set aside."""
    if households not in buildings:
        raise RedrawError(f"the buildings have no {households!r} column")
    hh = pd.to_numeric(buildings[households], errors="coerce")
    geom = buildings.geometry
    why = pd.Series(None, index=buildings.index, dtype=object)
    why[geom.isna() | geom.is_empty] = "no coordinates"
    why[why.isna() & hh.isna()] = f"{households} is missing or not a number"
    why[why.isna() & (hh < 0)] = f"{households} is negative"
    why[why.isna() & (hh != np.floor(hh))] = f"{households} is not a whole number"
    bad = why.notna()
    good = buildings[~bad].copy()
    good[households] = hh[~bad].astype(np.int64)
    reasons = why[bad].to_numpy()
    return good, pd.DataFrame({"row": buildings.index[bad], "reason": reasons, "kind": reasons})


def _nearest_grid(
    points: np.ndarray, community: np.ndarray, current: gpd.GeoDataFrame
) -> np.ndarray:
    """For buildings outside every grid: the nearest grid of their own community (-2 if none)."""
    out = np.full(len(points), -2, dtype=np.int64)
    for code in np.unique(community):
        rows = np.flatnonzero(community == code)
        mine = np.flatnonzero(current.community.to_numpy() == code)
        if mine.size == 0:
            continue
        tree = shapely.STRtree(current.geometry.to_numpy()[mine])
        out[rows] = mine[tree.nearest(points[rows])]
    return out


def _highest(current: gpd.GeoDataFrame, highest: Mapping[str, int] | None) -> dict[str, int]:
    out = highest_sequences(current.code)
    for code, seq in (highest or {}).items():
        out[str(code)] = max(out.get(str(code), 0), int(seq))
    return out


# -- which grids break -------------------------------------------------------------------------


def _broken_reasons(
    current: gpd.GeoDataFrame,
    communities: pd.Series,
    stale: set[str],
    after: np.ndarray,
    n_buildings: np.ndarray,
    uncovered: np.ndarray,
    low: int,
    high: int,
) -> list[str | None]:
    """Why each grid must be redrawn (None: it may stay)."""
    geoms = current.geometry.to_numpy()
    before = current.households.to_numpy(dtype=float)
    only = current.community.map(current.community.value_counts()).to_numpy() == 1
    reasons: list[str | None] = []
    for i, community in enumerate(current.community):
        change = 0 if np.isnan(before[i]) else int(after[i] - before[i])
        delta = f" after {change:+d}" if change else " (unchanged)"
        if community not in communities.index:
            reasons.append(f"community {community} no longer exists")
        elif community in stale:
            reasons.append(f"boundary of community {community} changed")
        elif geoms[i] is None or geoms[i].is_empty:
            reasons.append("grid has no geometry")
        elif uncovered[i]:
            reasons.append(f"{int(uncovered[i])} buildings nearby lie outside every grid")
        elif after[i] > high and n_buildings[i] > 1:
            reasons.append(f"households {after[i]} > {high}{delta}")
        elif after[i] < low and not only[i]:
            reasons.append(f"households {after[i]} < {low}{delta}")
        else:
            reasons.append(None)
    return reasons


def _stale_communities(current: gpd.GeoDataFrame, communities: pd.Series) -> set[str]:
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


def _neighbours(current: gpd.GeoDataFrame) -> dict[int, dict[int, float]]:
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
    out: dict[int, dict[int, float]] = {i: {} for i in range(len(current))}
    for a, b, length in zip(left, right, shared, strict=True):
        if length >= BORDER_M:
            out[int(a)][int(b)] = out[int(b)][int(a)] = float(length)
    return out


def _feasible(total: int, low: int, high: int) -> bool:
    """Can ``total`` households be split into whole grids of low..high each?"""
    return total > 0 and -(-total // high) <= total // low


def _make_feasible(
    current: gpd.GeoDataFrame,
    reasons: list[str | None],
    after: np.ndarray,
    neighbours: dict[int, dict[int, float]],
    low: int,
    high: int,
) -> list[str | None]:
    """Add neighbours to clusters whose households cannot be split into grids in range."""
    reasons = list(reasons)
    size_of_community = current.community.value_counts()
    while True:
        for members in _clusters(reasons, neighbours):
            total = int(after[members].sum())
            whole = len(members) == size_of_community[current.community[members[0]]]
            if whole or _feasible(total, low, high):
                continue
            border: dict[int, float] = {}
            for m in members:
                for j, length in neighbours[m].items():
                    if reasons[j] is None:
                        border[j] = border.get(j, 0.0) + length
            if not border:
                continue
            # prefer a neighbour that makes the union feasible, then the longest border
            best = max(
                border, key=lambda j: (_feasible(total + int(after[j]), low, high), border[j])
            )
            reasons[best] = (
                f"joined to redraw {_seqs(current.code[members])} ({total} households "
                f"cannot make grids of {low}-{high})"
            )
            break
        else:
            return reasons


def _clusters(
    reasons: list[str | None], neighbours: dict[int, dict[int, float]]
) -> list[np.ndarray]:
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


def _seqs(codes: pd.Series) -> str:
    return ", ".join(sorted(str(c) for c in codes))


# -- re-delineation ----------------------------------------------------------------------------


MAX_JOIN = 2
HELD = f", but no redraw of it (with up to {MAX_JOIN} neighbours) does better: kept"
"""Neighbours a cluster may take in when redrawing it alone does not bring it into range."""


def _badness(households: np.ndarray, n_buildings: np.ndarray, low: int, high: int) -> int:
    """Households outside the range, summed over grids (a lone tower block is fine)."""
    h = np.asarray(households, dtype=np.int64)
    lone = np.asarray(n_buildings) == 1
    return int((np.clip(low - h, 0, None) + np.where(lone, 0, np.clip(h - high, 0, None))).sum())


def _improving_redraw(
    current: gpd.GeoDataFrame,
    members: np.ndarray,
    reasons: list[str | None],
    notes: dict[int, str],
    after: np.ndarray,
    n_buildings: np.ndarray,
    neighbours: dict[int, dict[int, float]],
    run: Callable[[np.ndarray], Delineation],
    low: int,
    high: int,
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
        old = _badness(after[tried], n_buildings[tried], low, high)
        new = _badness(result.grids.households, result.grids.n_buildings, low, high)
        if new < old and (best is None or new < best[2]):
            best = (list(tried), result, new)
        if new == 0:
            break
        border: dict[int, float] = {}
        for m in tried:
            for j, length in neighbours[m].items():
                if reasons[j] is None and j not in tried:
                    border[j] = border.get(j, 0.0) + length
        if not border:
            break
        tried.append(max(border, key=lambda j: border[j]))
    if best is None:
        for i in members:
            notes[int(i)] = f"{reasons[int(i)]}{HELD}"
            reasons[int(i)] = None
        return members, None
    codes = _seqs(current.code[members])
    for j in best[0]:
        if reasons[j] is None:
            reasons[j] = f"joined to redraw {codes} (alone they did not come into range)"
    return np.array(best[0]), best[1]


def _delineate_area(
    current: gpd.GeoDataFrame,
    members: np.ndarray,
    polygon: shapely.Geometry | None,
    community: str,
    buildings: gpd.GeoDataFrame,
    households: str,
    barriers: gpd.GeoSeries | None,
    community_key: str,
    target: int,
    low: int,
    high: int,
) -> Delineation:
    """Delineate a cluster (the union of its grids) or a whole community (``polygon``)."""
    if polygon is None:
        polygon = shapely.make_valid(shapely.union_all(current.geometry.to_numpy()[members]))
    area = gpd.GeoDataFrame({community_key: [community]}, geometry=[polygon], crs=current.crs)
    if barriers is not None and len(barriers):
        barriers = barriers[barriers.intersects(polygon.buffer(1.0))]
    return delineate(
        buildings,
        area,
        community_key=community_key,
        households=households,
        barriers=barriers,
        target=target,
        low=low,
        high=high,
    )


def _successors(old: np.ndarray, new: np.ndarray) -> dict[int, tuple[int, float]]:
    """Greedy one-to-one matching of new grids to old ones by IoU: {new: (old, iou)}."""
    if len(old) == 0 or len(new) == 0:
        return {}
    tree = shapely.STRtree(old)
    ni, oi = tree.query(new, predicate="intersects")
    inter = shapely.area(shapely.intersection(new[ni], old[oi]))
    iou = inter / (shapely.area(new[ni]) + shapely.area(old[oi]) - inter)
    taken_old: set[int] = set()
    out: dict[int, tuple[int, float]] = {}
    for k in np.argsort(-iou, kind="stable"):
        if iou[k] < SUCCESSOR_IOU:
            break
        if int(ni[k]) in out or int(oi[k]) in taken_old:
            continue
        out[int(ni[k])] = (int(oi[k]), float(iou[k]))
        taken_old.add(int(oi[k]))
    return out


def _row(
    current: gpd.GeoDataFrame,
    i: int,
    action: str,
    households: int,
    n: int,
    previous: str,
    high: int,
) -> dict:
    return {
        "code": current.code[i],
        "community": current.community[i],
        "households": int(households),
        "n_buildings": int(n),
        "oversized": bool(households > high and n == 1),
        "action": action,
        "previous": previous,
        "geometry": current.geometry[i],
    }


def _assemble(
    current: gpd.GeoDataFrame,
    kept_rows: list[dict],
    new_grids: list,
    reasons: list[str | None],
    after: np.ndarray,
    highest: dict[str, int],
    high: int,
    low: int,
    crs,  # type: ignore[no-untyped-def]
    *,
    fresh: bool = False,
    gone: list[int] | None = None,
) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Proposal rows and change list from the kept grids and the re-delineated clusters."""
    before = current.households.to_numpy(dtype=float)
    changes = [
        {
            "code": r["code"],
            "community": r["community"],
            "action": KEPT,
            "households_before": before[current.code.to_numpy() == r["code"]][0],
            "households_after": r["households"],
            "reason": _kept_reason(r, before[current.code.to_numpy() == r["code"]][0], low),
        }
        for r in kept_rows
    ]
    changes += [
        {
            "code": current.code[i],
            "community": current.community[i],
            "action": RETIRED,
            "households_before": before[i],
            "households_after": np.nan,
            "reason": str(reasons[i]),
        }
        for i in gone or []
    ]
    rows = list(kept_rows)
    fresh_rows = []
    for members, result, _index in new_grids:
        g = result.grids.reset_index(drop=True)
        old_geoms = current.geometry.to_numpy()[members]
        matched = _successors(old_geoms, g.geometry.to_numpy())
        codes = np.empty(len(g), dtype=object)
        cluster_codes = _seqs(current.code[members])
        for j in range(len(g)):
            base = {
                "community": str(g.community[j]),
                "households": int(g.households[j]),
                "n_buildings": int(g.n_buildings[j]),
                "oversized": bool(g.oversized[j]),
                "geometry": g.geometry[j],
            }
            if j in matched:
                i = int(members[matched[j][0]])
                same = matched[j][1] >= SAME_IOU
                codes[j] = current.code[i]
                action = KEPT if same else CHANGED
                rows.append(base | {"code": codes[j], "action": action, "previous": codes[j]})
                changes.append(
                    {
                        "code": codes[j],
                        "community": base["community"],
                        "action": action,
                        "households_before": before[i],
                        "households_after": base["households"],
                        "reason": ("drawn again the same; " if same else "redrawn: ")
                        + str(reasons[i]),
                    }
                )
            else:
                fresh_rows.append((result, j, base, cluster_codes))
        g["_code"] = codes
        result.grids = g
        for pos in range(len(members)):
            if pos not in {o for o, _ in matched.values()}:
                i = int(members[pos])
                changes.append(
                    {
                        "code": current.code[i],
                        "community": current.community[i],
                        "action": RETIRED,
                        "households_before": before[i],
                        "households_after": np.nan,
                        "reason": f"{reasons[i]}; no successor",
                    }
                )
    if fresh_rows:
        community = pd.Series([b["community"] for _r, _j, b, _c in fresh_rows])
        geoms = np.array([b["geometry"] for _r, _j, b, _c in fresh_rows], dtype=object)
        new_codes = number_grids(
            community, geoms, start={c: highest.get(c, 0) + 1 for c in community}
        )
        for (result, j, base, cluster_codes), code in zip(fresh_rows, new_codes, strict=True):
            result.grids.loc[j, "_code"] = code
            rows.append(base | {"code": code, "action": NEW, "previous": None})
            why = (
                "community delineated afresh"
                if fresh
                else f"drawn in place of {cluster_codes}"
                if cluster_codes
                else "the community had no grids"
            )
            changes.append(
                {
                    "code": code,
                    "community": base["community"],
                    "action": NEW,
                    "households_before": np.nan,
                    "households_after": base["households"],
                    "reason": why,
                }
            )
    proposal = gpd.GeoDataFrame(
        pd.DataFrame(
            rows,
            columns=[
                "code",
                "community",
                "households",
                "n_buildings",
                "oversized",
                "action",
                "previous",
                "geometry",
            ],
        ),
        geometry="geometry",
        crs=crs,
    )
    proposal = proposal.sort_values("code", kind="stable").reset_index(drop=True)
    change_list = pd.DataFrame(changes, columns=list(CHANGE_COLUMNS))
    change_list["action_zh"] = change_list.action.map(ACTION_ZH)
    change_list = change_list.sort_values(["code", "action"], kind="stable").reset_index(drop=True)
    return proposal, change_list[[*CHANGE_COLUMNS[:3], "action_zh", *CHANGE_COLUMNS[3:]]]


CHANGE_COLUMNS = (
    "code",
    "community",
    "action",
    "households_before",
    "households_after",
    "reason",
)


def _count_text(value: object) -> str:
    return "-" if pd.isna(value) else str(int(value))  # type: ignore[call-overload]


def _kept_reason(row: dict, before: float, low: int) -> str:
    if "note" in row:
        return row["note"]
    if row["oversized"]:
        return f"one building of {row['households']} households: a grid of its own"
    if row["households"] < low:
        return f"the community's only grid ({row['households']} households < {low})"
    if np.isnan(before) or int(before) == row["households"]:
        return "households in range, unchanged"
    return f"households {int(before)} → {row['households']}, still in range"
