"""The category catalogue and departments: loaded from data/catalogue, queried by code."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gis.errors import GridGovError

CATALOGUE_DIR = Path(__file__).resolve().parent.parent / "data" / "catalogue"


class CatalogueError(GridGovError, ValueError):
    """The catalogue files are inconsistent; the message names the row."""

    code = "bad_catalogue"
    kind = "bad_input"


def read_categories(
    directory: Path = CATALOGUE_DIR, *, known_parents: frozenset[str] = frozenset()
) -> pd.DataFrame:
    """Read and check ``categories.csv`` (codes as text, booleans parsed).

    ``known_parents``: major classes already loaded, which a minor class may
    name as parent without the file listing them (a city's local classes).
    """
    path = directory / "categories.csv"
    if not path.exists():
        raise CatalogueError(f"{path} does not exist (a catalogue folder holds categories.csv)")
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = {"service_code", "kind", "level", "parent", "name_zh", "name_en"} - set(frame)
    if missing:
        raise CatalogueError(f"{path.name}: missing column(s) {sorted(missing)}")
    for column in COLUMNS:
        if column not in frame:
            frame[column] = ""
    for column in ("time_limit", "urgent_time_limit"):
        frame[column] = pd.to_numeric(frame[column].replace("", None))
    frame["level"] = frame.level.astype(int)
    frame["full_loop"] = frame.full_loop.str.lower().map({"true": True, "false": False})
    for column in ("parent", "code_old", "code_new", "time_unit", "default_department"):
        frame[column] = frame[column].replace("", None)
    _check_categories(frame, path, known_parents)
    return frame


COLUMNS = (
    "service_code", "kind", "level", "parent", "code_old", "code_new", "name_zh", "name_en",
    "time_limit", "time_unit", "urgent_time_limit", "default_department", "full_loop",
)  # fmt: skip


def _check_categories(frame: pd.DataFrame, path: Path, known: frozenset[str]) -> None:
    codes = set(frame.service_code[frame.level == 1]) | known
    # read_csv gives a RangeIndex: the row's position is its line in the file (after the header)
    for i, (_, row) in enumerate(frame.iterrows()):
        line = f"{path.name} line {i + 2} ({row.service_code})"
        if row.kind not in ("part", "event"):
            raise CatalogueError(f"{line}: kind must be 'part' or 'event', not {row.kind!r}.")
        if row.level == 2 and row.parent not in codes:
            raise CatalogueError(f"{line}: parent {row.parent!r} is not in the catalogue.")
        if pd.isna(row.full_loop):
            raise CatalogueError(f"{line}: full_loop must be true or false.")
        if row.level == 2 and (
            pd.isna(row.time_limit) or row.time_unit not in ("working_hours", "working_days")
        ):
            raise CatalogueError(
                f"{line}: a minor class needs time_limit and time_unit "
                "(working_hours or working_days)."
            )
    if frame.service_code.duplicated().any():
        dup = frame.service_code[frame.service_code.duplicated()].iloc[0]
        raise CatalogueError(f"{path.name}: service_code {dup!r} appears twice.")


def read_departments(directory: Path = CATALOGUE_DIR) -> pd.DataFrame:
    """Read ``departments.csv`` (none in the folder: no departments)."""
    path = directory / "departments.csv"
    if not path.exists():
        return pd.DataFrame(columns=["code", "kind", "name_zh", "name_en", "phone"])
    return pd.read_csv(path, dtype=str, keep_default_na=False).replace("", None)


def load_catalogue(conn: Connection, directory: Path = CATALOGUE_DIR) -> dict[str, int]:
    """Upsert departments and categories from ``directory``; idempotent.

    Returns the number of department and category rows in the files.
    """
    departments = read_departments(directory)
    categories = read_categories(directory)
    unknown = set(categories.default_department.dropna()) - set(departments.code)
    if unknown:
        raise CatalogueError(f"categories.csv names unknown departments: {sorted(unknown)}.")
    return _upsert(conn, departments, categories)


def load_local_categories(conn: Connection, directory: Path) -> dict[str, int]:
    """Add a city's own minor classes (and departments) under the national major classes.

    ``directory`` holds ``categories.csv`` (the columns of ``data/catalogue``; only
    level-2 classes whose parent is a loaded major class, each with its zh/en
    names, time limit and default department) and optionally ``departments.csv``
    (the city's own departments). Upserted by code: re-running changes nothing.

    Raises
    ------
    CatalogueError
        The national catalogue is not loaded, a row is a major class or reuses
        a national code, names an unknown parent or department, or lacks a time limit.
    """
    national = frozenset(read_categories(CATALOGUE_DIR).service_code)
    loaded = {
        str(code): int(level)
        for code, level in conn.execute(sa.text("SELECT service_code, level FROM categories"))
    }
    if not national <= set(loaded):
        raise CatalogueError(
            "the national catalogue is not loaded: run gridgov city init (or gridgov "
            "catalogue load) before adding local classes"
        )
    majors = frozenset(c for c, level in loaded.items() if level == 1)
    categories = read_categories(directory, known_parents=majors)
    path = directory / "categories.csv"
    for i, row in enumerate(categories.itertuples(index=False)):
        line = f"{path.name} line {i + 2} ({row.service_code})"
        if row.level != 2:
            raise CatalogueError(f"{line}: a local class is a minor class (level 2)")
        if row.service_code in national:
            raise CatalogueError(f"{line}: is a national class; give the local class its own code")
    departments = read_departments(directory)
    known = set(departments.code) | set(code_ids(conn, "departments", "code"))
    unknown = set(categories.default_department.dropna()) - known
    if unknown:
        raise CatalogueError(f"{path.name} names unknown departments: {sorted(unknown)}")
    return _upsert(conn, departments, categories)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as dicts keyed by column name, the bind parameters of an executemany.

    pandas-stubs types the keys as ``Hashable``; the catalogue's columns are the
    CSV headers, which are text.
    """
    return cast(list[dict[str, Any]], frame.to_dict("records"))


def _upsert(
    conn: Connection, departments: pd.DataFrame, categories: pd.DataFrame
) -> dict[str, int]:
    if len(departments):
        conn.execute(
            sa.text("""
            INSERT INTO departments (code, kind, name_zh, name_en, phone)
            VALUES (:code, :kind, :name_zh, :name_en, :phone)
            ON CONFLICT (code) DO UPDATE SET kind = EXCLUDED.kind, name_zh = EXCLUDED.name_zh,
                name_en = EXCLUDED.name_en, phone = EXCLUDED.phone
        """),
            _records(departments),
        )
    # majors first, so that minors can find their parent
    for level in (1, 2):
        if not (categories.level == level).any():
            continue
        rows = _records(
            categories[categories.level == level].astype(object).where(categories.notna(), None)
        )
        conn.execute(
            sa.text("""
            INSERT INTO categories (service_code, kind, level, parent_id, code_old, code_new,
                name_zh, name_en, time_limit, time_unit, urgent_time_limit,
                default_department_id, full_loop)
            VALUES (:service_code, :kind, :level,
                (SELECT id FROM categories WHERE service_code = :parent), :code_old, :code_new,
                :name_zh, :name_en, :time_limit, :time_unit, :urgent_time_limit,
                (SELECT id FROM departments WHERE code = :default_department), :full_loop)
            ON CONFLICT (service_code) DO UPDATE SET kind = EXCLUDED.kind,
                level = EXCLUDED.level, parent_id = EXCLUDED.parent_id,
                code_old = EXCLUDED.code_old, code_new = EXCLUDED.code_new,
                name_zh = EXCLUDED.name_zh, name_en = EXCLUDED.name_en,
                time_limit = EXCLUDED.time_limit, time_unit = EXCLUDED.time_unit,
                urgent_time_limit = EXCLUDED.urgent_time_limit,
                default_department_id = EXCLUDED.default_department_id,
                full_loop = EXCLUDED.full_loop
        """),
            rows,
        )
    conn.execute(
        sa.text("""
        INSERT INTO responsibility_rules (category_id, department_id, role, note)
        SELECT id, default_department_id, 'lead', 'statutory default from the catalogue'
        FROM categories WHERE default_department_id IS NOT NULL
        ON CONFLICT DO NOTHING
    """)
    )
    return {"departments": len(departments), "categories": len(categories)}


def code_ids(conn: Connection, table: str, code_column: str) -> dict[str, int]:
    """Map ``code_column`` -> id for ``table`` (one of the coded layers)."""
    allowed = {
        ("categories", "service_code"),
        ("departments", "code"),
        ("communities", "code"),
        ("grids", "code"),
        ("workers", "code"),
        ("parts", "part_code"),
    }
    if (table, code_column) not in allowed:
        raise ValueError(f"no code lookup for {table}.{code_column}")
    rows = conn.execute(sa.text(f"SELECT {code_column}, id FROM {table}"))
    return {str(code).strip(): int(i) for code, i in rows}


def major_categories(*, conn: Connection) -> pd.DataFrame:
    """Major classes of the catalogue (service_code, kind, names)."""
    return pd.read_sql(
        sa.text(
            "SELECT service_code, kind, name_zh, name_en FROM categories WHERE level = 1 "
            "ORDER BY kind DESC, service_code"
        ),
        conn,
    )


def departments(*, conn: Connection) -> list[tuple[str, str, str]]:
    """(code, name_zh, name_en) of every department (kind, then code), e.g. for a picker."""
    return [
        (r.code, r.name_zh, r.name_en or r.name_zh)
        for r in conn.execute(
            sa.text("SELECT code, name_zh, name_en FROM departments ORDER BY kind, code")
        )
    ]
