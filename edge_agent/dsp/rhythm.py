"""Rhythm features and rhythm findings from R peaks (any number of leads).

``assess_rhythm`` turns R-peak positions (and optional beat labels) into
``RhythmFeatures``; ``rhythm_findings`` applies the rules below and returns triage
``Finding`` s (code, English and Chinese label, priority, ``source="rules:<rule-id>"``).

RR irregularity is the *normalised median absolute successive RR difference*

    irregularity = median(|RR[i+1] - RR[i]|) / median(RR)

a robust form of the normalised RMSSD of Dash et al. (2009): the median ignores the two
large successive differences around an isolated ectopic beat or a missed/extra detection,
while AF makes nearly every successive difference large (Tateno & Glass 2001: the
successive-difference distribution of AF is wide at every rate). When beat labels are
given, RR intervals touching a ventricular (or unknown/noisy) beat are left out; beats
labelled supraventricular are kept, because the beat classifier calls a beat
supraventricular from its prematurity, which is circular in AF (about 12 % of the beats of
CinC 2017 AF records are so labelled, and leaving their intervals out lowered the AF
sensitivity on the even records from 0.91 to 0.85 at 95 % specificity). If fewer than
``AF_MIN_RR`` intervals remain, all are used.

With the filtered signal (``analyze`` passes it), ``assess_atrial`` looks at the atria on
up to three leads (II, V1, aVF when named), block-averaged to about 125 Hz:

* P-wave correlation: how alike the windows 300-60 ms before each dominant QRS are
  (1: the same P wave before every beat). AF is then a logistic score of ln(irregularity)
  and the P-wave correlation (``AF_SCORE_COEF``, fitted on the even CinC 2017 records,
  thresholds ``AF_SCORE_THRESHOLD`` / ``..._SHORT`` for specificity 0.95 against normal on
  the even records, whole / first 10 s), with at least ``AF_SCORE_MIN_IRREGULARITY``.
  Sinus arrhythmia keeps its P waves and is no longer AF. Odd records, never tuned on:
  see ``bench/results/rhythm.json`` (whole records: RR only Se 0.90 / Sp 0.95 vs normal;
  with the P wave about 0.91 / 0.96-0.97, and 0.79 -> 0.81 against other rhythms).
* QRST cancellation: the median beat is subtracted at every dominant beat; the
  residual's spectrum shows flutter waves (``AFL``), its energy envelope P waves that
  march through at their own rate (third-degree AV block, ``AVB3``).

Without the signal, AF is from RR irregularity alone, with two thresholds chosen the same
way: ``AF_IRREGULARITY`` for records with at least ``AF_SHORT_MAX_RR`` RR intervals and
``AF_IRREGULARITY_SHORT`` for shorter ones. Frequent unlabelled ectopy still looks
irregular, and AF with visible organised atrial activity (coarse AF) can keep a P-like
correlation.

References
----------
Dash S, Chon KH, Lu S, Raeder EA. Automatic real time detection of atrial fibrillation.
Ann Biomed Eng 2009;37:1701-9. doi:10.1007/s10439-009-9740-z
Tateno K, Glass L. Automatic detection of atrial fibrillation using the coefficient of
variation and density histograms of RR and deltaRR intervals. Med Biol Eng Comput
2001;39:664-71. doi:10.1007/BF02345439
Kligfield P, et al. Recommendations for the standardization and interpretation of the
electrocardiogram, part I. Circulation 2007;115:1306-24.
doi:10.1161/CIRCULATIONAHA.106.180200
Mason JW, Hancock EW, Gettes LS. AHA/ACCF/HRS recommendations for the standardization and
interpretation of the electrocardiogram, part II: electrocardiography diagnostic statement
list. Circulation 2007;115:1325-32. doi:10.1161/CIRCULATIONAHA.106.180201
Slocum J, Sahakian A, Swiryn S. Diagnosis of atrial fibrillation from surface
electrocardiograms based on computer-detected atrial activity. J Electrocardiol
1992;25:1-8.
Stridh M, Soernmo L. Spatiotemporal QRST cancellation techniques for analysis of atrial
fibrillation. IEEE Trans Biomed Eng 2001;48:105-11.
Ladavich S, Ghoraani B. Rate-independent detection of atrial fibrillation by statistical
modeling of atrial activity. Biomed Signal Process Control 2015;18:274-81.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray
from scipy.ndimage import maximum_filter1d, uniform_filter1d

from edge_agent.dsp._reduce import median
from edge_agent.dsp.results import BeatClass, RhythmFeatures
from edge_agent.errors import InvalidSignalError
from edge_agent.types import Finding, Priority
from edge_agent.vocabulary import Code, make_finding

__all__ = [
    "AF_IRREGULARITY",
    "AF_IRREGULARITY_SHORT",
    "AF_SHORT_MAX_RR",
    "AF_MIN_RR",
    "AF_SCORE_COEF",
    "AF_SCORE_THRESHOLD",
    "AF_SCORE_THRESHOLD_SHORT",
    "AF_SCORE_MIN_IRREGULARITY",
    "AFL_CONCENTRATION",
    "AtrialActivity",
    "assess_atrial",
    "RHYTHM_VERSION",
    "RhythmConfig",
    "assess_rhythm",
    "rhythm_findings",
]

RHYTHM_VERSION = "rhythm-2026.11.2"  # provenance: bump when outputs change

AF_IRREGULARITY = 0.056
AF_IRREGULARITY_SHORT = 0.078
AF_SHORT_MAX_RR = 20
AF_MIN_RR = 6
# AF with the signal: logistic score of ln(irregularity) and the P-wave correlation,
# fitted on the even CinC 2017 records (AF vs normal); thresholds for specificity 0.95
# against normal on the even records (whole records / their first 10 s).
AF_SCORE_COEF = (8.855, 2.318, -4.143)  # intercept, ln(irregularity), p_wave_corr
AF_SCORE_THRESHOLD = -0.666
AF_SCORE_THRESHOLD_SHORT = 1.043
# ... and at least this irregularity: a regular rhythm without P waves (junctional, AV
# block) is not AF; costs 0.4 % of the even AF records.
AF_SCORE_MIN_IRREGULARITY = 0.04
# Atrial flutter: flutter-band peak concentration of the QRST-cancelled residual; the
# largest value among the even-id PTB-XL normal ECGs was 0.285.
AFL_CONCENTRATION = 0.29
# Third-degree AV block: slow regular ventricular rhythm, no fixed P before the QRS,
# regular atrial activity faster than the ventricles, PR varying.
AVB3_MAX_RATE_BPM = 60.0
AVB3_MAX_RR_CV = 0.08
AVB3_MAX_P_CORR = 0.5
AVB3_MIN_ATRIAL_REGULARITY = 0.22
AVB3_MIN_RATE_RATIO = 1.2
AVB3_HARMONIC_TOL = 0.05
AVB3_MIN_PR_SD_MS = 60.0
PAUSE_WARN_S = 2.0
PAUSE_CRITICAL_S = 3.0
BRADY_WARN_BPM = 50.0
BRADY_CRITICAL_BPM = 40.0
TACHY_WARN_BPM = 100.0
TACHY_CRITICAL_BPM = 180.0
PVC_FREQUENT_PER_10S = 3.0
PVC_FREQUENT_FRACTION = 0.10

_EXCLUDED = (BeatClass.VENTRICULAR, BeatClass.UNKNOWN)


@dataclass(frozen=True, slots=True)
class RhythmConfig:
    """Thresholds of the rhythm features and rules (defaults: module constants)."""

    af_irregularity: float = AF_IRREGULARITY
    af_irregularity_short: float = AF_IRREGULARITY_SHORT
    af_short_max_rr: int = AF_SHORT_MAX_RR
    af_min_rr: int = AF_MIN_RR
    af_score_threshold: float = AF_SCORE_THRESHOLD
    af_score_threshold_short: float = AF_SCORE_THRESHOLD_SHORT
    afl_concentration: float = AFL_CONCENTRATION
    pause_warn_s: float = PAUSE_WARN_S
    pause_critical_s: float = PAUSE_CRITICAL_S
    brady_warn_bpm: float = BRADY_WARN_BPM
    brady_critical_bpm: float = BRADY_CRITICAL_BPM
    tachy_warn_bpm: float = TACHY_WARN_BPM
    tachy_critical_bpm: float = TACHY_CRITICAL_BPM
    pvc_frequent_per_10s: float = PVC_FREQUENT_PER_10S
    pvc_frequent_fraction: float = PVC_FREQUENT_FRACTION

    def __post_init__(self) -> None:
        rates = (
            self.brady_critical_bpm,
            self.brady_warn_bpm,
            self.tachy_warn_bpm,
            self.tachy_critical_bpm,
        )
        if not 0 < rates[0] <= rates[1] < rates[2] <= rates[3]:
            raise InvalidSignalError(
                "rate thresholds out of order",
                expected="0 < brady critical <= brady warn < tachy warn <= tachy critical",
                got=", ".join(f"{v:g}" for v in rates),
            )
        if not 0 < self.pause_warn_s <= self.pause_critical_s:
            raise InvalidSignalError(
                "pause thresholds out of order", expected="0 < warn <= critical"
            )
        if self.af_min_rr < 3 or min(self.af_irregularity, self.af_irregularity_short) <= 0:
            raise InvalidSignalError(
                "AF settings out of range",
                expected="af_min_rr >= 3, af_irregularity > 0",
                got=f"{self.af_min_rr}, {self.af_irregularity}",
            )


_DEFAULT = RhythmConfig()


def _normal_rr_mask(
    n_rr: int, labels: Sequence[BeatClass] | None, exclude: tuple[BeatClass, ...]
) -> NDArray[np.bool_]:
    """True for RR intervals whose two beats are both not in ``exclude``."""
    if labels is None:
        return np.ones(n_rr, dtype=bool)
    ectopic = np.array([lab in exclude for lab in labels], dtype=bool)
    keep: NDArray[np.bool_] = ~(ectopic[1:] | ectopic[:-1])
    return keep


def _successive_differences(
    rr: NDArray[np.float64], keep: NDArray[np.bool_]
) -> NDArray[np.float64]:
    """|RR[i+1] - RR[i]| for consecutive pairs of kept intervals."""
    pair = keep[1:] & keep[:-1]
    out: NDArray[np.float64] = np.abs(rr[1:] - rr[:-1])[pair]
    return out


def _irregularity(
    rr: NDArray[np.float64], keep: NDArray[np.bool_], min_rr: int
) -> float | None:
    """Normalised median absolute successive RR difference (module docstring)."""
    diffs = _successive_differences(rr, keep)
    if diffs.size < min_rr - 1:
        return None
    return float(median(diffs) / median(rr[keep]))


def _sd_ms(x: NDArray[np.float64]) -> float | None:
    """Sample SD (ddof 1) in ms of intervals in s; ``np.std``'s wrapper costs more than
    the arithmetic on a dozen values."""
    if x.size < 2:
        return None
    d = x - x.sum() / x.size
    return float(np.sqrt((d @ d) / (x.size - 1)) * 1e3)


def _gaps_s(rpeaks: NDArray[np.int64], fs: float, n_samples: int) -> NDArray[np.float64]:
    """Intervals without a beat, including the record edges, in seconds."""
    edges = np.concatenate([[0], rpeaks, [n_samples - 1]]).astype(np.float64)
    out: NDArray[np.float64] = (edges[1:] - edges[:-1]) / fs
    return out


def _af_threshold(n_rr: int, cfg: RhythmConfig) -> float:
    """AF irregularity threshold for a record with ``n_rr`` RR intervals."""
    return cfg.af_irregularity_short if n_rr < cfg.af_short_max_rr else cfg.af_irregularity


# --- atrial activity (P waves, flutter waves, AV dissociation) ---------------------------

ATRIAL_FS_HZ = 125.0  # the atrial analysis runs on block means down to about this rate
ATRIAL_LEADS = ("II", "V1", "aVF", "III")  # preference order; the first three usable
_MAX_ATRIAL_LEADS = 3
_P_WINDOW_S = (0.30, 0.06)  # P-wave search window before R: [R - 300 ms, R - 60 ms]
_TEMPLATE_S = (0.30, 1.00)  # QRST template around R: 300 ms before, up to 1 s after
_QRS_BLANK_S = (0.06, 0.10)  # residual zeroed around R (alignment jitter at 125 Hz)
_FLUTTER_BAND_HZ = (3.8, 6.0)  # 230-360 /min atrial rate
_AVB_ATRIAL_LAG_S = (0.33, 1.5)  # 40-180 /min atrial rate


@dataclass(frozen=True, slots=True)
class AtrialActivity:
    """Atrial features from the signal (None where the record does not allow them).

    ``p_wave_corr``: median correlation of each dominant beat's pre-QRS window with the
    median of those windows (1: the same P wave before every QRS; about 0: none).
    ``flutter_hz``/``flutter_concentration``/``flutter_rms_mv``: the largest peak of the
    QRST-cancelled residual's spectrum in the flutter band, the fraction of the 1-15 Hz
    power within +/-0.3 Hz of it and of its second harmonic, and its RMS (best lead).
    ``atrial_rate_bpm``, ``atrial_regularity``: period and height of the largest
    autocorrelation peak of the residual's energy envelope at 40-180 /min; ``pr_sd_ms``:
    SD of the interval from the last atrial peak to each QRS. These three are computed
    only when complete AV block is possible (slow rate, no consistent P wave).
    """

    p_wave_corr: float | None = None
    flutter_hz: float | None = None
    flutter_concentration: float | None = None
    flutter_rms_mv: float | None = None
    atrial_rate_bpm: float | None = None
    atrial_regularity: float | None = None
    pr_sd_ms: float | None = None


def _atrial_rows(
    n_leads: int, usable: NDArray[np.bool_] | None, leads: Sequence[str] | None
) -> NDArray[np.intp]:
    """Leads for the atrial analysis: the first three usable of II, V1, aVF, III when
    the leads are named, else the first three usable leads."""
    ok = np.ones(n_leads, dtype=bool) if usable is None else np.asarray(usable, bool)
    if leads is not None and len(leads) == n_leads:
        named = [leads.index(name) for name in ATRIAL_LEADS if name in leads]
        rows = [i for i in named if ok[i]][:_MAX_ATRIAL_LEADS]
        if rows:
            return np.asarray(rows, dtype=np.intp)
    return ok.nonzero()[0][:_MAX_ATRIAL_LEADS]


@lru_cache(maxsize=16)
def _hann(n: int) -> NDArray[np.float64]:
    out: NDArray[np.float64] = np.hanning(n)
    out.flags.writeable = False
    return out


def _decimate(
    signal: NDArray[np.float64], rows: NDArray[np.intp], fs: float
) -> tuple[NDArray[np.float64], int]:
    """Block means of ``signal[rows]`` down to about ``ATRIAL_FS_HZ``; (z, factor).

    A sum of ``k`` strided slices: numpy reduces a short last axis slowly.
    """
    k = max(1, int(fs // ATRIAL_FS_HZ))
    stop = (signal.shape[1] // k) * k
    sub = signal.take(rows, axis=0)
    z: NDArray[np.float64] = sub[:, 0:stop:k].copy()
    for i in range(1, k):
        z += sub[:, i:stop:k]
    if k > 1:
        z *= 1.0 / k
    return z, k


@lru_cache(maxsize=16)
def _detrend_matrix(width: int) -> NDArray[np.float64]:
    """``I - Q Q^T`` for Q an orthonormal basis of (1, t): removes offset and slope."""
    t = np.linspace(-1.0, 1.0, width)
    q = np.stack([np.full(width, width**-0.5), t / np.sqrt(t @ t)], axis=1)
    out: NDArray[np.float64] = np.eye(width) - q @ q.T
    out.flags.writeable = False
    return out


def _beat_median(seg: NDArray[np.float64]) -> NDArray[np.float64]:
    """Median along the last axis (beats) of (leads, window, beats), by one sort."""
    srt = np.sort(seg, axis=-1)
    m = srt.shape[-1]
    if m % 2:
        return srt[..., m // 2]
    out: NDArray[np.float64] = 0.5 * (srt[..., m // 2 - 1] + srt[..., m // 2])
    return out


def _p_wave_corr(
    seg: NDArray[np.float64], tmpl: NDArray[np.float64], fd: float, pre: int
) -> float | None:
    """Median correlation of each beat's detrended pre-QRS window with the detrended
    median beat's (``seg`` (leads, window, beats) of dominant beats, R at ``pre``)."""
    hi = pre - int(round(_P_WINDOW_S[1] * fd))
    lo = pre - int(round(_P_WINDOW_S[0] * fd))
    width = hi + 1 - lo
    if seg.shape[2] < 4 or width < 4:
        return None
    d = _detrend_matrix(width)
    ps = d @ seg[:, lo : hi + 1]
    tm = tmpl[:, lo : hi + 1] @ d
    num = np.einsum("lkb,lk->b", ps, tm)
    den = np.einsum("lkb,lkb->b", ps, ps) * float(np.einsum("lk,lk->", tm, tm))
    return float(median(num / np.sqrt(np.maximum(den, 1e-24))))


def _cancel_qrst(
    z: NDArray[np.float64],
    rd: NDArray[np.int64],
    dominant: NDArray[np.bool_],
    tmpl: NDArray[np.float64],
    pre: int,
) -> NDArray[np.float64]:
    """Residual after subtracting the median beat ``tmpl`` at every dominant beat.

    ``tmpl`` is (leads, window + 1), its last column zero. Each beat owns the samples
    from its start (``pre`` before R, or 40 % of the RR when that is shorter) to the
    next beat's start, so the owned stretches tile the record from the first beat's
    start to the last beat's end; past the template's end nothing is subtracted.
    Ectopic beats' samples are zeroed.
    """
    n = z.shape[1]
    width = tmpl.shape[1] - 1
    start = np.empty(rd.size, dtype=np.int64)
    start[0] = max(0, int(rd[0]) - pre)
    start[1:] = rd[1:] - np.minimum(pre, (0.4 * (rd[1:] - rd[:-1])).astype(np.int64))
    stop = np.empty_like(start)
    stop[:-1] = start[1:]
    stop[-1] = min(n, int(rd[-1]) + width - pre)
    lengths = stop - start
    col = np.arange(int(start[0]), int(stop[-1])) - np.repeat(rd - pre, lengths)
    np.minimum(col, width, out=col)
    e = z.copy()
    e[:, start[0] : stop[-1]] -= tmpl.take(col, axis=1)
    if not dominant.all():
        ectopic = np.repeat(~dominant, lengths)
        e[:, start[0] : stop[-1]][:, ectopic] = 0.0
    return e


def _flutter(
    e: NDArray[np.float64], fd: float
) -> tuple[float | None, float | None, float | None]:
    """Flutter-band spectral peak of the best lead: (Hz, concentration, RMS mV).

    Concentration: power within +/-0.3 Hz of the peak and of its second harmonic over the
    1-15 Hz power (a sawtooth has a strong second harmonic). A maximum at the band edge is
    no peak (concentration 0). RMS: amplitude of the peak's component. The residual has
    no DC to speak of (the template is subtracted), and the Hann window's leakage from
    0 Hz to >= 3.8 Hz is negligible, so the mean is not removed.
    """
    n = e.shape[1]
    if n < 4 * fd:
        return None, None, None
    nfft = max(n, int(10 * fd))  # bins of 0.1 Hz or finer
    win = _hann(n)
    df = fd / nfft
    top = min(nfft // 2, int(15.0 / df) + 1)
    cplx = np.fft.rfft(e * win, nfft)[:, : top + 1]
    csum = np.cumsum(cplx.real**2 + cplx.imag**2, axis=1)
    j0, j1 = int(np.ceil(_FLUTTER_BAND_HZ[0] / df)), int(_FLUTTER_BAND_HZ[1] / df)
    band = csum[:, j0 : j1 + 1] - csum[:, j0 - 1 : j1]
    peaks = (j0 + np.argmax(band, axis=1)).tolist()
    half = max(1, int(round(0.3 / df)))
    lo_total, hi_total = int(1.0 / df) - 1, min(int(15.0 / df), top)
    best = (0.0, 0, 0.0)  # concentration, bin, peak power
    for row, j in zip(csum.tolist(), peaks, strict=True):
        if j in (j0, j1):
            continue
        peak = row[j + half] - row[j - half - 1]
        harm = row[min(2 * j + half, top)] - row[min(2 * j - half - 1, top)]
        conc = (peak + harm) / max(row[hi_total] - row[lo_total], 1e-18)
        if conc > best[0]:
            best = (conc, j, peak)
    conc, j, peak = best
    rms = float(np.sqrt(2.0 * peak / (nfft * float(win @ win))))
    return j * df, conc, rms


def _av_dissociation(
    e: NDArray[np.float64], rd: NDArray[np.int64], dominant: NDArray[np.bool_], fd: float
) -> tuple[float | None, float | None, float | None]:
    """(atrial rate /min, regularity, PR SD ms) from the residual's atrial peaks.

    ``e`` is the QRST-cancelled residual with the QRS neighbourhoods zeroed. Its energy
    envelope (0.3 s moving-average high-pass, squared, summed over leads, 50 ms smoothing)
    gives the atrial period (largest autocorrelation peak at 40-180 /min) and the atrial
    peaks (local maxima of the envelope, the largest within 0.6 periods, above a quarter
    of the typical peak); PR is from the last atrial peak before each dominant QRS.
    """
    n = e.shape[1]
    w = max(1, int(round(0.3 * fd)))
    hp = e - uniform_filter1d(e, w, axis=1, mode="nearest")
    s = uniform_filter1d((hp * hp).sum(axis=0), max(1, int(round(0.05 * fd))))
    s0 = s - s.mean()
    nfft = 1 << int(np.ceil(np.log2(2 * n)))
    sp = np.fft.rfft(s0, nfft)
    ac = np.fft.irfft(sp.real**2 + sp.imag**2, nfft)[:n]
    lo, hi = int(_AVB_ATRIAL_LAG_S[0] * fd), min(int(_AVB_ATRIAL_LAG_S[1] * fd), n // 3)
    if ac[0] <= 0 or hi <= lo + 2:
        return None, None, None
    win = ac[lo - 1 : hi + 1]
    local = np.flatnonzero((win[1:-1] >= win[:-2]) & (win[1:-1] >= win[2:]))
    if local.size == 0:
        return None, None, None
    heights = win[1:-1][local]
    # the first peak nearly as high as the largest: the period, not a multiple of it
    lag = lo + int(local[np.argmax(heights >= 0.7 * heights.max())])
    regularity = float(ac[lag] / ac[0] * n / (n - lag))  # unbiased for the overlap
    rate = 60.0 * fd / lag
    top = maximum_filter1d(s, max(3, int(1.2 * lag) | 1), mode="nearest")
    peaks = np.flatnonzero((s == top) & (s > 0.25 * float(np.quantile(s, 0.98))))
    r = rd[dominant]
    k = np.searchsorted(peaks, r - int(round(0.04 * fd))) - 1
    ok = k >= 0
    pr = (r[ok] - peaks[k[ok]]) / fd
    pr = pr[pr < 1.05 * lag / fd]
    pr_sd = float(pr.std() * 1e3) if pr.size >= 3 else None
    return rate, regularity, pr_sd


def assess_atrial(
    signal: NDArray[np.float64],
    fs: float,
    rpeaks: NDArray[np.int64],
    labels: Sequence[BeatClass] | None = None,
    usable: NDArray[np.bool_] | None = None,
    leads: Sequence[str] | None = None,
) -> AtrialActivity:
    """Atrial activity of a record: P-wave consistency, flutter waves, AV dissociation.

    Runs on up to three leads (the first usable of II, V1, aVF, III when named, else the
    first usable ones), block-averaged to about 125 Hz. The median beat (300 ms before to
    1 s after R, dominant beats) is subtracted at every dominant beat - QRST cancellation
    (Slocum et al. 1992; Stridh & Soernmo 2001) - leaving atrial activity: flutter
    waves, or P waves that do not keep a fixed place before the QRS.
    """
    r = np.asarray(rpeaks, dtype=np.int64)
    if r.size < 5 or signal.ndim != 2:
        return AtrialActivity()
    rows = _atrial_rows(signal.shape[0], usable, leads)
    if rows.size == 0:
        return AtrialActivity()
    z, k = _decimate(signal, rows, fs)
    fd = fs / k
    rd = r // k
    dominant = (
        np.ones(r.size, dtype=bool)
        if labels is None
        else np.array([lab not in _EXCLUDED for lab in labels], dtype=bool)
    )
    if int(dominant.sum()) < 4:
        return AtrialActivity()
    pre, post = int(round(_TEMPLATE_S[0] * fd)), int(round(_TEMPLATE_S[1] * fd))
    idx = np.arange(-pre, post)[:, None] + rd
    np.minimum(idx, z.shape[1] - 1, out=idx)
    np.maximum(idx, 0, out=idx)
    seg = z.take(idx, axis=1)  # (leads, window, beats); take is faster than z[:, idx]
    if not dominant.all():
        seg = seg[:, :, dominant]
    tmpl = np.zeros((z.shape[0], seg.shape[1] + 1))
    tmpl[:, :-1] = _beat_median(seg)
    pcorr = _p_wave_corr(seg, tmpl, fd, pre)
    e = _cancel_qrst(z, rd, dominant, tmpl, pre)
    f_hz, conc, f_rms = _flutter(e, fd)
    rate: float | None = None
    regularity: float | None = None
    pr_sd: float | None = None
    slow = 60.0 * fs * (r.size - 1) / float(r[-1] - r[0]) < AVB3_MAX_RATE_BPM
    if slow and pcorr is not None and pcorr < AVB3_MAX_P_CORR:
        b0, b1 = int(round(_QRS_BLANK_S[0] * fd)), int(round(_QRS_BLANK_S[1] * fd))
        blank = (rd[:, None] + np.arange(-b0, b1 + 1)).ravel()
        e[:, blank[(blank >= 0) & (blank < e.shape[1])]] = 0.0
        rate, regularity, pr_sd = _av_dissociation(e, rd, dominant, fd)
    return AtrialActivity(pcorr, f_hz, conc, f_rms, rate, regularity, pr_sd)


def assess_rhythm(
    rpeaks: NDArray[np.int64],
    fs: float,
    n_samples: int,
    labels: Sequence[BeatClass] | None = None,
    config: RhythmConfig | None = None,
    *,
    signal: NDArray[np.float64] | None = None,
    usable: NDArray[np.bool_] | None = None,
    leads: Sequence[str] | None = None,
) -> RhythmFeatures:
    """Rhythm descriptors of a record from its R peaks.

    Parameters
    ----------
    rpeaks : ndarray of int64, shape (beats,)
        Sorted R-peak sample indices (from any number of leads).
    fs : float
        Sampling frequency, Hz.
    n_samples : int
        Record length in samples (edges count for asystole).
    labels : sequence of BeatClass, optional
        One label per R peak; RR intervals touching ventricular or unknown beats are
        left out of the RR statistics and the irregularity (not supraventricular ones:
        see the module docstring).
    config : RhythmConfig, optional
        Thresholds (AF irregularity, minimum RR count, pause length).
    signal : ndarray, shape (leads, n_samples), optional
        The filtered ECG (mV). With it, P waves and atrial activity are analysed
        (``assess_atrial``): AF needs irregular RR *and* no consistent P wave, flutter
        and third-degree AV block can be suspected. Without it AF is from RR alone.
    usable, leads : optional
        Lead mask and lead names of ``signal`` (II, V1, aVF, III are preferred).

    Returns
    -------
    RhythmFeatures
        Rate (from the mean RR of all intervals), RR mean/SD and RMSSD (normal-to-normal
        intervals when labels are given), irregularity and the AF flag, the longest
        beat-free interval including the record edges, interior pauses > 2 s, beat counts
        and the record duration.

    Raises
    ------
    InvalidSignalError
        Unsorted or out-of-range R peaks, a bad fs, labels of the wrong length, or a
        signal whose length is not ``n_samples``.

    References
    ----------
    Dash S, et al. Ann Biomed Eng 2009;37:1701-9. doi:10.1007/s10439-009-9740-z
    """
    cfg = config or _DEFAULT
    r = np.asarray(rpeaks, dtype=np.int64)
    if not np.isfinite(fs) or fs <= 0 or n_samples <= 0:
        raise InvalidSignalError(
            "bad sampling frequency or length",
            expected="fs > 0, n_samples > 0",
            got=f"fs={fs}, n_samples={n_samples}",
        )
    if (
        r.ndim != 1
        or (r.size and (r[0] < 0 or r[-1] >= n_samples))
        or bool((r[1:] <= r[:-1]).any())
    ):
        raise InvalidSignalError(
            "R peaks must be sorted, unique sample indices inside the record",
            expected=f"0 <= r < {n_samples}, increasing",
            got=f"{r.size} peaks",
        )
    if labels is not None and len(labels) != r.size:
        raise InvalidSignalError(
            "one label per R peak", expected=f"{r.size} labels", got=f"{len(labels)}"
        )
    if signal is not None and (np.ndim(signal) != 2 or np.shape(signal)[1] != n_samples):
        raise InvalidSignalError(
            "signal must be (leads, n_samples)",
            expected=f"(leads, {n_samples})",
            got=f"{np.shape(signal)}",
        )
    duration_s = n_samples / fs
    gaps = _gaps_s(r, fs, n_samples)
    n_v = sum(lab is BeatClass.VENTRICULAR for lab in labels) if labels is not None else 0
    n_s = (
        sum(lab is BeatClass.SUPRAVENTRICULAR for lab in labels)
        if labels is not None
        else 0
    )
    if r.size < 2:
        return RhythmFeatures(
            heart_rate_bpm=None,
            rr_mean_ms=None,
            rr_sd_ms=None,
            rmssd_ms=None,
            rr_irregularity=None,
            af_suspected=False,
            longest_pause_ms=float(gaps.max() * 1e3),
            pauses_s=(),
            n_beats=int(r.size),
            n_ventricular=n_v,
            n_supraventricular=n_s,
            duration_s=duration_s,
        )
    rr = (r[1:] - r[:-1]) / fs
    keep = _normal_rr_mask(rr.size, labels, _EXCLUDED)
    if keep.sum() < cfg.af_min_rr:
        keep = np.ones(rr.size, dtype=bool)
    nn = rr[keep]
    diffs = _successive_differences(rr, keep)
    irregularity = _irregularity(rr, keep, cfg.af_min_rr)
    hr = float(60.0 / (rr.sum() / rr.size))
    atrial = (
        assess_atrial(np.asarray(signal, dtype=np.float64), fs, r, labels, usable, leads)
        if signal is not None
        else AtrialActivity()
    )
    af_score: float | None = None
    if irregularity is None:
        af = False
    elif atrial.p_wave_corr is None:
        af = irregularity > _af_threshold(rr.size, cfg)
    else:
        b0, b1, b2 = AF_SCORE_COEF
        af_score = (
            b0 + b1 * float(np.log(max(irregularity, 1e-4))) + b2 * atrial.p_wave_corr
        )
        short = rr.size < cfg.af_short_max_rr
        af = irregularity > AF_SCORE_MIN_IRREGULARITY and af_score > (
            cfg.af_score_threshold_short if short else cfg.af_score_threshold
        )
    flutter = (
        atrial.flutter_concentration is not None
        and atrial.flutter_concentration > cfg.afl_concentration
    )
    return RhythmFeatures(
        heart_rate_bpm=hr,
        rr_mean_ms=float(nn.sum() / nn.size * 1e3),
        rr_sd_ms=_sd_ms(nn),
        rmssd_ms=float(np.sqrt((diffs @ diffs) / diffs.size) * 1e3) if diffs.size else None,
        rr_irregularity=irregularity,
        af_suspected=af,
        longest_pause_ms=float(gaps.max() * 1e3),
        pauses_s=tuple(float(v) for v in rr[rr > cfg.pause_warn_s]),
        n_beats=int(r.size),
        n_ventricular=n_v,
        n_supraventricular=n_s,
        duration_s=duration_s,
        p_wave_corr=atrial.p_wave_corr,
        af_score=af_score,
        flutter_hz=atrial.flutter_hz,
        flutter_concentration=atrial.flutter_concentration,
        flutter_suspected=flutter,
        atrial_rate_bpm=atrial.atrial_rate_bpm,
        pr_sd_ms=atrial.pr_sd_ms,
        avb3_suspected=_avb3(rr[_normal_rr_mask(rr.size, labels, _EXCLUDED)], atrial),
    )


def _near_multiple(ratio: float) -> bool:
    """Atrial/ventricular rate ratio within ``AVB3_HARMONIC_TOL`` of 2 or 3: a harmonic
    of residual ventricular activity, or 2:1 / 3:1 block, not distinguishable in 10 s."""
    k = round(ratio)
    return k in (2, 3) and abs(ratio - k) < AVB3_HARMONIC_TOL * k


def _avb3(rr: NDArray[np.float64], a: AtrialActivity) -> bool:
    """Third-degree AV block criteria (see ``_rule_avb3``); ``rr``: the intervals between
    dominant beats, in seconds (a P wave taken for an ectopic beat does not count)."""
    if (
        rr.size < 3
        or a.p_wave_corr is None
        or a.atrial_rate_bpm is None
        or a.atrial_regularity is None
        or a.pr_sd_ms is None
    ):
        return False
    hr = 60.0 / float(rr.mean())
    return (
        hr < AVB3_MAX_RATE_BPM
        and float(rr.std() / rr.mean()) < AVB3_MAX_RR_CV
        and a.p_wave_corr < AVB3_MAX_P_CORR
        and a.atrial_regularity >= AVB3_MIN_ATRIAL_REGULARITY
        and a.atrial_rate_bpm > AVB3_MIN_RATE_RATIO * hr
        and not _near_multiple(a.atrial_rate_bpm / hr)
        and a.pr_sd_ms > AVB3_MIN_PR_SD_MS
    )


def _rule_af(f: RhythmFeatures, cfg: RhythmConfig) -> Finding | None:
    """AF: irregularly irregular RR without a consistent P wave.

    AHA/ACCF/HRS 2007 part II (doi:10.1161/CIRCULATIONAHA.106.180201) lists AF as
    "irregular ventricular response without discrete P waves". With the signal, the score
    ``AF_SCORE_COEF`` . (1, ln irregularity, P-wave correlation) must exceed
    ``AF_SCORE_THRESHOLD`` (``..._SHORT`` below ``AF_SHORT_MAX_RR`` intervals): irregular
    RR (Dash et al. 2009, doi:10.1007/s10439-009-9740-z, robust variant) and the absence
    of the same P wave before every QRS (the P-wave criterion of automated AF detectors,
    e.g. Ladavich & Ghoraani 2015) weigh together, so
    sinus arrhythmia with clear P waves is not AF. Without the signal: irregularity alone
    > ``AF_IRREGULARITY`` (``AF_IRREGULARITY_SHORT`` for short records).
    """
    if not f.af_suspected or f.rr_irregularity is None:
        return None
    rate = f"{f.heart_rate_bpm:.0f} bpm" if f.heart_rate_bpm is not None else "rate n/a"
    with_p = f.p_wave_corr is not None
    p_text = f", P-wave correlation {f.p_wave_corr:.2f}" if with_p else ""
    return make_finding(
        Code.AF,
        Priority.WARNING,
        "rules:af-rr-p-wave" if with_p else "rules:af-rr-irregularity",
        f"RR irregularity {f.rr_irregularity:.3f}{p_text}, {f.n_beats} beats, {rate}",
    )


def _rule_afl(f: RhythmFeatures, cfg: RhythmConfig) -> Finding | None:
    """Atrial flutter: regular atrial waves at 230-360 /min (sawtooth) with any block.

    Criterion: after QRST cancellation (subtracting the median beat at every beat), one
    spectral peak and its second harmonic hold more than ``AFL_CONCENTRATION`` of the
    1-15 Hz power in some lead, the peak between 3.8 and 6 Hz (AHA/ACCF/HRS 2007 part II:
    flutter waves at 240-340 /min; QRST cancellation as in Stridh & Soernmo 2001). A
    warning, as AF.
    """
    if not f.flutter_suspected or f.flutter_hz is None:
        return None
    return make_finding(
        Code.AFL,
        Priority.WARNING,
        "rules:afl-flutter-spectrum",
        f"atrial waves {60 * f.flutter_hz:.0f} /min, "
        f"spectral concentration {f.flutter_concentration or 0.0:.2f}",
    )


def _rule_avb3(f: RhythmFeatures, cfg: RhythmConfig) -> Finding | None:
    """Third-degree (complete) AV block: P waves march through at their own regular rate,
    dissociated from a slow regular escape rhythm (AHA/ACCF/HRS 2007 part II; 心电学危急值
    中国专家共识 2017 lists it as a critical value).

    Criteria, all required: ventricular rate < ``AVB3_MAX_RATE_BPM``, regular RR
    (coefficient of variation < ``AVB3_MAX_RR_CV``, from >= 3 intervals), no P wave at a
    fixed place before the QRS (P-wave correlation < ``AVB3_MAX_P_CORR``), regular
    atrial activity in the QRST-cancelled residual (autocorrelation peak >=
    ``AVB3_MIN_ATRIAL_REGULARITY``) at >= ``AVB3_MIN_RATE_RATIO`` x the ventricular rate,
    and the interval from the last atrial peak to each QRS varying (SD >
    ``AVB3_MIN_PR_SD_MS``). Atrial rates within 5 % of twice or three times the
    ventricular rate are not called (2:1 or 3:1 block, or a harmonic of residual QRST,
    look the same in 10 s): a complete block at such a ratio is missed. Evidence so far is a
    constructed record (real P waves and real QRST complexes at independent rates): no
    real complete AV block is in the shared data.
    """
    if not f.avb3_suspected:
        return None
    return make_finding(
        Code.AVB3,
        Priority.CRITICAL,
        "rules:avb3-av-dissociation",
        f"atrial {f.atrial_rate_bpm or 0.0:.0f} /min, ventricular "
        f"{f.heart_rate_bpm or 0.0:.0f} /min, PR SD {f.pr_sd_ms or 0.0:.0f} ms",
    )


def _rule_rate(f: RhythmFeatures, cfg: RhythmConfig) -> Finding | None:
    """Bradycardia < 50 bpm, tachycardia > 100 bpm (AHA/ACCF/HRS 2007 part II,
    doi:10.1161/CIRCULATIONAHA.106.180201, rate statements); critical below 40 or above
    180 bpm, the Chinese ECG critical-value (危急值) limits.
    """
    hr = f.heart_rate_bpm
    if hr is None:
        return None
    if hr < cfg.brady_warn_bpm:
        crit = hr < cfg.brady_critical_bpm
        return make_finding(
            Code.BRADY,
            Priority.CRITICAL if crit else Priority.WARNING,
            "rules:rate-brady",
            f"heart rate {hr:.0f} bpm",
        )
    if hr > cfg.tachy_warn_bpm:
        crit = hr > cfg.tachy_critical_bpm
        return make_finding(
            Code.TACHY,
            Priority.CRITICAL if crit else Priority.WARNING,
            "rules:rate-tachy",
            f"heart rate {hr:.0f} bpm",
        )
    return None


def _rule_pause(f: RhythmFeatures, cfg: RhythmConfig) -> Finding | None:
    """Pause: an RR interval > 2.0 s (warning); > 3.0 s, or no beat for >= 3 s including
    the record edges (asystole), is critical (Chinese 危急值: 停搏 / 长间歇 > 3 s).
    """
    longest_s = (f.longest_pause_ms or 0.0) / 1e3
    interior = max(f.pauses_s, default=0.0)
    if longest_s >= cfg.pause_critical_s or interior > cfg.pause_critical_s:
        what = "asystole" if f.n_beats < 2 else f"longest pause {longest_s:.1f} s"
        return make_finding(
            Code.PAUSE,
            Priority.CRITICAL,
            "rules:pause-3s",
            f"{what} (no beat >= {cfg.pause_critical_s:g} s)",
        )
    if interior > cfg.pause_warn_s:
        return make_finding(
            Code.PAUSE,
            Priority.WARNING,
            "rules:pause-2s",
            f"{len(f.pauses_s)} pause(s) > {cfg.pause_warn_s:g} s,"
            f" longest {interior:.1f} s",
        )
    return None


def _rule_pvc(f: RhythmFeatures, cfg: RhythmConfig) -> Finding | None:
    """Ventricular premature beats: any is reported with its count; frequent (>= 3 per
    10 s or >= 10 % of beats) is a warning, following the usual Holter/resting-ECG
    convention that > 1 PVC per 10 s strip is abnormal (AHA/ACCF/HRS 2007 part II,
    doi:10.1161/CIRCULATIONAHA.106.180201, "ventricular premature complex(es)").
    """
    n = f.n_ventricular
    if n <= 0:
        return None
    per10 = 10.0 * n / f.duration_s if f.duration_s else float(n)
    frac = n / max(f.n_beats, 1)
    frequent = per10 >= cfg.pvc_frequent_per_10s or frac >= cfg.pvc_frequent_fraction
    return make_finding(
        Code.PVC,
        Priority.WARNING if frequent else Priority.ROUTINE,
        "rules:pvc-count",
        f"{n} PVC(s), {per10:.1f} per 10 s, {100 * frac:.0f}% of beats",
    )


def rhythm_findings(
    features: RhythmFeatures, config: RhythmConfig | None = None
) -> list[Finding]:
    """Apply the rhythm rules (pause, AVB3, rate, AF, AFL, PVC) to ``features``.

    Parameters
    ----------
    features : RhythmFeatures
        From ``assess_rhythm`` (its ``af_suspected`` already used ``config``).
    config : RhythmConfig, optional
        Rate, pause and PVC thresholds.

    Returns
    -------
    list of Finding
        Most urgent first; empty when the rhythm raises nothing.
    """
    rules = (_rule_pause, _rule_avb3, _rule_rate, _rule_af, _rule_afl, _rule_pvc)
    cfg = config or _DEFAULT
    found = [f for rule in rules if (f := rule(features, cfg)) is not None]
    return sorted(found, key=lambda f: f.priority.rank)
