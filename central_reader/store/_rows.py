"""Row <-> domain conversions shared by the SQL stores (times as integer microseconds)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from central_reader.types import (
    Finding,
    Patient,
    Priority,
    QueueEntry,
    RecordStatus,
    Report,
    Role,
    Sex,
    User,
)

__all__ = [
    "Row",
    "Tx",
    "entry_from_row",
    "findings_from_json",
    "findings_to_json",
    "from_us",
    "opt_dt",
    "opt_us",
    "report_from_row",
    "to_us",
    "user_from_row",
]

Row = Mapping[str, Any]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_us(dt: datetime) -> int:
    """Aware datetime -> integer microseconds since the epoch."""
    delta = dt - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_us(us: int) -> datetime:
    """Integer microseconds since the epoch -> aware UTC datetime."""
    return datetime.fromtimestamp(us // 1_000_000, UTC).replace(microsecond=us % 1_000_000)


def opt_us(dt: datetime | None) -> int | None:
    return None if dt is None else to_us(dt)


def opt_dt(us: int | None) -> datetime | None:
    return None if us is None else from_us(int(us))


def findings_to_json(findings: Sequence[Finding]) -> str:
    """Findings as a JSON array with the wire's field names."""
    return json.dumps(
        [
            {
                "code": f.code,
                "label_en": f.label_en,
                "label_zh": f.label_zh,
                "priority": f.priority.value,
                "source": f.source,
                "probability": f.probability,
                "detail": f.detail,
            }
            for f in findings
        ],
        ensure_ascii=False,
    )


def findings_from_json(text: str) -> tuple[Finding, ...]:
    """Inverse of :func:`findings_to_json`."""
    return tuple(
        Finding(
            code=d["code"],
            label_en=d["label_en"],
            label_zh=d["label_zh"],
            priority=Priority(d["priority"]),
            source=d["source"],
            probability=d["probability"],
            detail=d["detail"],
        )
        for d in json.loads(text)
    )


def entry_from_row(row: Row, now_us: int) -> QueueEntry:
    lease = row["lease_expires_at"]
    if row["signed"]:
        status = RecordStatus.SIGNED
    elif row["claimed_by"] is not None and lease is not None and lease > now_us:
        status = RecordStatus.CLAIMED
    else:
        status = RecordStatus.QUEUED
    live = status is RecordStatus.CLAIMED
    return QueueEntry(
        record_id=row["record_id"],
        site_id=row["site_id"],
        county_id=row["county_id"],
        priority=Priority(row["priority"]),
        findings=findings_from_json(row["findings_json"]),
        patient=Patient(
            pseudo_id=row["patient_id"],
            age_years=None if row["patient_age"] is None else int(row["patient_age"]),
            sex=Sex(row["patient_sex"]),
        ),
        acquired_at=from_us(int(row["acquired_at"])),
        received_at=from_us(int(row["received_at"])),
        deadline=from_us(int(row["deadline"])),
        status=status,
        claimed_by=row["claimed_by"] if live else None,
        lease_expires_at=opt_dt(lease) if live else None,
    )


def report_from_row(row: Row) -> Report:
    return Report(
        report_id=row["report_id"],
        record_id=row["record_id"],
        site_id=row["site_id"],
        version=int(row["version"]),
        findings=findings_from_json(row["findings_json"]),
        free_text=row["free_text"],
        conclusion=row["conclusion"],
        signed_by=row["signed_by"],
        signer_name=row["signer_name"],
        signed_at=from_us(int(row["signed_at"])),
        amend_reason=row["amend_reason"],
        cursor=int(row["cursor"]),
    )


def user_from_row(row: Row) -> User:
    return User(
        user_id=row["user_id"],
        name=row["name"],
        role=Role(row["role"]),
        county_id=row["county_id"],
        site_id=row["site_id"],
        created_at=from_us(int(row["created_at"])),
    )


class Tx(Protocol):
    """The cursor-like handle a transaction yields."""

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int: ...
    def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None: ...
    def all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...
