"""Binary COPY from Arrow: what goes in is what PostgreSQL stores, NULLs included."""

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import shapely
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from layers.bulk import (
    BulkLoadError,
    CopyPart,
    copy_binary,
    copy_binary_many,
    copy_frame,
    point_ewkb_arrow,
)

COLUMNS = """
    a smallint, b integer, c bigint, d double precision, t timestamptz, s text,
    code char(9), geom geometry(Point, 4326), raw bytea
"""


def _table(conn, name: str = "copy_probe") -> str:
    conn.execute(sa.text(f"CREATE TEMP TABLE {name} ({COLUMNS}) ON COMMIT DROP"))
    return name


def _read(conn, table: str) -> list[tuple]:
    return [
        tuple(r)
        for r in conn.execute(
            sa.text(f"""
            SELECT a, b, c, d, t, s, code, ST_X(geom), ST_Y(geom), ST_SRID(geom), raw
            FROM {table} ORDER BY b NULLS LAST, s NULLS LAST
        """)
        )
    ]


def test_every_type_and_null_round_trips(conn):
    table = _table(conn)
    times = pd.to_datetime(
        ["1999-12-31 23:59:59.999999", "2026-11-30 08:15:00.5", None], utc=True
    ).astype("datetime64[us, UTC]")
    data = pa.table(
        {
            "a": pa.array([-32768, 7, None], pa.int16()),
            "b": pa.array([-(2**31), 0, 2**31 - 1], pa.int32()),
            "c": pa.array([2**62, None, -1], pa.int64()),
            "d": pa.array([1.5, None, -0.0], pa.float64()),
            "t": pa.array(times),
            "s": pa.array(["网格 grid", "", None], pa.string()),
            "code": pa.array(["110101001", None, "1"], pa.string()),
            "geom": point_ewkb_arrow(
                np.array([116.4, -0.5, 0.0]), np.array([39.9, 51.2, 0.0]), hex=False
            ),
            "raw": pa.array([b"\x00\xff", None, b""], pa.binary()),
        }
    )
    assert copy_binary(conn, table, data, chunk_rows=2) == 3
    rows = _read(conn, table)
    assert rows[0][:7] == (
        -32768,
        -(2**31),
        2**62,
        1.5,
        pd.Timestamp("1999-12-31 23:59:59.999999", tz="UTC"),
        "网格 grid",
        "110101001",
    )
    assert rows[0][7:] == (116.4, 39.9, 4326, b"\x00\xff")
    assert rows[1][:7] == (
        7,
        0,
        None,
        None,
        pd.Timestamp("2026-11-30 08:15:00.5", tz="UTC"),
        "",
        None,
    )
    assert rows[1][10] is None
    assert rows[2][:7] == (None, 2**31 - 1, -1, -0.0, None, None, "1        ")
    assert rows[2][10] == b""


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.none() | st.integers(-(2**31), 2**31 - 1),
            st.none() | st.text(max_size=12),
            st.none() | st.floats(allow_nan=False),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_binary_and_text_copy_store_the_same(engine, rows):
    """The binary encoder agrees with the text (CSV) COPY on random values and NULLs."""
    ints, texts, floats = (list(c) for c in zip(*rows, strict=True))
    texts = [t.replace("\x00", "") if t is not None else None for t in texts]
    frame = pd.DataFrame(
        {"n": range(len(rows)), "b": pd.array(ints, dtype="Int32"), "s": texts, "d": floats}
    )
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "CREATE TEMP TABLE via_text (n int, b integer, s text, d float8) ON COMMIT DROP;"
                "CREATE TEMP TABLE via_binary (n int, b integer, s text, d float8) ON COMMIT DROP"
            )
        )
        copy_frame(conn, "via_text", frame)
        copy_binary(
            conn,
            "via_binary",
            pa.table(
                {
                    "n": pa.array(frame.n, pa.int32()),
                    "b": pa.array(ints, pa.int32()),
                    "s": pa.array(texts, pa.string()),
                    "d": pa.array(floats, pa.float64()),
                }
            ),
        )
        query = "SELECT b, s, d FROM {} ORDER BY n"
        assert (
            conn.execute(sa.text(query.format("via_binary"))).all()
            == conn.execute(sa.text(query.format("via_text"))).all()
        )


def test_points_are_the_same_as_shapely_writes(conn):
    lon, lat = np.array([121.473701, -122.4194]), np.array([31.230416, 37.7749])
    raw = point_ewkb_arrow(lon, lat, hex=False).to_pylist()
    expected = shapely.to_wkb(shapely.set_srid(shapely.points(lon, lat), 4326), include_srid=True)
    assert raw == list(expected)
    assert point_ewkb_arrow(lon, lat).to_pylist() == [r.hex().upper() for r in raw]


def test_a_value_the_column_refuses_names_the_table(conn):
    table = _table(conn)
    with pytest.raises(BulkLoadError, match="copy_probe"):
        copy_binary(conn, table, pa.table({"code": pa.array(["1234567890"])}))


def test_an_arrow_type_without_an_encoding_is_refused(conn):
    table = _table(conn)
    with pytest.raises(TypeError, match="bool"):
        copy_binary(conn, table, pa.table({"a": pa.array([True])}))


def test_many_parts_go_in_order_each_into_its_table(conn):
    first, second = _table(conn, "copy_first"), _table(conn, "copy_second")
    parts = [
        CopyPart(first, lambda: pa.table({"b": pa.array(range(5), pa.int32())})),
        CopyPart(second, lambda: pa.table({"b": pa.array([], pa.int32())})),
        CopyPart(second, lambda: pa.table({"s": pa.array(["x", None, "z"], pa.string())})),
        CopyPart(first, lambda: pa.table({"b": pa.array([7], pa.int32())})),
    ]
    assert copy_binary_many(conn, parts, chunk_rows=2, ahead=1) == [5, 0, 3, 1]
    assert [r[1] for r in _read(conn, first)] == [0, 1, 2, 3, 4, 7]
    assert [r[5] for r in _read(conn, second)] == ["x", "z", None]


def test_a_part_that_fails_stops_the_rest(conn):
    table = _table(conn)

    def broken() -> pa.Table:
        raise ValueError("no rows for you")

    good = CopyPart(table, lambda: pa.table({"b": pa.array([1], pa.int32())}))
    refused = CopyPart(table, lambda: pa.table({"code": pa.array(["1234567890"])}))
    with pytest.raises(ValueError, match="no rows for you"):
        copy_binary_many(conn, [good, CopyPart(table, broken), good])
    with pytest.raises(BulkLoadError, match="copy_probe"):
        copy_binary_many(conn, [refused, *[good] * 50], chunk_rows=1, ahead=1)
