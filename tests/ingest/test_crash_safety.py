"""Re-runs load nothing twice; an import killed with SIGKILL leaves a consistent database."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from layers.ingest import ImportBusyError, load_cases, load_mapping
from layers.ingest.runs import start_run
from tests.ingest.conftest import MAPPINGS, SF_IN

ROOT = Path(__file__).resolve().parents[2]


def synthetic_cases(path: Path, n: int, seed: int = 1) -> Path:
    """``n`` SF-311-like rows around Civic Center, every 50th with 0,0 coordinates."""
    rng = np.random.default_rng(seed)
    created = pd.Timestamp("2019-01-01", tz="UTC") + pd.to_timedelta(
        rng.integers(0, 300 * 86400, n), unit="s"
    )
    frame = pd.DataFrame(
        {
            "unique_key": np.arange(n) + 5_000_000,
            "created_date": created.strftime("%Y-%m-%d %H:%M:%S UTC"),
            "closed_date": (created + pd.Timedelta(hours=30)).strftime("%Y-%m-%d %H:%M:%S UTC"),
            "status": np.where(rng.random(n) < 0.1, "Open", "Closed"),
            "category": rng.choice(["Graffiti", "Streetlights", "Abandoned Vehicle"], n),
            "complaint_type": "x",
            "descriptor": "y",
            "incident_address": "z",
            "source": "Phone",
            "latitude": np.round(SF_IN[1] + rng.uniform(-0.004, 0.004, n), 6),
            "longitude": np.round(SF_IN[0] + rng.uniform(-0.004, 0.004, n), 6),
        }
    )
    frame.loc[::50, ["latitude", "longitude"]] = 0
    frame.to_csv(path, index=False)
    return path


def _state(conn):
    # one import event per case (open cases also get a `route` event: issue 14 item 5)
    return conn.execute(
        sa.text("""
        SELECT (SELECT count(*) FROM cases WHERE source_system = 'sf311'),
               (SELECT count(DISTINCT source_id) FROM cases WHERE source_system = 'sf311'),
               (SELECT count(*) FROM case_events e JOIN cases c ON c.id = e.case_id
                WHERE c.source_system = 'sf311' AND e.action = 'import'),
               (SELECT coalesce(sum(n_loaded), 0) FROM import_runs WHERE layer = 'cases')
    """)
    ).one()


def test_a_rerun_loads_nothing_twice(clean_engine, tmp_path):
    path = synthetic_cases(tmp_path / "cases.csv", 5_000)
    mapping = load_mapping(MAPPINGS / "sf311_bigquery.yaml")
    with clean_engine.connect() as conn:
        first = load_cases(path, mapping, conn=conn, batch_rows=1_000)
        second = load_cases(path, mapping, conn=conn, batch_rows=700)
        cases, distinct, events, loaded = _state(conn)
    assert (first.read, first.loaded, first.quarantined) == (5_000, 4_900, 100)
    assert (second.loaded, second.quarantined, second.already_present) == (0, 100, 4_900)
    assert first.status == second.status == "finished"
    assert cases == distinct == events == loaded == 4_900


def test_a_killed_import_is_consistent_and_the_next_run_finishes_it(clean_engine, tmp_path):
    path = synthetic_cases(tmp_path / "cases.csv", 40_000, seed=2)
    url = clean_engine.url.render_as_string(hide_password=False)
    script = (
        "import sys; from layers.ingest import load_cases, load_mapping; "
        "from layers.db import engine_for; "
        "eng = engine_for(sys.argv[1]); "
        f"m = load_mapping({str(MAPPINGS / 'sf311_bigquery.yaml')!r}); "
        "conn = eng.connect(); load_cases(sys.argv[2], m, conn=conn, batch_rows=500)"
    )
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", script, url, str(path)], cwd=ROOT, env=env)
    deadline = time.monotonic() + 120
    with clean_engine.connect() as conn:
        while time.monotonic() < deadline:
            done = conn.execute(
                sa.text("SELECT coalesce(max(n_read), 0) FROM import_runs WHERE status = 'running'")
            ).scalar_one()
            conn.rollback()
            if done >= 5_000 or proc.poll() is not None:
                break
            time.sleep(0.02)
    assert proc.poll() is None, "the import finished before it could be killed; make it bigger"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    with clean_engine.connect() as conn:
        cases, distinct, events, loaded = _state(conn)
        status, n_read = conn.execute(
            sa.text("SELECT status, n_read FROM import_runs ORDER BY id DESC LIMIT 1")
        ).one()
        # committed batches only: rows, their history and the account agree
        assert 0 < cases < 39_200 and cases == distinct == events == loaded
        assert status == "running" and 5_000 <= n_read < 40_000
        account = load_cases(
            path, load_mapping(MAPPINGS / "sf311_bigquery.yaml"), conn=conn, batch_rows=5_000
        )
        cases_after, distinct_after, events_after, _ = _state(conn)
        runs = dict(conn.execute(sa.text("SELECT id, status FROM import_runs")).all())
    assert account.status == "finished" and account.adds_up
    assert account.already_present == cases and account.loaded == 39_200 - cases
    assert cases_after == distinct_after == events_after == 39_200
    assert sorted(runs.values()) == ["finished", "interrupted"]


def test_two_imports_of_one_source_cannot_interleave(clean_engine):
    with clean_engine.connect() as holder, clean_engine.connect() as other:
        start_run(conn=holder, layer="cases", source="sf311", file="a", mapping="m", rows_in_file=1)
        holder.commit()
        with pytest.raises(ImportBusyError, match="running in another session"):
            start_run(
                conn=other, layer="cases", source="sf311", file="b", mapping="m", rows_in_file=1
            )
        other.rollback()
        holder.execute(sa.text("SELECT pg_advisory_unlock_all()"))
        holder.commit()
