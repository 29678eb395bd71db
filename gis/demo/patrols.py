"""A week of GPS patrol tracks for the demo's grid workers.

Each working day a worker walks two sessions (09:00-11:30, 14:00-16:30) from
building to building in their grid at walking pace, with a fix every 30 s and
a few metres of GPS noise. Some workers miss days; a few grids are not walked
at all that week, as happens.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SESSIONS = ((9.0, 11.5), (14.0, 16.5))
FIX_EVERY_S = 30
SPEED_MPS = 1.1


def make_patrols(
    rng: np.random.Generator,
    buildings: pd.DataFrame,
    grid_of_building: np.ndarray,
    worker_of_grid: np.ndarray,
    week_start: pd.Timestamp,
    *,
    absent_share: float = 0.05,
) -> pd.DataFrame:
    """Patrol points (worker_idx, at, x, y) for the week starting ``week_start``.

    Parameters
    ----------
    grid_of_building
        Index of the grid each building is in.
    worker_of_grid
        Index of the worker assigned to each grid (-1: none). A worker with
        several grids shares the week's sessions between them.
    """
    frames = []
    absent_grids = set(
        rng.choice(
            len(worker_of_grid), max(1, int(absent_share * len(worker_of_grid))), replace=False
        ).tolist()
    )
    for grid, worker in enumerate(worker_of_grid):
        # a worker covering k grids walks each one every k-th session
        theirs = np.flatnonzero(worker_of_grid == worker)
        share, turn = len(theirs), int(np.flatnonzero(theirs == grid)[0])
        if worker < 0 or grid in absent_grids:
            continue
        members = np.flatnonzero(grid_of_building == grid)
        if members.size < 2:
            continue
        xy = buildings[["x", "y"]].to_numpy()[members]
        for day in range(5):
            if rng.random() < 0.08:  # leave, training, meetings
                continue
            date = week_start + pd.Timedelta(days=day)
            for k, (start_h, end_h) in enumerate(SESSIONS):
                if (day * len(SESSIONS) + k) % share != turn:
                    continue
                frames.append(
                    _session(
                        rng,
                        xy,
                        worker,
                        date + pd.Timedelta(hours=start_h),
                        (end_h - start_h) * 3600,
                    )
                )
    return pd.concat(frames, ignore_index=True)


def _session(
    rng: np.random.Generator, xy: np.ndarray, worker: int, start: pd.Timestamp, duration_s: float
) -> pd.DataFrame:
    """A walk through random buildings of the grid, sampled every FIX_EVERY_S seconds."""
    n_fix = int(duration_s // FIX_EVERY_S)
    stops = xy[rng.integers(0, len(xy), 40)]
    legs = np.hypot(*np.diff(stops, axis=0).T)
    dist = np.concatenate([[0], np.cumsum(legs)])
    walked = np.minimum(np.arange(n_fix) * FIX_EVERY_S * SPEED_MPS, dist[-1])
    x = np.interp(walked, dist, stops[:, 0]) + rng.normal(0, 4, n_fix)
    y = np.interp(walked, dist, stops[:, 1]) + rng.normal(0, 4, n_fix)
    at = start + pd.to_timedelta(np.arange(n_fix) * FIX_EVERY_S, unit="s")
    return pd.DataFrame({"worker_idx": worker, "at": at, "x": x, "y": y})
