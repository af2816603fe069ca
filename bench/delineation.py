"""Delineation accuracy on LUDB against the cardiologists' fiducials, next to neurokit2 dwt.

Run: ``.venv/bin/python -m bench.delineation`` (writes ``bench/results/delineation.json``).

Data: Lobachevsky University ECG Database (LUDB) 1.0.1, doi:10.13026/eegm-h675, the 100
odd-numbered records here (12 leads, 500 Hz, 10 s), P/QRS/T onset-peak-offset annotated on
every lead.

Reference (global, per beat): the QRS annotations of the 12 leads are grouped into beats
(peaks within 100 ms); per beat the reference QRS onset / P onset is the *earliest* onset
across the leads that annotate it, and QRS offset / P offset / T end the *latest* offset
(CSE-style global fiducials). P and T waves belong to the beat whose QRS follows (P) or
precedes (T) them. Only annotated beats are scored; a detected beat matches a reference
beat when its R lies within the reference QRS.

Chain under test: ``preprocess`` -> ``detect_rpeaks`` -> ``classify_beats`` ->
``median_beat`` -> ``delineate`` -> ``map_fiducials`` (the project's own functions).
Peer: neurokit2 ``ecg_delineate(method="dwt")`` on lead II (``nk.ecg_clean`` output, the
same project R peaks), single-lead, in the same run.

Anti-overfitting: constants of ``DelineationConfig`` were tuned only on records with
id % 4 == 1 ("tune"); results are reported on id % 4 == 3 ("test") and on all records.

Also reported: the within- vs between-record split of the error SD; a record-level
(CSE-style) error, one value per record (the CSE tolerances were set on one
representative complex per record), next to, not instead of, the per-beat primary
metric; and the global QRS duration of records without a conduction abnormality
against the triage rules' 120 ms cut (the reference itself is >= 120 ms on half of them,
which bounds how far the QRS bounds may be walked out towards it).
"""

from __future__ import annotations

import json
import math
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
LUDB = DATA / "ludb" / "data"
PTB = DATA / "ptbdb_10s"
OUT = ROOT / "bench" / "results" / "delineation.json"
LUDB_LEADS = ("i", "ii", "iii", "avr", "avl", "avf", "v1", "v2", "v3", "v4", "v5", "v6")
KEYS = ("qrs_on", "qrs_off", "p_on", "p_off", "t_off")
# CSE tolerances (2 SD, ms) and the targets (|mean|, SD in ms).
CSE_2SD = {"qrs_on": 6.5, "qrs_off": 11.6, "p_on": 10.2, "p_off": 12.7, "t_off": 30.6}
TARGET = {
    "qrs_on": (5, 8),
    "qrs_off": (5, 10),
    "p_on": (10, 13),
    "p_off": (10, 13),
    "t_off": (15, 20),
}


SECOND_NOTE = (
    "secondary reference, chosen after inspecting the per-lead annotations (post hoc, "
    "stated as such): second earliest onset / second latest offset over the annotating "
    "leads. Plots of LUDB 29, 61, 83 and 107 show the earliest/latest value set by a "
    "single lead's annotation far from the other 11 (e.g. a T end marked 60 ms later on "
    "a flat lead II T wave); the primary reference is still earliest/latest"
)


@dataclass(frozen=True, slots=True)
class Reference:
    """Global reference fiducials per annotated beat (samples; -1 where absent)."""

    qrs_peak: NDArray[np.int64]
    fid: dict[str, NDArray[np.int64]]


def _waves(rec: str, lead: str) -> list[tuple[str, int, int, int]]:
    """(kind, onset, peak, offset) triplets of one lead's annotation file."""
    import wfdb

    ann = wfdb.rdann(str(LUDB / rec), lead)
    sym, smp = ann.symbol, ann.sample
    return [
        (sym[i], int(smp[i - 1]), int(smp[i]), int(smp[i + 1]))
        for i in range(1, len(sym) - 1)
        if sym[i] in "pNt" and sym[i - 1] == "(" and sym[i + 1] == ")"
    ]


def load_reference(rec: str, how: str = "extreme") -> Reference:
    """Global per-beat reference fiducials of a LUDB record (see the module docstring).

    ``how="extreme"``: earliest onset / latest offset over the annotating leads (the
    primary reference); ``how="median"``: the median over the annotating leads (context:
    how much of the error is the scatter between the 12 leads' annotations);
    ``how="second"``: the second earliest onset / second latest offset (one lead's
    outlying annotation no longer sets the reference; secondary, added after looking at
    the per-lead annotations, see ``SECOND_NOTE``).
    """
    per_lead = [_waves(rec, lead) for lead in LUDB_LEADS]
    qrs = sorted(
        (w for waves in per_lead for w in waves if w[0] == "N"), key=lambda w: w[2]
    )
    groups: list[list[tuple[str, int, int, int]]] = []
    for w in qrs:
        if groups and w[2] - groups[-1][-1][2] <= 50:
            groups[-1].append(w)
        else:
            groups.append([w])
    peak = np.array([int(np.median([w[2] for w in g])) for g in groups], dtype=np.int64)
    on = np.array([min(w[1] for w in g) for g in groups], dtype=np.int64)
    off = np.array([max(w[3] for w in g) for g in groups], dtype=np.int64)
    values: dict[str, list[list[int]]] = {
        "qrs_on": [[w[1] for w in g] for g in groups],
        "qrs_off": [[w[3] for w in g] for g in groups],
        "p_on": [[] for _ in groups],
        "p_off": [[] for _ in groups],
        "t_off": [[] for _ in groups],
    }
    for waves in per_lead:
        for kind, w_on, w_peak, w_off in waves:
            if kind == "N":
                continue
            # P belongs to the next QRS, T to the previous one.
            j = (
                int(np.searchsorted(on, w_peak))
                if kind == "p"
                else int(np.searchsorted(off, w_peak)) - 1
            )
            if not 0 <= j < peak.size or (kind == "p" and on[j] - w_peak > 300):
                continue
            if kind == "p":
                values["p_on"][j].append(w_on)
                values["p_off"][j].append(w_off)
            else:
                values["t_off"][j].append(w_off)
    fid = {}
    for name, per_beat in values.items():
        early = name in ("qrs_on", "p_on")
        fid[name] = np.array(
            [-1 if not v else _combine(v, how, early) for v in per_beat], dtype=np.int64
        )
    return Reference(qrs_peak=peak, fid=fid)


def _combine(v: list[int], how: str, early: bool) -> int:
    """One global value from the leads' annotations of one fiducial of one beat."""
    if how == "median":
        return int(round(float(np.median(v))))
    srt = sorted(v) if early else sorted(v, reverse=True)
    return srt[1] if how == "second" and len(srt) >= 2 else srt[0]


def load_signal(rec: str) -> tuple[NDArray[np.float64], float]:
    """LUDB record as (12, samples) mV and fs."""
    import wfdb

    r = wfdb.rdrecord(str(LUDB / rec))
    return np.ascontiguousarray(r.p_signal.T, dtype=np.float64), float(r.fs)


def project_chain(x: NDArray[np.float64], fs: float, **cfg: float) -> dict[str, object]:
    """Run the project's chain; returns mapped fiducials and the intermediate objects."""
    from edge_agent.dsp.beats import classify_beats, median_beat
    from edge_agent.dsp.delineate import DelineationConfig, delineate, map_fiducials
    from edge_agent.dsp.filters import preprocess
    from edge_agent.dsp.pacing import detect_pacing_spikes_checked, spike_in_median
    from edge_agent.dsp.rpeaks import detect_rpeaks

    y = preprocess(x, fs)
    r = detect_rpeaks(y, fs)
    beats = classify_beats(y, r, fs)
    med = median_beat(y, beats, fs)
    # as in analyze: on a ventricular-paced record the QRS onset is the pacing spike
    spike = spike_in_median(detect_pacing_spikes_checked(x, fs, r), beats, med)
    conf = DelineationConfig(**cfg) if cfg else DelineationConfig()
    fid = delineate(med, conf, pacing_spike=spike)
    bf = map_fiducials(fid, med, beats, y.shape[1])
    return {"signal": y, "rpeaks": r, "beats": beats, "median": med, "fid": fid, "bf": bf}


def ours_per_beat(
    chain: dict[str, object],
) -> tuple[NDArray[np.int64], dict[str, NDArray[np.int64]]]:
    """(R positions, {fiducial: positions, -1 where absent}) from the project's chain."""
    from edge_agent.dsp.results import FIDUCIAL_NAMES, BeatFiducials

    bf = chain["bf"]
    assert isinstance(bf, BeatFiducials)
    out = {}
    for k in KEYS:
        c = FIDUCIAL_NAMES.index(k)
        out[k] = np.where(bf.present[:, c], bf.positions[:, c], -1)
    return bf.positions[:, 0], out


def neurokit_per_beat(
    x: NDArray[np.float64], fs: float, rpeaks: NDArray[np.int64]
) -> dict[str, NDArray[np.int64]]:
    """neurokit2 dwt delineation of lead II with the given R peaks (-1 where absent)."""
    import neurokit2 as nk

    names = {
        "qrs_on": "ECG_R_Onsets",
        "qrs_off": "ECG_R_Offsets",
        "p_on": "ECG_P_Onsets",
        "p_off": "ECG_P_Offsets",
        "t_off": "ECG_T_Offsets",
    }
    clean = nk.ecg_clean(x[1], sampling_rate=int(fs))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, info = nk.ecg_delineate(clean, rpeaks, sampling_rate=int(fs), method="dwt")
    out = {}
    for k, name in names.items():
        v = np.array(
            [
                (-1 if (p is None or (isinstance(p, float) and math.isnan(p))) else p)
                for p in info[name]
            ],
            dtype=np.float64,
        )
        v = (
            v[: rpeaks.size]
            if v.size >= rpeaks.size
            else np.pad(v, (0, rpeaks.size - v.size), constant_values=-1)
        )
        out[k] = v.astype(np.int64)
    return out


def match(
    ref: Reference, r_det: NDArray[np.int64], det: dict[str, NDArray[np.int64]]
) -> dict[str, tuple[list[float], int]]:
    """Per fiducial: (errors in samples for matched present pairs, n annotated)."""
    res: dict[str, tuple[list[float], int]] = {}
    # detected beat whose R lies inside the reference QRS (closest to the reference peak)
    j = np.searchsorted(r_det, ref.qrs_peak)
    cand = np.stack([np.clip(j - 1, 0, r_det.size - 1), np.clip(j, 0, r_det.size - 1)])
    best = cand[np.argmin(np.abs(r_det[cand] - ref.qrs_peak), axis=0), np.arange(j.size)]
    inside = (r_det[best] >= ref.fid["qrs_on"]) & (r_det[best] <= ref.fid["qrs_off"])
    for k in KEYS:
        annotated = ref.fid[k] >= 0
        d = det[k][best]
        ok = annotated & inside & (d >= 0)
        res[k] = ((d[ok] - ref.fid[k][ok]).astype(float).tolist(), int(annotated.sum()))
    return res


def summarize(errs: dict[str, tuple[list[float], int]], fs: float) -> dict[str, object]:
    """mean/SD (ms), delineated %, 2SD vs CSE and the targets."""
    out: dict[str, object] = {}
    for k in KEYS:
        e = np.asarray(errs[k][0]) * 1000.0 / fs
        n_ann = errs[k][1]
        mean = float(e.mean()) if e.size else float("nan")
        sd = float(e.std(ddof=1)) if e.size > 1 else float("nan")
        out[k] = {
            "mean_ms": round(mean, 2),
            "sd_ms": round(sd, 2),
            "two_sd_ms": round(2 * sd, 2),
            "cse_2sd_ms": CSE_2SD[k],
            "within_cse": bool(2 * sd <= CSE_2SD[k]),
            "target_abs_mean_sd_ms": TARGET[k],
            "meets_target": bool(
                abs(mean) <= TARGET[k][0]
                and sd <= TARGET[k][1]
                and e.size >= 0.95 * max(n_ann, 1)
            ),
            "median_abs_ms": round(float(np.median(np.abs(e))), 2) if e.size else None,
            "p95_abs_ms": round(float(np.percentile(np.abs(e), 95)), 2) if e.size else None,
            "n_matched": int(e.size),
            "n_annotated": n_ann,
            "delineated_pct": round(100.0 * e.size / max(n_ann, 1), 2),
        }
    return out


def merge(
    acc: dict[str, tuple[list[float], int]], new: dict[str, tuple[list[float], int]]
) -> None:
    """Accumulate per-record errors."""
    for k, (e, n) in new.items():
        old = acc.get(k, ([], 0))
        acc[k] = (old[0] + e, old[1] + n)


def records() -> list[str]:
    """LUDB record ids present, sorted numerically."""
    return sorted((p.stem for p in LUDB.glob("*.hea")), key=int)


def run_ludb(
    chain: Callable[..., dict[str, object]] = project_chain,
    with_nk: bool = True,
    subset: Callable[[int], bool] | None = None,
    **cfg: float,
) -> dict[str, dict[str, dict[str, tuple[list[float], int]]]]:
    """Errors per split ('tune', 'test') and method ('ours', 'neurokit2_dwt_lead_ii')."""
    acc: dict[str, dict[str, dict[str, tuple[list[float], int]]]] = {}
    for rec in records():
        rid = int(rec)
        if subset is not None and not subset(rid):
            continue
        split = "tune" if rid % 4 == 1 else "test"
        x, fs = load_signal(rec)
        ref = load_reference(rec)
        c = chain(x, fs, **cfg)
        r_det, ours = ours_per_beat(c)
        merge(acc.setdefault(split, {}).setdefault("ours", {}), match(ref, r_det, ours))
        if with_nk:
            nkd = neurokit_per_beat(x, fs, np.asarray(c["rpeaks"]))
            merge(
                acc[split].setdefault("neurokit2_dwt_lead_ii", {}), match(ref, r_det, nkd)
            )
            ref_med = load_reference(rec, how="median")
            merge(
                acc[split].setdefault("ours_vs_median_of_leads", {}),
                match(ref_med, r_det, ours),
            )
            merge(
                acc[split].setdefault("neurokit2_vs_median_of_leads", {}),
                match(ref_med, r_det, nkd),
            )
            ref_2nd = load_reference(rec, how="second")
            merge(
                acc[split].setdefault("ours_vs_second_extreme", {}),
                match(ref_2nd, r_det, ours),
            )
            merge(
                acc[split].setdefault("neurokit2_vs_second_extreme", {}),
                match(ref_2nd, r_det, nkd),
            )
            for label, rf in (("extreme", ref), ("median_of_leads", ref_med)):
                per = PER_RECORD.setdefault(label, {})
                for k, (e, _) in match(rf, r_det, ours).items():
                    per.setdefault(k, {})[rec] = e
    return acc


# per reference, per fiducial, per record id: that record's errors (samples), "ours" only
PER_RECORD: dict[str, dict[str, dict[str, list[float]]]] = {}


def record_level(fs: float = 500.0) -> dict[str, object]:
    """CSE-style record-level error (additional to the per-beat primary metric).

    The CSE tolerances were defined on one representative complex per record. Per record:
    the median over its scored beats of (ours - reference), i.e. our median-beat fiducial
    minus the median of the reference fiducial relative to the aligned R peaks (ours is
    one value per record relative to R); then mean and SD over the records of a split.
    """
    out: dict[str, object] = {
        "what": (
            "per record: median over scored beats of (ours - reference) = our median-beat "
            "fiducial minus the median reference fiducial, both relative to the aligned R; "
            "mean / SD (ms) over records. Additional to the per-beat metric, not a "
            "replacement: the CSE tolerances were set on one representative complex per "
            "record"
        )
    }
    for label, per in PER_RECORD.items():
        splits: dict[str, dict[str, dict[str, float]]] = {}
        for split, keep in (
            ("tune", lambda rid: rid % 4 == 1),
            ("test", lambda rid: rid % 4 == 3),
            ("all", lambda rid: True),
        ):
            rows = {}
            for k in KEYS:
                meds = np.array(
                    [
                        float(np.median(e)) * 1000.0 / fs
                        for rec, e in per.get(k, {}).items()
                        if keep(int(rec)) and len(e)
                    ]
                )
                mean = float(meds.mean()) if meds.size else math.nan
                sd = float(meds.std(ddof=1)) if meds.size > 1 else math.nan
                rows[k] = {
                    "records": int(meds.size),
                    "mean_ms": round(mean, 2),
                    "sd_ms": round(sd, 2),
                    "median_abs_ms": round(float(np.median(np.abs(meds))), 2)
                    if meds.size
                    else math.nan,
                    "meets_target": bool(abs(mean) <= TARGET[k][0] and sd <= TARGET[k][1]),
                }
            splits[split] = rows
        out[f"vs_{label}"] = splits
    return out


def qrs_width_sanity() -> dict[str, object]:
    """Global QRS duration of records without a conduction abnormality against the 120 ms
    wide-QRS cut of the triage rules: ours vs the LUDB earliest/latest reference, and
    ours on the PTB healthy controls. Bounds how far the QRS bounds may be walked out."""
    import csv

    import wfdb

    with (LUDB.parent / "ludb.csv").open() as f:
        rows = {r["ID"]: r for r in csv.DictReader(f)}
    with (PTB / "labels.csv").open() as f:
        ptb_rows = list(csv.DictReader(f))
    ref_ms, ours_ms = [], []
    for rec in records():
        row = rows[rec]
        if row["Conduction abnormalities"].strip() or row["Cardiac pacing"].strip():
            continue
        ref = load_reference(rec)
        ok = (ref.fid["qrs_on"] >= 0) & (ref.fid["qrs_off"] >= 0)
        ref_ms.append(float(np.median(ref.fid["qrs_off"][ok] - ref.fid["qrs_on"][ok])) * 2)
        fid = project_chain(*load_signal(rec))["fid"]
        ours_ms.append((fid.qrs_off - fid.qrs_on) * 2.0)  # type: ignore[attr-defined]
    ptb = []
    for row in ptb_rows:
        if row["reason_for_admission"] != "Healthy control":
            continue
        rec = wfdb.rdrecord(str(PTB / row["record"]))
        fid = project_chain(np.ascontiguousarray(rec.p_signal.T), float(rec.fs))["fid"]
        ptb.append((fid.qrs_off - fid.qrs_on) * 1000.0 / rec.fs)  # type: ignore[attr-defined]

    def stats(v: list[float]) -> dict[str, float]:
        a = np.asarray(v)
        return {"n": int(a.size), "median_ms": round(float(np.median(a)), 1),
                "n_at_least_120_ms": int((a >= 120).sum())}  # fmt: skip

    return {
        "what": (
            "global QRS duration (ms); LUDB records without a conduction abnormality or "
            "pacing (ludb.csv), reference = per-record median over beats of latest offset "
            "- earliest onset; PTB healthy controls, first 10 s"
        ),
        "ludb_normal_conduction_reference": stats(ref_ms),
        "ludb_normal_conduction_ours": stats(ours_ms),
        "ptb_healthy_controls_ours": stats(ptb),
    }


def within_between(fs: float = 500.0) -> dict[str, dict[str, dict[str, float]]]:
    """Split our error SD into within-record and between-record parts (ms).

    The median-beat fiducials are mapped to every beat at a fixed offset from its aligned
    R, so the within-record part is the beat-to-beat scatter of the *reference* relative
    to those R peaks: no change to ``delineate`` can reduce it. Total SD^2 ~= within^2 +
    between^2 (population SDs).
    """
    out: dict[str, dict[str, dict[str, float]]] = {}
    for label, per in PER_RECORD.items():
        rows = {}
        for k in KEYS:
            recs = [
                np.asarray(e) * 1000.0 / fs for e in per.get(k, {}).values() if len(e) > 1
            ]
            within = np.concatenate([e - e.mean() for e in recs])
            means = np.array([e.mean() for e in recs])
            rows[k] = {
                "within_record_sd_ms": round(float(within.std()), 2),
                "between_record_sd_ms": round(float(means.std()), 2),
                "records": float(len(recs)),
            }
        out[label] = rows
    return out


def per_beat_check() -> dict[str, object]:
    """Would re-delineating every beat track the reference's beat-to-beat scatter?

    Each aligned beat (the median-beat window around its R) is delineated on its own with
    the same ``delineate``; per record the deviations from the record mean are compared
    with those of the primary (earliest/latest) reference. A low correlation and an SD of
    (reference - per-beat) above the reference's own within-record SD mean the scatter is
    annotation noise that per-beat delineation cannot follow (it only adds its own).
    """
    from edge_agent.dsp.delineate import delineate
    from edge_agent.dsp.results import MedianBeat

    xs: dict[str, list[float]] = {k: [] for k in KEYS}
    ys: dict[str, list[float]] = {k: [] for k in KEYS}
    for rec in records():
        x, fs = load_signal(rec)
        c = project_chain(x, fs)
        med, y = c["median"], c["signal"]
        assert isinstance(med, MedianBeat) and isinstance(y, np.ndarray)
        r_det = np.asarray(c["rpeaks"])
        lags = med.lags if med.lags is not None else np.zeros(r_det.size, dtype=np.int64)
        ref = load_reference(rec)
        ri, width = med.r_index, med.waveform.shape[1]
        pairs: dict[str, list[tuple[int, int]]] = {k: [] for k in KEYS}
        for b, peak in enumerate(ref.qrs_peak):
            j = int(np.argmin(np.abs(r_det - peak)))
            start = int(r_det[j] + lags[j]) - ri
            if start < 0 or start + width > y.shape[1]:
                continue
            one = MedianBeat(waveform=y[:, start : start + width], r_index=ri, n_beats=1,
                             fs=fs)  # fmt: skip
            f1 = delineate(one)
            for k in KEYS:
                v = getattr(f1, k)
                if v is not None and ref.fid[k][b] >= 0:
                    pairs[k].append((v - ri, int(ref.fid[k][b]) - start - ri))
        for k in KEYS:
            a = np.asarray(pairs[k], dtype=np.float64)
            if a.shape[0] > 2:
                xs[k].extend(a[:, 0] - a[:, 0].mean())
                ys[k].extend(a[:, 1] - a[:, 1].mean())
    out: dict[str, object] = {
        "what": (
            "per-beat delineation (same delineate on each aligned beat) vs the primary "
            "reference, deviations from the record means, all 100 records, ms"
        )
    }
    for k in KEYS:
        xv, yv = np.asarray(xs[k]) * 1000.0 / 500.0, np.asarray(ys[k]) * 1000.0 / 500.0
        out[k] = {
            "beats": int(xv.size),
            "correlation": round(float(np.corrcoef(xv, yv)[0, 1]), 3),
            "reference_within_record_sd_ms": round(float(yv.std()), 2),
            "per_beat_within_record_sd_ms": round(float(xv.std()), 2),
            "sd_of_reference_minus_per_beat_ms": round(float((yv - xv).std()), 2),
        }
    return out


def fs_consistency() -> dict[str, object]:
    """Same records resampled (``scipy.signal.resample_poly``) to 100, 250 and 1000 Hz:
    fiducials relative to R minus those at the native 500 Hz, mean/SD in ms."""
    from scipy.signal import resample_poly

    from edge_agent.dsp.results import MedianBeat

    ratios = {100.0: (1, 5), 250.0: (1, 2), 1000.0: (2, 1)}
    diffs: dict[float, dict[str, list[float]]] = {f: {k: [] for k in KEYS} for f in ratios}
    for rec in records()[::2]:
        x, fs = load_signal(rec)
        rel: dict[float, dict[str, float | None]] = {}
        for f2, (up, down) in [(fs, (1, 1)), *ratios.items()]:
            y = resample_poly(x, up, down, axis=-1) if up != down else x
            c = project_chain(y, f2)
            fid, med = c["fid"], c["median"]
            assert isinstance(med, MedianBeat)
            r0 = med.r_index
            rel[f2] = {
                k: None if (v := getattr(fid, k)) is None else (v - r0) * 1000.0 / f2
                for k in KEYS
            }
        for f2 in ratios:
            for k in KEYS:
                a, b = rel[f2][k], rel[fs][k]
                if a is not None and b is not None:
                    diffs[f2][k].append(a - b)
    return {
        "what": "LUDB even-indexed records (50) resampled; (fiducial - R) minus 500 Hz, ms",
        **{
            f"{int(f2)}_hz": {
                k: {
                    "n": len(v),
                    "mean_ms": round(float(np.mean(v)), 2),
                    "sd_ms": round(float(np.std(v)), 2),
                }  # fmt: skip
                for k, v in per.items()
            }
            for f2, per in diffs.items()
        },
    }


def p_presence(
    with_chain: Callable[..., dict[str, object]] = project_chain,
) -> dict[str, object]:
    """P found on the median beat: AF/flutter records (must be absent) vs sinus ones."""
    import csv

    rows = {r["ID"]: r for r in csv.DictReader((LUDB.parent / "ludb.csv").open())}
    af, sinus = [], []
    for rec in records():
        rhythm = rows[rec]["Rhythms"].lower()
        fid = with_chain(*load_signal(rec))["fid"]
        found = getattr(fid, "p_on", None) is not None
        if "fibrillation" in rhythm or "flutter" in rhythm:
            af.append((rec, found))
        elif "sinus" in rhythm and rows[rec]["Cardiac pacing"].strip() == "":
            sinus.append((rec, found))
    return {
        "af_or_flutter_records": len(af),
        "af_or_flutter_with_p_found": [r for r, f in af if f],
        "sinus_unpaced_records": len(sinus),
        "sinus_unpaced_without_p": [r for r, f in sinus if not f],
    }


def st_sanity() -> dict[str, object]:
    """Mean |ST J+60| over the 12 leads: PTB healthy controls vs acute MI (first 10 s)."""
    import csv

    import wfdb

    from edge_agent.dsp.measure import measure_leads

    groups: dict[str, list[float]] = {"healthy_control": [], "acute_mi": []}
    per_record: dict[str, float] = {}
    for row in csv.DictReader((PTB / "labels.csv").open()):
        acute = row["acute_infarction_localization"] not in ("no", "n/a", "")
        group = (
            "acute_mi"
            if acute
            else (
                "healthy_control"
                if row["reason_for_admission"] == "Healthy control"
                else None
            )
        )
        if group is None:
            continue
        rec = wfdb.rdrecord(str(PTB / row["record"]))
        x = np.ascontiguousarray(rec.p_signal.T, dtype=np.float64)
        c = project_chain(x, float(rec.fs))
        lm = measure_leads(c["median"], c["fid"], rec.sig_name)  # type: ignore[arg-type]
        st = [abs(m.st_j60_mv) for m in lm if m.st_j60_mv is not None]
        per_record[row["record"]] = round(float(np.mean(st)), 4)
        groups[group].append(float(np.mean(st)))
    return {
        "data": "PTB Diagnostic ECG DB 1.0.0 (doi:10.13026/C28C71), first 10 s, 1000 Hz",
        "metric": "mean over the 12 leads of |ST at J+60 ms| vs PR segment, mV",
        **{
            g: {
                "n": len(v),
                "mean_mv": round(float(np.mean(v)), 4),
                "median_mv": round(float(np.median(v)), 4),
            }
            for g, v in groups.items()
            if v
        },
        "per_record": per_record,
    }


MITDB_PVC_RECORDS = ("100", "101", "103", "105", "106", "119", "200", "203", "208", "214",
                     "221", "223", "233")  # fmt: skip


def pvc_classification() -> dict[str, object]:
    """classify_beats on MIT-BIH, 10 s chunks, annotated R positions: 'V' vs the rest."""
    import wfdb

    from edge_agent.dsp.beats import classify_beats
    from edge_agent.dsp.filters import preprocess

    beat_symbols = set("NLRBAaJSVrFejnE/fQ?")
    total = np.zeros(4, dtype=np.int64)  # tp, fp, fn, tn
    per_record = {}
    for rec in MITDB_PVC_RECORDS:
        path = str(DATA / "mitdb" / rec)
        sig, ann = wfdb.rdrecord(path), wfdb.rdann(path, "atr")
        fs = float(sig.fs)
        x = preprocess(np.ascontiguousarray(sig.p_signal.T), fs)
        keep = np.array([sym in beat_symbols for sym in ann.symbol])
        r, sym = ann.sample[keep], np.array(ann.symbol)[keep]
        counts = np.zeros(4, dtype=np.int64)
        n = int(10 * fs)
        for start in range(0, x.shape[1] - n, n):
            sel = (r >= start) & (r < start + n)
            if sel.sum() < 3:
                continue
            labels = classify_beats(x[:, start : start + n], r[sel] - start, fs).labels
            pred = np.array([lab == "V" for lab in labels])
            true = sym[sel] == "V"
            counts += [(pred & true).sum(), (pred & ~true).sum(), (~pred & true).sum(),
                       (~pred & ~true).sum()]  # fmt: skip
        total += counts
        per_record[rec] = {"tp": int(counts[0]), "fp": int(counts[1]), "fn": int(counts[2])}
    tp, fp, fn, tn = (int(v) for v in total)
    return {
        "data": "MIT-BIH Arrhythmia DB (doi:10.13026/C2F305), 10 s chunks, annotated R",
        "records": list(MITDB_PVC_RECORDS),
        "ventricular_sensitivity": round(tp / max(tp + fn, 1), 4),
        "ventricular_ppv": round(tp / max(tp + fp, 1), 4),
        "non_ventricular_specificity": round(tn / max(tn + fp, 1), 4),
        "counts": {"tp": tp, "fp": fp, "fn": fn, "tn": tn},
        "per_record": per_record,
    }


def timing(repeats: int = 200) -> dict[str, float]:
    """Wall time (ms) per stage on LUDB record 1 (10 s, 12 leads, 500 Hz): median and
    minimum of ``repeats`` runs (the minimum is the least disturbed by other processes
    on a shared machine)."""
    from edge_agent.dsp.beats import classify_beats, median_beat
    from edge_agent.dsp.delineate import delineate, map_fiducials
    from edge_agent.dsp.measure import measure_axes, measure_intervals, measure_leads
    from edge_agent.types import STANDARD_12

    x, fs = load_signal("1")
    c = project_chain(x, fs)
    y, r = c["signal"], c["rpeaks"]
    beats = classify_beats(y, r, fs)  # type: ignore[arg-type]
    med = median_beat(y, beats, fs)  # type: ignore[arg-type]
    fid = delineate(med)
    stages: dict[str, Callable[[], object]] = {
        "classify_beats": lambda: classify_beats(y, r, fs),  # type: ignore[arg-type]
        "median_beat": lambda: median_beat(y, beats, fs),  # type: ignore[arg-type]
        "delineate": lambda: delineate(med),
        "map_fiducials": lambda: map_fiducials(fid, med, beats, 5000),
        "measure_all": lambda: (
            measure_intervals(fid, med, 1000.0),
            measure_axes(med, fid, STANDARD_12),
            measure_leads(med, fid, STANDARD_12),
        ),
    }
    out: dict[str, float] = {}
    for name, fn in stages.items():
        ts = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
        out[f"{name}_median"] = round(1000.0 * float(np.median(ts)), 4)
        out[f"{name}_min"] = round(1000.0 * float(np.min(ts)), 4)
    out["total_median"] = round(sum(v for k, v in out.items() if k.endswith("_median")), 4)
    out["total_min"] = round(sum(v for k, v in out.items() if k.endswith("_min")), 4)
    return out


def main() -> int:
    t0 = time.time()
    acc = run_ludb()
    results: dict[str, object] = {
        "data": (
            "LUDB 1.0.1 (doi:10.13026/eegm-h675), 100 odd-numbered records, "
            "12 leads, 500 Hz, 10 s"
        ),
        "reference": (
            "per annotated beat: earliest onset (QRS on, P on) / latest offset "
            "(QRS off, P off, T end) over the 12 leads' cardiologist annotations; "
            "beats matched when the detected R lies inside the reference QRS; "
            "only annotated beats scored"
        ),
        "ours": (
            "project chain preprocess -> detect_rpeaks -> classify_beats -> "
            "median_beat -> delineate -> map_fiducials (global median-beat "
            "fiducials mapped to each beat)"
        ),
        "peer": (
            "neurokit2 ecg_delineate(method='dwt') on nk.ecg_clean(lead II), "
            "same R peaks, single lead"
        ),
        "anti_overfitting": (
            "DelineationConfig constants tuned only on records id % 4 == 1 "
            "('tune'); 'test' = id % 4 == 3 (held out); 'all' = both. The T-end rule "
            "'a lead votes only if its T peak leaves t_search_s before the window end' "
            "and t_quantile 0.85 were chosen on 'tune' against the primary reference. "
            "QRS-onset noise multiple 1.5 (was 2.0): lowest on 'tune' that adds no QRS "
            ">= 120 ms among the PTB healthy controls and the tune records without a "
            "conduction abnormality (see qrs_width_sanity); the T-end rule 'a lead whose "
            "largest deviation is the first sample of the T window does not vote' was "
            "seen on LUDB 57 (tune) and kept on its tune result (-12.7/30.7 -> "
            "-12.4/30.5 ms at onset multiple 1.4). Test records were looked at "
            "(plots of 3, 35, 43, 83) only to describe failure modes, not to choose"
        ),
        "secondary_reference": (
            "'*_vs_median_of_leads': same beats scored against the median over the "
            "annotating leads instead of the earliest/latest (context only: shows the "
            "part of the error due to scatter between the leads' annotations)"
        ),
        "second_extreme_reference": SECOND_NOTE,
        "cse_tolerance_2sd_ms": CSE_2SD,
        "targets_abs_mean_sd_ms": TARGET,
        "splits": {},
    }
    splits: dict[str, object] = {}
    methods = (
        "ours",
        "neurokit2_dwt_lead_ii",
        "ours_vs_median_of_leads",
        "neurokit2_vs_median_of_leads",
        "ours_vs_second_extreme",
        "neurokit2_vs_second_extreme",
    )
    for method in methods:
        merged: dict[str, tuple[list[float], int]] = {}
        for split in ("tune", "test"):
            merge(merged, acc[split][method])
            splits.setdefault(split, {})[method] = summarize(acc[split][method], 500.0)  # type: ignore[index]
        splits.setdefault("all", {})[method] = summarize(merged, 500.0)  # type: ignore[index]
    results["splits"] = splits
    wb = within_between()
    results["error_sd_within_vs_between_records_all"] = wb
    rec_level = record_level()
    width = qrs_width_sanity()
    results["record_level_cse_style"] = rec_level
    results["qrs_width_sanity"] = width
    results["per_beat_redelineation_check"] = per_beat_check()
    results["fs_consistency"] = fs_consistency()
    results["p_wave_presence"] = p_presence()
    results["st_sanity_ptb"] = st_sanity()
    results["pvc_classification_mitdb"] = pvc_classification()
    results["timing_ms_one_core"] = timing()
    results["elapsed_s"] = round(time.time() - t0, 1)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2) + "\n")
    print(f"{'split':6} {'method':30} " + " ".join(f"{k:>22}" for k in KEYS))
    for split, methods in splits.items():  # type: ignore[union-attr]
        for method, s in methods.items():
            cells = [
                f"{s[k]['mean_ms']:+6.1f}/{s[k]['sd_ms']:5.1f} "
                f"({s[k]['delineated_pct']:5.1f}%)"
                for k in KEYS
            ]
            print(f"{split:6} {method:30} " + " ".join(f"{c:>22}" for c in cells))
    print("within/between-record SD (ms), all records:")
    for label, rows in wb.items():
        pairs = {
            k: (v["within_record_sd_ms"], v["between_record_sd_ms"])
            for k, v in rows.items()
        }
        print(f"  vs {label:16}", pairs)
    print("record-level (CSE-style, additional) vs earliest/latest, mean/SD ms:")
    vs_extreme = rec_level["vs_extreme"]
    assert isinstance(vs_extreme, dict)
    for split, per_key in vs_extreme.items():
        line = {k: f"{v['mean_ms']:+.1f}/{v['sd_ms']:.1f}" for k, v in per_key.items()}
        print(f"  {split:5}", line)
    print("QRS width sanity:", {k: v for k, v in width.items() if k != "what"})
    print("P presence:", results["p_wave_presence"])
    st = results["st_sanity_ptb"]
    print("ST sanity:", {k: v for k, v in st.items() if k != "per_record"})  # type: ignore[union-attr]
    pvc = results["pvc_classification_mitdb"]
    print("PVC (MIT-BIH):", {k: v for k, v in pvc.items() if k != "per_record"})  # type: ignore[union-attr]
    print("timing (ms):", results["timing_ms_one_core"])
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
