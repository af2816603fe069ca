"""Run every benchmark in ``bench/`` one after the other (``make bench``).

Each benchmark is its own process (``python -m bench.<name>``): it prints its table and
writes ``bench/results/<name>.json``. This runner only sequences them, keeps going when one
fails, and ends with a summary of exit codes and wall times (non-zero exit if any failed).
The full set takes tens of minutes on 2 cores (fault and load rounds run in full here;
``CI=true`` makes those that support it run short). Threads are pinned to one.

Usage: ``python -m bench.run_all [NAME ...]`` (default: all, in the order below).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: Accuracy and speed of the signal core first, then triage, then the services.
BENCHMARKS = (
    "filters",
    "analyze_speed",
    "rpeaks",
    "delineation",
    "quality",
    "rhythm",
    "pacing",
    "triage",
    "conduction",
    "warnings",
    "ingest",
    "alerts",
    "edge_upload",
    "load",
    "faults",
)


def main(argv: list[str] | None = None) -> int:
    names = list(argv if argv is not None else sys.argv[1:]) or list(BENCHMARKS)
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
        return 2
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    summary: list[tuple[str, int, float]] = []
    for name in names:
        print(f"=== bench.{name}", flush=True)
        t0 = time.monotonic()
        cmd = [sys.executable, "-m", f"bench.{name}"]
        rc = subprocess.run(cmd, cwd=ROOT, env=env).returncode
        summary.append((name, rc, time.monotonic() - t0))
    print("\nbenchmark        exit   wall s")
    for name, rc, wall in summary:
        print(f"{name:<16} {rc:>4} {wall:>8.1f}")
    return 0 if all(rc == 0 for _, rc, _ in summary) else 1


if __name__ == "__main__":
    raise SystemExit(main())
