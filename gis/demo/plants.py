"""Problems planted in the demo district that its headline figures hide.

The demo's headline figures sit inside the bands published 数字城管 bulletins
report (``docs/demo.md``): almost everything closes, on time, with little rework.
Under them the generator plants four problems of the kind the source papers say
such figures hide. Only the hidden measures of :mod:`layers.measures` reveal
them, computed from the loaded data with no knowledge of this module:

- a **department** whose part faults are often re-reported as new cases within
  30 days of closing (the fix did not hold): ``part_recurrence_rate``;
- a **silent grid** whose residents report what its patrols never find (the
  worker walks it but reports nothing): ``missed_report_share``;
- a **corner** where the same part fails again and again, a few days after
  every closing: ``recurring_places``;
- an **overloaded worker** covering two neighbouring grids, twice the fair
  number of households: ``worker_load``.

Each choice follows from the district (sizes, places, the seed), so the same
seed plants the same problems.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely

from gis.assign import assign_to_polygons

REREPORTED_DEPARTMENT = "SWJ"  # 水务局: manhole covers and drain grates
REREPORT_SHARE = 0.5
REREPORT_WITHIN_DAYS = (1.0, 30.0)
CORNER_CATEGORY = "P0208"  # a street light on a corner that keeps going out
CORNER_GAP_DAYS = (5.0, 12.0)
PAIR_TARGET = 2.2  # the overloaded worker's households, in mean grids
RESIDENT_CHANNELS = {"hotline": 0.55, "app": 0.4, "web": 0.05}


@dataclass(frozen=True)
class Plants:
    """What was planted, for tests and ``docs/demo.md`` (never loaded, never shown)."""

    department_code: str
    silent_grid: str
    corner_part: str
    overloaded_worker: str
    overloaded_grids: tuple[str, str]


def overloaded_pair(grids: pd.DataFrame) -> tuple[int, int] | None:
    """Two touching grids of one community, together closest to 2.2 normal grids.

    Oversized grids (towers) are left out, so the pair's worker carries about
    twice the fair share of households. Returns (kept, taken over) row indices —
    the worker of ``kept`` takes over ``taken over`` — or None in a district
    without two such grids.
    """
    target = PAIR_TARGET * float(grids.households.mean())
    best: tuple[float, int, int] = (np.inf, -1, -1)
    geoms = grids.geometry.to_numpy()
    households = grids.households.to_numpy()
    normal = ~grids.oversized.to_numpy(bool)
    for i in np.flatnonzero(normal):
        same = (grids.community_code.to_numpy() == grids.community_code.iloc[i]) & normal
        for j in np.flatnonzero(same):
            if j <= i or not shapely.intersects(geoms[i], geoms[j]):
                continue
            miss = abs(float(households[i] + households[j]) - target)
            if miss < best[0]:
                best = (miss, int(i), int(j))
    return (best[1], best[2]) if best[1] >= 0 else None


def silent_grid(grids: pd.DataFrame, hotspot_xy: np.ndarray, exclude: set[int]) -> int:
    """The grid farthest from every hotspot (row index), outside ``exclude``.

    Far from hotspots its cases are the ordinary background of where people
    live, so what makes it stand out is only who reports them.
    """
    centres = shapely.centroid(grids.geometry.to_numpy())
    cx, cy = shapely.get_x(centres), shapely.get_y(centres)
    distance = np.hypot(cx[:, None] - hotspot_xy[:, 0], cy[:, None] - hotspot_xy[:, 1]).min(axis=1)
    if len(exclude) < len(grids):  # a tiny district: the plants may share a grid
        distance[list(exclude)] = -1
    return int(np.argmax(distance))


def corner_part(
    rng: np.random.Generator,
    street: shapely.Geometry,
    grids: pd.DataFrame,
    parts: pd.DataFrame,
    exclude: set[int],
) -> int:
    """A part of :data:`CORNER_CATEGORY` inside the street, not in ``exclude``'d grids.

    Falls back to any grid when every candidate is excluded; -1 when the street
    has no such part.
    """
    pts = shapely.points(parts.x.to_numpy(), parts.y.to_numpy())
    grid = assign_to_polygons(pts, grids.geometry.to_numpy())
    ok = (parts.service_code.to_numpy() == CORNER_CATEGORY) & shapely.contains(street, pts)
    ok &= grid >= 0
    elsewhere = ok & ~np.isin(grid, list(exclude))
    candidates = np.flatnonzero(elsewhere if elsewhere.any() else ok)
    return int(rng.choice(candidates)) if candidates.size else -1


def corner_reports(
    rng: np.random.Generator, parts: pd.DataFrame, part: int, as_of: pd.Timestamp
) -> pd.DataFrame:
    """Fault reports of one part all year, the next a few days after each fix.

    Returns the columns of :func:`gis.demo.cases.place_cases` plus reported_at
    (tz-aware like ``as_of``).
    """
    start = as_of - pd.Timedelta(days=365)
    gaps = rng.uniform(*CORNER_GAP_DAYS, 80)
    offsets = np.cumsum(gaps)
    offsets = offsets[offsets < 364.5] if part >= 0 else offsets[:0]
    part = max(part, 0)
    n = offsets.size
    return pd.DataFrame(
        {
            "service_code": CORNER_CATEGORY,
            "x": parts.x.iloc[part] + rng.normal(0, 3, n),
            "y": parts.y.iloc[part] + rng.normal(0, 3, n),
            "part_idx": part,
            "reported_at": start + pd.to_timedelta(offsets, unit="D"),
        }
    )


def rereports(rng: np.random.Generator, cases: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """New reports of closed part faults of :data:`REREPORTED_DEPARTMENT`.

    A share :data:`REREPORT_SHARE` of its closed part-fault cases is reported
    again, at the same part, 1-30 days after closing (only those before
    ``as_of``). Returns the columns of :func:`corner_reports`.
    """
    closed = cases.closed_at.notna() & (cases.part_idx >= 0)
    mine = np.flatnonzero(closed & (cases.department_code == REREPORTED_DEPARTMENT))
    again = mine[rng.random(mine.size) < REREPORT_SHARE]
    after = pd.to_timedelta(rng.uniform(*REREPORT_WITHIN_DAYS, again.size), unit="D")
    at = (pd.DatetimeIndex(cases.closed_at.iloc[again]).tz_convert(as_of.tz) + after).floor("s")
    frame = pd.DataFrame(
        {
            "service_code": cases.service_code.to_numpy()[again],
            "x": cases.x.to_numpy()[again] + rng.normal(0, 2, again.size),
            "y": cases.y.to_numpy()[again] + rng.normal(0, 2, again.size),
            "part_idx": cases.part_idx.to_numpy()[again],
            "reported_at": at,
        }
    )
    return frame[frame.reported_at < as_of].reset_index(drop=True)


def resident_sources(rng: np.random.Generator, n: int) -> np.ndarray:
    """Channels of reports made by residents (hotline 12345, app, web)."""
    return rng.choice(list(RESIDENT_CHANNELS), n, p=list(RESIDENT_CHANNELS.values()))
