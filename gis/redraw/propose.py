"""Propose a redraw: keep the grids that still fit, re-delineate the clusters that broke."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from city import GridSize
from gis.assign import assign_to_polygons
from gis.delineate import Delineation
from gis.grid_codes import highest_sequences, number_grids
from gis.redraw.assemble import CHANGE_COLUMNS, SAME_IOU, Plan, Redrawn, assemble
from gis.redraw.broken import (
    broken_reasons,
    clusters,
    make_feasible,
    neighbours_of,
    stale_communities,
)
from gis.redraw.inputs import (
    RedrawInputs,
    check_crs,
    current_frame,
    highest_used,
    nearest_grid,
    usable_buildings,
)
from gis.redraw.reasons import (
    CHANGED,
    KEPT,
    NEW,
    RETIRED,
    DrawnInPlaceOf,
    InRange,
    NoGridsBefore,
    Reason,
    Retired,
    cluster_of,
    in_turn,
)
from gis.redraw.redelineate import Clusters, Run, delineate_area, improving_redraw
from gis.redraw.replacement import OUTSIDE, proposal_report
from gis.redraw.result import Redraw

Progress = Callable[[str, int, int], None]
"""progress(label, done, total): called before each cluster and once at the end."""


def propose_redraw(  # noqa: PLR0913 (the redraw's options, keyword-only)
    current: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame,
    communities: gpd.GeoDataFrame,
    *,
    community_key: str = "code",
    households: str = "households",
    barriers: gpd.GeoSeries | None = None,
    size: GridSize | None = None,
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
    size
        Households per grid: aim and allowed range (default: the city profile's).
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
    inputs = RedrawInputs(buildings, communities, community_key, households, barriers, size)
    done = [_redraw_once(inputs, current, highest, progress)]
    seen = dict(highest or {})
    while len(done) < rounds and set(done[-1].changes.action) != {KEPT}:
        for code, seq in highest_sequences(done[-1].changes.code).items():
            seen[code] = max(seen.get(code, 0), seq)
        proposal = done[-1].grids[["code", "households", "geometry"]]
        done.append(_redraw_once(inputs, proposal, seen, None))
    if len(done) == 1:
        return done[0]
    base = current_frame(current)
    return _fold(base, done, highest_used(base, highest))


@dataclass
class _Placed:
    """One round: the buildings placed in the current grids, and which grids broke."""

    current: gpd.GeoDataFrame
    communities: pd.Series
    good: gpd.GeoDataFrame
    set_aside: pd.DataFrame
    outside: np.ndarray
    building_comm: np.ndarray
    grid_of: np.ndarray
    stale: set[str]
    clusters: Clusters


def _redraw_once(
    inputs: RedrawInputs,
    current: gpd.GeoDataFrame,
    highest: Mapping[str, int] | None,
    progress: Progress | None,
) -> Redraw:
    """One round of :func:`propose_redraw`."""
    check_crs(current, inputs.buildings, inputs.communities)
    placed = _place(inputs, current_frame(current))
    redrawn, delineations, set_aside = _redraw_clusters(inputs, placed, progress)
    state, n = placed.clusters, len(placed.current)
    kept = [i for i in range(n) if state.reasons[i] is None]
    gone = [
        i
        for i in range(n)
        if state.reasons[i] is not None
        and placed.current.community[i] not in placed.communities.index
    ]
    plan = Plan(
        placed.current,
        state.reasons,
        state.after,
        state.n_buildings,
        state.size,
        highest_used(placed.current, highest),
        inputs.communities.crs,
        kept=kept,
        notes=state.notes,
        redrawn=redrawn,
        gone=gone,
    )
    proposal, changes, codes = assemble(plan)
    assignment = _assignment(placed, kept, proposal, redrawn, codes)
    set_aside = set_aside.reset_index(drop=True)
    report = proposal_report(inputs, proposal, placed.good, assignment, set_aside)
    return Redraw(proposal, changes, assignment, set_aside, report, delineations)


def _place(inputs: RedrawInputs, current: gpd.GeoDataFrame) -> _Placed:
    """Count households per current grid and find the grids that must be redrawn."""
    comm = inputs.community_polygons()
    good, set_aside = usable_buildings(inputs.buildings, inputs.households)
    pts = shapely.point_on_surface(good.geometry.to_numpy())
    hh = good[inputs.households].to_numpy(dtype=np.int64)
    comm_of = assign_to_polygons(pts, comm.to_numpy())
    outside = comm_of < 0
    aside = pd.DataFrame({"row": good.index[outside], "reason": OUTSIDE})
    set_aside = pd.concat([set_aside, aside], ignore_index=True)
    building_comm = np.asarray(np.where(outside, None, comm.index.to_numpy()[comm_of.clip(0)]))
    grid_of = assign_to_polygons(pts, current.geometry.to_numpy())
    grid_of[outside] = -1
    stray = np.flatnonzero((grid_of < 0) & ~outside)
    grid_of[stray] = nearest_grid(pts[stray], building_comm[stray], current)
    n = len(current)
    placed = grid_of >= 0
    after = np.bincount(grid_of[placed], weights=hh[placed], minlength=n).astype(np.int64)
    n_buildings = np.bincount(grid_of[placed], minlength=n)
    uncovered = np.bincount(grid_of[stray][grid_of[stray] >= 0], minlength=n)
    stale = stale_communities(current, comm)
    stale |= set(building_comm[stray][grid_of[stray] < 0]) - set(current.community)
    size = inputs.grid
    reasons = broken_reasons(current, comm, stale, (after, n_buildings, uncovered), size)
    neighbours = neighbours_of(current)
    reasons = make_feasible(current, reasons, after, neighbours, size)
    state = Clusters(current, reasons, after, n_buildings, neighbours, size)
    return _Placed(current, comm, good, set_aside, outside, building_comm, grid_of, stale, state)


def _jobs(placed: _Placed) -> list[tuple[np.ndarray, str, shapely.Geometry | None]]:
    """Clusters to redraw (polygon None) and stale communities to delineate whole."""
    current, state = placed.current, placed.clusters
    whole = (
        current.community.isin(placed.stale).to_numpy()
        | ~current.community.isin(placed.communities.index).to_numpy()
    )
    masked = [None if w else r for r, w in zip(state.reasons, whole, strict=True)]
    jobs: list[tuple[np.ndarray, str, shapely.Geometry | None]] = [
        (members, current.community[members[0]], None)
        for members in clusters(masked, state.neighbours)
    ]
    for code in sorted(placed.stale):
        members = np.flatnonzero(current.community.to_numpy() == code)
        jobs.append((members, code, placed.communities[code]))
    return jobs


def _runner(
    inputs: RedrawInputs, placed: _Placed, community: str, polygon: shapely.Geometry | None
) -> Run:
    """Delineate the given grids of ``community`` (or the whole ``polygon``) afresh."""

    def run(members: np.ndarray) -> Delineation:
        if polygon is not None:
            mask = placed.building_comm == community
        else:
            mask = np.isin(placed.grid_of, members)
        buildings = placed.good[mask & ~placed.outside]
        return delineate_area(
            inputs, placed.current, members, community, buildings, polygon=polygon
        )

    return run


def _redraw_clusters(
    inputs: RedrawInputs, placed: _Placed, progress: Progress | None
) -> tuple[list[Redrawn], list[Delineation], pd.DataFrame]:
    """Re-delineate every cluster that does better redrawn (retrying declined ones)."""
    state, jobs = placed.clusters, _jobs(placed)
    redrawn: list[Redrawn] = []
    asides = [placed.set_aside]
    declined: list[tuple[np.ndarray, Run]] = []
    for k, (members, community, polygon) in enumerate(jobs):
        if progress:
            codes = cluster_of(placed.current.code[members])
            what = ", ".join(codes) if polygon is None else "all grids"
            progress(f"community {community}: {what}", k, len(jobs))
        run = _runner(inputs, placed, community, polygon)
        if polygon is not None:
            result: Delineation | None = run(members)
        else:
            members, result = improving_redraw(state, members, run)
        if result is None:
            declined.append((members, run))
            continue
        redrawn.append(Redrawn(members, result))
        asides.append(result.set_aside)
    _retry_declined(state, declined, redrawn, asides)
    for g in range(len(placed.current)):
        if state.reasons[g] is not None:
            state.notes.pop(g, None)
    if progress:
        progress("done", len(jobs), len(jobs))
    set_aside = pd.concat(asides, ignore_index=True) if len(asides) > 1 else asides[0]
    return redrawn, [job.result for job in redrawn], set_aside


def _retry_declined(
    state: Clusters,
    declined: list[tuple[np.ndarray, Run]],
    redrawn: list[Redrawn],
    asides: list[pd.DataFrame],
) -> None:
    """Retry the declined clusters, appending to ``redrawn`` and ``asides`` what now redraws.

    A cluster declined early may do better now that later declined grids can join it.
    """
    for _pass in range(2):
        retried: list[tuple[np.ndarray, Run]] = []
        for held, again in declined:
            if any(state.reasons[int(i)] is not None for i in held):
                continue  # taken into another cluster's redraw meanwhile
            state.release(held)
            members, result = improving_redraw(state, held, again)
            if result is None:
                retried.append((members, again))
                continue
            redrawn.append(Redrawn(members, result))
            asides.append(result.set_aside)
        if len(retried) == len(declined):
            break
        declined = retried


def _assignment(
    placed: _Placed,
    kept: list[int],
    proposal: gpd.GeoDataFrame,
    redrawn: list[Redrawn],
    codes: list[np.ndarray],
) -> pd.Series:
    """Building index → row position in ``proposal``."""
    current, grid_of, n = placed.current, placed.grid_of, len(placed.current)
    position = pd.Series(np.arange(len(proposal)), index=proposal.code.to_numpy())
    assignment = pd.Series(-1, index=placed.good.index, dtype=np.int64)
    is_kept = np.zeros(n + 1, dtype=bool)
    is_kept[kept] = True
    on = grid_of >= 0
    mask = on & is_kept[np.where(on, grid_of, n)]
    assignment[mask] = position.reindex(current.code.to_numpy()[grid_of[mask]]).to_numpy()
    for job, job_codes in zip(redrawn, codes, strict=True):
        rows = job.result.assignment.dropna().astype(np.int64)
        assignment[rows.index] = position.reindex(job_codes[rows.to_numpy()]).to_numpy()
    return assignment[assignment >= 0]


def _fold(current: gpd.GeoDataFrame, rounds: list[Redraw], highest: dict[str, int]) -> Redraw:
    """Several rounds of redrawing as one proposal and change list against ``current``."""
    final = rounds[-1]
    old = current.set_index("code")
    grids = _final_actions(final.grids.copy(), old, highest)
    steps: dict[str, list[Reason]] = {}
    for r in rounds:
        for code, reason in r.changes[r.changes.action != KEPT][["code", "reason"]].to_numpy():
            if reason not in steps.setdefault(str(code), []):
                steps[str(code)].append(reason)
    first_kept = rounds[0].changes.set_index("code").reason
    rows = []
    touched = old[~old.index.isin(grids.code[grids.action == KEPT])]
    for row in grids.itertuples():
        why: Reason
        if row.action == NEW:
            over = touched.index[
                shapely.area(shapely.intersection(touched.geometry.to_numpy(), row.geometry)) > 1.0
            ]
            why = DrawnInPlaceOf(cluster_of(over)) if len(over) else NoGridsBefore()
            before = np.nan
        else:
            before = old.households[row.code]
            why = (
                in_turn(steps[row.code])
                if row.code in steps and row.action == CHANGED
                else first_kept.get(row.code, InRange())
            )
        rows.append((row.code, row.community, row.action, before, row.households, why))
    for code in old.index.difference(grids.code):
        why = in_turn(steps.get(code, [Retired()]))
        rows.append((code, old.community[code], str(RETIRED), old.households[code], np.nan, why))
    changes = pd.DataFrame(rows, columns=list(CHANGE_COLUMNS))
    changes = changes.sort_values("code", kind="stable").reset_index(drop=True)
    order = np.argsort(grids.code.to_numpy(), kind="stable")
    position = np.empty(len(order), dtype=np.int64)
    position[order] = np.arange(len(order))
    grids = grids.iloc[order].reset_index(drop=True)
    assignment = pd.Series(position[final.assignment.to_numpy()], index=final.assignment.index)
    delineations = [d for r in rounds for d in r.delineations]
    return Redraw(grids, changes, assignment, final.set_aside, final.report, delineations)


def _final_actions(
    grids: gpd.GeoDataFrame, old: gpd.GeoDataFrame, highest: dict[str, int]
) -> gpd.GeoDataFrame:
    """The last round's grids judged against the grids in force; new ones numbered."""
    actions: list[str] = []
    previous: list[str | None] = []
    for code, geom in zip(grids.code, grids.geometry, strict=True):
        if code not in old.index:
            actions.append(str(NEW))
            previous.append(None)
            continue
        before = old.geometry[code]
        inter = shapely.area(shapely.intersection(geom, before))
        same = inter / (geom.area + before.area - inter) >= SAME_IOU
        actions.append(str(KEPT if same else CHANGED))
        previous.append(code)
    grids["action"], grids["previous"] = actions, previous
    kept = grids.action == KEPT
    grids.loc[kept, "geometry"] = old.geometry.reindex(grids.code[kept]).to_numpy()
    new = np.flatnonzero(grids.action == NEW)
    if new.size:
        start = {c: highest.get(c, 0) + 1 for c in grids.community.iloc[new]}
        codes = number_grids(grids.community.iloc[new], grids.geometry.iloc[new], start=start)
        grids.loc[grids.index[new], "code"] = codes.to_numpy()
    return grids
