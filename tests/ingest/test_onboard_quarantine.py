"""Issue 14 item 8: a re-run of the same file does not copy its quarantine again."""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from layers.ingest import load_cases, load_mapping, quarantined
from tests.ingest.conftest import MAPPINGS, write_cases_csv

NOW = pd.Timestamp("2026-11-20 12:00", tz="UTC")


def test_rerunning_a_file_keeps_one_copy_of_each_refused_row(clean_engine, tmp_path):
    rows = [{}, {"latitude": "0", "longitude": "0"}, {"category": "MUNI Feedback"}, {}]
    path = write_cases_csv(tmp_path / "cases.csv", rows)
    mapping = load_mapping(MAPPINGS / "sf311_bigquery.yaml")
    with clean_engine.connect() as conn:
        first = load_cases(path, mapping, conn=conn, now=NOW)
        second = load_cases(path, mapping, conn=conn, now=NOW)
        stored = conn.execute(sa.text("SELECT count(*) FROM import_quarantine")).scalar_one()
        runs = conn.execute(
            sa.text("SELECT runs FROM import_quarantine ORDER BY row_number")
        ).scalars()
        listed = quarantined(conn=conn, run_id=second.run_id)
        again = load_cases(path, mapping, conn=conn, now=NOW)
    assert (first.loaded, first.quarantined) == (2, 2)
    assert (second.loaded, second.quarantined, second.already_present) == (0, 2, 2)
    assert second.by_reason == {"zero_coordinates": 1, "unknown_category": 1}
    assert stored == 2
    assert [list(r) for r in runs] == [[first.run_id, second.run_id]] * 2
    assert sorted(listed.row_number) == [2, 3]
    assert again.quarantined == 2
