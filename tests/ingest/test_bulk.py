"""The bulk path: COPY into cases, indexes and foreign keys rebuilt in the same transaction."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from layers.bulk import BulkLoadError, deferred_indexes_and_foreign_keys
from layers.ingest import load_cases, load_mapping, mapping_from_dict
from tests.ingest.conftest import MAPPINGS, write_cases_csv
from tests.ingest.test_crash_safety import _state, synthetic_cases

ROOT = Path(__file__).resolve().parents[2]
TABLES = ("cases", "case_events")


def _later_cases(path, rows: int, seed: int) -> None:  # type: ignore[no-untyped-def]
    """Synthetic cases 400 days after the first load's, with other keys: new months."""
    import pandas as pd

    later = pd.read_csv(synthetic_cases(path, rows, seed=seed))
    for column in ("created_date", "closed_date"):
        shifted = pd.to_datetime(later[column], utc=True) + pd.Timedelta(days=400)
        later[column] = shifted.dt.strftime("%Y-%m-%d %H:%M:%S UTC")
    later["unique_key"] += 1_000_000
    later.to_csv(path, index=False)


def _schema(conn) -> dict:
    """Indexes (definition, valid, ready) and constraints (definition, validated) of the tables."""
    indexes = conn.execute(
        sa.text("""
        SELECT c.relname, pg_get_indexdef(i.indexrelid), i.indisvalid, i.indisready
        FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE i.indrelid IN ('cases'::regclass, 'case_events'::regclass)
    """)
    ).all()
    constraints = conn.execute(
        sa.text("""
        SELECT conname, conrelid::regclass::text, pg_get_constraintdef(oid), convalidated
        FROM pg_constraint WHERE conrelid IN ('cases'::regclass, 'case_events'::regclass)
    """)
    ).all()
    return {
        "indexes": sorted(tuple(r) for r in indexes),
        "constraints": sorted(tuple(r) for r in constraints),
    }


def _leaf_problems(conn) -> list[tuple]:
    """Indexes and keys of the month partitions of ``cases`` and ``case_events`` that are
    not each one of their parent's, attached to it: a leaf with an index too many (built
    early and built again) or too few, or a key of its own."""
    return conn.execute(
        sa.text("""
        WITH leaf AS (
            SELECT i.inhparent AS parent, i.inhrelid AS rel FROM pg_inherits i
            WHERE i.inhparent IN ('cases'::regclass, 'case_events'::regclass)
        ), per_leaf AS (
            SELECT leaf.rel::regclass::text AS leaf,
                   (SELECT count(*) FROM pg_index x WHERE x.indrelid = leaf.parent) AS wanted,
                   (SELECT count(*) FROM pg_index x WHERE x.indrelid = leaf.rel) AS present,
                   (SELECT count(*) FROM pg_index x JOIN pg_inherits h ON h.inhrelid = x.indexrelid
                    WHERE x.indrelid = leaf.rel) AS attached,
                   (SELECT count(*) FROM pg_constraint c
                    WHERE c.conrelid = leaf.rel AND c.contype IN ('p', 'u')
                      AND c.conparentid = 0) AS own_keys
            FROM leaf
        )
        SELECT * FROM per_leaf WHERE present <> wanted OR attached <> wanted OR own_keys > 0
    """)
    ).all()


def test_bulk_mode_loads_and_leaves_every_index_and_constraint_valid(clean_engine, tmp_path):
    path = synthetic_cases(tmp_path / "cases.csv", 5_000, seed=4)
    mapping = load_mapping(MAPPINGS / "sf311_bigquery.yaml")
    with clean_engine.connect() as conn:
        before = _schema(conn)
        conn.rollback()
        first = load_cases(path, mapping, conn=conn, bulk=True)
        after = _schema(conn)
        # each month's indexes and keys were built as soon as its rows were in, then
        # attached by the rebuild: one of each per month, none built twice
        leaves = _leaf_problems(conn)
        again = load_cases(path, mapping, conn=conn, bulk=True)
        cases, distinct, events, loaded = _state(conn)
        history = conn.execute(
            sa.text(
                "SELECT count(*) FROM case_history_violations() "
                "WHERE problem = 'case without history'"
            )
        ).scalar()
        reporters = conn.execute(sa.text("SELECT count(*) FROM reporters")).scalar()
        # the rows go into the month partitions directly (no statement trigger of the parent
        # fires): the load itself queues every (local day, street) for the leader rollups
        unqueued = conn.execute(
            sa.text("""
            SELECT count(*) FROM (
                SELECT DISTINCT (reported_at AT TIME ZONE gridgov_time_zone())::date AS day,
                       street_code
                FROM cases WHERE source_system = 'sf311'
            ) touched
            WHERE NOT EXISTS (SELECT 1 FROM rollup_dirty_days q
                              WHERE q.day = touched.day AND q.street_code = touched.street_code)
        """)
        ).scalar()
        where = conn.execute(
            sa.text("""
            SELECT count(*) FILTER (WHERE community_id IS NULL OR h3_r7 IS NULL OR h3_r10 IS NULL),
                   count(*) FILTER (WHERE case_no <> 'sf311-' || source_id)
            FROM cases WHERE source_system = 'sf311'
        """)
        ).one()
    assert before == after
    assert leaves == []
    assert all(valid and ready for _, _, valid, ready in after["indexes"])
    assert all(validated for *_, validated in after["constraints"])
    assert len(after["indexes"]) >= 10
    assert (first.read, first.loaded, first.quarantined, first.already_present) == (
        5_000,
        4_900,
        100,
        0,
    )
    assert (again.loaded, again.quarantined, again.already_present) == (0, 100, 4_900)
    assert first.adds_up and again.adds_up
    assert cases == distinct == events == loaded == 4_900
    assert unqueued == 0
    assert history == 0 and reporters == 0
    assert tuple(where) == (0, 0)


def _files(conn) -> dict[str, dict[str, int]]:
    """The data files of each loaded table's monthly partitions and of the partitions of
    the cases key (TRUNCATE gives a table a new one)."""
    rows = conn.execute(
        sa.text("""
        SELECT p.relname, c.relname, c.relfilenode FROM pg_inherits i
        JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
        WHERE p.relname IN ('cases', 'case_events', 'cases_pkey')
    """)
    ).all()
    files: dict[str, dict[str, int]] = {}
    for parent, name, node in rows:
        files.setdefault(parent, {})[name] = node
    return files


def _same_files(before: dict[str, int], after: dict[str, int]) -> bool:
    """Every partition that was there before kept its file (a load may add months)."""
    return all(after[name] == node for name, node in before.items())


def test_a_fresh_load_rebuilds_the_keys_and_a_later_one_appends(clean_engine, tmp_path):
    """Into empty tables: truncated (new files, no WAL), keys rebuilt; into filled ones: kept."""
    path = synthetic_cases(tmp_path / "cases.csv", 5_000, seed=8)
    head = tmp_path / "head.csv"
    head.write_text("".join(path.read_text().splitlines(keepends=True)[:3_001]))
    mapping = load_mapping(MAPPINGS / "sf311_bigquery.yaml")
    with clean_engine.connect() as conn:
        before, files = _schema(conn), _files(conn)
        conn.rollback()
        first = load_cases(head, mapping, conn=conn, bulk=True)
        between, files_between = _schema(conn), _files(conn)
        conn.rollback()
        second = load_cases(path, mapping, conn=conn, bulk=True)
        after, files_after = _schema(conn), _files(conn)
        cases, distinct, events, loaded = _state(conn)
        bad_history = conn.execute(
            sa.text("SELECT count(*) FROM case_history_violations()")
        ).scalar()
    assert before == between == after
    assert all(validated for *_, validated in after["constraints"])
    # truncated: new files for every partition that was there
    assert all(files_between["cases"][n] != f for n, f in files["cases"].items())
    assert _same_files(files_between["cases"], files_after["cases"])  # appended in place
    assert _same_files(files_between["cases_pkey"], files_after["cases_pkey"])  # key kept
    assert (first.loaded, first.quarantined, first.already_present) == (2_940, 60, 0)
    assert (second.loaded, second.quarantined, second.already_present) == (1_960, 100, 2_940)
    assert cases == distinct == events == loaded == 4_900
    assert bad_history == 0


def test_a_bulk_load_says_what_it_is_doing(clean_engine, tmp_path):
    path = synthetic_cases(tmp_path / "cases.csv", 500, seed=9)
    stages: list[str] = []
    with clean_engine.connect() as conn:
        load_cases(
            path,
            load_mapping(MAPPINGS / "sf311_bigquery.yaml"),
            conn=conn,
            bulk=True,
            stage=stages.append,
        )
    assert stages[:6] == [
        "reading",
        "checking and assigning",
        "locking cases",
        "routing open cases",  # before they are written: routed as they go in
        "copying into cases",
        "writing case history",
    ]
    assert stages[6].startswith("rebuilding ") and stages[6].endswith(" indexes")
    assert stages[7].startswith("checking ") and stages[7].endswith(" foreign keys")


def test_bulk_and_batch_paths_store_the_same_rows(clean_engine, tmp_path):
    path = synthetic_cases(tmp_path / "cases.csv", 2_000, seed=5)
    mapping = load_mapping(MAPPINGS / "sf311_bigquery.yaml")
    columns = (
        "case_no, category_id, street_code, community_id, grid_id, h3_r7, h3_r8, h3_r9, h3_r10, "
        "source, description, status, reported_at, registered_at, closed_at, source_id, "
        "ST_AsEWKB(geom), department_id, deadline_at, dispatched_at"
    )
    assignments = sa.text(
        "SELECT c.source_id, a.street_code, a.department_id, a.role, a.rule, a.reason, "
        "a.assigned_at, a.deadline_at, e.action, e.at = a.event_at "
        "FROM case_assignments a JOIN cases c ON c.id = a.case_id "
        "JOIN case_events e ON e.id = a.event_id ORDER BY c.source_id"
    )
    notes = sa.text("SELECT code, count(*) FROM import_notes GROUP BY code ORDER BY code")
    # the bulk path makes the quarantine's rows while the server rebuilds the indexes
    quarantine = sa.text(
        "SELECT row_number, source_id, reason, message, original FROM import_quarantine "
        "ORDER BY row_number"
    )
    events = "e.street_code, e.at, e.actor, e.role, e.action, e.to_status, e.reason"
    query = sa.text(f"SELECT {columns} FROM cases ORDER BY source_id")
    history = sa.text(
        f"SELECT c.source_id, {events} FROM case_events e JOIN cases c ON c.id = e.case_id "
        # every column: a case's import and route events share their time, and the two paths
        # need not write them in the same physical order
        "ORDER BY 1, 2, 3, 4, 5, 6, 7, 8"
    )
    with clean_engine.connect() as conn:
        load_cases(path, mapping, conn=conn, bulk=False, batch_rows=300)
        batch_rows, batch_events = conn.execute(query).all(), conn.execute(history).all()
        batch_routes, batch_notes = conn.execute(assignments).all(), conn.execute(notes).all()
        batch_bad = conn.execute(quarantine).all()
        conn.rollback()
    with clean_engine.begin() as conn:
        conn.execute(
            sa.text(
                "TRUNCATE case_events, cases, import_runs, import_quarantine, import_notes CASCADE"
            )
        )
    with clean_engine.connect() as conn:
        load_cases(path, mapping, conn=conn, bulk=True)
        bulk_rows, bulk_events = conn.execute(query).all(), conn.execute(history).all()
        bulk_routes, bulk_notes = conn.execute(assignments).all(), conn.execute(notes).all()
        bulk_bad = conn.execute(quarantine).all()
    assert len(batch_rows) == 1_960
    assert len(batch_bad) == 40 and bulk_bad == batch_bad
    assert len(batch_routes) > 100 and dict(batch_notes)["routed"] == len(batch_routes)
    assert bulk_routes == batch_routes  # routed before they were written: the same routes
    assert bulk_notes == batch_notes
    assert bulk_rows == batch_rows
    assert bulk_events == batch_events


def test_bulk_mode_keeps_reporters_apart(iconn, tmp_path):
    raw = yaml.safe_load((MAPPINGS / "sf311_bigquery.yaml").read_text())
    raw["columns"] |= {"reporter_name": "complaint_type", "reporter_phone": "descriptor"}
    mapping = mapping_from_dict(raw)
    path = write_cases_csv(
        tmp_path / "c.csv", [{"complaint_type": "Li Lei", "descriptor": "13800000000"}, {}]
    )
    account = load_cases(path, mapping, conn=iconn, commit=False, bulk=True)
    rows = iconn.execute(
        sa.text("""
        SELECT c.source_id, r.name, r.phone FROM reporters r JOIN cases c ON c.id = r.case_id
        WHERE c.source_system = 'sf311'
    """)
    ).all()
    assert account.loaded == 2
    assert [tuple(r) for r in rows] == [
        ("1000", "Li Lei", "13800000000"),
        ("1001", "Graffiti", "on a wall"),
    ]


def test_a_failed_rebuild_rolls_everything_back(clean_engine):
    """A bad reference found when a foreign key is added back fails the load, old schema intact."""
    with clean_engine.connect() as conn:
        before = _schema(conn)
        conn.rollback()
        with pytest.raises(sa.exc.IntegrityError):  # noqa: SIM117
            with conn.begin():
                with deferred_indexes_and_foreign_keys(conn, list(TABLES)):
                    conn.execute(
                        sa.text("""
                        INSERT INTO cases (case_no, category_id, street_code, source, status,
                                           reported_at, geom)
                        VALUES ('x-1', -42, '000000000', 'import', 'registered', now(),
                                'SRID=4326;POINT(0 0)')
                    """)
                    )
        assert _schema(conn) == before
        assert conn.execute(sa.text("SELECT count(*) FROM cases")).scalar() == 0
    assert BulkLoadError  # the COPY error type stays importable for callers


def test_a_killed_bulk_import_leaves_the_old_schema_and_the_next_run_loads_all(
    clean_engine, tmp_path
):
    path = synthetic_cases(tmp_path / "cases.csv", 60_000, seed=6)
    with clean_engine.connect() as conn:
        before = _schema(conn)
        conn.rollback()
    proc = _bulk_load_process(clean_engine, path)
    # wait until the load holds the tables (indexes dropped, rows going in): its run is
    # recorded and it holds the lock (creating the rows' month partitions, before the run
    # starts, takes the same lock for a moment)
    _wait_for(
        clean_engine,
        proc,
        """SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)
           WHERE l.relation = 'cases'::regclass AND l.mode = 'AccessExclusiveLock'
             AND l.granted AND a.pid <> pg_backend_pid()
             AND EXISTS (SELECT FROM import_runs WHERE status = 'running')""",
        every_s=0.01,
    )
    _kill_and_wait_for_the_rollback(clean_engine, proc)
    with clean_engine.connect() as conn:
        assert _schema(conn) == before
        cases, _, events, loaded = _state(conn)
        assert cases == events == loaded == 0
        conn.rollback()
        account = load_cases(path, load_mapping(MAPPINGS / "sf311_bigquery.yaml"), conn=conn)
        cases, distinct, events, _ = _state(conn)
        statuses = sorted(conn.execute(sa.text("SELECT status FROM import_runs")).scalars())
        after = _schema(conn)
    assert account.status == "finished" and account.adds_up
    assert account.loaded == cases == distinct == events == 58_800
    assert statuses == ["finished", "interrupted"]
    assert after == before


def test_a_load_of_new_months_fills_them_as_fresh_tables_and_touches_no_other(
    clean_engine, tmp_path
):
    """On top of a first load: the empty months it fills get new files (COPY FREEZE,
    indexes built there), the first load's months keep theirs; schema, keys, history,
    routing and row-level security of the partitions as before."""
    first = synthetic_cases(tmp_path / "first.csv", 4_000, seed=11)
    _later_cases(tmp_path / "later.csv", 3_000, seed=12)
    mapping = load_mapping(MAPPINGS / "sf311_bigquery.yaml")
    with clean_engine.connect() as conn:
        before = _schema(conn)
        conn.rollback()
        one = load_cases(first, mapping, conn=conn, bulk=True)
        files_between = _files(conn)
        conn.rollback()
        stages: list[str] = []
        two = load_cases(tmp_path / "later.csv", mapping, conn=conn, bulk=True, stage=stages.append)
        after, files_after = _schema(conn), _files(conn)
        cases, distinct, events, loaded = _state(conn)
        bad_history = conn.execute(
            sa.text("SELECT count(*) FROM case_history_violations()")
        ).scalar()
        unsecured = conn.execute(
            sa.text("""
            SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
            WHERE i.inhparent IN ('cases'::regclass, 'case_events'::regclass)
              AND NOT c.relrowsecurity
        """)
        ).scalar()
        routed = conn.execute(
            sa.text("""
            SELECT count(*) FILTER (WHERE c.department_id IS NOT NULL), count(a.id)
            FROM cases c LEFT JOIN case_assignments a ON a.case_id = c.id
            WHERE c.status = 'dispatched'
        """)
        ).one()
        triggers = conn.execute(
            sa.text("""
            SELECT count(*) FROM pg_trigger t JOIN pg_inherits i ON i.inhrelid = t.tgrelid
            WHERE i.inhparent = 'cases'::regclass AND t.tgname = 'cases_keys_insert'
              AND t.tgenabled = 'O'
        """)
        ).scalar()
        leaves = conn.execute(
            sa.text("SELECT count(*) FROM pg_inherits WHERE inhparent = 'cases'::regclass")
        ).scalar()
    assert any(s.startswith("detaching ") for s in stages)  # the month-by-month path
    assert before == after
    assert all(valid and ready for _, _, valid, ready in after["indexes"])
    assert all(validated for *_, validated in after["constraints"])
    assert (one.loaded, two.loaded) == (3_920, 2_940)
    assert cases == distinct == events == loaded == 3_920 + 2_940
    assert bad_history == 0 and unsecured == 0
    assert routed[0] == routed[1] > 0  # every dispatched case routed once
    assert triggers == leaves  # the key trigger is on every partition, enabled
    old = files_between["cases"]
    new = {n: f for n, f in files_after["cases"].items() if n not in old or old[n] != f}
    untouched = {n for n in old if files_after["cases"][n] == old[n]}
    months_of_first = {n for n in old if n.startswith("cases_p2019")}
    assert months_of_first <= untouched  # the first load's months keep their files
    assert any(n.startswith("cases_p2020") for n in new)  # the new months got new ones


def test_a_bulk_rerun_knows_source_ids_with_backslashes_and_control_characters(iconn, tmp_path):
    """The present keys come back as one text per block, line breaks between (an id
    holding one sent apart), no quoting, no escapes: these, and ids of several bytes a
    character, are matched all the same."""
    ids = ["plain-1", "back\\slash", "tab\tin", "line\nbreak", "end\\", 'say "hi", twice']
    ids += ["网格-7", "ß😀", "naïve\r\n"]
    path = write_cases_csv(tmp_path / "odd.csv", [{"unique_key": i} for i in ids])
    mapping = load_mapping(MAPPINGS / "sf311_bigquery.yaml")
    first = load_cases(path, mapping, conn=iconn, commit=False, bulk=True)
    again = load_cases(path, mapping, conn=iconn, commit=False, bulk=True)
    stored = iconn.execute(
        sa.text("SELECT source_id FROM case_keys WHERE source_system = 'sf311' ORDER BY 1")
    ).scalars()
    assert first.loaded == len(set(stored)) > 0
    assert (again.loaded, again.already_present) == (0, first.loaded)


def test_the_present_keys_come_back_whole_in_many_blocks(iconn, tmp_path, monkeypatch):
    """Blocks of 4 ids (not 2^22): every key of the source, once, none of another source;
    one with a line break (sent apart) and one of several bytes a character."""
    from layers.ingest import cases_bulk

    path = synthetic_cases(tmp_path / "cases.csv", 300, seed=17)
    mapping = load_mapping(MAPPINGS / "sf311_bigquery.yaml")
    load_cases(path, mapping, conn=iconn, commit=False, bulk=True)
    iconn.execute(
        sa.text(
            "UPDATE case_keys SET source_id = CASE WHEN mod(id, 2) = 0 THEN source_id || E'\\n2' "
            "ELSE source_id || '网' END WHERE id IN (SELECT min(id) + k FROM case_keys, "
            "generate_series(0, 1) k GROUP BY k)"
        )
    )
    stored = iconn.execute(
        sa.text("SELECT source_id FROM case_keys WHERE source_system = 'sf311'")
    ).scalars()
    expected = sorted(stored)
    assert any("\n" in k for k in expected) and any("网" in k for k in expected)
    monkeypatch.setattr(cases_bulk, "KEY_BLOCK", 4)
    keys = cases_bulk.present_keys(iconn, "sf311")
    assert len(expected) > 250
    assert sorted(keys.to_pylist()) == expected
    assert len(cases_bulk.present_keys(iconn, "no such source")) == 0


def test_route_reasons_read_as_one_by_one(iconn, tmp_path):
    """The reasons built once per rule or place read as the per-case text always did."""
    from layers.ingest.routing import plan_routes

    path = synthetic_cases(tmp_path / "cases.csv", 1_000, seed=13)
    mapping = load_mapping(MAPPINGS / "sf311_bigquery.yaml")
    load_cases(path, mapping, conn=iconn, commit=False, bulk=False)
    iconn.execute(sa.text("UPDATE cases SET department_id = NULL, deadline_at = NULL"))
    routed, _ = plan_routes(iconn, "sf311")

    def one(row) -> str:
        if row.rule == "statutory":
            how = f"responsibility rule {int(row.rule_id)}: {row.service_code} "
            how += f"({row.area_code or 'everywhere'})"
            unit = row.rule_code
        else:
            how = (
                f"no responsibility rule for {row.service_code}: the {row.place_kind} of the place"
            )
            unit = row.place_code
        deadline = row.deadline_at.isoformat(timespec="minutes")
        return (
            f"imported open case routed to {unit} ({how}); deadline {deadline} from the catalogue"
        )

    assert len(routed) > 50
    assert list(routed.reason) == [one(r) for r in routed.itertuples()]


def test_a_load_of_new_months_killed_mid_way_leaves_every_month_attached(clean_engine, tmp_path):
    """SIGKILL while the empty months are detached and filling: the rollback puts them
    back (DDL is transactional), nothing of the second file is there, a re-run loads it."""
    from datetime import date

    from layers.partitions import ensure

    first = synthetic_cases(tmp_path / "first.csv", 3_000, seed=14)
    _later_cases(tmp_path / "later.csv", 60_000, seed=15)
    mapping = load_mapping(MAPPINGS / "sf311_bigquery.yaml")
    leaves = sa.text("SELECT count(*) FROM pg_inherits WHERE inhparent = 'cases'::regclass")
    with clean_engine.connect() as conn:
        load_cases(first, mapping, conn=conn, bulk=True)
        ensure(conn, start=date(2020, 1, 1), end=date(2021, 2, 1))  # as the loader would
        conn.commit()
        before, n_leaves = _schema(conn), conn.execute(leaves).scalar_one()
        conn.rollback()
    proc = _bulk_load_process(clean_engine, tmp_path / "later.csv")
    # wait until the load COPYs into a detached, emptied month
    _wait_for(
        clean_engine,
        proc,
        """SELECT count(*) FROM pg_stat_activity
           WHERE pid <> pg_backend_pid() AND query LIKE 'COPY %cases_p%FREEZE%'""",
        every_s=0.005,
    )
    _kill_and_wait_for_the_rollback(clean_engine, proc)
    with clean_engine.connect() as conn:
        assert _schema(conn) == before
        assert conn.execute(leaves).scalar_one() == n_leaves
        cases, _, events, _ = _state(conn)
        assert cases == events == 2_940
        conn.rollback()
        again = load_cases(tmp_path / "later.csv", mapping, conn=conn, bulk=True)
        cases, distinct, events, _ = _state(conn)
        assert _schema(conn) == before
    assert again.loaded == 58_800 and cases == distinct == events == 2_940 + 58_800


def _bulk_load_process(engine, path) -> subprocess.Popen:  # type: ignore[no-untyped-def]
    """A bulk load of ``path`` in a process of its own (for a test to kill)."""
    script = (
        "import sys; from layers.ingest import load_cases, load_mapping; "
        "from layers.db import engine_for; eng = engine_for(sys.argv[1]); "
        f"m = load_mapping({str(MAPPINGS / 'sf311_bigquery.yaml')!r}); "
        "conn = eng.connect(); load_cases(sys.argv[2], m, conn=conn, bulk=True)"
    )
    url = engine.url.render_as_string(hide_password=False)
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-c", script, url, str(path)], cwd=ROOT, env=env)


def _wait_for(engine, proc, query: str, *, every_s: float) -> None:  # type: ignore[no-untyped-def]
    """Poll ``query`` (a count) until it is not 0, the load ends, or 120 s pass."""
    deadline = time.monotonic() + 120
    with engine.connect() as conn:
        while time.monotonic() < deadline and proc.poll() is None:
            found = conn.execute(sa.text(query)).scalar_one()
            conn.rollback()
            if found:
                break
            time.sleep(every_s)


def _kill_and_wait_for_the_rollback(engine, proc) -> None:  # type: ignore[no-untyped-def]
    """SIGKILL the load; the server notices the dead client and rolls its transaction back."""
    assert proc.poll() is None, "the import finished before it could be killed; make it bigger"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    with engine.connect() as conn:
        for _ in range(300):
            waiting = conn.execute(
                sa.text("SELECT count(*) FROM pg_locks WHERE relation = 'cases'::regclass")
            ).scalar_one()
            conn.rollback()
            if waiting == 0:
                break
            time.sleep(0.1)


def test_text_columns_made_for_some_rows_are_those_rows_of_the_whole(tmp_path):
    """``description`` and ``channel`` are made for the rows written (:class:`RowsOf`),
    month by month in a bulk load: cut, cleaned and mapped as the whole column."""
    import numpy as np
    import pandas as pd

    from layers.ingest.cases import MAX_DESCRIPTION, _text
    from layers.ingest.points import RowsOf
    from layers.ingest.readers import SourceFrame
    from layers.ingest.validation import column_text

    frame = pd.DataFrame(
        {"text": ["short", "x" * (MAX_DESCRIPTION + 10), None, "  ", "日本語 ok", "é" * 5000]}
    )
    source = SourceFrame(frame, None, None, tmp_path / "cases.csv")
    mapping = load_mapping(MAPPINGS / "sf311_bigquery.yaml")
    mapping.columns["description"] = "text"
    column = _text(source, mapping, "description", MAX_DESCRIPTION)
    assert isinstance(column, RowsOf) and len(column) == 6
    whole = column_text(source, "text").str.slice(0, MAX_DESCRIPTION).to_numpy(dtype=object)
    for rows in ([5, 1, 0], [2, 3], [4], list(range(6))):
        assert column[np.array(rows)].tolist() == whole[rows].tolist()
    assert whole[1] == "x" * MAX_DESCRIPTION and whole[2] is None and whole[3] is None
