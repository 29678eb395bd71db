"""Chinese consumer map datums: GCJ-02 (AMap/Gaode, Tencent) and BD-09 (Baidu) ↔ WGS 84.

GCJ-02 is WGS 84 with a deliberate, non-linear offset of up to several hundred
metres inside mainland China (none outside it); BD-09 adds Baidu's own offset
on top of GCJ-02. The forward transforms are the published reference
formulas; the inverses are solved by fixed-point iteration to better than
1e-8 degrees (about 1 mm), far below phone GPS error.

All functions are vectorised over numpy arrays of longitudes and latitudes.
"""

from __future__ import annotations

from enum import StrEnum

import numpy as np

from gis.errors import GridGovError

_A = 6378245.0  # Krasovsky 1940 semi-major axis used by GCJ-02
_EE = 0.00669342162296594323  # its first eccentricity squared
_X_PI = np.pi * 3000.0 / 180.0


class Datum(StrEnum):
    """Datums a coordinate may be declared in."""

    WGS84 = "wgs84"
    GCJ02 = "gcj02"
    BD09 = "bd09"


class DatumError(GridGovError, ValueError):
    """An unknown datum name."""

    code = "unknown_datum"
    kind = "bad_input"


def parse_datum(name: str) -> Datum:
    """Datum from a user's spelling ("WGS84", "wgs-84", "GCJ-02", "bd09", ...)."""
    key = name.strip().lower().replace("-", "").replace("_", "").replace(" ", "")
    aliases = {
        "wgs84": Datum.WGS84,
        "epsg4326": Datum.WGS84,
        "4326": Datum.WGS84,
        "cgcs2000": Datum.WGS84,
        "gcj02": Datum.GCJ02,
        "gcj": Datum.GCJ02,
        "amap": Datum.GCJ02,
        "gaode": Datum.GCJ02,
        "bd09": Datum.BD09,
        "baidu": Datum.BD09,
    }
    if key not in aliases:
        raise DatumError(f"unknown datum {name!r}: use WGS84, GCJ-02 or BD-09")
    return aliases[key]


def in_china(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Rough mainland-China box where GCJ-02 applies (outside it GCJ-02 == WGS 84)."""
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    return (lon > 73.66) & (lon < 135.05) & (lat > 3.86) & (lat < 53.55)


def _offset(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, y = lon - 105.0, lat - 35.0
    dlat = (
        -100.0
        + 2.0 * x
        + 3.0 * y
        + 0.2 * y * y
        + 0.1 * x * y
        + 0.2 * np.sqrt(np.abs(x))
        + (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
        + (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
        + (160.0 * np.sin(y / 12.0 * np.pi) + 320 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    )
    dlon = (
        300.0
        + x
        + 2.0 * y
        + 0.1 * x * x
        + 0.1 * x * y
        + 0.1 * np.sqrt(np.abs(x))
        + (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
        + (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
        + (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    )
    rad = lat / 180.0 * np.pi
    magic = 1 - _EE * np.sin(rad) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrt_magic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrt_magic * np.cos(rad) * np.pi)
    return dlon, dlat


def wgs84_to_gcj02(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """WGS 84 → GCJ-02 (identity outside mainland China)."""
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    dlon, dlat = _offset(lon, lat)
    inside = in_china(lon, lat)
    return np.where(inside, lon + dlon, lon), np.where(inside, lat + dlat, lat)


def gcj02_to_wgs84(
    lon: np.ndarray, lat: np.ndarray, tolerance_deg: float = 1e-8
) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 → WGS 84 by fixed-point iteration of the forward transform."""
    glon, glat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    wlon, wlat = glon.copy(), glat.copy()
    for _ in range(30):
        flon, flat = wgs84_to_gcj02(wlon, wlat)
        elon, elat = flon - glon, flat - glat
        wlon, wlat = wlon - elon, wlat - elat
        if np.all(np.abs(elon) < tolerance_deg) and np.all(np.abs(elat) < tolerance_deg):
            break
    return wlon, wlat


def gcj02_to_bd09(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 → BD-09."""
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    z = np.sqrt(lon * lon + lat * lat) + 0.00002 * np.sin(lat * _X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def bd09_to_gcj02(
    lon: np.ndarray, lat: np.ndarray, tolerance_deg: float = 1e-9
) -> tuple[np.ndarray, np.ndarray]:
    """BD-09 → GCJ-02: the published inverse, refined by iterating the forward formula."""
    blon, blat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    glon, glat = _bd09_to_gcj02_approx(blon, blat)
    for _ in range(10):
        flon, flat = gcj02_to_bd09(glon, glat)
        elon, elat = flon - blon, flat - blat
        glon, glat = glon - elon, glat - elat
        if np.all(np.abs(elon) < tolerance_deg) and np.all(np.abs(elat) < tolerance_deg):
            break
    return glon, glat


def _bd09_to_gcj02_approx(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(lon, dtype=float) - 0.0065
    y = np.asarray(lat, dtype=float) - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta), z * np.sin(theta)


def to_wgs84(lon: np.ndarray, lat: np.ndarray, datum: Datum | str) -> tuple[np.ndarray, np.ndarray]:
    """Convert coordinates declared in ``datum`` to WGS 84 (the stored datum)."""
    datum = parse_datum(datum) if isinstance(datum, str) and not isinstance(datum, Datum) else datum
    if datum is Datum.WGS84:
        return np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    if datum is Datum.BD09:
        lon, lat = bd09_to_gcj02(lon, lat)
    return gcj02_to_wgs84(lon, lat)
