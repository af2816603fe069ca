"""Benchmark and evidence for ``edge_agent.dsp.filters``.

Run: ``OMP_NUM_THREADS=1 .venv/bin/python -m bench.filters``
(writes ``bench/results/filters.json``).

1. Speed of ``preprocess`` on a (12, 5000) 500 Hz record, both profiles, against the floor
   (one scipy ``sosfiltfilt`` pass of a 4th-order 0.5-40 Hz Butterworth band-pass) and
   against neurokit2 ``ecg_clean`` looped over the 12 leads. Median of repeats, one thread.
2. IEC 60601-2-25 impulse test (3 mV x 100 ms): displacement and slope after the impulse,
   for several baseline cutoffs.
3. ST preservation on a synthetic beat train with a known 0.2 mV ST elevation
   (J+60 against the PR segment), several heart rates, several cutoffs.
4. ST preservation on real LUDB records: J+60 minus PR level after ``preprocess`` against
   a reference baseline-corrected by a cubic spline through the PR-segment knots
   (Meyer & Keiser 1977), using LUDB's QRS annotations of lead II.
5. Edge error: a 10 s excerpt filtered alone vs the same 10 s inside a 60 s filtered record.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import signal as sps
from scipy.interpolate import CubicSpline

from edge_agent.dsp.filters import FilterProfile, estimate_baseline, preprocess

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("ECG_SHARED_DATA", ROOT.parent / "shared" / "data"))
OUT = ROOT / "bench" / "results" / "filters.json"
FS = 500.0


def _median_ms(fn: Callable[[], object], repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times) * 1e3)


def interleaved_median_ms(
    fns: dict[str, Callable[[], object]], repeats: int
) -> dict[str, float]:
    """Median time of each function, called round-robin ``repeats`` times."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for fn in fns.values():
        fn()
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    out = {name: float(np.median(t) * 1e3) for name, t in times.items()}
    # under heavy contention the median includes descheduling; the 10th percentile is
    # closer to the intrinsic cost
    out.update(
        {f"{name}_p10": float(np.percentile(t, 10) * 1e3) for name, t in times.items()}
    )
    return out


def synthetic_beats(
    fs: float, hr_bpm: float, duration_s: float, st_mv: float, seed: int = 0
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Gaussian P-QRS-T beat train with an ST plateau of ``st_mv`` from J to T peak.

    Returns the signal (n,) in mV and the R times in s.
    """
    rng = np.random.default_rng(seed)
    n = int(duration_s * fs)
    t = np.arange(n) / fs
    r_times = np.arange(0.5, duration_s - 0.4, 60.0 / hr_bpm)
    r_times = r_times + rng.normal(0.0, 0.01, r_times.size)
    x = np.zeros(n)
    waves = (
        (-0.16, 0.15, 0.025),
        (-0.03, -0.1, 0.008),
        (0.0, 1.2, 0.01),
        (0.03, -0.25, 0.008),
        (0.28, 0.3 + st_mv, 0.05),
    )
    for rt in r_times:
        for dt, amp, width in waves:
            x += amp * np.exp(-0.5 * ((t - rt - dt) / width) ** 2)
        rise = 0.5 * (1 + np.tanh((t - rt - 0.045) / 0.008))
        fall = 0.5 * (1 - np.tanh((t - rt - 0.28) / 0.04))
        x += st_mv * rise * fall
    return x, r_times


def st_levels(
    x: NDArray[np.float64], r_times: NDArray[np.float64], fs: float
) -> NDArray[np.float64]:
    """J+60 (R+105..115 ms mean) minus PR segment (R-80..-50 ms mean), per beat."""
    r = np.round(r_times * fs).astype(int)
    pr = np.array([x[i - int(0.08 * fs) : i - int(0.05 * fs)].mean() for i in r])
    j60 = np.array([x[i + int(0.105 * fs) : i + int(0.115 * fs)].mean() for i in r])
    return j60 - pr


def bench_speed(repeats: int) -> dict[str, Any]:
    import neurokit2 as nk

    rng = np.random.default_rng(1)
    x, _ = synthetic_beats(FS, 72, 10.0, 0.0)
    sig = np.ascontiguousarray(
        x[None, :] * rng.uniform(0.5, 1.5, (12, 1)) + rng.normal(0, 0.02, (12, x.size))
    )
    floor_sos = sps.butter(2, [0.5, 40.0], btype="bandpass", fs=FS, output="sos")
    # round-robin: the machine is shared, so each candidate sees the same load
    fast = interleaved_median_ms(
        {
            "preprocess_diagnostic_ms": lambda: preprocess(sig, FS),
            "preprocess_monitoring_ms": lambda: preprocess(
                sig, FS, FilterProfile.MONITORING
            ),
            "floor_sosfiltfilt_bp4_ms": lambda: sps.sosfiltfilt(floor_sos, sig, axis=-1),
        },
        repeats,
    )
    res: dict[str, Any] = {
        "shape": list(sig.shape),
        "fs_hz": FS,
        "repeats": repeats,
        **fast,
    }
    res["neurokit2_ecg_clean_x12_ms"] = _median_ms(
        lambda: [nk.ecg_clean(lead, sampling_rate=int(FS)) for lead in sig],
        max(5, repeats // 4),
    )
    res["diagnostic_vs_floor"] = (
        res["preprocess_diagnostic_ms"] / res["floor_sosfiltfilt_bp4_ms"]
    )
    res["diagnostic_vs_floor_p10"] = (
        res["preprocess_diagnostic_ms_p10"] / res["floor_sosfiltfilt_bp4_ms_p10"]
    )
    res["neurokit2_vs_diagnostic"] = (
        res["neurokit2_ecg_clean_x12_ms"] / res["preprocess_diagnostic_ms"]
    )
    return res


def bench_impulse() -> list[dict[str, float]]:
    rows = []
    n = int(30 * FS)
    for cutoff in (0.05, 0.1, 0.2, 0.3, 0.5, 0.67):
        s = np.zeros((1, n))
        i0 = n // 2
        s[0, i0 : i0 + int(0.1 * FS)] = 3.0
        y = (s - estimate_baseline(s, FS, cutoff))[0]
        after = y[i0 + int(0.1 * FS) + 5 :]
        before = y[: i0 - 5]
        rows.append(
            {
                "cutoff_hz": cutoff,
                "displacement_mv": float(max(np.abs(after).max(), np.abs(before).max())),
                "slope_mv_per_s": float(np.abs(np.diff(after)).max() * FS),
                "iec_pass": bool(
                    max(np.abs(after).max(), np.abs(before).max()) <= 0.1
                    and np.abs(np.diff(after)).max() * FS <= 0.3
                ),
            }
        )
    return rows


def bench_st_synthetic() -> list[dict[str, float]]:
    rows = []
    for hr in (40, 60, 100, 130):
        x, r_times = synthetic_beats(FS, hr, 10.0, 0.2, seed=hr)
        truth = st_levels(x, r_times, FS)
        for cutoff in (0.05, 0.1, 0.3, 0.67):
            y = x - estimate_baseline(x[None, :], FS, cutoff)[0]
            rows.append(
                {
                    "hr_bpm": hr,
                    "cutoff_hz": cutoff,
                    "st_true_mv": float(truth.mean()),
                    "max_abs_err_mv": float(
                        np.abs(st_levels(y, r_times, FS) - truth).max()
                    ),
                }
            )
        for profile in FilterProfile:
            y = preprocess(x[None, :], FS, profile)[0]
            rows.append(
                {
                    "hr_bpm": hr,
                    "profile": str(profile),
                    "st_true_mv": float(truth.mean()),
                    "max_abs_err_mv": float(
                        np.abs(st_levels(y, r_times, FS) - truth).max()
                    ),
                }
            )
    return rows


def bench_st_ludb(max_records: int) -> dict[str, Any]:
    import wfdb

    folder = DATA / "ludb" / "data"
    if not folder.is_dir():
        return {"skipped": f"LUDB not found at {folder}"}
    records = sorted(int(p.stem) for p in folder.glob("*.hea"))[:max_records]
    errs: dict[str, list[float]] = {str(p): [] for p in FilterProfile}
    for rec in records:
        record = wfdb.rdrecord(str(folder / str(rec)))
        x = np.ascontiguousarray(record.p_signal.T)
        fs = float(record.fs)
        ann = wfdb.rdann(str(folder / str(rec)), "ii")
        sym, smp = np.array(ann.symbol), ann.sample
        qrs = np.flatnonzero(sym == "N")
        on = np.array([smp[i - 1] for i in qrs if i >= 1 and sym[i - 1] == "("])
        off = np.array([smp[i + 1] for i in qrs if i + 1 < sym.size and sym[i + 1] == ")"])
        if on.size != qrs.size or off.size != qrs.size or qrs.size < 4:
            continue
        pr = on - int(0.02 * fs)
        j60 = off + int(0.06 * fs)
        ok = (pr > 5) & (j60 < x.shape[1] - 5)
        pr, j60 = pr[ok], j60[ok]
        spline = CubicSpline(pr, x[:, pr], axis=1)
        inner = (j60 > pr[0]) & (j60 < pr[-1])
        ref = (x[:, j60] - spline(j60))[:, inner]
        for profile in FilterProfile:
            y = preprocess(x, fs, profile)
            # the spline passes through the PR knots, so the reference is relative to PR
            knot = np.searchsorted(pr, j60[inner]) - 1
            got = y[:, j60[inner]] - y[:, pr[knot]]
            errs[str(profile)].extend(np.abs(got - ref).ravel().tolist())
    out: dict[str, Any] = {"records": len(records), "lead_beats": len(errs["diagnostic"])}
    for name, e in errs.items():
        arr = np.array(e)
        out[name] = {
            "median_abs_err_mv": float(np.median(arr)),
            "p95_abs_err_mv": float(np.percentile(arr, 95)),
            "frac_within_0.02_mv": float(np.mean(arr <= 0.02)),
        }
    return out


def bench_edges() -> dict[str, Any]:
    import neurokit2 as nk

    long = nk.ecg_simulate(
        duration=60, sampling_rate=int(FS), heart_rate=70, noise=0.0, random_state=3
    )
    t = np.arange(long.size) / FS
    long = long + 0.3 * np.sin(2 * np.pi * 0.15 * t) + 0.4
    start, stop = int(25 * FS), int(35 * FS)
    out: dict[str, Any] = {}
    for profile in FilterProfile:
        full = preprocess(long[None, :], FS, profile)[0, start:stop]
        part = preprocess(long[None, start:stop], FS, profile)[0]
        err = np.abs(part - full)
        edge = np.r_[err[: int(FS)], err[-int(FS) :]]
        out[str(profile)] = {
            "max_abs_err_mv": float(err.max()),
            "edge_1s_max_abs_err_mv": float(edge.max()),
            "middle_max_abs_err_mv": float(err[int(FS) : -int(FS)].max()),
        }
    sos = sps.butter(1, 0.05, btype="highpass", fs=FS, output="sos")
    full = sps.sosfiltfilt(sos, long)[start:stop]
    part = sps.sosfiltfilt(sos, long[start:stop])
    out["scipy_sosfiltfilt_hp0.05_default_pad"] = {
        "max_abs_err_mv": float(np.abs(part - full).max())
    }
    return out


def main() -> None:
    ci = os.environ.get("CI") == "true"
    results = {
        "machine": {
            "python": platform.python_version(),
            "cpu": platform.processor(),
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
            "note": "2 shared cores, other jobs running: medians of repeats",
        },
        "speed": bench_speed(20 if ci else 60),
        "iec_impulse_test": bench_impulse(),
        "st_synthetic": bench_st_synthetic(),
        "st_ludb": bench_st_ludb(10 if ci else 100),
        "edge_error": bench_edges(),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2) + "\n")
    sp = results["speed"]
    print(f"{'stage':34s} {'ms':>8s}")
    for key in (
        "preprocess_diagnostic_ms",
        "preprocess_monitoring_ms",
        "floor_sosfiltfilt_bp4_ms",
        "neurokit2_ecg_clean_x12_ms",
    ):
        print(f"{key:34s} {sp[key]:8.3f}")
    print(
        f"diagnostic / floor = {sp['diagnostic_vs_floor']:.2f} "
        f"(p10: {sp['diagnostic_vs_floor_p10']:.2f}), "
        f"neurokit2 / diagnostic = {sp['neurokit2_vs_diagnostic']:.1f}"
    )
    print(
        "IEC impulse:",
        [
            (r["cutoff_hz"], round(r["displacement_mv"], 3), r["iec_pass"])
            for r in results["iec_impulse_test"]
        ],
    )
    print("ST LUDB:", json.dumps(results["st_ludb"]))
    print("edges:", json.dumps(results["edge_error"]))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
