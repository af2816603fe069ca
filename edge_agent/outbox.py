"""The durable outbox: every accepted record waits here until the central acknowledges it.

SQLite in WAL mode with ``synchronous=FULL``: :meth:`Outbox.enqueue` returns only after the
record's transaction is on disk, so a record the operator was told is queued survives a
power cut or ``kill -9``. Each record carries a UUID4 (:attr:`StoredRecord.record_id`)
that is the idempotency key end to end; a second copy of the same content (same content
hash) is not queued twice, the first record's id is returned instead.

States: ``pending`` (waiting or backing off) -> ``sent`` (the central acked after its
commit) or ``failed`` (the central refused it for good, the reason kept). Upload order
is critical first, then oldest. Disk use is bounded: at ``alarm_fraction`` of
``max_bytes`` a warning is logged and shown by ``status``; at the limit
:class:`~edge_agent.errors.OutboxFullError` refuses *new* records - an accepted record
is never dropped. Records already acknowledged are history, and history never blocks a new
ECG: at the ack the waveform and the local analysis are dropped (the central has both;
``keep_sent_waveforms`` keeps them), leaving ~1.5 kB of metadata per record, and before
refusing, :meth:`Outbox.enqueue` reclaims acknowledged records' space, oldest first - kept
history, then rows acknowledged more than a day ago (their content hash goes with them) -
but only when that makes the new record fit. A record still pending or failed is never
touched. What is waiting for space (files the
folder watcher had to refuse) is persisted for ``status`` (:meth:`Outbox.set_waiting`).

A second process (``ecg-edge status``) may open the same file concurrently: WAL readers
do not block the writer, and every write is one short ``BEGIN IMMEDIATE`` transaction.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from edge_agent._outbox_sql import (
    COLS,
    ROW_BYTES,
    SCHEMA,
    SCHEMA_VERSION,
    is_disk_full,
    reclaim_sent,
    record_from_row,
    used_page_bytes,
)
from edge_agent.errors import DiskFullError, OutboxError, OutboxFullError
from edge_agent.outbox_types import (
    EnqueueResult,
    LinkState,
    LinkStatus,
    NewRecord,
    OutboxStatus,
    RecordState,
    StoredRecord,
    StoredReport,
)

__all__ = [
    "DEFAULT_MAX_BYTES",
    "FORGET_SENT_AFTER_S",
    "EnqueueResult",
    "LinkState",
    "LinkStatus",
    "NewRecord",
    "Outbox",
    "OutboxStatus",
    "RecordState",
    "StoredReport",
    "StoredRecord",
    "is_disk_full",
]

logger = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 2 * 1024**3
#: Acknowledged rows younger than this are never deleted to make room (1 day).
FORGET_SENT_AFTER_S = 86_400.0


class Outbox:
    """The durable SQLite outbox (thread-safe; one connection guarded by a lock).

    Parameters
    ----------
    path : str or Path
        SQLite file; created with its schema when missing.
    max_bytes : int
        Disk budget for the database pages in use.
    alarm_fraction : float
        Share of ``max_bytes`` at which the alarm is raised (logged, shown by ``status``).
    keep_sent_waveforms : bool
        Keep waveform and analysis after the central's ack (default: drop them, keeping
        the metadata, so the budget is spent on records still to upload; kept ones are
        reclaimed, oldest first, when a new record needs the space).
    forget_sent_after_s : float
        Rows acknowledged longer ago than this may be deleted when a new record needs
        their space (default one day; the content hash, i.e. duplicate detection, goes
        with them). Records not yet acknowledged are never deleted.
    clock : callable
        Wall clock in seconds (injectable for tests).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        alarm_fraction: float = 0.9,
        keep_sent_waveforms: bool = False,
        forget_sent_after_s: float = FORGET_SENT_AFTER_S,
        clock: Any = time.time,
    ) -> None:
        if max_bytes <= 0:
            raise ValueError(f"max_bytes must be positive, got {max_bytes}")
        if not 0.0 < alarm_fraction <= 1.0:
            raise ValueError(f"alarm_fraction must be in (0, 1], got {alarm_fraction}")
        self.path = Path(path)
        self.max_bytes = int(max_bytes)
        self.alarm_fraction = float(alarm_fraction)
        self.keep_sent_waveforms = keep_sent_waveforms
        self.forget_sent_after_s = float(forget_sent_after_s)
        self._clock = clock
        self._lock = threading.RLock()
        self._alarm_logged = False
        #: Bytes the last record refused for lack of budget needed (0: none refused).
        self.last_refused_bytes = 0
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                str(self.path), timeout=30.0, isolation_level=None, check_same_thread=False
            )
            self._db.execute("PRAGMA busy_timeout=30000")
            mode = self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise OutboxError(
                    "cannot switch the outbox to WAL mode",
                    path=str(self.path),
                    got=str(mode),
                )
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA journal_size_limit=8388608")
            self._migrate()
        except sqlite3.Error as exc:
            msg = f"cannot open the outbox: {exc}"
            raise OutboxError(msg, path=str(self.path)) from exc

    # ------------------------------------------------------------------ plumbing
    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction, committed (durably) or rolled back."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                # SQLITE_FULL (and some I/O errors) roll the transaction back already; a
                # second ROLLBACK would raise and hide the real error.
                if self._db.in_transaction:
                    try:
                        self._db.execute("ROLLBACK")
                    except sqlite3.Error:
                        logger.exception("rollback failed (%s)", self.path)
                raise
            try:
                self._db.execute("COMMIT")
            except sqlite3.Error:
                # A failed COMMIT (SQLITE_FULL, SQLITE_IOERR) may leave the transaction
                # open; end it so the next BEGIN IMMEDIATE does not fail forever.
                if self._db.in_transaction:
                    try:
                        self._db.execute("ROLLBACK")
                    except sqlite3.Error:
                        logger.exception("rollback failed (%s)", self.path)
                raise

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise OutboxError(
                "outbox written by a newer agent",
                path=str(self.path),
                expected=f"schema <= {SCHEMA_VERSION}",
                got=str(version),
            )
        if version < SCHEMA_VERSION:
            with self._tx() as db:
                for stmt in SCHEMA.split(";"):
                    if stmt.strip():
                        db.execute(stmt)
                db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    # ------------------------------------------------------------------ disk budget
    def used_bytes(self) -> int:
        """Bytes of database pages in use (free pages are reused before the file grows)."""
        with self._lock:
            return used_page_bytes(self._db)

    def file_bytes(self) -> int:
        """Bytes on disk: the database file plus its WAL."""
        total = 0
        for suffix in ("", "-wal", "-shm"):
            p = Path(str(self.path) + suffix)
            if p.exists():
                total += p.stat().st_size
        return total

    def reclaimable_bytes(self) -> int:
        """At most how many bytes :meth:`enqueue` could reclaim from acknowledged records.

        Their kept history, plus a page per row old enough to be forgotten (an
        overestimate: the room check before the analysis must never be stricter than
        :meth:`enqueue` itself).
        """
        cutoff = float(self._clock()) - self.forget_sent_after_s
        with self._lock:
            row = self._db.execute(
                "SELECT COALESCE(SUM(LENGTH(analysis_json) + COALESCE(LENGTH(samples), 0)"
                f" + CASE WHEN sent_at < ? THEN {ROW_BYTES} ELSE 0 END), 0)"
                " FROM records WHERE state = 'sent'",
                (cutoff,),
            ).fetchone()
        return int(row[0])

    def room_bytes(self) -> int:
        """Bytes a new record may use now: free budget plus reclaimable history."""
        return self.max_bytes - self.used_bytes() + self.reclaimable_bytes()

    def ensure_room(self, incoming: int) -> None:
        """Raise :class:`OutboxFullError` now when ``incoming`` bytes cannot fit.

        A cheap check before the local analysis, so a file refused for lack of space is
        not analysed again on every retry.
        """
        room = self.room_bytes()
        if incoming > room:
            self.last_refused_bytes = incoming
            raise OutboxFullError(
                "outbox is full: new records are refused until the queue drains",
                path=str(self.path),
                expected=f"<= {self.max_bytes} bytes",
                got=f"{self.max_bytes - room} used by records not yet acknowledged"
                f" + {incoming} incoming",
            )

    def _reclaim(self, db: sqlite3.Connection, incoming: int) -> int:
        """Free acknowledged records' space so ``incoming`` fits (:func:`reclaim_sent`)."""
        need = used_page_bytes(db) + incoming - self.max_bytes
        if need <= 0:
            return 0
        cutoff = float(self._clock()) - self.forget_sent_after_s
        touched = reclaim_sent(
            db, incoming=incoming, max_bytes=self.max_bytes, cutoff=cutoff
        )
        if touched:
            logger.info(
                "outbox: reclaimed the space of %d acknowledged records (%s)",
                touched,
                self.path,
            )
        return touched

    def _check_budget(self, incoming: int) -> None:
        used = self.used_bytes()
        if used + incoming > self.max_bytes:
            logger.error(
                "outbox FULL: %d of %d bytes used, refusing a new record of ~%d bytes (%s)",
                used,
                self.max_bytes,
                incoming,
                self.path,
            )
            self.last_refused_bytes = incoming
            raise OutboxFullError(
                "outbox is full: new records are refused until the queue drains",
                path=str(self.path),
                expected=f"<= {self.max_bytes} bytes",
                got=f"{used} used + {incoming} incoming",
            )
        fraction = (used + incoming) / self.max_bytes
        if fraction >= self.alarm_fraction:
            if not self._alarm_logged:
                logger.warning(
                    "outbox ALARM: %.0f%% of its %d-byte limit used (%s)",
                    100 * fraction,
                    self.max_bytes,
                    self.path,
                )
                self._alarm_logged = True
        else:
            self._alarm_logged = False

    # ------------------------------------------------------------------ records
    def enqueue(self, rec: NewRecord) -> EnqueueResult:
        """Store a record durably (committed with ``synchronous=FULL``) and return its id.

        Raises
        ------
        OutboxFullError
            The disk budget would be exceeded; nothing was stored.
        OutboxError
            The database cannot be written.
        """
        now = float(self._clock())
        incoming = len(rec.samples) + len(rec.analysis_json) + 1024
        order_time = rec.acquired_at.timestamp() if rec.acquired_at is not None else now
        try:
            with self._tx() as db:
                row = db.execute(
                    "SELECT record_id, state FROM records WHERE content_hash = ?",
                    (rec.content_hash,),
                ).fetchone()
                if row is not None:
                    return EnqueueResult(row[0], True, RecordState(row[1]))
                self._reclaim(db, incoming)
                self._check_budget(incoming)
                record_id = str(uuid.uuid4())
                db.execute(
                    "INSERT INTO records (record_id, content_hash, site_id, device_id,"
                    " acquired_at, patient_id, age_years, sex, fs_hz, leads_json,"
                    " n_samples, gain, samples, compressed, priority, priority_rank,"
                    " findings_json, analysis_json, source, state, attempts,"
                    " next_attempt_at, order_time, created_at)"
                    f" VALUES ({', '.join('?' * 20)}, 0, ?, ?, ?)",
                    (
                        record_id,
                        rec.content_hash,
                        rec.site_id,
                        rec.device_id,
                        None if rec.acquired_at is None else rec.acquired_at.isoformat(),
                        rec.patient_id,
                        rec.age_years,
                        rec.sex,
                        rec.fs_hz,
                        json.dumps(list(rec.leads)),
                        rec.n_samples,
                        rec.gain,
                        rec.samples,
                        int(rec.compressed),
                        rec.priority.value,
                        rec.priority.rank,
                        json.dumps(list(rec.findings)),
                        rec.analysis_json,
                        rec.source,
                        RecordState.PENDING.value,
                        now,
                        order_time,
                        now,
                    ),
                )
        except (sqlite3.Error, OSError) as exc:
            msg = f"cannot store the record: {exc}"
            if is_disk_full(exc):
                logger.error(
                    "outbox disk FULL, refusing a new record (%s): %s", self.path, exc
                )
                raise DiskFullError(msg, path=str(self.path)) from exc
            raise OutboxError(msg, path=str(self.path)) from exc
        return EnqueueResult(record_id, False, RecordState.PENDING)

    def claim_due(self, limit: int = 16, *, lease_s: float = 60.0) -> list[StoredRecord]:
        """Return up to ``limit`` due pending records of one priority tier, oldest first.

        The most urgent tier that has a due record is served first; a batch never mixes
        tiers, so a routine record cannot overtake a critical one even when a batch is sent
        concurrently. Returned records are leased for ``lease_s`` seconds (their
        ``lease_until``) so another worker skips them; after a crash the lease expires (or
        the next worker holding the upload lock clears it, see :meth:`clear_leases`).
        Attempts are counted by the ``mark_*`` calls.
        """
        now = float(self._clock())
        with self._tx() as db:
            rows = db.execute(
                f"SELECT {COLS}, priority_rank FROM records"
                " WHERE state = 'pending' AND next_attempt_at <= ? AND lease_until <= ?"
                " ORDER BY priority_rank, order_time, seq LIMIT ?",
                (now, now, limit),
            ).fetchall()
            rows = [r for r in rows if r[-1] == rows[0][-1]]
            db.executemany(
                "UPDATE records SET lease_until = ? WHERE record_id = ?",
                [(now + lease_s, r[0]) for r in rows],
            )
        return [record_from_row(r) for r in rows]

    def release(self, record_ids: Sequence[str]) -> None:
        """Give leased records back without counting an attempt (due again now)."""
        now = float(self._clock())
        with self._tx() as db:
            db.executemany(
                "UPDATE records SET next_attempt_at = ?, lease_until = 0"
                " WHERE record_id = ? AND state = 'pending'",
                [(now, rid) for rid in record_ids],
            )

    def clear_leases(self) -> int:
        """Drop every lease (call only while holding the upload lock: no other uploader
        can be alive, so leases left behind are from a dead process)."""
        with self._tx() as db:
            cur = db.execute(
                "UPDATE records SET lease_until = 0"
                " WHERE state = 'pending' AND lease_until > 0"
            )
            return int(cur.rowcount)

    def mark_sent(self, acks: Sequence[tuple[str, bool]]) -> None:
        """Record the central's acks ``(record_id, duplicate)`` in one durable transaction.

        The link is marked up (last success now) in the same transaction, at no extra
        fsync. The waveform and the local analysis (both at the central now) are dropped
        unless ``keep_sent_waveforms``: an acknowledged record then costs ~1.5 kB
        (metadata, content hash, indexes) instead of ~85 kB.
        """
        if not acks:
            return
        now = float(self._clock())
        samples_sql = (
            "" if self.keep_sent_waveforms else ", samples = NULL, analysis_json = ''"
        )
        with self._tx() as db:
            db.executemany(
                "UPDATE records SET state = 'sent', sent_at = ?, last_error = NULL,"
                f" attempts = attempts + 1, duplicate = ?{samples_sql}"
                " WHERE record_id = ? AND state = 'pending'",
                [(now, int(dup), rid) for rid, dup in acks],
            )
            self._link_tx(db, LinkState.UP, None, now)

    def mark_retry(self, record_id: str, error: str, *, delay_s: float) -> None:
        """Count an attempt, keep the record pending, due again in ``delay_s`` seconds."""
        now = float(self._clock())
        with self._tx() as db:
            db.execute(
                "UPDATE records SET next_attempt_at = ?, last_error = ?, lease_until = 0,"
                " attempts = attempts + 1 WHERE record_id = ? AND state = 'pending'",
                (now + max(0.0, delay_s), error, record_id),
            )

    def mark_failed(self, record_id: str, error: str) -> None:
        """The central refused the record for good: keep it and why, stop retrying."""
        with self._tx() as db:
            db.execute(
                "UPDATE records SET state = 'failed', last_error = ?,"
                " attempts = attempts + 1 WHERE record_id = ? AND state = 'pending'",
                (error, record_id),
            )
        logger.error("record %s failed permanently: %s", record_id, error)

    def retry_failed(self) -> int:
        """Put every failed record back to pending (operator action); return how many."""
        now = float(self._clock())
        with self._tx() as db:
            cur = db.execute(
                "UPDATE records SET state = 'pending', next_attempt_at = ?"
                " WHERE state = 'failed'",
                (now,),
            )
            return int(cur.rowcount)

    def get(self, record_id: str) -> StoredRecord | None:
        """One record by id, or ``None``."""
        with self._lock:
            row = self._db.execute(
                f"SELECT {COLS} FROM records WHERE record_id = ?", (record_id,)
            ).fetchone()
        return None if row is None else record_from_row(row)

    def find_by_hash(self, content_hash: str) -> StoredRecord | None:
        """The record holding this content, or ``None``."""
        with self._lock:
            row = self._db.execute(
                f"SELECT {COLS} FROM records WHERE content_hash = ?", (content_hash,)
            ).fetchone()
        return None if row is None else record_from_row(row)

    def list_records(
        self, state: RecordState | None = None, *, limit: int | None = None
    ) -> list[StoredRecord]:
        """Records in upload order (without touching leases)."""
        where = "" if state is None else "WHERE state = ?"
        args: tuple[Any, ...] = () if state is None else (state.value,)
        lim = "" if limit is None else f" LIMIT {int(limit)}"
        with self._lock:
            rows = self._db.execute(
                f"SELECT {COLS} FROM records {where}"
                f" ORDER BY priority_rank, order_time, seq{lim}",
                args,
            ).fetchall()
        return [record_from_row(r) for r in rows]

    def count(self, state: RecordState) -> int:
        """Number of records in ``state``."""
        with self._lock:
            return int(
                self._db.execute(
                    "SELECT COUNT(*) FROM records WHERE state = ?", (state.value,)
                ).fetchone()[0]
            )

    def state_counts(self, record_ids: Sequence[str]) -> dict[RecordState, int]:
        """How many of ``record_ids`` are in each state (unknown ids are not counted)."""
        counts = dict.fromkeys(RecordState, 0)
        ids = list(dict.fromkeys(record_ids))
        with self._lock:
            for i in range(0, len(ids), 500):
                chunk = ids[i : i + 500]
                rows = self._db.execute(
                    "SELECT state, COUNT(*) FROM records WHERE record_id IN"
                    f" ({', '.join('?' * len(chunk))}) GROUP BY state",
                    chunk,
                ).fetchall()
                for state, n in rows:
                    counts[RecordState(state)] += int(n)
        return counts

    def next_due_in(self) -> float | None:
        """Seconds until the next pending record is due (0: now; None: nothing pending)."""
        with self._lock:
            row = self._db.execute(
                "SELECT MIN(MAX(next_attempt_at, lease_until)) FROM records"
                " WHERE state = 'pending'"
            ).fetchone()
        if row[0] is None:
            return None
        return max(0.0, float(row[0]) - float(self._clock()))

    # ------------------------------------------------------------------ link + meta
    def _meta_get(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute(
                "SELECT value FROM meta WHERE key = ?", (key,)
            ).fetchone()
        return None if row is None else str(row[0])

    def _meta_set(self, db: sqlite3.Connection, key: str, value: str) -> None:
        db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?)"
            " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def _link_tx(
        self, db: sqlite3.Connection, state: LinkState, error: str | None, now: float
    ) -> None:
        row = db.execute("SELECT value FROM meta WHERE key = 'link_state'").fetchone()
        if row is None or row[0] != state.value:
            self._meta_set(db, "link_changed_at", repr(now))
            self._meta_set(db, "link_state", state.value)
        if state is LinkState.UP:
            self._meta_set(db, "link_last_success_at", repr(now))
        if error is not None:
            self._meta_set(db, "link_last_error", error)
            self._meta_set(db, "link_last_error_at", repr(now))

    def set_link(self, state: LinkState, *, error: str | None = None) -> None:
        """Persist the link state (``up`` records a success, ``down`` the error)."""
        with self._tx() as db:
            self._link_tx(db, state, error, float(self._clock()))

    # ------------------------------------------------------------------ watched files
    def file_seen(self, path: str, signature: str) -> bool:
        """True when ``path`` was already taken in with this (size, mtime) signature."""
        with self._lock:
            row = self._db.execute(
                "SELECT signature FROM seen_files WHERE path = ?", (path,)
            ).fetchone()
        return row is not None and row[0] == signature

    def mark_file(
        self, path: str, signature: str, *, record_id: str | None, error: str | None
    ) -> None:
        """Remember that ``path`` (at ``signature``) was queued or refused.

        Raises
        ------
        DiskFullError
            The filesystem is full (nothing was remembered).
        OutboxError
            The database cannot be written.
        """
        now = float(self._clock())
        try:
            with self._tx() as db:
                db.execute(
                    "INSERT INTO seen_files (path, signature, record_id, error, seen_at)"
                    " VALUES (?, ?, ?, ?, ?) ON CONFLICT(path) DO UPDATE SET"
                    " signature = excluded.signature, record_id = excluded.record_id,"
                    " error = excluded.error, seen_at = excluded.seen_at",
                    (path, signature, record_id, error, now),
                )
        except (sqlite3.Error, OSError) as exc:
            msg = f"cannot remember the watched file {path}: {exc}"
            if is_disk_full(exc):
                raise DiskFullError(msg, path=str(self.path)) from exc
            raise OutboxError(msg, path=str(self.path)) from exc

    def set_waiting(self, paths: Sequence[str], since: float | None) -> None:
        """Persist the files waiting for outbox space (oldest first), for ``status``.

        Best effort: on a full disk the note itself may not fit; the watcher's log line is
        the alarm then.
        """
        doc = json.dumps(
            {
                "files": len(paths),
                "oldest": paths[0] if paths else None,
                "since": since if paths else None,
            }
        )
        try:
            with self._tx() as db:
                self._meta_set(db, "waiting_for_space", doc)
        except (sqlite3.Error, OSError) as exc:
            logger.warning(
                "cannot note the files waiting for space (%s): %s", self.path, exc
            )

    def waiting(self) -> tuple[int, str | None, float | None]:
        """(files, oldest path, since) waiting for outbox space, as last noted."""
        v = self._meta_get("waiting_for_space")
        if v is None:
            return 0, None, None
        doc = json.loads(v)
        since = doc.get("since")
        return int(doc["files"]), doc.get("oldest"), None if since is None else float(since)

    def link(self) -> LinkStatus:
        """The persisted link state."""

        def f(key: str) -> float | None:
            v = self._meta_get(key)
            return None if v is None else float(v)

        return LinkStatus(
            state=LinkState(self._meta_get("link_state") or LinkState.UNKNOWN.value),
            changed_at=f("link_changed_at"),
            last_success_at=f("link_last_success_at"),
            last_error=self._meta_get("link_last_error"),
            last_error_at=f("link_last_error_at"),
        )

    # ------------------------------------------------------------------ reports
    def report_cursor(self, site_id: str) -> int:
        """Last report cursor stored for ``site_id`` (0 = none yet)."""
        v = self._meta_get(f"reports_cursor:{site_id}")
        return 0 if v is None else int(v)

    def store_report(self, report: StoredReport) -> bool:
        """Store a report and advance the site's cursor in one transaction.

        Returns False when that report version was already stored (a replay).
        """
        with self._tx() as db:
            cur = db.execute(
                "INSERT OR IGNORE INTO reports (report_id, version, record_id, site_id,"
                " cursor, signed_at, signed_by, conclusion, payload_json, received_at)"
                " VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    report.report_id,
                    report.version,
                    report.record_id,
                    report.site_id,
                    report.cursor,
                    report.signed_at,
                    report.signed_by,
                    report.conclusion,
                    json.dumps(report.payload),
                    report.received_at,
                ),
            )
            key = f"reports_cursor:{report.site_id}"
            row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
            if row is None or int(row[0]) < report.cursor:
                self._meta_set(db, key, str(report.cursor))
            return cur.rowcount == 1

    def list_reports(
        self, *, record_id: str | None = None, limit: int | None = None
    ) -> list[StoredReport]:
        """Stored reports, newest cursor first."""
        where = "" if record_id is None else "WHERE record_id = ?"
        args: tuple[Any, ...] = () if record_id is None else (record_id,)
        lim = "" if limit is None else f" LIMIT {int(limit)}"
        with self._lock:
            rows = self._db.execute(
                "SELECT report_id, version, record_id, site_id, cursor, signed_at,"
                f" signed_by, conclusion, payload_json, received_at FROM reports {where}"
                f" ORDER BY cursor DESC{lim}",
                args,
            ).fetchall()
        return [
            StoredReport(
                r[0],
                int(r[1]),
                r[2],
                r[3],
                int(r[4]),
                r[5],
                r[6],
                r[7],
                json.loads(r[8]),
                float(r[9]),
            )
            for r in rows
        ]

    # ------------------------------------------------------------------ status
    def status(self) -> OutboxStatus:
        """A consistent snapshot of counts, age, disk use and link state."""
        now = float(self._clock())
        with self._lock:
            self._db.execute("BEGIN")
            try:
                counts = dict(
                    self._db.execute(
                        "SELECT state, COUNT(*) FROM records GROUP BY state"
                    ).fetchall()
                )
                crit, oldest = self._db.execute(
                    "SELECT SUM(priority = 'critical'), MIN(created_at) FROM records"
                    " WHERE state = 'pending'"
                ).fetchone()
                n_reports = self._db.execute("SELECT COUNT(*) FROM reports").fetchone()[0]
            finally:
                self._db.execute("COMMIT")
            link = self.link()
            used = self.used_bytes()
            n_wait, oldest_wait, wait_since = self.waiting()
        return OutboxStatus(
            path=str(self.path),
            pending=int(counts.get("pending", 0)),
            sent=int(counts.get("sent", 0)),
            failed=int(counts.get("failed", 0)),
            pending_critical=int(crit or 0),
            oldest_pending_age_s=None if oldest is None else max(0.0, now - float(oldest)),
            used_bytes=used,
            file_bytes=self.file_bytes(),
            max_bytes=self.max_bytes,
            alarm_fraction=self.alarm_fraction,
            link=link,
            reports=int(n_reports),
            waiting_files=n_wait,
            waiting_oldest=oldest_wait,
            waiting_since=wait_since,
        )
