"""Request validation (pure): every field the wire can carry is checked before it is stored.

Limits are module constants so the error details can quote them.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from ecgnet.codec import WaveformError, check_waveform

from central_reader.errors import InvalidRequestError
from central_reader.types import Finding, NewRecord, Priority, ReportDraft

__all__ = [
    "CLOCK_SKEW_CODE",
    "MAX_ANALYSIS_JSON_BYTES",
    "MAX_FINDINGS",
    "check_identifier",
    "check_record",
    "check_record_id",
    "check_report_draft",
    "correct_clock_skew",
]

MAX_ANALYSIS_JSON_BYTES = 1_000_000
MAX_FINDINGS = 64
MAX_TEXT = 20_000
MAX_CONCLUSION = 4_000
MAX_CLOCK_SKEW = timedelta(minutes=10)
#: Archives of older ECGs exist (PTB, 1990s); before 1980 a timestamp is a bug, not an ECG.
EARLIEST_ACQUISITION = datetime(1980, 1, 1, tzinfo=UTC)
_IDENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
_FIELD_LIMITS = {
    "code": 64,
    "label_en": 256,
    "label_zh": 256,
    "source": 128,
    "detail": 1024,
}


def check_identifier(value: str, field: str) -> str:
    """Site, device, user, county ids: 1-64 of ``[A-Za-z0-9._:-]``, alphanumeric first."""
    if not _IDENT.match(value):
        raise InvalidRequestError(
            "bad identifier",
            field=field,
            expected="1-64 of [A-Za-z0-9._:-]",
            got=repr(value[:80]),
        )
    return value


def check_record_id(value: str, field: str = "record_id") -> str:
    """A canonical lowercase UUID string."""
    try:
        parsed = uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        parsed = None
    if parsed is None or str(parsed) != value.lower():
        raise InvalidRequestError(
            "not a UUID", field=field, expected="a UUID string", got=repr(value[:80])
        )
    return str(parsed)


def _check_findings(findings: tuple[Finding, ...], field: str) -> None:
    if len(findings) > MAX_FINDINGS:
        raise InvalidRequestError(
            "too many findings",
            field=field,
            expected=f"<= {MAX_FINDINGS}",
            got=str(len(findings)),
        )
    for i, finding in enumerate(findings):
        if not finding.code:
            raise InvalidRequestError("finding without a code", field=f"{field}[{i}].code")
        for name, limit in _FIELD_LIMITS.items():
            value = getattr(finding, name)
            if len(value) > limit:
                raise InvalidRequestError(
                    "text too long",
                    field=f"{field}[{i}].{name}",
                    expected=f"<= {limit} characters",
                    got=str(len(value)),
                )
        p = finding.probability
        if p is not None and not 0.0 <= p <= 1.0:
            raise InvalidRequestError(
                "probability out of range",
                field=f"{field}[{i}].probability",
                expected="0-1",
                got=repr(p),
            )


def check_record(record: NewRecord, now: datetime) -> None:
    """Validate a submission completely, decoding its waveform once.

    Raises
    ------
    InvalidRequestError
        Any field out of its limits; waveform problems carry ``field="waveform.<part>"``.
    """
    check_record_id(record.record_id)
    check_identifier(record.site_id, "site_id")
    check_identifier(record.device_id, "device_id")
    if (
        record.acquired_at > now + MAX_CLOCK_SKEW
        or record.acquired_at < EARLIEST_ACQUISITION
    ):
        raise InvalidRequestError(
            "acquisition time implausible",
            field="acquired_at",
            expected=f"between 1980-01-01 and now + {MAX_CLOCK_SKEW}",
            got=record.acquired_at.isoformat(),
        )
    patient = record.patient
    if len(patient.pseudo_id) > 64:
        raise InvalidRequestError(
            "pseudonymous id too long",
            field="patient.pseudo_id",
            expected="<= 64 characters",
            got=str(len(patient.pseudo_id)),
        )
    if patient.age_years is not None and not 0 <= patient.age_years <= 130:
        raise InvalidRequestError(
            "age out of range",
            field="patient.age_years",
            expected="0-130",
            got=str(patient.age_years),
        )
    _check_findings(record.findings, "findings")
    if len(record.analysis_json.encode("utf-8")) > MAX_ANALYSIS_JSON_BYTES:
        raise InvalidRequestError(
            "analysis too large",
            field="analysis_json",
            expected=f"<= {MAX_ANALYSIS_JSON_BYTES} bytes",
        )
    if record.analysis_json:
        try:
            parsed = json.loads(record.analysis_json)
        except ValueError as exc:
            raise InvalidRequestError(f"not JSON ({exc})", field="analysis_json") from None
        if not isinstance(parsed, dict):
            raise InvalidRequestError(
                "must be a JSON object", field="analysis_json", got=type(parsed).__name__
            )
    try:
        check_waveform(record.waveform)  # type: ignore[arg-type]
    except WaveformError as exc:
        raise InvalidRequestError(
            exc.message,
            field=f"waveform.{exc.field}",
            expected=exc.expected or None,
            got=exc.got or None,
        ) from None


def check_report_draft(draft: ReportDraft) -> None:
    """A report needs a conclusion; texts and findings are bounded."""
    if not draft.conclusion.strip():
        raise InvalidRequestError("a signed report needs a conclusion", field="conclusion")
    if len(draft.conclusion) > MAX_CONCLUSION:
        raise InvalidRequestError(
            "conclusion too long",
            field="conclusion",
            expected=f"<= {MAX_CONCLUSION}",
            got=str(len(draft.conclusion)),
        )
    if len(draft.free_text) > MAX_TEXT:
        raise InvalidRequestError(
            "free text too long",
            field="free_text",
            expected=f"<= {MAX_TEXT}",
            got=str(len(draft.free_text)),
        )
    _check_findings(draft.findings, "findings")


_log = logging.getLogger(__name__)

#: Finding code the central adds to a record whose acquisition time cannot be right.
CLOCK_SKEW_CODE = "CLOCK_SKEW"


def _span(delta: timedelta) -> str:
    s = abs(delta.total_seconds())
    if s >= 86400:
        return f"{s / 86400:.1f} d"
    if s >= 3600:
        return f"{s / 3600:.1f} h"
    return f"{s / 60:.0f} min"


def correct_clock_skew(record: NewRecord, now: datetime) -> NewRecord:
    """A record whose acquisition time is impossible, kept with the central's time.

    A cart whose clock runs ahead (more than ``MAX_CLOCK_SKEW`` in the future) or was
    reset (before 1980, e.g. a dead RTC battery at 1970) still recorded a real patient:
    refusing it would lose the ECG at the cart for good. The record is accepted with the
    central's receive time as its acquisition time (the ECG cannot be younger than its
    arrival, so the reading deadline runs from the latest possible start) and a
    ``CLOCK_SKEW`` finding naming the time the cart reported, shown to the reader.

    The content hash (idempotency) is the request's own, so a retry of the same
    submission is still answered ``duplicate`` with the first receive time.
    """
    acquired = record.acquired_at
    if EARLIEST_ACQUISITION <= acquired <= now + MAX_CLOCK_SKEW:
        return record
    off = acquired - now
    direction = "ahead" if off > timedelta(0) else "behind"
    flag = Finding(
        code=CLOCK_SKEW_CODE,
        label_en="Cart clock wrong: acquisition time set to the central's receive time",
        label_zh="设备时钟错误: 采集时间以中心接收时间代替",
        priority=Priority.ROUTINE,
        source="central:clock-check",
        detail=(f"cart reported acquired_at {acquired.isoformat()}, {_span(off)}"
                f" {direction} of the central's clock; received {now.isoformat()}"),
    )
    findings = (*record.findings[: MAX_FINDINGS - 1], flag)
    _log.warning("record %s from %s/%s: acquisition time %s is %s %s; using receive time",
                 record.record_id, record.site_id, record.device_id, acquired.isoformat(),
                 _span(off), direction)
    return replace(record, acquired_at=now, findings=findings)
