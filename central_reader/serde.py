"""Conversions between ``ecgnet.v1`` messages and domain types (paired ``x_from_proto`` /
``x_to_proto``). No rules here: validation lives in ``central_reader.validation``.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from ecgnet.v1 import common_pb2, ingest_pb2, reading_pb2
from google.protobuf.timestamp_pb2 import Timestamp  # type: ignore[import-untyped]

from central_reader.errors import InvalidRequestError
from central_reader.types import (
    Finding,
    NewRecord,
    Patient,
    Priority,
    QueueEntry,
    RecordDetail,
    RecordStatus,
    Report,
    ReportDraft,
    Sex,
    StoredWaveform,
)

__all__ = [
    "detail_to_proto",
    "draft_from_proto",
    "entry_to_proto",
    "finding_from_proto",
    "finding_to_proto",
    "priority_from_proto",
    "priority_to_proto",
    "record_from_proto",
    "report_to_proto",
    "timestamp_from_datetime",
    "timestamp_to_datetime",
    "waveform_from_proto",
    "waveform_to_proto",
]

_PRIORITY_FROM: dict[int, Priority] = {
    common_pb2.PRIORITY_CRITICAL: Priority.CRITICAL,
    common_pb2.PRIORITY_WARNING: Priority.WARNING,
    common_pb2.PRIORITY_ROUTINE: Priority.ROUTINE,
    common_pb2.PRIORITY_UNREADABLE: Priority.UNREADABLE,
}
_PRIORITY_TO: dict[Priority, common_pb2.Priority] = {
    Priority.CRITICAL: common_pb2.PRIORITY_CRITICAL,
    Priority.WARNING: common_pb2.PRIORITY_WARNING,
    Priority.ROUTINE: common_pb2.PRIORITY_ROUTINE,
    Priority.UNREADABLE: common_pb2.PRIORITY_UNREADABLE,
}
_SEX_FROM: dict[int, Sex] = {
    common_pb2.SEX_UNSPECIFIED: Sex.UNKNOWN,
    common_pb2.SEX_MALE: Sex.MALE,
    common_pb2.SEX_FEMALE: Sex.FEMALE,
    common_pb2.SEX_OTHER: Sex.OTHER,
}
_SEX_TO: dict[Sex, common_pb2.Sex] = {
    Sex.UNKNOWN: common_pb2.SEX_UNSPECIFIED,
    Sex.MALE: common_pb2.SEX_MALE,
    Sex.FEMALE: common_pb2.SEX_FEMALE,
    Sex.OTHER: common_pb2.SEX_OTHER,
}
_STATUS_TO = {
    RecordStatus.QUEUED: reading_pb2.RECORD_STATUS_QUEUED,
    RecordStatus.CLAIMED: reading_pb2.RECORD_STATUS_CLAIMED,
    RecordStatus.SIGNED: reading_pb2.RECORD_STATUS_SIGNED,
}


def priority_from_proto(value: int) -> Priority | None:
    """Domain priority, or None for PRIORITY_UNSPECIFIED / unknown numbers."""
    return _PRIORITY_FROM.get(int(value))


def priority_to_proto(priority: Priority) -> common_pb2.Priority:
    return _PRIORITY_TO[priority]


def timestamp_to_datetime(ts: Timestamp) -> datetime:
    """Aware UTC datetime of a Timestamp (microsecond precision)."""
    return datetime.fromtimestamp(ts.seconds, UTC).replace(microsecond=ts.nanos // 1000)


def timestamp_from_datetime(dt: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(dt.astimezone(UTC))
    return ts


def finding_from_proto(msg: common_pb2.Finding) -> Finding:
    return Finding(
        code=msg.code,
        label_en=msg.label_en,
        label_zh=msg.label_zh,
        priority=priority_from_proto(msg.priority) or Priority.ROUTINE,
        source=msg.source,
        probability=msg.probability if msg.HasField("probability") else None,
        detail=msg.detail,
    )


def finding_to_proto(finding: Finding) -> common_pb2.Finding:
    msg = common_pb2.Finding(
        code=finding.code,
        label_en=finding.label_en,
        label_zh=finding.label_zh,
        priority=priority_to_proto(finding.priority),
        source=finding.source,
        detail=finding.detail,
    )
    if finding.probability is not None:
        msg.probability = finding.probability
    return msg


def waveform_from_proto(msg: common_pb2.Waveform) -> StoredWaveform:
    return StoredWaveform(
        fs_hz=msg.fs_hz,
        leads=tuple(msg.leads),
        n_samples=msg.n_samples,
        gain_counts_per_mv=msg.gain_counts_per_mv,
        samples=bytes(msg.samples),
        compressed=msg.compressed,
    )


def waveform_to_proto(wf: StoredWaveform) -> common_pb2.Waveform:
    return common_pb2.Waveform(
        fs_hz=wf.fs_hz,
        leads=list(wf.leads),
        n_samples=wf.n_samples,
        gain_counts_per_mv=wf.gain_counts_per_mv,
        samples=wf.samples,
        compressed=wf.compressed,
    )


def patient_from_proto(msg: common_pb2.Patient) -> Patient:
    return Patient(
        pseudo_id=msg.pseudo_id,
        age_years=msg.age_years if msg.HasField("age_years") else None,
        sex=_SEX_FROM.get(int(msg.sex), Sex.UNKNOWN),
    )


def patient_to_proto(patient: Patient) -> common_pb2.Patient:
    msg = common_pb2.Patient(pseudo_id=patient.pseudo_id, sex=_SEX_TO[patient.sex])
    if patient.age_years is not None:
        msg.age_years = patient.age_years
    return msg


def record_from_proto(
    msg: ingest_pb2.SubmitRecordRequest, *, default_device_id: str = ""
) -> NewRecord:
    """A submission as a domain record (unvalidated, except what conversion needs).

    ``content_sha256`` hashes the deterministic serialization of the request, so a retry
    of the same submission hashes identically.
    """
    priority = priority_from_proto(msg.priority)
    if priority is None:
        raise InvalidRequestError(
            "priority must be set",
            field="priority",
            expected="CRITICAL, WARNING, ROUTINE or UNREADABLE",
            got=str(msg.priority),
        )
    if not msg.HasField("acquired_at"):
        raise InvalidRequestError("acquisition time must be set", field="acquired_at")
    if not msg.HasField("waveform"):
        raise InvalidRequestError("waveform must be set", field="waveform")
    try:
        acquired_at = timestamp_to_datetime(msg.acquired_at)
    except (ValueError, OverflowError, OSError) as exc:
        raise InvalidRequestError(
            "acquisition time is not a valid timestamp", field="acquired_at",
            got=f"{msg.acquired_at.seconds} s {msg.acquired_at.nanos} ns",
        ) from exc
    return NewRecord(
        record_id=msg.record_id.lower(),
        site_id=msg.site_id,
        device_id=msg.device_id or default_device_id,
        acquired_at=acquired_at,
        patient=patient_from_proto(msg.patient),
        waveform=waveform_from_proto(msg.waveform),
        priority=priority,
        findings=tuple(finding_from_proto(f) for f in msg.findings),
        analysis_json=msg.analysis_json,
        content_sha256=hashlib.sha256(
            msg.SerializeToString(deterministic=True)
        ).hexdigest(),
    )


def entry_to_proto(entry: QueueEntry, now: datetime) -> reading_pb2.QueueItem:
    item = reading_pb2.QueueItem(
        record_id=entry.record_id,
        site_id=entry.site_id,
        county_id=entry.county_id,
        priority=priority_to_proto(entry.priority),
        findings=[finding_to_proto(f) for f in entry.findings],
        patient=patient_to_proto(entry.patient),
        acquired_at=timestamp_from_datetime(entry.acquired_at),
        received_at=timestamp_from_datetime(entry.received_at),
        deadline=timestamp_from_datetime(entry.deadline),
        status=_STATUS_TO[entry.status],
        overdue=entry.is_overdue(now),
        claimed_by=entry.claimed_by or "",
    )
    if entry.lease_expires_at is not None:
        item.lease_expires_at.CopyFrom(timestamp_from_datetime(entry.lease_expires_at))
    return item


def report_to_proto(report: Report) -> common_pb2.Report:
    return common_pb2.Report(
        report_id=report.report_id,
        record_id=report.record_id,
        site_id=report.site_id,
        version=report.version,
        findings=[finding_to_proto(f) for f in report.findings],
        free_text=report.free_text,
        conclusion=report.conclusion,
        signed_by=report.signed_by,
        signer_name=report.signer_name,
        signed_at=timestamp_from_datetime(report.signed_at),
        amend_reason=report.amend_reason,
        cursor=report.cursor,
    )


def detail_to_proto(detail: RecordDetail, now: datetime) -> reading_pb2.RecordDetail:
    return reading_pb2.RecordDetail(
        item=entry_to_proto(detail.entry, now),
        device_id=detail.device_id,
        waveform=waveform_to_proto(detail.waveform),
        analysis_json=detail.analysis_json,
        reports=[report_to_proto(r) for r in detail.reports],
        previous_record_id=detail.previous_record_id or "",
    )


def draft_from_proto(
    msg: reading_pb2.SignReportRequest | reading_pb2.AmendReportRequest,
) -> ReportDraft:
    return ReportDraft(
        findings=tuple(finding_from_proto(f) for f in msg.findings),
        free_text=msg.free_text,
        conclusion=msg.conclusion,
    )
