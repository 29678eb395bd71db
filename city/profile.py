"""The city profile: time zone, codes, grid size, tiles and media of the city served.

Everything that differs from one city to the next is read from one TOML file,
``data/city.toml`` (the demo city) or the file named by ``GRIDGOV_CITY_PROFILE``,
and used everywhere through :func:`profile`.
"""

from __future__ import annotations

import functools
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from city.codes import CODES, CodeFormats
from city.errors import GridGovError
from city.grid_size import GridSize, GridSizeError

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "data" / "city.toml"
ENV_VAR = "GRIDGOV_CITY_PROFILE"


class ProfileError(GridGovError, ValueError):
    """A city profile that cannot be used; the message names the file and the key."""

    code = "bad_city_profile"


@dataclass(frozen=True)
class TileSettings:
    """The dashboard maps: where they open, how far they zoom, an intranet tile server."""

    centre: tuple[float, float] = (31.30, 120.60)
    """(latitude, longitude) shown before any layer is loaded."""
    zoom: int = 14
    max_zoom: int = 19
    url: str = ""
    """Intranet tile URL template (``{z}/{x}/{y}``); empty: none configured."""
    attribution: str = "intranet tiles"


@dataclass(frozen=True)
class MediaSettings:
    """Photos attached to cases."""

    max_photo_bytes: int = 10 * 1024 * 1024


@dataclass(frozen=True)
class CityProfile:
    """The city GridGov serves (see ``data/city.toml`` for the meaning of each key)."""

    name_zh: str
    name_en: str
    admin_code: str
    time_zone: ZoneInfo
    grid: GridSize
    codes: CodeFormats = CODES
    tiles: TileSettings = field(default_factory=TileSettings)
    media: MediaSettings = field(default_factory=MediaSettings)
    source: Path | None = None


def profile() -> CityProfile:
    """The profile in use: ``GRIDGOV_CITY_PROFILE`` if set, else ``data/city.toml`` (cached)."""
    return load_profile(os.environ.get(ENV_VAR) or None)


def time_zone() -> ZoneInfo:
    """The city's time zone (local time of case numbers, working hours, daily rollups)."""
    return profile().time_zone


@functools.lru_cache(maxsize=8)
def load_profile(path: str | Path | None = None) -> CityProfile:
    """Read and check a city profile (cached per path).

    Parameters
    ----------
    path
        A TOML file; default ``data/city.toml``.

    Raises
    ------
    ProfileError
        The file is missing or not TOML, a key is unknown, missing or has a bad value.
    """
    file = Path(path) if path else DEFAULT_PATH
    try:
        raw = tomllib.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ProfileError(f"city profile {file}: cannot read it ({exc.strerror})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"city profile {file}: not valid TOML: {exc}") from exc
    return _parse(raw, file)


_TOP = {"name_zh", "name_en", "admin_code", "time_zone", "grid", "tiles", "media"}
_SECTIONS = {
    "grid": {"target", "low", "high"},
    "tiles": {"centre", "zoom", "max_zoom", "url", "attribution"},
    "media": {"max_photo_mb"},
}


def _parse(raw: dict[str, Any], file: Path) -> CityProfile:
    def fail(key: str, why: str) -> ProfileError:
        return ProfileError(f"city profile {file}: {key}: {why}")

    if unknown := sorted(set(raw) - _TOP):
        raise fail(unknown[0], f"unknown key (known: {', '.join(sorted(_TOP))})")
    for key in ("name_zh", "name_en", "admin_code", "time_zone", "grid"):
        if key not in raw:
            raise fail(key, "missing")
    sections: dict[str, dict[str, Any]] = {}
    for name, known in _SECTIONS.items():
        section = raw.get(name, {})
        if not isinstance(section, dict):
            raise fail(name, "must be a table ([" + name + "])")
        if unknown := sorted(set(section) - known):
            raise fail(f"{name}.{unknown[0]}", f"unknown key (known: {', '.join(sorted(known))})")
        sections[name] = section
    for key in ("name_zh", "name_en"):
        if not isinstance(raw[key], str) or not raw[key].strip():
            raise fail(key, "must be a non-empty text")
    admin = raw["admin_code"]
    if not (isinstance(admin, str) and re.fullmatch(rf"[0-9]{{{CODES.area}}}", admin)):
        raise fail("admin_code", f"must be {CODES.area} digits in quotes, got {admin!r}")
    return CityProfile(
        name_zh=raw["name_zh"],
        name_en=raw["name_en"],
        admin_code=admin,
        time_zone=_zone(raw["time_zone"], fail),
        grid=_grid(sections["grid"], fail),
        tiles=_tiles(sections["tiles"], fail),
        media=_media(sections["media"], fail),
        source=file,
    )


def _zone(value: object, fail: Any) -> ZoneInfo:
    if not isinstance(value, str) or not value:
        raise fail("time_zone", f"must be an IANA time zone name, got {value!r}")
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise fail("time_zone", f"{value!r} is not a known IANA time zone") from exc


def _whole(section: str, key: str, value: object, fail: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise fail(f"{section}.{key}", f"must be a whole number, got {value!r}")
    return value


def _grid(section: dict[str, Any], fail: Any) -> GridSize:
    for key in ("target", "low", "high"):
        if key not in section:
            raise fail(f"grid.{key}", "missing")
    numbers = {k: _whole("grid", k, section[k], fail) for k in ("target", "low", "high")}
    try:
        return GridSize(**numbers)
    except GridSizeError as exc:
        raise fail("grid", str(exc)) from exc


def _tiles(section: dict[str, Any], fail: Any) -> TileSettings:
    default = TileSettings()
    centre = section.get("centre", list(default.centre))
    if not (
        isinstance(centre, list)
        and len(centre) == 2
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in centre)
        and -90 <= centre[0] <= 90
        and -180 <= centre[1] <= 180
    ):
        raise fail("tiles.centre", f"must be [latitude, longitude] in degrees, got {centre!r}")
    zoom = _whole("tiles", "zoom", section.get("zoom", default.zoom), fail)
    max_zoom = _whole("tiles", "max_zoom", section.get("max_zoom", default.max_zoom), fail)
    if not 0 <= zoom <= max_zoom <= 22:
        raise fail("tiles.zoom", f"must satisfy 0 ≤ zoom ≤ max_zoom ≤ 22, got {zoom}, {max_zoom}")
    texts = {}
    for key in ("url", "attribution"):
        value = section.get(key, getattr(default, key))
        if not isinstance(value, str):
            raise fail(f"tiles.{key}", f"must be a text, got {value!r}")
        texts[key] = value
    if texts["url"] and not re.match(r"^https?://", texts["url"]):
        raise fail("tiles.url", f"must start with http:// or https://, got {texts['url']!r}")
    return TileSettings((float(centre[0]), float(centre[1])), zoom, max_zoom, **texts)


def _media(section: dict[str, Any], fail: Any) -> MediaSettings:
    mb = section.get("max_photo_mb", 10)
    if isinstance(mb, bool) or not isinstance(mb, int | float) or not 0 < mb <= 100:
        raise fail("media.max_photo_mb", f"must be a number of megabytes in (0, 100], got {mb!r}")
    return MediaSettings(max_photo_bytes=int(mb * 1024 * 1024))
