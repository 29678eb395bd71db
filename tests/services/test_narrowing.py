"""Narrowing loaded data to one community in pandas gives what a query per community gives."""

import pandas as pd

from services import areas, leader, supervisor
from services.login import Scope

LEADER = Scope("leader")


def test_narrow_heat_equals_the_query_per_community(demo_engine, small_district):
    days = areas.rollup_days(demo_engine)
    loaded = leader.leader_heat_by_area(demo_engine, scope=LEADER, start=days[0], end=days[1])
    for community in [None, *small_district.communities.code]:
        cells, daily = leader.narrow_heat(loaded, community)
        queried = leader.leader_heat(demo_engine, scope=LEADER, community=community)
        pd.testing.assert_frame_equal(
            cells.sort_values("cell").reset_index(drop=True),
            queried.cells.sort_values("cell").reset_index(drop=True),
            check_dtype=False,
        )
        assert daily.n.sum() == queried.daily.n.sum()
    assert leader.narrow_heat(loaded, None)[0].n.sum() == len(small_district.cases)


def test_narrow_coverage_equals_the_query_per_community(demo_engine, small_district):
    loaded = supervisor.supervisor_coverage(demo_engine, scope=LEADER)
    extents = areas.area_extents(demo_engine, scope=LEADER)
    codes = set(small_district.communities.code)
    # every level's extent: communities, their streets and districts (issue 14's area picker)
    assert set(extents) == {None, *codes, *(c[:9] for c in codes), *(c[:6] for c in codes)}
    for community in small_district.communities.code:
        narrowed = supervisor.narrow_coverage(loaded, community, extents[community])
        queried = supervisor.supervisor_coverage(demo_engine, scope=LEADER, community=community)
        assert list(narrowed.grids.code) == list(queried.grids.code)
        assert list(narrowed.workload.worker_code) == list(queried.workload.worker_code)
        assert narrowed.extent == queried.extent
