"""analyze(): the whole chain on real records, and its JSON contract."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edge_agent.analysis import analyze
from edge_agent.errors import InvalidSignalError
from edge_agent.io import read_record

REQUIRED_KEYS = {
    "fs_hz",
    "leads",
    "rpeaks",
    "beats",
    "heart_rate_bpm",
    "intervals_ms",
    "axis_deg",
    "st_mv",
    "quality",
    "triage",
    "provenance",
}


def _codes(doc: dict[str, object]) -> set[str]:
    triage = doc["triage"]
    assert isinstance(triage, dict)
    return {f["code"] for f in triage["findings"]}


def test_normal_record_is_routine_with_plausible_measurements(sample_dir: Path) -> None:
    rec = read_record(sample_dir / "00001_hr.hea")
    doc = analyze(rec.signal, rec.fs, rec.leads, age_years=56, sex="F").to_dict()
    assert REQUIRED_KEYS <= doc.keys(), f"missing keys {REQUIRED_KEYS - doc.keys()}"
    assert doc["triage"]["priority"] == "routine", f"normal ECG triaged {doc['triage']}"
    assert 50 <= doc["heart_rate_bpm"] <= 100, f"HR {doc['heart_rate_bpm']}"
    iv = doc["intervals_ms"]
    assert 80 <= iv["qrs"] <= 115, f"QRS {iv['qrs']} ms"
    assert 110 <= iv["pr"] <= 220, f"PR {iv['pr']} ms"
    assert 340 <= iv["qt"] <= 460, f"QT {iv['qt']} ms"
    assert all(abs(v) < 0.1 for v in doc["st_mv"].values() if v is not None), doc["st_mv"]
    assert set(doc["st_mv"]) == set(rec.leads)
    json.dumps(doc)  # plain JSON types only


def test_beats_carry_fiducials_in_order(sample_dir: Path) -> None:
    rec = read_record(sample_dir / "00001_hr.hea")
    doc = analyze(rec.signal, rec.fs, rec.leads).to_dict()
    beats = doc["beats"]
    assert len(beats) == len(doc["rpeaks"]) >= 8, f"{len(beats)} beats"
    complete = [
        b for b in beats if None not in (b["p_on"], b["qrs_on"], b["qrs_off"], b["t_off"])
    ]
    assert len(complete) >= len(beats) - 2, f"only {len(complete)}/{len(beats)} delineated"
    for b in complete:
        assert b["p_on"] < b["p_off"] <= b["qrs_on"] < b["r"] < b["qrs_off"] < b["t_off"], b


def test_pvc_excerpt_counts_ventricular_beats(sample_dir: Path) -> None:
    rec = read_record(sample_dir / "mitdb119_60s.hea")
    doc = analyze(rec.signal, rec.fs, rec.leads).to_dict()
    n_v = doc["rhythm"]["n_ventricular"]
    assert 15 <= n_v <= 23, f"{n_v} PVCs found, reference 19"
    assert "PVC" in _codes(doc)
    assert abs(len(doc["rpeaks"]) - 65) <= 1, f"{len(doc['rpeaks'])} beats, reference 65"


def test_af_record_is_flagged(sample_dir: Path) -> None:
    rec = read_record(sample_dir / "A0003.hea")
    doc = analyze(rec.signal, rec.fs, rec.leads).to_dict()
    assert "AF" in _codes(doc), doc["triage"]


def test_single_lead_subset_runs(sample_dir: Path) -> None:
    rec = read_record(sample_dir / "00001_hr.hea")
    ii = rec.leads.index("II")
    full = analyze(rec.signal, rec.fs, rec.leads).to_dict()
    one = analyze(rec.signal[ii : ii + 1], rec.fs, ["II"]).to_dict()
    assert one["leads"] == ["II"]
    assert abs(len(one["rpeaks"]) - len(full["rpeaks"])) <= 1
    assert one["heart_rate_bpm"] == pytest.approx(full["heart_rate_bpm"], abs=3)


def test_flat_lead_is_named_and_rest_analysed(sample_dir: Path) -> None:
    rec = read_record(sample_dir / "00001_hr.hea")
    x = rec.signal.copy()
    v3 = rec.leads.index("V3")
    x[v3] = 0.0
    doc = analyze(x, rec.fs, rec.leads).to_dict()
    q = doc["quality"]["leads"]["V3"]
    assert not q["ok"] and q["messages"], q
    assert all(m.startswith("V3") for m in q["messages"]), q["messages"]
    assert doc["quality"]["acceptable"]
    assert doc["st_mv"]["V3"] is None
    assert doc["heart_rate_bpm"] is not None


def test_all_leads_unusable_is_unreadable() -> None:
    x = np.zeros((12, 5000))
    doc = analyze(x, 500.0, [f"L{i}" for i in range(12)]).to_dict()
    assert doc["triage"]["priority"] == "unreadable"
    assert doc["quality"]["acceptable"] is False
    assert doc["rpeaks"] == [] and doc["heart_rate_bpm"] is None


def test_amplitude_scaling_does_not_change_beats(sample_dir: Path) -> None:
    rec = read_record(sample_dir / "00001_hr.hea")
    base = analyze(rec.signal, rec.fs, rec.leads).to_dict()
    half = analyze(rec.signal * 0.5, rec.fs, rec.leads).to_dict()
    assert base["rpeaks"] == half["rpeaks"]
    assert half["intervals_ms"]["qrs"] == pytest.approx(base["intervals_ms"]["qrs"], abs=4)


def test_contract_violations_raise_clear_errors() -> None:
    with pytest.raises(InvalidSignalError, match="sampling frequency"):
        analyze(np.zeros((1, 5000)), 50.0, ["II"])
    x = np.random.default_rng(0).normal(size=(2, 5000))
    x[1, 7] = np.nan
    with pytest.raises(InvalidSignalError, match="lead V1"):
        analyze(x, 500.0, ["II", "V1"])


def test_public_entry_point_is_edge_agent_analyze(sample_dir: Path) -> None:
    """The contract: ``edge_agent.analyze(signal, fs, leads)`` from the package itself."""
    import edge_agent

    rec = read_record(sample_dir / "00001_hr.hea")
    doc = edge_agent.analyze(rec.signal, rec.fs, rec.leads).to_dict()
    assert edge_agent.analyze is analyze
    assert REQUIRED_KEYS <= doc.keys()
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = edge_agent.nope  # type: ignore[attr-defined]


def test_config_profile_given_as_a_string(sample_dir: Path) -> None:
    """``AnalysisConfig(profile="monitoring")`` works end to end (it crashed in to_dict)."""
    from edge_agent.analysis import AnalysisConfig
    from edge_agent.dsp.filters import FilterProfile

    rec = read_record(sample_dir / "00001_hr.hea")
    cfg = AnalysisConfig(profile="monitoring")  # type: ignore[arg-type]
    assert cfg.profile is FilterProfile.MONITORING
    d = analyze(rec.signal, rec.fs, rec.leads, config=cfg).to_dict()
    assert d["provenance"]["algorithms"]["preprocess"].endswith(":monitoring")
    assert d["provenance"]["config"]["profile"] == "monitoring", d["provenance"]
    assert cfg.digest() == AnalysisConfig(profile=FilterProfile.MONITORING).digest()
    with pytest.raises(ValueError, match="profile must be one of diagnostic, monitoring"):
        AnalysisConfig(profile="ambulatory")  # type: ignore[arg-type]
