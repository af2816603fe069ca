"""HTTP JSON routes and static files of the reading station (the cardiologist's web page).

Every route authenticates the ``Authorization: Bearer <token>`` header and calls the same
:class:`~central_reader.service.ReadingService` methods as the gRPC servicers, so the
authorization matrix, validation, leases and the audit log are implemented once. Domain
errors propagate to :class:`~central_reader.http.HttpApp`, which maps them to HTTP statuses
in one place (``{"error": <type>, "detail": <text>}``).

Routes (JSON bodies and answers, UTF-8)::

    GET  /                                  the page (static/index.html)
    GET  /static/<file>                     its scripts and stylesheet (a fixed allow-list)
    GET  /api/v1/session                    who the token belongs to, the alerting codes
    GET  /api/v1/vocabulary                 statements a reader can add (zh + en)
    GET  /api/v1/queue?limit=&include_claimed=
    POST /api/v1/records/<id>/claim         {"lease_seconds": n}?      -> {"item"}
    POST /api/v1/records/<id>/release                                    -> {}
    GET  /api/v1/records/<id>               item, waveform, analysis, reports, previous id
    POST /api/v1/records/<id>/sign          {findings, free_text, conclusion} -> {"report"}
    POST /api/v1/records/<id>/amend         {... base_version, reason}       -> {"report"}

:func:`register_routes` mounts them on the central's :class:`~central_reader.http.HttpApp`
(beside ``/metrics`` and ``/healthz``).
"""

from __future__ import annotations

import base64
import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from ecgnet.codec import decode_waveform

from central_reader.errors import InvalidRequestError, NotFoundError
from central_reader.http import HttpApp, HttpRequest, HttpResponse
from central_reader.service import ReadingService
from central_reader.types import (
    Finding,
    Principal,
    Priority,
    QueueEntry,
    RecordDetail,
    Report,
    ReportDraft,
)
from central_reader.web.vocabulary import statements
from edge_agent.types import normalize_lead_name

__all__ = ["MAX_BODY_BYTES", "STATIC_DIR", "ReadingStation", "register_routes"]

_log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
#: Largest accepted report body (a report is a few kB).
MAX_BODY_BYTES = 1_000_000

_CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}
_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'"
    ),
}
_API_HEADERS = {"Cache-Control": "no-store", **_SECURITY_HEADERS}
_STATIC_HEADERS = {"Cache-Control": "no-cache", **_SECURITY_HEADERS}
_UUID = r"[0-9a-fA-F-]{36}"

Handler = Callable[[HttpRequest, "re.Match[str]"], HttpResponse]


def _json(payload: Any, status: int = 200) -> HttpResponse:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return HttpResponse(status, body, "application/json; charset=utf-8", _API_HEADERS)


def _iso(value: Any) -> str | None:
    return None if value is None else value.isoformat()


def _finding_json(f: Finding) -> dict[str, Any]:
    return {
        "code": f.code,
        "label_en": f.label_en,
        "label_zh": f.label_zh,
        "priority": f.priority.value,
        "source": f.source,
        "probability": f.probability,
        "detail": f.detail,
    }


def _entry_json(entry: QueueEntry, now: Any) -> dict[str, Any]:
    return {
        "record_id": entry.record_id,
        "site_id": entry.site_id,
        "county_id": entry.county_id,
        "priority": entry.priority.value,
        "findings": [_finding_json(f) for f in entry.findings],
        "patient": {
            "pseudo_id": entry.patient.pseudo_id,
            "age_years": entry.patient.age_years,
            "sex": entry.patient.sex.value,
        },
        "acquired_at": _iso(entry.acquired_at),
        "received_at": _iso(entry.received_at),
        "deadline": _iso(entry.deadline),
        "status": entry.status.value,
        "overdue": entry.is_overdue(now),
        "claimed_by": entry.claimed_by,
        "lease_expires_at": _iso(entry.lease_expires_at),
    }


def _report_json(r: Report) -> dict[str, Any]:
    return {
        "report_id": r.report_id,
        "record_id": r.record_id,
        "site_id": r.site_id,
        "version": r.version,
        "findings": [_finding_json(f) for f in r.findings],
        "free_text": r.free_text,
        "conclusion": r.conclusion,
        "signed_by": r.signed_by,
        "signer_name": r.signer_name,
        "signed_at": _iso(r.signed_at),
        "amend_reason": r.amend_reason,
        "cursor": r.cursor,
    }


def _waveform_json(detail: RecordDetail) -> dict[str, Any]:
    """int16 LE counts, lead-major, base64 (decoded and validated by the codec)."""
    wf = detail.waveform
    signal, fs, leads = decode_waveform(wf)  # type: ignore[arg-type]
    counts = np.rint(signal * wf.gain_counts_per_mv).astype("<i2")
    return {
        "fs_hz": fs,
        "leads": [normalize_lead_name(name) for name in leads],
        "n_samples": int(signal.shape[1]),
        "gain_counts_per_mv": wf.gain_counts_per_mv,
        "samples_b64": base64.b64encode(counts.tobytes()).decode("ascii"),
    }


def _analysis(text: str) -> dict[str, Any]:
    if not text:
        return {}
    try:
        parsed = json.loads(text)
    except ValueError:
        _log.warning("stored analysis_json is not JSON; sending none")
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _text(body: Mapping[str, Any], key: str, *, required: bool = False) -> str:
    value = body.get(key, "")
    if not isinstance(value, str):
        raise InvalidRequestError("must be a string", field=key, got=type(value).__name__)
    if required and not value.strip():
        raise InvalidRequestError("required", field=key)
    return value


def _finding_from_json(item: Any, index: int, principal: Principal) -> Finding:
    field = f"findings[{index}]"
    if not isinstance(item, dict):
        raise InvalidRequestError("must be an object", field=field)
    code = _text(item, "code", required=True)
    try:
        priority = Priority(item.get("priority") or Priority.ROUTINE.value)
    except ValueError:
        raise InvalidRequestError("unknown priority", field=f"{field}.priority",
                                  expected=", ".join(p.value for p in Priority),
                                  got=repr(item.get("priority"))) from None
    own = f"reader:{principal.user_id}"
    source = _text(item, "source") or own
    if source.startswith("reader:") and source != own:
        raise InvalidRequestError("a reader statement must carry the signer's id",
                                  field=f"{field}.source", expected=own, got=source)
    prob = item.get("probability")
    if prob is not None and (isinstance(prob, bool) or not isinstance(prob, int | float)):
        raise InvalidRequestError("must be a number or null", field=f"{field}.probability")
    return Finding(
        code=code,
        label_en=_text(item, "label_en") or code,
        label_zh=_text(item, "label_zh") or _text(item, "label_en") or code,
        priority=priority,
        source=source,
        probability=None if prob is None else float(prob),
        detail=_text(item, "detail"),
    )


def _draft_from_json(body: Mapping[str, Any], principal: Principal) -> ReportDraft:
    findings = body.get("findings", [])
    if not isinstance(findings, list):
        raise InvalidRequestError("must be a list", field="findings")
    return ReportDraft(
        findings=tuple(_finding_from_json(f, i, principal) for i, f in enumerate(findings)),
        free_text=_text(body, "free_text"),
        conclusion=_text(body, "conclusion"),
    )


class ReadingStation:
    """The reading station's routes over one service.

    Parameters
    ----------
    service
        The service layer shared with the gRPC servicers.
    static_dir
        Where index.html, app.js, ecg-paper.js, i18n.js and style.css live.
    """

    def __init__(
        self,
        service: ReadingService,
        static_dir: Path = STATIC_DIR,
        *,
        alert_codes: Iterable[str] = (),
    ) -> None:
        self.service = service
        self.alert_codes = frozenset(alert_codes)
        self._static = {
            p.name: (p, _CONTENT_TYPES[p.suffix])
            for p in sorted(static_dir.iterdir())
            if p.is_file() and p.suffix in _CONTENT_TYPES
        }
        if "index.html" not in self._static:
            raise FileNotFoundError(f"reading station page missing in {static_dir}")
        rec = f"records/(?P<record_id>{_UUID})"
        self._get: tuple[tuple[re.Pattern[str], Handler], ...] = (
            (re.compile("session"), self._session),
            (re.compile("vocabulary"), self._vocabulary),
            (re.compile("queue"), self._queue),
            (re.compile(rec), self._record),
        )
        self._post: tuple[tuple[re.Pattern[str], Handler], ...] = (
            (re.compile(f"{rec}/claim"), self._claim),
            (re.compile(f"{rec}/release"), self._release),
            (re.compile(f"{rec}/sign"), self._sign),
            (re.compile(f"{rec}/amend"), self._amend),
        )

    def register(self, app: HttpApp) -> None:
        """Mount the page, its static files and the JSON API on the central's HTTP app."""
        app.route("GET", "/", self.index)
        app.route("GET", "/index.html", self.index)
        app.route("GET", "/static/", self.static_file, prefix=True)
        app.route("GET", "/api/v1/", self.api_get, prefix=True)
        app.route("POST", "/api/v1/", self.api_post, prefix=True)

    # -- dispatch ------------------------------------------------------------------------

    def api_get(self, request: HttpRequest) -> HttpResponse:
        """``GET /api/v1/<tail>``."""
        return self._dispatch(self._get, request)

    def api_post(self, request: HttpRequest) -> HttpResponse:
        """``POST /api/v1/<tail>``."""
        return self._dispatch(self._post, request)

    @staticmethod
    def _dispatch(
        table: tuple[tuple[re.Pattern[str], Handler], ...], request: HttpRequest
    ) -> HttpResponse:
        for pattern, handler in table:
            m = pattern.fullmatch(request.tail)
            if m is not None:
                return handler(request, m)
        raise NotFoundError("no such route", field="path",
                            got=f"{request.method} {request.path}")

    def _principal(self, request: HttpRequest) -> Principal:
        return self.service.authenticate(request.bearer)

    @staticmethod
    def _body(request: HttpRequest) -> dict[str, Any]:
        if len(request.body) > MAX_BODY_BYTES:
            raise InvalidRequestError("request body too large", field="body",
                                      expected=f"<= {MAX_BODY_BYTES} bytes",
                                      got=str(len(request.body)))
        if not request.body.strip():
            return {}
        parsed = request.json()
        if not isinstance(parsed, dict):
            raise InvalidRequestError("must be a JSON object", field="body",
                                      got=type(parsed).__name__)
        return parsed

    # -- static --------------------------------------------------------------------------

    def _file(self, name: str) -> HttpResponse:
        entry = self._static.get(name)
        if entry is None:
            raise NotFoundError("no such file", field="path", got=name)
        path, ctype = entry
        return HttpResponse(200, path.read_bytes(), ctype, _STATIC_HEADERS)

    def index(self, request: HttpRequest) -> HttpResponse:
        """The page."""
        return self._file("index.html")

    def static_file(self, request: HttpRequest) -> HttpResponse:
        """``/static/<name>`` from the allow-list built at start-up (no path walking)."""
        return self._file(request.tail)

    # -- API -----------------------------------------------------------------------------

    def _session(self, request: HttpRequest, m: re.Match[str]) -> HttpResponse:
        p = self._principal(request)
        return _json({"user_id": p.user_id, "name": p.name, "role": p.role.value,
                      "county_id": p.county_id, "now": _iso(self.service.now()),
                      "alert_codes": sorted(self.alert_codes)})

    def _vocabulary(self, request: HttpRequest, m: re.Match[str]) -> HttpResponse:
        self._principal(request)
        return _json({"statements": [s.to_dict() for s in statements()]})

    def _queue(self, request: HttpRequest, m: re.Match[str]) -> HttpResponse:
        p = self._principal(request)
        raw_limit = request.query.get("limit", ["100"])[0]
        if not raw_limit.isdigit():
            raise InvalidRequestError("not an integer", field="limit", got=repr(raw_limit))
        include = request.query.get("include_claimed", ["0"])[0] in ("1", "true", "yes")
        items = self.service.list_queue(p, limit=int(raw_limit), include_claimed=include)
        now = self.service.now()
        return _json({"now": _iso(now), "items": [_entry_json(e, now) for e in items]})

    def _claim(self, request: HttpRequest, m: re.Match[str]) -> HttpResponse:
        p = self._principal(request)
        lease = self._body(request).get("lease_seconds")
        if lease is not None and (
            isinstance(lease, bool) or not isinstance(lease, int | float)
        ):
            raise InvalidRequestError("must be a number", field="lease_seconds")
        entry = self.service.claim(p, m["record_id"].lower(),
                                   None if lease is None else float(lease))
        return _json({"item": _entry_json(entry, self.service.now())})

    def _release(self, request: HttpRequest, m: re.Match[str]) -> HttpResponse:
        p = self._principal(request)
        self.service.release(p, m["record_id"].lower())
        return _json({})

    def _record(self, request: HttpRequest, m: re.Match[str]) -> HttpResponse:
        p = self._principal(request)
        detail = self.service.get_record(p, m["record_id"].lower())
        now = self.service.now()
        return _json({
            "item": _entry_json(detail.entry, now),
            "device_id": detail.device_id,
            "waveform": _waveform_json(detail),
            "analysis": _analysis(detail.analysis_json),
            "reports": [_report_json(r) for r in detail.reports],
            "previous_record_id": detail.previous_record_id,
        })

    def _sign(self, request: HttpRequest, m: re.Match[str]) -> HttpResponse:
        p = self._principal(request)
        draft = _draft_from_json(self._body(request), p)
        report = self.service.sign(p, m["record_id"].lower(), draft)
        return _json({"report": _report_json(report)})

    def _amend(self, request: HttpRequest, m: re.Match[str]) -> HttpResponse:
        p = self._principal(request)
        body = self._body(request)
        base = body.get("base_version")
        if isinstance(base, bool) or not isinstance(base, int) or base < 1:
            raise InvalidRequestError("must be a positive integer", field="base_version",
                                      got=repr(base))
        draft = _draft_from_json(body, p)
        report = self.service.amend(p, m["record_id"].lower(), base, draft,
                                    _text(body, "reason"))
        return _json({"report": _report_json(report)})


def register_routes(app: HttpApp, *, alert_codes: Iterable[str] = ()) -> ReadingStation:
    """Mount the reading station on ``app`` (using ``app.service``) and return it.

    ``alert_codes``: the finding codes that raise a chest-pain alert (the alerts service's
    configuration; empty without one). The page warns before a signed report drops one.
    """
    station = ReadingStation(app.service, alert_codes=alert_codes)
    station.register(app)
    return station
