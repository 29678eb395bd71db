"""Import boundaries: one street (code from the mapping) and its communities from a polygon file.

Places outside China have no street/community codes, so the mapping gives the
9-digit street code and each community gets street code + a 3-digit
sequence. Codes are stable: a community already loaded under the street
keeps its code (matched by name); new names get the next numbers in name
order. The street's geometry is the union of its communities, so the served
area (the union of the streets) is exactly what the boundaries cover.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import shapely
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from city import CODES
from gis import crs as gis_crs
from layers.bulk import ewkb_hex
from layers.ingest.arrays import is_none, where_or_none
from layers.ingest.errors import MappingError
from layers.ingest.mapping import Mapping
from layers.ingest.points import stage
from layers.ingest.readers import SourceFrame, read_source
from layers.ingest.runs import (
    BatchCounts,
    ImportAccount,
    Progress,
    quarantine_rows,
    run_import,
    write_notes,
)
from layers.ingest.validation import (
    INVALID_GEOMETRY,
    MISSING_SOURCE_ID,
    Rejections,
    column_text,
    repair_polygons,
)

STAGE = "ingest_stage_communities"
STAGE_COLUMNS = "row_number bigint, code text, name_zh text, name_en text, geom text"

STREET_UPSERT = f"""
INSERT INTO streets (code, name_zh, name_en, geom)
VALUES (:code, :name_zh, :name_en,
        (SELECT ST_Multi(ST_Union(ST_GeomFromEWKB(decode(geom, 'hex')))) FROM {STAGE}))
ON CONFLICT (code) DO UPDATE SET name_zh = EXCLUDED.name_zh, name_en = EXCLUDED.name_en
"""
COMMUNITY_UPSERT = f"""
WITH street AS (SELECT id FROM streets WHERE code = :code),
up AS (
    INSERT INTO communities (code, street_id, name_zh, name_en, office, geom)
    SELECT s.code, street.id, s.name_zh, s.name_en,
           ST_PointOnSurface(ST_GeomFromEWKB(decode(s.geom, 'hex'))),
           ST_GeomFromEWKB(decode(s.geom, 'hex'))
    FROM {STAGE} s, street ORDER BY s.code
    ON CONFLICT (code) DO UPDATE SET name_zh = EXCLUDED.name_zh, name_en = EXCLUDED.name_en,
        office = EXCLUDED.office, geom = EXCLUDED.geom
    RETURNING (xmax = 0) AS inserted
)
SELECT count(*) FILTER (WHERE inserted) FROM up
"""
STREET_GEOMETRY = """
UPDATE streets s SET geom = (SELECT ST_Multi(ST_Union(c.geom)) FROM communities c
                             WHERE c.street_id = s.id)
WHERE s.code = :code
"""
DEPARTMENTS = """
INSERT INTO departments (code, kind, name_zh, name_en, street_id, community_id)
SELECT s.code, 'street', s.name_zh || '办事处', coalesce(s.name_en, s.name_zh) || ' Office',
       s.id, NULL
FROM streets s WHERE s.code = :code
UNION ALL
SELECT c.code, 'community', c.name_zh || '居委会', coalesce(c.name_en, c.name_zh) || ' Committee',
       c.street_id, c.id
FROM communities c JOIN streets s ON s.id = c.street_id WHERE s.code = :code
ON CONFLICT (code) DO NOTHING
"""


def load_boundaries(
    path: str | Path,
    mapping: Mapping,
    *,
    conn: Connection,
    commit: bool = True,
    progress: Progress | None = None,
) -> ImportAccount:
    """Import a street and its communities from a polygon file.

    Parameters
    ----------
    path
        GeoJSON, GeoPackage or GeoParquet of (multi)polygons, one per community.
    mapping
        A ``layer: boundaries`` mapping with ``street: {code, name}`` and
        ``columns: {name: …}``.
    conn
        Connection (outside a transaction when ``commit``).
    commit
        Commit the import (one transaction: boundaries are small).

    Returns
    -------
    ImportAccount
        Communities loaded (new), quarantined (no name, invalid geometry that
        cannot be repaired safely, repeated name) or already present (updated
        in place); repaired polygons are counted and noted.
    """
    if mapping.layer != "boundaries":
        raise MappingError(f"{mapping.name} is a mapping for {mapping.layer}, not boundaries")
    source = read_source(path, mapping)
    rej = Rejections(len(source))
    names = column_text(source, mapping.columns["name"]).to_numpy(dtype=object)
    rej.reject(
        is_none(names),
        MISSING_SOURCE_ID,
        lambda i: f"name ({mapping.columns['name']}) is empty",
    )
    geoms, repaired = _polygons(source, mapping, rej)
    merged = merge_repeated_names(names, geoms, rej)
    name_en = (
        column_text(source, mapping.columns["name_en"]).to_numpy(dtype=object)
        if "name_en" in mapping.columns
        else names
    )
    street = mapping.street

    def write(index: np.ndarray, run_id: int) -> BatchCounts:
        ok = index[rej.ok[index] & (merged[index] < 0)]
        parts = index[rej.ok[index] & (merged[index] >= 0)]
        codes = _community_codes(conn, street["code"], names[ok])
        frame = pd.DataFrame(
            {
                "row_number": ok + 1,
                "code": codes,
                "name_zh": names[ok],
                "name_en": name_en[ok],
                "geom": ewkb_hex(geoms[ok]),
            }
        )
        stage(conn, STAGE, STAGE_COLUMNS, frame)
        params = {
            "code": street["code"],
            "name_zh": street["name"],
            "name_en": street.get("name_en", street["name"]),
        }
        loaded = 0
        if len(frame):
            conn.execute(sa.text(STREET_UPSERT), params)
            loaded = int(conn.execute(sa.text(COMMUNITY_UPSERT), params).scalar_one())
            conn.execute(sa.text(STREET_GEOMETRY), params)
            conn.execute(sa.text(DEPARTMENTS), params)
        q = quarantine_rows(
            conn=conn,
            run_id=run_id,
            layer="boundaries",
            source_name=mapping.source,
            source=source,
            ids=names,
            rej=rej,
            index=index,
        )
        fixed = index[repaired[index] & rej.ok[index]]
        write_notes(
            conn=conn,
            run_id=run_id,
            ids=names,
            index=fixed,
            code="geometry_repaired",
            messages=[
                f"row {i + 1}: invalid polygon made valid (make_valid), area kept "
                f"within {mapping.max_repair_area_change:.0%}"
                for i in fixed
            ],
        )
        write_notes(
            conn=conn,
            run_id=run_id,
            ids=names,
            index=parts,
            code="merged_parts",
            messages=[
                f"row {i + 1}: {names[i]!r} is another part of the community of row "
                f"{merged[i] + 1}: merged into it (one community, several polygons)"
                for i in parts
            ],
        )
        return BatchCounts(
            loaded=loaded,
            quarantined=q,
            present=len(ok) - loaded + len(parts),
            repaired=len(fixed),
        )

    return run_import(
        conn=conn,
        layer="boundaries",
        source=mapping.source,
        file=str(path),
        mapping=mapping.name,
        n_rows=len(source),
        write_batch=write,
        batch_rows=max(len(source), 1),
        commit=commit,
        progress=progress,
    )


def _polygons(
    source: SourceFrame, mapping: Mapping, rej: Rejections
) -> tuple[np.ndarray, np.ndarray]:
    """WGS 84 MultiPolygons; empty or non-polygonal rows and unsafe repairs rejected."""
    assert source.geometry is not None
    geoms = np.asarray(source.geometry, dtype=object)
    empty = np.asarray(shapely.is_missing(geoms) | shapely.is_empty(geoms), dtype=bool)
    rej.reject(empty, INVALID_GEOMETRY, lambda i: "geometry is empty")
    kinds = shapely.get_type_id(geoms)
    polygonal = np.isin(kinds, [shapely.GeometryType.POLYGON, shapely.GeometryType.MULTIPOLYGON])
    rej.reject(
        ~polygonal,
        INVALID_GEOMETRY,
        lambda i: f"geometry is a {geoms[i].geom_type}, a polygon is expected",
    )
    geoms = where_or_none(rej.ok, geoms)
    epsg = source.epsg or mapping.crs
    if epsg != gis_crs.WGS84:
        geoms = shapely.transform(
            geoms, lambda xy: np.column_stack(gis_crs.to_wgs84(xy[:, 0], xy[:, 1], epsg))
        )
    fixed, repaired, unsafe = repair_polygons(geoms, mapping.max_repair_area_change)
    reasons = shapely.is_valid_reason(where_or_none(unsafe, geoms))
    rej.reject(
        unsafe,
        INVALID_GEOMETRY,
        lambda i: f"geometry is invalid ({reasons[i]}) and cannot be repaired safely",
    )
    multi = np.array(
        [
            g
            if g is None or g.geom_type == "MultiPolygon"
            else shapely.MultiPolygon([g])
            if g.geom_type == "Polygon"
            else shapely.MultiPolygon(list(g.geoms))
            for g in fixed
        ],
        dtype=object,
    )
    return multi, repaired


def merge_repeated_names(names: np.ndarray, geoms: np.ndarray, rej: Rejections) -> np.ndarray:
    """Merge the polygons of rows that repeat a community's name into its first row.

    A community in several pieces (islands, a park cut off by a river) often comes
    as several rows under one name: they are one community, never dropped.
    ``geoms`` of the first row becomes the union of all pieces (in place).

    Returns
    -------
    numpy.ndarray
        Per row: the index of the first row it was merged into, or -1.
    """
    merged = np.full(len(names), -1, dtype=np.int64)
    ok = np.flatnonzero(rej.ok)
    if len(ok) == 0:
        return merged
    first = pd.Series(ok).groupby(pd.Series(names[ok]).to_numpy()).transform("first").to_numpy()
    repeat = first != ok
    merged[ok[repeat]] = first[repeat]
    for head in np.unique(first[repeat]):
        pieces = [geoms[head], *geoms[merged == head]]
        union = shapely.union_all(pieces)
        geoms[head] = shapely.MultiPolygon(
            [p for p in shapely.get_parts(union) if p.geom_type == "Polygon"]
        )
    return merged


def _community_codes(conn: Connection, street_code: str, names: np.ndarray) -> list[str]:
    """Existing code for a known name under the street, else the next sequence numbers."""
    rows = conn.execute(
        sa.text("""
        SELECT c.name_zh, c.code FROM communities c JOIN streets s ON s.id = c.street_id
        WHERE s.code = :code
    """),
        {"code": street_code},
    ).all()
    known = {name: str(code) for name, code in rows}
    used = [int(code[CODES.street :]) for code in known.values()]
    nxt = max(used, default=0)
    codes: dict[str, str] = {}
    for name in sorted(n for n in names if n not in known):
        nxt += 1
        if nxt > 999:
            raise MappingError(f"street {street_code} would need more than 999 communities")
        codes[name] = f"{street_code}{nxt:03d}"
    return [known.get(n) or codes[n] for n in names]
