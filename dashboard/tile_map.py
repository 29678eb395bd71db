"""Vector-tile layers on a folium map: every case, part, grid and community, and the base map.

The tiles come from ``gridgov api`` (``/tiles/{layer}/{z}/{x}/{y}.pbf``) with the page's
signed token (``services.tiles.tile_access``); Leaflet.VectorGrid draws them on canvas.
Its script is the copy installed by ``scripts/build_assets.sh`` (``static/vendor``,
served by the dashboard), never a CDN. A click on a feature fills streamlit-folium's
``last_active_drawing`` with the feature's ``feature_id`` (``case:<id>`` …), so that
``dashboard.maps.selected_id`` reads tile clicks as it reads GeoJSON clicks; a click on
an aggregate of many cases zooms in. Tooltips are written with ``textContent``: text
from the database never becomes markup.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import quote, urlencode

import folium
from folium.elements import JSCSSMixin
from jinja2 import Template

from dashboard.labels import pick
from dashboard.maps import OVERDUE_COLOUR, PART_COLOURS, STATUS_COLOURS
from dashboard.offline import VENDOR_URL

VECTORGRID_JS = "vectorgrid/Leaflet.VectorGrid.bundled.min.js"
"""Leaflet.VectorGrid (npm ``leaflet.vectorgrid``), copied by the asset build."""
LAYER_NAMES = {
    "basemap": ("底图", "Base map"),
    "communities": ("社区", "Communities"),
    "grids": ("网格", "Grids"),
    "parts": ("部件", "Parts"),
    "cases": ("案件", "Cases"),
}
DEFAULT_LAYERS = ("basemap", "communities", "grids", "cases")
LIVE_LAYERS = ("basemap", "communities", "cases")
"""The live operator map's layers (one combined tile layer): the grids are left out."""
LIVE_TILE_SIZE = 512
"""The live operator map's tile size (see :func:`add_tile_layers`)."""
TILE_SIZES = (256, 512)
PANES = {"basemap": 250, "communities": 380, "grids": 390, "parts": 440, "cases": 450}
"""Leaflet pane z-index per layer: the base map under the tiles (overlays are at 400)."""
WORDS = {
    "cases_here": ("件案件", "cases"),
    "overdue": ("超期", "overdue"),
    "households": ("户", "households"),
}


class TileSource(Protocol):
    """What the page hands over (``services.tiles.TileAccess``): token and API URL."""

    @property
    def token(self) -> str: ...
    @property
    def api_url(self) -> str: ...


class VectorTileLayer(JSCSSMixin, folium.map.Layer):
    """One Leaflet.VectorGrid protobuf layer of ``/tiles/<layer>/…``."""

    _template = Template("""
        {% macro script(this, kwargs) -%}
        var {{ this.get_name() }} = (function () {
            var cfg = {{ this.config|tojson }};
            // Leaflet 1.9 dropped fakeStop, which VectorGrid's canvas clicks still call
            if (!L.DomEvent.fakeStop) {
                L.DomEvent.fakeStop = function (e) { e._stopped = true; };
            }
            var map = {{ this._parent.get_name() }};
            var pane = 'gridgov-' + cfg.layers[cfg.layers.length - 1];
            if (!map.getPane(pane)) { map.createPane(pane).style.zIndex = cfg.z; }
            function flag(v) { return v === true || v === 1 || v === 'true'; }
            function cases(p) {
                if (p.count > 1) {
                    return {radius: Math.min(24, 5 + 3 * Math.log2(p.count)), fill: true,
                            fillColor: p.overdue > 0 ? cfg.overdue : '#1e88e5',
                            fillOpacity: 0.7, color: '#ffffff', weight: 1};
                }
                var late = flag(p.overdue);
                return {radius: late ? 6 : 5, fill: true,
                        fillColor: cfg.colours[p.status] || '#455a64', fillOpacity: 0.9,
                        color: late ? cfg.overdue : '#ffffff', weight: late ? 2.5 : 1};
            }
            function parts(p) {
                return {radius: p.count > 1 ? Math.min(18, 3 + 2 * Math.log2(p.count)) : 3,
                        fill: true, fillOpacity: 0.8, weight: 0,
                        fillColor: cfg.parts[String(p.category || '').slice(0, 3)] || '#607d8b'};
            }
            // the base map answers no click or hover (interactive: false): the canvas
            // tests only the features that do, not every road and building under them
            function basemap(p) {
                if (p.kind === 'water') {
                    return {fill: true, fillColor: '#9fc9ea', fillOpacity: 1, color: '#7fb3dd',
                            weight: 1, interactive: false};
                }
                if (p.kind === 'building') {
                    return {fill: true, fillColor: '#e0dcd5', fillOpacity: 1, color: '#cfc8bd',
                            weight: 0.5, interactive: false};
                }
                var w = {major: 3, minor: 1.6, footway: 0.8}[p['class']] || 1;
                return {color: p['class'] === 'major' ? '#f5c26b' : '#bdbdbd', weight: w,
                        interactive: false};
            }
            var styles = {
                cases: cases, parts: parts, basemap: basemap,
                grids: {fill: true, fillOpacity: 0.02, color: '#5c6bc0', weight: 1},
                communities: {fill: true, fillOpacity: 0.04, fillColor: '#26a69a',
                              color: '#00796b', weight: 2}
            };
            var vts = {};
            cfg.layers.forEach(function (name) { vts[name] = styles[name]; });
            var kinds = {cases: 'case', parts: 'part'};
            var layer = L.vectorGrid.protobuf(cfg.url, {
                rendererFactory: L.canvas.tile, interactive: cfg.interactive, pane: pane,
                maxNativeZoom: 20, maxZoom: 22, vectorTileLayerStyles: vts,
                // a 512-px tile is the tile of the zoom below (4x the ground, one request)
                tileSize: cfg.tile_size, zoomOffset: cfg.tile_size === 512 ? -1 : 0,
                // no request for a tile wholly outside the area (nothing of it is there)
                bounds: cfg.bounds ? L.latLngBounds(cfg.bounds) : undefined,
                getFeatureId: function (f) {
                    var p = f.properties;
                    if (p.feature_id === undefined) {  // cases, parts: from the MVT id
                        var kind = kinds[f.layerName] || f.layerName;
                        p.feature_id = (p.count > 1 ? 'cluster' : kind) + ':' + f.id;
                    }
                    return p.feature_id;
                },
                attribution: cfg.attribution
            });
            // a tile of several layers: each feature learns its layer's name (for its id)
            // and a 512-px tile asks for the zoom below (VectorGrid puts the map's zoom in
            // the URL and ignores zoomOffset; x and y already count 512-px tiles)
            var fetchTile = layer._getVectorTilePromise;
            layer._getVectorTilePromise = function (coords) {
                var at = L.point(coords.x, coords.y);
                at.z = coords.z + this.options.zoomOffset;
                return fetchTile.call(this, at).then(function (tile) {
                    for (var name in tile.layers) {
                        tile.layers[name].features.forEach(function (f) { f.layerName = name; });
                    }
                    return tile;
                });
            };
            function label(p) {
                if (p.count > 1) {
                    return p.count + ' ' + cfg.words.cases_here +
                        (p.overdue > 0 ? ' · ' + p.overdue + ' ' + cfg.words.overdue : '');
                }
                var parts = [p.case_no || p.part_code || p.code || '',
                             cfg.lang === 'en' ? (p.category_en || p.name_en || '')
                                               : (p.category_zh || p.name_zh || ''),
                             cfg.lang === 'en' ? (p.status_en || '') : (p.status_zh || '')];
                if (p.households !== undefined) {
                    parts.push(p.households + ' ' + cfg.words.households);
                }
                if (flag(p.overdue)) { parts.push(cfg.words.overdue); }
                return parts.filter(function (s) { return s; }).join(' · ');
            }
            if (cfg.interactive) {
                // Leaflet takes a small circle for a marker and asks for its position; a
                // tile's points only know their pixel in the tile: give them their latlng
                layer.on('tileload', function (e) {
                    var r = layer._vectorTiles[layer._tileCoordsToKey(e.coords)];
                    var origin = e.coords.scaleBy(layer.getTileSize());
                    for (var id in (r && r._features) || {}) {
                        var symbol = r._features[id].feature;
                        if (symbol._point) {
                            symbol._latlng = map.unproject(origin.add(symbol._point), e.coords.z);
                        }
                    }
                });
                function where(e) {
                    return e.latlng || map.mouseEventToLatLng(e.originalEvent || e);
                }
                layer.on('click', function (e) {
                    var p = (e.layer && e.layer.properties) || {};
                    var ref = String(p.feature_id || '');
                    var at = where(e);
                    if (ref.indexOf('cluster:') === 0) {
                        map.setView(at, Math.min(map.getZoom() + 2, 20));
                    }
                    // what streamlit-folium sends back as last_active_drawing (a tile's
                    // symbols live in tile pixels: their own toGeoJSON has no position)
                    var feature = {type: 'Feature', properties: {feature_id: ref},
                                   geometry: {type: 'Point', coordinates: [at.lng, at.lat]}};
                    e.layer.feature = feature;
                    e.layer.toGeoJSON = function () { return feature; };
                });
                layer.on('mouseover', function (e) {
                    var p = (e.layer && e.layer.properties) || {};
                    var text = label(p);
                    if (!text) { return; }  // a road or a building of the base map
                    var box = document.createElement('div');
                    box.textContent = text;
                    L.tooltip({sticky: true}).setLatLng(where(e)).setContent(box).openOn(map);
                });
                layer.on('mouseout', function () { map.closeTooltip(); });
            }
            if (cfg.selected) {
                layer.setFeatureStyle(cfg.selected, {radius: 9, fill: true, fillOpacity: 1,
                    fillColor: '#ffeb3b', color: '#000000', weight: 3});
            }
            return layer;
        })();
        {%- endmacro %}
    """)

    def __init__(
        self,
        *,
        name: str,
        config: dict[str, Any],
        vendor_url: str = VENDOR_URL,
        control: bool = True,
    ) -> None:
        super().__init__(name=name, overlay=True, control=control, show=True)
        self._name = "VectorTileLayer"
        self.config = config
        self.default_js = [("gridgov_vectorgrid", f"{vendor_url}/{VECTORGRID_JS}")]


class SubLayerSwitch(folium.map.Layer):
    """The layer control's switch for one layer of a combined tile layer: off, that
    layer's features are not drawn (its style an empty list); the tiles stay one request
    each. Redrawn only on a change (not when first added: no second round of requests)."""

    _template = Template("""
        {% macro script(this, kwargs) -%}
        var {{ this.get_name() }} = L.layerGroup();
        (function (group, layer, name) {
            var styles = layer.options.vectorTileLayerStyles, shown = styles[name];
            group.on('add', function () {
                if (styles[name] !== shown) { styles[name] = shown; layer.redraw(); }
            });
            group.on('remove', function () { styles[name] = []; layer.redraw(); });
        })({{ this.get_name() }}, {{ this.tiles.get_name() }}, {{ this.sub|tojson }});
        {%- endmacro %}
    """)

    def __init__(self, *, name: str, tiles: VectorTileLayer, sub: str) -> None:
        super().__init__(name=name, overlay=True, control=True, show=True)
        self._name = "SubLayerSwitch"
        self.tiles = tiles
        self.sub = sub


def tile_url(
    source: TileSource,
    layer: str,
    *,
    status: str = "open",
    categories: Sequence[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    area: str | None = None,
    version: str | None = None,
) -> str:
    """The Leaflet URL template of ``layer``'s tiles (``{z}/{x}/{y}`` left for Leaflet),
    narrowed to ``area`` (a district, street or community code) when given; ``version``
    (the page's data version) makes new data a new URL, past the browser's and the API's
    caches (not for the base map, which the cases' changes do not touch)."""
    query: dict[str, str] = {"token": source.token}
    if area and layer.split(",") != ["basemap"]:
        query["area"] = area
    if version and layer.split(",") != ["basemap"]:
        query["v"] = version
    if "cases" in layer.split(","):
        query["status"] = status
        if categories:
            query["category"] = ",".join(categories)
        if since is not None:
            query["since"] = since.isoformat()
        if until is not None:
            query["until"] = until.isoformat()
    path = quote(layer, safe=",")  # several layers: one tile of them all
    return f"{source.api_url}/tiles/{path}/{{z}}/{{x}}/{{y}}.pbf?{urlencode(query, safe=',:')}"


def add_tile_layers(  # noqa: PLR0913 (the layers and the cases' filter, keyword-only)
    m: folium.Map,
    source: TileSource,
    *,
    lang: str,
    layers: Sequence[str] = DEFAULT_LAYERS,
    status: str = "open",
    categories: Sequence[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    selected: str | None = None,
    area: str | None = None,
    combine: bool = False,
    tile_size: int = 256,
    version: str | None = None,
    bounds: tuple[float, float, float, float] | None = None,
    vendor_url: str = VENDOR_URL,
) -> list[VectorTileLayer]:
    """Add one vector-tile layer per name in ``layers`` (drawn in that order) to ``m``, or
    with ``combine`` one layer whose tiles hold them all (one request per tile instead of
    one per layer and tile; drawn in that order, in the last layer's pane; the layer
    control still has one switch per layer, :class:`SubLayerSwitch`).

    Parameters
    ----------
    source
        The page's tile access (``services.tiles.tile_access(scope)``).
    status, categories, since, until
        The cases layer's filter: ``open`` / ``all`` / status codes ``a,b``; category
        service codes; reporting-time window.
    area
        The area picker's choice (district, street or community code; None: the user's
        whole area): cases, parts, grids and communities of that area only (the API
        refuses an area outside the user's own).
    selected
        A ``feature_id`` (e.g. ``case:123``) drawn highlighted.
    tile_size
        256, or 512: each tile drawn at twice the size from the tile of the zoom below
        (a quarter of the requests; points one by one from map zoom 17, aggregates of
        16 px cells below).
    version
        The page's data version (the live page: the newest history id it has seen), so
        that a change is a new tile URL (:func:`tile_url`).
    bounds
        The area's extent (min lon, min lat, max lon, max lat; the live page: its desk's):
        tiles wholly outside it are not asked for (a first render of the live page at
        1280 x 800: 6 requests instead of 8, all in one round of the browser's six
        connections). The base map beyond the tiles that touch it is not drawn.
    """
    if tile_size not in TILE_SIZES:
        raise ValueError(f"tile_size: {tile_size} is not one of {', '.join(map(str, TILE_SIZES))}")
    unknown = [name for name in layers if name not in LAYER_NAMES]
    if unknown:
        raise ValueError(f"layers: {', '.join(unknown)} not one of {', '.join(LAYER_NAMES)}")
    words = {key: pick(zh, en, lang) for key, (zh, en) in WORDS.items()}
    groups = [tuple(layers)] if combine else [(name,) for name in layers]
    added = []
    for group in groups:
        path = ",".join(group)
        top = group[-1]
        config = {
            "layer": path,
            "layers": list(group),
            "url": tile_url(
                source,
                path,
                status=status,
                categories=categories,
                since=since,
                until=until,
                area=area,
                version=version,
            ),
            "z": PANES[top],
            "tile_size": tile_size,
            "interactive": group != ("basemap",),
            "colours": STATUS_COLOURS,
            "parts": PART_COLOURS,
            "overdue": OVERDUE_COLOUR,
            "lang": lang,
            "words": words,
            "selected": selected if _kind_layer(selected) in group else None,
            "attribution": "© OpenStreetMap contributors" if "basemap" in group else "",
            "bounds": None if bounds is None else [[bounds[1], bounds[0]], [bounds[3], bounds[2]]],
        }
        name = (
            pick(*LAYER_NAMES[top], lang)
            if len(group) == 1
            else " · ".join(pick(*LAYER_NAMES[n], lang) for n in group)
        )
        switches = len(group) > 1
        layer = VectorTileLayer(
            name=name, config=config, vendor_url=vendor_url, control=not switches
        )
        layer.add_to(m)
        added.append(layer)
        for sub in group if switches else ():
            SubLayerSwitch(name=pick(*LAYER_NAMES[sub], lang), tiles=layer, sub=sub).add_to(m)
    return added


def _kind_layer(feature_id: str | None) -> str | None:
    kind = (feature_id or "").partition(":")[0]
    return {"case": "cases", "part": "parts", "grid": "grids", "community": "communities"}.get(kind)
