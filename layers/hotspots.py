"""Hotspot layers: Gi* of case counts on H3 cells, computed from the rollups and stored."""

from __future__ import annotations

from datetime import date

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gis import heat, hotspots
from layers import areas, rollups


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
    counts = rollups.counts_by_h3(
        conn=conn, start=start, end=end, categories=categories, community=community
    )
    area = areas.area_geometry(conn=conn, community=community)
    if area is None:
        return pd.DataFrame()
    cells = heat.with_zeros(
        heat.to_resolution(counts, resolution), heat.cells_covering(area, resolution)
    )
    if len(cells) < 3:
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
