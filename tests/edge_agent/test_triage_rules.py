"""Triage rules on crafted measurements: each rule fires on its pattern, not beside it."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import pytest

from edge_agent.dsp.results import (
    Intervals,
    LeadMeasures,
    LeadQuality,
    QualityReport,
    RhythmFeatures,
)
from edge_agent.triage import RULES_VERSION, triage
from edge_agent.triage.labels import LABELS, Code
from edge_agent.triage.rules import (
    RuleInput,
    evaluate_rules,
    smith_lad_score,
    stemi_v2v3_threshold_mv,
)
from edge_agent.types import STANDARD_12, Finding, Priority
from tests.edge_agent._rule_inputs import IV, OK, RHY, normal_lead


def _lead(name: str, **kw: float | None) -> LeadMeasures:
    return normal_lead(name, **({"q_mv": -0.05, "q_ms": 15.0} | kw))  # type: ignore[arg-type]


def _measures(**per_lead: dict[str, float | None]) -> tuple[LeadMeasures, ...]:
    return tuple(_lead(n, **per_lead.get(n, {})) for n in STANDARD_12)


_IV, _RHY, _OK = IV, RHY, OK


def _codes(
    measures: tuple[LeadMeasures, ...] | None = None,
    intervals: Intervals | None = _IV,
    rhythm: RhythmFeatures | None = _RHY,
    findings: tuple[Finding, ...] = (),
    age: float | None = 60.0,
    sex: str | None = "male",
    ventricular_paced: bool = False,
) -> dict[str, Finding]:
    ctx = RuleInput.build(
        lead_measures=measures if measures is not None else _measures(),
        intervals=intervals, rhythm=rhythm, rhythm_findings=findings, quality=_OK,
        age_years=age, sex=sex, ventricular_paced=ventricular_paced,
    )  # fmt: skip
    return {f.code: f for f in evaluate_rules(ctx)}


def test_normal_record_raises_nothing() -> None:
    got = _codes()
    assert got == {}, f"normal measurements raised {sorted(got)}"


def test_inferior_stemi_with_reciprocal_depression() -> None:
    m = _measures(
        II={"st_j_mv": 0.2, "st_j60_mv": 0.25},
        III={"st_j_mv": 0.3, "st_j60_mv": 0.3},
        aVF={"st_j_mv": 0.25, "st_j60_mv": 0.28},
        aVL={"st_j_mv": -0.15, "st_j60_mv": -0.15},
    )
    f = _codes(m)["STEMI"]
    assert f.priority is Priority.CRITICAL, f"{f}"
    assert f.source == "rules:stemi-4udmi", f"{f.source}"
    assert "inferior" in f.detail and "III +3.0 mm" in f.detail, f"{f.detail}"
    assert "reciprocal depression aVL -1.5 mm" in f.detail, f"{f.detail}"


def test_single_lead_elevation_is_not_stemi() -> None:
    m = _measures(III={"st_j_mv": 0.3, "st_j60_mv": 0.3})
    assert "STEMI" not in _codes(m), "one elevated lead is not two contiguous leads"


def test_non_contiguous_elevation_is_not_stemi() -> None:
    m = _measures(
        III={"st_j_mv": 0.2, "st_j60_mv": 0.2}, V5={"st_j_mv": 0.2, "st_j60_mv": 0.2}
    )
    assert "STEMI" not in _codes(m), "III and V5 are not contiguous"


@pytest.mark.parametrize(
    ("age", "sex", "expected_mv"),
    [(60.0, "male", 0.2), (30.0, "M", 0.25), (30.0, "female", 0.15), (None, None, 0.15),
     (None, "male", 0.2), (70.0, "女", 0.15)],
)  # fmt: skip
def test_v2v3_threshold_by_age_and_sex(
    age: float | None, sex: str | None, expected_mv: float
) -> None:
    got = stemi_v2v3_threshold_mv(age, sex)
    assert got == expected_mv, f"age {age} sex {sex}: {got} mV, expected {expected_mv}"


def test_anterior_stemi_depends_on_sex_threshold() -> None:
    m = _measures(
        V2={"st_j_mv": 0.18, "st_j60_mv": 0.2},
        V3={"st_j_mv": 0.17, "st_j60_mv": 0.2},
        III={"st_j_mv": -0.1, "st_j60_mv": -0.1},
    )
    assert "STEMI" in _codes(m, sex="female"), "1.7 mm in V2-V3 is STEMI in a woman"
    assert "STEMI" not in _codes(m, sex="male", age=60.0), "1.7 mm V2-V3 in a man >= 40"
    assert "STEMI" not in _codes(m, sex="male", age=30.0), "1.7 mm V2-V3 in a man < 40"


def test_j_point_on_r_downslope_is_not_stemi() -> None:
    m = _measures(
        II={"st_j_mv": 0.3, "st_j60_mv": 0.0}, aVF={"st_j_mv": 0.3, "st_j60_mv": 0.0}
    )
    assert "STEMI" not in _codes(m), "elevation only at J, gone at J+60 ms"


def test_early_repolarisation_by_smith_score_is_not_stemi() -> None:
    # 1.2 mm in V4-V5, no reciprocal depression, tall R V4 (13 mm), QTc 410 ms: 4UDMI
    # alone calls it; Smith's score 1.196*0 + 0.059*410 - 0.326*13 = 19.95 <= 23.4 says
    # early repolarisation (Ann Emerg Med 2012;60:45-56).
    m = _measures(
        V4={"st_j_mv": 0.12, "st_j60_mv": 0.15}, V5={"st_j_mv": 0.12, "st_j60_mv": 0.1}
    )
    ctx = RuleInput.build(
        lead_measures=m, intervals=_IV, rhythm=_RHY, rhythm_findings=(), quality=_OK,
        age_years=60.0, sex="male",
    )  # fmt: skip
    score = smith_lad_score(ctx)
    assert score is not None and abs(score - 19.952) < 1e-3, f"score {score}"
    assert "STEMI" not in _codes(m), "early repolarisation by Smith's score"
    # the same elevation with a small R in V4 and a long QTc scores as LAD occlusion
    low_r = _measures(
        V4={"st_j_mv": 0.12, "st_j60_mv": 0.15, "r_mv": 0.6},
        V5={"st_j_mv": 0.12, "st_j60_mv": 0.1},
    )
    long_qt = replace(_IV, qtc_bazett_ms=470.0)
    got = _codes(low_r, intervals=long_qt)
    assert "STEMI" in got, "0.059*470 - 0.326*6 = 25.8 > 23.4: LAD occlusion"
    assert got["STEMI"].detail.startswith("anterolateral: ST elevation V4 +1.2 mm"), (
        f"{got['STEMI'].detail}"
    )
    # reciprocal inferior depression puts it outside Smith's domain: 4UDMI stands
    recip = _measures(
        V4={"st_j_mv": 0.12, "st_j60_mv": 0.15},
        V5={"st_j_mv": 0.12, "st_j60_mv": 0.1},
        III={"st_j_mv": -0.1, "st_j60_mv": -0.1},
    )
    assert "STEMI" in _codes(recip), "reciprocal depression: not early repolarisation"


def test_v1_and_v3_are_not_contiguous() -> None:
    m = _measures(
        V1={"st_j_mv": 0.15, "st_j60_mv": 0.15}, V3={"st_j_mv": 0.3, "st_j60_mv": 0.3}
    )
    assert "STEMI" not in _codes(m), "V1 and V3 are not neighbours (V2 is not elevated)"


def test_upsloping_st_from_depressed_j_is_not_stemi() -> None:
    m = _measures(
        II={"st_j_mv": -0.05, "st_j60_mv": 0.2}, aVF={"st_j_mv": 0.0, "st_j60_mv": 0.2}
    )
    assert "STEMI" not in _codes(m), "the elevation must start at the J point"


def test_posterior_pattern() -> None:
    m = _measures(
        V1={"st_j60_mv": -0.15, "st_j_mv": -0.15, "t_mv": 0.2},
        V2={"st_j60_mv": -0.2, "st_j_mv": -0.2, "r_mv": 1.0, "s_mv": -0.4, "t_mv": 0.3},
        V3={"st_j60_mv": -0.15, "st_j_mv": -0.12},
    )
    f = _codes(m)["STEMI"]
    assert f.source == "rules:stemi-posterior" and "V2 -2.0 mm" in f.detail, f"{f}"


def test_diffuse_depression_is_not_posterior_stemi() -> None:
    dep = {"st_j60_mv": -0.15, "st_j_mv": -0.1}
    deeper = {"st_j60_mv": -0.25, "st_j_mv": -0.2}
    m = _measures(V1=dep, V2=dep, V3=dep, V4=deeper, V5=deeper, V6=deeper)
    got = _codes(m)
    assert "STEMI" not in got, f"subendocardial pattern called STEMI: {got.get('STEMI')}"
    assert "ST_DEPRESSION" in got, f"{sorted(got)}"


_WIDE = replace(_IV, qrs_ms=150.0)
_LBBB = {"V1": {"r_mv": 0.1, "s_mv": -1.5}, "V2": {"r_mv": 0.1, "s_mv": -2.0},
         "I": {"q_mv": 0.0, "t_mv": -0.2}, "V5": {"q_mv": 0.0},
         "V6": {"q_mv": 0.0}}  # fmt: skip


def test_lbbb_detected_and_stemi_rule_suppressed() -> None:
    # Discordant 1 mm elevation in V1-V2 with deep S: normal LBBB, no STEMI.
    m = _measures(
        **{**_LBBB, "V1": {**_LBBB["V1"], "st_j_mv": 0.15, "st_j60_mv": 0.2},
           "V2": {**_LBBB["V2"], "st_j_mv": 0.2, "st_j60_mv": 0.25}},
    )  # fmt: skip
    got = _codes(m, intervals=_WIDE)
    assert "LBBB" in got and "STEMI" not in got, f"{sorted(got)}"


def test_smith_sgarbossa_excess_discordance() -> None:
    m = _measures(**{**_LBBB, "V2": {**_LBBB["V2"], "st_j_mv": 0.6, "st_j60_mv": 0.6}})
    f = _codes(m, intervals=_WIDE)["STEMI"]
    assert f.source == "rules:stemi-smith-sgarbossa", f"{f}"
    assert "30% of S" in f.detail, f"{f.detail}"


def test_sgarbossa_concordant_elevation() -> None:
    m = _measures(**{**_LBBB, "V6": {"q_mv": 0.0, "st_j_mv": 0.15}})
    f = _codes(m, intervals=_WIDE)["STEMI"]
    assert "concordant elevation V6" in f.detail, f"{f.detail}"


def test_ventricular_pacing_switches_stemi_to_sgarbossa() -> None:
    """Wide paced QRS (spikes seen, morphology not LBBB-like): secondary ST-T changes are
    not 4UDMI STEMI, but concordant elevation is (Smith-Sgarbossa)."""
    discordant = _measures(  # elevation < 25 % of S, inferior depression (not Smith's ER)
        V1={"st_j_mv": 0.15, "st_j60_mv": 0.15}, V2={"st_j_mv": 0.25, "st_j60_mv": 0.25},
        V3={"st_j_mv": 0.15, "st_j60_mv": 0.15}, III={"st_j_mv": -0.1, "st_j60_mv": -0.1},
        aVF={"st_j_mv": -0.1, "st_j60_mv": -0.1},
    )  # fmt: skip
    plain = _codes(discordant, intervals=_WIDE)
    assert plain["STEMI"].source == "rules:stemi-4udmi", f"{sorted(plain)}"
    paced = _codes(discordant, intervals=_WIDE, ventricular_paced=True)
    assert "STEMI" not in paced, f"paced rS with discordant ST called STEMI: {paced}"
    narrow = _codes(discordant, ventricular_paced=True)  # QRS 90 ms: pacing not capturing
    assert narrow["STEMI"].source == "rules:stemi-4udmi", f"{sorted(narrow)}"
    concordant = _measures(V5={"st_j_mv": 0.15}, V6={"st_j_mv": 0.15})
    f = _codes(concordant, intervals=_WIDE, ventricular_paced=True)["STEMI"]
    assert f.source == "rules:stemi-smith-sgarbossa", f"{f}"
    assert f.detail.startswith("paced: concordant elevation V5"), f.detail


def test_rbbb() -> None:
    m = _measures(V1={"r_mv": 0.8, "s_mv": -0.3}, I={"s_mv": -0.3}, V6={"s_mv": -0.3})
    got = _codes(m, intervals=_WIDE)
    assert "RBBB" in got and "LBBB" not in got, f"{sorted(got)}"


def test_rbbb_does_not_hide_stemi() -> None:
    m = _measures(
        V1={"r_mv": 0.8, "s_mv": -0.3}, I={"s_mv": -0.3}, V6={"s_mv": -0.3},
        V3={"st_j_mv": 0.35, "st_j60_mv": 0.3}, V4={"st_j_mv": 0.3, "st_j60_mv": 0.3},
    )  # fmt: skip
    got = _codes(m, intervals=_WIDE)
    assert got["STEMI"].source == "rules:stemi-4udmi", f"{sorted(got)}"


@pytest.mark.parametrize(
    ("rate", "qrs", "code", "priority"),
    [(35.0, 90.0, "BRADY", "critical"), (190.0, 90.0, "TACHY", "critical"),
     (150.0, 140.0, "VT", "critical"), (120.0, 100.0, None, None)],
)  # fmt: skip
def test_rate_and_wide_complex(
    rate: float, qrs: float, code: str | None, priority: str | None
) -> None:
    rhy = replace(_RHY, heart_rate_bpm=rate, rr_mean_ms=60000.0 / rate)
    got = _codes(intervals=replace(_IV, qrs_ms=qrs), rhythm=rhy)
    if code is None:
        assert got == {}, f"{rate} bpm QRS {qrs}: {sorted(got)}"
    else:
        assert got[code].priority.value == priority, f"{got[code]}"


def test_vf_proxy_needs_no_qrs() -> None:
    rhy = replace(_RHY, heart_rate_bpm=300.0)
    got = _codes(intervals=None, rhythm=rhy)
    assert "VF" in got, f"{sorted(got)}"
    got = _codes(rhythm=rhy)
    assert "VF" not in got and "TACHY" in got, f"{sorted(got)}"


def test_pause_and_asystole() -> None:
    got = _codes(rhythm=replace(_RHY, longest_pause_ms=3400.0))
    assert got["PAUSE"].priority is Priority.CRITICAL and "3.4 s" in got["PAUSE"].detail
    assert "PAUSE" not in _codes(rhythm=replace(_RHY, longest_pause_ms=2900.0))
    got = _codes(rhythm=replace(_RHY, n_beats=0, heart_rate_bpm=None))
    assert "ASYSTOLE" in got, f"{sorted(got)}"


def test_af_rvr_and_af_warning() -> None:
    af = replace(_RHY, af_suspected=True, heart_rate_bpm=160.0)
    got = _codes(rhythm=af)
    assert got["AF_RVR"].priority is Priority.CRITICAL, f"{sorted(got)}"
    got = _codes(rhythm=replace(af, heart_rate_bpm=90.0))
    assert got["AF"].priority is Priority.WARNING, f"{sorted(got)}"


def test_long_qtc_and_first_degree_block() -> None:
    got = _codes(intervals=replace(_IV, qtc_fridericia_ms=520.0, pr_ms=240.0))
    assert got["LQT"].priority is Priority.CRITICAL, f"{sorted(got)}"
    assert got["AVB1"].detail == "PR 240 ms", f"{got['AVB1']}"


def test_long_qtc_from_one_or_two_leads_is_a_warning_to_confirm() -> None:
    iv = replace(_IV, qtc_fridericia_ms=540.0)
    expected = ((1, Priority.WARNING), (2, Priority.WARNING), (3, Priority.CRITICAL))
    for n_usable, tier in expected:
        quality = QualityReport(
            tuple(LeadQuality(n, i < n_usable) for i, n in enumerate(STANDARD_12))
        )
        ctx = RuleInput.build(
            lead_measures=_measures(), intervals=iv, rhythm=_RHY, rhythm_findings=(),
            quality=quality, age_years=60.0, sex="male",
        )  # fmt: skip
        got = {f.code: f for f in evaluate_rules(ctx)}
        assert got["LQT"].priority is tier, f"{n_usable} leads: {got['LQT']}"
        if tier is Priority.WARNING:
            assert "confirm on a 12-lead ECG" in got["LQT"].detail, got["LQT"].detail
            assert got["LQT"].source == "rules:lqt-500-few-leads", got["LQT"].source


def test_lvh_t_inversion_q_waves_pvc() -> None:
    m = _measures(V1={"s_mv": -2.0}, V5={"r_mv": 2.0})
    assert "LVH" in _codes(m), "SV1 + RV5 = 4.0 mV"
    m = _measures(V5={"t_mv": -0.3}, V6={"t_mv": -0.2})
    assert "T_INVERSION" in _codes(m)
    m = _measures(II={"q_ms": 40.0, "q_mv": -0.3}, aVF={"q_ms": 40.0, "q_mv": -0.3})
    assert _codes(m)["MI_OLD"].detail.startswith("II Q 40 ms"), "inferior Q waves"
    got = _codes(rhythm=replace(_RHY, n_ventricular=3))
    assert got["PVC"].source == "rules:pvc", f"{sorted(got)}"


def _full_triage(**kw: object) -> dict[str, object]:
    args: dict[str, object] = {
        "leads": STANDARD_12, "lead_measures": _measures(), "intervals": _IV,
        "rhythm": _RHY, "rhythm_findings": (), "quality": _OK, "model_input": None,
        "age_years": 60.0, "sex": "male",
        "model": None,
    }  # fmt: skip
    args.update(kw)
    return triage(**args).to_dict()  # type: ignore[arg-type]


def test_triage_priority_is_most_urgent_tier() -> None:
    d = _full_triage()
    assert d["priority"] == "routine" and d["findings"] == [], f"{d}"
    assert d["rules_version"] == RULES_VERSION and d["model"] is None
    stemi = _measures(
        II={"st_j_mv": 0.2, "st_j60_mv": 0.2}, aVF={"st_j_mv": 0.2, "st_j60_mv": 0.2}
    )
    d = _full_triage(lead_measures=stemi, intervals=replace(_IV, pr_ms=240.0))
    assert d["priority"] == "critical", f"{d}"
    codes = [f["code"] for f in d["findings"]]  # type: ignore[index, union-attr]
    assert codes[0] == "STEMI" and "AVB1" in codes, f"most urgent first: {codes}"


def test_unreadable_overrides_everything() -> None:
    bad = QualityReport(
        tuple(LeadQuality(n, False, messages=(f"{n}: electrode off",)) for n in STANDARD_12)
    )
    stemi = _measures(II={"st_j_mv": 0.3}, aVF={"st_j_mv": 0.3})
    d = _full_triage(quality=bad, lead_measures=stemi)
    assert d["priority"] == "unreadable", f"{d}"
    (f,) = d["findings"]  # type: ignore[misc]
    assert f["code"] == "NOISE" and "V3: electrode off" in f["detail"], f"{f}"


def test_rhythm_stage_findings_pass_through() -> None:
    af = Finding(
        "AF", "Atrial fibrillation", "心房颤动", Priority.WARNING, "rules:rhythm-af"
    )
    d = _full_triage(rhythm_findings=(af,), rhythm=replace(_RHY, af_suspected=True))
    findings = d["findings"]
    codes = [(f["code"], f["source"]) for f in findings]  # type: ignore[index, union-attr, attr-defined]
    assert codes == [("AF", "rules:rhythm-af")], f"{codes}"


def test_every_code_has_bilingual_labels() -> None:
    required = {"STEMI", "AF", "VT", "AVB3", "PAUSE", "BRADY", "TACHY", "PVC", "LBBB",
                "RBBB", "LQT", "NOISE"}  # fmt: skip
    assert required <= {c.value for c in Code}, f"missing {required - set(Code)}"
    for code, (en, zh) in LABELS.items():
        assert en and any("\u4e00" <= ch <= "\u9fff" for ch in zh), f"{code}: {en!r} {zh!r}"


def test_rules_module_is_pure() -> None:
    # A fresh interpreter: other tests in this session load onnxruntime on purpose.
    code = (
        "import sys, edge_agent.triage.rules; "
        "print(','.join(m for m in ('onnxruntime', 'wfdb', 'grpc', 'sqlite3') "
        "if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "", f"imported by the rules: {out.stdout.strip()}"


def test_implausible_qrs_disables_st_rules() -> None:
    # A 300 ms "QRS" means the J point sits in the T wave (seen on PTB 1000 Hz records):
    # the T wave must not be read as ST elevation.
    m = _measures(
        I={"st_j_mv": 0.2, "st_j60_mv": 0.2},
        aVL={"st_j_mv": 0.3, "st_j60_mv": 0.3},
        III={"st_j_mv": -0.15, "st_j60_mv": -0.15},
    )
    assert "STEMI" in _codes(m), "lateral STEMI with reciprocal depression"
    got = _codes(m, intervals=replace(_IV, qrs_ms=300.0))
    assert "STEMI" not in got and "ST_DEPRESSION" not in got, f"{sorted(got)}"
