"""User text made inert before it reaches a page: HTML-escaped, Markdown-escaped.

Case numbers (from imported ``source_id``), community names (from boundary files),
descriptions, worker and part codes and reasons are *data* typed by someone else.
Two places would otherwise turn them into markup:

- folium's ``GeoJsonTooltip`` writes feature properties with ``innerHTML``, so a
  property ``<img src=x onerror=…>`` runs script in the operator's session;
- Streamlit's ``st.markdown``/``st.caption``/``st.subheader``/``st.error`` render
  Markdown, so ``![](http://…)`` makes the operator's browser fetch a remote image
  and ``[URGENT](…)`` or ``:red[…]`` plants links and coloured text.

:func:`html_text` is applied where map features are built
(:func:`dashboard.maps._rounded`); :func:`markdown_text` wherever user text is put
into a Markdown string. Free text on its own is shown with ``st.text`` instead.
"""

from __future__ import annotations

import html
import re

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~:$=&@^])")


def html_text(value: object) -> object:
    """``value`` with ``& < > " '`` escaped when it is a string; anything else unchanged."""
    return html.escape(value, quote=True) if isinstance(value, str) else value


def markdown_text(value: object) -> str:
    """``value`` as text that Streamlit's Markdown shows literally (no links, images,
    colours, HTML or emphasis); line breaks become spaces.

    Examples
    --------
    >>> markdown_text("![x](http://evil/a.png) :red[URGENT]")
    '\\\\!\\\\[x\\\\]\\\\(http\\\\://evil/a\\\\.png\\\\) \\\\:red\\\\[URGENT\\\\]'
    """
    text = "" if value is None else str(value)
    text = " ".join(text.split())
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)
