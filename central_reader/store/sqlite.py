"""SQLite store: the embedded default (one file, WAL, ``synchronous=FULL``).

One connection per thread (gRPC serves calls from a thread pool); writers serialize on
SQLite's lock through ``BEGIN IMMEDIATE``, which is what makes claims exclusive here. With
``synchronous=FULL`` in WAL mode a transaction is on disk (fsynced) when ``COMMIT`` returns,
so the service acknowledges only durable records.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from central_reader.errors import StoreUnavailableError
from central_reader.store._rows import Row, to_us
from central_reader.store._sql import SqlStore, Tx, migration_files

__all__ = ["SqliteStore"]

_log = logging.getLogger(__name__)


class _SqliteTx:
    __slots__ = ("_conn",)

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self._conn.execute(sql, tuple(params)).rowcount

    def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        row: Row | None = self._conn.execute(sql, tuple(params)).fetchone()
        return row

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return list(self._conn.execute(sql, tuple(params)).fetchall())


def _split_statements(script: str) -> list[str]:
    """Split a script into complete statements (trigger bodies contain ``;``)."""
    out: list[str] = []
    buf = ""
    for line in script.splitlines(keepends=True):
        if not buf and (not line.strip() or line.lstrip().startswith("--")):
            continue
        buf += line
        if sqlite3.complete_statement(buf):
            out.append(buf.strip())
            buf = ""
    if buf.strip():
        out.append(buf.strip())
    return out


class SqliteStore(SqlStore):
    """:class:`~central_reader.store.base.ReadingStore` on one SQLite file.

    Parameters
    ----------
    path
        Database file; created (with its directory) when missing.
    busy_timeout_s
        How long a writer waits for the lock before ``StoreUnavailableError``.
    """

    def __init__(self, path: str | Path, *, busy_timeout_s: float = 10.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._conns_lock = threading.Lock()
        self._closed = False
        self._write_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SqliteStore({str(self.path)!r})"

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        if self._closed:
            raise StoreUnavailableError("store is closed", got=str(self.path))
        try:
            conn = sqlite3.connect(
                self.path,
                timeout=self._busy_timeout_s,
                isolation_level=None,
                check_same_thread=False,
            )
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error as exc:
            raise StoreUnavailableError(
                f"cannot open database: {exc}", got=str(self.path)
            ) from exc
        self._local.conn = conn
        with self._conns_lock:
            self._conns.append(conn)
        return conn

    @contextmanager
    def _tx(self, *, write: bool) -> Iterator[Tx]:
        if write:
            # Writers of this process queue on a lock instead of SQLite's busy handler,
            # which polls with sleeps of up to 100 ms and makes long latency tails.
            with self._write_lock:
                with self._tx_on(self._conn(), write=True) as tx:
                    yield tx
        else:
            with self._tx_on(self._conn(), write=False) as tx:
                yield tx

    @contextmanager
    def _tx_on(self, conn: sqlite3.Connection, *, write: bool) -> Iterator[Tx]:
        try:
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        except sqlite3.OperationalError as exc:
            raise StoreUnavailableError(
                f"database busy: {exc}", got=str(self.path)
            ) from exc
        try:
            yield _SqliteTx(conn)
            conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise StoreUnavailableError(
                f"database error: {exc}", got=str(self.path)
            ) from exc
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _claim_next_id(self, tx: Tx, county_id: str, now_us: int) -> str | None:
        # BEGIN IMMEDIATE already holds the write lock: nobody else can claim meanwhile.
        row = tx.one(
            "SELECT r.record_id FROM records r WHERE r.county_id = ? AND r.signed = 0"
            " AND (r.claimed_by IS NULL OR r.lease_expires_at <= ?)"
            " ORDER BY r.tier, r.deadline, r.received_at, r.record_id LIMIT 1",
            (county_id, now_us),
        )
        return None if row is None else str(row["record_id"])

    def migrate(self) -> list[int]:
        conn = self._conn()
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations"
            " (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)"
        )
        applied: list[int] = []
        with self._tx(write=True) as tx:
            done = {
                int(r["version"]) for r in tx.all("SELECT version FROM schema_migrations")
            }
            for version, script in migration_files("sqlite"):
                if version in done:
                    continue
                for statement in _split_statements(script):
                    tx.execute(statement)
                tx.execute(
                    "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                    (version, to_us(datetime.now(UTC))),
                )
                applied.append(version)
        if applied:
            _log.info("sqlite %s: applied migrations %s", self.path, applied)
        return applied

    def close(self) -> None:
        self._stop_ingest_writer()
        self._closed = True
        with self._conns_lock:
            conns, self._conns = self._conns, []
        for conn in conns:
            conn.close()
        self._local = threading.local()
