"""The demo looks as good as published bulletins, and the hidden measures find what it hides.

The headline figures of the loaded demo must fall inside the bands of ``docs/demo.md``;
the measures of :mod:`layers.measures`, computed from the loaded data alone, must single
out exactly the problems :mod:`gis.demo.plants` planted. Only this test knows the plants.
"""

from datetime import date

import pandas as pd
import pytest

from layers import measures


@pytest.fixture(scope="module")
def window(small_district):
    as_of = small_district.as_of
    return {
        "start": (as_of - pd.Timedelta(days=366)).date(),
        "end": as_of.date(),
    }


@pytest.fixture(scope="module")
def street(demo_engine, small_district, window):
    with demo_engine.connect() as conn:
        rows = measures.area_performance(
            conn=conn, level="street", now=small_district.as_of.to_pydatetime(), **window
        )
    assert len(rows) == 1
    return rows.iloc[0]


def test_headline_figures_fall_inside_the_published_bands(street):
    assert street.closure_rate >= 0.97
    assert 0.90 <= street.on_time_closure_rate <= 0.98
    assert street.rework_rate <= 0.02
    assert street.extension_rate <= 0.01
    assert street.satisfaction_rate >= 0.85
    assert street.backlog_open > 0
    assert 0 < street.overdue_open <= 0.10 * street.backlog_open


def _second(values) -> float:
    ordered = sorted(values, reverse=True)
    return float(ordered[1])


def test_the_rereported_department_is_singled_out(demo_engine, small_district, window):
    with demo_engine.connect() as conn:
        units = measures.department_performance(
            conn=conn, now=small_district.as_of.to_pydatetime(), **window
        )
    units = units[units.closed >= 30].sort_values("part_recurrence_rate", ascending=False)
    top = units.iloc[0]
    assert top.code == small_district.plants.department_code
    # the clear outlier: well above every other unit, and its headline stays good
    assert top.part_recurrence_rate >= 1.5 * _second(units.part_recurrence_rate)
    assert top.on_time_closure_rate >= 0.9 and top.closure_rate >= 0.97


def test_the_silent_grid_is_singled_out(demo_engine, small_district, window):
    with demo_engine.connect() as conn:
        grids = measures.grid_performance(
            conn=conn, now=small_district.as_of.to_pydatetime(), **window
        )
    grids = grids.sort_values("missed_report_share", ascending=False)
    assert grids.iloc[0].code == small_district.plants.silent_grid
    assert grids.iloc[0].missed_report_share >= 1.5 * _second(grids.missed_report_share)
    # the grid's worker still patrols (tracks look normal); it is the reports that are missing
    assert grids.iloc[0].proactive_share == grids.proactive_share.min()


def test_the_corner_where_the_same_problem_comes_back_is_singled_out(
    demo_engine, small_district, window
):
    with demo_engine.connect() as conn:
        places = measures.recurring_places(conn=conn, by="part", **window)
    assert places.iloc[0].place == small_district.plants.corner_part
    assert places.iloc[0].recurrences >= 3 * places.iloc[1].recurrences


def test_the_overloaded_worker_is_singled_out(demo_engine, small_district, window):
    with demo_engine.connect() as conn:
        load = measures.worker_load(conn=conn, **window)
    top = load.iloc[0]
    assert top.worker_code == small_district.plants.overloaded_worker
    assert set(top.grid_codes.split()) == set(small_district.plants.overloaded_grids)
    assert top.households_ratio >= 1.8
    assert top.households_ratio >= 1.3 * load.households_ratio.iloc[1]


def test_recurring_places_by_cell_and_a_bad_key(demo_engine, window):
    with demo_engine.connect() as conn:
        cells = measures.recurring_places(conn=conn, by="cell", limit=5, **window)
        assert len(cells) == 5
        assert cells.recurrences.is_monotonic_decreasing
        assert (cells.recurrences <= cells.closed).all()
        with pytest.raises(ValueError, match="by must be"):
            measures.recurring_places(conn=conn, by="street", **window)


def test_window_has_every_case(demo_engine, small_district, window):
    with demo_engine.connect() as conn:
        rows = measures.area_performance(
            conn=conn, level="street", now=small_district.as_of.to_pydatetime(), **window
        )
    assert int(rows.cases.sum()) == len(small_district.cases)
    assert isinstance(window["start"], date)
