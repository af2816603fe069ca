"""Crash harness: ``kill -9`` a real ``ecg-edge submit --wait`` process again and again.

A central runs as its own process for the whole loop. Each round starts ``ecg-edge submit``
on a few record files (some new, some already submitted before) and kills it with SIGKILL
a random 0-80 ms after its j-th receipt (so the kill lands while the next record is
analysed and written to the outbox) or 0-150 ms after its last receipt (while uploading),
alternately. A record is *accepted* when its ``queued``/``duplicate``
line reached stdout (the operator's receipt, printed only after the outbox commit).

Afterwards a last, uninterrupted ``submit --wait`` of every file must succeed, and then:
every accepted record is at the central, every file is at the central exactly once (one
record id per file), and the central holds nothing the outbox does not know.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class CrashReport:
    """What the loop did and what it found."""

    rounds: int = 0
    killed_before_first_receipt: int = 0
    killed_while_queueing: int = 0
    killed_while_uploading: int = 0
    finished_before_kill: int = 0
    accepted_ids: set[str] = field(default_factory=set)
    files: int = 0
    central_records: int = 0
    central_ids: set[str] = field(default_factory=set)
    outbox_ids: set[str] = field(default_factory=set)
    final_rc: int = -1
    final_stderr: str = ""
    integrity: str = ""
    resent_after_lost_ack: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """Summary numbers (no id lists)."""
        return {
            "rounds": self.rounds,
            "killed_before_first_receipt": self.killed_before_first_receipt,
            "killed_while_queueing": self.killed_while_queueing,
            "killed_while_uploading": self.killed_while_uploading,
            "finished_before_kill": self.finished_before_kill,
            "files": self.files,
            "accepted_records": len(self.accepted_ids),
            "central_records": self.central_records,
            "accepted_missing_at_central": len(self.accepted_ids - self.central_ids),
            "central_not_in_outbox": len(self.central_ids - self.outbox_ids),
            "final_rc": self.final_rc,
            "resent_after_lost_ack": self.resent_after_lost_ack,
            "outbox_integrity": self.integrity,
            "seconds": round(self.seconds, 1),
        }


def edge_cmd(*args: str) -> list[str]:
    """``ecg-edge`` through the current interpreter."""
    return [sys.executable, "-m", "edge_agent", *args]


def _parse_receipts(out: str) -> tuple[set[str], int]:
    ids = set()
    n = 0
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0] in ("queued", "duplicate"):
            ids.add(parts[1])
            n += 1
    return ids, n


def _one_round(
    chosen: list[Path], base: tuple[str, ...], env: dict[str, str], trigger: int,
    *, delay_s: float,
) -> tuple[int, set[str], int]:
    """One ``submit --wait``, SIGKILLed ``delay_s`` after its ``trigger``-th receipt."""
    proc = subprocess.Popen(
        edge_cmd("submit", *map(str, chosen), "--wait", "--timeout", "60", *base),
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env, cwd=ROOT,
    )
    lines: list[str] = []
    hit = threading.Event()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if _parse_receipts("".join(lines))[1] >= trigger:
                hit.set()
        hit.set()

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    hit.wait(timeout=120)
    time.sleep(delay_s)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    rc = proc.wait(timeout=30)
    reader.join(timeout=10)
    assert proc.stdout is not None
    proc.stdout.close()
    ids, n = _parse_receipts("".join(lines))
    return n, ids, rc


def run_crash_loop(
    *,
    files: list[Path],
    outbox: Path,
    server: str,
    central_ids: Callable[[], list[str]],
    rounds: int,
    per_round: int = 4,
    seed: int = 0,
    extra_args: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
    upload_phase_only: bool = False,
) -> CrashReport:
    """Run the kill -9 loop, then a clean drain, and collect the evidence."""
    rng = random.Random(seed)
    rep = CrashReport(files=len(files))
    t0 = time.monotonic()
    env = {**os.environ, **(env or {})}
    base = ("--server", server, "--outbox", str(outbox), "--site", "site-crash",
            "--insecure", "--no-model", *extra_args)
    for k in range(rounds):
        # Fresh files each round while there are enough (a known file is answered from
        # the outbox at once, so a kill "while queueing" needs new content to analyse).
        lo = (k * per_round) % max(1, len(files) - per_round + 1)
        chosen = files[lo:lo + per_round]
        # Alternate the target: after the j-th receipt (kill lands while the next record
        # is analysed and written), or after the last receipt (kill lands in the upload).
        upload_phase = upload_phase_only or k % 2 == 1
        trigger = len(chosen) if upload_phase else rng.randint(1, len(chosen) - 1)
        n, ids, rc = _one_round(chosen, base, env, trigger,
                                delay_s=rng.uniform(0.0, 0.15 if upload_phase else 0.08))
        rep.accepted_ids |= ids
        if rc != -signal.SIGKILL:
            rep.finished_before_kill += 1
        elif n == 0:
            rep.killed_before_first_receipt += 1
        elif n < len(chosen):
            rep.killed_while_queueing += 1
        else:
            rep.killed_while_uploading += 1
        rep.rounds = k + 1
    final = subprocess.run(edge_cmd("submit", *map(str, files), "--wait", "--timeout",
                                    "120", *base),
                           capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    rep.final_rc = final.returncode
    rep.final_stderr = final.stderr[-2000:]
    ids, _ = _parse_receipts(final.stdout)
    rep.accepted_ids |= ids
    got = central_ids()
    rep.central_records = len(got)
    rep.central_ids = set(got)
    db = sqlite3.connect(str(outbox))
    rep.outbox_ids = {r[0] for r in db.execute("SELECT record_id FROM records")}
    rep.integrity = str(db.execute("PRAGMA integrity_check").fetchone()[0])
    # The central answered "duplicate": the first ack died with a killed process.
    rep.resent_after_lost_ack = int(
        db.execute("SELECT COUNT(*) FROM records WHERE duplicate = 1").fetchone()[0]
    )
    db.close()
    rep.seconds = time.monotonic() - t0
    return rep
