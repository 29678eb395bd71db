"""The leader's map furniture: community outlines with their names and major roads under
every heat layer, and the chosen hotspot outlined."""

from __future__ import annotations

import folium
import geopandas as gpd

from dashboard.labels import pick, t
from dashboard.maps import feature_layer
from dashboard.safe_text import html_text


def add_places(
    m: folium.Map, outlines: gpd.GeoDataFrame, roads: gpd.GeoDataFrame, lang: str
) -> None:
    """Major roads (grey, name on hover) and community outlines (no fill) with their names
    written on the map, so that a hotspot can be told by place."""
    if not roads.empty:
        shown = roads.assign(
            name=[pick(z, e, lang) for z, e in zip(roads.name_zh, roads.name_en, strict=True)]
        )
        shown = shown.reset_index(drop=True).assign(road_id=range(len(shown)))
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
    for row in named.itertuples():
        folium.Marker(
            [row.lat, row.lon],
            icon=folium.DivIcon(
                html=f'<div class="gg-place-name">{html_text(row.name)}</div>',
                class_name="gg-place-label",
                icon_size=(120, 20),
                icon_anchor=(60, 10),
            ),
        ).add_to(labels)
    labels.add_to(m)
    m.get_root().header.add_child(  # type: ignore[attr-defined]
        folium.Element(
            "<style>.gg-place-name{font:bold 13px sans-serif;color:#263238;text-align:center;"
            "white-space:nowrap;text-shadow:0 0 3px #fff,0 0 3px #fff}</style>"
        )
    )


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
