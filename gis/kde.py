"""Kernel density of cases: a smooth surface where hexagon counts read too blocky.

The surface is the classic *binned* kernel density estimate: the weighted
points are binned on a regular raster whose cells are a fraction of the
bandwidth, and the bins (linear binning) are convolved with the kernel by FFT (scipy). That is
O(pixels · log pixels) whatever the number of points, so a district's million
cases (or their rollup to H3 r9 centres) cost the same as a thousand. The
kernel is the quartic (biweight) kernel that GIS packages use for hotspot
maps (ArcGIS *Kernel Density*, QGIS *Heatmap*), or a Gaussian.

Units: the surface is a density per km² of the weights (cases per km²), so
it integrates to the total weight (except what the kernel spreads beyond the
raster's edge, which is padded by one bandwidth to keep that small).

Contours for maps and QGIS come from ``contourpy`` (matplotlib's contouring
engine) as filled bands between levels.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import contourpy
import geopandas as gpd
import h3.api.basic_int as h3
import numpy as np
import shapely
from scipy.signal import fftconvolve

from gis.crs import WGS84, to_metric, to_wgs84, utm_epsg

if TYPE_CHECKING:
    import pandas as pd

KERNELS = ("quartic", "gaussian")
MAX_PIXELS = 4_000_000


class KdeError(ValueError):
    """Input that cannot give a density surface (the message says why)."""


@dataclass(frozen=True)
class Surface:
    """A density raster: ``density[row, col]`` at the centre of pixel (row, col).

    Row 0 is the southern edge (y grows with the row); ``x0``/``y0`` are the
    centre of pixel (0, 0), ``cell`` the pixel size in metres.
    """

    density: np.ndarray
    x0: float
    y0: float
    cell: float
    bandwidth: float
    kernel: str
    total_weight: float

    @property
    def xs(self) -> np.ndarray:
        return self.x0 + self.cell * np.arange(self.density.shape[1])

    @property
    def ys(self) -> np.ndarray:
        return self.y0 + self.cell * np.arange(self.density.shape[0])

    def integral(self) -> float:
        """The surface integrated over the raster (≈ total weight), in weight units."""
        return float(self.density.sum() * (self.cell / 1000.0) ** 2)


def default_bandwidth(x: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Silverman-style search radius for 2-D points, in metres (as ArcGIS *Kernel Density*).

    ``0.9 · min(SD, √(1/ln 2) · Dm) · n^-0.2`` with SD the weighted standard
    distance, Dm the weighted median distance to the weighted mean centre and
    n the total weight (at least 2).
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    w = np.ones_like(x) if weights is None else np.asarray(weights, float)
    total = float(w.sum())
    if x.size == 0 or total <= 0:
        raise KdeError("no points with positive weight: a bandwidth cannot be estimated")
    mx, my = np.average(x, weights=w), np.average(y, weights=w)
    d2 = (x - mx) ** 2 + (y - my) ** 2
    sd = float(np.sqrt(np.average(d2, weights=w)))
    d = np.sqrt(d2)
    order = np.argsort(d)
    cum = np.cumsum(w[order])
    dm = float(d[order][np.searchsorted(cum, total / 2)])
    spread = min(sd, np.sqrt(1 / np.log(2)) * dm) if dm > 0 else sd
    return max(0.9 * spread * max(total, 2.0) ** -0.2, 1.0)


def _kernel(bandwidth: float, cell: float, kernel: str) -> np.ndarray:
    """The kernel sampled on the raster, normalised to integrate to 1 (per m²)."""
    reach = bandwidth if kernel == "quartic" else 4 * bandwidth
    r = int(np.ceil(reach / cell))
    off = cell * np.arange(-r, r + 1)
    d2 = off[None, :] ** 2 + off[:, None] ** 2
    if kernel == "quartic":
        k = np.where(d2 < bandwidth**2, (1 - d2 / bandwidth**2) ** 2, 0.0)
    else:
        k = np.exp(-d2 / (2 * bandwidth**2))
    return k / (k.sum() * cell * cell)


def density_surface(
    x: np.ndarray,
    y: np.ndarray,
    weights: np.ndarray | None = None,
    *,
    bandwidth: float | None = None,
    cell: float | None = None,
    bounds: tuple[float, float, float, float] | None = None,
    kernel: str = "quartic",
) -> Surface:
    """Kernel density of weighted points in a metric CRS.

    Parameters
    ----------
    x, y
        Point coordinates in metres (a projected CRS).
    weights
        Non-negative weights (e.g. cases per H3 cell centre); default 1 each.
    bandwidth
        Search radius in metres (quartic: the kernel's support; Gaussian: its
        standard deviation). Default :func:`default_bandwidth`.
    cell
        Pixel size in metres; default a fifth of the bandwidth (the binning error
        is then far below what the eye sees), made coarser if the raster would
        exceed 4 million pixels.
    bounds
        (xmin, ymin, xmax, ymax) of the raster; default the points' extent.
        Either way the raster is padded by the kernel's reach.
    kernel
        ``"quartic"`` (default) or ``"gaussian"``.

    Raises
    ------
    KdeError
        Unknown kernel, non-positive bandwidth or cell, negative or non-finite
        weights, points with non-finite coordinates, or no weight at all.
    """
    if kernel not in KERNELS:
        raise KdeError(f"kernel {kernel!r} is not one of {', '.join(KERNELS)}")
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.shape != y.shape:
        raise KdeError(f"x has {x.size} values but y has {y.size}")
    w = np.ones_like(x) if weights is None else np.asarray(weights, float)
    if w.shape != x.shape:
        raise KdeError(f"{w.size} weights for {x.size} points")
    bad = ~(np.isfinite(x) & np.isfinite(y))
    if bad.any():
        raise KdeError(
            f"{int(bad.sum())} points without finite coordinates (first: #{bad.argmax()})"
        )
    if (~np.isfinite(w) | (w < 0)).any():
        first = int(np.argmax(~np.isfinite(w) | (w < 0)))
        raise KdeError(f"weights must be finite and non-negative; point #{first} has {w[first]}")
    total = float(w.sum())
    if total <= 0:
        raise KdeError("no points with positive weight: nothing to smooth")
    h = default_bandwidth(x, y, w) if bandwidth is None else float(bandwidth)
    if not h > 0:
        raise KdeError(f"bandwidth must be positive, got {bandwidth}")
    px = h / 5 if cell is None else float(cell)
    if not px > 0:
        raise KdeError(f"cell must be positive, got {cell}")
    reach = h if kernel == "quartic" else 4 * h
    xmin, ymin, xmax, ymax = (
        (x.min(), y.min(), x.max(), y.max()) if bounds is None else map(float, bounds)
    )
    xmin, ymin, xmax, ymax = xmin - reach, ymin - reach, xmax + reach, ymax + reach
    while ((xmax - xmin) / px + 1) * ((ymax - ymin) / px + 1) > MAX_PIXELS:
        px *= 1.5
    ncol = int(np.ceil((xmax - xmin) / px)) + 1
    nrow = int(np.ceil((ymax - ymin) / px)) + 1
    # linear binning: each point's weight is shared by the four pixel centres around it
    # (bilinear weights), which keeps the binning error an order below nearest-pixel binning
    fx, fy = (x - xmin) / px, (y - ymin) / px
    c0, r0 = np.floor(fx).astype(np.int64), np.floor(fy).astype(np.int64)
    tx, ty = fx - c0, fy - r0
    bins = np.zeros(nrow * ncol)
    for dc, dr, share in (
        (0, 0, (1 - tx) * (1 - ty)),
        (1, 0, tx * (1 - ty)),
        (0, 1, (1 - tx) * ty),
        (1, 1, tx * ty),
    ):
        c, r = c0 + dc, r0 + dr
        inside = (c >= 0) & (c < ncol) & (r >= 0) & (r < nrow)
        bins += np.bincount(
            r[inside] * ncol + c[inside], weights=(w * share)[inside], minlength=nrow * ncol
        )
    grid = bins.reshape(nrow, ncol)
    density = fftconvolve(grid, _kernel(h, px, kernel), mode="same")
    density = np.clip(density, 0.0, None) * 1e6  # per m² → per km² (FFT noise clipped)
    return Surface(density, xmin, ymin, px, h, kernel, total)


def _polygonal(geom: shapely.Geometry) -> shapely.MultiPolygon:
    """The polygons of ``geom`` as one MultiPolygon (repair may leave stray lines)."""
    parts = shapely.get_parts(geom)
    polys = [p for g in parts for p in shapely.get_parts(g) if p.geom_type == "Polygon"]
    return shapely.MultiPolygon(polys)


def density_bands(
    surface: Surface, levels: int | np.ndarray = 6, *, crs: object | None = None
) -> gpd.GeoDataFrame:
    """Filled contour bands of a surface: one (Multi)Polygon per band.

    ``levels``: the number of equal-interval bands between zero-ish (1 % of the
    peak, so that empty land stays empty) and the peak, or explicit band edges
    (density per km²). Columns: ``band`` (1 = lowest), ``lower``, ``upper``
    (density per km²), ``geometry`` in the surface's CRS (``crs`` to label it).
    """
    peak = float(surface.density.max())
    if np.ndim(levels) == 0:
        n = int(levels)  # type: ignore[arg-type]
        if n < 1:
            raise KdeError(f"levels must be at least 1, got {n}")
        edges = np.linspace(0.01 * peak, peak, n + 1) if peak > 0 else np.array([])
    else:
        edges = np.asarray(levels, float)
        if edges.size < 2 or np.any(np.diff(edges) <= 0):
            raise KdeError("levels must be at least two increasing band edges")
    rows = []
    if edges.size >= 2:
        gen = contourpy.contour_generator(
            surface.xs, surface.ys, surface.density, fill_type=contourpy.FillType.OuterOffset
        )
        for i, (lo, hi) in enumerate(itertools.pairwise(edges)):
            # the top band is closed above, so the peak itself is inside it
            upper = hi if i < edges.size - 2 else max(hi, peak) * (1 + 1e-9) + 1e-12
            # fill type OuterOffset: (points per polygon, ring offsets per polygon)
            filled = cast(tuple[list[np.ndarray], list[np.ndarray]], gen.filled(lo, upper))
            polys, offsets = filled
            parts = []
            for pts, o in zip(polys, offsets, strict=True):
                rings = [pts[a:b] for a, b in itertools.pairwise(o)]
                parts.append(shapely.Polygon(rings[0], rings[1:]))
            geom = _polygonal(shapely.make_valid(shapely.MultiPolygon(parts))) if parts else None
            if geom is not None and not geom.is_empty:
                rows.append((i + 1, float(lo), float(hi), geom))
    return gpd.GeoDataFrame(
        rows or None, columns=["band", "lower", "upper", "geometry"], geometry="geometry", crs=crs
    )


def h3_density_bands(
    counts: pd.DataFrame,
    *,
    bandwidth: float | None = None,
    levels: int | np.ndarray = 6,
    kernel: str = "quartic",
) -> tuple[gpd.GeoDataFrame, Surface]:
    """Density bands (EPSG:4326) of counts per H3 cell (columns ``cell`` as int, ``n``).

    Each cell's count sits at the cell's centre; the surface is computed in the
    UTM zone of the cells' centre (metres) and the bands come back in WGS 84.
    The cells must be finer than the bandwidth (H3 r9 ≈ 174 m edge suits
    bandwidths from about 250 m): the default bandwidth is the data's
    (:func:`default_bandwidth`) but at least 1.5 average cell edges.
    """
    if counts.empty:
        raise KdeError("no cases in the window: nothing to smooth")
    cells = counts.cell.to_numpy(dtype=np.int64)
    lat, lon = np.array([h3.cell_to_latlng(int(c)) for c in cells]).T
    epsg = utm_epsg(float(np.median(lon)), float(np.median(lat)))
    x, y = to_metric(lon, lat, epsg)
    weights = counts.n.to_numpy(dtype=float)
    if bandwidth is None:
        # counts sit at cell centres: a radius under ~1.5 cell edges draws the hexagons
        edge = h3.average_hexagon_edge_length(h3.get_resolution(int(cells[0])), "m")
        bandwidth = max(default_bandwidth(x, y, weights), 1.5 * edge)
    surface = density_surface(x, y, weights, bandwidth=bandwidth, kernel=kernel)
    bands = density_bands(surface, levels)
    if not bands.empty:

        def back(coords: np.ndarray) -> np.ndarray:
            bx, by = to_wgs84(coords[:, 0], coords[:, 1], epsg)
            return np.column_stack([bx, by])

        bands = bands.set_geometry(shapely.transform(bands.geometry.to_numpy(), back))
    return bands.set_crs(WGS84, allow_override=True), surface
