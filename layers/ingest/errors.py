"""Exceptions of the importers and exporters; messages name the file, row and field."""

from __future__ import annotations

from gis.errors import GridGovError


class IngestError(GridGovError, RuntimeError):
    """Base class: an import or export cannot go on; the message says what to do."""

    code = "ingest"
    kind = "bad_input"


class MappingError(IngestError):
    """A mapping file is malformed or names something the data or catalogue lacks."""

    code = "bad_mapping"


class SourceReadError(IngestError):
    """A source file cannot be read (missing, unsupported format, missing column)."""

    code = "unreadable_source"


class ImportBusyError(IngestError):
    """Another import of the same layer and source is running right now."""

    code = "import_busy"
    kind = "conflict"


class PersonalDataRefused(IngestError):
    """Personal data was asked for by a role that may not export it."""

    code = "personal_data_refused"
    kind = "forbidden"


class NotReadyError(IngestError):
    """Something an import needs is not loaded yet (catalogue, boundaries); says which command."""

    code = "not_ready"
    kind = "conflict"
