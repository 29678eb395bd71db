"""The leader's view: where cases concentrate and how they trend, and the measures.

A page loads a window once for the user's whole area, kept per community
(:func:`leader_heat_by_area`); an area change is then :func:`narrow_heat`, a pandas
filter with no database round trip.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import geopandas as gpd
import pandas as pd
from sqlalchemy.engine import Engine

from gis.kde import KdeError
from layers import areas, catalogue, density, hotspots, measures, rollup_queue, rollups
from layers.workflow.access import Scope
from services.areas import Extent, narrowed_community
from services.uow import unit_of_work


@dataclass
class LeaderHeat:
    """Case counts per H3 r9 cell and per day for a time window."""

    extent: Extent | None
    days: tuple[date, date] | None
    cells: pd.DataFrame
    daily: pd.DataFrame
    majors: pd.DataFrame


def leader_heat(
    engine: Engine,
    *,
    scope: Scope | None = None,
    start: date | None = None,
    end: date | None = None,
    categories: list[str] | None = None,
    community: str | None = None,
) -> LeaderHeat:
    """Heat and trend of cases between ``start`` and ``end`` (default: the whole rollup)."""
    community = narrowed_community(scope, community)
    with unit_of_work(engine, scope) as conn:
        days = rollups.day_range(conn=conn)
        if days is None:
            empty = pd.DataFrame()
            return LeaderHeat(
                areas.extent(conn=conn), None, empty, empty, catalogue.major_categories(conn=conn)
            )
        start, end = start or days[0], end or days[1]
        area = {"community": community}
        return LeaderHeat(
            extent=areas.extent(conn=conn, **area),
            days=days,
            cells=rollups.counts_by_h3(
                conn=conn, start=start, end=end, categories=categories, **area
            ),
            daily=rollups.daily_counts(conn=conn, start=start, end=end, **area),
            majors=catalogue.major_categories(conn=conn),
        )


def performance(
    engine: Engine,
    *,
    scope: Scope | None = None,
    start: date,
    end: date,
    now: datetime,
    recurrence_days: int = 30,
    community: str | None = None,
) -> dict[str, pd.DataFrame]:
    """Measures per handling unit, grid, community and street for reports in [start, end]
    in the area ``community`` (any level; None: the user's whole area), from the measures
    rollup (the raw cases when ``recurrence_days`` is not the rollup's 30).

    Also the places where the same part keeps failing (``places``) and each grid
    worker's load against the fair share (``workers``).
    """
    community = narrowed_community(scope, community)
    common = {
        "start": start,
        "end": end,
        "community": community,
        "source": "rollup",
    }
    timed: dict[str, object] = {**common, "now": now, "recurrence_days": recurrence_days}
    with unit_of_work(engine, scope) as conn:
        if recurrence_days == measures.ROLLUP_RECURRENCE_DAYS:  # every level in one pass
            timed["rolled"] = measures.rollup_measures(
                conn,
                ("department", "grid", "community", "street"),
                start=start,
                end=end,
                now=now,
                community=community,
            )
        return {
            "departments": measures.department_performance(conn=conn, **timed),  # type: ignore[arg-type]
            "grids": measures.grid_performance(conn=conn, **timed),  # type: ignore[arg-type]
            "communities": measures.area_performance(conn=conn, **timed),  # type: ignore[arg-type]
            "streets": measures.area_performance(conn=conn, level="street", **timed),  # type: ignore[arg-type]
            "places": measures.recurring_places(
                conn=conn,
                recurrence_days=recurrence_days,
                **common,  # type: ignore[arg-type]
            ),
            "workers": measures.worker_load(conn=conn, **common),  # type: ignore[arg-type]
        }


@dataclass
class Hotspots:
    """Gi* hotspots of case counts on H3 cells covering the area, for a time window."""

    extent: Extent | None
    resolution: int
    cells: pd.DataFrame  # cell, n, z, p, bin


def leader_hotspots(
    engine: Engine,
    *,
    scope: Scope | None = None,
    start: date,
    end: date,
    resolution: int = 9,
    categories: list[str] | None = None,
    community: str | None = None,
) -> Hotspots:
    """Getis-Ord Gi* (FDR-corrected bins) of cases per H3 cell, empty cells counted as 0."""
    community = narrowed_community(scope, community)
    with unit_of_work(engine, scope) as conn:
        cells = hotspots.hotspot_cells(
            conn=conn,
            start=start,
            end=end,
            resolution=resolution,
            categories=categories,
            community=community,
        )
        extent = areas.extent(conn=conn, community=community)
    return Hotspots(extent, resolution, cells)


def leader_grid_heat(
    engine: Engine,
    *,
    scope: Scope | None = None,
    start: date,
    end: date,
    categories: list[str] | None = None,
    community: str | None = None,
) -> gpd.GeoDataFrame:
    """Heat per grid from the rollup: cases and cases per 1,000 households in each grid."""
    community = narrowed_community(scope, community)
    with unit_of_work(engine, scope) as conn:
        return rollups.counts_by_grid(
            conn=conn, start=start, end=end, categories=categories, community=community
        )


@dataclass(frozen=True)
class Density:
    """Kernel density bands of cases (EPSG:4326) and how they were made."""

    bands: gpd.GeoDataFrame  # band, lower, upper (cases per km²), geometry
    bandwidth_m: float | None
    peak_per_km2: float


def leader_density(
    engine: Engine,
    *,
    scope: Scope | None = None,
    start: date,
    end: date,
    categories: list[str] | None = None,
    community: str | None = None,
    levels: int = 6,
) -> Density:
    """Kernel density of cases in the window (from the H3 r9 rollup); empty when no cases."""
    community = narrowed_community(scope, community)
    with unit_of_work(engine, scope) as conn:
        try:
            bands, surface = density.case_density(
                conn=conn,
                start=start,
                end=end,
                categories=categories,
                community=community,
                levels=levels,
            )
        except KdeError:
            empty = gpd.GeoDataFrame(
                {"band": [], "lower": [], "upper": []}, geometry=[], crs="EPSG:4326"
            )
            return Density(empty, None, 0.0)
    return Density(bands, surface.bandwidth, float(surface.density.max()))


@dataclass
class AreaHeat:
    """Case counts per H3 r9 cell and community, and per day, major class and community."""

    cells: pd.DataFrame  # cell, community, n
    daily: pd.DataFrame  # day, major, name_zh, name_en, community, n


FRESH_ON_READ_DAYS = 31
"""At most this many queued days are rebuilt before a page reads the rollups (a bulk
load's year waits for ``gridgov analyse rollups --dirty``)."""


def refresh_stale_rollups(engine: Engine, *, scope: Scope | None = None) -> int:
    """Rebuild the rollups of the days queued as changed (workflow steps, reports, loads),
    when there are at most :data:`FRESH_ON_READ_DAYS` of them: what the leader's views read
    is then as fresh as the cases. Returns the days rebuilt (0: none were stale; negative:
    that many wait for the command)."""
    with unit_of_work(engine, scope, write=True) as conn:
        return rollup_queue.refresh_dirty(conn, max_days=FRESH_ON_READ_DAYS)


def leader_heat_by_area(
    engine: Engine,
    *,
    scope: Scope | None = None,
    start: date,
    end: date,
    categories: list[str] | None = None,
) -> AreaHeat:
    """The rollups of [start, end] for the scope's whole area, kept per community, so that
    :func:`narrow_heat` answers an area change without another query. The days changed
    since the last read are rebuilt first (:func:`refresh_stale_rollups`)."""
    refresh_stale_rollups(engine, scope=scope)
    community = narrowed_community(scope, None)
    with unit_of_work(engine, scope) as conn:
        cells = rollups.counts_by_h3_and_community(
            conn=conn, start=start, end=end, categories=categories, community=community
        )
        daily = rollups.daily_counts_by_community(
            conn=conn, start=start, end=end, community=community
        )
    return AreaHeat(cells, daily)


def narrow_heat(heat: AreaHeat, community: str | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(cells: cell, n) and (daily: day, major, name_zh, name_en, n) of one community or all."""
    cells, daily = heat.cells, heat.daily
    if community is not None:
        # any level's code: a community's code starts with its street's and district's
        cells = cells[cells.community.fillna("").str.startswith(community)]
        daily = daily[daily.community.fillna("").str.startswith(community)]
    cells = cells.groupby("cell", as_index=False).agg(n=("n", "sum"))
    daily = daily.groupby(["day", "major", "name_zh", "name_en"], as_index=False, dropna=False).agg(
        n=("n", "sum")
    )
    return cells, daily


def major_choices(engine: Engine) -> pd.DataFrame:
    """Major classes of the catalogue (service_code, kind, names), for the category filter."""
    with unit_of_work(engine, None) as conn:
        return catalogue.major_categories(conn=conn)


HEADLINE = (
    "closure_rate",
    "on_time_closure_rate",
    "part_recurrence_rate",
    "false_closure_rate",
    "missed_report_share",
    "proactive_share",
    "backlog_median_age_days",
    "cases_per_100_households",
)
"""The first screen's figures: closure and on-time closure, then what they hide."""


def headline(tables: dict[str, pd.DataFrame]) -> dict[str, float | None]:
    """The area's headline figures from :func:`performance`'s tables: the street rates
    weighted by cases (one street: its own), the share of resident reports patrols missed
    and the cases per 100 households over the grids, and the sample sizes (``cases``,
    ``closed``, ``backlog_open``, ``households``)."""
    streets, grids = tables["streets"], tables["grids"]
    out: dict[str, float | None] = {}
    cases = float(streets.cases.sum()) if not streets.empty else 0.0
    for key in (*HEADLINE[:6], "backlog_median_age_days"):
        if key in ("missed_report_share",) or key not in streets.columns or not cases:
            continue
        values = pd.to_numeric(streets[key], errors="coerce").astype(float)
        weights = streets.cases.astype(float).where(values.notna(), 0.0)
        out[key] = (
            float((values.fillna(0) * weights).sum() / weights.sum()) if weights.sum() else None
        )
    grid_cases = float(grids.cases.sum()) if not grids.empty else 0.0
    households = float(grids.households.sum()) if not grids.empty else 0.0
    out["missed_report_share"] = (
        float(grids.missed_reports.sum()) / grid_cases if grid_cases else None
    )
    out["cases_per_100_households"] = 100.0 * grid_cases / households if households else None
    out["cases"] = cases
    out["closed"] = float(streets.closed.sum()) if not streets.empty else 0.0
    out["backlog_open"] = float(streets.backlog_open.sum()) if not streets.empty else 0.0
    out["households"] = households
    return out
