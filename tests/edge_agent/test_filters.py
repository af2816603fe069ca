"""Preprocessing filters: response, ST preservation, edges, caching, real records."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from edge_agent.dsp.filters import (
    FilterProfile,
    design_baseline,
    design_smoothing,
    estimate_baseline,
    filtfilt_rows,
    preprocess,
    remove_baseline,
)
from edge_agent.errors import InvalidSignalError

FS = 500.0


def _beats(
    fs: float, hr_bpm: float, duration_s: float, st_mv: float
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Gaussian P-QRS-T train with an ST plateau of ``st_mv`` (J to T peak); R samples."""
    n = int(duration_s * fs)
    t = np.arange(n) / fs
    r_times = np.arange(0.5, duration_s - 0.4, 60.0 / hr_bpm)
    x = np.zeros(n)
    for rt in r_times:
        for dt, amp, width in (
            (-0.16, 0.15, 0.025),
            (-0.03, -0.1, 0.008),
            (0.0, 1.2, 0.01),
            (0.03, -0.25, 0.008),
            (0.28, 0.3 + st_mv, 0.05),
        ):
            x += amp * np.exp(-0.5 * ((t - rt - dt) / width) ** 2)
        x += (
            st_mv
            * 0.25
            * (1 + np.tanh((t - rt - 0.045) / 0.008))
            * (1 - np.tanh((t - rt - 0.28) / 0.04))
        )
    return x, np.round(r_times * fs).astype(np.int64)


def _st(x: NDArray[np.float64], r: NDArray[np.int64], fs: float) -> NDArray[np.float64]:
    pr = np.array([x[i - int(0.08 * fs) : i - int(0.05 * fs)].mean() for i in r])
    j60 = np.array([x[i + int(0.105 * fs) : i + int(0.115 * fs)].mean() for i in r])
    return j60 - pr


def _amplitude_at(y: NDArray[np.float64], f_hz: float, fs: float) -> float:
    """Amplitude of the f_hz component (least squares on the middle half)."""
    n = y.size
    t = np.arange(n // 4, 3 * n // 4) / fs
    basis = np.c_[
        np.sin(2 * np.pi * f_hz * t), np.cos(2 * np.pi * f_hz * t), np.ones_like(t)
    ]
    coef, *_ = np.linalg.lstsq(basis, y[n // 4 : 3 * n // 4], rcond=None)
    return float(np.hypot(coef[0], coef[1]))


def test_designs_are_cached_and_pure() -> None:
    assert design_baseline(500.0, 0.05) is design_baseline(500.0, 0.05), (
        "baseline not cached"
    )
    a = design_smoothing(500.0, 150.0, 50.0)
    assert a is design_smoothing(500.0, 150.0, 50.0), "smoothing design not cached"
    assert a is not None and a[0].shape == (2, 6), f"notch + LP2 should be 2 sections: {a}"
    assert design_smoothing(250.0, 150.0, None) is None, "no stage should apply at 250 Hz"
    q, _, _ = design_baseline(500.0, 0.05)
    assert q == 100, f"0.05 Hz baseline should run at 5 Hz (q=100), got q={q}"


@pytest.mark.parametrize("hr_bpm", [40, 60, 100])
def test_diagnostic_keeps_st_level_within_20_uv(hr_bpm: int) -> None:
    x, r = _beats(FS, hr_bpm, 10.0, st_mv=0.2)
    truth = _st(x, r, FS)
    y = preprocess(x[None, :] + 0.7, FS)[0]  # with a DC offset
    err = np.abs(_st(y, r, FS) - truth).max()
    assert err <= 0.02, f"ST distorted by {err:.4f} mV at {hr_bpm} bpm"
    assert abs(truth.mean() - 0.2) < 0.01, f"synthetic ST truth {truth.mean():.3f} mV"


def test_monitoring_profile_does_distort_st_more_than_diagnostic() -> None:
    x, r = _beats(FS, 60, 10.0, st_mv=0.2)
    truth = _st(x, r, FS)
    diag = np.abs(_st(preprocess(x[None], FS)[0], r, FS) - truth).max()
    mon = np.abs(
        _st(preprocess(x[None], FS, FilterProfile.MONITORING)[0], r, FS) - truth
    ).max()
    assert mon > 5 * diag, f"monitoring {mon:.4f} vs diagnostic {diag:.4f} mV"


def test_iec_impulse_response_of_diagnostic_baseline() -> None:
    """IEC 60601-2-25: 3 mV x 100 ms impulse: <= 0.1 mV displacement, <= 0.3 mV/s."""
    n = int(30 * FS)
    s = np.zeros((1, n))
    i0 = n // 2
    s[0, i0 : i0 + 50] = 3.0
    y = (s - estimate_baseline(s, FS, 0.05))[0]
    after = y[i0 + 55 :]
    disp = max(np.abs(after).max(), np.abs(y[: i0 - 5]).max())
    slope = np.abs(np.diff(after)).max() * FS
    assert disp <= 0.1 and slope <= 0.3, (
        f"displacement {disp:.3f} mV, slope {slope:.3f} mV/s"
    )
    # and a 0.67 Hz cutoff would not pass: the test can tell filters apart
    y67 = (s - estimate_baseline(s, FS, 0.67))[0]
    assert np.abs(y67[i0 + 55 :]).max() > 0.1, "0.67 Hz baseline unexpectedly passes"


@pytest.mark.parametrize(("mains", "other"), [(50.0, 60.0), (60.0, 50.0)])
def test_notch_removes_the_selected_mains(mains: float, other: float) -> None:
    t = np.arange(int(10 * FS)) / FS
    x = (0.2 * np.sin(2 * np.pi * mains * t) + 0.2 * np.sin(2 * np.pi * other * t))[None, :]
    y = preprocess(x, FS, mains_hz=mains)[0]
    kept = _amplitude_at(y, other, FS)
    removed = _amplitude_at(y, mains, FS)
    assert removed < 0.002, f"{mains} Hz left at {removed:.4f} mV"
    assert kept > 0.18, f"{other} Hz should pass, got {kept:.4f} mV"
    off = preprocess(x, FS, mains_hz=None)[0]
    assert _amplitude_at(off, mains, FS) > 0.18, "mains_hz=None must not notch"


def test_lowpass_150_applied_only_where_fs_allows() -> None:
    t = np.arange(int(10 * 1000.0)) / 1000.0
    x = (0.5 * np.sin(2 * np.pi * 300.0 * t) + 0.5 * np.sin(2 * np.pi * 20.0 * t))[None, :]
    y = preprocess(x, 1000.0)[0]
    assert _amplitude_at(y, 300.0, 1000.0) < 0.05, "300 Hz should be low-passed at 1 kHz"
    assert abs(_amplitude_at(y, 20.0, 1000.0) - 0.5) < 0.01, "20 Hz must pass"
    t2 = np.arange(int(10 * 250.0)) / 250.0
    x2 = 0.5 * np.sin(2 * np.pi * 100.0 * t2)[None, :]
    y2 = preprocess(x2, 250.0, mains_hz=None)[0]
    assert abs(_amplitude_at(y2, 100.0, 250.0) - 0.5) < 0.01, "no low-pass at 250 Hz"


def test_monitoring_band_edges() -> None:
    t = np.arange(int(20 * FS)) / FS
    wander = 0.5 * np.sin(2 * np.pi * 0.15 * t)
    hf = 0.3 * np.sin(2 * np.pi * 80.0 * t)
    qrs_band = 0.3 * np.sin(2 * np.pi * 10.0 * t)
    y = preprocess((wander + hf + qrs_band)[None, :], FS, FilterProfile.MONITORING)[0]
    assert _amplitude_at(y, 0.15, FS) < 0.05, "0.15 Hz wander should be removed"
    assert _amplitude_at(y, 80.0, FS) < 0.02, "80 Hz should be removed"
    assert abs(_amplitude_at(y, 10.0, FS) - 0.3) < 0.01, "10 Hz must pass"


@pytest.mark.parametrize("n_rows", [1, 2, 3, 12, 15])
@pytest.mark.parametrize("n", [40, 5000, 20000])
def test_filtfilt_rows_matches_scipy_sosfiltfilt(n_rows: int, n: int) -> None:
    """Pairs of rows packed into one complex row give scipy's numbers (odd and even row
    counts, short and long records, with and without the fused subtraction)."""
    import scipy.signal as sps

    rng = np.random.default_rng(n_rows * 1000 + n)
    x = rng.standard_normal((n_rows, n)).cumsum(axis=1)
    minus = rng.standard_normal((n_rows, n))
    sos, zi = design_smoothing(FS, 150.0, 50.0) or (None, None)
    assert sos is not None and zi is not None
    pad = 3 * (2 * sos.shape[0] + 1)
    ref = sps.sosfiltfilt(sos, x, axis=-1, padtype="odd", padlen=pad)
    got = filtfilt_rows(sos, zi, x, pad)
    assert got.flags.c_contiguous and got.shape == x.shape
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12 * np.abs(x).max())
    np.testing.assert_array_equal(filtfilt_rows(sos, zi, x, pad, minus=minus), got - minus)
    # the packed path is bit-identical to filtering each row on its own
    for i in range(n_rows):
        np.testing.assert_array_equal(filtfilt_rows(sos, zi, x[i : i + 1], pad)[0], got[i])


def test_vectorized_across_leads_and_linear() -> None:
    rng = np.random.default_rng(0)
    x, _ = _beats(FS, 75, 10.0, 0.0)
    sig = np.vstack([x, -x, 2 * x + rng.normal(0, 0.05, x.size), x + 1.0])
    y = preprocess(sig, FS)
    assert y.shape == sig.shape and y.dtype == np.float64 and y.flags.c_contiguous
    for i in range(sig.shape[0]):
        single = preprocess(sig[i : i + 1], FS)
        assert np.allclose(single, y[i : i + 1], atol=1e-12), f"lead {i} differs"
    assert np.allclose(y[1], -y[0], atol=1e-12), "filter must be linear (sign)"
    assert np.allclose(preprocess(3.0 * sig, FS), 3.0 * y, atol=1e-9), "not scale-invariant"
    assert np.allclose(y[3], y[0], atol=1e-6), "DC offset not removed"


def test_edge_error_of_a_10s_excerpt_is_small() -> None:
    nk = pytest.importorskip("neurokit2")
    long = nk.ecg_simulate(
        duration=40, sampling_rate=500, heart_rate=70, method="simple", random_state=3
    )
    long = 1.5 * long / np.ptp(long)  # 'simple' is not in mV: scale to a 1.5 mV QRS
    t = np.arange(long.size) / FS
    long = long + 0.3 * np.sin(2 * np.pi * 0.15 * t) + 0.4
    a, b = int(15 * FS), int(25 * FS)
    full = preprocess(long[None, :], FS)[0, a:b]
    part = preprocess(long[None, a:b], FS)[0]
    err = np.abs(part - full).max()
    assert err < 0.03, f"edge error {err:.4f} mV"


@pytest.mark.parametrize("fs", [100.0, 128.0, 257.0, 360.0, 1000.0])
def test_any_fs_gives_finite_output_and_removes_offset(fs: float) -> None:
    x, _ = _beats(fs, 70, 8.0, 0.0)
    y = preprocess(x[None, :] + 5.0, fs)
    assert np.isfinite(y).all(), f"non-finite at {fs} Hz"
    assert abs(np.median(y)) < 0.1, f"offset left {np.median(y):.3f} mV at {fs} Hz"


def test_remove_baseline_and_bad_inputs() -> None:
    t = np.arange(int(10 * FS)) / FS
    x = (np.sin(2 * np.pi * 5 * t) + 2.0 + 0.1 * t)[None, :]
    y = remove_baseline(x, FS, cutoff_hz=0.5)
    assert abs(y[0, 500:-500].mean()) < 0.05, f"offset/trend left {y[0].mean():.3f}"
    with pytest.raises(InvalidSignalError, match="cutoff"):
        remove_baseline(x, FS, cutoff_hz=5.0)
    with pytest.raises(InvalidSignalError, match="powerline"):
        preprocess(x, FS, mains_hz=0.0)
    with pytest.raises(InvalidSignalError, match="shape"):
        preprocess(x[0], FS)
    with pytest.raises(ValueError):
        preprocess(x, FS, "bogus")  # type: ignore[arg-type]


@pytest.mark.shared_data
def test_real_ludb_record_keeps_qrs_and_st(shared_data: Path) -> None:
    wfdb = pytest.importorskip("wfdb")
    rec = wfdb.rdrecord(str(shared_data / "ludb" / "data" / "1"))
    x = np.ascontiguousarray(rec.p_signal.T)
    y = preprocess(x, float(rec.fs))
    ann = wfdb.rdann(str(shared_data / "ludb" / "data" / "1"), "ii")
    sym = np.array(ann.symbol)
    r = ann.sample[sym == "N"]
    on = ann.sample[np.flatnonzero(sym == "N") - 1]
    off = ann.sample[np.flatnonzero(sym == "N") + 1]
    # QRS amplitude kept within 5 % (the 150 Hz low-pass must not blunt R waves)
    ptp_raw = np.array([np.ptp(x[:, a:b], axis=1) for a, b in zip(on, off, strict=True)])
    ptp_f = np.array([np.ptp(y[:, a:b], axis=1) for a, b in zip(on, off, strict=True)])
    ratio = np.median(ptp_f / ptp_raw)
    assert 0.95 < ratio < 1.02, f"QRS amplitude ratio {ratio:.3f}"
    # ST (J+60 vs PR) per lead on the average over beats: within 0.03 mV of the raw
    pr, j60 = on - 10, off + 30
    st_raw = (x[:, j60] - x[:, pr]).mean(axis=1)
    st_f = (y[:, j60] - y[:, pr]).mean(axis=1)
    assert np.abs(st_f - st_raw).max() < 0.03, (
        f"ST change {np.abs(st_f - st_raw).max():.3f}"
    )
    assert r.size > 5, f"annotation parse failed: {r.size} beats"
