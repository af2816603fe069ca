"""The outbox's data types: what goes in (:class:`NewRecord`), what comes out, its status.

Plain frozen dataclasses and enums with no database code, so the upload path, the CLI and
the tests can use them without opening an outbox (:mod:`edge_agent.outbox` re-exports them).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from edge_agent.types import Priority

__all__ = [
    "EnqueueResult",
    "LinkState",
    "LinkStatus",
    "NewRecord",
    "OutboxStatus",
    "RecordState",
    "StoredRecord",
    "StoredReport",
]


class RecordState(StrEnum):
    """Where a record is in its life at the edge."""

    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class LinkState(StrEnum):
    """The uplink as last observed by the upload worker."""

    UNKNOWN = "unknown"
    UP = "up"
    DOWN = "down"


@dataclass(frozen=True, slots=True)
class NewRecord:
    """A record ready to queue: analysed, waveform encoded (see :mod:`ecgnet.codec`).

    ``samples`` are int16 counts, lead-major, zlib-compressed when ``compressed``; a value
    in mV is ``count / gain``. ``content_hash`` identifies the content (not the path): a
    second record with the same hash is a duplicate.
    """

    site_id: str
    device_id: str
    fs_hz: float
    leads: tuple[str, ...]
    n_samples: int
    gain: float
    samples: bytes
    compressed: bool
    priority: Priority
    findings: tuple[dict[str, Any], ...]
    analysis_json: str
    content_hash: str
    source: str = ""
    acquired_at: datetime | None = None
    patient_id: str | None = None
    age_years: float | None = None
    sex: str | None = None


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """A record as the outbox holds it (``samples`` is ``None`` once pruned after ack)."""

    record_id: str
    site_id: str
    device_id: str
    fs_hz: float
    leads: tuple[str, ...]
    n_samples: int
    gain: float
    samples: bytes | None
    compressed: bool
    priority: Priority
    findings: tuple[dict[str, Any], ...]
    analysis_json: str
    content_hash: str
    source: str
    acquired_at: datetime | None
    patient_id: str | None
    age_years: float | None
    sex: str | None
    state: RecordState
    attempts: int
    next_attempt_at: float
    last_error: str | None
    created_at: float
    sent_at: float | None


@dataclass(frozen=True, slots=True)
class EnqueueResult:
    """What :meth:`Outbox.enqueue` did: the record id, and whether it was there already."""

    record_id: str
    duplicate: bool
    state: RecordState


@dataclass(frozen=True, slots=True)
class LinkStatus:
    """Last known uplink state (persisted: ``status`` in another process sees it)."""

    state: LinkState
    changed_at: float | None
    last_success_at: float | None
    last_error: str | None
    last_error_at: float | None


@dataclass(frozen=True, slots=True)
class OutboxStatus:
    """A snapshot for ``ecg-edge status``."""

    path: str
    pending: int
    sent: int
    failed: int
    pending_critical: int
    oldest_pending_age_s: float | None
    used_bytes: int
    file_bytes: int
    max_bytes: int
    alarm_fraction: float
    link: LinkStatus
    reports: int
    waiting_files: int = 0
    waiting_oldest: str | None = None
    waiting_since: float | None = None

    @property
    def used_fraction(self) -> float:
        """Used share of the disk budget (0-1+)."""
        return self.used_bytes / self.max_bytes if self.max_bytes else 0.0

    @property
    def alarm(self) -> bool:
        """True when the outbox is at or above its alarm threshold."""
        return self.used_fraction >= self.alarm_fraction

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types."""
        return {
            "path": self.path,
            "pending": self.pending,
            "sent": self.sent,
            "failed": self.failed,
            "pending_critical": self.pending_critical,
            "oldest_pending_age_s": self.oldest_pending_age_s,
            "disk": {
                "used_bytes": self.used_bytes,
                "file_bytes": self.file_bytes,
                "max_bytes": self.max_bytes,
                "used_fraction": round(self.used_fraction, 4),
                "alarm": self.alarm,
            },
            "link": {
                "state": self.link.state.value,
                "changed_at": _iso(self.link.changed_at),
                "last_success_at": _iso(self.link.last_success_at),
                "last_error": self.link.last_error,
                "last_error_at": _iso(self.link.last_error_at),
            },
            "reports": self.reports,
            "waiting_for_space": {
                "files": self.waiting_files,
                "oldest": self.waiting_oldest,
                "since": _iso(self.waiting_since),
            },
        }


@dataclass(frozen=True, slots=True)
class StoredReport:
    """A signed report received from the central."""

    report_id: str
    version: int
    record_id: str
    site_id: str
    cursor: int
    signed_at: str | None
    signed_by: str
    conclusion: str
    payload: dict[str, Any]
    received_at: float


def _iso(t: float | None) -> str | None:
    return None if t is None else datetime.fromtimestamp(t, UTC).isoformat()
