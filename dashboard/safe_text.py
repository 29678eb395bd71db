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

_ASCII_PUNCTUATION = re.compile(r"[!-/:-@\[-`{-~]")
_JOINER = "\u2060"


def html_text(value: object) -> object:
    """``value`` with ``& < > " '`` escaped when it is a string; anything else unchanged."""
    return html.escape(value, quote=True) if isinstance(value, str) else value


def markdown_text(value: object) -> str:
    """``value`` as text that Streamlit's Markdown shows literally (no links, images,
    colours, HTML or emphasis); line breaks become spaces.

    Every ASCII punctuation character becomes a numeric character reference, which
    Markdown shows as that character and never reads as syntax. Bare-URL autolinks
    (``http://…``, ``www.…``, ``a@b.c``) and Streamlit's ``:red[…]`` directives are
    found *after* references are decoded, in the text itself, so an invisible
    WORD JOINER (U+2060) follows every ``:`` and ``@`` and precedes every ``.``:
    the text reads the same and no pattern matches.

    Examples
    --------
    >>> markdown_text("![x](http://e.vil)")
    '&#33;&#91;x&#93;&#40;http&#58;\u2060&#47;&#47;e\u2060&#46;vil&#41;'
    """
    text = "" if value is None else str(value)
    text = " ".join(text.split())
    return _ASCII_PUNCTUATION.sub(_reference, text)


def _reference(match: re.Match[str]) -> str:
    char = match.group()
    ref = f"&#{ord(char)};"
    if char in ":@":
        return ref + _JOINER
    return _JOINER + ref if char == "." else ref
