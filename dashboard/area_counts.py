"""Counts per community on the map: what a whole city's district map draws instead of
every grid or part (tens of thousands of features would take the browser tens of seconds)."""

from __future__ import annotations

import folium
import geopandas as gpd
import numpy as np

from dashboard.labels import pick, t
from dashboard.maps import _ramp_legend, feature_layer
from gis import heat

COUNTED = ("grids", "parts", "open_cases", "overdue")
"""The per-community counts (columns of ``services.district.DistrictMap.communities``)."""


def add_area_counts(m: folium.Map, gdf: gpd.GeoDataFrame, lang: str, measure: str) -> None:
    """Communities coloured by their ``measure`` count, every count in the tooltip."""
    if gdf.empty:
        return
    values = gdf[measure].to_numpy(dtype=float)
    classes = heat.heat_classes(values)
    data = gdf.assign(
        name=[pick(z, e, lang) for z, e in zip(gdf.name_zh, gdf.name_en, strict=True)],
        fill=[heat.HEAT_COLOURS[int(c)] for c in classes],
    )
    columns = ["code", "name", "households", *COUNTED, "fill"]
    feature_layer(
        data,
        columns,
        kind="community",
        key="code",
        name=f"{t(measure, lang)} · {t('per_community', lang)}",
        tooltip=["name", "code", "households", *COUNTED],
        aliases=[
            t("community", lang),
            t("code", lang),
            t("households", lang),
            *(t(c, lang) for c in COUNTED),
        ],
        style_function=lambda f: {
            "fillColor": f["properties"]["fill"],
            "fillOpacity": 0.75,
            "color": "#37474f",
            "weight": 1,
        },
    ).add_to(m)
    _ramp_legend(
        m, f"{t(measure, lang)} · {t('per_community', lang)}", np.min(values), np.max(values)
    )
