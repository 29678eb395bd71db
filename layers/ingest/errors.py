"""Exceptions of the importers and exporters; messages name the file, row and field."""

from __future__ import annotations


class IngestError(RuntimeError):
    """Base class: an import or export cannot go on; the message says what to do."""


class MappingError(IngestError):
    """A mapping file is malformed or names something the data or catalogue lacks."""


class SourceReadError(IngestError):
    """A source file cannot be read (missing, unsupported format, missing column)."""


class ImportBusyError(IngestError):
    """Another import of the same layer and source is running right now."""


class PersonalDataRefused(IngestError):
    """Personal data was asked for by a role that may not export it."""


class NotReadyError(IngestError):
    """Something an import needs is not loaded yet (catalogue, boundaries); says which command."""
