"""The signal core's public surface and its purity (no I/O or service imports)."""

from __future__ import annotations

import subprocess
import sys

import edge_agent.dsp as dsp


def test_all_is_sorted_and_complete() -> None:
    assert list(dsp.__all__) == sorted(dsp.__all__)
    public = {
        name
        for name in vars(dsp)
        if not name.startswith("_") and callable(getattr(dsp, name))
    }
    public -= {"annotations"}
    assert public == set(dsp.__all__), f"not exported: {public - set(dsp.__all__)}"


def test_core_imports_no_io_or_service_module() -> None:
    code = (
        "import sys, edge_agent.dsp, edge_agent.triage.rules; "
        "bad = [m for m in ('grpc', 'onnxruntime', 'sqlite3', 'wfdb', 'matplotlib', "
        "'pandas') "
        "if m in sys.modules]; print(','.join(bad))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "", f"the pure core imported: {out.stdout.strip()}"
