"""Vector tiles (Mapbox Vector Tile, ``ST_AsMVT``) of cases, parts, grids, communities and
the base map, and the base map's own table.

Every tile query runs on the caller's connection: inside ``services.uow.unit_of_work``
as the user's scope, row-level security decides which rows are in a tile. Each feature
carries its integer id (the MVT feature id: the case's, part's, grid's or community's
id; an aggregate carries the smallest id in it); grids and communities also carry
``feature_id`` (``grid:<id>``, ``community:<code>``); for cases and parts the map makes
it from the MVT id (a string per point would make the tiles a third bigger). Points
come aggregated below :data:`POINT_DETAIL_ZOOM`: one point per cell (32 × 32 cells a
tile) with its ``count``, so that a tile of the whole city stays small.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from city.codes import CODES
from gis.errors import GridGovError

LAYERS = ("cases", "parts", "grids", "communities", "basemap")
"""The tile layers ``/tiles/{layer}/…`` serves."""
MAX_ZOOM = 22
POINT_DETAIL_ZOOM = 16
"""From this zoom up points are drawn one by one; below it they are aggregated."""
BUILDING_ZOOM = 15
"""Buildings of the base map from this zoom up (below it: roads and water only)."""
MINOR_ROAD_ZOOM = 15
"""Minor roads and footways of the base map from this zoom up (below it: major roads)."""
EXTENT = 4096
BUFFER = 64
CLUSTER_CELLS = 32
"""Cells per tile side for aggregated points (a cell is 8 px of a 256-px tile)."""
OPEN_STATUSES = (
    "reported",
    "accepted",
    "registered",
    "dispatched",
    "in_handling",
    "suspended",
    "handled",
    "checked",
)
"""The open statuses (``case_statuses.is_open``), spelled as the partial index of 0090
(``cases_open_geom_gix``) spells them so that the planner can use it."""
BASEMAP_KINDS = ("road", "building", "water")
AREA_DIGITS = (CODES.area, CODES.street, CODES.community)
"""An ``area`` narrowing a tile: a district (6 digits), street (9) or community (12) code."""


class BadTileRequest(GridGovError, ValueError):
    """A tile address or filter that cannot be served (names the field and why)."""

    code = "bad_tile_request"
    kind = "bad_input"


@dataclass(frozen=True)
class CaseFilter:
    """Which cases a tile holds: statuses (None: every status), category service codes
    (None: all) and a reporting-time window (``since`` inclusive, ``until`` exclusive)."""

    statuses: tuple[str, ...] | None = OPEN_STATUSES
    categories: tuple[str, ...] | None = None
    since: datetime | None = None
    until: datetime | None = None


def layer_names(layer: str) -> tuple[str, ...]:
    """The layers a tile address names: one (``cases``) or several joined by commas
    (``basemap,cases``: one tile holding each, drawn in that order).

    Raises
    ------
    BadTileRequest
        An unknown or repeated layer name.
    """
    names = tuple(name.strip() for name in layer.split(","))
    unknown = [name for name in names if name not in LAYERS]
    if unknown or not names:
        raise BadTileRequest(
            f"layer: {', '.join(map(repr, unknown or [layer]))} is not one of {', '.join(LAYERS)}"
            " (or several of them joined by commas)"
        )
    if len(set(names)) != len(names):
        raise BadTileRequest(f"layer: {layer!r} names a layer twice")
    return names


def check_address(layer: str, z: int, x: int, y: int) -> None:
    """Raise :class:`BadTileRequest` unless ``layer/z/x/y`` names a tile."""
    layer_names(layer)
    if not 0 <= z <= MAX_ZOOM:
        raise BadTileRequest(f"z: {z} is outside 0–{MAX_ZOOM}")
    if not (0 <= x < 2**z and 0 <= y < 2**z):
        raise BadTileRequest(f"x, y: ({x}, {y}) is outside zoom {z}'s 0–{2**z - 1}")


def check_area(area: str | None) -> None:
    """Raise :class:`BadTileRequest` unless ``area`` is None or a district, street or
    community code (6, 9 or 12 digits)."""
    if area is not None and not (area.isascii() and area.isdigit() and len(area) in AREA_DIGITS):
        raise BadTileRequest(
            f"area：{area!r} 不是区、街道或社区代码（6、9 或 12 位数字）/ "
            f"area: {area!r} is not a district, street or community code (6, 9 or 12 digits)"
        )


def tile(
    *,
    conn: Connection,
    layer: str,
    z: int,
    x: int,
    y: int,
    cases: CaseFilter | None = None,
    area: str | None = None,
    now: datetime | None = None,
) -> bytes:
    """The MVT bytes of one tile of ``layer`` (empty bytes: nothing there or nothing visible).

    ``cases`` filters the cases layer; ``area`` (a district, street or community code)
    narrows cases, parts, grids and communities to that area (the base map is never
    narrowed: it is the map under them); ``now`` decides which cases are overdue
    (default: the database's clock). Narrowing only ever hides rows: row-level security
    still decides what the caller may see.
    """
    check_address(layer, z, x, y)
    check_area(area)
    names = layer_names(layer)
    params: dict[str, object] = {"z": z, "x": x, "y": y, "now": now}
    hint = _community_hint(conn) if {"cases", "parts"} & set(names) else ""
    if area is not None:
        params["area"] = area
        hint += _AREA_CONDITION[len(area) == CODES.community]
    if z < POINT_DETAIL_ZOOM and {"cases", "parts"} & set(names):
        # the aggregates: the planner cannot know how many points a tile holds (a range
        # on coordinates) and guesses one, then sorts thousands to group them; hashing
        # them is 2-3x faster. For this transaction only (a tile's own, read-only).
        conn.execute(sa.text("SELECT set_config('enable_sort', 'off', true)"))
    parts = []
    for name in names:
        if name == "cases":
            sql = _cases_sql(z, y, cases or CaseFilter(), params, hint=hint.format(t="c"))
        elif name == "parts":
            sql = _points_sql(z, y, _PARTS + hint.format(t="p"), "parts", params)
        elif name == "grids":
            sql = _polygons_sql(z, _GRIDS + (hint.format(t="g") if area else ""), "grids")
        elif name == "communities":
            narrow = " AND left(m.code, length(CAST(:area AS text))) = :area" if area else ""
            sql = _polygons_sql(z, _COMMUNITIES + narrow, "communities")
        else:
            sql = _basemap_sql(z)
        parts.append(sql)
    # one statement, one round trip: a tile of several layers is their tiles end to end
    # (an MVT is a list of layers: concatenated tiles are one tile holding them all)
    sql = (
        parts[0]
        if len(parts) == 1
        else "SELECT " + " || ".join(f"coalesce(({part}), ''::bytea)" for part in parts)
    )
    value = conn.execute(sa.text(sql), params).scalar_one()
    return bytes(value or b"")


def _community_hint(conn: Connection) -> str:
    """For a scope of one community, a condition that the community's rows meet anyway.

    Row-level security's per-row check (``gridgov_area_allows``, not inlinable) comes
    before any condition that is not leakproof, the spatial ``&&`` included: without a
    hint every row of the table is checked. An integer ``=`` is leakproof, so this one
    narrows the rows first through the community index. It only narrows (ANDed with the
    policy): it cannot show a row the policy hides.
    """
    area = conn.execute(sa.text("SELECT gridgov_area()")).scalar()
    if not area or len(str(area)) != 12:
        return ""
    return (
        " AND {t}.community_id = (SELECT id FROM communities WHERE code = (SELECT gridgov_area()))"
    )


_AREA_CONDITION = {
    True: " AND {t}.community_id = (SELECT id FROM communities WHERE code = :area)",
    False: (
        " AND {t}.community_id IN (SELECT id FROM communities"
        " WHERE left(code, length(CAST(:area AS text))) = :area)"
    ),
}
"""The rows of area ``:area`` by their community (an integer, carried in the open cases'
tile index): one community, or the communities of a street or district."""


# --- the SQL -----------------------------------------------------------------------------
_ENV = f"""env AS (
    SELECT ST_TileEnvelope(:z, :x, :y) AS e,
           ST_Transform(ST_TileEnvelope(:z, :x, :y, margin => {BUFFER / EXTENT}), 4326) AS e4,
           ST_Transform(ST_TileEnvelope(:z, :x, :y), 4326) AS t4
)"""
_MVT_GEOM = f"ST_AsMVTGeom(ST_Transform({{geom}}, 3857), env.e, {EXTENT}, {BUFFER}, true)"

_PARTS = """
    SELECT p.id, p.part_code, p.status,
           k.service_code AS category, k.name_zh AS category_zh, k.name_en AS category_en,
           p.geom AS g
    FROM parts p JOIN categories k ON k.id = p.category_id, env
    WHERE p.geom && env.e4"""
_GRIDS = """
    SELECT g.id, 'grid:' || g.id AS feature_id, g.code, g.households, g.geom AS g
    FROM grids g, env
    WHERE g.valid_to IS NULL AND g.geom && env.e4"""
_COMMUNITIES = """
    SELECT m.id, 'community:' || m.code AS feature_id, m.code, m.name_zh, m.name_en,
           m.geom AS g
    FROM communities m, env
    WHERE m.geom && env.e4"""


def _cases_sql(
    z: int, y: int, wanted: CaseFilter, params: dict[str, object], *, hint: str = ""
) -> str:
    # open cases only: a longitude and latitude range read from the index of open cases
    # alone (cases_open_tile_ix, index-only); any other status: the spatial index
    if wanted.statuses is not None and set(wanted.statuses) <= set(OPEN_STATUSES):
        where = [_range_condition(z, params) + hint]
    else:
        where = ["c.geom && env.e4" + hint]
    if wanted.statuses is not None:
        unknown = sorted(set(wanted.statuses) - set(_ALL_STATUSES))
        if unknown:
            raise BadTileRequest(
                f"status: {', '.join(unknown)} unknown; "
                f"known: open, all, {', '.join(_ALL_STATUSES)}"
            )
        # literal codes (checked above against the fixed list), so that the planner can
        # match the partial index of open cases
        where.append("c.status IN (" + ", ".join(f"'{s}'" for s in wanted.statuses) + ")")
    if wanted.categories:
        where.append("k.service_code = ANY (CAST(:categories AS text[]))")
        params["categories"] = list(wanted.categories)
    if wanted.since is not None:
        where.append("c.reported_at >= :since")
        params["since"] = wanted.since
    if wanted.until is not None:
        where.append("c.reported_at < :until")
        params["until"] = wanted.until
    overdue = "coalesce(c.deadline_at < coalesce(CAST(:now AS timestamptz), now()), false)"
    if z < POINT_DETAIL_ZOOM:
        # aggregated: only what the counts need (no names: no joins per case)
        where = [w for w in where if not w.startswith("k.")]
        if wanted.categories:
            where.append(
                "c.category_id IN (SELECT id FROM categories"
                " WHERE service_code = ANY (CAST(:categories AS text[])))"
            )
        rows = f"""
    SELECT c.id, c.urgency, {overdue} AS overdue, c.geom AS g
    FROM cases c, env
    WHERE {" AND ".join(where)}"""
        return _points_sql(z, y, rows, "cases", params)
    rows = f"""
    SELECT c.id, c.case_no, c.status, s.name_zh AS status_zh,
           s.name_en AS status_en, c.urgency,
           k.service_code AS category, k.name_zh AS category_zh, k.name_en AS category_en,
           {overdue} AS overdue,
           c.geom AS g
    FROM cases c JOIN categories k ON k.id = c.category_id
         JOIN case_statuses s ON s.code = c.status, env
    WHERE {" AND ".join(where)}"""
    return _points_sql(z, y, rows, "cases", params)


def _range_condition(z: int, params: dict[str, object]) -> str:
    """Cases in the tile ``params`` names by their coordinates: the tile itself, half-open
    (every point in exactly one tile), when aggregated; the tile and its buffer else."""
    n = 2**z
    x, y = int(str(params["x"])), int(str(params["y"]))
    margin = 0.0 if z < POINT_DETAIL_ZOOM else BUFFER / EXTENT

    def lon(t: float) -> float:
        return t / n * 360.0 - 180.0

    def lat(t: float) -> float:
        return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * t / n))))

    params |= {
        "lon0": lon(x - margin),
        "lon1": lon(x + 1 + margin),
        "lat0": lat(y + 1 + margin),
        "lat1": lat(y - margin),
    }
    high = "<" if z < POINT_DETAIL_ZOOM else "<="
    return (
        "ST_X(c.geom) >= CAST(:lon0 AS float8) AND ST_X(c.geom) "
        f"{high} CAST(:lon1 AS float8) AND ST_Y(c.geom) >= CAST(:lat0 AS float8) "
        f"AND ST_Y(c.geom) {high} CAST(:lat1 AS float8)"
    )


def _points_sql(z: int, y: int, rows: str, name: str, params: dict[str, object]) -> str:
    if z >= POINT_DETAIL_ZOOM:
        return f"""WITH {_ENV}, f AS ({rows})
        SELECT ST_AsMVT(t, '{name}', {EXTENT}, 'geom', 'id') FROM (
            SELECT f.*, {_MVT_GEOM.format(geom="f.g")} AS geom FROM f, env
        ) t WHERE t.geom IS NOT NULL"""
    # aggregated: one point per cell of a CLUSTER_CELLS² lattice over the tile, at the
    # mean position of its points; the cell is computed on the stored degrees (no
    # per-row transform), its size the tile's width in degrees / CLUSTER_CELLS
    extra = (
        ", count(*) FILTER (WHERE f.overdue) AS overdue"
        ", count(*) FILTER (WHERE f.urgency = 'urgent') AS urgent"
        if name == "cases"
        else ""
    )
    # cells square on the screen: the tile's width in degrees / CLUSTER_CELLS, and in
    # latitude that times cos(latitude of the tile's centre)
    w = 360.0 / 2**z / CLUSTER_CELLS
    h = w * math.cos(math.atan(math.sinh(math.pi * (1 - 2 * (y + 0.5) / 2**z))))
    # aggregates count the points of the tile itself (no margin): every point is in
    # exactly one tile's count
    rows = rows.replace("&& env.e4", "&& env.t4")
    params |= {"cw": w, "ch": h}  # bound, not spelled: one statement per zoom (prepared)
    return f"""WITH {_ENV}, f AS ({rows}),
        cell AS (SELECT CAST(:cw AS float8) AS w, CAST(:ch AS float8) AS h),
        agg AS (
            SELECT floor(ST_X(f.g) / cell.w)::bigint AS cx, floor(ST_Y(f.g) / cell.h)::bigint AS cy,
                   count(*) AS count, avg(ST_X(f.g)) AS lon, avg(ST_Y(f.g)) AS lat,
                   min(f.id) AS one_id{extra}
            FROM f, cell GROUP BY 1, 2
        )
        SELECT ST_AsMVT(t, '{name}', {EXTENT}, 'geom', 'id') FROM (
            SELECT agg.one_id AS id, agg.count{", agg.overdue, agg.urgent" if extra else ""},
                   {_MVT_GEOM.format(geom="ST_SetSRID(ST_MakePoint(agg.lon, agg.lat), 4326)")}
                       AS geom
            FROM agg, env
        ) t WHERE t.geom IS NOT NULL"""


def _polygons_sql(z: int, rows: str, name: str) -> str:
    # simplify to a quarter pixel of this zoom (Web Mercator metres per pixel at z: 156543/2^z)
    tolerance = 156543.03 / 2**z / 4
    geom = f"ST_Simplify(ST_Transform(f.g, 3857), {tolerance})"
    return f"""WITH {_ENV}, f AS ({rows})
    SELECT ST_AsMVT(t, '{name}', {EXTENT}, 'geom', 'id') FROM (
        SELECT f.*, ST_AsMVTGeom({geom}, env.e, {EXTENT}, {BUFFER}, true) AS geom FROM f, env
    ) t WHERE t.geom IS NOT NULL"""


def _basemap_sql(z: int) -> str:
    tolerance = 156543.03 / 2**z / 4
    # below MINOR_ROAD_ZOOM only major roads (a 512-px tile of zoom 14 is drawn at map
    # zoom 15: its minor roads and footways were most of its lines and bytes)
    major_only = "" if z >= MINOR_ROAD_ZOOM else " AND (b.kind <> 'road' OR b.class = 'major')"
    areas = "b.kind = 'water'" if z < BUILDING_ZOOM else "true"
    parts = []
    for table, where in (("basemap_areas", areas), ("basemap_lines", "true" + major_only)):
        parts.append(f"""
        SELECT b.id * 2 + {0 if table == "basemap_areas" else 1} AS id, b.kind, b.class, b.name,
               ST_AsMVTGeom(ST_Simplify(ST_Transform(b.geom, 3857), {tolerance}), env.e,
                            {EXTENT}, {BUFFER}, true) AS geom
        FROM {table} b, env
        WHERE ST_Transform(b.geom, 3857) && env.e AND {where}""")
    return f"""WITH env AS (SELECT ST_TileEnvelope(:z, :x, :y) AS e)
    SELECT ST_AsMVT(t, 'basemap', {EXTENT}, 'geom', 'id') FROM (
        {" UNION ALL ".join(parts)}
    ) t WHERE t.geom IS NOT NULL"""


_ALL_STATUSES = (*OPEN_STATUSES, "rejected", "closed", "rated", "archived")
