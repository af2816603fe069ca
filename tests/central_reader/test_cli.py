"""ecg-central as real subprocesses: serve (ready, health, --dev, SIGTERM), queue, users."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
from ecgnet.v1 import ingest_pb2_grpc, reading_pb2, reading_pb2_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from central_reader.types import Priority
from tests.central_reader.factories import submit_request
from tests.central_reader.serve_proc import BIN, ServeProcess


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "ecg-central"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_serve_ready_health_dev_flow_and_graceful_stop(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'central.sqlite'}"
    token_file = tmp_path / "tokens.json"
    serve = ServeProcess(db, "--dev", "--dev-tokens", str(token_file))
    try:
        serve.wait_ready()
        assert serve.stderr_lines.count("ready") == 1, f"{serve.stderr_lines}"
        tokens = json.loads(token_file.read_text())
        assert set(tokens) == {"device", "cardiologist", "hospital", "admin"}, f"{tokens}"
        with grpc.insecure_channel(f"127.0.0.1:{serve.port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            status = health.Check(health_pb2.HealthCheckRequest(), timeout=10).status
            assert status == health_pb2.HealthCheckResponse.SERVING, f"{status}"
            ingest = ingest_pb2_grpc.IngestStub(channel)
            # development: a call without a token acts as the county gateway; new sites join
            now = datetime.now(UTC)
            crit = submit_request(
                site_id="township-7",
                device_id="cart-7",
                priority=Priority.CRITICAL,
                codes=("STEMI",),
                acquired_at=now - timedelta(minutes=2),
            )
            ingest.Submit(crit, timeout=10)
            routine = submit_request(
                site_id="township-8",
                device_id="cart-8",
                acquired_at=now - timedelta(minutes=3),
            )
            ingest.Submit(
                routine,
                metadata=(("authorization", f"Bearer {tokens['device']}"),),
                timeout=10,
            )
            reading = reading_pb2_grpc.ReadingStub(channel)
            items = reading.ListQueue(
                reading_pb2.ListQueueRequest(),
                metadata=(("authorization", f"Bearer {tokens['cardiologist']}"),),
                timeout=10,
            ).items
            assert [i.record_id for i in items] == [crit.record_id, routine.record_id]
    finally:
        code = serve.stop()
    assert code == 0, f"exit {code}: {serve.stderr_lines}"
    assert any("stopped" in line for line in serve.stderr_lines), f"{serve.stderr_lines}"

    out = _run("queue", "--db", db, "--json")
    assert out.returncode == 0, out.stderr
    queue = json.loads(out.stdout)
    assert [q["record_id"] for q in queue] == [crit.record_id, routine.record_id], (
        f"{queue}"
    )
    first = queue[0]
    assert {
        "record_id",
        "site_id",
        "priority",
        "findings",
        "acquired_at",
        "received_at",
        "deadline",
        "status",
    } <= set(first), f"{first}"
    assert first["priority"] == "critical" and first["findings"] == ["STEMI"], f"{first}"
    assert first["site_id"] == "township-7" and first["status"] == "queued", f"{first}"

    # restart reuses the dev tokens file
    again = ServeProcess(db, "--dev", "--dev-tokens", str(token_file))
    try:
        again.wait_ready()
    finally:
        assert again.stop() == 0
    assert json.loads(token_file.read_text()) == tokens, "dev tokens changed on restart"


def test_serve_refuses_plaintext_without_insecure(tmp_path: Path) -> None:
    out = _run(
        "serve",
        "--db",
        f"sqlite:///{tmp_path / 'c.sqlite'}",
        "--listen",
        "127.0.0.1:0",
        "--http",
        "127.0.0.1:0",
    )
    assert out.returncode == 2 and "--insecure" in out.stderr, out.stderr


def test_users_and_tokens(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'c.sqlite'}"
    assert _run("counties", "add", "c1", "--db", db).returncode == 0
    out = _run(
        "users",
        "add",
        "cart-1",
        "--role",
        "device",
        "--county",
        "c1",
        "--site",
        "s1",
        "--token",
        "--db",
        db,
    )
    assert out.returncode == 0, out.stderr
    token = out.stdout.strip()
    assert token.startswith("ecgt_") and len(token) > 40, token
    listed = json.loads(_run("tokens", "list", "--db", db).stdout)
    assert len(listed) == 1 and token not in json.dumps(listed), "secret listed"
    token_id = listed[0]["token_id"]
    assert token.startswith(f"ecgt_{token_id}_"), f"{token_id}"
    assert _run("tokens", "revoke", "--token-id", token_id, "--db", db).returncode == 0
    again = _run("tokens", "revoke", "--token-id", token_id, "--db", db)
    assert again.returncode == 2 and "no such active token" in again.stderr, again.stderr
    users = json.loads(_run("users", "list", "--db", db).stdout)
    assert users[0]["site_id"] == "s1" and users[0]["role"] == "device", f"{users}"
    bad = _run("users", "add", "dr-x", "--role", "cardiologist", "--db", db)
    assert bad.returncode == 2 and "county" in bad.stderr, bad.stderr
