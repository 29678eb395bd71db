"""Real data: SF 311 samples (two layouts), SF neighborhoods, Helsinki OSM parts, SF addresses."""

import pytest
import sqlalchemy as sa

from layers.ingest import (
    load_boundaries,
    load_buildings,
    load_cases,
    load_mapping,
    load_parts,
)
from tests.ingest.conftest import DATA, MAPPINGS, SHARED


def _count(conn, sql, **params):
    return conn.execute(sa.text(sql), params).scalar_one()


def test_sf_neighborhoods_are_communities_of_one_street(iconn):
    account = load_boundaries(
        DATA / "sf-neighborhoods-311.geojson",
        load_mapping(MAPPINGS / "sf_neighborhoods.yaml"),
        conn=iconn,
        commit=False,
    )
    # the session fixture loaded them already: a re-run changes nothing
    assert (account.read, account.loaded, account.already_present) == (117, 0, 117)
    codes = (
        iconn.execute(
            sa.text(
                "SELECT c.code FROM communities c JOIN streets s ON s.id = c.street_id "
                "WHERE s.code = '060750001' ORDER BY c.code"
            )
        )
        .scalars()
        .all()
    )
    assert len(codes) == 117 and codes[0] == "060750001001" and codes[-1] == "060750001117"
    union_is_street = _count(
        iconn,
        """
        SELECT ST_Equals(s.geom, (SELECT ST_Multi(ST_Union(geom)) FROM communities
                                  WHERE street_id = s.id)) FROM streets s WHERE code = '060750001'
    """,
    )
    assert union_is_street


def test_sf311_bigquery_sample_loads_with_an_exact_account(iconn):
    account = load_cases(
        DATA / "sf311_bigquery_sample.csv",
        load_mapping(MAPPINGS / "sf311_bigquery.yaml"),
        conn=iconn,
        commit=False,
    )
    assert account.read == 301 and account.adds_up
    assert account.by_reason["zero_coordinates"] == 2
    assert account.by_reason["impossible_time"] == 3
    assert set(account.by_reason) <= {
        "zero_coordinates",
        "impossible_time",
        "unknown_category",
        "outside_area",
    }
    loaded = account.loaded
    assert _count(iconn, "SELECT count(*) FROM cases WHERE source_system = 'sf311'") == loaded
    # every case is assigned and has its history
    assert (
        _count(
            iconn,
            """
        SELECT count(*) FROM cases WHERE source_system = 'sf311' AND (community_id IS NULL
           OR h3_r7 IS NULL OR h3_r10 IS NULL OR street_code <> '060750001')""",
        )
        == 0
    )
    assert (
        _count(
            iconn,
            """
        SELECT count(*) FROM case_events e JOIN cases c ON c.id = e.case_id
        WHERE c.source_system = 'sf311' AND e.action = 'import' AND e.role = 'system'
          AND e.reason LIKE 'imported from sf311%'""",
        )
        == loaded
    )
    assert _count(
        iconn,
        """
        SELECT count(*) FROM cases c JOIN communities co ON co.id = c.community_id
        WHERE c.source_system = 'sf311' AND NOT ST_Intersects(co.geom, c.geom)""",
    ) == account.notes.get("near_area", 0)
    # a case outside its community is one the 5 m tolerance took in (issue 14 item 7)
    assert (
        _count(
            iconn,
            """
        SELECT count(*) FROM cases c JOIN communities co ON co.id = c.community_id
        WHERE c.source_system = 'sf311'
          AND NOT ST_DWithin(co.geom::geography, c.geom::geography, 5.01)""",
        )
        == 0
    )
    statuses = dict(
        iconn.execute(
            sa.text("SELECT status, count(*) FROM cases WHERE source_system = 'sf311' GROUP BY 1")
        ).all()
    )
    assert set(statuses) <= {"closed", "dispatched"}


def test_the_two_sf_layouts_share_one_natural_key(iconn):
    first = load_cases(
        DATA / "sf311_datasf_sample.csv",
        load_mapping(MAPPINGS / "sf311_datasf.yaml"),
        conn=iconn,
        commit=False,
    )
    nogeo = load_cases(
        DATA / "sf311_datasf_nogeo_sample.csv",
        load_mapping(MAPPINGS / "sf311_datasf_nogeo.yaml"),
        conn=iconn,
        commit=False,
    )
    assert first.adds_up and nogeo.adds_up and first.read == 150 and nogeo.read == 100
    assert first.loaded > 80 and nogeo.loaded > 50
    again = load_cases(
        DATA / "sf311_datasf_sample.csv",
        load_mapping(MAPPINGS / "sf311_datasf.yaml"),
        conn=iconn,
        commit=False,
    )
    assert (again.loaded, again.already_present) == (0, first.loaded)


def test_helsinki_lamps_hydrants_and_bins_load_as_parts(iconn):
    account = load_parts(
        DATA / "helsinki_parts.gpkg",
        load_mapping(MAPPINGS / "helsinki_osm_parts.yaml"),
        conn=iconn,
        commit=False,
    )
    assert (account.read, account.loaded, account.quarantined) == (149, 149, 0)
    by_class = dict(
        iconn.execute(
            sa.text("""
        SELECT cat.service_code, count(*) FROM parts p JOIN categories cat ON cat.id = p.category_id
        WHERE p.source = 'osm-helsinki' GROUP BY 1""")
        ).all()
    )
    assert by_class == {"P0208": 60, "P0114": 37, "P0303": 52}
    codes = (
        iconn.execute(
            sa.text("SELECT part_code FROM parts WHERE source = 'osm-helsinki' ORDER BY part_code")
        )
        .scalars()
        .all()
    )
    assert codes[0] == "09100001014000001" and all(len(c) == 17 for c in codes)
    assert (
        _count(
            iconn,
            """SELECT count(*) FROM parts WHERE source = 'osm-helsinki'
        AND (community_id IS NULL OR h3_r7 IS NULL OR h3_r10 IS NULL)""",
        )
        == 0
    )


def test_sf_address_points_load_as_buildings(iconn):
    account = load_buildings(
        DATA / "sf_addresses_sample.csv",
        load_mapping(MAPPINGS / "sf_addresses.yaml"),
        conn=iconn,
        commit=False,
    )
    assert account.read == 300 and account.adds_up and account.loaded > 250
    assert (
        _count(
            iconn,
            """SELECT sum(households) FROM buildings
                            WHERE source = 'sf-addresses'""",
        )
        == account.loaded
    )


@pytest.mark.skipif(
    not (SHARED / "sf311_bq_sample_a").exists(),
    reason="../shared/data (the full SF 311 samples) is not on this machine",
)
def test_full_sf311_samples_account(clean_engine):
    """The account reported for issue 5: both full SF samples, the second one after the first."""
    results = {}
    with clean_engine.connect() as conn:
        for name, path in {
            "sf311_bigquery": SHARED / "sf311_bq_sample_a" / "sf311.csv",
            "sf311_datasf": SHARED / "sf311_sfbrigade" / "cases_sample_by_tract.csv",
        }.items():
            results[name] = load_cases(path, load_mapping(MAPPINGS / f"{name}.yaml"), conn=conn)
    bq, datasf = results["sf311_bigquery"], results["sf311_datasf"]
    # Issue 14 item 7: 12 of the 22 rows once refused as outside_area lie within 5 m of the
    # shoreline-clipped neighbourhoods (area_tolerance_m) and are loaded with a note.
    assert (bq.read, bq.loaded, bq.quarantined, bq.already_present) == (10_000, 6612, 3388, 0)
    # ... and its 218 open cases are routed to a unit with a deadline (issue 14 item 5)
    assert bq.notes == {"near_area": 12, "routed": 218}
    assert bq.by_reason == {
        "impossible_time": 48,
        "outside_area": 10,
        "unknown_category": 3328,
        "zero_coordinates": 2,
    }
    assert (datasf.read, datasf.loaded, datasf.quarantined, datasf.already_present) == (
        4984,
        3825,
        1137,
        22,
    )
    assert datasf.notes["near_area"] == 17  # all 17 once outside_area are within 5 m
    assert datasf.notes == {"near_area": 17, "routed": 127}
    assert datasf.by_reason == {"impossible_time": 55, "unknown_category": 1082}
