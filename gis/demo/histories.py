"""Life histories of demo cases through the closed loop, cut at ``as_of``.

Each case follows one path (a list of steps); the time between steps is drawn
from a log-normal distribution, handling time from the category's time limit.
Steps follow the legal transitions of the case workflow (migration 0002's
``case_transitions``; an extension is requested by the handler, then approved).
Time limits in working hours/days are turned into calendar time with a fixed
ratio here (8 working hours in 24, 5 working days in 7); the working calendar
of the case workflow computes real deadlines.

Calibration (see ``docs/demo.md``): the path shares and the handling times are
set so that the headline figures fall inside the bands published 数字城管
bulletins report — closure >= 97 %, on-time closure 90-98 %, rework <= 2 %,
extensions <= 1 %, few overdue open cases, >= 85 % satisfied. The steps after
dispatch (start, handle, check, close) scale with the category's time limit, so
a 2-working-hour case is started, fixed, checked and closed within hours.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# step -> (action, to_status, role, median minutes, log-sigma)
STEPS: dict[str, tuple[str, str, str, float, float]] = {
    "report": ("report", "reported", "", 0, 0),
    "accept": ("accept", "accepted", "operator", 12, 0.8),
    "reject": ("reject", "rejected", "operator", 20, 0.8),
    "register": ("register", "registered", "operator", 15, 0.8),
    "dispatch": ("dispatch", "dispatched", "dispatcher", 25, 0.9),
    "start": ("start", "in_handling", "handler", 90, 1.0),
    "request_extension": ("request_extension", "in_handling", "handler", -1, 0.3),
    "extend": ("extend", "in_handling", "shift_leader", 60, 0.8),
    "handle": ("handle", "handled", "handler", -1, 0.6),
    "check": ("check", "checked", "grid_worker", 240, 0.9),
    "rework": ("rework", "in_handling", "grid_worker", 240, 0.9),
    "close": ("close", "closed", "operator", 60, 0.8),
    "reopen": ("reopen", "dispatched", "operator", 8 * 1440, 0.6),
    "rate": ("rate", "rated", "resident", 2160, 0.5),
    "archive": ("archive", "archived", "system", 7 * 1440, 0.01),
}
LOOP = ["report", "accept", "register", "dispatch", "start", "handle", "check", "close"]
PATHS: dict[str, tuple[float, list[str]]] = {
    "normal": (0.919, [*LOOP, "rate", "archive"]),
    "rejected": (0.06, ["report", "reject"]),
    "rework": (0.01, [*LOOP[:6], "rework", "handle", "check", "close", "rate", "archive"]),
    "reopen": (0.004, [*LOOP, "reopen", "start", "handle", "check", "close", "rate", "archive"]),
    "extension": (
        0.005,
        [*LOOP[:5], "request_extension", "extend", "handle", "check", "close", "rate", "archive"],
    ),
    "stuck": (0.002, [*LOOP, "rate", "archive"]),
    "neglected": (0.0, [*LOOP, "rate", "archive"]),  # drawn by count: NEGLECTED_PER_CASE
}
# the long-standing backlog: this many per case, chosen among the last days' reports
NEGLECTED_PER_CASE = 0.00005
NEGLECTED_WITHIN_DAYS = 10
# steps after dispatch take at most this share of the time limit (median)
SHARE_OF_LIMIT = {"start": 0.06, "check": 0.1, "rework": 0.1, "close": 0.04}
HANDLE_MEDIAN_SHARE = 0.3
SATISFACTION = {5: 0.80, 4: 0.13, 3: 0.04, 2: 0.02, 1: 0.01}
LOGGED_ONLY = ["report", "accept", "close"]
REASONS = {
    "reject": ["duplicate", "invalid", "out of area"],
    "rework": ["check failed: not fixed"],
    "reopen": ["re-reported by a resident after closing"],
    "request_extension": ["waiting for spare parts", "bad weather", "needs another department"],
    "extend": ["approved by the shift leader"],
    "close": [""],
}
OPERATORS = [f"op-{i:02d}" for i in range(1, 7)]
DISPATCHERS = [f"dp-{i:02d}" for i in range(1, 5)]


def limit_minutes(time_limit: np.ndarray, time_unit: np.ndarray) -> np.ndarray:
    """Approximate calendar minutes of a working-time limit (see module notes)."""
    hours = np.where(time_unit == "working_hours", time_limit * 60 * 3.0, time_limit * 1440 * 1.4)
    return np.nan_to_num(hours.astype(float), nan=5 * 1440 * 1.4)


def make_histories(
    rng: np.random.Generator, cases: pd.DataFrame, as_of: pd.Timestamp
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Events of every case and the per-case state they add up to.

    Parameters
    ----------
    cases
        One row per case with reported_at (tz-aware), source, limit_min,
        full_loop, department_code and worker_code.

    Returns
    -------
    events, summary
        ``events``: case_idx, at, actor, role, action, from_status, to_status, reason.
        ``summary`` (indexed by case_idx): status, timestamps, deadline_at,
        rework_count, reopen_count, satisfaction.
    """
    n = len(cases)
    names = list(PATHS)
    path_of = rng.choice(len(names), n, p=[PATHS[k][0] for k in names])
    recent = cases.reported_at >= as_of - pd.Timedelta(days=NEGLECTED_WITHIN_DAYS)
    recent_idx = np.flatnonzero(recent.to_numpy() & cases.full_loop.to_numpy())
    k = min(recent_idx.size, max(1, round(NEGLECTED_PER_CASE * n)) if n >= 1000 else 0)
    path_of[rng.choice(recent_idx, k, replace=False)] = names.index("neglected")
    frames = []
    for k, name in enumerate(names):
        idx = np.flatnonzero((path_of == k) & cases.full_loop.to_numpy())
        frames.append(_path_events(rng, cases, idx, PATHS[name][1], lateness=name))
    logged = np.flatnonzero(~cases.full_loop.to_numpy())
    frames.append(_path_events(rng, cases, logged, LOGGED_ONLY, lateness="normal"))
    events = pd.concat(frames, ignore_index=True)
    resident = cases.source.isin(["hotline", "app", "web"]).to_numpy()
    keep = (events["at"] <= as_of) & ~((events.action == "rate") & ~resident[events.case_idx])
    events = events[keep].sort_values(["case_idx", "at"], kind="stable").reset_index(drop=True)
    same_case = events.case_idx.eq(events.case_idx.shift())
    events["from_status"] = events.to_status.shift().where(same_case)
    _name_actors(rng, events, cases)
    return events, _summarise(rng, events, cases, n)


def _path_events(
    rng: np.random.Generator, cases: pd.DataFrame, idx: np.ndarray, path: list[str], lateness: str
) -> pd.DataFrame:
    if idx.size == 0:
        return pd.DataFrame()
    limit = cases.limit_min.to_numpy()[idx]
    delays = np.zeros((idx.size, len(path)))
    for j, step in enumerate(path):
        _, _, _, median, sigma = STEPS[step]
        if step == "handle":
            factor = {
                "stuck": lambda: rng.uniform(2, 20, idx.size),  # overdue, eventually fixed
                "neglected": lambda: rng.uniform(50, 400, idx.size),  # long-standing backlog
            }.get(lateness, lambda: rng.lognormal(np.log(HANDLE_MEDIAN_SHARE), 0.45, idx.size))()
            delays[:, j] = limit * factor
        elif step == "request_extension":  # the handler asks, the shift leader approves
            delays[:, j] = limit * rng.uniform(0.4, 0.9, idx.size)
        elif step in SHARE_OF_LIMIT:
            scaled = np.minimum(median, SHARE_OF_LIMIT[step] * limit)
            delays[:, j] = rng.lognormal(np.log(scaled), sigma * 0.6, idx.size)
        elif median > 0:
            delays[:, j] = rng.lognormal(np.log(median), sigma, idx.size)
    reported_utc = cases.reported_at.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
    at = reported_utc[idx][:, None] + (delays.cumsum(axis=1) * 60e9).astype("timedelta64[ns]")
    return pd.DataFrame(
        {
            "case_idx": np.repeat(idx, len(path)),
            "at": pd.DatetimeIndex(at.ravel())
            .floor("s")
            .tz_localize("UTC")
            .tz_convert(cases.reported_at.dt.tz),
            "action": np.tile([STEPS[s][0] for s in path], idx.size),
            "to_status": np.tile([STEPS[s][1] for s in path], idx.size),
            "role": np.tile([STEPS[s][2] for s in path], idx.size),
        }
    )


def _name_actors(rng: np.random.Generator, events: pd.DataFrame, cases: pd.DataFrame) -> None:
    n = len(events)
    ci = events.case_idx.to_numpy()
    role = events.role.to_numpy().astype(object)
    actor = np.empty(n, dtype=object)
    source = cases.source.to_numpy()[ci]
    report = events.action.to_numpy() == "report"
    role[report] = np.select(
        [source[report] == "patrol", source[report] == "hotline", source[report] == "sensor"],
        ["grid_worker", "operator", "system"],
        "resident",
    )
    worker = cases.worker_code.to_numpy()[ci]
    dept = cases.department_code.to_numpy()[ci]
    actor[:] = rng.choice(OPERATORS, n)
    actor[role == "dispatcher"] = rng.choice(DISPATCHERS, int((role == "dispatcher").sum()))
    actor[role == "shift_leader"] = "sl-01"
    actor[role == "grid_worker"] = worker[role == "grid_worker"]
    handler = role == "handler"
    actor[handler] = dept[handler] + "-h" + rng.integers(1, 4, handler.sum()).astype(str)
    actor[role == "resident"] = "resident"
    actor[role == "system"] = "system"
    events["role"] = role
    events["actor"] = actor
    reason = np.full(n, None, dtype=object)
    for action, options in REASONS.items():
        sel = events.action.to_numpy() == action
        if action == "close":
            sel &= ~cases.full_loop.to_numpy()[ci]
            reason[sel] = "logged only: handled offline"
            continue
        reason[sel] = rng.choice(options, int(sel.sum()))
    events["reason"] = reason


def _summarise(
    rng: np.random.Generator, events: pd.DataFrame, cases: pd.DataFrame, n: int
) -> pd.DataFrame:
    g = events.groupby("case_idx")
    summary = pd.DataFrame({"status": g.to_status.last()}).reindex(range(n))
    for action, column, how in [
        ("accept", "accepted_at", "first"),
        ("register", "registered_at", "first"),
        ("dispatch", "dispatched_at", "first"),
        ("handle", "handled_at", "last"),
        ("close", "closed_at", "last"),
    ]:
        sel = events[events.action == action].groupby("case_idx")["at"]
        summary[column] = getattr(sel, how)()
    counts = events.groupby(["case_idx", "action"]).size().unstack(fill_value=0)
    counts = counts.reindex(index=range(n), columns=["rework", "reopen", "extend"], fill_value=0)
    summary["rework_count"] = counts["rework"]
    summary["reopen_count"] = counts["reopen"]
    extensions = counts["extend"].to_numpy()
    limit = pd.to_timedelta(cases.limit_min.to_numpy() * (1 + extensions), unit="min")
    summary["deadline_at"] = summary.dispatched_at + limit
    rated = summary.index.isin(events.loc[events.action == "rate", "case_idx"])
    summary["satisfaction"] = np.where(
        rated, rng.choice(list(SATISFACTION), n, p=list(SATISFACTION.values())), 0
    )
    return summary
