"""The leader's read model on the small demo: places, hotspots by place, drill-down, the
weekly heat, the headline figures inside the published bands and the ranked charts that
put the planted department and grid first (the read model is told nothing)."""

from __future__ import annotations

from datetime import timedelta

import h3.api.basic_int as h3
import pandas as pd
import pytest
import sqlalchemy as sa

from city import time_zone
from dashboard import charts
from services.leader import HEADLINE, headline, performance
from services.leader_places import (
    PlaceInputError,
    cases_of_place,
    hotspot_period,
    place_layers,
    ranked_hotspots,
    weekly_heat,
)


@pytest.fixture(scope="module")
def last_day(small_district):
    return small_district.as_of.date()


@pytest.fixture(scope="module")
def spots(demo_engine, last_day):
    start, end = hotspot_period(last_day, 28)
    return ranked_hotspots(demo_engine, start=start, end=end, resolution=9), start, end


def _count(engine, cells: list[int], start, end) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return conn.execute(
            sa.text("""SELECT count(*) FROM cases WHERE h3_r9 = ANY(:cells)
                       AND (reported_at AT TIME ZONE :tz)::date BETWEEN :start AND :end"""),
            {"cells": cells, "tz": time_zone().key, "start": start, "end": end},
        ).scalar_one()


def test_place_layers_have_every_community_and_only_major_roads(demo_engine, small_district):
    layers = place_layers(demo_engine)
    assert sorted(layers.communities.code) == sorted(small_district.communities.code)
    assert layers.communities.name_zh.str.len().min() > 0
    majors = (small_district.roads.road_class == "major").sum()
    assert len(layers.roads) == majors > 0


def test_hotspots_are_ranked_named_and_counted(demo_engine, small_district, spots):
    top, start, end = spots
    assert len(top) == 10 and list(top["rank"]) == list(range(1, 11))
    assert top.n.is_monotonic_decreasing
    names = set(small_district.communities.name_zh)
    assert set(top.community_zh) <= names
    assert (top.road_zh != "").sum() >= 5  # most hotspots lie by a named major road
    assert all(c.count("·") <= 2 and c for c in top.classes_zh)  # top 3 classes
    first = h3.str_to_int(top.cell.iloc[0])
    children = [int(c) for c in h3.cell_to_children(first, 9)]
    assert int(top.n.iloc[0]) == _count(demo_engine, children, start, end)
    before = (start - timedelta(days=28), start - timedelta(days=1))
    assert int(top.n_prev.iloc[0]) == _count(demo_engine, children, *before)
    # the window was chosen so that the period before has cases: trends, not all "new"
    assert (top.trend != "new").all()
    minx, miny, maxx, maxy = top[["minx", "miny", "maxx", "maxy"]].iloc[0]
    lat, lng = h3.cell_to_latlng(first)
    assert minx < lng < maxx and miny < lat < maxy


def test_drill_down_lists_the_cases_of_a_hexagon_or_a_grid(demo_engine, spots):
    top, start, end = spots
    cases = cases_of_place(demo_engine, start=start, end=end, cell=top.cell.iloc[0])
    assert len(cases) == min(500, int(top.n.iloc[0]))
    assert cases.reported_at.is_monotonic_decreasing
    assert "reporter" not in " ".join(cases.columns)
    grid = cases.grid.mode().iloc[0]
    of_grid = cases_of_place(demo_engine, start=start, end=end, grid_code=grid)
    assert len(of_grid) > 0 and set(of_grid.grid) == {grid}


@pytest.mark.parametrize(
    "place, field",
    [({"cell": "not-a-cell"}, "cell"), ({}, "place"), ({"cell": "x", "grid_code": "y"}, "place")],
)
def test_a_bad_place_is_refused_naming_the_field(demo_engine, last_day, place, field):
    with pytest.raises(PlaceInputError, match=f"^{field}:"):
        cases_of_place(demo_engine, start=last_day, end=last_day, **place)


def test_a_bad_period_or_level_is_refused(demo_engine, last_day):
    with pytest.raises(PlaceInputError, match=r"^days:"):
        hotspot_period(last_day, 10)
    with pytest.raises(PlaceInputError, match=r"^resolution:"):
        ranked_hotspots(demo_engine, start=last_day, end=last_day, resolution=12)


def test_weekly_heat_adds_up_to_the_window(demo_engine, small_district, last_day):
    start = last_day - timedelta(days=55)
    weekly = weekly_heat(demo_engine, start=start, end=last_day, resolution=8)
    reported = pd.to_datetime(small_district.cases.reported_at).dt.tz_convert(time_zone().key)
    days = reported.dt.date
    assert int(weekly.n.sum()) == int(((days >= start) & (days <= last_day)).sum())
    assert weekly.week.nunique() in (8, 9)
    assert (pd.to_datetime(weekly.week).dt.day_of_week == 0).all()  # weeks start on Monday


@pytest.fixture(scope="module")
def tables(demo_engine, small_district, last_day):
    return performance(
        demo_engine,
        start=last_day - timedelta(days=366),
        end=last_day,
        now=small_district.as_of.to_pydatetime(),
    )


def test_the_first_screen_headline_falls_inside_the_bands(tables, small_district):
    figures = headline(tables)
    assert figures["cases"] == len(small_district.cases)
    assert figures["closure_rate"] >= 0.97
    assert 0.90 <= figures["on_time_closure_rate"] <= 0.98
    # and the hidden measures beside them are real figures, not placeholders
    for key in HEADLINE[2:]:
        assert figures[key] is not None and figures[key] > 0, key
    grids = tables["grids"]
    assert figures["cases_per_100_households"] == pytest.approx(
        100 * grids.cases.sum() / grids.households.sum()
    )


def test_the_charts_put_the_planted_department_and_grid_worst_first(tables, small_district):
    plants = small_district.plants
    units = tables["departments"].assign(label=tables["departments"].code)
    ranked, hidden = charts.ranked(units, charts.MEASURES["part_recurrence_rate"], label="label")
    assert ranked.label.iloc[0] == plants.department_code
    assert ranked.value.iloc[0] >= 1.5 * ranked.value.iloc[1]
    assert (ranked["sample"] >= charts.MIN_SAMPLE).all()
    assert (
        hidden
        == (pd.to_numeric(units.closed) < charts.MIN_SAMPLE).sum()
        + (
            units.part_recurrence_rate.isna() & (pd.to_numeric(units.closed) >= charts.MIN_SAMPLE)
        ).sum()
    )
    grids = tables["grids"].assign(label=tables["grids"].code)
    ranked, _ = charts.ranked(grids, charts.MEASURES["missed_report_share"], label="label")
    assert ranked.label.iloc[0] == plants.silent_grid
    # closure, where higher is better, ranks the worst (lowest) first
    closure, _ = charts.ranked(units, charts.MEASURES["closure_rate"], label="label")
    assert closure.value.is_monotonic_increasing


def test_a_chart_shows_per_cent_with_the_sample(tables):
    units = tables["departments"].assign(label=tables["departments"].name_zh)
    fig, _ = charts.ranked_bars(
        units, charts.MEASURES["on_time_closure_rate"], label="label", lang="zh"
    )
    bar = fig.data[0]
    assert all(t.endswith(")") and " % (n=" in t for t in bar.text)
    assert max(bar.x) <= 100 and min(bar.x) >= 0
    assert set(bar.marker.color) <= {charts.GOOD, charts.MIDDLE, charts.BAD}
