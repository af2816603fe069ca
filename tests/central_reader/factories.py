"""Builders for test records and requests (real codec, small synthetic signals)."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
from ecgnet.codec import encode_waveform
from ecgnet.v1 import common_pb2, ingest_pb2

from central_reader import serde
from central_reader.types import (
    Finding,
    NewRecord,
    Priority,
)

LEADS12 = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]
T0 = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)


def signal(n: int = 1000, seed: int = 0) -> np.ndarray:
    t = np.arange(n) / 500.0
    rng = np.random.default_rng(seed)
    beat = np.sin(2 * np.pi * 1.1 * t) ** 31
    return np.vstack([beat * (0.5 + 0.1 * i) for i in range(12)]) + rng.normal(
        0, 0.01, (12, n)
    )


def finding(code: str = "STEMI", priority: Priority = Priority.CRITICAL) -> Finding:
    return Finding(
        code=code,
        label_en=code,
        label_zh="急性心梗",
        priority=priority,
        source="rules:test",
        probability=0.9 if code == "STEMI" else None,
        detail="ST elevation V2-V4",
    )


def submit_request(
    *,
    record_id: str | None = None,
    site_id: str = "site-a1",
    device_id: str = "dev-a1",
    priority: Priority = Priority.ROUTINE,
    acquired_at: datetime = T0,
    patient_id: str = "p-001",
    n: int = 1000,
    seed: int = 0,
    codes: tuple[str, ...] = (),
) -> ingest_pb2.SubmitRecordRequest:
    req = ingest_pb2.SubmitRecordRequest(
        record_id=record_id or str(uuid.uuid4()),
        site_id=site_id,
        device_id=device_id,
        acquired_at=serde.timestamp_from_datetime(acquired_at),
        patient=common_pb2.Patient(
            pseudo_id=patient_id, age_years=61, sex=common_pb2.SEX_MALE
        ),
        waveform=encode_waveform(signal(n, seed), 500.0, LEADS12),
        priority=serde.priority_to_proto(priority),
        findings=[serde.finding_to_proto(finding(c, priority)) for c in codes],
        analysis_json=json.dumps({"heart_rate_bpm": 72, "qtc_ms": 420}),
    )
    return req


def new_record(
    *,
    record_id: str | None = None,
    site_id: str = "site-a1",
    device_id: str = "dev-a1",
    priority: Priority = Priority.ROUTINE,
    acquired_at: datetime = T0,
    patient_id: str = "p-001",
    seed: int = 0,
) -> NewRecord:
    req = submit_request(
        record_id=record_id,
        site_id=site_id,
        device_id=device_id,
        priority=priority,
        acquired_at=acquired_at,
        patient_id=patient_id,
        seed=seed,
    )
    return serde.record_from_proto(req)


def with_content(record: NewRecord, text: str) -> NewRecord:
    """The same record id with other content."""
    from dataclasses import replace

    return replace(
        record,
        analysis_json=json.dumps({"x": text}),
        content_sha256=hashlib.sha256(text.encode()).hexdigest(),
    )


class Clock:
    """A settable clock for the service (deadlines, leases)."""

    def __init__(self, now: datetime = T0 + timedelta(minutes=1)) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
