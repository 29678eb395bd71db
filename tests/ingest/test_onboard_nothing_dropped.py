"""Issue 14 items 6 and 7: nothing mapped is dropped or silently changed; tolerances counted."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
import yaml

from layers.ingest import load_buildings, load_cases, mapping_from_dict
from tests.ingest.conftest import MAPPINGS, SF_IN, write_cases_csv

NOW = pd.Timestamp("2026-11-20 12:00", tz="UTC")


@pytest.mark.parametrize("bulk", [False, True])
def test_a_mapped_case_address_is_stored(iconn, tmp_path, bulk):
    path = write_cases_csv(tmp_path / "c.csv", [{"incident_address": "1 Dr Carlton B Goodlett Pl"}])
    raw = {
        "layer": "cases",
        "source": "addr-test",
        "columns": {
            "source_id": "unique_key",
            "lon": "longitude",
            "lat": "latitude",
            "category": "category",
            "reported_at": "created_date",
            "address": "incident_address",
        },
        "categories": {"Graffiti": "E0202"},
    }
    account = load_cases(path, mapping_from_dict(raw), conn=iconn, commit=False, now=NOW, bulk=bulk)
    assert account.loaded == 1
    stored = iconn.execute(
        sa.text("SELECT address FROM cases WHERE source_system = 'addr-test'")
    ).scalar_one()
    assert stored == "1 Dr Carlton B Goodlett Pl"


def _buildings_csv(tmp_path, counts):
    rows = [
        {"id": f"b{i}", "lon": SF_IN[0] + i * 1e-4, "lat": SF_IN[1], "hh": c}
        for i, c in enumerate(counts)
    ]
    path = tmp_path / "b.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _mapping(**extra):
    return mapping_from_dict(
        {
            "layer": "buildings",
            "source": "hh-test",
            "columns": {"source_id": "id", "lon": "lon", "lat": "lat", "households": "hh"},
            "default_households": 1,
            **extra,
        }
    )


def test_fractional_negative_and_unreadable_counts_are_refused(iconn, tmp_path):
    path = _buildings_csv(tmp_path, ["12", "0.4", "-3", "many", "", "7.0"])
    account = load_buildings(path, _mapping(), conn=iconn, commit=False)
    assert (account.loaded, account.quarantined) == (3, 3)
    assert account.by_reason == {"bad_households": 3}
    stored = iconn.execute(
        sa.text("SELECT source_id, households FROM buildings WHERE source = 'hh-test' ORDER BY 1")
    ).all()
    assert stored == [("b0", 12), ("b4", 1), ("b5", 7)]
    message = iconn.execute(
        sa.text("SELECT message FROM import_quarantine WHERE source_id = 'b1'")
    ).scalar_one()
    assert message.startswith("row 2: households (hh) '0.4'")


def test_rounding_when_asked_is_noted_in_the_account(iconn, tmp_path):
    path = _buildings_csv(tmp_path, ["2.6", "3"])
    account = load_buildings(path, _mapping(round_households=True), conn=iconn, commit=False)
    assert (account.loaded, account.quarantined) == (2, 0)
    assert account.notes == {"households_rounded": 1}
    assert "households_rounded 1" in account.summary()
    [(message,)] = iconn.execute(
        sa.text("SELECT message FROM import_notes WHERE code = 'households_rounded'")
    ).all()
    assert message == "row 1: households (hh) 2.6 rounded to 3"


# -- issue 14 item 7: tolerances, configurable and counted -------------------------------------


def _ocean_beach(iconn) -> tuple[float, float, float]:
    """A point ``d`` metres west of the westernmost vertex of the SF neighborhoods (in the sea)."""
    lon, lat = iconn.execute(
        sa.text("""SELECT ST_X(p), ST_Y(p) FROM (SELECT (ST_DumpPoints(geom)).geom AS p
                   FROM communities) v ORDER BY ST_X(p) LIMIT 1""")
    ).one()
    return lon, lat, float(np.cos(np.radians(lat)) * 111_320.0)


@pytest.mark.parametrize(
    ("metres", "tolerance", "loaded"),
    [(0.4, None, True), (3.0, None, True), (8.0, None, False), (8.0, 10, True), (0.4, 0, False)],
)
def test_a_point_just_outside_the_area_is_kept_within_the_tolerance(
    iconn, tmp_path, metres, tolerance, loaded
):
    lon, lat, per_degree = _ocean_beach(iconn)
    row = {"longitude": str(lon - metres / per_degree), "latitude": str(lat)}
    path = write_cases_csv(tmp_path / "c.csv", [row])
    raw = yaml.safe_load((MAPPINGS / "sf311_bigquery.yaml").read_text())
    if tolerance is not None:
        raw["area_tolerance_m"] = tolerance
    account = load_cases(path, mapping_from_dict(raw), conn=iconn, commit=False, now=NOW)
    if loaded:
        assert (account.loaded, account.notes) == (1, {"near_area": 1})
        assert iconn.execute(
            sa.text("SELECT community_id IS NOT NULL FROM cases WHERE source_id = '1000'")
        ).scalar_one()
    else:
        assert account.by_reason == {"outside_area": 1}


@pytest.mark.parametrize(
    ("closed", "skew", "outcome"),
    [
        ("2019-10-06 00:05:54 UTC", None, "clock_skew"),
        ("2019-10-06 00:04:56 UTC", None, "clock_skew"),
        ("2019-10-06 00:04:54 UTC", None, "impossible_time"),
        ("2019-10-06 00:05:54 UTC", 0, "impossible_time"),
        ("2019-10-06 00:00:55 UTC", 600, "clock_skew"),
    ],
)
def test_a_close_time_seconds_before_the_report_is_clock_skew(
    iconn, tmp_path, closed, skew, outcome
):
    path = write_cases_csv(tmp_path / "c.csv", [{"closed_date": closed}])
    raw = yaml.safe_load((MAPPINGS / "sf311_bigquery.yaml").read_text())
    if skew is not None:
        raw["clock_skew_s"] = skew
    account = load_cases(path, mapping_from_dict(raw), conn=iconn, commit=False, now=NOW)
    if outcome == "clock_skew":
        assert (account.loaded, account.notes) == (1, {"clock_skew": 1})
        reported, closed_at = iconn.execute(
            sa.text("SELECT reported_at, closed_at FROM cases WHERE source_id = '1000'")
        ).one()
        assert closed_at == reported
    else:
        assert account.by_reason == {"impossible_time": 1}


def test_tolerances_must_be_numbers_of_zero_or_more():
    from layers.ingest import MappingError

    raw = yaml.safe_load((MAPPINGS / "sf311_bigquery.yaml").read_text())
    for key, bad in (("area_tolerance_m", -1), ("clock_skew_s", "a minute")):
        with pytest.raises(MappingError, match=key):
            mapping_from_dict(raw | {key: bad})
