"""What the dashboard pages show: one call per page, each opening its own read-only unit.

Pages hold no SQL: they call these with the engine and get plain tables back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

import geopandas as gpd
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from gis.coverage import grid_coverage
from gis.kde import KdeError
from layers import (
    areas,
    cases,
    catalogue,
    density,
    grids,
    hotspots,
    measures,
    parts,
    patrol_plans,
    patrols,
    rollups,
)
from layers.auth import Scope, User, authenticate, scoped
from layers.workflow import transitions


def _community(scope: Scope | None, community: str | None) -> str | None:
    """The community to narrow to: the one asked for, else a community-scoped role's own.

    Row-level security already hides other areas' cases and grids; this also narrows
    the extent and the layers without policies (patrols, rollups) to the user's area.
    """
    return community or (scope.community if scope else None)


@dataclass
class DistrictMap:
    """The layers of the district map and when they were read."""

    extent: tuple[float, float, float, float] | None
    communities: gpd.GeoDataFrame
    grids: gpd.GeoDataFrame
    parts: gpd.GeoDataFrame
    open_cases: gpd.GeoDataFrame
    open_case_total: int
    now: datetime


def district_map(
    engine: Engine,
    *,
    scope: Scope | None = None,
    now: datetime,
    case_limit: int = 5_000,
    community: str | None = None,
) -> DistrictMap:
    """Communities, current grids, parts and open cases (everywhere, or in ``community``)."""
    community = _community(scope, community)
    area = {"community": community}
    with scoped(engine, scope) as conn:
        return DistrictMap(
            extent=areas.extent(conn=conn, **area),
            communities=areas.communities(conn=conn, **area),
            grids=grids.current_grids(conn=conn, **area),
            parts=parts.parts(conn=conn, **area),
            open_cases=cases.open_cases(conn=conn, now=now, limit=case_limit, **area),
            open_case_total=cases.count_open(conn=conn, **area),
            now=now,
        )


@dataclass
class LeaderHeat:
    """Case counts per H3 r9 cell and per day for a time window."""

    extent: tuple[float, float, float, float] | None
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
    community = _community(scope, community)
    with scoped(engine, scope) as conn:
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


@dataclass
class Coverage:
    """Grids with this week's patrol coverage, the tracks, and workload per worker.

    ``grids`` carries ``covered_share`` (area within reach of anyone's track),
    ``walked_m`` (track length inside the grid) and ``worker_patrol_days``
    (days its own worker patrolled: 0 means nobody walked it on duty).
    """

    extent: tuple[float, float, float, float] | None
    days: tuple[date, date] | None
    grids: gpd.GeoDataFrame
    tracks: gpd.GeoDataFrame
    workload: pd.DataFrame
    plans: gpd.GeoDataFrame | None = None


def supervisor_coverage(
    engine: Engine,
    *,
    scope: Scope | None = None,
    community: str | None = None,
    with_tracks: bool = False,
) -> Coverage:
    """Coverage of each current grid by the patrols of the latest patrol week.

    Reads the stored ``grid_coverage`` of that week (written by the loaders and
    ``gridgov analyse coverage``); when it is missing, computes it in memory.
    The week's tracks (megabytes at street scale) are read only ``with_tracks``.
    """
    community = _community(scope, community)
    with scoped(engine, scope) as conn:
        week = patrols.latest_patrol_week(conn=conn)
        current = grids.current_grids(conn=conn)
        extent = areas.extent(conn=conn, community=community)
        if week is None:
            return Coverage(
                extent,
                None,
                current.assign(covered_share=0.0, walked_m=0.0, worker_patrol_days=0),
                gpd.GeoDataFrame(),
                pd.DataFrame(),
            )
        stored = patrols.stored_coverage(conn=conn, week_start=week[0])
        missing = len(stored) < len(current)
        tracks = (
            patrols.patrol_lines(conn=conn, start=week[0], end=week[1])
            if with_tracks or missing
            else gpd.GeoDataFrame()
        )
        workload = patrols.worker_workload(conn=conn, start=week[0], end=week[1])
        plans = patrol_plans.latest_plans(conn=conn, community=community)
    if missing:
        stored = grid_coverage(current, tracks)[["id", "covered_share", "walked_m"]].assign(
            time_spent_h=float("nan")
        )
    covered = current.merge(stored, on="id", how="left").fillna(
        {"covered_share": 0.0, "walked_m": 0.0}
    )
    days = workload.set_index("worker_code").days_on_patrol
    covered["worker_patrol_days"] = covered.worker_code.map(days).fillna(0).astype(int)
    if community:
        # coverage is measured over the whole street (tracks cross boundaries), shown for one
        covered = covered[covered.community_code == community]
        workload = workload[workload.grid_code.fillna("").str.startswith(community)]
        if not tracks.empty:
            tracks = tracks[tracks.worker_code.isin(covered.worker_code)]
    return Coverage(extent, week, covered, tracks, workload, plans)


@dataclass
class OperatorDesk:
    """The live queue of open cases and, when one is selected, its detail and history."""

    extent: tuple[float, float, float, float] | None
    communities: gpd.GeoDataFrame
    queue: gpd.GeoDataFrame
    open_case_total: int
    now: datetime


def operator_desk(
    engine: Engine,
    *,
    scope: Scope | None = None,
    now: datetime,
    limit: int = 2_000,
    community: str | None = None,
) -> OperatorDesk:
    """Open cases, newest first (at most ``limit`` on the map and in the queue)."""
    community = _community(scope, community)
    area = {"community": community}
    with scoped(engine, scope) as conn:
        return OperatorDesk(
            extent=areas.extent(conn=conn, **area),
            communities=areas.communities(conn=conn, **area),
            queue=cases.open_cases(conn=conn, now=now, limit=limit, **area),
            open_case_total=cases.count_open(conn=conn, **area),
            now=now,
        )


@dataclass
class CaseFile:
    """Everything the operator's case file shows, as the scope may see it."""

    detail: dict
    history: pd.DataFrame
    deadline: dict
    assignments: list[dict]
    actions: list[str]
    departments: list[tuple[str, str, str]]
    photo_actions: list[str] = field(default_factory=list)
    """Those of ``actions`` that need a photo (a handler's feedback)."""
    duplicates: list[dict] = field(default_factory=list)
    """Open cases this one may duplicate (same category, near, reported about the same
    time; nearest first): the targets of ``merge``, offered only when the role may merge."""


def case_file(
    engine: Engine, *, scope: Scope | None = None, case_id: int, now: datetime | None = None
) -> CaseFile | None:
    """A case's detail (reporters masked), history, deadline countdown, routing, and the
    actions ``scope``'s role may take on it now; None when the case is hidden or gone."""
    from layers.workflow import dispatch, duplicates
    from layers.workflow.states import TRANSITIONS

    merge_from = {
        t.from_status
        for t in TRANSITIONS
        if scope is not None and t.action == "merge" and t.role == scope.role
    }
    with scoped(engine, scope) as conn:
        detail = cases.case_detail(conn=conn, case_id=case_id)
        if detail is None:
            return None
        state = transitions.case_state(conn=conn, case_id=case_id)
        detail |= {k: state[k] for k in ("version", "pending_request", "dispatch_rule", "status")}
        detail["dispatch_reason"] = _dispatch_reason(conn, case_id)
        deadline = dispatch.deadline_status(
            conn=conn, case_id=case_id, now=now or datetime.now().astimezone()
        )
        routed = dispatch.assignments(conn=conn, case_id=case_id)
        history = cases.case_history(conn=conn, case_id=case_id)
        departments = _departments(conn)
        twins = (
            duplicates.find_duplicates(conn=conn, case_id=case_id)
            if detail["status"] in merge_from
            else []
        )
    actions, photo_actions = [], []
    if scope is not None:
        pending = detail["pending_request"]
        for t in TRANSITIONS:
            if t.from_status != detail["status"] or t.role != scope.role or t.action in actions:
                continue
            if t.action == "report" or (t.action == "merge" and not twins):
                continue  # new reports come in elsewhere; merging needs a case to merge into
            if t.requires_request and (
                pending is None or (t.requires_request != "any" and pending != t.requires_request)
            ):
                continue
            if t.sets_request and pending is not None:
                continue
            actions.append(t.action)
            if t.needs_attachment:
                photo_actions.append(t.action)
    return CaseFile(
        detail,
        history,
        deadline,
        routed,
        actions,
        departments,
        photo_actions,
        twins if "merge" in actions else [],
    )


def find_case(engine: Engine, *, scope: Scope | None, case_no: str) -> int | None:
    """The id of the case numbered ``case_no`` (spaces ignored) if ``scope`` may see it."""
    with scoped(engine, scope) as conn:
        return conn.execute(
            sa.text("SELECT id FROM cases WHERE case_no = :n"), {"n": "".join(case_no.split())}
        ).scalar()


def case_action(
    engine: Engine,
    *,
    scope: Scope,
    actor: str,
    case_id: int,
    action: str,
    expected_version: int,
    reason: str | None = None,
    department_code: str | None = None,
    attachments: list[dict] | None = None,
    merge_into: int | None = None,
    now: datetime | None = None,
) -> transitions.TransitionResult:
    """Take ``action`` on a case as ``actor`` in ``scope`` and commit (one workflow call).

    ``dispatch`` routes by the rules, or — with ``department_code`` — to that department
    as a designated override (``reason`` required); ``extend`` approves a pending
    extension by the case's time limit again; ``attachments`` (e.g. the photo record
    of :func:`layers.media.store_photo`) go into the history row; ``merge`` rejects the
    case as a duplicate of the open case ``merge_into``, whose reporters it joins.

    Raises
    ------
    layers.workflow.errors.WorkflowError
        Whatever the lifecycle refuses (stale version, wrong state, role, missing reason);
        nothing is written then.
    """
    from layers.workflow import dispatch, duplicates

    at = now or datetime.now().astimezone()
    with scoped(engine, scope, write=True) as conn:
        if action == "merge":
            if merge_into is None:
                raise ValueError("merge needs the case to merge into (merge_into)")
            return duplicates.merge_duplicate(
                conn=conn,
                duplicate_id=case_id,
                target_id=merge_into,
                actor=actor,
                role=scope.role,
                expected_version=expected_version,
                reason=reason or "duplicate",
            )
        if action == "dispatch":
            return dispatch.dispatch_case(
                conn=conn,
                case_id=case_id,
                actor=actor,
                role=scope.role,
                expected_version=expected_version,
                at=at,
                department_code=department_code,
                rule="designated" if department_code else None,
                reason=reason,
            )
        if action == "extend":
            return dispatch.approve_extension(
                conn=conn,
                case_id=case_id,
                actor=actor,
                role=scope.role,
                expected_version=expected_version,
                reason=reason or "",
                at=at,
            )
        return transitions.transition(
            conn=conn,
            case_id=case_id,
            action=action,
            actor=actor,
            role=scope.role,
            expected_version=expected_version,
            reason=reason or None,
            attachments=attachments,
            at=at,
        )


def _dispatch_reason(conn: Connection, case_id: int) -> str | None:
    return conn.execute(
        sa.text("SELECT dispatch_reason FROM cases WHERE id = :id"), {"id": case_id}
    ).scalar()


def _departments(conn: Connection) -> list[tuple[str, str, str]]:
    """(code, name_zh, name_en) of every department, for the dispatch override."""
    return [
        (r.code, r.name_zh, r.name_en or r.name_zh)
        for r in conn.execute(
            sa.text("SELECT code, name_zh, name_en FROM departments ORDER BY kind, code")
        )
    ]


def reporter_contacts(engine: Engine, *, scope: Scope, actor: str, case_id: int) -> list[dict]:
    """Unmasked reporters of a case for roles that need them; the view is recorded."""
    from layers.workflow import access

    with scoped(engine, scope, write=True) as conn:
        return access.reporter_contacts(
            conn=conn, case_ids=[case_id], actor=actor, role=scope.role, purpose="view"
        )


def login(engine: Engine, *, username: str, password: str) -> User | None:
    """The user for a name and password, or None (read with the application's own login)."""
    with engine.connect() as conn:
        return authenticate(conn=conn, username=username, password=password)


def performance(
    engine: Engine,
    *,
    scope: Scope | None = None,
    start: date,
    end: date,
    now: datetime,
    recurrence_days: int = 30,
) -> dict[str, pd.DataFrame]:
    """Measures per handling unit, grid, community and street for reports in [start, end].

    Also the places where the same part keeps failing (``places``) and each grid
    worker's load against the fair share (``workers``).
    """
    with scoped(engine, scope) as conn:
        return {
            "departments": measures.department_performance(
                conn=conn, start=start, end=end, now=now, recurrence_days=recurrence_days
            ),
            "grids": measures.grid_performance(
                conn=conn, start=start, end=end, now=now, recurrence_days=recurrence_days
            ),
            "communities": measures.area_performance(
                conn=conn, start=start, end=end, now=now, recurrence_days=recurrence_days
            ),
            "streets": measures.area_performance(
                conn=conn,
                start=start,
                end=end,
                now=now,
                recurrence_days=recurrence_days,
                level="street",
            ),
            "places": measures.recurring_places(
                conn=conn, start=start, end=end, recurrence_days=recurrence_days
            ),
            "workers": measures.worker_load(conn=conn, start=start, end=end),
        }


def community_choices(engine: Engine, *, scope: Scope | None = None) -> list[tuple[str, str, str]]:
    """(code, name_zh, name_en) of every community, for the area picker."""
    with scoped(engine, scope) as conn:
        return areas.community_choices(conn=conn)


def rollup_days(engine: Engine, *, scope: Scope | None = None) -> tuple[date, date] | None:
    """First and last day with cases in the rollup, or None."""
    with scoped(engine, scope) as conn:
        return rollups.day_range(conn=conn)


@dataclass
class Hotspots:
    """Gi* hotspots of case counts on H3 cells covering the area, for a time window."""

    extent: tuple[float, float, float, float] | None
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
    community = _community(scope, community)
    with scoped(engine, scope) as conn:
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
    community = _community(scope, community)
    with scoped(engine, scope) as conn:
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
    community = _community(scope, community)
    with scoped(engine, scope) as conn:
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


# Filter changes without a database round trip --------------------------------------------
# A page loads its data once for the user's whole area (cached on the scope and the window);
# narrowing to one community is then a pandas filter (no SQL) on what was loaded.


def area_extents(
    engine: Engine, *, scope: Scope | None = None
) -> dict[str | None, tuple[float, float, float, float]]:
    """Bounding boxes of the scope's whole area (key None) and of each community it sees."""
    with scoped(engine, scope) as conn:
        rows = conn.execute(
            sa.text("""
            SELECT code, ST_XMin(geom), ST_YMin(geom), ST_XMax(geom), ST_YMax(geom)
            FROM communities ORDER BY code""")
        ).all()
        whole = areas.extent(conn=conn, community=scope.community if scope else None)
    out: dict[str | None, tuple[float, float, float, float]] = {
        str(r[0]): (r[1], r[2], r[3], r[4]) for r in rows
    }
    if whole:
        out[None] = whole
    return out


def narrow_coverage(data: Coverage, community: str | None, extent=None) -> Coverage:  # type: ignore[no-untyped-def]
    """``data`` narrowed to one community (None: unchanged); no database work."""
    if community is None or data.days is None:
        return data
    grids_here = data.grids[data.grids.community_code == community]
    tracks = data.tracks
    if not tracks.empty:
        tracks = tracks[tracks.worker_code.isin(grids_here.worker_code)]
    plans = data.plans
    if plans is not None and not plans.empty:
        plans = plans[plans.grid_code.fillna("").str.startswith(community)]
    return Coverage(
        extent or data.extent,
        data.days,
        grids_here,
        tracks,
        data.workload[data.workload.grid_code.fillna("").str.startswith(community)],
        plans,
    )


@dataclass
class AreaHeat:
    """Case counts per H3 r9 cell and community, and per day, major class and community."""

    cells: pd.DataFrame  # cell, community, n
    daily: pd.DataFrame  # day, major, name_zh, name_en, community, n


def leader_heat_by_area(
    engine: Engine,
    *,
    scope: Scope | None = None,
    start: date,
    end: date,
    categories: list[str] | None = None,
) -> AreaHeat:
    """The rollups of [start, end] for the scope's whole area, kept per community, so that
    :func:`narrow_heat` answers an area change without another query."""
    community = _community(scope, None)
    with scoped(engine, scope) as conn:
        cells = pd.read_sql(
            sa.text(f"""
            SELECT d.h3_r9 AS cell, a.code AS community, sum(d.n)::bigint AS n
            FROM case_daily d JOIN categories k ON k.id = d.category_id
            LEFT JOIN categories m ON m.id = k.parent_id
            LEFT JOIN communities a ON a.id = d.community_id
            WHERE d.day BETWEEN :start AND :end AND d.h3_r9 IS NOT NULL
              AND {areas.IN_AREA.format(code="a.code")}
              AND (CAST(:cats AS text[]) IS NULL OR k.service_code = ANY(:cats)
                   OR m.service_code = ANY(:cats))
            GROUP BY 1, 2"""),
            conn,
            params={"start": start, "end": end, "cats": categories, "community": community},
        )
        daily = pd.read_sql(
            sa.text(f"""
            SELECT d.day, m.service_code AS major, m.name_zh, m.name_en,
                   a.code AS community, sum(d.n)::bigint AS n
            FROM case_daily_major d JOIN categories m ON m.id = d.major_id
            LEFT JOIN communities a ON a.id = d.community_id
            WHERE d.day BETWEEN :start AND :end AND {areas.IN_AREA.format(code="a.code")}
            GROUP BY 1, 2, 3, 4, 5 ORDER BY 1"""),
            conn,
            params={"start": start, "end": end, "community": community},
        )
    return AreaHeat(cells, daily)


def narrow_heat(heat: AreaHeat, community: str | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(cells: cell, n) and (daily: day, major, name_zh, name_en, n) of one community or all."""
    cells, daily = heat.cells, heat.daily
    if community is not None:
        cells = cells[cells.community == community]
        daily = daily[daily.community == community]
    cells = cells.groupby("cell", as_index=False)["n"].sum()
    daily = daily.groupby(["day", "major", "name_zh", "name_en"], as_index=False, dropna=False)[
        "n"
    ].sum()
    return cells, daily


def major_choices(engine: Engine) -> pd.DataFrame:
    """Major classes of the catalogue (service_code, kind, names), for the category filter."""
    with engine.connect() as conn:
        return catalogue.major_categories(conn=conn)
