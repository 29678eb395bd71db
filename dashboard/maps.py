"""Folium maps of the district: layers, colours, legend, base map — served offline."""

from __future__ import annotations

import os
from html import escape

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import MacroElement, Template

from city import profile
from dashboard.labels import pick, t
from dashboard.offline import localize_assets
from dashboard.safe_text import html_text
from gis import heat

STATUS_COLOURS = {
    "reported": "#9e9e9e",
    "accepted": "#29b6f6",
    "registered": "#1e88e5",
    "dispatched": "#7e57c2",
    "in_handling": "#fb8c00",
    "suspended": "#8d6e63",
    "handled": "#43a047",
    "checked": "#00897b",
}
OVERDUE_COLOUR = "#d50000"
PART_COLOURS = {
    "P01": "#546e7a",
    "P02": "#3949ab",
    "P03": "#8e24aa",
    "P04": "#2e7d32",
    "P05": "#6d4c41",
    "P06": "#f9a825",
}
COMMUNITY_PALETTE = [
    "#e3f2fd",
    "#fce4ec",
    "#e8f5e9",
    "#fff3e0",
    "#ede7f6",
    "#e0f7fa",
    "#f9fbe7",
    "#fbe9e7",
    "#f3e5f5",
    "#e0f2f1",
    "#fffde7",
    "#eceff1",
]
BASE_MAPS: dict[str, tuple[str, str] | None] = {
    "none": None,
    "osm": ("https://tile.openstreetmap.org/{z}/{x}/{y}.png", "© OpenStreetMap contributors"),
    "tianditu": (
        "https://t0.tianditu.gov.cn/vec_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
        "&LAYER=vec&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}"
        "&TILEROW={y}&TILECOL={x}&tk=",
        "© 天地图 Tianditu",
    ),
}


def available_base_maps() -> list[str]:
    """Base maps the user may choose: none always; others when configured."""
    options = ["none"]
    if os.environ.get("GRIDGOV_TILE_URL") or profile().tiles.url:
        options.append("intranet")
    options.append("osm")
    if os.environ.get("GRIDGOV_TIANDITU_KEY"):
        options.append("tianditu")
    return options


def base_map(m: folium.Map, choice: str) -> None:
    """Add the chosen tile layer; ``none`` draws only the district's own layers."""
    if choice == "none":
        return
    if choice == "intranet":
        url, attribution = (
            os.environ.get("GRIDGOV_TILE_URL") or profile().tiles.url,
            os.environ.get("GRIDGOV_TILE_ATTRIBUTION", profile().tiles.attribution),
        )
    else:
        known = BASE_MAPS[choice]
        assert known is not None  # "none" returned above
        url, attribution = known
        if choice == "tianditu":
            url += os.environ["GRIDGOV_TIANDITU_KEY"]
    zoom = profile().tiles.max_zoom
    folium.TileLayer(url, attr=attribution, name=choice, max_zoom=zoom).add_to(m)


def new_map(extent: tuple[float, float, float, float] | None, base: str = "none") -> folium.Map:
    """An empty map fitted to ``extent`` with no tiles unless ``base`` asks for them."""
    tiles = profile().tiles
    m = folium.Map(
        tiles=None,
        control_scale=True,
        prefer_canvas=True,
        zoom_start=tiles.zoom,
        location=list(tiles.centre),
    )
    if extent:
        minx, miny, maxx, maxy = extent
        # at once, not animated from the profile's zoom: tile layers added meanwhile
        # would first load every tile in view at that zoom (half the requests)
        fit = folium.map.FitBounds([[miny, minx], [maxy, maxx]])
        fit.options["animate"] = False
        m.add_child(fit)
    base_map(m, base)
    return m


def _rounded(gdf: gpd.GeoDataFrame, columns: list[str]) -> gpd.GeoDataFrame:
    """Keep ``columns``, round coordinates to 1e-6° (~0.1 m, a third less JSON) and
    HTML-escape every text property.

    Every map layer's features are built here, and folium's tooltips write properties
    with ``innerHTML``: escaping once here keeps a case number, community name, worker
    or part code from an imported file from running as markup in the operator's page.
    """
    out = gpd.GeoDataFrame(gdf[columns].copy(), geometry=gdf.geometry.name, crs=gdf.crs)
    out[gdf.geometry.name] = shapely.transform(out.geometry.to_numpy(), lambda c: np.round(c, 6))
    for column in out.columns:
        if column == out.geometry.name:
            continue
        if out[column].dtype.kind == "M":
            out[column] = out[column].dt.strftime("%Y-%m-%d %H:%M")
        elif out[column].dtype.kind in "OSU" or isinstance(out[column].dtype, pd.StringDtype):
            out[column] = out[column].map(html_text).astype(object)
    return out


FEATURE_ID = "feature_id"
"""The property every drawn feature carries: ``<kind>:<key>`` (e.g. ``case:1234``)."""


def feature_layer(
    data: gpd.GeoDataFrame,
    columns: list[str],
    *,
    kind: str,
    key: str,
    name: str,
    tooltip: list[str],
    aliases: list[str],
    **options: object,
) -> folium.GeoJson:
    """The one place map features are built: ``columns`` of ``data`` as GeoJSON, each
    feature carrying its id (``FEATURE_ID`` = ``kind:<value of key>``) so that a click is
    known by what was clicked, never by its tooltip text; ``tooltip`` columns are shown
    under ``aliases``; ``options`` go to :class:`folium.GeoJson` (style, marker, …)."""
    shown = _rounded(data, [*dict.fromkeys([*columns, key]), data.geometry.name])
    shown[FEATURE_ID] = [f"{kind}:{value}" for value in data[key]]
    return folium.GeoJson(
        shown,
        name=name,
        tooltip=folium.GeoJsonTooltip(tooltip, aliases=aliases),
        **options,  # type: ignore[arg-type]
    )


def selected_id(clicked: dict | None, kind: str) -> str | None:
    """The key of the ``kind`` feature last clicked on a map (streamlit-folium's
    ``last_active_drawing``), or None when nothing of that kind was clicked."""
    feature = (clicked or {}).get("last_active_drawing") or {}
    ref = str((feature.get("properties") or {}).get(FEATURE_ID) or "")
    found, _, value = ref.partition(":")
    return value if found == kind and value else None


def _filled_layer(  # noqa: PLR0913 (folium layer properties, all keyword-only)
    m: folium.Map,
    data: gpd.GeoDataFrame,
    columns: list[str],
    *,
    kind: str,
    key: str,
    name: str,
    tooltip: list[str],
    aliases: list[str],
    opacity: float,
    edge: str | None,
    weight: float,
) -> None:
    """Polygons filled with their ``fill`` column (edges ``edge``, or the fill when None);
    ``columns`` (with ``fill``) go to the browser, ``tooltip`` ones under ``aliases``."""

    def style(feature: dict) -> dict:
        fill = feature["properties"]["fill"]
        return {"fillColor": fill, "fillOpacity": opacity, "color": edge or fill, "weight": weight}

    feature_layer(
        data,
        columns,
        kind=kind,
        key=key,
        name=name,
        tooltip=tooltip,
        aliases=aliases,
        style_function=style,
    ).add_to(m)


def _swatch(colour: str, label: str) -> str:
    """One legend row: a colour box and its (already escaped) label."""
    return (
        f'<div><span style="display:inline-block;width:12px;height:10px;'
        f'background:{colour}"></span> {label}</div>'
    )


def add_communities(m: folium.Map, gdf: gpd.GeoDataFrame, lang: str) -> None:
    data = gdf.assign(
        name=[pick(z, e, lang) for z, e in zip(gdf.name_zh, gdf.name_en, strict=True)],
        fill=[COMMUNITY_PALETTE[i % len(COMMUNITY_PALETTE)] for i in range(len(gdf))],
    )
    _filled_layer(
        m,
        data,
        ["code", "name", "households", "fill"],
        kind="community",
        key="code",
        name=t("communities", lang),
        tooltip=["name", "code", "households"],
        aliases=[t("community", lang), t("code", lang), t("households", lang)],
        opacity=0.9,
        edge="#37474f",
        weight=3,
    )


def add_grids(m: folium.Map, gdf: gpd.GeoDataFrame, lang: str) -> None:
    feature_layer(
        gdf,
        ["code", "households", "worker_code"],
        kind="grid",
        key="code",
        name=t("grids", lang),
        tooltip=["code", "households", "worker_code"],
        aliases=[t("grids", lang), t("households", lang), t("worker", lang)],
        style_function=lambda f: {
            "fill": True,
            "fillOpacity": 0.0,
            "color": "#607d8b",
            "weight": 1,
            "dashArray": "4 3",
        },
        highlight_function=lambda f: {"weight": 3, "color": "#263238"},
    ).add_to(m)


def add_parts(m: folium.Map, gdf: gpd.GeoDataFrame, lang: str) -> None:
    data = gdf.assign(
        name=[pick(z, e, lang) for z, e in zip(gdf.name_zh, gdf.name_en, strict=True)]
    )
    feature_layer(
        data,
        ["part_code", "name", "status", "major_code"],
        kind="part",
        key="part_code",
        name=t("parts", lang),
        tooltip=["name", "part_code", "status"],
        aliases=[t("parts", lang), t("code", lang), t("status", lang)],
        marker=folium.CircleMarker(radius=2.5, weight=0, fill=True, fill_opacity=0.8),
        style_function=lambda f: {
            "fillColor": PART_COLOURS.get(f["properties"]["major_code"], "#777")
        },
    ).add_to(m)


def add_open_cases(m: folium.Map, gdf: gpd.GeoDataFrame, lang: str) -> None:
    data = gdf.assign(
        category=[pick(z, e, lang) for z, e in zip(gdf.category_zh, gdf.category_en, strict=True)],
        state=[pick(z, e, lang) for z, e in zip(gdf.status_zh, gdf.status_en, strict=True)],
        hours_left=gdf.hours_left.astype(float).round(1),
    )
    feature_layer(
        data,
        ["case_no", "category", "state", "status", "overdue", "deadline_at", "hours_left"],
        kind="case",
        key="id",
        name=t("open_cases", lang),
        tooltip=["case_no", "category", "state", "deadline_at", "hours_left"],
        aliases=[
            t("case_no", lang),
            t("category", lang),
            t("status", lang),
            t("deadline", lang),
            t("hours_left", lang),
        ],
        marker=folium.CircleMarker(radius=5, fill=True, fill_opacity=0.9),
        style_function=_case_style,
    ).add_to(m)


def _case_style(feature: dict) -> dict:
    p = feature["properties"]
    colour = STATUS_COLOURS.get(p["status"], "#000")
    if p["overdue"]:
        return {"fillColor": colour, "color": OVERDUE_COLOUR, "weight": 2.5, "radius": 6}
    return {"fillColor": colour, "color": "#ffffff", "weight": 1}


class Legend(MacroElement):
    """A fixed legend box in the map's corner."""

    _template = Template("""
        {% macro html(this, kwargs) %}
        <div class="gridgov-legend" style="position:absolute; z-index:1000; bottom:24px;
             right:10px; background:rgba(255,255,255,.92); padding:8px 10px; border-radius:6px;
             box-shadow:0 1px 4px rgba(0,0,0,.3); font:12px/1.5 'Noto Sans CJK SC',sans-serif;">
        {{ this.body }}
        </div>
        {% endmacro %}
    """)

    def __init__(self, body: str) -> None:
        super().__init__()
        self._name = "Legend"
        self.body = body


def legend(lang: str, counts: dict[str, str], statuses: dict[str, str]) -> Legend:
    """Legend with the colour of each case status, overdue marking and counts shown."""
    rows = [f"<b>{escape(t('legend', lang))}</b>"]
    for code, label in statuses.items():
        rows.append(
            f'<div><span style="display:inline-block;width:10px;height:10px;'
            f'border-radius:5px;background:{STATUS_COLOURS[code]}"></span> '
            f"{escape(label)}</div>"
        )
    rows.append(
        f'<div><span style="display:inline-block;width:10px;height:10px;'
        f'border-radius:5px;border:3px solid {OVERDUE_COLOUR}"></span> '
        f"{escape(t('overdue', lang))}</div><hr style='margin:4px 0'>"
    )
    rows += [f"<div>{escape(name)}: {escape(value)}</div>" for name, value in counts.items()]
    return Legend("\n".join(rows))


def finish(m: folium.Map) -> folium.Map:
    """Layer switcher, then every asset pointed at the app's own copies."""
    folium.LayerControl(collapsed=False).add_to(m)
    return localize_assets(m)


def _ramp_legend(m: folium.Map, title: str, lo: float, hi: float) -> None:
    """Legend of the heat colour ramp: title, swatches, lowest … highest value."""
    swatches = "".join(
        f'<span style="display:inline-block;width:16px;height:10px;background:{c}"></span>'
        for c in heat.HEAT_COLOURS
    )
    Legend(f"<b>{escape(title)}</b><div>{swatches}</div><div>{lo:,.0f} … {hi:,.0f}</div>").add_to(m)


def heat_resolution(extent: tuple[float, float, float, float] | None, picked: int | str) -> int:
    """The H3 resolution to draw: as picked, or for "auto" the finest that keeps the
    area shown at most ~1,500 cells (fine for a community, coarser for a city)."""
    return heat.resolution_for_extent(extent) if picked == "auto" else int(picked)


def add_heat_cells(m: folium.Map, counts: pd.DataFrame, resolution: int, lang: str) -> None:
    """Choropleth of case counts on H3 cells at ``resolution`` (from r9 rollups)."""
    cells = heat.to_resolution(counts, resolution)
    if cells.empty:
        return
    hexes = heat.cell_polygons(cells)
    hexes["fill"] = [heat.HEAT_COLOURS[k] for k in heat.heat_classes(hexes.n.to_numpy())]
    _filled_layer(
        m,
        hexes,
        ["cell", "n", "fill"],
        kind="h3",
        key="cell",
        name=t("heat", lang),
        tooltip=["n", "cell"],
        aliases=[t("cases", lang), "H3"],
        opacity=0.75,
        edge="#ffffff",
        weight=0.5,
    )
    _ramp_legend(m, f"{t('cases', lang)} / H3 r{resolution}", hexes.n.min(), hexes.n.max())


def add_grid_heat(m: folium.Map, grids: gpd.GeoDataFrame, lang: str) -> None:
    """Grids coloured by cases per 1,000 households (so big and small grids compare)."""
    if grids.empty:
        return
    if grids.geometry.name != "geometry":
        grids = grids.rename_geometry("geometry")
    shown = grids.assign(rate=grids.per_1000_households.astype(float).fillna(0.0))
    shown["fill"] = [heat.HEAT_COLOURS[k] for k in heat.heat_classes(shown.rate.to_numpy())]
    _filled_layer(
        m,
        shown,
        ["code", "n", "households", "rate", "fill"],
        kind="grid",
        key="code",
        name=t("heat_grid", lang),
        tooltip=["code", "n", "households", "rate"],
        aliases=[t("grid", lang), t("cases", lang), t("households", lang), t("per_1000", lang)],
        opacity=0.7,
        edge="#555555",
        weight=0.6,
    )
    _ramp_legend(m, t("per_1000", lang), shown.rate.min(), shown.rate.max())


def add_density(
    m: folium.Map, bands: gpd.GeoDataFrame, bandwidth_m: float | None, lang: str
) -> None:
    """Kernel density bands (cases per km²), lowest band lightest."""
    if bands.empty:
        return
    colours = heat.HEAT_COLOURS[-len(bands) :] if len(bands) <= len(heat.HEAT_COLOURS) else None
    shown = bands.assign(
        fill=colours
        if colours
        else [heat.HEAT_COLOURS[k] for k in heat.heat_classes(bands.band.to_numpy())],
        lower=bands.lower.round(0),
        upper=bands.upper.round(0),
    )
    _filled_layer(
        m,
        shown,
        ["band", "lower", "upper", "fill"],
        kind="band",
        key="band",
        name=t("density", lang),
        tooltip=["lower", "upper"],
        aliases=[t("from", lang), t("to", lang)],
        opacity=0.6,
        edge=None,
        weight=0.5,
    )
    rows = [f"<b>{escape(t('cases_per_km2', lang))}</b>"]
    rows += [_swatch(r.fill, f"{r.lower:,.0f} – {r.upper:,.0f}") for r in shown.itertuples()]
    if bandwidth_m:
        rows.append(f"<div>{escape(t('bandwidth', lang))}: {bandwidth_m:,.0f} m</div>")
    Legend("\n".join(rows)).add_to(m)


def weekly_trend(daily: pd.DataFrame, lang: str) -> pd.DataFrame:
    """Cases per week (rows) and major class (columns, labelled in ``lang``)."""
    kind = daily.major.str[0].map({"P": t("parts", lang), "E": t("events", lang)})
    frame = daily.assign(label=kind + " · " + daily[f"name_{lang}"], day=pd.to_datetime(daily.day))
    table = frame.pivot_table(index="day", columns="label", values="n", aggfunc="sum", fill_value=0)
    return table.resample("W-MON", label="left", closed="left").sum()


COVERAGE_COLOURS = [(0.5, "#e53935"), (0.8, "#fb8c00"), (1.01, "#43a047")]


def _coverage_colour(share: float, patrol_days: int) -> str:
    if patrol_days == 0:
        return "#6d6d6d"
    return next(colour for limit, colour in COVERAGE_COLOURS if share < limit)


def add_coverage(m: folium.Map, grids: gpd.GeoDataFrame, lang: str) -> None:
    """Grids coloured by patrol coverage (grey: not visited)."""
    data = grids.assign(
        fill=[
            _coverage_colour(s, d)
            for s, d in zip(grids.covered_share, grids.worker_patrol_days, strict=True)
        ],
        coverage=(grids.covered_share * 100).round(0).astype(int).astype(str) + "%",
        walked_km=(grids.walked_m / 1000).round(1),
        hours=grids.get("time_spent_h", pd.Series(0.0, index=grids.index)).round(1),
    )
    _filled_layer(
        m,
        data,
        ["code", "worker_code", "households", "coverage", "walked_km", "hours", "fill"],
        kind="grid",
        key="code",
        name=t("coverage", lang),
        tooltip=["code", "worker_code", "coverage", "walked_km", "hours"],
        aliases=[
            t("grids", lang),
            t("worker", lang),
            t("coverage", lang),
            t("walked_km", lang),
            t("hours_in_grid", lang),
        ],
        opacity=0.45,
        edge="#37474f",
        weight=1,
    )
    rows = [f"<b>{escape(t('coverage', lang))}</b>"]
    labels = ["< 50%", "50–80%", "≥ 80%"]
    rows += [
        _swatch(colour, label) for (_, colour), label in zip(COVERAGE_COLOURS, labels, strict=True)
    ]
    rows.append(_swatch("#6d6d6d", escape(t("unvisited_grids", lang))))
    Legend("\n".join(rows)).add_to(m)


def add_tracks(m: folium.Map, tracks: gpd.GeoDataFrame, lang: str) -> None:
    """This week's patrol lines."""
    if tracks.empty:
        return
    feature_layer(
        tracks.assign(
            day=tracks.day.astype(str), track=tracks.worker_code + "@" + tracks.day.astype(str)
        ),
        ["worker_code", "day"],
        kind="track",
        key="track",
        name=t("tracks", lang),
        tooltip=["worker_code", "day"],
        aliases=[t("worker", lang), t("day", lang)],
        show=False,  # a week of tracks hides the grids: switched on from the layer control
        style_function=lambda f: {"color": "#1565c0", "weight": 1, "opacity": 0.35},
    ).add_to(m)


HOTSPOT_COLOURS = {
    3: "#b2182b",
    2: "#ef8a62",
    1: "#fddbc7",
    0: "#f7f7f7",
    -1: "#d1e5f0",
    -2: "#67a9cf",
    -3: "#2166ac",
}


def add_hotspot_cells(m: folium.Map, cells: pd.DataFrame, resolution: int, lang: str) -> None:
    """H3 cells coloured by their Gi* confidence bin (hot red, cold blue)."""
    if cells.empty:
        return
    hexes = heat.cell_polygons(cells.assign(z=cells.z.round(2), p=cells.p.round(4)))
    hexes["fill"] = hexes["bin"].map(HOTSPOT_COLOURS)
    _filled_layer(
        m,
        hexes,
        ["cell", "n", "z", "p", "bin", "fill"],
        kind="h3",
        key="cell",
        name=t("hotspots", lang),
        tooltip=["n", "z", "p", "bin"],
        aliases=[t("cases", lang), "Gi* z", "p", t("bin", lang)],
        opacity=0.75,
        edge="#ffffff",
        weight=0.5,
    )
    rows = [f"<b>{escape(t('hotspots', lang))} (Gi*, FDR) · H3 r{resolution}</b>"]
    for level, label in [
        (3, "99%"),
        (2, "95%"),
        (1, "90%"),
        (0, "—"),
        (-1, "90%"),
        (-2, "95%"),
        (-3, "99%"),
    ]:
        kind = (
            t("hot", lang)
            if level > 0
            else t("cold", lang)
            if level < 0
            else t("not_significant", lang)
        )
        rows.append(_swatch(HOTSPOT_COLOURS[level], f"{escape(kind)} {label}"))
    Legend("\n".join(rows)).add_to(m)


def add_plans(m: folium.Map, plans: gpd.GeoDataFrame, lang: str) -> None:
    """Next shift's planned routes (dashed purple)."""
    feature_layer(
        plans,
        ["worker_code", "n_stops", "length_m", "minutes"],
        kind="plan",
        key="worker_code",
        name=t("patrol_plan", lang),
        tooltip=["worker_code", "n_stops", "length_m", "minutes"],
        aliases=[t("worker", lang), t("n_stops", lang), t("length_m", lang), t("minutes", lang)],
        style_function=lambda f: {"color": "#6a1b9a", "weight": 2, "dashArray": "6 4"},
    ).add_to(m)
