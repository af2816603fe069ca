"""Errors raised by the edge agent.

Hierarchy::

    EdgeAgentError(Exception)
    ├── InvalidSignalError(ValueError)      a signal array that breaks the array contract
    ├── RecordFormatError(ValueError)       a file that cannot be read as an ECG record
    │   └── UnsupportedFormatError          a file whose format we do not read
    ├── ModelLoadError(RuntimeError)        an ONNX model missing or not matching its card
    ├── OutboxError(RuntimeError)           the durable outbox cannot take a record
    │   └── OutboxFullError                 the outbox reached its disk limit
    │       └── DiskFullError               its filesystem is full (ENOSPC, SQLITE_FULL)
    └── UplinkError(ConnectionError)        the central reader could not be reached

Every error carries structured context (``path``, ``lead``, ``expected``, ``got``) and
renders it in ``str()`` so that a cart operator or a log line names the problem exactly.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DiskFullError",
    "EdgeAgentError",
    "InvalidSignalError",
    "ModelLoadError",
    "OutboxError",
    "OutboxFullError",
    "RecordFormatError",
    "UnsupportedFormatError",
    "UplinkError",
]


class EdgeAgentError(Exception):
    """Base of every error the edge agent raises on purpose."""

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        lead: str | None = None,
        expected: str | None = None,
        got: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        self.lead = lead
        self.expected = expected
        self.got = got

    def __str__(self) -> str:
        parts = []
        if self.path is not None:
            parts.append(f"{self.path}")
        if self.lead is not None:
            parts.append(f"lead {self.lead}")
        head = ": ".join([*parts, self.message]) if parts else self.message
        tail = []
        if self.expected is not None:
            tail.append(f"expected {self.expected}")
        if self.got is not None:
            tail.append(f"got {self.got}")
        return f"{head} ({', '.join(tail)})" if tail else head

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class InvalidSignalError(EdgeAgentError, ValueError):
    """The signal breaks the array contract (shape, dtype, finiteness, fs range)."""


class RecordFormatError(EdgeAgentError, ValueError):
    """A file cannot be read as an ECG record (truncated, bad header, bad XML...)."""


class UnsupportedFormatError(RecordFormatError):
    """The file is of a format the agent does not read."""


class ModelLoadError(EdgeAgentError, RuntimeError):
    """A triage model is missing or does not match its model card."""


class OutboxError(EdgeAgentError, RuntimeError):
    """The durable outbox cannot accept or return a record."""


class OutboxFullError(OutboxError):
    """The outbox reached its configured disk limit."""


class DiskFullError(OutboxFullError):
    """The outbox's filesystem is full (ENOSPC, SQLite "database or disk is full").

    Transient like :class:`OutboxFullError`: nothing was stored, retry once space is freed.
    """


class ConfigError(EdgeAgentError, ValueError):
    """A configuration value is missing, unknown or of the wrong type."""


class UplinkError(EdgeAgentError, ConnectionError):
    """The central reader could not be reached or refused the upload."""
