"""Signal-processing building blocks of the R-peak detector (:mod:`edge_agent.dsp.rpeaks`).

Vectorised over leads, no detector parameters here (those live in ``RPeakConfig``): the
zero-phase band-pass, the squared-slope envelope and its centred moving sum, flat-run
masks, envelope peaks, block means, per-block values expanded to samples, and the
periodicity (autocorrelation) weight of each lead's envelope.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

from edge_agent.dsp._reduce import mean
from edge_agent.dsp.filters import filtfilt_rows

__all__: list[str] = []  # private to the detector


def _filtfilt(
    sos: NDArray[np.float64], zi: NDArray[np.float64], pad: int, x: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Zero-phase ``sosfilt`` forward and backward with odd edge extension.

    The same as ``scipy.signal.sosfiltfilt(sos, x, axis=-1)`` but with the initial
    state cached with the design instead of solved on every call
    (:func:`edge_agent.dsp.filters.filtfilt_rows`).
    """
    return filtfilt_rows(sos, zi, x, pad)


def _moving_sum(x: NDArray[np.float64], width: int) -> NDArray[np.float64]:
    """Centred moving sum of ``width`` samples along the last axis (cumsum, same length)."""
    n = x.shape[-1]
    width = min(width, n)
    c = np.zeros(x.shape[:-1] + (n + 1,))
    np.cumsum(x, axis=-1, out=c[..., 1:])
    half = width // 2
    out = np.empty(x.shape)
    # out[i] = c[min(i + width - half, n)] - c[max(i - half, 0)]
    out[..., half : n - width + half + 1] = c[..., width:] - c[..., : n - width + 1]
    out[..., :half] = c[..., width - half : width] - c[..., :1]
    out[..., n - width + half + 1 :] = c[..., n : n + 1] - c[..., n - width + 1 : n - half]
    return out


def _flat_mask(x: NDArray[np.float64], run: int, margin: int) -> NDArray[np.bool_]:
    """True where a lead is in (or ``margin`` from) a run of >= ``run`` equal samples."""
    n_leads, n = x.shape
    run = min(run, n)
    mask = np.zeros(x.shape, dtype=bool)
    # zero steps of all leads in one flat index space; the False column keeps runs
    # from joining across leads
    still = np.zeros((n_leads, n), dtype=bool)
    np.equal(x[:, 1:], x[:, :-1], out=still[:, :-1])
    z = still.ravel().nonzero()[0]
    span = run - 2  # a run of `run` samples = run-1 consecutive zero steps
    if z.size <= span:
        return mask
    starts = z[: z.size - span][z[span:] - z[: z.size - span] == span]
    if starts.size == 0:
        return mask
    lead, pos = np.divmod(starts, n)
    edges = np.zeros((n_leads, n + 1), dtype=np.int64)
    np.add.at(edges, (lead, np.maximum(pos - margin, 0)), 1)
    np.add.at(edges, (lead, np.minimum(pos + run + margin, n)), -1)
    grown: NDArray[np.bool_] = np.cumsum(edges[:, :-1], axis=1) > 0
    return grown


def _peaks(e: NDArray[np.float64], distance: int) -> NDArray[np.intp]:
    """Local maxima of ``e`` (1-D); of two closer than ``distance`` the lower is dropped.

    Like ``scipy.signal.find_peaks(e, distance=distance)`` but vectorised over neighbour
    ranks instead of sorted by height (peaks of a smooth envelope are sparse).
    """
    inner = e[1:-1]
    p = ((inner > e[:-2]) & (inner >= e[2:])).nonzero()[0] + 1
    h = e[p]
    keep = np.ones(p.size, dtype=bool)
    for k in range(1, distance + 1):  # neighbour rank, at most `distance` iterations
        if k >= p.size:
            break
        close = (p[k:] - p[:-k]) < distance
        if not close.any():
            break
        keep[:-k] &= ~(close & (h[:-k] < h[k:]))
        keep[k:] &= ~(close & (h[k:] <= h[:-k]))
    peaks: NDArray[np.intp] = p[keep]
    return peaks


def _envelopes(bp: NDArray[np.float64], width: int) -> NDArray[np.float64]:
    """Squared central derivative, integrated over a centred window of ``width`` samples."""
    d = np.zeros(bp.shape)
    np.subtract(bp[:, 2:], bp[:, :-2], out=d[:, 1:-1])
    np.multiply(d, d, out=d)
    return _moving_sum(d, width)


@lru_cache(maxsize=64)
def _ramps(block: int) -> tuple[NDArray[np.float64], NDArray[np.float64], int]:
    """Interpolation weights towards the previous and the next block centre, and the
    split: ``to_next`` is 0 before it, ``to_prev`` from it on."""
    u = (np.arange(block) + 0.5) / block - 0.5
    to_prev, to_next = np.maximum(-u, 0.0), np.maximum(u, 0.0)
    split = int(np.count_nonzero(u <= 0.0))
    to_prev.setflags(write=False)
    to_next.setflags(write=False)
    return to_prev, to_next, split


def _expand(v: NDArray[np.float64], block: int, n: int) -> NDArray[np.float64]:
    """Per-block values (rows, blocks) -> per-sample, linear between block centres.

    ``v + (v_prev - v) * to_prev`` in the first half of a block, ``v + (v_next - v) *
    to_next`` in the second (the other weight is 0 there).
    """
    to_prev, to_next, split = _ramps(block)
    prev = np.empty_like(v)
    prev[:, 0] = 0.0
    np.subtract(v[:, :-1], v[:, 1:], out=prev[:, 1:])
    nxt = np.empty_like(v)
    nxt[:, -1] = 0.0
    np.subtract(v[:, 1:], v[:, :-1], out=nxt[:, :-1])
    out = np.empty(v.shape + (block,))
    np.multiply(prev[:, :, None], to_prev[:split], out=out[:, :, :split])
    np.multiply(nxt[:, :, None], to_next[split:], out=out[:, :, split:])
    out += v[:, :, None]
    flat: NDArray[np.float64] = out.reshape(v.shape[0], -1)[:, :n]
    return flat


def _periodicity(
    env: NDArray[np.float64], fs: float, window_s: float, blocks: int, block: int
) -> NDArray[np.float64]:
    """Peak of each lead's envelope autocorrelation at RR lags 0.25-2 s, per block.

    The envelope is averaged down to about 50 Hz, cut into windows of ``window_s``, and
    the unbiased, zero-lag-normalised autocorrelation of each window (FFT) is maximised
    over lags of 0.25 to 2 s (30-240 bpm). Returns (leads, blocks).
    """
    n_leads, n = env.shape
    k, m, w, nw, lo, hi, unbias, left, right, frac, rest = _periodicity_plan(
        n, fs, window_s, blocks, block
    )
    e = np.sqrt(_block_mean(env, k)[:, :m])
    if m < w:
        e = np.pad(e, ((0, 0), (0, w - m)))
    seg = e[:, : nw * w].reshape(n_leads, nw, w)
    padded = np.zeros((n_leads, nw, 2 * w))  # zero-padded to 2w: a linear correlation
    np.subtract(seg, mean(seg, -1, keepdims=True), out=padded[..., :w])
    spec = np.fft.rfft(padded, axis=-1)
    ac = np.fft.irfft(spec * np.conj(spec), 2 * w, axis=-1)
    # unbiased (x w / (w - lag)), then normalised by lag 0 and maximised over lo..hi lags;
    # dividing by a positive lag-0 value is monotonic, so it is applied after the max
    zero = ac[..., 0]  # its unbiasing factor is w / w = 1
    peak = (ac[..., lo:hi] * unbias).max(axis=-1)
    q = np.divide(peak, zero, out=np.zeros(peak.shape), where=zero > 0)
    # linear interpolation from window centres to block centres, all leads at once
    out: NDArray[np.float64] = q[:, left] * rest + q[:, right] * frac
    return out


@lru_cache(maxsize=64)
def _periodicity_plan(
    n: int, fs: float, window_s: float, blocks: int, block: int
) -> tuple[
    int,
    int,
    int,
    int,
    int,
    int,
    NDArray[np.float64],
    NDArray[np.intp],
    NDArray[np.intp],
    NDArray[np.float64],
    NDArray[np.float64],
]:
    """The sizes and constant arrays of :func:`_periodicity` for one record shape:
    (k, m, w, nw, lo, hi, unbiasing factors of lags lo..hi, and the interpolation from
    window to block centres: left, right, frac, 1 - frac)."""
    k = max(1, int(round(fs / 50.0)))
    m = n // k
    fd = fs / k
    w = max(4, int(round(window_s * fd)))
    nw = max(1, m // w)
    lo = max(1, int(0.25 * fd))
    hi = max(lo + 1, min(int(2.0 * fd), w // 2))
    unbias = w / np.maximum(w - np.arange(lo, hi), 1)
    centres_w = (np.arange(nw) + 0.5) * w * k
    centres_b = (np.arange(blocks) + 0.5) * block
    where = np.interp(centres_b, centres_w, np.arange(nw, dtype=np.float64))
    left = np.floor(where).astype(np.intp)
    right = np.minimum(left + 1, nw - 1)
    frac = where - left
    rest = 1.0 - frac
    for a in (unbias, left, right, frac, rest):
        a.setflags(write=False)
    return k, m, w, nw, lo, hi, unbias, left, right, frac, rest


def _positive_median(v: NDArray[np.float64]) -> NDArray[np.float64]:
    """Median of the positive entries of each row (0 when none); shape (rows, 1)."""
    positive = v > 0
    count = positive.sum(axis=-1)
    ordered = np.where(positive, v, np.inf)
    ordered.sort(axis=-1)
    rows = np.arange(v.shape[0])
    lo = ordered[rows, np.maximum((count - 1) // 2, 0)]
    hi = ordered[rows, count // 2]
    med: NDArray[np.float64] = np.where(count > 0, 0.5 * (lo + hi), 0.0)
    return med[:, None]


def _padded(
    env: NDArray[np.float64], valid: NDArray[np.bool_ | np.float64] | None, block: int
) -> NDArray[np.float64]:
    """``env * valid`` zero-padded to whole blocks (``valid`` None: nothing masked)."""
    n_leads, n = env.shape
    e = np.zeros((n_leads, -(-n // block) * block))
    if valid is None:
        e[:, :n] = env
    else:
        np.multiply(env, valid, out=e[:, :n])
    return e


def _block_mean(x: NDArray[np.float64], k: int) -> NDArray[np.float64]:
    """Average non-overlapping blocks of ``k`` samples (strided sums, no reshape copy)."""
    if k == 1:
        return x
    m = x.shape[-1] // k
    out = x[:, 0 : m * k : k].copy()
    for j in range(1, k):  # k <= 10 strided adds, not a loop over samples
        out += x[:, j : m * k : k]
    out *= 1.0 / k
    return out
