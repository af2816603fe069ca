"""Keepalive: the server accepts the pings its long-lived clients send.

Carts (report stream) and hospital alert desks ping every 60 s so their streams survive
NAT; a server that allows fewer pings answers GOAWAY "too_many_pings" and the streams
break and reconnect (seen in a network run: the alert desk lost its stream twice in
12 minutes). Here the same behaviour at a short time scale: the server allows a ping a
second, the client pings every 1.5 s over a 6 s stream.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from central_reader.grpc_api import build_server
from central_reader.service import ReadingService
from central_reader.store.sqlite import SqliteStore

_CLIENT = [
    ("grpc.keepalive_time_ms", 1_500),
    ("grpc.keepalive_timeout_ms", 5_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
]


def test_stream_survives_client_keepalive_pings(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "central.sqlite")
    store.migrate()
    server = build_server(
        ReadingService(store), "127.0.0.1:0", max_workers=4, min_ping_interval_ms=1_000
    )
    errors: list[str] = []
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}", options=_CLIENT) as ch:
            watch = health_pb2_grpc.HealthStub(ch).Watch(
                health_pb2.HealthCheckRequest(service="")
            )

            def drain() -> None:
                try:
                    for _ in watch:
                        pass
                except grpc.RpcError as exc:
                    if exc.code() is not grpc.StatusCode.CANCELLED:
                        errors.append(f"{exc.code().name}: {exc.details()}")

            reader = threading.Thread(target=drain, daemon=True)
            reader.start()
            time.sleep(6.0)
            watch.cancel()
            reader.join(5)
    finally:
        server.stop(0)
        store.close()
    assert errors == [], f"the stream broke under keepalive pings: {errors}"
