"""Plotly figures for the leader: measures ranked as coloured bars in per cent with their
sample sizes, and the heat week by week. Plotly draws in the browser from the copy
Streamlit bundles (nothing from the internet); the figures use no map tiles."""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import h3
import pandas as pd
import plotly.graph_objects as go
import shapely

from dashboard.labels import t
from gis import heat

MIN_SAMPLE = 30
"""Units with fewer cases in the sample are not ranked (a rate of 3 cases says nothing)."""


@dataclass(frozen=True)
class Measure:
    """A measure as a chart shows it: its column, the column counting its sample, whether
    higher is better, and whether it is a share (shown in per cent)."""

    key: str
    sample: str
    higher_is_better: bool
    share: bool = True


MEASURES: dict[str, Measure] = {
    m.key: m
    for m in (
        Measure("closure_rate", "cases", True),
        Measure("on_time_closure_rate", "cases", True),
        Measure("part_recurrence_rate", "closed", False),
        Measure("false_closure_rate", "closed", False),
        Measure("missed_report_share", "cases", False),
        Measure("proactive_share", "cases", True),
        Measure("backlog_median_age_days", "backlog_open", False, share=False),
        Measure("cases_per_100_households", "cases", False, share=False),
        Measure("satisfaction_rate", "cases", True),
        Measure("rework_rate", "cases", False),
    )
}

GOOD, MIDDLE, BAD = "#2e7d32", "#f9a825", "#c62828"


def ranked(
    frame: pd.DataFrame, measure: Measure, *, label: str, min_sample: int = MIN_SAMPLE
) -> tuple[pd.DataFrame, int]:
    """(label, value, sample) of the units with a sample of at least ``min_sample``, worst
    first, and how many units were hidden for a small sample."""
    if measure.key not in frame.columns:
        return pd.DataFrame({"label": [], "value": [], "sample": []}), 0
    rows = pd.DataFrame(
        {
            "label": frame[label].astype(str),
            "value": pd.to_numeric(frame[measure.key], errors="coerce").astype(float),
            "sample": pd.to_numeric(frame[measure.sample], errors="coerce").fillna(0).astype(int),
        }
    )
    enough = rows[(rows["sample"] >= min_sample) & rows.value.notna()]
    hidden = len(rows) - len(enough)
    worst_first = enough.sort_values("value", ascending=measure.higher_is_better)
    return worst_first.reset_index(drop=True), hidden


def _colours(values: pd.Series, higher_is_better: bool) -> list[str]:
    """Green for the better third, amber for the middle, red for the worse third."""
    if values.empty:
        return []
    ranks = values.rank(pct=True, ascending=higher_is_better)
    return [BAD if r <= 1 / 3 else MIDDLE if r <= 2 / 3 else GOOD for r in ranks]


def ranked_bars(
    frame: pd.DataFrame,
    measure: Measure,
    *,
    label: str,
    lang: str,
    min_sample: int = MIN_SAMPLE,
) -> tuple[go.Figure, int]:
    """A horizontal bar per unit, worst on top, coloured by third, the value in per cent
    (or days, or cases) and the sample ("n=…") at the bar's end; and the count hidden."""
    rows, hidden = ranked(frame, measure, label=label, min_sample=min_sample)
    scale = 100.0 if measure.share else 1.0
    unit = " %" if measure.share else ""
    values = rows.value * scale
    text = [f"{v:.1f}{unit} (n={n:,})" for v, n in zip(values, rows["sample"], strict=True)]
    fig = go.Figure(
        go.Bar(
            x=values,
            y=rows.label,
            orientation="h",
            marker_color=_colours(rows.value, measure.higher_is_better),
            text=text,
            textposition="auto",
            hovertemplate="%{y}: %{text}<extra></extra>",
        )
    )
    axis = t(measure.key, lang) + (" (%)" if measure.share else "")
    fig.update_layout(
        height=max(220, 26 * len(rows) + 80),
        margin={"l": 10, "r": 10, "t": 30, "b": 30},
        xaxis={"title": axis, "range": [0, 100] if measure.share else None},
        yaxis={"autorange": "reversed", "type": "category"},
        showlegend=False,
    )
    return fig, hidden


def heat_animation(
    weekly: pd.DataFrame, outlines: gpd.GeoDataFrame, *, lang: str, resolution: int
) -> go.Figure:
    """The heat week by week: one frame per week (play / slider), each hexagon coloured by
    its cases that week, over the community outlines (lon/lat axes; no tiles)."""
    weeks = sorted(weekly.week.unique())
    top = float(weekly.n.max()) if not weekly.empty else 1.0
    fig = go.Figure()
    for geom in outlines.geometry:
        for ring in _rings(geom):
            xs, ys = ring.xy
            fig.add_trace(
                go.Scatter(
                    x=list(xs),
                    y=list(ys),
                    mode="lines",
                    line={"color": "#607d8b", "width": 1},
                    hoverinfo="skip",
                    showlegend=False,
                )
            )
    for _, row in outlines.iterrows():
        fig.add_trace(
            go.Scatter(
                x=[row.lon],
                y=[row.lat],
                mode="text",
                text=[row.name_zh if lang == "zh" else row.name_en],
                textfont={"size": 11, "color": "#37474f"},
                hoverinfo="skip",
                showlegend=False,
            )
        )
    fixed = len(fig.data)
    # a hexagon marker about as wide as the cell: the plot is ~500 px over the area's height
    span = max(float(outlines.total_bounds[3] - outlines.total_bounds[1]), 1e-3)
    if outlines.empty:
        span = max(float(weekly.lat.max() - weekly.lat.min()), 1e-3)
    across = 2 * h3.average_hexagon_edge_length(resolution, unit="km") / 111.0
    size = max(4.0, min(60.0, 500 * across / span))

    def frame_of(week: object) -> go.Scatter:
        rows = weekly[weekly.week == week]
        return go.Scatter(
            x=rows.lon,
            y=rows.lat,
            mode="markers",
            marker={
                "symbol": "hexagon",
                "size": size,
                "color": rows.n,
                "cmin": 0,
                "cmax": top,
                "colorscale": [[i / 5, c] for i, c in enumerate(heat.HEAT_COLOURS)],
                "colorbar": {"title": t("cases", lang)},
            },
            text=[f"{int(n)}" for n in rows.n],
            hovertemplate=t("cases", lang) + " %{text}<extra></extra>",
            showlegend=False,
        )

    fig.add_trace(frame_of(weeks[-1]) if weeks else go.Scatter())  # the latest week first
    labels = [str(w) for w in weeks]
    fig.frames = [
        go.Frame(data=[frame_of(w)], traces=[fixed], name=label)
        for w, label in zip(weeks, labels, strict=True)
    ]
    playing = {"frame": {"duration": 500, "redraw": False}, "fromcurrent": True}
    play = {"label": "▶ " + t("play", lang), "method": "animate", "args": [None, playing]}
    still = {"frame": {"duration": 0}, "mode": "immediate"}
    pause = {"label": "❚❚ " + t("pause", lang), "method": "animate", "args": [[None], still]}
    fig.update_layout(
        height=560,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        xaxis={"visible": False},
        yaxis={"visible": False, "scaleanchor": "x", "scaleratio": 1.15},
        plot_bgcolor="#fafafa",
        updatemenus=[{"type": "buttons", "buttons": [play, pause], "x": 0, "y": 0}],
        sliders=[
            {
                "active": max(len(labels) - 1, 0),
                "currentvalue": {"prefix": t("week", lang) + ": "},
                "steps": [
                    {
                        "label": label,
                        "method": "animate",
                        "args": [[label], {"frame": {"duration": 0}, "mode": "immediate"}],
                    }
                    for label in labels
                ],
            }
        ],
    )
    return fig


def _rings(geom: shapely.Geometry) -> list[shapely.LinearRing]:
    polys = getattr(geom, "geoms", [geom])
    return [p.exterior for p in polys if p.geom_type == "Polygon"]
