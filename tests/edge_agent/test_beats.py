"""Beat classification and the median beat (edge_agent.dsp.beats)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import wfdb

from edge_agent.dsp.beats import classify_beats, median_beat
from edge_agent.dsp.filters import preprocess
from edge_agent.dsp.results import BeatClass, Beats
from edge_agent.dsp.rpeaks import detect_rpeaks

BEAT_SYMBOLS = set("NLRBAaJSVrFejnE/fQ?")


def _mitdb119(sample_dir: Path) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
    rec = wfdb.rdrecord(str(sample_dir / "mitdb119_60s"))
    ann = wfdb.rdann(str(sample_dir / "mitdb119_60s"), "atr")
    keep = np.array([s in BEAT_SYMBOLS for s in ann.symbol])
    x = preprocess(np.ascontiguousarray(rec.p_signal.T), float(rec.fs))
    return x, float(rec.fs), ann.sample[keep].astype(np.int64), np.array(ann.symbol)[keep]


def _ludb(shared: Path, rec: str) -> tuple[np.ndarray, float]:
    r = wfdb.rdrecord(str(shared / "ludb" / "data" / rec))
    return preprocess(np.ascontiguousarray(r.p_signal.T), float(r.fs)), float(r.fs)


def _labels(beats: Beats) -> np.ndarray:
    return np.array([str(lab) for lab in beats.labels])


def test_pvcs_in_mitdb119_are_ventricular(sample_dir: Path) -> None:
    x, fs, r, sym = _mitdb119(sample_dir)
    is_v = _labels(classify_beats(x, r, fs)) == BeatClass.VENTRICULAR
    true_v = sym == "V"
    se = (is_v & true_v).sum() / true_v.sum()
    sp = (~is_v & ~true_v).sum() / (~true_v).sum()
    assert true_v.sum() >= 15, f"excerpt should hold the bigeminy PVCs, got {true_v.sum()}"
    assert se >= 0.95, f"PVC sensitivity {se:.3f} < 0.95"
    assert sp >= 0.98, f"PVC specificity {sp:.3f} < 0.98"


def test_pvcs_with_project_rpeaks(sample_dir: Path) -> None:
    x, fs, r_ann, sym = _mitdb119(sample_dir)
    r = detect_rpeaks(x, fs)
    beats = classify_beats(x, r, fs)
    # match detected beats to annotations within 150 ms
    j = np.clip(np.searchsorted(r_ann, r), 1, r_ann.size - 1)
    near = np.where(np.abs(r_ann[j - 1] - r) < np.abs(r_ann[j] - r), j - 1, j)
    ok = np.abs(r_ann[near] - r) <= 0.15 * fs
    is_v = _labels(beats)[ok] == BeatClass.VENTRICULAR
    true_v = sym[near[ok]] == "V"
    agree = float((is_v == true_v).mean())
    assert agree >= 0.95, f"label agreement with annotations {agree:.3f} < 0.95"


def test_median_beat_excludes_ectopic_and_is_centered(sample_dir: Path) -> None:
    x, fs, r, sym = _mitdb119(sample_dir)
    beats = classify_beats(x, r, fs)
    med = median_beat(x, beats, fs)
    n_normal = int((_labels(beats) == BeatClass.NORMAL).sum())
    assert 0 < med.n_beats <= n_normal, (
        f"median from {med.n_beats} of {n_normal} normal beats"
    )
    assert med.lags is not None and med.lags.shape == r.shape, "one lag per beat expected"
    assert np.abs(med.lags).max() <= round(0.04 * fs), f"lags {med.lags.max()} beyond 40 ms"
    peak = int(np.argmax(np.abs(med.waveform[0])))
    assert abs(peak - med.r_index) <= round(0.03 * fs), (
        f"median R extreme at {peak}, expected near r_index {med.r_index}"
    )


@pytest.mark.parametrize("rec", ["1", "9", "17"])
def test_sinus_ludb_records_are_all_normal(shared_data: Path, rec: str) -> None:
    x, fs = _ludb(shared_data, rec)
    r = detect_rpeaks(x, fs)
    labels = _labels(classify_beats(x, r, fs))
    inner = labels[1:-1]  # edge beats may be truncated
    frac = float((inner == BeatClass.NORMAL).mean())
    assert frac >= 0.9, f"record {rec}: only {frac:.2f} of sinus beats NORMAL ({labels})"


def test_scaling_and_flat_lead_do_not_change_labels(shared_data: Path) -> None:
    x, fs = _ludb(shared_data, "105")  # sinus rhythm with PVCs
    r = detect_rpeaks(x, fs)
    base = classify_beats(x, r, fs)
    assert (_labels(base) == BeatClass.VENTRICULAR).sum() >= 1, "record 105 has PVCs"
    scaled = classify_beats(3.0 * x, r, fs)
    assert scaled.labels == base.labels, f"labels changed with scale: {scaled.labels}"
    np.testing.assert_allclose(scaled.template_corr, base.template_corr, atol=1e-9)
    flat = x.copy()
    flat[8] = 0.0
    usable = np.ones(12, dtype=bool)
    usable[8] = False
    masked = classify_beats(flat, r, fs, usable=usable)
    assert masked.labels == base.labels, f"flat V3 changed labels: {masked.labels}"
    med = median_beat(2.0 * x, base, fs)
    ref = median_beat(x, base, fs)
    np.testing.assert_allclose(med.waveform, 2.0 * ref.waveform, atol=1e-12)


def test_premature_normal_morphology_is_supraventricular() -> None:
    fs = 500.0
    t = np.arange(int(10 * fs)) / fs
    r = np.array([0.5, 1.5, 2.5, 3.5, 4.1, 5.5, 6.5, 7.5, 8.5, 9.5])
    qrs = np.exp(-0.5 * ((t[None, :] - r[:, None]) / 0.01) ** 2).sum(axis=0)
    x = np.stack([qrs, 0.5 * qrs]) + 0.001 * np.sin(2 * np.pi * 7 * t)
    beats = classify_beats(x, (r * fs).astype(np.int64), fs)
    labels = _labels(beats)
    assert labels[4] == BeatClass.SUPRAVENTRICULAR, f"premature beat labelled {labels[4]}"
    assert (labels[np.arange(10) != 4] == BeatClass.NORMAL).all(), f"labels {labels}"


def test_empty_rpeaks() -> None:
    beats = classify_beats(np.zeros((2, 1000)), np.zeros(0, dtype=np.int64), 250.0)
    assert beats.labels == () and beats.rpeaks.size == 0, f"got {beats}"


@pytest.mark.parametrize("kind", ["flat", "noise"])
def test_degenerate_signals_do_not_crash(kind: str) -> None:
    fs = 250.0
    rng = np.random.default_rng(1)
    x = np.zeros((3, 1250)) if kind == "flat" else rng.standard_normal((3, 1250))
    r = np.array([250, 500, 750, 1000], dtype=np.int64)
    beats = classify_beats(x, r, fs)
    if kind == "flat":
        assert set(beats.labels) == {BeatClass.UNKNOWN}, f"flat: {beats.labels}"
    med = median_beat(x, beats, fs)
    assert med.waveform.shape[0] == 3 and med.lags is not None, f"{kind}: {med}"
    assert med.lags.shape == r.shape, f"{kind}: lags {med.lags}"
