"""Alert storage on the central's own database (migration 0003, both dialects).

Runs its SQL through the reading store's transactions (``SqlStore.transaction``), so
alerts live in the same SQLite file / PostgreSQL schema as the records they point at.
Every state change appends a row to ``alert_events`` in the same transaction; the event
``seq`` is the stream cursor of the Alerts service.

PostgreSQL specifics: every alert write first takes a transaction-scoped advisory lock, so
event ``seq`` values become visible in commit order (a subscriber that has read up to
``seq`` N never later finds a committed N-1), and sends ``pg_notify('ecg_alerts',
current_schema())`` in the same transaction, so instances listening on the channel wake on
commit - no other broker.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from central_reader.store._rows import (
    Row,
    Tx,
    findings_from_json,
    findings_to_json,
    from_us,
    opt_dt,
    to_us,
)
from central_reader.store._sql import SqlStore
from central_reader.types import Finding, Patient, Priority, Sex, StoredWaveform

__all__ = [
    "NOTIFY_CHANNEL",
    "Alert",
    "AlertEventKind",
    "AlertEventRow",
    "AlertReading",
    "AlertStore",
    "NewAlert",
    "PendingRecord",
]

NOTIFY_CHANNEL = "ecg_alerts"
_EVENT_LOCK = 7_270_006


class AlertReading(StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"


class AlertEventKind(StrEnum):
    """What ``alert_events`` records; the first group is streamed to hospitals."""

    RAISED = "raised"
    RESENT = "resent"
    ESCALATED = "escalated"
    ACKNOWLEDGED = "acknowledged"
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"
    # Bookkeeping, not streamed:
    SENT = "sent"
    DELIVERED = "delivered"


STREAMED_KINDS: tuple[AlertEventKind, ...] = (
    AlertEventKind.RAISED,
    AlertEventKind.RESENT,
    AlertEventKind.ESCALATED,
    AlertEventKind.ACKNOWLEDGED,
    AlertEventKind.CONFIRMED,
    AlertEventKind.CANCELLED,
)


@dataclass(frozen=True, slots=True)
class NewAlert:
    """What is known when an alert is raised."""

    alert_id: str
    record_id: str
    site_id: str
    county_id: str
    hospital_id: str
    backup_hospital_id: str | None
    patient_id: str
    findings: tuple[Finding, ...]
    alert_codes: tuple[str, ...]
    acquired_at: datetime
    received_at: datetime


@dataclass(frozen=True, slots=True)
class Alert:
    """An alert with its chest-pain-centre timestamps (None = not reached yet)."""

    alert_id: str
    record_id: str
    site_id: str
    county_id: str
    hospital_id: str
    backup_hospital_id: str | None
    patient: Patient
    findings: tuple[Finding, ...]
    alert_codes: tuple[str, ...]
    acquired_at: datetime
    received_at: datetime
    raised_at: datetime
    first_sent_at: datetime | None
    delivered_at: datetime | None
    escalation_level: int
    resent_at: datetime | None
    escalated_at: datetime | None
    acked_at: datetime | None
    acked_by: str | None
    acked_hospital_id: str | None
    reading: AlertReading
    reading_at: datetime | None
    reading_report_id: str | None

    def visible_to(self, hospital_id: str) -> bool:
        """The primary hospital always; the backup once escalated to it."""
        return self.hospital_id == hospital_id or (
            self.backup_hospital_id == hospital_id and self.escalation_level >= 2
        )


@dataclass(frozen=True, slots=True)
class AlertEventRow:
    seq: int
    alert_id: str
    at: datetime
    kind: AlertEventKind
    hospital_id: str
    actor: str
    detail: str


@dataclass(frozen=True, slots=True)
class PendingRecord:
    """A stored record that may need an alert (recovery sweep)."""

    record_id: str
    site_id: str
    county_id: str
    priority: Priority
    findings: tuple[Finding, ...]
    patient_id: str
    acquired_at: datetime
    received_at: datetime


_ALERT_SELECT = (
    "SELECT a.alert_id, a.record_id, a.site_id, a.county_id, a.hospital_id,"
    " a.backup_hospital_id, a.patient_id, a.findings_json, a.alert_codes, a.acquired_at,"
    " a.received_at, a.raised_at, a.first_sent_at, a.delivered_at, a.escalation_level,"
    " a.resent_at, a.escalated_at, a.acked_at, a.acked_by, a.acked_hospital_id,"
    " a.reading, a.reading_at, a.reading_report_id, r.patient_age, r.patient_sex"
    " FROM alerts a JOIN records r ON r.record_id = a.record_id"
)
_VISIBLE = "(a.hospital_id = ? OR (a.backup_hospital_id = ? AND a.escalation_level >= 2))"


def _alert_from_row(row: Row) -> Alert:
    codes = str(row["alert_codes"])
    return Alert(
        alert_id=row["alert_id"],
        record_id=row["record_id"],
        site_id=row["site_id"],
        county_id=row["county_id"],
        hospital_id=row["hospital_id"],
        backup_hospital_id=row["backup_hospital_id"],
        patient=Patient(
            pseudo_id=row["patient_id"],
            age_years=None if row["patient_age"] is None else int(row["patient_age"]),
            sex=Sex(row["patient_sex"]),
        ),
        findings=findings_from_json(row["findings_json"]),
        alert_codes=tuple(codes.split(",")) if codes else (),
        acquired_at=from_us(int(row["acquired_at"])),
        received_at=from_us(int(row["received_at"])),
        raised_at=from_us(int(row["raised_at"])),
        first_sent_at=opt_dt(row["first_sent_at"]),
        delivered_at=opt_dt(row["delivered_at"]),
        escalation_level=int(row["escalation_level"]),
        resent_at=opt_dt(row["resent_at"]),
        escalated_at=opt_dt(row["escalated_at"]),
        acked_at=opt_dt(row["acked_at"]),
        acked_by=row["acked_by"],
        acked_hospital_id=row["acked_hospital_id"],
        reading=AlertReading(row["reading"]),
        reading_at=opt_dt(row["reading_at"]),
        reading_report_id=row["reading_report_id"],
    )


class AlertStore:
    """Alert persistence over a migrated :class:`SqlStore` (SQLite or PostgreSQL).

    Parameters
    ----------
    store
        The central's reading store (migration 0003 applied).
    """

    def __init__(self, store: SqlStore) -> None:
        self.store = store
        self.is_postgres = type(store).__module__.endswith(".postgres")

    # -- helpers -------------------------------------------------------------------------

    def _begin_write(self, tx: Tx) -> None:
        if self.is_postgres:
            tx.one("SELECT pg_advisory_xact_lock(?)", (_EVENT_LOCK,))

    def _event(
        self,
        tx: Tx,
        alert_id: str,
        kind: AlertEventKind,
        hospital_id: str,
        actor: str,
        detail: str,
        now: datetime,
    ) -> None:
        tx.execute(
            "INSERT INTO alert_events (alert_id, at, kind, hospital_id, actor, detail)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (alert_id, to_us(now), kind.value, hospital_id, actor, detail),
        )
        if self.is_postgres and kind in STREAMED_KINDS:
            tx.one(f"SELECT pg_notify('{NOTIFY_CHANNEL}', current_schema())")

    @staticmethod
    def _load(tx: Tx, alert_id: str) -> Alert | None:
        row = tx.one(f"{_ALERT_SELECT} WHERE a.alert_id = ?", (alert_id,))
        return None if row is None else _alert_from_row(row)

    # -- writes --------------------------------------------------------------------------

    def insert(self, new: NewAlert, now: datetime) -> tuple[Alert, bool]:
        """Store an alert and its ``raised`` event; idempotent on ``record_id``.

        Returns the stored alert and whether this call created it.
        """
        with self.store.transaction(write=True) as tx:
            self._begin_write(tx)
            created = (
                tx.execute(
                    "INSERT INTO alerts (alert_id, record_id, site_id, county_id,"
                    " hospital_id, backup_hospital_id, patient_id, findings_json,"
                    " alert_codes, acquired_at, received_at, raised_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (record_id) DO NOTHING",
                    (
                        new.alert_id,
                        new.record_id,
                        new.site_id,
                        new.county_id,
                        new.hospital_id,
                        new.backup_hospital_id,
                        new.patient_id,
                        findings_to_json(new.findings),
                        ",".join(new.alert_codes),
                        to_us(new.acquired_at),
                        to_us(new.received_at),
                        to_us(now),
                    ),
                )
                == 1
            )
            if created:
                self._event(
                    tx,
                    new.alert_id,
                    AlertEventKind.RAISED,
                    new.hospital_id,
                    "system",
                    f"codes={','.join(new.alert_codes)} site={new.site_id}",
                    now,
                )
            row = tx.one(f"{_ALERT_SELECT} WHERE a.record_id = ?", (new.record_id,))
        assert row is not None  # noqa: S101 - inserted or existing
        return _alert_from_row(row), created

    def mark_sent(self, alert_id: str, hospital_id: str, now: datetime) -> bool:
        """Record the first time an alert went out on a hospital's stream."""
        with self.store.transaction(write=True) as tx:
            self._begin_write(tx)
            seen = tx.one(
                "SELECT 1 AS x FROM alert_events WHERE alert_id = ? AND kind = ?"
                " AND hospital_id = ?",
                (alert_id, AlertEventKind.SENT.value, hospital_id),
            )
            if seen is not None:
                return False
            tx.execute(
                "UPDATE alerts SET first_sent_at = ? WHERE alert_id = ?"
                " AND first_sent_at IS NULL",
                (to_us(now), alert_id),
            )
            self._event(tx, alert_id, AlertEventKind.SENT, hospital_id, "system", "", now)
        return True

    def confirm_delivery(self, alert_id: str, hospital_id: str, now: datetime) -> bool:
        """A desk displayed the alert; True the first time for this hospital."""
        with self.store.transaction(write=True) as tx:
            self._begin_write(tx)
            first = (
                tx.execute(
                    "INSERT INTO alert_deliveries (alert_id, hospital_id, delivered_at)"
                    " VALUES (?, ?, ?) ON CONFLICT (alert_id, hospital_id) DO NOTHING",
                    (alert_id, hospital_id, to_us(now)),
                )
                == 1
            )
            if first:
                tx.execute(
                    "UPDATE alerts SET delivered_at = ? WHERE alert_id = ?"
                    " AND delivered_at IS NULL",
                    (to_us(now), alert_id),
                )
                self._event(
                    tx, alert_id, AlertEventKind.DELIVERED, hospital_id, "desk", "", now
                )
        return first

    def acknowledge(
        self, alert_id: str, hospital_id: str, who: str, now: datetime
    ) -> tuple[Alert, bool]:
        """Record the first acknowledgement (later ones change nothing)."""
        with self.store.transaction(write=True) as tx:
            self._begin_write(tx)
            first = (
                tx.execute(
                    "UPDATE alerts SET acked_at = ?, acked_by = ?, acked_hospital_id = ?"
                    " WHERE alert_id = ? AND acked_at IS NULL",
                    (to_us(now), who, hospital_id, alert_id),
                )
                == 1
            )
            if first:
                self._event(
                    tx, alert_id, AlertEventKind.ACKNOWLEDGED, hospital_id, who, "", now
                )
            alert = self._load(tx, alert_id)
        assert alert is not None  # noqa: S101 - caller checked it exists
        return alert, first

    def set_reading(
        self,
        record_id: str,
        reading: AlertReading,
        report_id: str,
        actor: str,
        now: datetime,
    ) -> Alert | None:
        """Apply a signed reading; returns the alert when its reading state changed."""
        kind = (
            AlertEventKind.CONFIRMED
            if reading is AlertReading.CONFIRMED
            else AlertEventKind.CANCELLED
        )
        with self.store.transaction(write=True) as tx:
            self._begin_write(tx)
            row = tx.one(
                "SELECT alert_id, hospital_id FROM alerts WHERE record_id = ?"
                " AND reading <> ?",
                (record_id, reading.value),
            )
            if row is None:
                return None
            tx.execute(
                "UPDATE alerts SET reading = ?, reading_at = COALESCE(reading_at, ?),"
                " reading_report_id = ? WHERE alert_id = ?",
                (reading.value, to_us(now), report_id, row["alert_id"]),
            )
            self._event(
                tx,
                row["alert_id"],
                kind,
                row["hospital_id"],
                actor,
                f"report={report_id}",
                now,
            )
            return self._load(tx, row["alert_id"])

    def escalate_due(
        self, now: datetime, resend_after_s: float, escalate_after_s: float
    ) -> list[tuple[str, AlertEventKind]]:
        """Take every due ladder step (each exactly once, also across instances)."""
        now_us = to_us(now)
        resend_before = now_us - int(resend_after_s * 1e6)
        escalate_before = now_us - int(escalate_after_s * 1e6)
        with self.store.transaction(write=False) as tx:
            due = tx.all(
                "SELECT alert_id, escalation_level, hospital_id, backup_hospital_id"
                " FROM alerts WHERE acked_at IS NULL AND reading <> 'cancelled'"
                " AND ((escalation_level = 0 AND raised_at <= ?) OR (escalation_level = 1"
                " AND raised_at <= ? AND backup_hospital_id IS NOT NULL))",
                (resend_before, escalate_before),
            )
        if not due:
            return []
        steps: list[tuple[str, AlertEventKind]] = []
        with self.store.transaction(write=True) as tx:
            self._begin_write(tx)
            for row in due:
                level = int(row["escalation_level"])
                if level == 0:
                    column, kind, target = (
                        "resent_at",
                        AlertEventKind.RESENT,
                        row["hospital_id"],
                    )
                else:
                    column, kind = "escalated_at", AlertEventKind.ESCALATED
                    target = row["backup_hospital_id"]
                changed = tx.execute(
                    f"UPDATE alerts SET escalation_level = ?, {column} = ?"  # noqa: S608
                    " WHERE alert_id = ? AND escalation_level = ? AND acked_at IS NULL",
                    (level + 1, now_us, row["alert_id"], level),
                )
                if changed == 1:
                    self._event(
                        tx,
                        row["alert_id"],
                        kind,
                        target,
                        "system",
                        f"level={level + 1}",
                        now,
                    )
                    steps.append((row["alert_id"], kind))
        return steps

    # -- reads ---------------------------------------------------------------------------

    def get(self, alert_id: str) -> Alert | None:
        with self.store.transaction(write=False) as tx:
            return self._load(tx, alert_id)

    def for_record(self, record_id: str) -> Alert | None:
        with self.store.transaction(write=False) as tx:
            row = tx.one(f"{_ALERT_SELECT} WHERE a.record_id = ?", (record_id,))
        return None if row is None else _alert_from_row(row)

    def max_seq(self) -> int:
        with self.store.transaction(write=False) as tx:
            row = tx.one("SELECT COALESCE(MAX(seq), 0) AS m FROM alert_events")
        return 0 if row is None else int(row["m"])

    def open_for(self, hospital_id: str) -> list[Alert]:
        """Unacknowledged alerts a hospital sees, oldest first."""
        with self.store.transaction(write=False) as tx:
            rows = tx.all(
                f"{_ALERT_SELECT} WHERE a.acked_at IS NULL AND {_VISIBLE}"
                " ORDER BY a.raised_at, a.alert_id",
                (hospital_id, hospital_id),
            )
        return [_alert_from_row(r) for r in rows]

    def events_after(
        self, hospital_id: str, seq: int, *, limit: int = 100
    ) -> tuple[list[tuple[AlertEventRow, Alert]], int]:
        """Streamed events after ``seq`` of alerts a hospital sees, and the new cursor.

        The cursor moves past events of other hospitals too (the query scans by ``seq``).
        """
        kinds = ", ".join(f"'{k.value}'" for k in STREAMED_KINDS)
        with self.store.transaction(write=False) as tx:
            rows = tx.all(
                "SELECT seq, alert_id, at, kind, hospital_id, actor, detail"
                f" FROM alert_events WHERE seq > ? AND kind IN ({kinds})"
                " ORDER BY seq LIMIT ?",
                (seq, limit),
            )
            out: list[tuple[AlertEventRow, Alert]] = []
            cursor = seq
            for r in rows:
                cursor = int(r["seq"])
                alert = self._load(tx, r["alert_id"])
                if alert is None or not alert.visible_to(hospital_id):
                    continue
                out.append(
                    (
                        AlertEventRow(
                            seq=cursor,
                            alert_id=r["alert_id"],
                            at=from_us(int(r["at"])),
                            kind=AlertEventKind(r["kind"]),
                            hospital_id=r["hospital_id"],
                            actor=r["actor"],
                            detail=r["detail"],
                        ),
                        alert,
                    )
                )
        return out, cursor

    def delivered(self, hospital_id: str, alert_ids: Sequence[str]) -> set[str]:
        """Which of the alerts this hospital already confirmed displaying."""
        if not alert_ids:
            return set()
        marks = ", ".join("?" for _ in alert_ids)
        with self.store.transaction(write=False) as tx:
            rows = tx.all(
                "SELECT alert_id FROM alert_deliveries WHERE hospital_id = ?"
                f" AND alert_id IN ({marks})",
                (hospital_id, *alert_ids),
            )
        return {str(r["alert_id"]) for r in rows}

    def waveform(self, record_id: str) -> StoredWaveform | None:
        with self.store.transaction(write=False) as tx:
            row = tx.one(
                "SELECT fs_hz, leads, n_samples, gain, compressed, samples FROM waveforms"
                " WHERE record_id = ?",
                (record_id,),
            )
        if row is None:
            return None
        return StoredWaveform(
            fs_hz=float(row["fs_hz"]),
            leads=tuple(json.loads(row["leads"])),
            n_samples=int(row["n_samples"]),
            gain_counts_per_mv=float(row["gain"]),
            samples=bytes(row["samples"]),
            compressed=bool(row["compressed"]),
        )

    def records_without_alert(
        self, since: datetime, priorities: Sequence[Priority]
    ) -> list[PendingRecord]:
        """Records received since ``since`` that have no alert (at least these priorities:
        critical and warning come together)."""
        # The partial index of migration 0004 applies only to this exact literal term
        # (SQLite); callers filter the priority further (``AlertConfig.alert_codes``).
        urgent = {Priority.CRITICAL, Priority.WARNING}
        clauses = (
            ["r.priority IN ('critical', 'warning')"] if urgent & set(priorities) else []
        )
        clauses += [f"r.priority = '{p.value}'" for p in priorities if p not in urgent]
        if not clauses:
            return []
        with self.store.transaction(write=False) as tx:
            rows = tx.all(
                "SELECT r.record_id, r.site_id, r.county_id, r.priority, r.findings_json,"
                " r.patient_id, r.acquired_at, r.received_at FROM records r"
                f" WHERE r.received_at >= ? AND ({' OR '.join(clauses)})"  # noqa: S608
                " AND NOT EXISTS (SELECT 1 FROM alerts a WHERE a.record_id = r.record_id)",
                (to_us(since),),
            )
        return [
            PendingRecord(
                record_id=r["record_id"],
                site_id=r["site_id"],
                county_id=r["county_id"],
                priority=Priority(r["priority"]),
                findings=findings_from_json(r["findings_json"]),
                patient_id=r["patient_id"],
                acquired_at=from_us(int(r["acquired_at"])),
                received_at=from_us(int(r["received_at"])),
            )
            for r in rows
        ]

    def unread_signed(self) -> list[tuple[str, str, str, tuple[Finding, ...], datetime]]:
        """Alerts still ``pending`` whose record has a signed report (missed updates).

        Returns ``(record_id, report_id, signed_by, findings, signed_at)`` of the latest
        version.
        """
        with self.store.transaction(write=False) as tx:
            rows = tx.all(
                "SELECT p.record_id, p.report_id, p.signed_by, p.findings_json, p.signed_at"
                " FROM alerts a JOIN reports p ON p.record_id = a.record_id"
                " WHERE a.reading = 'pending' AND p.version = (SELECT MAX(version)"
                " FROM reports q WHERE q.record_id = a.record_id)"
            )
        return [
            (
                r["record_id"],
                r["report_id"],
                r["signed_by"],
                findings_from_json(r["findings_json"]),
                from_us(int(r["signed_at"])),
            )
            for r in rows
        ]

    def list_alerts(self, since: datetime | None = None) -> list[Alert]:
        """Every alert (raised since ``since``), oldest first."""
        params: tuple[Any, ...] = ()
        where = ""
        if since is not None:
            where, params = " WHERE a.raised_at >= ?", (to_us(since),)
        with self.store.transaction(write=False) as tx:
            rows = tx.all(
                f"{_ALERT_SELECT}{where} ORDER BY a.raised_at, a.alert_id", params
            )
        return [_alert_from_row(r) for r in rows]

    def events(self, alert_id: str) -> list[AlertEventRow]:
        """An alert's recorded steps, oldest first."""
        with self.store.transaction(write=False) as tx:
            rows = tx.all(
                "SELECT seq, alert_id, at, kind, hospital_id, actor, detail"
                " FROM alert_events WHERE alert_id = ? ORDER BY seq",
                (alert_id,),
            )
        return [
            AlertEventRow(
                seq=int(r["seq"]),
                alert_id=r["alert_id"],
                at=from_us(int(r["at"])),
                kind=AlertEventKind(r["kind"]),
                hospital_id=r["hospital_id"],
                actor=r["actor"],
                detail=r["detail"],
            )
            for r in rows
        ]
