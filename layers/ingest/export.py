"""Export a layer or a filtered selection to GeoJSON, GeoPackage, CSV or GeoParquet.

Reporter names and phones (personal data) are left out unless
``include_personal_data=True`` *and* the role is one of
:data:`PERSONAL_DATA_ROLES`; every export is recorded in ``export_audit``
(who, role, layer, filters, format, file, rows, personal data or not).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gis.crs import WGS84
from gis.spreadsheet import formula_safe
from layers.ingest.errors import IngestError, PersonalDataRefused
from layers.workflow.states import PERSONAL_DATA_ROLES

FORMATS = {
    ".geojson": "geojson",
    ".json": "geojson",
    ".gpkg": "gpkg",
    ".csv": "csv",
    ".parquet": "parquet",
    ".geoparquet": "parquet",
}

_AREA = "(CAST(:community AS text) IS NULL OR co.code = :community)"
LAYERS: dict[str, str] = {
    "cases": f"""
        SELECT c.id, c.case_no, cat.service_code, cat.name_en AS category, c.street_code,
               co.code AS community_code, g.code AS grid_code, c.h3_r7, c.h3_r8, c.h3_r9,
               c.h3_r10, c.source, c.description, c.status, c.urgency, c.reported_at,
               c.deadline_at, c.closed_at, c.source_system, c.source_id,
               {{personal}} ST_AsBinary(c.geom) AS geom
        FROM cases c JOIN categories cat ON cat.id = c.category_id
        LEFT JOIN communities co ON co.id = c.community_id
        LEFT JOIN grids g ON g.id = c.grid_id
        WHERE {_AREA}
          AND (CAST(:category AS text) IS NULL OR cat.service_code = :category
               OR cat.parent_id = (SELECT id FROM categories WHERE service_code = :category))
          AND (CAST(:status AS text) IS NULL OR c.status = :status)
          AND (CAST(:source AS text) IS NULL OR c.source_system = :source)
          AND (CAST(:since AS timestamptz) IS NULL OR c.reported_at >= :since)
          AND (CAST(:until AS timestamptz) IS NULL OR c.reported_at < :until)
        ORDER BY c.id""",
    "parts": f"""
        SELECT p.id, p.part_code, cat.service_code, cat.name_en AS category, p.status,
               p.maintainer, p.survey_date, co.code AS community_code, g.code AS grid_code,
               p.h3_r7, p.h3_r8, p.h3_r9, p.h3_r10, p.source, p.source_id,
               ST_AsBinary(p.geom) AS geom
        FROM parts p JOIN categories cat ON cat.id = p.category_id
        LEFT JOIN communities co ON co.id = p.community_id
        LEFT JOIN grids g ON g.id = p.grid_id
        WHERE {_AREA}
          AND (CAST(:category AS text) IS NULL OR cat.service_code = :category
               OR cat.parent_id = (SELECT id FROM categories WHERE service_code = :category))
          AND (CAST(:status AS text) IS NULL OR p.status = :status)
          AND (CAST(:source AS text) IS NULL OR p.source = :source)
        ORDER BY p.id""",
    "buildings": f"""
        SELECT b.id, co.code AS community_code, b.address, b.households, b.floors, b.source,
               b.source_id, ST_AsBinary(b.geom) AS geom
        FROM buildings b LEFT JOIN communities co ON co.id = b.community_id
        WHERE {_AREA} AND (CAST(:source AS text) IS NULL OR b.source = :source)
        ORDER BY b.id""",
    "communities": f"""
        SELECT co.id, co.code, s.code AS street_code, co.name_zh, co.name_en,
               ST_AsBinary(co.geom) AS geom
        FROM communities co JOIN streets s ON s.id = co.street_id
        WHERE {_AREA} ORDER BY co.code""",
    "streets": """
        SELECT s.id, s.code, s.name_zh, s.name_en, ST_AsBinary(s.geom) AS geom
        FROM streets s
        WHERE CAST(:community AS text) IS NULL
           OR s.id = (SELECT street_id FROM communities WHERE code = :community)
        ORDER BY s.code""",
    "grids": f"""
        SELECT g.id, g.code, co.code AS community_code, g.households, g.version,
               g.valid_from, ST_AsBinary(g.geom) AS geom
        FROM grids_current g JOIN communities co ON co.id = g.community_id
        WHERE {_AREA} ORDER BY g.code""",
}
PERSONAL_COLUMNS = """
    (SELECT string_agg(r.name, '; ' ORDER BY r.id) FROM reporters r WHERE r.case_id = c.id)
        AS reporter_names,
    (SELECT string_agg(r.phone, '; ' ORDER BY r.id) FROM reporters r WHERE r.case_id = c.id)
        AS reporter_phones,"""


@dataclass(frozen=True)
class ExportFilter:
    """A selection: community code, catalogue code (major or minor), status, source, time."""

    community: str | None = None
    category: str | None = None
    status: str | None = None
    source: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote."""

    path: Path
    layer: str
    format: str
    rows: int
    personal_data: bool


def export_layer(
    layer: str,
    path: str | Path,
    *,
    conn: Connection,
    filters: ExportFilter | None = None,
    fmt: str | None = None,
    role: str = "viewer",
    actor: str = "unknown",
    include_personal_data: bool = False,
) -> ExportResult:
    """Write ``layer`` (narrowed by ``filters``) to ``path`` and record it in ``export_audit``.

    Parameters
    ----------
    layer
        One of ``cases``, ``parts``, ``buildings``, ``communities``, ``streets``, ``grids``.
    path
        Output file; the format comes from ``fmt`` or the suffix (``.geojson``,
        ``.gpkg``, ``.csv``, ``.parquet``).
    conn
        Connection; the audit row is written in the caller's transaction (the
        caller commits) — with personal data, in a transaction of its own that
        commits before the file is written.
    filters
        The selection (default: everything).
    role, actor
        Who exports (recorded).
    include_personal_data
        Add reporter names and phones to cases; honoured only for
        :data:`PERSONAL_DATA_ROLES`.

    Returns
    -------
    ExportResult

    Raises
    ------
    PersonalDataRefused
        Personal data asked for by a role not in :data:`PERSONAL_DATA_ROLES`.
    IngestError
        Unknown layer or format.

    Notes
    -----
    Geometry is written in WGS 84 (EPSG:4326); CSV gets ``lon``/``lat`` for
    point layers and ``wkt`` for polygons.
    """
    filters = filters or ExportFilter()
    path = Path(path)
    if layer not in LAYERS:
        raise IngestError(f"cannot export {layer!r}: choose one of {sorted(LAYERS)}")
    fmt = (fmt or FORMATS.get(path.suffix.lower(), "")).lower()
    if fmt not in set(FORMATS.values()):
        raise IngestError(
            f"{path}: unknown export format; use a suffix or format among "
            f"{sorted(set(FORMATS.values()))}"
        )
    if include_personal_data and role not in PERSONAL_DATA_ROLES:
        raise PersonalDataRefused(
            f"role {role!r} may not export personal data (allowed: "
            f"{sorted(PERSONAL_DATA_ROLES)}); export without it"
        )
    personal = include_personal_data and layer == "cases"
    sql = LAYERS[layer].replace("{personal}", PERSONAL_COLUMNS if personal else "")
    params = asdict(filters)
    frame = pd.read_sql(sa.text(sql), conn, params=params)
    gdf = gpd.GeoDataFrame(
        frame.drop(columns="geom"),
        geometry=shapely.from_wkb(frame["geom"].map(bytes).to_numpy()) if len(frame) else [],
        crs=WGS84,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    audit = _audit_record(
        actor=actor,
        role=role,
        layer=layer,
        params=params,
        fmt=fmt,
        path=path,
        n=len(gdf),
        personal=personal,
    )
    if personal:
        # personal data: the record is committed on its own before the file exists, so
        # a caller that rolls back (or crashes) cannot leave an unrecorded export
        with conn.engine.begin() as own:
            own.execute(_AUDIT_SQL, audit)
    _write(gdf, path, fmt, layer)
    if not personal:
        conn.execute(_AUDIT_SQL, audit)
    return ExportResult(path, layer, fmt, len(gdf), personal)


_AUDIT_SQL = sa.text("""
    INSERT INTO export_audit (actor, role, layer, filters, format, path, n_rows,
                              include_personal_data)
    VALUES (:actor, :role, :layer, CAST(:filters AS jsonb), :format, :path, :n, :personal)
""")


def _audit_record(
    *,
    actor: str,
    role: str,
    layer: str,
    params: dict,
    fmt: str,
    path: Path,
    n: int,
    personal: bool,
) -> dict:
    return {
        "actor": actor,
        "role": role,
        "layer": layer,
        "filters": json.dumps({k: v for k, v in params.items() if v is not None}, default=str),
        "format": fmt,
        "path": str(path.resolve()),
        "n": n,
        "personal": personal,
    }


def _write(gdf: gpd.GeoDataFrame, path: Path, fmt: str, layer: str) -> None:
    if path.exists():
        path.unlink()
    if fmt == "geojson":
        gdf.to_file(path, driver="GeoJSON", engine="pyogrio")
    elif fmt == "gpkg":
        gdf.to_file(path, driver="GPKG", layer=layer, engine="pyogrio")
    elif fmt == "parquet":
        gdf.to_parquet(path)
    else:
        plain = pd.DataFrame(gdf.drop(columns="geometry"))
        geoms = gdf.geometry.array
        if len(gdf) and (gdf.geom_type == "Point").all():
            plain["lon"], plain["lat"] = shapely.get_x(geoms), shapely.get_y(geoms)
        else:
            plain["wkt"] = shapely.to_wkt(geoms) if len(gdf) else []
        # a CSV is opened in a spreadsheet: imported text must not run as a formula
        formula_safe(plain).to_csv(path, index=False)
