"""Fault suite with real processes: every acknowledged record kept, exactly once.

Run: ``OMP_NUM_THREADS=1 .venv/bin/python -m bench.faults [--records 120] [--seconds 240]
[--cut 120] [--backends sqlite,postgres]`` (writes ``bench/results/faults.json``;
``tests/test_faults_network.py`` runs a short round in CI).

The network: ``ecg-central serve --dev`` (alerts on, dev chest-pain centre) as a process,
one ``ecg-edge watch`` process per township cart (own export folder, outbox, device token),
a hospital desk in this process (``Alerts.Subscribe``, reconnecting, acknowledging), and
a feeder copying distinct real records (PTB-XL 500 Hz, and PTB-DB records that the rules
triage critical STEMI) into random carts' export folders. While records flow, a chaos loop
injects, at random moments:

- ``kill9_central``: ``kill -9`` of the central, restarted after 0.2-2 s (on SQLite this
  is also the "database killed mid-write": a burst of submits is in flight);
- ``kill9_cart``: ``kill -9`` of a random cart agent, restarted after 0-1 s;
- ``db_restart``: PostgreSQL: ``pg_terminate_backend`` of every backend of this central
  (found by its ``application_name``; the shared server itself is NOT restarted, other
  helpers use it); SQLite: ``kill -9`` of the central right after a burst;
- ``network_cut``: the central frozen with SIGSTOP for ``--cut`` seconds (calls hang and
  hit their deadlines, as behind a dead link), then SIGCONT;
- ``disk_full``: the cart ``site-tiny`` keeps its outbox on a real 1 MB tmpfs (when this
  process may mount one; else a 300 kB ``--max-outbox-bytes`` budget) and gets a burst of
  records while the central is frozen, so the outbox fills up;
- ``clock_skew``: carts ``site-future`` (+2 days) and ``site-past`` (-400 days) stamp
  their exports with a wrong acquisition time (WFDB header base date). The central keeps
  an impossible (future) time's record with its own receive time and a ``CLOCK_SKEW``
  finding (``central_reader.service.correct_clock_skew``): none may fail at the cart.

Afterwards (central and carts up again, outboxes drained): every record a cart marked
``sent`` is at the central exactly once; nothing at the central that no cart queued; every
dropped file accounted for; every STEMI record's alert received by the desk; ``PRAGMA
integrity_check`` ok on the central (SQLite) and every outbox; every record's waveform at
the central decodes to the same int16 counts as the source file re-encoded.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from tests._ready import wait_ready

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "faults.json"
DATA = Path(os.environ.get("ECG_SHARED_DATA", ROOT.parent / "shared" / "data"))
PG_URL = os.environ.get("ECG_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
STEMI_STEMS = ("patient222_s0444_re", "patient208_s0430_re", "patient227_s0450_re",
               "patient217_s0439_re", "patient224_s0447_re")
SKEW = {"site-future": timedelta(days=2), "site-past": timedelta(days=-400)}


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class CentralProc:
    """``ecg-central serve --dev`` restartable on the same port and database."""

    def __init__(self, db: str, workdir: Path) -> None:
        self.db = db
        self.workdir = workdir
        self.listen = f"127.0.0.1:{_free_port()}"
        self.proc: subprocess.Popen[str] | None = None
        self.log: list[str] = []
        self.tokens: dict[str, str] = {}

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "central_reader", "serve", "--db", self.db, "--listen",
             self.listen, "--http", "127.0.0.1:0", "--insecure", "--dev", "--dev-tokens",
             str(self.workdir / "dev-tokens.json"), "--grace", "1",
             "--alert-poll-s", "0.5"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
        )
        wait_ready(self.proc, self.log, 90.0)
        self.tokens = json.loads((self.workdir / "dev-tokens.json").read_text())

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)
        self.proc.kill()
        self.proc.wait()

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def stop(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)
        self.proc.terminate()
        try:
            return self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


@dataclass
class Cart:
    """One ``ecg-edge watch`` agent process with its own folder, outbox and token."""

    site: str
    token: str
    home: Path
    server: str
    max_bytes: int | None = None
    outbox_dir: Path | None = None
    proc: subprocess.Popen[str] | None = None
    log: list[str] = field(default_factory=list)
    log_mark: int = 0

    def thread_died(self) -> str | None:
        """The error of a thread that died since the last start (the agent lives on)."""
        for i in range(self.log_mark, len(self.log)):
            if self.log[i].startswith("Exception in thread"):
                tail = self.log[i:i + 40]
                return next((ln for ln in reversed(tail) if "Error" in ln), self.log[i])
        return None

    @property
    def export(self) -> Path:
        return self.home / "export"

    @property
    def outbox(self) -> Path:
        return (self.outbox_dir or self.home) / "outbox.sqlite"

    def start(self) -> None:
        argv = [sys.executable, "-m", "edge_agent", "watch", str(self.export), "--server",
                self.server, "--outbox", str(self.outbox), "--site", self.site,
                "--device", f"cart-{self.site}", "--insecure", "--no-model",
                "--no-reports", "--interval", "0.3", "--settle", "0.3"]
        if self.max_bytes:
            argv += ["--max-outbox-bytes", str(self.max_bytes)]
        env = {**os.environ, "OMP_NUM_THREADS": "1", "ECG_EDGE_TOKEN": self.token,
               "ECG_EDGE_RPC_TIMEOUT_S": "3", "ECG_EDGE_BACKOFF_MAX_S": "4"}
        self.log_mark = len(self.log)
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, cwd=ROOT, env=env)
        proc = self.proc

        def pump() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                self.log.append(line.rstrip())
            proc.stdout.close()

        threading.Thread(target=pump, daemon=True).start()

    def kill9(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Desk:
    """The hospital: subscribes to the dev chest-pain centre, acknowledges, reconnects."""

    def __init__(self, central: CentralProc) -> None:
        self.central = central
        self.received: dict[str, int] = {}
        self.new: Counter[str] = Counter()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        import grpc
        from ecgnet.v1 import alerts_pb2, alerts_pb2_grpc

        while not self.stop.is_set():
            md = (("authorization", f"Bearer {self.central.tokens.get('hospital', '')}"),)
            try:
                with grpc.insecure_channel(self.central.listen) as ch:
                    stub = alerts_pb2_grpc.AlertsStub(ch)  # type: ignore[no-untyped-call]
                    stream = stub.Subscribe(alerts_pb2.SubscribeAlertsRequest(
                        hospital_id="dev-cpc", omit_waveform=True), metadata=md, timeout=20)
                    for ev in stream:
                        a = ev.alert
                        self.received[a.record_id] = self.received.get(a.record_id, 0) + 1
                        if ev.is_new:
                            self.new[a.record_id] += 1
                        if not a.acknowledged:
                            stub.Acknowledge(alerts_pb2.AcknowledgeAlertRequest(
                                alert_id=a.alert_id, hospital_id="dev-cpc", who="desk"),
                                metadata=md, timeout=5)
                        if self.stop.is_set():
                            break
            except grpc.RpcError:
                self.stop.wait(0.5)


def _sources(n: int) -> list[Path]:
    """``n`` distinct real records: PTB-DB STEMI ones first, then PTB-XL 500 Hz."""
    stemi = [DATA / "ptbdb_10s" / f"{s}.hea" for s in STEMI_STEMS]
    ptbxl = sorted((DATA / "ptbxl_subset" / "records500").glob("*/*_hr.hea"))
    k = max(1, min(len(stemi), n // 15))
    return stemi[:k] + ptbxl[: n - k]


def _drop(src: Path, cart: Cart, skew: timedelta | None) -> Path:
    """Copy a record's files into the cart's export folder (header first written last)."""
    stem = src.with_suffix("")
    for f in sorted(src.parent.glob(stem.name + ".*")):
        if f.suffix == ".hea":
            continue
        shutil.copy2(f, cart.export / f.name)
    text = src.read_text(encoding="latin-1")
    if skew is not None:
        lines = text.splitlines()
        i = next(j for j, ln in enumerate(lines) if ln.strip() and not ln.startswith("#"))
        first = lines[i].split()[:4]
        when = (datetime.now(UTC) + skew).strftime("%H:%M:%S %d/%m/%Y")
        lines[i] = " ".join([*first, when])
        text = "\n".join(lines) + "\n"
    dst = cart.export / src.name
    tmp = cart.export / f".{src.name}.tmp"
    tmp.write_text(text, encoding="latin-1")
    tmp.rename(dst)
    return dst


def _mount_tmpfs(path: Path, size: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                       capture_output=True, text=True)
    return r.returncode == 0


def _provision(db: str, sites: Sequence[str]) -> dict[str, str]:
    from central_reader.cli import DEV_COUNTY
    from central_reader.service import ReadingService
    from central_reader.store import open_store
    from central_reader.types import Role

    store = open_store(db)
    try:
        service = ReadingService(store)
        tokens = {}
        for s in sites:
            store.add_site(s, DEV_COUNTY, s)
            service.create_user(f"cart-{s}", role=Role.DEVICE, name=s,
                                county_id=DEV_COUNTY, site_id=s)
            tokens[s] = service.issue_token(f"cart-{s}")[1]
        return tokens
    finally:
        store.close()


def _terminate_pg_backends(app: str) -> int:
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = %s AND pid <> pg_backend_pid()", (app,)).fetchall()
    return sum(1 for r in rows if r[0])


def _outbox_rows(path: Path) -> list[tuple[str, str, str, str, str | None]]:
    """(record_id, state, source, findings json, last_error) straight from the outbox."""
    from edge_agent.outbox import Outbox

    ob = Outbox(path)
    try:
        return [(r.record_id, r.state.value, r.source, json.dumps(list(r.findings)),
                 r.last_error) for r in ob.list_records()]
    finally:
        ob.close()


def _seen_files(path: Path) -> dict[str, str]:
    """Watched files the cart noted as taken in -> their record id, from its outbox.

    An acknowledged record's row may be forgotten to make room (``Outbox``, after a
    day); the file's note keeps its record id.
    """
    with sqlite3.connect(path) as conn:
        return {r[0]: r[1] for r in conn.execute(
            "SELECT path, record_id FROM seen_files WHERE record_id IS NOT NULL")}


def _central_skew_flags(db: str, schema: str | None) -> dict[str, int]:
    """Per site: records at the central carrying the central's CLOCK_SKEW finding."""
    sql = "SELECT site_id, findings_json FROM {}records"
    if schema is None:
        with sqlite3.connect(db[len("sqlite:///"):]) as conn:
            rows = conn.execute(sql.format("")).fetchall()
    else:
        import psycopg

        with psycopg.connect(PG_URL) as conn:
            rows = conn.execute(sql.format(f'"{schema}".')).fetchall()  # noqa: S608
    out: Counter[str] = Counter()
    for site, findings in rows:
        text = findings if isinstance(findings, str) else json.dumps(findings)
        if '"CLOCK_SKEW"' in text:
            out[str(site)] += 1
    return dict(out)


def _outbox_waiting(path: Path) -> int:
    """Files the cart last noted as waiting for outbox space (``status``)."""
    from edge_agent.outbox import Outbox

    if not path.exists():
        return 0
    ob = Outbox(path)
    try:
        return ob.waiting()[0]
    finally:
        ob.close()


def _central_ids(db: str, schema: str | None) -> list[str]:
    if schema is None:
        with sqlite3.connect(db[len("sqlite:///"):]) as conn:
            return [r[0] for r in conn.execute("SELECT record_id FROM records")]
    import psycopg

    with psycopg.connect(PG_URL) as conn:
        return [str(r[0]) for r in conn.execute(
            f'SELECT record_id FROM "{schema}".records')]  # noqa: S608 - our schema


def _integrity(path: Path) -> str:
    with sqlite3.connect(path) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


def _roundtrip(central: CentralProc, rows: dict[str, str]) -> tuple[int, list[str]]:
    """Fetch every record's waveform; compare int16 counts with the source re-encoded."""
    import grpc
    import numpy as np
    from ecgnet.codec import decode_waveform, encode_waveform
    from ecgnet.v1 import reading_pb2, reading_pb2_grpc

    from edge_agent.io import read_record

    md = (("authorization", f"Bearer {central.tokens['cardiologist']}"),)
    bad: list[str] = []
    ok = 0
    with grpc.insecure_channel(central.listen) as ch:
        stub = reading_pb2_grpc.ReadingStub(ch)  # type: ignore[no-untyped-call]
        for rid, source in rows.items():
            wf = stub.GetRecord(reading_pb2.GetRecordRequest(record_id=rid), metadata=md,
                                timeout=20).record.waveform
            decode_waveform(wf)  # raises on anything inconsistent
            rec = read_record(source)
            ref = encode_waveform(rec.signal, rec.fs, rec.leads, level=1)
            got = zlib.decompress(wf.samples) if wf.compressed else wf.samples
            want = zlib.decompress(ref.samples) if ref.compressed else ref.samples
            same = (got == want and wf.gain_counts_per_mv == ref.gain_counts_per_mv
                    and list(wf.leads) == list(ref.leads) and wf.fs_hz == ref.fs_hz)
            if same:
                ok += 1
            else:
                diff = np.abs(np.frombuffer(got, "<i2").astype(int)
                              - np.frombuffer(want, "<i2").astype(int)).max() if len(
                                  got) == len(want) else -1
                bad.append(f"{rid} ({Path(source).name}): max |diff| {diff} counts")
    return ok, bad


def run_suite(backend: str, *, n_records: int, seconds: float, cut_s: float,
              n_carts: int = 4, seed: int = 0, drain_s: float = 180.0,
              real_disk_full: bool = False) -> dict[str, Any]:
    """One chaos run; returns the fault counts and the checks.

    ``real_disk_full``: the tiny cart's outbox on a real 256 kB tmpfs (ENOSPC) instead of
    a 300 kB ``--max-outbox-bytes`` budget.
    """
    rng = random.Random(seed)
    tmp = Path(tempfile.mkdtemp(prefix=f"faults-{backend}-"))
    schema = None
    app = f"faults_{secrets.token_hex(4)}"
    if backend == "sqlite":
        db = f"sqlite:///{tmp / 'central.sqlite'}"
    else:
        import psycopg

        schema = f"faults_{secrets.token_hex(4)}"
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        db = (f"{PG_URL}?application_name={app}"
              f"&options={quote(f'-csearch_path={schema}')}")
    central = CentralProc(db, tmp)
    faults: Counter[str] = Counter()
    notes: list[str] = []
    carts: list[Cart] = []
    desk: Desk | None = None
    tiny_dir = tmp / "tinyfs"
    tiny_real = real_disk_full and _mount_tmpfs(tiny_dir, "256k")
    try:
        central.start()
        sites = [f"site-{i}" for i in range(n_carts)] + ["site-tiny", *SKEW]
        tokens = _provision(db, sites)
        for s in sites:
            home = tmp / "carts" / s
            (home / "export").mkdir(parents=True)
            cart = Cart(s, tokens[s], home, central.listen)
            if s == "site-tiny":
                if tiny_real:
                    cart.outbox_dir = tiny_dir
                else:
                    cart.max_bytes = 300_000
            carts.append(cart)
            cart.start()
        desk = Desk(central)
        by_site = {c.site: c for c in carts}
        sources = _sources(n_records)
        rng.shuffle(sources)
        dropped: dict[str, str] = {}
        lock = threading.Lock()
        feed_done = threading.Event()
        normal = [c for c in carts if c.site.startswith("site-") and c.site[5:].isdigit()]
        # Reserve a few records for the disk-full burst and the skewed carts.
        n_tiny = max(6, n_records // 8)
        tiny_burst = [sources.pop() for _ in range(n_tiny)]
        skewed = [sources.pop() for _ in range(2 * max(1, n_records // 30))]

        def feeder() -> None:
            interval = seconds / max(1, len(sources) + len(skewed))
            queue_ = [(p, rng.choice(normal), None) for p in sources] + [
                (p, by_site[s], SKEW[s]) for i, p in enumerate(skewed)
                for s in [list(SKEW)[i % 2]]]
            rng.shuffle(queue_)
            for p, cart, skew in queue_:
                dst = _drop(p, cart, skew)
                with lock:
                    dropped[str(dst)] = cart.site
                time.sleep(interval)
            feed_done.set()

        feed = threading.Thread(target=feeder, daemon=True)
        feed.start()
        kinds = ["kill9_central", "kill9_cart", "kill9_cart", "db_restart", "network_cut",
                 "disk_full"]
        first = list(dict.fromkeys(kinds))  # every kind once, in random order, then random
        rng.shuffle(first)
        t_end = time.monotonic() + seconds
        did_cut = did_full = False
        crashes: list[str] = []

        def free_space() -> None:
            # The operator frees disk space on the cart (the tmpfs grows to 8 MB).
            if tiny_real:
                r = subprocess.run(["mount", "-o", "remount,size=8m", str(tiny_dir)],
                                   capture_output=True, text=True)
                notes.append(f"tiny tmpfs grown to 8 MB: rc {r.returncode} {r.stderr}")

        def supervise() -> None:
            # What systemd would do: restart a cart agent that died by itself.
            # A watchdog also restarts an agent whose upload thread died (it would
            # otherwise look alive while uploading nothing).
            for c in carts:
                died = c.thread_died()
                if c.proc is not None and c.proc.poll() is not None:
                    crashes.append(f"{c.site} exit {c.proc.returncode}: "
                                   + next((ln for ln in reversed(c.log) if ln.strip()), ""))
                    c.start()
                elif died is not None:
                    crashes.append(f"{c.site} thread died: {died}")
                    c.kill9()
                    c.start()

        while time.monotonic() < t_end or first:
            time.sleep(rng.uniform(0.5, 1.5) if first else rng.uniform(1.0, 3.0))
            supervise()
            kind = first.pop() if first else rng.choice(kinds)
            if kind == "network_cut" and did_cut:
                kind = "kill9_cart"
            if kind == "disk_full" and did_full:
                kind = "kill9_central"
            if kind == "kill9_central":
                central.kill9()
                time.sleep(rng.uniform(0.2, 2.0))
                central.start()
            elif kind == "kill9_cart":
                c = rng.choice(carts)
                c.kill9()
                time.sleep(rng.uniform(0.0, 1.0))
                c.start()
            elif kind == "db_restart":
                if schema is not None:
                    n = _terminate_pg_backends(app)
                    notes.append(f"pg_terminate_backend: {n} backends of the central")
                else:
                    central.kill9()  # mid-write: the feeder keeps carts submitting
                    time.sleep(0.3)
                    central.start()
            elif kind == "network_cut":
                did_cut = True
                central.signal(signal.SIGSTOP)
                time.sleep(cut_s)
                central.signal(signal.SIGCONT)
            elif kind == "disk_full":
                did_full = True
                central.signal(signal.SIGSTOP)
                for p in tiny_burst:
                    dst = _drop(p, by_site["site-tiny"], None)
                    with lock:
                        dropped[str(dst)] = "site-tiny"
                time.sleep(max(4.0, min(cut_s, 15.0)))
                central.signal(signal.SIGCONT)
                time.sleep(3.0)
                free_space()
            faults[kind] += 1
        if not did_full:  # make sure the disk-full fault ran once
            central.signal(signal.SIGSTOP)
            for p in tiny_burst:
                dst = _drop(p, by_site["site-tiny"], None)
                with lock:
                    dropped[str(dst)] = "site-tiny"
            time.sleep(4.0)
            central.signal(signal.SIGCONT)
            time.sleep(3.0)
            free_space()
            faults["disk_full"] += 1
        faults["clock_skew_records"] = len(skewed)
        feed.join()
        # Drain: every dropped file taken in, nothing pending, alerts delivered.
        t_drain = time.monotonic()
        deadline = t_drain + drain_s
        drained = False
        drain_polls = 0
        while time.monotonic() < deadline:
            rows = {c.site: _outbox_rows(c.outbox) for c in carts if c.outbox.exists()}
            sources_in = {r[2] for rs in rows.values() for r in rs}.union(
                *(_seen_files(c.outbox) for c in carts if c.outbox.exists()))
            pending = sum(1 for rs in rows.values() for r in rs if r[1] == "pending")
            drain_polls += 1
            if pending == 0 and set(dropped) <= sources_in:
                drained = True
                break
            supervise()
            time.sleep(1.0)
        drain_took = time.monotonic() - t_drain
        time.sleep(3.0)
        rows = {c.site: _outbox_rows(c.outbox) for c in carts if c.outbox.exists()}
        seen: dict[str, str] = {}
        for c in carts:
            if c.outbox.exists():
                seen.update(_seen_files(c.outbox))
        tiny_waiting = _outbox_waiting(by_site["site-tiny"].outbox)
        skew_flags = _central_skew_flags(db, schema)
        sent = {r[0]: r[2] for rs in rows.values() for r in rs if r[1] == "sent"}
        failed = [(s, r[0], Path(r[2]).name, r[4]) for s, rs in rows.items() for r in rs
                  if r[1] == "failed"]
        all_ids = {r[0] for rs in rows.values() for r in rs} | set(seen.values())
        stemi_sent = {r[0] for rs in rows.values() for r in rs
                      if r[1] == "sent" and '"STEMI"' in r[3]}
        ids = _central_ids(db, schema)
        counts = Counter(ids)
        rt_ok, rt_bad = _roundtrip(central, dict(sent))
        for _ in range(20):
            if stemi_sent <= set(desk.received):
                break
            time.sleep(0.5)
        full_lines = [ln for ln in by_site["site-tiny"].log if "full" in ln.lower()]
        taken_in = {r[2] for rs in rows.values() for r in rs}
        future_files = sum(1 for v in dropped.values() if v == "site-future")
    finally:
        if desk is not None:
            desk.stop.set()
        for c in carts:
            c.stop()
        rc = central.stop() if central.proc is not None else None
        if tiny_real:
            integrity_tiny = _integrity(tiny_dir / "outbox.sqlite") if (
                tiny_dir / "outbox.sqlite").exists() else "absent"
            subprocess.run(["umount", "-l", str(tiny_dir)], capture_output=True)
        else:
            integrity_tiny = "n/a"
    integrity = {c.site: _integrity(c.outbox) for c in carts if c.site != "site-tiny"
                 or not tiny_real}
    if tiny_real:
        integrity["site-tiny"] = integrity_tiny
    if schema is None:
        integrity["central"] = _integrity(tmp / "central.sqlite")
    else:
        import psycopg

        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    shutil.rmtree(tmp, ignore_errors=True)
    checks = {
        "drained": drained,
        "drain_s": round(drain_took, 1),
        "drain_window_s": drain_s,
        "drain_polls": drain_polls,
        "files_dropped": len(dropped),
        "files_taken_in": len(set(dropped) & (taken_in | set(seen))),
        "files_taken_in_row_forgotten": len((set(dropped) & set(seen)) - taken_in),
        "site_tiny_waiting_for_space_at_end": tiny_waiting,
        "clock_skew": {"future_files": future_files,
                       "flagged_at_central": skew_flags.get("site-future", 0),
                       "past_flagged_at_central": skew_flags.get("site-past", 0)},
        "acknowledged": len(sent),
        "acknowledged_missing_at_central": len(set(sent) - set(counts)),
        "duplicated_at_central": sum(1 for v in counts.values() if v > 1),
        "at_central_never_queued": len(set(counts) - all_ids),
        "failed_at_edge": [{"site": s, "record_id": r, "file": f, "error": (e or "")[:160]}
                           for s, r, f, e in failed],
        "stemi_acknowledged": len(stemi_sent),
        "stemi_alerts_received": len(stemi_sent & set(desk.received) if desk else set()),
        "alerts_shown_new_more_than_once": sum(1 for v in (desk.new.values() if desk
                                                           else []) if v > 1),
        "integrity_check": integrity,
        "waveform_roundtrip_ok": rt_ok,
        "waveform_roundtrip_bad": rt_bad,
        "outbox_full_messages": len(full_lines),
        "cart_agent_crashes_restarted": len(crashes),
        "cart_agent_crash_kinds": sorted(set(crashes)),
        "site_tiny_errors": sorted({ln.split(": ", 2)[-1] for ln in by_site["site-tiny"].log
                                    if ln.startswith("ecg-edge: error")})[:5],
        "site_tiny_tracebacks": [ln for ln in by_site["site-tiny"].log
                                 if "Exception in thread" in ln or "Error:" in ln][:6],
        "tiny_outbox": "256 kB tmpfs, grown to 8 MB after the fault" if tiny_real
        else "300 kB --max-outbox-bytes budget",
        "real_disk_full_requested": real_disk_full,
        "central_exit_status": rc,
    }
    checks["ok"] = bool(
        drained and checks["acknowledged_missing_at_central"] == 0
        and checks["duplicated_at_central"] == 0 and checks["at_central_never_queued"] == 0
        and checks["files_taken_in"] == checks["files_dropped"]
        and checks["stemi_alerts_received"] == checks["stemi_acknowledged"]
        and checks["alerts_shown_new_more_than_once"] == 0
        and all(v in ("ok", "n/a") for v in integrity.values()) and not rt_bad
        and not checks["failed_at_edge"]
        and skew_flags.get("site-future", 0) == future_files
    )
    return {"backend": backend, "records": n_records, "seconds": seconds, "cut_s": cut_s,
            "carts": len(carts), "faults": dict(faults),
            "faults_injected": len(SKEW) + sum(
                v for k, v in faults.items() if k != "clock_skew_records"),
            "notes": notes, "checks": checks}


def main(argv: Sequence[str] | None = None) -> int:
    ci = os.environ.get("CI", "").lower() == "true"
    p = argparse.ArgumentParser(prog="bench.faults")
    p.add_argument("--records", type=int, default=30 if ci else 150)
    p.add_argument("--seconds", type=float, default=15.0 if ci else 240.0)
    p.add_argument("--cut", type=float, default=5.0 if ci else 120.0,
                   help="seconds the central stays unreachable in the network cut")
    p.add_argument("--backends", default="sqlite" if ci else "sqlite,postgres")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--enospc", action="store_true",
                   help="also one SQLite run with the tiny outbox on a real 256 kB tmpfs")
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args(argv)
    runs = [run_suite(b.strip(), n_records=args.records, seconds=args.seconds,
                      cut_s=args.cut, seed=args.seed) for b in args.backends.split(",")]
    if args.enospc:
        runs.append(run_suite("sqlite", n_records=min(args.records, 40),
                              seconds=min(args.seconds, 20), cut_s=min(args.cut, 5),
                              seed=args.seed, real_disk_full=True, drain_s=60))
    doc = {"bench": "faults", "date": datetime.now(UTC).isoformat(timespec="seconds"),
           "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                       "loadavg_start": os.getloadavg()},
           "ci": ci, "runs": runs}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    for r in runs:
        c = r["checks"]
        sys.stdout.write(
            f"{r['backend']:<9} faults {r['faults']}  acked {c['acknowledged']}"
            f" missing {c['acknowledged_missing_at_central']} dup"
            f" {c['duplicated_at_central']} phantom {c['at_central_never_queued']}"
            f" failed-at-edge {len(c['failed_at_edge'])} alerts"
            f" {c['stemi_alerts_received']}/{c['stemi_acknowledged']} roundtrip"
            f" {c['waveform_roundtrip_ok']} ok {len(c['waveform_roundtrip_bad'])} bad"
            f" integrity {set(c['integrity_check'].values())}"
            f" -> {'OK' if c['ok'] else 'FAIL'}\n")
    sys.stdout.write(f"wrote {args.out}\n")
    return 0 if all(r["checks"]["ok"] for r in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
