"""The durable outbox on a real SQLite file: durability, dedupe, order, budget, readers."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from ecgnet.codec import decode_waveform, encode_waveform
from ecgnet.v1 import common_pb2

from edge_agent.errors import OutboxFullError
from edge_agent.outbox import LinkState, NewRecord, Outbox, RecordState, StoredReport
from edge_agent.types import Priority
from tests.edge_agent._records import base_record

ROOT = Path(__file__).resolve().parents[2]


class Clock:
    """A wall clock the test moves by hand."""

    def __init__(self, t: float = 1_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def make_record(i: int, priority: Priority = Priority.ROUTINE, **kw: object) -> NewRecord:
    rec = base_record()
    sig = np.roll(rec.signal, 41 * (i + 1), axis=1)
    wf = encode_waveform(sig, rec.fs, rec.leads)
    fields: dict[str, object] = {
        "site_id": "site-a", "device_id": "cart-1", "fs_hz": wf.fs_hz,
        "leads": tuple(wf.leads), "n_samples": wf.n_samples, "gain": wf.gain_counts_per_mv,
        "samples": bytes(wf.samples), "compressed": wf.compressed, "priority": priority,
        "findings": ({"code": "X", "priority": priority.value},),
        "analysis_json": json.dumps({"i": i}), "content_hash": f"hash-{i}",
        "source": f"rec{i}.hea",
    }
    fields.update(kw)
    return NewRecord(**fields)  # type: ignore[arg-type]


def test_wal_and_full_sync_are_set(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.sqlite") as ob:
        mode = ob._db.execute("PRAGMA journal_mode").fetchone()[0]
        sync = ob._db.execute("PRAGMA synchronous").fetchone()[0]
    assert (mode, sync) == ("wal", 2), f"journal_mode={mode}, synchronous={sync} (2=FULL)"


def test_enqueue_survives_reopen_with_waveform_intact(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    new = make_record(1, Priority.CRITICAL)
    with Outbox(path) as ob:
        res = ob.enqueue(new)
    assert not res.duplicate and res.state is RecordState.PENDING, f"{res}"
    with Outbox(path) as ob:
        got = ob.get(res.record_id)
    assert got is not None, f"record {res.record_id} lost after reopening"
    assert got.priority is Priority.CRITICAL and got.leads == new.leads, f"{got.priority}"
    wf = common_pb2.Waveform(fs_hz=got.fs_hz, leads=list(got.leads),
                             n_samples=got.n_samples, gain_counts_per_mv=got.gain,
                             samples=got.samples or b"", compressed=got.compressed)
    sig, fs, _ = decode_waveform(wf)
    ref = np.roll(base_record().signal, 41 * 2, axis=1)
    err = float(np.max(np.abs(sig - ref)))
    assert fs == 500.0 and err <= 0.5 / got.gain + 1e-12, f"round-trip error {err} mV"


def test_same_content_is_queued_once(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.sqlite") as ob:
        first = ob.enqueue(make_record(1))
        second = ob.enqueue(make_record(1, source="copy-of-rec1.hea"))
        assert second.duplicate and second.record_id == first.record_id, f"{first} {second}"
        pending = ob.count(RecordState.PENDING)
        assert pending == 1, f"{pending} pending"


def test_order_is_critical_first_then_oldest_and_batches_do_not_mix_tiers(
    tmp_path: Path,
) -> None:
    clock = Clock()
    with Outbox(tmp_path / "o.sqlite", clock=clock) as ob:
        ids = {}
        for i, prio in enumerate([Priority.ROUTINE, Priority.CRITICAL, Priority.WARNING,
                                  Priority.CRITICAL, Priority.ROUTINE]):
            clock.t += 1
            ids[i] = ob.enqueue(make_record(i, prio)).record_id
        first = ob.claim_due(10)
        assert [r.record_id for r in first] == [ids[1], ids[3]], f"{first}"
        second = ob.claim_due(10)
        assert [r.record_id for r in second] == [ids[2]], f"{second}"
        third = ob.claim_due(10)
        assert [r.record_id for r in third] == [ids[0], ids[4]], f"{third}"
        assert ob.claim_due(10) == [], "leased records were handed out twice"


def test_lease_expires_after_a_crash(tmp_path: Path) -> None:
    clock = Clock()
    with Outbox(tmp_path / "o.sqlite", clock=clock) as ob:
        rid = ob.enqueue(make_record(0)).record_id
        assert [r.record_id for r in ob.claim_due(lease_s=30)] == [rid]
    # The worker died holding the lease; a new process sees the record again after 30 s.
    with Outbox(tmp_path / "o.sqlite", clock=clock) as ob:
        assert ob.claim_due() == [], "lease not honoured"
        clock.t += 31
        assert [r.record_id for r in ob.claim_due()] == [rid], "lease never expired"


def test_sent_failed_retry_and_attempts(tmp_path: Path) -> None:
    clock = Clock()
    with Outbox(tmp_path / "o.sqlite", clock=clock) as ob:
        a = ob.enqueue(make_record(0)).record_id
        b = ob.enqueue(make_record(1)).record_id
        ob.claim_due()
        ob.mark_sent([(a, False)])
        ob.mark_retry(b, "UNAVAILABLE: down", delay_s=5)
        got_a, got_b = ob.get(a), ob.get(b)
        assert got_a is not None and got_a.state is RecordState.SENT, f"{got_a}"
        assert got_a.samples is None, "waveform kept after the ack (should be pruned)"
        assert got_b is not None and got_b.attempts == 1, f"{got_b}"
        assert got_b.next_attempt_at == pytest.approx(clock.t + 5), f"{got_b}"
        assert ob.link().state is LinkState.UP, f"{ob.link()}"
        ob.mark_failed(b, "INVALID_ARGUMENT: waveform.fs_hz out of range")
        st = ob.status()
        assert (st.pending, st.sent, st.failed) == (0, 1, 1), f"{st}"
        assert ob.get(b).last_error.startswith("INVALID_ARGUMENT"), f"{ob.get(b)}"  # type: ignore[union-attr]
        assert ob.retry_failed() == 1 and ob.count(RecordState.PENDING) == 1


def test_budget_alarm_then_refusal_never_drops(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with Outbox(tmp_path / "o.sqlite", max_bytes=10**9) as ob:
        empty = ob.used_bytes()
        ob.enqueue(make_record(0))
        per_record = ob.used_bytes() - empty
    # A budget for about five records: the alarm fires before the refusal.
    limit = int(empty + per_record * 5.5)
    accepted = []
    with caplog.at_level(logging.WARNING, logger="edge_agent.outbox"):
        with Outbox(tmp_path / "o2.sqlite", max_bytes=limit) as ob:
            with pytest.raises(OutboxFullError) as info:
                for i in range(50):
                    rid = ob.enqueue(make_record(i)).record_id
                    accepted.append(rid)
            st = ob.status()
            kept = ob.count(RecordState.PENDING)
    assert "outbox is full" in str(info.value), f"{info.value}"
    assert 4 <= len(accepted) <= 6, f"{len(accepted)} accepted under a {limit}-byte budget"
    assert kept == len(accepted), f"{kept} kept of {len(accepted)} accepted"
    assert st.alarm and st.used_fraction >= 0.9, f"{st.used_fraction}"
    assert any("ALARM" in r.getMessage() for r in caplog.records), "no alarm logged"


def test_status_from_a_second_process_while_writing(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    code = (
        "import json,sys,time\n"
        "from edge_agent.outbox import Outbox\n"
        "seen=[]\n"
        "ob=Outbox(sys.argv[1])\n"
        "t=time.time()\n"
        "while time.time()-t<3:\n"
        "    seen.append(ob.status().pending)\n"
        "print(json.dumps(seen))\n"
    )
    with Outbox(path) as ob:
        ob.enqueue(make_record(0))
        proc = subprocess.Popen([sys.executable, "-c", code, str(path)],
                                stdout=subprocess.PIPE, cwd=ROOT)
        for i in range(1, 40):
            ob.enqueue(make_record(i))
        out, _ = proc.communicate(timeout=30)
    seen = json.loads(out)
    assert proc.returncode == 0 and seen, f"reader failed rc={proc.returncode}"
    assert seen == sorted(seen) and seen[-1] <= 40, f"non-monotonic reads {seen[:20]}"


def test_reports_and_cursor_are_stored_together(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.sqlite") as ob:
        assert ob.report_cursor("site-a") == 0
        rep = StoredReport("r1", 1, "rec-1", "site-a", 7, "2026-11-24T01:00:00+00:00",
                           "Dr Li", "Acute inferior STEMI", {"conclusion": "x"}, 1.0)
        assert ob.store_report(rep) is True
        assert ob.store_report(rep) is False, "replayed report stored twice"
        assert ob.store_report(replace(rep, version=2, cursor=9)) is True
        assert ob.report_cursor("site-a") == 9
        got = ob.list_reports(record_id="rec-1")
    assert [(r.version, r.cursor) for r in got] == [(2, 9), (1, 7)], f"{got}"
