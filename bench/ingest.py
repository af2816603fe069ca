"""Ingest benchmark of the central reader through the real gRPC server.

Run: ``OMP_NUM_THREADS=1 .venv/bin/python -m bench.ingest [--seconds 10] [--clients 8]
[--rate 100] [--backends sqlite,postgres]`` (writes ``bench/results/ingest.json``; with
``CI=true`` every phase runs 2 s).

The record is a real PTB-XL 12-lead 10 s 500 Hz ECG (``ptbxl_subset/records500``) encoded
with ``ecgnet.codec`` (int16, 1 uV/count, zlib), submitted under a fresh UUID each time.
The server is ``ecg-central serve`` in its own process (SQLite file with WAL and
``synchronous=FULL``, or a fresh schema on the local PostgreSQL), reached over loopback.

Per backend:
1. ``saturation``: ``--clients`` threads submit back to back (closed loop) for
   ``--seconds``: sustained records/s and the latency under that load.
2. ``offered_<rate>``: open loop, one submission every 1/rate s (gRPC futures, so a slow
   answer does not delay the next send): p50/p99/max latency at that offered load.
3. PostgreSQL only: the same saturation run against two ``serve`` instances on the one
   database (clients alternate between them), the deployment PostgreSQL exists for.
4. Reference in the same run: ``store.insert_record`` called directly in this process
   (no gRPC, no validation) = the storage floor, and the ratio gRPC/direct.

The machine has 2 cores shared with other jobs: client and server compete for them, and
the numbers are noisy; the JSON records the load average at start.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import secrets
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import grpc
import numpy as np
from ecgnet.codec import encode_waveform
from ecgnet.v1 import common_pb2, ingest_pb2, ingest_pb2_grpc

from central_reader import serde
from tests.central_reader.serve_proc import ServeProcess

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "ingest.json"
DATA = Path(os.environ.get("ECG_SHARED_DATA", ROOT.parent / "shared" / "data"))
RECORD = DATA / "ptbxl_subset" / "records500" / "00000" / "00001_hr"
PG_URL = os.environ.get("ECG_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
TARGETS = {"sqlite_rec_per_s": 300, "postgres_rec_per_s": 500, "p99_ms_at_100_rps": 50}


def load_template() -> ingest_pb2.SubmitRecordRequest:
    """A submission of the real PTB-XL record (record id filled in per send)."""
    import wfdb

    rec = wfdb.rdrecord(str(RECORD))
    signal = np.ascontiguousarray(rec.p_signal.T, dtype=np.float64)
    waveform = encode_waveform(signal, float(rec.fs), list(rec.sig_name))
    finding = common_pb2.Finding(
        code="SINUS",
        label_en="Sinus rhythm",
        label_zh="窦性心律",
        priority=common_pb2.PRIORITY_ROUTINE,
        source="rules:bench",
    )
    analysis = {
        "heart_rate_bpm": 63,
        "pr_ms": 160,
        "qrs_ms": 92,
        "qt_ms": 400,
        "qtc_ms": 410,
        "st_mv": dict.fromkeys(rec.sig_name, 0.02),
    }
    return ingest_pb2.SubmitRecordRequest(
        site_id="bench-site",
        device_id="cart-bench",
        acquired_at=serde.timestamp_from_datetime(datetime.now(UTC) - timedelta(minutes=1)),
        patient=common_pb2.Patient(
            pseudo_id="bench-patient", age_years=56, sex=common_pb2.SEX_MALE
        ),
        waveform=waveform,
        priority=common_pb2.PRIORITY_ROUTINE,
        findings=[finding],
        analysis_json=json.dumps(analysis),
    )


def _request(template: ingest_pb2.SubmitRecordRequest) -> ingest_pb2.SubmitRecordRequest:
    req = ingest_pb2.SubmitRecordRequest()
    req.CopyFrom(template)
    req.record_id = str(uuid.uuid4())
    return req


def _summary(lat_s: list[float], elapsed_s: float) -> dict[str, Any]:
    ms = np.asarray(lat_s) * 1e3
    return {
        "records": len(lat_s),
        "seconds": round(elapsed_s, 3),
        "rec_per_s": round(len(lat_s) / elapsed_s, 1),
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p99_ms": round(float(np.percentile(ms, 99)), 2),
        "max_ms": round(float(ms.max()), 2),
    }


def saturation(
    stubs: list[ingest_pb2_grpc.IngestStub],
    md: Any,
    template: Any,
    clients: int,
    seconds: float,
) -> dict[str, Any]:
    """Closed loop: ``clients`` threads submit back to back (round-robin over ``stubs``)."""
    lat: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds
    start = threading.Barrier(clients + 1)

    def worker(stub: ingest_pb2_grpc.IngestStub) -> None:
        mine: list[float] = []
        start.wait()
        while time.perf_counter() < stop_at:
            req = _request(template)
            t0 = time.perf_counter()
            try:
                stub.Submit(req, metadata=md, timeout=30)
            except grpc.RpcError as exc:
                errors.append(f"{exc.code()}: {exc.details()}")
                continue
            mine.append(time.perf_counter() - t0)
        with lock:
            lat.extend(mine)

    threads = [
        threading.Thread(target=worker, args=(stubs[i % len(stubs)],))
        for i in range(clients)
    ]
    for t in threads:
        t.start()
    start.wait()
    t_begin = time.perf_counter()
    for t in threads:
        t.join()
    out = _summary(lat, time.perf_counter() - t_begin)
    out.update(
        clients=clients,
        instances=len(stubs),
        errors=len(errors),
        first_error=errors[0] if errors else None,
    )
    return out


def offered(
    stub: ingest_pb2_grpc.IngestStub, md: Any, template: Any, rate: float, seconds: float
) -> dict[str, Any]:
    """Open loop at ``rate`` submissions per second."""
    n = int(rate * seconds)
    requests = [_request(template) for _ in range(n)]
    lat: list[float] = []
    errors: list[str] = []
    done = threading.Semaphore(0)
    lock = threading.Lock()

    def on_done(fut: grpc.Future, t0: float) -> None:
        t1 = time.perf_counter()
        exc = fut.exception()
        with lock:
            if exc is None:
                lat.append(t1 - t0)
            else:
                errors.append(str(exc))
        done.release()

    t_begin = time.perf_counter()
    for i, req in enumerate(requests):
        delay = t_begin + i / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        t0 = time.perf_counter()
        fut = stub.Submit.future(req, metadata=md, timeout=30)
        fut.add_done_callback(lambda f, t0=t0: on_done(f, t0))
    for _ in range(n):
        done.acquire(timeout=60)
    out = _summary(lat, time.perf_counter() - t_begin)
    out.update(offered_rec_per_s=rate, errors=len(errors))
    return out


def direct_store(
    make_store: Callable[[], Any], template: Any, seconds: float
) -> dict[str, Any]:
    """Reference: the store's insert alone, in this process, one thread."""
    store = make_store()
    store.add_county("bench-county", "bench")
    store.add_site("bench-site-direct", "bench-county", "bench")
    lat: list[float] = []
    stop_at = time.perf_counter() + seconds
    t_begin = time.perf_counter()
    while time.perf_counter() < stop_at:
        req = _request(template)
        req.site_id = "bench-site-direct"
        rec = serde.record_from_proto(req)
        now = datetime.now(UTC)
        t0 = time.perf_counter()
        store.insert_record(
            rec,
            county_id="bench-county",
            tier=3,
            deadline=now + timedelta(days=1),
            received_at=now,
        )
        lat.append(time.perf_counter() - t0)
    out = _summary(lat, time.perf_counter() - t_begin)
    store.close()
    return out


def run_backend(
    name: str,
    db: str,
    make_store: Callable[[], Any],
    template: Any,
    ns: argparse.Namespace,
    tmp: Path,
    instances: int = 1,
) -> dict[str, Any]:
    token_file = tmp / f"{name}-tokens.json"
    servers: list[ServeProcess] = []
    out: dict[str, Any] = {}
    try:
        # started one after the other: the first one bootstraps the dev users and tokens
        for _ in range(instances):
            servers.append(
                ServeProcess(
                    db,
                    "--dev",
                    "--dev-tokens",
                    str(token_file),
                    "--log-level",
                    "WARNING",
                    "--workers",
                    str(ns.workers),
                )
            )
            servers[-1].wait_ready(60)
        token = json.loads(token_file.read_text())["device"]
        md = (("authorization", f"Bearer {token}"),)
        channels = [grpc.insecure_channel(f"127.0.0.1:{s.port}") for s in servers]
        stubs = [
            ingest_pb2_grpc.IngestStub(c)  # type: ignore[no-untyped-call]
            for c in channels
        ]
        for i in range(20):  # warm-up (also registers the site)
            stubs[i % len(stubs)].Submit(_request(template), metadata=md, timeout=30)
        runs: list[dict[str, Any]] = []
        for _ in range(ns.repeats):
            cpu0 = [_proc_cpu_s(srv.proc.pid) for srv in servers]
            client0 = _self_cpu_s()
            sat = saturation(stubs, md, template, ns.clients, ns.seconds)
            server_cpu = sum(_proc_cpu_s(srv.proc.pid) for srv in servers) - sum(cpu0)
            sat["server_cpu_ms_per_record"] = round(1e3 * server_cpu / sat["records"], 3)
            sat["client_cpu_ms_per_record"] = round(
                1e3 * (_self_cpu_s() - client0) / sat["records"], 3
            )
            runs.append(sat)
            print(
                f"{name:9} x{instances} saturation  {sat['rec_per_s']:7.1f} rec/s  "
                f"p50 {sat['p50_ms']:6.2f} ms  p99 {sat['p99_ms']:7.2f} ms  "
                f"server CPU {sat['server_cpu_ms_per_record']:.2f} ms/rec  "
                f"({ns.clients} clients, errors {sat['errors']})",
                flush=True,
            )
        out["saturation"] = _median_run(runs)
        if instances == 1:
            offs: list[dict[str, Any]] = []
            for _ in range(ns.repeats):
                off = offered(stubs[0], md, template, ns.rate, ns.seconds)
                offs.append(off)
                print(
                    f"{name:9} x1 offered {ns.rate:g}/s {off['rec_per_s']:7.1f} rec/s  "
                    f"p50 {off['p50_ms']:6.2f} ms  p99 {off['p99_ms']:7.2f} ms  "
                    f"max {off['max_ms']:.1f} ms (errors {off['errors']})",
                    flush=True,
                )
            out[f"offered_{ns.rate:g}"] = _median_run(offs)
        for c in channels:
            c.close()
    finally:
        for server in servers:
            server.stop()
    if instances == 1:
        ref = direct_store(make_store, template, min(ns.seconds, 5.0))
        print(
            f"{name:9} direct store insert {ref['rec_per_s']:7.1f} rec/s  "
            f"p50 {ref['p50_ms']:6.2f} ms (reference, 1 thread, no gRPC)",
            flush=True,
        )
        out["direct_store_insert"] = ref
        out["ratio_grpc_to_direct_throughput"] = round(
            sat["rec_per_s"] / ref["rec_per_s"], 2
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ci = os.environ.get("CI", "").lower() == "true"
    parser.add_argument("--seconds", type=float, default=2.0 if ci else 10.0)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument(
        "--repeats",
        type=int,
        default=1 if ci else 3,
        help="repeats per phase; the JSON keeps medians and every run",
    )
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--workers", type=int, default=128, help="serve --workers")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--out", type=Path, default=OUT)
    ns = parser.parse_args()
    load_start = os.getloadavg()
    template = load_template()
    print(
        f"record {RECORD.name}: 12 x {template.waveform.n_samples} samples, "
        f"{len(template.waveform.samples)} bytes compressed, "
        f"request {template.ByteSize()} bytes",
        flush=True,
    )
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmpdir:
        tmp = Path(tmpdir)
        for backend in ns.backends.split(","):
            if backend == "sqlite":
                from central_reader.store.sqlite import SqliteStore

                path = tmp / "central.sqlite"
                results["sqlite"] = run_backend(
                    "sqlite",
                    f"sqlite:///{path}",
                    lambda: _migrated(SqliteStore(tmp / "direct.sqlite")),
                    template,
                    ns,
                    tmp,
                )
            elif backend == "postgres":
                import psycopg

                schema = f"bench_{secrets.token_hex(4)}"
                direct_schema = f"{schema}_direct"
                with psycopg.connect(PG_URL, autocommit=True) as conn:
                    conn.execute(f'CREATE SCHEMA "{schema}"')
                try:
                    db = f"{PG_URL}?options={quote(f'-csearch_path={schema}')}"
                    results["postgres"] = run_backend(
                        "postgres",
                        db,
                        functools.partial(_pg_store, direct_schema),
                        template,
                        ns,
                        tmp,
                    )
                    results["postgres_2_instances"] = run_backend(
                        "postgres", db, lambda: None, template, ns, tmp, instances=2
                    )
                finally:
                    with psycopg.connect(PG_URL, autocommit=True) as conn:
                        for s in (schema, direct_schema):
                            conn.execute(f'DROP SCHEMA IF EXISTS "{s}" CASCADE')
    rate_key = f"offered_{ns.rate:g}"
    verdict = {}
    if "sqlite" in results:
        verdict["sqlite_throughput_met"] = (
            results["sqlite"]["saturation"]["rec_per_s"] >= TARGETS["sqlite_rec_per_s"]
        )
    if "postgres" in results:
        verdict["postgres_throughput_met"] = (
            results["postgres"]["saturation"]["rec_per_s"] >= TARGETS["postgres_rec_per_s"]
        )
        verdict["postgres_2_instances_throughput_met"] = (
            results["postgres_2_instances"]["saturation"]["rec_per_s"]
            >= TARGETS["postgres_rec_per_s"]
        )
    for name, res in results.items():
        if ns.rate == 100 and rate_key in res:
            verdict[f"{name}_p99_met"] = (
                res[rate_key]["p99_ms"] < TARGETS["p99_ms_at_100_rps"]
            )
    doc = {
        "benchmark": "central ingest through the real gRPC server (ecg-central serve)",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "loadavg_at_start": load_start,
            "loadavg_at_end": os.getloadavg(),
            "python": platform.python_version(),
        },
        "record": {
            "source": f"ptbxl_subset/records500/00000/{RECORD.name}",
            "leads": 12,
            "fs_hz": template.waveform.fs_hz,
            "n_samples": template.waveform.n_samples,
            "waveform_bytes": len(template.waveform.samples),
            "request_bytes": template.ByteSize(),
        },
        "settings": {
            "seconds": ns.seconds,
            "clients": ns.clients,
            "rate": ns.rate,
            "server_workers": ns.workers,
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
        },
        "targets": TARGETS,
        "results": results,
        "verdict": verdict,
    }
    ns.out.parent.mkdir(parents=True, exist_ok=True)
    ns.out.write_text(json.dumps(doc, indent=2) + "\n")
    print(json.dumps(verdict), flush=True)


def _proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _self_cpu_s() -> float:
    t = os.times()
    return t.user + t.system


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Median of every numeric field over repeats, plus the runs themselves."""
    out: dict[str, Any] = {}
    for key, value in runs[0].items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            out[key] = round(float(np.median([r[key] for r in runs])), 3)
        else:
            out[key] = value
    out["repeats"] = len(runs)
    out["runs"] = runs
    return out


def _pg_store(schema: str) -> Any:
    from central_reader.store.postgres import PostgresStore

    return _migrated(PostgresStore(PG_URL, schema=schema))


def _migrated(store: Any) -> Any:
    store.migrate()
    return store


if __name__ == "__main__":
    main()
