"""Tables as files people open: Excel workbooks with one sheet per table."""

from __future__ import annotations

import io

import pandas as pd


def excel_workbook(sheets: dict[str, pd.DataFrame]) -> bytes:
    """An .xlsx file with one sheet per entry (names cut to Excel's 31 characters)."""
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        for name, frame in sheets.items():
            frame.to_excel(writer, sheet_name=name[:31], index=False)
    return buffer.getvalue()
