"""Public facilities (parts) of the demo street, placed along roads and by buildings."""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely

from gis.demo.geography import AREA_CODE, Geography

# service_code -> (share of all parts, where it stands)
PART_MIX: dict[str, tuple[float, str]] = {
    "P0208": (0.26, "road"),  # street lights
    "P0101": (0.05, "road"),
    "P0102": (0.08, "road"),
    "P0103": (0.08, "road"),
    "P0104": (0.07, "road"),
    "P0105": (0.04, "road"),
    "P0107": (0.04, "road"),
    "P0111": (0.03, "road"),
    "P0113": (0.01, "road"),
    "P0114": (0.03, "road"),  # hydrants
    "P0115": (0.015, "building"),
    "P0118": (0.02, "road"),
    "P0202": (0.01, "major"),
    "P0203": (0.02, "road"),
    "P0204": (0.01, "major"),
    "P0205": (0.02, "major"),
    "P0207": (0.01, "road"),
    "P0301": (0.004, "building"),
    "P0302": (0.015, "building"),
    "P0303": (0.12, "building"),
    "P0402": (0.10, "major"),
    "P0403": (0.02, "major"),
    "P0404": (0.01, "building"),
    "P0601": (0.006, "building"),
    "P0602": (0.005, "major"),
}

STATUS_MIX = {"intact": 0.92, "damaged": 0.05, "lost": 0.015, "abandoned": 0.01, "removed": 0.005}


def make_parts(
    rng: np.random.Generator, geo: Geography, n_parts: int, survey_year: int
) -> pd.DataFrame:
    """``n_parts`` parts across the catalogue with 16-digit old-style ID codes.

    Returns columns: part_code, service_code, status, survey_date, x, y.
    """
    codes = np.array(list(PART_MIX))
    shares = np.array([PART_MIX[c][0] for c in codes])
    counts = rng.multinomial(n_parts, shares / shares.sum())
    frames = []
    for code, count in zip(codes, counts, strict=True):
        where = PART_MIX[code][1]
        x, y = (
            _near_buildings(rng, geo, count)
            if where == "building"
            else _along_roads(rng, geo, count, major_only=where == "major")
        )
        frames.append(pd.DataFrame({"service_code": code, "x": x, "y": y}))
    parts = pd.concat(frames, ignore_index=True)
    serial = parts.groupby("service_code").cumcount() + 1
    parts["part_code"] = AREA_CODE + parts.service_code.str[1:] + serial.map("{:06d}".format)
    statuses = list(STATUS_MIX)
    parts["status"] = rng.choice(statuses, len(parts), p=list(STATUS_MIX.values()))
    day = rng.integers(0, 365, len(parts))
    parts["survey_date"] = pd.Timestamp(f"{survey_year}-01-01") + pd.to_timedelta(day, unit="D")
    return parts


def _along_roads(
    rng: np.random.Generator, geo: Geography, n: int, major_only: bool
) -> tuple[np.ndarray, np.ndarray]:
    roads = geo.roads[geo.roads.road_class == "major"] if major_only else geo.roads
    lines = roads.geometry.to_numpy()
    lengths = shapely.length(lines)
    pick = rng.choice(len(lines), n, p=lengths / lengths.sum())
    along = rng.random(n) * lengths[pick]
    pts = shapely.line_interpolate_point(lines[pick], along)
    # step off the centre line onto the pavement, 4-9 m to either side
    ahead = shapely.line_interpolate_point(lines[pick], np.minimum(along + 1, lengths[pick]))
    dx = shapely.get_x(ahead) - shapely.get_x(pts)
    dy = shapely.get_y(ahead) - shapely.get_y(pts)
    norm = np.hypot(dx, dy) + 1e-9
    side = rng.choice([-1, 1], n) * rng.uniform(4, 9, n)
    return shapely.get_x(pts) - dy / norm * side, shapely.get_y(pts) + dx / norm * side


def _near_buildings(
    rng: np.random.Generator, geo: Geography, n: int
) -> tuple[np.ndarray, np.ndarray]:
    b = geo.buildings
    pick = rng.choice(len(b), n, p=b.households / b.households.sum())
    angle = rng.uniform(0, 2 * np.pi, n)
    dist = rng.uniform(15, 25, n)
    return b.x.to_numpy()[pick] + dist * np.cos(angle), b.y.to_numpy()[pick] + dist * np.sin(angle)
