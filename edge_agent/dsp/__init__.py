"""Signal core: pure numpy/scipy processing of (leads, samples) ECG arrays in mV.

Stages, in the order ``edge_agent.analysis.analyze`` runs them::

    check_signal -> assess_quality -> preprocess -> detect_rpeaks -> classify_beats
    -> median_beat -> delineate -> map_fiducials -> measure_intervals / measure_axes /
    measure_leads -> assess_rhythm -> rhythm_findings

No I/O, logging, globals or plotting here; filter designs are cached with ``lru_cache``.
"""

from __future__ import annotations

from edge_agent.dsp._validate import check_signal
from edge_agent.dsp.beats import classify_beats, median_beat
from edge_agent.dsp.delineate import delineate, map_fiducials
from edge_agent.dsp.filters import FilterProfile, preprocess
from edge_agent.dsp.measure import measure_axes, measure_intervals, measure_leads
from edge_agent.dsp.quality import assess_quality
from edge_agent.dsp.rhythm import assess_rhythm, rhythm_findings
from edge_agent.dsp.rpeaks import RPeakConfig, detect_rpeaks

__all__ = [
    "FilterProfile",
    "RPeakConfig",
    "assess_quality",
    "assess_rhythm",
    "check_signal",
    "classify_beats",
    "delineate",
    "detect_rpeaks",
    "map_fiducials",
    "measure_axes",
    "measure_intervals",
    "measure_leads",
    "median_beat",
    "preprocess",
    "rhythm_findings",
]
