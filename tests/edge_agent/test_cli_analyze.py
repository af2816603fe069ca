"""``ecg-edge analyze`` as a real process: reports, JSON, and clear errors on bad input."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge_agent", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


def test_analyze_sample_records_prints_reports() -> None:
    proc = _run("analyze", "sample_records/")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("== sample_records/") == 7, proc.stdout
    assert "Traceback" not in proc.stderr
    assert "Priority" in proc.stdout and "QRS" in proc.stdout


def test_analyze_json_has_the_contract(sample_dir: Path) -> None:
    proc = _run("analyze", str(sample_dir / "00001_hr.hea"), "--json")
    assert proc.returncode == 0, proc.stderr
    docs = json.loads(proc.stdout)
    assert len(docs) == 1
    assert docs[0]["record"]["format"] == "wfdb"
    assert docs[0]["triage"]["priority"] in {"critical", "warning", "routine", "unreadable"}


def _copy_record(src: Path, dst_dir: Path, stem: str) -> Path:
    for ext in (".hea", ".dat"):
        shutil.copy(src.with_suffix(ext), dst_dir / f"{stem}{ext}")
    return dst_dir / f"{stem}.hea"


@pytest.mark.parametrize(
    ("case", "needle"),
    [
        ("missing", "missing"),
        ("truncated", "bytes"),
        ("lying_header", "bytes"),
        ("bad_fs", "sampling frequency"),
    ],
)
def test_bad_input_is_a_clear_error(
    tmp_path: Path, sample_dir: Path, case: str, needle: str
) -> None:
    hea = _copy_record(sample_dir / "00001_hr.hea", tmp_path, "rec")
    if case == "missing":
        target = tmp_path / "nothing.hea"
    elif case == "truncated":
        dat = tmp_path / "rec.dat"
        dat.write_bytes(dat.read_bytes()[:50_000])
        target = hea
    elif case == "lying_header":
        text = hea.read_text().replace("00001_hr 12 500 5000", "rec 12 500 9000", 1)
        hea.write_text(text.replace("00001_hr.dat", "rec.dat"))
        target = hea
    else:
        text = hea.read_text().replace("00001_hr 12 500 5000", "rec 12 20 5000", 1)
        hea.write_text(text.replace("00001_hr.dat", "rec.dat"))
        target = hea
    if case in ("missing", "truncated"):
        hea.write_text(hea.read_text().replace("00001_hr", "rec"))
    proc = _run("analyze", str(target))
    assert proc.returncode != 0, f"{case}: exit 0\n{proc.stdout}"
    assert "Traceback" not in proc.stderr, proc.stderr
    assert needle in proc.stderr.lower(), f"{case}: {proc.stderr!r}"
    assert target.name in proc.stderr or str(target.parent) in proc.stderr, proc.stderr
