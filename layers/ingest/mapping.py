"""Mapping files (YAML): which column is what, category and status tables, time zone, datum.

A mapping file describes one kind of source file, e.g. the San Francisco 311
export in the BigQuery layout::

    layer: cases              # cases | parts | buildings | boundaries
    source: sf311             # source system: with the source id, the natural key
    timezone: UTC             # zone of times written without an offset
    datum: wgs84              # wgs84 | gcj02 | bd09 (consumer map datums, converted on entry)
    crs: 4326                 # EPSG code of the coordinates (a projected CRS is converted)
    columns:
      source_id: unique_key
      lon: longitude
      lat: latitude
      category: category
      reported_at: created_date
      closed_at: closed_date
      status: status
      description: [complaint_type, descriptor]   # several columns are joined
    categories: {Graffiti: E0202, Streetlights: P0208}
    default_category: null    # a catch-all code, or null: unmapped -> quarantined
    statuses: {Open: dispatched, Closed: closed}

See ``docs/ingest.md`` for every key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from city import is_street_code
from gis.datum import Datum, DatumError, parse_datum
from layers.ingest.errors import MappingError
from layers.workflow.states import STATUSES

LAYERS = ("cases", "parts", "buildings", "boundaries")
LEVELS = ("community", "street", "district")
"""Levels of a boundaries file: what each row is (its parent is the next level up)."""

COLUMN_KEYS: dict[str, tuple[str, ...]] = {
    "cases": (
        "source_id",
        "lon",
        "lat",
        "point",
        "category",
        "reported_at",
        "closed_at",
        "status",
        "description",
        "address",
        "channel",
        "reporter_name",
        "reporter_phone",
    ),
    "parts": (
        "source_id",
        "lon",
        "lat",
        "point",
        "category",
        "status",
        "survey_date",
        "maintainer",
    ),
    "buildings": ("source_id", "lon", "lat", "point", "households", "floors", "address"),
    "boundaries": ("name", "name_en", "code", "parent", "street", "district"),
}
REQUIRED: dict[str, tuple[str, ...]] = {
    "cases": ("source_id", "reported_at"),
    "parts": ("source_id",),
    "buildings": ("source_id",),
    "boundaries": ("name",),
}
CASE_SOURCES = ("patrol", "hotline", "app", "web", "sensor", "leader", "import")
CASE_STATUSES = STATUSES  # the lifecycle's own list (layers.workflow.states)
PART_STATUSES = ("intact", "damaged", "lost", "abandoned", "removed")


@dataclass(frozen=True)
class Mapping:
    """A parsed, checked mapping file.

    Attributes
    ----------
    layer
        Target layer: ``cases``, ``parts``, ``buildings`` or ``boundaries``.
    source
        Source system name; (source, source id) is the natural key of a row.
    columns
        Field -> source column (or list of columns, joined with " / ").
    timezone
        IANA zone of times written without an offset.
    time_format
        ``strftime`` format of the times, or None for ISO 8601.
    datum, crs
        Datum of lon/lat coordinates, and EPSG code of the coordinates
        (4326 for lon/lat; a projected CRS is converted to 4326 on entry).
    """

    layer: str
    source: str
    columns: dict[str, str | list[str]]
    path: Path | None = None
    format: str | None = None
    read_layers: tuple[str, ...] = ()
    timezone: str = "UTC"
    time_format: str | None = None
    datum: Datum = Datum.WGS84
    crs: int = 4326
    categories: dict[str, str] = field(default_factory=dict)
    default_category: str | None = None
    statuses: dict[str, str] = field(default_factory=dict)
    default_status: str | None = None
    channels: dict[str, str] = field(default_factory=dict)
    default_channel: str = "import"
    default_households: int | None = None
    round_households: bool = False
    street: dict[str, str] = field(default_factory=dict)
    district: dict[str, str] = field(default_factory=dict)
    level: str = "community"
    max_repair_area_change: float = 0.01
    area_tolerance_m: float = 5.0
    clock_skew_s: float = 60.0

    def column(self, key: str) -> str | list[str] | None:
        """Source column(s) mapped to ``key``, or None."""
        return self.columns.get(key)

    @property
    def name(self) -> str:
        """The mapping's file name (or its source when built in memory)."""
        return self.path.name if self.path else self.source


def load_mapping(path: str | Path) -> Mapping:
    """Read and check a mapping file.

    Parameters
    ----------
    path
        A YAML mapping file.

    Returns
    -------
    Mapping

    Raises
    ------
    MappingError
        The file is missing, is not YAML, or a key is unknown or malformed; the
        message names the file and key.
    """
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise MappingError(f"mapping file {path} does not exist") from exc
    except yaml.YAMLError as exc:
        raise MappingError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise MappingError(f"{path}: a mapping file is a YAML dictionary")
    return mapping_from_dict(raw, path=path)


def mapping_from_dict(raw: dict[str, Any], *, path: Path | None = None) -> Mapping:
    """Build and check a :class:`Mapping` from its dictionary form (as in the YAML)."""
    where = str(path) if path else "mapping"
    known = {
        "layer",
        "source",
        "columns",
        "format",
        "read_layers",
        "timezone",
        "time_format",
        "datum",
        "crs",
        "categories",
        "default_category",
        "statuses",
        "default_status",
        "channels",
        "default_channel",
        "default_households",
        "round_households",
        "street",
        "district",
        "level",
        "max_repair_area_change",
        "area_tolerance_m",
        "clock_skew_s",
    }
    unknown = sorted(set(raw) - known)
    if unknown:
        raise MappingError(f"{where}: unknown key(s) {unknown}; known: {sorted(known)}")
    layer = raw.get("layer")
    if layer not in LAYERS:
        raise MappingError(f"{where}: 'layer' must be one of {list(LAYERS)}, not {layer!r}")
    source = str(raw.get("source") or "").strip()
    if not source:
        raise MappingError(f"{where}: 'source' (the source system name) is required")
    columns = _columns(raw.get("columns") or {}, layer, where)
    try:
        datum = parse_datum(str(raw.get("datum", "wgs84")))
    except DatumError as exc:
        raise MappingError(f"{where}: datum: {exc}") from exc
    mapping = Mapping(
        layer=layer,
        source=source,
        columns=columns,
        path=path,
        format=raw.get("format"),
        read_layers=tuple(raw.get("read_layers") or ()),
        timezone=str(raw.get("timezone", "UTC")),
        time_format=raw.get("time_format"),
        datum=datum,
        crs=_epsg(raw.get("crs", 4326), where),
        categories={str(k): str(v) for k, v in (raw.get("categories") or {}).items()},
        default_category=raw.get("default_category"),
        statuses={str(k): str(v) for k, v in (raw.get("statuses") or {}).items()},
        default_status=raw.get("default_status"),
        channels={str(k): str(v) for k, v in (raw.get("channels") or {}).items()},
        default_channel=str(raw.get("default_channel", "import")),
        default_households=raw.get("default_households"),
        round_households=bool(raw.get("round_households", False)),
        street={str(k): str(v) for k, v in (raw.get("street") or {}).items()},
        district={str(k): str(v) for k, v in (raw.get("district") or {}).items()},
        level=str(raw.get("level", "community")),
        max_repair_area_change=float(raw.get("max_repair_area_change", 0.01)),
        area_tolerance_m=_non_negative(raw, "area_tolerance_m", 5.0, where),
        clock_skew_s=_non_negative(raw, "clock_skew_s", 60.0, where),
    )
    _check_values(mapping, where)
    return mapping


def _columns(raw: dict[str, Any], layer: str, where: str) -> dict[str, str | list[str]]:
    if not isinstance(raw, dict):
        raise MappingError(f"{where}: 'columns' must map fields to source columns")
    allowed = COLUMN_KEYS[layer]
    unknown = sorted(set(raw) - set(allowed))
    if unknown:
        raise MappingError(
            f"{where}: columns: unknown field(s) {unknown} for layer {layer}; "
            f"known: {list(allowed)}"
        )
    columns: dict[str, str | list[str]] = {}
    for key, value in raw.items():
        if value is None:
            continue
        if isinstance(value, list):
            columns[key] = [str(v) for v in value]
        else:
            columns[key] = str(value)
    return columns


def _non_negative(raw: dict[str, Any], key: str, default: float, where: str) -> float:
    try:
        value = float(raw.get(key, default))
    except (TypeError, ValueError) as exc:
        raise MappingError(f"{where}: {key} must be a number, not {raw.get(key)!r}") from exc
    if not value >= 0:
        raise MappingError(f"{where}: {key} must be 0 or more, not {value}")
    return value


def _epsg(value: Any, where: str) -> int:
    text = str(value).strip().upper().removeprefix("EPSG:")
    if not text.isdigit():
        raise MappingError(
            f"{where}: crs must be an EPSG code like 4326 or EPSG:2227, not {value!r}"
        )
    return int(text)


def _check_values(m: Mapping, where: str) -> None:
    """Refuse a mapping whose values do not fit its layer (the first problem found)."""
    _check_columns(m, where)
    _check_codes(m, where)
    if m.layer == "boundaries":
        _check_street(m, where)
    if m.layer == "buildings" and "households" not in m.columns and m.default_households is None:
        raise MappingError(f"{where}: give columns.households or default_households")


def _check_columns(m: Mapping, where: str) -> None:
    """The layer's required columns, coordinates given one way, a category for cases/parts."""
    for key in REQUIRED[m.layer]:
        if key not in m.columns:
            raise MappingError(f"{where}: columns: '{key}' is required for layer {m.layer}")
    if m.layer in ("cases", "parts", "buildings"):
        has_xy = "lon" in m.columns and "lat" in m.columns
        if ("lon" in m.columns) != ("lat" in m.columns):
            raise MappingError(f"{where}: columns: give both 'lon' and 'lat', or neither")
        if has_xy and "point" in m.columns:
            raise MappingError(f"{where}: columns: give 'lon'/'lat' or 'point', not both")
    if m.layer in ("cases", "parts") and "category" not in m.columns and not m.default_category:
        raise MappingError(f"{where}: give columns.category or a default_category")


def _check_codes(m: Mapping, where: str) -> None:
    """Statuses and channels map to the codes GridGov knows."""
    for value, target in m.statuses.items():
        allowed = CASE_STATUSES if m.layer == "cases" else PART_STATUSES
        if target not in allowed:
            raise MappingError(
                f"{where}: statuses: {value!r} -> {target!r} is not one of {list(allowed)}"
            )
    for value, target in m.channels.items():
        if target not in CASE_SOURCES:
            raise MappingError(
                f"{where}: channels: {value!r} -> {target!r} is not one of {list(CASE_SOURCES)}"
            )
    if m.default_channel not in CASE_SOURCES:
        raise MappingError(f"{where}: default_channel must be one of {list(CASE_SOURCES)}")


def _check_street(m: Mapping, where: str) -> None:  # noqa: C901 (one check per key)
    """A boundaries mapping's level, and its fixed parent (street or district) when given.

    Communities need no ``street:`` when the file has a street column or the streets
    are loaded (then each community goes to the street it overlaps most).
    """
    if m.layer != "boundaries" and (m.street or m.district):
        raise MappingError(f"{where}: 'street' and 'district' are keys of boundaries mappings")
    if m.level not in LEVELS:
        raise MappingError(f"{where}: level must be one of {list(LEVELS)}, not {m.level!r}")
    if m.street:
        code = m.street.get("code", "")
        if not is_street_code(code):
            raise MappingError(f"{where}: street.code must be a 9-digit code, not {code!r}")
        if not m.street.get("name"):
            raise MappingError(f"{where}: street.name is required")
        if m.level != "community":
            raise MappingError(f"{where}: 'street' is the parent of communities, not of {m.level}")
    if m.district:
        code = m.district.get("code", "")
        if not (len(code) == 6 and code.isdigit()):
            raise MappingError(f"{where}: district.code must be a 6-digit code, not {code!r}")
        if not m.district.get("name"):
            raise MappingError(f"{where}: district.name is required")
        if m.level == "district":
            raise MappingError(f"{where}: a district file has no 'district' parent")
    if m.level == "district" and ("street" in m.columns or "district" in m.columns):
        raise MappingError(f"{where}: columns: a district file has no street or district column")
    if m.level == "street" and "street" in m.columns:
        raise MappingError(f"{where}: columns: a street file has no street column (use 'name')")
