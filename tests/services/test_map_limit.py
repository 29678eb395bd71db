"""The operator page's threshold for drawing open cases from tiles: a setting."""

from __future__ import annotations

import pytest

from services.errors import GridGovError
from services.operator import MAP_FEATURE_LIMIT, map_feature_limit


def test_the_threshold_defaults_to_2000_and_takes_the_setting(monkeypatch):
    monkeypatch.delenv("GRIDGOV_LIVE_TILES_ABOVE", raising=False)
    assert map_feature_limit() == MAP_FEATURE_LIMIT == 2_000
    monkeypatch.setenv("GRIDGOV_LIVE_TILES_ABOVE", "25")
    assert map_feature_limit() == 25


@pytest.mark.parametrize(("raw", "why"), [("many", "not a whole number"), ("0", "outside")])
def test_a_bad_threshold_names_the_setting_and_why(monkeypatch, raw, why):
    monkeypatch.setenv("GRIDGOV_LIVE_TILES_ABOVE", raw)
    with pytest.raises(GridGovError, match=f"GRIDGOV_LIVE_TILES_ABOVE: .*{why}"):
        map_feature_limit()
