"""The sieve of GPS fixes (no database): duplicates, accuracy, speeds, values, order."""

from __future__ import annotations

import numpy as np

from layers.tracks import FixBatch, SieveRules, sieve

NOW = 1_800_000_000.0


def _batch(t, lon, lat, acc, speed=None) -> FixBatch:  # type: ignore[no-untyped-def]
    return FixBatch(
        t=np.array(t, float),
        lon=np.array(lon, float),
        lat=np.array(lat, float),
        accuracy_m=np.array(acc, float),
        speed_ms=np.array(speed, float) if speed is not None else np.empty(0),
    )


def test_a_walk_in_any_order_is_kept_whole():
    t = NOW - 1000 + np.arange(50) * 10.0
    lon = 120.6 + np.arange(50) * 0.0001  # ~9.5 m per 10 s
    order = np.random.default_rng(3).permutation(50)
    result = sieve(
        _batch(t[order], lon[order], [31.3] * 50, [5] * 50), rules=SieveRules(), now_s=NOW
    )
    assert result.keep.all() and not result.duplicate.any() and result.aside == {}


def test_each_bad_fix_is_put_aside_with_its_reason():
    t = [NOW - 100, NOW - 90, NOW - 80, NOW - 70, NOW - 60, NOW + 3600, NOW - 50]
    lon = [120.6, 120.6001, 120.7, 120.6002, 120.6003, 120.6, 200.0]
    acc = [5, 5, 5, 80, 5, 5, 5]
    speed = [1, 1, 1, 1, 30, 1, 1]
    result = sieve(_batch(t, lon, [31.3] * 7, acc, speed), rules=SieveRules(), now_s=NOW)
    assert result.aside == {
        2: "impossible_speed",  # 9.5 km in 10 s
        3: "poor_accuracy",
        4: "impossible_speed",  # reported 30 m/s
        5: "bad_value",  # an hour in the future
        6: "bad_value",  # longitude 200
    }
    assert result.keep.tolist() == [True, True, False, False, False, False, False]


def test_duplicates_of_the_batch_and_of_stored_fixes_are_dropped():
    t = [NOW - 100, NOW - 100, NOW - 50]
    known = (np.array([NOW - 50]), np.array([120.6]), np.array([31.3]), np.array([5.0]))
    result = sieve(
        _batch(t, [120.6] * 3, [31.3] * 3, [5] * 3), rules=SieveRules(), now_s=NOW, known=known
    )
    assert result.keep.tolist() == [True, False, False]
    assert result.duplicate.tolist() == [False, True, True]


def test_a_jump_within_the_accuracies_is_no_impossible_speed():
    # 60 m apart in 2 s, but each fix is ±40 m: the gap can be jitter
    result = sieve(
        _batch([NOW - 10, NOW - 8], [120.6, 120.60063], [31.3, 31.3], [40, 40]),
        rules=SieveRules(),
        now_s=NOW,
    )
    assert result.keep.all()
