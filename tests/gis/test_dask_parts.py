"""The parts mapper: in process and on a real multi-process Dask cluster (``dask_cluster``),
the results in the items' order, progress in that order, a task's own error raised."""

from __future__ import annotations

import operator

import pytest

from gis.dask_parts import DaskMapper, SchedulerUnreachableError, connect, map_in_process


def test_in_process_and_on_the_cluster_the_same_results_in_order(dask_cluster):
    items = [float(i) for i in range(1, 12)]
    seen: list[tuple[int, int]] = []
    expected = map_in_process(operator.truediv, items, 4.0, lambda d, t: seen.append((d, t)))
    assert expected == [i / 4 for i in items] and seen == [(i, 11) for i in range(1, 12)]
    on_dask: list[tuple[int, int]] = []
    with connect(dask_cluster) as client:
        got = DaskMapper(client)(operator.truediv, items, 4.0, lambda d, t: on_dask.append((d, t)))
        assert DaskMapper(client).threads == 2
    assert got == expected and on_dask == seen


def test_a_failing_task_raises_its_own_error_here(dask_cluster):
    with connect(dask_cluster) as client, pytest.raises(ZeroDivisionError):
        DaskMapper(client)(operator.truediv, [1.0, 2.0], 0.0)


def test_nothing_to_do_sends_nothing(dask_cluster):
    with connect(dask_cluster) as client:
        assert DaskMapper(client)(operator.truediv, [], 1.0) == []


def test_an_unreachable_scheduler_is_said_in_chinese_and_english():
    with pytest.raises(SchedulerUnreachableError) as raised:
        connect("tcp://127.0.0.1:9")
    said = str(raised.value)
    assert "无法连接" in said and "No Dask scheduler answers at tcp://127.0.0.1:9" in said
