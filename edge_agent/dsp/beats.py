"""Beat classification, beat-to-beat alignment and the median (representative) beat.

Everything works on index matrices: the QRS complexes of all beats are gathered at once as
``signal[:, r[:, None] + offsets]`` (leads, beats, samples) and compared with a dominant
template by correlation; the median beat is ``np.median`` along the beat axis of the
aligned gather. The only loops are over a handful of lag values, never over samples.

References
----------
- Hamilton P. "Open source ECG analysis", Computers in Cardiology 2002 (template
  matching, QRS width and prematurity as the classic PVC features).
- de Chazal P, O'Dwyer M, Reilly RB. "Automatic classification of heartbeats using ECG
  morphology and heartbeat interval features", IEEE TBME 51(7):1196-1206, 2004,
  doi:10.1109/TBME.2004.827359 (AAMI N/S/V/Q classes, RR-interval features).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from edge_agent.dsp._reduce import mean, median
from edge_agent.dsp._select import MAX_NETWORK_ROWS, median_rows
from edge_agent.dsp.results import BeatClass, Beats, MedianBeat
from edge_agent.errors import InvalidSignalError

__all__ = ["classify_beats", "median_beat"]

# Half-width of the QRS window used for morphology (s).
_QRS_HALF_S = 0.08
# Wider window for the QRS width estimate (s).
_WIDTH_HALF_S = 0.12
# Correlation above which two beats share a morphology.
_SAME_CORR = 0.90
# Below this correlation to the dominant template a wide beat is ventricular.
_V_CORR = 0.80
# Below this correlation a beat is ventricular whatever its width.
_V_CORR_ANY = 0.50
# Wide: QRS width estimate larger than the dominant one by this factor and margin (s).
_WIDE_FACTOR = 1.2
_WIDE_MARGIN_S = 0.02
# Premature: RR before the beat shorter than this fraction of the median RR ...
_PREMATURE = 0.85
# ... and followed by a longer interval (a pause) by this factor.
_PAUSE_AFTER = 1.10
# Noisy: high-frequency activity above this multiple of the record's median beat.
_NOISE_FACTOR = 4.0
# A "beat" whose QRS window has less RMS than this (mV) is flat: UNKNOWN.
_MIN_QRS_RMS_MV = 0.005
# Alignment search range (s) and window of the median beat (s).
_ALIGN_LAG_S = 0.04
_PRE_S = (0.25, 0.40)
_POST_S = (0.35, 0.60)
# At most this many beats enter the pairwise-correlation search for the dominant class.
_MAX_PAIRWISE = 64
# Morphology is compared at about 125 Hz, the QRS width and noise at about 250 Hz.
_MORPH_HZ = 125.0
_WIDTH_HZ = 250.0


_LABEL_CODE = {label: code for code, label in enumerate(BeatClass)}


def _stride(fs: float, target_hz: float) -> int:
    """Sample stride that brings fs down to about ``target_hz``."""
    return max(1, round(fs / target_hz))


def _median_beats(seg: NDArray[np.float64]) -> NDArray[np.float64]:
    """Median along axis 1 (beats) of (leads, beats, w); a sort is faster than np.median
    for the few beats of a record."""
    n = seg.shape[1]
    if n % 2:  # the middle order statistic: a selection is enough
        return np.asarray(np.partition(seg, n // 2, axis=1)[:, n // 2], dtype=np.float64)
    srt = np.sort(seg, axis=1)
    return np.asarray(0.5 * (srt[:, n // 2 - 1] + srt[:, n // 2]), dtype=np.float64)


def _gather(
    x: NDArray[np.float64], centers: NDArray[np.int64], offsets: NDArray[np.int64]
) -> NDArray[np.float64]:
    """Gather ``x[:, centers[:, None] + offsets]`` with indices clipped to the record."""
    out: NDArray[np.float64] = x.take(
        _clipped(centers[:, None] + offsets, x.shape[-1]), axis=1
    )
    return out


def _clipped(idx: NDArray[np.int64], n: int) -> NDArray[np.int64]:
    """``np.clip(idx, 0, n - 1)`` in place (``idx`` is a fresh array), minus the wrapper."""
    np.maximum(idx, 0, out=idx)
    np.minimum(idx, n - 1, out=idx)
    return idx


def _lagged(
    x: NDArray[np.float64],
    centers: NDArray[np.int64],
    lags: NDArray[np.int64],
    offsets: NDArray[np.int64],
    *,
    beats_first: bool = False,
) -> NDArray[np.float64]:
    """``x[:, clip(centers[:, None, None] + lags[:, None] + offsets)]``: (leads, beats,
    lags, w), a new C-contiguous array; (beats, lags, leads, w) with ``beats_first``.

    ``lags`` and ``offsets`` are arithmetic progressions with the same step ``d`` (or a
    single element), so ``lags[i] + offsets[k] = lags[0] + offsets[0] + d * (i + k)``:
    the samples ``centers + lags[0] + offsets[0] + d * j`` are gathered once and every
    lag is a window of them (a strided view, then one contiguous copy), instead of an
    element-by-element gather of every lag.
    """
    n_lags, width = lags.size, offsets.size
    if n_lags > 1:
        d = int(lags[1] - lags[0])
    else:
        d = int(offsets[1] - offsets[0]) if width > 1 else 1
    j = int(lags[0] + offsets[0]) + d * np.arange(n_lags + width - 1)
    flat = x.take(_clipped(centers[:, None] + j, x.shape[-1]), axis=1)
    s_lead, s_beat, s_j = flat.strides
    view: NDArray[np.float64] = np.ndarray(
        (flat.shape[0], flat.shape[1], n_lags, width),
        dtype=np.float64,
        buffer=flat,
        strides=(s_lead, s_beat, s_j, s_j),
    )
    return np.ascontiguousarray(view.transpose(1, 2, 0, 3) if beats_first else view)


def _unit_rows(seg: NDArray[np.float64]) -> NDArray[np.float64]:
    """(leads, beats, [lags,] w) -> (beats, [lags,] leads*w): mean-removed unit vectors."""
    v = seg - mean(seg, -1, keepdims=True)
    v = np.moveaxis(v, 0, -2)
    v = v.reshape(*v.shape[:-2], -1)
    norm = np.sqrt(np.einsum("...d,...d->...", v, v))
    v /= np.maximum(norm, 1e-12)[..., None]  # v is a new array (the subtraction's)
    return np.asarray(v, dtype=np.float64)


def _qrs_width(seg: NDArray[np.float64]) -> NDArray[np.float64]:
    """Width (samples) of the region where the summed |slope| exceeds 20 % of its peak.

    ``seg`` is (leads, beats, w); returns (beats,).
    """
    sv = np.abs(seg[:, :, 1:] - seg[:, :, :-1])
    sv = np.add.reduce(sv, axis=0)
    above = sv >= 0.2 * sv.max(axis=1, keepdims=True)
    first = above.argmax(axis=1)
    last = above.shape[1] - 1 - above[:, ::-1].argmax(axis=1)
    return np.asarray(last - first + 1, dtype=np.float64)


def _dominant_seed(
    unit: NDArray[np.float64], width: NDArray[np.float64], premature: NDArray[np.bool_]
) -> int:
    """Seed beat of the dominant morphology.

    ``unit`` is (beats, lags, d): the beat correlates with another at its best lag. The seed
    has the largest cluster (correlation >= 0.90); near-ties go to narrow, on-time beats.
    """
    n, n_lags = unit.shape[0], unit.shape[1]
    if n <= _MAX_PAIRWISE:  # the spread below is then every beat: no gather
        pick = np.arange(n, dtype=np.int64)
        picked = unit
    else:
        pick = np.unique(np.linspace(0, n - 1, _MAX_PAIRWISE).round().astype(np.int64))
        picked = unit[pick]
    center = np.ascontiguousarray(picked[:, n_lags // 2])  # the layout BLAS saw before
    sim = (picked.reshape(-1, unit.shape[2]) @ center.T).reshape(pick.size, n_lags, -1)
    sim = sim.max(axis=1)
    sim = np.maximum(sim, sim.T)
    score = (sim >= _SAME_CORR).sum(axis=1) - 0.5 * premature[pick]
    cand = (score >= 0.8 * score.max()).nonzero()[0]
    return int(pick[cand[width[pick[cand]].argmin()]])


def _beat_noise(
    x: NDArray[np.float64], r: NDArray[np.int64], fs: float
) -> NDArray[np.float64]:
    """High-frequency activity per beat: median |2nd difference| summed over leads.

    Sampled every ~8 ms over R-0.25 s .. R+0.45 s; the median ignores the QRS itself.
    The three taps are gathered as contiguous planes (leads, 3, beats, points).
    """
    offs = np.arange(-round(0.25 * fs), round(0.45 * fs) + 1, _stride(fs, _MORPH_HZ))
    idx = np.arange(3)[:, None, None] + r[None, :, None] + offs[None, None, :]
    trip = x.take(_clipped(idx, x.shape[-1]), axis=1)  # (leads, 3, beats, pts)
    d2 = np.multiply(trip[:, 1], 2.0)
    np.subtract(trip[:, 0], d2, out=d2)
    d2 += trip[:, 2]
    np.abs(d2, out=d2)
    return np.asarray(median(d2.sum(axis=0), axis=1), dtype=np.float64)


def _rr_context(r: NDArray[np.int64]) -> tuple[NDArray[np.bool_], float]:
    """(premature mask, median RR in samples) from R positions."""
    if r.size < 3:
        return np.zeros(r.size, dtype=bool), float(
            np.diff(r).mean()
        ) if r.size == 2 else 0.0
    rr = (r[1:] - r[:-1]).astype(np.float64)
    ref = float(median(rr))
    rr_prev = np.concatenate([[ref], rr])
    rr_next = np.concatenate([rr, [np.inf]])
    premature = (rr_prev < _PREMATURE * ref) & (rr_next > _PAUSE_AFTER * rr_prev)
    return premature, ref


def _lead_mask(usable: ArrayLike | None, n_leads: int) -> NDArray[np.bool_]:
    """Boolean lead mask (all True when ``usable`` is None); checks its length."""
    if usable is None:
        return np.ones(n_leads, dtype=bool)
    mask = np.asarray(usable, dtype=bool).reshape(-1)
    if mask.size != n_leads:
        raise InvalidSignalError(
            "usable mask does not match the leads",
            expected=f"{n_leads} values",
            got=f"{mask.size}",
        )
    return mask


def _checked(
    signal: ArrayLike, rpeaks: ArrayLike, usable: ArrayLike | None
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    x = np.asarray(signal, dtype=np.float64)
    if x.ndim != 2:
        raise InvalidSignalError(
            "signal has the wrong shape",
            expected="2-D (leads, samples)",
            got=f"shape {x.shape}",
        )
    r = np.asarray(rpeaks, dtype=np.int64).reshape(-1)
    # increasing (checked first) makes r[0] the minimum and r[-1] the maximum
    if r.size and (
        bool((r[1:] <= r[:-1]).any()) or int(r[0]) < 0 or int(r[-1]) >= x.shape[1]
    ):
        raise InvalidSignalError(
            "R peaks must be increasing sample indices inside the record",
            expected=f"0 <= r < {x.shape[1]}, increasing",
            got=f"{r.min()}..{r.max()}",
        )
    mask = _lead_mask(usable, x.shape[0])
    if mask.any() and not mask.all():
        x = x[mask]
    return x, r


def classify_beats(
    signal: ArrayLike, rpeaks: ArrayLike, fs: float, *, usable: ArrayLike | None = None
) -> Beats:
    """Label every beat NORMAL, SUPRAVENTRICULAR, VENTRICULAR or UNKNOWN (noisy).

    The dominant morphology is the largest cluster of beats whose QRS complexes (R +/- 80
    ms, all usable leads concatenated) correlate >= 0.90 with each other; ties go to the
    narrowest, on-time beats. Each beat is then compared with the median of that cluster:

    - UNKNOWN: high-frequency activity > 4x the record's median beat, or a flat QRS
      window (RMS < 5 uV).
    - VENTRICULAR: correlation < 0.80 and wide (QRS width estimate > 1.2x and > 20 ms
      above the dominant one) or larger in RMS amplitude by > 1.6x; or correlation < 0.50.
      Prematurity is not required (late PVCs, ventricular escape).
    - SUPRAVENTRICULAR: premature (RR < 0.85x the median RR and followed by an RR at least
      1.1x longer) with dominant morphology.

    Parameters
    ----------
    signal : array_like, shape (leads, samples)
        Preprocessed (diagnostic) ECG in mV.
    rpeaks : array_like of int, shape (beats,)
        Increasing R-peak sample indices.
    fs : float
        Sampling frequency in Hz.
    usable : array_like of bool, shape (leads,), optional
        Leads to use; all when omitted or when none is usable.

    Returns
    -------
    Beats
        R positions, labels and the correlation of each beat with the dominant template.
    """
    x, r = _checked(signal, rpeaks, usable)
    if r.size == 0:
        return Beats(rpeaks=r, labels=(), template_corr=np.zeros(0))
    step = _stride(fs, _MORPH_HZ)
    half = max(2, round(_QRS_HALF_S * fs / step)) * step
    max_lag = max(1, round(_ALIGN_LAG_S * fs / step))
    lags = np.arange(-max_lag, max_lag + 1) * step
    # (beats, lags, leads, w) at ~125 Hz: each (beat, lag) row is contiguous over leads
    seg = _lagged(x, r, lags, np.arange(-half, half + 1, step), beats_first=True)
    unit = seg - mean(seg, -1, keepdims=True)
    unit = unit.reshape(unit.shape[0], unit.shape[1], -1)  # (beats, lags, d), no copy
    unit /= np.maximum(np.sqrt(np.einsum("...d,...d->...", unit, unit)), 1e-12)[..., None]
    wstep = _stride(fs, _WIDTH_HZ)
    whalf = max(3, round(_WIDTH_HALF_S * fs))
    width = _qrs_width(_gather(x, r, np.arange(-whalf, whalf + 1, wstep))) * wstep
    premature, _ = _rr_context(r)
    seed = _dominant_seed(unit, width, premature)
    to_seed = unit @ unit[seed, max_lag]
    best = to_seed.argmax(axis=1)
    members = to_seed.max(axis=1) >= _SAME_CORR
    members[seed] = True
    beat_ix = members.nonzero()[0]
    template = _median_beats(np.moveaxis(seg[beat_ix, best[beat_ix]], 0, 1))  # (leads, w)
    t_unit = _unit_rows(template[:, None, :])[0]
    corr = (unit @ t_unit).max(axis=1)
    at_r = seg[:, max_lag]  # (beats, leads, w)
    centered = np.ascontiguousarray(
        np.moveaxis(at_r - mean(at_r, -1, keepdims=True), 0, 1)
    )  # (leads, beats, w)
    rms = np.sqrt(mean(centered**2, (0, 2)))
    w_dom = float(median(width[members]))
    rms_dom = float(median(rms[members]))
    wide = (width > _WIDE_FACTOR * w_dom) & (width > w_dom + _WIDE_MARGIN_S * fs)
    big = rms > 1.6 * rms_dom
    ventricular = ((corr < _V_CORR) & (wide | big)) | (corr < _V_CORR_ANY)
    noise = _beat_noise(x, r, fs)
    noisy = noise > _NOISE_FACTOR * max(float(median(noise)), 1e-6)
    noisy |= rms < _MIN_QRS_RMS_MV  # no QRS at all (flat stretch): not a beat we can label
    codes = np.full(r.size, 0)
    codes[premature & (corr >= _V_CORR)] = 1
    codes[ventricular] = 2
    codes[noisy] = 3
    table = (
        BeatClass.NORMAL,
        BeatClass.SUPRAVENTRICULAR,
        BeatClass.VENTRICULAR,
        BeatClass.UNKNOWN,
    )
    labels = tuple(table[c] for c in codes.tolist())
    return Beats(rpeaks=r, labels=labels, template_corr=corr.astype(np.float64))


def _window(rr_samples: float, fs: float) -> tuple[int, int]:
    """Median-beat window (samples before R, samples after R), adapted to the median RR."""
    rr_s = rr_samples / fs if rr_samples > 0 else 1.0
    pre = min(max(0.5 * rr_s, _PRE_S[0]), _PRE_S[1])  # np.clip, without its overhead
    post = min(max(0.75 * rr_s, _POST_S[0]), _POST_S[1])
    return round(pre * fs), round(post * fs)


def _best_lag(
    x: NDArray[np.float64],
    centers: NDArray[np.int64],
    template: NDArray[np.float64],
    offs: NDArray[np.int64],
    lags: NDArray[np.int64],
) -> NDArray[np.int64]:
    """Lag (from ``lags``) minimising the squared error of each mean-removed segment."""
    seg = _lagged(x, centers, lags, offs)  # (leads, beats, lags, w)
    seg -= mean(seg, 3, keepdims=True)
    seg -= template[:, None, None, :]
    np.multiply(seg, seg, out=seg)
    sse = seg.sum(axis=(0, 3))
    return np.asarray(lags[sse.argmin(axis=1)], dtype=np.int64)


def _align(
    x: NDArray[np.float64], r: NDArray[np.int64], members: NDArray[np.bool_], fs: float
) -> NDArray[np.int64]:
    """Per-beat lag (samples) that best matches each beat's QRS to the dominant template.

    Least squares on mean-removed R +/- 60 ms segments, all leads: first over +/- 40 ms at
    ~125 Hz, then to the sample around that. No template beat: all lags 0.
    """
    if not members.any():
        return np.zeros(r.size, dtype=np.int64)
    step = _stride(fs, _MORPH_HZ)
    half = max(2, round(0.06 * fs))
    max_lag = max(1, round(_ALIGN_LAG_S * fs / step))
    offs = np.arange(-half, half + 1, step)
    template = _median_beats(_gather(x, r[members], offs))
    template -= mean(template, 1, keepdims=True)
    coarse = _best_lag(x, r, template, offs, np.arange(-max_lag, max_lag + 1) * step)
    if step == 1:
        return coarse
    fine_offs = np.arange(-half, half + 1)
    centers = r + coarse
    template = _median_beats(_gather(x, centers[members], fine_offs))
    template -= mean(template, 1, keepdims=True)
    fine = _best_lag(x, centers, template, fine_offs, np.arange(-step + 1, step))
    return coarse + fine


def median_beat(
    signal: ArrayLike, beats: Beats, fs: float, *, usable: ArrayLike | None = None
) -> MedianBeat:
    """Median beat per lead from the dominant beats, after beat-to-beat alignment.

    Each beat's R position is refined by least-squares alignment of its QRS to the dominant
    template (integer lag, +/- 40 ms, usable leads only); the window R-pre .. R+post (pre
    0.25-0.40 s and post 0.35-0.60 s, scaled with the median RR) is gathered with one
    index matrix and reduced by a median along the beat axis. Beats whose window leaves
    the record are left out when at least one complete beat remains. VENTRICULAR and
    UNKNOWN beats never enter; when no beat is NORMAL, SUPRAVENTRICULAR beats are used,
    then any beat.

    Parameters
    ----------
    signal : array_like, shape (leads, samples)
        Preprocessed ECG in mV (all leads; flat leads give a flat median).
    beats : Beats
        Output of :func:`classify_beats`.
    fs : float
        Sampling frequency in Hz.
    usable : array_like of bool, shape (leads,), optional
        Leads used for the alignment (all when omitted or none usable); the median is
        still computed for every lead.

    Returns
    -------
    MedianBeat
        ``waveform`` (leads, pre+post+1), ``r_index`` = pre, ``lags`` per beat (0 for
        ventricular beats, which are not aligned).
    """
    x = np.asarray(signal, dtype=np.float64)
    r = np.asarray(beats.rpeaks, dtype=np.int64)
    n = x.shape[-1]
    if r.size == 0:
        raise InvalidSignalError("no beats to average", expected=">= 1 R peak", got="0")
    labels = np.array([_LABEL_CODE[lab] for lab in beats.labels], dtype=np.int8)
    use = labels == _LABEL_CODE[BeatClass.NORMAL]
    if not use.any():
        use = labels == _LABEL_CODE[BeatClass.SUPRAVENTRICULAR]
    if not use.any():
        use = np.ones(r.size, dtype=bool)
    aligned = labels != _LABEL_CODE[BeatClass.VENTRICULAR]
    lags = np.zeros(r.size, dtype=np.int64)
    mask = _lead_mask(usable, x.shape[0])
    xa = x[mask] if mask.any() and not mask.all() else x  # no copy when all usable
    lags[aligned] = _align(xa, r[aligned], use[aligned], fs)
    rr = float(median(r[1:] - r[:-1])) if r.size >= 2 else 0.0
    pre, post = _window(rr, fs)
    centers = r + lags
    inside = (centers - pre >= 0) & (centers + post < n)
    if (use & inside).any():
        use &= inside
    k = int(use.sum())
    if k <= MAX_NETWORK_ROWS:
        # a few beats: gathered as (beats, leads, samples), one contiguous array per beat,
        # and reduced by a comparator network (whole-array min/max, exact)
        idx = _clipped(centers[use][:, None] + np.arange(-pre, post + 1), n)
        stack = np.ascontiguousarray(x.take(idx, axis=1).transpose(1, 0, 2))
        waveform = median_rows(stack)
    else:
        # gathered as (leads, samples, beats): the sort runs along contiguous lanes
        idx = _clipped(np.arange(-pre, post + 1)[:, None] + centers[use], n)
        gathered = x.take(idx, axis=1)
        if k % 2:  # odd: the middle order statistic alone (a selection)
            gathered.partition(k // 2, axis=-1)
            waveform = gathered[..., k // 2]
        else:  # even: the mean of the middle pair
            gathered.sort(axis=-1)
            waveform = 0.5 * (gathered[..., k // 2 - 1] + gathered[..., k // 2])
    return MedianBeat(
        waveform=np.ascontiguousarray(waveform),
        r_index=pre,
        n_beats=k,
        fs=float(fs),
        lags=lags,
    )
