"""Issue 13 finding 6: Excel workbooks from the dashboard hold no formula cells."""

import io

import pandas as pd
from openpyxl import load_workbook

from dashboard.export import excel_workbook

PLANTED = ['=HYPERLINK("http://evil.example","x")', "=cmd|' /C calc'!A0", "@SUM(A1)", "+1+1"]


def test_workbook_cells_are_text_not_formulas():
    frame = pd.DataFrame({"description": PLANTED, "n": [1, 2, 3, 4], "delta": [-1.5, 0, 1, 2]})
    book = load_workbook(io.BytesIO(excel_workbook({"cases": frame})))
    sheet = book["cases"]
    cells = [row[0] for row in sheet.iter_rows(min_row=2)]
    assert [c.data_type for c in cells] == ["s"] * 4
    assert [c.value for c in cells] == PLANTED  # the text itself is kept
    assert all(c.quotePrefix for c in cells)
    assert [row[1].value for row in sheet.iter_rows(min_row=2)] == [1, 2, 3, 4]
    assert sheet["C2"].value == -1.5 and sheet["C2"].data_type == "n"
