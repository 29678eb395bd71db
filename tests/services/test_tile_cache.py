"""Tiles are kept a few seconds in the API's process, per scope, tile, filter, area and
the page's data version:
a second request within the time is not computed again; another scope, filter or area
is its own entry; after the time the tile is computed anew (new reports within 10 s)."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from layers import tiles as layer_tiles
from layers.workflow.errors import BadValue
from services import tiles
from services.tiles import CaseFilter, Scope
from tests.layers.mvt import tile_of


@pytest.fixture
def computed(monkeypatch):  # type: ignore[no-untyped-def]
    """How many tiles the database computed (the real query, counted)."""
    calls: list[tuple[str, int, int, int]] = []
    real = layer_tiles.tile

    def counted(**kwargs):  # type: ignore[no-untyped-def]
        calls.append((kwargs["layer"], kwargs["z"], kwargs["x"], kwargs["y"]))
        return real(**kwargs)

    monkeypatch.setattr(layer_tiles, "tile", counted)
    yield calls
    tiles.clear_cache()


def _busy_tile(engine, z: int) -> tuple[int, int, str]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        lon, lat, code = conn.execute(
            sa.text("""SELECT ST_X(c.geom), ST_Y(c.geom), m.code FROM cases c
                       JOIN communities m ON m.id = c.community_id ORDER BY c.id LIMIT 1""")
        ).one()
    return (*tile_of(lon, lat, z), code)


def test_a_tile_is_kept_for_its_seconds_per_scope_filter_and_area(
    demo_engine, computed, monkeypatch
):
    monkeypatch.setenv("GRIDGOV_TILE_CACHE_S", "0.5")
    tiles.clear_cache()
    x, y, code = _busy_tile(demo_engine, 14)
    operator = Scope("operator")
    args = {"layer": "cases", "z": 14, "x": x, "y": y}
    first = tiles.tile_bytes(demo_engine, scope=operator, **args)
    assert first and tiles.tile_bytes(demo_engine, scope=operator, **args) == first
    assert len(computed) == 1
    # each its own entry: never another scope's (or filter's, or area's) tile
    tiles.tile_bytes(demo_engine, scope=operator, area=code, **args)
    tiles.tile_bytes(demo_engine, scope=operator, cases=CaseFilter(statuses=None), **args)
    tiles.tile_bytes(demo_engine, scope=Scope("supervisor", area=code), **args)
    # the page's data version: a page that saw a change gets no tile kept before it
    tiles.tile_bytes(demo_engine, scope=operator, version="7", **args)
    tiles.tile_bytes(demo_engine, scope=operator, version="7", **args)
    assert len(computed) == 5
    time.sleep(0.6)
    assert tiles.tile_bytes(demo_engine, scope=operator, **args) == first
    assert len(computed) == 6  # computed anew after its time


def test_no_cache_when_its_time_is_zero_and_a_bad_time_is_named(demo_engine, computed, monkeypatch):
    monkeypatch.setenv("GRIDGOV_TILE_CACHE_S", "0")
    tiles.clear_cache()
    x, y, _ = _busy_tile(demo_engine, 14)
    for _ in range(2):
        tiles.tile_bytes(demo_engine, scope=Scope("operator"), layer="cases", z=14, x=x, y=y)
    assert len(computed) == 2
    for bad in ("30", "-1", "soon"):
        monkeypatch.setenv("GRIDGOV_TILE_CACHE_S", bad)
        tiles.clear_cache()
        with pytest.raises(BadValue, match="GRIDGOV_TILE_CACHE_S"):
            tiles.tile_bytes(demo_engine, scope=Scope("operator"), layer="cases", z=14, x=x, y=y)
