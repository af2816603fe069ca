"""SQL shared by the SQLite and PostgreSQL stores.

Queries are written once with ``?`` placeholders; the PostgreSQL store rewrites them to
``%s``. Dialect differences are small hooks: how a transaction starts, how the next record
is claimed (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), row locks, and how report cursors are
kept in commit order.
"""

from __future__ import annotations

import json
import queue
import threading
from abc import abstractmethod
from contextlib import AbstractContextManager
from datetime import datetime
from importlib import resources
from typing import Any

from central_reader.errors import (
    ClaimConflictError,
    DuplicateRecordError,
    NotFoundError,
    ReaderError,
    VersionConflictError,
)
from central_reader.store._batch import IngestBatcher, PendingInsert
from central_reader.store._directory import SqlDirectory
from central_reader.store._rows import (
    Tx,
    entry_from_row,
    findings_to_json,
    from_us,
    report_from_row,
    to_us,
)
from central_reader.store.base import ReadingStore
from central_reader.types import (
    AuditAction,
    AuditEvent,
    IngestResult,
    NewRecord,
    Principal,
    Priority,
    QueueEntry,
    QueueStats,
    RecordDetail,
    Report,
    ReportDraft,
    StoredWaveform,
)

__all__ = ["SqlStore", "Tx", "migration_files"]

_BATCHER_LOCK = threading.Lock()


_ENTRY_COLUMNS = (
    "r.record_id, r.site_id, r.county_id, r.priority, r.findings_json, r.patient_id,"
    " r.patient_age, r.patient_sex, r.acquired_at, r.received_at, r.deadline, r.signed,"
    " r.claimed_by, r.lease_expires_at"
)
_QUEUE_ORDER = "r.tier, r.deadline, r.received_at, r.record_id"
_REPORT_COLUMNS = (
    "cursor, report_id, record_id, site_id, version, findings_json, free_text, conclusion,"
    " signed_by, signer_name, signed_at, amend_reason"
)


def migration_files(dialect: str) -> list[tuple[int, str]]:
    """``(version, sql)`` of ``migrations/<dialect>/NNNN_*.sql``, in order."""
    folder = resources.files("central_reader.store") / "migrations" / dialect
    out = []
    for entry in folder.iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:4].isdigit():
            out.append((int(name[:4]), entry.read_text(encoding="utf-8")))
    return sorted(out)


class SqlStore(SqlDirectory, ReadingStore):
    """Everything but connection handling and the dialect hooks."""

    #: Appended to a SELECT that must lock the record row until commit.
    _lock_clause = ""

    @abstractmethod
    def _tx(self, *, write: bool) -> AbstractContextManager[Tx]:
        """A transaction: commit on normal exit, roll back on an exception."""

    def transaction(self, *, write: bool) -> AbstractContextManager[Tx]:
        """A transaction on the store's database, for components that keep their own tables
        in it (the alert store): commit on normal exit, roll back on an exception."""
        return self._tx(write=write)

    @abstractmethod
    def _claim_next_id(self, tx: Tx, county_id: str, now_us: int) -> str | None:
        """Lock and return the first unclaimed record of the county, in queue order."""

    def _before_report_insert(self, tx: Tx) -> None:  # noqa: B027 - optional hook
        """Make report cursors follow commit order (PostgreSQL takes a lock here)."""

    # -- records -------------------------------------------------------------------------

    #: Group commit: concurrent ``insert_record`` calls share one transaction (one fsync).
    _ingest_batch_max = 64
    #: Writer threads draining the ingest queue (SQLite: 1, its writes are serial anyway).
    _ingest_writers = 1

    def insert_record(
        self,
        record: NewRecord,
        *,
        county_id: str,
        tier: int,
        deadline: datetime,
        received_at: datetime,
    ) -> IngestResult:
        item = PendingInsert(record, county_id, tier, deadline, received_at)
        self._ingest_queue().put(item)
        item.done.wait()
        if item.error is not None:
            raise item.error
        assert item.result is not None  # noqa: S101 - set together with done
        return item.result

    def _ingest_queue(self) -> queue.SimpleQueue[PendingInsert | None]:
        """The group-commit queue, with its writer thread started on first use."""
        batcher = self.__dict__.get("_batcher")
        if batcher is None:
            with _BATCHER_LOCK:
                batcher = self.__dict__.get("_batcher")
                if batcher is None:
                    batcher = IngestBatcher(self)
                    self.__dict__["_batcher"] = batcher
        return batcher.queue

    def _stop_ingest_writer(self) -> None:
        batcher = self.__dict__.pop("_batcher", None)
        if batcher is not None:
            batcher.stop()

    def _insert_batch(self, batch: list[PendingInsert]) -> None:
        """Insert a batch in one transaction.

        A conflicting record id is detected in Python (nothing is written for it), so it
        does not abort the transaction; a database error fails the batch, which the
        batcher then retries one record per transaction.
        """
        with self._tx(write=True) as tx:
            for item in batch:
                try:
                    item.result = self._insert_in_tx(tx, item)
                except ReaderError as exc:  # decided in Python: nothing written for it
                    item.error = exc

    def _insert_rows(self, tx: Tx, item: PendingInsert) -> bool:
        """Insert the record, its waveform and the ingest audit event; False on conflict."""
        record, received_at = item.record, item.received_at
        wf = record.waveform
        inserted = tx.execute(
            "INSERT INTO records (record_id, site_id, county_id, device_id, acquired_at,"
            " received_at, patient_id, patient_age, patient_sex, priority, tier,"
            " deadline, findings_json, analysis_json, content_sha256)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (record_id) DO NOTHING",
            (
                record.record_id,
                record.site_id,
                item.county_id,
                record.device_id,
                to_us(record.acquired_at),
                to_us(received_at),
                record.patient.pseudo_id,
                record.patient.age_years,
                record.patient.sex.value,
                record.priority.value,
                item.tier,
                to_us(item.deadline),
                findings_to_json(record.findings),
                record.analysis_json,
                record.content_sha256,
            ),
        )
        if inserted == 1:
            tx.execute(
                "INSERT INTO waveforms (record_id, fs_hz, leads, n_samples, gain,"
                " compressed, samples) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    record.record_id,
                    wf.fs_hz,
                    json.dumps(list(wf.leads)),
                    wf.n_samples,
                    wf.gain_counts_per_mv,
                    int(wf.compressed),
                    wf.samples,
                ),
            )
            self._audit(
                tx,
                record.device_id,
                AuditAction.INGEST,
                record.record_id,
                f"site={record.site_id} priority={record.priority.value}",
                received_at,
            )
            return True
        return False

    def _insert_in_tx(self, tx: Tx, item: PendingInsert) -> IngestResult:
        record, received_at = item.record, item.received_at
        if self._insert_rows(tx, item):
            return IngestResult(record.record_id, duplicate=False, received_at=received_at)
        row = tx.one(
            "SELECT content_sha256, received_at FROM records WHERE record_id = ?",
            (record.record_id,),
        )
        if row is None:  # pragma: no cover - a conflict implies the row exists
            raise NotFoundError("record vanished during insert", got=record.record_id)
        if row["content_sha256"] != record.content_sha256:
            raise DuplicateRecordError(
                "record id already used for different content",
                field="record_id",
                got=record.record_id,
            )
        return IngestResult(
            record.record_id, duplicate=True, received_at=from_us(int(row["received_at"]))
        )

    def list_queue(
        self,
        county_id: str | None,
        now: datetime,
        *,
        limit: int = 100,
        include_claimed: bool = False,
    ) -> list[QueueEntry]:
        now_us = to_us(now)
        where = ["r.signed = 0"]
        params: list[Any] = []
        if county_id is not None:
            where.append("r.county_id = ?")
            params.append(county_id)
        if not include_claimed:
            where.append("(r.claimed_by IS NULL OR r.lease_expires_at <= ?)")
            params.append(now_us)
        sql = (
            f"SELECT {_ENTRY_COLUMNS} FROM records r WHERE {' AND '.join(where)}"
            f" ORDER BY {_QUEUE_ORDER} LIMIT ?"
        )
        with self._tx(write=False) as tx:
            rows = tx.all(sql, (*params, limit))
        return [entry_from_row(r, now_us) for r in rows]

    def _load_entry(self, tx: Tx, record_id: str, now_us: int) -> QueueEntry | None:
        row = tx.one(
            f"SELECT {_ENTRY_COLUMNS} FROM records r WHERE r.record_id = ?", (record_id,)
        )
        return None if row is None else entry_from_row(row, now_us)

    def claim(
        self,
        record_id: str | None,
        *,
        county_id: str,
        user_id: str,
        now: datetime,
        lease_until: datetime,
    ) -> QueueEntry:
        now_us = to_us(now)
        with self._tx(write=True) as tx:
            if record_id is None:
                record_id = self._claim_next_id(tx, county_id, now_us)
                if record_id is None:
                    raise NotFoundError(
                        "no unclaimed record in the queue", field="county_id", got=county_id
                    )
                n = tx.execute(
                    "UPDATE records SET claimed_by = ?, lease_expires_at = ?"
                    " WHERE record_id = ? AND signed = 0"
                    " AND (claimed_by IS NULL OR lease_expires_at <= ?)",
                    (user_id, to_us(lease_until), record_id, now_us),
                )
            else:
                n = tx.execute(
                    "UPDATE records SET claimed_by = ?, lease_expires_at = ?"
                    " WHERE record_id = ? AND county_id = ? AND signed = 0"
                    " AND (claimed_by IS NULL OR lease_expires_at <= ? OR claimed_by = ?)",
                    (user_id, to_us(lease_until), record_id, county_id, now_us, user_id),
                )
            if n != 1:
                self._raise_claim_failure(tx, record_id, county_id, now_us)
            self._audit(
                tx,
                user_id,
                AuditAction.CLAIM,
                record_id,
                f"lease_until={lease_until.isoformat()}",
                now,
            )
            entry = self._load_entry(tx, record_id, now_us)
        assert entry is not None  # noqa: S101 - updated in this transaction
        return entry

    def _raise_claim_failure(
        self, tx: Tx, record_id: str, county_id: str | None, now_us: int
    ) -> None:
        row = tx.one(
            "SELECT county_id, signed, claimed_by, lease_expires_at FROM records"
            " WHERE record_id = ?",
            (record_id,),
        )
        if row is None or (county_id is not None and row["county_id"] != county_id):
            raise NotFoundError(
                "no such record in this county", field="record_id", got=record_id
            )
        if row["signed"]:
            raise ClaimConflictError(
                "record is already signed", field="record_id", got=record_id
            )
        if row["claimed_by"] is not None and (row["lease_expires_at"] or 0) > now_us:
            until = from_us(int(row["lease_expires_at"])).isoformat()
            raise ClaimConflictError(
                f"claimed by {row['claimed_by']} until {until}",
                field="record_id",
                got=record_id,
            )
        raise ClaimConflictError("record is not claimed", field="record_id", got=record_id)

    def release(
        self,
        record_id: str,
        *,
        county_id: str | None,
        user_id: str,
        force: bool,
        now: datetime,
    ) -> None:
        now_us = to_us(now)
        with self._tx(write=True) as tx:
            sql = (
                "UPDATE records SET claimed_by = NULL, lease_expires_at = NULL"
                " WHERE record_id = ? AND signed = 0 AND claimed_by IS NOT NULL"
            )
            params: list[Any] = [record_id]
            if county_id is not None:
                sql += " AND county_id = ?"
                params.append(county_id)
            if not force:
                sql += " AND claimed_by = ?"
                params.append(user_id)
            if tx.execute(sql, params) != 1:
                self._raise_claim_failure(tx, record_id, county_id, now_us)
            self._audit(
                tx, user_id, AuditAction.RELEASE, record_id, "forced" if force else "", now
            )

    def record_county(self, record_id: str) -> str | None:
        with self._tx(write=False) as tx:
            row = tx.one("SELECT county_id FROM records WHERE record_id = ?", (record_id,))
        return None if row is None else str(row["county_id"])

    def get_record(self, record_id: str, now: datetime) -> RecordDetail | None:
        now_us = to_us(now)
        with self._tx(write=False) as tx:
            row = tx.one(
                f"SELECT {_ENTRY_COLUMNS}, r.device_id, r.analysis_json, w.fs_hz, w.leads,"
                " w.n_samples, w.gain, w.compressed, w.samples"
                " FROM records r JOIN waveforms w ON w.record_id = r.record_id"
                " WHERE r.record_id = ?",
                (record_id,),
            )
            if row is None:
                return None
            reports = tx.all(
                f"SELECT {_REPORT_COLUMNS} FROM reports WHERE record_id = ?"
                " ORDER BY version",
                (record_id,),
            )
            prev = None
            if row["patient_id"]:
                prev = tx.one(
                    "SELECT record_id FROM records WHERE county_id = ? AND patient_id = ?"
                    " AND acquired_at < ? ORDER BY acquired_at DESC LIMIT 1",
                    (row["county_id"], row["patient_id"], row["acquired_at"]),
                )
        return RecordDetail(
            entry=entry_from_row(row, now_us),
            device_id=row["device_id"],
            waveform=StoredWaveform(
                fs_hz=float(row["fs_hz"]),
                leads=tuple(json.loads(row["leads"])),
                n_samples=int(row["n_samples"]),
                gain_counts_per_mv=float(row["gain"]),
                samples=bytes(row["samples"]),
                compressed=bool(row["compressed"]),
            ),
            analysis_json=row["analysis_json"],
            reports=tuple(report_from_row(r) for r in reports),
            previous_record_id=None if prev is None else prev["record_id"],
        )

    # -- reports -------------------------------------------------------------------------

    def _insert_report(
        self,
        tx: Tx,
        *,
        record_id: str,
        site_id: str,
        version: int,
        signer: Principal,
        draft: ReportDraft,
        reason: str,
        report_id: str,
        now: datetime,
    ) -> Report:
        self._before_report_insert(tx)
        tx.execute(
            "INSERT INTO reports (report_id, record_id, site_id, version, findings_json,"
            " free_text, conclusion, signed_by, signer_name, signed_at, amend_reason)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                report_id,
                record_id,
                site_id,
                version,
                findings_to_json(draft.findings),
                draft.free_text,
                draft.conclusion,
                signer.user_id,
                signer.name,
                to_us(now),
                reason,
            ),
        )
        row = tx.one(
            f"SELECT {_REPORT_COLUMNS} FROM reports WHERE report_id = ?", (report_id,)
        )
        assert row is not None  # noqa: S101 - inserted just above
        return report_from_row(row)

    def sign_report(
        self,
        record_id: str,
        *,
        signer: Principal,
        draft: ReportDraft,
        report_id: str,
        now: datetime,
    ) -> Report:
        with self._tx(write=True) as tx:
            row = tx.one(
                "SELECT site_id, signed, claimed_by FROM records WHERE record_id = ?"
                + self._lock_clause,
                (record_id,),
            )
            if row is None:
                raise NotFoundError("no such record", field="record_id", got=record_id)
            if row["signed"]:
                raise ClaimConflictError(
                    "record is already signed; amend it instead",
                    field="record_id",
                    got=record_id,
                )
            if row["claimed_by"] != signer.user_id:
                raise ClaimConflictError(
                    "claim the record before signing it",
                    field="record_id",
                    expected=f"claimed by {signer.user_id}",
                    got=f"claimed by {row['claimed_by'] or 'nobody'}",
                )
            report = self._insert_report(
                tx,
                record_id=record_id,
                site_id=row["site_id"],
                version=1,
                signer=signer,
                draft=draft,
                reason="",
                report_id=report_id,
                now=now,
            )
            tx.execute(
                "UPDATE records SET signed = 1, claimed_by = NULL, lease_expires_at = NULL"
                " WHERE record_id = ?",
                (record_id,),
            )
            self._audit(
                tx,
                signer.user_id,
                AuditAction.SIGN,
                record_id,
                f"report={report_id} version=1",
                now,
            )
        return report

    def amend_report(
        self,
        record_id: str,
        *,
        signer: Principal,
        draft: ReportDraft,
        base_version: int,
        reason: str,
        report_id: str,
        now: datetime,
    ) -> Report:
        with self._tx(write=True) as tx:
            row = tx.one(
                "SELECT site_id, signed FROM records WHERE record_id = ?"
                + self._lock_clause,
                (record_id,),
            )
            if row is None:
                raise NotFoundError("no such record", field="record_id", got=record_id)
            if not row["signed"]:
                raise ClaimConflictError(
                    "record has no signed report to amend", field="record_id", got=record_id
                )
            latest = tx.one(
                "SELECT MAX(version) AS v FROM reports WHERE record_id = ?", (record_id,)
            )
            latest_version = int(latest["v"]) if latest and latest["v"] is not None else 0
            if base_version != latest_version:
                raise VersionConflictError(
                    "amend the latest report version",
                    field="base_version",
                    expected=str(latest_version),
                    got=str(base_version),
                )
            report = self._insert_report(
                tx,
                record_id=record_id,
                site_id=row["site_id"],
                version=latest_version + 1,
                signer=signer,
                draft=draft,
                reason=reason,
                report_id=report_id,
                now=now,
            )
            self._audit(
                tx,
                signer.user_id,
                AuditAction.AMEND,
                record_id,
                f"report={report_id} version={latest_version + 1}",
                now,
            )
        return report

    def reports_after(self, site_id: str, cursor: int, *, limit: int = 100) -> list[Report]:
        with self._tx(write=False) as tx:
            rows = tx.all(
                f"SELECT {_REPORT_COLUMNS} FROM reports WHERE site_id = ? AND cursor > ?"
                " ORDER BY cursor LIMIT ?",
                (site_id, cursor, limit),
            )
        return [report_from_row(r) for r in rows]

    # -- audit and stats -----------------------------------------------------------------

    @staticmethod
    def _audit(
        tx: Tx,
        user_id: str,
        action: AuditAction,
        record_id: str | None,
        detail: str,
        now: datetime,
    ) -> None:
        tx.execute(
            "INSERT INTO audit_log (at, user_id, action, record_id, detail)"
            " VALUES (?, ?, ?, ?, ?)",
            (to_us(now), user_id, action.value, record_id, detail),
        )

    def append_audit(
        self,
        *,
        user_id: str,
        action: AuditAction,
        record_id: str | None,
        detail: str,
        now: datetime,
    ) -> None:
        with self._tx(write=True) as tx:
            self._audit(tx, user_id, action, record_id, detail, now)

    def list_audit(
        self, record_id: str | None = None, *, limit: int = 1000
    ) -> list[AuditEvent]:
        sql = "SELECT * FROM audit_log"
        params: list[Any] = []
        if record_id is not None:
            sql += " WHERE record_id = ?"
            params.append(record_id)
        with self._tx(write=False) as tx:
            rows = tx.all(sql + " ORDER BY seq LIMIT ?", (*params, limit))
        return [
            AuditEvent(
                seq=int(r["seq"]),
                at=from_us(int(r["at"])),
                user_id=r["user_id"],
                action=AuditAction(r["action"]),
                record_id=r["record_id"],
                detail=r["detail"],
            )
            for r in rows
        ]

    def queue_stats(self, now: datetime) -> QueueStats:
        with self._tx(write=False) as tx:
            rows = tx.all(
                "SELECT priority, COUNT(*) AS n,"
                " SUM(CASE WHEN deadline < ? THEN 1 ELSE 0 END) AS late"
                " FROM records WHERE signed = 0 GROUP BY priority",
                (to_us(now),),
            )
        depth = dict.fromkeys(Priority, 0)
        overdue = 0
        for r in rows:
            depth[Priority(r["priority"])] = int(r["n"])
            overdue += int(r["late"] or 0)
        return QueueStats(depth=depth, overdue=overdue)
