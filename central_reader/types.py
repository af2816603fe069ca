"""Domain types of the central reader (no wire types: the stores never see pb2).

Timestamps are timezone-aware UTC ``datetime``; findings and priorities reuse the edge's
vocabulary (``edge_agent.types``) so the two ends speak the same words.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from edge_agent.types import Finding, Priority

__all__ = [
    "AuditAction",
    "AuditEvent",
    "Finding",
    "IngestResult",
    "NewRecord",
    "Patient",
    "Principal",
    "Priority",
    "QueueEntry",
    "QueueStats",
    "RecordDetail",
    "RecordStatus",
    "Report",
    "ReportDraft",
    "Role",
    "Sex",
    "StoredWaveform",
    "User",
]


class Role(StrEnum):
    """What a token may do; see the authorization matrix in ``central_reader.service``."""

    DEVICE = "device"
    CARDIOLOGIST = "cardiologist"
    HOSPITAL = "hospital"
    ADMIN = "admin"


class Sex(StrEnum):
    UNKNOWN = "unknown"
    MALE = "male"
    FEMALE = "female"
    OTHER = "other"


class RecordStatus(StrEnum):
    """``claimed`` means claimed with a lease that has not expired."""

    QUEUED = "queued"
    CLAIMED = "claimed"
    SIGNED = "signed"


class AuditAction(StrEnum):
    INGEST = "ingest"
    VIEW = "view"
    CLAIM = "claim"
    RELEASE = "release"
    SIGN = "sign"
    AMEND = "amend"


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller.

    ``county_id`` is None only for a global admin. ``site_id`` is set for a device bound to
    one site; a device with ``site_id`` None is a county gateway (any site of its county).
    """

    user_id: str
    role: Role
    name: str
    county_id: str | None
    site_id: str | None = None


@dataclass(frozen=True, slots=True)
class User:
    user_id: str
    name: str
    role: Role
    county_id: str | None
    site_id: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Patient:
    pseudo_id: str
    age_years: int | None
    sex: Sex


@dataclass(frozen=True, slots=True)
class StoredWaveform:
    """The wire waveform as received (int16 LE, lead-major, maybe zlib): ecgnet.codec."""

    fs_hz: float
    leads: tuple[str, ...]
    n_samples: int
    gain_counts_per_mv: float
    samples: bytes
    compressed: bool


@dataclass(frozen=True, slots=True)
class NewRecord:
    """A validated submission; ``content_sha256`` identifies its content for idempotency."""

    record_id: str
    site_id: str
    device_id: str
    acquired_at: datetime
    patient: Patient
    waveform: StoredWaveform
    priority: Priority
    findings: tuple[Finding, ...]
    analysis_json: str
    content_sha256: str


@dataclass(frozen=True, slots=True)
class IngestResult:
    record_id: str
    duplicate: bool
    received_at: datetime


@dataclass(frozen=True, slots=True)
class QueueEntry:
    """One record as the queue shows it."""

    record_id: str
    site_id: str
    county_id: str
    priority: Priority
    findings: tuple[Finding, ...]
    patient: Patient
    acquired_at: datetime
    received_at: datetime
    deadline: datetime
    status: RecordStatus
    claimed_by: str | None
    lease_expires_at: datetime | None

    def is_overdue(self, now: datetime) -> bool:
        """Unsigned and past its reading deadline."""
        return self.status is not RecordStatus.SIGNED and now > self.deadline


@dataclass(frozen=True, slots=True)
class ReportDraft:
    """What a cardiologist signs."""

    findings: tuple[Finding, ...]
    free_text: str
    conclusion: str


@dataclass(frozen=True, slots=True)
class Report:
    report_id: str
    record_id: str
    site_id: str
    version: int
    findings: tuple[Finding, ...]
    free_text: str
    conclusion: str
    signed_by: str
    signer_name: str
    signed_at: datetime
    amend_reason: str
    cursor: int


@dataclass(frozen=True, slots=True)
class RecordDetail:
    entry: QueueEntry
    device_id: str
    waveform: StoredWaveform
    analysis_json: str
    reports: tuple[Report, ...]
    previous_record_id: str | None


@dataclass(frozen=True, slots=True)
class AuditEvent:
    seq: int
    at: datetime
    user_id: str
    action: AuditAction
    record_id: str | None
    detail: str


@dataclass(frozen=True, slots=True)
class QueueStats:
    """Unsigned records per priority (claimed ones included) and how many are overdue."""

    depth: Mapping[Priority, int]
    overdue: int
