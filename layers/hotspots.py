"""Hotspot layers: Gi* of case counts on H3 cells, computed from the rollups and stored."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gis import emerging, heat, hotspots
from layers import areas, rollups


def study_counts(
    *,
    conn: Connection,
    start: date,
    end: date,
    resolution: int = 9,
    categories: list[str] | None = None,
    community: str | None = None,
) -> pd.DataFrame | None:
    """The area's H3 cells at ``resolution`` with their cases (cell, n), empty cells of the
    area as 0: what Gi* is computed over, in one process or in parts. None when the area
    is unknown or has fewer than 3 cells."""
    counts = rollups.counts_by_h3(
        conn=conn, start=start, end=end, categories=categories, community=community
    )
    area = areas.area_geometry(conn=conn, community=community)
    if area is None:
        return None
    cells = heat.with_zeros(
        heat.to_resolution(counts, resolution), heat.cells_covering(area, resolution)
    )
    return cells if len(cells) >= 3 else None


def hotspot_cells(
    *,
    conn: Connection,
    start: date,
    end: date,
    resolution: int = 9,
    categories: list[str] | None = None,
    community: str | None = None,
) -> pd.DataFrame:
    """Gi* per H3 cell (cell, n, z, p, bin) over the area; empty cells of the area count as 0.

    Empty when the area is unknown or has fewer than 3 cells.
    """
    cells = study_counts(
        conn=conn,
        start=start,
        end=end,
        resolution=resolution,
        categories=categories,
        community=community,
    )
    if cells is None:
        return pd.DataFrame()
    stats = hotspots.gi_star(cells.n.to_numpy(), hotspots.h3_weights(cells.cell.to_numpy()))
    return pd.concat([cells, stats], axis=1)


def store_hotspots(
    *,
    conn: Connection,
    cells: pd.DataFrame,
    resolution: int,
    start: date,
    end: date,
    community: str | None = None,
) -> int:
    """Write ``cells`` as the ``hotspot_cells`` layer for that window (replacing a previous run)."""
    conn.execute(
        sa.text("""
        DELETE FROM hotspot_cells WHERE resolution = :r AND window_start = :s
          AND window_end = :e AND community_code IS NOT DISTINCT FROM :c
    """),
        {"r": resolution, "s": start, "e": end, "c": community},
    )
    if cells.empty:
        return 0
    hexes = heat.cell_polygons(cells)
    conn.execute(
        sa.text("""
        INSERT INTO hotspot_cells (resolution, window_start, window_end, community_code, cell,
                                   n, z, p, bin, geom)
        VALUES (:r, :s, :e, :c, :cell, :n, :z, :p, :bin, ST_GeomFromText(:wkt, 4326))
    """),
        [
            {
                "r": resolution,
                "s": start,
                "e": end,
                "c": community,
                "cell": int(row.cell_id),
                "n": int(row.n),
                "z": float(row.z),
                "p": float(row.p),
                "bin": int(row.bin),
                "wkt": row.geometry.wkt,
            }
            for row in hexes.assign(cell_id=cells.cell.to_numpy()).itertuples()
        ],
    )
    return len(cells)


def emerging_cells(
    *, conn: Connection, end: date, weeks: int = 52, resolution: int = 9
) -> pd.DataFrame:
    """Emerging hot spot category per H3 cell over ``weeks`` weekly slices ending at ``end``.

    Returns cell, category, trend_z, trend_p, hot_share, final_bin (empty if < 3 cells).
    """
    start = end - timedelta(days=7 * weeks - 1)
    weekly = pd.read_sql(
        sa.text("""
        SELECT (day - CAST(:start AS date)) / 7 AS slice, h3_r9 AS cell, sum(n)::bigint AS n
        FROM case_daily WHERE day BETWEEN :start AND :end AND h3_r9 IS NOT NULL
        GROUP BY 1, 2
    """),
        conn,
        params={"start": start, "end": end},
    )
    area = areas.area_geometry(conn=conn)
    if area is None:
        return pd.DataFrame()
    frames = [
        heat.to_resolution(weekly[weekly.slice == k][["cell", "n"]], resolution).assign(slice=k)
        for k in range(weeks)
    ]
    counts = pd.concat(frames, ignore_index=True)
    cells = np.union1d(heat.cells_covering(area, resolution), counts.cell.to_numpy(np.int64))
    if len(cells) < 3:
        return pd.DataFrame()
    cube = (
        counts.pivot_table(index="slice", columns="cell", values="n", aggfunc="sum")
        .reindex(index=range(weeks), columns=cells)
        .fillna(0)
        .to_numpy()
    )
    result = emerging.emerging_hotspots(cube, hotspots.h3_weights(cells))
    return result.assign(cell=cells)


def store_emerging(
    *, conn: Connection, cells: pd.DataFrame, resolution: int, start: date, end: date
) -> int:
    """Write ``cells`` as the ``emerging_cells`` layer for that window (replacing a rerun)."""
    conn.execute(
        sa.text("""
        DELETE FROM emerging_cells WHERE resolution = :r AND window_start = :s
          AND window_end = :e
    """),
        {"r": resolution, "s": start, "e": end},
    )
    if cells.empty:
        return 0
    hexes = heat.cell_polygons(cells[["cell"]])
    conn.execute(
        sa.text("""
        INSERT INTO emerging_cells (resolution, window_start, window_end, cell, category,
                                    trend_z, trend_p, hot_share, final_bin, geom)
        VALUES (:r, :s, :e, :cell, :cat, :z, :p, :share, :bin, ST_GeomFromText(:wkt, 4326))
    """),
        [
            {
                "r": resolution,
                "s": start,
                "e": end,
                "cell": int(c["cell"]),
                "cat": c["category"],
                "z": float(c["trend_z"]),
                "p": float(c["trend_p"]),
                "share": float(c["hot_share"]),
                "bin": int(c["final_bin"]),
                "wkt": geom.wkt,
            }
            for c, geom in zip(cells.to_dict("records"), hexes.geometry, strict=True)
        ],
    )
    return len(cells)
