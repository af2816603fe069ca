"""A small real central for the edge agent's tests: the generated Ingest/Reports servicers
in a real ``grpc.server`` on 127.0.0.1, keeping what it committed in a SQLite file.

It validates every waveform with the real codec, is idempotent on ``record_id``
(``duplicate=True`` for the same content, ``ALREADY_EXISTS`` for different content), counts
every Submit call, and streams reports from a cursor. It can be stopped and restarted on
the same port (partition tests) and run as a separate process::

    python -m tests.edge_agent._central --port 0 --db central.sqlite

(prints ``ready <port>`` on stderr once it accepts calls).
"""

from __future__ import annotations

import argparse
import hashlib
import sqlite3
import sys
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
from ecgnet.codec import WaveformError, decode_waveform
from ecgnet.v1 import common_pb2, ingest_pb2, ingest_pb2_grpc, reports_pb2, reports_pb2_grpc

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    record_id TEXT PRIMARY KEY, site_id TEXT, priority INTEGER, digest TEXT,
    received_at REAL, seq INTEGER
);
CREATE TABLE IF NOT EXISTS calls (record_id TEXT, at REAL);
CREATE TABLE IF NOT EXISTS reports (cursor INTEGER PRIMARY KEY, site_id TEXT, body BLOB);
"""


class CentralState:
    """The central's committed records (a SQLite file), shared across server restarts."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self.new_report = threading.Condition(self._lock)

    def submit(self, req: ingest_pb2.SubmitRecordRequest) -> tuple[bool, str]:
        """(duplicate, error); error non-empty means ALREADY_EXISTS."""
        body = req.SerializeToString(deterministic=True)
        digest = hashlib.sha256(body).hexdigest()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(
                "INSERT INTO calls VALUES (?, ?)", (req.record_id, time.time())
            )
            row = self._db.execute(
                "SELECT digest FROM records WHERE record_id = ?", (req.record_id,)
            ).fetchone()
            if row is not None:
                self._db.execute("COMMIT")
                if row[0] != digest:
                    return False, "record_id exists with different content"
                return True, ""
            seq = self._db.execute("SELECT COUNT(*) FROM records").fetchone()[0]
            self._db.execute(
                "INSERT INTO records VALUES (?, ?, ?, ?, ?, ?)",
                (req.record_id, req.site_id, int(req.priority), digest, time.time(), seq),
            )
            self._db.execute("COMMIT")
        return False, ""

    def records(self) -> list[tuple[str, str, int]]:
        """(record_id, site_id, priority) in commit order."""
        with self._lock:
            return [
                (r[0], r[1], int(r[2]))
                for r in self._db.execute(
                    "SELECT record_id, site_id, priority FROM records ORDER BY seq"
                )
            ]

    def calls(self) -> dict[str, int]:
        """Submit calls per record id."""
        with self._lock:
            return dict(self._db.execute(
                "SELECT record_id, COUNT(*) FROM calls GROUP BY record_id"
            ).fetchall())

    def add_report(self, report: common_pb2.Report) -> int:
        """Append a signed report; returns its cursor."""
        with self.new_report:
            cursor = 1 + self._db.execute(
                "SELECT COALESCE(MAX(cursor), 0) FROM reports"
            ).fetchone()[0]
            report.cursor = cursor
            self._db.execute("INSERT INTO reports VALUES (?, ?, ?)",
                             (cursor, report.site_id, report.SerializeToString()))
            self.new_report.notify_all()
        return int(cursor)

    def reports_after(self, site_id: str, cursor: int) -> list[common_pb2.Report]:
        """Reports of ``site_id`` past ``cursor`` (caller holds no lock)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT body FROM reports WHERE site_id = ? AND cursor > ? ORDER BY cursor",
                (site_id, cursor),
            ).fetchall()
        return [common_pb2.Report.FromString(r[0]) for r in rows]


class _Ingest(ingest_pb2_grpc.IngestServicer):
    def __init__(
        self, state: CentralState, fail: dict[str, Any], ack_delay_s: float = 0.0
    ) -> None:
        self.state = state
        self.fail = fail
        self.ack_delay_s = ack_delay_s

    def Submit(  # noqa: N802 - generated name
        self, request: ingest_pb2.SubmitRecordRequest, context: grpc.ServicerContext
    ) -> ingest_pb2.SubmitRecordResponse:
        code = self.fail.get(request.record_id) or self.fail.get("*")
        if code is not None:
            context.abort(code, f"injected {code.name}")
        if self.fail.get("token") and (
            ("authorization", f"Bearer {self.fail['token']}")
            not in tuple(context.invocation_metadata())
        ):
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "bad device token")
        try:
            decode_waveform(request.waveform)
        except WaveformError as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        duplicate, error = self.state.submit(request)
        if error:
            context.abort(grpc.StatusCode.ALREADY_EXISTS, error)
        # Committed but not yet acknowledged: a client killed now loses the ack.
        time.sleep(self.ack_delay_s)
        return ingest_pb2.SubmitRecordResponse(record_id=request.record_id,
                                               duplicate=duplicate)


class _Reports(reports_pb2_grpc.ReportsServicer):
    def __init__(self, state: CentralState) -> None:
        self.state = state

    def Subscribe(  # noqa: N802 - generated name
        self, request: reports_pb2.SubscribeReportsRequest, context: grpc.ServicerContext
    ) -> Iterator[reports_pb2.ReportEvent]:
        cursor = request.cursor
        while context.is_active():
            for rep in self.state.reports_after(request.site_id, cursor):
                cursor = rep.cursor
                yield reports_pb2.ReportEvent(report=rep, cursor=rep.cursor)
            with self.state.new_report:
                self.state.new_report.wait(timeout=0.2)


class Central:
    """A real gRPC server over a :class:`CentralState` (restartable on the same port)."""

    def __init__(self, db: Path, port: int = 0, *, ack_delay_s: float = 0.0) -> None:
        self.state = CentralState(db)
        self.port = port
        self.ack_delay_s = ack_delay_s
        self.fail: dict[str, Any] = {}
        self._server: grpc.Server | None = None

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> Central:
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
        ingest = _Ingest(self.state, self.fail, self.ack_delay_s)
        ingest_pb2_grpc.add_IngestServicer_to_server(ingest, server)
        reports_pb2_grpc.add_ReportsServicer_to_server(_Reports(self.state), server)
        self.port = server.add_insecure_port(f"127.0.0.1:{self.port}")
        if self.port == 0:
            raise RuntimeError("could not bind a port")
        server.start()
        self._server = server
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(grace=None).wait()
            self._server = None


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--ack-delay", type=float, default=0.0,
                        help="seconds between the commit and the ack")
    args = parser.parse_args()
    central = Central(args.db, args.port, ack_delay_s=args.ack_delay).start()
    print(f"ready {central.port}", file=sys.stderr, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        central.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
