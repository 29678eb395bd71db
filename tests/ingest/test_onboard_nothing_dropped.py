"""Issue 14 item 6: a mapped address is stored; bad household counts are never silently changed."""

from __future__ import annotations

import pandas as pd
import pytest
import sqlalchemy as sa

from layers.ingest import load_buildings, load_cases, mapping_from_dict
from tests.ingest.conftest import SF_IN, write_cases_csv

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
