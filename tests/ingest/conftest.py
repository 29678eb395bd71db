"""Fixtures of the importer tests: a committed database with SF and Helsinki boundaries.

Importers commit per batch, so the tests that exercise that run against their
own database (``gridgov_test_ingest``), emptied of imported rows before each
test; tests that pass ``commit=False`` use ``iconn``, a rolled-back transaction.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from layers import migrate
from tests.conftest import recreate_database

DATA = Path(__file__).resolve().parent.parent / "data"
MAPPINGS = Path(__file__).resolve().parent.parent.parent / "data" / "mappings"
_BESIDE = Path(__file__).resolve().parents[3] / "shared" / "data"
SHARED = Path(
    os.environ.get("GRIDGOV_SHARED_DATA")
    or next((p for p in (_BESIDE, Path("/work/shared/data")) if p.is_dir()), _BESIDE)
)
"""The shared real data (../shared/data README): ``GRIDGOV_SHARED_DATA``, else beside the
checkout, else /work/shared/data (a git worktree's ``../shared`` is not the checkout's)."""
INGEST_DB = "gridgov_test_ingest"
IMPORTED = (
    "reporters, case_events, cases, parts, buildings, import_notes, import_quarantine, "
    "import_runs, export_audit"
)


@pytest.fixture(scope="session")
def ingest_engine() -> Iterator[Engine]:
    """Migrated database with the catalogue, SF 311 neighborhoods and the Helsinki extract area."""
    from layers.catalogue import load_catalogue
    from layers.ingest import load_boundaries, load_mapping

    eng = recreate_database(INGEST_DB)
    migrate.upgrade(eng)
    with eng.begin() as conn:
        load_catalogue(conn)
    with eng.connect() as conn:
        load_boundaries(
            DATA / "sf-neighborhoods-311.geojson",
            load_mapping(MAPPINGS / "sf_neighborhoods.yaml"),
            conn=conn,
        )
        load_boundaries(
            MAPPINGS / "helsinki_extract_area.geojson",
            load_mapping(MAPPINGS / "helsinki_area.yaml"),
            conn=conn,
        )
        conn.execute(sa.text("TRUNCATE import_notes, import_quarantine, import_runs"))
        conn.commit()
    yield eng
    eng.dispose()


@pytest.fixture
def clean_engine(ingest_engine: Engine) -> Iterator[Engine]:
    """The ingest database with no imported cases, parts, buildings or runs (before and after)."""
    with ingest_engine.begin() as conn:
        conn.execute(sa.text(f"TRUNCATE {IMPORTED} RESTART IDENTITY CASCADE"))
    yield ingest_engine
    with ingest_engine.begin() as conn:
        conn.execute(sa.text(f"TRUNCATE {IMPORTED} RESTART IDENTITY CASCADE"))


@pytest.fixture
def iconn(ingest_engine: Engine) -> Iterator[Connection]:
    """A connection to the ingest database in a transaction rolled back after the test."""
    with ingest_engine.connect() as connection:
        transaction = connection.begin()
        try:
            yield connection
        finally:
            transaction.rollback()


SF_IN = (-122.4194, 37.7749)  # Civic Center, inside the SF 311 neighborhoods


def write_cases_csv(path: Path, rows: list[dict]) -> Path:
    """A small SF-311-like CSV (BigQuery layout) from row overrides of a valid default row."""
    base = {
        "unique_key": None,
        "created_date": "2019-10-06 00:05:55 UTC",
        "closed_date": "2019-10-07 00:05:55 UTC",
        "status": "Closed",
        "category": "Graffiti",
        "complaint_type": "Graffiti",
        "descriptor": "on a wall",
        "incident_address": "1 Main St",
        "source": "Phone",
        "latitude": str(SF_IN[1]),
        "longitude": str(SF_IN[0]),
    }
    frame = pd.DataFrame([base | {"unique_key": str(1000 + i)} | row for i, row in enumerate(rows)])
    frame.to_csv(path, index=False)
    return path
