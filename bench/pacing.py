"""Pacemaker-spike detection: record-level Se / Sp, per-beat evidence, cost.

Run: ``.venv/bin/python -m bench.pacing`` (writes ``bench/results/pacing.json``).

Data (``../shared/data``, cite the databases):

- LUDB 1.0.1 (doi:10.13026/eegm-h675), 100 records, 12 leads, 500 Hz: paced = a non-empty
  "Cardiac pacing" column of ``ludb.csv`` (45 atrial + ventricular, 93 biventricular,
  95 and 111 ventricular); every other record is a negative.
- PTB-XL 1.0 subset at 500 Hz: paced = ``PACE`` in ``scp_codes`` (ecg_id 143, 144, 190;
  143 and 144 hold bit-identical signals: 2 distinct paced recordings).
- MIT-BIH Arrhythmia DB (doi:10.13026/C2F305), 360 Hz, 2 leads, 30 min: paced records
  102, 104, 107, 217 (annotation ``/`` paced beat, ``f`` fusion); the 44 others are
  negatives. Scored on consecutive 10 s windows (the cart's record length), and per paced
  beat (a ventricular spike within 250 ms before to 50 ms after the ``/`` annotation).
- CinC 2017 (300 Hz, single lead): the noisy class ``~`` and, for context, the others;
  every record is a negative (no pacing label exists; a paced record among them would
  count as a false positive against us).

The R peaks come from the project's ``detect_rpeaks`` on the raw signal, as in
``analyze``. ``PacingConfig`` was tuned on LUDB and PTB-XL (see ``edge_agent.dsp.pacing``);
MIT-BIH and CinC 2017 were not looked at while tuning. No peer library detects pacing
spikes (neurokit2, wfdb, sleepecg have none), so there is no reference in the same run.

Cost: ``timeit`` median of ``detect_pacing_spikes_checked`` (R peaks given, the path of
``analyze``) on a 10 s 12-lead 500 Hz LUDB record, one core, on a shared 2-core machine
(noisy: the median of repeats is reported).
"""

from __future__ import annotations

import ast
import csv
import json
import sys
import timeit
from collections import Counter
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import wfdb
from numpy.typing import NDArray
from scipy.signal import resample_poly

from edge_agent.dsp.pacing import (
    PACING_VERSION,
    PacingResult,
    detect_pacing_spikes_checked,
)
from edge_agent.dsp.rpeaks import detect_rpeaks

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
OUT = ROOT / "bench" / "results" / "pacing.json"
MIT_PACED = ("102", "104", "107", "217")
WINDOW_S = 10.0


def _load(path: Path) -> tuple[NDArray[np.float64], float]:
    rec = wfdb.rdrecord(str(path))
    return np.ascontiguousarray(rec.p_signal.T, dtype=np.float64), float(rec.fs)


def _run(x: NDArray[np.float64], fs: float) -> PacingResult:
    return detect_pacing_spikes_checked(x, fs, detect_rpeaks(x, fs))


def _sesp(pos: list[bool], neg: list[bool]) -> dict[str, Any]:
    tp, fp = sum(pos), sum(neg)
    return {
        "positives": len(pos),
        "negatives": len(neg),
        "tp": tp,
        "fp": fp,
        "se": round(tp / len(pos), 4) if pos else None,
        "sp": round(1 - fp / len(neg), 4) if neg else None,
    }


def _ludb_paced() -> dict[str, str]:
    with open(DATA / "ludb" / "ludb.csv", newline="") as fh:
        return {
            row["ID"].strip(): " / ".join(row["Cardiac pacing"].split("\n")[1:]).strip()
            for row in csv.DictReader(fh)
            if row["Cardiac pacing"].strip()
        }


def bench_ludb() -> dict[str, Any]:
    """Record-level Se/Sp on LUDB, the verdict of the paced records, fs invariance."""
    paced = _ludb_paced()
    ids = sorted(int(p.stem) for p in (DATA / "ludb" / "data").glob("*.hea"))
    pos: list[bool] = []
    neg: list[bool] = []
    fp_ids: list[int] = []
    detail: dict[str, Any] = {}
    resampled: dict[str, Any] = {}
    for rid in ids:
        x, fs = _load(DATA / "ludb" / "data" / str(rid))
        res = _run(x, fs)
        if str(rid) in paced:
            pos.append(res.paced)
            detail[str(rid)] = {
                "label": paced[str(rid)],
                "mode": res.mode.value,
                "beats": res.n_beats,
                "atrial_beats": res.atrial_beats,
                "ventricular_beats": res.ventricular_beats,
                "spikes": int(res.spikes.size),
                "leads_showing_spikes": int((res.lead_spikes > 0).sum()),
            }
            for up, down, rate in ((2, 1, 1000), (1, 2, 250)):
                y = resample_poly(x, up, down, axis=1)
                r2 = _run(y, float(rate))
                resampled.setdefault(f"{rate} Hz", {})[str(rid)] = r2.mode.value
        else:
            neg.append(res.paced)
            if res.paced:
                fp_ids.append(rid)
    return {
        **_sesp(pos, neg),
        "fp_records": fp_ids,
        "paced_records": detail,
        "paced_resampled_mode": resampled,
    }


def bench_ptbxl() -> dict[str, Any]:
    """Record-level Se/Sp on the PTB-XL 500 Hz subset (PACE in scp_codes)."""
    pos: list[bool] = []
    neg: list[bool] = []
    fp_ids: list[int] = []
    detail: dict[str, str] = {}
    with open(DATA / "ptbxl_subset" / "ptbxl_database.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        path = DATA / "ptbxl_subset" / row["filename_hr"]
        if not path.with_suffix(".hea").exists():
            continue
        x, fs = _load(path)
        res = _run(x, fs)
        is_paced = "PACE" in ast.literal_eval(row["scp_codes"])
        eid = int(float(row["ecg_id"]))
        if is_paced:
            pos.append(res.paced)
            detail[str(eid)] = res.mode.value
        else:
            neg.append(res.paced)
            if res.paced:
                fp_ids.append(eid)
    return {**_sesp(pos, neg), "fp_records": fp_ids, "paced_records": detail}


def _windows(n: int, fs: float) -> list[tuple[int, int]]:
    w = int(WINDOW_S * fs)
    return [(a, a + w) for a in range(0, n - w + 1, w)]


def bench_mitdb() -> dict[str, Any]:
    """MIT-BIH at 360 Hz: 10 s windows (verdict) and per-paced-beat spike sensitivity."""
    names = sorted(p.stem for p in (DATA / "mitdb").glob("*.hea"))
    pos: list[bool] = []
    neg: list[bool] = []
    neg_by_record: Counter[str] = Counter()
    beats_paced = beats_found = 0
    spikes_neg = 0
    hours_neg = 0.0
    per_paced: dict[str, Any] = {}
    for name in names:
        x, fs = _load(DATA / "mitdb" / name)
        r = detect_rpeaks(x, fs)
        ann = wfdb.rdann(str(DATA / "mitdb" / name), "atr")
        sym = np.asarray(ann.symbol)
        smp = np.asarray(ann.sample, dtype=np.int64)
        is_paced = name in MIT_PACED
        win_pos: list[bool] = []
        for a, b in _windows(x.shape[1], fs):
            rr = r[(r >= a) & (r < b)] - a
            res = detect_pacing_spikes_checked(x[:, a:b], fs, rr)
            in_win = (smp >= a) & (smp < b) & np.isin(sym, list("NLRBAaJSVrFejnE/fQ"))
            if is_paced:
                share = float(np.mean(sym[in_win] == "/")) if in_win.any() else 0.0
                if share >= 0.5:
                    win_pos.append(res.paced)
                vs = res.ventricular_spikes + a
                for s in smp[in_win & (sym == "/")]:
                    beats_paced += 1
                    beats_found += bool(
                        np.any((vs >= s - int(0.25 * fs)) & (vs <= s + int(0.05 * fs)))
                    )
            else:
                neg.append(res.paced)
                neg_by_record[name] += int(res.paced)
                spikes_neg += int(res.spikes.size)
        if is_paced:
            pos.extend(win_pos)
            per_paced[name] = {
                "paced_windows": len(win_pos),
                "detected": int(sum(win_pos)),
            }
        else:
            hours_neg += x.shape[1] / fs / 3600.0
    return {
        "fs_hz": 360,
        "window_s": WINDOW_S,
        "windows": _sesp(pos, neg),
        "paced_records": per_paced,
        "paced_beats": beats_paced,
        "paced_beats_with_v_spike": beats_found,
        "paced_beat_se": round(beats_found / beats_paced, 4) if beats_paced else None,
        "fp_windows_by_record": {k: v for k, v in sorted(neg_by_record.items()) if v},
        "spikes_per_hour_non_paced": round(spikes_neg / hours_neg, 1)
        if hours_neg
        else None,
    }


def bench_cinc2017() -> dict[str, Any]:
    """False positives on CinC 2017 (300 Hz, 1 lead): noisy records and the rest."""
    folder = DATA / "cinc2017_af_subset"
    with open(folder / "REFERENCE.csv", newline="") as fh:
        ref = {row["record"]: row["class"] for row in csv.DictReader(fh)}
    out: dict[str, Any] = {}
    counts: dict[str, list[int]] = {}
    fp_noisy: list[str] = []
    for rec, cls in sorted(ref.items()):
        if not (folder / f"{rec}.hea").exists():
            continue
        x, fs = _load(folder / rec)
        res = _run(x, fs)
        c = counts.setdefault(cls, [0, 0])
        c[0] += 1
        c[1] += int(res.paced)
        if res.paced and cls == "~":
            fp_noisy.append(rec)
    for cls, (n, fp) in sorted(counts.items()):
        out[cls] = {"records": n, "paced_verdicts": fp, "sp": round(1 - fp / n, 4)}
    return {"fs_hz": 300, "by_class": out, "fp_noisy_records": fp_noisy}


def bench_cost() -> dict[str, Any]:
    """Median time of the detector with R peaks given (the path of ``analyze``), next to
    its floor: the float32 edge pass over the whole record (astype, difference, abs, max
    across leads) that every call makes."""
    out: dict[str, Any] = {"unit": "ms, median of 15 x 200 calls, one core, shared machine"}
    fs = 500.0
    for label, rec in (
        ("ludb_5_not_paced_no_candidate", "5"),
        ("ludb_1_not_paced", "1"),
        ("ludb_95_paced", "95"),
    ):
        x, fs = _load(DATA / "ludb" / "data" / rec)
        call = partial(detect_pacing_spikes_checked, x, fs, detect_rpeaks(x, fs))
        out[label] = round(
            float(np.median(timeit.repeat(call, number=200, repeat=15))) / 200 * 1e3, 4
        )
        if rec == "5":
            out["floor_edge_pass"] = round(
                float(
                    np.median(timeit.repeat(partial(_edge_pass, x), number=200, repeat=15))
                )
                / 200
                * 1e3,
                4,
            )
    return out


def _edge_pass(x: NDArray[np.float64]) -> NDArray[np.float32]:
    y = x.astype(np.float32)
    m = y[:, 2:] - y[:, :-2]
    np.abs(m, out=m)
    out: NDArray[np.float32] = m.max(axis=0)
    return out


def bench_delineation_effect() -> dict[str, Any]:
    """QRS onset error (ms) on the paced LUDB records without / with the spike as onset.

    Same chain, matching and references as ``bench/delineation.py``: earliest onset over
    the 12 leads (primary), second earliest, median of the leads.
    """
    from bench.delineation import load_reference, load_signal, match, ours_per_beat
    from edge_agent.dsp.beats import classify_beats, median_beat
    from edge_agent.dsp.delineate import delineate, map_fiducials
    from edge_agent.dsp.filters import preprocess
    from edge_agent.dsp.pacing import spike_in_median

    out: dict[str, Any] = {}
    for rec in _ludb_paced():
        x, fs = load_signal(rec)
        y = preprocess(x, fs)
        r = detect_rpeaks(y, fs)
        beats = classify_beats(y, r, fs)
        med = median_beat(y, beats, fs)
        spike = spike_in_median(detect_pacing_spikes_checked(x, fs, r), beats, med)
        row: dict[str, Any] = {"spike_in_median": spike, "r_index": med.r_index}
        for label, at in (("without_spike", None), ("with_spike", spike)):
            fid = delineate(med, pacing_spike=at)
            bf = map_fiducials(fid, med, beats, y.shape[1])
            r_det, ours = ours_per_beat({"bf": bf})
            for how in ("extreme", "second", "median"):
                e = np.asarray(match(load_reference(rec, how), r_det, ours)["qrs_on"][0])
                e = e * 1000.0 / fs
                row.setdefault(how, {})[label] = (
                    {"mean_ms": round(float(e.mean()), 1), "n": int(e.size)}
                    if e.size
                    else None
                )
        out[rec] = row
    return out


def main() -> int:
    if not (DATA / "ludb").exists():
        print(f"shared data not found at {DATA}", file=sys.stderr)
        return 1
    results: dict[str, Any] = {"algorithm": PACING_VERSION}
    results["cost"] = bench_cost()
    results["ludb"] = bench_ludb()
    results["ptbxl_500hz"] = bench_ptbxl()
    results["mitdb_360hz"] = bench_mitdb()
    results["cinc2017_300hz"] = bench_cinc2017()
    results["ludb_paced_qrs_onset"] = bench_delineation_effect()
    _print(results)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {OUT}")
    return 0


def _print(res: dict[str, Any]) -> None:
    print(f"pacing spikes ({res['algorithm']})")
    print(f"{'dataset':<28}{'pos':>5}{'TP':>5}{'Se':>8}{'neg':>7}{'FP':>5}{'Sp':>8}")
    rows = (
        ("LUDB 500 Hz (records)", res["ludb"]),
        ("PTB-XL 500 Hz (records)", res["ptbxl_500hz"]),
        ("MIT-BIH 360 Hz (10 s win)", res["mitdb_360hz"]["windows"]),
    )
    for label, r in rows:
        print(
            f"{label:<28}{r['positives']:>5}{r['tp']:>5}{_f(r['se']):>8}"
            f"{r['negatives']:>7}{r['fp']:>5}{_f(r['sp']):>8}"
        )
    for cls, r in res["cinc2017_300hz"]["by_class"].items():
        label = f"CinC 2017 300 Hz class {cls}"
        print(
            f"{label:<28}{'':>5}{'':>5}{'':>8}{r['records']:>7}"
            f"{r['paced_verdicts']:>5}{_f(r['sp']):>8}"
        )
    m = res["mitdb_360hz"]
    print(
        f"MIT-BIH paced beats with a V spike: {m['paced_beats_with_v_spike']}/"
        f"{m['paced_beats']} ({_f(m['paced_beat_se'])}); spikes/h on non-paced "
        f"records: {m['spikes_per_hour_non_paced']}"
    )
    modes = {k: v["mode"] for k, v in res["ludb"]["paced_records"].items()}
    print(f"LUDB paced verdicts: {modes}")
    print(f"LUDB paced resampled: {res['ludb']['paced_resampled_mode']}")
    print(f"PTB-XL paced verdicts: {res['ptbxl_500hz']['paced_records']}")
    print(f"cost: {res['cost']}")
    print("QRS onset error on paced LUDB records (mean ms, vs earliest / 2nd / median):")
    for rec, row in res["ludb_paced_qrs_onset"].items():
        cells = []
        for how in ("extreme", "second", "median"):
            a, b = row[how]["without_spike"], row[how]["with_spike"]
            cells.append(f"{_m(a)} -> {_m(b)}")
        print(f"  LUDB {rec} (spike {row['spike_in_median']}): " + " | ".join(cells))


def _m(v: dict[str, Any] | None) -> str:
    return "-" if v is None else f"{v['mean_ms']:+.1f}"


def _f(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"


__all__ = ["main"]

if __name__ == "__main__":
    raise SystemExit(main())
