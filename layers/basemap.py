"""The offline base map: roads and waterways in ``basemap_lines``, buildings and water areas
in ``basemap_areas`` (WGS 84; indexed in EPSG:3857 for the tiles).

Loaded from an OpenStreetMap extract (``.osm.pbf``/``.osm``, read by GDAL's OSM driver:
``lines`` for roads and waterways, ``multipolygons`` for buildings and water areas) or
made from the demo district's own roads and buildings. Loading a source replaces its
features in the caller's transaction, so re-running stores the same rows again.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyogrio
import shapely
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gis.errors import GridGovError
from layers.ingest.roads import ROAD_CLASSES

KINDS = ("road", "building", "water")
_AREA_TYPES = {"Polygon", "MultiPolygon", "GeometryCollection"}
WATER_AREAS = {"water", "wetland", "bay"}
"""OSM ``natural=…`` values drawn as water (with ``landuse=reservoir|basin``, ``water=*``)."""


class BasemapError(GridGovError, ValueError):
    """A base-map file that cannot be read, or a feature that cannot be stored."""

    code = "basemap"
    kind = "bad_input"


@dataclass(frozen=True)
class BasemapFeature:
    """One feature: kind (road/building/water), class, name, geometry as WKB in EPSG:4326."""

    source_id: str
    kind: str
    feature_class: str | None
    name: str | None
    wkb: bytes


@dataclass
class BasemapAccount:
    """What a load did: features read per kind, and features stored."""

    source: str
    by_kind: dict[str, int] = field(default_factory=dict)
    stored: int = 0

    def summary(self) -> str:
        """One line for the terminal."""
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(self.by_kind.items()))
        return f"base map from {self.source}: stored {self.stored} features [{kinds}]"


def read_osm(path: str | Path) -> list[BasemapFeature]:
    """Roads (``highway`` GridGov walks, see ``layers.ingest.roads``), waterways, buildings
    and water areas of an OSM extract.

    Raises
    ------
    BasemapError
        A missing or unreadable file.
    """
    path = Path(path)
    if not path.exists():
        raise BasemapError(f"file: {path} does not exist")
    try:
        with warnings.catch_warnings():
            # GDAL warns about the extract's broken rings; those features are left out
            warnings.simplefilter("ignore", RuntimeWarning)
            lines = pyogrio.read_dataframe(path, layer="lines", on_invalid="ignore")
            areas = pyogrio.read_dataframe(path, layer="multipolygons", on_invalid="ignore")
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        raise BasemapError(f"file: {path} cannot be read as OpenStreetMap: {exc}") from exc
    out: list[BasemapFeature] = []
    for osm_id, name, highway, waterway, geom in zip(
        lines["osm_id"],
        lines["name"],
        lines["highway"],
        lines["waterway"],
        lines.geometry,
        strict=True,
    ):
        if geom is None:
            continue
        road_class = ROAD_CLASSES.get(str(highway)) if highway else None
        if road_class:
            out.append(_feature(f"w{osm_id}", "road", road_class, name, geom))
        elif waterway:
            out.append(_feature(f"w{osm_id}", "water", str(waterway), name, geom))
    # the extract's broken rings (a 2-point "polygon") are made valid, or dropped if empty
    fixed = shapely.make_valid(np.asarray(areas.geometry.array, dtype=object))
    ids = np.where(areas["osm_id"].notna(), "r" + areas["osm_id"].astype(str),
                   "w" + areas["osm_way_id"].astype(str))  # fmt: skip
    for source_id, name, building, natural, landuse, tags, geom in zip(
        ids, areas["name"], areas["building"], areas["natural"], areas["landuse"],
        areas["other_tags"], fixed, strict=True,
    ):  # fmt: skip
        if geom is None or geom.is_empty or geom.geom_type not in _AREA_TYPES:
            continue
        if building:
            out.append(_feature(source_id, "building", str(building), name, geom))
        elif (natural in WATER_AREAS or landuse in ("reservoir", "basin")
              or '"water"=>' in str(tags or "")):  # fmt: skip
            out.append(_feature(source_id, "water", str(natural or landuse or "water"), name, geom))
    return out


def _feature(
    source_id: str, kind: str, cls: str | None, name: object, geom: object
) -> BasemapFeature:
    text = str(name) if isinstance(name, str) and name else None
    return BasemapFeature(source_id, kind, cls, text, shapely.to_wkb(geom))


def replace_basemap(
    *, conn: Connection, source: str, features: Iterable[BasemapFeature]
) -> BasemapAccount:
    """Replace the features of ``source`` with ``features`` (COPY, then INSERT … SELECT into
    the lines and areas tables); invalid geometries are made valid, empty ones left out,
    ``stored`` counts what was stored."""
    account = BasemapAccount(source)
    _delete(conn, source)
    conn.execute(
        sa.text(
            "CREATE TEMP TABLE basemap_in (source_id text, kind text, class text, name text,"
            " wkb bytea) ON COMMIT DROP"
        )
    )
    raw = conn.connection.driver_connection
    assert raw is not None
    with (
        raw.cursor() as cur,
        cur.copy("COPY basemap_in (source_id, kind, class, name, wkb) FROM STDIN") as copy,
    ):
        for f in features:
            if f.kind not in KINDS:
                raise BasemapError(f"kind: {f.kind!r} is not one of {', '.join(KINDS)}")
            account.by_kind[f.kind] = account.by_kind.get(f.kind, 0) + 1
            copy.write_row((f.source_id, f.kind, f.feature_class, f.name, f.wkb))
    conn.execute(
        sa.text("""
        CREATE TEMP TABLE basemap_valid ON COMMIT DROP AS
        SELECT DISTINCT ON (kind, source_id) source_id, kind, class, name,
               ST_MakeValid(ST_SetSRID(ST_GeomFromWKB(wkb), 4326)) AS g
        FROM basemap_in ORDER BY kind, source_id
    """)
    )
    for table, dim, cast in (("basemap_lines", 2, "MultiLineString"),
                             ("basemap_areas", 3, "MultiPolygon")):  # fmt: skip
        account.stored += int(
            conn.execute(
                sa.text(f"""
            INSERT INTO {table} (source, source_id, kind, class, name, geom)
            SELECT :s, source_id, kind, class, name,
                   CAST(ST_Multi(ST_CollectionExtract(g, {dim})) AS geometry({cast}, 4326))
            FROM basemap_valid
            WHERE NOT ST_IsEmpty(ST_CollectionExtract(g, {dim}))
              AND kind IN ({"'road', 'water'" if dim == 2 else "'building', 'water'"})
        """),
                {"s": source},
            ).rowcount
        )
    conn.execute(sa.text("DROP TABLE basemap_in, basemap_valid"))
    return account


def _delete(conn: Connection, source: str) -> None:
    for table in ("basemap_lines", "basemap_areas"):
        conn.execute(sa.text(f"DELETE FROM {table} WHERE source = :s"), {"s": source})


def demo_basemap(*, conn: Connection, source: str = "demo") -> BasemapAccount:
    """The district's own base map: its roads, and its buildings' footprints (a 6-m
    square round an address point without one), stored under ``source``."""
    account = BasemapAccount(source)
    _delete(conn, source)
    roads = conn.execute(
        sa.text("""
        INSERT INTO basemap_lines (source, source_id, kind, class, name, geom)
        SELECT :s, 'road:' || r.id, 'road', r.road_class, coalesce(r.name_zh, r.name_en),
               ST_Multi(r.geom)
        FROM roads r
    """),
        {"s": source},
    ).rowcount
    buildings = conn.execute(
        sa.text("""
        INSERT INTO basemap_areas (source, source_id, kind, class, name, geom)
        SELECT :s, 'building:' || b.id, 'building', 'building', NULL,
               coalesce(b.footprint, ST_Multi(ST_Transform(
                   ST_Expand(ST_Transform(b.geom, 3857), 6), 4326)))
        FROM buildings b
    """),
        {"s": source},
    ).rowcount
    account.by_kind = {"road": int(roads), "building": int(buildings)}
    account.stored = int(roads) + int(buildings)
    return account


def basemap_counts(*, conn: Connection) -> dict[str, int]:
    """How many base-map features of each kind are stored."""
    rows = conn.execute(
        sa.text("""
        SELECT kind, count(*) FROM (SELECT kind FROM basemap_lines
                                    UNION ALL SELECT kind FROM basemap_areas) b
        GROUP BY kind""")
    )
    return {str(kind): int(n) for kind, n in rows}
