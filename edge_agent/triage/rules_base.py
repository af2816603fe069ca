"""Shared ground of the triage rules: :class:`RuleInput`, lead groups, thresholds used by
more than one rule family, and small helpers (``_mm``, ``_src``, contiguous pairs, the
LVH voltage hits).

Split out of ``rules.py`` without behaviour change; import the rules through
:mod:`edge_agent.triage.rules`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from edge_agent.dsp.results import Intervals, LeadMeasures, QualityReport, RhythmFeatures
from edge_agent.triage.conduction import PvcEvidence, QrsShape
from edge_agent.types import Finding

# Contiguous lead groups (Thygesen 2018, Table 4; Cabrera order for the limb leads).
INFERIOR: tuple[str, ...] = ("II", "III", "aVF")
LATERAL: tuple[str, ...] = ("I", "aVL", "V5", "V6")
ANTERIOR: tuple[str, ...] = ("V1", "V2", "V3", "V4")
PRECORDIAL: tuple[str, ...] = ("V1", "V2", "V3", "V4", "V5", "V6")
GROUPS: dict[str, tuple[str, ...]] = {
    "inferior": INFERIOR,
    "lateral": LATERAL,
    "anterior": ANTERIOR,
}
# Leads where ST depression is reciprocal to elevation in a territory.
RECIPROCAL: dict[str, tuple[str, ...]] = {
    "inferior": ("I", "aVL"),
    "lateral": ("II", "III", "aVF"),
    "anterior": ("II", "III", "aVF"),
    "anterolateral": ("II", "III", "aVF"),
}

STEMI_MV = 0.1  # all leads except V2-V3
ST_DEPRESSION_MV = 0.05
T_INVERSION_MV = 0.1
QRS_WIDE_MS = 120.0
WCT_RATE_BPM = 100.0
BRADY_CRITICAL_BPM = 40.0
TACHY_CRITICAL_BPM = 180.0
AF_RVR_BPM = 150.0
PAUSE_CRITICAL_MS = 3000.0
QTC_CRITICAL_MS = 500.0
PR_AVB1_MS = 200.0
VF_RATE_BPM = 250.0
QRS_IMPLAUSIBLE_MS = 200.0


@dataclass(frozen=True, slots=True)
class RuleInput:
    """What the rules see: the core's measurements of one record plus demographics.

    ``measures`` holds only leads with a measurement (unusable leads are dropped by the
    caller or carry ``None`` values, which every rule treats as "not measured").
    """

    measures: dict[str, LeadMeasures]
    intervals: Intervals | None
    rhythm: RhythmFeatures | None
    rhythm_findings: tuple[Finding, ...]
    quality: QualityReport
    age_years: float | None
    sex: str | None
    #: Pacemaker spikes drive the ventricles (``dsp.pacing`` verdict ventricular/AV-paced).
    ventricular_paced: bool = False
    #: QRS waves of I, aVL, V1, V2, V5, V6 (``conduction.measure_qrs_shapes``); empty when
    #: not measured, and the BBB rules then fall back to the amplitude criteria.
    qrs_shapes: Mapping[str, QrsShape] = field(default_factory=dict)
    #: Ventricular beats after the edge and timing checks (``conduction.pvc_evidence``);
    #: ``None`` leaves the PVC call to the rhythm stage's beat count.
    pvc: PvcEvidence | None = None

    @classmethod
    def build(
        cls,
        *,
        lead_measures: Sequence[LeadMeasures],
        intervals: Intervals | None,
        rhythm: RhythmFeatures | None,
        rhythm_findings: Sequence[Finding],
        quality: QualityReport,
        age_years: float | None,
        sex: str | None,
        ventricular_paced: bool = False,
        qrs_shapes: Mapping[str, QrsShape] | None = None,
        pvc: PvcEvidence | None = None,
    ) -> RuleInput:
        """Index the measurements by lead name."""
        return cls(
            measures={m.lead: m for m in lead_measures},
            intervals=intervals,
            rhythm=rhythm,
            rhythm_findings=tuple(rhythm_findings),
            quality=quality,
            age_years=age_years,
            sex=_norm_sex(sex),
            ventricular_paced=ventricular_paced,
            qrs_shapes=dict(qrs_shapes or {}),
            pvc=pvc,
        )

    def value(self, lead: str, name: str) -> float | None:
        """One measurement of one lead, ``None`` when the lead or the value is missing."""
        m = self.measures.get(lead)
        if m is None:
            return None
        v = getattr(m, name)
        return None if v is None else float(v)

    @property
    def qrs_ms(self) -> float | None:
        return None if self.intervals is None else self.intervals.qrs_ms

    @property
    def rate_bpm(self) -> float | None:
        return None if self.rhythm is None else self.rhythm.heart_rate_bpm

    @property
    def st_measurable(self) -> bool:
        """False when the global QRS is implausibly wide (> 200 ms): the J point then
        lies in the T wave and every ST/T/Q amplitude is read at the wrong place."""
        return self.qrs_ms is None or self.qrs_ms <= QRS_IMPLAUSIBLE_MS


def _norm_sex(sex: str | None) -> str | None:
    if sex is None:
        return None
    s = sex.strip().lower()
    if s in ("m", "male", "man", "男", "1"):
        return "male"
    if s in ("f", "female", "woman", "女", "0"):
        return "female"
    return None


def _mm(mv: float) -> str:
    return f"{mv * 10.0:+.1f} mm"


def _src(rule_id: str) -> str:
    return f"rules:{rule_id}"


# ------------------------------------------------------------------ shared helpers


LVH_MIN_AGE_Y = 30.0  # voltage criteria not applied below this age (tuning part)
SOKOLOW_MV = 3.5
R_AVL_MV = 1.1
CORNELL_MV = {"male": 2.8, "female": 2.0}


def _lvh_voltage(ctx: RuleInput) -> list[str]:
    """Sokolow-Lyon / R aVL / Cornell voltage hits, whatever the age (rules-2026.11.4's
    ``rule_lvh``; the early-repolarisation exclusion of the STEMI rule reads this)."""
    hits = []
    s_v1 = ctx.value("V1", "s_mv")
    r_v5 = [ctx.value(le, "r_mv") for le in ("V5", "V6")]
    r_v56 = max((v for v in r_v5 if v is not None), default=None)
    if s_v1 is not None and r_v56 is not None and abs(s_v1) + r_v56 >= SOKOLOW_MV:
        hits.append(f"Sokolow-Lyon SV1+RV5/6 {abs(s_v1) + r_v56:.2f} mV")
    r_avl = ctx.value("aVL", "r_mv")
    if r_avl is not None and r_avl >= R_AVL_MV:
        hits.append(f"R aVL {r_avl:.2f} mV")
    s_v3 = ctx.value("V3", "s_mv")
    if r_avl is not None and s_v3 is not None:
        cornell = r_avl + abs(s_v3)
        limit = CORNELL_MV["female"] if ctx.sex == "female" else CORNELL_MV["male"]
        if cornell > limit:
            hits.append(f"Cornell RaVL+SV3 {cornell:.2f} mV")
    return hits


def _contiguous_pairs(leads: set[str]) -> list[str]:
    out: list[str] = []
    for group in GROUPS.values():
        hits = [le for le in group if le in leads]
        if len(hits) >= 2:
            out.extend(hits)
    return list(dict.fromkeys(out))


def _qrs_polarity(ctx: RuleInput, lead: str) -> float | None:
    """Net QRS deflection R + S (S is negative), mV."""
    r = ctx.value(lead, "r_mv")
    s = ctx.value(lead, "s_mv")
    if r is None and s is None:
        return None
    return (r or 0.0) + (s or 0.0)
