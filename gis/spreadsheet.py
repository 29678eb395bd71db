"""Cells that a spreadsheet shows as text, never runs as a formula (CSV/formula injection).

A case description, source id or reporter name imported from a 311 file can start with
``=``, ``+``, ``-``, ``@``, a tab or a carriage return; Excel, LibreOffice and WPS then
evaluate it (``=HYPERLINK(...)`` phones home, ``=cmd|' /C calc'!A0`` runs a program).
OWASP's advice for CSV is to prefix such a cell with a single quote, which the
spreadsheet hides and which keeps the text; a number stays a number.
"""

from __future__ import annotations

import re

import pandas as pd

FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "＝", "＋", "－", "＠")
"""First characters that make a spreadsheet read a cell as a formula (with full-width
forms, which some spreadsheets fold to ASCII)."""
_PLAIN_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def formula_safe_text(value: object) -> object:
    """``value`` with a leading ``'`` when it is text a spreadsheet would run as a formula.

    Examples
    --------
    >>> formula_safe_text("=HYPERLINK(\\"http://x\\")")
    '\\'=HYPERLINK("http://x")'
    >>> formula_safe_text("-12.5"), formula_safe_text(3)
    ('-12.5', 3)
    """
    if (
        isinstance(value, str)
        and value.startswith(FORMULA_START)
        and not _PLAIN_NUMBER.match(value)
    ):
        return "'" + value
    return value


def formula_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells are :func:`formula_safe_text` (other columns kept)."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype.kind == "O" or isinstance(out[column].dtype, pd.StringDtype):
            out[column] = out[column].map(formula_safe_text)
    if out.columns.dtype.kind == "O":
        out.columns = [formula_safe_text(c) for c in out.columns]
    return out
