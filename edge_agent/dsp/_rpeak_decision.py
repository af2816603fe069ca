"""Pan-Tompkins adaptive-threshold decision over envelope peaks (R-peak detector core).

The one part of :mod:`edge_agent.dsp.rpeaks` that is a Python loop: over candidate
peaks (a few per beat), never over samples. ``tests/edge_agent/test_rpeaks.py`` checks it
against a plain restatement of the rules (``_decide_reference``) on random candidate
trains, and on hand-made cases (T waves, searchback, refractory period).

References
----------
.. [1] J. Pan and W. J. Tompkins, "A real-time QRS detection algorithm," IEEE Trans.
   Biomed. Eng., vol. 32, no. 3, pp. 230-236, 1985. doi:10.1109/TBME.1985.325532
.. [2] P. S. Hamilton and W. J. Tompkins, "Quantitative investigation of QRS detection
   rules using the MIT/BIH arrhythmia database," IEEE Trans. Biomed. Eng., vol. 33,
   no. 12, pp. 1157-1165, 1986. doi:10.1109/TBME.1986.325695
"""

from __future__ import annotations

__all__ = ["decide_beats"]


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
    recent: list[int] = []  # the last (up to) 8 RR intervals, in samples
    rr_sum = 0
    limit = float("inf")  # searchback when the gap exceeds this
    t_ratio = t_wave_ratio * t_wave_ratio
    last = -1
    last_pos = 0
    last_amp = 0.0
    searched = 0  # candidates before this index already failed a searchback
    n = len(positions)
    i = 0
    while i < n:
        pos = positions[i]
        amp = amplitudes[i]
        thr = npk + threshold_fraction * (spk - npk)
        if last < 0:
            if amp > thr:
                spk = 0.125 * amp + 0.875 * spk
                beats.append(i)
                last, last_pos, last_amp = i, pos, amp
            else:
                npk = 0.125 * amp + 0.875 * npk
            i += 1
            continue
        gap = pos - last_pos
        if gap > limit:
            start = max(last + 1, searched)
            found = _searchback(
                positions, amplitudes, last, start, i, refractory, t_wave, t_ratio,
                searchback_fraction * thr,
            )  # fmt: skip
            if found >= 0:
                amp_f = amplitudes[found]
                spk = 0.25 * amp_f + 0.75 * spk
                rr_gap = positions[found] - last_pos
                beats.append(found)
                last, last_pos, last_amp = found, positions[found], amp_f
                recent.append(rr_gap)
                rr_sum += rr_gap
                if len(recent) > 8:
                    rr_sum -= recent.pop(0)
                limit = searchback_rr * rr_sum / len(recent)
                continue  # re-examine candidate i against the recovered beat
            searched = i
        if gap < refractory:
            if amp > last_amp:
                # the larger peak of the two wins (departure from the paper)
                beats[-1] = i
                if len(beats) > 1:
                    new_rr = pos - positions[beats[-2]]
                    rr_sum += new_rr - recent[-1]
                    recent[-1] = new_rr
                    limit = searchback_rr * rr_sum / len(recent)
                last, last_pos, last_amp = i, pos, amp
        elif amp > thr and (gap > t_wave or amp >= t_ratio * last_amp):
            spk = 0.125 * amp + 0.875 * spk
            beats.append(i)
            recent.append(gap)
            rr_sum += gap
            if len(recent) > 8:
                rr_sum -= recent.pop(0)
            limit = searchback_rr * rr_sum / len(recent)
            last, last_pos, last_amp = i, pos, amp
        else:
            npk = 0.125 * amp + 0.875 * npk
        i += 1
    return beats


def _searchback(
    positions: list[int],
    amplitudes: list[float],
    last: int,
    start: int,
    stop: int,
    refractory: int,
    t_wave: int,
    t_ratio: float,
    threshold: float,
) -> int:
    """Largest candidate in ``start..stop-1`` (after beat ``last``) above
    ``threshold`` (outside the refractory period, passing the T-wave test); -1 if none."""
    best = -1
    best_amp = threshold
    origin = positions[last]
    last_amp = amplitudes[last]
    for j in range(start, stop):
        gap = positions[j] - origin
        amp = amplitudes[j]
        if gap < refractory or amp <= best_amp:
            continue
        if gap <= t_wave and amp < t_ratio * last_amp:
            continue
        best, best_amp = j, amp
    return best
