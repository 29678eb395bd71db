"""Row checks on entry: coordinates, datum and CRS, times, categories, duplicate ids.

All checks are vectorised over the whole file. A row gets the *first* reason
that applies, in the order the loaders call the checks; messages name the
1-based data row, the field and the source column.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import shapely

from gis import crs as gis_crs
from gis import datum as gis_datum
from layers.ingest.arrays import is_none, where_or_none
from layers.ingest.errors import NotReadyError
from layers.ingest.mapping import Mapping
from layers.ingest.readers import SourceFrame

MISSING_SOURCE_ID = "missing_source_id"
MISSING_COORDINATES = "missing_coordinates"
ZERO_COORDINATES = "zero_coordinates"
INVALID_COORDINATES = "invalid_coordinates"
OUTSIDE_AREA = "outside_area"
BAD_TIME = "bad_time"
IMPOSSIBLE_TIME = "impossible_time"
UNKNOWN_CATEGORY = "unknown_category"
INVALID_GEOMETRY = "invalid_geometry"
DUPLICATE_SOURCE_ID = "duplicate_source_id"
BAD_HOUSEHOLDS = "bad_households"
NO_PARENT = "no_parent"
BAD_CODE = "bad_code"
REASONS = (
    MISSING_SOURCE_ID,
    MISSING_COORDINATES,
    ZERO_COORDINATES,
    INVALID_COORDINATES,
    OUTSIDE_AREA,
    BAD_TIME,
    IMPOSSIBLE_TIME,
    UNKNOWN_CATEGORY,
    INVALID_GEOMETRY,
    DUPLICATE_SOURCE_ID,
    BAD_HOUSEHOLDS,
    NO_PARENT,
    BAD_CODE,
)
"""Quarantine reason codes (the CHECK constraint of ``import_quarantine.reason``)."""

NO_SKEW = pd.Timedelta(0)
FUTURE_TOLERANCE = pd.Timedelta(days=1)
"""A time later than now by more than this is impossible (clock or time-zone error)."""


def require_catalogue(catalogue: dict[str, int]) -> None:
    """Refuse to import against an empty category catalogue, saying how to load it.

    Raises
    ------
    NotReadyError
        No category is loaded (a fresh database).
    """
    if not catalogue:
        raise NotReadyError(
            "the category catalogue is empty (a fresh database): run gridgov city init "
            "(or gridgov catalogue load) first; gridgov city status lists what is missing"
        )


class Rejections:
    """Reason and message per row; the first reason given to a row sticks.

    Parameters
    ----------
    n
        Number of rows.
    """

    def __init__(self, n: int) -> None:
        self.reason = np.full(n, None, dtype=object)
        self.message = np.full(n, None, dtype=object)
        self._ok = np.ones(n, dtype=bool)

    @property
    def ok(self) -> np.ndarray:
        """Boolean mask of rows with no reason so far (a copy)."""
        return self._ok.copy()

    def reject(self, mask: np.ndarray, reason: str, message: Callable[[int], str]) -> np.ndarray:
        """Give ``reason`` to rows in ``mask`` that have none yet; return their indices.

        ``message(i)`` builds the text for row index ``i`` (0-based; rows are
        named 1-based), called only for newly rejected rows.
        """
        new = np.flatnonzero(np.asarray(mask, dtype=bool) & self._ok)
        self._ok[new] = False
        self.reason[new] = reason
        self.message[new] = [f"row {i + 1}: {message(int(i))}" for i in new]
        return new

    def counts(self) -> dict[str, int]:
        """Rows per reason."""
        values, counts = np.unique(self.reason[~self.ok].astype(str), return_counts=True)
        return dict(zip(values.tolist(), counts.tolist(), strict=True))


def column_text(source: SourceFrame, column: str | list[str], sep: str = " / ") -> pd.Series:
    """Text of one column, or of several joined with ``sep`` (missing parts skipped)."""
    frame = source.frame
    if isinstance(column, str):
        return pd.Series(_as_text(frame[column]), index=frame.index, dtype=object)
    joined = np.full(len(frame), None, dtype=object)
    for c in column:
        part = _as_text(frame[c])
        has = ~is_none(part)
        empty = is_none(joined)
        joined[has & empty] = part[has & empty]
        both = has & ~empty
        joined[both] = joined[both] + sep + part[both]
    return pd.Series(joined, index=frame.index, dtype=object)


def _as_text(values: pd.Series) -> np.ndarray:
    """Values as str, None where missing or blank."""
    text = values.astype("string")
    blank = (text.isna() | (text.str.strip() == "")).to_numpy(dtype=bool, na_value=True)
    # pandas-stubs has no overload taking na_value=None, which pandas accepts (na_value: Any)
    raw = text.to_numpy(dtype=object, na_value=None)  # type: ignore[call-overload]
    out: np.ndarray = np.array(raw, dtype=object, copy=True)
    out[blank] = None
    return out


def source_ids(source: SourceFrame, mapping: Mapping, rej: Rejections) -> np.ndarray:
    """Source ids as text; rows without one are rejected (``missing_source_id``).

    A list of columns makes a composite id (values joined with ``|``), e.g. an
    address register without an id column: number, street, unit, postcode.
    """
    column = mapping.columns["source_id"]
    if isinstance(column, list):
        ids = np.array(column_text(source, column, sep="|").tolist(), dtype=object)
    else:
        values = source.frame[column]
        if pd.api.types.is_float_dtype(values) and (values.dropna() % 1 == 0).all():
            values = values.astype("Int64")
        ids = _as_text(values)
    has = ~is_none(ids)
    ids[has] = [str(v).strip() for v in ids[has]]
    rej.reject(is_none(ids), MISSING_SOURCE_ID, lambda i: f"source_id ({column}) is empty")
    return ids


def coordinates(
    source: SourceFrame, mapping: Mapping, rej: Rejections
) -> tuple[np.ndarray, np.ndarray]:
    """WGS 84 lon/lat of every row (NaN where rejected).

    Coordinates come from ``lon``/``lat`` columns, a ``point`` column (WKT
    ``POINT (x y)`` or Socrata's ``(lat, lon)``) or the file's point geometry.
    Rejects missing, (0, 0), unparseable and out-of-range coordinates and
    non-point geometry; converts a projected CRS and the GCJ-02/BD-09 datums.
    """
    x, y, label = _raw_xy(source, mapping, rej)
    zero = (x == 0) & (y == 0)
    rej.reject(zero, ZERO_COORDINATES, lambda i: f"{label} are 0,0 (not geocoded)")
    epsg = source.epsg if source.geometry is not None and source.epsg else mapping.crs
    if epsg != gis_crs.WGS84:
        finite = np.isfinite(x) & np.isfinite(y)
        lon, lat = np.full(len(x), np.nan), np.full(len(x), np.nan)
        if finite.any():
            lon[finite], lat[finite] = gis_crs.to_wgs84(x[finite], y[finite], epsg)
    else:
        lon, lat = x, y
    bad = ~(np.isfinite(lon) & np.isfinite(lat)) | (np.abs(lon) > 180) | (np.abs(lat) > 90)
    rej.reject(
        bad,
        INVALID_COORDINATES,
        lambda i: f"{label} {x[i]!r}, {y[i]!r} are not a valid position (EPSG:{epsg})",
    )
    if mapping.datum is not gis_datum.Datum.WGS84:
        ok = rej.ok
        lon, lat = lon.copy(), lat.copy()
        lon[ok], lat[ok] = gis_datum.to_wgs84(lon[ok], lat[ok], mapping.datum)
    lon = np.where(rej.ok, lon, np.nan)
    lat = np.where(rej.ok, lat, np.nan)
    return lon, lat


def _raw_xy(
    source: SourceFrame, mapping: Mapping, rej: Rejections
) -> tuple[np.ndarray, np.ndarray, str]:
    frame = source.frame
    if "lon" in mapping.columns:
        lon_col, lat_col = str(mapping.columns["lon"]), str(mapping.columns["lat"])
        label = f"coordinates ({lon_col}, {lat_col})"
        raw_x, raw_y = frame[lon_col], frame[lat_col]
        x = pd.to_numeric(raw_x, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        y = pd.to_numeric(raw_y, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        missing = _blank(raw_x) | _blank(raw_y)
        rej.reject(missing, MISSING_COORDINATES, lambda i: f"{label} are empty")
        return x, y, label
    if "point" in mapping.columns:
        column = str(mapping.columns["point"])
        label = f"point ({column})"
        text = frame[column].astype(object)
        missing = _blank(frame[column])
        rej.reject(missing, MISSING_COORDINATES, lambda i: f"{label} is empty")
        x, y = _parse_point_text(pd.Series(text.where(~missing, None), dtype=object))
        return x, y, label
    if source.geometry is None:
        raise ValueError("mapping gives no coordinates and the file has no geometry")
    geoms = source.geometry
    label = "geometry"
    missing = np.asarray(shapely.is_missing(geoms) | shapely.is_empty(geoms), dtype=bool)
    rej.reject(missing, MISSING_COORDINATES, lambda i: "geometry is empty")
    kinds = shapely.get_type_id(geoms)
    not_point = ~missing & (kinds != shapely.GeometryType.POINT)
    rej.reject(
        not_point,
        INVALID_GEOMETRY,
        lambda i: f"geometry is a {geoms[i].geom_type}, a point is expected",
    )
    points = where_or_none(kinds == shapely.GeometryType.POINT, geoms)
    return shapely.get_x(points), shapely.get_y(points), label


_POINT_PATTERN = r"^\s*(POINT\s*)?\(\s*([-+0-9.eE]+)[\s,]+([-+0-9.eE]+)\s*\)\s*$"


def _parse_point_text(text: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    parts = text.astype("string").str.extract(_POINT_PATTERN, flags=2)  # re.IGNORECASE
    a = pd.to_numeric(parts[1], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    b = pd.to_numeric(parts[2], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    wkt = parts[0].notna().to_numpy()
    # WKT is (x y) = (lon lat); Socrata's "(lat, lon)" puts latitude first.
    return np.where(wkt, a, b), np.where(wkt, b, a)


def _blank(values: pd.Series) -> np.ndarray:
    if not (pd.api.types.is_string_dtype(values) or pd.api.types.is_object_dtype(values)):
        return values.isna().to_numpy(dtype=bool)
    text = values.astype("string")
    return (text.isna() | (text.str.strip() == "")).to_numpy(dtype=bool, na_value=True)


def parse_times(values: pd.Series, mapping: Mapping) -> pd.Series:
    """Times as UTC timestamps (NaT when missing or unparseable).

    Text with an offset (``Z``, ``+08:00``, `` UTC``) keeps it; naive times are
    in ``mapping.timezone`` (a time repeated when clocks go back is read as
    standard time; one skipped when they go forward is moved forward).
    """
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert("UTC")
    if pd.api.types.is_datetime64_dtype(values):
        return _localise(values, mapping.timezone)
    text = values.astype("string").str.strip()
    text = text.where(text != "", None)
    offset = text.str.contains(r"(?:Z|UTC|GMT|[+-]\d{2}:?\d{2})$", regex=True, na=False)
    result = pd.Series(pd.NaT, index=values.index, dtype="datetime64[us, UTC]")
    fmt = mapping.time_format or "ISO8601"
    if offset.any():
        aware = text[offset].str.replace(r"\s*(UTC|GMT)$", "+00:00", regex=True)
        result[offset] = pd.to_datetime(aware, format=fmt, errors="coerce", utc=True)
    naive = ~offset & text.notna()
    if naive.any():
        parsed = pd.to_datetime(text[naive], format=fmt, errors="coerce")
        result[naive] = _localise(parsed, mapping.timezone)
    return result


def _localise(values: pd.Series, tz: str) -> pd.Series:
    standard = np.zeros(len(values), dtype=bool)
    return values.dt.tz_localize(tz, ambiguous=standard, nonexistent="shift_forward").dt.tz_convert(
        "UTC"
    )


def check_times(
    reported: pd.Series,
    closed: pd.Series | None,
    raw: dict[str, pd.Series],
    columns: dict[str, str],
    rej: Rejections,
    *,
    now: pd.Timestamp,
    skew: pd.Timedelta = NO_SKEW,
) -> np.ndarray:
    """Reject unparseable (``bad_time``) and impossible (``impossible_time``) times.

    ``raw`` holds the source values of ``reported_at`` and ``closed_at``;
    ``columns`` their source column names (for the messages). A close time at
    most ``skew`` before the report time is clock skew between two systems,
    not an impossible case.

    Returns
    -------
    numpy.ndarray
        Mask of rows closed before they were reported by no more than ``skew``.
    """
    skewed = np.zeros(len(reported), dtype=bool)
    r_col = columns["reported_at"]
    rej.reject(
        reported.isna().to_numpy(),
        BAD_TIME,
        lambda i: f"reported_at ({r_col}) {_shown(raw['reported_at'], i)} is not a time",
    )
    if closed is not None:
        c_col = columns["closed_at"]
        unparsed = closed.isna().to_numpy() & ~_blank(raw["closed_at"])
        rej.reject(
            unparsed,
            BAD_TIME,
            lambda i: f"closed_at ({c_col}) {_shown(raw['closed_at'], i)} is not a time",
        )
        early = (closed < reported).to_numpy(dtype=bool, na_value=False)
        before = (closed < reported - skew).to_numpy(dtype=bool, na_value=False)
        skewed = early & ~before
        rej.reject(
            before,
            IMPOSSIBLE_TIME,
            lambda i: (
                f"closed_at ({c_col}) {closed.iloc[i]} is before reported_at "
                f"({r_col}) {reported.iloc[i]} by more than the clock skew allowed "
                f"({skew.total_seconds():g} s: clock_skew_s in the mapping)"
            ),
        )
    future = (reported > now + FUTURE_TOLERANCE).to_numpy(dtype=bool, na_value=False)
    rej.reject(
        future,
        IMPOSSIBLE_TIME,
        lambda i: f"reported_at ({r_col}) {reported.iloc[i]} is in the future",
    )
    return skewed


def _shown(values: pd.Series, i: int) -> str:
    value = values.iloc[i]
    return (
        "(empty)"
        if value is None or (isinstance(value, float) and np.isnan(value))
        else repr(str(value))
    )


def map_categories(
    values: pd.Series | None,
    mapping: Mapping,
    catalogue: dict[str, int],
    column: str | None,
    rej: Rejections,
) -> np.ndarray:
    """Catalogue id of every row via the mapping's category table.

    Unmapped values take ``default_category`` when the mapping has one;
    otherwise the row is rejected as ``unknown_category``.
    """
    n = len(rej.reason)
    default = catalogue[mapping.default_category] if mapping.default_category else None
    if values is None:
        return np.full(n, default, dtype=object)
    table = {k: catalogue[v] for k, v in mapping.categories.items()}
    ids = _text_lookup(values, table, None)
    if default is not None:
        ids = np.where(is_none(ids), default, ids)
    rej.reject(
        is_none(ids),
        UNKNOWN_CATEGORY,
        lambda i: f"category ({column}) {_shown(values, i)} is not in the mapping's categories",
    )
    return ids


def id_codes(ids: np.ndarray) -> np.ndarray:
    """One integer per distinct source id (-1: none), for :func:`reject_duplicates`.

    The ids are hashed once here (the costly part of finding repeats), e.g. while
    the rows are placed; the repeats among the rows still accepted then take
    integers only. Hashed by Arrow, which lets go of the interpreter meanwhile
    (the placing thread goes on); codes in order of first appearance."""
    encoded = pc.dictionary_encode(pa.array(ids, type=pa.string(), from_pandas=True))
    return np.asarray(
        pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False), dtype=np.int64
    )


def reject_duplicates(
    ids: np.ndarray, column: str, rej: Rejections, *, codes: np.ndarray | None = None
) -> None:
    """Reject repeats of a source id among rows still accepted (the first one wins).

    ``codes``: :func:`id_codes` of ``ids`` when already made."""
    codes = id_codes(ids) if codes is None else codes
    good = np.flatnonzero(rej.ok)
    seen = pd.Series(codes[good]).duplicated(keep="first").to_numpy()
    if not seen.any():
        return
    dup = np.zeros(len(ids), dtype=bool)
    dup[good[seen]] = True
    repeated = np.isin(codes[good], codes[good[seen]])
    first = pd.Series(good[repeated], index=codes[good[repeated]]).groupby(level=0).first()
    rej.reject(
        dup,
        DUPLICATE_SOURCE_ID,
        lambda i: f"source_id ({column}) {ids[i]!r} already appeared in row {first[codes[i]] + 1}",
    )


def map_values(values: pd.Series, table: dict[str, str], default: str | None) -> np.ndarray:
    """Map source values (statuses, channels) through ``table``; others take ``default``."""
    return _text_lookup(values, table, default)


def _text_lookup(values: pd.Series, table: dict, default: object) -> np.ndarray:
    """``_lookup(_as_text(values), table, default)``: in a column of one type (not
    ``object``: there 1, 1.0 and True are one key but three texts) each distinct
    value is made text once, not each row."""
    if values.dtype == object:
        return _lookup(_as_text(values), table, default)
    codes, uniques = pd.factorize(values)  # a missing value: -1
    keys = _lookup(_as_text(pd.Series(uniques)), table, default)
    missing = _lookup(np.full(1, None, dtype=object), table, default)
    return np.concatenate([keys, missing])[np.where(codes < 0, len(keys), codes)]


def _lookup(text: np.ndarray, table: dict, default: object) -> np.ndarray:
    """``table[value.strip()]`` for each value (object array; None and misses: ``default``).

    Strips and looks up each distinct value once (the values keep their type:
    ints stay ints).
    """
    codes, unique = pd.factorize(np.asarray(text, dtype=object))
    keys = [v.strip() if isinstance(v, str) else v for v in unique]
    mapped = np.array([table.get(k, default) for k in keys] + [default], dtype=object)
    return mapped[np.where(codes < 0, len(unique), codes)]


def repair_polygons(
    geoms: Sequence | np.ndarray, max_area_change: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Make invalid polygons valid where that is safe.

    Returns
    -------
    tuple
        ``(geoms, repaired, unsafe)``: polygonal parts of ``make_valid`` for
        invalid inputs; ``repaired`` marks rows fixed safely; ``unsafe`` marks
        rows whose repair changed the area by more than ``max_area_change``
        (a share) or left nothing polygonal.
    """
    arr = np.asarray(geoms, dtype=object)
    invalid = ~shapely.is_valid(arr) & ~shapely.is_missing(arr)
    out = arr.copy()
    repaired = np.zeros(len(arr), dtype=bool)
    unsafe = np.zeros(len(arr), dtype=bool)
    for i in np.flatnonzero(invalid):
        fixed = _polygonal(shapely.make_valid(arr[i]))
        before = abs(_shoelace_area(arr[i]))
        change = abs(fixed.area - before) / before if before > 0 else 1.0
        if fixed.is_empty or change > max_area_change:
            unsafe[i] = True
        else:
            out[i], repaired[i] = fixed, True
    return out, repaired, unsafe


def _polygonal(geom):  # type: ignore[no-untyped-def]
    polys = [p for p in shapely.get_parts(geom) if p.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(polys) if polys else shapely.MultiPolygon()


def _shoelace_area(geom) -> float:  # type: ignore[no-untyped-def]
    """Area counted ring by ring (what the source meant, even when self-intersecting)."""
    total = 0.0
    for poly in shapely.get_parts(geom):
        if poly.geom_type != "Polygon":
            continue
        total += abs(shapely.Polygon(poly.exterior.coords).area if poly.exterior else 0.0)
        for ring in poly.interiors:
            total -= abs(shapely.Polygon(ring.coords).area)
    return total
