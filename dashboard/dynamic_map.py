"""A map whose data layers change without the map being rebuilt.

streamlit-folium keys its component by a hash of the map's script: a map whose data
changed (another area, another view) is a new component — a new iframe that loads its
page, Leaflet and every plugin again and builds a new map before it draws a feature. It
also takes ``feature_group_to_add``: layers sent beside an unchanged map, which its
front end swaps in the map it has (removes the last ones, evaluates the new ones).

:func:`split` turns a map built as usual (``maps.new_map`` + the ``add_*`` layers) into
that form: a base map that depends only on what stays (the user's whole area, the base
map), and the data layers as feature groups — each keeps its name, so the layer switcher
still lists it — with the view's fit and the legend as groups of their own that undo
themselves when they are swapped out. :func:`drawn_ids` says which features the map now
holds, so that a click made on an earlier map is not taken for one on this map.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

import folium
from branca.element import Element, MacroElement, Template

from dashboard.maps import FEATURE_ID, Legend


def _script_json(value: object) -> str:
    """JSON safe inside a script element (``<``, ``>``, ``&`` escaped)."""
    return (
        json.dumps(value, ensure_ascii=False)
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
    )


class FitView(MacroElement):
    """Fit the map to ``bounds`` ([[south, west], [north, east]]) at once, not animated."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        {{ this._parent._parent.get_name() }}.fitBounds({{ this.bounds_json }},
                                                        {{ this.options_json }});
        {% endmacro %}
    """)

    def __init__(self, fit: folium.map.FitBounds) -> None:
        super().__init__()
        self._name = "FitView"
        self.bounds_json = _script_json(fit.bounds)
        self.options_json = _script_json({**fit.options, "animate": False})


class LegendLayer(MacroElement):
    """The legend box of :class:`dashboard.maps.Legend`, put on the map by its group and
    taken off when the group is swapped out (a plain legend would stay and pile up)."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        (function () {
            var group = {{ this._parent.get_name() }};
            var map = {{ this._parent._parent.get_name() }};
            var box = document.createElement("div");
            box.innerHTML = {{ this.html_json }};
            var legend = box.firstElementChild;
            L.DomEvent.disableClickPropagation(legend);
            L.DomEvent.disableScrollPropagation(legend);
            map.getContainer().appendChild(legend);
            group.on("remove", function () { legend.remove(); });
        })();
        {% endmacro %}
    """)

    def __init__(self, legend: Legend) -> None:
        super().__init__()
        self._name = "LegendLayer"
        # the legend's own markup (its labels were escaped when it was built)
        self.html_json = _script_json(legend._template.module.html(legend).strip())


@dataclass
class SplitMap:
    """A map as a base (what does not change) and its data layers as feature groups."""

    base: folium.Map
    groups: list[folium.FeatureGroup]

    def drawn_ids(self) -> set[str]:
        """The ``feature_id`` of every feature in the groups (see :func:`drawn_ids`)."""
        return drawn_ids(self.groups)


def split(m: folium.Map, base: folium.Map) -> SplitMap:
    """Move ``m``'s data layers into feature groups to be sent beside ``base``.

    ``base`` is the map that stays between runs (built by ``maps.new_map`` for the user's
    whole area, with its base map); ``m`` is this run's map. Tile layers of ``m`` stay
    behind (``base`` has its own); its fit becomes a :class:`FitView`, its legends
    :class:`LegendLayer` s; a layer control is left out (pass one to ``st_folium``);
    ``m``'s page header elements (styles) are copied into ``base``'s. Anything else
    raises: it would not be drawn.
    """
    groups: list[folium.FeatureGroup] = []
    view = folium.FeatureGroup(name="view", control=False)
    for child in list(m._children.values()):
        if isinstance(child, folium.TileLayer | folium.LayerControl):
            continue
        if isinstance(child, folium.map.FitBounds):
            view.add_child(FitView(child))
        elif isinstance(child, Legend):
            view.add_child(LegendLayer(child))
        elif isinstance(child, folium.FeatureGroup):
            groups.append(child)
        elif isinstance(child, folium.map.Layer):
            group = folium.FeatureGroup(
                name=child.layer_name, overlay=child.overlay, control=child.control, show=child.show
            )
            group.add_child(child)
            groups.append(group)
        else:
            raise TypeError(f"a {type(child).__name__} cannot be sent as a map layer")
    header = base.get_root().header  # type: ignore[attr-defined]
    for name, element in m.get_root().header._children.items():  # type: ignore[attr-defined]
        if name not in header._children and not _same_as_any(element, header._children.values()):
            header.add_child(element, name=name)
    return SplitMap(base, [*groups, view] if view._children else groups)


def _same_as_any(element: Element, others: Iterable[Element]) -> bool:
    rendered = element.render()
    return any(other.render() == rendered for other in others)


def drawn_ids(groups: Iterable[folium.FeatureGroup]) -> set[str]:
    """The ``feature_id`` of every GeoJSON feature in ``groups`` (and their sublayers)."""
    out: set[str] = set()
    stack: list[Element] = list(groups)
    while stack:
        element = stack.pop()
        if isinstance(element, folium.GeoJson):
            for feature in (element.data or {}).get("features", []):
                ref = (feature.get("properties") or {}).get(FEATURE_ID)
                if ref is not None:
                    out.add(str(ref))
        stack.extend(element._children.values())
    return out


def click_on(clicked: dict | None, drawn: set[str]) -> dict | None:
    """``clicked`` (streamlit-folium's answer) if its feature is on the map now, else None:
    the map keeps its last click while its layers are swapped (another area), and that
    click was not made on this map."""
    feature = (clicked or {}).get("last_active_drawing") or {}
    ref = (feature.get("properties") or {}).get(FEATURE_ID)
    return clicked if ref is not None and str(ref) in drawn else None
