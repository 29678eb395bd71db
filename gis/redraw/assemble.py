"""A proposal and its change list from the grids kept and the clusters re-delineated."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from city import GridSize
from gis.delineate import Delineation
from gis.grid_codes import number_grids
from gis.redraw.reasons import (
    CHANGED,
    KEPT,
    NEW,
    RETIRED,
    DelineatedAfresh,
    DrawnAgain,
    DrawnInPlaceOf,
    Held,
    InRange,
    NoGridsBefore,
    NoSuccessor,
    OnlyGrid,
    OwnGrid,
    Reason,
    StillInRange,
    cluster_of,
)

SUCCESSOR_IOU = 0.5
"""A new grid overlapping an old one this much (IoU) continues its code."""
SAME_IOU = 0.999
"""A new grid overlapping an old one this much is the same grid (kept)."""
CHANGE_COLUMNS = (
    "code",
    "community",
    "action",
    "households_before",
    "households_after",
    "reason",
)
"""Columns of a change list; ``reason`` holds a :class:`gis.redraw.reasons.Reason`."""
PROPOSAL_COLUMNS = (
    "code",
    "community",
    "households",
    "n_buildings",
    "oversized",
    "action",
    "previous",
    "geometry",
)


@dataclass(frozen=True)
class Redrawn:
    """The new delineation of a cluster (``members``: positions in the current grids)."""

    members: np.ndarray
    result: Delineation
    rows: np.ndarray | None = None
    """Rows of the whole delineation these grids are (for :func:`plan_replacement`)."""


@dataclass
class Plan:
    """What :func:`assemble` puts together.

    Attributes
    ----------
    kept
        Positions of the current grids kept as they are.
    notes
        Why a kept grid that broke was held.
    gone
        Positions of current grids retired without a redraw (their community is gone).
    fresh
        Whole communities delineated afresh (new grids say so).
    """

    current: gpd.GeoDataFrame
    reasons: list[Reason | None]
    after: np.ndarray
    n_buildings: np.ndarray
    size: GridSize
    highest: Mapping[str, int]
    crs: Any
    kept: list[int] = field(default_factory=list)
    notes: Mapping[int, Held] = field(default_factory=dict)
    redrawn: list[Redrawn] = field(default_factory=list)
    gone: list[int] = field(default_factory=list)
    fresh: bool = False


def assemble(plan: Plan) -> tuple[gpd.GeoDataFrame, pd.DataFrame, list[np.ndarray]]:
    """Proposal, change list and the code of every grid of each redrawn cluster.

    Returns
    -------
    proposal
        One row per grid, sorted by code (:data:`PROPOSAL_COLUMNS`).
    changes
        One row per old or new grid, sorted by code and action (:data:`CHANGE_COLUMNS`).
    codes
        For ``plan.redrawn[k]``: the code given to each row of its delineation's grids.
    """
    current = plan.current
    before = current.households.to_numpy(dtype=float)
    rows = [_kept_row(plan, i) for i in plan.kept]
    changes = [
        _change(current, i, KEPT, before[i], r["households"], why=r.pop("why"))
        for i, r in zip(plan.kept, rows, strict=True)
    ]
    changes += [
        _change(current, i, RETIRED, before[i], np.nan, why=plan.reasons[i]) for i in plan.gone
    ]
    fresh_rows: list[tuple[int, int, dict, tuple[str, ...]]] = []
    codes: list[np.ndarray] = []
    for k, job in enumerate(plan.redrawn):
        job_codes, job_rows, job_changes, unmatched = _successor_rows(plan, job, before)
        rows += job_rows
        changes += job_changes
        fresh_rows += [(k, j, base, cluster_of(current.code[job.members])) for j, base in unmatched]
        codes.append(job_codes)
    if fresh_rows:
        community = pd.Series([b["community"] for _k, _j, b, _c in fresh_rows])
        geoms = np.array([b["geometry"] for _k, _j, b, _c in fresh_rows], dtype=object)
        start = {c: plan.highest.get(c, 0) + 1 for c in community}
        new_codes = number_grids(community, geoms, start=start)
        for (k, j, base, cluster), code in zip(fresh_rows, new_codes, strict=True):
            codes[k][j] = code
            rows.append(base | {"code": code, "action": NEW, "previous": None})
            why = (
                DelineatedAfresh()
                if plan.fresh
                else DrawnInPlaceOf(cluster)
                if cluster
                else NoGridsBefore()
            )
            changes.append(
                _change_row(code, base["community"], NEW, np.nan, base["households"], why=why)
            )
    proposal = gpd.GeoDataFrame(
        pd.DataFrame(rows, columns=list(PROPOSAL_COLUMNS)), geometry="geometry", crs=plan.crs
    )
    proposal["action"] = proposal.action.astype(str)
    proposal = proposal.sort_values("code", kind="stable").reset_index(drop=True)
    change_list = pd.DataFrame(changes, columns=list(CHANGE_COLUMNS))
    change_list = change_list.sort_values(["code", "action"], kind="stable").reset_index(drop=True)
    return proposal, change_list, codes


def _successor_rows(
    plan: Plan, job: Redrawn, before: np.ndarray
) -> tuple[np.ndarray, list[dict], list[dict], list[tuple[int, dict]]]:
    """Rows and changes of one redrawn cluster; new grids without a predecessor left over."""
    current, members = plan.current, job.members
    g = job.result.grids.reset_index(drop=True)
    matched = successors(current.geometry.to_numpy()[members], g.geometry.to_numpy())
    codes = np.empty(len(g), dtype=object)
    rows, changes, unmatched = [], [], []
    for j in range(len(g)):
        base = {
            "community": str(g.community[j]),
            "households": int(g.households[j]),
            "n_buildings": int(g.n_buildings[j]),
            "oversized": bool(g.oversized[j]),
            "geometry": g.geometry[j],
        }
        if j not in matched:
            unmatched.append((j, base))
            continue
        i = int(members[matched[j][0]])
        same = matched[j][1] >= SAME_IOU
        codes[j] = current.code[i]
        action = KEPT if same else CHANGED
        rows.append(base | {"code": codes[j], "action": action, "previous": codes[j]})
        why = DrawnAgain(plan.reasons[i], same)
        changes.append(
            _change_row(codes[j], base["community"], action, before[i], base["households"], why=why)
        )
    taken = {o for o, _ in matched.values()}
    for pos in range(len(members)):
        if pos not in taken:
            i = int(members[pos])
            gone = NoSuccessor(plan.reasons[i])
            changes.append(_change(current, i, RETIRED, before[i], np.nan, why=gone))
    return codes, rows, changes, unmatched


def successors(old: np.ndarray, new: np.ndarray) -> dict[int, tuple[int, float]]:
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


def _kept_row(plan: Plan, i: int) -> dict:
    """A current grid kept as it is, with why (``why`` is popped by the caller)."""
    current, households, n = plan.current, int(plan.after[i]), int(plan.n_buildings[i])
    before = float(current.households.to_numpy(dtype=float)[i])
    oversized = bool(households > plan.size.high and n == 1)
    why: Reason
    if i in plan.notes:
        why = plan.notes[i]
    elif oversized:
        why = OwnGrid(households)
    elif households < plan.size.low:
        why = OnlyGrid(households, plan.size.low)
    elif np.isnan(before) or int(before) == households:
        why = InRange()
    else:
        why = StillInRange(int(before), households)
    return {
        "code": current.code[i],
        "community": current.community[i],
        "households": households,
        "n_buildings": n,
        "oversized": oversized,
        "action": KEPT,
        "previous": current.code[i],
        "geometry": current.geometry[i],
        "why": why,
    }


def _change(
    current: gpd.GeoDataFrame, i: int, action: str, before: float, after: float, *, why: object
) -> dict:
    return _change_row(current.code[i], current.community[i], action, before, after, why=why)


def _change_row(
    code: str, community: str, action: str, before: float, after: float, *, why: object
) -> dict:
    return {
        "code": code,
        "community": community,
        "action": str(action),
        "households_before": before,
        "households_after": after,
        "reason": why,
    }
