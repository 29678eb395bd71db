"""The month split of a bulk load's rows (:mod:`layers.bulk_months`), without a database."""

from __future__ import annotations

from datetime import date

import numpy as np
import pyarrow as pa

from layers.bulk_months import _stable_order, month_counts, months_of, months_of_rows


def test_the_stable_order_of_month_keys_is_numpy_s_in_both_ways():
    rng = np.random.default_rng(3)
    near = rng.integers(202401, 202413, 50_000)  # a year: sorted as 16-bit offsets
    far = np.r_[near, 100001, 999912]  # keys 9000 years apart: sorted as they are
    for keys in (near, far):
        assert np.array_equal(_stable_order(keys), np.argsort(keys, kind="stable"))


def test_months_are_counted_and_made_only_when_asked_for():
    stamp = pa.timestamp("us", tz="UTC")
    times = pa.array(
        np.array(
            ["2025-02-01T00:00:00", "2025-01-31T23:59:59", "2025-02-28T12:00:00"],
            dtype="datetime64[us]",
        )  # the second is the last second of January (UTC)
    ).cast(stamp)
    assert month_counts(times) == [(date(2025, 1, 1), 1), (date(2025, 2, 1), 2)]
    asked: list[list[int]] = []

    def take(at: np.ndarray) -> pa.Table:
        asked.append(at.tolist())
        return pa.table({"at": times.take(at)})

    months = months_of_rows(times, take)
    assert [month for month, _ in months] == [date(2025, 1, 1), date(2025, 2, 1)]
    assert asked == []  # nothing made yet
    assert months[1][1]().num_rows == 2
    assert asked == [[0, 2]]  # February's rows, in their order
    table = pa.table({"at": times, "n": [1, 2, 3]})
    assert [rows().column("n").to_pylist() for _, rows in months_of(table, "at")] == [[2], [1, 3]]
    assert months_of_rows(times.slice(0, 0), take) == []
