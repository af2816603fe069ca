"""The HTTP side of ``ecg-central serve``: a small route table on the stdlib server.

``/metrics`` (Prometheus text format) and ``/healthz`` are built in. The reading web page
(issue 7) adds its own routes with :meth:`HttpApp.route` and uses the same
``ReadingService``; handlers get an :class:`HttpRequest` and return an
:class:`HttpResponse`, and :class:`~central_reader.errors.ReaderError` subclasses are mapped
to HTTP status codes here, once.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from central_reader.auth import bearer_token
from central_reader.errors import (
    AuthenticationError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    PreconditionError,
    ReaderError,
    StoreUnavailableError,
)
from central_reader.metrics import Registry
from central_reader.service import ReadingService

__all__ = ["HttpApp", "HttpRequest", "HttpResponse", "HttpServer", "Route", "start_http"]

_log = logging.getLogger(__name__)
MAX_BODY_BYTES = 2 * 1024 * 1024

_HTTP_STATUS: tuple[tuple[type[ReaderError], HTTPStatus], ...] = (
    (InvalidRequestError, HTTPStatus.BAD_REQUEST),
    (NotFoundError, HTTPStatus.NOT_FOUND),
    (ConflictError, HTTPStatus.CONFLICT),
    (PreconditionError, HTTPStatus.CONFLICT),
    (AuthenticationError, HTTPStatus.UNAUTHORIZED),
    (PermissionDeniedError, HTTPStatus.FORBIDDEN),
    (StoreUnavailableError, HTTPStatus.SERVICE_UNAVAILABLE),
)


@dataclass(frozen=True, slots=True)
class HttpRequest:
    method: str
    path: str
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]
    body: bytes
    #: Path parameters of a prefix route: the part after the prefix.
    tail: str = ""

    @property
    def bearer(self) -> str | None:
        """The bearer token of the ``Authorization`` header, if any."""
        return bearer_token(self.headers.get("authorization"))

    def json(self) -> object:
        try:
            return json.loads(self.body or b"null")
        except ValueError as exc:
            raise InvalidRequestError(f"body is not JSON ({exc})", field="body") from None


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int = 200
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, value: object, status: int = 200) -> HttpResponse:
        return cls(
            status,
            json.dumps(value, ensure_ascii=False).encode(),
            "application/json; charset=utf-8",
        )

    @classmethod
    def text(
        cls, text: str, status: int = 200, content_type: str = "text/plain; charset=utf-8"
    ) -> HttpResponse:
        return cls(status, text.encode("utf-8"), content_type)


Handler = Callable[[HttpRequest], HttpResponse]


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str
    handler: Handler
    prefix: bool = False


class HttpApp:
    """Routes: exact paths first, then the longest matching prefix route."""

    def __init__(self, service: ReadingService, metrics: Registry) -> None:
        self.service = service
        self.metrics = metrics
        self._exact: dict[tuple[str, str], Route] = {}
        self._prefixes: list[Route] = []
        self.route("GET", "/metrics", self._metrics)
        self.route("GET", "/healthz", lambda _req: HttpResponse.text("ok\n"))

    def route(
        self, method: str, path: str, handler: Handler, *, prefix: bool = False
    ) -> None:
        """Register ``handler`` for ``method path`` (``prefix=True``: paths under it)."""
        route = Route(method.upper(), path, handler, prefix)
        if prefix:
            self._prefixes.append(route)
            self._prefixes.sort(key=lambda r: len(r.path), reverse=True)
        else:
            self._exact[(route.method, path)] = route

    def dispatch(self, request: HttpRequest) -> HttpResponse:
        route = self._exact.get((request.method, request.path))
        tail = ""
        if route is None:
            for candidate in self._prefixes:
                if candidate.method == request.method and request.path.startswith(
                    candidate.path
                ):
                    route, tail = candidate, request.path[len(candidate.path) :]
                    break
        if route is None:
            known = {p for (_, p) in self._exact} | {r.path for r in self._prefixes}
            status = HTTPStatus.METHOD_NOT_ALLOWED if request.path in known else 404
            return HttpResponse.text(f"{int(status)} {request.path}\n", int(status))
        try:
            return route.handler(
                HttpRequest(
                    request.method,
                    request.path,
                    request.query,
                    request.headers,
                    request.body,
                    tail,
                )
            )
        except ReaderError as exc:
            code = next(
                (s for cls, s in _HTTP_STATUS if isinstance(exc, cls)),
                HTTPStatus.INTERNAL_SERVER_ERROR,
            )
            return HttpResponse.json(
                {"error": type(exc).__name__, "detail": str(exc)}, int(code)
            )
        except Exception:
            _log.exception("HTTP %s %s failed", request.method, request.path)
            return HttpResponse.json({"error": "internal"}, 500)

    def _metrics(self, _request: HttpRequest) -> HttpResponse:
        return HttpResponse.text(
            self.metrics.render(), content_type="text/plain; version=0.0.4; charset=utf-8"
        )


def _handler_class(app: HttpApp) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "ecg-central"

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("content-length") or 0)
            if length > MAX_BODY_BYTES:
                self._send(HttpResponse.text("413 body too large\n", 413))
                return
            body = self.rfile.read(length) if length else b""
            request = HttpRequest(
                method=self.command,
                path=parts.path,
                query=parse_qs(parts.query),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
            )
            self._send(app.dispatch(request))

        def _send(self, response: HttpResponse) -> None:
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            for key, value in response.headers.items():
                self.send_header(key, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _serve  # noqa: N815

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            _log.debug("http %s - " + format, self.address_string(), *args)

    return _Handler


class HttpServer:
    """The HTTP server running in a daemon thread."""

    def __init__(self, app: HttpApp, host: str, port: int) -> None:
        self.app = app
        self._server = ThreadingHTTPServer((host, port), _handler_class(app))
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="http", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def start_http(app: HttpApp, listen: str) -> HttpServer:
    """Bind ``HOST:PORT`` (port 0 = any free port) and serve in a thread."""
    host, _, port = listen.rpartition(":")
    server = HttpServer(app, host.strip("[]") or "127.0.0.1", int(port))
    server.start()
    return server
