"""Crash safety with real processes: ``kill -9`` of ``ecg-edge submit --wait`` while it
queues and while it uploads, round after round, against the real central reader; then
every accepted record is at the central exactly once.

Rounds: 3 by default (CI: kills while queueing and while uploading), 100 with ``FULL=1``
(also run by ``bench/edge_upload.py``).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.edge_agent._crash import run_crash_loop
from tests.edge_agent._procs import CentralProcess, needs_analysis
from tests.edge_agent._records import write_records

ROUNDS = 100 if os.environ.get("FULL") == "1" else 3


@pytest.mark.slow
@needs_analysis
def test_kill9_loop_loses_nothing_and_duplicates_nothing(tmp_path: Path) -> None:
    files = write_records(tmp_path / "export", 3 * ROUNDS + 2, prefix="crash")
    central = CentralProcess(tmp_path / "central")
    (tmp_path / "central").mkdir()
    central.start()
    try:
        rep = run_crash_loop(files=files, outbox=tmp_path / "outbox.sqlite",
                             server=central.target, central_ids=central.record_ids,
                             rounds=ROUNDS, per_round=3, seed=11)
        at_central = central.record_ids()
    finally:
        central.stop()
    summary = rep.to_dict()
    print(f"crash loop: {summary}")
    assert rep.final_rc == 0, f"final drain rc={rep.final_rc}: {rep.final_stderr}"
    assert rep.integrity == "ok", f"outbox integrity: {rep.integrity}"
    assert rep.killed_while_queueing + rep.killed_while_uploading > 0, f"{summary}"
    missing = rep.accepted_ids - set(at_central)
    assert not missing, f"{len(missing)} accepted records never reached the central"
    assert len(at_central) == len(set(at_central)) == len(files), (
        f"{len(at_central)} records at the central for {len(files)} files: {summary}")
    assert set(at_central) <= rep.outbox_ids, f"unknown records at the central: {summary}"
