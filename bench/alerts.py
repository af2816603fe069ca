"""Chest-pain alert latency: edge upload ack -> hospital desk, under routine ingest load.

Run: ``OMP_NUM_THREADS=1 .venv/bin/python -m bench.alerts [--alerts 200] [--rate 100]
[--backends sqlite,postgres,postgres_2]`` (writes ``bench/results/alerts.json``; with
``CI=true`` 20 alerts per backend).

Everything is a real process over loopback: ``ecg-central serve --dev --alerts-config``
(SQLite file, or a fresh schema on the local PostgreSQL) and the hospital desk
``ecg-central alerts watch --json`` (waveform included), whose stdout lines this process
reads and time-stamps. Meanwhile a load thread submits routine 12-lead 10 s PTB-XL records
open-loop at ``--rate``/s (gRPC futures). Alerts are critical ``STEMI`` submissions of the
same real record, one every ``--gap`` s; the latency of one alert is from the moment its
``Submit`` returned (the edge's upload ack) to the moment the desk printed its line.
Because the alert is committed *before* the ack, the desk can print before ``Submit``
returns: such latencies are negative and reported as they are (``from_submit_start`` is
also given). ``postgres_2`` submits to instance A while the desk is subscribed to
instance B (LISTEN/NOTIFY path).

Reference in the same run: the raw PostgreSQL NOTIFY round trip between two psycopg
connections (the floor of the cross-instance path) and the ratio to our A -> B latency.

The machine has 2 cores shared with other jobs; client, server(s), desk and load compete.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import queue
import secrets
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import grpc
import numpy as np
from ecgnet.v1 import common_pb2, ingest_pb2, ingest_pb2_grpc

from bench.ingest import PG_URL, load_template
from tests.central_reader.watch_proc import (
    CentralServe,
    WatchProcess,
    write_dev_alert_config,
)

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "alerts.json"
TARGETS = {"p99_ms": 1000.0, "lost": 0}


def _stemi(template: ingest_pb2.SubmitRecordRequest) -> ingest_pb2.SubmitRecordRequest:
    req = ingest_pb2.SubmitRecordRequest()
    req.CopyFrom(template)
    req.record_id = str(uuid.uuid4())
    req.priority = common_pb2.PRIORITY_CRITICAL
    del req.findings[:]
    req.findings.append(
        common_pb2.Finding(
            code="STEMI",
            label_en="ST elevation myocardial infarction",
            label_zh="ST段抬高型心肌梗死",
            priority=common_pb2.PRIORITY_CRITICAL,
            source="rules:bench",
            detail="bench",
        )
    )
    return req


def _routine(template: ingest_pb2.SubmitRecordRequest) -> ingest_pb2.SubmitRecordRequest:
    req = ingest_pb2.SubmitRecordRequest()
    req.CopyFrom(template)
    req.record_id = str(uuid.uuid4())
    return req


class _Load:
    """Open-loop routine submissions at ``rate``/s on their own channel."""

    def __init__(self, target: str, template: ingest_pb2.SubmitRecordRequest, rate: float):
        self.channel = grpc.insecure_channel(target)
        self.stub = ingest_pb2_grpc.IngestStub(self.channel)  # type: ignore[no-untyped-call]
        self.template = template
        self.rate = rate
        self.stop = threading.Event()
        self.sent = 0
        self.ok = 0
        self.errors = 0
        self.lat: list[float] = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.started = 0.0
        self.ended = 0.0

    def _done(self, t0: float, fut: grpc.Future) -> None:  # type: ignore[type-arg]
        with self.lock:
            if fut.exception() is None:
                self.ok += 1
                self.lat.append(time.perf_counter() - t0)
            else:
                self.errors += 1

    def _run(self) -> None:
        period = 1.0 / self.rate
        self.started = time.perf_counter()
        nxt = self.started
        while not self.stop.is_set():
            t0 = time.perf_counter()
            fut = self.stub.Submit.future(_routine(self.template), timeout=30)
            fut.add_done_callback(lambda f, t0=t0: self._done(t0, f))
            self.sent += 1
            nxt += period
            delay = nxt - time.perf_counter()
            if delay > 0:
                self.stop.wait(delay)
        self.ended = time.perf_counter()

    def start(self) -> None:
        self.thread.start()

    def finish(self) -> dict[str, Any]:
        self.stop.set()
        self.thread.join()
        time.sleep(1.0)
        self.channel.close()
        ms = np.asarray(self.lat) * 1e3
        return {
            "offered_rec_per_s": self.rate,
            "sent": self.sent,
            "acked": self.ok,
            "errors": self.errors,
            "achieved_rec_per_s": round(self.ok / max(self.ended - self.started, 1e-9), 1),
            "p50_ms": round(float(np.percentile(ms, 50)), 2) if ms.size else None,
            "p99_ms": round(float(np.percentile(ms, 99)), 2) if ms.size else None,
        }


class _Desk:
    """Collects the watch process's lines by record id (counts duplicates)."""

    def __init__(self, watch: WatchProcess) -> None:
        self.watch = watch
        self.seen: dict[str, float] = {}
        self.dupes = 0
        self.cond = threading.Condition()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while True:
            try:
                at, line = self.watch.lines.get(timeout=0.5)
            except queue.Empty:
                if self.watch.proc.poll() is not None:
                    return
                continue
            rid = str(line["record_id"])
            with self.cond:
                if rid in self.seen:
                    self.dupes += 1
                else:
                    self.seen[rid] = at
                self.cond.notify_all()

    def wait(self, record_id: str, timeout_s: float) -> float | None:
        deadline = time.monotonic() + timeout_s
        with self.cond:
            while record_id not in self.seen:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)
            return self.seen[record_id]


def _pct(values: list[float], q: float) -> float:
    return round(float(np.percentile(np.asarray(values) * 1e3, q)), 2)


def run_backend(
    name: str,
    template: ingest_pb2.SubmitRecordRequest,
    *,
    n_alerts: int,
    rate: float,
    gap_s: float,
    workdir: Path,
) -> dict[str, Any]:
    cfg = write_dev_alert_config(workdir / "alerts.toml")
    common = ("--alerts-config", str(cfg), "--workers", "64")
    schema = None
    if name == "sqlite":
        db = f"sqlite:///{workdir / 'central.sqlite'}"
    else:
        from central_reader.store.postgres import PostgresStore

        schema = f"bench_alerts_{secrets.token_hex(4)}"
        pg = PostgresStore(PG_URL, schema=schema)
        pg.migrate()
        pg.close()
        db = f"{PG_URL}?options={quote(f'-csearch_path={schema}')}"
    servers = [CentralServe(db, workdir / "tokens-a.json", *common).start()]
    if name == "postgres_2":
        servers.append(CentralServe(db, workdir / "tokens-b.json", *common).start())
    ingest_at, desk_at = servers[0], servers[-1]
    watch = WatchProcess(desk_at.target, "dev-cpc", desk_at.token("hospital"))
    try:
        watch.wait_subscribed()
        desk = _Desk(watch)
        load = _Load(ingest_at.target, template, rate)
        load.start()
        time.sleep(1.0)  # load running
        channel = grpc.insecure_channel(ingest_at.target)
        stub = ingest_pb2_grpc.IngestStub(channel)  # type: ignore[no-untyped-call]
        from_ack: list[float] = []
        from_start: list[float] = []
        submit_s: list[float] = []
        lost: list[str] = []
        for _ in range(n_alerts):
            req = _stemi(template)
            t0 = time.monotonic()
            stub.Submit(req, timeout=30)
            t_ack = time.monotonic()
            at = desk.wait(req.record_id, 10.0)
            if at is None:
                lost.append(req.record_id)
            else:
                from_ack.append(at - t_ack)
                from_start.append(at - t0)
                submit_s.append(t_ack - t0)
            time.sleep(gap_s)
        load_stats = load.finish()
        channel.close()
        time.sleep(0.5)
        return {
            "alerts": n_alerts,
            "received": len(from_ack),
            "lost": len(lost),
            "duplicates_at_desk": desk.dupes,
            "latency_from_ack_ms": {
                "p50": _pct(from_ack, 50),
                "p99": _pct(from_ack, 99),
                "max": _pct(from_ack, 100),
                "min": _pct(from_ack, 0),
                "negative_share": round(sum(v < 0 for v in from_ack) / len(from_ack), 3),
            },
            "latency_from_submit_start_ms": {
                "p50": _pct(from_start, 50),
                "p99": _pct(from_start, 99),
                "max": _pct(from_start, 100),
            },
            "alert_submit_rtt_ms": {"p50": _pct(submit_s, 50), "p99": _pct(submit_s, 99)},
            "routine_load": load_stats,
            "instances": len(servers),
        }
    finally:
        watch.stop()
        for s in servers:
            s.stop()
        if schema is not None:
            import psycopg

            with psycopg.connect(PG_URL, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def notify_floor(n: int) -> dict[str, Any]:
    """Raw NOTIFY round trip between two psycopg connections (the reference floor)."""
    import psycopg

    lat: list[float] = []
    with (
        psycopg.connect(PG_URL, autocommit=True) as listen,
        psycopg.connect(PG_URL, autocommit=True) as send,
    ):
        listen.execute("LISTEN bench_floor")
        for i in range(n):
            t0 = time.monotonic()
            send.execute("SELECT pg_notify('bench_floor', %s)", (str(i),))
            got = list(listen.notifies(timeout=5, stop_after=1))
            if got:
                lat.append(time.monotonic() - t0)
    return {"n": len(lat), "p50_ms": _pct(lat, 50), "p99_ms": _pct(lat, 99)}


def main() -> None:
    ci = os.environ.get("CI", "").lower() == "true"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=20 if ci else 200)
    parser.add_argument("--rate", type=float, default=100.0, help="routine records/s")
    parser.add_argument("--gap", type=float, default=0.05, help="s between alerts")
    parser.add_argument("--backends", default="sqlite,postgres,postgres_2")
    parser.add_argument("--out", type=Path, default=OUT)
    ns = parser.parse_args()
    template = load_template()
    load_start = os.getloadavg()
    results: dict[str, Any] = {}
    for name in ns.backends.split(","):
        with tempfile.TemporaryDirectory(prefix=f"bench-alerts-{name}-") as tmp:
            print(f"{name}: {ns.alerts} alerts, routine load {ns.rate:g}/s ...", flush=True)
            results[name] = run_backend(
                name,
                template,
                n_alerts=ns.alerts,
                rate=ns.rate,
                gap_s=ns.gap,
                workdir=Path(tmp),
            )
    reference: dict[str, Any] = {}
    if any(n.startswith("postgres") for n in results):
        reference["pg_notify_round_trip"] = notify_floor(200)
        if "postgres_2" in results:
            ours = results["postgres_2"]["latency_from_submit_start_ms"]["p50"]
            floor = reference["pg_notify_round_trip"]["p50_ms"]
            reference["ratio_p50_ours_from_submit_start_vs_notify"] = round(ours / floor, 1)
            ack = results["postgres_2"]["latency_from_ack_ms"]["p50"]
            reference["ratio_p50_ours_from_ack_vs_notify"] = round(ack / floor, 1)
    print(
        f"{'backend':<12}{'alerts':>7}{'lost':>6}{'dup':>5}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'max ms':>9}{'start p50':>11}{'load/s':>8}{'load p99':>10}"
    )
    for name, r in results.items():
        lat, st = r["latency_from_ack_ms"], r["latency_from_submit_start_ms"]
        ld = r["routine_load"]
        print(
            f"{name:<12}{r['alerts']:>7}{r['lost']:>6}{r['duplicates_at_desk']:>5}"
            f"{lat['p50']:>9.1f}{lat['p99']:>9.1f}{lat['max']:>9.1f}{st['p50']:>11.1f}"
            f"{ld['achieved_rec_per_s']:>8.1f}{ld['p99_ms'] or 0:>10.1f}"
        )
    if reference:
        print(f"reference: {json.dumps(reference)}")
    verdict = {
        name: {
            "p99_under_1s": r["latency_from_ack_ms"]["p99"] < TARGETS["p99_ms"],
            "zero_lost": r["lost"] == 0 and r["duplicates_at_desk"] == 0,
        }
        for name, r in results.items()
    }
    doc = {
        "benchmark": "alerts",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_avg_start": [round(x, 2) for x in load_start],
            "load_avg_end": [round(x, 2) for x in os.getloadavg()],
        },
        "params": {
            "alerts": ns.alerts,
            "routine_rate": ns.rate,
            "gap_s": ns.gap,
            "ci": ci,
            "record": "PTB-XL 00001_hr, 12 leads, 500 Hz, 10 s",
        },
        "targets": TARGETS,
        "results": results,
        "reference": reference,
        "verdict": verdict,
        "median_of_medians_p50_ms": statistics.median(
            r["latency_from_ack_ms"]["p50"] for r in results.values()
        ),
    }
    ns.out.parent.mkdir(parents=True, exist_ok=True)
    ns.out.write_text(json.dumps(doc, indent=2) + "\n")
    print(json.dumps(verdict), flush=True)


if __name__ == "__main__":
    main()
