"""Areas a user may narrow a page to, their extents, and the days with cases."""

from __future__ import annotations

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


def community_choices(engine: Engine, *, scope: Scope | None = None) -> list[tuple[str, str, str]]:
    """(code, name_zh, name_en) of every community, for the area picker."""
    with unit_of_work(engine, scope) as conn:
        return areas.community_choices(conn=conn)


def rollup_days(engine: Engine, *, scope: Scope | None = None) -> tuple[date, date] | None:
    """First and last day with cases in the rollup, or None."""
    with unit_of_work(engine, scope) as conn:
        return rollups.day_range(conn=conn)


def area_extents(engine: Engine, *, scope: Scope | None = None) -> dict[str | None, Extent]:
    """Bounding boxes of the scope's whole area (key None) and of each community it sees."""
    with unit_of_work(engine, scope) as conn:
        out: dict[str | None, Extent] = {}
        out.update(areas.community_extents(conn=conn))
        whole = areas.extent(conn=conn, community=scope.community if scope else None)
    if whole:
        out[None] = whole
    return out
