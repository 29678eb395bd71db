"""Coordinate reference systems: named SRIDs and a local metric CRS for any place.

Geometry is stored in WGS 84 longitude/latitude (EPSG:4326); lengths, areas and
distances are computed in the UTM zone of the data (metres).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from pyproj import CRS, Transformer

WGS84 = 4326
"""SRID of stored geometry (WGS 84 / CGCS2000 agree to centimetres)."""


def utm_epsg(lon: float, lat: float) -> int:
    """EPSG code of the WGS 84 UTM zone containing (lon, lat)."""
    zone = int((lon + 180) // 6) + 1
    return (32600 if lat >= 0 else 32700) + zone


@lru_cache(maxsize=32)
def _transformer(src: int, dst: int) -> Transformer:
    return Transformer.from_crs(CRS.from_epsg(src), CRS.from_epsg(dst), always_xy=True)


def to_metric(lon: np.ndarray, lat: np.ndarray, epsg: int) -> tuple[np.ndarray, np.ndarray]:
    """Project WGS 84 lon/lat arrays to the metric CRS ``epsg`` (x, y in metres)."""
    x, y = _transformer(WGS84, epsg).transform(np.asarray(lon), np.asarray(lat))
    return np.asarray(x), np.asarray(y)


def to_wgs84(x: np.ndarray, y: np.ndarray, epsg: int) -> tuple[np.ndarray, np.ndarray]:
    """Project metric x/y arrays in ``epsg`` back to WGS 84 lon/lat."""
    lon, lat = _transformer(epsg, WGS84).transform(np.asarray(x), np.asarray(y))
    return np.asarray(lon), np.asarray(lat)
