"""The public figures of ``/report/stats``: how each department and community answers.

Per department and per community, over cases reported in the last year (not rejected),
from the ``resident_stats`` rollup (rebuilt at most every :data:`MAX_AGE`):

- on-time closure: closed on or before the deadline / closed cases with a deadline;
- median time to fix: median hours from report to handled, over handled cases;
- satisfaction: rated 满意 or 基本满意 (4–5) / rated cases;
- reopen rate: cases reopened at least once (a resident's "not fixed" or the centre's)
  / cases ever closed.

Each figure carries its sample size and is hidden (``value`` None, ``hidden`` true)
below :data:`MIN_SAMPLE` — a figure of three cases says nothing and can point at a person.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

from sqlalchemy.engine import Engine

from layers import residents
from services.resident import RESIDENT
from services.uow import unit_of_work

MIN_SAMPLE = int(os.environ.get("GRIDGOV_REPORT_MIN_SAMPLE", "5"))
MAX_AGE = timedelta(minutes=10)


def _figure(numerator: int | None, n: int, *, min_sample: int, value: Any = None) -> dict:
    if n < min_sample:
        return {"value": None, "n": n, "hidden": True}
    if value is None:
        value = round(numerator / n, 3) if numerator is not None and n else None
    return {"value": float(value) if value is not None else None, "n": n, "hidden": False}


def public_stats(engine: Engine, *, min_sample: int | None = None, refresh: bool = True) -> dict:
    """The figures per department and per community (see the module docs)."""
    floor = MIN_SAMPLE if min_sample is None else min_sample
    if refresh:
        with unit_of_work(engine, RESIDENT, write=True) as conn:
            residents.refresh_stats(conn=conn, max_age=MAX_AGE)
    with unit_of_work(engine, RESIDENT) as conn:
        rows = residents.stats_rows(conn=conn)
    out: dict[str, Any] = {"min_sample": floor, "departments": [], "communities": []}
    for r in rows:
        unit = {
            "code": r["unit_code"],
            "name_zh": r["name_zh"],
            "name_en": r["name_en"] or r["name_zh"],
            "on_time_closure": _figure(r["on_time"], r["deadline_closed"], min_sample=floor),
            "median_hours_to_fix": _figure(
                None, r["handled"], min_sample=floor, value=r["median_hours_to_fix"]
            ),
            "satisfaction": _figure(r["satisfied"], r["rated"], min_sample=floor),
            "reopen_rate": _figure(r["reopened"], r["ever_closed"], min_sample=floor),
        }
        out["departments" if r["unit_kind"] == "department" else "communities"].append(unit)
        out["window_start"] = r["window_start"].isoformat()
        out["window_end"] = r["window_end"].isoformat()
        out["refreshed_at"] = r["refreshed_at"].isoformat()
    return out
