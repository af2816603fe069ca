"""Crafted rule inputs shared by the rule tests: a normal 12-lead median beat's measures."""

from __future__ import annotations

from edge_agent.dsp.results import (
    Intervals,
    LeadMeasures,
    LeadQuality,
    QualityReport,
    RhythmFeatures,
)
from edge_agent.types import STANDARD_12

# A normal 12-lead median beat: upright QRS in I/II/aVF/V4-V6, rS in V1-V2, flat ST.
NORMAL_RS = {
    "I": (0.8, -0.1), "II": (1.2, -0.1), "III": (0.5, -0.2), "aVR": (0.1, -0.9),
    "aVL": (0.4, -0.2), "aVF": (0.8, -0.1), "V1": (0.2, -0.9), "V2": (0.4, -1.2),
    "V3": (0.7, -0.8), "V4": (1.3, -0.4), "V5": (1.4, -0.2), "V6": (1.1, -0.1),
}  # fmt: skip
IV = Intervals(
    rr_ms=857.0, pr_ms=160.0, qrs_ms=90.0, qt_ms=380.0,
    qtc_bazett_ms=410.0, qtc_fridericia_ms=400.0,
)  # fmt: skip
RHY = RhythmFeatures(
    heart_rate_bpm=70.0, rr_mean_ms=857.0, rr_sd_ms=20.0, rmssd_ms=20.0,
    rr_irregularity=0.02, af_suspected=False, longest_pause_ms=900.0, n_beats=12,
)  # fmt: skip
OK = QualityReport(tuple(LeadQuality(n, True) for n in STANDARD_12))


def normal_lead(
    name: str, *, q_mv: float = 0.0, q_ms: float = 0.0, **kw: float | None
) -> LeadMeasures:
    """One lead of the normal beat (its Q as given), with ``kw`` overriding fields."""
    r, s = NORMAL_RS[name]
    base: dict[str, float | None] = {
        "st_j_mv": 0.0, "st_j60_mv": 0.0, "st_j80_mv": 0.0, "r_mv": r, "s_mv": s,
        "q_mv": q_mv, "q_ms": q_ms, "t_mv": -0.2 if name in ("aVR", "V1") else 0.3,
    }  # fmt: skip
    base.update(kw)
    return LeadMeasures(lead=name, **base)  # type: ignore[arg-type]
