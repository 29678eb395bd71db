"""Import parts (facility inventories): CSV with coordinates, GeoJSON, GeoPackage, OSM layers.

A part gets its street, community, grid and H3 cells r7–r10 on entry, the
owning department of its category, and a part code made of the street's
6-digit area code, the category's class code (new catalogue, else old) and
the next free 6-digit serial for that prefix.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from layers.catalogue import code_ids
from layers.ingest.assignment import Locate, locate, served_area
from layers.ingest.errors import MappingError
from layers.ingest.mapping import Mapping
from layers.ingest.points import nullable_ids, point_batches, prepare_points, staged_insert
from layers.ingest.readers import read_source
from layers.ingest.runs import ImportAccount, Progress, run_import
from layers.ingest.validation import (
    Rejections,
    column_text,
    map_categories,
    map_values,
    require_catalogue,
)

STAGE = "ingest_stage_parts"
STAGE_COLUMNS = """
    row_number bigint, source_id text, category_id integer, street_code text,
    community_id integer, grid_id integer, h3_r7 bigint, h3_r8 bigint, h3_r9 bigint,
    h3_r10 bigint, status text, survey_date date, maintainer text, x float8, y float8
"""

INSERT = f"""
WITH todo AS (
    SELECT s.*, left(s.street_code, 6) || coalesce(c.code_new, c.code_old) AS prefix,
           c.default_department_id
    FROM {STAGE} s JOIN categories c ON c.id = s.category_id
    WHERE NOT EXISTS (SELECT 1 FROM parts p WHERE p.source = :source AND p.source_id = s.source_id)
), last AS (
    SELECT t.prefix, coalesce(max(right(p.part_code, 6)::int), 0) AS serial
    FROM (SELECT DISTINCT prefix FROM todo) t
    LEFT JOIN parts p ON p.part_code LIKE t.prefix || '______'
                     AND length(p.part_code) = length(t.prefix) + 6
    GROUP BY t.prefix
), new AS (
    INSERT INTO parts (part_code, category_id, owner_department_id, maintainer, status,
                       survey_date, community_id, grid_id, source, source_id,
                       h3_r7, h3_r8, h3_r9, h3_r10, geom)
    SELECT t.prefix || lpad((l.serial + row_number() OVER (PARTITION BY t.prefix
                                                         ORDER BY t.row_number))::text, 6, '0'),
           t.category_id, t.default_department_id, t.maintainer, t.status, t.survey_date,
           t.community_id, t.grid_id, :source, t.source_id, t.h3_r7, t.h3_r8, t.h3_r9, t.h3_r10,
           ST_SetSRID(ST_MakePoint(t.x, t.y), 4326)
    FROM todo t JOIN last l USING (prefix)
    ON CONFLICT (source, source_id) DO NOTHING
    RETURNING id
)
SELECT count(*) FROM new
"""


def load_parts(
    path: str | Path,
    mapping: Mapping,
    *,
    conn: Connection,
    batch_rows: int = 50_000,
    commit: bool = True,
    progress: Progress | None = None,
    assign: Locate = locate,
) -> ImportAccount:
    """Import the parts of ``path`` as ``mapping`` describes.

    Parameters
    ----------
    path
        CSV with coordinates, GeoJSON, GeoPackage (several layers: ``read_layers``
        in the mapping, the layer name in column ``_layer``) or (Geo)Parquet.
    mapping
        A ``layer: parts`` mapping; ``categories`` maps source values (or layer
        names) to part classes of the catalogue.
    conn
        Connection (outside a transaction when ``commit``).
    batch_rows, commit, progress, assign
        As for :func:`layers.ingest.cases.load_cases`.

    Returns
    -------
    ImportAccount

    Notes
    -----
    Part codes are allocated under a transaction-level advisory lock, so that
    two imports never hand out the same serial.
    """
    if mapping.layer != "parts":
        raise MappingError(f"{mapping.name} is a mapping for {mapping.layer}, not parts")
    source = read_source(path, mapping)
    catalogue = _part_classes(conn, mapping)
    frame, cols = source.frame, mapping.columns
    category_ids: np.ndarray = np.empty(0)

    def checks(rej: Rejections) -> None:
        nonlocal category_ids
        column = str(cols["category"]) if "category" in cols else None
        category_ids = map_categories(
            frame[column] if column else None, mapping, catalogue, column, rej
        )

    points = prepare_points(source, mapping, served_area(conn=conn), checks, assign=assign)
    n = len(source)
    survey = pd.Series([None] * n, dtype=object)
    if "survey_date" in cols:
        parsed = pd.to_datetime(frame[str(cols["survey_date"])], errors="coerce")
        survey = parsed.dt.date.astype(object).where(parsed.notna(), None)
    fields = {
        "row_number": np.arange(1, n + 1),
        "source_id": points.ids,
        "category_id": category_ids,
        "street_code": points.where.street_code,
        "community_id": nullable_ids(points.where.community_id),
        "grid_id": nullable_ids(points.where.grid_id),
        **points.h3,
        "status": (
            map_values(
                frame[str(cols["status"])], mapping.statuses, mapping.default_status or "intact"
            )
            if "status" in cols
            else np.full(n, mapping.default_status or "intact")
        ),
        "survey_date": survey.to_numpy(dtype=object),
        "maintainer": (
            column_text(source, cols["maintainer"]).to_numpy(dtype=object)
            if "maintainer" in cols
            else np.full(n, None, dtype=object)
        ),
        "x": points.lon,
        "y": points.lat,
    }

    def lock_part_codes() -> None:
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('gridgov.parts.part_code'))"))

    write = point_batches(
        conn,
        layer="parts",
        source_name=mapping.source,
        points=points,
        insert=staged_insert(
            conn,
            table=STAGE,
            columns_ddl=STAGE_COLUMNS,
            fields=fields,
            sql=INSERT,
            params={"source": mapping.source},
            before=lock_part_codes,
        ),
    )

    return run_import(
        conn=conn,
        layer="parts",
        source=mapping.source,
        file=str(path),
        mapping=mapping.name,
        n_rows=n,
        write_batch=write,
        batch_rows=batch_rows,
        commit=commit,
        progress=progress,
    )


def _part_classes(conn: Connection, mapping: Mapping) -> dict[str, int]:
    """Catalogue ids of part classes; the mapping may only name coded minor part classes."""
    rows = conn.execute(
        sa.text("""
        SELECT service_code, id, kind, level, coalesce(code_new, code_old) FROM categories
    """)
    ).all()
    require_catalogue({r[0]: r[1] for r in rows})
    info = {r[0]: r for r in rows}
    targets = set(mapping.categories.values()) | (
        {mapping.default_category} if mapping.default_category else set()
    )
    for code in sorted(targets):
        row = info.get(code)
        if row is None or row[2] != "part" or row[3] != 2 or not row[4]:
            raise MappingError(
                f"{mapping.name}: {code!r} is not a coded minor part class of the catalogue "
                "(a part code needs the class code)"
            )
    return code_ids(conn, "categories", "service_code")
