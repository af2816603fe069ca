"""Rhythm features and rhythm findings from R peaks (any number of leads).

``assess_rhythm`` turns R-peak positions (and optional beat labels) into
``RhythmFeatures``; ``rhythm_findings`` applies the rules below and returns triage
``Finding`` s (code, English and Chinese label, priority, ``source="rules:<rule-id>"``).

AF is suspected from RR irregularity alone (no P-wave analysis), so that it works on a
single lead and on 10 s records: the *normalised median absolute successive RR
difference*

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
The median of few differences scatters more, so there are two thresholds, both chosen on
the even-numbered CinC 2017 records run as ``analyze`` runs them (diagnostic filter,
``detect_rpeaks``, ``classify_beats`` labels) for specificity >= 95 % against normal sinus
rhythm: ``AF_IRREGULARITY`` for records with at least ``AF_SHORT_MAX_RR`` RR intervals
(whole CinC records, 9-61 s) and ``AF_IRREGULARITY_SHORT`` for shorter ones (their first
10 s, what a 12-lead cart records). On the odd records, never used for tuning: whole
records AF sensitivity 0.90, specificity 0.94 against normal, 0.78 against other rhythms;
see ``bench/results/rhythm.json`` for the 10 s figures and 12-lead PTB-XL checks.
Strong respiratory sinus arrhythmia and frequent unlabelled ectopy can look irregular to
any RR-only rule.

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
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from edge_agent.dsp._reduce import median
from edge_agent.dsp.results import BeatClass, RhythmFeatures
from edge_agent.errors import InvalidSignalError
from edge_agent.types import Finding, Priority

__all__ = [
    "AF_IRREGULARITY",
    "AF_IRREGULARITY_SHORT",
    "AF_SHORT_MAX_RR",
    "AF_MIN_RR",
    "RHYTHM_VERSION",
    "RhythmConfig",
    "assess_rhythm",
    "rhythm_findings",
]

RHYTHM_VERSION = "rhythm-2026.11.1"  # provenance: bump when outputs change

AF_IRREGULARITY = 0.056
AF_IRREGULARITY_SHORT = 0.078
AF_SHORT_MAX_RR = 20
AF_MIN_RR = 6
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
    out: NDArray[np.float64] = np.abs(np.diff(rr))[pair]
    return out


def _irregularity(
    rr: NDArray[np.float64], keep: NDArray[np.bool_], min_rr: int
) -> float | None:
    """Normalised median absolute successive RR difference (module docstring)."""
    diffs = _successive_differences(rr, keep)
    if diffs.size < min_rr - 1:
        return None
    return float(median(diffs) / median(rr[keep]))


def _gaps_s(rpeaks: NDArray[np.int64], fs: float, n_samples: int) -> NDArray[np.float64]:
    """Intervals without a beat, including the record edges, in seconds."""
    edges = np.concatenate([[0], rpeaks, [n_samples - 1]]).astype(np.float64)
    out: NDArray[np.float64] = np.diff(edges) / fs
    return out


def _af_threshold(n_rr: int, cfg: RhythmConfig) -> float:
    """AF irregularity threshold for a record with ``n_rr`` RR intervals."""
    return cfg.af_irregularity_short if n_rr < cfg.af_short_max_rr else cfg.af_irregularity


def assess_rhythm(
    rpeaks: NDArray[np.int64],
    fs: float,
    n_samples: int,
    labels: Sequence[BeatClass] | None = None,
    config: RhythmConfig | None = None,
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
        Unsorted or out-of-range R peaks, a bad fs, or labels of the wrong length.

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
        or np.any(np.diff(r) <= 0)
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
    rr = np.diff(r).astype(np.float64) / fs
    keep = _normal_rr_mask(rr.size, labels, _EXCLUDED)
    if keep.sum() < cfg.af_min_rr:
        keep = np.ones(rr.size, dtype=bool)
    nn = rr[keep]
    diffs = _successive_differences(rr, keep)
    irregularity = _irregularity(rr, keep, cfg.af_min_rr)
    return RhythmFeatures(
        heart_rate_bpm=float(60.0 / rr.mean()),
        rr_mean_ms=float(nn.mean() * 1e3),
        rr_sd_ms=float(nn.std(ddof=1) * 1e3) if nn.size > 1 else None,
        rmssd_ms=float(np.sqrt(np.mean(diffs**2)) * 1e3) if diffs.size else None,
        rr_irregularity=irregularity,
        af_suspected=irregularity is not None
        and irregularity > _af_threshold(rr.size, cfg),
        longest_pause_ms=float(gaps.max() * 1e3),
        pauses_s=tuple(float(v) for v in rr[rr > cfg.pause_warn_s]),
        n_beats=int(r.size),
        n_ventricular=n_v,
        n_supraventricular=n_s,
        duration_s=duration_s,
    )


def _rule_af(f: RhythmFeatures, cfg: RhythmConfig) -> Finding | None:
    """AF: irregularly irregular RR without another explanation.

    Criterion: normalised median absolute successive RR difference > ``AF_IRREGULARITY``
    (``AF_IRREGULARITY_SHORT`` below ``AF_SHORT_MAX_RR`` intervals)
    over >= ``AF_MIN_RR`` intervals (Dash et al. 2009, doi:10.1007/s10439-009-9740-z,
    robust variant; threshold chosen on CinC 2017 even records). AHA/ACCF/HRS 2007 part II
    (doi:10.1161/CIRCULATIONAHA.106.180201) lists AF as "irregular ventricular response
    without discrete P waves": P waves are not checked here, so the label says "suspected".
    """
    if not f.af_suspected or f.rr_irregularity is None:
        return None
    rate = f"{f.heart_rate_bpm:.0f} bpm" if f.heart_rate_bpm is not None else "rate n/a"
    return Finding(
        code="AF",
        label_en="Atrial fibrillation (suspected)",
        label_zh="心房颤动(疑似)",
        priority=Priority.WARNING,
        source="rules:af-rr-irregularity",
        detail=f"RR irregularity {f.rr_irregularity:.3f}, {f.n_beats} beats, {rate}",
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
        return Finding(
            code="BRADY",
            label_en="Bradycardia",
            label_zh="心动过缓",
            priority=Priority.CRITICAL if crit else Priority.WARNING,
            source="rules:rate-brady",
            detail=f"heart rate {hr:.0f} bpm",
        )
    if hr > cfg.tachy_warn_bpm:
        crit = hr > cfg.tachy_critical_bpm
        return Finding(
            code="TACHY",
            label_en="Tachycardia",
            label_zh="心动过速",
            priority=Priority.CRITICAL if crit else Priority.WARNING,
            source="rules:rate-tachy",
            detail=f"heart rate {hr:.0f} bpm",
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
        return Finding(
            code="PAUSE",
            label_en="Pause / asystole",
            label_zh="长间歇/心脏停搏",
            priority=Priority.CRITICAL,
            source="rules:pause-3s",
            detail=f"{what} (no beat >= {cfg.pause_critical_s:g} s)",
        )
    if interior > cfg.pause_warn_s:
        return Finding(
            code="PAUSE",
            label_en="Pause",
            label_zh="长间歇",
            priority=Priority.WARNING,
            source="rules:pause-2s",
            detail=(
                f"{len(f.pauses_s)} pause(s) > {cfg.pause_warn_s:g} s, "
                f"longest {interior:.1f} s"
            ),
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
    return Finding(
        code="PVC",
        label_en="Premature ventricular complexes",
        label_zh="室性早搏",
        priority=Priority.WARNING if frequent else Priority.ROUTINE,
        source="rules:pvc-count",
        detail=f"{n} PVC(s), {per10:.1f} per 10 s, {100 * frac:.0f}% of beats",
    )


def rhythm_findings(
    features: RhythmFeatures, config: RhythmConfig | None = None
) -> list[Finding]:
    """Apply the rhythm rules (AF, rate, pause, PVC) to ``features``.

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
    rules = (_rule_pause, _rule_rate, _rule_af, _rule_pvc)
    cfg = config or _DEFAULT
    found = [f for rule in rules if (f := rule(features, cfg)) is not None]
    return sorted(found, key=lambda f: f.priority.rank)
