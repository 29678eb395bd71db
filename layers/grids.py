"""Grids: the ~400-household patches that grid workers walk, with their history."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TypeVar

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from city import GridSize, community_of_grid
from gis.crs import WGS84, utm_epsg
from gis.dask_parts import PartsMapper
from gis.delineate import delineate
from gis.errors import GridGovError
from gis.grid_quality import QualityReport
from gis.redraw import Redraw, plan_replacement, propose_redraw, report_current
from layers.areas import IN_AREA
from layers.catalogue import code_ids

_Frame = TypeVar("_Frame", gpd.GeoDataFrame, gpd.GeoSeries)


def current_grids(*, conn: Connection, community: str | None = None) -> gpd.GeoDataFrame:
    """Grids in force today, with community and assigned worker code (no personal data)."""
    return gpd.read_postgis(
        sa.text(f"""
        SELECT g.id, g.code, g.households, c.code AS community_code, c.name_zh AS community_zh,
               c.name_en AS community_en, w.code AS worker_code, g.valid_from, g.geom
        FROM grids_current g
        JOIN communities c ON c.id = g.community_id
        LEFT JOIN workers w ON w.id = g.worker_id
        WHERE {IN_AREA.format(code="c.code")}
        ORDER BY g.code
    """),
        conn,
        geom_col="geom",
        params={"community": community},
    )


# -- delineation and redrawing: read the inputs, write a proposal as a new version -------------


class GridWriteError(GridGovError, ValueError):
    """A proposal cannot be written (stale, codes taken, same-day redraw); nothing was written."""

    code = "grid_write"
    kind = "conflict"


@dataclass
class DelineationInput:
    """What a delineation reads from the layers, in the metric CRS ``epsg``.

    Attributes
    ----------
    buildings
        building_id (index), households, geometry (points).
    communities
        code, geometry.
    barriers
        Major roads (lines grids do not cross).
    current
        Grids in force in these communities: code, households, geometry (+ id, worker_id).
    highest
        Highest grid sequence ever used per community (retired grids included).
    epsg
        The metric CRS everything is in.
    """

    buildings: gpd.GeoDataFrame
    communities: gpd.GeoDataFrame
    barriers: gpd.GeoSeries
    current: gpd.GeoDataFrame
    highest: dict[str, int]
    epsg: int


@dataclass
class WriteSummary:
    """What :func:`write_grids` did."""

    valid_from: date
    kept: int
    households_updated: int
    changed: int
    retired: int
    new: int
    parts_moved: int
    handed_over: list[tuple[str, str, str]] = field(default_factory=list)
    """(worker code, retired grid, grid taken over): a retired grid's worker goes to the
    new or changed grid without a worker that overlaps the old grid most."""
    without_worker: list[str] = field(default_factory=list)
    """New or changed grids still without a worker: a supervisor has to assign one."""
    freed: list[str] = field(default_factory=list)
    """Workers of retired grids whose old grid overlaps no grid left without a worker."""


def delineation_input(
    *, conn: Connection, communities: list[str] | None = None
) -> DelineationInput:
    """Buildings, communities, major roads and current grids for a (re)delineation.

    Parameters
    ----------
    communities
        12-digit community codes; None or empty: every community.

    Raises
    ------
    GridWriteError
        A community code given is not in the layers, or there are no communities.
    """
    codes = _community_codes(conn, communities)
    params = {"codes": codes}
    comm = gpd.read_postgis(
        sa.text("SELECT code, geom FROM communities WHERE code = ANY(:codes) ORDER BY code"),
        conn,
        geom_col="geom",
        params=params,
    )
    centre = shapely.centroid(shapely.union_all(comm.geometry.to_numpy()))
    epsg = utm_epsg(centre.x, centre.y)
    buildings = gpd.read_postgis(
        sa.text("""
        SELECT b.id AS building_id, b.households, b.geom FROM buildings b
        WHERE b.community_id IN (SELECT id FROM communities WHERE code = ANY(:codes))
           OR EXISTS (SELECT 1 FROM communities c WHERE c.code = ANY(:codes)
                      AND ST_Intersects(c.geom, b.geom))
        ORDER BY b.id
    """),
        conn,
        geom_col="geom",
        params=params,
    ).set_index("building_id")
    barriers = gpd.read_postgis(
        sa.text("""
        SELECT r.geom FROM roads r WHERE r.road_class = 'major' AND EXISTS (
            SELECT 1 FROM communities c
            WHERE c.code = ANY(:codes) AND ST_Intersects(c.geom, r.geom))
        ORDER BY r.id
    """),
        conn,
        geom_col="geom",
        params=params,
    ).geometry
    current = gpd.read_postgis(
        sa.text("""
        SELECT g.id, g.code, g.households, g.worker_id, g.version, g.valid_from, g.geom
        FROM grids_current g JOIN communities c ON c.id = g.community_id
        WHERE c.code = ANY(:codes) ORDER BY g.code
    """),
        conn,
        geom_col="geom",
        params=params,
    )
    current["code"] = current.code.str.strip()
    used = conn.execute(
        sa.text("""
        SELECT left(code, 12), max(right(code, 3)::int) FROM grids
        WHERE left(code, 12) = ANY(:codes) GROUP BY 1
    """),
        params,
    ).all()
    return DelineationInput(
        buildings=_with_wgs84(buildings).rename_geometry("geometry").to_crs(epsg),
        communities=_with_wgs84(comm).rename_geometry("geometry").to_crs(epsg),
        barriers=_with_wgs84(barriers).rename("geometry").to_crs(epsg),
        current=_with_wgs84(current).rename_geometry("geometry").to_crs(epsg),
        highest={str(c): int(s) for c, s in used},
        epsg=epsg,
    )


def _with_wgs84(frame: _Frame) -> _Frame:
    """``frame`` with CRS WGS 84 (the layers' SRID) when PostGIS returned none.

    ``read_postgis`` takes the CRS from the first row's SRID, so an empty result
    (a city without roads or grids yet) comes back without one and cannot be
    transformed.
    """
    return frame.set_crs(WGS84) if frame.crs is None else frame


def write_grids(
    proposal: gpd.GeoDataFrame,
    changes: pd.DataFrame,
    *,
    conn: Connection,
    valid_from: date | None = None,
) -> WriteSummary:
    """Write a proposal (:class:`gis.redraw.Redraw`) as a new version of the grids.

    Kept grids stay the same rows (their household count is refreshed); changed
    and retired grids get ``valid_to = valid_from``; changed and new grids are
    inserted with ``valid_from`` (a changed grid keeps its code and worker, its
    version goes up). Cases keep the grid row they were filed in; parts in a
    closed grid move to the current grid they lie in. Runs inside the caller's
    transaction and locks the grids table against a concurrent redraw.

    Parameters
    ----------
    proposal, changes
        ``Redraw.grids`` and ``Redraw.changes`` (any projected or geographic CRS).
    valid_from
        The day the new version takes effect (default: today).

    Raises
    ------
    GridWriteError
        The proposal is stale (a grid it keeps or closes is not current), a new
        code was used before, or a grid to close began on or after ``valid_from``.
    """
    day = valid_from or date.today()
    conn.execute(sa.text("LOCK TABLE grids IN SHARE ROW EXCLUSIVE MODE"))
    action = changes.set_index("code").action
    closing = sorted(action.index[action.isin(["changed", "retired"])])
    kept = proposal[proposal.action == "kept"]
    inserted = proposal[proposal.action.isin(["changed", "new"])]
    before = {
        row.code.strip(): row
        for row in conn.execute(
            sa.text("""SELECT code, id, version, worker_id, valid_from FROM grids_current
                       WHERE code = ANY(:codes)"""),
            {"codes": [*kept.code, *closing]},
        )
    }
    _check_writable(kept, closing, inserted, before, day, conn=conn)
    retired = sorted(action.index[action == "retired"])
    handover = _hand_over(conn, inserted, retired, before)
    updated = conn.execute(
        sa.text("""UPDATE grids g SET households = k.households
                   FROM unnest(CAST(:codes AS text[]), CAST(:households AS int[]))
                        AS k(code, households)
                   WHERE g.code = k.code AND g.valid_to IS NULL
                     AND g.households <> k.households"""),
        {"codes": list(kept.code), "households": [int(h) for h in kept.households]},
    ).rowcount
    closed_ids = [
        r[0]
        for r in conn.execute(
            sa.text("""UPDATE grids SET valid_to = :day
                       WHERE code = ANY(:codes) AND valid_to IS NULL RETURNING id"""),
            {"day": day, "codes": closing},
        )
    ]
    _insert(conn, inserted, before, day, {new: wid for wid, _, _, new in handover.moves})
    moved = 0
    if closed_ids:
        moved = conn.execute(
            sa.text("""UPDATE parts p SET grid_id = (
                           SELECT g.id FROM grids_current g WHERE ST_Intersects(g.geom, p.geom)
                           ORDER BY g.id LIMIT 1)
                       WHERE p.grid_id = ANY(:closed)"""),
            {"closed": closed_ids},
        ).rowcount
    return WriteSummary(
        valid_from=day,
        kept=len(kept),
        households_updated=updated,
        changed=int((inserted.action == "changed").sum()),
        retired=int((action == "retired").sum()),
        new=int((inserted.action == "new").sum()),
        parts_moved=moved,
        handed_over=[(worker, old, new) for _, worker, old, new in handover.moves],
        without_worker=handover.without_worker,
        freed=handover.freed,
    )


@dataclass
class _Handover:
    moves: list[tuple[int, str, str, str]]
    """(worker id, worker code, retired grid, grid taken over)."""
    without_worker: list[str]
    freed: list[str]


def _hand_over(
    conn: Connection, inserted: gpd.GeoDataFrame, retired: list[str], before: dict
) -> _Handover:
    """Match the workers of retired grids to new or changed grids left without a worker.

    Greedy by overlap area (the largest overlap first), one worker per grid,
    within a community: a worker keeps walking the streets they know.
    """
    needs = [
        i
        for i, row in enumerate(inserted.itertuples())
        if not (row.action == "changed" and before[row.code].worker_id is not None)
    ]
    rows = conn.execute(
        sa.text("""SELECT g.code, g.worker_id, w.code, ST_AsBinary(g.geom) FROM grids_current g
                   JOIN workers w ON w.id = g.worker_id
                   WHERE g.code = ANY(:codes) AND w.active ORDER BY g.code"""),
        {"codes": retired},
    ).all()
    old = [(r[0].strip(), r[1], r[2], shapely.from_wkb(bytes(r[3]))) for r in rows]
    geoms = inserted.geometry.to_crs(WGS84) if inserted.crs else inserted.geometry
    pairs = sorted(
        (
            (shapely.area(shapely.intersection(geoms.iloc[i], geom)), i, k)
            for i in needs
            for k, (code, _, _, geom) in enumerate(old)
            if community_of_grid(code) == inserted.iloc[i].community
        ),
        key=lambda p: (-p[0], p[1], p[2]),
    )
    taken_grid: set[int] = set()
    taken_worker: set[int] = set()
    moves = []
    for overlap, i, k in pairs:
        if overlap <= 0 or i in taken_grid or k in taken_worker:
            continue
        taken_grid.add(i)
        taken_worker.add(k)
        code, worker_id, worker_code, _ = old[k]
        moves.append((worker_id, worker_code, code, inserted.iloc[i].code))
    return _Handover(
        moves=moves,
        without_worker=[inserted.iloc[i].code for i in needs if i not in taken_grid],
        freed=[old[k][2] for k in range(len(old)) if k not in taken_worker],
    )


def grid_history(*, conn: Connection, code: str) -> pd.DataFrame:
    """Every version of grid ``code``: id, version, households, valid_from, valid_to."""
    return pd.read_sql(
        sa.text("""SELECT id, code, version, households, valid_from, valid_to FROM grids
                   WHERE code = :code ORDER BY valid_from"""),
        conn,
        params={"code": code},
    )


def _community_codes(conn: Connection, communities: list[str] | None) -> list[str]:
    known = [
        r[0].strip() for r in conn.execute(sa.text("SELECT code FROM communities ORDER BY code"))
    ]
    if not known:
        raise GridWriteError("there are no communities in the layers: load boundaries first")
    if not communities:
        return known
    missing = sorted(set(communities) - set(known))
    if missing:
        raise GridWriteError(
            f"unknown community code(s) {', '.join(missing)}; known: {', '.join(known[:20])}"
            + (" …" if len(known) > 20 else "")
        )
    return sorted(set(communities))


def _check_writable(
    kept: pd.DataFrame,
    closing: list[str],
    inserted: pd.DataFrame,
    before: dict,
    day: date,
    *,
    conn: Connection,
) -> None:
    stale = sorted((set(kept.code) | set(closing)) - set(before))
    if stale:
        raise GridWriteError(
            f"the proposal is out of date: grid(s) {', '.join(stale[:10])} are no longer "
            "current; propose the redraw again"
        )
    fresh = list(inserted.code[inserted.action == "new"])
    taken = [
        c.strip()
        for c in conn.execute(
            sa.text("SELECT DISTINCT code FROM grids WHERE code = ANY(:codes) ORDER BY code"),
            {"codes": fresh},
        ).scalars()
    ]
    if taken:
        raise GridWriteError(
            f"new grid code(s) {', '.join(taken[:10])} were used before; codes are never reused"
        )
    too_new = sorted(c for c in closing if before[c].valid_from >= day)
    if too_new:
        raise GridWriteError(
            f"grid(s) {', '.join(too_new[:10])} took effect on "
            f"{before[too_new[0]].valid_from}; a new version can take effect from the day "
            f"after at the earliest (valid_from after {day} is needed)"
        )


def _insert(
    conn: Connection,
    inserted: gpd.GeoDataFrame,
    before: dict,
    day: date,
    handed_over: dict[str, int],
) -> None:
    if inserted.empty:
        return
    communities = code_ids(conn, "communities", "code")
    geoms = inserted.geometry.to_crs(WGS84) if inserted.crs else inserted.geometry
    rows = []
    for row, geom in zip(inserted.itertuples(), geoms.to_numpy(), strict=True):
        old = before.get(row.code) if row.action == "changed" else None
        rows.append(
            {
                "code": row.code,
                "community_id": communities[row.community],
                "households": int(row.households),
                "worker_id": (
                    old.worker_id
                    if old and old.worker_id is not None
                    else handed_over.get(row.code)
                ),
                "version": old.version + 1 if old else 1,
                "valid_from": day,
                "wkb": shapely.to_wkb(_multipolygon(geom)),
            }
        )
    conn.execute(
        sa.text("""
        INSERT INTO grids (code, community_id, households, worker_id, version, valid_from, geom)
        VALUES (:code, :community_id, :households, :worker_id, :version, :valid_from,
                ST_GeomFromWKB(:wkb, 4326))
    """),
        rows,
    )


def _multipolygon(geom: shapely.Geometry) -> shapely.MultiPolygon:
    """The polygonal parts of ``geom`` as one MultiPolygon (the grids layer's type)."""
    geom = shapely.make_valid(geom)
    return shapely.MultiPolygon(
        [p for p in shapely.get_parts(geom) if p.geom_type == "Polygon" and not p.is_empty]
    )


# -- proposing a delineation or a redraw from the layers ---------------------------------------


class GridInputError(GridGovError, ValueError):
    """A buildings file for a delineation cannot be read; the message says why."""

    code = "bad_grid_input"
    kind = "bad_input"


@dataclass
class GridProposal:
    """A proposed (re)delineation of some communities, ready for :func:`write_grids`."""

    redraw: Redraw
    source: DelineationInput
    mode: str  # "delineate" (fresh) or "redraw" (keep what still fits)


def propose_grids(
    *,
    conn: Connection,
    communities: list[str] | None = None,
    redraw: bool = False,
    size: GridSize | None = None,
    buildings: gpd.GeoDataFrame | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    map_parts: PartsMapper | None = None,
) -> GridProposal:
    """Propose grids for ``communities`` from the layers (nothing is written).

    Parameters
    ----------
    redraw
        Keep the current grids that still fit and redraw only the others
        (:func:`gis.redraw.propose_redraw`); otherwise delineate the communities
        afresh (:func:`gis.delineate.delineate`), still keeping the code of a grid
        that is drawn again (about) the same.
    size
        Households per grid: aim and allowed range (default: the city profile's).
    buildings
        Buildings to use instead of the buildings layer (e.g. from
        :func:`read_buildings_file`), any CRS, with a ``households`` column.
    progress
        ``progress(label, done, total)`` as communities or clusters are done.
    map_parts
        Runs a fresh delineation's communities, one task each (:mod:`gis.dask_parts`, e.g.
        on a Dask cluster; default here): the same proposal. A redraw runs here.

    Raises
    ------
    GridWriteError
        Unknown community code, or no communities at all.
    gis.delineate.DelineationError
        Parameters out of range or community polygons that cannot be delineated.
    """
    source = delineation_input(conn=conn, communities=communities)
    if buildings is not None:
        source.buildings = buildings.to_crs(source.epsg) if buildings.crs else buildings
    if redraw:
        result = propose_redraw(
            source.current,
            source.buildings,
            source.communities,
            barriers=source.barriers,
            size=size,
            highest=source.highest,
            progress=progress,
        )
    else:
        keys = list(source.communities.code)

        def step(done: int, total: int) -> None:
            if progress:
                progress(f"community {keys[done - 1]}", done, total)

        fresh = delineate(
            source.buildings,
            source.communities,
            barriers=source.barriers,
            size=size,
            progress=step,
            map_parts=map_parts,
        )
        result = plan_replacement(source.current, fresh, size=size, highest=source.highest)
    return GridProposal(result, source, "redraw" if redraw else "delineate")


def current_report(
    *, conn: Connection, communities: list[str] | None = None, size: GridSize | None = None
) -> QualityReport:
    """Quality report of the grids in force, measured against the buildings layer.

    ``size`` gives the range measured (default: the city profile's).
    """
    source = delineation_input(conn=conn, communities=communities)
    return report_current(
        source.current, source.buildings, source.communities, source.barriers, size=size
    )


def read_buildings_file(path: str | Path, *, households: str = "households") -> gpd.GeoDataFrame:
    """Buildings with household counts from GeoJSON, GeoPackage or CSV (lon/lat or x/y).

    CSV coordinates are WGS 84 longitude/latitude (columns ``lon``/``lat``,
    ``longitude``/``latitude`` or ``x``/``y``). Rows keep their file order as
    index (0-based), so messages name the row; bad rows are set aside later.

    Raises
    ------
    GridInputError
        The file is missing, of an unknown kind, unreadable, or lacks the
        households or coordinate columns.
    """
    path = Path(path)
    if not path.exists():
        raise GridInputError(f"buildings file {path} does not exist")
    suffix = path.suffix.lower()
    try:
        if suffix in (".csv", ".txt"):
            frame = pd.read_csv(path)
            cols = {c.lower(): c for c in frame.columns}
            pair = next(
                (
                    p
                    for p in (("lon", "lat"), ("longitude", "latitude"), ("x", "y"))
                    if set(p) <= set(cols)
                ),
                None,
            )
            if pair is None:
                raise GridInputError(
                    f"{path}: no coordinate columns; expected lon/lat, longitude/latitude or x/y "
                    f"(columns: {', '.join(frame.columns)})"
                )
            x = pd.to_numeric(frame[cols[pair[0]]], errors="coerce").to_numpy()
            y = pd.to_numeric(frame[cols[pair[1]]], errors="coerce").to_numpy()
            geometry = np.where(np.isnan(x) | np.isnan(y), None, shapely.points(x, y))
            gdf = gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geometry, crs=WGS84))
        elif suffix in (".geojson", ".json", ".gpkg"):
            gdf = gpd.read_file(path)
            if gdf.crs is None:
                gdf = gdf.set_crs(WGS84)
        else:
            raise GridInputError(
                f"{path}: unknown kind of file {suffix!r}; use .geojson, .gpkg or .csv"
            )
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        if isinstance(exc, GridInputError):
            raise
        raise GridInputError(f"{path}: cannot read: {exc}") from exc
    if households not in gdf:
        raise GridInputError(
            f"{path}: no {households!r} column (columns: {', '.join(map(str, gdf.columns))})"
        )
    return gdf.reset_index(drop=True)
