"""The leader's map furniture: community outlines with their names and major roads under
every heat layer, and the chosen hotspot outlined."""

from __future__ import annotations

import json

import folium
import geopandas as gpd
import pandas as pd
from branca.element import MacroElement
from jinja2 import Template

from dashboard.labels import pick, t
from dashboard.maps import feature_layer


def add_places(
    m: folium.Map, outlines: gpd.GeoDataFrame, roads: gpd.GeoDataFrame, lang: str
) -> None:
    """Major roads (grey, name on hover) and community outlines (no fill) with their names
    written on the map, so that a hotspot can be told by place.

    Light for the browser: a road's pieces are one feature per name (a multi-line), and
    the names are one small script over one array (not a marker element each)."""
    if not roads.empty:
        shown = _roads_by_name(roads, lang)
        feature_layer(
            shown,
            ["name"],
            kind="road",
            key="road_id",
            name=t("major_roads", lang),
            tooltip=["name"],
            aliases=[t("road", lang)],
            style_function=lambda _f: {"color": "#78909c", "weight": 4, "opacity": 0.8},
        ).add_to(m)
    if outlines.empty:
        return
    named = outlines.assign(
        name=[pick(z, e, lang) for z, e in zip(outlines.name_zh, outlines.name_en, strict=True)]
    )
    feature_layer(
        named,
        ["name"],
        kind="community",
        key="code",
        name=t("communities", lang),
        tooltip=["name"],
        aliases=[t("community", lang)],
        style_function=lambda _f: {
            "fill": False,
            "color": "#37474f",
            "weight": 2,
            "dashArray": "6 4",
        },
    ).add_to(m)
    labels = folium.FeatureGroup(name=t("community_names", lang))
    points: list[list[float | str]] = [
        [round(float(r.lat), 6), round(float(r.lon), 6), str(r.name)] for r in named.itertuples()
    ]
    labels.add_child(PlaceNames(points))
    labels.add_to(m)
    m.get_root().header.add_child(  # type: ignore[attr-defined]
        folium.Element(
            "<style>.gg-place-name{font:bold 13px sans-serif;color:#263238;text-align:center;"
            "white-space:nowrap;text-shadow:0 0 3px #fff,0 0 3px #fff}</style>"
        )
    )


class PlaceNames(MacroElement):
    """Names written on the map at (lat, lon): one loop over one array, each a
    non-interactive label whose text is set as text (never parsed as markup)."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        {{ this.points_json }}.forEach(function (p) {
            var div = document.createElement("div");
            div.className = "gg-place-name";
            div.textContent = p[2];
            L.marker([p[0], p[1]], {
                interactive: false, keyboard: false,
                icon: L.divIcon({html: div, className: "gg-place-label",
                                 iconSize: [120, 20], iconAnchor: [60, 10]})
            }).addTo({{ this._parent.get_name() }});
        });
        {% endmacro %}
    """)

    def __init__(self, points: list[list[float | str]]) -> None:
        super().__init__()
        self._name = "PlaceNames"
        # JSON with <, > and & escaped: a name cannot close the script it is written in
        self.points_json = (
            json.dumps(points, ensure_ascii=False)
            .replace("<", "\\u003c")
            .replace(">", "\\u003e")
            .replace("&", "\\u0026")
        )


def _roads_by_name(roads: gpd.GeoDataFrame, lang: str) -> gpd.GeoDataFrame:
    """One feature per road name (its pieces as one multi-line; unnamed pieces apart)."""
    named = roads.assign(
        name=[pick(z, e, lang) for z, e in zip(roads.name_zh, roads.name_en, strict=True)]
    ).reset_index(drop=True)
    blank = named.name.fillna("").str.strip() == ""
    geom = named.geometry.name
    merged = named[~blank].dissolve(by="name", as_index=False, sort=True)[["name", geom]]
    rest = named[blank][["name", geom]]
    out = gpd.GeoDataFrame(
        pd.concat([merged, rest], ignore_index=True), geometry=geom, crs=roads.crs
    )
    return out.assign(road_id=range(len(out)))


def zoom_to(m: folium.Map, bounds: tuple[float, float, float, float], pad: float = 0.0003) -> None:
    """Fit the map to ``bounds`` (minx, miny, maxx, maxy) with a margin in degrees."""
    minx, miny, maxx, maxy = bounds
    m.fit_bounds([[miny - pad, minx - pad], [maxy + pad, maxx + pad]])


def add_chosen(m: folium.Map, cell: gpd.GeoDataFrame, lang: str) -> None:
    """The chosen hotspot's hexagon, outlined in blue over the heat."""
    if cell.empty:
        return
    feature_layer(
        cell,
        ["cell", "n"],
        kind="chosen",
        key="cell",
        name=t("chosen_hotspot", lang),
        tooltip=["n"],
        aliases=[t("cases", lang)],
        style_function=lambda _f: {"fill": False, "color": "#1565c0", "weight": 4},
    ).add_to(m)
