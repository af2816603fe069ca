"""TLS: the server with a certificate answers a verifying client and refuses plaintext."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import grpc
import pytest
from ecgnet.v1 import reading_pb2, reading_pb2_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from central_reader.grpc_api import TlsFiles, build_server
from central_reader.service import ReadingService
from central_reader.store.sqlite import SqliteStore
from tests.central_reader.conftest import seed_directory


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl CLI not available to make a test certificate")
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


def test_tls_server(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    store = SqliteStore(tmp_path / "c.sqlite")
    store.migrate()
    service = ReadingService(store)
    tokens = seed_directory(store, service)
    server = build_server(service, "127.0.0.1:0", tls=TlsFiles(cert, key), max_workers=4)
    try:
        creds = grpc.ssl_channel_credentials(root_certificates=cert.read_bytes())
        with grpc.secure_channel(f"localhost:{server.port}", creds) as channel:
            status = (
                health_pb2_grpc.HealthStub(channel)
                .Check(health_pb2.HealthCheckRequest(), timeout=10)
                .status
            )
            assert status == health_pb2.HealthCheckResponse.SERVING, f"{status}"
            items = (
                reading_pb2_grpc.ReadingStub(channel)
                .ListQueue(
                    reading_pb2.ListQueueRequest(),
                    metadata=(("authorization", f"Bearer {tokens['reader-a']}"),),
                    timeout=10,
                )
                .items
            )
            assert list(items) == [], f"{items}"
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as plain:
            with pytest.raises(grpc.RpcError) as info:
                health_pb2_grpc.HealthStub(plain).Check(
                    health_pb2.HealthCheckRequest(), timeout=5
                )
            assert info.value.code() is grpc.StatusCode.UNAVAILABLE, f"{info.value}"
    finally:
        service.close()
        server.stop(0)
        store.close()
