"""GridSize: target and allowed range of households per grid, checked once."""

from __future__ import annotations

import pytest

from city import GridSize, GridSizeError


@pytest.mark.parametrize(
    ("numbers", "message"),
    [
        ({"target": 10}, "target 10 .* outside the sane range 50–5000"),
        ({"target": 9000, "high": 10000}, "target 9000"),
        ({"low": 450}, "low=450, target=400"),
        ({"high": 350}, "high=350"),
        ({"low": 0}, "0 < low"),
        ({"target": 400.0}, "target must be a whole number"),
        ({"high": True}, "high must be a whole number"),
    ],
)
def test_unusable_sizes_are_refused(numbers, message):
    with pytest.raises(GridSizeError, match=message):
        GridSize(**({"target": 400, "low": 300, "high": 500} | numbers))


@pytest.mark.parametrize(
    ("total", "ok"), [(0, False), (299, False), (300, True), (550, False), (600, True), (760, True)]
)
def test_feasible_totals(total, ok):
    assert GridSize(400, 300, 500).feasible(total) is ok


def test_holds_and_with():
    size = GridSize(400, 300, 500)
    assert size.holds(300) and size.holds(500) and not size.holds(501) and not size.holds(299)
    assert size.with_(low=250, high=None) == GridSize(400, 250, 500)
    with pytest.raises(GridSizeError, match="low=600"):
        size.with_(low=600)
