"""A real ``ecg-central serve`` process with a seeded directory, for hostile-input tests.

Not --dev: an anonymous call is refused. Two counties; a device bound to ``site-a1``, a
cardiologist, a hospital and an admin in county A; a cardiologist in county B.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import numpy as np
from ecgnet.codec import encode_waveform
from ecgnet.v1 import common_pb2, ingest_pb2, ingest_pb2_grpc
from google.protobuf import timestamp_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from central_reader.service import ReadingService
from central_reader.store.sqlite import SqliteStore
from central_reader.types import Role
from tests._ready import wait_ready

ROOT = Path(__file__).resolve().parents[1]
LEADS12 = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def seed(db_path: Path) -> dict[str, str]:
    """Counties, sites, users and their tokens (by role name)."""
    store = SqliteStore(db_path)
    store.migrate()
    try:
        service = ReadingService(store)
        store.add_county("county-a", "County A")
        store.add_county("county-b", "County B")
        store.add_site("site-a1", "county-a", "A1")
        store.add_site("site-a2", "county-a", "A2")
        store.add_site("site-b1", "county-b", "B1")
        users = [
            ("dev-a1", Role.DEVICE, "county-a", "site-a1", "device"),
            ("dr-a", Role.CARDIOLOGIST, "county-a", None, "reader"),
            ("hosp-a", Role.HOSPITAL, "county-a", None, "hospital"),
            ("adm-a", Role.ADMIN, "county-a", None, "admin"),
            ("dr-b", Role.CARDIOLOGIST, "county-b", None, "reader-b"),
        ]
        tokens = {}
        for uid, role, county, site, name in users:
            service.create_user(uid, role=role, name=uid, county_id=county, site_id=site)
            tokens[name] = service.issue_token(uid)[1]
        return tokens
    finally:
        store.close()


def valid_request(
    record_id: str | None = None, n: int = 1000
) -> ingest_pb2.SubmitRecordRequest:
    """A valid 12-lead 2 s submit from ``dev-a1`` at ``site-a1``."""
    t = np.arange(n) / 500.0
    beat = np.sin(2 * np.pi * 1.2 * t) ** 21
    sig = np.vstack([beat * (0.4 + 0.05 * i) for i in range(12)])
    ts = timestamp_pb2.Timestamp()
    ts.GetCurrentTime()
    return ingest_pb2.SubmitRecordRequest(
        record_id=str(uuid.uuid4()) if record_id is None else record_id,
        site_id="site-a1",
        device_id="dev-a1",
        acquired_at=ts,
        patient=common_pb2.Patient(pseudo_id="p-1", age_years=60, sex=common_pb2.SEX_MALE),
        waveform=encode_waveform(sig, 500.0, LEADS12),
        priority=common_pb2.PRIORITY_ROUTINE,
        analysis_json=json.dumps({"heart_rate_bpm": 70}),
    )


@dataclass
class HostileCentral:
    """The running process, its ports, tokens and a channel."""

    workdir: Path
    port: int = 0
    http_port: int = 0
    tokens: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[str] | None = None
    log: list[str] = field(default_factory=list)
    channel: grpc.Channel | None = None

    @property
    def db(self) -> str:
        return f"sqlite:///{self.workdir / 'central.sqlite'}"

    def md(self, who: str) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.tokens[who]}"),)

    def start(self) -> HostileCentral:
        self.tokens = seed(self.workdir / "central.sqlite")
        self.port, self.http_port = free_port(), free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "central_reader", "serve", "--db", self.db,
             "--listen", f"127.0.0.1:{self.port}", "--http", f"127.0.0.1:{self.http_port}",
             "--insecure", "--grace", "1", "--workers", "32"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
        )
        self._pump = wait_ready(self.proc, self.log, 60.0)
        self.channel = grpc.insecure_channel(
            f"127.0.0.1:{self.port}",
            options=[("grpc.max_send_message_length", 64 * 1024 * 1024)],
        )
        return self

    def stop(self) -> int:
        if self.channel is not None:
            self.channel.close()
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self._pump.join(5)
        if self.proc.stderr is not None:
            self.proc.stderr.close()
        return rc

    def assert_serving(self) -> None:
        """Health SERVING, the process alive, and a valid submit acknowledged."""
        assert self.proc is not None and self.proc.poll() is None, (
            f"central died: {self.log[-20:]}"
        )
        assert self.channel is not None
        health = health_pb2_grpc.HealthStub(self.channel)  # type: ignore[no-untyped-call]
        resp = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
        assert resp.status == health_pb2.HealthCheckResponse.SERVING, f"health {resp}"
        stub = ingest_pb2_grpc.IngestStub(self.channel)  # type: ignore[no-untyped-call]
        req = valid_request()
        ack = stub.Submit(req, metadata=self.md("device"), timeout=10)
        assert ack.record_id == req.record_id, f"ack {ack} for {req.record_id}"
