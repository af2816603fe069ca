"""A cart behind a small outbox byte budget drains a burst completely (issue 8 faults).

Real processes: ``ecg-central serve`` (SQLite) on loopback and ``ecg-edge watch`` with its
real SQLite outbox limited by ``--max-outbox-bytes``. Files refused because the outbox is
full must be taken in once the uploads free space - never forgotten - and ``status`` must
tell the operator which files are waiting for space.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from edge_agent.outbox import Outbox, RecordState
from tests.edge_agent._crash import edge_cmd
from tests.edge_agent._procs import ROOT, CentralProcess, needs_analysis
from tests.edge_agent._records import write_records

# One 12-lead 10 s record costs ~82 kB in the outbox (55 kB waveform + 26 kB analysis):
# two fit at once, and the history of sent records must not eat the budget for good.
BUDGET = 200_000
N_FILES = 6


def _wait_for(cond: Callable[[], bool], timeout_s: float, what: str,
              tail: Callable[[], str]) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}\n{tail()}")


def _status(outbox: Path) -> dict[str, object]:
    """``ecg-edge status --json`` as the operator would run it (another process)."""
    out = subprocess.run(edge_cmd("status", "--json", "--outbox", str(outbox)),
                         capture_output=True, text=True, cwd=ROOT, timeout=60, check=True)
    doc: dict[str, object] = json.loads(out.stdout)
    return doc


def _waiting(outbox: Path) -> int:
    if not outbox.exists():
        return 0
    with Outbox(outbox) as ob:
        return ob.status().waiting_files


@needs_analysis
def test_budget_limited_cart_takes_in_and_drains_a_whole_burst(tmp_path: Path) -> None:
    central = CentralProcess(tmp_path / "central_home")
    (tmp_path / "central_home").mkdir()
    export = tmp_path / "export"
    outbox = tmp_path / "outbox.sqlite"
    site = "site-budget"
    files = write_records(export, N_FILES, prefix="b")
    proc = subprocess.Popen(
        edge_cmd("watch", str(export), "--server", central.target, "--outbox", str(outbox),
                 "--site", site, "--insecure", "--no-model", "--no-reports",
                 "--interval", "0.2", "--settle", "0.2", "--max-outbox-bytes", str(BUDGET)),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT,
        env={"ECG_EDGE_RPC_TIMEOUT_S": "3", "ECG_EDGE_BACKOFF_MAX_S": "1",
             **_env()},
    )
    log: list[str] = []

    def tail() -> str:
        return "\n".join(log[-15:])

    try:
        # Central down: the outbox fills up and the rest of the burst waits for space.
        _wait_for(lambda: _waiting(outbox) > 0, 30, "files refused for space", tail)
        st = _status(outbox)
        waiting = st["waiting_for_space"]
        assert isinstance(waiting, dict)
        pending = st["pending"]
        assert isinstance(pending, int)
        assert pending + int(waiting["files"]) == N_FILES, f"status {st}"
        assert int(waiting["files"]) >= N_FILES - 3, f"only {waiting} waiting: {st}"
        assert str(waiting.get("oldest")).endswith(".hea") and waiting["since"], st
        central.start()

        def all_sent() -> bool:
            with Outbox(outbox) as ob:
                return ob.count(RecordState.SENT) == N_FILES

        _wait_for(all_sent, 40, f"all {N_FILES} files taken in and acknowledged",
                  lambda: f"{_status(outbox)}\n{tail()}")
        assert _waiting(outbox) == 0, _status(outbox)
        ids = central.record_ids()
    finally:
        proc.terminate()
        try:
            out, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        log.extend(out.splitlines())
        central.stop()
    with Outbox(outbox) as ob:
        sent = ob.list_records(RecordState.SENT)
    assert sorted(Path(r.source).name for r in sent) == sorted(f.name for f in files)
    counts = Counter(ids)
    assert {r.record_id for r in sent} == set(counts), "sent records missing at central"
    assert max(counts.values()) == 1, f"duplicated at the central: {counts}"
    assert any("outbox is full" in ln for ln in log), "the refusal was never reported"


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("ECG_EDGE_")} | {
        "OMP_NUM_THREADS": "1"}
