"""Areas a user may narrow a page to, their extents, and the days with cases."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy.engine import Engine

from layers import areas, rollups
from layers.workflow.access import Scope
from services.uow import unit_of_work

Extent = tuple[float, float, float, float]
"""Bounding box (minx, miny, maxx, maxy) in EPSG:4326."""


def narrowed_community(scope: Scope | None, community: str | None) -> str | None:
    """The community to narrow to: the one asked for, else a community-scoped role's own.

    Row-level security already hides other areas' cases and grids; this also narrows
    the extent and the layers without policies (patrols, rollups) to the user's area.
    """
    return community or (scope.community if scope else None)


@dataclass(frozen=True)
class AreaChoice:
    """One area a user may narrow the pages to: its level, code, names and parent's code."""

    level: str
    code: str
    name_zh: str
    name_en: str
    parent: str | None

    def name(self, lang: str) -> str:
        """The area's name in ``lang`` (zh or en)."""
        return self.name_zh if lang == "zh" else self.name_en


def area_choices(engine: Engine, *, scope: Scope | None = None) -> list[AreaChoice]:
    """Districts, streets and communities the scope sees, for the area picker (code order).

    A district or street is offered only with the communities under it that the scope
    sees (row-level security): a community-scoped user gets its own community only.
    """
    with unit_of_work(engine, scope) as conn:
        return [AreaChoice(*row) for row in areas.area_choices(conn=conn)]


def narrower(choices: list[AreaChoice], level: str, parent: str | None) -> list[AreaChoice]:
    """The choices of ``level`` under the area ``parent`` (None: all of that level)."""
    return [
        c for c in choices if c.level == level and (parent is None or c.code.startswith(parent))
    ]


def community_choices(engine: Engine, *, scope: Scope | None = None) -> list[tuple[str, str, str]]:
    """(code, name_zh, name_en) of every community, for the area picker."""
    with unit_of_work(engine, scope) as conn:
        return areas.community_choices(conn=conn)


def rollup_days(engine: Engine, *, scope: Scope | None = None) -> tuple[date, date] | None:
    """First and last day with cases in the rollup, or None."""
    with unit_of_work(engine, scope) as conn:
        return rollups.day_range(conn=conn)


def area_extents(engine: Engine, *, scope: Scope | None = None) -> dict[str | None, Extent]:
    """Bounding boxes of the scope's whole area (key None) and of each area it sees (any level)."""
    with unit_of_work(engine, scope) as conn:
        out: dict[str | None, Extent] = {}
        out.update(areas.community_extents(conn=conn))
        whole = areas.extent(conn=conn, community=scope.community if scope else None)
    if whole:
        out[None] = whole
    return out
