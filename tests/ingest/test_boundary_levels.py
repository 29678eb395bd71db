"""Issue 14 item 4: boundaries with levels (district → street → community) from one file or several.

A file may hold several streets (a street column) and the district level (a district
column); the parent comes from a column or, when there is none, from the loaded area
each row overlaps most; codes are derived when the file has none, shown in the run's
notes; re-runs load nothing twice; rows no parent can be found for are quarantined.
"""

from __future__ import annotations

import geopandas as gpd
import pytest
import shapely
import sqlalchemy as sa

from layers.ingest import MappingError, load_boundaries, mapping_from_dict
from layers.ingest.boundaries import derived_codes


def square(x: float, y: float, size: float = 0.01) -> shapely.Polygon:
    return shapely.box(x, y, x + size, y + size)


@pytest.fixture
def city(iconn):
    """The city profile (its administrative code 999900 is where derived districts start)."""
    iconn.execute(
        sa.text("""INSERT INTO city (id, name, name_en, timezone, admin_code)
                   VALUES (1, '测试市', 'Test City', 'UTC', '999900')
                   ON CONFLICT (id) DO UPDATE SET admin_code = '999900'""")
    )
    return iconn


def write(tmp_path, name: str, rows: dict, geoms: list) -> str:
    path = tmp_path / f"{name}.geojson"
    gpd.GeoDataFrame(rows, geometry=geoms, crs=4326).to_file(path)
    return str(path)


def tree(conn) -> list[tuple[str, str, str]]:
    """(level, code, name) of every area under the test city's district prefix 9999."""
    return [
        tuple(r)
        for r in conn.execute(
            sa.text("""
            SELECT 'district', trim(code), name_zh FROM districts WHERE code LIKE '9999%'
            UNION ALL SELECT 'street', trim(code), name_zh FROM streets WHERE code LIKE '9999%'
            UNION ALL SELECT 'community', trim(code), name_zh FROM communities
                      WHERE code LIKE '9999%'
            ORDER BY 2""")
        )
    ]


def test_one_file_with_street_and_district_columns_builds_every_level(city, tmp_path):
    path = write(
        tmp_path,
        "communities",
        {
            "name": ["Alpha", "Beta", "Gamma", "Gamma", "Delta"],
            "street": ["North", "North", "South", "South", "East"],
            "district": ["Old Town", "Old Town", "Old Town", "Old Town", "New Town"],
        },
        [
            square(10.0, 50.0),
            square(10.01, 50.0),
            square(10.0, 50.02),
            square(10.05, 50.02),  # a second piece of Gamma: merged, not dropped
            square(11.0, 50.0),
        ],
    )
    mapping = mapping_from_dict(
        {
            "layer": "boundaries",
            "source": "levels",
            "columns": {"name": "name", "street": "street", "district": "district"},
        }
    )
    account = load_boundaries(path, mapping, conn=city, commit=False)
    assert (account.read, account.loaded, account.quarantined) == (5, 4, 0)
    assert account.already_present == 1 and account.adds_up
    assert account.notes["code_derived"] == 4
    assert account.notes["street_created"] == 3 and account.notes["district_created"] == 2
    assert account.notes["merged_parts"] == 1
    # districts: the city's first 4 digits + 01, 02 in name order; streets and communities
    # take the next numbers under their parent, in name order
    assert tree(city) == [
        ("district", "999901", "New Town"),
        ("street", "999901001", "East"),
        ("community", "999901001001", "Delta"),
        ("district", "999902", "Old Town"),
        ("street", "999902001", "North"),
        ("community", "999902001001", "Alpha"),
        ("community", "999902001002", "Beta"),
        ("street", "999902002", "South"),
        ("community", "999902002001", "Gamma"),
    ]
    shown = derived_codes(conn=city, run_id=account.run_id)
    assert any("'Beta' is community 999902001002" in line for line in shown)
    # geometries roll up: a street is the union of its communities, a district of its streets
    area = city.execute(
        sa.text("SELECT ST_Area(geom) FROM districts WHERE code = '999902'")
    ).scalar_one()
    assert abs(area - 4e-4) < 1e-9
    again = load_boundaries(path, mapping, conn=city, commit=False)
    assert (again.loaded, again.already_present, again.quarantined) == (0, 5, 0)
    assert len(tree(city)) == 9


def test_parent_by_largest_overlap_and_no_parent_quarantined(city, tmp_path):
    streets = write(
        tmp_path,
        "streets",
        {"name": ["West street", "East street"]},
        [square(20.0, 40.0, 0.1), square(20.1, 40.0, 0.1)],
    )
    street_mapping = mapping_from_dict(
        {
            "layer": "boundaries",
            "source": "streets",
            "level": "street",
            "district": {"code": "999950", "name": "河区"},
            "columns": {"name": "name"},
        }
    )
    first = load_boundaries(streets, street_mapping, conn=city, commit=False)
    assert (first.loaded, first.quarantined) == (2, 0)
    communities = write(
        tmp_path,
        "communities",
        {"name": ["Mostly west", "Mostly east", "Far away"]},
        [
            shapely.box(20.02, 40.0, 20.12, 40.05),  # 80 % in the west street
            shapely.box(20.09, 40.05, 20.19, 40.1),  # 90 % in the east street
            square(30.0, 40.0),
        ],
    )
    mapping = mapping_from_dict(
        {"layer": "boundaries", "source": "communities", "columns": {"name": "name"}}
    )
    account = load_boundaries(communities, mapping, conn=city, commit=False)
    assert (account.loaded, account.quarantined, account.already_present) == (2, 1, 0)
    assert account.by_reason == {"no_parent": 1}
    assert account.notes["parent_by_overlap"] == 2
    placed = dict(
        city.execute(
            sa.text("""SELECT c.name_zh, trim(s.code) FROM communities c
                       JOIN streets s ON s.id = c.street_id WHERE s.code LIKE '99995%'""")
        ).all()
    )
    # streets are numbered in name order: East street 001, West street 002
    assert placed == {"Mostly west": "999950002", "Mostly east": "999950001"}
    message = city.execute(
        sa.text("SELECT message FROM import_quarantine WHERE run_id = :r"),
        {"r": account.run_id},
    ).scalar_one()
    assert "'Far away'" in message and "no street found" in message


def test_parent_column_by_code_and_file_codes_kept(city, tmp_path):
    street_mapping = mapping_from_dict(
        {
            "layer": "boundaries",
            "source": "streets-coded",
            "level": "street",
            "columns": {"name": "name", "code": "code"},
        }
    )
    streets = write(
        tmp_path,
        "streets",
        {"name": ["One", "Two"], "code": ["999960007", "99996"]},
        [square(25.0, 40.0), square(25.02, 40.0)],
    )
    account = load_boundaries(streets, street_mapping, conn=city, commit=False)
    assert (account.loaded, account.by_reason) == (1, {"bad_code": 1})
    communities = write(
        tmp_path,
        "communities",
        {"name": ["Inside"], "belongs_to": ["999960007"]},
        [square(27.0, 40.0)],  # overlaps nothing: the column decides
    )
    mapping = mapping_from_dict({"layer": "boundaries", "source": "c", "columns": {"name": "name"}})
    done = load_boundaries(
        communities, mapping, conn=city, commit=False, parent_column="belongs_to"
    )
    assert (done.loaded, done.quarantined) == (1, 0)
    assert ("community", "999960007001", "Inside") in tree(city)


def test_mapping_refuses_a_street_parent_for_a_street_file():
    with pytest.raises(MappingError, match="'street' is the parent of communities"):
        mapping_from_dict(
            {
                "layer": "boundaries",
                "source": "x",
                "level": "street",
                "street": {"code": "999000001", "name": "x"},
                "columns": {"name": "name"},
            }
        )
