"""Atrial analysis of the rhythm stage: P-wave AF criterion, atrial flutter (AFL) and
third-degree AV block (AVB3), on real records and on records constructed from real beats.

No real complete AV block is in the shared data: the AVB3 records here are built by
``bench.rhythm.construct_av_record`` from the real P waves and real QRST complexes of the
normal sample record ``00001_hr`` (PTB-XL ecg_id 1) laid down at independent rates -
synthetic evidence, and said so.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray
from scipy.signal import resample_poly

from bench.rhythm import construct_av_record
from edge_agent.analysis import Analysis, analyze
from edge_agent.dsp.beats import classify_beats
from edge_agent.dsp.filters import preprocess
from edge_agent.dsp.rhythm import assess_atrial, assess_rhythm
from edge_agent.dsp.rpeaks import detect_rpeaks
from edge_agent.errors import InvalidSignalError
from edge_agent.io import read_record
from edge_agent.io.record import EcgRecord
from edge_agent.types import Priority


@pytest.fixture(scope="module")
def normal(sample_dir: Path) -> EcgRecord:
    return read_record(sample_dir / "00001_hr.hea")


def _rules(a: Analysis) -> dict[str, Priority]:
    return {f.code: f.priority for f in a.triage.findings if f.source.startswith("rules:")}


@pytest.mark.parametrize(
    ("atrial", "ventricular", "seed"), [(85.0, 38.0, 1), (72.0, 41.0, 0), (100.0, 55.0, 0)]
)
def test_constructed_complete_av_block_is_critical(
    normal: EcgRecord, atrial: float, ventricular: float, seed: int
) -> None:
    x = construct_av_record(
        normal.signal, normal.fs, normal.leads, atrial_bpm=atrial,
        ventricular_bpm=ventricular, seed=seed,
    )  # fmt: skip
    a = analyze(x, normal.fs, normal.leads)
    assert a.rhythm is not None
    codes = _rules(a)
    assert codes.get("AVB3") is Priority.CRITICAL, f"{codes}, {a.rhythm}"
    assert a.triage.priority is Priority.CRITICAL
    assert a.rhythm.atrial_rate_bpm == pytest.approx(atrial, rel=0.06), f"{a.rhythm}"
    assert a.rhythm.pr_sd_ms is not None and a.rhythm.pr_sd_ms > 60, f"{a.rhythm}"
    assert a.rhythm.p_wave_corr is not None and a.rhythm.p_wave_corr < 0.5
    avb3 = next(f for f in a.triage.findings if f.code == "AVB3")
    assert avb3.source == "rules:avb3-av-dissociation" and "三度" in avb3.label_zh
    assert "AF" not in codes, f"regular escape rhythm called AF: {codes}"


@pytest.mark.parametrize(("conduction", "atrial"), [("1:1", 45.0), ("2:1", 80.0)])
def test_constructed_conducted_slow_rhythms_are_not_avb3(
    normal: EcgRecord, conduction: str, atrial: float
) -> None:
    """The same real parts with every P (sinus bradycardia) or every second P (2:1 block)
    conducted at the record's own PR: P waves keep their place, so no AVB3."""
    for seed in range(3):
        x = construct_av_record(
            normal.signal, normal.fs, normal.leads, atrial_bpm=atrial,
            conduction=conduction, seed=seed,
        )  # fmt: skip
        a = analyze(x, normal.fs, normal.leads)
        assert a.rhythm is not None
        codes = _rules(a)
        assert "AVB3" not in codes and "AF" not in codes, f"{conduction}: {codes}"
        assert "BRADY" in codes, f"{codes}"
        assert a.rhythm.p_wave_corr is not None and a.rhythm.p_wave_corr > 0.7


def test_normal_record_has_consistent_p_waves(normal: EcgRecord) -> None:
    a = analyze(normal.signal, normal.fs, normal.leads)
    assert a.rhythm is not None and a.rhythm.p_wave_corr is not None
    assert a.rhythm.p_wave_corr > 0.8, f"{a.rhythm}"
    assert a.rhythm.flutter_concentration is not None
    assert a.rhythm.flutter_concentration < 0.29, f"{a.rhythm}"
    assert not ({"AF", "AFL", "AVB3"} & set(_rules(a))), f"{_rules(a)}"
    doc = a.to_dict()["rhythm"]
    assert doc["p_wave_corr"] == pytest.approx(a.rhythm.p_wave_corr, abs=1e-4)
    assert doc["avb3_suspected"] is False and doc["flutter_suspected"] is False


def test_af_sample_record_uses_the_p_wave_criterion(sample_dir: Path) -> None:
    rec = read_record(sample_dir / "A0003.hea")
    a = analyze(rec.signal, rec.fs, rec.leads)
    assert a.rhythm is not None and a.rhythm.p_wave_corr is not None
    af = [f for f in a.triage.findings if f.code == "AF" and f.source.startswith("rules:")]
    assert af and af[0].source == "rules:af-rr-p-wave", f"{a.triage.findings}"
    assert a.rhythm.p_wave_corr < 0.6 and a.rhythm.af_score is not None, f"{a.rhythm}"


def _features(x: NDArray[np.float64], fs: float, **kw: object) -> tuple[float, float]:
    y = preprocess(x, fs)
    beats = classify_beats(y, detect_rpeaks(x, fs), fs)
    f = assess_rhythm(beats.rpeaks, fs, x.shape[1], beats.labels, signal=y, **kw)  # type: ignore[arg-type]
    assert f.p_wave_corr is not None and f.flutter_concentration is not None
    return f.p_wave_corr, f.flutter_concentration


def test_any_fs_and_single_unnamed_lead(normal: EcgRecord) -> None:
    """Lead II alone (no names) at 250, 500 and 1000 Hz: the same P-wave correlation."""
    ii = normal.signal[normal.leads.index("II") : normal.leads.index("II") + 1]
    ref, _ = _features(ii, 500.0)
    for up, down in ((1, 2), (2, 1), (1, 5)):
        fs = 500.0 * up / down
        pc, _ = _features(resample_poly(ii, up, down, axis=1), fs)
        assert pc == pytest.approx(ref, abs=0.08), f"fs {fs}: {pc:.3f} vs {ref:.3f}"
    twelve, _ = _features(normal.signal, normal.fs, leads=normal.leads)
    assert twelve > 0.8 and ref > 0.8


def test_signal_must_match_the_record_length(normal: EcgRecord) -> None:
    r = np.array([100, 500, 900, 1300, 1700, 2100], dtype=np.int64)
    with pytest.raises(InvalidSignalError, match="leads, n_samples"):
        assess_rhythm(r, normal.fs, 5000, signal=normal.signal[:, :4000])
    few = assess_atrial(normal.signal, normal.fs, r[:3])
    assert few.p_wave_corr is None and few.flutter_hz is None


@pytest.mark.shared_data
def test_ptbxl_flutter_raises_afl_and_normal_does_not(shared_data: Path) -> None:
    """PTB-XL ecg_id 18 (atrial flutter, 2:1) -> AFL; ecg_id 2 (normal) -> none."""
    folder = shared_data / "ptbxl_subset" / "records500" / "00000"
    seen = {}
    for ecg_id in (18, 2):
        rec = read_record(folder / f"{ecg_id:05d}_hr.hea")
        seen[ecg_id] = _rules(analyze(rec.signal, rec.fs, rec.leads))
    assert seen[18].get("AFL") is Priority.WARNING, f"{seen[18]}"
    assert "AFL" not in seen[2] and "AF" not in seen[2], f"{seen[2]}"
