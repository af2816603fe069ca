"""A full disk (real SQLITE_FULL) and a failing database: retried later, never fatal."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from edge_agent.agent import FolderWatcher, UploadWorker
from edge_agent.errors import DiskFullError, OutboxFullError
from edge_agent.outbox import LinkState, Outbox, RecordState
from edge_agent.uplink import Uplink
from tests.edge_agent._central import Central
from tests.edge_agent.test_agent_upload import central, config_for  # noqa: F401
from tests.edge_agent.test_outbox import make_record


def _cap_pages(ob: Outbox, extra: int) -> None:
    """Let the database file grow by at most ``extra`` pages (a real SQLITE_FULL after)."""
    with ob._lock:
        n = ob._db.execute("PRAGMA page_count").fetchone()[0]
        ob._db.execute(f"PRAGMA max_page_count = {n + extra}")


def test_sqlite_full_is_a_retryable_disk_full_error(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.sqlite") as ob:
        ob.enqueue(make_record(0))
        _cap_pages(ob, 0)
        try:
            ob.enqueue(make_record(1))
        except DiskFullError as exc:
            err: Exception = exc
        else:
            raise AssertionError("enqueue on a full database did not raise")
        assert isinstance(err, OutboxFullError), f"not an OutboxFullError: {err!r}"
        assert "full" in str(err), f"message does not say full: {err}"
        _cap_pages(ob, 10_000)  # space freed: the same connection works again
        res = ob.enqueue(make_record(1))
        assert not res.duplicate, f"record 1 should be new, got {res}"
        pending = ob.count(RecordState.PENDING)
        assert pending == 2, f"{pending} pending, want 2"


def test_watcher_backs_off_on_full_outbox_and_resumes(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    with Outbox(tmp_path / "o.sqlite") as ob:
        w = FolderWatcher(folder, ob, settle_s=0.0, full_backoff_s=0.5,
                          full_backoff_max_s=2.0)
        delays = [w.outbox_full(now=100.0) for _ in range(4)]
        assert delays == [0.5, 1.0, 2.0, 2.0], f"backoff delays {delays}"
        (folder / "x.csv").write_text("t,I\n0,0\n")
        assert w.scan(now=101.0) == [], "scanned while backing off"
        assert w._pending == {}, f"files tracked while backing off: {w._pending}"
        w.taken_in()
        assert w.outbox_full(now=200.0) == 0.5, "backoff did not reset after a take-in"


def test_upload_thread_survives_database_errors(
    central: Central, tmp_path: Path  # noqa: F811
) -> None:
    cfg = config_for(central, tmp_path)
    with Outbox(cfg.outbox) as ob, Uplink(central.target, insecure=True) as up:
        ids = [ob.enqueue(make_record(i)).record_id for i in range(3)]
        with ob._lock:  # every write now fails with a real sqlite3.OperationalError
            ob._db.execute("PRAGMA query_only = ON")
        worker = UploadWorker(ob, up, cfg)
        stop = threading.Event()
        t = threading.Thread(target=worker.run, args=(stop,), daemon=True)
        t.start()
        try:
            time.sleep(0.6)
            assert t.is_alive(), "the upload thread died on a database error"
            assert ob.count(RecordState.PENDING) == 3, "records left pending state"
            with ob._lock:
                ob._db.execute("PRAGMA query_only = OFF")
            deadline = time.monotonic() + 15
            while ob.count(RecordState.SENT) < 3 and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            stop.set()
            t.join(timeout=10)
            worker.close()
        sent = ob.count(RecordState.SENT)
        link = ob.link()
    assert sent == 3, f"{sent} of 3 sent after the database recovered"
    assert link.state is LinkState.UP, f"link state {link.state} after recovery"
    got = {rid for rid, _, _ in central.state.records()}
    assert got == set(ids), f"central has {got}, want {set(ids)}"
