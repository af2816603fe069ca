"""The storage interface of the central reader.

``ReadingStore`` is implemented by :class:`~central_reader.store.sqlite.SqliteStore` (the
embedded default) and :class:`~central_reader.store.postgres.PostgresStore` (several central
instances on one database). Both pass one contract suite (``tests/central_reader/
test_store_contract.py``). Stores speak domain types only (``central_reader.types``); they
never import generated protobuf code, and they do no authorization: the service layer
decides who may call what, the store enforces state (exclusive claims, versions,
idempotency).

Every method that writes commits before it returns; once a write method returned, a crash
does not lose it. Times are passed in by the caller (an injectable clock), stored as integer
microseconds since the Unix epoch (UTC).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime

from central_reader.types import (
    AuditAction,
    AuditEvent,
    IngestResult,
    NewRecord,
    Principal,
    QueueEntry,
    QueueStats,
    RecordDetail,
    Report,
    ReportDraft,
    User,
)

__all__ = ["ReadingStore", "TokenInfo"]


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A token's metadata; the secret itself is never stored, only its SHA-256."""

    token_id: str
    user_id: str
    label: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


class ReadingStore(ABC):
    """Records, the reading queue, reports, users, tokens and the audit log."""

    # -- lifecycle -----------------------------------------------------------------------

    @abstractmethod
    def migrate(self) -> list[int]:
        """Apply pending numbered migrations; return the versions applied.

        Constraints
        -----------
        Idempotent; safe when several instances start at once (one applies, the others
        wait and then see nothing pending).
        """

    @abstractmethod
    def close(self) -> None:
        """Close every connection; the store is unusable afterwards."""

    # -- directory: counties, sites, users, tokens ---------------------------------------

    @abstractmethod
    def add_county(self, county_id: str, name: str) -> None:
        """Create a county; no-op when it exists."""

    @abstractmethod
    def add_site(self, site_id: str, county_id: str, name: str) -> None:
        """Create a site of a county.

        Constraints
        -----------
        No-op when the site exists in the same county; ``ConflictError`` when it exists in
        another county; ``NotFoundError`` when the county does not exist.
        """

    @abstractmethod
    def site_county(self, site_id: str) -> str | None:
        """The county of a site, or None when the site is unknown."""

    @abstractmethod
    def add_user(self, user: User) -> None:
        """Create a user; ``ConflictError`` when the id is taken."""

    @abstractmethod
    def list_users(self) -> list[User]:
        """Every user, ordered by id."""

    @abstractmethod
    def add_token(
        self,
        token_id: str,
        token_sha256: str,
        user_id: str,
        label: str,
        created_at: datetime,
        expires_at: datetime | None,
    ) -> None:
        """Store a token hash for a user; ``NotFoundError`` when the user does not exist."""

    @abstractmethod
    def list_tokens(self, user_id: str | None = None) -> list[TokenInfo]:
        """Tokens (never their secrets), ordered by creation."""

    @abstractmethod
    def revoke_token(self, token_id: str, now: datetime) -> bool:
        """Revoke a token; False when there is no such unrevoked token."""

    @abstractmethod
    def principal_for_token(self, token_sha256: str, now: datetime) -> Principal | None:
        """The caller a token hash belongs to.

        Constraints
        -----------
        None for an unknown, revoked or expired token.
        """

    # -- records and the queue ------------------------------------------------------------

    @abstractmethod
    def insert_record(
        self,
        record: NewRecord,
        *,
        county_id: str,
        tier: int,
        deadline: datetime,
        received_at: datetime,
    ) -> IngestResult:
        """Store a record and queue it, committed before returning.

        Constraints
        -----------
        Idempotent on ``record_id``: the same ``content_sha256`` again returns
        ``duplicate=True`` with the first ``received_at`` and changes nothing; another
        content under the same id raises ``DuplicateRecordError``. Safe under concurrent
        submissions of the same id (exactly one insert wins). Appends an ``ingest`` audit
        event in the same transaction.
        """

    @abstractmethod
    def list_queue(
        self,
        county_id: str | None,
        now: datetime,
        *,
        limit: int = 100,
        include_claimed: bool = False,
    ) -> list[QueueEntry]:
        """Unsigned records of a county (all counties for None) in queue order.

        Constraints
        -----------
        Order: tier ascending, deadline ascending, received_at, record_id. A claim whose
        lease has expired counts as unclaimed (status ``queued``). Claimed records are
        listed only with ``include_claimed``.
        """

    @abstractmethod
    def claim(
        self,
        record_id: str | None,
        *,
        county_id: str,
        user_id: str,
        now: datetime,
        lease_until: datetime,
    ) -> QueueEntry:
        """Take an exclusive claim (or renew one's own) until ``lease_until``.

        Constraints
        -----------
        ``record_id`` None claims the first unclaimed record of the county in queue
        order. Never hands one record to two claimants whose leases overlap, also across
        processes sharing the database. ``NotFoundError`` when the record is not in the
        county or nothing is free; ``ClaimConflictError`` when it is signed or another
        user's lease is live. Appends a ``claim`` audit event in the same transaction.
        """

    @abstractmethod
    def release(
        self,
        record_id: str,
        *,
        county_id: str | None,
        user_id: str,
        force: bool,
        now: datetime,
    ) -> None:
        """Drop a claim.

        Constraints
        -----------
        Only the claimant may release unless ``force``; ``ClaimConflictError`` otherwise
        (and when the record is signed or not claimed). ``county_id`` None = any county.
        Appends a ``release`` audit event.
        """

    @abstractmethod
    def record_county(self, record_id: str) -> str | None:
        """The county of a record, or None when there is no such record (cheap check)."""

    @abstractmethod
    def get_record(self, record_id: str, now: datetime) -> RecordDetail | None:
        """A record with its waveform, analysis and reports (oldest version first)."""

    @abstractmethod
    def sign_report(
        self,
        record_id: str,
        *,
        signer: Principal,
        draft: ReportDraft,
        report_id: str,
        now: datetime,
    ) -> Report:
        """Sign version 1 of the report and release the claim.

        Constraints
        -----------
        The signer must hold the claim (an expired lease nobody else took still counts);
        ``ClaimConflictError`` when not claimed by the signer or already signed,
        ``NotFoundError`` when the record does not exist. The report's cursor is larger
        than every cursor committed before it (commit order), so a resumed stream never
        skips a report. Appends a ``sign`` audit event.
        """

    @abstractmethod
    def amend_report(
        self,
        record_id: str,
        *,
        signer: Principal,
        draft: ReportDraft,
        base_version: int,
        reason: str,
        report_id: str,
        now: datetime,
    ) -> Report:
        """Sign version ``base_version + 1``; earlier versions stay unchanged.

        Constraints
        -----------
        ``VersionConflictError`` when ``base_version`` is not the latest version,
        ``ClaimConflictError`` when the record is not signed yet. Same cursor guarantee as
        ``sign_report``. Appends an ``amend`` audit event.
        """

    @abstractmethod
    def reports_after(self, site_id: str, cursor: int, *, limit: int = 100) -> list[Report]:
        """Reports of a site with ``cursor`` greater than the given one, in cursor order."""

    @abstractmethod
    def append_audit(
        self,
        *,
        user_id: str,
        action: AuditAction,
        record_id: str | None,
        detail: str,
        now: datetime,
    ) -> None:
        """Append one audit event (the log cannot be updated or deleted)."""

    @abstractmethod
    def list_audit(
        self, record_id: str | None = None, *, limit: int = 1000
    ) -> list[AuditEvent]:
        """Audit events, oldest first, optionally for one record."""

    @abstractmethod
    def queue_stats(self, now: datetime) -> QueueStats:
        """Unsigned records per priority and the overdue count (for metrics)."""
