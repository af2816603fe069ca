"""Global QRS bounds against the LUDB reference and the 120 ms wide-QRS cut, the T-end
vote, and the bench's record-level (CSE-style) summary (dsp.delineate, bench.delineation).

The LUDB checks use tune records only (id % 4 == 1, where the constants were chosen): they
guard the chosen trade-off, they are not held-out evidence (``bench/delineation.py``
reports the held-out records).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import wfdb

from bench import delineation as bench
from edge_agent.dsp.delineate import delineate
from edge_agent.dsp.results import MedianBeat

TUNE_RECORDS = tuple(str(i) for i in range(1, 50, 4))  # 13 tune records


def _qrs_errors_ms(rec: str, how: str) -> tuple[list[float], list[float]]:
    x, fs = bench.load_signal(rec)
    r_det, ours = bench.ours_per_beat(bench.project_chain(x, fs))
    m = bench.match(bench.load_reference(rec, how), r_det, ours)
    return [e * 2.0 for e in m["qrs_on"][0]], [e * 2.0 for e in m["qrs_off"][0]]


def test_qrs_onset_lies_between_earliest_and_median_lead_annotation(
    shared_data: Path,
) -> None:
    # Per beat, the reference QRS onset is the earliest of 12 leads' annotations: an
    # extreme of 12 noisy values, earlier than where most leads start. Measured on these
    # records: +5.9 ms after the earliest, -7.6 ms before the median lead (QRS-onset
    # noise multiple 1.5; at the former 2.0: +7.7 / -5.8). QRS offset (J point):
    # -7.2 ms before the latest, +11.9 ms after the median lead.
    assert (shared_data / "ludb" / "data" / "1.hea").exists()
    on_ext, off_ext, on_med, off_med = [], [], [], []
    for rec in TUNE_RECORDS:
        a, b = _qrs_errors_ms(rec, "extreme")
        c, d = _qrs_errors_ms(rec, "median")
        on_ext += a
        off_ext += b
        on_med += c
        off_med += d
    assert 0.0 < np.mean(on_ext) <= 6.5, f"onset vs earliest {np.mean(on_ext):+.2f} ms"
    assert -10.0 <= np.mean(on_med) < 0.0, f"onset vs median lead {np.mean(on_med):+.2f}"
    assert -10.0 <= np.mean(off_ext) < 0.0, f"offset vs latest {np.mean(off_ext):+.2f} ms"
    assert 0.0 < np.mean(off_med) <= 15.0, f"offset vs median lead {np.mean(off_med):+.2f}"


def test_normal_qrs_stays_below_the_wide_qrs_cut(shared_data: Path) -> None:
    # The bound on walking the QRS out to LUDB's earliest/latest reference: the PTB
    # healthy controls (first 10 s) keep 3 of 28 at QRS >= 120 ms (the triage rules' cut;
    # onset multiple 1.2 would make it 4, offset multiple 2.5 would make it 6), and the
    # tune LUDB records without a conduction abnormality or pacing 3 of 34 (1.4: 5).
    with (shared_data / "ludb" / "ludb.csv").open() as f:
        info = {r["ID"]: r for r in csv.DictReader(f)}
    wide = []
    for rec in bench.records():
        row = info[rec]
        if int(rec) % 4 != 1 or row["Conduction abnormalities"].strip():
            continue
        if row["Cardiac pacing"].strip():
            continue
        fid = bench.project_chain(*bench.load_signal(rec))["fid"]
        if (fid.qrs_off - fid.qrs_on) * 2.0 >= 120.0:  # type: ignore[attr-defined]
            wide.append(rec)
    assert len(wide) <= 3, (
        f"tune records without conduction abnormality, QRS >= 120: {wide}"
    )
    ptb = shared_data / "ptbdb_10s"
    durations = []
    with (ptb / "labels.csv").open() as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        if row["reason_for_admission"] != "Healthy control":
            continue
        rec = wfdb.rdrecord(str(ptb / row["record"]))
        fs = float(rec.fs)
        fid = bench.project_chain(np.ascontiguousarray(rec.p_signal.T), fs)["fid"]
        durations.append((fid.qrs_off - fid.qrs_on) * 1000.0 / fs)  # type: ignore[attr-defined]
    d = np.asarray(durations)
    assert d.size == 28, f"{d.size} healthy controls"
    assert (d >= 120.0).sum() <= 3, f"QRS >= 120 ms in {(d >= 120.0).sum()} of 28"
    assert np.median(d) <= 111.0, f"median healthy QRS {np.median(d)} ms"


def _t_test_beat(st_leads: int) -> tuple[MedianBeat, int]:
    """Five leads with T waves ending 320-360 ms after R, plus ``st_leads`` leads whose
    largest deviation is the ST depression at the start of the T window (decaying to 0
    at 200 ms) followed by a low T wave."""
    fs, n, r = 500.0, 600, 200
    t = (np.arange(n) - r) / fs

    def bump(c: float, wd: float, a: float) -> np.ndarray:
        return np.asarray(a * np.exp(-0.5 * ((t - c) / wd) ** 2))

    def t_wave(end: float, a: float, start: float = 0.13) -> np.ndarray:
        phase = np.clip((t - start) / (end - start), 0.0, 1.0)
        return np.asarray(np.where(t < end, np.sin(phase * np.pi) ** 2, 0.0) * a)

    qrs = bump(0.0, 0.012, 1.0) - bump(0.03, 0.01, 0.25)
    leads = [
        qrs * (1 - 0.1 * i) + t_wave(end, 0.3)
        for i, end in enumerate((0.32, 0.33, 0.34, 0.35, 0.36))
    ]
    st = np.where(t > 0.04, -0.3 * np.clip((0.2 - t) / 0.16, 0.0, 1.0), 0.0)
    leads += [0.8 * qrs + st + t_wave(0.36, 0.05, 0.2) for _ in range(st_leads)]
    return MedianBeat(waveform=np.array(leads), r_index=r, n_beats=10, fs=fs), r


def test_leads_whose_deviation_peaks_at_the_t_window_start_do_not_vote() -> None:
    # Their "T end" lies inside the ST-T (here ~190 ms after R); when they voted, five of
    # them moved the global end 6 ms earlier (338 vs 344 ms). LUDB 57 (tune): III, aVF,
    # V5 and V6 peaked there and ended 120-250 ms before their annotated ~380 ms.
    clean, r = _t_test_beat(0)
    mixed, _ = _t_test_beat(5)
    a, b = delineate(clean), delineate(mixed)
    assert a.t_off is not None and b.t_off is not None
    assert b.t_off == a.t_off, f"T end moved {2 * (b.t_off - a.t_off)} ms by ST leads"
    assert 330 <= (a.t_off - r) * 2 <= 370, f"T end {(a.t_off - r) * 2} ms after R"


def test_record_level_summary_is_the_mean_of_per_record_medians(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # records 1 and 5 (tune), 3 (test); errors in samples at 500 Hz (2 ms each)
    per = {
        k: {"1": [1.0, 2.0, 9.0], "5": [-1.0, -1.0, 0.0], "3": [4.0]} for k in bench.KEYS
    }
    monkeypatch.setattr(bench, "PER_RECORD", {"extreme": per})
    out = bench.record_level()
    rows = out["vs_extreme"]  # type: ignore[index]
    # medians 2, -1 (tune) -> 4 ms, -2 ms; 4 (test) -> 8 ms
    assert rows["tune"]["qrs_on"]["mean_ms"] == 1.0
    assert rows["tune"]["qrs_on"]["sd_ms"] == round(float(np.std([4.0, -2.0], ddof=1)), 2)
    assert rows["all"]["qrs_on"]["records"] == 3
    assert rows["all"]["qrs_on"]["mean_ms"] == round((4.0 - 2.0 + 8.0) / 3, 2)
