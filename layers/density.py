"""Kernel density of cases from the daily rollup (never a rescan of raw cases)."""

from __future__ import annotations

from datetime import date

import geopandas as gpd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gis import kde
from layers.rollups import counts_by_h3


def case_density(
    *,
    conn: Connection,
    start: date,
    end: date,
    categories: list[str] | None = None,
    community: str | None = None,
    bandwidth: float | None = None,
    levels: int = 6,
    kernel: str = "quartic",
) -> tuple[gpd.GeoDataFrame, kde.Surface]:
    """Density bands (EPSG:4326, cases per km²) of cases reported ``start``–``end``.

    Counts come per H3 r9 cell from ``case_daily``; see :func:`gis.kde.h3_density_bands`.

    Raises
    ------
    gis.kde.KdeError
        No cases in the window, or a bad bandwidth, kernel or number of levels.
    """
    counts = counts_by_h3(
        conn=conn, start=start, end=end, categories=categories, community=community
    )
    return kde.h3_density_bands(counts, bandwidth=bandwidth, levels=levels, kernel=kernel)


def store_density(
    *,
    conn: Connection,
    bands: gpd.GeoDataFrame,
    surface: kde.Surface,
    start: date,
    end: date,
    categories: list[str] | None = None,
    community: str | None = None,
) -> int:
    """Write ``bands`` as the ``density_bands`` layer for that window (replacing a previous run)."""
    cats = ",".join(sorted(categories)) if categories else None
    conn.execute(
        sa.text("""
        DELETE FROM density_bands WHERE window_start = :s AND window_end = :e
          AND community_code IS NOT DISTINCT FROM :c AND categories IS NOT DISTINCT FROM :k
    """),
        {"s": start, "e": end, "c": community, "k": cats},
    )
    if bands.empty:
        return 0
    conn.execute(
        sa.text("""
        INSERT INTO density_bands (window_start, window_end, community_code, categories, kernel,
                                   bandwidth_m, band, lower_per_km2, upper_per_km2, geom)
        VALUES (:s, :e, :c, :k, :kernel, :h, :band, :lo, :hi,
                ST_Multi(ST_GeomFromText(:wkt, 4326)))
    """),
        [
            {
                "s": start,
                "e": end,
                "c": community,
                "k": cats,
                "kernel": surface.kernel,
                "h": surface.bandwidth,
                "band": int(row.band),
                "lo": float(row.lower),
                "hi": float(row.upper),
                "wkt": row.geometry.wkt,
            }
            for row in bands.itertuples()
        ],
    )
    return len(bands)
