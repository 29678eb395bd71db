"""Read source files (CSV, GeoJSON, GeoPackage, Parquet/GeoParquet) into one shape.

Every reader returns a :class:`SourceFrame`: the rows as they are in the file
(CSV columns as text, so that a quarantined row is stored exactly as read),
plus the geometry column of spatial formats as a shapely array and its CRS.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import shapely

from layers.ingest.errors import SourceReadError
from layers.ingest.mapping import Mapping

FORMATS = {
    ".csv": "csv",
    ".txt": "csv",
    ".gz": "csv",
    ".geojson": "geojson",
    ".json": "geojson",
    ".gpkg": "gpkg",
    ".parquet": "parquet",
    ".geoparquet": "parquet",
}
LAYER_COLUMN = "_layer"
"""Column added when several layers of one file are read (its value: the layer name)."""


@dataclass
class SourceFrame:
    """Rows of one source file.

    Attributes
    ----------
    frame
        The attribute columns, one row per source row, index 0..n-1.
    geometry
        Shapely geometries of a spatial format (None for plain tables).
    epsg
        EPSG code of ``geometry`` when the file declares one.
    path
        The file read.
    """

    frame: pd.DataFrame
    geometry: np.ndarray | None
    epsg: int | None
    path: Path

    def __len__(self) -> int:
        return len(self.frame)

    def take(self, index: np.ndarray, columns: list[str]) -> SourceFrame:
        """The rows at ``index`` of ``columns`` (no geometry), as a source of their own
        (index 0..len-1)."""
        frame = self.frame[columns].iloc[index].reset_index(drop=True)
        return SourceFrame(frame, None, self.epsg, self.path)

    def original_rows(self, index: np.ndarray) -> list[str]:
        """The rows at ``index`` as JSON objects (geometry as WKT), for the quarantine."""
        subset = self.frame.iloc[index]
        records = json.loads(
            subset.to_json(orient="records", date_format="iso", default_handler=str)
        )
        if self.geometry is not None:
            wkt = shapely.to_wkt(self.geometry[index], rounding_precision=-1)
            for record, text in zip(records, wkt, strict=True):
                record["geometry"] = text
        return [json.dumps(r, ensure_ascii=False) for r in records]


def source_format(path: Path, mapping: Mapping) -> str:
    """The format of ``path``: the mapping's ``format`` or the file suffix."""
    if mapping.format:
        return mapping.format.lower()
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise SourceReadError(
            f"{path}: cannot tell the format from the suffix {path.suffix!r}; "
            f"set 'format' in the mapping to one of {sorted(set(FORMATS.values()))}"
        )
    return fmt


def read_source(path: str | Path, mapping: Mapping) -> SourceFrame:
    """Read ``path`` as the mapping describes and check that its columns exist.

    Raises
    ------
    SourceReadError
        The file is missing or unreadable, or a mapped column is not in it.
    """
    path = Path(path)
    if not path.exists():
        raise SourceReadError(f"source file {path} does not exist")
    fmt = source_format(path, mapping)
    try:
        if fmt == "csv":
            result = _read_csv(path)
        elif fmt == "parquet":
            result = _read_parquet(path)
        elif fmt in ("geojson", "gpkg"):
            result = _read_vector(path, mapping.read_layers)
        else:
            raise SourceReadError(f"{path}: unsupported format {fmt!r}")
    except (OSError, pa.ArrowInvalid, ValueError) as exc:
        if isinstance(exc, SourceReadError):
            raise
        raise SourceReadError(f"{path}: cannot read as {fmt}: {exc}") from exc
    _check_columns(result, mapping)
    return result


def _read_csv(path: Path) -> SourceFrame:
    header = _csv_header(path)
    convert = pacsv.ConvertOptions(
        column_types=dict.fromkeys(header, pa.string()),
        strings_can_be_null=True,
    )
    try:
        table = pacsv.read_csv(path, convert_options=convert)
    except pa.ArrowInvalid:
        # quoted values with line breaks need the slower, newline-aware parser
        parse = pacsv.ParseOptions(newlines_in_values=True)
        table = pacsv.read_csv(path, convert_options=convert, parse_options=parse)
    frame = table.to_pandas()
    frame.index = pd.RangeIndex(len(frame))
    return SourceFrame(frame, None, None, path)


def _csv_header(path: Path) -> list[str]:
    """Column names of a CSV (first record; gzip is detected from the suffix)."""
    with pa.input_stream(str(path), compression="detect") as stream:
        head = stream.read(1 << 20).decode("utf-8-sig", errors="replace")
    return next(csv.reader(io.StringIO(head)))


def _read_parquet(path: Path) -> SourceFrame:
    metadata = pq.read_schema(path).metadata or {}
    if b"geo" in metadata:
        import geopandas as gpd

        gdf = gpd.read_parquet(path)
        return _from_geodataframe(gdf, path)
    frame = pd.read_parquet(path)
    frame.index = pd.RangeIndex(len(frame))
    return SourceFrame(frame, None, None, path)


def _read_vector(path: Path, layers: tuple[str, ...]) -> SourceFrame:
    import geopandas as gpd
    import pyogrio

    if not layers:
        return _from_geodataframe(pyogrio.read_dataframe(path), path)
    parts = []
    for layer in layers:
        gdf = pyogrio.read_dataframe(path, layer=layer)
        gdf[LAYER_COLUMN] = layer
        parts.append(gdf)
    crs = {str(p.crs) for p in parts}
    if len(crs) > 1:
        raise SourceReadError(f"{path}: layers {list(layers)} use different CRS {sorted(crs)}")
    return _from_geodataframe(gpd.GeoDataFrame(pd.concat(parts, ignore_index=True)), path)


def _from_geodataframe(gdf, path: Path) -> SourceFrame:  # type: ignore[no-untyped-def]
    epsg = gdf.crs.to_epsg() if gdf.crs is not None else None
    geometry = np.asarray(gdf.geometry.array, dtype=object)
    frame = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
    frame.index = pd.RangeIndex(len(frame))
    return SourceFrame(frame, geometry, epsg, path)


def _check_columns(source: SourceFrame, mapping: Mapping) -> None:
    present = set(source.frame.columns)
    for key, value in mapping.columns.items():
        for column in [value] if isinstance(value, str) else value:
            if column not in present:
                raise SourceReadError(
                    f"{source.path}: column {column!r} (mapped to {key}) is not in the file; "
                    f"it has {sorted(map(str, present))}"
                )
    if mapping.layer == "boundaries" and source.geometry is None:
        raise SourceReadError(f"{source.path}: boundaries need a spatial file (GeoJSON, GPKG)")
