"""Pacemaker-spike detection on the raw signal, and a record-level pacing verdict.

A pacing artefact is a stimulus of 0.1-2 ms, recorded by a diagnostic cart as a very steep,
very short, large deflection: at 500 Hz the LUDB and PTB-XL carts show it as a 1-3 sample
edge (a jump of 0.15-2 mV) that either reverses (biphasic spike, exponential recovery) or
settles on a plateau (bipolar pacing, the cart's spike hold), after a quiet stretch. A QRS
upstroke is steep too, but it builds up over several milliseconds and keeps going; noise
and EMG bursts are steep but never quiet before the edge.

Candidates are the local maxima of the largest edge across leads (one float32 pass over
the record) that stand 2.5 times above that largest edge in the quiet window before them
(a one-lane screen that drops QRS upstrokes: 0-3 candidates per 10 s record). At each,
per lead, all in physical units (seconds, mV):

- **edge**: the change over ``edge_s`` (4 ms) reaches ``min_edge_mv`` (0.12 mV);
- **quiet before**: every change over ``edge_s`` in the ``quiet_s`` (20 ms) before the
  edge is at most ``1 / quiet_ratio`` (1/5) of it (rejects QRS upstrokes, R-peak turns,
  noise, EMG);
- **short**: in the ``settle_s`` (8 ms) after the edge the signal goes on in the same
  direction by at most ``settle_ratio`` of the edge (a spike reverses or holds; an
  upstroke goes on);
- **not clipping**: an edge that leaves or reaches a flat run at the lead's extreme value
  is a saturated amplifier, not a stimulus.

A spike is kept when ``min_leads`` leads (fewer when the record has fewer usable leads)
pass at the same sample: leads are fused by counting, so one noisy lead cannot make a
spike and a spike seen by only a few leads (bipolar pacing) is still found. Spikes closer
than ``refractory_s`` are merged.

Record-level verdict (``PacingMode``), from where the spikes fall relative to the QRS
complexes (R peaks): a spike followed by an R peak within ``v_lag_s`` (140 ms) paces the
ventricle (the paced QRS starts at the spike; the R peak may sit on the spike itself);
one followed by the R peak ``v_lag_s`` to ``a_lag_s`` (400 ms) later paces the atrium
(P wave, AV conduction or a paced AV delay, then the QRS). Atrial / ventricular pacing is
declared when at least ``min_paced_beats`` beats and ``min_paced_fraction`` of the beats
carry a spike of that kind, and when at least ``min_locked_share`` of all spikes are
time-locked to a beat so (pacing is locked to the beats, artefacts are not); both kinds
give ``AV`` (dual-chamber pacing).

What was tuned, and on what: ``quiet_s``, ``quiet_ratio``, ``min_leads`` and
``min_paced_fraction`` were chosen on a small grid on LUDB (4 paced of 100 records) and
the PTB-XL 500 Hz subset (3 paced of 350), which therefore are not independent evidence;
MIT-BIH and CinC 2017 were not used for tuning (``bench/pacing.py``).

Limits (documented, measured in ``bench/pacing.py``):

- At or below ``min_fs_hz`` (250 Hz) a 4 ms edge is a single sample and a spike cannot be
  told from a QRS upstroke; the verdict is ``UNKNOWN`` rather than a guess. Between 250
  and 500 Hz the detector runs (``reliable`` is False) but on MIT-BIH (360 Hz) no
  paced beat's spike passes: the recorder's band limit turned the spikes into 20-30 ms
  triangles, as wide as a QRS upstroke.
- Bipolar and biventricular spikes smaller than ``min_edge_mv`` or seen in fewer than
  ``min_leads`` leads are missed (LUDB 93, biventricular: spikes found in 3 of 10 beats,
  none after upsampling to 1000 Hz, which spreads them); so are spikes a cart removed or
  replaced by a marker before storing the signal. LUDB 45 (AV pacing): atrial spikes
  found in 3 of 11 beats.
- Broadband noise hides spikes (it never makes a spike train): white noise of 0.03 mV
  RMS on every lead hid LUDB 111's spikes, 0.05 mV LUDB 95's; a 1 s EMG-like burst on 4
  leads (0.2 mV) hid neither.
- Cost: about 0.1 ms for a 10 s 12-lead 500 Hz record without spikes (half of it the
  float32 edge pass), 0.3 ms with spikes (lead extremes for the clipping test).

References
----------
- IEC 60601-2-25:2011, particular requirements for electrocardiographs (pacemaker pulses
  of 0.1-2 ms and 2-700 mV must not disturb the recording).
- Kruse J, Redmond C. "Detecting and distinguishing cardiac pacing artifacts", Analog
  Dialogue 46-11, 2012 (pulse widths, amplitudes, why spikes are hard after filtering).
- Sgarbossa EB, et al. N Engl J Med 1996;334:481-7, doi:10.1056/NEJM199602223340801
  (why triage must know a rhythm is ventricular-paced).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache

import numpy as np
from numpy.typing import ArrayLike, NDArray

from edge_agent.dsp._validate import check_signal
from edge_agent.dsp.results import BeatClass, Beats, MedianBeat
from edge_agent.errors import InvalidSignalError

__all__ = [
    "PACING_VERSION",
    "PacingConfig",
    "PacingMode",
    "PacingResult",
    "SpikeChamber",
    "detect_pacing_spikes",
    "detect_pacing_spikes_checked",
    "spike_in_median",
]

PACING_VERSION = "edge_agent.dsp.pacing@2026.11.0"


class PacingMode(StrEnum):
    """Record-level pacing verdict."""

    NONE = "none"
    ATRIAL = "atrial-paced"
    VENTRICULAR = "ventricular-paced"
    AV = "av-paced"
    UNKNOWN = "unknown"  # fs too low to see spikes


class SpikeChamber(StrEnum):
    """Which chamber a spike paces, from its lag to the next QRS."""

    ATRIAL = "A"
    VENTRICULAR = "V"
    UNLOCKED = "-"  # not time-locked to the beats (artefact, or no QRS follows)


_V = SpikeChamber.VENTRICULAR


@dataclass(frozen=True, slots=True)
class PacingConfig:
    """Spike and verdict constants in physical units (see the module docstring)."""

    min_fs_hz: float = 250.0
    edge_s: float = 0.004
    quiet_s: float = 0.020
    settle_s: float = 0.008
    min_edge_mv: float = 0.12
    quiet_ratio: float = 5.0
    settle_ratio: float = 0.5
    min_leads: int = 3
    refractory_s: float = 0.02
    v_lag_s: float = 0.14
    a_lag_s: float = 0.40
    min_paced_beats: int = 3
    min_paced_fraction: float = 0.25
    min_locked_share: float = 0.5

    def __post_init__(self) -> None:
        spans = (self.edge_s, self.quiet_s, self.settle_s, self.refractory_s)
        if min(spans) <= 0.0:
            raise ValueError(f"time spans must be positive, got {spans}")
        if not 0.0 < self.v_lag_s < self.a_lag_s:
            raise ValueError("need 0 < v_lag_s < a_lag_s")
        if self.min_edge_mv <= 0.0 or self.quiet_ratio <= 1.0:
            raise ValueError("min_edge_mv must be > 0 and quiet_ratio > 1")
        fractions = (self.settle_ratio, self.min_paced_fraction, self.min_locked_share)
        if not all(0.0 <= f <= 1.0 for f in fractions):
            raise ValueError(f"ratios must be fractions in [0, 1], got {fractions}")
        if self.min_leads < 1 or self.min_paced_beats < 1:
            raise ValueError("min_leads and min_paced_beats must be >= 1")


DEFAULT_CONFIG = PacingConfig()
_EMPTY = np.zeros(0, dtype=np.int64)
_EMPTY.flags.writeable = False
# one-lane screen before the per-lead tests: the largest edge across leads must stand
# this many times above the largest one in the quiet window (QRS upstrokes do not)
_PRESCREEN = 2.5
# below this rate the detector runs but is less sensitive (PacingResult.reliable)
_RELIABLE_FS_HZ = 500.0
# dominant beats with a detected spike needed to place the spike in the median beat
_MIN_MEDIAN_SPIKES = 2


@dataclass(frozen=True, slots=True)
class PacingResult:
    """Pacing spikes of one record and the verdict.

    ``spikes`` are sample indices (at ``fs``) of the first sample of each spike's edge;
    ``chambers`` says what each one paces. Per lead (shape (leads,)):
    ``lead_spikes`` counts the spikes the lead shows and ``lead_edge_mv`` is the median
    absolute edge of those spikes (0 where none). ``n_beats`` is the number of R peaks
    the verdict used, ``atrial_beats`` / ``ventricular_beats`` those with a locked spike.
    ``reliable`` is False when fs is below 500 Hz (detection attempted, less sensitive)
    or at most ``min_fs_hz`` (not attempted: ``mode`` is UNKNOWN).
    """

    mode: PacingMode
    spikes: NDArray[np.int64]
    chambers: tuple[SpikeChamber, ...]
    lead_spikes: NDArray[np.int64]
    lead_edge_mv: NDArray[np.float64]
    n_beats: int = 0
    atrial_beats: int = 0
    ventricular_beats: int = 0
    reliable: bool = True
    note: str = field(default="")

    @property
    def paced(self) -> bool:
        """True when the verdict is atrial, ventricular or AV pacing."""
        return self.mode in (PacingMode.ATRIAL, PacingMode.VENTRICULAR, PacingMode.AV)

    @property
    def ventricular_spikes(self) -> NDArray[np.int64]:
        """The spikes locked to the QRS as ventricular stimuli."""
        mask = np.array([c is SpikeChamber.VENTRICULAR for c in self.chambers], bool)
        return self.spikes[mask] if mask.size else _EMPTY


def _samples(seconds: float, fs: float) -> int:
    """Seconds -> whole samples (at least 1): the only conversion used here."""
    return max(1, round(seconds * fs))


@lru_cache(maxsize=16)
def _spans(fs: float, cfg: PacingConfig) -> tuple[int, int, int, int, NDArray[np.int64]]:
    """(edge, quiet, settle, refractory) in samples and the quiet-window offsets."""
    k = _samples(cfg.edge_s, fs)
    q = _samples(cfg.quiet_s, fs)
    off = k + np.arange(q + 1, dtype=np.int64)
    off.flags.writeable = False
    return k, q, _samples(cfg.settle_s, fs), _samples(cfg.refractory_s, fs), off


def _candidates(x: NDArray[np.float64], fs: float, cfg: PacingConfig) -> NDArray[np.int64]:
    """Candidate edge starts ``j`` (the edge runs from sample j to j + k).

    The local maxima of ``big[j] = max_l |x_l[j + k] - x_l[j]|`` that reach
    ``min_edge_mv`` and stand ``_PRESCREEN`` times above ``big`` in the quiet window
    before them: a one-lane screen (float32, the cheapest full pass) that drops the QRS
    upstrokes before the exact per-lead tests.
    """
    k, q, s, _, off = _spans(fs, cfg)
    y = x.astype(np.float32)
    mag = y[:, k:] - y[:, :-k]
    np.abs(mag, out=mag)
    big = mag.max(axis=0)
    lo = k + q  # room for the quiet window before, the settle window after
    j = (big[lo : x.shape[1] - k - s - 1] >= cfg.min_edge_mv * (1.0 - 1e-6)).nonzero()[0]
    j += lo
    if j.size == 0:
        return _EMPTY
    bj = big[j]
    j = j[(bj > big[j - 1]) & (bj >= big[j + 1])]
    pre = big[j[:, None] - off].max(axis=1)
    out: NDArray[np.int64] = j[big[j] >= _PRESCREEN * pre]
    return out


def _lead_tests(
    x: NDArray[np.float64], j: NDArray[np.int64], fs: float, cfg: PacingConfig
) -> tuple[NDArray[np.bool_], NDArray[np.float64]]:
    """Per-lead spike tests at edge starts ``j``: pass mask and |edge| in mV, both shaped
    (leads, candidates). One gather of the window from the quiet stretch to the settle
    stretch, shape (leads, candidates, q + 1 + 2k + s)."""
    k, q, s, _, _ = _spans(fs, cfg)
    w = x[:, j[:, None] + np.arange(-k - q, k + s + 1)]
    c = k + q  # index of the edge start in the window
    edge = w[:, :, c + k] - w[:, :, c]
    m = np.abs(edge)
    pre = np.abs(w[:, :, k : c + 1] - w[:, :, : q + 1]).max(axis=-1)
    post = w[:, :, c + k + 1 :] - w[:, :, c + k, None]
    go_on = (post * np.sign(edge)[:, :, None]).max(axis=-1)
    ok: NDArray[np.bool_] = (
        (m >= cfg.min_edge_mv)
        & (m >= cfg.quiet_ratio * pre)
        & (go_on <= cfg.settle_ratio * m)
    )
    return ok, m


def _drop_clipping(
    x: NDArray[np.float64], ok: NDArray[np.bool_], j: NDArray[np.int64], k: int
) -> None:
    """Clear (in place) the leads whose edge leaves or reaches a flat run at the lead's
    extreme value: a saturated amplifier, not a stimulus. The lead extremes are only
    computed when some passing edge touches a flat run."""
    v0, v1 = x[:, j], x[:, j + k]
    flat = ((x[:, j - 1] == v0) | (x[:, j + k + 1] == v1)) & ok
    if not flat.any():
        return
    lo = x.min(axis=1)[:, None]
    hi = x.max(axis=1)[:, None]
    rail = (v0 == lo) | (v0 == hi) | (v1 == lo) | (v1 == hi)
    ok &= ~(flat & rail)


def _merge(onset: list[int], strength: list[float], gap: int) -> list[int]:
    """Indices of the spikes kept: within ``gap`` samples the strongest one wins."""
    kept: list[int] = []
    for i, t in enumerate(onset):
        if kept and t - onset[kept[-1]] < gap:
            if strength[i] > strength[kept[-1]]:
                kept[-1] = i
            continue
        kept.append(i)
    return kept


def _spike_times(
    x: NDArray[np.float64],
    usable: NDArray[np.bool_] | None,
    fs: float,
    cfg: PacingConfig,
) -> tuple[NDArray[np.int64], NDArray[np.bool_], NDArray[np.float64]]:
    """Spike onsets (samples), per-lead visibility (leads, spikes), |edges| (mV)."""
    n_leads = x.shape[0]
    none = _EMPTY, np.zeros((n_leads, 0), bool), np.zeros((n_leads, 0))
    k, q, s, gap, _ = _spans(fs, cfg)
    if x.shape[1] <= 2 * k + q + s + 3:
        return none
    j = _candidates(x, fs, cfg)
    if j.size == 0:
        return none
    ok, mag = _lead_tests(x, j, fs, cfg)
    if usable is not None:
        ok &= usable[:, None]
        n_leads = int(usable.sum())
    need = max(1, min(cfg.min_leads, n_leads))
    keep = ok.sum(axis=0) >= need
    if not keep.any():
        return none
    j, ok, mag = j[keep], ok[:, keep], mag[:, keep]
    _drop_clipping(x, ok, j, k)
    keep = ok.sum(axis=0) >= need
    if not keep.any():
        return none
    j, ok, edge = j[keep], ok[:, keep], mag[:, keep]
    # onset: the first sample after the largest one-sample step inside the edge, the
    # steps summed over the passing leads
    steps = np.abs(np.diff(x[:, j[:, None] + np.arange(k + 1)], axis=-1))
    onset = j + 1 + np.argmax((steps * ok[:, :, None]).sum(axis=0), axis=-1)
    strength = (edge * ok).sum(axis=0)
    idx = _merge(onset.tolist(), strength.tolist(), gap)
    return onset[idx].astype(np.int64), ok[:, idx], edge[:, idx]


def _classify(
    spikes: NDArray[np.int64],
    rpeaks: NDArray[np.int64],
    fs: float,
    cfg: PacingConfig,
) -> tuple[tuple[SpikeChamber, ...], int, int]:
    """Chamber of each spike and the number of atrially / ventricularly paced beats."""
    if spikes.size == 0 or rpeaks.size == 0:
        return (SpikeChamber.UNLOCKED,) * spikes.size, 0, 0
    tol = _samples(0.01, fs)
    nxt = np.searchsorted(rpeaks, spikes - tol).tolist()
    v_max, a_max = cfg.v_lag_s * fs, cfg.a_lag_s * fs
    chambers: list[SpikeChamber] = []
    beats: dict[SpikeChamber, set[int]] = {SpikeChamber.ATRIAL: set(), _V: set()}
    for t, i in zip(spikes.tolist(), nxt, strict=True):
        lag = rpeaks[i] - t if i < rpeaks.size else -1
        kind = (
            _V
            if -tol <= lag <= v_max
            else SpikeChamber.ATRIAL
            if v_max < lag <= a_max
            else SpikeChamber.UNLOCKED
        )
        chambers.append(kind)
        if kind is not SpikeChamber.UNLOCKED:
            beats[kind].add(i)
    return tuple(chambers), len(beats[SpikeChamber.ATRIAL]), len(beats[_V])


def _verdict(
    n_beats: int,
    atrial: int,
    ventricular: int,
    chambers: tuple[SpikeChamber, ...],
    cfg: PacingConfig,
) -> PacingMode:
    locked = sum(c is not SpikeChamber.UNLOCKED for c in chambers)
    if locked < cfg.min_locked_share * len(chambers):
        return PacingMode.NONE
    need = max(cfg.min_paced_beats, math.ceil(cfg.min_paced_fraction * n_beats))
    a, v = atrial >= need, ventricular >= need
    if a and v:
        return PacingMode.AV
    if v:
        return PacingMode.VENTRICULAR
    if a:
        return PacingMode.ATRIAL
    return PacingMode.NONE


def _lead_median(edge: NDArray[np.float64], seen: NDArray[np.bool_]) -> NDArray[np.float64]:
    """Median |edge| per lead over the spikes it shows (0 where none), shape (leads,)."""
    count = seen.sum(axis=1)
    srt = np.sort(np.where(seen, edge, np.inf), axis=1)
    rows = np.arange(edge.shape[0])
    lo = srt[rows, np.maximum(count - 1, 0) // 2]
    hi = srt[rows, count // 2 if edge.shape[1] else 0]
    med: NDArray[np.float64] = np.where(count > 0, 0.5 * (lo + hi), 0.0)
    return med


def detect_pacing_spikes_checked(
    x: NDArray[np.float64],
    fs: float,
    rpeaks: NDArray[np.int64],
    *,
    usable: NDArray[np.bool_] | None = None,
    config: PacingConfig = DEFAULT_CONFIG,
) -> PacingResult:
    """:func:`detect_pacing_spikes` of a signal ``check_signal`` already returned, with
    its R peaks (no validation, no R-peak detection: the fast path of ``analyze``)."""
    n_leads = x.shape[0]
    if fs <= config.min_fs_hz:
        return PacingResult(
            PacingMode.UNKNOWN,
            _EMPTY,
            (),
            np.zeros(n_leads, dtype=np.int64),
            np.zeros(n_leads),
            n_beats=int(rpeaks.size),
            reliable=False,
            note=f"pacing spikes not detectable at {fs:g} Hz "
            f"(needs > {config.min_fs_hz:g} Hz)",
        )
    spikes, seen, edge = _spike_times(x, usable, fs, config)
    chambers, n_a, n_v = _classify(spikes, rpeaks, fs, config)
    reliable = fs >= _RELIABLE_FS_HZ
    return PacingResult(
        _verdict(int(rpeaks.size), n_a, n_v, chambers, config),
        spikes,
        chambers,
        seen.sum(axis=1).astype(np.int64),
        _lead_median(edge, seen) if spikes.size else np.zeros(n_leads),
        n_beats=int(rpeaks.size),
        atrial_beats=n_a,
        ventricular_beats=n_v,
        reliable=reliable,
        note="" if reliable else f"reduced sensitivity at {fs:g} Hz (< 500 Hz)",
    )


def detect_pacing_spikes(
    signal: ArrayLike,
    fs: float,
    *,
    rpeaks: ArrayLike | None = None,
    usable: NDArray[np.bool_] | None = None,
    config: PacingConfig = DEFAULT_CONFIG,
) -> PacingResult:
    """Detect pacemaker spikes on the raw ECG and say which chambers are paced.

    Parameters
    ----------
    signal : array_like, shape (leads, samples)
        Raw (unfiltered) ECG in mV: a filter would spread the spikes.
    fs : float
        Sampling frequency in Hz (100-1000; spikes are looked for above 250 Hz only).
    rpeaks : array_like of int, optional
        R-peak sample indices; detected with :func:`~edge_agent.dsp.detect_rpeaks` when
        omitted (that costs far more than the spike search itself).
    usable : ndarray of bool, shape (leads,), optional
        Leads the quality stage accepted; ``None`` means all.
    config : PacingConfig
        Thresholds.

    Returns
    -------
    PacingResult
        Spike onsets, per-lead evidence and the verdict (``UNKNOWN`` at <= 250 Hz).

    Raises
    ------
    InvalidSignalError
        When the signal breaks the array contract or ``usable`` has the wrong shape.
    """
    x = check_signal(signal, fs)
    if usable is not None:
        usable = np.asarray(usable, dtype=bool).reshape(-1)
        if usable.size != x.shape[0]:
            raise InvalidSignalError(
                "usable mask does not match the leads",
                expected=f"{x.shape[0]} values",
                got=f"{usable.size}",
            )
    if rpeaks is None:
        from edge_agent.dsp.rpeaks import detect_rpeaks_checked

        r = detect_rpeaks_checked(x, float(fs), usable=usable)
    else:
        r = np.sort(np.asarray(rpeaks, dtype=np.int64).reshape(-1))
    return detect_pacing_spikes_checked(x, float(fs), r, usable=usable, config=config)


def spike_in_median(result: PacingResult, beats: Beats, median: MedianBeat) -> int | None:
    """Where the ventricular pacing spike lies in the median beat, or None.

    The median (over the dominant beats that carry one) of each ventricular spike's
    position relative to its beat, mapped with the median beat's alignment lags. None
    unless the record is ventricular- or AV-paced and at least two dominant beats (those
    the median beat is built from) carry a detected spike: when the paced beats are the
    minority (labelled ectopic), the median beat is of the patient's own beats and has
    no spike.

    Returns
    -------
    int or None
        Sample index into ``median.waveform``, before ``median.r_index``.
    """
    if result.mode not in (PacingMode.VENTRICULAR, PacingMode.AV):
        return None
    spikes = result.ventricular_spikes
    r = np.asarray(beats.rpeaks, dtype=np.int64)
    if spikes.size == 0 or r.size == 0:
        return None
    lags = median.lags if median.lags is not None else np.zeros(r.size, dtype=np.int64)
    tol = _samples(0.01, float(median.fs))
    i = np.searchsorted(r, spikes - tol)
    inside = i < r.size
    spikes, i = spikes[inside], i[inside]
    dominant = np.array([beats.labels[b] is BeatClass.NORMAL for b in i.tolist()], bool)
    if int(dominant.sum()) < _MIN_MEDIAN_SPIKES:
        return None
    pos = spikes[dominant] - r[i[dominant]] - lags[i[dominant]] + median.r_index
    at = int(round(float(np.median(pos))))
    return at if 0 <= at < median.r_index else None
