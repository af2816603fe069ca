"""Chest-pain alerts: raise, route, stream, acknowledge, escalate, follow the reading.

Delivery guarantees
-------------------
* **Stored before sent.** The alert is committed by an ingest listener that runs in the
  submitting thread after the record's commit and *before* the Ingest RPC acknowledges;
  a periodic sweep (also at start-up) raises the alert for any alerting record that has
  none (a crash between the two commits, or the database failing just then). The alert id
  is derived from the record id (UUID5), so every path and every instance produce the same
  alert once (``UNIQUE (record_id)``).
* **At-least-once, never twice as new.** A subscription first replays every
  unacknowledged alert, then streams ``alert_events`` after the cursor it read *before*
  the replay. An event is flagged ``is_new`` only while the hospital has not confirmed
  displaying the alert (``ConfirmDelivery``, stored per hospital), so a re-delivery after
  a reconnect or a central restart is shown as "unacknowledged", not as a new alert.
* **Several instances.** On PostgreSQL each instance LISTENs on ``ecg_alerts`` (see
  :mod:`central_reader.alerts.notify`); writes NOTIFY in their transaction. Subscribers
  also re-read the store every ``poll_s`` as a safety net. On SQLite (one instance) the
  in-process generation counter alone wakes them.
* **Escalation.** A scheduler thread takes due ladder steps with conditional updates, so
  each step happens exactly once even with several instances.

Authorization: ``Subscribe``, ``ConfirmDelivery`` and ``Acknowledge`` need role hospital
(or admin) in the configured county of the hospital; a global admin may act for any
hospital. Other roles get PERMISSION_DENIED, other counties PERMISSION_DENIED.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from central_reader.alerts.config import AlertConfig, Hospital
from central_reader.alerts.store import (
    Alert,
    AlertEventKind,
    AlertReading,
    AlertStore,
    NewAlert,
)
from central_reader.errors import (
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
)
from central_reader.service import ReadingService
from central_reader.store._sql import SqlStore
from central_reader.types import (
    Finding,
    IngestResult,
    NewRecord,
    Principal,
    Priority,
    Report,
    Role,
    StoredWaveform,
)

__all__ = ["ALERT_NAMESPACE", "AlertService", "StreamItem", "StreamKind", "alert_id_for"]

_log = logging.getLogger(__name__)

#: Namespace of alert ids: ``uuid5(ALERT_NAMESPACE, record_id)``.
ALERT_NAMESPACE = uuid.UUID("6f1c2d4e-9a7b-5c3d-8e2f-0a1b2c3d4e5f")


def alert_id_for(record_id: str) -> str:
    """The stable alert id of a record (the same on every instance)."""
    return str(uuid.uuid5(ALERT_NAMESPACE, record_id))


class StreamKind(StrEnum):
    """What a subscriber is told (mirrors ``AlertEventKind`` of alerts.proto)."""

    RAISED = "raised"
    UNACKNOWLEDGED = "unacknowledged"
    RESENT = "resent"
    ESCALATED = "escalated"
    ACKNOWLEDGED = "acknowledged"
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"


_KIND_FROM_EVENT = {
    AlertEventKind.RAISED: StreamKind.RAISED,
    AlertEventKind.RESENT: StreamKind.RESENT,
    AlertEventKind.ESCALATED: StreamKind.ESCALATED,
    AlertEventKind.ACKNOWLEDGED: StreamKind.ACKNOWLEDGED,
    AlertEventKind.CONFIRMED: StreamKind.CONFIRMED,
    AlertEventKind.CANCELLED: StreamKind.CANCELLED,
}


@dataclass(frozen=True, slots=True)
class StreamItem:
    """One message of a hospital's alert stream."""

    kind: StreamKind
    alert: Alert
    is_new: bool
    at: datetime


class _Hub:
    """A generation counter subscribers wait on (bumped on every alert change)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.generation = 0
        self.closing = False

    def bump(self) -> None:
        with self._cond:
            self.generation += 1
            self._cond.notify_all()

    def wait(self, generation: int, timeout_s: float) -> int:
        with self._cond:
            if self.generation == generation and not self.closing:
                self._cond.wait(timeout_s)
            return self.generation

    def close(self) -> None:
        with self._cond:
            self.closing = True
            self._cond.notify_all()


class AlertService:
    """Alerts over the reading service's store.

    Parameters
    ----------
    reading
        The central's :class:`ReadingService` (authentication, clock, store).
    config
        Alerting codes, routing and the escalation ladder.
    tick_s
        Scheduler period (escalation steps are taken within this of being due).
    poll_s
        How often an idle subscription re-reads the store without being woken.
    sweep_every_s
        Period of the recovery sweep (alerting records without an alert, readings the
        alert missed).
    sweep_window_s
        How far back the sweep looks for records without an alert.
    """

    def __init__(
        self,
        reading: ReadingService,
        config: AlertConfig,
        *,
        tick_s: float = 0.2,
        poll_s: float = 1.0,
        sweep_every_s: float = 10.0,
        sweep_window_s: float = 6 * 3600.0,
    ) -> None:
        if not isinstance(reading.store, SqlStore):
            raise TypeError("alerts need an SQL store (SQLite or PostgreSQL)")
        self.reading = reading
        self.config = config
        self.store = AlertStore(reading.store)
        self.tick_s = tick_s
        self.poll_s = poll_s
        self.sweep_every_s = sweep_every_s
        self.sweep_window_s = sweep_window_s
        self.hub = _Hub()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._sent: set[tuple[str, str]] = set()
        self._unrouted: set[str] = set()
        self._wave_cache: dict[str, StoredWaveform] = {}
        self._lock = threading.Lock()
        self._listener: object | None = None
        m = reading.metrics
        self._raised = m.counter("ecg_alerts_raised_total", "Alerts raised.", ("path",))
        self._steps = m.counter(
            "ecg_alert_escalations_total", "Escalation ladder steps taken.", ("step",)
        )

    # -- lifecycle -----------------------------------------------------------------------

    def attach(self) -> AlertService:
        """Register the ingest and report listeners on the reading service."""
        self.reading.on_ingest(self._on_ingest)
        self.reading.on_report(self._on_report)
        return self

    def start(self) -> AlertService:
        """Run the recovery sweep once, then the scheduler (and the PostgreSQL listener)."""
        self.sweep()
        if self.store.is_postgres:
            from central_reader.alerts.notify import PgListener

            listener = PgListener(self.reading.store, self.hub.bump)  # type: ignore[arg-type]
            listener.start()
            self._listener = listener
        thread = threading.Thread(target=self._run, name="alerts-scheduler", daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def close(self) -> None:
        """Stop the scheduler and listener; end every open stream."""
        self._stop.set()
        self.hub.close()
        if self._listener is not None:
            self._listener.stop()  # type: ignore[attr-defined]
        for thread in self._threads:
            thread.join(5)

    @property
    def closing(self) -> bool:
        return self._stop.is_set() or self.reading.closing

    def _run(self) -> None:
        next_sweep = self.sweep_every_s
        elapsed = 0.0
        while not self._stop.wait(self.tick_s):
            elapsed += self.tick_s
            try:
                self.tick()
                if elapsed >= next_sweep:
                    next_sweep = elapsed + self.sweep_every_s
                    self.sweep()
            except Exception:  # noqa: BLE001 - keep the scheduler alive; logged
                _log.exception("alert scheduler step failed")

    # -- raising -------------------------------------------------------------------------

    def _on_ingest(self, record: NewRecord, county_id: str, result: IngestResult) -> None:
        codes = self.config.alert_codes(record.priority, [f.code for f in record.findings])
        if codes:
            self.raise_alert(
                record_id=record.record_id,
                site_id=record.site_id,
                county_id=county_id,
                patient_id=record.patient.pseudo_id,
                findings=record.findings,
                codes=codes,
                acquired_at=record.acquired_at,
                received_at=result.received_at,
                path="ingest",
            )

    def raise_alert(
        self,
        *,
        record_id: str,
        site_id: str,
        county_id: str,
        patient_id: str,
        findings: tuple[Finding, ...],
        codes: list[str],
        acquired_at: datetime,
        received_at: datetime,
        path: str,
    ) -> Alert | None:
        """Store the alert of an alerting record (idempotent); None when unrouted."""
        route = self.config.route(site_id, county_id)
        if route is None:
            if record_id not in self._unrouted:
                self._unrouted.add(record_id)
                _log.error(
                    "alerting record %s from site %s (county %s) has no hospital route",
                    record_id,
                    site_id,
                    county_id,
                )
            return None
        alert, created = self.store.insert(
            NewAlert(
                alert_id=alert_id_for(record_id),
                record_id=record_id,
                site_id=site_id,
                county_id=county_id,
                hospital_id=route.hospital_id,
                backup_hospital_id=route.backup_id,
                patient_id=patient_id,
                findings=findings,
                alert_codes=tuple(codes),
                acquired_at=acquired_at,
                received_at=received_at,
            ),
            self.reading.now(),
        )
        if created:
            self._raised.inc(path=path)
            _log.info(
                "alert %s raised for record %s -> %s (%s)",
                alert.alert_id,
                record_id,
                route.hospital_id,
                ",".join(codes),
            )
            self.hub.bump()
        return alert

    def sweep(self) -> int:
        """Raise missing alerts and apply missed readings; returns how many were fixed."""
        now = self.reading.now()
        priorities = [p for p in Priority if p.rank <= self.config.min_priority.rank]
        fixed = 0
        for rec in self.store.records_without_alert(
            now - timedelta(seconds=self.sweep_window_s), priorities
        ):
            codes = self.config.alert_codes(rec.priority, [f.code for f in rec.findings])
            if not codes:
                continue
            alert = self.raise_alert(
                record_id=rec.record_id,
                site_id=rec.site_id,
                county_id=rec.county_id,
                patient_id=rec.patient_id,
                findings=rec.findings,
                codes=codes,
                acquired_at=rec.acquired_at,
                received_at=rec.received_at,
                path="sweep",
            )
            fixed += alert is not None
        for record_id, report_id, signer, findings, _ in self.store.unread_signed():
            fixed += self._apply_reading(record_id, report_id, signer, findings)
        if fixed:
            _log.warning("alert sweep fixed %d alert(s)", fixed)
        return fixed

    # -- the reading ---------------------------------------------------------------------

    def _on_report(self, report: Report) -> None:
        self._apply_reading(
            report.record_id, report.report_id, report.signed_by, report.findings
        )

    def _apply_reading(
        self, record_id: str, report_id: str, signer: str, findings: tuple[Finding, ...]
    ) -> int:
        confirmed = any(f.code in self.config.codes for f in findings)
        alert = self.store.set_reading(
            record_id,
            AlertReading.CONFIRMED if confirmed else AlertReading.CANCELLED,
            report_id,
            signer,
            self.reading.now(),
        )
        if alert is None:
            return 0
        self.hub.bump()
        return 1

    # -- escalation ----------------------------------------------------------------------

    def tick(self) -> int:
        """Take every due escalation step; returns how many."""
        steps = self.store.escalate_due(
            self.reading.now(),
            self.config.ladder.resend_after_s,
            self.config.ladder.escalate_after_s,
        )
        for alert_id, kind in steps:
            self._steps.inc(step=kind.value)
            _log.warning("alert %s not acknowledged: %s", alert_id, kind.value)
        if steps:
            self.hub.bump()
        return len(steps)

    # -- hospitals -----------------------------------------------------------------------

    def check_hospital(self, principal: Principal, hospital_id: str) -> Hospital:
        """The hospital, after checking the caller may act for it."""
        if principal.role not in (Role.HOSPITAL, Role.ADMIN):
            raise PermissionDeniedError(
                f"role {principal.role.value} may not receive alerts",
                expected="hospital or admin",
                got=principal.role.value,
            )
        if not hospital_id:
            raise InvalidRequestError("hospital_id is required", field="hospital_id")
        hospital = self.config.hospital(hospital_id)
        if hospital is None:
            raise NotFoundError("unknown hospital", field="hospital_id", got=hospital_id)
        if principal.county_id is not None and principal.county_id != hospital.county_id:
            raise PermissionDeniedError(
                "hospital belongs to another county",
                field="hospital_id",
                expected=f"a hospital of {principal.county_id}",
                got=hospital_id,
            )
        return hospital

    def _visible_alert(self, hospital_id: str, alert_id: str) -> Alert:
        alert = self.store.get(alert_id) if alert_id else None
        if alert is None or not alert.visible_to(hospital_id):
            raise NotFoundError(
                "no such alert for this hospital", field="alert_id", got=alert_id
            )
        return alert

    def acknowledge(
        self, principal: Principal, hospital_id: str, alert_id: str, who: str = ""
    ) -> tuple[Alert, bool]:
        """Record who acknowledged and when (the first acknowledgement is kept)."""
        self.check_hospital(principal, hospital_id)
        self._visible_alert(hospital_id, alert_id)
        who = who.strip() or principal.user_id
        if len(who) > 200:
            raise InvalidRequestError("who is too long", field="who", expected="<= 200")
        actor = who if who == principal.user_id else f"{who} ({principal.user_id})"
        alert, first = self.store.acknowledge(
            alert_id, hospital_id, actor, self.reading.now()
        )
        if first:
            self.hub.bump()
        return alert, first

    def confirm_delivery(
        self, principal: Principal, hospital_id: str, alert_id: str
    ) -> bool:
        """The desk displayed the alert; later deliveries are not shown as new."""
        self.check_hospital(principal, hospital_id)
        self._visible_alert(hospital_id, alert_id)
        return self.store.confirm_delivery(alert_id, hospital_id, self.reading.now())

    def waveform(self, record_id: str) -> StoredWaveform | None:
        """The alert's ECG (cached: records never change)."""
        with self._lock:
            cached = self._wave_cache.get(record_id)
        if cached is not None:
            return cached
        wf = self.store.waveform(record_id)
        if wf is not None:
            with self._lock:
                if len(self._wave_cache) > 256:
                    self._wave_cache.clear()
                self._wave_cache[record_id] = wf
        return wf

    def _mark_sent(self, alert_id: str, hospital_id: str, at: datetime) -> None:
        """Stamp the first send (after the yield: the send path never waits for a write)."""
        key = (alert_id, hospital_id)
        with self._lock:
            if key in self._sent:
                return
            if len(self._sent) > 100_000:  # only saves queries; the store decides
                self._sent.clear()
            self._sent.add(key)
        self.store.mark_sent(alert_id, hospital_id, at)

    def subscribe(
        self,
        principal: Principal,
        hospital_id: str,
        is_active: Callable[[], bool] = lambda: True,
    ) -> Iterator[StreamItem]:
        """Unacknowledged alerts, then events as they happen, while ``is_active()``.

        Authorization is checked before the first item (the generator raises at once).
        """
        self.check_hospital(principal, hospital_id)
        return self._stream(hospital_id, is_active)

    def _stream(
        self, hospital_id: str, is_active: Callable[[], bool]
    ) -> Iterator[StreamItem]:
        generation = self.hub.generation
        cursor = self.store.max_seq()
        replayed: set[str] = set()
        pending = self.store.open_for(hospital_id)
        delivered = self.store.delivered(hospital_id, [a.alert_id for a in pending])
        for alert in pending:
            new = alert.alert_id not in delivered
            replayed.add(alert.alert_id)
            at = self.reading.now()
            yield StreamItem(
                StreamKind.RAISED if new else StreamKind.UNACKNOWLEDGED, alert, new, at
            )
            self._mark_sent(alert.alert_id, hospital_id, at)
        while is_active() and not self.closing:
            before = cursor
            events, cursor = self.store.events_after(hospital_id, cursor)
            for event, alert in events:
                kind = _KIND_FROM_EVENT[event.kind]
                if kind is StreamKind.RAISED and alert.alert_id in replayed:
                    continue  # raised between our cursor read and the replay
                if kind is StreamKind.ESCALATED and alert.backup_hospital_id == hospital_id:
                    replayed.add(alert.alert_id)
                new = (
                    kind in (StreamKind.RAISED, StreamKind.RESENT, StreamKind.ESCALATED)
                    and alert.acked_at is None
                    and not self.store.delivered(hospital_id, [alert.alert_id])
                )
                at = self.reading.now()
                yield StreamItem(kind, alert, new, event.at)
                if kind in (StreamKind.RAISED, StreamKind.RESENT, StreamKind.ESCALATED):
                    self._mark_sent(alert.alert_id, hospital_id, at)
            if cursor == before:
                generation = self.hub.wait(generation, self.poll_s)
