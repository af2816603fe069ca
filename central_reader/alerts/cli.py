"""``ecg-central alerts ...`` and the alert options of ``ecg-central serve``.

Scripts rely on these spellings::

    ecg-central alerts watch --server HOST:PORT --hospital ID [--insecure] [--json]
    ecg-central alerts report --db URL [--json]

``watch --json`` prints exactly one JSON object per alert, one per line, flushed, as soon
as the alert first arrives (keys ``alert_id, record_id, site_id, findings, acquired_at,
raised_at`` and more); ``--events`` adds one line per later update (``"event"`` key).
The token comes from ``--token`` or ``$ECG_CENTRAL_TOKEN``.

Keys at the desk (a line on stdin): ``a`` acknowledges the newest unacknowledged alert,
``N`` (its number) acknowledges alert N, ``ack ALERT_ID`` a given one, ``q`` quits.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import grpc
from ecgnet.v1 import alerts_pb2, alerts_pb2_grpc

from central_reader.alerts.config import AlertConfig, Hospital, Ladder, Route, load_config
from central_reader.alerts.report import Targets, alert_intervals, summarize
from central_reader.alerts.service import AlertService
from central_reader.alerts.store import Alert, AlertStore
from central_reader.errors import ConfigError
from central_reader.grpc_api import ExtraService
from central_reader.service import ReadingService
from central_reader.store import open_store
from central_reader.store._sql import SqlStore

__all__ = ["AlertsRuntime", "add_serve_args", "register", "start_for_serve"]

_log = logging.getLogger(__name__)

DEV_HOSPITAL = "dev-cpc"
_KIND_NAME = {
    v.number: v.name.removeprefix("ALERT_EVENT_KIND_").lower()
    for v in alerts_pb2.AlertEventKind.DESCRIPTOR.values
}
_READING_NAME = {
    v.number: v.name.removeprefix("ALERT_READING_").lower()
    for v in alerts_pb2.AlertReading.DESCRIPTOR.values
}
_FRESH = (
    alerts_pb2.ALERT_EVENT_KIND_RAISED,
    alerts_pb2.ALERT_EVENT_KIND_UNACKNOWLEDGED,
    alerts_pb2.ALERT_EVENT_KIND_RESENT,
    alerts_pb2.ALERT_EVENT_KIND_ESCALATED,
)


def _iso(dt: datetime | None) -> str | None:
    return None if dt is None else dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


# -- serve -------------------------------------------------------------------------------


def add_serve_args(serve: argparse.ArgumentParser) -> None:
    """Alert options of ``ecg-central serve``."""
    serve.add_argument(
        "--alerts-config",
        default=os.environ.get("ECG_ALERTS_CONFIG"),
        help="alert routing/ladder TOML or JSON (default $ECG_ALERTS_CONFIG; "
        "--dev without it routes the dev county to hospital 'dev-cpc')",
    )
    serve.add_argument(
        "--alert-resend-s", type=float, help="override alerts.resend_after_s"
    )
    serve.add_argument(
        "--alert-escalate-s", type=float, help="override alerts.escalate_after_s"
    )
    serve.add_argument(
        "--alert-poll-s",
        type=float,
        default=1.0,
        help="alert streams re-read the store at least this often (s)",
    )


@dataclass
class AlertsRuntime:
    """A started alert service and its gRPC registration."""

    alerts: AlertService
    extra_services: list[ExtraService]

    def close(self) -> None:
        self.alerts.close()


def _dev_config(county: str) -> AlertConfig:
    return AlertConfig(
        hospitals={
            DEV_HOSPITAL: Hospital(DEV_HOSPITAL, county, "Development chest-pain centre")
        },
        routes=(Route(DEV_HOSPITAL, None, frozenset(), county),),
    )


def start_for_serve(
    service: ReadingService, ns: argparse.Namespace
) -> AlertsRuntime | None:
    """Create, attach and start the alert service for ``serve`` (None when not configured).

    Alerts run when ``--alerts-config`` (or ``$ECG_ALERTS_CONFIG``) names a file, or in
    ``--dev`` mode with a built-in route of the development county.
    """
    from central_reader.alerts.grpc_api import extra_service

    path = getattr(ns, "alerts_config", None)
    if path:
        config = load_config(Path(path))
    elif getattr(ns, "dev", False):
        from central_reader.cli import DEV_COUNTY

        config = _dev_config(DEV_COUNTY)
    else:
        _log.info("alerts disabled (no --alerts-config)")
        return None
    resend = ns.alert_resend_s or config.ladder.resend_after_s
    escalate = ns.alert_escalate_s or config.ladder.escalate_after_s
    if escalate <= resend:
        raise ConfigError(
            "alert escalation must come after the re-send", field="alert_escalate_s"
        )
    config = AlertConfig(
        codes=config.codes,
        min_priority=config.min_priority,
        ladder=Ladder(resend, escalate),
        hospitals=config.hospitals,
        routes=config.routes,
        fallback_hospital=config.fallback_hospital,
    )
    if not isinstance(service.store, SqlStore):  # pragma: no cover - both stores are SQL
        raise ConfigError("alerts need the SQLite or PostgreSQL store", field="db")
    alerts = AlertService(service, config, poll_s=ns.alert_poll_s).attach().start()
    _log.info(
        "alerts on: codes %s, %d hospital(s), %d route(s), re-send %.0f s, escalate %.0f s",
        ",".join(sorted(config.codes)),
        len(config.hospitals),
        len(config.routes),
        resend,
        escalate,
    )
    return AlertsRuntime(alerts, [extra_service(alerts)])


# -- watch -------------------------------------------------------------------------------


def _ts(msg: Any, name: str) -> str | None:
    if not msg.HasField(name):
        return None
    ts = getattr(msg, name)
    dt = datetime.fromtimestamp(ts.seconds, UTC).replace(microsecond=ts.nanos // 1000)
    return _iso(dt)


#: An alert raised longer than this after its ECG was recorded is shown as LATE at the desk:
#: the cart was offline (the outbox held the record) or its clock was wrong, and the patient
#: may no longer be where, or as, the ECG found them.
LATE_AFTER_S = 15 * 60.0


def recorded_before_alert_s(alert: alerts_pb2.Alert) -> float | None:
    """Seconds from the ECG's acquisition to the alert (None when a time is missing)."""
    if not (alert.HasField("acquired_at") and alert.HasField("raised_at")):
        return None
    acquired = alert.acquired_at.seconds + alert.acquired_at.nanos / 1e9
    raised = alert.raised_at.seconds + alert.raised_at.nanos / 1e9
    return float(raised - acquired)


def _span(seconds: float) -> str:
    if seconds >= 86400:
        return f"{seconds / 86400:.1f} d"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.0f} min"


def event_json(event: alerts_pb2.AlertEvent) -> dict[str, object]:
    """One alert event as the ``watch --json`` object."""
    a = event.alert
    wf = a.waveform if a.HasField("waveform") else None
    return {
        "alert_id": a.alert_id,
        "record_id": a.record_id,
        "site_id": a.site_id,
        "findings": [f.code for f in a.findings],
        "acquired_at": _ts(a, "acquired_at"),
        "raised_at": _ts(a, "raised_at"),
        "received_at": _ts(a, "received_at"),
        "recorded_before_alert_s": recorded_before_alert_s(a),
        "alert_codes": list(a.alert_codes),
        "hospital_id": a.hospital_id,
        "backup_hospital_id": a.backup_hospital_id or None,
        "county_id": a.county_id,
        "patient_id": a.patient.pseudo_id,
        "event": _KIND_NAME.get(event.kind, "unspecified"),
        "is_new": event.is_new,
        "escalation_level": a.escalation_level,
        "reading": _READING_NAME.get(a.reading, "unspecified"),
        "acknowledged": a.acknowledged,
        "acknowledged_by": a.acknowledged_by or None,
        "waveform": None
        if wf is None
        else {"fs_hz": wf.fs_hz, "leads": list(wf.leads), "n_samples": wf.n_samples},
    }


class _Desk:
    """State of one watch session: shown alerts, numbering, acknowledgement."""

    def __init__(
        self,
        stub: alerts_pb2_grpc.AlertsStub,
        hospital: str,
        metadata: tuple[tuple[str, str], ...],
        out: TextIO,
        *,
        as_json: bool,
        events: bool,
        who: str,
    ) -> None:
        self.stub = stub
        self.hospital = hospital
        self.md = metadata
        self.out = out
        self.as_json = as_json
        self.events = events
        self.who = who
        self.numbers: dict[str, int] = {}
        self.order: list[str] = []
        self.acked: set[str] = set()
        self.lock = threading.Lock()
        self.shown = 0

    def _write(self, text: str) -> None:
        with self.lock:
            self.out.write(text)
            self.out.flush()

    def handle(self, event: alerts_pb2.AlertEvent) -> None:
        a = event.alert
        kind = _KIND_NAME.get(event.kind, "?")
        first_sight = a.alert_id not in self.numbers
        if a.acknowledged:
            self.acked.add(a.alert_id)
        if first_sight and event.kind in _FRESH and not a.acknowledged:
            self.numbers[a.alert_id] = len(self.order) + 1
            self.order.append(a.alert_id)
            self.shown += 1
            if self.as_json:
                self._write(json.dumps(event_json(event), ensure_ascii=False) + "\n")
            else:
                self._show(event, kind)
            try:
                self.stub.ConfirmDelivery(
                    alerts_pb2.ConfirmDeliveryRequest(
                        alert_id=a.alert_id, hospital_id=self.hospital
                    ),
                    metadata=self.md,
                    timeout=10,
                )
            except grpc.RpcError as exc:
                _log.warning("confirm delivery of %s failed: %s", a.alert_id, exc.code())
            return
        if first_sight:
            return  # an update of an alert this desk never showed (e.g. acknowledged)
        if self.as_json:
            if self.events:
                self._write(json.dumps(event_json(event), ensure_ascii=False) + "\n")
            return
        n = self.numbers[a.alert_id]
        bell = "\a" if kind in ("resent", "escalated") else ""
        reading = _READING_NAME.get(a.reading, "?")
        self._write(
            f"{bell}#{n} {kind.upper()}: level {a.escalation_level}, reading {reading}"
            + (f", acknowledged by {a.acknowledged_by}" if a.acknowledged else "")
            + "\n"
        )

    def _show(self, event: alerts_pb2.AlertEvent, kind: str) -> None:
        a = event.alert
        n = self.numbers[a.alert_id]
        label = "NEW ALERT" if event.is_new else f"UNACKNOWLEDGED ALERT ({kind})"
        findings = ", ".join(f"{f.code} ({f.label_en})" for f in a.findings)
        age = a.patient.age_years if a.patient.HasField("age_years") else "?"
        lines = [
            f"\a=== #{n} {label}: {', '.join(a.alert_codes)} ===",
            f"  site {a.site_id}  patient {a.patient.pseudo_id} ({age} y)",
            f"  acquired {_ts(a, 'acquired_at')}  raised {_ts(a, 'raised_at')}",
            f"  findings: {findings}",
        ]
        delay = recorded_before_alert_s(a)
        if delay is not None and delay > LATE_AFTER_S:
            lines.insert(
                3,
                f"  LATE: this ECG was recorded {_span(delay)} before the alert (cart"
                " offline or its clock wrong) - check the patient's present state first",
            )
        if a.HasField("waveform"):
            w = a.waveform
            dur = w.n_samples / w.fs_hz if w.fs_hz else 0.0
            lines.append(f"  ECG: {len(w.leads)} leads, {w.fs_hz:g} Hz, {dur:.1f} s")
        lines.append(f"  press 'a' + Enter (or '{n}' + Enter) to acknowledge")
        self._write("\n".join(lines) + "\n")

    def acknowledge(self, target: str) -> None:
        target = target.strip()
        if target in ("a", "ack"):
            open_ = [i for i in self.order if i not in self.acked]
            if not open_:
                if not self.as_json:
                    self._write("nothing to acknowledge\n")
                return
            alert_id = open_[-1]
        elif target.isdigit() and 1 <= int(target) <= len(self.order):
            alert_id = self.order[int(target) - 1]
        elif target.startswith("ack "):
            alert_id = target[4:].strip()
        else:
            if not self.as_json:
                self._write(f"unknown key {target!r}: a, N, 'ack ID' or q\n")
            return
        try:
            resp = self.stub.Acknowledge(
                alerts_pb2.AcknowledgeAlertRequest(
                    alert_id=alert_id, hospital_id=self.hospital, who=self.who
                ),
                metadata=self.md,
                timeout=10,
            )
        except grpc.RpcError as exc:
            sys.stderr.write(f"acknowledge failed: {exc.code().name}: {exc.details()}\n")
            return
        self.acked.add(alert_id)
        if not self.as_json:
            n = self.numbers.get(alert_id, "?")
            self._write(
                f"#{n} acknowledged by {resp.alert.acknowledged_by}"
                + ("" if resp.first else " (already acknowledged)")
                + "\n"
            )
        else:
            sys.stderr.write(f"acknowledged {alert_id}\n")


def _channel(ns: argparse.Namespace) -> grpc.Channel:
    options = [
        ("grpc.max_receive_message_length", 16 * 1024 * 1024),
        ("grpc.keepalive_time_ms", 60_000),
    ]
    if ns.insecure:
        return grpc.insecure_channel(ns.server, options=options)
    ca = Path(ns.tls_ca).read_bytes() if ns.tls_ca else None
    return grpc.secure_channel(
        ns.server, grpc.ssl_channel_credentials(root_certificates=ca), options=options
    )


_FATAL = {
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.UNAUTHENTICATED,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.UNIMPLEMENTED,
}


def _watch(ns: argparse.Namespace) -> int:
    token = ns.token or os.environ.get("ECG_CENTRAL_TOKEN", "")
    md: tuple[tuple[str, str], ...] = (
        (("authorization", f"Bearer {token}"),) if token else ()
    )
    channel = _channel(ns)
    stub = alerts_pb2_grpc.AlertsStub(channel)  # type: ignore[no-untyped-call]
    desk = _Desk(
        stub,
        ns.hospital,
        md,
        sys.stdout,
        as_json=ns.json,
        events=ns.events,
        who=ns.who or os.environ.get("USER", ""),
    )
    stop = threading.Event()
    current: list[Any] = []

    def keys() -> None:
        quit_ = ns.quit_on_eof  # stdin closed: quit only when asked (scripts pipe nothing)
        for line in sys.stdin:
            if line.strip() == "q":
                quit_ = True
                break
            if line.strip():
                desk.acknowledge(line)
        if quit_:
            stop.set()
            for call in current:
                call.cancel()

    threading.Thread(target=keys, name="keys", daemon=True).start()
    if not ns.json:
        sys.stdout.write(f"watching alerts for {ns.hospital} at {ns.server}\n")
        sys.stdout.flush()
    backoff = 0.2
    try:
        while not stop.is_set():
            call = stub.Subscribe(
                alerts_pb2.SubscribeAlertsRequest(
                    hospital_id=ns.hospital, omit_waveform=ns.omit_waveform
                ),
                metadata=md,
            )
            current[:] = [call]
            try:
                call.initial_metadata()  # returns once the central accepted the call
                if call.running():
                    sys.stderr.write(f"subscribed to {ns.hospital}\n")
                    sys.stderr.flush()
                for event in call:
                    backoff = 0.2
                    desk.handle(event)
                    if ns.exit_after and desk.shown >= ns.exit_after:
                        return 0
            except grpc.RpcError as exc:
                code = exc.code()
                if stop.is_set() or code is grpc.StatusCode.CANCELLED:
                    break
                if code in _FATAL:
                    sys.stderr.write(
                        f"ecg-central alerts watch: {code.name}: {exc.details()}\n"
                    )
                    return 2
                _log.warning("alert stream lost (%s); reconnecting", code.name)
            time.sleep(backoff)
            backoff = min(backoff * 2, 3.0)
    except KeyboardInterrupt:
        pass
    finally:
        channel.close()
    return 0


# -- report / show -----------------------------------------------------------------------


def _alert_store(db: str) -> tuple[SqlStore, AlertStore]:
    store = open_store(db)
    if not isinstance(store, SqlStore):  # pragma: no cover - both stores are SQL
        raise ConfigError("alerts need the SQLite or PostgreSQL store", field="db")
    return store, AlertStore(store)


def alert_json(alert: Alert) -> dict[str, object]:
    return {
        "alert_id": alert.alert_id,
        "record_id": alert.record_id,
        "site_id": alert.site_id,
        "county_id": alert.county_id,
        "hospital_id": alert.hospital_id,
        "backup_hospital_id": alert.backup_hospital_id,
        "patient_id": alert.patient.pseudo_id,
        "findings": [f.code for f in alert.findings],
        "alert_codes": list(alert.alert_codes),
        "acquired_at": _iso(alert.acquired_at),
        "received_at": _iso(alert.received_at),
        "raised_at": _iso(alert.raised_at),
        "first_sent_at": _iso(alert.first_sent_at),
        "delivered_at": _iso(alert.delivered_at),
        "acknowledged_at": _iso(alert.acked_at),
        "acknowledged_by": alert.acked_by,
        "escalation_level": alert.escalation_level,
        "reading": alert.reading.value,
        "reading_at": _iso(alert.reading_at),
    }


def _report(ns: argparse.Namespace) -> int:
    store, alerts = _alert_store(ns.db)
    try:
        since = datetime.fromisoformat(ns.since) if ns.since else None
        rows = alerts.list_alerts(since)
    finally:
        store.close()
    targets = Targets(
        ecg_to_diagnosis_s=ns.target_diagnosis_s,
        acquisition_to_alert_s=ns.target_alert_s,
        alert_to_ack_s=ns.target_ack_s,
    )
    goals = targets.as_dict()
    per_alert = []
    for a in rows:
        iv = alert_intervals(a)
        per_alert.append(
            {
                **alert_json(a),
                "intervals_s": iv,
                "meets": {
                    k: (None if iv[k] is None else bool(iv[k] <= t))  # type: ignore[operator]
                    for k, t in goals.items()
                },
            }
        )
    summary = summarize(rows, targets)
    if ns.json:
        doc = {
            "targets_s": goals,
            "n_alerts": len(rows),
            "alerts": per_alert,
            "aggregate": [
                {
                    "interval": s.name,
                    "n": s.n,
                    "missing": s.missing,
                    "median_s": s.median_s,
                    "p90_s": s.p90_s,
                    "max_s": s.max_s,
                    "target_s": s.target_s,
                    "share_within_target": s.share_within_target,
                }
                for s in summary
            ],
        }
        sys.stdout.write(json.dumps(doc, ensure_ascii=False, indent=2) + "\n")
        return 0
    out = sys.stdout
    out.write(f"{len(rows)} alert(s)\n")

    def f(v: float | None) -> str:
        return "       -" if v is None else f"{v:8.1f}"

    for a in rows:
        iv = alert_intervals(a)
        out.write(
            f"{a.alert_id[:8]} {a.site_id:<14}"
            f" acq->alert {f(iv['acquisition_to_alert_s'])}"
            f"  alert->ack {f(iv['alert_to_ack_s'])}"
            f"  ECG->diagnosis {f(iv['ecg_to_diagnosis_s'])}  reading {a.reading.value}\n"
        )
    out.write(
        f"{'interval':<26}{'n':>5}{'median s':>10}{'p90 s':>10}{'target s':>10}{'met':>8}\n"
    )
    for s in summary:
        med = "-" if s.median_s is None else f"{s.median_s:.1f}"
        p90 = "-" if s.p90_s is None else f"{s.p90_s:.1f}"
        tgt = "-" if s.target_s is None else f"{s.target_s:.0f}"
        met = (
            "-" if s.share_within_target is None else f"{100 * s.share_within_target:.0f}%"
        )
        out.write(f"{s.name:<26}{s.n:>5}{med:>10}{p90:>10}{tgt:>10}{met:>8}\n")
    return 0


def _show(ns: argparse.Namespace) -> int:
    store, alerts = _alert_store(ns.db)
    try:
        alert = alerts.get(ns.alert_id)
        if alert is None:
            raise ConfigError("no such alert", field="alert_id", got=ns.alert_id)
        events = alerts.events(ns.alert_id)
    finally:
        store.close()
    doc = {
        **alert_json(alert),
        "events": [
            {
                "seq": e.seq,
                "at": _iso(e.at),
                "kind": e.kind.value,
                "hospital_id": e.hospital_id,
                "actor": e.actor,
                "detail": e.detail,
            }
            for e in events
        ],
    }
    sys.stdout.write(json.dumps(doc, ensure_ascii=False, indent=2) + "\n")
    return 0


def register(sub: Any, db: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add ``alerts watch|report|show`` to the ``ecg-central`` subcommands."""
    alerts = sub.add_parser("alerts", help="chest-pain alerts: watch desk, interval report")
    asub = alerts.add_subparsers(dest="alerts_command", required=True)

    watch = asub.add_parser("watch", help="hospital desk: show, ring, acknowledge")
    watch.add_argument("--server", required=True, help="central gRPC HOST:PORT")
    watch.add_argument("--hospital", required=True, help="hospital id (routing config)")
    watch.add_argument("--insecure", action="store_true", help="plaintext (development)")
    watch.add_argument("--tls-ca", help="CA certificate of the central (PEM)")
    watch.add_argument("--token", help="hospital token (better: $ECG_CENTRAL_TOKEN)")
    watch.add_argument(
        "--json", action="store_true", help="one JSON object per alert per line"
    )
    watch.add_argument(
        "--events", action="store_true", help="with --json: also a line per update"
    )
    watch.add_argument("--who", help="name recorded with acknowledgements (default $USER)")
    watch.add_argument(
        "--omit-waveform", action="store_true", help="do not fetch the ECG with alerts"
    )
    watch.add_argument(
        "--exit-after", type=int, default=0, help="exit after showing N alerts (scripts)"
    )
    watch.add_argument(
        "--quit-on-eof", action="store_true", help="exit when stdin closes (scripts)"
    )
    watch.set_defaults(func=_watch)

    report = asub.add_parser("report", help="chest-pain-centre intervals per alert")
    db(report)
    report.add_argument("--json", action="store_true", help="one JSON document")
    report.add_argument("--since", help="only alerts raised since (ISO 8601)")
    report.add_argument("--target-diagnosis-s", type=float, default=600.0)
    report.add_argument("--target-alert-s", type=float, default=60.0)
    report.add_argument("--target-ack-s", type=float, default=300.0)
    report.set_defaults(func=_report)

    show = asub.add_parser("show", help="one alert with every recorded step (JSON)")
    show.add_argument("alert_id")
    db(show)
    show.set_defaults(func=_show)
