"""Pacemaker-spike detection on real records (LUDB, PTB-XL, MIT-BIH, CinC 2017).

Real records come from ``../shared/data`` (skipped, with the reason, when absent); the
crafted cases only check the contract (fs limit, clipping, bad input).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import wfdb
from numpy.typing import NDArray
from scipy.signal import resample_poly

from edge_agent.dsp.pacing import (
    PacingConfig,
    PacingMode,
    SpikeChamber,
    detect_pacing_spikes,
)
from edge_agent.errors import InvalidSignalError


def _load(path: Path) -> tuple[NDArray[np.float64], float]:
    rec = wfdb.rdrecord(str(path))
    return np.ascontiguousarray(rec.p_signal.T, dtype=np.float64), float(rec.fs)


def _ludb(shared: Path, rid: int) -> tuple[NDArray[np.float64], float]:
    return _load(shared / "ludb" / "data" / str(rid))


@pytest.mark.parametrize(
    ("rid", "mode"),
    [
        (45, PacingMode.AV),  # unipolar atrial + ventricular pacing (ludb.csv)
        (93, PacingMode.VENTRICULAR),  # biventricular
        (95, PacingMode.VENTRICULAR),  # unipolar ventricular, some own beats
        (111, PacingMode.VENTRICULAR),  # bipolar ventricular
    ],
)
def test_ludb_paced_records(shared_data: Path, rid: int, mode: PacingMode) -> None:
    x, fs = _ludb(shared_data, rid)
    res = detect_pacing_spikes(x, fs)
    assert res.mode is mode, f"LUDB {rid}: {res.mode} ({res.ventricular_beats} V, "
    f"{res.atrial_beats} A of {res.n_beats} beats)"
    assert res.reliable and res.paced
    assert res.spikes.dtype == np.int64 and np.all(np.diff(res.spikes) > 0)
    assert int((res.lead_spikes > 0).sum()) >= 3, f"{res.lead_spikes}"
    assert np.all(res.lead_edge_mv[res.lead_spikes > 0] >= 0.12), f"{res.lead_edge_mv}"


def test_ludb_95_spikes_sit_at_the_reference_qrs_onset(shared_data: Path) -> None:
    """The cardiologists' QRS onset of a paced beat (second earliest over the 12 leads:
    one lead's annotation may lie 10-20 ms away) is at the spike: 4 ms before to 12 ms
    after it (some leads mark the onset of the paced QRS that follows the spike)."""
    x, fs = _ludb(shared_data, 95)
    onsets = []
    for lead in ("i", "ii", "iii", "avr", "avl", "avf", "v1", "v2", "v3", "v4", "v5", "v6"):
        ann = wfdb.rdann(str(shared_data / "ludb" / "data" / "95"), lead)
        onsets += [
            int(ann.sample[i - 1])
            for i in range(1, len(ann.symbol))
            if ann.symbol[i] == "N" and ann.symbol[i - 1] == "("
        ]
    vs = detect_pacing_spikes(x, fs).ventricular_spikes
    vs = vs[(vs > min(onsets) - 0.1 * fs) & (vs < max(onsets) + 0.1 * fs)]  # annotated
    assert vs.size >= 4, f"{vs}"
    for s in vs:
        near = [on for on in onsets if abs(on - int(s)) <= 0.05 * fs]
        assert near, f"spike {s}: no annotated QRS onset within 50 ms"
        ref = sorted(near)[1] if len(near) > 1 else near[0]
        assert -0.004 * fs <= ref - int(s) <= 0.012 * fs, (
            f"spike {s}, onsets {sorted(near)}"
        )


@pytest.mark.parametrize("rid", [1, 7, 9, 21, 43, 103, 109, 147, 199])
def test_ludb_not_paced(shared_data: Path, rid: int) -> None:
    """Normal, STEMI and noisy records (43, 147: step/glitch artefacts) are not paced."""
    x, fs = _ludb(shared_data, rid)
    res = detect_pacing_spikes(x, fs)
    assert res.mode is PacingMode.NONE, f"LUDB {rid}: {res.mode}, spikes {res.spikes}"


@pytest.mark.parametrize(("ecg_id", "paced"), [(190, True), (143, True), (1, False)])
def test_ptbxl_500hz(shared_data: Path, ecg_id: int, paced: bool) -> None:
    path = shared_data / "ptbxl_subset" / "records500" / "00000" / f"{ecg_id:05d}_hr"
    x, fs = _load(path)
    res = detect_pacing_spikes(x, fs)
    want = PacingMode.VENTRICULAR if paced else PacingMode.NONE
    assert res.mode is want, f"PTB-XL {ecg_id}: {res.mode}"


def test_ludb_paced_at_1000_hz(shared_data: Path) -> None:
    """Criteria are in physical units: the same record upsampled to 1000 Hz."""
    x, fs = _ludb(shared_data, 95)
    res = detect_pacing_spikes(resample_poly(x, 2, 1, axis=1), 2 * fs)
    assert res.mode is PacingMode.VENTRICULAR, f"{res.mode}"


def test_low_fs_is_unknown_not_a_guess(shared_data: Path) -> None:
    x, fs = _ludb(shared_data, 95)
    res = detect_pacing_spikes(resample_poly(x, 1, 2, axis=1), fs / 2)
    assert res.mode is PacingMode.UNKNOWN and not res.reliable and not res.paced
    assert res.spikes.size == 0 and "250" in res.note, f"{res.note}"


def test_mitdb_360hz_not_paced_records_stay_quiet(shared_data: Path) -> None:
    """Record 105 (heavy noise) and 203 (multiform PVCs, noise): no pacing verdict."""
    for name in ("105", "203"):
        x, fs = _load(shared_data / "mitdb" / name)
        x = x[:, : int(120 * fs)]
        res = detect_pacing_spikes(x, fs)
        assert res.mode is PacingMode.NONE and not res.reliable, f"{name}: {res.mode}"


def test_cinc2017_noisy_records_not_paced(shared_data: Path) -> None:
    folder = shared_data / "cinc2017_af_subset"
    noisy = [
        line.split(",")[0]
        for line in (folder / "REFERENCE.csv").read_text().splitlines()[1:]
        if line.endswith(",~")
    ][:25]
    assert len(noisy) == 25
    for rec in noisy:
        x, fs = _load(folder / rec)
        res = detect_pacing_spikes(x, fs)
        assert not res.paced, f"CinC 2017 {rec}: {res.mode}, {res.spikes.size} spikes"


def test_spikes_in_a_clipped_lead_do_not_count(shared_data: Path) -> None:
    """Saturating every lead of a paced record at the spike level removes the edges that
    touch the rails, so only unclipped leads give evidence."""
    x, fs = _ludb(shared_data, 95)
    clipped = np.clip(x, -0.05, 0.05)
    res = detect_pacing_spikes(clipped, fs)
    assert res.mode is PacingMode.NONE, f"{res.mode}: {res.spikes.size} spikes"


def test_unusable_leads_are_ignored(shared_data: Path) -> None:
    x, fs = _ludb(shared_data, 95)
    res = detect_pacing_spikes(x, fs, usable=np.zeros(12, bool))
    assert res.spikes.size == 0 and res.mode is PacingMode.NONE


def test_chambers_follow_the_r_peaks(shared_data: Path) -> None:
    """LUDB 45 (AV pacing): atrial spikes ~280 ms and ventricular spikes ~95 ms before
    the R peaks (the atrial ones are small: 3 of 11 beats pass the tests)."""
    x, fs = _ludb(shared_data, 45)
    res = detect_pacing_spikes(x, fs)
    kinds = "".join(c.value for c in res.chambers)
    assert kinds.count("AV") >= 3, kinds
    assert res.atrial_beats >= 3 and res.ventricular_beats >= 8, f"{res}"
    no_beats = detect_pacing_spikes(x, fs, rpeaks=np.zeros(0, np.int64))
    assert set(no_beats.chambers) == {SpikeChamber.UNLOCKED}
    assert no_beats.mode is PacingMode.NONE


def test_bad_input_and_config() -> None:
    with pytest.raises(InvalidSignalError):
        detect_pacing_spikes(np.zeros(5000), 500.0)
    with pytest.raises(InvalidSignalError):
        detect_pacing_spikes(np.zeros((2, 5000)), 500.0, usable=np.ones(3, bool))
    with pytest.raises(ValueError, match="v_lag_s"):
        PacingConfig(v_lag_s=0.5, a_lag_s=0.4)
    flat = detect_pacing_spikes(np.zeros((3, 5000)), 500.0)
    assert flat.mode is PacingMode.NONE and flat.spikes.size == 0
    assert flat.lead_spikes.tolist() == [0, 0, 0]


def test_analyze_reports_paced_and_puts_the_qrs_onset_at_the_spike(
    shared_data: Path,
) -> None:
    """LUDB 111 (bipolar ventricular pacing) through ``analyze``: a PACED warning, and
    the global QRS onset of every paced beat within 4 ms of a detected spike."""
    from edge_agent import analyze

    x, fs = _ludb(shared_data, 111)
    doc = analyze(
        x, fs, ["I", "II", "III", "aVR", "aVL", "aVF", *"V1 V2 V3 V4 V5 V6".split()]
    )
    got = {f["code"]: f for f in doc.to_dict()["triage"]["findings"]}
    assert "PACED" in got, f"{sorted(got)}"
    assert got["PACED"]["priority"] == "warning" and got["PACED"]["label_zh"], got["PACED"]
    assert doc.pacing is not None and doc.pacing.mode is PacingMode.VENTRICULAR
    spikes = doc.pacing.ventricular_spikes
    onsets = [b["qrs_on"] for b in doc.to_dict()["beats"] if b["qrs_on"] is not None]
    assert len(onsets) >= 5, f"{onsets}"
    for on in onsets:
        assert np.min(np.abs(spikes - on)) <= 0.004 * fs, f"onset {on}, spikes {spikes}"


def test_analyze_not_paced_has_no_paced_finding(shared_data: Path) -> None:
    from edge_agent import analyze

    x, fs = _ludb(shared_data, 1)
    doc = analyze(
        x, fs, ["I", "II", "III", "aVR", "aVL", "aVF", *"V1 V2 V3 V4 V5 V6".split()]
    )
    codes = {f["code"] for f in doc.to_dict()["triage"]["findings"]}
    assert "PACED" not in codes and doc.to_dict()["pacing"]["mode"] == "none", f"{codes}"


@pytest.mark.parametrize(
    ("rid", "mode"), [(1, PacingMode.NONE), (95, PacingMode.VENTRICULAR)]
)
def test_emg_burst_neither_makes_nor_hides_pacing(
    shared_data: Path, rid: int, mode: PacingMode
) -> None:
    """1 s of 0.2 mV white noise (an EMG-like burst) on 4 leads of a real record."""
    x, fs = _ludb(shared_data, rid)
    noisy = x.copy()
    noisy[:4, 2000:2500] += np.random.default_rng(7).normal(0.0, 0.2, (4, 500))
    res = detect_pacing_spikes(noisy, fs)
    assert res.mode is mode, f"LUDB {rid} + burst: {res.mode}, {res.spikes.size} spikes"


def test_broadband_noise_makes_no_pacing(shared_data: Path) -> None:
    """White noise of 0.05 and 0.1 mV RMS on every lead of LUDB 1 and 7 adds no spike
    train (it does hide LUDB 95's spikes at 0.05 mV: limits in edge_agent.dsp.pacing)."""
    rng = np.random.default_rng(3)
    for rid in (1, 7):
        x, fs = _ludb(shared_data, rid)
        for sd in (0.05, 0.1):
            res = detect_pacing_spikes(x + rng.normal(0.0, sd, x.shape), fs)
            assert res.mode is PacingMode.NONE, f"LUDB {rid} + {sd} mV: {res.mode}"
