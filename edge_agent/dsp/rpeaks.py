"""R-peak (QRS) detection fusing every usable lead.

The detector is a multi-lead variant of Pan & Tompkins (1985), shaped after sleepecg's
``detect_heartbeats`` (Kaltenbrunner et al.): a zero-phase band-pass, a squared central
derivative, a *centred* moving-window integration, and the Pan-Tompkins adaptive
signal/noise thresholds with RR-based searchback and T-wave rejection.

Departures from the paper (and from sleepecg):

- **Lead fusion.** Each usable lead gives its own energy envelope, normalised by a robust
  per-lead scale (a high percentile of the envelope), and the leads are averaged with a
  per-lead weight that favours "peaky" envelopes (QRS energy well above the lead's floor),
  so one noisy or low-amplitude lead cannot dominate. Flat leads and flat stretches inside a
  lead (lead off, padding) get zero weight, including a margin for the filter transients at
  their edges.
- **Candidates first, decision second.** Signal processing is fully vectorised; the
  adaptive-threshold decision is a Python loop over envelope peaks (about two per beat),
  never over samples (:func:`decide_beats`).
- **Thresholds on the integrated signal only.** Pan & Tompkins threshold both the filtered
  and the integrated signal; with a centred window one threshold set suffices.
- **Largest peak wins inside the refractory period.** A candidate within the refractory
  period that is larger than the beat just accepted replaces it (Pan & Tompkins discard it).
- **Searchback repeats** until the gap closes, picking the largest candidate above half
  the threshold each time (the paper searches once); the searchback ignores candidates
  inside the T-wave window that fail the slope test.
- **R position.** The envelope peak is moved to the largest absolute band-passed
  deflection within ``refine_ms`` on the lead with the best envelope contrast, so every
  detection sits on the QRS main deflection whatever its polarity.
- **Pacemaker spikes** are narrow; the 5-30 Hz band-pass and the 150 ms integration merge a
  spike with its paced QRS into one envelope peak, and the refractory period does the rest.

References
----------
.. [1] J. Pan and W. J. Tompkins, "A real-time QRS detection algorithm," IEEE Trans.
   Biomed. Eng., vol. 32, no. 3, pp. 230-236, 1985. doi:10.1109/TBME.1985.325532
.. [2] F. Kaltenbrunner, C. Brunner, et al., sleepecg, ``sleepecg.detect_heartbeats``
   (Pan-Tompkins variant with bidirectional 5-30 Hz filter and centred integration),
   doi:10.21105/joss.05411
.. [3] P. S. Hamilton and W. J. Tompkins, "Quantitative investigation of QRS detection
   rules using the MIT/BIH arrhythmia database," IEEE Trans. Biomed. Eng., vol. 33,
   no. 12, pp. 1157-1165, 1986. doi:10.1109/TBME.1986.325695
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.signal
from numpy.typing import NDArray

from edge_agent.dsp._validate import check_signal
from edge_agent.errors import InvalidSignalError

__all__ = ["RPeakConfig", "decide_beats", "detect_rpeaks"]

ALGORITHM_ID = "rpeaks.multilead_pan_tompkins"
ALGORITHM_VERSION = "1.0"

_EMPTY = np.empty(0, dtype=np.int64)


@dataclass(frozen=True, slots=True)
class RPeakConfig:
    """Parameters of :func:`detect_rpeaks`, in physiological units.

    Attributes
    ----------
    band_low_hz, band_high_hz : float
        Pass band of the detection filter (the high edge is capped at 0.45 fs).
    filter_order : int
        Butterworth order of each band edge.
    integration_ms : float
        Width of the centred moving-window integration (Pan & Tompkins: 150 ms).
    refractory_ms : float
        No two beats closer than this (Pan & Tompkins: 200 ms).
    t_wave_ms : float
        A candidate this close to the previous beat must pass the slope test (360 ms).
    t_wave_slope_ratio : float
        ...whose maximal slope must reach this fraction of the previous beat's (0.5).
    threshold_fraction : float
        THRESHOLD = NPK + fraction * (SPK - NPK) (Pan & Tompkins: 0.25).
    searchback_rr : float
        Searchback when no beat for this many average RR intervals (1.66).
    searchback_fraction : float
        Searchback threshold as a fraction of THRESHOLD (0.5).
    refine_ms : float
        Half-width of the window in which the R position is moved to the main deflection.
    flat_ms : float
        A run of identical samples at least this long counts as a flat stretch.
    """

    band_low_hz: float = 5.0
    band_high_hz: float = 30.0
    filter_order: int = 2
    integration_ms: float = 150.0
    refractory_ms: float = 200.0
    t_wave_ms: float = 360.0
    t_wave_slope_ratio: float = 0.5
    threshold_fraction: float = 0.25
    searchback_rr: float = 1.66
    searchback_fraction: float = 0.5
    refine_ms: float = 60.0
    flat_ms: float = 40.0

    def __post_init__(self) -> None:
        checks = (
            (
                0.5 <= self.band_low_hz < self.band_high_hz,
                "0.5 <= band_low_hz < band_high_hz",
            ),
            (1 <= self.filter_order <= 6, "1 <= filter_order <= 6"),
            (40.0 <= self.integration_ms <= 300.0, "40 <= integration_ms <= 300"),
            (120.0 <= self.refractory_ms <= 400.0, "120 <= refractory_ms <= 400"),
            (
                self.refractory_ms <= self.t_wave_ms <= 600.0,
                "refractory <= t_wave_ms <= 600",
            ),
            (0.0 < self.t_wave_slope_ratio < 1.0, "0 < t_wave_slope_ratio < 1"),
            (0.0 < self.threshold_fraction < 1.0, "0 < threshold_fraction < 1"),
            (1.0 < self.searchback_rr <= 3.0, "1 < searchback_rr <= 3"),
            (0.0 < self.searchback_fraction < 1.0, "0 < searchback_fraction < 1"),
            (5.0 <= self.refine_ms <= 150.0, "5 <= refine_ms <= 150"),
            (5.0 <= self.flat_ms <= 1000.0, "5 <= flat_ms <= 1000"),
        )
        for ok, rule in checks:
            if not ok:
                raise InvalidSignalError(
                    "invalid RPeakConfig", expected=rule, got=repr(self)
                )


@dataclass(frozen=True, slots=True)
class _Samples:
    """Durations of :class:`RPeakConfig` converted to samples (the one conversion)."""

    integration: int
    refractory: int
    t_wave: int
    refine: int
    flat: int
    margin: int


def _to_samples(cfg: RPeakConfig, fs: float) -> _Samples:
    def n(ms: float) -> int:
        return max(1, int(round(ms * 1e-3 * fs)))

    return _Samples(
        integration=n(cfg.integration_ms),
        refractory=n(cfg.refractory_ms),
        t_wave=n(cfg.t_wave_ms),
        refine=n(cfg.refine_ms),
        flat=n(cfg.flat_ms),
        margin=n(cfg.integration_ms + 1000.0 / cfg.band_low_hz),
    )


@lru_cache(maxsize=64)
def design_detection_filter(
    fs: float, low_hz: float, high_hz: float, order: int
) -> NDArray[np.float64]:
    """Butterworth band-pass (second-order sections) for the detector, cached by fs."""
    high = min(high_hz, 0.45 * fs)
    sos: NDArray[np.float64] = scipy.signal.butter(
        order, (low_hz, high), btype="bandpass", fs=fs, output="sos"
    )
    return sos


def _moving_sum(x: NDArray[np.float64], width: int) -> NDArray[np.float64]:
    """Centred moving sum along the last axis (cumsum-based, same length)."""
    c = np.zeros(x.shape[:-1] + (x.shape[-1] + 1,))
    np.cumsum(x, axis=-1, out=c[..., 1:])
    half = width // 2
    n = x.shape[-1]
    hi = np.minimum(np.arange(n) + (width - half), n)
    lo = np.maximum(np.arange(n) - half, 0)
    out: NDArray[np.float64] = c[..., hi] - c[..., lo]
    return out


def _flat_mask(x: NDArray[np.float64], run: int, margin: int) -> NDArray[np.bool_]:
    """True where a lead is in (or ``margin`` from) a run of >= ``run`` equal samples."""
    moving = np.zeros(x.shape, dtype=np.float64)
    moving[:, 1:] = np.diff(x, axis=-1) != 0.0
    # a window of `run` samples without any change is flat; dilate by the margin
    still: NDArray[np.bool_] = _moving_sum(moving, run) == 0.0
    if not still.any():
        return still
    grown = _moving_sum(still.astype(np.float64), run + 2 * margin) > 0.0
    return np.asarray(grown, dtype=bool)


def _envelopes(bp: NDArray[np.float64], width: int) -> NDArray[np.float64]:
    """Squared central derivative, integrated over a centred window of ``width`` samples."""
    d = np.zeros_like(bp)
    d[:, 1:-1] = bp[:, 2:] - bp[:, :-2]
    return _moving_sum(d * d, width)


def _fuse(
    env: NDArray[np.float64], valid: NDArray[np.bool_]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Weighted mean of per-lead normalised envelopes; returns (fused, lead weights)."""
    n_leads = env.shape[0]
    weights = np.zeros(n_leads)
    scaled = np.zeros_like(env)
    step = max(1, env.shape[-1] // 20000)
    for lead in range(n_leads):  # loop over leads (<= 15), not samples
        sub = env[lead, ::step][valid[lead, ::step]]
        if sub.size == 0:
            continue
        lo, hi = np.percentile(sub, (50.0, 98.0))
        if not hi > 0.0:
            continue
        scaled[lead] = np.where(valid[lead], env[lead] / hi, 0.0)
        weights[lead] = 1.0 - lo / hi
    wsum = (weights[:, None] * valid).sum(axis=0)
    fused = (weights[:, None] * scaled).sum(axis=0)
    fused = np.divide(fused, wsum, out=np.zeros_like(fused), where=wsum > 0)
    return fused, weights


OPTS = {"local_scale": True, "local_weight": True, "power": 1.0, "q": 2.0, "win_s": 3.0, "block_s": 0.25, "hi": 2.0, "pen": 4.0, "floor": 0.1, "per": 8, "pw": 4.0}


def _fuse_local(
    env: NDArray[np.float64], valid: NDArray[np.bool_], fs: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Locally normalised, locally weighted mean of the lead envelopes."""
    import scipy.ndimage

    n_leads, n = env.shape
    if OPTS["power"] != 1.0:
        env = env ** OPTS["power"]
    b = max(1, int(round(OPTS["block_s"] * fs)))
    nb = -(-n // b)
    pad = nb * b - n
    e = np.where(valid, env, 0.0)
    if pad:
        e = np.concatenate([e, np.zeros((n_leads, pad))], axis=1)
        v = np.concatenate([valid, np.zeros((n_leads, pad), dtype=bool)], axis=1)
    else:
        v = valid
    e3 = e.reshape(n_leads, nb, b)
    bmax = e3.max(axis=-1)
    cnt = v.reshape(n_leads, nb, b).sum(axis=-1)
    bsum = e3.sum(axis=-1)
    k = max(1, int(round(OPTS["win_s"] / OPTS["block_s"])))
    smax = scipy.ndimage.maximum_filter1d(bmax, k, axis=-1, mode="nearest")
    ssum = scipy.ndimage.uniform_filter1d(bsum, k, axis=-1, mode="nearest")
    scnt = scipy.ndimage.uniform_filter1d(cnt.astype(float), k, axis=-1, mode="nearest")
    mean = np.divide(ssum, scnt, out=np.zeros_like(ssum), where=scnt > 0)
    contrast = np.clip(1.0 - np.divide(mean, smax, out=np.ones_like(mean), where=smax > 0), 0, 1)
    w = contrast ** OPTS["q"]
    if OPTS.get("per", 0):
        sqi = _periodicity(env, valid, fs, nb, b)
        w = np.maximum(sqi, 0.0) ** OPTS["per"] + 1e-9
    gmed = np.array([np.median(smax[i][smax[i] > 0]) if (smax[i] > 0).any() else 0.0 for i in range(n_leads)])[:, None]
    ratio = np.divide(smax, gmed, out=np.zeros_like(smax), where=gmed > 0)
    w = w * np.minimum(1.0, OPTS["hi"] / np.maximum(ratio, 1e-12)) ** OPTS["pen"]
    smax = np.maximum(smax, OPTS["floor"] * gmed)
    if not OPTS["local_weight"]:
        w = np.repeat(np.median(w, axis=-1, keepdims=True), nb, axis=-1)
    if not OPTS["local_scale"]:
        g = np.array([np.percentile(bmax[i][bmax[i] > 0], 50) if (bmax[i] > 0).any() else 0.0 for i in range(n_leads)])
        smax = np.repeat(g[:, None], nb, axis=-1)
    centres = (np.arange(nb) + 0.5) * b
    t = np.arange(n)
    scale = np.stack([np.interp(t, centres, smax[i]) for i in range(n_leads)])
    weight = np.stack([np.interp(t, centres, w[i]) for i in range(n_leads)]) * valid
    scaled = np.divide(env, scale, out=np.zeros_like(env), where=scale > 0)
    wsum = weight.sum(axis=0)
    fused = (weight * scaled).sum(axis=0)
    fused = np.divide(fused, wsum, out=np.zeros_like(fused), where=wsum > 0)
    return fused, np.median(w, axis=-1)


def _periodicity(env, valid, fs, nb, b):
    n_leads, n = env.shape
    k = max(1, int(round(fs / 50.0)))
    m = n // k
    e = np.sqrt(np.where(valid, env, 0.0)[:, : m * k].reshape(n_leads, m, k).mean(-1))
    fd = fs / k
    W = int(round(OPTS["pw"] * fd))
    nw = max(1, m // W)
    seg = e[:, : nw * W].reshape(n_leads, nw, W) if m >= W else np.pad(e, ((0, 0), (0, W - m)))[:, None, :]
    seg = seg - seg.mean(-1, keepdims=True)
    f = np.fft.rfft(seg, 2 * W, axis=-1)
    ac = np.fft.irfft(f * np.conj(f), 2 * W, axis=-1)[..., :W]
    lags = np.arange(W)
    ac = ac * (W / np.maximum(W - lags, 1))
    ac = np.divide(ac, ac[..., :1], out=np.zeros_like(ac), where=ac[..., :1] > 0)
    lo = int(0.25 * fd); hi = min(int(2.0 * fd), W // 2)
    q = ac[..., lo:hi].max(-1)  # (leads, nw)
    centres_w = (np.arange(nw) + 0.5) * W * k
    centres_b = (np.arange(nb) + 0.5) * b
    return np.stack([np.interp(centres_b, centres_w, q[i]) for i in range(n_leads)])


def decide_beats(
    positions: list[int],
    amplitudes: list[float],
    refractory: int,
    t_wave: int,
    t_wave_ratio: float,
    threshold_fraction: float,
    searchback_rr: float,
    searchback_fraction: float,
    spk: float,
    npk: float,
) -> list[int]:
    """Pan-Tompkins adaptive-threshold decision over envelope peaks.

    Parameters
    ----------
    positions : list of int
        Sample positions of the envelope peaks (candidates), increasing.
    amplitudes : list of float
        Envelope value at each candidate (squared slope units, so the T-wave slope test
        compares against ``t_wave_ratio ** 2``).
    refractory, t_wave : int
        Refractory period and T-wave window in samples.
    t_wave_ratio, threshold_fraction, searchback_rr, searchback_fraction : float
        As in :class:`RPeakConfig`.
    spk, npk : float
        Initial running signal and noise peak levels.

    Returns
    -------
    list of int
        Indices into ``positions`` of the accepted beats, increasing.
    """
    beats: list[int] = []
    rr: list[int] = []
    t_ratio = t_wave_ratio * t_wave_ratio
    n = len(positions)
    i = 0
    while i < n:
        pos = positions[i]
        amp = amplitudes[i]
        thr = npk + threshold_fraction * (spk - npk)
        if beats:
            last = beats[-1]
            gap = pos - positions[last]
            rr_avg = sum(rr[-8:]) / len(rr[-8:]) if rr else 0.0
            if rr and gap > searchback_rr * rr_avg:
                found = _searchback(
                    positions,
                    amplitudes,
                    last,
                    i,
                    refractory,
                    t_wave,
                    t_ratio,
                    searchback_fraction * thr,
                )
                if found >= 0:
                    spk = 0.25 * amplitudes[found] + 0.75 * spk
                    rr.append(positions[found] - positions[last])
                    beats.append(found)
                    continue
            if gap < refractory:
                if amp > amplitudes[last]:
                    # the larger peak of the two wins (departure from the paper)
                    beats[-1] = i
                    if len(beats) > 1:
                        rr[-1] = pos - positions[beats[-2]]
                i += 1
                continue
            if amp > thr and (gap > t_wave or amp >= t_ratio * amplitudes[last]):
                spk = 0.125 * amp + 0.875 * spk
                rr.append(gap)
                beats.append(i)
            else:
                npk = 0.125 * amp + 0.875 * npk
        elif amp > thr:
            spk = 0.125 * amp + 0.875 * spk
            beats.append(i)
        else:
            npk = 0.125 * amp + 0.875 * npk
        i += 1
    return beats


def _searchback(
    positions: list[int],
    amplitudes: list[float],
    last: int,
    stop: int,
    refractory: int,
    t_wave: int,
    t_ratio: float,
    threshold: float,
) -> int:
    """Largest candidate strictly between beat ``last`` and candidate ``stop`` above
    ``threshold`` (outside the refractory period, passing the T-wave test); -1 if none."""
    best = -1
    best_amp = threshold
    origin = positions[last]
    last_amp = amplitudes[last]
    for j in range(last + 1, stop):
        gap = positions[j] - origin
        amp = amplitudes[j]
        if gap < refractory or amp <= best_amp:
            continue
        if gap <= t_wave and amp < t_ratio * last_amp:
            continue
        best, best_amp = j, amp
    return best


def _refine(
    bp: NDArray[np.float64], peaks: NDArray[np.int64], half: int
) -> NDArray[np.int64]:
    """Move each peak to the largest |bp| within +-half samples (vectorised gather)."""
    offsets = np.arange(-half, half + 1)
    idx = np.clip(peaks[:, None] + offsets[None, :], 0, bp.shape[-1] - 1)
    best = np.argmax(np.abs(bp[idx]), axis=1)
    refined: NDArray[np.int64] = idx[np.arange(idx.shape[0]), best].astype(np.int64)
    return refined


def detect_rpeaks(
    signal: NDArray[np.float64],
    fs: float,
    *,
    usable: NDArray[np.bool_] | None = None,
    config: RPeakConfig | None = None,
) -> NDArray[np.int64]:
    """Detect R peaks by fusing every usable lead.

    Parameters
    ----------
    signal : ndarray, shape (leads, samples)
        Raw (unfiltered) ECG in mV, 1-15 leads.
    fs : float
        Sampling frequency in Hz (100-1000).
    usable : ndarray of bool, shape (leads,), optional
        Leads the quality stage accepted; ``None`` means all.
    config : RPeakConfig, optional
        Detector parameters; defaults to ``RPeakConfig()``.

    Returns
    -------
    ndarray of int64, shape (beats,)
        Sorted, unique sample indices of the R peaks (QRS main deflection). Empty for a
        flat record or when no lead is usable.

    Raises
    ------
    InvalidSignalError
        When the signal breaks the array contract or ``usable`` has the wrong shape.

    References
    ----------
    See the module docstring (Pan & Tompkins 1985, doi:10.1109/TBME.1985.325532).
    """
    x = check_signal(signal, fs)
    cfg = config if config is not None else RPeakConfig()
    fs = float(fs)
    if usable is not None:
        mask = np.asarray(usable, dtype=bool)
        if mask.shape != (x.shape[0],):
            raise InvalidSignalError(
                "usable mask does not match the leads",
                expected=f"bool array of shape ({x.shape[0]},)",
                got=f"shape {mask.shape}",
            )
        x = x[mask]
    if x.shape[0] == 0:
        return _EMPTY
    x = x[np.ptp(x, axis=-1) > 0.0]
    if x.shape[0] == 0:
        return _EMPTY
    n = _to_samples(cfg, fs)
    sos = design_detection_filter(fs, cfg.band_low_hz, cfg.band_high_hz, cfg.filter_order)
    bp = scipy.signal.sosfiltfilt(sos, x, axis=-1)
    env = _envelopes(bp, n.integration)
    valid = ~_flat_mask(x, n.flat, n.margin)
    fused, weights = _fuse_local(env, valid, fs) if OPTS.get('new', True) else _fuse(env, valid)
    if not weights.any():
        return _EMPTY
    cand, _ = scipy.signal.find_peaks(fused, distance=max(1, n.refractory // 2))
    if cand.size == 0:
        return _EMPTY
    amps = fused[cand]
    spk = float(np.percentile(amps, 90.0)) * 0.5
    npk = float(np.median(amps)) * 0.5
    keep = decide_beats(
        cand.tolist(),
        amps.tolist(),
        n.refractory,
        n.t_wave,
        cfg.t_wave_slope_ratio,
        cfg.threshold_fraction,
        cfg.searchback_rr,
        cfg.searchback_fraction,
        spk,
        npk,
    )
    if not keep:
        return _EMPTY
    peaks = cand[np.asarray(keep, dtype=np.int64)].astype(np.int64)
    best_lead = int(np.argmax(weights))
    refined = _refine(bp[best_lead], peaks, n.refine)
    return np.unique(refined)
