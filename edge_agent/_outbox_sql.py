"""The outbox's SQLite schema, row mapping and space reclaim (private to the outbox)."""

from __future__ import annotations

import errno
import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from edge_agent.outbox_types import RecordState, StoredRecord
from edge_agent.types import Priority

SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    record_id       TEXT NOT NULL UNIQUE,
    content_hash    TEXT NOT NULL UNIQUE,
    site_id         TEXT NOT NULL,
    device_id       TEXT NOT NULL,
    acquired_at     TEXT,
    patient_id      TEXT,
    age_years       REAL,
    sex             TEXT,
    fs_hz           REAL NOT NULL,
    leads_json      TEXT NOT NULL,
    n_samples       INTEGER NOT NULL,
    gain            REAL NOT NULL,
    samples         BLOB,
    compressed      INTEGER NOT NULL,
    priority        TEXT NOT NULL,
    priority_rank   INTEGER NOT NULL,
    findings_json   TEXT NOT NULL,
    analysis_json   TEXT NOT NULL,
    source          TEXT NOT NULL,
    state           TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    lease_until     REAL NOT NULL DEFAULT 0,
    last_error      TEXT,
    order_time      REAL NOT NULL,
    created_at      REAL NOT NULL,
    sent_at         REAL,
    duplicate       INTEGER
);
CREATE INDEX IF NOT EXISTS records_due
    ON records (state, priority_rank, order_time, seq);
CREATE TABLE IF NOT EXISTS reports (
    report_id    TEXT NOT NULL,
    version      INTEGER NOT NULL,
    record_id    TEXT NOT NULL,
    site_id      TEXT NOT NULL,
    cursor       INTEGER NOT NULL,
    signed_at    TEXT,
    signed_by    TEXT NOT NULL,
    conclusion   TEXT NOT NULL,
    payload_json TEXT NOT NULL,
    received_at  REAL NOT NULL,
    PRIMARY KEY (report_id, version)
);
CREATE TABLE IF NOT EXISTS seen_files (
    path       TEXT PRIMARY KEY,
    signature  TEXT NOT NULL,
    record_id  TEXT,
    error      TEXT,
    seen_at    REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


#: At most what deleting one acknowledged record's row gives back (a page): the room
#: estimate (``Outbox.room_bytes``) must never be stricter than ``Outbox.enqueue``.
ROW_BYTES = 4096

COLS = (
    "record_id, site_id, device_id, fs_hz, leads_json, n_samples, gain, samples,"
    " compressed, priority, findings_json, analysis_json, content_hash, source,"
    " acquired_at, patient_id, age_years, sex, state, attempts, next_attempt_at,"
    " last_error, created_at, sent_at"
)


def is_disk_full(exc: BaseException) -> bool:
    """True when ``exc`` says the filesystem is full (SQLITE_FULL, ENOSPC or EDQUOT)."""
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        if code is not None and code & 0xFF == sqlite3.SQLITE_FULL:
            return True
        return "database or disk is full" in str(exc)
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


def record_from_row(r: Sequence[Any]) -> StoredRecord:
    return StoredRecord(
        record_id=r[0],
        site_id=r[1],
        device_id=r[2],
        fs_hz=float(r[3]),
        leads=tuple(json.loads(r[4])),
        n_samples=int(r[5]),
        gain=float(r[6]),
        samples=None if r[7] is None else bytes(r[7]),
        compressed=bool(r[8]),
        priority=Priority(r[9]),
        findings=tuple(json.loads(r[10])),
        analysis_json=r[11],
        content_hash=r[12],
        source=r[13],
        acquired_at=None if r[14] is None else datetime.fromisoformat(r[14]),
        patient_id=r[15],
        age_years=None if r[16] is None else float(r[16]),
        sex=r[17],
        state=RecordState(r[18]),
        attempts=int(r[19]),
        next_attempt_at=float(r[20]),
        last_error=r[21],
        created_at=float(r[22]),
        sent_at=None if r[23] is None else float(r[23]),
    )


def used_page_bytes(db: sqlite3.Connection) -> int:
    """Bytes of database pages in use (free pages are reused before the file grows)."""
    page_size = db.execute("PRAGMA page_size").fetchone()[0]
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    free = db.execute("PRAGMA freelist_count").fetchone()[0]
    return int((pages - free) * page_size)


def reclaim_sent(
    db: sqlite3.Connection, *, incoming: int, max_bytes: int, cutoff: float
) -> int:
    """Free acknowledged records' space, oldest ack first, so ``incoming`` bytes fit.

    Step 1 drops their kept analysis and waveform (``keep_sent_waveforms``); step 2
    deletes whole rows acknowledged before ``cutoff`` (their content hash goes with
    them). All inside a savepoint of the caller's (enqueue) transaction: when even that
    cannot make room (records still to upload fill the budget), nothing is reclaimed.
    Returns how many records were touched.
    """
    need = used_page_bytes(db) + incoming - max_bytes
    db.execute("SAVEPOINT reclaim")
    touched = 0
    rows = db.execute(
        "SELECT seq, LENGTH(analysis_json) + COALESCE(LENGTH(samples), 0)"
        " FROM records WHERE state = 'sent'"
        " AND (analysis_json != '' OR samples IS NOT NULL)"
        " ORDER BY sent_at, seq"
    ).fetchall()
    i = 0
    while need > 0 and i < len(rows):
        batch, freed = [], 0
        while i < len(rows) and freed < need + 8192:
            batch.append(rows[i][0])
            freed += int(rows[i][1])
            i += 1
        db.executemany(
            "UPDATE records SET analysis_json = '', samples = NULL WHERE seq = ?",
            [(q,) for q in batch],
        )
        touched += len(batch)
        need = used_page_bytes(db) + incoming - max_bytes
    while need > 0:
        seqs = [
            r[0]
            for r in db.execute(
                "SELECT seq FROM records WHERE state = 'sent' AND sent_at < ?"
                " ORDER BY sent_at, seq LIMIT ?",
                (cutoff, max(16, need // 1000 + 1)),
            ).fetchall()
        ]
        if not seqs:
            break
        db.executemany("DELETE FROM records WHERE seq = ?", [(q,) for q in seqs])
        touched += len(seqs)
        need = used_page_bytes(db) + incoming - max_bytes
    if need > 0:
        db.execute("ROLLBACK TO reclaim")
        db.execute("RELEASE reclaim")
        return 0
    db.execute("RELEASE reclaim")
    return touched
