"""Every quarantine reason: the row lands in import_quarantine with its reason and original row."""

import json

import pandas as pd
import pytest
import shapely
import sqlalchemy as sa

from layers.ingest import load_boundaries, load_cases, load_mapping, load_parts, mapping_from_dict
from tests.ingest.conftest import MAPPINGS, write_cases_csv

NOW = pd.Timestamp("2026-11-20 12:00", tz="UTC")


def _quarantine(conn, run_id):
    return conn.execute(
        sa.text(
            "SELECT row_number, source_id, reason, message, original::text FROM import_quarantine "
            "WHERE run_id = :r ORDER BY row_number"
        ),
        {"r": run_id},
    ).all()


def _load(conn, path):
    mapping = load_mapping(MAPPINGS / "sf311_bigquery.yaml")
    return load_cases(path, mapping, conn=conn, commit=False, now=NOW)


@pytest.mark.parametrize(
    ("row", "reason", "needle"),
    [
        ({"unique_key": ""}, "missing_source_id", "source_id (unique_key) is empty"),
        ({"latitude": "", "longitude": ""}, "missing_coordinates", "are empty"),
        ({"latitude": "0", "longitude": "0"}, "zero_coordinates", "0,0"),
        ({"latitude": "95.2"}, "invalid_coordinates", "not a valid position"),
        ({"latitude": "abc"}, "invalid_coordinates", "not a valid position"),
        ({"latitude": "37.0", "longitude": "-122.0"}, "outside_area", "outside the served area"),
        ({"created_date": "yesterday"}, "bad_time", "reported_at (created_date) 'yesterday'"),
        ({"closed_date": "31/31/2019"}, "bad_time", "closed_at (closed_date)"),
        ({"closed_date": "2019-10-05 00:00:00 UTC"}, "impossible_time", "is before reported_at"),
        (
            {"created_date": "2030-01-01 00:00:00 UTC", "closed_date": ""},
            "impossible_time",
            "in the future",
        ),
        ({"category": "MUNI Feedback"}, "unknown_category", "'MUNI Feedback' is not in"),
        ({"category": ""}, "unknown_category", "category (category) (empty)"),
    ],
)
def test_each_reason_is_quarantined_with_the_original_row(iconn, tmp_path, row, reason, needle):
    path = write_cases_csv(tmp_path / "cases.csv", [{}, row])
    account = _load(iconn, path)
    assert (account.read, account.loaded, account.quarantined) == (2, 1, 1)
    assert account.by_reason == {reason: 1}
    [(row_number, _, got, message, original)] = _quarantine(iconn, account.run_id)
    assert (row_number, got) == (2, reason)
    assert message.startswith("row 2: ") and needle in message
    original = json.loads(original)
    assert original["unique_key"] == (row.get("unique_key", "1001") or None)
    for key, value in row.items():
        assert original[key] == (value or None)


def test_duplicate_source_id_keeps_the_first_good_row(iconn, tmp_path):
    path = write_cases_csv(
        tmp_path / "cases.csv",
        [
            {"unique_key": "7", "latitude": "0", "longitude": "0"},
            {"unique_key": "7"},
            {"unique_key": "7", "category": "Streetlights"},
        ],
    )
    account = _load(iconn, path)
    assert account.by_reason == {"zero_coordinates": 1, "duplicate_source_id": 1}
    assert account.loaded == 1
    rows = _quarantine(iconn, account.run_id)
    assert rows[1][2] == "duplicate_source_id" and "already appeared in row 2" in rows[1][3]


def test_unmapped_category_goes_to_the_catch_all_when_the_mapping_says_so(iconn, tmp_path):
    path = write_cases_csv(tmp_path / "cases.csv", [{"category": "MUNI Feedback"}])
    raw = {
        "layer": "cases",
        "source": "sf311",
        "default_category": "E0604",
        "columns": {
            "source_id": "unique_key",
            "lon": "longitude",
            "lat": "latitude",
            "category": "category",
            "reported_at": "created_date",
        },
    }
    account = load_cases(path, mapping_from_dict(raw), conn=iconn, commit=False, now=NOW)
    assert account.loaded == 1
    code = iconn.execute(
        sa.text(
            "SELECT cat.service_code FROM cases c JOIN categories cat ON cat.id = c.category_id "
            "WHERE c.source_system = 'sf311' AND c.source_id = '1000'"
        )
    ).scalar_one()
    assert code == "E0604"


def test_non_point_geometry_of_a_part_is_invalid_geometry(iconn, tmp_path):
    path = tmp_path / "parts.geojson"
    features = [
        {
            "type": "Feature",
            "properties": {"osm_id": 1, "kind": "lamp"},
            "geometry": {"type": "Point", "coordinates": [24.94, 60.17]},
        },
        {
            "type": "Feature",
            "properties": {"osm_id": 2, "kind": "lamp"},
            "geometry": {"type": "LineString", "coordinates": [[24.94, 60.17], [24.95, 60.17]]},
        },
    ]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    raw = {
        "layer": "parts",
        "source": "test-lamps",
        "categories": {"lamp": "P0208"},
        "columns": {"source_id": "osm_id", "category": "kind"},
    }
    account = load_parts(path, mapping_from_dict(raw), conn=iconn, commit=False)
    assert (account.loaded, account.by_reason) == (1, {"invalid_geometry": 1})
    [(_, _, _, message, original)] = _quarantine(iconn, account.run_id)
    assert "LineString" in message and json.loads(original)["geometry"].startswith("LINESTRING")


def test_invalid_polygons_are_repaired_when_safe_and_quarantined_when_not(iconn, tmp_path):
    spike = shapely.Polygon(
        [(0, 0), (0, 1), (1, 1), (1, 0), (0.5, 0.0), (0.5, -1e-9), (0.5, 0), (0, 0)]
    )
    bowtie = shapely.Polygon([(0, 0), (1, 1), (1, 0), (0, 1), (0, 0)])
    shift = shapely.affinity.translate
    geoms = {"A": shapely.box(0, 0, 1, 1), "B": shift(spike, 2), "C": shift(bowtie, 4)}
    assert not geoms["B"].is_valid and not geoms["C"].is_valid
    features = [
        {
            "type": "Feature",
            "properties": {"name": k},
            "geometry": shapely.geometry.mapping(shift(g, 30, 30)),
        }
        for k, g in geoms.items()
    ]
    path = tmp_path / "areas.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    raw = {
        "layer": "boundaries",
        "source": "test-areas",
        "columns": {"name": "name"},
        "street": {"code": "999000001", "name": "Test"},
    }
    account = load_boundaries(path, mapping_from_dict(raw), conn=iconn, commit=False)
    assert account.by_reason == {"invalid_geometry": 1}
    [(_, source_id, _, message, _)] = _quarantine(iconn, account.run_id)
    assert source_id == "C" and "cannot be repaired safely" in message
    assert account.loaded == 2 and account.repaired == 1
    notes = iconn.execute(
        sa.text("SELECT source_id, code FROM import_notes WHERE run_id = :r"), {"r": account.run_id}
    ).all()
    assert ("B", "geometry_repaired") in notes
    valid = iconn.execute(
        sa.text("SELECT bool_and(ST_IsValid(geom)) FROM communities WHERE code LIKE '999000001%'")
    ).scalar_one()
    assert valid


def test_imported_cases_have_a_consistent_history(iconn, tmp_path):
    path = write_cases_csv(
        tmp_path / "cases.csv", [{"unique_key": "11"}, {"unique_key": "12", "closed_date": ""}]
    )
    account = _load(iconn, path)
    assert account.loaded == 2
    problems = (
        iconn.execute(
            sa.text("""
        SELECT v.problem FROM case_history_violations(1000) v JOIN cases c ON c.id = v.case_id
        WHERE c.source_system = 'sf311' AND c.source_id IN ('11', '12')
    """)
        )
        .scalars()
        .all()
    )
    assert problems == []
    # an import row after the first is still a violation
    case_id = iconn.execute(
        sa.text("SELECT id FROM cases WHERE source_system = 'sf311' AND source_id = '11'")
    ).scalar_one()
    iconn.execute(
        sa.text("""
        INSERT INTO case_events (case_id, street_code, at, actor, role, action, from_status,
                                 to_status)
        SELECT id, street_code, now(), 'x', 'system', 'import', NULL, status FROM cases
        WHERE id = :id
    """),
        {"id": case_id},
    )
    problems = (
        iconn.execute(
            sa.text("SELECT problem FROM case_history_violations(1000) WHERE case_id = :id"),
            {"id": case_id},
        )
        .scalars()
        .all()
    )
    assert any("illegal step ∅ -[import by system]" in p for p in problems)
