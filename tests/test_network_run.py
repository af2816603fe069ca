"""``ecg-central network`` (what ``make run`` starts) as a real process tree.

Starts the whole local network on three records from ``sample_records/`` (a normal ECG, AF,
and LUDB 21, a real STEMI that the bundled STEMI feature model raises as critical - LUDB 21
is one of that model's training patients, so this is a plumbing test, not evidence),
waits for the ready banner, the alert line and "all N records are at the central", checks
the central's queue with ``ecg-central queue --json``, then sends SIGINT and checks the
exit status 0 and that every child process is gone.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STEMI = "21"  # LUDB 21, in sample_records/


def _children(pid: int) -> set[int]:
    """Every descendant pid of ``pid`` (from /proc)."""
    parents: dict[int, int] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        parents[int(d.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        nxt = {p for p, pp in parents.items() if pp in frontier} - found
        found |= nxt
        frontier = nxt
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_network_runs_alerts_and_stops_cleanly_on_sigint(tmp_path: Path) -> None:
    records = tmp_path / "records"
    records.mkdir()
    for stem in ("00001_hr", "A0003", STEMI):
        for f in (ROOT / "sample_records").glob(stem + ".*"):
            shutil.copy2(f, records / f.name)
    workdir = tmp_path / "net"
    proc = subprocess.Popen(
        [sys.executable, "-m", "central_reader", "network", "--workdir", str(workdir),
         "--records", str(records), "--sites", "site-x,site-y",
         "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    lines: list[str] = []
    done = threading.Event()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith("all ") and "at the central" in line:
                done.set()

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 90
        while not (done.is_set() and any("ALERT" in x for x in lines)):
            assert proc.poll() is None, f"network exited early: {lines}"
            assert time.monotonic() < deadline, f"no alert/all-records line: {lines}"
            time.sleep(0.2)
        text = "\n".join(lines)
        url = re.search(r"reading page\s+(http://127\.0\.0\.1:\d+/)", text)
        token = re.search(r"reader token\s+(ecgt_\S+)", text)
        assert url and token, f"ready banner lacks URL or token:\n{text}"
        assert "network ready" in text, text
        queued = [x.split() for x in lines if x.startswith("[site-") and " queued " in x]
        assert len(queued) == 3, f"expected 3 queued receipts: {queued}"
        stemi = [q for q in queued if q[2] == "critical" and "STEMI" in q[-1]]
        assert len(stemi) == 1, f"one critical STEMI receipt expected: {queued}"
        stemi_id = stemi[0][4]
        alert = [x for x in lines if "ALERT" in x]
        assert stemi_id in alert[0] and "STEMI" in alert[0], f"alert line: {alert}"

        out = subprocess.run(
            [sys.executable, "-m", "central_reader", "queue", "--db",
             f"sqlite:///{workdir / 'central.sqlite'}", "--json"],
            capture_output=True, text=True, cwd=ROOT, timeout=60, check=True,
        )
        queue = json.loads(out.stdout)
        ids = sorted(str(e["record_id"]) for e in queue)
        assert ids == sorted(q[4] for q in queued), f"central queue {ids} vs {queued}"
        assert queue[0]["record_id"] == stemi_id, f"STEMI not first in the queue: {queue}"
        assert queue[0]["priority"] == "critical", queue[0]
        assert {e["site_id"] for e in queue} == {"site-x", "site-y"}, queue

        kids = _children(proc.pid)
        assert len(kids) >= 3, f"central + 2 agents expected as children: {kids}"
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(timeout=40)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(5)
    if proc.stdout is not None:
        proc.stdout.close()
    assert rc == 0, f"exit status {rc}: {lines[-10:]}"
    assert lines[-1] == "network stopped", lines[-5:]
    time.sleep(0.2)
    left = [p for p in kids if _alive(p)]
    assert not left, f"orphan processes after SIGINT: {left}"
