"""Errors raised by the central reader.

Hierarchy, with the gRPC status each maps to (applied in one place,
``central_reader.grpc_api.STATUS_FOR``)::

    ReaderError(Exception)
    ├── InvalidRequestError(ValueError)         INVALID_ARGUMENT   bad field, size, fs
    ├── NotFoundError(LookupError)              NOT_FOUND          no such record/site
    ├── ConflictError                           ALREADY_EXISTS
    │   └── DuplicateRecordError                same record id, other content
    ├── PreconditionError                       FAILED_PRECONDITION
    │   ├── ClaimConflictError                  claimed by another, or signed
    │   └── VersionConflictError                amending a stale report version
    ├── AuthenticationError                     UNAUTHENTICATED    bad or no token
    ├── PermissionDeniedError(PermissionError)  PERMISSION_DENIED  role or scope
    ├── StoreUnavailableError(ConnectionError)  UNAVAILABLE        database down/busy
    └── ConfigError(ValueError)                 (startup only)     bad URL, TLS files

Every error carries structured context (``field``, ``expected``, ``got``) and renders it in
``str()``; that text becomes the gRPC status detail.
"""

from __future__ import annotations

__all__ = [
    "AuthenticationError",
    "ClaimConflictError",
    "ConfigError",
    "ConflictError",
    "DuplicateRecordError",
    "InvalidRequestError",
    "NotFoundError",
    "PermissionDeniedError",
    "PreconditionError",
    "ReaderError",
    "StoreUnavailableError",
    "VersionConflictError",
]


class ReaderError(Exception):
    """Base of every error the central reader raises on purpose."""

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        expected: str | None = None,
        got: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.expected = expected
        self.got = got

    def __str__(self) -> str:
        head = f"{self.field}: {self.message}" if self.field else self.message
        tail = []
        if self.expected is not None:
            tail.append(f"expected {self.expected}")
        if self.got is not None:
            tail.append(f"got {self.got}")
        return f"{head} ({', '.join(tail)})" if tail else head

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class InvalidRequestError(ReaderError, ValueError):
    """A request field is missing, malformed or out of range."""


class NotFoundError(ReaderError, LookupError):
    """No such record, site, user or report (or it is outside the caller's county)."""


class ConflictError(ReaderError):
    """The thing being created already exists in a different form."""


class DuplicateRecordError(ConflictError):
    """A record id was submitted again with different content."""


class PreconditionError(ReaderError):
    """The request is valid but the record is not in a state that allows it."""


class ClaimConflictError(PreconditionError):
    """Someone else holds the claim, or the record is already signed."""


class VersionConflictError(PreconditionError):
    """An amendment names a report version that is no longer the latest."""


class AuthenticationError(ReaderError):
    """No token, an unknown token or a revoked one."""


class PermissionDeniedError(ReaderError, PermissionError):
    """The caller's role or county/site scope does not allow the call."""


class StoreUnavailableError(ReaderError, ConnectionError):
    """The database cannot be reached or stays locked past its timeout."""


class ConfigError(ReaderError, ValueError):
    """Startup configuration is wrong (database URL, TLS files, deadlines)."""
