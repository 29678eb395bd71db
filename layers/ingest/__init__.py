"""Bring real city data in — validated, idempotent, crash-safe — and take it back out.

Importers (``load_cases``, ``load_parts``, ``load_buildings``, ``load_boundaries``)
read a source file as a YAML mapping describes (:mod:`layers.ingest.mapping`),
check every row (:mod:`layers.ingest.validation`), assign street, community,
grid and H3 cells (:mod:`layers.ingest.assignment`), COPY the good rows into a
staging table and move them into the layer with set-based SQL. Bad rows go to
``import_quarantine``; every run keeps an account in ``import_runs`` where
read = loaded + quarantined + already present. Exports: :mod:`layers.ingest.export`.
"""

from layers.ingest.boundaries import load_boundaries
from layers.ingest.buildings import load_buildings
from layers.ingest.cases import load_cases
from layers.ingest.errors import (
    ImportBusyError,
    IngestError,
    MappingError,
    NotReadyError,
    PersonalDataRefused,
    SourceReadError,
)
from layers.ingest.mapping import Mapping, load_mapping, mapping_from_dict
from layers.ingest.parts import load_parts
from layers.ingest.runs import ImportAccount, import_runs, quarantined, run_account

__all__ = [
    "ImportAccount",
    "ImportBusyError",
    "IngestError",
    "Mapping",
    "MappingError",
    "NotReadyError",
    "PersonalDataRefused",
    "SourceReadError",
    "import_runs",
    "load_boundaries",
    "load_buildings",
    "load_cases",
    "load_mapping",
    "load_parts",
    "mapping_from_dict",
    "quarantined",
    "run_account",
]
