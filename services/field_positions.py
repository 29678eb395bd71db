"""Where each grid worker was last seen: the newest fix per worker and its age.

A read model for the supervisor page (kept apart from :mod:`services.supervisor`);
row-level security of the supervisor's scope limits it to the workers of its area.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Engine

from layers.tracks import last_positions
from services.uow import Scope, unit_of_work


@dataclass(frozen=True)
class LastPosition:
    """A worker's newest fix: when, where, how accurate, from which source, and its age."""

    worker_code: str
    at: datetime
    lon: float
    lat: float
    accuracy_m: float | None
    source: str | None
    age_s: float

    @property
    def age_text(self) -> str:
        """The age for people: ``12 分钟前 / 12 min ago``."""
        s = max(self.age_s, 0.0)
        if s < 120:
            return f"{s:.0f} 秒前 / {s:.0f} s ago"
        if s < 7_200:
            return f"{s / 60:.0f} 分钟前 / {s / 60:.0f} min ago"
        if s < 172_800:
            return f"{s / 3600:.0f} 小时前 / {s / 3600:.0f} h ago"
        return f"{s / 86_400:.0f} 天前 / {s / 86_400:.0f} days ago"


def worker_last_positions(engine: Engine, *, scope: Scope | None) -> list[LastPosition]:
    """Each visible worker's last position and its age, by worker code."""
    with unit_of_work(engine, scope) as conn:
        rows = last_positions(conn=conn)
    return [
        LastPosition(
            str(r["worker_code"]),
            r["at"],  # type: ignore[arg-type]
            float(r["lon"]),  # type: ignore[arg-type]
            float(r["lat"]),  # type: ignore[arg-type]
            None if r["accuracy_m"] is None else float(r["accuracy_m"]),  # type: ignore[arg-type]
            r["source"],  # type: ignore[arg-type]
            float(r["age_s"]),  # type: ignore[arg-type]
        )
        for r in rows
    ]
