"""The demo generator: deterministic, consistent, realistic enough to be useful."""

import numpy as np
import pandas as pd
import pytest
import shapely

from city import time_zone
from gis.demo import generate_district
from layers.catalogue import read_categories

SMALL = {
    "households": 6_000,
    "n_communities": 3,
    "n_parts": 300,
    "n_cases": 3_000,
    "as_of": pd.Timestamp("2026-06-30 18:00", tz=time_zone().key),
}


def test_same_seed_same_district(small_district):
    again = generate_district(
        read_categories(),
        seed=small_district.seed,
        households=8_000,
        n_communities=4,
        n_parts=600,
        n_cases=6_000,
        as_of=small_district.as_of,
    )
    pd.testing.assert_frame_equal(again.cases, small_district.cases)
    pd.testing.assert_frame_equal(again.case_events, small_district.case_events)
    assert again.counts() == small_district.counts()


def test_another_seed_another_district():
    a = generate_district(read_categories(), seed=1, **SMALL)
    b = generate_district(read_categories(), seed=2, **SMALL)
    assert not np.allclose(a.buildings.lon.to_numpy()[:50], b.buildings.lon.to_numpy()[:50])


def test_households_add_up_and_grids_cover_them(small_district):
    d = small_district
    assert d.buildings.households.sum() == 8_000
    assert d.grids.households.sum() == 8_000
    assert d.grids.code.str.fullmatch(r"\d{15}").all()
    assert d.grids.code.is_unique
    assert (d.grids.code.str[:12].isin(d.communities.code)).all()


def test_grids_tile_their_community(small_district):
    d = small_district
    for code, community in zip(d.communities.code, d.communities.geometry, strict=True):
        grids = d.grids[d.grids.community_code == code].geometry.to_numpy()
        union = shapely.union_all(grids)
        assert abs(union.area - community.area) / community.area < 1e-5
        assert sum(g.area for g in grids) == pytest.approx(union.area, rel=1e-6)


def test_cases_are_in_the_street_with_grid_community_and_h3(small_district):
    c = small_district.cases
    street = small_district.street.geometry.iloc[0]
    assert shapely.contains_xy(street, c.lon.to_numpy(), c.lat.to_numpy()).all()
    assert c.grid_code.notna().all() and c.community_code.notna().all()
    for res in (7, 8, 9, 10):
        assert (c[f"h3_r{res}"] > 0).all()


def test_histories_are_consistent_with_each_case_state(small_district):
    d = small_district
    e = d.case_events
    last = e.groupby("case_idx").to_status.last()
    assert (last.reindex(range(len(d.cases))).to_numpy() == d.cases.status.to_numpy()).all()
    # every history starts with the report, in time order, each step from the previous state
    first = e.groupby("case_idx").head(1)
    assert (first.action == "report").all() and first.from_status.isna().all()
    assert (e.groupby("case_idx")["at"].apply(lambda s: s.is_monotonic_increasing)).all()
    same = e.case_idx.eq(e.case_idx.shift())
    assert (e.from_status[same] == e.to_status.shift()[same]).all()
    assert (e["at"] <= d.as_of).all()


def test_a_realistic_mix(small_district):
    c = small_district.cases
    assert set(c.source) >= {"patrol", "hotline", "app"}
    assert (c.rework_count > 0).any() and (c.reopen_count > 0).any()
    still_open = c.status.isin(
        ["reported", "accepted", "registered", "dispatched", "in_handling", "handled", "checked"]
    )
    assert still_open.any()
    overdue = still_open & (c.deadline_at < small_district.as_of)
    assert overdue.any()
    assert (c.part_code.notna()).mean() > 0.05
    # weekly rhythm: weekends are quieter
    weekday = c.reported_at.dt.day_of_week
    assert (weekday >= 5).mean() < 2 / 7


def test_the_plants_are_where_the_record_says(small_district):
    d, p = small_district, small_district.plants
    c = d.cases
    # the overloaded worker covers the two grids; their former worker has none
    assert set(d.grids.loc[d.grids.worker_code == p.overloaded_worker, "code"]) == set(
        p.overloaded_grids
    )
    assert d.grids.worker_code.value_counts().max() == 2
    # the silent grid: every report there comes from residents (or sensors), none from patrols
    silent = c[c.grid_code == p.silent_grid]
    assert len(silent) > 100 and not (silent.source == "patrol").any()
    # the corner: one part reported again and again, each report after the last was closed
    corner = c[c.part_code == p.corner_part].sort_values("reported_at")
    assert len(corner) >= 30
    assert (
        corner.reported_at.iloc[1:].to_numpy() > corner.closed_at.iloc[:-1].to_numpy()
    ).mean() > 0.9
    # the department's closed part faults come back as new cases about the same part
    mine = c[(c.department_code == p.department_code) & c.part_code.notna()]
    assert mine.part_code.duplicated().mean() > 0.3
