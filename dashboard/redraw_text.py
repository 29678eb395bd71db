"""Words for a redraw's change list: actions and typed reasons in Chinese and English.

:mod:`gis.redraw` gives each change a typed reason (:mod:`gis.redraw.reasons`);
this is the one place that turns them into text, for the command line and the
dashboard. English is the wording the change list has always used.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from gis.redraw import Redraw
from gis.redraw import reasons as r

ACTIONS: dict[str, dict[str, str]] = {
    r.KEPT: {"zh": "保留", "en": "kept"},
    r.CHANGED: {"zh": "调整", "en": "changed"},
    r.RETIRED: {"zh": "撤销", "en": "retired"},
    r.NEW: {"zh": "新增", "en": "new"},
}


def action_label(action: str, lang: str = "zh") -> str:
    """The label of a change-list action (kept, changed, retired, new) in ``lang``."""
    return ACTIONS[str(action)][lang]


def reason_text(reason: r.Reason | None, lang: str = "en") -> str:
    """A typed reason in words (``lang`` "zh" or "en"); None gives an empty text."""
    if reason is None:
        return ""
    if lang not in ("zh", "en"):
        raise ValueError(f"language {lang!r}: use 'zh' or 'en'")
    return _WORDS[type(reason)][lang](reason, lang)


def change_list_text(redraw: Redraw) -> str:
    """The change list as plain text, one line per grid that is not kept unchanged."""
    c = redraw.counts()
    lines = [
        f"grids kept 保留 {c['kept']}, changed 调整 {c['changed']}, "
        f"retired 撤销 {c['retired']}, new 新增 {c['new']}"
    ]
    moved = redraw.changes[redraw.changes.action != r.KEPT]
    for row in moved.to_dict("records"):
        before = _count_text(row["households_before"])
        after = _count_text(row["households_after"])
        lines.append(
            f"  {row['code']}  {row['action']:<7} {action_label(row['action'])}  "
            f"households {before} → {after}  {reason_text(row['reason'])}"
        )
    return "\n".join(lines)


def _count_text(value: object) -> str:
    return "-" if pd.isna(value) else str(int(value))  # type: ignore[call-overload]


def _codes(cluster: tuple[str, ...]) -> str:
    return ", ".join(cluster)


def _delta(change: int, lang: str) -> str:
    if lang == "zh":
        return f"（变化 {change:+d}）" if change else "（未变）"
    return f" after {change:+d}" if change else " (unchanged)"


def _inner(reason: r.Reason | None, lang: str) -> str:
    return reason_text(reason, lang) if reason is not None else ""


Words = Callable[[Any, str], str]
_WORDS: dict[type, dict[str, Words]] = {
    r.CommunityGone: {
        "zh": lambda x, _l: f"社区 {x.community} 已不存在",
        "en": lambda x, _l: f"community {x.community} no longer exists",
    },
    r.BoundaryChanged: {
        "zh": lambda x, _l: f"社区 {x.community} 边界已变",
        "en": lambda x, _l: f"boundary of community {x.community} changed",
    },
    r.NoGeometry: {
        "zh": lambda x, _l: "网格没有几何图形",
        "en": lambda x, _l: "grid has no geometry",
    },
    r.BuildingsOutside: {
        "zh": lambda x, _l: f"附近 {x.buildings} 栋楼不在任何网格内",
        "en": lambda x, _l: f"{x.buildings} buildings nearby lie outside every grid",
    },
    r.TooMany: {
        "zh": lambda x, lang: f"户数 {x.households} > {x.high}{_delta(x.change, lang)}",
        "en": lambda x, lang: f"households {x.households} > {x.high}{_delta(x.change, lang)}",
    },
    r.TooFew: {
        "zh": lambda x, lang: f"户数 {x.households} < {x.low}{_delta(x.change, lang)}",
        "en": lambda x, lang: f"households {x.households} < {x.low}{_delta(x.change, lang)}",
    },
    r.JoinedInfeasible: {
        "zh": lambda x, _l: (
            f"并入 {_codes(x.cluster)} 一起重划（{x.households} 户无法分成 "
            f"{x.low}-{x.high} 户的网格）"
        ),
        "en": lambda x, _l: (
            f"joined to redraw {_codes(x.cluster)} ({x.households} households "
            f"cannot make grids of {x.low}-{x.high})"
        ),
    },
    r.JoinedToImprove: {
        "zh": lambda x, _l: f"并入 {_codes(x.cluster)} 一起重划（单独重划无法达标）",
        "en": lambda x, _l: (
            f"joined to redraw {_codes(x.cluster)} (alone they did not come into range)"
        ),
    },
    r.Held: {
        "zh": lambda x, lang: (
            f"{_inner(x.reason, lang)}，但连同至多 {x.max_join} 个相邻网格重划也不会更好：保留"
        ),
        "en": lambda x, lang: (
            f"{_inner(x.reason, lang)}, but no redraw of it (with up to "
            f"{x.max_join} neighbours) does better: kept"
        ),
    },
    r.OwnGrid: {
        "zh": lambda x, _l: f"单栋楼 {x.households} 户：单独成格",
        "en": lambda x, _l: f"one building of {x.households} households: a grid of its own",
    },
    r.OnlyGrid: {
        "zh": lambda x, _l: f"社区唯一网格（{x.households} 户 < {x.low}）",
        "en": lambda x, _l: f"the community's only grid ({x.households} households < {x.low})",
    },
    r.InRange: {
        "zh": lambda x, _l: "户数在范围内，未变",
        "en": lambda x, _l: "households in range, unchanged",
    },
    r.StillInRange: {
        "zh": lambda x, _l: f"户数 {x.before} → {x.after}，仍在范围内",
        "en": lambda x, _l: f"households {x.before} → {x.after}, still in range",
    },
    r.DrawnAgain: {
        "zh": lambda x, lang: ("重划结果相同；" if x.same else "已重划：") + _inner(x.reason, lang),
        "en": lambda x, lang: (
            ("drawn again the same; " if x.same else "redrawn: ") + _inner(x.reason, lang)
        ),
    },
    r.NoSuccessor: {
        "zh": lambda x, lang: f"{_inner(x.reason, lang)}；无后继网格",
        "en": lambda x, lang: f"{_inner(x.reason, lang)}; no successor",
    },
    r.DelineatedAfresh: {
        "zh": lambda x, _l: "社区整体重新划分",
        "en": lambda x, _l: "community delineated afresh",
    },
    r.DrawnInPlaceOf: {
        "zh": lambda x, _l: f"取代 {_codes(x.cluster)}",
        "en": lambda x, _l: f"drawn in place of {_codes(x.cluster)}",
    },
    r.NoGridsBefore: {
        "zh": lambda x, _l: "社区原来没有网格",
        "en": lambda x, _l: "the community had no grids",
    },
    r.Retired: {"zh": lambda x, _l: "撤销", "en": lambda x, _l: "retired"},
    r.Then: {
        "zh": lambda x, lang: "；随后".join(reason_text(s, lang) for s in x.steps),
        "en": lambda x, lang: "; then ".join(reason_text(s, lang) for s in x.steps),
    },
}
