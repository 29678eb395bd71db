"""A small reader of Mapbox Vector Tiles (spec 2.1) for the tile tests.

Decodes layers, features (id, properties, geometry type) and each feature's vertices
in tile coordinates, and turns them into WGS 84 lon/lat for a tile z/x/y.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Feature:
    id: int | None
    type: int  # 1 point, 2 line, 3 polygon
    properties: dict[str, Any]
    points: list[tuple[int, int]] = field(default_factory=list)


@dataclass
class Layer:
    name: str
    extent: int
    features: list[Feature]


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    out = shift = 0
    while True:
        b = buf[i]
        i += 1
        out |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return out, i


def _fields(buf: bytes):  # type: ignore[no-untyped-def]
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        number, wire = key >> 3, key & 7
        value: Any
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 2:
            n, i = _varint(buf, i)
            value, i = buf[i : i + n], i + n
        elif wire == 5:
            value, i = buf[i : i + 4], i + 4
        elif wire == 1:
            value, i = buf[i : i + 8], i + 8
        else:
            raise ValueError(f"wire type {wire}")
        yield number, wire, value


def _packed(buf: bytes) -> list[int]:
    out, i = [], 0
    while i < len(buf):
        v, i = _varint(buf, i)
        out.append(v)
    return out


def _zigzag(n: int) -> int:
    return (n >> 1) ^ -(n & 1)


def _value(buf: bytes) -> Any:
    for number, _wire, v in _fields(buf):
        if number == 1:
            return v.decode()
        if number == 2:
            return struct.unpack("<f", v)[0]
        if number == 3:
            return struct.unpack("<d", v)[0]
        if number in (4, 5):
            return v if v < 2**63 else v - 2**64
        if number == 6:
            return _zigzag(v)
        if number == 7:
            return bool(v)
    return None


def _geometry(commands: list[int]) -> list[tuple[int, int]]:
    x = y = 0
    out, i = [], 0
    while i < len(commands):
        cmd, count = commands[i] & 7, commands[i] >> 3
        i += 1
        if cmd in (1, 2):
            for _ in range(count):
                x += _zigzag(commands[i])
                y += _zigzag(commands[i + 1])
                i += 2
                out.append((x, y))
    return out


def _feature(raw: bytes, keys: list[str], values: list[Any]) -> Feature:
    fid, gtype, tags, geom = None, 0, [], []
    for n, _w, v in _fields(raw):
        if n == 1:
            fid = v
        elif n == 2:
            tags = _packed(v)
        elif n == 3:
            gtype = v
        elif n == 4:
            geom = _packed(v)
    props = {keys[tags[k]]: values[tags[k + 1]] for k in range(0, len(tags), 2)}
    return Feature(fid, gtype, props, _geometry(geom))


def _layer(raw: bytes) -> Layer:
    name, extent, keys, values, feats = "", 4096, [], [], []
    for n, _w, v in _fields(raw):
        if n == 1:
            name = v.decode()
        elif n == 5:
            extent = v
        elif n == 3:
            keys.append(v.decode())
        elif n == 4:
            values.append(_value(v))
        elif n == 2:
            feats.append(v)
    return Layer(name, extent, [_feature(f, keys, values) for f in feats])


def decode(data: bytes) -> dict[str, Layer]:
    """The layers of an MVT tile by name."""
    layers = [_layer(raw) for number, _wire, raw in _fields(data) if number == 3]
    return {layer.name: layer for layer in layers}


def to_lonlat(z: int, x: int, y: int, px: float, py: float, extent: int = 4096):  # type: ignore[no-untyped-def]
    """Tile coordinates of tile z/x/y -> (lon, lat)."""
    n = 2**z
    lon = (x + px / extent) / n * 360.0 - 180.0
    lat = math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * (y + py / extent) / n))))
    return lon, lat


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    """The x, y of the tile holding lon/lat at zoom z."""
    n = 2**z
    x = int((lon + 180.0) / 360.0 * n)
    lat_r = math.radians(lat)
    y = int((1.0 - math.asinh(math.tan(lat_r)) / math.pi) / 2.0 * n)
    return x, y
