"""Result types of the signal core (the contract between its stages).

Pure data: frozen dataclasses and enums, no computation beyond trivial properties. Sample
positions are ``int64`` arrays; a missing fiducial is an explicit ``False`` in a mask or
``None``, never NaN in an index array.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "FIDUCIAL_NAMES",
    "Axes",
    "BeatClass",
    "BeatFiducials",
    "Beats",
    "Fiducials",
    "Intervals",
    "LeadMeasures",
    "LeadQuality",
    "MedianBeat",
    "QualityProblem",
    "QualityReport",
    "RhythmFeatures",
]


class QualityProblem(StrEnum):
    """What can be wrong with one lead before analysis."""

    FLAT = "flat"
    CLIPPING = "clipping"
    LEAD_OFF = "lead_off"
    HF_NOISE = "hf_noise"
    BASELINE_WANDER = "baseline_wander"
    AMPLITUDE = "implausible_amplitude"
    BEAT_NOISE = "beat_noise"  # beat-level stage: beats cannot be read reliably


@dataclass(frozen=True, slots=True)
class LeadQuality:
    """Quality verdict for one lead; ``messages`` are for the cart operator."""

    lead: str
    ok: bool
    problems: tuple[QualityProblem, ...] = ()
    messages: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class QualityReport:
    """Per-lead quality of a record. ``acceptable`` is False when no lead is usable."""

    leads: tuple[LeadQuality, ...]

    @property
    def usable(self) -> NDArray[np.bool_]:
        """Boolean mask over leads, True where the lead can be analysed."""
        return np.array([q.ok for q in self.leads], dtype=bool)

    @property
    def acceptable(self) -> bool:
        """True when at least one lead is usable."""
        return any(q.ok for q in self.leads)


class BeatClass(StrEnum):
    """Beat label (AAMI-like classes)."""

    NORMAL = "N"
    SUPRAVENTRICULAR = "S"
    VENTRICULAR = "V"
    UNKNOWN = "Q"


@dataclass(frozen=True, slots=True)
class Beats:
    """Detected beats: R positions (samples), labels and similarity to the dominant beat."""

    rpeaks: NDArray[np.int64]
    labels: tuple[BeatClass, ...]
    template_corr: NDArray[np.float64]

    @property
    def normal(self) -> NDArray[np.bool_]:
        """Mask of dominant (normal) beats used for the median beat."""
        return np.array([lab is BeatClass.NORMAL for lab in self.labels], dtype=bool)


@dataclass(frozen=True, slots=True)
class MedianBeat:
    """Representative beat per lead, shape (leads, n); ``r_index`` is the R sample in it.

    ``lags`` (optional, one per beat of the record) is the beat-to-beat alignment shift in
    samples: sample ``k`` of the median beat corresponds to sample
    ``rpeaks[i] + lags[i] + k - r_index`` of beat ``i``. ``None`` means no alignment (0).
    """

    waveform: NDArray[np.float64]
    r_index: int
    n_beats: int
    fs: float
    lags: NDArray[np.int64] | None = None


@dataclass(frozen=True, slots=True)
class Fiducials:
    """Global fiducials on the median beat: sample indices into ``MedianBeat.waveform``."""

    p_on: int | None
    p_off: int | None
    qrs_on: int | None
    qrs_off: int | None
    t_off: int | None
    t_peak: int | None = None


FIDUCIAL_NAMES: tuple[str, ...] = ("r", "qrs_on", "qrs_off", "p_on", "p_off", "t_off")


@dataclass(frozen=True, slots=True)
class BeatFiducials:
    """Fiducials of every beat, absolute sample indices.

    ``positions`` and ``present`` are shaped (n_beats, len(FIDUCIAL_NAMES)), columns in the
    order of ``FIDUCIAL_NAMES``; where ``present`` is False the position is meaningless.
    """

    positions: NDArray[np.int64]
    present: NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class Intervals:
    """Global intervals in ms (None when not measurable)."""

    rr_ms: float | None
    pr_ms: float | None
    qrs_ms: float | None
    qt_ms: float | None
    qtc_bazett_ms: float | None
    qtc_fridericia_ms: float | None


@dataclass(frozen=True, slots=True)
class Axes:
    """Frontal-plane axes in degrees (-180, 180]."""

    p_deg: float | None
    qrs_deg: float | None
    t_deg: float | None


@dataclass(frozen=True, slots=True)
class LeadMeasures:
    """Amplitude measurements of one lead on the median beat, in mV and ms.

    ST levels are against the PR-segment (isoelectric) baseline: ``st_j_mv`` at the J point
    (QRS offset), ``st_j60_mv`` and ``st_j80_mv`` 60 and 80 ms after it (``st_j20_mv`` and
    ``st_j40_mv`` at 20 and 40 ms, read by the STEMI feature model). ``q_mv``/``s_mv``
    are negative deflections reported as negative numbers; ``t_mv`` is the signed T peak.
    """

    lead: str
    st_j_mv: float | None
    st_j60_mv: float | None
    st_j80_mv: float | None
    r_mv: float | None
    s_mv: float | None
    q_mv: float | None
    q_ms: float | None
    t_mv: float | None
    st_j20_mv: float | None = None
    st_j40_mv: float | None = None


@dataclass(frozen=True, slots=True)
class RhythmFeatures:
    """Rhythm descriptors from R peaks and beat labels, valid for any lead count."""

    heart_rate_bpm: float | None
    rr_mean_ms: float | None
    rr_sd_ms: float | None
    rmssd_ms: float | None
    rr_irregularity: float | None
    af_suspected: bool
    longest_pause_ms: float | None
    pauses_s: tuple[float, ...] = field(default=())
    n_beats: int = 0
    n_ventricular: int = 0
    n_supraventricular: int = 0
    duration_s: float | None = None  # record length, for per-time rates (PVCs per 10 s)
    # atrial activity (edge_agent.dsp.rhythm.assess_atrial; None without the signal)
    p_wave_corr: float | None = None
    af_score: float | None = None
    flutter_hz: float | None = None
    flutter_concentration: float | None = None
    flutter_suspected: bool = False
    atrial_rate_bpm: float | None = None
    pr_sd_ms: float | None = None
    avb3_suspected: bool = False
