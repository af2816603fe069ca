"""gRPC transport: thin servicers, the one error -> status table, and the server factory.

Each RPC authenticates (``authorization: Bearer <token>`` metadata), converts the request
with ``serde``, calls the service layer and converts the answer back. Domain errors become
status codes through :data:`STATUS_FOR` in :func:`unary_rpc` / :func:`stream_rpc` (which
other services, e.g. Alerts, reuse); nothing else catches exceptions. Anything unexpected
is logged with its traceback and answered ``INTERNAL`` without internals in the detail.

A request body that is not a valid protobuf message of the method's request type
(truncated, wrong wire types, garbage) is answered ``INVALID_ARGUMENT`` naming the type
and the parser's complaint, for every service on the server (:class:`PayloadGuard`, a
server interceptor wrapping each method's deserializer); grpcio alone would answer
``INTERNAL "Exception deserializing request!"``. Callers of ``ecgnet.*`` methods are
authenticated first, so an unauthenticated caller still gets ``UNAUTHENTICATED``.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator, Sequence
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import grpc
from ecgnet.codec import WaveformError
from ecgnet.v1 import (
    ingest_pb2,
    ingest_pb2_grpc,
    reading_pb2,
    reading_pb2_grpc,
    reports_pb2,
    reports_pb2_grpc,
)
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from central_reader import serde
from central_reader.auth import bearer_token
from central_reader.errors import (
    AuthenticationError,
    ConfigError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    PreconditionError,
    ReaderError,
    StoreUnavailableError,
)
from central_reader.service import ReadingService
from central_reader.types import Principal

__all__ = [
    "MAX_MESSAGE_BYTES",
    "STATUS_FOR",
    "ExtraService",
    "GrpcServer",
    "PayloadGuard",
    "TlsFiles",
    "build_server",
    "status_for",
    "stream_rpc",
    "unary_rpc",
]

_log = logging.getLogger(__name__)

#: Largest request or response: a 15-lead, 1000 Hz, 300 s uncompressed waveform (9 MB)
#: plus room for the analysis JSON.
MAX_MESSAGE_BYTES = 12 * 1024 * 1024

#: Domain error -> status code; the first matching class wins (most specific first).
STATUS_FOR: tuple[tuple[type[Exception], grpc.StatusCode], ...] = (
    (InvalidRequestError, grpc.StatusCode.INVALID_ARGUMENT),
    (WaveformError, grpc.StatusCode.INVALID_ARGUMENT),
    (NotFoundError, grpc.StatusCode.NOT_FOUND),
    (ConflictError, grpc.StatusCode.ALREADY_EXISTS),
    (PreconditionError, grpc.StatusCode.FAILED_PRECONDITION),
    (AuthenticationError, grpc.StatusCode.UNAUTHENTICATED),
    (PermissionDeniedError, grpc.StatusCode.PERMISSION_DENIED),
    (StoreUnavailableError, grpc.StatusCode.UNAVAILABLE),
)

SERVICE_NAMES = (
    ingest_pb2.DESCRIPTOR.services_by_name["Ingest"].full_name,
    reading_pb2.DESCRIPTOR.services_by_name["Reading"].full_name,
    reports_pb2.DESCRIPTOR.services_by_name["Reports"].full_name,
)


def status_for(exc: BaseException) -> grpc.StatusCode:
    """The status code for an exception (``INTERNAL`` when it is not a domain error)."""
    for cls, code in STATUS_FOR:
        if isinstance(exc, cls):
            return code
    return grpc.StatusCode.INTERNAL


def _abort(context: grpc.ServicerContext, exc: Exception, method: str) -> None:
    code = status_for(exc)
    if code is grpc.StatusCode.INTERNAL:
        _log.exception("%s failed", method)
        context.abort(code, "internal error (logged at the central)")
    if not isinstance(exc, (ReaderError, WaveformError)):  # pragma: no cover - table covers
        context.abort(code, "request failed")
    if code is grpc.StatusCode.UNAVAILABLE:
        _log.warning("%s: %s", method, exc)
    context.abort(code, str(exc))


def _principal(service: ReadingService, context: grpc.ServicerContext) -> Principal:
    header = next(
        (str(v) for k, v in context.invocation_metadata() if k == "authorization"), None
    )
    return service.authenticate(bearer_token(header))


Req = TypeVar("Req")
Resp = TypeVar("Resp")
Handler = Callable[[Any, Req, grpc.ServicerContext, Principal], Resp]


def unary_rpc(fn: Handler[Req, Resp]) -> Callable[[Any, Req, grpc.ServicerContext], Resp]:
    """Authenticate, run, and map domain errors (unary RPCs).

    The servicer needs a ``service`` attribute (the :class:`ReadingService`); the wrapped
    method receives the authenticated :class:`Principal` as a fourth argument.
    """

    @functools.wraps(fn)
    def wrapper(self: Any, request: Req, context: grpc.ServicerContext) -> Resp:
        try:
            return fn(self, request, context, _principal(self.service, context))
        except Exception as exc:  # noqa: BLE001 - the one mapping point
            _abort(context, exc, fn.__name__)
            raise  # pragma: no cover - abort raises

    return wrapper


def stream_rpc(
    fn: Handler[Req, Iterator[Resp]],
) -> Callable[[Any, Req, grpc.ServicerContext], Iterator[Resp]]:
    """Same as :func:`unary_rpc` for server-streaming RPCs."""

    @functools.wraps(fn)
    def wrapper(self: Any, request: Req, context: grpc.ServicerContext) -> Iterator[Resp]:
        try:
            yield from fn(self, request, context, _principal(self.service, context))
        except Exception as exc:  # noqa: BLE001 - the one mapping point
            _abort(context, exc, fn.__name__)

    return wrapper


class IngestServicer(ingest_pb2_grpc.IngestServicer):
    def __init__(self, service: ReadingService) -> None:
        self.service = service

    @unary_rpc
    def Submit(  # noqa: N802 - generated name
        self,
        request: ingest_pb2.SubmitRecordRequest,
        context: grpc.ServicerContext,
        principal: Principal,
    ) -> ingest_pb2.SubmitRecordResponse:
        record = serde.record_from_proto(request, default_device_id=principal.user_id)
        result = self.service.submit(principal, record)
        return ingest_pb2.SubmitRecordResponse(
            record_id=result.record_id,
            duplicate=result.duplicate,
            received_at=serde.timestamp_from_datetime(result.received_at),
        )


class ReadingServicer(reading_pb2_grpc.ReadingServicer):
    def __init__(self, service: ReadingService) -> None:
        self.service = service

    @unary_rpc
    def ListQueue(  # noqa: N802
        self,
        request: reading_pb2.ListQueueRequest,
        context: grpc.ServicerContext,
        principal: Principal,
    ) -> reading_pb2.ListQueueResponse:
        entries = self.service.list_queue(
            principal, limit=request.limit or 100, include_claimed=request.include_claimed
        )
        now = self.service.now()
        return reading_pb2.ListQueueResponse(
            items=[serde.entry_to_proto(e, now) for e in entries]
        )

    @unary_rpc
    def Claim(  # noqa: N802
        self,
        request: reading_pb2.ClaimRequest,
        context: grpc.ServicerContext,
        principal: Principal,
    ) -> reading_pb2.ClaimResponse:
        entry = self.service.claim(
            principal, request.record_id or None, request.lease_seconds or None
        )
        return reading_pb2.ClaimResponse(
            item=serde.entry_to_proto(entry, self.service.now())
        )

    @unary_rpc
    def Release(  # noqa: N802
        self,
        request: reading_pb2.ReleaseRequest,
        context: grpc.ServicerContext,
        principal: Principal,
    ) -> reading_pb2.ReleaseResponse:
        self.service.release(principal, request.record_id)
        return reading_pb2.ReleaseResponse()

    @unary_rpc
    def GetRecord(  # noqa: N802
        self,
        request: reading_pb2.GetRecordRequest,
        context: grpc.ServicerContext,
        principal: Principal,
    ) -> reading_pb2.GetRecordResponse:
        detail = self.service.get_record(principal, request.record_id)
        return reading_pb2.GetRecordResponse(
            record=serde.detail_to_proto(detail, self.service.now())
        )

    @unary_rpc
    def SignReport(  # noqa: N802
        self,
        request: reading_pb2.SignReportRequest,
        context: grpc.ServicerContext,
        principal: Principal,
    ) -> reading_pb2.SignReportResponse:
        report = self.service.sign(
            principal, request.record_id, serde.draft_from_proto(request)
        )
        return reading_pb2.SignReportResponse(report=serde.report_to_proto(report))

    @unary_rpc
    def AmendReport(  # noqa: N802
        self,
        request: reading_pb2.AmendReportRequest,
        context: grpc.ServicerContext,
        principal: Principal,
    ) -> reading_pb2.AmendReportResponse:
        report = self.service.amend(
            principal,
            request.record_id,
            request.base_version,
            serde.draft_from_proto(request),
            request.reason,
        )
        return reading_pb2.AmendReportResponse(report=serde.report_to_proto(report))


class ReportsServicer(reports_pb2_grpc.ReportsServicer):
    def __init__(self, service: ReadingService) -> None:
        self.service = service

    @stream_rpc
    def Subscribe(  # noqa: N802
        self,
        request: reports_pb2.SubscribeReportsRequest,
        context: grpc.ServicerContext,
        principal: Principal,
    ) -> Iterator[reports_pb2.ReportEvent]:
        service = self.service
        cursor = request.cursor
        service.check_subscribe(principal, request.site_id, cursor)
        generation = service.report_generation
        while context.is_active() and not service.closing:
            page = service.store.reports_after(request.site_id, cursor, limit=100)
            for report in page:
                cursor = report.cursor
                yield reports_pb2.ReportEvent(
                    report=serde.report_to_proto(report), cursor=cursor
                )
            if len(page) < 100:
                generation = service.wait_for_reports(
                    generation, service.config.report_poll_s
                )


@dataclass(frozen=True, slots=True)
class _BadPayload:
    """Stands in for a request that did not parse (see :class:`PayloadGuard`)."""

    type_name: str
    error: str


class PayloadGuard(grpc.ServerInterceptor):  # type: ignore[misc]
    """Answer ``INVALID_ARGUMENT`` for request bodies that are not valid protobuf.

    grpcio's own deserialization failure is ``INTERNAL`` and cannot be changed from the
    deserializer, so the deserializer is wrapped to return a :class:`_BadPayload` marker
    instead of raising, and the behaviour is wrapped to abort on it before the servicer
    runs. Unary-request methods only (every method of this server); streaming requests
    pass through unchanged.
    """

    def __init__(self, service: ReadingService | None = None) -> None:
        self.service = service
        self._cache: dict[str, tuple[grpc.RpcMethodHandler, grpc.RpcMethodHandler]] = {}

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        if (handler is None or handler.request_streaming
                or handler.request_deserializer is None):
            return handler
        method = str(handler_call_details.method)
        cached = self._cache.get(method)
        if cached is not None and cached[0] is handler:
            return cached[1]
        guarded = self._guard(handler, method)
        self._cache[method] = (handler, guarded)
        return guarded

    def _guard(self, handler: grpc.RpcMethodHandler, method: str) -> grpc.RpcMethodHandler:
        deserialize = handler.request_deserializer
        type_name = getattr(getattr(deserialize, "__self__", None), "DESCRIPTOR", None)
        name = str(getattr(type_name, "full_name", "request"))

        def guarded_deserialize(data: bytes) -> Any:
            try:
                return deserialize(data)
            except Exception as exc:  # noqa: BLE001 - DecodeError and friends
                return _BadPayload(name, f"{type(exc).__name__}: {exc}"[:200])

        def refuse(bad: _BadPayload, context: grpc.ServicerContext) -> None:
            if self.service is not None and method.startswith("/ecgnet."):
                try:
                    _principal(self.service, context)
                except Exception as exc:  # noqa: BLE001 - mapped like any RPC error
                    _abort(context, exc, method)
            _log.debug("%s: unparsable request (%s)", method, bad.error)
            context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                          f"request body is not a valid {bad.type_name} message"
                          f" ({bad.error})")

        if handler.response_streaming:
            inner_stream = handler.unary_stream

            def stream_behavior(request: Any, context: grpc.ServicerContext) -> Any:
                if isinstance(request, _BadPayload):
                    refuse(request, context)
                return inner_stream(request, context)

            return grpc.unary_stream_rpc_method_handler(
                stream_behavior, request_deserializer=guarded_deserialize,
                response_serializer=handler.response_serializer)
        inner = handler.unary_unary

        def behavior(request: Any, context: grpc.ServicerContext) -> Any:
            if isinstance(request, _BadPayload):
                refuse(request, context)
            return inner(request, context)

        return grpc.unary_unary_rpc_method_handler(
            behavior, request_deserializer=guarded_deserialize,
            response_serializer=handler.response_serializer)


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """PEM files for the server certificate and key (and a CA to require client certs)."""

    cert: Path
    key: Path
    client_ca: Path | None = None

    def credentials(self) -> grpc.ServerCredentials:
        try:
            pair = (self.key.read_bytes(), self.cert.read_bytes())
            ca = self.client_ca.read_bytes() if self.client_ca else None
        except OSError as exc:
            raise ConfigError(f"cannot read TLS file: {exc}", field="tls") from exc
        return grpc.ssl_server_credentials(
            [pair], root_certificates=ca, require_client_auth=ca is not None
        )


@dataclass(frozen=True, slots=True)
class GrpcServer:
    """A started server, its bound port and its health servicer."""

    server: grpc.Server
    port: int
    health: health.HealthServicer

    def stop(self, grace_s: float) -> None:
        """Refuse new calls, let running ones finish for ``grace_s``, then cancel."""
        self.health.enter_graceful_shutdown()
        self.server.stop(grace_s).wait()


#: An additional service: its full name (for health and reflection) and a function that
#: adds its servicer to the server (e.g. the Alerts service of issue 6).
ExtraService = tuple[str, Callable[[grpc.Server], None]]


def build_server(
    service: ReadingService,
    listen: str,
    *,
    tls: TlsFiles | None = None,
    max_workers: int = 128,
    max_message_bytes: int = MAX_MESSAGE_BYTES,
    extra_services: Sequence[ExtraService] = (),
    min_ping_interval_ms: int = 20_000,
) -> GrpcServer:
    """Create, bind and start the gRPC server with health checking and reflection.

    Parameters
    ----------
    service
        The service layer all servicers share.
    listen
        ``HOST:PORT``; port 0 picks a free port (see ``GrpcServer.port``).
    tls
        Server certificate and key; None serves plaintext (development only).
    max_workers
        Thread pool size; each open Reports stream holds one thread.
    max_message_bytes
        Receive and send limit; larger requests fail with RESOURCE_EXHAUSTED.
    extra_services
        More services to serve beside Ingest/Reading/Reports, with health and reflection.
    min_ping_interval_ms
        Keepalive pings a client may send without data, at most one per this interval
        (more answer GOAWAY "too_many_pings"); carts and alert desks ping every 60 s.
    """
    options = [
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.so_reuseport", 0),
        # Carts ping every 60 s to keep report streams open through NAT: allow pings down
        # to every 20 s (the default 5 min would answer GOAWAY "too_many_pings"), and ping
        # idle clients every 2 min so dead subscribers free their worker thread.
        # (the C-core name is GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, its
        # string is "grpc.http2.min_ping_interval_without_data_ms"; an unknown key is
        # ignored silently, which is how the old spelling left the 5 min default in place)
        ("grpc.http2.min_ping_interval_without_data_ms", min_ping_interval_ms),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.keepalive_time_ms", 120_000),
        ("grpc.keepalive_timeout_ms", 20_000),
    ]
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="grpc"),
        options=options,
        interceptors=[PayloadGuard(service)],
    )
    ingest_pb2_grpc.add_IngestServicer_to_server(IngestServicer(service), server)  # type: ignore[no-untyped-call]
    reading_pb2_grpc.add_ReadingServicer_to_server(ReadingServicer(service), server)  # type: ignore[no-untyped-call]
    reports_pb2_grpc.add_ReportsServicer_to_server(ReportsServicer(service), server)  # type: ignore[no-untyped-call]
    for _, register in extra_services:
        register(server)
    names = (*SERVICE_NAMES, *(name for name, _ in extra_services))
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in ("", *names):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection(
        (*names, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    try:
        if tls is None:
            port = server.add_insecure_port(listen)
        else:
            port = server.add_secure_port(listen, tls.credentials())
    except RuntimeError as exc:
        raise ConfigError(f"cannot listen: {exc}", field="listen", got=listen) from exc
    if port == 0:
        raise ConfigError("cannot listen (address in use?)", field="listen", got=listen)
    server.start()
    return GrpcServer(server=server, port=port, health=health_servicer)
