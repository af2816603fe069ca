"""Speed of the whole analysis of a 10 s 12-lead 500 Hz record, one core, against peers.

Compares, in one run and on the same real record (PTB-XL ecg_id 1 from sample_records/):
- ``edge_agent.analyze`` (rules only, and with the bundled ONNX model),
- neurokit2 ``ecg_process`` looped over the 12 leads (the reference pipeline),
- the floor: one scipy ``sosfiltfilt`` pass (4th-order 0.5-40 Hz band-pass) over the array,
- ``Analysis.to_dict`` (the upload document; not included in the ``analyze`` rows),
- and, for ``analyze``, the time of each stage on its own (where the time goes).

Wall time (``perf_counter``) and CPU time of the process (``process_time``) are both
reported: the machine is shared, so the load average at the start and the end of the run is
recorded too; CPU time is the less load-sensitive of the two.

Run ``python -m bench.analyze_speed``; prints a table and writes
``bench/results/analyze_speed.json``. Threads are pinned to one (OMP/MKL/OpenBLAS, and
onnxruntime ``intra_op_num_threads=1``).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import scipy.signal as ss  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def _time(fn: Callable[[], object], repeats: int, warmup: int = 3) -> dict[str, float]:
    for _ in range(warmup):
        fn()
    samples = []
    cpu = []
    for _ in range(repeats):
        c0 = time.process_time()
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1e3)
        cpu.append((time.process_time() - c0) * 1e3)
    return {
        "median_ms": statistics.median(samples),
        "p10_ms": float(np.percentile(samples, 10)),
        "p90_ms": float(np.percentile(samples, 90)),
        "min_ms": min(samples),
        "cpu_median_ms": statistics.median(cpu),
        "repeats": repeats,
    }


def _stages(
    x: np.ndarray, fs: float, leads: list[str], repeats: int
) -> dict[str, dict[str, float]]:
    """Median wall and CPU time (ms) of each ``analyze`` stage run on its own, same
    inputs and the same calls as ``edge_agent.analysis.analyze`` makes."""
    import inspect

    from edge_agent.dsp._validate import check_signal
    from edge_agent.dsp.beats import classify_beats, median_beat
    from edge_agent.dsp.delineate import delineate, map_fiducials
    from edge_agent.dsp.filters import preprocess
    from edge_agent.dsp.measure import measure_axes, measure_intervals, measure_leads
    from edge_agent.dsp.pacing import detect_pacing_spikes
    from edge_agent.dsp.quality import assess_beat_quality, assess_quality
    from edge_agent.dsp.rhythm import assess_rhythm, rhythm_findings
    from edge_agent.dsp.rpeaks import detect_rpeaks
    from edge_agent.triage import triage

    quality = assess_quality(x, fs, leads)
    usable = quality.usable
    y = preprocess(x, fs)
    rpeaks = detect_rpeaks(x, fs, usable=usable)
    beats = classify_beats(y, rpeaks, fs, usable=usable)
    quality = assess_beat_quality(y, fs, leads, rpeaks, beats, quality)
    usable = quality.usable
    rhythm_kw: dict[str, object] = {}
    if "signal" in inspect.signature(assess_rhythm).parameters:  # the atrial analysis
        rhythm_kw = {"signal": y, "usable": usable, "leads": tuple(leads)}
    rhythm = assess_rhythm(beats.rpeaks, fs, x.shape[1], beats.labels, **rhythm_kw)
    median = median_beat(y, beats, fs, usable=usable)
    fid = delineate(median, usable=usable)
    intervals = measure_intervals(fid, median, rhythm.rr_mean_ms)
    measures = measure_leads(median, fid, leads)
    triage_kw: dict[str, object] = {}
    if "median" in inspect.signature(triage).parameters:  # the STEMI feature model hook
        triage_kw = {"median": median, "fiducials": fid}
    stages: dict[str, Callable[[], object]] = {
        "check_signal": lambda: check_signal(x, fs, leads),
        "assess_quality": lambda: assess_quality(x, fs, leads),
        "preprocess": lambda: preprocess(x, fs),
        "detect_rpeaks": lambda: detect_rpeaks(x, fs, usable=usable),
        "detect_pacing_spikes": lambda: detect_pacing_spikes(
            x, fs, rpeaks=rpeaks, usable=usable
        ),
        "classify_beats": lambda: classify_beats(y, rpeaks, fs, usable=usable),
        "assess_beat_quality": lambda: assess_beat_quality(
            y, fs, leads, rpeaks, beats, quality
        ),
        "assess_rhythm": lambda: assess_rhythm(
            beats.rpeaks, fs, x.shape[1], beats.labels, **rhythm_kw
        ),
        "median_beat": lambda: median_beat(y, beats, fs, usable=usable),
        "delineate": lambda: delineate(median, usable=usable),
        "map_fiducials": lambda: map_fiducials(fid, median, beats, x.shape[1]),
        "measure_*": lambda: (
            measure_intervals(fid, median, rhythm.rr_mean_ms),
            measure_axes(median, fid, leads),
            measure_leads(median, fid, leads),
        ),
        "triage (rules)": lambda: triage(
            leads=tuple(leads),
            lead_measures=measures,
            intervals=intervals,
            rhythm=rhythm,
            rhythm_findings=rhythm_findings(rhythm),
            quality=quality,
            model_input=None,
            age_years=None,
            sex=None,
            model=None,
            **triage_kw,
        ),
    }
    return {name: _time(fn, repeats) for name, fn in stages.items()}


def main() -> dict[str, object]:
    """Run the benchmark, print the table, write the JSON."""
    from edge_agent.analysis import analyze
    from edge_agent.io import read_record
    from edge_agent.triage import load_default_model

    quick = os.environ.get("CI") == "true"
    rec = read_record(ROOT / "sample_records" / "00001_hr.hea")
    x, fs, leads = rec.signal, rec.fs, rec.leads
    repeats = 20 if quick else 200
    load_start = os.getloadavg()

    results: dict[str, dict[str, float]] = {}
    sos = ss.butter(2, [0.5, 40.0], btype="bandpass", fs=fs, output="sos")
    results["floor: one sosfiltfilt pass"] = _time(
        lambda: ss.sosfiltfilt(sos, x, axis=-1), repeats
    )
    # three rounds of the main measurement (the machine is shared): each round's median
    # is recorded, the row reports the round with the median median
    n_rounds = 1 if quick else 3
    rounds = [_time(lambda: analyze(x, fs, leads), repeats) for _ in range(n_rounds)]
    rounds.sort(key=lambda row: row["median_ms"])
    results["edge_agent.analyze (rules)"] = rounds[len(rounds) // 2]
    # not part of analyze: the JSON-ready dict the agent uploads, built once per record
    done = analyze(x, fs, leads)
    results["Analysis.to_dict (rules), extra"] = _time(done.to_dict, repeats)
    try:
        model = load_default_model()
    except Exception as exc:  # noqa: BLE001 - reported in the table, not hidden
        results["edge_agent.analyze (rules + model)"] = {"error": str(exc)}  # type: ignore[dict-item]
    else:
        results["edge_agent.analyze (rules + model)"] = _time(
            lambda: analyze(x, fs, leads, model=model), repeats
        )

    import neurokit2 as nk

    def nk_process() -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for lead in x:
                nk.ecg_process(lead, sampling_rate=int(fs))

    results["neurokit2 ecg_process x12"] = _time(nk_process, 3 if quick else 15, warmup=1)
    stage_rows = _stages(x, fs, list(leads), repeats)
    stages = {name: row["median_ms"] for name, row in stage_rows.items()}
    stages_cpu = {name: row["cpu_median_ms"] for name, row in stage_rows.items()}
    load_end = os.getloadavg()

    nk_ms = results["neurokit2 ecg_process x12"]["median_ms"]
    ours = results["edge_agent.analyze (rules)"]["median_ms"]
    print(f"\n10 s 12-lead 500 Hz record ({rec.source}), one thread, median of repeats")
    print(f"load average (1 min) {load_start[0]:.2f} at start, {load_end[0]:.2f} at end")
    print(f"{'pipeline':<40} {'median ms':>10} {'p90 ms':>9} {'cpu ms':>8} {'vs nk2':>8}")
    for name, row in results.items():
        if "median_ms" not in row:
            print(f"{name:<40} {'error: ' + str(row.get('error')):>30}")
            continue
        print(
            f"{name:<40} {row['median_ms']:>10.2f} {row['p90_ms']:>9.2f} "
            f"{row['cpu_median_ms']:>8.2f} {nk_ms / row['median_ms']:>7.0f}x"
        )
    print(f"\n{'analyze stage, run alone':<40} {'median ms':>10} {'cpu ms':>8}")
    for name, ms in stages.items():
        print(f"{name:<40} {ms:>10.3f} {stages_cpu[name]:>8.3f}")
    print(
        f"{'sum of stages':<40} {sum(stages.values()):>10.3f} "
        f"{sum(stages_cpu.values()):>8.3f}"
    )
    print(
        "analyze rounds (median / cpu median ms): "
        + ", ".join(f"{r['median_ms']:.2f} / {r['cpu_median_ms']:.2f}" for r in rounds)
    )
    doc: dict[str, object] = {
        "benchmark": "analyze_speed",
        "record": str(Path(rec.source).relative_to(ROOT)),
        "shape": list(x.shape),
        "fs_hz": fs,
        "threads": 1,
        "quick": quick,
        "machine": {"cpu_count": os.cpu_count(), "python": platform.python_version()},
        "load_average_1min": {"start": load_start[0], "end": load_end[0]},
        "results": results,
        "analyze_rounds": [
            {"median_ms": r["median_ms"], "cpu_median_ms": r["cpu_median_ms"]}
            for r in rounds
        ],
        "stages_median_ms": stages,
        "stages_sum_ms": sum(stages.values()),
        "stages_cpu_median_ms": stages_cpu,
        "speedup_vs_neurokit2": nk_ms / ours,
        "targets": {"analyze_median_ms": 5.0, "speedup_vs_neurokit2": 100.0},
        "met": {
            "analyze_median_ms": ours <= 5.0,
            "speedup_vs_neurokit2": nk_ms / ours >= 100,
        },
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "analyze_speed.json").write_text(json.dumps(doc, indent=2) + "\n")
    return doc


if __name__ == "__main__":
    main()
