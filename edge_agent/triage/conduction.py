"""QRS morphology for the conduction rules, and ventricular-beat evidence for the PVC rule.

Pure numpy/scipy on the signal core's results (no I/O): :func:`measure_qrs_shapes` reads
the median beat between the global QRS onset and offset, lead by lead, and returns what
the AHA/ACCF/HRS 2009 bundle-branch-block criteria need and the core's
:class:`~edge_agent.dsp.results.LeadMeasures` does not carry: the waves of the QRS in
order (r, s, R', notches), the R peak time, the duration of the terminal S wave and of the
R wave. :func:`pvc_evidence` re-reads the beat labels with their timing: it counts only
ventricular beats whose QRS window lies inside the record and that are premature or
followed by a pause (outside AF).

Wave definition (after the measurement convention of Kligfield 2007, minimal wave
20 uV; computerised programs use 20-30 uV): a wave is a local extremum of the deviation
from the PR-segment baseline whose amplitude and prominence both reach
``max(MIN_WAVE_MV, WAVE_FRACTION * max |QRS|)``. A notch of the R wave (a dip that does
not cross the baseline) is therefore a second positive wave, as in the AHA text ("rsr',
rsR', or rSR' ... a wide and often notched R wave").

References
----------
- Surawicz B, Childers R, Deal BJ, Gettes LS. AHA/ACCF/HRS Recommendations for the
  Standardization and Interpretation of the Electrocardiogram, Part III: Intraventricular
  Conduction Disturbances. J Am Coll Cardiol 2009;53:976-81.
  doi:10.1016/j.jacc.2008.12.014 (R peak time, S duration in I and V6).
- Kligfield P, et al. Recommendations for the standardization and interpretation of the
  electrocardiogram, Part I. Circulation 2007;115:1306-24.
  doi:10.1161/CIRCULATIONAHA.106.180200 (wave definitions, global QRS).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.signal import find_peaks

from edge_agent.dsp.delineate import isoelectric_level
from edge_agent.dsp.results import BeatClass, Beats, Fiducials, MedianBeat
from edge_agent.types import normalize_lead_name

__all__ = [
    "MIN_WAVE_MV",
    "WAVE_FRACTION",
    "PvcEvidence",
    "QrsShape",
    "measure_qrs_shapes",
    "pvc_evidence",
]

MIN_WAVE_MV = 0.05
WAVE_FRACTION = 0.10
# A wave's duration is measured where it exceeds this fraction of its own peak (a
# scale-free stand-in for "returns to the baseline").
RUN_FRACTION = 0.10
# Leads the conduction rules read (others are not measured).
_LEADS = ("I", "aVL", "V1", "V2", "V5", "V6")


@dataclass(frozen=True, slots=True)
class QrsShape:
    """The waves of one lead's QRS on the median beat (times from the global QRS onset).

    ``waves`` is the sign sequence of the significant extrema in time order, e.g. ``"+-+"``
    for rsR' or ``"-+"`` for qR. ``r_peak_time_ms`` runs from the QRS onset to the peak of
    the last positive wave (R' when present; AHA 2009 "R peak time"), ``None`` without a
    positive wave. ``terminal_s_ms`` is the duration below the baseline of a terminal
    negative wave (0 when the QRS ends on a positive wave), ``r_ms`` the duration above the
    baseline of the positive wave before it (or of the largest one). ``max_mv`` and
    ``min_mv`` are the largest positive and the deepest negative deviation.
    """

    lead: str
    waves: str
    r_peak_time_ms: float | None
    terminal_s_ms: float
    r_ms: float
    max_mv: float
    min_mv: float
    initial_q_mv: float

    @property
    def n_positive(self) -> int:
        """Number of positive waves (r, R', notches of R)."""
        return self.waves.count("+")

    @property
    def terminal_positive(self) -> bool:
        """The QRS ends on a positive wave (R or R')."""
        return self.waves.endswith("+")

    @property
    def dominant_negative(self) -> bool:
        """QS or rS: the deepest negative deviation is at least twice the tallest positive
        one."""
        return -self.min_mv >= 2.0 * self.max_mv and self.min_mv < -MIN_WAVE_MV

    @property
    def dominant_positive(self) -> bool:
        """The tallest positive deviation exceeds the deepest negative one."""
        return self.max_mv > -self.min_mv and self.max_mv >= MIN_WAVE_MV


def _run_ms(x: NDArray[np.float64], at: int, positive: bool, fs: float) -> float:
    """Duration (ms) of the wave whose peak is ``x[at]``: the run of samples around it
    beyond ``RUN_FRACTION`` of its peak, on the same side of the baseline."""
    level = RUN_FRACTION * abs(float(x[at]))
    same = x > level if positive else x < -level
    lo = at
    while lo > 0 and same[lo - 1]:
        lo -= 1
    hi = at
    while hi < len(x) - 1 and same[hi + 1]:
        hi += 1
    return 1000.0 * (hi - lo + 1) / fs


def _shape(lead: str, x: NDArray[np.float64], fs: float) -> QrsShape:
    """Waves of one lead's QRS deviation ``x`` (baseline removed, onset at index 0)."""
    amp = float(np.abs(x).max()) if x.size else 0.0
    sig = max(MIN_WAVE_MV, WAVE_FRACTION * amp)
    # Only the start is padded: a deflection still rising at the global QRS offset is
    # the ST segment of a lead whose own QRS ended earlier (LBBB V1-V2), not an R'.
    pad = np.concatenate(([0.0], x))
    pos, _ = find_peaks(pad, height=sig, prominence=sig)
    neg, _ = find_peaks(-pad, height=sig, prominence=sig)
    pos, neg = pos - 1, neg - 1
    order = sorted([(int(i), "+") for i in pos] + [(int(i), "-") for i in neg])
    waves = "".join(s for _, s in order)
    rpt = 1000.0 * float(pos[-1]) / fs if pos.size else None
    s_ms = 0.0
    r_ms = 0.0
    if order and order[-1][1] == "-":
        s_ms = _run_ms(x, order[-1][0], False, fs)
        before = [i for i, s in order[:-1] if s == "+"]
        if before:
            r_ms = _run_ms(x, before[-1], True, fs)
    elif pos.size:
        r_ms = _run_ms(x, int(pos[np.argmax(x[pos])]), True, fs)
    q = float(x[order[0][0]]) if order and order[0][1] == "-" and pos.size else 0.0
    return QrsShape(
        lead=lead,
        waves=waves,
        r_peak_time_ms=rpt,
        terminal_s_ms=s_ms,
        r_ms=r_ms,
        max_mv=max(0.0, float(x.max())) if x.size else 0.0,
        min_mv=min(0.0, float(x.min())) if x.size else 0.0,
        initial_q_mv=q,
    )


def measure_qrs_shapes(
    median: MedianBeat | None,
    fiducials: Fiducials | None,
    leads: Sequence[str],
    usable: ArrayLike | None = None,
) -> dict[str, QrsShape]:
    """QRS wave sequence, R peak time and S/R durations of I, aVL, V1, V2, V5, V6.

    Parameters
    ----------
    median : MedianBeat or None
        The core's median beat, shape (leads, n), mV.
    fiducials : Fiducials or None
        Its global fiducials; the QRS is ``qrs_on..qrs_off`` (inclusive).
    leads : sequence of str
        Lead names, one per waveform row.
    usable : array_like of bool, optional
        Quality mask over ``leads``; unusable leads are not measured.

    Returns
    -------
    dict of str to QrsShape
        By normalised lead name; empty without a median beat or QRS boundaries.
    """
    if median is None or fiducials is None:
        return {}
    on, off = fiducials.qrs_on, fiducials.qrs_off
    w = np.asarray(median.waveform, dtype=np.float64)
    if on is None or off is None or off <= on or w.ndim != 2 or w.shape[0] != len(leads):
        return {}
    ok = np.ones(len(leads), bool) if usable is None else np.asarray(usable, bool)
    dev = w - isoelectric_level(w, on, float(median.fs))[:, None]
    out: dict[str, QrsShape] = {}
    for i, name in enumerate(leads):
        lead = normalize_lead_name(str(name))
        if lead not in _LEADS or not ok[i] or lead in out:
            continue
        out[lead] = _shape(lead, dev[i, on : off + 1], float(median.fs))
    return out


# ----------------------------------------------------------------------------- PVCs

# Edge beats: a beat whose R lies closer than this to either end of the record has an
# incomplete QRS-T window in the core's beat matrix (0.25-0.40 s before R, see
# ``dsp.beats``) and is not counted.
EDGE_S = 0.20
# Timing of a premature ventricular complex ("premature": AHA/ACCF/HRS 2007 Part II): the
# RR before it shorter than this fraction of the record's median RR (the core's own
# prematurity threshold, ``dsp.beats``), or the RR after it longer than ``PAUSE_AFTER``
# times the median (the compensatory pause).
PREMATURE = 0.85
PAUSE_AFTER = 1.15


@dataclass(frozen=True, slots=True)
class PvcEvidence:
    """Ventricular beats of a record after the timing and edge checks.

    ``n_labelled``: beats the core labelled ventricular; ``n_counted``: those that are
    neither edge beats nor on time (see :func:`pvc_evidence`); ``n_beats``: all beats.
    """

    n_beats: int
    n_labelled: int
    n_counted: int
    n_edge: int
    n_on_time: int


def pvc_evidence(
    beats: Beats | None, fs: float, n_samples: int, irregular: bool = False
) -> PvcEvidence | None:
    """Ventricular beats that look like PVCs by timing as well as by shape.

    A beat the core labelled ``VENTRICULAR`` counts unless (a) its R lies within
    ``EDGE_S`` of the start or end of the record (its beat window is cut: 17 of the 24
    false PVC calls on the whole PTB-XL subset, looked at before the tuning split was
    fixed, were the first or the last beat), or (b) the
    rhythm is regular (``irregular`` False) and the beat is neither premature (RR before
    < ``PREMATURE`` x the median RR) nor followed by a pause (RR after > ``PAUSE_AFTER``
    x the median RR). In an irregular rhythm (AF) timing says nothing and (b) is skipped.
    An interpolated PVC (no pause) at a steady rate is premature and still counts.

    ``EDGE_S`` (0.20 s), ``PREMATURE`` and ``PAUSE_AFTER`` were chosen on the tuning part
    of ``bench/conduction.py`` (PTB-XL folds 1-8, MIT-BIH even-numbered records) among
    0.10-0.60 s and 0.85-0.95 / 1.05-1.15.

    Parameters
    ----------
    beats : Beats or None
        The core's beats (R positions in samples, labels).
    fs : float
        Sampling frequency, Hz.
    n_samples : int
        Record length in samples.
    irregular : bool
        The rhythm is irregular (AF suspected): skip the timing test.

    Returns
    -------
    PvcEvidence or None
        ``None`` without beats or without a valid ``fs`` / ``n_samples`` (the rules then
        keep the rhythm stage's count).
    """
    if beats is None or fs <= 0 or n_samples <= 0:
        return None
    r = np.asarray(beats.rpeaks, dtype=np.int64)
    v = np.array([lab is BeatClass.VENTRICULAR for lab in beats.labels], dtype=bool)
    n = int(r.size)
    if n == 0:
        return PvcEvidence(0, 0, 0, 0, 0)
    edge_n = round(EDGE_S * fs)
    edge = (r < edge_n) | (r > n_samples - 1 - edge_n)
    rr = np.diff(r).astype(np.float64)
    med = float(np.median(rr)) if rr.size else 0.0
    pre = np.full(n, np.nan)
    post = np.full(n, np.nan)
    if rr.size and med > 0:
        pre[1:] = rr / med
        post[:-1] = rr / med
    with np.errstate(invalid="ignore"):
        timed = (pre < PREMATURE) | (post > PAUSE_AFTER)
    on_time = v & ~edge & ~timed & (not irregular)
    counted = v & ~edge & ~on_time
    return PvcEvidence(
        n_beats=n,
        n_labelled=int(v.sum()),
        n_counted=int(counted.sum()),
        n_edge=int((v & edge).sum()),
        n_on_time=int(on_time.sum()),
    )
