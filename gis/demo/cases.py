"""A year of cases for the demo street, with hotspots, rhythms and full life histories.

Where: 55% of cases follow where people live (households), the rest come from
hotspots with their own categories and trends (steady, emerging, fading,
summer-only). When: weekly and seasonal rhythm, working-hour peaks. How they
went: each case follows a path through the closed loop (normal, rejected,
reworked, reopened, extended, stuck) and the history is cut at ``as_of``, so
recent cases are open at every stage and some are overdue.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from gis.demo.geography import Geography

# background category mix for events (service_code -> weight)
EVENT_MIX = {
    "E0504": 16,
    "E0102": 12,
    "E0111": 10,
    "E0109": 9,
    "E0501": 8,
    "E0201": 7,
    "E0505": 6,
    "E0110": 5,
    "E0104": 4,
    "E0103": 3,
    "E0301": 3,
    "E0302": 2,
    "E0303": 1.5,
    "E0101": 1.5,
    "E0108": 2,
    "E0107": 1,
    "E0106": 1,
    "E0202": 1.5,
    "E0203": 1.5,
    "E0503": 1,
    "E0507": 2,
    "E0112": 1.5,
    "E0602": 1.5,
    "E0601": 1,
    "E0404": 1.2,
    "E0406": 0.8,
    "E0401": 0.2,
    "E0402": 0.3,
    "E0403": 0.1,
    "E0407": 0.3,
    "E0506": 0.5,
    "E0603": 0.5,
    "E0604": 1,
}
SEASONAL = {  # category -> month weights (Jan..Dec) multiplying its background rate
    "E0406": [0.2, 0.2, 0.4, 0.8, 1.2, 3.5, 3.5, 2.5, 1.2, 0.5, 0.3, 0.2],
    "E0407": [4, 3, 0.5, 0, 0, 0, 0, 0, 0, 0, 0.5, 2],
    "E0112": [0.2, 0.2, 0.5, 1, 1.5, 2.2, 2.8, 2.8, 1.6, 0.8, 0.3, 0.2],
    "E0111": [0.8, 1.2, 0.8, 0.9, 1, 1.2, 1.4, 1.4, 1.1, 1.2, 0.9, 0.9],
}
SOURCES = {"patrol": 0.55, "hotline": 0.25, "app": 0.15, "web": 0.03, "sensor": 0.02}
RESIDENT_SOURCES = ("hotline", "app", "web")
PART_FAULT_SHARE = 0.18


@dataclass(frozen=True)
class Hotspot:
    """A place that produces cases of some categories with a trend over the year."""

    x: float
    y: float
    sigma_m: float
    weight: float
    categories: tuple[str, ...]
    trend: str  # steady | emerging | fading | summer


HOTSPOT_KINDS = [
    (("E0501", "E0109", "E0102", "E0503"), "steady"),  # wet market
    (("E0504", "E0505", "E0506"), "steady"),  # metro station
    (("E0301", "E0302", "E0303", "E0304"), "emerging"),  # new construction site
    (("E0112", "E0507", "E0102"), "summer"),  # night-snack street
    (("E0201", "E0202", "E0203"), "fading"),  # old small-ads wall
    (("E0504", "E0109"), "steady"),  # school gate
    (("E0111", "E0102", "E0108"), "emerging"),  # dense old housing
    (("E0404", "E0406"), "summer"),  # low-lying lane
]


def make_hotspots(rng: np.random.Generator, geo: Geography, n: int = 14) -> list[Hotspot]:
    """Hotspots at buildings chosen at random (weighted by households)."""
    b = geo.buildings
    pick = rng.choice(len(b), n, replace=False, p=b.households / b.households.sum())
    return [
        Hotspot(
            float(b.x.iloc[i]),
            float(b.y.iloc[i]),
            float(rng.uniform(50, 140)),
            float(rng.uniform(0.5, 1.5)),
            *HOTSPOT_KINDS[k % len(HOTSPOT_KINDS)],
        )
        for k, i in enumerate(pick)
    ]


def case_times(rng: np.random.Generator, n: int, as_of: pd.Timestamp) -> pd.DatetimeIndex:
    """``n`` report times over the 365 days up to ``as_of`` (weekly + seasonal rhythm).

    The last day is ``as_of``'s own: reports drawn after ``as_of`` that day move
    to the day before, so the district is seen with the day's new cases open.
    """
    days = pd.date_range(end=as_of.normalize(), periods=365, freq="D")
    weekday = np.array([1.05, 1.0, 1.0, 1.0, 1.05, 0.8, 0.7])[days.day_of_week]
    season = 1 + 0.25 * np.sin(2 * np.pi * (days.day_of_year.to_numpy() - 110) / 365)
    p = weekday * season
    day = rng.choice(len(days), n, p=p / p.sum())
    hour_w = np.array(
        [1, 0.5, 0.3, 0.3, 0.4, 1, 3, 6, 9, 10, 10, 8, 6, 8, 9, 9, 8, 7, 6, 5, 4, 3, 2, 1.5]
    )
    hour = rng.choice(24, n, p=hour_w / hour_w.sum())
    seconds = hour * 3600 + rng.integers(0, 3600, n)
    times = pd.DatetimeIndex(days[day]) + pd.to_timedelta(seconds, unit="s")
    return times.where(times < as_of, times - pd.Timedelta(days=1))


def place_cases(
    rng: np.random.Generator,
    geo: Geography,
    hotspots: list[Hotspot],
    reported_at: pd.DatetimeIndex,
    parts: pd.DataFrame,
) -> pd.DataFrame:
    """Category and location of each case (x, y metric, part index or -1)."""
    n = len(reported_at)
    month = reported_at.month.to_numpy() - 1
    t = np.asarray(
        (reported_at - reported_at.min()) / (reported_at.max() - reported_at.min()), dtype=float
    )
    from_hotspot = rng.random(n) < 0.40
    spot = _choose_hotspots(rng, hotspots, t, month, from_hotspot)
    codes = np.empty(n, dtype=object)
    x = np.empty(n)
    y = np.empty(n)
    # hotspot cases
    hs = np.flatnonzero(spot >= 0)
    for k, h in enumerate(hotspots):
        mine = hs[spot[hs] == k]
        codes[mine] = rng.choice(h.categories, mine.size)
        x[mine] = rng.normal(h.x, h.sigma_m, mine.size)
        y[mine] = rng.normal(h.y, h.sigma_m, mine.size)
    # background cases: where people live
    bg = np.flatnonzero(spot < 0)
    b = geo.buildings
    home = rng.choice(len(b), bg.size, p=b.households / b.households.sum())
    x[bg] = b.x.to_numpy()[home] + rng.normal(0, 30, bg.size)
    y[bg] = b.y.to_numpy()[home] + rng.normal(0, 30, bg.size)
    codes[bg] = _background_categories(rng, month[bg])
    # part faults: a part of the street breaks and is reported where it stands
    part_idx = np.full(n, -1)
    faults = bg[rng.random(bg.size) < PART_FAULT_SHARE / 0.6]
    part_idx[faults] = rng.integers(0, len(parts), faults.size)
    codes[faults] = parts.service_code.to_numpy()[part_idx[faults]]
    x[faults] = parts.x.to_numpy()[part_idx[faults]] + rng.normal(0, 3, faults.size)
    y[faults] = parts.y.to_numpy()[part_idx[faults]] + rng.normal(0, 3, faults.size)
    return pd.DataFrame({"service_code": codes, "x": x, "y": y, "part_idx": part_idx})


def _choose_hotspots(
    rng: np.random.Generator,
    hotspots: list[Hotspot],
    t: np.ndarray,
    month: np.ndarray,
    eligible: np.ndarray,
) -> np.ndarray:
    """Which hotspot (or -1) each case comes from, following each hotspot's trend."""
    w = np.zeros((len(t), len(hotspots)))
    summer = np.isin(month, [5, 6, 7, 8])
    for k, h in enumerate(hotspots):
        trend = {
            "steady": np.ones_like(t),
            "emerging": np.clip((t - 0.6) / 0.4, 0, 1) * 3,
            "fading": np.clip(1.0 - t, 0, 1) * 2,
            "summer": np.where(summer, 2.5, 0.3),
        }[h.trend]
        w[:, k] = h.weight * trend
    total = w.sum(axis=1)
    u = rng.random(len(t)) * total
    spot = (w.cumsum(axis=1) < u[:, None]).sum(axis=1)
    return np.where(eligible & (total > 0), spot, -1)


def _background_categories(rng: np.random.Generator, month: np.ndarray) -> np.ndarray:
    codes = np.array(list(EVENT_MIX))
    base = np.array(list(EVENT_MIX.values()), dtype=float)
    out = np.empty(month.size, dtype=object)
    for m in range(12):
        sel = np.flatnonzero(month == m)
        w = base * np.array([SEASONAL.get(c, [1] * 12)[m] for c in codes])
        out[sel] = rng.choice(codes, sel.size, p=w / w.sum())
    return out


def case_sources(rng: np.random.Generator, n: int) -> np.ndarray:
    """Where each case came from: patrol, hotline 12345, app, web, sensor."""
    return rng.choice(list(SOURCES), n, p=list(SOURCES.values()))
