"""serde round trips (proto <-> domain) and the urgency rules of central_reader.queue."""

from __future__ import annotations

from datetime import timedelta

import pytest
from ecgnet.v1 import common_pb2

from central_reader import serde
from central_reader.errors import ConfigError, InvalidRequestError
from central_reader.queue import ReadingDeadlines, compute_deadline, tier_of
from central_reader.types import (
    Finding,
    Patient,
    Priority,
    QueueEntry,
    RecordStatus,
    Report,
    Sex,
)
from tests.central_reader.factories import T0, finding, submit_request


@pytest.mark.parametrize("priority", list(Priority))
def test_priority_round_trip(priority: Priority) -> None:
    assert serde.priority_from_proto(serde.priority_to_proto(priority)) is priority
    assert serde.priority_from_proto(common_pb2.PRIORITY_UNSPECIFIED) is None
    assert serde.priority_from_proto(99) is None


@pytest.mark.parametrize(
    "f",
    [
        finding("STEMI"),
        Finding("AF", "Atrial fibrillation", "房颤", Priority.WARNING, "model:x@1"),
    ],
)
def test_finding_round_trip(f: Finding) -> None:
    back = serde.finding_from_proto(
        common_pb2.Finding.FromString(serde.finding_to_proto(f).SerializeToString())
    )
    assert back == f, f"{back} != {f}"


@pytest.mark.parametrize("age", [None, 0, 61])
@pytest.mark.parametrize("sex", list(Sex))
def test_patient_round_trip(age: int | None, sex: Sex) -> None:
    p = Patient("p-1", age, sex)
    assert serde.patient_from_proto(serde.patient_to_proto(p)) == p


def test_record_from_proto_and_content_hash() -> None:
    req = submit_request(codes=("STEMI",), priority=Priority.CRITICAL)
    rec = serde.record_from_proto(req)
    assert rec.record_id == req.record_id and rec.acquired_at == T0, f"{rec.acquired_at}"
    assert rec.priority is Priority.CRITICAL and rec.findings[0].code == "STEMI"
    assert serde.waveform_to_proto(rec.waveform) == req.waveform, "waveform round trip"
    same = serde.record_from_proto(type(req).FromString(req.SerializeToString()))
    assert same.content_sha256 == rec.content_sha256, "retry hashes differently"
    req.analysis_json = '{"changed": 1}'
    assert serde.record_from_proto(req).content_sha256 != rec.content_sha256
    empty_device = submit_request(device_id="")
    got = serde.record_from_proto(empty_device, default_device_id="cart-9").device_id
    assert got == "cart-9", got
    req.ClearField("acquired_at")
    with pytest.raises(InvalidRequestError, match="acquired_at"):
        serde.record_from_proto(req)


def test_entry_and_report_to_proto() -> None:
    entry = QueueEntry(
        record_id="r",
        site_id="s",
        county_id="c",
        priority=Priority.WARNING,
        findings=(finding("LBBB", Priority.WARNING),),
        patient=Patient("p", None, Sex.FEMALE),
        acquired_at=T0,
        received_at=T0 + timedelta(seconds=30),
        deadline=T0 + timedelta(minutes=30),
        status=RecordStatus.CLAIMED,
        claimed_by="dr",
        lease_expires_at=T0 + timedelta(minutes=5),
    )
    item = serde.entry_to_proto(entry, T0 + timedelta(minutes=31))
    assert (
        item.overdue and item.claimed_by == "dr" and not item.patient.HasField("age_years")
    )
    assert serde.timestamp_to_datetime(item.deadline) == entry.deadline
    assert serde.timestamp_to_datetime(item.lease_expires_at) == entry.lease_expires_at
    report = Report("rep", "r", "s", 2, (), "free", "concl", "dr", "Dr", T0, "why", 17)
    msg = serde.report_to_proto(report)
    assert (msg.version, msg.cursor, msg.amend_reason) == (2, 17, "why"), f"{msg}"
    assert serde.timestamp_to_datetime(msg.signed_at) == T0


def test_tiers_and_deadlines() -> None:
    order = sorted(Priority, key=tier_of)
    assert order == [
        Priority.CRITICAL,
        Priority.WARNING,
        Priority.UNREADABLE,
        Priority.ROUTINE,
    ], f"{order}"
    d = ReadingDeadlines()
    late = T0 + timedelta(hours=2)
    got = compute_deadline(Priority.CRITICAL, T0, late, d)
    assert got == T0 + timedelta(minutes=10), f"deadline must run from acquisition: {got}"
    future = compute_deadline(Priority.ROUTINE, T0 + timedelta(hours=1), T0, d)
    assert future == T0 + timedelta(hours=24), f"future acquisition not clamped: {future}"
    assert compute_deadline(Priority.UNREADABLE, T0, T0, d) == T0 + timedelta(minutes=30)
    # a 6-day outage still counts from acquisition; an archive date (or a clock set back
    # years) does not start the clock: it would rank ahead of every real wait
    outage = compute_deadline(Priority.WARNING, T0 - timedelta(days=6), T0, d)
    assert outage == T0 - timedelta(days=6) + timedelta(minutes=30), f"{outage}"
    archive = compute_deadline(Priority.WARNING, T0 - timedelta(days=9703), T0, d)
    assert archive == T0 + timedelta(minutes=30), f"{archive}"
    with pytest.raises(ConfigError):
        ReadingDeadlines(critical_s=3600, warning_s=1800)
    with pytest.raises(ConfigError):
        ReadingDeadlines(routine_s=0)
