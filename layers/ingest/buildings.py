"""Import buildings or address points with household counts.

Points (address registers: CSV with coordinates, GeoJSON points) become the
building location; polygons (footprints) are kept as ``footprint`` — repaired
with ``make_valid`` when that is safe, with a note — and located at a point on
their surface. Each building gets its community on entry.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import shapely
from sqlalchemy.engine import Connection

from layers.bulk import ewkb_hex
from layers.ingest.arrays import where_or_none
from layers.ingest.assignment import Locate, locate, served_area
from layers.ingest.errors import MappingError
from layers.ingest.mapping import Mapping
from layers.ingest.points import (
    RowNote,
    nullable_ids,
    point_batches,
    prepare_points,
    staged_insert,
)
from layers.ingest.readers import SourceFrame, read_source
from layers.ingest.runs import ImportAccount, Progress, run_import
from layers.ingest.validation import (
    BAD_HOUSEHOLDS,
    INVALID_GEOMETRY,
    Rejections,
    column_text,
    repair_polygons,
)

STAGE = "ingest_stage_buildings"
STAGE_COLUMNS = """
    row_number bigint, source_id text, community_id integer, address text,
    households integer, floors integer, x float8, y float8, footprint text
"""
INSERT = f"""
WITH new AS (
    INSERT INTO buildings (community_id, address, households, floors, source, source_id,
                           geom, footprint)
    SELECT s.community_id, s.address, s.households, s.floors, :source, s.source_id,
           ST_SetSRID(ST_MakePoint(s.x, s.y), 4326),
           ST_Multi(ST_GeomFromEWKB(decode(s.footprint, 'hex')))
    FROM {STAGE} s ORDER BY s.row_number
    ON CONFLICT (source, source_id) DO NOTHING
    RETURNING id
)
SELECT count(*) FROM new
"""


def load_buildings(
    path: str | Path,
    mapping: Mapping,
    *,
    conn: Connection,
    batch_rows: int = 100_000,
    commit: bool = True,
    progress: Progress | None = None,
    assign: Locate = locate,
) -> ImportAccount:
    """Import buildings or address points of ``path`` as ``mapping`` describes.

    Parameters
    ----------
    path
        CSV with coordinates, GeoJSON/GeoPackage of points or footprints, (Geo)Parquet.
    mapping
        A ``layer: buildings`` mapping: ``columns.households`` or
        ``default_households`` (e.g. 1 per address point). Missing counts take
        the default (0 when there is none); see :func:`household_counts`.
    conn, batch_rows, commit, progress, assign
        As for :func:`layers.ingest.cases.load_cases`.

    Returns
    -------
    ImportAccount
        ``repaired`` counts footprints made valid (noted in ``import_notes``).
    """
    if mapping.layer != "buildings":
        raise MappingError(f"{mapping.name} is a mapping for {mapping.layer}, not buildings")
    source = read_source(path, mapping)
    located, footprint, repaired, unsafe = _locate_footprints(source, mapping)
    rej = Rejections(len(source))
    rej.reject(
        unsafe, INVALID_GEOMETRY, lambda i: "footprint is invalid and cannot be repaired safely"
    )
    counted: list[tuple[np.ndarray, np.ndarray]] = []
    points = prepare_points(
        located,
        mapping,
        served_area(conn=conn),
        assign=assign,
        layer_checks=lambda r: counted.append(household_counts(source, mapping, r)),
        rej=rej,
    )
    [(households, rounded)] = counted
    n, cols = len(source), mapping.columns
    floors = pd.Series([None] * n, dtype="Int64")
    if "floors" in cols:
        raw = pd.to_numeric(source.frame[str(cols["floors"])], errors="coerce").round()
        floors = raw.where(raw > 0).astype("Int64")
    fields = {
        "row_number": np.arange(1, n + 1),
        "source_id": points.ids,
        "community_id": nullable_ids(points.where.community_id),
        "address": (
            column_text(source, cols["address"], sep=" ").to_numpy(dtype=object)
            if "address" in cols
            else np.full(n, None, dtype=object)
        ),
        "households": households,
        # pandas-stubs has no overload taking na_value=None, which pandas accepts (na_value: Any)
        "floors": floors.to_numpy(dtype=object, na_value=None),  # type: ignore[call-overload]
        "x": points.lon,
        "y": points.lat,
        "footprint": footprint,
    }

    write = point_batches(
        conn,
        layer="buildings",
        source_name=mapping.source,
        points=points,
        insert=staged_insert(
            conn,
            table=STAGE,
            columns_ddl=STAGE_COLUMNS,
            fields=fields,
            sql=INSERT,
            params={"source": mapping.source},
        ),
        repaired=repaired,
        repair_message=lambda i: f"row {i + 1}: invalid footprint made valid (make_valid)",
        notes=[
            RowNote(
                rounded,
                "households_rounded",
                lambda i: _rounded_message(source, mapping, households, i),
            )
        ],
    )

    return run_import(
        conn=conn,
        layer="buildings",
        source=mapping.source,
        file=str(path),
        mapping=mapping.name,
        n_rows=n,
        write_batch=write,
        batch_rows=batch_rows,
        commit=commit,
        progress=progress,
    )


def _rounded_message(source: SourceFrame, mapping: Mapping, households: np.ndarray, i: int) -> str:
    column = str(mapping.column("households"))
    return f"households ({column}) {source.frame[column].iloc[i]} rounded to {households[i]}"


def household_counts(
    source: SourceFrame, mapping: Mapping, rej: Rejections
) -> tuple[np.ndarray, np.ndarray]:
    """Household count per row, and the mask of counts rounded to a whole number.

    An empty count takes ``default_households`` (0 when there is none). A count
    that is not a number, negative, or fractional (unless the mapping says
    ``round_households: true``) is refused as ``bad_households``: it is never
    silently rounded or replaced.
    """
    n = len(source)
    default = mapping.default_households if mapping.default_households is not None else 0
    households = np.full(n, default, dtype=np.int64)
    rounded = np.zeros(n, dtype=bool)
    column = mapping.column("households")
    if column is None:
        return households, rounded
    raw = source.frame[str(column)]
    text = raw.astype("string").str.strip()
    empty = (text.isna() | (text == "")).to_numpy(dtype=bool)
    counts = pd.to_numeric(raw.where(~empty), errors="coerce").to_numpy(dtype=float)
    finite = np.isfinite(counts)
    whole = finite & (counts == np.round(counts))
    fractional = ~whole if not mapping.round_households else np.zeros(n, dtype=bool)
    bad = ~empty & (~finite | (counts < 0) | fractional)
    rej.reject(
        bad,
        BAD_HOUSEHOLDS,
        lambda i: (
            f"households ({column}) {raw.iloc[i]!r} is not a whole number >= 0 "
            "(set round_households: true in the mapping to round fractional counts)"
        ),
    )
    use = ~empty & ~bad
    households[use] = np.round(counts[use]).astype(np.int64)
    rounded[use & ~whole] = True
    return households, rounded


def _locate_footprints(
    source: SourceFrame, mapping: Mapping
) -> tuple[SourceFrame, np.ndarray, np.ndarray, np.ndarray]:
    """Replace polygon geometry by a point on its surface; footprints as hex EWKB.

    Returns the located source, footprints (None for points), and masks of
    footprints repaired safely and of footprints that cannot be repaired.
    """
    n = len(source)
    none = np.zeros(n, dtype=bool)
    footprint = np.full(n, None, dtype=object)
    if source.geometry is None:
        return source, footprint, none, none
    geoms = np.asarray(source.geometry, dtype=object)
    kinds = shapely.get_type_id(geoms)
    polygonal = np.isin(kinds, [shapely.GeometryType.POLYGON, shapely.GeometryType.MULTIPOLYGON])
    if not polygonal.any():
        return source, footprint, none, none
    fixed, repaired, unsafe = repair_polygons(
        where_or_none(polygonal, geoms), mapping.max_repair_area_change
    )
    usable = polygonal & ~unsafe
    located = geoms.copy()
    located[usable] = shapely.point_on_surface(fixed[usable])
    if (source.epsg or mapping.crs) != 4326:
        raise MappingError(f"{mapping.name}: footprints must be in EPSG:4326 (reproject first)")
    footprint[usable] = ewkb_hex(fixed[usable])
    return (
        SourceFrame(source.frame, located, source.epsg, source.path),
        footprint,
        repaired & usable,
        unsafe,
    )
