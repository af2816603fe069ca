"""STEMI rules: the Fourth Universal Definition (J-point elevation, age/sex V2-V3
thresholds, contiguous leads, reciprocal depression), Smith's early-repolarisation
formula, the posterior pattern and Smith-modified Sgarbossa.

Split out of ``rules.py`` without behaviour change; import the rules through
:mod:`edge_agent.triage.rules`.
"""

from __future__ import annotations

from edge_agent.triage.labels import Code, make_finding
from edge_agent.triage.rules_base import (
    ANTERIOR,
    INFERIOR,
    LATERAL,
    PRECORDIAL,
    QRS_WIDE_MS,
    RECIPROCAL,
    ST_DEPRESSION_MV,
    STEMI_MV,
    RuleInput,
    _lvh_voltage,
    _mm,
    _norm_sex,
    _qrs_polarity,
    _src,
)
from edge_agent.triage.rules_bbb import (
    _is_lbbb,
    _is_rbbb,
    _is_wide_paced,
    _st_hidden_by_conduction,
)
from edge_agent.types import Finding, Priority

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


def _pathological_q(ctx: RuleInput, lead: str) -> str | None:
    """Thygesen 2018 Table 5 Q wave in one lead ("QS" or "Q <ms> <mm>"), else None.

    The Q test of rules-2026.11.4, kept for the early-repolarisation exclusion of
    :func:`rule_stemi` (whose behaviour must not change); the prior-MI warning uses
    ``rules_warnings._prior_mi_q``.
    """
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
