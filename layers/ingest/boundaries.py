"""Import boundaries with levels: districts, streets or communities from one file or several.

A file holds one level (``level:`` in the mapping, default ``community``). Each row's
parent (the next level up) comes from the mapping (``street:`` / ``district:``), from
a parent column (``columns.parent``, or ``columns.street`` in a community file; a code
or a name — an unknown name creates that street or district, its geometry the union of
its rows), from the code's own prefix, or from the loaded parent it overlaps most
(:mod:`layers.ingest.levels`). A community file may also carry a ``district`` column
for the streets it creates. Codes the file does not give are derived and noted
(``code_derived``, the code in the message); a loaded (parent, name) keeps its code, so
re-runs load nothing twice. A street's geometry is the union of its communities and a
district's the union of its streets (when they have any), so the served area is exactly
what the boundaries cover.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import shapely
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gis import crs as gis_crs
from layers.bulk import ewkb_hex
from layers.ingest.arrays import is_none, where_or_none
from layers.ingest.errors import MappingError
from layers.ingest.levels import DIGITS, PARENT, Created, Plan, plan_areas
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
    BAD_CODE,
    INVALID_GEOMETRY,
    MISSING_SOURCE_ID,
    NO_PARENT,
    Rejections,
    column_text,
    repair_polygons,
)

STAGE = "ingest_stage_areas"
STAGE_COLUMNS = (
    "row_number bigint, code text, parent_code text, name_zh text, name_en text, geom text"
)
NEW_PARENTS = "ingest_stage_new_parents"

UPSERT = {
    "district": f"""
    WITH up AS (
        INSERT INTO districts (code, name_zh, name_en, geom)
        SELECT s.code, s.name_zh, s.name_en, ST_GeomFromEWKB(decode(s.geom, 'hex'))
        FROM {STAGE} s ORDER BY s.code
        ON CONFLICT (code) DO UPDATE SET name_zh = EXCLUDED.name_zh, name_en = EXCLUDED.name_en,
            geom = EXCLUDED.geom
        RETURNING (xmax = 0) AS inserted)
    SELECT count(*) FILTER (WHERE inserted) FROM up""",
    "street": f"""
    WITH up AS (
        INSERT INTO streets (code, name_zh, name_en, geom)
        SELECT s.code, s.name_zh, s.name_en, ST_GeomFromEWKB(decode(s.geom, 'hex'))
        FROM {STAGE} s ORDER BY s.code
        ON CONFLICT (code) DO UPDATE SET name_zh = EXCLUDED.name_zh, name_en = EXCLUDED.name_en,
            geom = EXCLUDED.geom
        RETURNING (xmax = 0) AS inserted)
    SELECT count(*) FILTER (WHERE inserted) FROM up""",
    "community": f"""
    WITH up AS (
        INSERT INTO communities (code, street_id, name_zh, name_en, office, geom)
        SELECT s.code, st.id, s.name_zh, s.name_en,
               ST_PointOnSurface(ST_GeomFromEWKB(decode(s.geom, 'hex'))),
               ST_GeomFromEWKB(decode(s.geom, 'hex'))
        FROM {STAGE} s JOIN streets st ON st.code = s.parent_code ORDER BY s.code
        ON CONFLICT (code) DO UPDATE SET name_zh = EXCLUDED.name_zh, name_en = EXCLUDED.name_en,
            office = EXCLUDED.office, geom = EXCLUDED.geom
        RETURNING (xmax = 0) AS inserted)
    SELECT count(*) FILTER (WHERE inserted) FROM up""",
}
NEW_PARENT_INSERT = {
    "district": f"""INSERT INTO districts (code, name_zh, name_en, geom)
        SELECT code, name_zh, name_en, ST_GeomFromEWKB(decode(geom, 'hex')) FROM {NEW_PARENTS}
        ON CONFLICT (code) DO NOTHING""",
    "street": f"""INSERT INTO streets (code, name_zh, name_en, geom)
        SELECT code, name_zh, name_en, ST_GeomFromEWKB(decode(geom, 'hex')) FROM {NEW_PARENTS}
        ON CONFLICT (code) DO NOTHING""",
}
STREET_GEOMETRY = """
UPDATE streets s SET geom = (SELECT ST_Multi(ST_Union(c.geom)) FROM communities c
                             WHERE c.street_id = s.id)
WHERE s.code = ANY(:codes) AND EXISTS (SELECT 1 FROM communities c WHERE c.street_id = s.id)
"""
DISTRICT_GEOMETRY = """
UPDATE districts d SET geom = (SELECT ST_Multi(ST_Union(s.geom)) FROM streets s
                               WHERE left(s.code, 6) = d.code)
WHERE d.code = ANY(:codes) AND EXISTS (SELECT 1 FROM streets s WHERE left(s.code, 6) = d.code)
"""
DEPARTMENTS = """
INSERT INTO departments (code, kind, name_zh, name_en, street_id, community_id)
SELECT s.code, 'street', s.name_zh || '办事处', coalesce(s.name_en, s.name_zh) || ' Office',
       s.id, NULL
FROM streets s WHERE s.code = ANY(:codes)
UNION ALL
SELECT c.code, 'community', c.name_zh || '居委会', coalesce(c.name_en, c.name_zh) || ' Committee',
       c.street_id, c.id
FROM communities c JOIN streets s ON s.id = c.street_id WHERE s.code = ANY(:codes)
ON CONFLICT (code) DO NOTHING
"""
FIXED_STREET = """
INSERT INTO streets (code, name_zh, name_en, geom)
VALUES (:code, :name_zh, :name_en, ST_Multi(ST_GeomFromEWKB(decode(:geom, 'hex'))))
ON CONFLICT (code) DO UPDATE SET name_zh = EXCLUDED.name_zh, name_en = EXCLUDED.name_en
"""
FIXED_DISTRICT = """
INSERT INTO districts (code, name_zh, name_en, geom)
VALUES (:code, :name_zh, :name_en, ST_Multi(ST_GeomFromEWKB(decode(:geom, 'hex'))))
ON CONFLICT (code) DO UPDATE SET name_zh = EXCLUDED.name_zh, name_en = EXCLUDED.name_en
"""


def load_boundaries(
    path: str | Path,
    mapping: Mapping,
    *,
    conn: Connection,
    commit: bool = True,
    progress: Progress | None = None,
    parent_column: str | None = None,
) -> ImportAccount:
    """Import districts, streets or communities (``mapping.level``) from a polygon file.

    Parameters
    ----------
    path
        GeoJSON, GeoPackage or GeoParquet of (multi)polygons, one per area (rows
        repeating a name under one parent are pieces of one area: merged).
    mapping
        A ``layer: boundaries`` mapping: ``level``, ``columns: {name, name_en, code,
        parent | street, district}``, optionally a fixed ``street:`` / ``district:``.
    conn
        Connection (outside a transaction when ``commit``).
    commit
        Commit the import (one transaction: boundaries are small).
    parent_column
        Source column naming each row's parent (overrides ``columns.parent``).

    Returns
    -------
    ImportAccount
        Areas of the file's level loaded (new), quarantined (no name, invalid
        geometry that cannot be repaired safely, a malformed code, no parent found)
        or already present (updated in place, or pieces merged); derived codes,
        created parents and spatial joins are noted.
    """
    if mapping.layer != "boundaries":
        raise MappingError(f"{mapping.name} is a mapping for {mapping.layer}, not boundaries")
    if parent_column:
        mapping = replace(mapping, columns={**mapping.columns, "parent": parent_column})
    source = read_source(path, mapping)
    rej = Rejections(len(source))
    names = column_text(source, mapping.columns["name"]).to_numpy(dtype=object)
    rej.reject(
        is_none(names),
        MISSING_SOURCE_ID,
        lambda i: f"name ({mapping.columns['name']}) is empty",
    )
    geoms, repaired = _polygons(source, mapping, rej)
    level = mapping.level
    parents_in = _text(source, mapping, _parent_key(mapping))
    districts_in = _text(source, mapping, "district") if level == "community" else None
    given = _codes(source, mapping, rej)
    key = (
        names
        if parents_in is None
        else np.array(
            [f"{p or ''}\x1f{n}" for p, n in zip(parents_in, names, strict=True)], dtype=object
        )
    )
    merged = merge_repeated_names(key, geoms, rej)
    name_en = (
        column_text(source, mapping.columns["name_en"]).to_numpy(dtype=object)
        if "name_en" in mapping.columns
        else names
    )

    def write(index: np.ndarray, run_id: int) -> BatchCounts:
        heads = index[rej.ok[index] & (merged[index] < 0)]
        plan = plan_areas(
            conn,
            mapping=mapping,
            heads=heads,
            geoms=geoms,
            names=names,
            parents_in=parents_in,
            districts_in=districts_in,
            given=given,
        )
        lost = heads[plan.parent[heads] == None]  # noqa: E711 (object array)
        rej.reject(
            np.isin(np.arange(len(names)), lost) | np.isin(merged, lost),
            NO_PARENT,
            lambda i: (
                f"row {i + 1}: {names[i]!r}: no {PARENT[level]} found (none named in the "
                f"mapping or a column, none overlapping): load the {PARENT[level]}s first, or give "
                f"the mapping a {PARENT[level]}: {{code, name}} or --parent-column"
            ),
        )
        ok = index[rej.ok[index] & (merged[index] < 0)]
        pieces = index[rej.ok[index] & (merged[index] >= 0)]
        frame = pd.DataFrame(
            {
                "row_number": ok + 1,
                "code": plan.code[ok],
                "parent_code": plan.parent[ok],
                "name_zh": names[ok],
                "name_en": name_en[ok],
                "geom": ewkb_hex(geoms[ok]),
            }
        )
        loaded = _write_areas(conn, mapping, frame, plan.created, geoms[ok])
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
        _notes(conn, run_id, mapping, names, plan, ok=ok, pieces=pieces, merged=merged)
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
        return BatchCounts(
            loaded=loaded,
            quarantined=q,
            present=len(ok) - loaded + len(pieces),
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


def _parent_key(mapping: Mapping) -> str | None:
    if "parent" in mapping.columns:
        return "parent"
    if mapping.level == "community" and "street" in mapping.columns:
        return "street"
    if mapping.level == "street" and "district" in mapping.columns:
        return "district"
    return None


def _text(source: SourceFrame, mapping: Mapping, key: str | None) -> np.ndarray | None:
    if key is None or key not in mapping.columns:
        return None
    return column_text(source, mapping.columns[key]).to_numpy(dtype=object)


def _codes(source: SourceFrame, mapping: Mapping, rej: Rejections) -> np.ndarray | None:
    """The file's own codes (None: none given); a malformed one is quarantined."""
    codes = _text(source, mapping, "code")
    if codes is None:
        return None
    width = DIGITS[mapping.level]
    bad = np.array(
        [c is not None and not (len(str(c)) == width and str(c).isdigit()) for c in codes]
    )
    rej.reject(
        bad,
        BAD_CODE,
        lambda i: (
            f"row {i + 1}: code ({mapping.columns['code']}) {codes[i]!r} is not a "
            f"{width}-digit {mapping.level} code"
        ),
    )
    return codes


def _write_areas(
    conn: Connection,
    mapping: Mapping,
    frame: pd.DataFrame,
    created: list[Created],
    geoms: np.ndarray,
) -> int:
    """Fixed and created parents, then the file's areas; geometries and departments after."""
    level = mapping.level
    if len(frame) == 0:
        return 0
    union = ewkb_hex(np.array([shapely.union_all(list(geoms))], dtype=object))[0]
    for fixed, sql in ((mapping.street, FIXED_STREET), (mapping.district, FIXED_DISTRICT)):
        if fixed:
            conn.execute(
                sa.text(sql),
                {
                    "code": fixed["code"],
                    "name_zh": fixed["name"],
                    "name_en": fixed.get("name_en", fixed["name"]),
                    "geom": union,
                },
            )
    for lvl in ("district", "street"):  # created districts before the streets they hold
        mine = [c for c in created if c.level == lvl]
        if mine:
            stage(
                conn,
                NEW_PARENTS,
                "code text, name_zh text, name_en text, geom text",
                pd.DataFrame(
                    {
                        "code": [c.code for c in mine],
                        "name_zh": [c.name for c in mine],
                        "name_en": [c.name for c in mine],
                        "geom": ewkb_hex(
                            np.array(
                                [shapely.MultiPolygon(_polygon_parts(c.geom)) for c in mine],
                                dtype=object,
                            )
                        ),
                    }
                ),
            )
            conn.execute(sa.text(NEW_PARENT_INSERT[lvl]))
    stage(conn, STAGE, STAGE_COLUMNS, frame)
    loaded = int(conn.execute(sa.text(UPSERT[level])).scalar_one())
    codes = list(frame.code)
    streets = (
        codes
        if level == "street"
        else sorted(set(frame.parent_code))
        if level == "community"
        else []
    )
    streets += [c.code for c in created if c.level == "street"]
    districts = sorted({s[:6] for s in streets} | (set(codes) if level == "district" else set()))
    conn.execute(sa.text(STREET_GEOMETRY), {"codes": streets})
    conn.execute(sa.text(DISTRICT_GEOMETRY), {"codes": districts})
    conn.execute(sa.text(DEPARTMENTS), {"codes": streets})
    return loaded


def _polygon_parts(geom: shapely.Geometry) -> list[shapely.Polygon]:
    return [p for p in shapely.get_parts(geom) if p.geom_type == "Polygon"]


def _notes(
    conn: Connection,
    run_id: int,
    mapping: Mapping,
    names: np.ndarray,
    plan: Plan,
    *,
    ok: np.ndarray,
    pieces: np.ndarray,
    merged: np.ndarray,
) -> None:
    """Derived codes, spatial joins, created parents and merged pieces, one note a row."""
    level = mapping.level
    derived = ok[plan.derived[ok]]
    write_notes(
        conn=conn,
        run_id=run_id,
        ids=names,
        index=derived,
        code="code_derived",
        messages=[
            f"row {i + 1}: {names[i]!r} is {level} {plan.code[i]} (derived: the file gives no code)"
            for i in derived
        ],
    )
    joined = ok[plan.how[ok] == "overlap"]
    write_notes(
        conn=conn,
        run_id=run_id,
        ids=names,
        index=joined,
        code="parent_by_overlap",
        messages=[
            f"row {i + 1}: {names[i]!r} put under {PARENT[level]} {plan.parent[i]} "
            f"(the one it overlaps most)"
            for i in joined
        ],
    )
    for c in plan.created:
        write_notes(
            conn=conn,
            run_id=run_id,
            ids=names,
            index=np.array([c.first_row], dtype=np.int64),
            code=f"{c.level}_created",
            messages=[f"{c.level} {c.name!r} created as {c.code} (named in the file)"],
        )
    write_notes(
        conn=conn,
        run_id=run_id,
        ids=names,
        index=pieces,
        code="merged_parts",
        messages=[
            f"row {i + 1}: {names[i]!r} is another part of the {level} of row "
            f"{merged[i] + 1}: merged into it (one {level}, several polygons)"
            for i in pieces
        ],
    )


def derived_codes(*, conn: Connection, run_id: int) -> list[str]:
    """The messages of a boundaries run's derived codes and created areas (for the CLI)."""
    return [
        str(m)
        for (m,) in conn.execute(
            sa.text("""
            SELECT message FROM import_notes
            WHERE run_id = :r AND code IN ('code_derived', 'district_created', 'street_created',
                                           'parent_by_overlap')
            ORDER BY row_number, code"""),
            {"r": run_id},
        )
    ]


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
