"""A cart behind a small outbox byte budget drains a burst completely (issue 8 faults).

Real processes: ``ecg-central serve`` (SQLite) on loopback and ``ecg-edge watch`` with its
real SQLite outbox limited by ``--max-outbox-bytes``. Files refused because the outbox is
full must be taken in once the uploads free space - never forgotten - and ``status`` must
tell the operator which files are waiting for space.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from edge_agent.outbox import Outbox, RecordState
from tests.edge_agent._crash import edge_cmd
from tests.edge_agent._procs import ROOT, CentralProcess, needs_analysis
from tests.edge_agent._records import write_records

# One 12-lead 10 s record costs ~82 kB in the outbox (55 kB waveform + 26 kB analysis):
# two fit at once, and the history of sent records must not eat the budget for good.
BUDGET = 200_000
N_FILES = 6


def _wait_for(cond: Callable[[], bool], timeout_s: float, what: str,
              tail: Callable[[], str]) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}\n{tail()}")


def _status(outbox: Path) -> dict[str, object]:
    """``ecg-edge status --json`` as the operator would run it (another process)."""
    out = subprocess.run(edge_cmd("status", "--json", "--outbox", str(outbox)),
                         capture_output=True, text=True, cwd=ROOT, timeout=60, check=True)
    doc: dict[str, object] = json.loads(out.stdout)
    return doc


def _waiting(outbox: Path) -> int:
    if not outbox.exists():
        return 0
    with Outbox(outbox) as ob:
        return ob.status().waiting_files


@needs_analysis
def test_budget_limited_cart_takes_in_and_drains_a_whole_burst(tmp_path: Path) -> None:
    central = CentralProcess(tmp_path / "central_home")
    (tmp_path / "central_home").mkdir()
    export = tmp_path / "export"
    outbox = tmp_path / "outbox.sqlite"
    site = "site-budget"
    files = write_records(export, N_FILES, prefix="b")
    proc = subprocess.Popen(
        edge_cmd("watch", str(export), "--server", central.target, "--outbox", str(outbox),
                 "--site", site, "--insecure", "--no-model", "--no-reports",
                 "--interval", "0.2", "--settle", "0.2", "--max-outbox-bytes", str(BUDGET)),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT,
        env={"ECG_EDGE_RPC_TIMEOUT_S": "3", "ECG_EDGE_BACKOFF_MAX_S": "1",
             **_env()},
    )
    log: list[str] = []

    def tail() -> str:
        return "\n".join(log[-15:])

    try:
        # Central down: the outbox fills up and the rest of the burst waits for space.
        _wait_for(lambda: _waiting(outbox) > 0, 30, "files refused for space", tail)
        st = _status(outbox)
        waiting = st["waiting_for_space"]
        assert isinstance(waiting, dict)
        pending = st["pending"]
        assert isinstance(pending, int)
        assert pending + int(waiting["files"]) == N_FILES, f"status {st}"
        assert int(waiting["files"]) >= N_FILES - 3, f"only {waiting} waiting: {st}"
        assert str(waiting.get("oldest")).endswith(".hea") and waiting["since"], st
        central.start()

        def all_sent() -> bool:
            with Outbox(outbox) as ob:
                return ob.count(RecordState.SENT) == N_FILES

        _wait_for(all_sent, 40, f"all {N_FILES} files taken in and acknowledged",
                  lambda: f"{_status(outbox)}\n{tail()}")
        assert _waiting(outbox) == 0, _status(outbox)
        ids = central.record_ids()
    finally:
        proc.terminate()
        try:
            out, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        log.extend(out.splitlines())
        central.stop()
    with Outbox(outbox) as ob:
        sent = ob.list_records(RecordState.SENT)
    assert sorted(Path(r.source).name for r in sent) == sorted(f.name for f in files)
    counts = Counter(ids)
    assert {r.record_id for r in sent} == set(counts), "sent records missing at central"
    assert max(counts.values()) == 1, f"duplicated at the central: {counts}"
    assert any("outbox is full" in ln for ln in log), "the refusal was never reported"


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("ECG_EDGE_")} | {
        "OMP_NUM_THREADS": "1"}


def test_acknowledged_history_is_reclaimed_pending_records_never(tmp_path: Path) -> None:
    """With kept history (keep_sent_waveforms), a full budget reclaims acknowledged
    records oldest first; a pending record's waveform is never touched."""
    from tests.edge_agent.test_outbox import make_record

    with Outbox(tmp_path / "probe.sqlite", max_bytes=10**9) as ob:
        empty = ob.used_bytes()
        ob.enqueue(make_record(0))
        per_record = ob.used_bytes() - empty
    limit = int(empty + per_record * 3.5)
    with Outbox(tmp_path / "o.sqlite", max_bytes=limit, keep_sent_waveforms=True) as ob:
        ids = [ob.enqueue(make_record(i)).record_id for i in range(3)]
        ob.mark_sent([(ids[0], False), (ids[1], False)])  # ids[2] stays pending
        for i in range(3, 12):  # each new record needs acknowledged space back
            rid = ob.enqueue(make_record(i)).record_id
            ob.mark_sent([(rid, False)])
        pending = ob.get(ids[2])
        assert pending is not None and pending.state is RecordState.PENDING
        assert pending.samples == make_record(2).samples, "a pending waveform was touched"
        assert ob.used_bytes() <= limit, f"{ob.used_bytes()} > {limit}"
        newest = ob.list_records(RecordState.SENT)[-1]
        assert newest.samples is not None, "the newest acknowledged record lost its history"
        oldest = ob.get(ids[0])
        assert oldest is None or (oldest.samples is None and oldest.analysis_json == ""), (
            "the oldest acknowledged record kept its history while newer ones were added")
    with Outbox(tmp_path / "d.sqlite", max_bytes=10**9) as ob:  # default: dropped at ack
        rid = ob.enqueue(make_record(0)).record_id
        ob.mark_sent([(rid, False)])
        got = ob.get(rid)
        assert got is not None and got.samples is None and got.analysis_json == "", got


def test_watcher_retries_a_waiting_file_as_soon_as_there_is_room(tmp_path: Path) -> None:
    from edge_agent.agent import FolderWatcher
    from tests.edge_agent.test_outbox import make_record

    folder = tmp_path / "in"
    files = write_records(folder, 2, prefix="w")
    with Outbox(tmp_path / "probe.sqlite", max_bytes=10**9) as ob:
        empty = ob.used_bytes()
        ob.enqueue(make_record(0))
        per_record = ob.used_bytes() - empty
    with Outbox(tmp_path / "o.sqlite", max_bytes=int(empty + per_record * 1.5)) as ob:
        rid = ob.enqueue(make_record(0)).record_id  # the budget is now used up
        w = FolderWatcher(folder, ob, settle_s=0.0, full_backoff_s=600.0,
                          full_backoff_max_s=600.0)
        w.scan(now=0.0)
        ready = w.scan(now=1.0)
        assert sorted(p.name for p, _ in ready) == sorted(f.name for f in files), ready
        need = per_record
        assert ob.room_bytes() < need, "the test budget is not full"
        w.outbox_full(now=1.0, refused=ready, need_bytes=need)
        assert ob.status().waiting_files == 2, ob.status()
        assert ob.status().waiting_oldest in {str(f) for f in files}
        assert w.scan(now=2.0) == [], "retried before any space was freed"
        ob.mark_sent([(rid, False)])  # the upload frees the space
        again = w.scan(now=3.0)  # long before the 600 s backoff ends
        assert [p for p, _ in again] == [p for p, _ in ready], again
        w.taken_in(again[0][0])
        assert ob.status().waiting_files == 1, ob.status()
        files[1].unlink()  # the operator deleted the other export: nothing waits
        files[1].with_suffix(".dat").unlink()
        w.scan(now=4.0)
        assert ob.status().waiting_files == 0 and w.waiting == [], ob.status()


def test_rows_are_forgotten_only_after_a_day_and_only_when_that_makes_room(
    tmp_path: Path,
) -> None:
    from edge_agent.errors import OutboxFullError
    from tests.edge_agent.test_outbox import Clock, make_record

    clock = Clock()
    with Outbox(tmp_path / "probe.sqlite", max_bytes=10**9) as ob:
        empty = ob.used_bytes()
        ob.enqueue(make_record(0))
        per_record = ob.used_bytes() - empty
    limit = int(empty + per_record * 3.3)
    small = {"samples": b"\x00" * 64, "analysis_json": "{}"}
    with Outbox(tmp_path / "o.sqlite", max_bytes=limit, clock=clock,
                forget_sent_after_s=3600) as ob:
        acked = [ob.enqueue(make_record(100 + i, **small)).record_id for i in range(80)]
        ob.mark_sent([(r, False) for r in acked])
        history = ob.used_bytes() - empty
        assert per_record * 0.2 < history < per_record * 0.9, (history, per_record)
        clock.t += 10
        pending = [ob.enqueue(make_record(i)).record_id for i in range(1, 3)]
        # a record that deleting all the history could not make room for: nothing goes
        huge = make_record(3, samples=make_record(3).samples * 3)
        with pytest.raises(OutboxFullError):
            ob.enqueue(huge)
        assert ob.count(RecordState.SENT) == 80, "history deleted for nothing"
        # one that fits only without the history: refused while the history is young
        with pytest.raises(OutboxFullError):
            ob.enqueue(make_record(4))
        assert ob.count(RecordState.SENT) == 80, "young acknowledged rows deleted"
        clock.t += 3600  # the history is now older than forget_sent_after_s
        ob.enqueue(make_record(4))
        left = ob.count(RecordState.SENT)
        assert left < 80, "old acknowledged rows were never forgotten"
        assert ob.used_bytes() <= limit, f"{ob.used_bytes()} > {limit}"
        for rid in pending:
            rec = ob.get(rid)
            assert rec is not None and rec.state is RecordState.PENDING and rec.samples
        oldest_left = ob.list_records(RecordState.SENT)[0].source
        assert oldest_left != "rec100.hea", "not the oldest acknowledged rows first"
