"""PostgreSQL LISTEN/NOTIFY fan-out between central instances (no other broker).

Alert writes run ``pg_notify('ecg_alerts', current_schema())`` inside their transaction,
so PostgreSQL delivers the notification to every listening session when (and only if)
the write commits. Each instance keeps one dedicated autocommit connection that LISTENs
and wakes its subscribers through a callback; the payload (the schema) keeps instances of
different schemas on one database apart. A lost connection is re-opened with back-off,
and subscribers are woken after a reconnect (they re-read the store, so nothing sent
while the listener was away is missed; they also poll on their own as a safety net).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg
from psycopg import sql as pgsql

from central_reader.alerts.store import NOTIFY_CHANNEL
from central_reader.store.postgres import PostgresStore

__all__ = ["PgListener"]

_log = logging.getLogger(__name__)


class PgListener:
    """A thread that LISTENs on ``ecg_alerts`` and calls ``on_notify()`` per notification.

    Parameters
    ----------
    store
        The instance's PostgreSQL store (its URL and schema are reused).
    on_notify
        Called from the listener thread for every notification of this schema (and once
        after each (re)connect).
    """

    def __init__(self, store: PostgresStore, on_notify: Callable[[], None]) -> None:
        self.store = store
        self.on_notify = on_notify
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="alerts-listen", daemon=True)
        self._connected = threading.Event()
        self.received = 0
        #: Server process id of the current LISTEN session (None while disconnected).
        self.backend_pid: int | None = None

    def start(self, timeout_s: float = 10.0) -> None:
        """Start listening; waits until the first LISTEN is in place (or the timeout)."""
        self._thread.start()
        if not self._connected.wait(timeout_s):
            _log.warning("alerts listener not connected after %.0f s", timeout_s)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _connect(self) -> tuple[psycopg.Connection[tuple[object, ...]], str]:
        conn = psycopg.connect(self.store.url, autocommit=True, connect_timeout=5)
        if self.store.schema is not None:
            conn.execute(
                pgsql.SQL("SET search_path TO {}").format(
                    pgsql.Identifier(self.store.schema)
                )
            )
        row = conn.execute("SELECT current_schema()").fetchone()
        schema = str(row[0]) if row else "public"
        conn.execute(pgsql.SQL("LISTEN {}").format(pgsql.Identifier(NOTIFY_CHANNEL)))
        return conn, schema

    def _run(self) -> None:
        backoff = 0.2
        while not self._stop.is_set():
            try:
                conn, schema = self._connect()
            except psycopg.Error as exc:
                _log.warning("alerts listener cannot connect: %s", exc)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            backoff = 0.2
            self.backend_pid = conn.info.backend_pid
            self._connected.set()
            self.on_notify()  # re-read after (re)connect: nothing missed meanwhile
            try:
                with conn:
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=0.5):
                            if note.payload == schema:
                                self.received += 1
                                self.on_notify()
                            if self._stop.is_set():
                                break
            except psycopg.Error as exc:
                if not self._stop.is_set():
                    _log.warning("alerts listener lost its connection: %s", exc)
            self.backend_pid = None
