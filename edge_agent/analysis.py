"""The one public entry point: raw 12-lead (or any lead subset) in, analysis and triage out.

``analyze`` wires the pure signal core (``edge_agent.dsp``) and the triage
(``edge_agent.triage``) in process::

    check_signal -> assess_quality -> preprocess -> detect_rpeaks -> classify_beats
    -> assess_beat_quality -> median_beat -> delineate -> map_fiducials -> measure_*
    -> assess_rhythm -> triage

A record whose leads are all unusable stops after the quality stage, or after the
beat-level quality stage, and is reported ``unreadable``; it is never analysed as if it
were fine. Leads the beat-level stage rejects are masked like the raw-signal ones.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from edge_agent import __version__
from edge_agent.dsp._validate import check_signal
from edge_agent.dsp.beats import classify_beats, median_beat
from edge_agent.dsp.delineate import delineate, map_fiducials
from edge_agent.dsp.filters import FILTERS_VERSION, FilterProfile, preprocess_checked
from edge_agent.dsp.measure import measure_axes, measure_intervals, measure_leads
from edge_agent.dsp.pacing import (
    PACING_VERSION,
    PacingMode,
    PacingResult,
    detect_pacing_spikes_checked,
    spike_in_median,
)
from edge_agent.dsp.quality import (
    QUALITY_VERSION,
    assess_beat_quality,
    assess_quality_checked,
)
from edge_agent.dsp.results import (
    FIDUCIAL_NAMES,
    Axes,
    BeatFiducials,
    Beats,
    Fiducials,
    Intervals,
    LeadMeasures,
    MedianBeat,
    QualityReport,
    RhythmFeatures,
)
from edge_agent.dsp.rhythm import RHYTHM_VERSION, assess_rhythm, rhythm_findings
from edge_agent.dsp.rpeaks import ALGORITHM_ID as RPEAKS_ID
from edge_agent.dsp.rpeaks import ALGORITHM_VERSION as RPEAKS_VERSION
from edge_agent.dsp.rpeaks import detect_rpeaks_checked
from edge_agent.triage import RULES_VERSION, Triage, TriageModel, model_input_from, triage
from edge_agent.triage.labels import Code, make_finding
from edge_agent.types import Finding, Priority, normalize_lead_name

__all__ = ["Analysis", "AnalysisConfig", "analyze"]

# Minimum number of dominant beats for a median beat (and so for delineation/measurements).
_MIN_MEDIAN_BEATS = 2


@dataclass(frozen=True, slots=True)
class AnalysisConfig:
    """Settings of one analysis run (hashed into the provenance)."""

    profile: FilterProfile = FilterProfile.DIAGNOSTIC
    mains_hz: float | None = 50.0

    def __post_init__(self) -> None:
        try:  # a plain string ("monitoring") is accepted and stored as the enum
            object.__setattr__(self, "profile", FilterProfile(self.profile))
        except ValueError:
            known = ", ".join(p.value for p in FilterProfile)
            msg = f"profile must be one of {known}, got {self.profile!r}"
            raise ValueError(msg) from None
        if self.mains_hz is not None and self.mains_hz not in (50.0, 60.0):
            raise ValueError(f"mains_hz must be 50, 60 or None, got {self.mains_hz}")

    def digest(self) -> str:
        """Short stable hash of the settings."""
        return _config_digest(self)


@functools.lru_cache(maxsize=32)
def _config_digest(cfg: AnalysisConfig) -> str:
    """``AnalysisConfig.digest``, computed once per distinct (frozen, hashable) config."""
    blob = json.dumps(asdict(cfg), sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


@dataclass(frozen=True, slots=True)
class Analysis:
    """Everything the core found in one record. ``to_dict`` is the integration contract."""

    fs_hz: float
    leads: tuple[str, ...]
    n_samples: int
    quality: QualityReport
    beats: Beats | None
    median: MedianBeat | None
    fiducials: Fiducials | None
    beat_fiducials: BeatFiducials | None
    intervals: Intervals | None
    axes: Axes | None
    lead_measures: tuple[LeadMeasures, ...]
    rhythm: RhythmFeatures | None
    triage: Triage
    config: AnalysisConfig
    pacing: PacingResult | None = None  # pacemaker spikes (raw signal) and the verdict

    @property
    def rpeaks(self) -> NDArray[np.int64]:
        """R-peak sample indices (empty when none were found)."""
        if self.beats is None:
            return np.zeros(0, dtype=np.int64)
        return self.beats.rpeaks

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types; the uplink, the central reader and scripts rely on the keys."""
        triage_doc = self.triage.to_dict()
        return {
            "fs_hz": float(self.fs_hz),
            "leads": list(self.leads),
            "duration_s": self.n_samples / self.fs_hz,
            "rpeaks": [int(r) for r in self.rpeaks],
            "beats": _beats_to_list(self.beat_fiducials, self.beats),
            "heart_rate_bpm": _num(self.rhythm.heart_rate_bpm) if self.rhythm else None,
            "intervals_ms": _intervals_to_dict(self.intervals),
            "axis_deg": _axes_to_dict(self.axes),
            "st_mv": {m.lead: _num(m.st_j60_mv) for m in self.lead_measures},
            "st_j80_mv": {m.lead: _num(m.st_j80_mv) for m in self.lead_measures},
            "lead_measures": [
                {k: (_num(v) if isinstance(v, float) else v) for k, v in _flat(m).items()}
                for m in self.lead_measures
            ],
            "median_beat": _median_to_dict(self.median, self.fiducials),
            "rhythm": _rhythm_to_dict(self.rhythm),
            "quality": {
                "acceptable": self.quality.acceptable,
                "leads": {
                    q.lead: {
                        "ok": q.ok,
                        "problems": [p.value for p in q.problems],
                        "messages": list(q.messages),
                    }
                    for q in self.quality.leads
                },
            },
            "triage": triage_doc,
            "pacing": _pacing_to_dict(self.pacing),
            "provenance": _provenance(self.config, triage_doc),
        }


def analyze(
    signal: ArrayLike,
    fs: float,
    leads: Sequence[str],
    *,
    age_years: float | None = None,
    sex: str | None = None,
    config: AnalysisConfig | None = None,
    model: TriageModel | None = None,
) -> Analysis:
    """Analyse one ECG record.

    Parameters
    ----------
    signal : array_like, shape (leads, samples)
        Raw ECG in mV, any fs from 100 to 1000 Hz, 1 to 15 leads.
    fs : float
        Sampling frequency in Hz.
    leads : sequence of str
        Lead names (normalised: ``"avf"`` -> ``"aVF"``).
    age_years, sex : optional
        Demographics; refine the STEMI thresholds (Fourth Universal Definition of MI).
    config : AnalysisConfig, optional
        Filter profile and mains frequency (50 Hz by default, as in China).
    model : TriageModel, optional
        The ONNX triage model; without it only the rules triage.

    Returns
    -------
    Analysis

    Raises
    ------
    InvalidSignalError
        When the array breaks the contract (shape, fs range, NaN, lead count).
    """
    cfg = config or AnalysisConfig()
    names = tuple(normalize_lead_name(str(name)) for name in leads)
    x = check_signal(signal, fs, names)
    fs = float(fs)
    n_samples = x.shape[1]
    quality = assess_quality_checked(x, fs, names)  # x is validated: no second pass
    if not quality.acceptable:
        return _unreadable(fs, names, n_samples, quality, cfg, age_years, sex)

    usable = quality.usable
    y = preprocess_checked(x, fs, cfg.profile, mains_hz=cfg.mains_hz)
    rpeaks = detect_rpeaks_checked(x, fs, usable=usable)
    pacing = detect_pacing_spikes_checked(x, fs, rpeaks, usable=usable)  # raw signal
    beats = classify_beats(y, rpeaks, fs, usable=usable)
    quality = assess_beat_quality(y, fs, names, rpeaks, beats, quality)
    if not quality.acceptable:
        return _unreadable(fs, names, n_samples, quality, cfg, age_years, sex)
    usable = quality.usable  # leads the beat-level stage rejected are masked below
    rhythm = assess_rhythm(
        beats.rpeaks, fs, n_samples, beats.labels, signal=y, usable=usable, leads=names
    )

    median: MedianBeat | None = None
    fid: Fiducials | None = None
    beat_fid: BeatFiducials | None = None
    intervals: Intervals | None = None
    axes: Axes | None = None
    measures: tuple[LeadMeasures, ...] = ()
    if int(beats.normal.sum()) >= _MIN_MEDIAN_BEATS:
        median = median_beat(y, beats, fs, usable=usable)
        spike = spike_in_median(pacing, beats, median)  # paced: QRS onset = the spike
        fid = delineate(median, usable=usable, pacing_spike=spike)
        beat_fid = map_fiducials(fid, median, beats, n_samples)
        intervals = measure_intervals(fid, median, rhythm.rr_mean_ms)
        axes = measure_axes(median, fid, names)
        measures = _mask_unusable(measure_leads(median, fid, names), usable)

    model_in = model_input_from(y, fs, names, usable) if model is not None else None
    verdict = triage(
        leads=names,
        lead_measures=measures,
        intervals=intervals,
        rhythm=rhythm,
        rhythm_findings=[*rhythm_findings(rhythm), *_pacing_findings(pacing)],
        quality=quality,
        model_input=model_in,
        age_years=age_years,
        sex=sex,
        model=model,
        median=median,  # the STEMI feature model reads the median beat and J point
        fiducials=fid,
        ventricular_paced=pacing.mode in (PacingMode.VENTRICULAR, PacingMode.AV),
        beats=beats,
        fs_hz=fs,
        n_samples=n_samples,
    )
    return Analysis(
        fs,
        names,
        n_samples,
        quality,
        beats,
        median,
        fid,
        beat_fid,
        intervals,
        axes,
        measures,
        rhythm,
        verdict,
        cfg,
        pacing=pacing,
    )


def _pacing_findings(p: PacingResult) -> list[Finding]:
    """``PACED`` (warning) when pacemaker spikes drive the atria and/or the ventricles."""
    if not p.paced:
        return []
    detail = (
        f"{p.mode.value}: spikes before {p.ventricular_beats} (ventricular) / "
        f"{p.atrial_beats} (atrial) of {p.n_beats} beats"
    )
    return [make_finding(Code.PACED, Priority.WARNING, "rules:pacing-spikes", detail)]


def _pacing_to_dict(p: PacingResult | None) -> dict[str, Any] | None:
    if p is None:
        return None
    return {
        "mode": p.mode.value,
        "spikes": p.spikes.tolist(),
        "chambers": [c.value for c in p.chambers],
        "lead_spikes": p.lead_spikes.tolist(),
        "reliable": p.reliable,
        "note": p.note,
    }


def _unreadable(
    fs: float,
    names: tuple[str, ...],
    n_samples: int,
    quality: QualityReport,
    cfg: AnalysisConfig,
    age_years: float | None,
    sex: str | None,
) -> Analysis:
    """The analysis of a record with no usable lead: no beats, triage ``unreadable``."""
    verdict = triage(
        leads=names,
        lead_measures=(),
        intervals=None,
        rhythm=None,
        rhythm_findings=(),
        quality=quality,
        model_input=None,
        age_years=age_years,
        sex=sex,
        model=None,
    )
    return Analysis(
        fs,
        names,
        n_samples,
        quality,
        None,
        None,
        None,
        None,
        None,
        None,
        (),
        None,
        verdict,
        cfg,
    )


def _mask_unusable(
    measures: tuple[LeadMeasures, ...], usable: NDArray[np.bool_]
) -> tuple[LeadMeasures, ...]:
    """Drop the amplitude measurements of leads the quality stage rejected."""
    if bool(usable.all()):
        return measures
    blank = dict.fromkeys(
        ("st_j_mv", "st_j60_mv", "st_j80_mv", "r_mv", "s_mv", "q_mv", "q_ms", "t_mv")
    )
    return tuple(
        m if ok else LeadMeasures(lead=m.lead, **blank)
        for m, ok in zip(measures, usable, strict=True)
    )


_ATOMIC = (str, int, float, bool, type(None), np.generic)  # immutable leaves


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in fields(cls))
    return names


def _flat(obj: Any) -> dict[str, Any]:
    """``dataclasses.asdict`` of a flat result dataclass, without its deep copy.

    When every field is an immutable leaf (str, number, bool, None, enum, numpy scalar)
    or a tuple of them, the field values themselves are returned (what ``asdict``'s copy
    equals; ~10x faster on the 12 ``LeadMeasures`` of a record); anything else (a nested
    dataclass, a list) goes through ``asdict``.
    """
    out = {name: getattr(obj, name) for name in _field_names(type(obj))}
    for v in out.values():
        if not isinstance(v, _ATOMIC) and not (
            isinstance(v, tuple) and all(isinstance(u, _ATOMIC) for u in v)
        ):
            return asdict(obj)
    return out


def _num(value: float | None, digits: int = 4) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), digits)


def _beats_to_list(
    beat_fid: BeatFiducials | None, beats: Beats | None
) -> list[dict[str, Any]]:
    if beats is None:
        return []
    if beat_fid is None:
        return [
            {"r": int(r), "label": lab.value, **dict.fromkeys(FIDUCIAL_NAMES[1:])}
            for r, lab in zip(beats.rpeaks, beats.labels, strict=True)
        ]
    pos = beat_fid.positions.tolist()
    present = beat_fid.present.tolist()
    out = []
    for row, mask, lab in zip(pos, present, beats.labels, strict=True):
        item: dict[str, Any] = {
            name: (val if ok else None)
            for name, val, ok in zip(FIDUCIAL_NAMES, row, mask, strict=True)
        }
        item["label"] = lab.value
        out.append(item)
    return out


def _intervals_to_dict(iv: Intervals | None) -> dict[str, float | None]:
    keys = ("rr", "pr", "qrs", "qt", "qtc_bazett", "qtc_fridericia")
    if iv is None:
        return dict.fromkeys(keys)
    return {
        "rr": _num(iv.rr_ms, 1),
        "pr": _num(iv.pr_ms, 1),
        "qrs": _num(iv.qrs_ms, 1),
        "qt": _num(iv.qt_ms, 1),
        "qtc_bazett": _num(iv.qtc_bazett_ms, 1),
        "qtc_fridericia": _num(iv.qtc_fridericia_ms, 1),
    }


def _axes_to_dict(axes: Axes | None) -> dict[str, float | None]:
    if axes is None:
        return {"p": None, "qrs": None, "t": None}
    return {
        "p": _num(axes.p_deg, 1),
        "qrs": _num(axes.qrs_deg, 1),
        "t": _num(axes.t_deg, 1),
    }


def _median_to_dict(
    median: MedianBeat | None, fid: Fiducials | None
) -> dict[str, Any] | None:
    """Median beats (integer uV) with their global fiducials, for the viewer."""
    if median is None:
        return None
    fiducials = {} if fid is None else _flat(fid)
    return {
        "fs_hz": float(median.fs),
        "r_index": int(median.r_index),
        "n_beats": int(median.n_beats),
        "uv": np.rint(median.waveform * 1000.0).astype(np.int32).tolist(),
        "fiducials": fiducials,
    }


def _rhythm_to_dict(rhythm: RhythmFeatures | None) -> dict[str, Any] | None:
    if rhythm is None:
        return None
    return {
        k: (_num(v) if isinstance(v, float) else list(v) if isinstance(v, tuple) else v)
        for k, v in _flat(rhythm).items()
    }


def _provenance(cfg: AnalysisConfig, triage_doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "edge_agent": __version__,
        "algorithms": {
            "quality": QUALITY_VERSION,
            "preprocess": f"{FILTERS_VERSION}:{cfg.profile.value}",
            "rpeaks": f"{RPEAKS_ID}@{RPEAKS_VERSION}",
            "delineation": "edge_agent.dsp.delineate (global, median beat)",
            "rhythm": RHYTHM_VERSION,
            "pacing": PACING_VERSION,
            "triage_rules": RULES_VERSION,
            "model": triage_doc.get("model"),
        },
        "config": _flat(cfg),
        "config_hash": cfg.digest(),
    }
