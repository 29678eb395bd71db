"""Typed redraw reasons and their words: every reason in Chinese and English, at the edge."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from dashboard.redraw_text import action_label, change_list_text, reason_text
from gis.redraw import plan_replacement, propose_redraw
from gis.redraw import reasons as r

CJK = re.compile(r"[\u4e00-\u9fff]")
EXAMPLES: list[tuple[r.Reason, str, str]] = [
    (r.CommunityGone("320508001003"), "community 320508001003 no longer exists", "已不存在"),
    (r.BoundaryChanged("320508001003"), "boundary of community 320508001003 changed", "边界"),
    (r.NoGeometry(), "grid has no geometry", "几何"),
    (r.BuildingsOutside(3), "3 buildings nearby lie outside every grid", "3 栋"),
    (r.TooMany(860, 500, 360), "households 860 > 500 after +360", "860 > 500（变化 +360）"),
    (r.TooMany(860, 500, 0), "households 860 > 500 (unchanged)", "（未变）"),
    (r.TooFew(120, 300, -40), "households 120 < 300 after -40", "120 < 300（变化 -40）"),
    (
        r.JoinedInfeasible(("320508001003002", "320508001003001"), 550, 300, 500),
        "joined to redraw 320508001003002, 320508001003001 (550 households cannot make grids "
        "of 300-500)",
        "550 户",
    ),
    (
        r.JoinedToImprove(("320508001003001",)),
        "joined to redraw 320508001003001 (alone they did not come into range)",
        "单独重划",
    ),
    (
        r.Held(r.TooMany(600, 500, 100), 2),
        "households 600 > 500 after +100, but no redraw of it (with up to 2 neighbours) does "
        "better: kept",
        "保留",
    ),
    (r.OwnGrid(900), "one building of 900 households: a grid of its own", "单独成格"),
    (r.OnlyGrid(120, 300), "the community's only grid (120 households < 300)", "唯一"),
    (r.InRange(), "households in range, unchanged", "未变"),
    (r.StillInRange(380, 420), "households 380 → 420, still in range", "380 → 420"),
    (
        r.DrawnAgain(r.TooFew(200, 300, -10), True),
        "drawn again the same; households 200 < 300 after -10",
        "重划结果相同",
    ),
    (
        r.DrawnAgain(r.BoundaryChanged("320508001003"), False),
        "redrawn: boundary of community 320508001003 changed",
        "已重划",
    ),
    (
        r.NoSuccessor(r.TooFew(200, 300, 0)),
        "households 200 < 300 (unchanged); no successor",
        "无后继",
    ),
    (r.DelineatedAfresh(), "community delineated afresh", "重新划分"),
    (
        r.DrawnInPlaceOf(("320508001003001", "320508001003002")),
        "drawn in place of 320508001003001, 320508001003002",
        "取代",
    ),
    (r.NoGridsBefore(), "the community had no grids", "没有网格"),
    (r.Retired(), "retired", "撤销"),
    (
        r.Then((r.DrawnAgain(r.TooMany(600, 500, 100), False), r.NoSuccessor(r.InRange()))),
        "redrawn: households 600 > 500 after +100; then households in range, unchanged; "
        "no successor",
        "；随后",
    ),
]


@pytest.mark.parametrize(("reason", "english", "chinese"), EXAMPLES)
def test_each_reason_in_english_and_chinese(reason, english, chinese):
    assert reason_text(reason, "en") == english
    zh = reason_text(reason, "zh")
    assert chinese in zh and CJK.search(zh)
    assert not re.search(r"\b(households|grid|community|redrawn)\b", zh)


def test_every_kind_of_reason_has_words():
    kinds = {
        v
        for v in vars(r).values()
        if isinstance(v, type) and issubclass(v, r.Reason) and v is not r.Reason
    }
    assert kinds == {type(e[0]) for e in EXAMPLES}
    for kind in kinds:
        assert dataclasses.is_dataclass(kind) and kind.__dataclass_params__.frozen  # type: ignore[attr-defined]


def test_actions_and_bad_language():
    assert [action_label(a) for a in r.Action] == ["保留", "调整", "撤销", "新增"]
    assert action_label("retired", "en") == "retired"
    assert reason_text(None) == ""
    with pytest.raises(ValueError, match="language 'fr'"):
        reason_text(r.InRange(), "fr")


def test_the_pure_layer_words_no_reason():
    """No Chinese labels and no reason prose in gis.redraw: the words live here."""
    root = Path(__file__).resolve().parents[2] / "gis" / "redraw"
    for path in root.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert not CJK.search(text), path
        # reason prose was f-strings like f"households {after} > {high}{delta}"
        assert not re.search(r'f"[^"]*households \{', text), path
        for phrase in ("no longer exists", "; no successor", "drawn in place of", "; then "):
            assert phrase not in text, (path, phrase)


def _street():
    """Two strips of a 400 x 200 m community: 8 buildings of 60 households each."""
    community = gpd.GeoDataFrame(
        {"code": ["320508001003"]}, geometry=[shapely.box(0, 0, 400, 200)], crs=32651
    )
    xy = [(x, y) for x in (50, 150, 250, 350) for y in (50, 150)]
    buildings = gpd.GeoDataFrame(
        {"households": [60] * 8}, geometry=[shapely.Point(p) for p in xy], crs=32651
    )
    current = gpd.GeoDataFrame(
        {"code": ["320508001003001", "320508001003002"], "households": [240, 240]},
        geometry=[shapely.box(0, 0, 200, 200), shapely.box(200, 0, 400, 200)],
        crs=32651,
    )
    return current, buildings, community


def test_a_change_list_carries_typed_reasons_and_reads_as_before():
    from city import GridSize
    from gis.delineate import delineate

    current, buildings, community = _street()
    size = GridSize(200, 150, 250)
    grown = buildings.assign(households=np.where(np.arange(8) < 4, 120, 60))
    redraw = propose_redraw(current, grown, community, size=size)
    assert all(isinstance(x, r.Reason) for x in redraw.changes.reason)
    first = redraw.changes.set_index("code").reason
    assert first["320508001003001"] != r.InRange()
    # the delineations of the redrawn clusters come back as delineate made them (the old
    # code wrote the new codes into them to pass them back)
    assert redraw.delineations
    assert all("_code" not in d.grids for d in redraw.delineations)
    text = change_list_text(redraw)
    assert text.startswith("grids kept 保留 ")
    # a fresh delineation: the delineation handed in is not changed to pass codes back
    fresh = delineate(buildings, community, size=size)
    columns = list(fresh.grids.columns)
    plan = plan_replacement(current, fresh, size=size)
    assert list(fresh.grids.columns) == columns and "_code" not in fresh.grids
    assert set(plan.changes.reason.map(type)) <= {r.DrawnAgain, r.NoSuccessor, r.DelineatedAfresh}
    assert pd.Series(plan.grids.code).str.len().eq(15).all()
