"""Helpers for the alert tests: a central with the Alerts service on a real gRPC server."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import grpc
from ecgnet.v1 import alerts_pb2, alerts_pb2_grpc, ingest_pb2_grpc

from central_reader.alerts.config import AlertConfig, Hospital, Ladder, Route
from central_reader.alerts.grpc_api import extra_service
from central_reader.alerts.service import AlertService
from central_reader.grpc_api import GrpcServer, build_server
from central_reader.service import ReadingService, ServiceConfig
from central_reader.store.base import ReadingStore
from tests.central_reader.conftest import seed_directory
from tests.central_reader.factories import Clock

ALERTS_TOML = """
[alerts]
codes = ["STEMI"]
min_priority = "critical"
resend_after_s = {resend}
escalate_after_s = {escalate}

[hospitals.cpc-a]
county = "county-a"
name = "County A chest-pain centre"

[hospitals.oncall-a]
county = "county-a"
name = "County A cath-lab on-call"

[hospitals.cpc-b]
county = "county-b"
name = "County B chest-pain centre"

[[routes]]
sites = ["site-a1"]
hospital = "cpc-a"
backup = "oncall-a"

[[routes]]
county = "county-a"
hospital = "cpc-a"

[[routes]]
county = "county-b"
hospital = "cpc-b"
"""


def alert_config(resend_s: float = 120.0, escalate_s: float = 300.0) -> AlertConfig:
    """The configuration of :data:`ALERTS_TOML` as an object."""
    hospitals = {
        "cpc-a": Hospital("cpc-a", "county-a", "County A chest-pain centre"),
        "oncall-a": Hospital("oncall-a", "county-a", "County A cath-lab on-call"),
        "cpc-b": Hospital("cpc-b", "county-b", "County B chest-pain centre"),
    }
    return AlertConfig(
        ladder=Ladder(resend_s, escalate_s),
        hospitals=hospitals,
        routes=(
            Route("cpc-a", "oncall-a", frozenset({"site-a1"})),
            Route("cpc-a", None, frozenset(), "county-a"),
            Route("cpc-b", None, frozenset(), "county-b"),
        ),
    )


@dataclass
class AlertCentral:
    service: ReadingService
    alerts: AlertService
    server: GrpcServer
    channel: grpc.Channel
    tokens: dict[str, str]
    clock: Clock
    streams: list[Subscriber] = field(default_factory=list)

    def md(self, who: str) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.tokens[who]}"),)

    @property
    def ingest(self) -> ingest_pb2_grpc.IngestStub:
        return ingest_pb2_grpc.IngestStub(self.channel)  # type: ignore[no-untyped-call]

    @property
    def stub(self) -> alerts_pb2_grpc.AlertsStub:
        return alerts_pb2_grpc.AlertsStub(self.channel)  # type: ignore[no-untyped-call]

    def subscribe(
        self, who: str, hospital: str, *, omit_waveform: bool = False
    ) -> Subscriber:
        sub = Subscriber(self.stub, self.md(who), hospital, omit_waveform)
        self.streams.append(sub)
        return sub

    def close(self) -> None:
        for s in self.streams:
            s.cancel()
        self.channel.close()
        self.alerts.close()
        self.service.close()
        self.server.stop(0)


class Subscriber:
    """A real Subscribe stream drained by a thread into a queue."""

    def __init__(
        self,
        stub: alerts_pb2_grpc.AlertsStub,
        md: tuple[tuple[str, str], ...],
        hospital: str,
        omit_waveform: bool,
    ) -> None:
        self.call = stub.Subscribe(
            alerts_pb2.SubscribeAlertsRequest(
                hospital_id=hospital, omit_waveform=omit_waveform
            ),
            metadata=md,
        )
        self.events: queue.Queue[alerts_pb2.AlertEvent] = queue.Queue()
        self.error: grpc.RpcError | None = None
        self._thread = threading.Thread(target=self._drain, daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        try:
            for ev in self.call:
                self.events.put(ev)
        except grpc.RpcError as exc:
            self.error = exc

    def next(self, timeout_s: float = 5.0) -> alerts_pb2.AlertEvent:
        try:
            return self.events.get(timeout=timeout_s)
        except queue.Empty:
            raise AssertionError(
                f"no alert event within {timeout_s} s (stream error: {self.error})"
            ) from None

    def drain(self, wait_s: float = 0.3) -> list[alerts_pb2.AlertEvent]:
        out = []
        try:
            while True:
                out.append(self.events.get(timeout=wait_s))
        except queue.Empty:
            return out

    def wait_error(self, timeout_s: float = 5.0) -> grpc.RpcError:
        self._thread.join(timeout_s)
        assert self.error is not None, "stream did not fail"
        return self.error

    def cancel(self) -> None:
        self.call.cancel()
        self._thread.join(5)


def start_alert_central(
    store: ReadingStore,
    clock: Clock | None = None,
    *,
    config: AlertConfig | None = None,
    seed: bool = True,
    tokens: dict[str, str] | None = None,
    start: bool = False,
    poll_s: float = 0.5,
) -> AlertCentral:
    """A central with the Alerts service; ``start`` runs the scheduler thread too."""
    clock = clock or Clock()
    service = ReadingService(store, config=ServiceConfig(report_poll_s=0.2), clock=clock)
    if seed:
        tokens = seed_directory(store, service)
    alerts = AlertService(service, config or alert_config(), poll_s=poll_s).attach()
    if start:
        alerts.start()
    server = build_server(
        service, "127.0.0.1:0", max_workers=16, extra_services=[extra_service(alerts)]
    )
    channel = grpc.insecure_channel(f"127.0.0.1:{server.port}")
    return AlertCentral(service, alerts, server, channel, tokens or {}, clock)


def events_of(
    sub: Subscriber, n: int, timeout_s: float = 5.0
) -> Iterator[alerts_pb2.AlertEvent]:
    for _ in range(n):
        yield sub.next(timeout_s)
