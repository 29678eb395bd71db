"""Import road centre lines (an OpenStreetMap ``.osm.pbf`` extract, GeoPackage, GeoJSON).

Each line's class (OSM ``highway=…`` or the column the caller names) is mapped
to ``major`` / ``minor`` / ``footway`` (:data:`ROAD_CLASSES`, extendable per
call); major roads are the barriers delineation does not cross
(:func:`layers.grids.delineation_input`), and every class is the network patrol
routing walks. Lines of no road class (railways, waterways, platforms, …) are
counted and set aside, never stored as roads. Multi-part lines are split into
their parts (``source_id`` + ``#n``). Rows are keyed by (source, source id):
a re-run loads nothing twice. Lines wholly outside the served area are counted
and left out. ``.osm.pbf`` is read by GDAL's OSM driver (layer ``lines``),
no extra package needed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from layers.bulk import copy_frame
from layers.ingest.errors import NotReadyError, SourceReadError

ROAD_CLASSES: dict[str, str] = {
    **dict.fromkeys(
        ["motorway", "trunk", "primary", "secondary", "motorway_link", "trunk_link",
         "primary_link", "secondary_link"],
        "major",
    ),
    **dict.fromkeys(
        ["tertiary", "tertiary_link", "unclassified", "residential", "living_street",
         "service", "road", "busway"],
        "minor",
    ),
    **dict.fromkeys(
        ["footway", "pedestrian", "path", "steps", "cycleway", "track", "bridleway",
         "corridor", "trail"],
        "footway",
    ),
}  # fmt: skip
"""OSM ``highway`` value -> road class. Anything else is not a road GridGov walks."""


@dataclass
class RoadAccount:
    """What a roads import did: read = loaded + already present + not a road + outside."""

    source: str
    read: int = 0
    loaded: int = 0
    already_present: int = 0
    not_a_road: int = 0
    outside: int = 0
    by_class: dict[str, int] = field(default_factory=dict)
    unmapped: dict[str, int] = field(default_factory=dict)

    @property
    def adds_up(self) -> bool:
        """True when every line read is accounted for."""
        return self.read == self.loaded + self.already_present + self.not_a_road + self.outside

    def summary(self) -> str:
        """One line for the terminal."""
        classes = ", ".join(f"{k} {v}" for k, v in sorted(self.by_class.items()))
        text = (
            f"roads from {self.source}: read {self.read} = loaded {self.loaded} + already "
            f"present {self.already_present} + not a road {self.not_a_road} + outside the "
            f"served area {self.outside} [{classes}]"
        )
        if self.unmapped:
            top = ", ".join(f"{k} {v}" for k, v in sorted(self.unmapped.items())[:8])
            text += f"; classes set aside: {top}"
        return text


def read_road_lines(path: str | Path, class_column: str = "highway") -> gpd.GeoDataFrame:
    """Lines with ``source_id``, ``name``, ``highway`` (the source class), WGS 84.

    Raises
    ------
    SourceReadError
        Missing file, unreadable, or without the class column.
    """
    path = Path(path)
    if not path.exists():
        raise SourceReadError(f"roads file {path} does not exist")
    osm = path.name.lower().endswith((".osm.pbf", ".osm"))
    try:
        frame = pyogrio.read_dataframe(path, layer="lines" if osm else None)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        raise SourceReadError(f"{path}: cannot read: {exc}") from exc
    if class_column not in frame:
        raise SourceReadError(
            f"{path}: no {class_column!r} column with the road class "
            f"(columns: {', '.join(map(str, frame.columns))})"
        )
    frame = frame.set_crs(4326) if frame.crs is None else frame.to_crs(4326)
    ids = frame["osm_id"] if "osm_id" in frame else pd.Series(range(1, len(frame) + 1))
    return gpd.GeoDataFrame(
        {
            "source_id": ids.astype(str).to_numpy(),
            "name": frame["name"].to_numpy() if "name" in frame else None,
            "highway": frame[class_column].to_numpy(),
        },
        geometry=frame.geometry.to_numpy(),
        crs=4326,
    )


def load_roads(
    path: str | Path,
    *,
    conn: Connection,
    source: str | None = None,
    class_column: str = "highway",
    classes: dict[str, str] | None = None,
) -> RoadAccount:
    """Import the road lines of ``path`` (see module notes); runs in the caller's transaction.

    Parameters
    ----------
    source
        Source name of the natural key (default: the file name).
    classes
        Extra or changed source class -> ``major``/``minor``/``footway``.

    Raises
    ------
    NotReadyError
        No streets loaded yet (there is no served area to keep roads in).
    SourceReadError, ValueError
    """
    table = {**ROAD_CLASSES, **(classes or {})}
    bad = sorted({v for v in table.values()} - {"major", "minor", "footway"})
    if bad:
        raise ValueError(f"road classes must be major, minor or footway, not {bad}")
    streets = conn.execute(sa.text("SELECT count(*) FROM streets")).scalar_one()
    if not streets:
        raise NotReadyError(
            "no streets are loaded yet: load the city's boundaries first "
            "(gridgov load boundaries FILE -m MAPPING.yaml)"
        )
    name = source or Path(path).name
    lines = read_road_lines(path, class_column)
    account = RoadAccount(source=name, read=len(lines))
    kind = lines.highway.map(table)
    account.unmapped = lines.highway[kind.isna()].fillna("(none)").value_counts().to_dict()
    keep = lines[kind.notna()].assign(road_class=kind[kind.notna()])
    keep = keep[shapely.get_type_id(keep.geometry.to_numpy()) != -1]
    account.not_a_road = account.read - len(keep)
    parts = _parts(keep)
    # a source line counts once: loaded when a part is new, outside when every part is
    account.loaded, account.already_present, account.outside = _insert(conn, name, parts)
    account.by_class = {k: int(v) for k, v in keep.road_class.value_counts().items()}
    return account


def _parts(lines: gpd.GeoDataFrame) -> pd.DataFrame:
    """One row per LineString part, ``source_id`` suffixed ``#n`` for multi-part lines."""
    geoms = lines.geometry.to_numpy()
    parts, index = shapely.get_parts(geoms, return_index=True)
    counts = np.bincount(index, minlength=len(geoms))
    seq = pd.Series(index).groupby(index).cumcount().to_numpy() + 1
    ids = lines.source_id.to_numpy()[index].astype(object)
    multi = counts[index] > 1
    ids[multi] = [f"{i}#{n}" for i, n in zip(ids[multi], seq[multi], strict=True)]
    ok = shapely.get_type_id(parts) == shapely.GeometryType.LINESTRING
    return pd.DataFrame(
        {
            "line": index[ok],
            "source_id": ids[ok],
            "name": lines.name.to_numpy()[index][ok],
            "highway": lines.highway.to_numpy()[index][ok],
            "road_class": lines.road_class.to_numpy()[index][ok],
            "wkt": shapely.to_wkt(parts[ok], rounding_precision=-1),
        }
    )


def _insert(conn: Connection, source: str, parts: pd.DataFrame) -> tuple[int, int, int]:
    """Insert the parts in the served area; (source lines loaded, already present, outside)."""
    conn.execute(
        sa.text("""CREATE TEMP TABLE IF NOT EXISTS ingest_stage_roads (
                   line bigint, source_id text, name text, highway text, road_class text,
                   wkt text); TRUNCATE ingest_stage_roads""")
    )
    copy_frame(conn, "ingest_stage_roads", parts)
    rows = conn.execute(
        sa.text("""
        WITH staged AS (
            SELECT s.*, ST_GeomFromText(s.wkt, 4326) AS geom FROM ingest_stage_roads s
        ), placed AS (
            SELECT s.*, (SELECT t.id FROM streets t WHERE ST_Intersects(t.geom, s.geom)
                         ORDER BY t.id LIMIT 1) AS street_id
            FROM staged s
        ), new AS (
            INSERT INTO roads (street_id, name_en, road_class, geom, source, source_id, highway)
            SELECT street_id, name, road_class, geom, :source, source_id, highway
            FROM placed WHERE street_id IS NOT NULL ORDER BY line, source_id
            ON CONFLICT (source, source_id) DO NOTHING
            RETURNING source_id
        )
        SELECT p.line, bool_or(n.source_id IS NOT NULL) AS loaded,
               bool_or(p.street_id IS NOT NULL) AS inside
        FROM placed p LEFT JOIN new n ON n.source_id = p.source_id
        GROUP BY p.line
    """),
        {"source": source},
    ).all()
    loaded = sum(1 for _, new, _ in rows if new)
    inside = sum(1 for _, _, ins in rows if ins)
    return loaded, inside - loaded, len(rows) - inside
