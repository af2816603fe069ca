"""PostgreSQL store (psycopg 3): several central instances share one database.

Claims lock rows with ``SELECT ... FOR UPDATE SKIP LOCKED``, so two instances never hand
the same record to two readers; report inserts take a transaction-scoped advisory lock so
report cursors are assigned in commit order (an identity column alone can commit out of
order and a resumed stream would skip the late one). A small built-in pool keeps
connections; a broken one is discarded and the call fails with ``StoreUnavailableError``.
"""

from __future__ import annotations

import functools
import json
import logging
import queue
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql as pgsql
from psycopg.rows import dict_row

from central_reader.errors import StoreUnavailableError
from central_reader.store._batch import PendingInsert
from central_reader.store._rows import Row, findings_to_json, to_us
from central_reader.store._sql import SqlStore, Tx, migration_files
from central_reader.types import AuditAction

__all__ = ["PostgresStore"]

_log = logging.getLogger(__name__)
_MIGRATION_LOCK = 7_270_001
_REPORT_CURSOR_LOCK = 7_270_002


@functools.lru_cache(maxsize=256)
def _pg(sql: str) -> str:
    return sql.replace("?", "%s")


class _PgTx:
    __slots__ = ("_cur",)

    def __init__(self, cur: psycopg.Cursor[dict[str, Any]]) -> None:
        self._cur = cur

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        self._cur.execute(_pg(sql), tuple(params))
        return self._cur.rowcount

    def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        self._cur.execute(_pg(sql), tuple(params))
        return self._cur.fetchone()

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        self._cur.execute(_pg(sql), tuple(params))
        return list(self._cur.fetchall())


class PostgresStore(SqlStore):
    """:class:`~central_reader.store.base.ReadingStore` on PostgreSQL.

    Parameters
    ----------
    url
        libpq URL, e.g. ``postgresql://postgres@127.0.0.1:5432/test``.
    schema
        Schema to create (if missing) and put first on ``search_path``; None keeps the
        server default (``public``). Tests use a fresh random schema per run.
    pool_size
        Connections kept open at most.
    acquire_timeout_s
        How long a call waits for a free connection before ``StoreUnavailableError``.
    """

    _lock_clause = " FOR UPDATE"
    # Several writers: PostgreSQL runs their transactions concurrently and group-commits
    # their WAL flushes itself.
    _ingest_writers = 4

    def __init__(
        self,
        url: str,
        *,
        schema: str | None = None,
        pool_size: int = 12,
        acquire_timeout_s: float = 10.0,
    ) -> None:
        self.url = url
        self.schema = schema
        self._pool: queue.LifoQueue[psycopg.Connection[dict[str, Any]]] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(pool_size)
        self._acquire_timeout_s = acquire_timeout_s
        self._all: list[psycopg.Connection[dict[str, Any]]] = []
        self._lock = threading.Lock()
        self._closed = False

    def __repr__(self) -> str:
        return f"PostgresStore(schema={self.schema!r})"

    def _connect(self) -> psycopg.Connection[dict[str, Any]]:
        try:
            conn = psycopg.connect(self.url, row_factory=dict_row, connect_timeout=5)
            if self.schema is not None:
                conn.execute(
                    pgsql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
                        pgsql.Identifier(self.schema)
                    )
                )
                conn.execute(
                    pgsql.SQL("SET search_path TO {}").format(pgsql.Identifier(self.schema))
                )
                conn.commit()
        except psycopg.Error as exc:
            raise StoreUnavailableError(f"cannot connect to PostgreSQL: {exc}") from exc
        with self._lock:
            self._all.append(conn)
        return conn

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[dict[str, Any]]]:
        if self._closed:
            raise StoreUnavailableError("store is closed")
        if not self._slots.acquire(timeout=self._acquire_timeout_s):
            raise StoreUnavailableError(
                "no free database connection",
                expected=f"within {self._acquire_timeout_s} s",
            )
        conn = None
        try:
            try:
                conn = self._pool.get_nowait()
            except queue.Empty:
                conn = self._connect()
            yield conn
        except psycopg.OperationalError:
            if conn is not None:
                self._discard(conn)
                conn = None
            raise
        finally:
            if conn is not None and not conn.closed:
                self._pool.put(conn)
            self._slots.release()

    def _discard(self, conn: psycopg.Connection[dict[str, Any]]) -> None:
        with self._lock:
            if conn in self._all:
                self._all.remove(conn)
        conn.close()

    @contextmanager
    def _tx(self, *, write: bool) -> Iterator[Tx]:
        try:
            with self._connection() as conn:
                try:
                    with conn.cursor() as cur:
                        yield _PgTx(cur)
                    conn.commit()
                except BaseException:
                    if not conn.closed:
                        conn.rollback()
                    raise
        except psycopg.OperationalError as exc:
            raise StoreUnavailableError(f"PostgreSQL unavailable: {exc}") from exc

    def _claim_next_id(self, tx: Tx, county_id: str, now_us: int) -> str | None:
        row = tx.one(
            "SELECT r.record_id FROM records r WHERE r.county_id = ? AND r.signed = 0"
            " AND (r.claimed_by IS NULL OR r.lease_expires_at <= ?)"
            " ORDER BY r.tier, r.deadline, r.received_at, r.record_id"
            " LIMIT 1 FOR UPDATE SKIP LOCKED",
            (county_id, now_us),
        )
        return None if row is None else str(row["record_id"])

    def _insert_rows(self, tx: Tx, item: PendingInsert) -> bool:
        # One round trip instead of three: the waveform and the audit event are inserted
        # only when the record row was (ON CONFLICT DO NOTHING returns no row).
        record, wf = item.record, item.record.waveform
        row = tx.one(
            "WITH ins AS ("
            " INSERT INTO records (record_id, site_id, county_id, device_id, acquired_at,"
            " received_at, patient_id, patient_age, patient_sex, priority, tier, deadline,"
            " findings_json, analysis_json, content_sha256)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (record_id) DO NOTHING RETURNING record_id),"
            " wf AS (INSERT INTO waveforms (record_id, fs_hz, leads, n_samples, gain,"
            " compressed, samples) SELECT record_id, ?::double precision, ?::text,"
            " ?::bigint, ?::double precision, ?::bigint, ?::bytea FROM ins),"
            " au AS (INSERT INTO audit_log (at, user_id, action, record_id, detail)"
            " SELECT ?::bigint, ?::text, ?::text, record_id, ?::text FROM ins)"
            " SELECT COUNT(*) AS n FROM ins",
            (
                record.record_id,
                record.site_id,
                item.county_id,
                record.device_id,
                to_us(record.acquired_at),
                to_us(item.received_at),
                record.patient.pseudo_id,
                record.patient.age_years,
                record.patient.sex.value,
                record.priority.value,
                item.tier,
                to_us(item.deadline),
                findings_to_json(record.findings),
                record.analysis_json,
                record.content_sha256,
                wf.fs_hz,
                json.dumps(list(wf.leads)),
                wf.n_samples,
                wf.gain_counts_per_mv,
                int(wf.compressed),
                wf.samples,
                to_us(item.received_at),
                record.device_id,
                AuditAction.INGEST.value,
                f"site={record.site_id} priority={record.priority.value}",
            ),
        )
        return row is not None and int(row["n"]) == 1

    def _before_report_insert(self, tx: Tx) -> None:
        tx.one("SELECT pg_advisory_xact_lock(?)", (_REPORT_CURSOR_LOCK,))

    def migrate(self) -> list[int]:
        applied: list[int] = []
        try:
            with self._connection() as conn:
                with conn.cursor() as cur:
                    cur.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
                    cur.execute(
                        "CREATE TABLE IF NOT EXISTS schema_migrations"
                        " (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)"
                    )
                    cur.execute("SELECT version FROM schema_migrations")
                    done = {int(r["version"]) for r in cur.fetchall()}
                    for version, script in migration_files("postgres"):
                        if version in done:
                            continue
                        cur.execute(script.encode())
                        cur.execute(
                            "INSERT INTO schema_migrations (version, applied_at)"
                            " VALUES (%s, %s)",
                            (version, to_us(datetime.now(UTC))),
                        )
                        applied.append(version)
                conn.commit()
        except psycopg.OperationalError as exc:
            raise StoreUnavailableError(f"PostgreSQL unavailable: {exc}") from exc
        if applied:
            _log.info(
                "postgres %s: applied migrations %s", self.schema or "public", applied
            )
        return applied

    def drop_schema(self) -> None:
        """Drop this store's schema with everything in it (tests); then close."""
        if self.schema is None:
            raise StoreUnavailableError("refusing to drop the default schema")
        with self._connection() as conn:
            conn.execute(
                pgsql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                    pgsql.Identifier(self.schema)
                )
            )
            conn.commit()
        self.close()

    def close(self) -> None:
        self._stop_ingest_writer()
        self._closed = True
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            conn.close()
