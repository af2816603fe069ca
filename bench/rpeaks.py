"""R-peak detection benchmark: ecg-network against neurokit2, wfdb XQRS and sleepecg.

Run ``.venv/bin/python -m bench.rpeaks`` (full: all 48 MIT-BIH records, 18 CPSC 2021
samples, 100 LUDB records; about 10 minutes, mostly XQRS) or with ``CI=true`` (a few
records). Prints tables and writes ``bench/results/rpeaks.json``.

Detectors, each run on the same records in the same process:

- ``ecg-network (fused)``: :func:`edge_agent.dsp.rpeaks.detect_rpeaks` on every lead.
- ``ecg-network (1 lead)``: the same on the single lead the peers get.
- ``neurokit2``: ``nk.ecg_clean`` (default) then ``nk.ecg_peaks`` (default method).
- ``wfdb xqrs``: ``wfdb.processing.xqrs_detect`` with default settings.
- ``sleepecg``: ``sleepecg.detect_heartbeats`` (C backend).

The single lead is MIT-BIH channel 0 (MLII in 45 records), CPSC 2021 channel 0 and LUDB
lead II (whose annotations are the reference). Scoring rules: ``bench/_mitdb.py``.
Timings: median of repeated runs with one BLAS/OpenMP thread on a shared machine.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import asdict  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import scipy.signal  # noqa: E402
from numpy.typing import NDArray  # noqa: E402

from bench._mitdb import (  # noqa: E402
    BEAT_SYMBOLS,
    TOL_S,
    Record,
    Score,
    load_ludb,
    load_wfdb_beats,
    pooled,
    record_names,
    score,
)
from edge_agent.dsp.rpeaks import (  # noqa: E402
    ALGORITHM_VERSION,
    RPeakConfig,
    design_detection_filter,
    detect_rpeaks,
)

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("ECG_SHARED_DATA", ROOT.parent / "shared" / "data"))
OUT = ROOT / "bench" / "results" / "rpeaks.json"
CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

Detector = Callable[[NDArray[np.float64], float, int], NDArray[np.int64]]


def _ours_fused(sig: NDArray[np.float64], fs: float, lead: int) -> NDArray[np.int64]:
    return detect_rpeaks(sig, fs)


def _ours_single(sig: NDArray[np.float64], fs: float, lead: int) -> NDArray[np.int64]:
    return detect_rpeaks(sig[lead : lead + 1], fs)


def _neurokit(sig: NDArray[np.float64], fs: float, lead: int) -> NDArray[np.int64]:
    import neurokit2 as nk

    cleaned = nk.ecg_clean(sig[lead], sampling_rate=fs)
    _, info = nk.ecg_peaks(cleaned, sampling_rate=fs)
    return np.asarray(info["ECG_R_Peaks"], dtype=np.int64)


def _xqrs(sig: NDArray[np.float64], fs: float, lead: int) -> NDArray[np.int64]:
    from wfdb import processing

    return np.asarray(processing.xqrs_detect(sig[lead], fs, verbose=False), dtype=np.int64)


def _sleepecg(sig: NDArray[np.float64], fs: float, lead: int) -> NDArray[np.int64]:
    from sleepecg import detect_heartbeats  # type: ignore[attr-defined]

    return np.asarray(detect_heartbeats(sig[lead], fs), dtype=np.int64)


DETECTORS: dict[str, Detector] = {
    "ecg-network (fused)": _ours_fused,
    "ecg-network (1 lead)": _ours_single,
    "neurokit2": _neurokit,
    "wfdb xqrs": _xqrs,
    "sleepecg": _sleepecg,
}
PEERS = ("neurokit2", "wfdb xqrs", "sleepecg")


def _datasets() -> dict[str, tuple[list[Record], int]]:
    """name -> (records, single lead index)."""
    mit_dir = DATA / "mitdb"
    mit = record_names(mit_dir)
    cpsc_dir = DATA / "cpsc2021_samples"
    cpsc = record_names(cpsc_dir)
    ludb_dir = DATA / "ludb" / "data"
    ludb = sorted((p.stem for p in ludb_dir.glob("*.hea")), key=int)
    if CI:
        mit = [r for r in mit if r in {"100", "105", "119", "207"}]
        cpsc, ludb = cpsc[:2], ludb[:5]
    return {
        "mitdb": ([load_wfdb_beats(mit_dir / r) for r in mit], 0),
        "cpsc2021": ([load_wfdb_beats(cpsc_dir / r) for r in cpsc], 0),
        "ludb": ([load_ludb(ludb_dir / r) for r in ludb], 1),
    }


def _row(name: str, s: Score) -> dict[str, Any]:
    return {
        "record": name,
        "tp": s.tp,
        "fn": s.fn,
        "fp": s.fp,
        "se": round(100 * s.se, 3),
        "ppv": round(100 * s.ppv, 3),
        "f1": round(100 * s.f1, 3),
    }


def _evaluate(records: list[Record], lead: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for det_name, det in DETECTORS.items():
        scores: list[Score] = []
        rows = []
        failures = []
        for rec in records:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    found = det(rec.signal, rec.fs, lead)
            except Exception as exc:  # a peer failing on a record counts as no detections
                failures.append(f"{rec.name}: {type(exc).__name__}: {exc}")
                found = np.empty(0, dtype=np.int64)
            s = score(found, rec)
            scores.append(s)
            rows.append(_row(rec.name, s))
        total = pooled(scores)
        out[det_name] = {
            "pooled": _row("pooled", total),
            "records": rows,
            "failures": failures,
        }
        print(
            f"  {det_name:22s} Se {100 * total.se:7.3f}  +P {100 * total.ppv:7.3f}  "
            f"F1 {100 * total.f1:7.3f}  FN {total.fn:5d}  FP {total.fp:5d}",
            flush=True,
        )
    return out


def _median_ms(fn: Callable[[], object], repeats: int, clock: str = "wall") -> float:
    """Median time of ``repeats`` calls in ms (``wall``: perf_counter, ``cpu``: process)."""
    timer = time.perf_counter if clock == "wall" else time.process_time
    fn()  # warm-up (filter design cache, imports)
    times = []
    for _ in range(repeats):
        t0 = timer()
        fn()
        times.append(timer() - t0)
    return float(np.median(times) * 1e3)


def _print_records(dets: dict[str, Any]) -> None:
    """Per-record FN/FP of every detector (one row per record)."""
    names = list(dets)
    print("  record " + "".join(f"{n[:20]:>22s}" for n in names))
    rows = zip(*(dets[n]["records"] for n in names), strict=True)
    for row in rows:
        cells = "".join(f"{'FN ' + str(r['fn']) + ' FP ' + str(r['fp']):>22s}" for r in row)
        print(f"  {row[0]['record']:6s} {cells}")


def _timings() -> dict[str, Any]:
    from sleepecg import detect_heartbeats  # type: ignore[attr-defined]

    mit = load_wfdb_beats(DATA / "mitdb" / "100")
    one = np.ascontiguousarray(mit.signal[:1])
    fs = mit.fs
    cfg = RPeakConfig()
    sos = design_detection_filter(fs, cfg.band_low_hz, cfg.band_high_hz, cfg.filter_order)
    reps = 3 if CI else 11
    t: dict[str, Any] = {"repeats": reps, "omp_num_threads": os.environ["OMP_NUM_THREADS"]}
    entry: dict[str, Any] = {"shape": list(one.shape)}
    for clock in ("wall", "cpu"):
        ours = _median_ms(lambda: detect_rpeaks(one, fs), reps, clock)
        peer = _median_ms(lambda: detect_heartbeats(one[0], fs), reps, clock)
        floor = _median_ms(lambda: scipy.signal.sosfiltfilt(sos, one, axis=-1), reps, clock)
        entry[clock] = {
            "ecg_network_ms": round(ours, 3),
            "sleepecg_c_ms": round(peer, 3),
            "ratio_ours_over_sleepecg": round(ours / peer, 3),
            "floor_one_sosfiltfilt_at_fs_ms": round(floor, 3),
        }
    t["mitdb_100_lead0_30min"] = entry
    ludb = load_ludb(DATA / "ludb" / "data" / "1")
    twelve = ludb.signal
    reps12 = 21 if CI else 201
    sos12 = design_detection_filter(
        ludb.fs, cfg.band_low_hz, cfg.band_high_hz, cfg.filter_order
    )
    entry12: dict[str, Any] = {"shape": list(twelve.shape)}
    for clock in ("wall", "cpu"):
        ours12 = _median_ms(lambda: detect_rpeaks(twelve, ludb.fs), reps12, clock)
        floor12 = _median_ms(
            lambda: scipy.signal.sosfiltfilt(sos12, twelve, axis=-1), reps12, clock
        )
        peer12 = _median_ms(
            lambda: [detect_heartbeats(lead, ludb.fs) for lead in twelve], reps12, clock
        )
        entry12[clock] = {
            "ecg_network_ms": round(ours12, 4),
            "sleepecg_c_each_of_12_leads_ms": round(peer12, 4),
            "floor_one_sosfiltfilt_at_fs_ms": round(floor12, 4),
        }
    t["ludb_1_12lead_10s_500hz"] = entry12
    for key, val in t.items():
        print(f"  {key}: {val}", flush=True)
    return t


def _verdict(results: dict[str, Any]) -> dict[str, Any]:
    verdict: dict[str, Any] = {}
    for ds, dets in results.items():
        best_peer_se = max(dets[p]["pooled"]["se"] for p in PEERS)
        best_peer_ppv = max(dets[p]["pooled"]["ppv"] for p in PEERS)
        for ours in ("ecg-network (fused)", "ecg-network (1 lead)"):
            p = dets[ours]["pooled"]
            verdict[f"{ds}: {ours}"] = {
                "se_ge_99.7": p["se"] >= 99.7,
                "ppv_ge_99.7": p["ppv"] >= 99.7,
                "se_above_every_peer": p["se"] > best_peer_se,
                "ppv_above_every_peer": p["ppv"] > best_peer_ppv,
            }
    return verdict


def main() -> int:
    print(
        f"R-peak benchmark ({'CI short' if CI else 'full'}), tolerance {TOL_S * 1e3:g} ms"
    )
    results: dict[str, Any] = {}
    for ds, (records, lead) in _datasets().items():
        print(f"{ds}: {len(records)} records, single lead = channel {lead}", flush=True)
        results[ds] = _evaluate(records, lead)
        if ds == "mitdb":
            _print_records(results[ds])
    print("timing (ms, median):", flush=True)
    timing = _timings()
    verdict = _verdict(results)
    payload = {
        "benchmark": "rpeaks",
        "mode": "ci" if CI else "full",
        "settings": {
            "tolerance_ms": TOL_S * 1e3,
            "beat_symbols": "".join(sorted(BEAT_SYMBOLS)),
            "rules": (
                "beat-label annotations only; VF/VFL episodes ([ ... ]) excluded as in "
                "ANSI/AAMI EC57; whole record scored except beats/detections within the "
                "tolerance of either end; LUDB scored only within the annotated span of "
                "lead II; one-to-one matching in time order"
            ),
            "single_lead": {"mitdb": 0, "cpsc2021": 0, "ludb": "II (index 1)"},
            "neurokit2": "nk.ecg_clean (default) + nk.ecg_peaks (default method)",
            "wfdb": "processing.xqrs_detect defaults",
            "sleepecg": "detect_heartbeats backend='c'",
            "ecg_network_config": asdict(RPeakConfig()),
            "ecg_network_version": ALGORITHM_VERSION,
            "python": sys.version.split()[0],
            "machine": platform.machine(),
        },
        "results": results,
        "timing": timing,
        "verdict": verdict,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(payload, indent=1) + "\n")
    print(f"wrote {OUT.relative_to(ROOT)}")
    for key, val in verdict.items():
        print(f"  {key}: {val}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
