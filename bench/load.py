"""Load harness: a county of carts against one central, with readers and a hospital desk.

Run: ``OMP_NUM_THREADS=1 .venv/bin/python -m bench.load [--carts 420] [--rate 5]
[--seconds 120] [--procs 2] [--readers 2] [--backends sqlite,postgres]`` (writes
``bench/results/load.json``; with ``CI=true``: 30 carts, 8 s, SQLite only unless asked).

What runs (all real code, real processes, loopback):

- the central: ``ecg-central serve --dev --insecure`` in its own process (SQLite file, or a
  fresh schema on the local PostgreSQL), with the chest-pain alert service (dev route);
- ``--carts`` simulated carts, each with its OWN outbox (a real :class:`Outbox` SQLite
  file, WAL, ``synchronous=FULL``), its own device user bound to its own site and its own
  bearer token, and its own :class:`Uplink` + :class:`UploadWorker` (the agent's upload
  path, unchanged). 420 OS processes do not fit 2 cores, so the carts are in-process
  objects spread over ``--procs`` worker processes, one thread per cart;
- arrivals: a Poisson stream of ``--rate`` records/s over the whole county, each to a
  random cart, drawn from real records in ``../shared/data`` (PTB-XL 500 Hz, LUDB, and
  PTB-DB records that the rules triage critical STEMI, at ``--stemi-fraction``). The edge
  analysis (rules only) runs once per source record at start-up, not per arrival: this
  measures the network and the central, not the cart's CPU;
- ``--readers`` cardiologists (threads, own users/tokens) claim the most urgent record,
  fetch it with its waveform and sign a report, over gRPC ``Reading``;
- a hospital desk subscribes to ``Alerts`` for the dev chest-pain centre and acknowledges
  every alert it receives.

Two more parts (``--parts``):

- ``saturation``: per backend, short steps at rising offered rates (``--saturate``); it
  stops once p99 ingest exceeds 50 ms or the acknowledged rate stops rising (< 5 % over
  the best so far); the knee is the highest rate with p99 <= 50 ms that still rose;
- ``two_instances``: two ``ecg-central serve`` processes on one PostgreSQL schema, the
  cart processes split between them (readers too), aggregate throughput and p99, and the
  exactly-once check over both.

Reported per backend: records/s acknowledged, ingest latency (enqueue in the cart's
outbox -> central ack seen by the cart, p50/p99), alert latency (cart ack -> hospital
receives the alert, p50/p99, delivered/expected), queue depth over time (``/metrics``),
records signed, and the central process's CPU (cores used) and RSS from /proc. After the
drain: every acknowledged record id present exactly once at the central.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pickle
import platform
import queue
import random
import re
import secrets
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from tests._ready import wait_ready

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "load.json"
DATA = Path(os.environ.get("ECG_SHARED_DATA", ROOT.parent / "shared" / "data"))
PG_URL = os.environ.get("ECG_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
STEMI_RECORDS = ("patient222_s0444_re", "patient208_s0430_re", "patient227_s0450_re")
CLK = os.sysconf("SC_CLK_TCK")


# -- source records ----------------------------------------------------------------------


def load_templates(n_normal: int, out: Path) -> dict[str, int]:
    """Analyse real records once; pickle (NewRecord, is_stemi) templates to ``out``."""
    from ecgnet.codec import encode_waveform

    from edge_agent.agent import core_analyzer
    from edge_agent.io import read_record
    from edge_agent.outbox import NewRecord

    analyzer = core_analyzer(use_model=False)
    paths = sorted((DATA / "ptbxl_subset" / "records500").glob("*/*_hr.hea"))[: n_normal]
    paths += sorted((DATA / "ludb" / "data").glob("*.hea"))[: max(2, n_normal // 3)]
    paths += [DATA / "ptbdb_10s" / f"{s}.hea" for s in STEMI_RECORDS]
    templates: list[tuple[Any, bool]] = []
    for p in paths:
        rec = read_record(p)
        s = analyzer(rec)
        wf = encode_waveform(rec.signal, rec.fs, rec.leads, level=1)
        stemi = any(f.get("code") == "STEMI" for f in s.findings)
        templates.append((NewRecord(
            site_id="", device_id="", fs_hz=wf.fs_hz, leads=tuple(wf.leads),
            n_samples=wf.n_samples, gain=wf.gain_counts_per_mv, samples=bytes(wf.samples),
            compressed=wf.compressed, priority=s.priority, findings=s.findings,
            analysis_json=s.analysis_json, content_hash="", source=p.name,
            patient_id=rec.patient_id, age_years=rec.age_years, sex=rec.sex,
        ), stemi))
    out.write_bytes(pickle.dumps(templates))
    return {"records": len(templates), "stemi": sum(1 for _, x in templates if x)}


# -- cart worker process -----------------------------------------------------------------


def cart_worker(spec_path: Path) -> None:
    """One process of carts: arrivals, per-cart outbox + uplink + upload worker."""
    from edge_agent.agent import UploadWorker
    from edge_agent.config import EdgeConfig
    from edge_agent.outbox import Outbox
    from edge_agent.uplink import Uplink

    spec = json.loads(spec_path.read_text())
    templates: list[tuple[Any, bool]] = pickle.loads(Path(spec["templates"]).read_bytes())
    stemi_t = [t for t, s in templates if s]
    other_t = [t for t, s in templates if not s]
    rng = random.Random(spec["seed"])
    carts = spec["carts"]
    inbox: list[queue.Queue[Any]] = [queue.Queue() for _ in carts]
    wake = [threading.Event() for _ in carts]
    results: list[dict[str, Any]] = []
    lock = threading.Lock()
    stop_arrivals = threading.Event()
    stop = threading.Event()

    def run_cart(i: int) -> None:
        c = carts[i]
        cfg = EdgeConfig(server=spec["server"], site_id=c["site"], device_id=c["device"],
                         outbox=Path(c["outbox"]), insecure=True, token=c["token"],
                         backoff_initial_s=0.2, backoff_max_s=5.0)
        outbox = Outbox(cfg.outbox)
        uplink = Uplink(cfg.server, insecure=True, token=cfg.token, timeout_s=10.0)
        worker = UploadWorker(outbox, uplink, cfg)
        t_enq: dict[str, tuple[float, float, bool]] = {}
        try:
            while not stop.is_set():
                wake[i].wait(0.5)
                wake[i].clear()
                while not inbox[i].empty():
                    rec, stemi, t0 = inbox[i].get_nowait()
                    rid = outbox.enqueue(rec).record_id
                    t_enq[rid] = (t0, time.time(), stemi)
                while True:
                    res = worker.run_batch()
                    now = time.time()
                    if res.acked:
                        with lock:
                            for rid in res.acked:
                                t0, t1, stemi = t_enq.pop(rid)
                                results.append({"record_id": rid, "site": c["site"],
                                                "stemi": stemi, "t_enqueue": t0,
                                                "t_durable": t1, "t_ack": now})
                    if res.idle or res.link_down:
                        if res.link_down:
                            stop.wait(worker.link_backoff_s())
                        break
                if stop_arrivals.is_set() and not t_enq and inbox[i].empty():
                    with lock:
                        spec_done.add(i)
        finally:
            uplink.close()
            outbox.close()

    spec_done: set[int] = set()
    threads = [threading.Thread(target=run_cart, args=(i,), daemon=True)
               for i in range(len(carts))]
    for t in threads:
        t.start()
    t_end = spec["t_start"] + spec["seconds"]
    while time.time() < spec["t_start"]:
        time.sleep(0.01)
    rate = spec["rate"]
    next_t = time.time()
    while next_t < t_end:
        next_t += rng.expovariate(rate)
        delay = next_t - time.time()
        if delay > 0:
            time.sleep(delay)
        i = rng.randrange(len(carts))
        is_stemi = rng.random() < spec["stemi_fraction"]
        tpl = rng.choice(stemi_t if is_stemi else other_t)
        rec = dataclasses.replace(
            tpl, site_id=carts[i]["site"], device_id=carts[i]["device"],
            content_hash=uuid.uuid4().hex, acquired_at=datetime.now(UTC),
            patient_id=f"p-{rng.randrange(10**6):06d}",
        )
        inbox[i].put((rec, is_stemi, time.time()))
        wake[i].set()
    stop_arrivals.set()
    for w in wake:
        w.set()
    deadline = time.time() + spec["drain_s"]
    while time.time() < deadline:
        with lock:
            if len(spec_done) == len(carts):
                break
        for w in wake:
            w.set()
        time.sleep(0.3)
    stop.set()
    for t in threads:
        t.join(15)
    with lock:
        Path(spec["out"]).write_text(json.dumps({"results": results,
                                                 "carts_drained": len(spec_done)}))


# -- central-side actors -----------------------------------------------------------------


class Central:
    """``ecg-central serve`` as a process; its /proc CPU and RSS."""

    def __init__(self, db: str, workdir: Path) -> None:
        from tests.edge_agent._procs import free_port

        self.db = db
        self.listen = f"127.0.0.1:{free_port()}"
        self.http = f"127.0.0.1:{free_port()}"
        self.tokens_file = workdir / "dev-tokens.json"
        self.log: list[str] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "central_reader", "serve", "--db", db, "--listen",
             self.listen, "--http", self.http, "--insecure", "--dev", "--dev-tokens",
             str(self.tokens_file), "--grace", "2", "--alert-poll-s", "0.5"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
        )
        self._pump = wait_ready(self.proc, self.log, 120.0)
        self.tokens = json.loads(self.tokens_file.read_text())

    def cpu_s(self) -> float:
        f = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / CLK

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def ingest_histogram(self) -> dict[float, float]:
        """Cumulative ``ecg_ingest_latency_seconds`` buckets (server-side, per call)."""
        text = urllib.request.urlopen(f"http://{self.http}/metrics", timeout=5).read()
        out = {}
        for m in re.finditer(r'^ecg_ingest_latency_seconds_bucket\{le="([^"]+)"\} (\S+)$',
                             text.decode(), re.M):
            out[float(m.group(1))] = float(m.group(2))
        return out

    def queue_depth(self) -> dict[str, float]:
        text = urllib.request.urlopen(f"http://{self.http}/metrics", timeout=5).read()
        return {m.group(1): float(m.group(2)) for m in re.finditer(
            r'^ecg_queue_depth\{priority="(\w+)"\} (\S+)$', text.decode(), re.M)}

    def stop(self) -> int:
        self.proc.terminate()
        try:
            rc = self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self._pump.join(5)
        if self.proc.stderr is not None:
            self.proc.stderr.close()
        return rc


def provision(db: str, n_carts: int, n_readers: int, workdir: Path) -> tuple[
        list[dict[str, str]], list[str]]:
    """Sites, device users (one per cart, bound to its site) and reader users + tokens."""
    from central_reader.cli import DEV_COUNTY
    from central_reader.service import ReadingService
    from central_reader.store import open_store
    from central_reader.types import Role

    store = open_store(db)
    try:
        service = ReadingService(store)
        carts = []
        for i in range(n_carts):
            site, device = f"site-{i:03d}", f"cart-{i:03d}"
            store.add_site(site, DEV_COUNTY, site)
            service.create_user(device, role=Role.DEVICE, name=device,
                                county_id=DEV_COUNTY, site_id=site)
            carts.append({"site": site, "device": device,
                          "token": service.issue_token(device)[1],
                          "outbox": str(workdir / "outboxes" / f"{site}.sqlite")})
        readers = []
        for i in range(n_readers):
            uid = f"reader-{i}"
            service.create_user(uid, role=Role.CARDIOLOGIST, name=uid, county_id=DEV_COUNTY)
            readers.append(service.issue_token(uid)[1])
        return carts, readers
    finally:
        store.close()


def reader_loop(
    target: str, token: str, stop: threading.Event, signed: list[float]
) -> None:
    """Claim the most urgent record, fetch it, sign; repeat."""
    import grpc
    from ecgnet.v1 import reading_pb2, reading_pb2_grpc

    md = (("authorization", f"Bearer {token}"),)
    with grpc.insecure_channel(target) as ch:
        stub = reading_pb2_grpc.ReadingStub(ch)  # type: ignore[no-untyped-call]
        while not stop.is_set():
            t0 = time.time()
            try:
                item = stub.Claim(reading_pb2.ClaimRequest(lease_seconds=60), metadata=md,
                                  timeout=10).item
                stub.GetRecord(reading_pb2.GetRecordRequest(record_id=item.record_id),
                               metadata=md, timeout=10)
                stub.SignReport(reading_pb2.SignReportRequest(
                    record_id=item.record_id, findings=list(item.findings),
                    conclusion="load test: machine findings confirmed"),
                    metadata=md, timeout=10)
                signed.append(time.time() - t0)
            except grpc.RpcError:
                stop.wait(0.3)


def hospital_loop(target: str, token: str, stop: threading.Event,
                  got: dict[str, float]) -> None:
    """Subscribe to the dev chest-pain centre's alerts; acknowledge each one."""
    import grpc
    from ecgnet.v1 import alerts_pb2, alerts_pb2_grpc

    md = (("authorization", f"Bearer {token}"),)
    with grpc.insecure_channel(target) as ch:
        stub = alerts_pb2_grpc.AlertsStub(ch)  # type: ignore[no-untyped-call]
        while not stop.is_set():
            try:
                stream = stub.Subscribe(alerts_pb2.SubscribeAlertsRequest(
                    hospital_id="dev-cpc", omit_waveform=True), metadata=md)
                stop_cb = threading.Thread(
                    target=lambda s=stream: (stop.wait(), s.cancel()), daemon=True)
                stop_cb.start()
                for ev in stream:
                    rid = ev.alert.record_id
                    if rid and rid not in got:
                        got[rid] = time.time()
                    if not ev.alert.acknowledged:
                        stub.Acknowledge(alerts_pb2.AcknowledgeAlertRequest(
                            alert_id=ev.alert.alert_id, hospital_id="dev-cpc",
                            who="load-desk"), metadata=md, timeout=10)
            except grpc.RpcError:
                stop.wait(0.5)


def central_ids(db: str) -> list[str]:
    """Every record id in the central's ``records`` table (with repeats, if any)."""
    if db.startswith("sqlite:///"):
        import sqlite3

        with sqlite3.connect(db[len("sqlite:///"):]) as conn:
            return [r[0] for r in conn.execute("SELECT record_id FROM records")]
    import psycopg

    schema = db.split("search_path%3D", 1)[1] if "search_path%3D" in db else "public"
    with psycopg.connect(PG_URL) as conn:
        return [str(r[0]) for r in conn.execute(
            f'SELECT record_id FROM "{schema}".records')]  # noqa: S608 - our schema name


def _pct(xs: Sequence[float], q: float) -> float | None:
    return None if not xs else round(float(np.percentile(np.asarray(xs) * 1e3, q)), 1)


def _hist_p(hist: dict[float, float], q: float) -> float | None:
    """Upper bucket bound (ms) under which ``q`` % of the server-side calls fell."""
    if not hist:
        return None
    total = hist.get(float("inf"), max(hist.values()))
    for bound in sorted(hist):
        if total and hist[bound] >= total * q / 100.0:
            return None if bound == float("inf") else round(bound * 1e3, 1)
    return None


def run_backend(backend: str, args: argparse.Namespace, templates: Path, *,
                rate: float | None = None, seconds: float | None = None,
                instances: int = 1) -> dict[str, Any]:
    """One full run against ``backend``; returns its result dict.

    ``instances`` centrals share the database; cart process ``k`` and reader ``j``
    talk to instance ``k % instances`` / ``j % instances``.
    """
    rate = args.rate if rate is None else rate
    seconds = args.seconds if seconds is None else seconds
    with tempfile.TemporaryDirectory(prefix=f"load-{backend}-") as tmp_s:
        tmp = Path(tmp_s)
        (tmp / "outboxes").mkdir()
        schema = None
        if backend == "sqlite":
            db = f"sqlite:///{tmp / 'central.sqlite'}"
        else:
            import psycopg

            schema = f"load_{secrets.token_hex(4)}"
            with psycopg.connect(PG_URL, autocommit=True) as conn:
                conn.execute(f'CREATE SCHEMA "{schema}"')
            db = f"{PG_URL}?options={quote(f'-csearch_path={schema}')}"
        central = Central(db, tmp)
        centrals = [central]
        try:
            centrals += [Central(db, tmp) for _ in range(instances - 1)]
            carts, readers = provision(db, args.carts, args.readers, tmp)
            t_start = time.time() + 3.0
            procs = []
            for k in range(args.procs):
                spec = {"server": centrals[k % instances].listen,
                        "carts": carts[k::args.procs],
                        "templates": str(templates), "seed": k, "t_start": t_start,
                        "seconds": seconds, "rate": rate / args.procs,
                        "stemi_fraction": args.stemi_fraction, "drain_s": 120,
                        "out": str(tmp / f"carts-{k}.json")}
                sp = tmp / f"spec-{k}.json"
                sp.write_text(json.dumps(spec))
                procs.append(subprocess.Popen(
                    [sys.executable, "-m", "bench.load", "--cart-worker", str(sp)],
                    cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"}))
            stop = threading.Event()
            signed: list[float] = []
            alerts: dict[str, float] = {}
            actors = [threading.Thread(target=reader_loop, args=(
                centrals[j % instances].listen, tok, stop, signed), daemon=True)
                for j, tok in enumerate(readers)]
            actors.append(threading.Thread(target=hospital_loop, args=(
                central.listen, central.tokens["hospital"], stop, alerts), daemon=True))
            for a in actors:
                a.start()
            samples: list[dict[str, Any]] = []
            cpu0, w0 = sum(c.cpu_s() for c in centrals), time.time()
            load0 = os.getloadavg()[0]
            while any(p.poll() is None for p in procs):
                time.sleep(1.0)
                try:
                    depth = central.queue_depth()
                except OSError:
                    depth = {}
                samples.append({"t": round(time.time() - t_start, 1),
                                "cpu_s": sum(c.cpu_s() for c in centrals),
                                "rss_mb": round(max(c.rss_mb() for c in centrals), 1),
                                "depth": depth})
            wall = time.time() - w0
            cpu = sum(c.cpu_s() for c in centrals) - cpu0
            hist: dict[float, float] = {}
            for c in centrals:
                try:
                    for k_, v_ in c.ingest_histogram().items():
                        hist[k_] = hist.get(k_, 0.0) + v_
                except OSError:
                    pass
            time.sleep(2.0)  # late alerts
            stop.set()
            for a in actors:
                a.join(15)
            res: list[dict[str, Any]] = []
            drained = 0
            for k in range(args.procs):
                doc = json.loads((tmp / f"carts-{k}.json").read_text())
                res += doc["results"]
                drained += doc["carts_drained"]
            ids = central_ids(db)
        finally:
            rcs = [c.stop() for c in centrals]
            rc = next((r for r in rcs if r != 0), 0)
            if schema is not None:
                import psycopg

                with psycopg.connect(PG_URL, autocommit=True) as conn:
                    conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    acked = {r["record_id"] for r in res}
    counts: dict[str, int] = {}
    for i in ids:
        counts[i] = counts.get(i, 0) + 1
    ingest = [r["t_ack"] - r["t_enqueue"] for r in res]
    durable = [r["t_durable"] - r["t_enqueue"] for r in res]
    stemi = [r for r in res if r["stemi"]]
    # The central stores the alert before it acks the record, so the desk often has the
    # alert before the cart has processed its ack: "after ack" can be negative.
    alert_lat = [alerts[r["record_id"]] - r["t_ack"] for r in stemi
                 if r["record_id"] in alerts]
    alert_e2e = [alerts[r["record_id"]] - r["t_enqueue"] for r in stemi
                 if r["record_id"] in alerts]
    t_acks = sorted(r["t_ack"] for r in res)
    depths = [sum(s["depth"].values()) for s in samples if s["depth"]]
    rpc = [r["t_ack"] - r["t_durable"] for r in res]
    return {
        "backend": backend, "instances": instances,
        "carts": args.carts, "cart_processes": args.procs, "offered_rate_per_s": rate,
        "seconds": seconds, "readers": args.readers,
        "loadavg_1min_start": round(load0, 2),
        "acknowledged": len(res), "carts_drained": drained,
        "throughput_per_s": round(len(res) / max(t_acks[-1] - t_acks[0], 1e-9), 2)
        if len(t_acks) > 1 else None,
        "ingest_latency_ms": {"p50": _pct(ingest, 50), "p99": _pct(ingest, 99),
                              "max": _pct(ingest, 100)},
        "outbox_durable_ms": {"p50": _pct(durable, 50), "p99": _pct(durable, 99)},
        "upload_ms": {"p50": _pct(rpc, 50), "p99": _pct(rpc, 99),
                      "definition": "record durable in the cart outbox -> central ack"
                                    " recorded in the outbox (batch RPC + ack fsync)"},
        "server_ingest_ms_bucket": {
            "p50_le": _hist_p(hist, 50), "p99_le": _hist_p(hist, 99),
            "definition": "ecg_ingest_latency_seconds histogram of the central(s): upper"
                          " bucket bound"},
        "alerts": {"stemi_acked": len(stemi), "delivered": len(alert_lat),
                   "after_cart_ack_ms": {"p50": _pct(alert_lat, 50),
                                         "p99": _pct(alert_lat, 99),
                                         "max": _pct(alert_lat, 100)},
                   "p50_ms": _pct(alert_e2e, 50), "p99_ms": _pct(alert_e2e, 99),
                   "max_ms": _pct(alert_e2e, 100),
                   "definition": "cart outbox enqueue -> hospital desk receives"},
        "signed": len(signed), "sign_cycle_ms_p50": _pct(signed, 50),
        "queue_depth": {"max": max(depths) if depths else None,
                        "final": depths[-1] if depths else None},
        "central": {"cpu_cores_mean": round(cpu / wall, 3),
                    "cpu_ms_per_record": round(1e3 * cpu / len(res), 2) if res else None,
                    "rss_mb_max": max((s["rss_mb"] for s in samples), default=None),
                    "exit_status": rc},
        "exactly_once": {"acked_ids": len(acked), "central_ids": len(counts),
                         "missing": len(acked - set(counts)),
                         "duplicated": sum(1 for v in counts.values() if v > 1)},
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.load")
    ci = os.environ.get("CI", "").lower() == "true"
    parser.add_argument("--cart-worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--carts", type=int, default=30 if ci else 420)
    parser.add_argument("--rate", type=float, default=4.0 if ci else 10.0,
                        help="records/s offered by the whole county (Poisson)")
    parser.add_argument("--seconds", type=float, default=8.0 if ci else 120.0)
    parser.add_argument("--procs", type=int, default=2)
    parser.add_argument("--readers", type=int, default=2)
    parser.add_argument("--stemi-fraction", type=float, default=0.05)
    parser.add_argument("--sources", type=int, default=6 if ci else 40,
                        help="PTB-XL records in the pool (LUDB a third as many)")
    parser.add_argument("--backends", default="sqlite" if ci else "sqlite,postgres")
    parser.add_argument("--parts", default="runs" if ci else
                        "runs,saturation,two_instances",
                        help="runs, saturation, two_instances (parts not run are kept"
                             " from an existing --out file)")
    parser.add_argument("--saturate", default="20,40,80,160,320",
                        help="offered rates (records/s) of the saturation steps")
    parser.add_argument("--step-seconds", type=float, default=20.0,
                        help="seconds per saturation step")
    parser.add_argument("--repeats", type=int, default=1,
                        help="runs per saturation step / two-instance config; the step"
                             " decision uses the medians (the machine is shared)")
    parser.add_argument("--two-rate", type=float, default=None,
                        help="offered rate of the two-instance run (default: the knee"
                             " of the PostgreSQL saturation, else 40)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    if args.cart_worker is not None:
        cart_worker(args.cart_worker)
        return 0
    parts = {x.strip() for x in args.parts.split(",") if x.strip()}
    backends = [b.strip() for b in args.backends.split(",")]
    old: dict[str, Any] = {}
    if args.out.exists():
        try:
            old = json.loads(args.out.read_text())
        except ValueError:
            old = {}
    doc: dict[str, Any] = {
        "bench": "load",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "loadavg_start": os.getloadavg()},
        "ci": ci,
        "method": "in-process carts (own Outbox file, Uplink, UploadWorker, device token "
                  "each) over --procs worker processes; real ecg-central serve process; "
                  "readers Claim/GetRecord/SignReport; hospital Subscribe+Acknowledge",
    }
    for key in ("runs", "saturation", "two_instances"):
        if key not in parts and key in old:
            doc[key] = old[key]
            doc.setdefault("kept_from_earlier", {})[key] = old.get("date")
    with tempfile.TemporaryDirectory() as tmp:
        templates = Path(tmp) / "templates.pkl"
        doc["source_pool"] = load_templates(args.sources, templates)
        if "runs" in parts:
            doc["runs"] = [run_backend(b, args, templates) for b in backends]
        if "saturation" in parts:
            rates = [float(x) for x in args.saturate.split(",")]
            doc["saturation"] = {b: saturate(b, args, templates, rates) for b in backends}
        if "two_instances" in parts:
            knee = (doc.get("saturation", {}).get("postgres") or {}).get("knee") or {}
            rate = args.two_rate or knee.get("offered_rate_per_s") or 40.0
            both: dict[str, list[dict[str, Any]]] = {"one": [], "two": []}
            for _ in range(max(1, args.repeats)):  # interleaved: same machine weather
                for key, n in (("one", 1), ("two", 2)):
                    both[key].append(run_backend("postgres", args, templates, rate=rate,
                                                 seconds=args.step_seconds * 2,
                                                 instances=n))
            doc["two_instances"] = {k: _median_run(v) for k, v in both.items()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    runs = list(doc.get("runs", []))
    for b, sat in doc.get("saturation", {}).items():
        runs += [dict(r, backend=f"{b}@{r['offered_rate_per_s']:g}") for r in sat["steps"]]
    for k, r in doc.get("two_instances", {}).items():
        runs.append(dict(r, backend=f"pg x{r['instances']} ({k})"))
    hdr = (f"{'backend':<14} {'acked':>6} {'rec/s':>6} {'ingest p50/p99 ms':>18} "
           f"{'alert e2e p50/p99':>17} {'alerts':>7} {'signed':>6} {'depth max':>9} "
           f"{'cpu':>5} {'rss MB':>6} {'dup/miss':>8}")
    sys.stdout.write(hdr + "\n")
    for r in runs:
        a = r["alerts"]
        sys.stdout.write(
            f"{r['backend']:<14} {r['acknowledged']:>6} {r['throughput_per_s']!s:>6} "
            f"{r['ingest_latency_ms']['p50']!s:>8}/{r['ingest_latency_ms']['p99']!s:<9} "
            f"{a['p50_ms']!s:>8}/{a['p99_ms']!s:<8} "
            f"{a['delivered']:>3}/{a['stemi_acked']:<3} "
            f"{r['signed']:>6} {r['queue_depth']['max']!s:>9} "
            f"{r['central']['cpu_cores_mean']:>5} {r['central']['rss_mb_max']!s:>6} "
            f"{r['exactly_once']['duplicated']}/{r['exactly_once']['missing']:<6}\n")
    for b, sat in doc.get("saturation", {}).items():
        sys.stdout.write(f"{b}: knee {sat['knee']}; stopped: {sat['stopped']}\n")
    sys.stdout.write(f"wrote {args.out}\n")
    return 0


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median p99 ingest latency, with every run's key numbers."""
    def p99(r: dict[str, Any]) -> float:
        v = r["ingest_latency_ms"]["p99"]
        return float("inf") if v is None else float(v)

    ordered = sorted(runs, key=p99)
    med = dict(ordered[(len(ordered) - 1) // 2])
    med["repeats"] = [{"throughput_per_s": r["throughput_per_s"],
                       "ingest_p50_ms": r["ingest_latency_ms"]["p50"],
                       "ingest_p99_ms": r["ingest_latency_ms"]["p99"],
                       "loadavg_1min_start": r["loadavg_1min_start"],
                       "duplicated": r["exactly_once"]["duplicated"],
                       "missing": r["exactly_once"]["missing"]} for r in runs]
    thr = sorted(float(r["throughput_per_s"] or 0.0) for r in runs)
    med["throughput_per_s_median"] = thr[(len(thr) - 1) // 2]
    return med


def saturate(backend: str, args: argparse.Namespace, templates: Path,
             rates: Sequence[float]) -> dict[str, Any]:
    """Rising offered rates until p99 ingest > 50 ms or throughput stops rising."""
    steps: list[dict[str, Any]] = []
    best = 0.0
    knee: dict[str, Any] | None = None
    stopped = "all rates run"
    for rate in rates:
        r = _median_run([run_backend(backend, args, templates, rate=rate,
                                     seconds=args.step_seconds)
                         for _ in range(max(1, args.repeats))])
        steps.append(r)
        thr = float(r["throughput_per_s_median"])
        p99 = r["ingest_latency_ms"]["p99"]
        sys.stdout.write(f"  {backend} {rate:g}/s offered: {thr} rec/s, p99 {p99} ms\n")
        sys.stdout.flush()
        rose = thr > best * 1.05
        if p99 is not None and p99 <= 50.0 and rose:
            knee = {"offered_rate_per_s": rate, "throughput_per_s": thr, "p99_ms": p99}
        if p99 is None or p99 > 50.0:
            stopped = f"p99 {p99} ms > 50 ms at {rate:g}/s offered"
            break
        if not rose:
            stopped = f"throughput {thr} rec/s not above {best} (+5 %) at {rate:g}/s"
            break
        best = max(best, thr)
    return {"steps": steps, "knee": knee, "stopped": stopped,
            "repeats": args.repeats,
            "rule": "stop when p99 ingest (cart enqueue -> ack) > 50 ms or throughput"
                    " < 1.05 x the best so far; knee = highest step with p99 <= 50 ms"
                    " that still rose"}


if __name__ == "__main__":
    raise SystemExit(main())
