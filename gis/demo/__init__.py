"""The demo district: one street of ~50,000 households, generated from a seed.

:func:`generate_district` is pure (no database): it returns plain tables in
WGS 84 that :mod:`layers.demo` bulk-loads. The same seed and ``as_of`` give the
same district, byte for byte.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely

from city import time_zone
from gis.assign import H3_RESOLUTIONS, assign_to_polygons, h3_cells
from gis.crs import to_metric, to_wgs84, utm_epsg
from gis.demo import cases as case_gen
from gis.demo import plants as plant_gen
from gis.demo.geography import (
    ORIGIN_LONLAT,
    STREET_CODE,
    STREET_NAME,
    Geography,
    make_geography,
)
from gis.demo.grids import demo_grids
from gis.demo.histories import limit_minutes, make_histories
from gis.demo.names import person_names, phone_numbers
from gis.demo.parts import make_parts
from gis.demo.patrols import make_patrols

LOCAL_TZ = time_zone().key


@dataclass
class DemoDistrict:
    """Tables of the demo district, geometry in WGS 84 (shapely objects or lon/lat)."""

    seed: int
    as_of: pd.Timestamp
    street: pd.DataFrame
    communities: pd.DataFrame
    roads: pd.DataFrame
    buildings: pd.DataFrame
    grids: pd.DataFrame
    workers: pd.DataFrame
    parts: pd.DataFrame
    cases: pd.DataFrame
    case_events: pd.DataFrame
    reporters: pd.DataFrame
    patrol_points: pd.DataFrame
    plants: plant_gen.Plants  # what was planted: for tests and docs, never loaded

    def counts(self) -> dict[str, int]:
        """Rows per table."""
        return {
            name: len(getattr(self, name))
            for name in (
                "street",
                "communities",
                "roads",
                "buildings",
                "grids",
                "workers",
                "parts",
                "cases",
                "case_events",
                "reporters",
                "patrol_points",
            )
        }


def generate_district(
    categories: pd.DataFrame,
    *,
    seed: int = 42,
    households: int = 50_000,
    n_communities: int = 10,
    n_parts: int = 5_000,
    n_cases: int = 110_000,
    as_of: pd.Timestamp | None = None,
    spare_workers: int = 5,
) -> DemoDistrict:
    """Generate the demo street.

    Parameters
    ----------
    categories
        The catalogue (service_code, name_zh, level, time_limit, time_unit,
        urgent_time_limit, full_loop, default_department).
    seed
        Seed of every random draw.
    as_of
        The moment the district is seen at (tz-aware); case histories stop
        there. Default: today 18:00 Beijing time.
    """
    rng = np.random.default_rng(seed)
    as_of = as_of or pd.Timestamp.now(tz=LOCAL_TZ).normalize() + pd.Timedelta(hours=18)
    epsg = utm_epsg(*ORIGIN_LONLAT)
    ox, oy = to_metric(np.array([ORIGIN_LONLAT[0]]), np.array([ORIGIN_LONLAT[1]]), epsg)
    geo = make_geography(rng, households, n_communities, epsg, (float(ox[0]), float(oy[0])))
    grids, grid_of_building = demo_grids(geo)
    workers = _workers(rng, grids, spare_workers)
    parts = make_parts(rng, geo, n_parts, as_of.year - 2)
    planted = _plant(rng, geo, grids, parts)
    scene = _Scene(geo, grids, workers, parts, categories, planted)
    cases, events, reporters = _cases(rng, scene, n=n_cases, as_of=as_of)
    week_start = as_of.normalize() - pd.Timedelta(days=as_of.day_of_week + 7)
    patrols = make_patrols(rng, geo.buildings, grid_of_building, planted.worker_of_grid, week_start)
    patrols["worker_code"] = workers.code.to_numpy()[patrols.worker_idx]
    worker_codes = workers.code.to_numpy()[planted.worker_of_grid]
    return DemoDistrict(
        plants=_record(planted, grids, parts, worker_codes),
        seed=seed,
        as_of=as_of,
        street=pd.DataFrame(
            {
                "code": [STREET_CODE],
                "name_zh": [STREET_NAME[0]],
                "name_en": [STREET_NAME[1]],
                "geometry": [_wgs(geo, geo.street)],
            }
        ),
        communities=_to_wgs(geo, geo.communities, ["geometry", "office"]),
        roads=_to_wgs(geo, geo.roads, ["geometry"]),
        buildings=_buildings_out(geo),
        grids=_to_wgs(geo, grids.assign(worker_code=worker_codes), ["geometry"]),
        workers=workers,
        parts=_lonlat(geo, _locate(geo, grids, parts)),
        cases=cases,
        case_events=events,
        reporters=reporters,
        patrol_points=_lonlat(geo, patrols.drop(columns="worker_idx")),
    )


def _wgs(geo: Geography, geom: shapely.Geometry) -> shapely.Geometry:
    return shapely.transform(geom, lambda c: np.column_stack(to_wgs84(c[:, 0], c[:, 1], geo.epsg)))


def _to_wgs(geo: Geography, frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    out = frame.copy()
    for column in columns:
        out[column] = shapely.transform(
            out[column].to_numpy(), lambda c: np.column_stack(to_wgs84(c[:, 0], c[:, 1], geo.epsg))
        )
    return out


def _lonlat(geo: Geography, frame: pd.DataFrame) -> pd.DataFrame:
    lon, lat = to_wgs84(frame.x.to_numpy(), frame.y.to_numpy(), geo.epsg)
    return frame.drop(columns=["x", "y"]).assign(lon=lon, lat=lat)


def _buildings_out(geo: Geography) -> pd.DataFrame:
    b = _lonlat(geo, geo.buildings)
    b["footprint"] = _to_wgs(geo, geo.buildings, ["footprint"]).footprint.to_numpy()
    b["community_code"] = geo.communities.code.to_numpy()[b.community_idx]
    return b.drop(columns="community_idx")


def _workers(rng: np.random.Generator, grids: pd.DataFrame, spare: int) -> pd.DataFrame:
    n = len(grids) + spare
    community = np.concatenate(
        [grids.community_code.to_numpy(), rng.choice(grids.community_code.unique(), spare)]
    )
    return pd.DataFrame(
        {
            "code": [f"W{STREET_CODE}{i + 1:04d}" for i in range(n)],
            "name_zh": person_names(rng, n),
            "phone": phone_numbers(rng, n),
            "community_code": community,
        }
    )


def _locate(geo: Geography, grids: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    """Add community_code and grid_code of each x/y row (NULL outside the street)."""
    pts = shapely.points(frame.x.to_numpy(), frame.y.to_numpy())
    gi = assign_to_polygons(pts, grids.geometry.to_numpy())
    ci = assign_to_polygons(pts, geo.communities.geometry.to_numpy())
    grid_codes = pd.Series(grids.code.to_numpy()[gi], index=frame.index).where(gi >= 0, None)
    community_codes = pd.Series(geo.communities.code.to_numpy()[ci], index=frame.index)
    return frame.assign(grid_code=grid_codes, community_code=community_codes.where(ci >= 0, None))


@dataclass(frozen=True)
class _Scene:
    """The district the cases happen in: places, grids, workers, parts, catalogue, plants."""

    geo: Geography
    grids: pd.DataFrame
    workers: pd.DataFrame
    parts: pd.DataFrame
    categories: pd.DataFrame
    planted: _Planting


def _cases(
    rng: np.random.Generator, scene: _Scene, *, n: int, as_of: pd.Timestamp
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    geo, parts, categories, planted = scene.geo, scene.parts, scene.categories, scene.planted
    reported_at = case_gen.case_times(rng, n, as_of.tz_localize(None)).tz_localize(LOCAL_TZ)
    reported_at = reported_at.sort_values()
    placed = case_gen.place_cases(rng, geo, planted.hotspots, reported_at, parts)
    placed["reported_at"] = reported_at
    placed = pd.concat(
        [placed, plant_gen.corner_reports(rng, parts, planted.corner, as_of)], ignore_index=True
    )
    cases = _attributes(rng, scene, _inside(geo, placed))
    events, summary = make_histories(rng, cases, as_of)
    cases = pd.concat([cases, summary], axis=1)
    again = _attributes(
        rng, scene, _inside(geo, plant_gen.rereports(rng, cases, as_of)), resident=True
    )
    events_again, summary_again = make_histories(rng, again, as_of)
    cases, events = _in_time_order(
        [cases, pd.concat([again, summary_again], axis=1)], [events, events_again]
    )
    cases["case_no"] = (
        cases.reported_at.dt.strftime("%Y%m%d").to_numpy()
        + pd.Series(np.arange(1, len(cases) + 1)).map("{:07d}".format).to_numpy()
    )
    part_codes = parts.part_code.to_numpy()[cases.part_idx.clip(lower=0).to_numpy()]
    cases["part_code"] = pd.Series(part_codes, index=cases.index).where(cases.part_idx >= 0, None)
    names = categories.set_index("service_code").name_zh.reindex(cases.service_code).to_numpy()
    cases["description"] = names + "，位于" + cases.grid_code.fillna("街面").to_numpy() + "网格"
    cases = _lonlat(geo, cases)
    for res in H3_RESOLUTIONS:
        cases[f"h3_r{res}"] = h3_cells(cases.lon.to_numpy(), cases.lat.to_numpy(), res)
    resident = cases.source.isin(case_gen.RESIDENT_SOURCES).to_numpy()
    reporters = pd.DataFrame(
        {
            "case_idx": np.flatnonzero(resident),
            "name": person_names(rng, int(resident.sum())),
            "phone": phone_numbers(rng, int(resident.sum())),
            "channel": cases.source.to_numpy()[resident],
            "created_at": cases.reported_at.to_numpy()[resident],
        }
    )
    return cases, events, reporters


@dataclass
class _Planting:
    """Where the planted problems go (see :mod:`gis.demo.plants`)."""

    hotspots: list[case_gen.Hotspot]
    worker_of_grid: np.ndarray  # row of workers for each grid
    silent_grid: str
    corner: int  # row of parts


def _plant(
    rng: np.random.Generator, geo: Geography, grids: pd.DataFrame, parts: pd.DataFrame
) -> _Planting:
    hotspots = case_gen.make_hotspots(rng, geo)
    pair = plant_gen.overloaded_pair(grids)
    worker_of_grid = np.arange(len(grids))
    if pair is not None:
        worker_of_grid[pair[1]] = pair[0]
    xy = np.array([(h.x, h.y) for h in hotspots])
    silent = plant_gen.silent_grid(grids, xy, exclude=set(pair or ()))
    corner = plant_gen.corner_part(rng, geo.street, grids, parts, exclude={*(pair or ()), silent})
    return _Planting(hotspots, worker_of_grid, str(grids.code.iloc[silent]), corner)


def _inside(geo: Geography, placed: pd.DataFrame) -> pd.DataFrame:
    """Only cases inside the street: the served area."""
    inside = shapely.contains_xy(geo.street, placed.x.to_numpy(), placed.y.to_numpy())
    return placed[inside].reset_index(drop=True)


def _attributes(
    rng: np.random.Generator, scene: _Scene, placed: pd.DataFrame, *, resident: bool = False
) -> pd.DataFrame:
    """Grid, community, source, urgency, time limit, department and worker of each case."""
    geo, grids, workers = scene.geo, scene.grids, scene.workers
    categories, planted = scene.categories, scene.planted
    cases = _locate(geo, grids, placed)
    cases["source"] = (
        plant_gen.resident_sources(rng, len(cases))
        if resident
        else case_gen.case_sources(rng, len(cases))
    )
    # the silent grid: residents report what its patrols never find
    silenced = (cases.grid_code == planted.silent_grid) & (cases.source == "patrol")
    cases.loc[silenced, "source"] = plant_gen.resident_sources(rng, int(silenced.sum()))
    cat = categories.set_index("service_code")
    urgent = rng.random(len(cases)) < 0.08
    limit = np.where(
        urgent & cat.urgent_time_limit.reindex(cases.service_code).notna().to_numpy(),
        cat.urgent_time_limit.reindex(cases.service_code).to_numpy(),
        cat.time_limit.reindex(cases.service_code).to_numpy(),
    )
    cases["urgency"] = np.where(urgent, "urgent", "normal")
    cases["limit_min"] = limit_minutes(
        limit.astype(float), cat.time_unit.reindex(cases.service_code).to_numpy()
    )
    cases["full_loop"] = cat.full_loop.reindex(cases.service_code).fillna(True).to_numpy(bool)
    dept = cat.default_department.reindex(cases.service_code).to_numpy()
    cases["department_code"] = np.where(
        pd.isna(dept), cases.community_code.fillna(STREET_CODE), dept
    )
    worker_codes = workers.code.to_numpy()[planted.worker_of_grid]
    grid_worker = dict(zip(grids.code, worker_codes, strict=True))
    cases["worker_code"] = cases.grid_code.map(grid_worker).fillna(workers.code.iloc[-1])
    return cases


def _in_time_order(
    case_frames: list[pd.DataFrame], event_frames: list[pd.DataFrame]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Cases of several batches in report order, their events renumbered to match."""
    offsets = np.cumsum([0] + [len(f) for f in case_frames[:-1]])
    cases = pd.concat(case_frames, ignore_index=True)
    events = pd.concat(
        [e.assign(case_idx=e.case_idx + o) for e, o in zip(event_frames, offsets, strict=True)],
        ignore_index=True,
    )
    order = np.argsort(cases.reported_at.to_numpy(), kind="stable")
    new_idx = np.empty(len(order), dtype=np.int64)
    new_idx[order] = np.arange(len(order))
    cases = cases.iloc[order].reset_index(drop=True)
    events = events.assign(case_idx=new_idx[events.case_idx.to_numpy()])
    events = events.sort_values(["case_idx", "at"], kind="stable").reset_index(drop=True)
    return cases, events


def _record(
    planted: _Planting, grids: pd.DataFrame, parts: pd.DataFrame, worker_codes: np.ndarray
) -> plant_gen.Plants:
    """What was planted, by code ("" where a tiny district had no room for a plant)."""
    taken = np.flatnonzero(planted.worker_of_grid != np.arange(len(grids)))
    pair = (
        (str(grids.code.iloc[planted.worker_of_grid[taken[0]]]), str(grids.code.iloc[taken[0]]))
        if taken.size
        else ("", "")
    )
    return plant_gen.Plants(
        department_code=plant_gen.REREPORTED_DEPARTMENT,
        silent_grid=planted.silent_grid,
        corner_part=str(parts.part_code.iloc[planted.corner]) if planted.corner >= 0 else "",
        overloaded_worker=str(worker_codes[taken[0]]) if taken.size else "",
        overloaded_grids=pair,
    )
