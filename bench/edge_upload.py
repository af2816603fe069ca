"""Benchmark and evidence for the edge agent's outbox and uplink.

Run: ``OMP_NUM_THREADS=1 .venv/bin/python -m bench.edge_upload [--records 100]
[--crash-rounds 100]`` (writes ``bench/results/edge_upload.json``).

1. Outbox write latency: :meth:`Outbox.enqueue` of a real 12-lead 10 s record (int16 +
   zlib, about 50 kB) with ``synchronous=FULL`` on this disk, p50/p99 over N writes,
   against the floors in the same run: a bare ``sqlite3`` INSERT of the same blob in WAL
   with ``synchronous=FULL`` / ``NORMAL``, and ``write()+fsync()`` of the blob to a file.
2. Upload only: records already in the outbox, drained by one :class:`UploadWorker` into
   the real central (``ecg-central serve``, SQLite, loopback): acknowledged records/s.
3. Folder to acknowledged upload: ``ecg-edge submit FOLDER --wait`` as a real process
   (read, analyse, encode, queue, upload): records/s end to end, process start included,
   and the same for the in-process analysis alone (what bounds it).
4. Crash loop: ``kill -9`` of ``ecg-edge submit --wait`` while queueing and while
   uploading, N rounds, then every accepted record at the central exactly once.

The machine has 2 cores shared with other jobs: numbers are medians where repeated and
noisy; one thread for numpy (OMP_NUM_THREADS=1).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from edge_agent.agent import UploadWorker, core_analyzer
from edge_agent.config import EdgeConfig
from edge_agent.outbox import Outbox, RecordState
from edge_agent.uplink import Uplink
from tests.edge_agent._crash import edge_cmd, run_crash_loop
from tests.edge_agent._procs import ROOT, CentralProcess, StubCentralProcess
from tests.edge_agent._records import base_record, write_records
from tests.edge_agent.test_outbox import make_record

OUT = ROOT / "bench" / "results" / "edge_upload.json"


def _pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs) * 1e3, q))


def bench_outbox_writes(tmp: Path, n: int) -> dict[str, Any]:
    """Per-write latency of enqueue vs bare sqlite and fsync floors (ms)."""
    recs = [make_record(i) for i in range(n)]
    blob = recs[0].samples
    lat: dict[str, list[float]] = {"outbox_enqueue_full": [], "sqlite_insert_full": [],
                                   "sqlite_insert_normal": [], "file_write_fsync": []}
    # Interleaved (one write of each kind per step) so that the load of other jobs on this
    # shared machine hits every method alike.
    bare = {}
    for mode in ("full", "normal"):
        db = sqlite3.connect(str(tmp / f"bare-{mode}.sqlite"), isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={mode.upper()}")
        db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, b BLOB)")
        bare[mode] = db
    fd = os.open(tmp / "raw.bin", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    with Outbox(tmp / "bench-outbox.sqlite", max_bytes=10**10) as ob:
        for rec in recs:
            t = time.perf_counter()
            ob.enqueue(rec)
            lat["outbox_enqueue_full"].append(time.perf_counter() - t)
            for mode, db in bare.items():
                t = time.perf_counter()
                db.execute("INSERT INTO t (b) VALUES (?)", (blob,))
                lat[f"sqlite_insert_{mode}"].append(time.perf_counter() - t)
            t = time.perf_counter()
            os.write(fd, blob)
            os.fsync(fd)
            lat["file_write_fsync"].append(time.perf_counter() - t)
    os.close(fd)
    for db in bare.values():
        db.close()
    out: dict[str, Any] = {"writes": n, "record_bytes": len(blob)}
    for k, xs in lat.items():
        out[k] = {"p50_ms": round(_pct(xs, 50), 3), "p99_ms": round(_pct(xs, 99), 3)}
    base = out["sqlite_insert_full"]["p50_ms"]
    out["ratio_p50_enqueue_vs_bare_sqlite_full"] = round(
        out["outbox_enqueue_full"]["p50_ms"] / base, 2) if base else None
    return out


def bench_upload_only(tmp: Path, central: CentralProcess, n: int) -> dict[str, Any]:
    """Drain n pre-queued records into the real central; acked records/s."""
    cfg = EdgeConfig(server=central.target, insecure=True, site_id="bench-upload",
                     outbox=tmp / "upload.sqlite", upload_batch=32)
    runs = []
    for rep in range(3):
        path = tmp / f"upload-{rep}.sqlite"
        with Outbox(path, max_bytes=10**10) as ob, Uplink(cfg.server, insecure=True) as up:
            for i in range(n):
                ob.enqueue(make_record(10_000 * (rep + 1) + i, site_id="bench-upload",
                                       content_hash=f"u{rep}-{i}"))
            worker = UploadWorker(ob, up, cfg)
            t = time.perf_counter()
            ok = worker.drain(lambda ob=ob: ob.count(RecordState.SENT) == n, timeout_s=600)
            runs.append(time.perf_counter() - t)
            worker.close()
            assert ok, "upload drain timed out"
    med = statistics.median(runs)
    return {"records": n, "seconds_runs": [round(x, 2) for x in runs],
            "records_per_s_median": round(n / med, 1), "batch": cfg.upload_batch}


def bench_folder_to_ack(tmp: Path, central: CentralProcess, n: int) -> dict[str, Any]:
    """``ecg-edge submit FOLDER --wait`` end to end, plus in-process analysis alone."""
    folder = tmp / "export"
    write_records(folder, n, prefix="bench", start=500)
    outbox = tmp / "folder.sqlite"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    t = time.perf_counter()
    res = subprocess.run(
        edge_cmd("submit", str(folder), "--wait", "--timeout", "900", "--server",
                 central.target, "--outbox", str(outbox), "--site", "bench-folder",
                 "--insecure"),
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=1800,
    )
    wall = time.perf_counter() - t
    queued = sum(1 for ln in res.stdout.splitlines() if ln.startswith("queued "))
    analyzer = core_analyzer(use_model=True)
    rec = base_record()
    times = []
    for _ in range(5):
        t = time.perf_counter()
        analyzer(rec)
        times.append(time.perf_counter() - t)
    t = time.perf_counter()
    subprocess.run(edge_cmd("--help"), capture_output=True, cwd=ROOT, env=env, check=True)
    start_s = time.perf_counter() - t
    return {
        "records": n, "queued": queued, "rc": res.returncode, "wall_s": round(wall, 2),
        "records_per_s": round(n / wall, 2),
        "analysis_s_per_record_median": round(statistics.median(times), 3),
        "process_start_s": round(start_s, 2),
        "stderr_tail": res.stderr[-400:] if res.returncode else "",
    }


def lost_ack_loop(tmp: Path, rounds: int) -> dict[str, Any]:
    """Kill -9 during uploads against a central that waits 0.3 s between its commit and
    its ack (the stub Ingest server): acks get lost, records are re-sent, the central's
    idempotency on the record id must keep them single."""
    files = write_records(tmp / "lost-export", 4 * rounds + 4, prefix="lost", start=900)
    (tmp / "lost-central").mkdir()
    stub = StubCentralProcess(tmp / "lost-central", ack_delay_s=0.3).start()
    try:
        rep = run_crash_loop(files=files, outbox=tmp / "lost.sqlite", server=stub.target,
                             central_ids=stub.record_ids, rounds=rounds, per_round=4,
                             seed=7, upload_phase_only=True)
        ids = stub.record_ids()
    finally:
        stub.stop()
    summary = rep.to_dict()
    summary["central"] = "tests.edge_agent._central (ack delayed 0.3 s after commit)"
    summary["central_duplicates"] = len(ids) - len(set(ids))
    summary["exactly_once"] = (rep.final_rc == 0 and not (rep.accepted_ids - set(ids))
                               and len(ids) == len(set(ids)) == len(files))
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=100)
    parser.add_argument("--writes", type=int, default=300)
    parser.add_argument("--crash-rounds", type=int, default=100)
    parser.add_argument("--lost-ack-rounds", type=int, default=30)
    args = parser.parse_args()
    # Sections not re-run (e.g. --crash-rounds 0) keep their previous results.
    results: dict[str, Any] = json.loads(OUT.read_text()) if OUT.is_file() else {}
    results["machine"] = {"python": platform.python_version(), "cpus": os.cpu_count(),
                          "load_avg_at_start": os.getloadavg()[0],
                          "note": "2 cores shared with other jobs; OMP_NUM_THREADS=1"}
    with tempfile.TemporaryDirectory() as d:  # /tmp is on the same disk as the repo
        tmp = Path(d)
        results["outbox_write_latency"] = bench_outbox_writes(tmp, args.writes)
        print_table("outbox write latency (ms)", results["outbox_write_latency"])
        (tmp / "central").mkdir()
        central = CentralProcess(tmp / "central").start()
        try:
            results["upload_only"] = bench_upload_only(tmp, central, args.records)
            print(f"upload only: {results['upload_only']}")
            results["folder_to_ack"] = bench_folder_to_ack(tmp, central, args.records)
            print(f"folder -> ack: {results['folder_to_ack']}")
        finally:
            central.stop()
        if args.crash_rounds:
            files = write_records(tmp / "crash-export", 4 * args.crash_rounds + 4,
                                  prefix="crash")
            (tmp / "crash-central").mkdir()
            cc = CentralProcess(tmp / "crash-central").start()
            try:
                rep = run_crash_loop(files=files, outbox=tmp / "crash.sqlite",
                                     server=cc.target, central_ids=cc.record_ids,
                                     rounds=args.crash_rounds, per_round=4, seed=2026)
                ids = cc.record_ids()
            finally:
                cc.stop()
            summary = rep.to_dict()
            summary["central_duplicates"] = len(ids) - len(set(ids))
            summary["exactly_once"] = (
                rep.final_rc == 0 and not (rep.accepted_ids - set(ids))
                and len(ids) == len(set(ids)) == len(files)
            )
            results["crash_loop"] = summary
            print(f"crash loop: {summary}")
        if args.lost_ack_rounds:
            results["crash_loop_lost_ack"] = lost_ack_loop(tmp, args.lost_ack_rounds)
            print(f"lost-ack loop: {results['crash_loop_lost_ack']}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {OUT}")
    return 0


def print_table(title: str, res: dict[str, Any]) -> None:
    """A small aligned table of the latency rows."""
    print(title)
    for k, v in res.items():
        if isinstance(v, dict):
            print(f"  {k:<24} p50 {v['p50_ms']:8.3f}  p99 {v['p99_ms']:8.3f}")
    ratio = res["ratio_p50_enqueue_vs_bare_sqlite_full"]
    print(f"  enqueue / bare sqlite FULL (p50): {ratio}")


if __name__ == "__main__":
    raise SystemExit(main())
