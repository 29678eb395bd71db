"""Migration 0030 merges the quarantine copies earlier re-runs left (issue 14 item 8)."""

import json

import sqlalchemy as sa

from layers import migrate
from tests.conftest import recreate_database


def test_copies_left_by_old_reruns_are_merged_into_their_first_row():
    engine = recreate_database("gridgov_test_migration_0030")
    try:
        migrate.upgrade(engine, "0012")
        row = json.dumps({"unique_key": "7", "latitude": "0"})
        other = json.dumps({"unique_key": "8", "latitude": "0"})
        with engine.begin() as conn:
            runs = [
                conn.execute(
                    sa.text("""INSERT INTO import_runs (layer, source, file)
                               VALUES ('cases', 'sf311', 'a.csv') RETURNING id""")
                ).scalar_one()
                for _ in range(3)
            ]
            for run in runs:  # three runs of one file: the same two refusals each time
                for number, original in ((2, row), (3, other)):
                    conn.execute(
                        sa.text("""INSERT INTO import_quarantine (run_id, layer, source,
                                   source_id, row_number, reason, message, original)
                                   VALUES (:r, 'cases', 'sf311', :sid, :n, 'zero_coordinates',
                                           'row: 0,0', CAST(:o AS jsonb))"""),
                        {"r": run, "sid": str(number), "n": number, "o": original},
                    )
        migrate.upgrade(engine)
        with engine.connect() as conn:
            left = conn.execute(
                sa.text("SELECT row_number, run_id, runs FROM import_quarantine ORDER BY 1")
            ).all()
        assert [(n, r, list(rs)) for n, r, rs in left] == [
            (2, runs[0], runs),
            (3, runs[0], runs),
        ]
    finally:
        engine.dispose()
