"""Delineate San Francisco into grids of ~400 households and print the quality report.

Input (read from ``../shared/data``, or ``--data DIR``): the City's address points
(``sf_address_points/san_francisco_addresses.csv.gz``, OpenAddresses layout; households
= address rows at one location) inside SF Planning's 41 analysis neighbourhoods
(``sf_boundaries/sf-neighborhoods-analysis.geojson``, key ``nhood``). No barrier lines
are available for SF offline, so none are used. Geographic input: ``delineate`` works
in UTM 10N and returns WGS 84.

It prints the construction alone (before the refinement step) beside the refined
delineation; ``--check-redraw`` also runs a redraw right after the delineation (in UTM 10N),
which must keep every grid.

Run: ``uv run python scripts/delineate_sf.py [--out grids.gpkg] [--check-redraw]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import geopandas as gpd
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gis import partition
from gis.delineate import delineate
from gis.redraw import plan_replacement, propose_redraw

ROOT = Path(__file__).resolve().parent.parent


def load(data: Path) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """(locations with households, analysis neighbourhoods), both in EPSG:4326."""
    rows = pd.read_csv(
        data / "sf_address_points" / "san_francisco_addresses.csv.gz", usecols=["LON", "LAT"]
    )
    loc = rows.groupby(["LON", "LAT"], dropna=False).size().rename("households").reset_index()
    buildings = gpd.GeoDataFrame(
        loc[["households"]], geometry=gpd.points_from_xy(loc["LON"], loc["LAT"]), crs=4326
    )
    hoods = gpd.read_file(data / "sf_boundaries" / "sf-neighborhoods-analysis.geojson")
    return buildings, hoods.to_crs(4326)


def _share_without_towers(grids, low: int, high: int) -> tuple[float, int]:
    """Share of grids in range, leaving out single buildings over ``high`` (own grid)."""
    hh = grids["households"].to_numpy()
    lone = (grids["n_buildings"].to_numpy() == 1) & (hh > high)
    ok = (hh >= low) & (hh <= high)
    return float(ok[~lone].mean()), int(lone.sum())


def _check_redraw(buildings: gpd.GeoDataFrame, hoods: gpd.GeoDataFrame) -> None:
    """Delineate in a metre CRS, code the grids, redraw with the same data: count the actions."""
    b, h = buildings.to_crs(32610), hoods.to_crs(32610)
    h["code"] = [f"000000000{i + 1:03d}" for i in range(len(h))]  # 12-digit stand-in codes
    d = delineate(b, h, overlaps="trim")
    none = gpd.GeoDataFrame(
        {"code": pd.Series([], dtype=object), "households": pd.Series([], dtype=int)},
        geometry=gpd.GeoSeries([], crs=32610),
    )
    first = plan_replacement(none, d)
    t0 = time.perf_counter()
    again = propose_redraw(first.grids[["code", "households", "geometry"]], b, h)
    print(
        f"redraw right after the delineation ({time.perf_counter() - t0:.1f} s): "
        + ", ".join(f"{k} {v}" for k, v in again.counts().items())
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--out", type=Path, help="write the grids to this GeoPackage")
    ap.add_argument(
        "--check-redraw",
        action="store_true",
        help="also delineate in UTM 10N and run a redraw right after it (it must change nothing)",
    )
    args = ap.parse_args()
    if not (args.data / "sf_address_points").exists():
        sys.exit(f"no SF data under {args.data} (see /work/shared/data/README.md)")

    t0 = time.perf_counter()
    buildings, hoods = load(args.data)
    load_s = time.perf_counter() - t0
    print(
        f"SF: {int(buildings['households'].sum()):,} address rows at {len(buildings):,} "
        f"locations, {len(hoods)} analysis neighbourhoods (loaded in {load_s:.1f} s)"
    )
    # the published neighbourhoods overlap in places (up to ~3,000 m²): trim and report
    partition.REFINE = False
    t0 = time.perf_counter()
    before = delineate(buildings, hoods, community_key="nhood", overlaps="trim")
    before_s = time.perf_counter() - t0
    partition.REFINE = True
    t0 = time.perf_counter()
    result = delineate(buildings, hoods, community_key="nhood", overlaps="trim")
    print(f"delineate: {time.perf_counter() - t0:.1f} s")
    print(result.report.to_text())
    for name, d, s in (
        ("construction only (before the refinement)", before, before_s),
        ("delineate (refined)", result, time.perf_counter() - t0),
    ):
        share, n_towers = _share_without_towers(d.grids, d.report.low, d.report.high)
        print(
            f"{name}: {s:.1f} s, {len(d.grids)} grids, {share:.1%} of the grids that are not "
            f"single-building towers ({n_towers}) in {d.report.low}–{d.report.high}"
        )
    if len(result.set_aside):
        sample = result.set_aside.head(5)
        print("set aside, first rows:")
        for row, reason in zip(sample["row"], sample["reason"], strict=True):
            g = buildings.geometry.loc[row]
            print(f"  location {row} ({g.x:.6f}, {g.y:.6f}): {reason}")
    if args.check_redraw:
        _check_redraw(buildings, hoods)
    if args.out:
        result.grids.to_file(args.out, driver="GPKG")
        print(f"grids written to {args.out}")


if __name__ == "__main__":
    main()
