"""Every error ceasewatch raises on purpose.

Each subclass also derives from the builtin it refines, so callers that do not know
ceasewatch can still catch ``ValueError`` or ``LookupError``.
"""

from __future__ import annotations


class CeasewatchError(Exception):
    """Base class of all ceasewatch errors."""


class AgreementError(CeasewatchError, ValueError):
    """An agreement file is missing, malformed or inconsistent.

    ``problems`` lists every problem found, each as ``(file, field, message)``.
    """

    def __init__(self, message: str, problems: list[tuple[str, str, str]] | None = None) -> None:
        super().__init__(message)
        self.problems: list[tuple[str, str, str]] = problems or []


class IngestError(CeasewatchError, ValueError):
    """A source file cannot be ingested at all (wrong kind, unreadable)."""


class SourceFormatError(IngestError):
    """A file is not of the expected source format (e.g. missing columns)."""


class StoreError(CeasewatchError, RuntimeError):
    """The store cannot be opened or is inconsistent."""


class NotFoundError(CeasewatchError, LookupError):
    """A requested record (agreement version, violation, batch) does not exist."""


class MissingExtraError(CeasewatchError, ImportError):
    """An optional capability needs an extra that is not installed."""
