"""Rhythm stage (``edge_agent.dsp.rhythm``): AF, atrial flutter, third-degree AV block.

Run: ``OMP_NUM_THREADS=1 .venv/bin/python -m bench.rhythm`` (writes
``bench/results/rhythm.json``; about 3 minutes on one core).

* CinC 2017 (single lead, 300 Hz, 9-61 s): the pipeline as ``analyze`` runs it
  (diagnostic filter, ``detect_rpeaks``, ``classify_beats`` labels, ``assess_rhythm``),
  in two forms: ``rr_only`` (no signal: RR irregularity, the rule before atrial analysis)
  and ``rr_and_p_wave`` (the filtered signal too: the logistic score of ln(irregularity)
  and the P-wave correlation). Constants were fitted and thresholds chosen on the EVEN
  record numbers only; sensitivity and specificity are REPORTED on the ODD ones, against
  normal ('N'), other rhythms ('O') and noisy records ('~'). Also the first 10 s of
  each record (what a 10 s cart record gives), and sleepecg's R peaks as the peer
  detector (RR only). AUCs are of the continuous score on the odd records.
* CPSC 2021 (2 leads, 200 Hz, paroxysmal AF): 10 s windows, truth = more than half of
  the window inside an '(AFIB' episode; pipeline on the whole record, rhythm per window.
* PTB-XL subset (12 leads, 500 Hz, 10 s) through ``edge_agent.analyze``: AF, AFL and
  AVB3 findings per rhythm group (AFIB, AFLT, NORM, NORM with sinus arrhythmia, other).
  The AFL threshold was set above every even-``ecg_id`` NORM record; AFLT records are
  too few (7) to split.
* MIT-BIH (2 leads, 360 Hz): ``analyze`` on consecutive 10 s windows of the first 5 min
  of all 48 records, and of all of record 231 (2:1 AV block episodes): AVB3 must not
  fire; AF/AFL flags reported against the reference rhythm of the window.
* AVB3 on CONSTRUCTED records (no real complete AV block is in the shared data):
  ``construct_av_record`` lays the real P waves and real QRST complexes of normal
  PTB-XL records (and ``sample_records/00001_hr``) at independent atrial and
  ventricular rates; controls use the same parts with 1:1 and 2:1 conduction.
* Speed: ``assess_rhythm`` on a 10 s 12-lead 500 Hz record with and without the signal,
  median wall time of 500 calls and their mean CPU time, one thread; the machine is
  shared (2 cores, ~5 users), so the load average is stored.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import ast  # noqa: E402
import csv  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
from numpy.typing import NDArray  # noqa: E402

from edge_agent.dsp.beats import classify_beats  # noqa: E402
from edge_agent.dsp.filters import preprocess  # noqa: E402
from edge_agent.dsp.results import BeatClass, Beats, RhythmFeatures  # noqa: E402
from edge_agent.dsp.rhythm import (  # noqa: E402
    AF_IRREGULARITY,
    AF_IRREGULARITY_SHORT,
    AF_SCORE_COEF,
    AF_SCORE_MIN_IRREGULARITY,
    AF_SCORE_THRESHOLD,
    AF_SCORE_THRESHOLD_SHORT,
    AF_SHORT_MAX_RR,
    AFL_CONCENTRATION,
    RHYTHM_VERSION,
    assess_rhythm,
)
from edge_agent.dsp.rpeaks import detect_rpeaks  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("ECG_SHARED_DATA", ROOT.parent / "shared" / "data"))
OUT = ROOT / "bench" / "results" / "rhythm.json"


def construct_av_record(
    x: NDArray[np.float64],
    fs: float,
    leads: Sequence[str],
    *,
    atrial_bpm: float = 80.0,
    ventricular_bpm: float = 38.0,
    conduction: str = "dissociated",
    duration_s: float = 10.0,
    seed: int = 0,
    atrial_onsets_s: NDArray[np.float64] | None = None,
) -> NDArray[np.float64]:
    """A record built from the real P waves and real QRST complexes of a normal record.

    No record with third-degree AV block is in the shared data (MIT-BIH annotations,
    PTB-XL subset ``3AVB``, CinC 2021 samples SNOMED 27885002, CPSC 2018 checked), so the
    AVB3 evidence is *synthetic*: ``x`` is analysed with ``edge_agent.analyze``; every
    normal beat with all fiducials gives its P wave (``p_on`` - 20 ms .. ``p_off`` +
    20 ms) and its QRST complex (``qrs_on`` - 20 ms .. ``t_off`` + 20 ms), each with the
    straight line through its end points removed. They are laid down again, cycling
    through the real beats, on a zero baseline with 10 uV Gaussian noise (fixed seed):

    - ``"dissociated"``: P waves at ``atrial_bpm`` and QRST at ``ventricular_bpm``,
      independent random phases, +/-10 ms jitter (complete AV block);
    - ``"1:1"``: every P wave followed by a QRST at the record's own PR (sinus rhythm);
    - ``"2:1"``: every second P wave conducted at that PR (second-degree 2:1 block).

    ``atrial_onsets_s`` replaces the regular atrial rate (e.g. sinus arrhythmia, 1:1).
    """
    from edge_agent.analysis import analyze

    doc = analyze(x, fs, leads).to_dict()
    keys = ("p_on", "p_off", "qrs_on", "t_off")
    m = int(round(0.02 * fs))
    beats = [
        b
        for b in doc["beats"]
        if b["label"] == "N"
        and all(b[k] is not None for k in keys)
        and b["p_on"] - m >= 0
        and b["t_off"] + m < x.shape[1]
    ]
    if len(beats) < 2:
        raise ValueError("the source record has fewer than 2 fully delineated beats")

    def _part(a: int, b: int) -> NDArray[np.float64]:
        seg = x[:, a:b].copy()
        ramp = np.linspace(0.0, 1.0, seg.shape[1])
        seg -= seg[:, :1] + (seg[:, -1:] - seg[:, :1]) * ramp
        return seg

    p_parts = [_part(b["p_on"] - m, b["p_off"] + m) for b in beats]
    qrst_parts = [_part(b["qrs_on"] - m, b["t_off"] + m) for b in beats]
    pr = float(np.median([b["qrs_on"] - b["p_on"] for b in beats])) / fs
    n = int(round(duration_s * fs))
    rng = np.random.default_rng(seed)
    out = rng.normal(0.0, 0.01, (x.shape[0], n))
    if atrial_onsets_s is not None:
        p_on = np.asarray(atrial_onsets_s, dtype=np.float64)
    else:
        pp = 60.0 / atrial_bpm
        p_on = rng.uniform(0.0, pp) + pp * np.arange(int(duration_s / pp) + 2)
        p_on += rng.uniform(-0.01, 0.01, p_on.size)
    if conduction == "dissociated":
        rr = 60.0 / ventricular_bpm
        qrs_on = rng.uniform(0.2, 0.2 + rr) + rr * np.arange(int(duration_s / rr) + 2)
        qrs_on += rng.uniform(-0.01, 0.01, qrs_on.size)
    elif conduction in ("1:1", "2:1"):
        qrs_on = p_on[:: 1 if conduction == "1:1" else 2] + pr
    else:
        raise ValueError(f"conduction must be dissociated, 1:1 or 2:1, got {conduction}")

    def _lay(onsets: NDArray[np.float64], parts: list[NDArray[np.float64]]) -> None:
        for i, t in enumerate(onsets):
            part = parts[i % len(parts)]
            a = int(round(t * fs)) - m
            lo, hi = max(a, 0), min(a + part.shape[1], n)
            if hi > lo:
                out[:, lo:hi] += part[:, lo - a : hi - a]

    _lay(p_on, p_parts)
    _lay(qrs_on, qrst_parts)
    return out


def _source_digest() -> dict[str, str]:
    """The R-peak and beat modules change under this bench: record which ones ran."""
    out = {}
    for name in ("rpeaks.py", "beats.py", "rhythm.py", "filters.py"):
        path = ROOT / "edge_agent" / "dsp" / name
        out[name] = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    return out


def _pipeline(x: NDArray[np.float64], fs: float) -> tuple[NDArray[np.float64], Beats]:
    y = preprocess(x, fs)
    return y, classify_beats(y, detect_rpeaks(x, fs), fs)


def _auc(pos: Sequence[float], neg: Sequence[float]) -> float:
    p = np.array([v for v in pos if np.isfinite(v)])[:, None]
    q = np.array([v for v in neg if np.isfinite(v)])[None, :]
    if p.size == 0 or q.size == 0:
        return float("nan")
    return float(np.mean(p > q) + 0.5 * np.mean(p == q))


def _rates(flags: dict[str, list[bool]]) -> dict[str, float]:
    out = {"sensitivity_A": float(np.mean(flags["A"])) if flags.get("A") else float("nan")}
    for cls in ("N", "O", "~"):
        v = flags.get(cls, [])
        out[f"specificity_vs_{cls}"] = 1.0 - float(np.mean(v)) if v else float("nan")
    return out


def _score(f: RhythmFeatures, with_signal: bool) -> float:
    if with_signal:
        return float(f.af_score) if f.af_score is not None else float("nan")
    return float(f.rr_irregularity) if f.rr_irregularity is not None else float("nan")


def bench_cinc(limit: int | None) -> dict[str, Any]:
    import sleepecg
    import wfdb

    folder = DATA / "cinc2017_af_subset"
    rows = list(csv.reader((folder / "REFERENCE.csv").read_text().splitlines()))[1:]
    if limit is not None:
        rows = rows[:: max(1, len(rows) // limit)]
    keys = (
        "rr_and_p_wave",
        "rr_only",
        "rr_and_p_wave_first10s",
        "rr_only_first10s",
        "sleepecg_rpeaks_rr_only",
    )
    flags: dict[str, dict[str, dict[str, list[bool]]]] = {
        k: {"even": {}, "odd": {}} for k in keys
    }
    scores: dict[str, dict[str, list[float]]] = {k: {} for k in keys}
    other_flags: dict[str, dict[str, int]] = {}
    for rec, cls in rows:
        r = wfdb.rdrecord(str(folder / rec))
        x = np.ascontiguousarray(r.p_signal.T)
        fs, n = float(r.fs), x.shape[1]
        split = "even" if int(rec[1:]) % 2 == 0 else "odd"
        y, beats = _pipeline(x, fs)
        ten = min(n, int(10 * fs))
        y10, beats10 = _pipeline(x[:, :ten], fs)
        sl = np.asarray(sleepecg.detect_heartbeats(x[0], fs), dtype=np.int64)
        sl = np.unique(sl[(sl >= 0) & (sl < n)])
        results = {
            "rr_and_p_wave": (
                assess_rhythm(beats.rpeaks, fs, n, beats.labels, signal=y),
                True,
            ),
            "rr_only": (assess_rhythm(beats.rpeaks, fs, n, beats.labels), False),
            "rr_and_p_wave_first10s": (
                assess_rhythm(beats10.rpeaks, fs, ten, beats10.labels, signal=y10),
                True,
            ),
            "rr_only_first10s": (
                assess_rhythm(beats10.rpeaks, fs, ten, beats10.labels),
                False,
            ),
            "sleepecg_rpeaks_rr_only": (assess_rhythm(sl, fs, n), False),
        }
        full = results["rr_and_p_wave"][0]
        other_flags.setdefault(cls, {"records": 0, "AVB3": 0, "AFL": 0})
        other_flags[cls]["records"] += 1
        other_flags[cls]["AVB3"] += int(full.avb3_suspected)
        other_flags[cls]["AFL"] += int(full.flutter_suspected)
        for key, (f, with_signal) in results.items():
            flags[key][split].setdefault(cls, []).append(f.af_suspected)
            if split == "odd":
                scores[key].setdefault(cls, []).append(_score(f, with_signal))
    out: dict[str, Any] = {}
    for key in keys:
        odd = scores[key]
        out[key] = {
            "even_module_rule": _rates(flags[key]["even"]),
            "odd_module_rule": _rates(flags[key]["odd"]),
            "auc_A_vs_N_odd": _auc(odd.get("A", []), odd.get("N", [])),
            "auc_A_vs_O_odd": _auc(odd.get("A", []), odd.get("O", [])),
            "counts_odd": {c: len(v) for c, v in flags[key]["odd"].items()},
        }
    out["avb3_and_afl_flags_whole_records"] = other_flags
    return out


def _af_mask(path: Path, n: int) -> NDArray[np.bool_]:
    import wfdb

    ann = wfdb.rdann(str(path), "atr")
    mask = np.zeros(n, dtype=bool)
    state, start = False, 0
    for s, note in zip(ann.sample, ann.aux_note, strict=True):
        if note.startswith("("):
            if state:
                mask[start:s] = True
            state, start = note.startswith("(AF"), int(s)
    if state:
        mask[start:] = True
    return mask


def bench_cpsc2021() -> dict[str, Any]:
    import wfdb

    folder = DATA / "cpsc2021_samples"
    truth: list[bool] = []
    pred: dict[str, list[bool]] = {"rr_and_p_wave": [], "rr_only": []}
    for hea in sorted(folder.glob("*.hea")):
        rec = wfdb.rdrecord(str(hea.with_suffix("")))
        x = np.ascontiguousarray(rec.p_signal.T)
        fs = float(rec.fs)
        af = _af_mask(hea.with_suffix(""), x.shape[1])
        w = int(10 * fs)
        y, beats = _pipeline(x, fs)
        peaks = beats.rpeaks
        labels = np.array([str(lab) for lab in beats.labels])
        for a in range(0, x.shape[1] - w + 1, w):
            sel = (peaks >= a) & (peaks < a + w)
            truth.append(bool(af[a : a + w].mean() > 0.5))
            lab = tuple(BeatClass(v) for v in labels[sel])
            r = peaks[sel] - a
            f1 = assess_rhythm(r, fs, w, lab, signal=y[:, a : a + w])
            f0 = assess_rhythm(r, fs, w, lab)
            pred["rr_and_p_wave"].append(f1.af_suspected)
            pred["rr_only"].append(f0.af_suspected)
    t = np.array(truth)
    out: dict[str, Any] = {"windows": int(t.size), "af_windows": int(t.sum())}
    for key, v in pred.items():
        p = np.array(v)
        out[key] = {
            "sensitivity": float(p[t].mean()) if t.any() else float("nan"),
            "specificity": float((~p[~t]).mean()) if (~t).any() else float("nan"),
        }
    return out


def _findings(x: NDArray[np.float64], fs: float, leads: Sequence[str]) -> set[str]:
    from edge_agent.analysis import analyze

    a = analyze(x, fs, leads)
    return {f.code for f in a.triage.findings if f.source.startswith("rules:")}


def bench_ptbxl() -> dict[str, Any]:
    """PTB-XL 12-lead 10 s through ``analyze``: AF / AFL / AVB3 flags per rhythm group."""
    import wfdb

    folder = DATA / "ptbxl_subset"
    rows = list(csv.DictReader((folder / "ptbxl_database.csv").read_text().splitlines()))
    groups: dict[str, list[set[str]]] = {}
    ids: dict[str, list[int]] = {}
    for row in rows:
        path = folder / row["filename_hr"]
        if not path.with_suffix(".hea").exists():
            continue
        codes = ast.literal_eval(row["scp_codes"])
        if "AFLT" in codes:
            key = "AFLT"
        elif "AFIB" in codes:
            key = "AFIB"
        elif codes.get("NORM", 0) >= 80 and "SARRH" in codes:
            key = "NORM_sinus_arrhythmia"
        elif codes.get("NORM", 0) >= 80:
            key = "NORM"
        else:
            key = "other"
        rec = wfdb.rdrecord(str(path))
        x = np.ascontiguousarray(rec.p_signal.T)
        groups.setdefault(key, []).append(_findings(x, float(rec.fs), rec.sig_name))
        ids.setdefault(key, []).append(int(row["ecg_id"]))
    out: dict[str, Any] = {}
    for key, found in groups.items():
        out[key] = {
            "records": len(found),
            **{
                f"{code}_flagged": int(sum(code in f for f in found))
                for code in ("AF", "AFL", "AVB3")
            },
        }
        if key in ("AFLT", "AFIB"):
            out[key]["ecg_ids"] = ids[key]
            out[key]["AFL_ecg_ids"] = [
                i for i, f in zip(ids[key], found, strict=True) if "AFL" in f
            ]
            out[key]["AF_ecg_ids"] = [
                i for i, f in zip(ids[key], found, strict=True) if "AF" in f
            ]
    normal = groups.get("NORM", []) + groups.get("NORM_sinus_arrhythmia", [])
    aflt = groups.get("AFLT", [])
    out["AFL_summary"] = {
        "sensitivity_AFLT": float(np.mean(["AFL" in f for f in aflt])) if aflt else None,
        "specificity_vs_NORM": (
            1.0 - float(np.mean(["AFL" in f for f in normal])) if normal else None
        ),
        "note": (
            "AFLT = any AFLT statement (7: ecg_id 17 also AFIB; 336 'probably flutter', "
            "AFLT likelihood 0; 347 reported as sinus rhythm, AFLT likelihood 0). "
            "Threshold set above all even-id NORM records; AFLT not split (too few)."
        ),
    }
    return out


def _rhythm_mask(path: Path, n: int, prefixes: tuple[str, ...]) -> NDArray[np.bool_]:
    import wfdb

    ann = wfdb.rdann(str(path), "atr")
    mask = np.zeros(n, dtype=bool)
    state, start = False, 0
    for s, note in zip(ann.sample, ann.aux_note, strict=True):
        if note.startswith("("):
            if state:
                mask[start:s] = True
            state, start = note.rstrip("\x00").startswith(prefixes), int(s)
    if state:
        mask[start:] = True
    return mask


def bench_mitdb(minutes: float = 5.0) -> dict[str, Any]:
    """10 s windows through ``analyze``: AVB3 must not fire; AF/AFL vs the reference."""
    import wfdb

    folder = DATA / "mitdb"
    records = sorted({p.stem for p in folder.glob("*.hea")})
    stats = {"windows": 0, "AVB3": 0, "AVB3_windows": []}
    af = {"af_windows": 0, "af_flagged": 0, "other_windows": 0, "other_flagged": 0}
    bii = {"windows": 0, "AVB3": 0}
    for name in records:
        rec = wfdb.rdrecord(str(folder / name))
        x = np.ascontiguousarray(rec.p_signal.T)
        fs = float(rec.fs)
        w = int(10 * fs)
        stop = x.shape[1] if name == "231" else min(x.shape[1], int(minutes * 60 * fs))
        afm = _rhythm_mask(folder / name, x.shape[1], ("(AFIB", "(AFL"))
        biim = _rhythm_mask(folder / name, x.shape[1], ("(BII",))
        for a in range(0, stop - w + 1, w):
            try:
                codes = _findings(x[:, a : a + w], fs, rec.sig_name)
            except Exception:  # noqa: BLE001 - a bench: count, do not stop
                continue
            stats["windows"] += 1
            if "AVB3" in codes:
                stats["AVB3"] += 1
                stats["AVB3_windows"].append(f"{name}@{a / fs:.0f}s")
            is_af = bool(afm[a : a + w].mean() > 0.5)
            flagged = "AF" in codes or "AFL" in codes
            af["af_windows" if is_af else "other_windows"] += 1
            af["af_flagged" if is_af else "other_flagged"] += int(flagged)
            if biim[a : a + w].mean() > 0.5:
                bii["windows"] += 1
                bii["AVB3"] += int("AVB3" in codes)
    return {
        "scope": f"first {minutes:g} min of every record, all of 231",
        **stats,
        "af_or_afl": af,
        "second_degree_block_windows": bii,
    }


def bench_avb3_constructed(n_sources: int = 20) -> dict[str, Any]:
    """Synthetic: real P waves and QRST complexes of normal records at independent rates."""
    import wfdb

    from edge_agent.io import read_record

    folder = DATA / "ptbxl_subset"
    rows = list(csv.DictReader((folder / "ptbxl_database.csv").read_text().splitlines()))
    sources: list[tuple[str, NDArray[np.float64], float, tuple[str, ...]]] = []
    rec0 = read_record(ROOT / "sample_records" / "00001_hr.hea")
    sources.append(("sample_records/00001_hr", rec0.signal, rec0.fs, tuple(rec0.leads)))
    for row in rows:
        if len(sources) > n_sources:
            break
        codes = ast.literal_eval(row["scp_codes"])
        path = folder / row["filename_hr"]
        if codes.get("NORM", 0) < 100 or not path.with_suffix(".hea").exists():
            continue
        if row["ecg_id"] == "1":
            continue
        rec = wfdb.rdrecord(str(path))
        x = np.ascontiguousarray(rec.p_signal.T)
        sources.append((f"ptbxl {row['ecg_id']}", x, float(rec.fs), tuple(rec.sig_name)))
    # Rates and seeds differ from those the AVB3 thresholds were looked at with
    # (75/45, 90/40, 100/55, 68/38, 110/45 bpm, seeds 0-4). Atrial/ventricular ratios
    # near 2 are reported apart: in 10 s they drift too little to tell from 2:1 block.
    grid = [(80.0, 48.0), (95.0, 42.0), (105.0, 58.0), (64.0, 36.0), (120.0, 50.0)]
    near_two = [(75.0, 38.0), (68.0, 32.0), (90.0, 44.0)]
    hits = {
        "dissociated": [0, 0],
        "dissociated_ratio_near_2": [0, 0],
        "1:1": [0, 0],
        "2:1": [0, 0],
    }
    missed: list[str] = []
    cases = [("dissociated", ab, vb) for ab, vb in grid]
    cases += [("dissociated_ratio_near_2", ab, vb) for ab, vb in near_two]
    cases += [("1:1", vb, vb) for _, vb in grid] + [("2:1", 2 * vb, vb) for _, vb in grid]
    for name, x, fs, leads in sources:
        for i, (kind, ab, vb) in enumerate(cases):
            cond = kind if kind in ("1:1", "2:1") else "dissociated"
            try:
                y = construct_av_record(
                    x, fs, leads, atrial_bpm=ab, ventricular_bpm=vb, conduction=cond,
                    seed=100 + i,
                )  # fmt: skip
            except ValueError:
                continue
            found = "AVB3" in _findings(y, fs, leads)
            hits[kind][0] += int(found)
            hits[kind][1] += 1
            if kind == "dissociated" and not found:
                missed.append(f"{name} atrial {ab:g} ventricular {vb:g}")
    return {
        "evidence": "SYNTHETIC: real normal beats re-laid (see construct_av_record)",
        "sources": [s[0] for s in sources],
        "rates_atrial_ventricular_bpm": grid,
        "rates_near_2_atrial_ventricular_bpm": near_two,
        "sensitivity_dissociated": hits["dissociated"][0] / max(hits["dissociated"][1], 1),
        "sensitivity_dissociated_ratio_near_2": (
            hits["dissociated_ratio_near_2"][0]
            / max(hits["dissociated_ratio_near_2"][1], 1)
        ),
        "false_positive_rate_1to1": hits["1:1"][0] / max(hits["1:1"][1], 1),
        "false_positive_rate_2to1_block": hits["2:1"][0] / max(hits["2:1"][1], 1),
        "counts": {k: {"flagged": v[0], "records": v[1]} for k, v in hits.items()},
        "missed": missed,
    }


def bench_speed() -> dict[str, Any]:
    from edge_agent.io import read_record

    rec = read_record(ROOT / "sample_records" / "00001_hr.hea")
    x, fs = rec.signal, rec.fs
    y, beats = _pipeline(x, fs)
    usable = np.ones(x.shape[0], dtype=bool)
    out: dict[str, Any] = {"record": "sample_records/00001_hr (12 leads, 500 Hz, 10 s)"}
    for key, kw in (
        ("assess_rhythm_rr_only_ms", {}),
        (
            "assess_rhythm_with_signal_ms",
            {"signal": y, "usable": usable, "leads": rec.leads},
        ),
    ):
        times = []
        c0 = time.process_time()
        for _ in range(500):
            t0 = time.perf_counter()
            assess_rhythm(beats.rpeaks, fs, x.shape[1], beats.labels, **kw)  # type: ignore[arg-type]
            times.append(time.perf_counter() - t0)
        out[key] = float(np.median(times) * 1e3)
        out[key.replace("_ms", "_cpu_mean_ms")] = (time.process_time() - c0) / 500 * 1e3
    out["load_average_1min"] = os.getloadavg()[0]
    return out


def main() -> None:
    ci = os.environ.get("CI") == "true"
    load_start = os.getloadavg()[0]
    results: dict[str, Any] = {
        "note": (
            "AF constants fitted and thresholds chosen on CinC 2017 EVEN record numbers "
            "(specificity >= 0.95 vs N); reported on ODD record numbers, never tuned on "
            "them. rr_only = the rule before the atrial analysis (no signal)."
        ),
        "rhythm_version": RHYTHM_VERSION,
        "module_constants": {
            "af_irregularity": AF_IRREGULARITY,
            "af_irregularity_short": AF_IRREGULARITY_SHORT,
            "short_below_rr": AF_SHORT_MAX_RR,
            "af_score_coef": AF_SCORE_COEF,
            "af_score_threshold": AF_SCORE_THRESHOLD,
            "af_score_threshold_short": AF_SCORE_THRESHOLD_SHORT,
            "af_score_min_irregularity": AF_SCORE_MIN_IRREGULARITY,
            "afl_concentration": AFL_CONCENTRATION,
        },
        "source_digests": _source_digest(),
        "speed": bench_speed(),
        "avb3_constructed": bench_avb3_constructed(),
        "ptbxl_12lead_10s": bench_ptbxl(),
        "mitdb_10s_windows": bench_mitdb(),
        "cinc2017": bench_cinc(300 if ci else None),
        "cpsc2021_10s_windows": bench_cpsc2021(),
    }
    results["load_average_1min"] = {"start": load_start, "end": os.getloadavg()[0]}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2) + "\n")
    print(
        f"{'variant':24s} {'split':5s} {'Se(A)':>6s} {'Sp(N)':>6s} "
        f"{'Sp(O)':>6s} {'Sp(~)':>6s}"
    )
    for key, row in results["cinc2017"].items():
        if "even_module_rule" not in row:
            continue
        for split in ("even", "odd"):
            sc = row[f"{split}_module_rule"]
            print(
                f"{key:24s} {split:5s} {sc['sensitivity_A']:6.3f} "
                f"{sc['specificity_vs_N']:6.3f} {sc['specificity_vs_O']:6.3f} "
                f"{sc['specificity_vs_~']:6.3f}"
            )
    for key in ("cpsc2021_10s_windows", "ptbxl_12lead_10s", "mitdb_10s_windows"):
        print(key, json.dumps(results[key]))
    print("avb3_constructed", json.dumps(results["avb3_constructed"]))
    print(json.dumps(results["speed"]))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
