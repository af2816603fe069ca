"""Interpretable STEMI features from the core's median beat and global fiducials.

Pure numpy. The same function builds the training rows in ``models/train_stemi.py`` (from
``edge_agent.analyze`` output, so a change of the core's J point reaches the model at the
next retrain) and the runtime row in :mod:`edge_agent.triage.combine`.

Per lead, against the core's isoelectric PR-segment level
(:func:`edge_agent.dsp.delineate.isoelectric_level`), with the J point the global QRS
offset: ST at J, J+40, J+60 and J+80 ms; R height and S depth; the initial negative
deflection (Q/QS width and depth); the signed T peak. Missing limb leads are derived from
two recorded ones (Einthoven/Goldberger) on the median beat.

Per territory (inferior II/III/aVF, lateral I/aVL/V5/V6, anterior/septal V1-V4), after
the Fourth Universal Definition of MI's "two contiguous leads" (Thygesen K et al.,
Circulation 138:e618-e651, 2018, doi:10.1161/CIR.0000000000000617): the largest
elevation reached in two contiguous leads at J+40/J+60 (the smaller of the pair), the
same relative to the pair's QRS amplitude (Armstrong EJ et al., "Electrocardiographic
criteria for ST-elevation myocardial infarction in patients with left ventricular
hypertrophy", Am J Cardiol 110:977-983, 2012: ST/QRS ratio), the ST shape (coved:
J+40 above the chord J..J+80; Smith SW, "T/QRS ratio best distinguishes ventricular
aneurysm from anterior myocardial infarction", Am J Emerg Med 23:279-287, 2005), mean T
amplitude and T inversion, Q-wave width and depth (old or evolving infarction), and the
reciprocal ST depression and T inversion in the opposite leads (Birnbaum Y, Drew BJ,
Postgrad Med J 79:490-504, 2003). Global: QRS duration (wide QRS = secondary ST-T),
heart rate, aVR ST, diffuse elevation (early repolarisation / pericarditis spread), the
deepest ST depression, V1-V3 depression (posterior) and Sokolow-Lyon voltage (LVH strain
is the classic mimic; Sokolow M, Lyon TP, Am Heart J 37:161-186, 1949).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from edge_agent.dsp.delineate import isoelectric_level
from edge_agent.dsp.results import Fiducials, MedianBeat
from edge_agent.triage.model_input import complete_limb_leads
from edge_agent.types import STANDARD_12, normalize_lead_name

__all__ = [
    "FEATURE_NAMES",
    "MIN_STEMI_LEADS",
    "TERRITORIES",
    "lead_table",
    "stemi_features",
]

_IDX = {name: i for i, name in enumerate(STANDARD_12)}
# Territory -> (its leads, contiguous pairs, reciprocal leads).
TERRITORIES: dict[
    str, tuple[tuple[str, ...], tuple[tuple[str, str], ...], tuple[str, ...]]
] = {
    "inferior": (("II", "III", "aVF"), (("II", "aVF"), ("aVF", "III")), ("I", "aVL")),
    "lateral": (
        ("I", "aVL", "V5", "V6"),
        (("aVL", "I"), ("V5", "V6"), ("V4", "V5")),
        ("III", "aVF"),
    ),
    "anterior": (
        ("V1", "V2", "V3", "V4"),
        (("V1", "V2"), ("V2", "V3"), ("V3", "V4")),
        ("II", "III", "aVF"),
    ),
}
_TERR_FEATS = (
    "e40",  # max over contiguous pairs of min ST at J+40 (mV)
    "e60",  # same at J+60
    "e60_rel",  # same, ST J+60 / QRS peak-to-peak of the lead
    "coved",  # max over territory leads of ST40 - (STJ + ST80) / 2 (mV)
    "t_mean",  # mean signed T peak of the territory leads (mV)
    "t_inv",  # fraction of territory leads with T < -0.05 mV
    "q_ms",  # widest initial negative deflection (Q/QS) in the territory (ms)
    "q_rel",  # deepest Q / (R + |Q|) in the territory
    "recip_dep",  # deepest ST depression at J+60 in the reciprocal leads (mV, >= 0)
    "recip_tinv",  # fraction of reciprocal leads with T < -0.05 mV
)
_GLOBAL_FEATS = (
    "qrs_ms",
    "hr_bpm",
    "avr_st60",
    "n_elev_leads",  # leads with ST J+60 >= 0.1 mV (diffuse elevation)
    "min_st60",  # deepest ST depression anywhere (mV, <= 0)
    "v1v3_dep",  # deepest depression V1-V3 (posterior), mV >= 0
    "lvh_volt",  # Sokolow-Lyon S(V1) + max R(V5, V6), mV (LVH strain mimics injury)
)
FEATURE_NAMES: tuple[str, ...] = (
    tuple(f"{t}.{f}" for t in TERRITORIES for f in _TERR_FEATS) + _GLOBAL_FEATS
)
# Leads with signal (recorded or derived) needed before the feature model runs.
MIN_STEMI_LEADS = 8
_T_INV_MV = -0.05
_MIN_WAVE_MV = 0.02


def _complete(
    w: NDArray[np.float64], names: Sequence[str], usable: NDArray[np.bool_] | None
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Median beat in ``STANDARD_12`` order (zeros where absent) and the lead mask."""
    out = np.zeros((12, w.shape[1]))
    mask = np.zeros(12, dtype=bool)
    for i, name in enumerate(names):
        j = _IDX.get(normalize_lead_name(name))
        if j is None or (usable is not None and not usable[i]):
            continue
        out[j] = w[i]
        mask[j] = True
    full, full_mask = complete_limb_leads(out[None], mask[None])
    return full[0], full_mask[0]


def lead_table(
    median: MedianBeat,
    fid: Fiducials,
    names: Sequence[str],
    usable: NDArray[np.bool_] | None = None,
) -> tuple[dict[str, NDArray[np.float64]], NDArray[np.bool_]] | None:
    """Per-lead measurements (12, ``STANDARD_12`` order) and the lead mask.

    Keys: ``st_j``, ``st40``, ``st60``, ``st80``, ``r``, ``s``, ``q``, ``q_ms``, ``t``
    (mV, ``q``/``s`` as positive depths, ``q_ms`` in ms). ``None`` without QRS on/offset.
    """
    if fid.qrs_on is None or fid.qrs_off is None:
        return None
    fs = float(median.fs)
    w, mask = _complete(np.asarray(median.waveform, dtype=np.float64), names, usable)
    n = w.shape[1]
    dev = w - isoelectric_level(w, fid.qrs_on, fs)[:, None]
    half = max(0, round(0.002 * fs))
    j = fid.qrs_off

    def level(ms: float) -> NDArray[np.float64]:
        c = min(n - 1, j + round(ms * fs / 1000.0))
        return np.asarray(dev[:, max(0, c - half) : c + half + 1].mean(axis=1))

    qrs = dev[:, fid.qrs_on : j + 1]
    r = np.maximum(qrs.max(axis=1), 0.0)
    r_at = qrs.argmax(axis=1)
    s = np.array(
        [max(0.0, -float(qrs[k, r_at[k] :].min())) for k in range(12)], dtype=np.float64
    )
    q = np.zeros(12)
    q_ms = np.zeros(12)
    for k in range(12):
        big = np.flatnonzero(np.abs(qrs[k]) > _MIN_WAVE_MV)
        if big.size == 0 or qrs[k, big[0]] > 0:
            continue
        back = np.flatnonzero(qrs[k, big[0] :] >= 0.0)
        end = big[0] + (int(back[0]) if back.size else qrs.shape[1] - big[0])
        q[k] = -float(qrs[k, :end].min())
        q_ms[k] = 1000.0 * end / fs
    t_lo = min(n - 1, j + round(0.08 * fs))
    t_hi = (
        fid.t_off
        if fid.t_off is not None and fid.t_off > t_lo
        else min(n, j + round(0.4 * fs))
    )
    seg = dev[:, t_lo:t_hi] if t_hi > t_lo else dev[:, t_lo : t_lo + 1]
    t_idx = np.abs(seg).argmax(axis=1)
    t = seg[np.arange(12), t_idx]
    table = {
        "st_j": level(0.0),
        "st40": level(40.0),
        "st60": level(60.0),
        "st80": level(80.0),
        "r": r,
        "s": s,
        "q": q,
        "q_ms": q_ms,
        "t": np.asarray(t, dtype=np.float64),
    }
    for v in table.values():
        v[~mask] = 0.0
    return table, mask


def _pair_max(
    v: NDArray[np.float64], mask: NDArray[np.bool_], pairs: Sequence[tuple[str, str]]
) -> float:
    best = 0.0
    for a, b in pairs:
        ia, ib = _IDX[a], _IDX[b]
        if mask[ia] and mask[ib]:
            best = max(best, float(min(v[ia], v[ib])))
    return best


def stemi_features(
    median: MedianBeat | None,
    fid: Fiducials | None,
    names: Sequence[str],
    usable: NDArray[np.bool_] | None = None,
    qrs_ms: float | None = None,
    hr_bpm: float | None = None,
) -> NDArray[np.float32] | None:
    """Feature row (1, ``len(FEATURE_NAMES)``) float32, or ``None`` when not computable.

    ``None`` when there is no median beat or QRS on/offset, or fewer than
    ``MIN_STEMI_LEADS`` leads carry signal (the model is a 12-lead model).
    """
    if median is None or fid is None:
        return None
    got = lead_table(median, fid, names, usable)
    if got is None:
        return None
    tab, mask = got
    if int(mask.sum()) < MIN_STEMI_LEADS:
        return None
    st40, st60 = tab["st40"], tab["st60"]
    qrs_amp = np.maximum(tab["r"] + tab["s"], 0.3)
    rel = st60 / qrs_amp
    coved = st40 - (tab["st_j"] + tab["st80"]) / 2.0
    t = tab["t"]
    q_rel = tab["q"] / np.maximum(tab["r"] + tab["q"], 0.05)
    row: list[float] = []
    for leads, pairs, recip in TERRITORIES.values():
        li = [_IDX[x] for x in leads if mask[_IDX[x]]]
        ri = [_IDX[x] for x in recip if mask[_IDX[x]]]
        row += [
            _pair_max(st40, mask, pairs),
            _pair_max(st60, mask, pairs),
            _pair_max(rel, mask, pairs),
            float(coved[li].max()) if li else 0.0,
            float(t[li].mean()) if li else 0.0,
            float((t[li] < _T_INV_MV).mean()) if li else 0.0,
            float(tab["q_ms"][li].max()) if li else 0.0,
            float(q_rel[li].max()) if li else 0.0,
            max(0.0, -float(st60[ri].min())) if ri else 0.0,
            float((t[ri] < _T_INV_MV).mean()) if ri else 0.0,
        ]
    m = mask
    v13 = [_IDX[x] for x in ("V1", "V2", "V3") if m[_IDX[x]]]
    row += [
        float(qrs_ms) if qrs_ms is not None and np.isfinite(qrs_ms) else 100.0,
        float(hr_bpm) if hr_bpm is not None and np.isfinite(hr_bpm) else 75.0,
        float(st60[_IDX["aVR"]]) if m[_IDX["aVR"]] else 0.0,
        float((st60[m] >= 0.1).sum()),
        min(0.0, float(st60[m].min())),
        max(0.0, -float(st60[v13].min())) if v13 else 0.0,
        float(tab["s"][_IDX["V1"]] + max(tab["r"][_IDX["V5"]], tab["r"][_IDX["V6"]])),
    ]
    return np.asarray(row, dtype=np.float32)[None, :]
