"""Helpers of the reading-station tests: a real ``ecg-central serve`` process, real records
from ``sample_records/`` analysed by the edge's ``analyze`` and submitted over real gRPC.

When ``edge_agent.analysis.analyze`` cannot be imported yet (the signal core is still being
built), :func:`analyse` falls back to a small analysis computed here from the real signal
(R peaks by the edge's detector, a median beat, fixed fiducial offsets around R) and a
fixed triage per record; :data:`ANALYSIS_SOURCE` says which one ran.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
from ecgnet.codec import encode_waveform
from ecgnet.v1 import common_pb2, ingest_pb2, ingest_pb2_grpc

from central_reader import serde
from edge_agent.io import EcgRecord, read_record

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "sample_records"
#: Debian's chromium, driven by Playwright (never ``playwright install``).
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
#: Screenshots and measured values of the browser tests (gitignored).
ARTIFACTS = ROOT / "test-artifacts"
#: Marks of every browser test module: skipped, saying why, without chromium.
BROWSER_MARKS = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="Debian chromium not installed at /usr/bin/chromium "
        "(.ci/run installs packages chromium and chromium-driver)",
    ),
]
BIN = Path(sys.executable).parent

try:
    from edge_agent.analysis import analyze

    ANALYSIS_SOURCE = "edge_agent.analysis.analyze"
except ImportError as _exc:  # pragma: no cover - depends on the signal core's progress
    analyze = None  # type: ignore[assignment]
    ANALYSIS_SOURCE = f"fallback in tests/central_reader/web_support.py ({_exc})"

_PRIORITY_PB = {
    "critical": common_pb2.PRIORITY_CRITICAL,
    "warning": common_pb2.PRIORITY_WARNING,
    "routine": common_pb2.PRIORITY_ROUTINE,
    "unreadable": common_pb2.PRIORITY_UNREADABLE,
}
_SEX_PB = {"M": common_pb2.SEX_MALE, "F": common_pb2.SEX_FEMALE}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Central:
    """A running ``ecg-central serve --dev`` and its development tokens."""

    proc: subprocess.Popen[bytes]
    grpc_port: int
    http_port: int
    tokens: dict[str, str]
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:  # pragma: no cover
            self.proc.kill()
            self.proc.wait(5)


def start_central(tmp: Path) -> Central:
    """Start the real CLI on a SQLite file in ``tmp``; returns once it logged ``ready``."""
    grpc_port, http_port = free_port(), free_port()
    tokens_path = tmp / "dev-tokens.json"
    log_path = tmp / "central.log"
    cmd = [
        str(BIN / "ecg-central"), "serve", "--db", f"sqlite:///{tmp / 'central.sqlite'}",
        "--listen", f"127.0.0.1:{grpc_port}", "--http", f"127.0.0.1:{http_port}",
        "--insecure", "--dev", "--dev-tokens", str(tokens_path), "--grace", "0.5",
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with log_path.open("wb") as log:  # the child keeps its own descriptor
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        text = log_path.read_text(errors="replace")
        if "ready" in text.splitlines():
            break
        if proc.poll() is not None:
            raise RuntimeError(f"ecg-central exited {proc.returncode}:\n{text}")
        time.sleep(0.05)
    else:
        proc.kill()
        raise RuntimeError(f"ecg-central not ready in 30 s:\n{log_path.read_text()}")
    tokens = json.loads(tokens_path.read_text())
    return Central(proc, grpc_port, http_port, tokens, log_path)


# -- records -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    """One record to submit: file, patient, how long ago it was taken, fallback triage."""

    name: str
    patient_id: str
    minutes_ago: float
    site_id: str
    fallback_priority: str
    fallback_codes: tuple[str, ...]


SAMPLES_TO_SUBMIT = (
    # The same patient's earlier ECG (two days before): the "previous ECG" of the STEMI.
    Sample("00001_hr", "P-0021", 2 * 24 * 60, "site-xiangyang", "routine", ("NORMAL",)),
    Sample("21", "P-0021", 2.0, "site-xiangyang", "critical", ("STEMI",)),
    Sample("patient230_s0454_re", "P-0230", 6.0, "site-hongqi", "critical", ("STEMI",)),
    Sample("A0003", "P-0003", 45.0, "site-dongfeng", "warning", ("AF",)),
    Sample("00001_hr", "P-0001", 20.0, "site-hongqi", "routine", ("NORMAL",)),
)


def _fallback_analysis(rec: EcgRecord, sample: Sample) -> dict[str, Any]:
    """Analysis JSON of the viewer's contract from the real signal (see module doc)."""
    from edge_agent.dsp.rpeaks import detect_rpeaks
    from edge_agent.triage.labels import LABELS, Code

    x = rec.signal - np.median(rec.signal, axis=1, keepdims=True)
    fs = rec.fs
    r = detect_rpeaks(rec.signal, fs)
    pre, post = int(0.35 * fs), int(0.55 * fs)
    r = r[(r >= pre) & (r < x.shape[1] - post)]
    windows = np.stack([x[:, i - pre : i + post] for i in r], axis=0)
    median = np.median(windows, axis=0)
    ms = fs / 1000.0
    fid = {
        "p_on": pre - int(200 * ms), "p_off": pre - int(110 * ms),
        "qrs_on": pre - int(50 * ms), "qrs_off": pre + int(50 * ms),
        "t_peak": pre + int(250 * ms), "t_off": pre + int(380 * ms),
    }
    base = median[:, fid["qrs_on"] - int(20 * ms)]
    st = median[:, fid["qrs_off"] + int(60 * ms)] - base
    rr = float(np.median(np.diff(r))) / fs * 1000.0 if r.size > 1 else None
    findings = []
    for code in sample.fallback_codes:
        en, zh = LABELS[Code(code)]
        findings.append({"code": code, "label": en, "label_zh": zh,
                         "priority": sample.fallback_priority, "probability": None,
                         "source": "rules:test-fallback", "detail": ""})
    return {
        "fs_hz": fs,
        "leads": list(rec.leads),
        "heart_rate_bpm": None if rr is None else round(60000.0 / rr, 1),
        "intervals_ms": {"rr": rr, "pr": 160.0, "qrs": 100.0, "qt": 380.0,
                         "qtc_bazett": None, "qtc_fridericia": None},
        "axis_deg": {"p": None, "qrs": None, "t": None},
        "st_mv": {lead: round(float(v), 3) for lead, v in zip(rec.leads, st, strict=True)},
        "median_beat": {"fs_hz": fs, "r_index": pre, "n_beats": int(r.size),
                        "uv": np.rint(median * 1000).astype(int).tolist(),
                        "fiducials": fid},
        "quality": {"acceptable": True},
        "triage": {"priority": sample.fallback_priority, "findings": findings},
    }


def analyse(rec: EcgRecord, sample: Sample) -> dict[str, Any]:
    """The edge analysis dict (``analyze().to_dict()``), or the fallback."""
    if analyze is None:
        return _fallback_analysis(rec, sample)
    sex = {"M": "M", "F": "F"}.get(rec.sex or "")
    return analyze(rec.signal, rec.fs, rec.leads, age_years=rec.age_years,
                   sex=sex).to_dict()


def submit_request(sample: Sample, now: datetime) -> tuple[ingest_pb2.SubmitRecordRequest,
                                                           dict[str, Any]]:
    """A real record as the township cart would send it."""
    rec = read_record(SAMPLES / f"{sample.name}.hea")
    analysis = analyse(rec, sample)
    triage = analysis["triage"]
    findings = [
        common_pb2.Finding(
            code=f["code"], label_en=f.get("label") or f.get("label_en") or f["code"],
            label_zh=f.get("label_zh") or "", priority=_PRIORITY_PB[f["priority"]],
            source=f.get("source") or "", detail=f.get("detail") or "",
            **({} if f.get("probability") is None else {"probability": f["probability"]}),
        )
        for f in triage["findings"]
    ]
    age = rec.age_years
    req = ingest_pb2.SubmitRecordRequest(
        record_id=str(uuid.uuid4()),
        site_id=sample.site_id,
        device_id=f"cart-{sample.site_id}",
        acquired_at=serde.timestamp_from_datetime(
            now - timedelta(minutes=sample.minutes_ago)
        ),
        patient=common_pb2.Patient(
            pseudo_id=sample.patient_id,
            sex=_SEX_PB.get(rec.sex or "", common_pb2.SEX_UNSPECIFIED),
            **({} if age is None else {"age_years": int(age)}),
        ),
        waveform=encode_waveform(rec.signal, rec.fs, rec.leads),
        priority=_PRIORITY_PB[triage["priority"]],
        findings=findings,
        analysis_json=json.dumps(analysis),
    )
    return req, analysis


def ingest_samples(central: Central) -> list[tuple[Sample, str, dict[str, Any]]]:
    """Submit every sample through the real Ingest RPC (county-gateway device token)."""
    now = datetime.now(UTC)
    out = []
    with grpc.insecure_channel(f"127.0.0.1:{central.grpc_port}") as channel:
        stub = ingest_pb2_grpc.IngestStub(channel)
        meta = (("authorization", f"Bearer {central.tokens['device']}"),)
        for sample in SAMPLES_TO_SUBMIT:
            req, analysis = submit_request(sample, now)
            resp = stub.Submit(req, metadata=meta, timeout=30)
            assert resp.record_id == req.record_id, f"ack for {resp.record_id}"
            out.append((sample, req.record_id, analysis))
    return out


def back_to_queue(pg: Any) -> None:
    """Leave the open record with Esc and wait for the queue rows (a Playwright page)."""
    pg.keyboard.press("Escape")
    pg.wait_for_selector("#queue-view:not([hidden])")
    pg.wait_for_selector("#queue-body tr")


@contextmanager
def chromium() -> Iterator[Any]:
    """Debian's chromium under Playwright, headless (the artifacts folder made first)."""
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


def reader_api(
    central: Central, method: str, path: str, body: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Call the reading station's JSON API as the development cardiologist."""
    req = urllib.request.Request(
        f"{central.url}/api/v1{path}",
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={
            "Authorization": f"Bearer {central.tokens['cardiologist']}",
            "Content-Type": "application/json",
        },
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return dict(json.loads(resp.read()))
