"""Export to GeoJSON, GeoPackage, CSV, GeoParquet; personal data only for allowed roles, audited."""

import geopandas as gpd
import pandas as pd
import pytest
import sqlalchemy as sa

from layers.ingest import PersonalDataRefused, load_cases, load_mapping, mapping_from_dict
from layers.ingest.export import PERSONAL_DATA_ROLES, ExportFilter, export_layer
from tests.ingest.conftest import DATA, MAPPINGS, write_cases_csv


@pytest.fixture
def loaded(iconn):
    load_cases(
        DATA / "sf311_bigquery_sample.csv",
        load_mapping(MAPPINGS / "sf311_bigquery.yaml"),
        conn=iconn,
        commit=False,
    )
    return iconn


@pytest.mark.parametrize("suffix", [".geojson", ".gpkg", ".csv", ".parquet"])
def test_every_format_round_trips(loaded, tmp_path, suffix):
    result = export_layer(
        "cases", tmp_path / f"cases{suffix}", conn=loaded, filters=ExportFilter(source="sf311")
    )
    n = loaded.execute(sa.text("SELECT count(*) FROM cases WHERE source_system = 'sf311'")).scalar()
    assert result.rows == n > 0
    if suffix == ".csv":
        back = pd.read_csv(result.path)
        assert {"lon", "lat", "case_no"} <= set(back.columns)
    elif suffix == ".parquet":
        back = gpd.read_parquet(result.path)
    else:
        back = gpd.read_file(result.path)
    assert len(back) == n
    assert not any("reporter" in c for c in back.columns)


def test_filters_narrow_the_selection(loaded, tmp_path):
    community = loaded.execute(
        sa.text("""
        SELECT co.code FROM cases c JOIN communities co ON co.id = c.community_id
        WHERE c.source_system = 'sf311' GROUP BY 1 ORDER BY count(*) DESC LIMIT 1""")
    ).scalar()
    result = export_layer(
        "cases",
        tmp_path / "c.geojson",
        conn=loaded,
        filters=ExportFilter(community=community, category="E02", status="closed"),
    )
    back = gpd.read_file(result.path)
    assert set(back.community_code) <= {community} and set(back.status) <= {"closed"}
    assert set(back.service_code) <= {"E0201", "E0202", "E0203", "E0204"}
    polygons = export_layer("communities", tmp_path / "co.csv", conn=loaded)
    assert "wkt" in pd.read_csv(polygons.path).columns and polygons.rows >= 117


def _with_reporter(iconn, tmp_path):
    path = write_cases_csv(tmp_path / "r.csv", [{"name": "Wang Fang", "phone": "13912345678"}])
    raw = {
        "layer": "cases",
        "source": "hotline-x",
        "categories": {"Graffiti": "E0202"},
        "columns": {
            "source_id": "unique_key",
            "lon": "longitude",
            "lat": "latitude",
            "category": "category",
            "reported_at": "created_date",
            "reporter_name": "name",
            "reporter_phone": "phone",
        },
    }
    load_cases(path, mapping_from_dict(raw), conn=iconn, commit=False)


def test_personal_data_needs_an_allowed_role_and_is_audited(iconn, tmp_path):
    _with_reporter(iconn, tmp_path)
    plain = export_layer(
        "cases", tmp_path / "plain.csv", conn=iconn, filters=ExportFilter(source="hotline-x")
    )
    assert "Wang" not in plain.path.read_text()
    with pytest.raises(PersonalDataRefused, match="'viewer' may not export personal data"):
        export_layer(
            "cases", tmp_path / "no.csv", conn=iconn, role="viewer", include_personal_data=True
        )
    assert "operator" in PERSONAL_DATA_ROLES
    full = export_layer(
        "cases",
        tmp_path / "full.csv",
        conn=iconn,
        role="operator",
        actor="li",
        include_personal_data=True,
        filters=ExportFilter(source="hotline-x"),
    )
    row = pd.read_csv(full.path, dtype=str).iloc[0]
    assert (row.reporter_names, row.reporter_phones) == ("Wang Fang", "13912345678")
    audit = iconn.execute(
        sa.text(
            "SELECT actor, role, layer, include_personal_data, n_rows, filters->>'source' "
            "FROM export_audit ORDER BY id"
        )
    ).all()
    assert audit[-1] == ("li", "operator", "cases", True, 1, "hotline-x")
    assert audit[0][3] is False
