"""Triage on real records through the project's own ``analyze`` (rules and ONNX model)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import wfdb

from edge_agent.analysis import analyze
from edge_agent.triage import TriageModel, load_default_model

pytestmark = pytest.mark.shared_data


@pytest.fixture(scope="module")
def model() -> TriageModel:
    return load_default_model()


def _record(path: Path, seconds: float = 10.0) -> tuple[np.ndarray, float, list[str]]:
    head = wfdb.rdheader(str(path))
    n = int(seconds * head.fs)
    rec = wfdb.rdrecord(str(path), channels=list(range(min(12, head.n_sig))), sampto=n)
    return np.asarray(rec.p_signal.T, dtype=np.float64), float(rec.fs), list(rec.sig_name)


def _stemi_sources(d: dict[str, object]) -> list[str]:
    findings = d["findings"]
    assert isinstance(findings, list)
    return [f["source"] for f in findings if f["code"] == "STEMI"]


@pytest.mark.parametrize(
    "name", ["patient233_s0457_re", "patient238_s0466_re", "patient240_s0468_re"]
)
def test_healthy_controls_raise_no_stemi(
    shared_data: Path, model: TriageModel, name: str
) -> None:
    x, fs, leads = _record(shared_data / "ptbdb_10s" / name)
    d = analyze(x, fs, leads, age_years=None, sex="male", model=model).to_dict()["triage"]
    assert _stemi_sources(d) == [], f"{name} (PTB healthy control) raised STEMI: {d}"
    assert d["priority"] != "critical", f"{name}: {d['priority']} {d['findings']}"
