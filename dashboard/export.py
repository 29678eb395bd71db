"""Tables as files people open: Excel workbooks with one sheet per table."""

from __future__ import annotations

import io

import pandas as pd

from gis.spreadsheet import formula_safe_text


def excel_workbook(sheets: dict[str, pd.DataFrame]) -> bytes:
    """An .xlsx file with one sheet per entry (names cut to Excel's 31 characters).

    No cell is a formula: openpyxl stores text starting with ``=`` as one, so such
    cells — and any text a spreadsheet would evaluate when edited (``+``, ``-``,
    ``@``, see :func:`gis.spreadsheet.formula_safe_text`) — are written as text
    with Excel's quote prefix (shown as typed, never run; the text itself unchanged).
    """
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        for name, frame in sheets.items():
            frame.to_excel(writer, sheet_name=name[:31], index=False)
            for row in writer.sheets[name[:31]].iter_rows():
                for cell in row:
                    if isinstance(cell.value, str) and formula_safe_text(cell.value) != cell.value:
                        cell.data_type = "s"
                        cell.quotePrefix = True
    return buffer.getvalue()
