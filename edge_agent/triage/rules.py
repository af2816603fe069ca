"""Triage rules on the signal core's measurements (pure: no I/O, no onnxruntime).

Every rule is a function ``rule_x(ctx) -> list[Finding]`` on a :class:`RuleInput`; its
docstring cites the criterion it implements and lists deviations. Amplitudes are in mV
(1 mm = 0.1 mV at the standard 10 mm/mV gain); ``detail`` reports them in mm.

Rhythm findings that need the atrial signal (``AFL``, ``AVB3``) come from the rhythm stage
(``edge_agent.dsp.rhythm``: QRST cancellation and P-wave tracking) and ``PACED`` from the
pacing-spike detector; they reach the rules as ``RuleInput.rhythm_findings``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from edge_agent.dsp.results import Intervals, LeadMeasures, QualityReport, RhythmFeatures
from edge_agent.triage.conduction import PvcEvidence, QrsShape
from edge_agent.triage.labels import Code, make_finding
from edge_agent.types import Finding, Priority

__all__ = [
    "ALL_RULES",
    "RULES_VERSION",
    "RuleInput",
    "evaluate_rules",
    "smith_lad_score",
    "stemi_v2v3_threshold_mv",
]

RULES_VERSION = "rules-2026.11.5"

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


# ----------------------------------------------------------------------------- STEMI


def stemi_v2v3_threshold_mv(age_years: float | None, sex: str | None) -> float:
    """ST-elevation threshold in V2-V3 (Thygesen 2018, Table 4).

    >= 0.2 mV in men >= 40 y, >= 0.25 mV in men < 40 y, >= 0.15 mV in women. When sex is
    unknown the lowest threshold (0.15 mV) is used and, for men of unknown age, 0.2 mV:
    "conservative" here means *never under-calling a patient group* (sensitivity first
    for a critical finding); the specificity cost is measured in ``bench/triage.py``.
    """
    sex = _norm_sex(sex)
    if sex == "female" or sex is None:
        return 0.15
    if age_years is not None and age_years < 40.0:
        return 0.25
    return 0.2


def _elevation_mv(ctx: RuleInput, lead: str, threshold: float) -> float | None:
    """ST elevation used by the STEMI rule: at the J point, persisting at J+60 ms.

    The J-point level is the criterion (Thygesen 2018); at least half the threshold must
    persist at J+60 ms, which rejects a J point placed on the R downslope (a delineation
    error, not ST). Returns ``None`` when not measurable or not persisting.
    """
    j = ctx.value(lead, "st_j_mv")
    j60 = ctx.value(lead, "st_j60_mv")
    if j is None:
        return None
    if j60 is not None and j60 < 0.5 * threshold:
        return None
    return j


def _stemi_threshold(ctx: RuleInput, lead: str) -> float:
    if lead in ("V2", "V3"):
        return stemi_v2v3_threshold_mv(ctx.age_years, ctx.sex)
    return STEMI_MV


def _elevated_leads(ctx: RuleInput) -> dict[str, float]:
    out: dict[str, float] = {}
    for lead in (*INFERIOR, *LATERAL, *ANTERIOR):
        thr = _stemi_threshold(ctx, lead)
        e = _elevation_mv(ctx, lead, thr)
        if e is not None and e >= thr:
            out[lead] = e
    return out


# Contiguous: any two of the inferior leads, any two of the lateral ones (I, aVL, V5,
# V6), and neighbouring precordial leads (V1-V2 ... V5-V6; V1 with V3 is not contiguous).
_PRECORDIAL_PAIRS: tuple[tuple[str, str], ...] = tuple(
    (PRECORDIAL[i], PRECORDIAL[i + 1]) for i in range(len(PRECORDIAL) - 1)
)


def _contiguous_territories(elevated: dict[str, float]) -> list[tuple[str, list[str]]]:
    found: list[tuple[str, list[str]]] = []
    inf = [lead for lead in INFERIOR if lead in elevated]
    if len(inf) >= 2:
        found.append(("inferior", inf))
    lat = [lead for lead in LATERAL if lead in elevated]
    if len(lat) >= 2:
        found.append(("lateral", lat))
    pairs = [p for p in _PRECORDIAL_PAIRS if p[0] in elevated and p[1] in elevated]
    ant = sorted({le for p in pairs for le in p if le in ANTERIOR}, key=PRECORDIAL.index)
    if any(p[0] in ANTERIOR and p[1] in ANTERIOR for p in pairs):
        found.append(("anterior", ant))
    if ("V4", "V5") in pairs and not any(name == "anterior" for name, _ in found):
        found.append(("anterolateral", ["V4", "V5"]))
    return found


def _reciprocal_depression(ctx: RuleInput, territory: str) -> list[tuple[str, float]]:
    out = []
    for lead in RECIPROCAL.get(territory, ()):
        v = ctx.value(lead, "st_j60_mv")
        if v is not None and v <= -ST_DEPRESSION_MV:
            out.append((lead, v))
    return out


SMITH_CUTOFF = 23.4
SMITH_MAX_STE_MV = 0.5


def smith_lad_score(ctx: RuleInput) -> float | None:
    """Smith's 3-variable score: LAD occlusion (> 23.4) vs early repolarisation.

    Source: Smith SW, Khalil A, Henry TD, et al. Electrocardiographic differentiation of
    early repolarization from subtle anterior ST-segment elevation myocardial infarction.
    Ann Emerg Med 2012;60(1):45-56:
    ``1.196 * STE60(V3) [mm] + 0.059 * QTc(Bazett) [ms] - 0.326 * R(V4) [mm]``; above
    23.4 favours LAD occlusion (derivation: sensitivity 86 %, specificity 91 %). ``None``
    when V3's ST at J+60, V4's R or the QTc is not measured.
    """
    ste = ctx.value("V3", "st_j60_mv")
    r4 = ctx.value("V4", "r_mv")
    qtc = None if ctx.intervals is None else ctx.intervals.qtc_bazett_ms
    if ste is None or r4 is None or qtc is None:
        return None
    return 1.196 * ste * 10.0 + 0.059 * qtc - 0.326 * r4 * 10.0


def _early_repolarisation(
    ctx: RuleInput, name: str, hits: list[str], elevated: dict[str, float]
) -> float | None:
    """Smith's score when an anterior finding lies in the formula's domain and scores
    as early repolarisation, else ``None`` (the finding stands).

    Domain (the study's inclusion/exclusion): elevation confined to V1-V5, none > 5 mm,
    no reciprocal depression, no anterior (V1-V6) ST depression, no Q wave / QS in V2-V4
    ("obvious" STEMI was excluded from the study, so it is never down-graded here), and
    no LVH voltage or bundle branch block (the formula does not apply to them).
    """
    if name not in ("anterior", "anterolateral"):
        return None
    if any(elevated[le] > SMITH_MAX_STE_MV for le in hits):
        return None
    if _reciprocal_depression(ctx, name):
        return None
    if any((ctx.value(le, "st_j60_mv") or 0.0) <= -ST_DEPRESSION_MV for le in PRECORDIAL):
        return None
    if any(_pathological_q(ctx, le) is not None for le in ("V2", "V3", "V4")):
        return None
    if _is_lbbb(ctx) or _is_rbbb(ctx) or _lvh_voltage(ctx):
        return None
    score = smith_lad_score(ctx)
    return score if score is not None and score <= SMITH_CUTOFF else None


def rule_stemi(ctx: RuleInput) -> list[Finding]:
    """STEMI by the Fourth Universal Definition of Myocardial Infarction.

    Source: Thygesen K, et al. Fourth Universal Definition of Myocardial Infarction (2018).
    J Am Coll Cardiol 2018;72:2231-64. doi:10.1016/j.jacc.2018.08.1038 (Table 4): new ST
    elevation at the J point in two contiguous leads, >= 1 mm (0.1 mV) in all leads other
    than V2-V3; in V2-V3 >= 2 mm in men >= 40 y, >= 2.5 mm in men < 40 y, >= 1.5 mm in
    women regardless of age. Reciprocal depression is reported as supporting evidence
    (it is not required).

    Deviations: "new" cannot be known from one ECG (no prior tracing), so any elevation
    counts. The J-point level must persist (>= half the threshold) at J+60 ms
    (``_elevation_mv``: a J point on the R downslope is a delineation error, not ST).
    Contiguous = two of II/III/aVF, two of I/aVL/V5/V6, or neighbouring precordial
    leads (V1-V2 ... V5-V6). Specificity device, published: an anterior finding inside
    the domain of Smith's early-repolarisation study (see ``_early_repolarisation``)
    whose 3-variable score is <= 23.4 raises no finding for that territory (Smith SW et
    al., Ann Emerg Med 2012;60:45-56). Data looked at when choosing it: the plain
    4UDMI rule fired on 3 of 205 train/val normal ECGs of ``models/datasets.py``; the
    same run over the test normals and PTB healthy controls was also seen (4 of 58
    fired, male-pattern V3-V5 elevation) before the device was added - disclosed, not
    used to fit anything: the device's cut-off is Smith's, unchanged.

    Not applied with LBBB morphology (secondary ST changes make it invalid;
    ``rule_sgarbossa`` applies instead), nor when the global QRS is implausibly wide
    (> 200 ms: the J point would lie in the T wave). A paced rhythm would need the same
    switch, but the core has no pacing-spike detector: a paced record is handled like
    its QRS morphology (LBBB-like when RV-paced).
    """
    if not ctx.st_measurable:
        return []
    if _st_hidden_by_conduction(ctx):
        return []
    elevated = _elevated_leads(ctx)
    parts = []
    for name, hits in _contiguous_territories(elevated):
        if _early_repolarisation(ctx, name, hits, elevated) is not None:
            continue
        leads_txt = ", ".join(f"{lead} {_mm(elevated[lead])}" for lead in hits)
        recip = _reciprocal_depression(ctx, name)
        rtxt = (
            "; reciprocal depression " + ", ".join(f"{le} {_mm(v)}" for le, v in recip)
            if recip
            else ""
        )
        parts.append(f"{name}: ST elevation {leads_txt}{rtxt}")
    if not parts:
        return []
    thr = stemi_v2v3_threshold_mv(ctx.age_years, ctx.sex)
    detail = "; ".join(parts) + f" (V2-V3 threshold {thr * 10:.1f} mm)"
    return [make_finding(Code.STEMI, Priority.CRITICAL, _src("stemi-4udmi"), detail)]


def rule_posterior_stemi(ctx: RuleInput) -> list[Finding]:
    """Posterior STEMI pattern: ST depression in V1-V3.

    Source: Thygesen 2018 (doi:10.1016/j.jacc.2018.08.1038): "ST depression in leads V1-V3
    may be suggestive of inferobasal (posterior) myocardial ischaemia, especially when the
    terminal T wave is positive (ST-elevation equivalent)".

    Criterion (conservative, to keep the subendocardial-injury ECGs out): ST depression
    >= 1 mm at J+60 ms in >= 2 of V1-V3, deepest in V1-V3 rather than V4-V6 (diffuse
    ischaemia is deepest laterally), with a tall R (R >= |S| in V2 or V3) or an upright
    T in the depressed leads; QRS < 120 ms (RBBB gives secondary V1-V3 depression).
    Deviation: the paper's 0.05 mV and posterior leads V7-V9 are not used (no V7-V9 on
    the carts).
    """
    if not ctx.st_measurable:
        return []
    if ctx.qrs_ms is None or ctx.qrs_ms >= QRS_WIDE_MS:
        return []
    dep = {}
    for lead in ("V1", "V2", "V3"):
        v = ctx.value(lead, "st_j60_mv")
        if v is not None and v <= -0.1:
            dep[lead] = v
    if len(dep) < 2:
        return []
    lateral = [ctx.value(lead, "st_j60_mv") for lead in ("V4", "V5", "V6")]
    lateral_min = min((v for v in lateral if v is not None), default=0.0)
    if lateral_min <= min(dep.values()):
        return []
    tall_r = any(
        (r := ctx.value(lead, "r_mv")) is not None
        and r >= abs(ctx.value(lead, "s_mv") or 0.0)
        for lead in ("V2", "V3")
    )
    upright_t = all((ctx.value(lead, "t_mv") or 0.0) > 0.0 for lead in dep)
    if not (tall_r or upright_t):
        return []
    detail = (
        "posterior pattern: ST depression "
        + ", ".join(f"{lead} {_mm(v)}" for lead, v in dep.items())
        + (" with tall R in V2/V3" if tall_r else " with upright T")
    )
    return [make_finding(Code.STEMI, Priority.CRITICAL, _src("stemi-posterior"), detail)]


def _qrs_polarity(ctx: RuleInput, lead: str) -> float | None:
    """Net QRS deflection R + S (S is negative), mV."""
    r = ctx.value(lead, "r_mv")
    s = ctx.value(lead, "s_mv")
    if r is None and s is None:
        return None
    return (r or 0.0) + (s or 0.0)


def rule_sgarbossa(ctx: RuleInput) -> list[Finding]:
    """Acute MI in LBBB or a ventricular-paced rhythm: Smith-modified Sgarbossa criteria.

    Sources: Sgarbossa EB, et al. N Engl J Med 1996;334:481-7.
    doi:10.1056/NEJM199602223340801;
    Smith SW, et al. Ann Emerg Med 2012;60:766-76. doi:10.1016/j.annemergmed.2012.07.119.
    Positive if any of: (1) concordant ST elevation >= 1 mm in >= 1 lead with a positive
    QRS; (2) concordant ST depression >= 1 mm in >= 1 of V1-V3; (3) excessively discordant
    ST elevation: ST elevation >= 1 mm and >= 25 % of the depth of the preceding S wave.

    Applied when QRS >= 120 ms with LBBB morphology, or when the core's pacing-spike
    detector found a ventricular- or AV-paced rhythm with QRS >= 120 ms, whatever the QRS
    looks like (Smith's criteria were validated in LBBB and in RV pacing; an atrial-paced
    rhythm conducts normally and gets the ordinary STEMI rules). Deviation: ST measured at
    the J point of the median beat (Smith uses the J point too).
    """
    if not ctx.st_measurable:
        return []
    if not _st_hidden_by_conduction(ctx):
        return []
    hits = []
    for lead in (*INFERIOR, *LATERAL, *PRECORDIAL):
        st = ctx.value(lead, "st_j_mv")
        pol = _qrs_polarity(ctx, lead)
        if st is None or pol is None:
            continue
        if pol > 0 and st >= 0.1:
            hits.append(f"concordant elevation {lead} {_mm(st)}")
        elif lead in ("V1", "V2", "V3") and pol < 0 and st <= -0.1:
            hits.append(f"concordant depression {lead} {_mm(st)}")
        elif pol < 0 and st >= 0.1:
            s = abs(ctx.value(lead, "s_mv") or 0.0)
            if s > 0 and st / s >= 0.25:
                hits.append(f"discordant elevation {lead} {_mm(st)} = {st / s:.0%} of S")
    if not hits:
        return []
    return [
        make_finding(
            Code.STEMI,
            Priority.CRITICAL,
            _src("stemi-smith-sgarbossa"),
            ("paced: " if _is_wide_paced(ctx) else "LBBB: ")
            + "; ".join(dict.fromkeys(hits)),
        )
    ]


# ------------------------------------------------------------------- conduction / BBB


# AHA/ACCF/HRS 2009 (Surawicz 2009) thresholds.
RBBB_V1_RPT_MS = 50.0  # "R peak time in lead V1 > 50 ms"
RBBB_S_MS = 40.0  # "S wave of greater duration than R wave or > 40 ms in I and V6"
LBBB_V56_RPT_MS = 60.0  # "R peak time > 60 ms in leads V5 and V6"
LBBB_Q_MV = -0.05  # q deeper than this in I, V5 or V6 is "not absent"


def _is_lbbb(ctx: RuleInput) -> bool:
    """LBBB morphology: AHA 2009 criteria on the QRS waves when measured, else the
    amplitude-only fallback (see :func:`rule_bbb`)."""
    qrs = ctx.qrs_ms
    if qrs is None or qrs < QRS_WIDE_MS:
        return False
    if ctx.qrs_shapes:
        return _lbbb_aha(ctx) is not None
    return _lbbb_amplitudes(ctx)


def _lbbb_amplitudes(ctx: RuleInput) -> bool:
    v1 = _qrs_polarity(ctx, "V1")
    left = [p for p in (_qrs_polarity(ctx, le) for le in ("I", "V6")) if p is not None]
    if v1 is None or not left:
        return False
    q_left = [ctx.value(le, "q_mv") for le in ("I", "V5", "V6")]
    no_q = all(q is None or q > LBBB_Q_MV for q in q_left)
    deep_s_v1 = (ctx.value("V1", "s_mv") or 0.0) <= -0.5
    return v1 < 0 and deep_s_v1 and all(p > 0 for p in left) and no_q and _t_discordant(ctx)


def _t_discordant(ctx: RuleInput) -> bool:
    """T opposite to the (positive) QRS in I or V6: negative T in either."""
    t_left = [ctx.value(le, "t_mv") for le in ("I", "V6")]
    return any(t is not None and t < 0.0 for t in t_left)


def _lbbb_aha(ctx: RuleInput) -> str | None:
    """Detail text when the QRS waves meet the LBBB criteria, else ``None``."""
    sh = ctx.qrs_shapes
    right = sh.get("V1") or sh.get("V2")
    left = [sh[le] for le in ("I", "V6") if le in sh]
    if right is None or not right.dominant_negative or not left:
        return None
    if not all(s.dominant_positive for s in left):
        return None
    if any((ctx.value(le, "q_mv") or 0.0) <= LBBB_Q_MV for le in ("I", "V5", "V6")):
        return None
    rpt = [
        (le, t)
        for le in ("V5", "V6")
        if le in sh and (t := sh[le].r_peak_time_ms) is not None
    ]
    if not rpt or max(t for _, t in rpt) <= LBBB_V56_RPT_MS:
        return None
    t_left = [t for le in ("I", "V6") if (t := ctx.value(le, "t_mv")) is not None]
    if t_left and all(t >= 0.0 for t in t_left):
        return None  # T concordant with the positive QRS in I and V6
    le, t = max(rpt, key=lambda p: p[1])
    kind = "QS" if right.max_mv < 0.05 else "rS"
    return f"{kind} in {right.lead}, R peak time {le} {t:.0f} ms, no q in I/V5/V6"


def _is_rbbb(ctx: RuleInput) -> bool:
    """RBBB morphology: AHA 2009 criteria on the QRS waves when measured, else the
    amplitude-only fallback (see :func:`rule_bbb`)."""
    qrs = ctx.qrs_ms
    if qrs is None or qrs < QRS_WIDE_MS:
        return False
    if ctx.qrs_shapes:
        return _rbbb_aha(ctx) is not None
    r1 = ctx.value("V1", "r_mv")
    s1 = ctx.value("V1", "s_mv")
    if r1 is None:
        return False
    s_left = [ctx.value(le, "s_mv") for le in ("I", "V6")]
    wide_s = any(s is not None and s <= -0.1 for s in s_left)
    return r1 >= 0.25 * abs(s1 or 0.0) and r1 >= 0.15 and wide_s


def _wide_s(s: QrsShape) -> bool:
    """Terminal S longer than 40 ms or than the R before it."""
    return (
        not s.terminal_positive
        and s.terminal_s_ms > 0.0
        and (s.terminal_s_ms > RBBB_S_MS or s.terminal_s_ms > s.r_ms)
    )


def _rbbb_aha(ctx: RuleInput) -> str | None:
    """Detail text when the QRS waves meet the RBBB criteria, else ``None``."""
    sh = ctx.qrs_shapes
    right = [
        s
        for le in ("V1", "V2")
        if (s := sh.get(le)) is not None
        and s.terminal_positive
        and (s.r_peak_time_ms or 0.0) > RBBB_V1_RPT_MS
    ]
    left = [sh[le] for le in ("I", "V6") if le in sh]
    if not right or not left or not all(_wide_s(s) for s in left):
        return None
    r = right[0]
    pattern = {"+-+": "rsR'", "-+": "qR", "+": "R"}.get(r.waves, r.waves)
    s_txt = ", ".join(f"{s.lead} {s.terminal_s_ms:.0f} ms" for s in left)
    return (
        f"{pattern} in {r.lead} (R peak time {r.r_peak_time_ms or 0.0:.0f} ms), "
        f"wide S {s_txt}"
    )


def _is_wide_paced(ctx: RuleInput) -> bool:
    """Ventricular pacing (spikes before the QRS) with a QRS of at least 120 ms."""
    return ctx.ventricular_paced and ctx.qrs_ms is not None and ctx.qrs_ms >= QRS_WIDE_MS


def _st_hidden_by_conduction(ctx: RuleInput) -> bool:
    """LBBB morphology, or a wide ventricular-paced QRS (secondary ST-T changes)."""
    return _is_wide_paced(ctx) or _is_lbbb(ctx)


def rule_bbb(ctx: RuleInput) -> list[Finding]:
    """Complete left / right bundle branch block (adults).

    Source: Surawicz B, Childers R, Deal BJ, Gettes LS. AHA/ACCF/HRS Recommendations for
    the Standardization and Interpretation of the ECG, Part III: Intraventricular
    Conduction Disturbances. J Am Coll Cardiol 2009;53:976-81.
    doi:10.1016/j.jacc.2008.12.014.

    Complete RBBB: (1) QRS >= 120 ms; (2) rsr', rsR' or rSR' in V1 or V2 - "a wide and
    often notched R wave" in a minority; (3) "S wave of greater duration than R wave or
    greater than 40 ms in leads I and V6"; (4) "R peak time in lead V1 > 50 ms".
    Implemented on the QRS waves of the median beat (``conduction.measure_qrs_shapes``):
    V1 or V2 ends on a positive wave (R', notched or broad R, or qR) whose peak is > 50 ms
    after the QRS onset, and I and V6 (those recorded) end on an S longer than 40 ms or
    than the R before it.

    Complete LBBB: (1) QRS >= 120 ms; (2) "broad notched or slurred R wave in leads I,
    aVL, V5 and V6 and an occasional RS pattern in V5 and V6"; (3) "absent q waves in
    leads I, V5 and V6"; (4) "R peak time > 60 ms in leads V5 and V6"; (5) "ST and T
    waves usually opposite in direction to QRS". Implemented as: QS or rS in V1 (V2 when
    V1 is missing; deepest negative >= 2x the tallest positive deflection), net positive
    QRS in I and V6 (those recorded), no q >= 0.05 mV in I, V5, V6, R peak time > 60 ms
    in V5 or V6, and T not upright in both I and V6 (negative in one of them, or not
    measured: a T end the delineation cannot find is no evidence against LBBB).

    Deviations: the QRS duration is the core's global one (earliest onset to latest
    offset over all leads, as computerised programs measure it), which runs ~10 ms
    longer than a single lead's; notching/slurring is not required (the R peak time
    stands for the broad R); the discordant T of LBBB, "usually" in the text, is
    required when measured (on the tuning folds, with the core at cb64785, it removed 2
    of 4 false LBBB calls and no true one).
    Needs V1 or V2 and I or V6; nothing is said on single-lead records (MIT-BIH's two
    leads, MLII with V1 or V4, never meet the criteria). Without measured QRS waves
    (``RuleInput.qrs_shapes`` empty) the amplitude-only criteria of rules-2026.11.3
    apply: positive V1 with R >= 0.15 mV and S <= -0.1 mV in I or V6 for RBBB; negative
    V1 with S <= -0.5 mV, positive I/V6, no q, discordant T for LBBB.
    """
    if not ctx.st_measurable:
        return []
    qrs = ctx.qrs_ms
    if _is_lbbb(ctx):
        why = _lbbb_aha(ctx) if ctx.qrs_shapes else "V1 negative"
        return [
            make_finding(
                Code.LBBB,
                Priority.WARNING,
                _src("lbbb-aha2009"),
                f"QRS {qrs:.0f} ms, {why}",
            )
        ]
    if _is_rbbb(ctx):
        why = _rbbb_aha(ctx) if ctx.qrs_shapes else "positive V1, S in I/V6"
        return [
            make_finding(
                Code.RBBB,
                Priority.WARNING,
                _src("rbbb-aha2009"),
                f"QRS {qrs:.0f} ms, {why}",
            )
        ]
    return []


def rule_avb1(ctx: RuleInput) -> list[Finding]:
    """First-degree AV block: PR > 200 ms in sinus rhythm.

    Source: Kusumoto FM, et al. 2018 ACC/AHA/HRS Guideline on Bradycardia and Cardiac
    Conduction Delay. J Am Coll Cardiol 2019;74:e51-e156. doi:10.1016/j.jacc.2018.10.044.
    Not applied in AF (no PR).
    """
    pr = None if ctx.intervals is None else ctx.intervals.pr_ms
    if pr is None or pr <= PR_AVB1_MS or _af_present(ctx):
        return []
    return [make_finding(Code.AVB1, Priority.WARNING, _src("avb1"), f"PR {pr:.0f} ms")]


# ------------------------------------------------------------------ critical rhythms


def _af_present(ctx: RuleInput) -> bool:
    rhythm_af = ctx.rhythm is not None and ctx.rhythm.af_suspected
    return rhythm_af or any(f.code == Code.AF for f in ctx.rhythm_findings)


def rule_critical_rate(ctx: RuleInput) -> list[Finding]:
    """Critical heart rate: < 40 or > 180 bpm.

    Source: 心电学危急值中国专家共识 (Chinese expert consensus on ECG critical values),
    临床心电学杂志 2017;26(6):401-2 - severe bradycardia (mean ventricular rate <= 35 bpm)
    and supraventricular tachycardia >= 200 bpm. Deviation: the project uses the tighter
    thresholds of its hospitals (< 40, > 180 bpm), i.e. it calls earlier.
    """
    rate = ctx.rate_bpm
    if rate is None:
        return []
    if rate < BRADY_CRITICAL_BPM:
        return [
            make_finding(
                Code.BRADY, Priority.CRITICAL, _src("rate-critical"), f"{rate:.0f} bpm"
            )
        ]
    if rate > TACHY_CRITICAL_BPM:
        return [
            make_finding(
                Code.TACHY, Priority.CRITICAL, _src("rate-critical"), f"{rate:.0f} bpm"
            )
        ]
    return []


def rule_pause(ctx: RuleInput) -> list[Finding]:
    """Pause > 3 s, and asystole (no QRS at all in a readable record).

    Source: 心电学危急值中国专家共识 2017 (RR >= 3.0 s with symptoms, >= 5.0 s without).
    Deviation: symptoms are unknown at the cart, so 3 s is used. "No QRS in a record whose
    quality is acceptable" is called asystole, sensitivity first: the detector missing
    every beat is also worth a human look.
    """
    r = ctx.rhythm
    if r is None:
        return []
    if r.n_beats == 0 and ctx.quality.acceptable:
        return [make_finding(Code.ASYSTOLE, Priority.CRITICAL, _src("asystole"), "0 beats")]
    if r.longest_pause_ms is not None and r.longest_pause_ms > PAUSE_CRITICAL_MS:
        return [
            make_finding(
                Code.PAUSE,
                Priority.CRITICAL,
                _src("pause-3s"),
                f"longest RR {r.longest_pause_ms / 1000:.1f} s",
            )
        ]
    return []


def rule_wide_complex_tachycardia(ctx: RuleInput) -> list[Finding]:
    """Ventricular / wide-complex tachycardia: rate > 100 bpm with QRS >= 120 ms, or a
    majority of ventricular beats at a rate > 100 bpm.

    Source: 2017 AHA/ACC/HRS Guideline for Ventricular Arrhythmias (Al-Khatib SM, et al.
    Circulation 2018;138:e272-e391, doi:10.1161/CIR.0000000000000549): VT is >= 3
    consecutive ventricular beats at > 100 bpm; a wide-complex tachycardia is treated as
    VT until proven otherwise. Deviation: consecutiveness is not checked (only counts are
    available); SVT with BBB or aberrancy also fires (by design, sensitivity first).
    """
    rate = ctx.rate_bpm
    if rate is None or rate <= WCT_RATE_BPM:
        return []
    qrs = ctx.qrs_ms
    r = ctx.rhythm
    ventricular = r is not None and r.n_beats >= 3 and r.n_ventricular >= 0.5 * r.n_beats
    if (qrs is not None and qrs >= QRS_WIDE_MS) or ventricular:
        why = (
            f"QRS {qrs:.0f} ms"
            if qrs is not None and qrs >= QRS_WIDE_MS
            else (
                f"{r.n_ventricular}/{r.n_beats} ventricular beats" if r is not None else ""
            )
        )
        return [
            make_finding(Code.VT, Priority.CRITICAL, _src("wct"), f"{rate:.0f} bpm, {why}")
        ]
    return []


def rule_vf(ctx: RuleInput) -> list[Finding]:
    """Suspected ventricular fibrillation / flutter (conservative proxy).

    Source: 心电学危急值中国专家共识 2017 (心室扑动、心室颤动). Criterion: the record is
    readable, the detected "beat" rate exceeds 250 bpm and no QRS duration could be
    delineated on a median beat - chaotic activity with no stable complex. This is a
    proxy, not validated (the shared data hold no VF episodes in 10 s 12-lead form).
    """
    rate = ctx.rate_bpm
    if rate is None or rate <= VF_RATE_BPM or ctx.qrs_ms is not None:
        return []
    return [
        make_finding(
            Code.VF, Priority.CRITICAL, _src("vf-proxy"), f"{rate:.0f} /min, no QRS"
        )
    ]


def rule_af(ctx: RuleInput) -> list[Finding]:
    """AF with rapid ventricular response (> 150 bpm) is critical; AF otherwise a warning.

    Source: 2023 ACC/AHA/ACCP/HRS AF guideline (Joglar JA, et al. Circulation
    2024;149:e1-e156, doi:10.1161/CIR.0000000000001193) and 心电学危急值中国专家共识 2017.
    The AF call itself comes from the rhythm stage (``rhythm_findings``/``af_suspected``).
    """
    if not _af_present(ctx):
        return []
    rate = ctx.rate_bpm
    if rate is not None and rate > AF_RVR_BPM:
        return [
            make_finding(Code.AF_RVR, Priority.CRITICAL, _src("af-rvr"), f"{rate:.0f} bpm")
        ]
    if any(f.code == Code.AF for f in ctx.rhythm_findings):
        return []  # the rhythm stage's own AF finding stands
    return [make_finding(Code.AF, Priority.WARNING, _src("af"), "irregularly irregular RR")]


def rule_lqt(ctx: RuleInput) -> list[Finding]:
    """Long QTc > 500 ms (critical).

    Source: Drew BJ, et al. AHA/ACCF scientific statement on prevention of torsade de
    pointes. J Am Coll Cardiol 2010;55:934-47. doi:10.1016/j.jacc.2010.01.001 (QTc > 500 ms
    is high risk); the Chinese consensus lists QTc >= 550 ms - the project calls earlier.
    Fridericia correction is used (Bazett over-corrects at high rates), Bazett as fallback.
    Not applied with QRS >= 120 ms (QT is prolonged by the QRS itself).
    """
    iv = ctx.intervals
    if iv is None:
        return []
    qtc = iv.qtc_fridericia_ms if iv.qtc_fridericia_ms is not None else iv.qtc_bazett_ms
    if qtc is None or qtc <= QTC_CRITICAL_MS:
        return []
    if iv.qrs_ms is not None and iv.qrs_ms >= QRS_WIDE_MS:
        return []
    return [make_finding(Code.LQT, Priority.CRITICAL, _src("lqt-500"), f"QTc {qtc:.0f} ms")]


PVC_FREQUENT_PER_10S = 3.0
PVC_FREQUENT_FRACTION = 0.10


def rule_pvc(ctx: RuleInput) -> list[Finding]:
    """Premature ventricular complexes; frequent ones (>= 3 per 10 s or >= 10 % of
    beats) are a warning, fewer are reported as routine.

    Source: AHA/ACCF/HRS 2007 Part II (Mason JW, et al. Circulation 2007;115:1325-32,
    doi:10.1161/CIRCULATIONAHA.106.180201: "ventricular premature complex(es)"); the
    10 % burden convention for "frequent" (Marcus GM. Circulation 2020;141:1404-18,
    doi:10.1161/CIRCULATIONAHA.119.042434); on a 10 s record >= 3 beats is used too.

    With ``RuleInput.pvc`` (``conduction.pvc_evidence``) only ventricular beats that
    are inside the record (not the cut first/last beat) and premature or followed by a
    pause (timing skipped in AF) count, and this rule replaces the rhythm stage's
    beat-count finding (``evaluate_rules``). Without it the rhythm stage's finding
    stands and this rule only adds a warning when it raised none (rules-2026.11.3).
    """
    ev = ctx.pvc
    if ev is not None:
        return _pvc_from_evidence(ctx, ev)
    r = ctx.rhythm
    if r is None or r.n_ventricular == 0:
        return []
    if r.n_ventricular >= 3 or r.n_ventricular >= 0.1 * max(r.n_beats, 1):
        if any(f.code == Code.PVC for f in ctx.rhythm_findings):
            return []
        return [
            make_finding(
                Code.PVC,
                Priority.WARNING,
                _src("pvc"),
                f"{r.n_ventricular}/{r.n_beats} beats",
            )
        ]
    return []


def _pvc_from_evidence(ctx: RuleInput, ev: PvcEvidence) -> list[Finding]:
    n = ev.n_counted
    if n == 0:
        return []
    dur = None if ctx.rhythm is None else ctx.rhythm.duration_s
    per10 = 10.0 * n / dur if dur else float(n)
    frac = n / max(ev.n_beats, 1)
    frequent = per10 >= PVC_FREQUENT_PER_10S or frac >= PVC_FREQUENT_FRACTION
    dropped = ev.n_labelled - n
    detail = f"{n} PVC(s), {per10:.1f} per 10 s, {100 * frac:.0f}% of beats" + (
        f" ({dropped} wide beat(s) not counted: edge/on time)" if dropped else ""
    )
    tier = Priority.WARNING if frequent else Priority.ROUTINE
    return [make_finding(Code.PVC, tier, _src("pvc-timed"), detail)]


# ------------------------------------------------------------------------- warnings


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


def rule_lvh(ctx: RuleInput) -> list[Finding]:
    """LVH voltage: Sokolow-Lyon or Cornell, in adults of at least 30 years.

    Sources: Sokolow M, Lyon TP. Am Heart J 1949;37:161-86. doi:10.1016/0002-8703(49)90562-1
    (S V1 + max(R V5, R V6) >= 3.5 mV, or R aVL >= 1.1 mV); Casale PN, et al. Circulation
    1987;75:565-72. doi:10.1161/01.CIR.75.3.565 (Cornell: R aVL + S V3 > 2.8 mV men,
    > 2.0 mV women; 2.8 mV when sex is unknown, to keep the warning specific).
    Hancock EW, et al. AHA/ACCF/HRS Recommendations for the Standardization and
    Interpretation of the ECG, Part V: Chamber hypertrophy. J Am Coll Cardiol
    2009;53:992-1002. doi:10.1016/j.jacc.2008.12.015: QRS voltage varies with age, sex,
    race and body habitus, and voltage criteria are less specific in young adults (higher
    voltages in health). The statement gives no age cut-off: ``LVH_MIN_AGE_Y`` = 30 y was
    chosen among none/30/35/40 y on the tuning part (PTB-XL folds 1-8, LUDB id % 4 == 1,
    PTB healthy even ids; ``bench/warnings.py``): firing on tuning normals 19/174 (none),
    12 (30 y), 11 (35 y), 11 (40 y), PTB-XL LVH sensitivity 16/18, 16, 15, 15 - 30 y keeps
    the sensitivity. Unknown age: the criteria apply (no patient group under-called
    because the cart was not told its age). The thresholds are unchanged.
    """
    if ctx.age_years is not None and ctx.age_years < LVH_MIN_AGE_Y:
        return []
    hits = _lvh_voltage(ctx)
    if not hits:
        return []
    return [make_finding(Code.LVH, Priority.WARNING, _src("lvh-voltage"), "; ".join(hits))]


def _contiguous_pairs(leads: set[str]) -> list[str]:
    out: list[str] = []
    for group in GROUPS.values():
        hits = [le for le in group if le in leads]
        if len(hits) >= 2:
            out.extend(hits)
    return list(dict.fromkeys(out))


def rule_st_depression(ctx: RuleInput) -> list[Finding]:
    """ST depression (ischaemia), warning tier.

    Source: Thygesen 2018 (doi:10.1016/j.jacc.2018.08.1038), Table 4: new horizontal or
    downsloping ST depression >= 0.05 mV in two contiguous leads. Measured at J+60 ms,
    "horizontal or downsloping" = J+60 not more than 0.05 mV above the J point. aVR is
    excluded; not applied with QRS >= 120 ms (secondary ST-T changes).
    """
    if not ctx.st_measurable:
        return []
    if ctx.qrs_ms is not None and ctx.qrs_ms >= QRS_WIDE_MS:
        return []
    dep: dict[str, float] = {}
    for lead in (*INFERIOR, *LATERAL, *ANTERIOR):
        v60 = ctx.value(lead, "st_j60_mv")
        vj = ctx.value(lead, "st_j_mv")
        if v60 is None or v60 > -ST_DEPRESSION_MV:
            continue
        if vj is not None and v60 - vj > 0.05:
            continue
        dep[lead] = v60
    leads = _contiguous_pairs(set(dep))
    if not leads:
        return []
    detail = ", ".join(f"{le} {_mm(dep[le])}" for le in leads)
    return [
        make_finding(Code.ST_DEPRESSION, Priority.WARNING, _src("st-depression"), detail)
    ]


def rule_t_inversion(ctx: RuleInput) -> list[Finding]:
    """T-wave inversion, warning tier.

    Source: Thygesen 2018, Table 4: T inversion > 0.1 mV in two contiguous leads with a
    prominent R wave or R/S > 1. aVR, III and V1 (normally inverted T) are excluded; not
    applied with QRS >= 120 ms.
    """
    if not ctx.st_measurable:
        return []
    if ctx.qrs_ms is not None and ctx.qrs_ms >= QRS_WIDE_MS:
        return []
    inv: dict[str, float] = {}
    for lead in ("II", "aVF", "I", "aVL", "V2", "V3", "V4", "V5", "V6"):
        t = ctx.value(lead, "t_mv")
        r = ctx.value(lead, "r_mv")
        s = ctx.value(lead, "s_mv")
        if t is None or r is None or t > -T_INVERSION_MV:
            continue
        if r > abs(s or 0.0):
            inv[lead] = t
    leads = _contiguous_pairs(set(inv))
    if not leads:
        return []
    detail = ", ".join(f"{le} T {_mm(inv[le])}" for le in leads)
    return [make_finding(Code.T_INVERSION, Priority.WARNING, _src("t-inversion"), detail)]


def _pathological_q(ctx: RuleInput, lead: str) -> str | None:
    """Thygesen 2018 Table 5 Q wave in one lead ("QS" or "Q <ms> <mm>"), else None."""
    q_ms = ctx.value(lead, "q_ms")
    q_mv = ctx.value(lead, "q_mv")
    r = ctx.value(lead, "r_mv")
    qs = r is not None and r < 0.05 and q_mv is not None and q_mv <= -0.3
    if lead in ("V2", "V3"):
        ok = qs or (q_ms is not None and q_ms >= 20.0 and (q_mv or 0.0) <= -0.05)
    else:
        ok = qs or (q_ms is not None and q_ms >= 30.0 and (q_mv or 0.0) <= -0.1)
    if not ok:
        return None
    return "QS" if qs else f"Q {q_ms:.0f} ms {_mm(q_mv or 0.0)}"


# Prior-MI Q waves (Thygesen 2018, Table 7). The core's ``q_ms`` runs from the *global*
# QRS onset (the earliest lead, ``dsp.measure._qrs_waves``), which precedes the Q of a
# given lead; this much is taken off before the 20/30 ms criteria (tuning part, see
# :func:`rule_q_waves`).
Q_ONSET_BIAS_MS = 10.0
# "Contiguous lead grouping" of Table 7's footnote: I, aVL; V1-V6; II, III, aVF - with
# the leads the criterion lists (no Q criterion in III, aVR or V1).
Q_GROUPS: tuple[tuple[str, ...], ...] = (("I", "aVL"), ("II", "aVF"), ("V4", "V5", "V6"))
QS_R_MV = 0.05  # "QS": no R wave of at least this height
QS_DEPTH_MV = 0.3
PRIOR_MI_R_MS = 40.0  # "R wave >= 0.04 s in V1-V2"


def _prior_mi_q(ctx: RuleInput, lead: str) -> tuple[str, bool] | None:
    """Thygesen 2018 Table 7 Q wave in one lead: ``(detail, is_qs)`` or ``None``.

    V2-V3: Q >= 20 ms (at least 0.05 mV deep, the core's noise floor for a Q that is
    timed); other leads: Q >= 30 ms and >= 0.1 mV deep. QS: no R >= 0.05 mV and a
    negative wave >= 0.3 mV. Q durations have ``Q_ONSET_BIAS_MS`` taken off.
    """
    q_ms = ctx.value(lead, "q_ms")
    q_mv = ctx.value(lead, "q_mv")
    r = ctx.value(lead, "r_mv")
    if r is not None and r < QS_R_MV and q_mv is not None and q_mv <= -QS_DEPTH_MV:
        return "QS", True
    if q_ms is None or q_mv is None:
        return None
    dur = q_ms - Q_ONSET_BIAS_MS
    if lead in ("V2", "V3"):
        ok = dur >= 20.0 and q_mv <= -0.05
    else:
        ok = dur >= 30.0 and q_mv <= -0.1
    if not ok:
        return None
    return f"Q {q_ms:.0f} ms {_mm(q_mv)}", False  # as measured, from the global onset


def _prior_mi_tall_r(ctx: RuleInput) -> list[str]:
    """Table 7's posterior equivalent: R >= 40 ms in V1 or V2 with R/S >= 1 and a
    concordant upright T, without a conduction defect (QRS >= 120 ms, RBBB, pacing)."""
    if ctx.qrs_ms is None or ctx.qrs_ms >= QRS_WIDE_MS or ctx.ventricular_paced:
        return []
    if _is_rbbb(ctx):
        return []
    out = []
    for lead in ("V1", "V2"):
        shape = ctx.qrs_shapes.get(lead)
        r = ctx.value(lead, "r_mv")
        s = ctx.value(lead, "s_mv")
        t = ctx.value(lead, "t_mv")
        if shape is None or r is None or t is None:
            continue
        if shape.r_ms >= PRIOR_MI_R_MS and r >= abs(s or 0.0) and t > 0.0:
            out.append(f"{lead} R {shape.r_ms:.0f} ms R/S>=1 T upright")
    return out


def rule_q_waves(ctx: RuleInput) -> list[Finding]:
    """Q waves / R waves of a prior MI, warning tier.

    Source: Thygesen K, et al. Fourth Universal Definition of Myocardial Infarction
    (2018). J Am Coll Cardiol 2018;72:2231-64. doi:10.1016/j.jacc.2018.08.1038, Table 7
    (ECG changes associated with prior MI, in the absence of LVH and LBBB):

    - any Q wave in V2-V3 >= 0.02 s, or a QS complex in V2 *and* V3;
    - Q >= 0.03 s and >= 0.1 mV deep, or a QS complex, in I, II, aVL, aVF or V4-V6 in any
      two leads of a contiguous group (I, aVL; V4-V6; II, aVF - Table 7's groups I, aVL /
      V1-V6 / II, III, aVF restricted to the leads the criterion lists: a Q in III or
      aVR alone is physiological and never counts);
    - R >= 0.04 s in V1-V2 with R/S >= 1 and a concordant positive T, without a
      conduction defect (needs the median-beat QRS shapes; skipped without them).

    Not applied in LBBB or wide ventricular pacing (Q waves uninterpretable).
    Deviations: Table 7's "absence of LVH" is not enforced (LVH voltage alone does not
    make Q waves); ``Q_ONSET_BIAS_MS`` (10 ms) is subtracted from the core's Q
    duration, which starts at the global QRS onset - on PTB-XL tuning normals a lead's
    septal q leaves the baseline (0.02 mV) a median 14 ms after that onset, and the
    measured q of normal I/aVL/II/aVF/V4-V6 was 30-38 ms (10th-90th percentile), which
    made the 30 ms criterion fire on a quarter of normal ECGs. 10 ms was chosen among
    0/4/6/8/10/12 ms on the tuning part (PTB-XL folds 1-8, LUDB id % 4 == 1, PTB healthy
    even ids) by normal firing against sensitivity on PTB-XL prior-MI records
    (``bench/warnings.py``): normals 46/28/21/11/7/6 of 174, Se 9/9/9/8/8/8 of 32 -
    10 ms ends the steep fall and stays inside the 6-14 ms onset-to-departure medians
    (0.01-0.02 mV). rules-2026.11.4 counted a single-lead QS in V2 or V3, used
    the groups II/III/aVF, I/aVL/V5/V6 and V1-V4 and no bias.
    """
    if not ctx.st_measurable:
        return []
    if _is_lbbb(ctx) or _is_wide_paced(ctx):
        return []
    hits: dict[str, tuple[str, bool]] = {}
    for lead in ("I", "II", "aVL", "aVF", "V2", "V3", "V4", "V5", "V6"):
        q = _prior_mi_q(ctx, lead)
        if q is not None:
            hits[lead] = q
    v23 = [le for le in ("V2", "V3") if le in hits]
    if v23 and all(hits[le][1] for le in v23) and len(v23) < 2:
        v23 = []  # a QS in one of V2/V3 only
    leads: list[str] = list(v23)
    for group in Q_GROUPS:
        g = [le for le in group if le in hits]
        if len(g) >= 2:
            leads.extend(g)
    parts = [f"{le} {hits[le][0]}" for le in leads]
    parts.extend(_prior_mi_tall_r(ctx))
    if not parts:
        return []
    return [make_finding(Code.MI_OLD, Priority.WARNING, _src("q-waves"), ", ".join(parts))]


ALL_RULES = (
    rule_stemi,
    rule_posterior_stemi,
    rule_sgarbossa,
    rule_wide_complex_tachycardia,
    rule_vf,
    rule_pause,
    rule_critical_rate,
    rule_af,
    rule_lqt,
    rule_pvc,
    rule_avb1,
    rule_bbb,
    rule_lvh,
    rule_st_depression,
    rule_t_inversion,
    rule_q_waves,
)


def evaluate_rules(ctx: RuleInput) -> tuple[Finding, ...]:
    """Run every rule; the rhythm stage's own findings are kept first.

    With ``ctx.pvc`` the rhythm stage's PVC finding (a count of every beat labelled
    ventricular) is dropped: ``rule_pvc`` decides on the timed count instead.
    """
    keep = ctx.rhythm_findings
    if ctx.pvc is not None:
        keep = tuple(f for f in keep if f.code != Code.PVC)
    out: list[Finding] = list(keep)
    for rule in ALL_RULES:
        out.extend(rule(ctx))
    return tuple(out)
