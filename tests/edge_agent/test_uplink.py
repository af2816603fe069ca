"""The gRPC uplink against a real loopback server: ack, duplicate, refusal, TLS, token."""

from __future__ import annotations

import random
import socket
import subprocess
import time
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest
from ecgnet.v1 import ingest_pb2_grpc

from edge_agent.outbox import Outbox, StoredRecord
from edge_agent.uplink import Outcome, Uplink, backoff_delay, classify
from tests.edge_agent._central import Central, _Ingest
from tests.edge_agent.test_outbox import make_record


@pytest.fixture
def central(tmp_path: Path) -> Iterator[Central]:
    c = Central(tmp_path / "central.sqlite").start()
    yield c
    c.stop()


def stored(tmp_path: Path, i: int) -> StoredRecord:
    with Outbox(tmp_path / f"o{i}.sqlite") as ob:
        rid = ob.enqueue(make_record(i)).record_id
        rec = ob.get(rid)
    assert rec is not None
    return rec


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_submit_is_acked_then_duplicate(central: Central, tmp_path: Path) -> None:
    rec = stored(tmp_path, 1)
    with Uplink(central.target, insecure=True, timeout_s=5) as up:
        first = up.submit(rec)
        again = up.submit(rec)
    assert first.outcome is Outcome.ACKED and not first.duplicate, f"{first}"
    assert again.outcome is Outcome.ACKED and again.duplicate, f"{again}"
    assert [r[0] for r in central.state.records()] == [rec.record_id]
    assert central.state.calls()[rec.record_id] == 2


def test_same_id_other_content_is_rejected_with_message(
    central: Central, tmp_path: Path
) -> None:
    a, b = stored(tmp_path, 1), stored(tmp_path, 2)
    forged = StoredRecord(**{**{f: getattr(b, f) for f in b.__slots__},
                             "record_id": a.record_id})
    with Uplink(central.target, insecure=True, timeout_s=5) as up:
        assert up.submit(a).outcome is Outcome.ACKED
        res = up.submit(forged)
    assert res.outcome is Outcome.REJECTED and res.code == "ALREADY_EXISTS", f"{res}"
    assert "different content" in res.detail, f"{res.detail}"


def test_invalid_waveform_is_rejected_not_retried(central: Central, tmp_path: Path) -> None:
    rec = stored(tmp_path, 1)
    bad = StoredRecord(**{**{f: getattr(rec, f) for f in rec.__slots__},
                          "samples": (rec.samples or b"")[:100]})
    with Uplink(central.target, insecure=True, timeout_s=5) as up:
        res = up.submit(bad)
    assert res.outcome is Outcome.REJECTED and res.code == "INVALID_ARGUMENT", f"{res}"
    assert "waveform.samples" in res.detail, f"{res.detail}"


def test_no_server_is_retry_and_link_down(tmp_path: Path) -> None:
    with Uplink(f"127.0.0.1:{free_port()}", insecure=True, timeout_s=2) as up:
        res = up.submit(stored(tmp_path, 1))
    assert res.outcome is Outcome.RETRY and res.link_down, f"{res}"
    assert res.code == "UNAVAILABLE", f"{res}"


def test_deadline_is_enforced(tmp_path: Path) -> None:
    class Slow(_Ingest):
        def Submit(self, request, context):  # type: ignore[no-untyped-def]  # noqa: N802
            time.sleep(1.5)
            return super().Submit(request, context)

    central = Central(tmp_path / "c.sqlite")
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    ingest_pb2_grpc.add_IngestServicer_to_server(Slow(central.state, {}), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with Uplink(f"127.0.0.1:{port}", insecure=True, timeout_s=0.3) as up:
            res = up.submit(stored(tmp_path, 1))
    finally:
        server.stop(None)
    assert res.code == "DEADLINE_EXCEEDED" and res.outcome is Outcome.RETRY, f"{res}"


def test_device_token_is_sent(central: Central, tmp_path: Path) -> None:
    central.fail["token"] = "s3cret"
    rec = stored(tmp_path, 1)
    with Uplink(central.target, insecure=True, timeout_s=5) as up:
        refused = up.submit(rec)
    with Uplink(central.target, insecure=True, timeout_s=5, token="s3cret") as up:
        ok = up.submit(rec)
    assert refused.code == "UNAUTHENTICATED", f"{refused}"
    assert refused.outcome is Outcome.RETRY, f"{refused}"
    assert ok.outcome is Outcome.ACKED, f"{ok}"


def test_tls_by_default(tmp_path: Path) -> None:
    key, crt = tmp_path / "key.pem", tmp_path / "crt.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
         "-keyout", str(key), "-out", str(crt)],
        check=True, capture_output=True,
    )
    central = Central(tmp_path / "c.sqlite")
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    ingest_pb2_grpc.add_IngestServicer_to_server(_Ingest(central.state, {}), server)
    creds = grpc.ssl_server_credentials([(key.read_bytes(), crt.read_bytes())])
    port = server.add_secure_port("127.0.0.1:0", creds)
    server.start()
    rec = stored(tmp_path, 1)
    try:
        with Uplink(f"127.0.0.1:{port}", tls_ca=crt, timeout_s=5) as up:
            ok = up.submit(rec)
        with Uplink(f"127.0.0.1:{port}", insecure=True, timeout_s=2) as up:
            plain = up.submit(rec)
        with Uplink(f"127.0.0.1:{port}", timeout_s=2) as up:  # system roots: untrusted
            untrusted = up.submit(rec)
    finally:
        server.stop(None)
    assert ok.outcome is Outcome.ACKED, f"{ok}"
    assert plain.outcome is not Outcome.ACKED, f"plaintext reached a TLS server: {plain}"
    assert untrusted.code == "UNAVAILABLE", f"self-signed cert trusted: {untrusted}"


@pytest.mark.parametrize(
    ("code", "outcome"),
    [(grpc.StatusCode.UNAVAILABLE, Outcome.RETRY),
     (grpc.StatusCode.DEADLINE_EXCEEDED, Outcome.RETRY),
     (grpc.StatusCode.RESOURCE_EXHAUSTED, Outcome.RETRY),
     (grpc.StatusCode.UNAUTHENTICATED, Outcome.RETRY),
     (grpc.StatusCode.INTERNAL, Outcome.RETRY_BOUNDED),
     (grpc.StatusCode.INVALID_ARGUMENT, Outcome.REJECTED),
     (grpc.StatusCode.ALREADY_EXISTS, Outcome.REJECTED),
     (grpc.StatusCode.FAILED_PRECONDITION, Outcome.REJECTED)],
)
def test_classify(code: grpc.StatusCode, outcome: Outcome) -> None:
    assert classify(code) is outcome, f"{code.name} -> {classify(code)}"


def test_backoff_is_full_jitter_and_capped() -> None:
    rng = random.Random(7)
    for attempt, ceiling in [(1, 0.5), (2, 1.0), (4, 4.0), (30, 60.0)]:
        draws = [backoff_delay(attempt, base_s=0.5, cap_s=60.0, rng=rng)
                 for _ in range(4000)]
        top = max(draws)
        assert 0.0 <= min(draws) and top <= ceiling, f"attempt {attempt}: {top}"
        mean = sum(draws) / len(draws)
        assert abs(mean - ceiling / 2) < 0.05 * ceiling, f"attempt {attempt}: mean {mean}"
