"""Bundle branch block and PVC rules on QRS waves and timed beats: crafted and real.

Crafted median beats are sums of Gaussian waves at 500 Hz, so every wave time and
duration is known; real records come from ``../shared/data`` (skipped without it).
"""

from __future__ import annotations

import ast
import csv
from pathlib import Path

import numpy as np
import pytest
import wfdb
from numpy.typing import NDArray

from edge_agent.analysis import Analysis, analyze
from edge_agent.dsp.results import (
    BeatClass,
    Beats,
    Fiducials,
    Intervals,
    LeadMeasures,
    LeadQuality,
    MedianBeat,
    QualityReport,
    RhythmFeatures,
)
from edge_agent.dsp.rhythm import rhythm_findings
from edge_agent.triage.conduction import measure_qrs_shapes, pvc_evidence
from edge_agent.triage.rules import RuleInput, evaluate_rules
from edge_agent.types import STANDARD_12, Finding, Priority, normalize_lead_name

FS = 500.0
ON = 150  # QRS onset sample of the crafted median beats (0.3 s into 0.9 s)
LEFT = ("I", "V6")  # leads whose T follows ``t_mv`` in the crafted beats
_OK = QualityReport(tuple(LeadQuality(n, True) for n in STANDARD_12))


def _wave(n: int, at_ms: float, width_ms: float, mv: float) -> NDArray[np.float64]:
    t = (np.arange(n) - ON) * 1000.0 / FS
    return np.asarray(mv * np.exp(-0.5 * ((t - at_ms) / (width_ms / 4.0)) ** 2))


def _beat(
    waves: dict[str, list[tuple[float, float, float]]], qrs_ms: float, t_mv: float = 0.0
) -> tuple[MedianBeat, Fiducials, tuple[LeadMeasures, ...]]:
    """A 12-lead median beat: per lead (peak time ms from onset, width ms, mV) waves."""
    n = 450
    w = np.zeros((12, n))
    for i, lead in enumerate(STANDARD_12):
        for at, width, mv in waves.get(lead, [(40.0, 40.0, 0.3)]):
            w[i] += _wave(n, at, width, mv)
        w[i] += _wave(n, qrs_ms + 150.0, 120.0, t_mv if lead in LEFT else 0.2)
    off = ON + round(qrs_ms * FS / 1000.0)
    fid = Fiducials(p_on=None, p_off=None, qrs_on=ON, qrs_off=off, t_off=off + 150)
    median = MedianBeat(waveform=w, r_index=ON + 20, n_beats=10, fs=FS)
    measures = tuple(
        LeadMeasures(
            lead=lead, st_j_mv=0.0, st_j60_mv=0.0, st_j80_mv=0.0, r_mv=0.5, s_mv=-0.2,
            q_mv=0.0, q_ms=0.0, t_mv=t_mv if lead in LEFT else 0.2,
        )
        for lead in STANDARD_12
    )  # fmt: skip
    return median, fid, measures


def _rules(
    median: MedianBeat, fid: Fiducials, measures: tuple[LeadMeasures, ...], qrs_ms: float
) -> dict[str, Finding]:
    iv = Intervals(1000.0, 160.0, qrs_ms, 400.0, 400.0, 400.0)
    rhy = RhythmFeatures(60.0, 1000.0, 10.0, 10.0, 0.01, False, 1000.0, n_beats=10)
    ctx = RuleInput.build(
        lead_measures=measures, intervals=iv, rhythm=rhy, rhythm_findings=(),
        quality=_OK, age_years=60.0, sex="male",
        qrs_shapes=measure_qrs_shapes(median, fid, STANDARD_12),
    )  # fmt: skip
    return {f.code: f for f in evaluate_rules(ctx)}


# rsR' in V1 (r 20 ms, s 45 ms, R' 95 ms), slurred S in I and V6 (70-130 ms).
_RBBB = {
    "V1": [(20.0, 24.0, 0.25), (45.0, 24.0, -0.3), (95.0, 50.0, 0.9)],
    "V2": [(20.0, 24.0, 0.3), (50.0, 30.0, -0.5), (100.0, 40.0, 0.6)],
    "I": [(35.0, 40.0, 0.7), (100.0, 60.0, -0.35)],
    "V6": [(35.0, 40.0, 0.9), (100.0, 60.0, -0.3)],
}
# QS in V1-V2, broad monophasic R in I, aVL, V5, V6 peaking at 80-90 ms, T discordant.
_LBBB = {
    "V1": [(70.0, 100.0, -1.5)],
    "V2": [(70.0, 100.0, -2.0)],
    "I": [(85.0, 110.0, 1.0)],
    "aVL": [(85.0, 110.0, 0.8)],
    "V5": [(85.0, 110.0, 1.2)],
    "V6": [(90.0, 110.0, 1.1)],
}


def test_qrs_shapes_of_a_crafted_rbbb() -> None:
    median, fid, _ = _beat(_RBBB, 140.0)
    sh = measure_qrs_shapes(median, fid, STANDARD_12)
    assert sh["V1"].waves == "+-+", f"{sh['V1']}"
    assert sh["V1"].r_peak_time_ms == pytest.approx(95.0, abs=2.0), f"{sh['V1']}"
    assert sh["I"].waves == "+-" and sh["I"].terminal_s_ms > 40.0, f"{sh['I']}"
    assert sh["V6"].terminal_s_ms > sh["V6"].r_ms, f"{sh['V6']}"
    assert set(sh) == {"I", "aVL", "V1", "V2", "V5", "V6"}, f"{sorted(sh)}"


def test_crafted_rbbb_raises_rbbb_not_lbbb() -> None:
    median, fid, m = _beat(_RBBB, 140.0)
    got = _rules(median, fid, m, 140.0)
    assert "RBBB" in got and "LBBB" not in got, f"{sorted(got)}"
    assert "rsR' in V1" in got["RBBB"].detail, f"{got['RBBB'].detail}"
    assert got["RBBB"].priority is Priority.WARNING


def test_rsr_prime_with_narrow_qrs_is_not_complete_rbbb() -> None:
    # Incomplete RBBB: the same shape squeezed into a 100 ms QRS.
    narrow = {
        lead: [(at * 0.7, wd * 0.7, mv) for at, wd, mv in ws] for lead, ws in _RBBB.items()
    }
    median, fid, m = _beat(narrow, 100.0)
    got = _rules(median, fid, m, 100.0)
    assert "RBBB" not in got, f"{sorted(got)}"


def test_narrow_s_in_i_and_v6_is_not_rbbb() -> None:
    # R' in V1 but a short S in I/V6 (20 ms, shorter than the R): criterion 3 fails.
    waves = {
        **_RBBB,
        "I": [(35.0, 50.0, 0.8), (75.0, 12.0, -0.2)],
        "V6": [(35.0, 50.0, 0.9), (75.0, 12.0, -0.2)],
    }
    median, fid, m = _beat(waves, 140.0)
    assert "RBBB" not in _rules(median, fid, m, 140.0)


def test_crafted_lbbb_raises_lbbb() -> None:
    median, fid, m = _beat(_LBBB, 150.0, t_mv=-0.3)
    got = _rules(median, fid, m, 150.0)
    assert "LBBB" in got and "RBBB" not in got, f"{sorted(got)}"
    assert got["LBBB"].detail.startswith("QRS 150 ms, QS in V1"), f"{got['LBBB'].detail}"


def test_lbbb_needs_late_r_peak_in_v5_v6_and_no_concordant_t() -> None:
    early = {**_LBBB, "V5": [(40.0, 60.0, 1.2)], "V6": [(40.0, 60.0, 1.1)]}
    median, fid, m = _beat(early, 150.0, t_mv=-0.3)
    assert "LBBB" not in _rules(median, fid, m, 150.0), "R peak time 40 ms in V5/V6"
    median, fid, m = _beat(_LBBB, 150.0, t_mv=0.3)
    assert "LBBB" not in _rules(median, fid, m, 150.0), "T upright in I and V6"


# ---------------------------------------------------------------------------- PVCs


def _beats(r: list[int], v: set[int]) -> Beats:
    labels = tuple(
        BeatClass.VENTRICULAR if i in v else BeatClass.NORMAL for i in range(len(r))
    )
    return Beats(np.asarray(r, np.int64), labels, np.ones(len(r)))  # fmt: skip


def test_pvc_evidence_counts_premature_and_drops_edge_and_on_time_beats() -> None:
    r = [300 + 500 * k for k in range(10)]  # 60 bpm at 500 Hz, 5000 samples
    premature = list(r)
    premature[4] -= 200  # 0.6 x the RR: a PVC
    ev = pvc_evidence(_beats(premature, {4}), FS, 5000)
    assert ev is not None and (ev.n_labelled, ev.n_counted) == (1, 1), f"{ev}"
    edge = [50, *r[1:]]  # first beat 0.1 s into the record
    ev = pvc_evidence(_beats(edge, {0}), FS, 5000)
    assert ev is not None and (ev.n_counted, ev.n_edge) == (0, 1), f"{ev}"
    ev = pvc_evidence(_beats(r, {5}), FS, 5000)  # wide but on time
    assert ev is not None and (ev.n_counted, ev.n_on_time) == (0, 1), f"{ev}"
    ev = pvc_evidence(_beats(r, {5}), FS, 5000, irregular=True)  # AF: no timing
    assert ev is not None and ev.n_counted == 1, f"{ev}"


def test_timed_pvc_rule_replaces_the_rhythm_stage_count() -> None:
    r = [300 + 500 * k for k in range(10)]
    rhy = RhythmFeatures(60.0, 1000.0, 10.0, 10.0, 0.01, False, 1000.0, n_beats=10,
                         n_ventricular=1, duration_s=10.0)  # fmt: skip
    stage = tuple(rhythm_findings(rhy))
    assert any(f.code == "PVC" for f in stage), "the rhythm stage reports the V beat"

    def codes(beats: Beats) -> list[Finding]:
        ctx = RuleInput.build(
            lead_measures=(), intervals=None, rhythm=rhy, rhythm_findings=stage,
            quality=_OK, age_years=None, sex=None, pvc=pvc_evidence(beats, FS, 5000),
        )  # fmt: skip
        return [f for f in evaluate_rules(ctx) if f.code == "PVC"]

    assert codes(_beats(r, {5})) == [], "an on-time wide beat is not a PVC"
    premature = list(r)
    premature[4] -= 200
    got = codes(_beats(premature, {4}))
    assert [f.source for f in got] == ["rules:pvc-timed"], f"{got}"
    assert got[0].priority is Priority.WARNING, "1 of 10 beats is >= 10 %"


# ---------------------------------------------------------------------- real records


def _after(a: Analysis) -> set[str]:
    """Rule codes with the new inputs filled in, as ``bench/conduction.py`` does."""
    assert a.rhythm is not None
    ctx = RuleInput.build(
        lead_measures=a.lead_measures, intervals=a.intervals, rhythm=a.rhythm,
        rhythm_findings=rhythm_findings(a.rhythm), quality=a.quality, age_years=None,
        sex=None,
        qrs_shapes=measure_qrs_shapes(a.median, a.fiducials, a.leads, a.quality.usable),
        pvc=pvc_evidence(a.beats, a.fs_hz, a.n_samples, a.rhythm.af_suspected),
    )  # fmt: skip
    return {f.code for f in evaluate_rules(ctx) if f.source.startswith("rules:")}


def _ptbxl(shared: Path, ecg_id: int) -> tuple[Analysis, dict[str, float]]:
    root = shared / "ptbxl_subset"
    with open(root / "ptbxl_database.csv", newline="") as fh:
        row = next(r for r in csv.DictReader(fh) if r["ecg_id"] == str(ecg_id))
    rec = wfdb.rdrecord(str(root / row["filename_hr"]))
    x = np.asarray(rec.p_signal, dtype=np.float64).T
    leads = [normalize_lead_name(n) for n in rec.sig_name]
    return analyze(x, float(rec.fs), leads), ast.literal_eval(row["scp_codes"])


@pytest.mark.shared_data
@pytest.mark.parametrize("ecg_id", [195, 172])  # CRBBB, held-out folds 9 and 10
def test_real_ptbxl_rbbb_raises_rbbb(shared_data: Path, ecg_id: int) -> None:
    a, codes = _ptbxl(shared_data, ecg_id)
    assert "CRBBB" in codes, f"label {codes}"
    got = _after(a)
    assert "RBBB" in got and "LBBB" not in got, f"ecg {ecg_id}: {sorted(got)}"


@pytest.mark.shared_data
def test_real_ptbxl_lbbb_raises_lbbb(shared_data: Path) -> None:
    a, codes = _ptbxl(shared_data, 180)  # CLBBB, held-out fold 10
    assert "CLBBB" in codes, f"label {codes}"
    got = _after(a)
    assert "LBBB" in got and "RBBB" not in got, f"{sorted(got)}"


@pytest.mark.shared_data
@pytest.mark.parametrize("ecg_id", [1, 3, 4, 83])
def test_real_ptbxl_normals_raise_no_bbb_or_pvc(shared_data: Path, ecg_id: int) -> None:
    # 4 and 83 are normal ECGs whose first or last beat the core labelled ventricular
    # (a cut beat window); the timed PVC count must not call them.
    a, codes = _ptbxl(shared_data, ecg_id)
    assert codes.get("NORM", 0) >= 80, f"label {codes}"
    got = _after(a)
    assert not ({"RBBB", "LBBB", "PVC"} & got), f"ecg {ecg_id}: {sorted(got)}"


@pytest.mark.shared_data
def test_real_ptbxl_pvc_raises_pvc(shared_data: Path) -> None:
    a, codes = _ptbxl(shared_data, 219)  # PVC, held-out fold 9
    assert "PVC" in codes, f"label {codes}"
    assert "PVC" in _after(a)


@pytest.mark.shared_data
def test_real_mitdb_window_pvcs_counted(shared_data: Path) -> None:
    # MIT-BIH 119 (held-out: odd record), 20-30 s: ventricular bigeminy, 5 V beats.
    path = shared_data / "mitdb" / "119"
    rec = wfdb.rdrecord(str(path), sampfrom=7200, sampto=10800)
    ann = wfdb.rdann(str(path), "atr", sampfrom=7200, sampto=10800)
    n_v = sum(s == "V" for s in ann.symbol)
    x = np.asarray(rec.p_signal, dtype=np.float64).T
    a = analyze(x, float(rec.fs), list(rec.sig_name))
    assert a.rhythm is not None
    ev = pvc_evidence(a.beats, a.fs_hz, a.n_samples, a.rhythm.af_suspected)
    assert n_v == 5 and ev is not None, f"{n_v} annotated V, {ev}"
    assert ev.n_counted >= n_v - 1, f"{n_v} annotated V, {ev}"
    assert "PVC" in _after(a)


def test_pvc_evidence_needs_beats_and_a_record_length() -> None:
    r = [300 + 500 * k for k in range(10)]
    assert pvc_evidence(None, FS, 5000) is None
    assert pvc_evidence(_beats(r, {4}), FS, 0) is None, "no length: keep the stage count"
    empty = pvc_evidence(_beats([], set()), FS, 5000)
    assert empty is not None and (empty.n_beats, empty.n_counted) == (0, 0), f"{empty}"


def test_interpolated_pvc_counts() -> None:
    # A PVC between two sinus beats without a pause (RR 0.46 + 0.56 of the median, as in
    # LUDB 105): premature, so it counts. Rejecting beats whose RRs add up to about one
    # cycle (to drop extra detections) would lose it - tried and reverted.
    r = [300 + 500 * k for k in range(10)]
    interpolated = sorted([*r, r[4] + 230])
    ev = pvc_evidence(_beats(interpolated, {5}), FS, 5000)
    assert ev is not None and ev.n_counted == 1, f"{ev}"


@pytest.mark.shared_data
def test_real_ludb_interpolated_pvc_raises_pvc(shared_data: Path) -> None:
    rec = wfdb.rdrecord(str(shared_data / "ludb" / "data" / "105"))
    with open(shared_data / "ludb" / "ludb.csv", newline="") as fh:
        row = next(r for r in csv.DictReader(fh) if r["ID"] == "105")
    assert "intercalary pvc" in row["Extrasystolies"].lower(), f"{row['Extrasystolies']}"
    x = np.asarray(rec.p_signal, dtype=np.float64).T
    a = analyze(x, float(rec.fs), list(rec.sig_name))
    assert "PVC" in _after(a)
