"""``ecg-edge submit/status/watch/reports`` as real processes against the real central
reader (``ecg-central serve`` on loopback): submit, restart, duplicates, priority order,
partition, reports flowing back."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest
from ecgnet.v1 import reading_pb2, reading_pb2_grpc

from edge_agent.agent import UploadWorker
from edge_agent.config import EdgeConfig
from edge_agent.outbox import Outbox, RecordState
from edge_agent.types import Priority
from edge_agent.uplink import Uplink
from tests.edge_agent._crash import edge_cmd
from tests.edge_agent._procs import ROOT, CentralProcess, needs_analysis
from tests.edge_agent._records import write_records
from tests.edge_agent.test_outbox import make_record

SITE = "site-cli"


@pytest.fixture(scope="module")
def central(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CentralProcess]:
    c = CentralProcess(tmp_path_factory.mktemp("central")).start()
    yield c
    c.stop()


def edge(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(edge_cmd(*args), capture_output=True, text=True, cwd=ROOT,
                          timeout=timeout)


def link_args(
    target: str, outbox: Path, site: str = SITE, *, model: bool = False
) -> tuple[str, ...]:
    args = ("--server", target, "--outbox", str(outbox), "--site", site, "--insecure")
    return args if model else (*args, "--no-model")


def receipts(out: str, kind: str) -> list[str]:
    return [ln.split()[1] for ln in out.splitlines() if ln.startswith(kind + " ")]


@needs_analysis
def test_submit_wait_then_duplicates_then_status(
    central: CentralProcess, tmp_path: Path
) -> None:
    files = write_records(tmp_path / "export", 5)
    bad = tmp_path / "export" / "broken.hea"
    bad.write_text("broken 12 500 5000\nnot a signal line\n")
    outbox = tmp_path / "outbox.sqlite"
    first = edge("submit", str(tmp_path / "export"), "--wait", "--timeout", "60",
                 *link_args(central.target, outbox))
    # The broken file is named and refused (exit 2); the good ones are queued and sent.
    assert first.returncode == 2, f"rc={first.returncode} {first.stderr[-2000:]}"
    assert "broken.hea" in first.stderr, first.stderr[-2000:]
    ids = receipts(first.stdout, "queued")
    assert len(ids) == len(files) == len(set(ids)), f"{first.stdout}"
    at_central = central.record_ids()
    missing = set(ids) - set(at_central)
    assert not missing, f"missing at the central: {missing}"
    # The same files again (the operator pressed "send" twice): nothing new anywhere.
    again = edge("submit", *map(str, files), "--wait", "--timeout", "60",
                 *link_args(central.target, outbox))
    assert again.returncode == 0, f"{again.stderr[-2000:]}"
    assert sorted(receipts(again.stdout, "duplicate")) == sorted(ids), f"{again.stdout}"
    assert len(central.record_ids()) == len(at_central), "duplicate reached the central"
    status = edge("status", "--outbox", str(outbox), "--json")
    doc = json.loads(status.stdout)
    assert (doc["pending"], doc["sent"], doc["failed"]) == (0, 5, 0), f"{doc}"
    assert doc["link"]["state"] == "up" and doc["disk"]["alarm"] is False, f"{doc}"
    human = edge("status", "--outbox", str(outbox))
    assert "sent     5" in human.stdout and "link     up" in human.stdout, human.stdout


@needs_analysis
def test_wait_times_out_while_central_is_down_then_drains(tmp_path: Path) -> None:
    files = write_records(tmp_path / "export", 3, prefix="part")
    outbox = tmp_path / "outbox.sqlite"
    central = CentralProcess(tmp_path / "central")  # not started: the link is down
    (tmp_path / "central").mkdir()
    t0 = time.monotonic()
    down = edge("submit", *map(str, files), "--wait", "--timeout", "3",
                *link_args(central.target, outbox))
    took = time.monotonic() - t0
    assert down.returncode == 4, f"rc={down.returncode} {down.stderr[-1500:]}"
    assert "timed out" in down.stderr and "UNAVAILABLE" in down.stderr, down.stderr[-1500:]
    queued = receipts(down.stdout, "queued")
    assert len(queued) == 3 and took < 60, f"{down.stdout} in {took:.1f} s"
    st = json.loads(edge("status", "--outbox", str(outbox), "--json").stdout)
    assert st["pending"] == 3 and st["link"]["state"] == "down", f"{st}"
    central.start()
    try:
        back = edge("submit", *map(str, files), "--wait", "--timeout", "60",
                    *link_args(central.target, outbox))
        assert back.returncode == 0, f"{back.stderr[-1500:]}"
        assert sorted(central.record_ids()) == sorted(queued)
    finally:
        central.stop()


def test_critical_first_at_the_real_central(
    central: CentralProcess, tmp_path: Path
) -> None:
    cfg = EdgeConfig(server=central.target, insecure=True, site_id="site-order",
                     outbox=tmp_path / "o.sqlite", upload_batch=4)
    prios = [Priority.ROUTINE] * 5 + [Priority.CRITICAL] * 2 + [Priority.WARNING]
    with Outbox(cfg.outbox) as ob, Uplink(cfg.server, insecure=True) as up:
        ids = {ob.enqueue(make_record(100 + i, p, site_id="site-order")).record_id: p
               for i, p in enumerate(prios)}
        with UploadWorker(ob, up, cfg) as worker:
            assert worker.drain(lambda: ob.count(RecordState.SENT) == len(prios),
                                timeout_s=60)
    mine = [r for r in central.queue() if r["record_id"] in ids]
    mine.sort(key=lambda r: str(r["received_at"]))
    arrival = [ids[str(r["record_id"])] for r in mine]
    assert arrival[:3] == [Priority.CRITICAL] * 2 + [Priority.WARNING], f"{arrival}"
    assert len(mine) == len(prios), f"{len(mine)} at the central"


def _sign(central: CentralProcess, record_id: str, conclusion: str) -> None:
    """A county cardiologist claims and signs the record (real Reading API)."""
    tokens = json.loads((central.workdir / "dev-tokens.json").read_text())
    meta = (("authorization", f"Bearer {tokens['cardiologist']}"),)
    with grpc.insecure_channel(central.target) as ch:
        reading = reading_pb2_grpc.ReadingStub(ch)
        reading.Claim(reading_pb2.ClaimRequest(record_id=record_id), metadata=meta,
                      timeout=10)
        reading.SignReport(reading_pb2.SignReportRequest(
            record_id=record_id, conclusion=conclusion), metadata=meta, timeout=10)


def _wait_for(cond: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


@needs_analysis
def test_watch_daemon_queues_uploads_gets_reports_and_stops_cleanly(
    central: CentralProcess, tmp_path: Path
) -> None:
    export = tmp_path / "export"
    export.mkdir()
    outbox = tmp_path / "outbox.sqlite"
    site = "site-watch"
    args = ("watch", str(export), *link_args(central.target, outbox, site=site),
            "--interval", "0.2", "--settle", "0.3")
    proc = subprocess.Popen(edge_cmd(*args), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        files = write_records(export, 3, prefix="w")  # the cart exports while we watch
        ids: list[str] = []

        def uploaded() -> bool:
            with Outbox(outbox) as ob:
                recs = ob.list_records(RecordState.SENT)
            ids[:] = [r.record_id for r in recs]
            return len(ids) == len(files)

        _wait_for(uploaded, 90, "the watched files to be uploaded")
        queued_at_central = set(central.record_ids())  # before signing takes one out
        _sign(central, ids[0], "Sinus rhythm, no acute change")

        def report_in() -> bool:
            with Outbox(outbox) as ob:
                return bool(ob.list_reports())

        _wait_for(report_in, 60, "the signed report to flow back")
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        out, err = proc.communicate(timeout=30)
    assert rc == 0, f"watch exited {rc} on SIGTERM: {err[-1500:]}"
    assert sorted(receipts(out, "queued")) == sorted(ids), out
    assert set(ids) <= queued_at_central, f"{set(ids) - queued_at_central} not at central"
    listed = edge("reports", "--json", "--outbox", str(outbox), "--site", site)
    reps = json.loads(listed.stdout)
    assert [r["record_id"] for r in reps] == [ids[0]], f"{reps}"
    assert reps[0]["conclusion"] == "Sinus rhythm, no acute change", f"{reps[0]}"
    # A restarted watcher neither takes the same files in again nor repeats the report.
    again = edge(*args, "--exit-when-idle")
    assert again.returncode == 0 and receipts(again.stdout, "queued") == [], again.stdout
    with Outbox(outbox) as ob:
        assert len(ob.list_reports()) == 1, "report stored twice after a restart"


@needs_analysis
def test_reports_command_syncs_on_demand(central: CentralProcess, tmp_path: Path) -> None:
    files = write_records(tmp_path / "export", 1, prefix="rep", start=40)
    outbox = tmp_path / "outbox.sqlite"
    sub = edge("submit", *map(str, files), "--wait", "--timeout", "60",
               *link_args(central.target, outbox, site="site-rep"))
    rid = receipts(sub.stdout, "queued")[0]
    _sign(central, rid, "Old inferior MI")
    res = edge("reports", "--sync", "2",
               *link_args(central.target, outbox, site="site-rep", model=True))
    assert res.returncode == 0, res.stderr[-1500:]
    assert rid in res.stdout and "Old inferior MI" in res.stdout, res.stdout
    # An amendment with a description: the township reads the text and why it changed.
    tokens = json.loads((central.workdir / "dev-tokens.json").read_text())
    meta = (("authorization", f"Bearer {tokens['cardiologist']}"),)
    with grpc.insecure_channel(central.target) as ch:
        reading_pb2_grpc.ReadingStub(ch).AmendReport(
            reading_pb2.AmendReportRequest(
                record_id=rid, base_version=1, conclusion="Old inferior MI; sinus rhythm",
                free_text="QRS corrected 96 -> 104 ms\nQ waves II, III, aVF",
                reason="rhythm statement missing"),
            metadata=meta, timeout=10)
    res = edge("reports", "--sync", "2", "--record", rid,
               *link_args(central.target, outbox, site="site-rep", model=True))
    assert res.returncode == 0, res.stderr[-1500:]
    out = res.stdout
    assert "v2" in out and "amended: rhythm statement missing" in out, out
    assert "| QRS corrected 96 -> 104 ms" in out and "| Q waves II, III, aVF" in out, out


@needs_analysis
def test_receipt_names_each_finding_code_once(
    central: CentralProcess, tmp_path: Path
) -> None:
    # MIT-BIH 119 (ventricular bigeminy): the PVC rule and the CNN both report PVC; the
    # analysis keeps both findings (each says its source), the operator's receipt one code.
    src = ROOT / "sample_records"
    export = tmp_path / "export"
    export.mkdir()
    for f in src.glob("mitdb119_60s.*"):
        (export / f.name).write_bytes(f.read_bytes())
    out = edge("submit", str(export / "mitdb119_60s.hea"),
               *link_args(central.target, tmp_path / "ob.sqlite", model=True))
    assert out.returncode == 0, f"rc={out.returncode} {out.stderr[-1500:]}"
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("queued "))
    codes = line.split()[-1].split(",")
    assert codes.count("PVC") == 1 and len(codes) == len(set(codes)), line
    ob = Outbox(tmp_path / "ob.sqlite")
    try:
        (rec,) = ob.list_records()
        sources = [f["source"] for f in rec.findings if f["code"] == "PVC"]
    finally:
        ob.close()
    assert len(sources) == 2 and any(s.startswith("model:") for s in sources), sources
