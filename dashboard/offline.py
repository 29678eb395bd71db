"""Serve every script and stylesheet a folium map needs from the app itself.

folium and its plugins point at public CDNs; on a command-centre network with no
internet the map would never appear. :func:`localize_assets` rewrites each
element's ``default_js``/``default_css`` to the copies installed by
``scripts/build_assets.sh`` under ``static/vendor`` (served by Streamlit at
``/app/static/vendor``). An asset we do not ship raises instead of silently
falling back to the internet.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import folium
from branca.element import Element

from gis.errors import GridGovError

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
VENDOR_URL = "/app/static/vendor"

# folium asset name -> path under static/vendor, or None to leave it out (not used by our maps)
LOCAL_JS: dict[str, str | None] = {
    "leaflet": "leaflet/leaflet.js",
    "jquery": "jquery/jquery.min.js",
    "bootstrap": None,
    "awesome_markers": "awesome-markers/leaflet.awesome-markers.js",
    "leaflet-heat.js": "leaflet.heat/leaflet-heat.js",
    "markerclusterjs": "markercluster/leaflet.markercluster.js",
}
LOCAL_CSS: dict[str, str | None] = {
    "leaflet_css": "leaflet/leaflet.css",
    "bootstrap_css": None,
    "glyphicons_css": None,
    "awesome_markers_font_css": "fontawesome/css/all.min.css",
    "awesome_markers_css": "awesome-markers/leaflet.awesome-markers.css",
    "awesome_rotate_css": None,
    "markerclustercss": "markercluster/MarkerCluster.css",
    "markerclusterdefaultcss": "markercluster/MarkerCluster.Default.css",
}


class OfflineAssetError(GridGovError, RuntimeError):
    """A map element needs a script or stylesheet that GridGov does not serve."""

    code = "offline_assets"
    kind = "internal"


def localize_assets(fig: folium.Map, base_url: str = VENDOR_URL) -> folium.Map:
    """Point every asset of ``fig`` and its children at ``base_url``; return ``fig``.

    Raises
    ------
    OfflineAssetError
        When an element needs an asset with no local copy, or the copies were
        never installed (run ``make setup``).
    """
    if not (STATIC_DIR / "vendor" / "leaflet" / "leaflet.js").exists():
        raise OfflineAssetError(
            "The map's front-end assets are not installed: run `make setup` "
            "(scripts/build_assets.sh)."
        )
    for element in _walk(fig):
        # folium's JSCSSMixin elements carry these lists; plain branca Elements have none
        for attribute, table in (("default_js", LOCAL_JS), ("default_css", LOCAL_CSS)):
            setattr(element, attribute, _local(element, attribute, table, base_url))
    return fig


def _local(
    element: Element, attribute: str, table: dict[str, str | None], base_url: str
) -> list[tuple[str, str]]:
    out = []
    for name, url in getattr(element, attribute, []):
        if url.startswith(base_url):
            out.append((name, url))
            continue
        if name not in table:
            raise OfflineAssetError(
                f"{type(element).__name__} needs {name} ({url}), which "
                "GridGov does not serve; add it to frontend/ and LOCAL_JS/CSS."
            )
        if table[name] is not None:
            out.append((name, f"{base_url}/{table[name]}"))
    return out


def _walk(element: Element) -> Iterator[Element]:
    if hasattr(element, "default_js") or hasattr(element, "default_css"):
        yield element
    for child in getattr(element, "_children", {}).values():
        yield from _walk(child)
