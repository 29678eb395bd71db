"""The demo street's geography: outline, communities, roads, buildings, grids.

Everything is generated in a local metric CRS (UTM 51N around Suzhou, China)
from one seed, so the same seed always gives the same district.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely
from shapely import affinity

from city import profile
from gis.demo.names import COMMUNITY_NAMES

AREA_CODE = profile().admin_code  # the city profile's area: the first 6 digits of every code
STREET_CODE = AREA_CODE + "001"
STREET_NAME = ("平江街道", "Pingjiang Street")
ORIGIN_LONLAT = (120.630, 31.315)


@dataclass
class Geography:
    """Metric geometry and attributes of the demo street (EPSG ``epsg``)."""

    epsg: int
    street: shapely.Geometry
    communities: pd.DataFrame  # code, name_zh, name_en, geometry, office
    roads: pd.DataFrame  # road_class, name_zh, name_en, geometry
    buildings: pd.DataFrame  # building_id, community_idx, households, floors, x, y, footprint


def make_geography(
    rng: np.random.Generator,
    households: int,
    n_communities: int,
    epsg: int,
    origin_xy: tuple[float, float],
) -> Geography:
    """Generate the street outline, communities, roads and buildings."""
    # about 200 m² of street per household: 50,000 households -> ~10 km²
    radius = np.sqrt(households * 200 / np.pi)
    street = _street_outline(rng, origin_xy, radius)
    community_polys = _communities(rng, street, n_communities)
    majors = _major_roads(community_polys, street)
    minors = _minor_roads(rng, community_polys)
    communities = pd.DataFrame(
        {
            "code": [f"{STREET_CODE}{i + 1:03d}" for i in range(n_communities)],
            "name_zh": [COMMUNITY_NAMES[i % len(COMMUNITY_NAMES)][0] for i in range(n_communities)],
            "name_en": [COMMUNITY_NAMES[i % len(COMMUNITY_NAMES)][1] for i in range(n_communities)],
            "geometry": community_polys,
        }
    )
    roads = pd.concat([majors, minors], ignore_index=True)
    buildings = _buildings(rng, communities, roads, households)
    communities["office"] = _offices(communities, buildings)
    return Geography(epsg, street, communities, roads, buildings)


def _street_outline(
    rng: np.random.Generator, origin: tuple[float, float], radius: float
) -> shapely.Geometry:
    angles = np.linspace(0, 2 * np.pi, 48, endpoint=False)
    wobble = 1 + 0.12 * np.sin(3 * angles + rng.uniform(0, 6)) + rng.normal(0, 0.02, angles.size)
    xs = origin[0] + 1.25 * radius * wobble * np.cos(angles)
    ys = origin[1] + 0.8 * radius * wobble * np.sin(angles)
    return shapely.Polygon(np.column_stack([xs, ys])).buffer(0)


def _communities(
    rng: np.random.Generator, street: shapely.Geometry, n: int
) -> list[shapely.Geometry]:
    """Voronoi cells of ``n`` seeds relaxed by Lloyd's algorithm, clipped to the street."""
    minx, miny, maxx, maxy = street.bounds
    seeds: list[shapely.Point] = []
    while len(seeds) < n:
        p = shapely.Point(rng.uniform(minx, maxx), rng.uniform(miny, maxy))
        if street.contains(p):
            seeds.append(p)
    for _ in range(6):
        cells = _voronoi_cells(seeds, street)
        seeds = [cell.centroid for cell in cells]
    return [_largest_polygon(c) for c in _voronoi_cells(seeds, street)]


def _voronoi_cells(seeds: list[shapely.Point], clip: shapely.Geometry) -> list[shapely.Geometry]:
    diagram = shapely.voronoi_polygons(
        shapely.MultiPoint(seeds), extend_to=clip.envelope.buffer(500)
    )
    cells = list(diagram.geoms)
    # voronoi_polygons does not keep input order: match each cell to its seed
    ordered = []
    for seed in seeds:
        cell = next(c for c in cells if c.contains(seed))
        ordered.append(shapely.intersection(cell, clip))
    return ordered


def _largest_polygon(geom: shapely.Geometry) -> shapely.Geometry:
    if geom.geom_type == "Polygon":
        return geom
    return max(geom.geoms, key=lambda g: g.area)


def _major_roads(communities: list[shapely.Geometry], street: shapely.Geometry) -> pd.DataFrame:
    """Major roads run along community boundaries and the street's outline."""
    boundaries = shapely.union_all([c.boundary for c in communities] + [street.boundary])
    merged = shapely.line_merge(boundaries)
    lines = list(merged.geoms) if hasattr(merged, "geoms") else [merged]
    lines = [line for line in lines if line.length > 30]
    names = [(f"干道{i + 1}号路", f"Arterial Road {i + 1}") for i in range(len(lines))]
    return pd.DataFrame(
        {
            "road_class": "major",
            "name_zh": [n[0] for n in names],
            "name_en": [n[1] for n in names],
            "geometry": lines,
        }
    )


def _minor_roads(rng: np.random.Generator, communities: list[shapely.Geometry]) -> pd.DataFrame:
    """A rotated lattice of lanes every ~140 m inside each community."""
    rows = []
    for ci, poly in enumerate(communities):
        angle = rng.uniform(-25, 25)
        centre = poly.centroid
        minx, miny, maxx, maxy = affinity.rotate(poly, -angle, origin=centre).bounds
        spacing = rng.uniform(120, 160)
        lines = [
            shapely.LineString([(x, miny), (x, maxy)])
            for x in np.arange(minx + spacing / 2, maxx, spacing)
        ]
        lines += [
            shapely.LineString([(minx, y), (maxx, y)])
            for y in np.arange(miny + spacing / 2, maxy, spacing)
        ]
        for k, line in enumerate(lines):
            clipped = shapely.intersection(
                affinity.rotate(line, angle, origin=centre), poly.buffer(-12)
            )
            for part in getattr(clipped, "geoms", [clipped]):
                if part.geom_type == "LineString" and part.length > 40:
                    rows.append((f"{ci + 1}区{k + 1}巷", f"Lane {ci + 1}-{k + 1}", part))
    return pd.DataFrame(
        {
            "road_class": "minor",
            "name_zh": [r[0] for r in rows],
            "name_en": [r[1] for r in rows],
            "geometry": [r[2] for r in rows],
        }
    )


def _buildings(
    rng: np.random.Generator, communities: pd.DataFrame, roads: pd.DataFrame, households: int
) -> pd.DataFrame:
    """Buildings on a jittered lattice away from roads, households summing to ``households``."""
    road_zone = shapely.union_all(shapely.buffer(roads.geometry.to_numpy(), 14))
    frames = []
    totals = _split_total(households, rng.dirichlet(np.full(len(communities), 12.0)))
    for ci, poly in enumerate(communities.geometry):
        minx, miny, maxx, maxy = poly.bounds
        gx, gy = np.meshgrid(np.arange(minx, maxx, 42.0), np.arange(miny, maxy, 42.0))
        xs = gx.ravel() + rng.normal(0, 5, gx.size)
        ys = gy.ravel() + rng.normal(0, 5, gy.size)
        pts = shapely.points(xs, ys)
        inside = shapely.contains(poly.buffer(-10), pts) & ~shapely.contains(road_zone, pts)
        xs, ys = xs[inside], ys[inside]
        keep = rng.random(xs.size) < 0.55  # leave room for schools, parks, shops
        xs, ys = xs[keep], ys[keep]
        frames.append(
            pd.DataFrame(
                {
                    "community_idx": ci,
                    "x": xs,
                    "y": ys,
                    "households": _household_counts(rng, xs.size, int(totals[ci])),
                }
            )
        )
    buildings = pd.concat(frames, ignore_index=True)
    buildings = buildings[buildings.households > 0].reset_index(drop=True)
    buildings["building_id"] = np.arange(1, len(buildings) + 1)
    buildings["floors"] = np.clip((buildings.households / 4).round().astype(int), 1, 33)
    buildings["footprint"] = _footprints(rng, buildings)
    return buildings


def _split_total(total: int, shares: np.ndarray) -> np.ndarray:
    """Integers proportional to ``shares`` that add up to ``total`` (largest remainder)."""
    raw = total * shares / shares.sum()
    out = np.floor(raw).astype(int)
    out[np.argsort(out - raw)[: total - out.sum()]] += 1
    return out


def _household_counts(rng: np.random.Generator, n: int, total: int) -> np.ndarray:
    """Mostly walk-ups and mid-rise blocks, a few towers; exact community total."""
    if n == 0:
        return np.zeros(0, dtype=int)
    kind = rng.choice(3, size=n, p=[0.55, 0.42, 0.03])
    raw = np.where(
        kind == 0,
        rng.uniform(6, 36, n),
        np.where(kind == 1, rng.uniform(36, 120, n), rng.uniform(500, 640, n)),
    )
    return _split_total(total, raw)


def _footprints(rng: np.random.Generator, buildings: pd.DataFrame) -> np.ndarray:
    n = len(buildings)
    width = np.clip(10 + buildings.floors.to_numpy() * 0.3, 10, 22)
    length = rng.uniform(24, 38, n)
    boxes = shapely.box(-length / 2, -width / 2, length / 2, width / 2)
    angles = rng.normal(0, 8, n)
    return np.array(
        [
            affinity.translate(affinity.rotate(b, a, origin=(0, 0)), x, y)
            for b, a, x, y in zip(boxes, angles, buildings.x, buildings.y, strict=True)
        ],
        dtype=object,
    )


def _offices(communities: pd.DataFrame, buildings: pd.DataFrame) -> list[shapely.Point]:
    """Each community's office sits beside the building nearest its centre."""
    offices = []
    for ci, poly in enumerate(communities.geometry):
        own = buildings[buildings.community_idx == ci]
        c = poly.centroid
        nearest = ((own.x - c.x) ** 2 + (own.y - c.y) ** 2).idxmin()
        offices.append(shapely.Point(own.x[nearest] + 12, own.y[nearest]))
    return offices
