"""gRPC client of the central reader: ``Ingest.Submit`` and the site's ``Reports`` stream.

Every call has a deadline. A failed call is classified once, here (:func:`classify`):

- *retry* (the link or the central is unwell: ``UNAVAILABLE``, ``DEADLINE_EXCEEDED``,
  ``RESOURCE_EXHAUSTED``, ``ABORTED``, ``CANCELLED``, ``UNAUTHENTICATED``,
  ``PERMISSION_DENIED``, ``UNIMPLEMENTED``): the record stays pending and is retried with
  exponential backoff and full jitter, for ever - a credential or version problem is fixed
  by the operator, not by dropping records;
- *retry, bounded* (``INTERNAL``, ``UNKNOWN``, ``DATA_LOSS``): maybe a central bug tied to
  this record, so after ``max_attempts_internal`` attempts the record becomes ``failed``;
- *reject* (``INVALID_ARGUMENT``, ``ALREADY_EXISTS`` - the same id with different content -,
  ``FAILED_PRECONDITION``, ``OUT_OF_RANGE``, ``NOT_FOUND``): the record becomes ``failed``
  with the central's message kept; the operator can requeue it.

TLS is the default (system roots or ``tls_ca``, optional per-device certificate); a device
token travels as ``authorization: Bearer <token>`` metadata. ``insecure=True`` opens a
plaintext channel, for local development only.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import grpc
from ecgnet.v1 import common_pb2, ingest_pb2, ingest_pb2_grpc, reports_pb2, reports_pb2_grpc
from google.protobuf import json_format, timestamp_pb2  # type: ignore[import-untyped]

from edge_agent.errors import UplinkError
from edge_agent.outbox import StoredRecord, StoredReport
from edge_agent.types import Priority

__all__ = [
    "Outcome",
    "SubmitResult",
    "Uplink",
    "backoff_delay",
    "build_submit_request",
    "classify",
    "report_from_proto",
]

logger = logging.getLogger(__name__)

_MAX_MESSAGE_BYTES = 32 * 1024 * 1024


class Outcome(StrEnum):
    """What to do with a record after one ``Submit`` attempt."""

    ACKED = "acked"
    RETRY = "retry"
    RETRY_BOUNDED = "retry_bounded"
    REJECTED = "rejected"


_RETRY = frozenset({
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.ABORTED,
    grpc.StatusCode.CANCELLED,
    grpc.StatusCode.UNAUTHENTICATED,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.UNIMPLEMENTED,
})
_RETRY_BOUNDED = frozenset({
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.UNKNOWN,
    grpc.StatusCode.DATA_LOSS,
})
#: Codes that say "the link/central is down" (not "this record is odd").
LINK_DOWN_CODES = frozenset({
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.UNAUTHENTICATED,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.UNIMPLEMENTED,
})


def classify(code: grpc.StatusCode) -> Outcome:
    """Map a gRPC status code to the outbox's next step (see the module docstring)."""
    if code is grpc.StatusCode.OK:
        return Outcome.ACKED
    if code in _RETRY:
        return Outcome.RETRY
    if code in _RETRY_BOUNDED:
        return Outcome.RETRY_BOUNDED
    return Outcome.REJECTED


def backoff_delay(
    attempt: int, *, base_s: float, cap_s: float, rng: random.Random | None = None
) -> float:
    """Exponential backoff with full jitter: uniform in ``[0, min(cap, base * 2**(n-1))]``.

    ``attempt`` counts from 1. Full jitter (AWS architecture blog, "Exponential Backoff And
    Jitter", 2015) spreads a fleet of carts that lost the link at the same moment.
    """
    n = max(1, int(attempt))
    ceiling = min(cap_s, base_s * 2.0 ** min(n - 1, 62))
    return (rng or random).uniform(0.0, ceiling)


@dataclass(frozen=True, slots=True)
class SubmitResult:
    """One ``Submit`` attempt: outcome, gRPC code name and the central's message."""

    record_id: str
    outcome: Outcome
    code: str
    detail: str
    duplicate: bool = False

    @property
    def link_down(self) -> bool:
        """True when the failure says the link (not the record) is the problem."""
        return self.code in {c.name for c in LINK_DOWN_CODES}


_PRIORITY_PB = {
    Priority.CRITICAL: common_pb2.PRIORITY_CRITICAL,
    Priority.WARNING: common_pb2.PRIORITY_WARNING,
    Priority.ROUTINE: common_pb2.PRIORITY_ROUTINE,
    Priority.UNREADABLE: common_pb2.PRIORITY_UNREADABLE,
}
_SEX_PB = {"M": common_pb2.SEX_MALE, "F": common_pb2.SEX_FEMALE}


def _timestamp(t: datetime) -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    # A naive time is the cart's local wall clock (as carts export it).
    ts.FromDatetime(t if t.tzinfo is not None else t.astimezone(UTC))
    return ts


def _finding_pb(d: dict[str, Any]) -> common_pb2.Finding:
    try:
        prio = _PRIORITY_PB[Priority(str(d.get("priority", "routine")))]
    except ValueError:
        prio = common_pb2.PRIORITY_UNSPECIFIED
    msg = common_pb2.Finding(
        code=str(d.get("code", "")),
        label_en=str(d.get("label_en", d.get("label", ""))),
        label_zh=str(d.get("label_zh", "")),
        priority=prio,
        source=str(d.get("source", "")),
        detail=str(d.get("detail", "") or ""),
    )
    if d.get("probability") is not None:
        msg.probability = float(d["probability"])
    return msg


def build_submit_request(rec: StoredRecord) -> ingest_pb2.SubmitRecordRequest:
    """The wire form of an outbox record (the waveform goes as stored: int16 + gain, zlib).

    Raises
    ------
    UplinkError
        The record's waveform bytes were pruned (it was already acknowledged).
    """
    if rec.samples is None:
        raise UplinkError(
            "record has no waveform left to send (already acknowledged)", got=rec.record_id
        )
    patient = common_pb2.Patient(
        pseudo_id=rec.patient_id or "",
        sex=_SEX_PB.get(rec.sex or "", common_pb2.SEX_UNSPECIFIED),
    )
    if rec.age_years is not None:
        patient.age_years = max(0, int(rec.age_years))
    req = ingest_pb2.SubmitRecordRequest(
        record_id=rec.record_id,
        site_id=rec.site_id,
        device_id=rec.device_id,
        patient=patient,
        waveform=common_pb2.Waveform(
            fs_hz=rec.fs_hz,
            leads=list(rec.leads),
            n_samples=rec.n_samples,
            gain_counts_per_mv=rec.gain,
            samples=rec.samples,
            compressed=rec.compressed,
        ),
        priority=_PRIORITY_PB[rec.priority],
        findings=[_finding_pb(f) for f in rec.findings],
        analysis_json=rec.analysis_json,
    )
    # A file without an acquisition time: the time the edge took it in stands in (fixed
    # at enqueue, so every retry sends identical content).
    acquired = rec.acquired_at or datetime.fromtimestamp(rec.created_at, UTC)
    req.acquired_at.CopyFrom(_timestamp(acquired))
    return req


def report_from_proto(
    event: reports_pb2.ReportEvent, *, received_at: float
) -> StoredReport:
    """A ``ReportEvent`` as the outbox stores it (the full report kept as JSON)."""
    rep = event.report
    signed_at = None
    if rep.HasField("signed_at"):
        signed_at = rep.signed_at.ToDatetime(tzinfo=UTC).isoformat()
    payload = json_format.MessageToDict(rep, preserving_proto_field_name=True)
    return StoredReport(
        report_id=rep.report_id,
        version=int(rep.version),
        record_id=rep.record_id,
        site_id=rep.site_id,
        cursor=int(event.cursor or rep.cursor),
        signed_at=signed_at,
        signed_by=rep.signer_name or rep.signed_by,
        conclusion=rep.conclusion,
        payload=payload,
        received_at=received_at,
    )


def _result(rec: StoredRecord, future: Any) -> SubmitResult:
    try:
        response = future.result()
    except grpc.RpcError as exc:
        code = exc.code() if isinstance(exc, grpc.Call) else grpc.StatusCode.UNKNOWN
        detail = (exc.details() if isinstance(exc, grpc.Call) else str(exc)) or ""
        return SubmitResult(rec.record_id, classify(code), code.name, detail)
    if response.record_id and response.record_id != rec.record_id:
        return SubmitResult(
            rec.record_id,
            Outcome.RETRY_BOUNDED,
            "INTERNAL",
            f"central acknowledged another record id {response.record_id!r}",
        )
    return SubmitResult(
        rec.record_id, Outcome.ACKED, "OK", "", duplicate=bool(response.duplicate)
    )


def _read(path: Path | None) -> bytes | None:
    if path is None:
        return None
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise UplinkError(f"cannot read TLS file: {exc.strerror}", path=str(path)) from None


class Uplink:
    """A channel to the central reader with deadlines and credentials on every call.

    Parameters
    ----------
    target : str
        ``HOST:PORT`` of the central reader.
    insecure : bool
        Plaintext channel (local development only); otherwise TLS.
    tls_ca, tls_cert, tls_key : Path, optional
        Root certificate(s) to trust (system roots when ``None``), and the per-device
        certificate and key for mutual TLS.
    token : str, optional
        Device credential, sent as ``authorization: Bearer <token>``.
    timeout_s : float
        Deadline of every unary call.
    """

    def __init__(
        self,
        target: str,
        *,
        insecure: bool = False,
        tls_ca: Path | None = None,
        tls_cert: Path | None = None,
        tls_key: Path | None = None,
        token: str | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        self.target = target
        self.timeout_s = float(timeout_s)
        options: Sequence[tuple[str, Any]] = [
            ("grpc.max_send_message_length", _MAX_MESSAGE_BYTES),
            ("grpc.max_receive_message_length", _MAX_MESSAGE_BYTES),
            ("grpc.keepalive_time_ms", 60_000),
            ("grpc.keepalive_timeout_ms", 20_000),
            # Reconnect quickly once the central is back (the default can grow to 2 min).
            ("grpc.max_reconnect_backoff_ms", 5_000),
            ("grpc.initial_reconnect_backoff_ms", 200),
            ("grpc.enable_retries", 0),
        ]
        if insecure:
            self._channel = grpc.insecure_channel(target, options=options)
        else:
            creds = grpc.ssl_channel_credentials(
                root_certificates=_read(tls_ca),
                private_key=_read(tls_key),
                certificate_chain=_read(tls_cert),
            )
            self._channel = grpc.secure_channel(target, creds, options=options)
        self._metadata: tuple[tuple[str, str], ...] = (
            (("authorization", f"Bearer {token}"),) if token else ()
        )
        self._ingest = ingest_pb2_grpc.IngestStub(self._channel)  # type: ignore[no-untyped-call]
        self._reports = reports_pb2_grpc.ReportsStub(self._channel)  # type: ignore[no-untyped-call]

    def close(self) -> None:
        """Close the channel (cancels any open stream)."""
        self._channel.close()

    def __enter__(self) -> Uplink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def submit(self, rec: StoredRecord) -> SubmitResult:
        """Send one record; ``ACKED`` only when the central answered after its commit."""
        return self.submit_many([rec])[0]

    def submit_many(self, records: Sequence[StoredRecord]) -> list[SubmitResult]:
        """Send records concurrently (one HTTP/2 connection), each with its own deadline.

        Results come back in the order of ``records``.
        """
        futures = [
            self._ingest.Submit.future(
                build_submit_request(rec), timeout=self.timeout_s, metadata=self._metadata
            )
            for rec in records
        ]
        return [_result(rec, fut) for rec, fut in zip(records, futures, strict=True)]

    def subscribe_reports(
        self, site_id: str, cursor: int, *, stream_s: float
    ) -> Iterator[reports_pb2.ReportEvent]:
        """Events of the site's report stream after ``cursor``, for at most ``stream_s``.

        The stream ends (``DEADLINE_EXCEEDED``, swallowed here) after ``stream_s`` seconds
        so the caller reconnects from its stored cursor; other errors raise
        ``grpc.RpcError``.
        """
        call = self._reports.Subscribe(
            reports_pb2.SubscribeReportsRequest(site_id=site_id, cursor=cursor),
            timeout=stream_s,
            metadata=self._metadata,
        )
        try:
            yield from call
        except grpc.RpcError as exc:
            deadline = grpc.StatusCode.DEADLINE_EXCEEDED
            if isinstance(exc, grpc.Call) and exc.code() is deadline:
                return
            raise
        finally:
            call.cancel()
