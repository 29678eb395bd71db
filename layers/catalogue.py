"""The category catalogue and departments: loaded from data/catalogue, queried by code."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gis.errors import GridGovError

CATALOGUE_DIR = Path(__file__).resolve().parent.parent / "data" / "catalogue"


class CatalogueError(GridGovError, ValueError):
    """The catalogue files are inconsistent; the message names the row."""

    code = "bad_catalogue"
    kind = "bad_input"


def read_categories(directory: Path = CATALOGUE_DIR) -> pd.DataFrame:
    """Read and check ``categories.csv`` (codes as text, booleans parsed)."""
    path = directory / "categories.csv"
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    for column in ("time_limit", "urgent_time_limit"):
        frame[column] = pd.to_numeric(frame[column].replace("", None))
    frame["level"] = frame.level.astype(int)
    frame["full_loop"] = frame.full_loop.str.lower().map({"true": True, "false": False})
    for column in ("parent", "code_old", "code_new", "time_unit", "default_department"):
        frame[column] = frame[column].replace("", None)
    _check_categories(frame, path)
    return frame


def _check_categories(frame: pd.DataFrame, path: Path) -> None:
    codes = set(frame.service_code)
    for i, row in frame.iterrows():
        line = f"{path.name} line {int(i) + 2} ({row.service_code})"
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
    """Read ``departments.csv``."""
    return pd.read_csv(directory / "departments.csv", dtype=str, keep_default_na=False).replace(
        "", None
    )


def load_catalogue(conn: Connection, directory: Path = CATALOGUE_DIR) -> dict[str, int]:
    """Upsert departments and categories from ``directory``; idempotent.

    Returns the number of department and category rows in the files.
    """
    departments = read_departments(directory)
    categories = read_categories(directory)
    unknown = set(categories.default_department.dropna()) - set(departments.code)
    if unknown:
        raise CatalogueError(f"categories.csv names unknown departments: {sorted(unknown)}.")
    conn.execute(
        sa.text("""
        INSERT INTO departments (code, kind, name_zh, name_en, phone)
        VALUES (:code, :kind, :name_zh, :name_en, :phone)
        ON CONFLICT (code) DO UPDATE SET kind = EXCLUDED.kind, name_zh = EXCLUDED.name_zh,
            name_en = EXCLUDED.name_en, phone = EXCLUDED.phone
    """),
        departments.to_dict("records"),
    )
    # majors first, so that minors can find their parent
    for level in (1, 2):
        rows = (
            categories[categories.level == level]
            .astype(object)
            .where(categories.notna(), None)
            .to_dict("records")
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
