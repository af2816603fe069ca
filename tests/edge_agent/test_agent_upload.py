"""Upload worker and report sync against a real gRPC central on loopback: order, restart,
duplicates, refusals, partition and drain, reports with a resumable cursor."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import grpc
import pytest
from ecgnet.v1 import common_pb2

from edge_agent.agent import ReportSync, UploadWorker
from edge_agent.config import EdgeConfig
from edge_agent.outbox import LinkState, Outbox, RecordState
from edge_agent.types import Priority
from edge_agent.uplink import Uplink
from tests.edge_agent._central import Central
from tests.edge_agent.test_outbox import make_record

PB_CRITICAL = common_pb2.PRIORITY_CRITICAL


@pytest.fixture
def central(tmp_path: Path) -> Iterator[Central]:
    c = Central(tmp_path / "central.sqlite").start()
    yield c
    c.stop()


def config_for(central: Central, tmp_path: Path, **kw: object) -> EdgeConfig:
    values: dict[str, object] = {
        "server": central.target, "insecure": True, "site_id": "site-a",
        "outbox": tmp_path / "outbox.sqlite", "rpc_timeout_s": 3.0,
        "backoff_initial_s": 0.05, "backoff_max_s": 0.5, "upload_batch": 4,
    }
    values.update(kw)
    return EdgeConfig(**values)  # type: ignore[arg-type]


def test_critical_records_reach_the_central_first(central: Central, tmp_path: Path) -> None:
    cfg = config_for(central, tmp_path)
    with Outbox(cfg.outbox) as ob, Uplink(central.target, insecure=True) as up:
        prios = [Priority.ROUTINE] * 6 + [Priority.CRITICAL] * 3 + [Priority.WARNING] * 2
        for i, p in enumerate(prios):
            ob.enqueue(make_record(i, p))
        worker = UploadWorker(ob, up, cfg)
        assert worker.drain(lambda: ob.count(RecordState.PENDING) == 0, timeout_s=30)
    got = [p for _, _, p in central.state.records()]
    want = [PB_CRITICAL] * 3 + [common_pb2.PRIORITY_WARNING] * 2 + [
        common_pb2.PRIORITY_ROUTINE] * 6
    assert got == want, f"central commit order {got}"


def test_restart_resumes_and_each_record_arrives_once(
    central: Central, tmp_path: Path
) -> None:
    cfg = config_for(central, tmp_path)
    with Outbox(cfg.outbox) as ob, Uplink(central.target, insecure=True) as up:
        ids = [ob.enqueue(make_record(i)).record_id for i in range(10)]
        with UploadWorker(ob, up, cfg) as first:  # one batch of 4, then the agent stops
            first.run_batch()
        assert ob.count(RecordState.SENT) == 4, f"{ob.status()}"
    # Restart: a new process (new outbox handle, new channel) finishes the job.
    with Outbox(cfg.outbox) as ob, Uplink(central.target, insecure=True) as up:
        worker = UploadWorker(ob, up, cfg)
        assert worker.drain(lambda: ob.count(RecordState.PENDING) == 0, timeout_s=30)
        assert ob.count(RecordState.SENT) == 10
    at_central = [r[0] for r in central.state.records()]
    assert sorted(at_central) == sorted(ids), f"{len(at_central)} at the central"
    assert set(central.state.calls().values()) == {1}, f"{central.state.calls()}"


def test_lost_ack_is_resent_and_deduplicated_by_the_central(
    central: Central, tmp_path: Path
) -> None:
    cfg = config_for(central, tmp_path)
    with Outbox(cfg.outbox) as ob, Uplink(central.target, insecure=True) as up:
        rid = ob.enqueue(make_record(0)).record_id
        rec = ob.claim_due()[0]
        assert up.submit(rec).outcome.value == "acked"  # committed, but the ack is "lost"
        ob.release([rid])
        with UploadWorker(ob, up, cfg) as worker:
            worker.run_batch()
        assert ob.get(rid).state is RecordState.SENT  # type: ignore[union-attr]
    assert len(central.state.records()) == 1 and central.state.calls()[rid] == 2


def test_refused_record_fails_with_message_others_flow(
    central: Central, tmp_path: Path
) -> None:
    cfg = config_for(central, tmp_path)
    with Outbox(cfg.outbox) as ob, Uplink(central.target, insecure=True) as up:
        bad = ob.enqueue(make_record(0, Priority.CRITICAL)).record_id
        good = [ob.enqueue(make_record(i)).record_id for i in range(1, 4)]
        central.fail[bad] = grpc.StatusCode.INVALID_ARGUMENT
        worker = UploadWorker(ob, up, cfg)
        assert worker.drain(lambda: ob.count(RecordState.PENDING) == 0, timeout_s=30)
        failed = ob.get(bad)
        assert failed is not None and failed.state is RecordState.FAILED, f"{failed}"
        assert failed.attempts == 1, f"refusal retried {failed.attempts} times"
        assert "INVALID_ARGUMENT" in (failed.last_error or ""), f"{failed.last_error}"
    assert sorted(r[0] for r in central.state.records()) == sorted(good)


def test_internal_errors_retry_with_backoff_then_fail(
    central: Central, tmp_path: Path
) -> None:
    cfg = config_for(central, tmp_path, max_attempts_internal=3)
    with Outbox(cfg.outbox) as ob, Uplink(central.target, insecure=True) as up:
        rid = ob.enqueue(make_record(0)).record_id
        central.fail[rid] = grpc.StatusCode.INTERNAL
        worker = UploadWorker(ob, up, cfg)
        assert worker.drain(lambda: ob.count(RecordState.PENDING) == 0, timeout_s=30)
        rec = ob.get(rid)
    assert rec is not None and rec.state is RecordState.FAILED, f"{rec}"
    assert rec.attempts == 3, f"{rec.attempts} attempts"


def test_partition_piles_up_then_drains(tmp_path: Path) -> None:
    central = Central(tmp_path / "central.sqlite").start()
    port = central.port
    cfg = config_for(central, tmp_path)
    stop = threading.Event()
    with Outbox(cfg.outbox) as ob, Uplink(central.target, insecure=True, timeout_s=1) as up:
        worker = UploadWorker(ob, up, cfg)
        thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
        thread.start()
        try:
            ids = [ob.enqueue(make_record(i)).record_id for i in range(3)]
            _wait(lambda: ob.count(RecordState.SENT) == 3, 20, "first records")
            central.stop()  # partition
            ids += [ob.enqueue(make_record(i, Priority.CRITICAL if i % 4 == 0 else
                                           Priority.ROUTINE)).record_id
                    for i in range(3, 23)]
            _wait(lambda: ob.link().state is LinkState.DOWN, 20, "link down")
            time.sleep(1.0)
            st = ob.status()
            assert st.pending == 20 and st.sent == 3, f"during the partition: {st}"
            assert st.link.last_error and "UNAVAILABLE" in st.link.last_error, f"{st.link}"
            central = Central(tmp_path / "central.sqlite", port=port).start()  # back
            t0 = time.monotonic()
            _wait(lambda: ob.count(RecordState.SENT) == 23, 30, "drain after the partition")
            drain_s = time.monotonic() - t0
            assert ob.link().state is LinkState.UP
        finally:
            stop.set()
            thread.join(5)
            central.stop()
    assert sorted(r[0] for r in central.state.records()) == sorted(ids)
    assert drain_s < 10, f"drain took {drain_s:.1f} s after the central came back"


def _wait(cond: object, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _report(record_id: str, version: int, site: str = "site-a") -> common_pb2.Report:
    rep = common_pb2.Report(report_id=f"rep-{record_id}", record_id=record_id, site_id=site,
                            version=version, conclusion=f"conclusion v{version}",
                            signed_by="u1", signer_name="Dr Wang")
    rep.signed_at.GetCurrentTime()
    rep.findings.add(code="STEMI", label_en="Acute STEMI", label_zh="急性ST段抬高型心梗")
    return rep


def test_reports_flow_back_and_resume_from_the_cursor(
    central: Central, tmp_path: Path
) -> None:
    cfg = config_for(central, tmp_path)
    central.state.add_report(_report("r1", 1))
    central.state.add_report(_report("x9", 1, site="site-b"))
    central.state.add_report(_report("r2", 1))
    with Outbox(cfg.outbox) as ob, Uplink(central.target, insecure=True) as up:
        sync = ReportSync(ob, up, cfg)
        assert sync.sync_once(stream_s=0.5) == 2
        assert sync.sync_once(stream_s=0.5) == 0, "reports repeated after resuming"
        central.state.add_report(_report("r1", 2))
        assert sync.sync_once(stream_s=0.5) == 1
        got = ob.list_reports()
        cursor = ob.report_cursor("site-a")
    assert [(r.record_id, r.version) for r in got] == [("r1", 2), ("r2", 1), ("r1", 1)]
    assert cursor == 4 and got[0].signed_by == "Dr Wang", f"cursor {cursor}, {got[0]}"
    assert got[0].payload["findings"][0]["label_zh"] == "急性ST段抬高型心梗"


def test_config_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match="HOST:PORT"):
        EdgeConfig(server="nohostport")
    cfg = EdgeConfig()
    assert replace(cfg, site_id="x").site_id == "x"


def test_known_content_is_not_analysed_again(tmp_path: Path) -> None:
    from edge_agent.agent import AnalysisSummary, accept_record, core_analyzer
    from edge_agent.io import EcgRecord
    from tests.edge_agent._records import base_record

    real = core_analyzer(use_model=False)
    calls: list[str] = []

    def counting(rec: EcgRecord) -> AnalysisSummary:
        calls.append(rec.source)
        return real(rec)

    rec = base_record()
    with Outbox(tmp_path / "o.sqlite") as ob:
        first = accept_record(rec, ob, counting, site_id="s", device_id="d")
        second = accept_record(rec, ob, counting, site_id="s", device_id="d")
        stored = ob.get(first.record_id)
    assert not first.duplicate and second.duplicate, f"{first} {second}"
    assert second.record_id == first.record_id and len(calls) == 1, f"{calls}"
    assert stored is not None and stored.priority is first.priority, f"{stored}"
    assert json.loads(stored.analysis_json)["triage"]["priority"] == first.priority.value


def test_one_uploader_per_outbox_and_leases_of_the_dead_are_cleared(
    central: Central, tmp_path: Path
) -> None:
    cfg = config_for(central, tmp_path, upload_lease_s=600.0)
    with Outbox(cfg.outbox) as ob, Uplink(central.target, insecure=True) as up:
        ids = [ob.enqueue(make_record(i)).record_id for i in range(3)]
        leased = ob.claim_due(lease_s=600.0)  # a worker that then died holding leases
        assert len(leased) == 3 and ob.claim_due() == [], "leases not taken"
        with UploadWorker(ob, up, cfg) as first:
            with UploadWorker(ob, up, cfg) as second:
                res = first.run_batch()
                assert sorted(res.acked) == sorted(ids), f"leases not cleared: {res}"
                ob.enqueue(make_record(9))
                blocked = second.run_batch()
                assert blocked.locked_out and not blocked.acked, f"{blocked}"
        with UploadWorker(ob, up, cfg) as third:  # the lock was released
            assert len(third.run_batch().acked) == 1
