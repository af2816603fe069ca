"""Per-lead signal quality of a raw ECG, before any filtering.

All features are computed for every lead at once from window statistics (block max, min,
mean and median over fixed windows) and from a comb-filtered second difference, so the
check costs a few passes over the array and no FFT.

Problems and what they do to a lead (``LeadQuality.ok``); "amp" is the typical QRS
peak-to-peak: the median over 2 s windows of their largest 0.2 s peak-to-peak:

* FLAT - >= 80 % of 0.5 s windows below 0.02 mV peak-to-peak (no signal). Unusable.
* LEAD_OFF - a run >= 1.5 s of 0.1 s windows with no variation (< 5 uV: amplifier at a
  rail or returning constant values) inside a live lead, or a jump of consecutive 0.2 s
  window means > 5 x amp (electrode moving or coming loose). Unusable.
* CLIPPING - >= 10 samples in plateaus at the lead's own max or min (saturation).
  Unusable when >= 1 % of the samples, else a warning (a few clipped R peaks still allow
  rhythm analysis).
* AMPLITUDE - amp > 10 mV (uV stored as mV, wrong gain) or < 0.05 mV. Unusable.
* HF_NOISE - muscle or motion noise: the HF-noise ratio (below) > 0.03, or artefact
  bursts (90th / 10th percentile of 2 s-window peak-to-peaks) > 3.5: warning; > 0.077
  or > 4.5: unusable.
* BASELINE_WANDER - peak-to-peak of 1 s-window means > 1.2 x amp: warning;
  > 2.3 x amp: unusable (beyond what the 0.05 Hz diagnostic high-pass removes, the ST
  segment would tilt).

The HF noise ratio: the second difference ``x[n+s] - 2x[n] + x[n-s]`` (``s = fs/250``;
gain ``4 sin^2(w/2)``: it suppresses the QRS band and keeps EMG) passed through the comb
``y[n] - y[n-L]`` with ``L = fs / mains`` (zeros at DC and every powerline harmonic, so
that mains interference, which the notch removes, is not counted as muscle noise); the
lower quartile of its 0.2 s-window mean absolute value (robust to the windows holding a
QRS) is divided by amp.
The ``*_reject`` thresholds of step, HF noise, bursts and wander were chosen on the
even-numbered records of the PhysioNet/CinC 2017 set (noisy '~' vs normal 'N': at most 4 %
of normal records unusable) and the even PTB-XL ecg_ids (at most 1 % of leads unusable),
and are reported on the odd ones and LUDB (``bench/quality.py``,
``bench/results/quality.json``). CinC 2017 comes from a hand-held device that band-limits
the signal, so its "noisy" class is mostly motion artefact, not EMG.

References
----------
Clifford GD, et al. AF classification from a short single lead ECG recording: the
PhysioNet/Computing in Cardiology Challenge 2017. CinC 2017;44. doi:10.22489/CinC.2017.065
Li Q, Mark RG, Clifford GD. Robust heart rate estimation from multiple asynchronous noisy
sources using signal quality indices and a Kalman filter. Physiol Meas 2008;29:15-32.
doi:10.1088/0967-3334/29/1/002
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from edge_agent.dsp._reduce import mean, median
from edge_agent.dsp._validate import check_signal
from edge_agent.dsp.results import (
    BeatClass,
    Beats,
    LeadQuality,
    QualityProblem,
    QualityReport,
)
from edge_agent.errors import InvalidSignalError

__all__ = [
    "BEAT_FEATURE_NAMES",
    "FEATURE_NAMES",
    "MESSAGES_EN",
    "MESSAGES_ZH",
    "QUALITY_VERSION",
    "BeatQualityConfig",
    "QualityConfig",
    "assess_beat_quality",
    "assess_quality",
    "beat_quality_features",
    "lead_quality_features",
    "messages_zh",
]

QUALITY_VERSION = "quality-2026.11.2"  # provenance: bump when outputs change


@dataclass(frozen=True, slots=True)
class QualityConfig:
    """Thresholds of the quality checks (physiological units or ratios).

    ``hf_*`` are ratios of the HF-noise level to the typical QRS peak-to-peak (amp);
    ``step_rel`` and ``wander_*_rel`` are the largest jump of 0.2 s-window means and the
    peak-to-peak of 1 s-window means, divided by amp; ``burst_*`` the ratio of the 90th to
    the 10th percentile of the 2 s-window amplitudes (artefact bursts). The ``*_reject``
    values were chosen on the even-numbered CinC 2017 records and even PTB-XL ecg_ids
    (``bench/quality.py``).
    """

    flat_ptp_mv: float = 0.02
    flat_fraction: float = 0.8
    dead_ptp_mv: float = 0.005
    dead_run_s: float = 1.5
    step_rel: float = 5.0
    clip_min_samples: int = 10
    clip_reject_fraction: float = 0.01
    amplitude_max_mv: float = 10.0
    amplitude_min_mv: float = 0.05
    hf_warn: float = 0.04
    hf_reject: float = 0.077
    burst_warn: float = 3.5
    burst_reject: float = 4.5
    wander_warn_rel: float = 1.2
    wander_reject_rel: float = 2.3
    mains_hz: float = 50.0

    def __post_init__(self) -> None:
        if not 0.0 < self.dead_ptp_mv < self.flat_ptp_mv < self.amplitude_min_mv:
            raise InvalidSignalError(
                "quality thresholds out of order",
                expected="0 < dead_ptp_mv < flat_ptp_mv < amplitude_min_mv",
                got=f"{self.dead_ptp_mv}, {self.flat_ptp_mv}, {self.amplitude_min_mv}",
            )
        pairs = (
            ("hf", self.hf_warn, self.hf_reject),
            ("burst", self.burst_warn, self.burst_reject),
            ("wander", self.wander_warn_rel, self.wander_reject_rel),
        )
        for name, warn, reject in pairs:
            if not 0.0 < warn <= reject:
                raise InvalidSignalError(
                    f"{name} thresholds out of order",
                    expected=f"0 < {name} warn <= reject",
                    got=f"{warn}, {reject}",
                )


_DEFAULT_QUALITY = QualityConfig()  # frozen: one shared default, validated once

MESSAGES_EN: dict[QualityProblem, str] = {
    QualityProblem.FLAT: "no signal - check the lead cable and electrode, record again",
    QualityProblem.LEAD_OFF: "electrode off - re-attach and record again",
    QualityProblem.CLIPPING: "signal clipped - check the gain",
    QualityProblem.AMPLITUDE: "implausible amplitude - check the gain/units setting",
    QualityProblem.HF_NOISE: (
        "muscle noise - ask the patient to relax and keep still, record again"
    ),
    QualityProblem.BASELINE_WANDER: (
        "baseline wander - check skin contact and breathing, record again"
    ),
    QualityProblem.BEAT_NOISE: (
        "too noisy to read beats - keep the patient still and record again"
    ),
}

MESSAGES_ZH: dict[QualityProblem, str] = {
    QualityProblem.FLAT: "无信号 - 请检查导联线和电极,重新记录",
    QualityProblem.LEAD_OFF: "电极脱落 - 请重新贴好电极后再记录",
    QualityProblem.CLIPPING: "信号削顶(饱和) - 请检查增益设置",
    QualityProblem.AMPLITUDE: "幅度异常 - 请检查增益/单位设置",
    QualityProblem.HF_NOISE: "肌电干扰 - 请患者放松、保持不动,重新记录",
    QualityProblem.BASELINE_WANDER: "基线漂移 - 请检查皮肤接触并让患者平稳呼吸,重新记录",
    QualityProblem.BEAT_NOISE: "干扰过大,无法识别心搏 - 请患者保持不动,重新记录",
}

FEATURE_NAMES: tuple[str, ...] = (
    "flat_fraction",
    "dead_run_s",
    "step_mv",
    "clipped_samples",
    "qrs_amplitude_mv",
    "hf_ratio",
    "wander_mv",
    "burst_ratio",
)
(F_FLAT, F_DEAD_RUN_S, F_STEP_MV, F_CLIP, F_AMP_MV, F_HF, F_WANDER_MV, F_BURST) = range(
    len(FEATURE_NAMES)
)
_HF_REF_HZ = 250.0


def _windows(x: NDArray[np.float64], size: int) -> NDArray[np.float64]:
    """View of x (leads, n) as (leads, n // size, size), dropping the tail."""
    n_win = max(1, x.shape[1] // size)
    size = min(size, x.shape[1])
    return x[:, : n_win * size].reshape(x.shape[0], n_win, size)


def _longest_true_run(mask: NDArray[np.bool_]) -> NDArray[np.int64]:
    """Length of the longest run of True along axis -1, per row."""
    n_rows, n = mask.shape
    if not mask.any():  # the usual case: no run at all
        return np.zeros(n_rows, dtype=np.int64)
    padded = np.zeros((n_rows, n + 2), dtype=np.int8)
    padded[:, 1:-1] = mask
    edges = padded[:, 1:] - padded[:, :-1]
    rows_s, starts = np.nonzero(edges == 1)
    _, stops = np.nonzero(edges == -1)
    out: NDArray[np.int64] = np.zeros(n_rows, dtype=np.int64)
    np.maximum.at(out, rows_s, stops - starts)
    return out


def _plateau_samples(
    tenth: NDArray[np.float64], wmax: NDArray[np.float64], wmin: NDArray[np.float64]
) -> NDArray[np.int64]:
    """Samples in runs (>= 2 equal samples) at the lead's max or min value.

    Only the 0.1 s windows that reach the lead's extreme are inspected (pairs across a
    window border are not counted).
    """
    hi = wmax.max(axis=1, keepdims=True)
    lo = wmin.min(axis=1, keepdims=True)
    tol = 1e-6 * np.maximum(hi - lo, 1e-3)
    n_leads = tenth.shape[0]
    counts: NDArray[np.int64] = np.zeros(n_leads, dtype=np.int64)
    for extreme, ref, sign in ((wmax >= hi - tol, hi, 1.0), (wmin <= lo + tol, lo, -1.0)):
        lead_idx, win_idx = extreme.nonzero()
        at = sign * tenth[lead_idx, win_idx] >= (sign * ref)[lead_idx] - tol[lead_idx]
        pairs = (at[:, 1:] & at[:, :-1]).sum(axis=1)
        # per-lead totals (integer-valued float sums, exact): bincount, not np.add.at
        counts += np.bincount(lead_idx, weights=pairs, minlength=n_leads).astype(np.int64)
    return counts


def _columns(op: np.ufunc, g: NDArray[np.float64]) -> NDArray[np.float64]:
    """``op`` (np.maximum / np.minimum) folded over the last axis of a few columns: the
    same values as ``g.max(axis=-1)`` / ``g.min(axis=-1)`` (exact, order-free), without
    the per-lane set-up of a reduction over many short lanes (3 vs 9 us on (12, 20, 5))."""
    out: NDArray[np.float64] = (
        op(g[..., 0], g[..., 1]) if g.shape[-1] > 1 else g[..., 0].copy()
    )
    for i in range(2, g.shape[-1]):
        op(out, g[..., i], out=out)
    return out


def _group(a: NDArray[np.float64], k: int) -> NDArray[np.float64]:
    """View of per-window values (leads, w) as (leads, w // k, k) (k >= 1, tail dropped)."""
    k = max(1, min(k, a.shape[1]))
    n = a.shape[1] // k
    return a[:, : n * k].reshape(a.shape[0], n, k)


def lead_quality_features(
    x: NDArray[np.float64], fs: float, config: QualityConfig | None = None
) -> NDArray[np.float64]:
    """Quality features of every lead.

    Three passes over the samples give the max, min and mean of 0.1 s windows; every
    window statistic below is derived from those (0.2 s = 2, 0.5 s = 5, 1 s = 10, 2 s = 20
    windows). Two more passes give the plateau count and the HF noise.

    Parameters
    ----------
    x : ndarray, shape (leads, samples)
        Raw ECG in mV, validated.
    fs : float
        Sampling frequency, Hz.
    config : QualityConfig, optional
        Flat/dead thresholds and the powerline frequency whose harmonics are not
        counted as HF noise.

    Returns
    -------
    ndarray, shape (leads, len(FEATURE_NAMES))
        Columns in the order of ``FEATURE_NAMES``: flat-window fraction, longest
        zero-variation run (s), largest jump of 0.2 s window means (mV), plateau samples
        at max/min, typical QRS amplitude (median over 2 s windows of the largest 0.2 s
        peak-to-peak, mV), HF-noise
        ratio, wander (peak-to-peak of 1 s-window means, mV), burst ratio.
    """
    cfg = config or _DEFAULT_QUALITY
    feats = np.empty((x.shape[0], len(FEATURE_NAMES)))
    w = max(1, round(0.1 * fs))
    tenth = _windows(x, w)
    # window statistics reduced along the middle axis of a (leads, w, windows) copy: numpy
    # reduces short contiguous lanes one lane at a time, a middle axis in long vector runs
    across = np.ascontiguousarray(tenth.transpose(0, 2, 1))
    wmax, wmin = across.max(axis=1), across.min(axis=1)
    wmean = across.sum(axis=1)
    wmean /= tenth.shape[2]
    win_s = tenth.shape[2] / fs
    half_ptp = _columns(np.maximum, _group(wmax, 5)) - _columns(np.minimum, _group(wmin, 5))
    feats[:, F_FLAT] = mean(half_ptp < cfg.flat_ptp_mv, 1)
    dead = (wmax - wmin) < cfg.dead_ptp_mv
    feats[:, F_DEAD_RUN_S] = _longest_true_run(dead) * win_s
    fifth = mean(_group(wmean, 2), 2)
    feats[:, F_STEP_MV] = (
        np.abs(fifth[:, 1:] - fifth[:, :-1]).max(axis=1) if fifth.shape[1] > 1 else 0.0
    )
    feats[:, F_CLIP] = _plateau_samples(tenth, wmax, wmin)
    # QRS amplitude of each 2 s window: the largest peak-to-peak over 0.2 s (two adjacent
    # 0.1 s windows), so that wander does not inflate it
    if wmax.shape[1] > 1:
        pair_ptp = np.maximum(wmax[:, 1:], wmax[:, :-1]) - np.minimum(
            wmin[:, 1:], wmin[:, :-1]
        )
    else:
        pair_ptp = wmax - wmin
    two_ptp = np.sort(_group(pair_ptp, 20).max(axis=2), axis=1)
    amp = np.asarray(median(two_ptp, axis=1))
    feats[:, F_AMP_MV] = amp
    k = two_ptp.shape[1] - 1
    feats[:, F_BURST] = two_ptp[:, int(np.ceil(0.9 * k))] / np.maximum(
        two_ptp[:, int(0.1 * k)], 1e-3
    )
    feats[:, F_HF] = _hf_level(x, fs, cfg.mains_hz) / np.maximum(amp, 1e-3)
    one = mean(_group(wmean, 10), 2)
    feats[:, F_WANDER_MV] = one.max(axis=1) - one.min(axis=1)
    return feats


def _hf_level(x: NDArray[np.float64], fs: float, mains_hz: float) -> NDArray[np.float64]:
    """HF (EMG) noise level per lead, mV: lower quartile of 0.2 s-window mean |comb(d2)|.

    The second difference is taken at a fixed physical step (the response of a 250 Hz
    record at any fs); the comb ``y[n] - y[n - fs/mains]`` cancels DC and every mains
    harmonic. The lower quartile over 0.2 s windows ignores the windows holding a QRS
    complex (up to 75 % of them, i.e. rates up to ~200 bpm).
    """
    step = max(1, round(fs / _HF_REF_HZ))
    lag = max(1, round(fs / mains_hz))
    # in place: arrays of a 12-lead record exceed malloc's mmap threshold, and every
    # fresh temporary costs page faults
    d2 = np.subtract(x[:, 2 * step :], x[:, step:-step])
    np.subtract(d2, x[:, step:-step], out=d2)
    np.add(d2, x[:, : -2 * step], out=d2)
    w = max(1, round(0.2 * fs))
    m = max(1, (d2.shape[1] - lag) // w) * w
    m = min(m, d2.shape[1] - lag)
    comb = np.subtract(d2[:, lag : lag + m], d2[:, :m])
    np.abs(comb, out=comb)
    level = mean(_windows(comb, w), 2)
    q = max(0, round(0.25 * (level.shape[1] - 1)))
    out: NDArray[np.float64] = np.partition(level, q, axis=1)[:, q]
    return out


def _judge(
    row: Sequence[float], n_samples: int, cfg: QualityConfig
) -> tuple[tuple[QualityProblem, ...], bool]:
    """Problems of one lead from its feature row, and whether the lead is usable."""
    if row[F_FLAT] >= cfg.flat_fraction:
        return (QualityProblem.FLAT,), False
    problems: list[QualityProblem] = []
    ok = True
    amp = max(row[F_AMP_MV], 1e-3)
    if row[F_DEAD_RUN_S] >= cfg.dead_run_s or row[F_STEP_MV] / amp > cfg.step_rel:
        problems.append(QualityProblem.LEAD_OFF)
        ok = False
    if row[F_CLIP] >= cfg.clip_min_samples:
        problems.append(QualityProblem.CLIPPING)
        ok &= row[F_CLIP] < cfg.clip_reject_fraction * n_samples
    if not cfg.amplitude_min_mv <= row[F_AMP_MV] <= cfg.amplitude_max_mv:
        problems.append(QualityProblem.AMPLITUDE)
        ok = False
    if row[F_HF] > cfg.hf_warn or row[F_BURST] > cfg.burst_warn:
        problems.append(QualityProblem.HF_NOISE)
        ok &= row[F_HF] <= cfg.hf_reject and row[F_BURST] <= cfg.burst_reject
    if row[F_WANDER_MV] / amp > cfg.wander_warn_rel:
        problems.append(QualityProblem.BASELINE_WANDER)
        ok &= row[F_WANDER_MV] / amp <= cfg.wander_reject_rel
    return tuple(problems), bool(ok)


def assess_quality(
    signal: ArrayLike,
    fs: float,
    leads: Sequence[str],
    config: QualityConfig | None = None,
) -> QualityReport:
    """Check every lead of a raw record for problems the cart operator can fix.

    Parameters
    ----------
    signal : array_like, shape (leads, samples)
        Raw (unfiltered) ECG in mV.
    fs : float
        Sampling frequency, Hz (100-1000).
    leads : sequence of str
        Lead names, one per row; used in the messages ("V3: electrode off - ...").
    config : QualityConfig, optional
        Thresholds; defaults as documented in the module.

    Returns
    -------
    QualityReport
        One ``LeadQuality`` per lead with its problems, English messages and ``ok``;
        ``acceptable`` is False when no lead is usable (the record is unreadable).

    References
    ----------
    Clifford GD, et al. CinC 2017;44. doi:10.22489/CinC.2017.065
    """
    return assess_quality_checked(check_signal(signal, fs, leads), fs, leads, config)


def assess_quality_checked(
    x: NDArray[np.float64],
    fs: float,
    leads: Sequence[str],
    config: QualityConfig | None = None,
) -> QualityReport:
    """:func:`assess_quality` of a signal ``check_signal`` already returned."""
    cfg = config or _DEFAULT_QUALITY
    feats = lead_quality_features(x, fs, cfg)
    out = []
    for name, row in zip(leads, feats.tolist(), strict=True):  # plain floats: faster
        problems, ok = _judge(row, x.shape[1], cfg)
        messages = tuple(f"{name}: {MESSAGES_EN[p]}" for p in problems)
        out.append(LeadQuality(lead=name, ok=ok, problems=problems, messages=messages))
    return QualityReport(leads=tuple(out))


def messages_zh(report: QualityReport) -> tuple[str, ...]:
    """Chinese operator messages of a report, in the order of its English messages."""
    return tuple(f"{q.lead}: {MESSAGES_ZH[p]}" for q in report.leads for p in q.problems)


# --- beat-level quality (second stage, after R-peak detection and beat classification) ---

BEAT_FEATURE_NAMES: tuple[str, ...] = (
    "template_corr",
    "bad_beat_fraction",
    "bsqi",
    "kurtosis",
)
(B_TCORR, B_BAD_BEATS, B_BSQI, B_KURT) = range(len(BEAT_FEATURE_NAMES))
_BAD_BEAT_CORR = 0.5  # a beat correlating less than this with its lead's average is bad
_BEAT_HZ = 125.0  # beat features work on the signal decimated to about this rate
_BSQI_TOL_S = 0.15  # Li 2008: two detections agree within 150 ms
_SHORT_RR_S = 0.3  # RR shorter than this (> 200 bpm) counts as a short RR


@dataclass(frozen=True, slots=True)
class BeatQualityConfig:
    """Thresholds of the beat-level quality stage: seven votes, a lead is unusable at
    ``votes_reject`` of them.

    Per lead: mean template-matching correlation below ``tcorr_min`` (Orphanidou 2015;
    full beat, one median RR around R), share of beats correlating < 0.5 with the
    average beat above ``bad_beats_max``, bSQI below ``bsqi_min`` (Li 2008; a second,
    slope-peak detector vs the R peaks, 150 ms), kurtosis below ``kurtosis_min`` (kSQI;
    Li 2008: > 5 for a clean ECG). Per record: median QRS correlation of the beat
    classifier (``Beats.template_corr``) below ``qrs_corr_min``, shortest RR below
    ``rr_min_s`` and share of RR < 0.3 s above ``short_rr_max`` (a rate no heart
    reaches: spurious detections on noise). No single vote rejects, so AF (irregular
    RR, varying T/f waves) and ectopy (beats unlike the template) do not on their own;
    Orphanidou's 40-180 bpm / max RR < 3 s / RR ratio < 2.2 rules are not used because
    they reject AF and pauses, which are findings. Every lead is unusable when more
    than ``unknown_max`` of the beats are UNKNOWN (noisy) for the beat classifier.
    Values were chosen on the even-numbered CinC 2017 records (at most ~1 % more normal
    or AF records unreadable), with at most 1 % of the LUDB, PTB-XL and MIT-BIH 30 s
    records unreadable (``bench/quality.py``).
    """

    tcorr_min: float = 0.5
    bad_beats_max: float = 0.2
    bsqi_min: float = 0.75
    kurtosis_min: float = 4.0
    qrs_corr_min: float = 0.9
    rr_min_s: float = 0.2
    short_rr_max: float = 0.05
    votes_reject: int = 4
    unknown_max: float = 0.5

    def __post_init__(self) -> None:
        if not 1 <= self.votes_reject <= 7:
            raise InvalidSignalError(
                "votes_reject out of range", expected="1..7", got=f"{self.votes_reject}"
            )
        if not 0.0 <= self.unknown_max <= 1.0:
            raise InvalidSignalError(
                "unknown_max out of range", expected="0..1", got=f"{self.unknown_max}"
            )


_DEFAULT_BEAT_QUALITY = BeatQualityConfig()


def beat_quality_features(
    signal: ArrayLike, fs: float, rpeaks: ArrayLike
) -> NDArray[np.float64]:
    """Beat-level quality indices of every lead.

    Parameters
    ----------
    signal : array_like, shape (leads, samples)
        Preprocessed ECG in mV (the signal the beats were classified on).
    fs : float
        Sampling frequency, Hz.
    rpeaks : array_like of int
        Increasing R-peak sample indices (fused over the leads).

    Returns
    -------
    ndarray, shape (leads, len(BEAT_FEATURE_NAMES))
        Per lead, on the signal decimated to ~125 Hz: mean correlation of each beat
        (R - 0.4 RR .. R + 0.6 RR, RR the median) with the lead's average beat
        (Orphanidou 2015), share of beats correlating < 0.5 with it, bSQI (R peaks a
        second detector agrees with within 150 ms, over the union of both detections:
        Li 2008; the second detector takes the steepest slope of each 0.25 s block that
        beats both neighbouring blocks and 0.3x the lead's typical steepest slope) and
        the kurtosis (kSQI, Pearson definition). Template and bSQI indices are 0 with
        fewer than two (three blocks of) beats.
    """
    x = np.asarray(signal, dtype=np.float64)
    r = np.asarray(rpeaks, dtype=np.int64).reshape(-1)
    step = max(1, round(fs / _BEAT_HZ))
    z = np.ascontiguousarray(x[:, ::step])
    fz = fs / step
    n_leads, n = z.shape
    out = np.zeros((n_leads, len(BEAT_FEATURE_NAMES)))
    # kSQI: kurtosis of the whole lead
    c = z - mean(z, 1, keepdims=True)
    c *= c
    var = mean(c, 1)
    out[:, B_KURT] = np.einsum("ln,ln->l", c, c) / n / np.maximum(var * var, 1e-18)
    rz = r // step
    if rz.size > 1 and bool((rz[1:] <= rz[:-1]).any()):  # R peaks normally increase
        rz = np.unique(rz)
    if rz.size < 2:
        return out
    # template matching on a window of one median RR around each R
    rr = float(median(rz[1:] - rz[:-1]))
    pre, post = max(1, round(0.4 * rr)), max(2, round(0.6 * rr))
    inside = rz[(rz - pre >= 0) & (rz + post < n)]
    if inside.size >= 2:
        seg = z.take(inside[:, None] + np.arange(-pre, post), axis=1)  # (l, b, w)
        seg -= mean(seg, 2, keepdims=True)
        tmpl = mean(seg, 1)
        num = np.matmul(seg, tmpl[:, :, None])[:, :, 0]
        den = np.sqrt(
            np.einsum("lbw,lbw->lb", seg, seg) * np.einsum("lw,lw->l", tmpl, tmpl)[:, None]
        )
        corr = num / np.maximum(den, 1e-12)
        out[:, B_TCORR] = mean(corr, 1)
        out[:, B_BAD_BEATS] = mean(corr < _BAD_BEAT_CORR, 1)
    # bSQI: a second detector against the R peaks, agreement within 150 ms. The second
    # detector: the largest absolute slope of each 0.25 s block, kept when above 0.3x
    # the lead's typical (median over 2 s) largest slope and larger than both
    # neighbouring blocks' (so at most one detection per 0.5 s: a refractory period).
    slope = np.abs(z[:, 2:] - z[:, :-2])
    blk = max(2, round(0.25 * fz))
    n_blk = slope.shape[1] // blk
    if n_blk >= 3:
        blocks = slope[:, : n_blk * blk].reshape(n_leads, n_blk, blk)
        pos = blocks.argmax(axis=2)
        val = blocks.reshape(-1, blk)[np.arange(pos.size), pos.ravel()].reshape(pos.shape)
        per2 = max(1, n_blk // 8)
        typical = np.asarray(median(val[:, : per2 * 8].reshape(n_leads, -1, 8).max(axis=2)))
        keep = val > 0.3 * typical[:, None]
        keep[:, 1:] &= val[:, 1:] >= val[:, :-1]
        keep[:, :-1] &= val[:, :-1] > val[:, 1:]
        at = pos + 1 + blk * np.arange(n_blk)  # slope[i] is centred on z[i + 1]
        tol = max(1, round(_BSQI_TOL_S * fz))
        hit = keep[:, :, None] & (np.abs(at[:, :, None] - rz[None, None, :]) <= tol)
        matched = hit.any(axis=1).sum(axis=1)
        union = rz.size + keep.sum(axis=1) - matched
        out[:, B_BSQI] = matched / np.maximum(union, 1)
    return out


def assess_beat_quality(
    signal: ArrayLike,
    fs: float,
    leads: Sequence[str],
    rpeaks: ArrayLike,
    beats: Beats,
    report: QualityReport,
    config: BeatQualityConfig | None = None,
) -> QualityReport:
    """Second, beat-level quality stage: downgrade leads whose beats cannot be read.

    Run after R-peak detection and beat classification. A usable lead of ``report``
    becomes unusable (problem ``BEAT_NOISE``) when its template-matching correlation,
    detector agreement (bSQI) or kurtosis (kSQI) is too low; every lead does when the
    beat classifier labels too many beats UNKNOWN, or when too few beats or an
    implausible rate were found (see ``BeatQualityConfig``). Leads already unusable are
    left as they were.

    Parameters
    ----------
    signal : array_like, shape (leads, samples)
        Preprocessed ECG in mV (the signal the beats were classified on).
    fs : float
        Sampling frequency, Hz.
    leads : sequence of str
        Lead names, one per row.
    rpeaks : array_like of int
        R-peak sample indices.
    beats : Beats
        Output of ``classify_beats`` on the same R peaks.
    report : QualityReport
        The raw-signal quality report (``assess_quality``).
    config : BeatQualityConfig, optional
        Thresholds.

    Returns
    -------
    QualityReport
        ``report`` with the downgraded leads (``ok`` False, ``BEAT_NOISE`` appended with
        its message); the same object when nothing changed.

    References
    ----------
    Li Q, Mark RG, Clifford GD. Physiol Meas 2008;29:15-32. doi:10.1088/0967-3334/29/1/002
    Orphanidou C, et al. Signal-quality indices for the electrocardiogram and
    photoplethysmogram: derivation and applications to wireless monitoring. IEEE J Biomed
    Health Inform 2015;19:832-838. doi:10.1109/JBHI.2014.2338351
    """
    cfg = config or _DEFAULT_BEAT_QUALITY
    x = np.asarray(signal, dtype=np.float64)
    usable = report.usable
    if x.shape[0] != len(report.leads) or len(leads) != len(report.leads):
        raise InvalidSignalError(
            "signal, lead names and quality report disagree",
            expected=f"{len(report.leads)} leads",
            got=f"signal {x.shape[0]}, names {len(leads)}",
        )
    if not usable.any():
        return report
    r = np.asarray(rpeaks, dtype=np.int64).reshape(-1)
    if r.size < 2 or len(beats.labels) != r.size:
        return report  # nothing to judge beats on (asystole is a finding, not noise)
    unknown = sum(lab is BeatClass.UNKNOWN for lab in beats.labels) / r.size
    bad = np.zeros(usable.size, dtype=bool)
    if unknown > cfg.unknown_max:
        bad[usable] = True
    else:
        idx = usable.nonzero()[0]
        feats = beat_quality_features(x if idx.size == x.shape[0] else x[idx], fs, r)
        rr_s = (r[1:] - r[:-1]) / fs
        record_votes = (
            int(float(median(beats.template_corr)) < cfg.qrs_corr_min)
            + int(float(rr_s.min()) < cfg.rr_min_s)
            + int(float((rr_s < _SHORT_RR_S).mean()) > cfg.short_rr_max)
        )
        votes = (
            record_votes
            + (feats[:, B_TCORR] < cfg.tcorr_min)
            + (feats[:, B_BAD_BEATS] > cfg.bad_beats_max)
            + (feats[:, B_BSQI] < cfg.bsqi_min)
            + (feats[:, B_KURT] < cfg.kurtosis_min)
        )
        bad[idx] = votes >= cfg.votes_reject
    if not bad.any():
        return report
    out = []
    for name, q, down in zip(leads, report.leads, bad.tolist(), strict=True):
        if not down:
            out.append(q)
            continue
        problem = QualityProblem.BEAT_NOISE
        out.append(
            LeadQuality(
                lead=q.lead,
                ok=False,
                problems=(*q.problems, problem),
                messages=(*q.messages, f"{name}: {MESSAGES_EN[problem]}"),
            )
        )
    return QualityReport(leads=tuple(out))
