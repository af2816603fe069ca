"""Interpretable STEMI features from the core's median beat and global fiducials.

Pure numpy. The same function builds the training rows in ``models/train_stemi.py`` (from
``edge_agent.analyze`` output, so a change of the core's J point reaches the model at the
next retrain) and the runtime row in :mod:`edge_agent.triage.combine`.

Per-lead values come from one source, the core's
:func:`edge_agent.dsp.measure.measure_leads` (the same call that fills ``analyze``'s
``lead_measures`` and ``st_mv``), run on the median beat completed to the 12 standard
leads (missing limb leads derived from two recorded ones, Einthoven/Goldberger): ST at J,
J+40, J+60 and J+80 ms against the PR segment with J the global QRS offset; R, S, Q and
Q duration; the signed T peak (J+40 ms to T end). The frontal QRS and T axes come from
:func:`edge_agent.dsp.measure.measure_axes` on the same beat.

Per territory (inferior II/III/aVF, lateral I/aVL/V5/V6, anterior/septal V1-V4), after
the Fourth Universal Definition of MI's "two contiguous leads" (Thygesen K et al.,
Circulation 138:e618-e651, 2018, doi:10.1161/CIR.0000000000000617): the largest
elevation reached in two contiguous leads at J+40/J+60 (the smaller of the pair), the
same relative to the pair's QRS amplitude (Armstrong EJ et al., "Electrocardiographic
criteria for ST-elevation myocardial infarction in patients with left ventricular
hypertrophy", Am J Cardiol 110:977-983, 2012: ST/QRS ratio), the ST shape (coved:
J+40 above the chord J..J+80; Smith SW, "T/QRS ratio best distinguishes ventricular
aneurysm from anterior myocardial infarction", Am J Emerg Med 23:279-287, 2005), the
upright and the inverted part of the T waves as two features (hyperacute T and evolving
T inversion both speak for infarction, a single signed mean cannot say so), T inversion,
T/QRS amplitude in two contiguous leads (hyperacute T), Q-wave width and depth (old or
evolving infarction), and the reciprocal ST depression and T inversion in the opposite
leads (Birnbaum Y, Drew BJ, Postgrad Med J 79:490-504, 2003). Global: QRS duration (wide
QRS = secondary ST-T), heart rate, aVR ST, diffuse elevation (early repolarisation /
pericarditis spread), the deepest ST depression, V1-V3 depression (posterior),
Sokolow-Lyon voltage (LVH strain is the classic mimic; Sokolow M, Lyon TP, Am Heart J
37:161-186, 1949) and the frontal QRS-T angle.

:func:`feature_dict` also computes candidates that were evaluated and left out of the
model (``e20``, ``t_mean``, ``t_depth``; models/stemi_features/card.md).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from edge_agent.dsp.measure import measure_axes, measure_leads
from edge_agent.dsp.results import Fiducials, LeadMeasures, MedianBeat
from edge_agent.triage.model_input import complete_limb_leads
from edge_agent.types import STANDARD_12, normalize_lead_name

__all__ = [
    "FEATURE_NAMES",
    "MIN_STEMI_LEADS",
    "TERRITORIES",
    "feature_dict",
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
    "e60_rel",  # same, ST J+60 / QRS amplitude of the lead
    "coved",  # max over territory leads of ST40 - (STJ + ST80) / 2 (mV)
    "t_inv",  # fraction of territory leads with T < -0.05 mV
    "q_ms",  # widest initial negative deflection (Q/QS) in the territory (ms)
    "q_rel",  # deepest Q / (R + |Q|) in the territory
    "recip_dep",  # deepest ST depression at J+60 in the reciprocal leads (mV, >= 0)
    "recip_tinv",  # fraction of reciprocal leads with T < -0.05 mV
    "t_pos",  # mean upright part of the territory's T peaks (mV, >= 0)
    "t_neg",  # mean inverted part of the territory's T peaks (mV, >= 0)
    "t_rel",  # max over contiguous pairs of min T / QRS amplitude (hyperacute T)
)
_GLOBAL_FEATS = (
    "qrs_ms",
    "hr_bpm",
    "avr_st60",
    "n_elev_leads",  # leads with ST J+60 >= 0.1 mV (diffuse elevation)
    "min_st60",  # deepest ST depression anywhere (mV, <= 0)
    "v1v3_dep",  # deepest depression V1-V3 (posterior), mV >= 0
    "lvh_volt",  # Sokolow-Lyon S(V1) + max R(V5, V6), mV (LVH strain mimics injury)
    "qrs_t_angle",  # frontal QRS axis - T axis, folded to 0..180 degrees
)
FEATURE_NAMES: tuple[str, ...] = (
    tuple(f"{t}.{f}" for t in TERRITORIES for f in _TERR_FEATS) + _GLOBAL_FEATS
)
# Leads with signal (recorded or derived) needed before the feature model runs.
MIN_STEMI_LEADS = 8
_T_INV_MV = -0.05


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


def _arr(measures: Sequence[LeadMeasures], field: str) -> NDArray[np.float64]:
    v = [getattr(m, field) for m in measures]
    return np.array([0.0 if x is None else float(x) for x in v], dtype=np.float64)


def _pair_max(
    v: NDArray[np.float64], mask: NDArray[np.bool_], pairs: Sequence[tuple[str, str]]
) -> float:
    best = 0.0
    for a, b in pairs:
        ia, ib = _IDX[a], _IDX[b]
        if mask[ia] and mask[ib]:
            best = max(best, float(min(v[ia], v[ib])))
    return best


def _recorded_twelve(
    measures: Sequence[LeadMeasures] | None,
    names: Sequence[str],
    usable: NDArray[np.bool_] | None,
) -> list[LeadMeasures] | None:
    """``measures`` in ``STANDARD_12`` order when all 12 leads are recorded and usable.

    Then ``measure_leads`` on the completed beat would recompute exactly these values
    (nothing is derived and each lead is measured on its own), so they are reused.
    """
    if measures is None or len(measures) != len(names):
        return None
    by_name: dict[str, LeadMeasures] = {}
    for i, (name, m) in enumerate(zip(names, measures, strict=True)):
        key = normalize_lead_name(name)
        if key in by_name or (usable is not None and not usable[i]):
            return None
        by_name[key] = m
    if any(n not in by_name for n in STANDARD_12):
        return None
    return [by_name[n] for n in STANDARD_12]


def feature_dict(
    median: MedianBeat,
    fid: Fiducials,
    names: Sequence[str],
    usable: NDArray[np.bool_] | None = None,
    qrs_ms: float | None = None,
    hr_bpm: float | None = None,
    measures: Sequence[LeadMeasures] | None = None,
) -> dict[str, float] | None:
    """Every candidate feature by name (``FEATURE_NAMES`` is the model's subset).

    Per-lead values come from :func:`edge_agent.dsp.measure.measure_leads` (and the
    frontal axes from :func:`~edge_agent.dsp.measure.measure_axes`) on the median beat
    completed to the 12 standard leads; ``measures`` (``measure_leads`` of this median
    beat, one per name, as ``analyze`` computed them) are reused when all 12 standard
    leads are recorded and usable. ``None`` under the conditions of
    :func:`stemi_features`.
    """
    if fid.qrs_on is None or fid.qrs_off is None or fid.qrs_off <= fid.qrs_on:
        return None
    w, mask = _complete(np.asarray(median.waveform, dtype=np.float64), names, usable)
    if int(mask.sum()) < MIN_STEMI_LEADS:
        return None
    full = MedianBeat(
        waveform=w, r_index=median.r_index, n_beats=median.n_beats, fs=median.fs
    )
    lm = _recorded_twelve(measures, names, usable) or measure_leads(full, fid, STANDARD_12)
    st_j, st20, st40 = _arr(lm, "st_j_mv"), _arr(lm, "st_j20_mv"), _arr(lm, "st_j40_mv")
    st60, st80 = _arr(lm, "st_j60_mv"), _arr(lm, "st_j80_mv")
    r, s, q = _arr(lm, "r_mv"), -_arr(lm, "s_mv"), -_arr(lm, "q_mv")
    q_dur, t = _arr(lm, "q_ms"), _arr(lm, "t_mv")
    for v in (st_j, st20, st40, st60, st80, r, s, q, q_dur, t):
        v[~mask] = 0.0
    qrs_amp = np.maximum(r + np.maximum(s, q), 0.3)
    rel = st60 / qrs_amp
    t_rel = t / qrs_amp
    coved = st40 - (st_j + st80) / 2.0
    q_rel = q / np.maximum(r + q, 0.05)
    out: dict[str, float] = {}
    for terr, (leads, pairs, recip) in TERRITORIES.items():
        li = [_IDX[x] for x in leads if mask[_IDX[x]]]
        ri = [_IDX[x] for x in recip if mask[_IDX[x]]]
        vals = {
            "e20": _pair_max(st20, mask, pairs),
            "e40": _pair_max(st40, mask, pairs),
            "e60": _pair_max(st60, mask, pairs),
            "e60_rel": _pair_max(rel, mask, pairs),
            "coved": float(coved[li].max()) if li else 0.0,
            "t_mean": float(t[li].mean()) if li else 0.0,
            "t_pos": float(np.maximum(t[li], 0.0).mean()) if li else 0.0,
            "t_neg": float(np.maximum(-t[li], 0.0).mean()) if li else 0.0,
            "t_inv": float((t[li] < _T_INV_MV).mean()) if li else 0.0,
            "t_rel": _pair_max(t_rel, mask, pairs),
            "t_depth": max(0.0, -float(t[li].min())) if li else 0.0,
            "q_ms": float(q_dur[li].max()) if li else 0.0,
            "q_rel": float(q_rel[li].max()) if li else 0.0,
            "recip_dep": max(0.0, -float(st60[ri].min())) if ri else 0.0,
            "recip_tinv": float((t[ri] < _T_INV_MV).mean()) if ri else 0.0,
        }
        out |= {f"{terr}.{k}": v for k, v in vals.items()}
    m = mask
    v13 = [_IDX[x] for x in ("V1", "V2", "V3") if m[_IDX[x]]]
    ax = measure_axes(full, fid, STANDARD_12)
    angle = 0.0
    if ax.qrs_deg is not None and ax.t_deg is not None:
        angle = abs((ax.qrs_deg - ax.t_deg + 180.0) % 360.0 - 180.0)
    out |= {
        "qrs_ms": float(qrs_ms) if qrs_ms is not None and np.isfinite(qrs_ms) else 100.0,
        "hr_bpm": float(hr_bpm) if hr_bpm is not None and np.isfinite(hr_bpm) else 75.0,
        "avr_st60": float(st60[_IDX["aVR"]]) if m[_IDX["aVR"]] else 0.0,
        "n_elev_leads": float((st60[m] >= 0.1).sum()),
        "min_st60": min(0.0, float(st60[m].min())),
        "v1v3_dep": max(0.0, -float(st60[v13].min())) if v13 else 0.0,
        "lvh_volt": float(s[_IDX["V1"]] + max(r[_IDX["V5"]], r[_IDX["V6"]])),
        "qrs_t_angle": angle,
    }
    return out


def stemi_features(
    median: MedianBeat | None,
    fid: Fiducials | None,
    names: Sequence[str],
    usable: NDArray[np.bool_] | None = None,
    qrs_ms: float | None = None,
    hr_bpm: float | None = None,
    measures: Sequence[LeadMeasures] | None = None,
) -> NDArray[np.float32] | None:
    """Feature row (1, ``len(FEATURE_NAMES)``) float32, or ``None`` when not computable.

    ``None`` when there is no median beat or QRS on/offset, or fewer than
    ``MIN_STEMI_LEADS`` leads carry signal (the model is a 12-lead model). ``measures``:
    see :func:`feature_dict`.
    """
    if median is None or fid is None:
        return None
    d = feature_dict(median, fid, names, usable, qrs_ms, hr_bpm, measures)
    if d is None:
        return None
    return np.asarray([d[f] for f in FEATURE_NAMES], dtype=np.float32)[None, :]
