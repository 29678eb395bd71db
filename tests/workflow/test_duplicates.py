"""Duplicate reports: found by category, radius and time window; merged keeping reporters."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from layers.workflow import errors
from layers.workflow.duplicates import find_duplicates, merge_duplicate
from layers.workflow.transitions import case_state
from tests.workflow.factories import (
    INSIDE_EAST,
    INSIDE_WEST,
    T0,
    category_with_department,
    category_without_department,
    make_case,
)

NEAR = (INSIDE_WEST[0] + 0.0002, INSIDE_WEST[1])  # ~19 m east


def test_same_category_near_and_recent_is_a_duplicate(conn, area):
    first = make_case(conn, reporter=("李四", "13900000001"))
    second = make_case(
        conn, where=NEAR, at=T0 + timedelta(hours=5), reporter=("王五", "13900000002")
    )
    make_case(conn, where=INSIDE_EAST)  # far away
    make_case(conn, where=NEAR, at=T0 + timedelta(days=10))  # too late
    make_case(conn, where=NEAR, service_code=category_without_department(conn))  # other category
    found = find_duplicates(conn=conn, case_id=second["case_id"], radius_m=50)
    assert [f["id"] for f in found] == [first["case_id"]]
    assert 15 < float(found[0]["distance_m"]) < 25

    r = merge_duplicate(
        conn=conn,
        duplicate_id=second["case_id"],
        target_id=first["case_id"],
        actor="op",
        role="operator",
        expected_version=1,
    )
    assert r.status == "rejected"
    assert case_state(conn=conn, case_id=second["case_id"])["merged_into"] == first["case_id"]
    phones = (
        conn.execute(
            sa.text("SELECT phone FROM reporters WHERE case_id = :id ORDER BY phone"),
            {"id": first["case_id"]},
        )
        .scalars()
        .all()
    )
    assert phones == ["13900000001", "13900000002"]


def test_merging_into_a_closed_or_missing_case_is_refused(conn, area):
    a = make_case(conn)
    with pytest.raises(errors.CaseNotFound):
        merge_duplicate(
            conn=conn,
            duplicate_id=a["case_id"],
            target_id=10**12,
            actor="op",
            role="operator",
            expected_version=1,
        )
    with pytest.raises(errors.CaseNotFound):
        merge_duplicate(
            conn=conn,
            duplicate_id=a["case_id"],
            target_id=a["case_id"],
            actor="op",
            role="operator",
            expected_version=1,
        )


def test_open_cases_near_a_point_before_the_report_exists(conn, area):
    """The front doors' hint: open cases near a point, by category or any category."""
    from layers.workflow.duplicates import open_cases_near

    service = category_with_department(conn)
    first = make_case(conn, service_code=service)
    make_case(conn, service_code=service, where=INSIDE_EAST)  # far away
    make_case(conn, service_code=service, at=T0 - timedelta(days=40))  # too old
    other = make_case(conn, where=NEAR, service_code=category_without_department(conn))
    at = T0 + timedelta(hours=1)
    hits = open_cases_near(conn=conn, lon=NEAR[0], lat=NEAR[1], service_code=service, at=at)
    assert [h["id"] for h in hits] == [first["case_id"]]
    assert 15 < float(hits[0]["distance_m"]) < 25
    assert hits[0]["service_code"] == service
    assert hits[0]["name_zh"]
    any_kind = open_cases_near(conn=conn, lon=NEAR[0], lat=NEAR[1], service_code=None, at=at)
    assert [h["id"] for h in any_kind] == [other["case_id"], first["case_id"]]
