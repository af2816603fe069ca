"""Global intervals, frontal axes and per-lead amplitudes of the median beat.

All amplitudes are against the isoelectric PR-segment level (10 ms ending 5 ms before the
global QRS onset), the reference for ST deviation in the AHA/ACCF/HRS recommendations.

References
----------
- Rautaharju PM, Surawicz B, Gettes LS. "AHA/ACCF/HRS recommendations for the
  standardization and interpretation of the electrocardiogram, part IV: the ST segment,
  T and U waves, and the QT interval", Circulation 119:e241-e250, 2009,
  doi:10.1161/CIRCULATIONAHA.108.191096 (ST at J and J+60 ms vs the PR segment; QTc).
- Bazett HC. Heart 7:353-370, 1920; Fridericia LS. Acta Med Scand 53:469-486, 1920.
- Kligfield P, et al. "Recommendations for the standardization and interpretation of the
  electrocardiogram, part I", Circulation 115:1306-1324, 2007,
  doi:10.1161/CIRCULATIONAHA.106.180200 (frontal axes from the hexaxial leads; global
  intervals; minimal wave 20 uV as in computerized programs).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from edge_agent.dsp.delineate import isoelectric_level
from edge_agent.dsp.results import Axes, Fiducials, Intervals, LeadMeasures, MedianBeat
from edge_agent.errors import InvalidSignalError
from edge_agent.types import normalize_lead_name

__all__ = ["measure_axes", "measure_intervals", "measure_leads"]

# Deflections smaller than this are not counted as a Q, R or S wave (mV).
MIN_WAVE_MV = 0.02
# ST levels are averaged over +/- this many seconds around J, J+20, J+40, J+60, J+80 ms.
ST_HALF_WINDOW_S = 0.002
# Delays after J (s) at which the ST level is read.
ST_DELAYS_S = (0.0, 0.020, 0.040, 0.060, 0.080)


def _ms(samples: int, fs: float) -> float:
    return 1000.0 * samples / fs


def measure_intervals(fid: Fiducials, median: MedianBeat, rr_ms: float | None) -> Intervals:
    """PR, QRS, QT and QTc (Bazett, Fridericia) from the global fiducials.

    Parameters
    ----------
    fid : Fiducials
        Global fiducials of ``median`` (samples into its waveform).
    median : MedianBeat
        The median beat (for fs).
    rr_ms : float or None
        Mean RR interval of the record in ms (for QTc); None leaves QTc unmeasured.

    Returns
    -------
    Intervals
        PR = QRS on - P on, QRS = QRS off - QRS on, QT = T end - QRS on, in ms;
        QTc Bazett = QT / sqrt(RR s), Fridericia = QT / cbrt(RR s). None where a needed
        fiducial is absent.
    """
    fs = float(median.fs)
    pr = (
        _ms(fid.qrs_on - fid.p_on, fs)
        if fid.p_on is not None and fid.qrs_on is not None
        else None
    )
    qrs = (
        _ms(fid.qrs_off - fid.qrs_on, fs)
        if fid.qrs_on is not None and fid.qrs_off is not None
        else None
    )
    qt = (
        _ms(fid.t_off - fid.qrs_on, fs)
        if fid.t_off is not None and fid.qrs_on is not None
        else None
    )
    rr_ok = rr_ms is not None and math.isfinite(rr_ms) and rr_ms > 0
    rr_s = rr_ms / 1000.0 if rr_ok and rr_ms is not None else None
    bazett = qt / math.sqrt(rr_s) if qt is not None and rr_s is not None else None
    fridericia = qt / rr_s ** (1.0 / 3.0) if qt is not None and rr_s is not None else None
    return Intervals(
        rr_ms=float(rr_ms) if rr_ok and rr_ms is not None else None,
        pr_ms=pr,
        qrs_ms=qrs,
        qt_ms=qt,
        qtc_bazett_ms=bazett,
        qtc_fridericia_ms=fridericia,
    )


def _check(
    median: MedianBeat, leads: Sequence[str]
) -> tuple[NDArray[np.float64], list[str]]:
    w = np.asarray(median.waveform, dtype=np.float64)
    if w.ndim != 2 or w.shape[0] != len(leads):
        raise InvalidSignalError(
            "lead names do not match the median beat",
            expected=f"{w.shape[0] if w.ndim == 2 else '?'} names",
            got=f"{len(leads)}",
        )
    return w, [normalize_lead_name(name) for name in leads]


def _frontal(areas: dict[str, float]) -> float | None:
    """Axis (degrees, (-180, 180]) from net areas of the limb leads.

    With Einthoven's identities III = II - I and aVF = (II + III) / 2, a heart vector H at
    angle a gives I = |H| cos a and aVF = (sqrt(3) / 2) |H| sin a, so
    ``a = atan2(2 aVF / sqrt(3), I)``; aVF is derived from I/II/III when not recorded.
    """
    a = areas
    if "I" in a and "aVF" in a:
        x, avf = a["I"], a["aVF"]
    elif "I" in a and "II" in a:
        x, avf = a["I"], a["II"] - a["I"] / 2.0
    elif "II" in a and "III" in a:
        x, avf = a["II"] - a["III"], (a["II"] + a["III"]) / 2.0
    elif "I" in a and "III" in a:
        x, avf = a["I"], a["I"] / 2.0 + a["III"]
    else:
        return None
    y = 2.0 * avf / math.sqrt(3.0)
    if abs(x) < 1e-12 and abs(y) < 1e-12:
        return None
    deg = math.degrees(math.atan2(y, x))
    return 180.0 if deg == -180.0 else deg


def _net_areas(
    dev: NDArray[np.float64], names: list[str], start: int | None, stop: int | None
) -> dict[str, float] | None:
    if start is None or stop is None or stop <= start:
        return None
    area = dev[:, start : stop + 1].sum(axis=1)
    return {
        n: float(area[i]) for i, n in enumerate(names) if n in ("I", "II", "III", "aVF")
    }


def measure_axes(median: MedianBeat, fid: Fiducials, leads: Sequence[str]) -> Axes:
    """Frontal-plane P, QRS and T axes from net areas (against the PR baseline).

    Parameters
    ----------
    median : MedianBeat
        Median beat, leads in the order of ``leads``.
    fid : Fiducials
        Global fiducials; P uses P on..off, QRS uses QRS on..off, T uses QRS off..T end.
    leads : sequence of str
        Lead names (any spelling accepted by ``normalize_lead_name``).

    Returns
    -------
    Axes
        Degrees in (-180, 180]; None when the wave is absent or fewer than two of the
        limb leads I, II, III, aVF (with I or aVF derivable) are present.
    """
    w, names = _check(median, leads)
    if fid.qrs_on is None:
        return Axes(p_deg=None, qrs_deg=None, t_deg=None)
    dev = w - isoelectric_level(w, fid.qrs_on, median.fs)[:, None]
    out = []
    for start, stop in (
        (fid.p_on, fid.p_off),
        (fid.qrs_on, fid.qrs_off),
        (fid.qrs_off, fid.t_off),
    ):
        areas = _net_areas(dev, names, start, stop)
        out.append(_frontal(areas) if areas is not None else None)
    return Axes(p_deg=out[0], qrs_deg=out[1], t_deg=out[2])


def _qrs_waves(
    dev: NDArray[np.float64], on: int, off: int, fs: float
) -> tuple[
    NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]
]:
    """Per-lead R, S, Q (mV) and Q duration (ms) within the global QRS.

    Q is the negative deflection before the first positive wave (>= ``MIN_WAVE_MV``); R the
    largest positive deflection; S the deepest negative deflection after the first positive
    wave. A complex with no positive wave is a QS: Q = its minimum, R = S = 0. The Q
    duration runs from QRS onset until the signal returns to the baseline after the Q
    minimum. Deflections under ``MIN_WAVE_MV`` count as absent (0).
    """
    seg = dev[:, on : off + 1]
    n_leads, n = seg.shape
    pos = np.arange(n)[None, :]
    positive = seg >= MIN_WAVE_MV
    has_r = positive.any(axis=1)
    first_pos = np.where(has_r, positive.argmax(axis=1), n)[:, None]
    r_mv = np.where(has_r, np.where(pos >= first_pos, seg, -np.inf).max(axis=1), 0.0)
    q_min = np.where(pos < first_pos, seg, np.inf).min(axis=1, initial=np.inf)
    q_mv = np.where(np.isfinite(q_min), np.minimum(q_min, 0.0), 0.0)
    s_min = np.where(pos >= first_pos, seg, np.inf).min(axis=1, initial=np.inf)
    s_mv = np.where(has_r & np.isfinite(s_min), np.minimum(s_min, 0.0), 0.0)
    q_at = np.where(pos < first_pos, seg, np.inf).argmin(axis=1)[:, None]
    back = (seg >= 0.0) & (pos > q_at)
    q_end = np.where(back.any(axis=1), back.argmax(axis=1), n)
    q_mv = np.where(q_mv <= -MIN_WAVE_MV, q_mv, 0.0)
    q_ms = np.where(q_mv < 0.0, 1000.0 * q_end / fs, 0.0)
    s_mv = np.where(s_mv <= -MIN_WAVE_MV, s_mv, 0.0)
    return (
        np.asarray(r_mv, dtype=np.float64),
        np.asarray(s_mv, dtype=np.float64),
        np.asarray(q_mv, dtype=np.float64),
        np.asarray(q_ms, dtype=np.float64),
    )


def _st_levels(
    dev: NDArray[np.float64], j: int, fs: float
) -> list[NDArray[np.float64] | None]:
    """Mean deviation over +/- 2 ms at each ``ST_DELAYS_S`` after J; None past the beat."""
    half = max(0, round(ST_HALF_WINDOW_S * fs))
    n = dev.shape[1]
    out: list[NDArray[np.float64] | None] = []
    for delay_s in ST_DELAYS_S:
        c = j + round(delay_s * fs)
        if c + half >= n:
            out.append(None)
            continue
        out.append(np.asarray(dev[:, max(0, c - half) : c + half + 1].mean(axis=1)))
    return out


def _t_amplitudes(
    dev: NDArray[np.float64], fid: Fiducials, fs: float
) -> NDArray[np.float64] | None:
    """Signed per-lead T extreme between J+40 ms and T end."""
    if fid.qrs_off is None or fid.t_off is None:
        return None
    start = fid.qrs_off + round(0.04 * fs)
    if fid.t_off <= start:
        return None
    seg = dev[:, start : fid.t_off + 1]
    idx = np.abs(seg).argmax(axis=1)
    return np.asarray(seg[np.arange(seg.shape[0]), idx], dtype=np.float64)


def _pick(values: NDArray[np.float64] | None, i: int) -> float | None:
    return None if values is None else float(values[i])


def measure_leads(
    median: MedianBeat, fid: Fiducials, leads: Sequence[str]
) -> tuple[LeadMeasures, ...]:
    """Per-lead ST levels and Q/R/S/T amplitudes of the median beat.

    Parameters
    ----------
    median : MedianBeat
        Median beat (leads, n) in mV.
    fid : Fiducials
        Global fiducials; J is the global QRS offset.
    leads : sequence of str
        Lead names, one per waveform row (kept as given in the result).

    Returns
    -------
    tuple of LeadMeasures
        One per lead. ST at J, J+20, J+40, J+60 and J+80 ms (mean over +/- 2 ms)
        against the PR segment; Q the negative deflection before the first positive wave
        and its duration (onset to return to baseline), R the largest positive deflection,
        S the deepest negative deflection after the first positive wave (QS complexes:
        Q = the whole negative complex, R = S = 0); deflections under 0.02 mV count as
        absent (0). T is the signed extreme between
        J+40 ms and T end. Fields are None when the fiducials they need are absent.
    """
    w, _ = _check(median, leads)
    fs = float(median.fs)
    n_leads = w.shape[0]
    if fid.qrs_on is None or fid.qrs_off is None or fid.qrs_off <= fid.qrs_on:
        return tuple(
            LeadMeasures(
                lead=str(name),
                st_j_mv=None,
                st_j60_mv=None,
                st_j80_mv=None,
                r_mv=None,
                s_mv=None,
                q_mv=None,
                q_ms=None,
                t_mv=None,
            )
            for name in leads
        )
    dev = w - isoelectric_level(w, fid.qrs_on, fs)[:, None]
    r_mv, s_mv, q_mv, q_ms = _qrs_waves(dev, fid.qrs_on, fid.qrs_off, fs)
    st = _st_levels(dev, fid.qrs_off, fs)
    t_mv = _t_amplitudes(dev, fid, fs)

    return tuple(
        LeadMeasures(
            lead=str(leads[i]),
            st_j_mv=_pick(st[0], i),
            st_j60_mv=_pick(st[3], i),
            st_j80_mv=_pick(st[4], i),
            r_mv=float(r_mv[i]),
            s_mv=float(s_mv[i]),
            q_mv=float(q_mv[i]),
            q_ms=float(q_ms[i]),
            t_mv=_pick(t_mv, i),
            st_j20_mv=_pick(st[1], i),
            st_j40_mv=_pick(st[2], i),
        )
        for i in range(n_leads)
    )
