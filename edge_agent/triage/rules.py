"""Triage rules on the signal core's measurements (pure: no I/O, no onnxruntime).

Every rule is a function ``rule_x(ctx) -> list[Finding]`` on a :class:`RuleInput`; its
docstring cites the criterion it implements and lists deviations. Amplitudes are in mV
(1 mm = 0.1 mV at the standard 10 mm/mV gain); ``detail`` reports them in mm.

Rhythm findings that need the atrial signal (``AFL``, ``AVB3``) come from the rhythm stage
(``edge_agent.dsp.rhythm``: QRST cancellation and P-wave tracking) and ``PACED`` from the
pacing-spike detector; they reach the rules as ``RuleInput.rhythm_findings``.

The rules live in four modules, all re-exported here: ``rules_base`` (:class:`RuleInput`,
lead groups, shared helpers), ``rules_stemi`` (STEMI, posterior, Sgarbossa, Smith),
``rules_bbb`` (LBBB/RBBB) and ``rules_warnings`` (LVH, ST depression, T inversion, prior
MI); this module holds the rhythm and interval rules and :func:`evaluate_rules`.
"""

from __future__ import annotations

from edge_agent.triage.conduction import PvcEvidence
from edge_agent.triage.labels import Code, make_finding
from edge_agent.triage.rules_base import (
    AF_RVR_BPM,
    BRADY_CRITICAL_BPM,
    PAUSE_CRITICAL_MS,
    PR_AVB1_MS,
    QRS_WIDE_MS,
    QTC_CRITICAL_MS,
    TACHY_CRITICAL_BPM,
    VF_RATE_BPM,
    WCT_RATE_BPM,
    RuleInput,
    _src,
)
from edge_agent.triage.rules_bbb import rule_bbb
from edge_agent.triage.rules_stemi import (
    rule_posterior_stemi,
    rule_sgarbossa,
    rule_stemi,
    smith_lad_score,
    stemi_v2v3_threshold_mv,
)
from edge_agent.triage.rules_warnings import (
    rule_lvh,
    rule_q_waves,
    rule_st_depression,
    rule_t_inversion,
)
from edge_agent.types import Finding, Priority

__all__ = [
    "ALL_RULES",
    "RULES_VERSION",
    "RuleInput",
    "evaluate_rules",
    "rule_bbb",
    "rule_lvh",
    "rule_posterior_stemi",
    "rule_q_waves",
    "rule_sgarbossa",
    "rule_st_depression",
    "rule_stemi",
    "rule_t_inversion",
    "smith_lad_score",
    "stemi_v2v3_threshold_mv",
]

RULES_VERSION = "rules-2026.11.6"


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

    From fewer than ``QT_CRITICAL_MIN_LEADS`` usable leads (handheld and two-lead
    recorders) the finding is a warning, not critical: the statement asks for QT to be
    measured on a 12-lead ECG, and the T end of a single lead is where delineation errs
    most (our T end SD vs LUDB is ~28 ms; on CinC 2017 single-lead normal records a QTc
    > 500 ms came from T-end errors on 2.3 %). The detail asks for a 12-lead recording.
    """
    iv = ctx.intervals
    if iv is None:
        return []
    qtc = iv.qtc_fridericia_ms if iv.qtc_fridericia_ms is not None else iv.qtc_bazett_ms
    if qtc is None or qtc <= QTC_CRITICAL_MS:
        return []
    if iv.qrs_ms is not None and iv.qrs_ms >= QRS_WIDE_MS:
        return []
    n_leads = int(ctx.quality.usable.sum())
    if n_leads < QT_CRITICAL_MIN_LEADS:
        detail = (
            f"QTc {qtc:.0f} ms from {n_leads} lead{'s' if n_leads != 1 else ''}:"
            " confirm on a 12-lead ECG"
        )
        return [make_finding(Code.LQT, Priority.WARNING, _src("lqt-500-few-leads"), detail)]
    return [make_finding(Code.LQT, Priority.CRITICAL, _src("lqt-500"), f"QTc {qtc:.0f} ms")]


#: Fewer usable leads than this make a long QTc a warning (see ``rule_lqt``).
QT_CRITICAL_MIN_LEADS = 3


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
