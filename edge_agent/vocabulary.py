"""Vocabulary of findings: codes and their bilingual labels, one for the whole edge.

The rhythm stage of the signal core (:mod:`edge_agent.dsp.rhythm`) and the triage
(:mod:`edge_agent.triage`, which re-exports this as ``edge_agent.triage.labels``) both build
their findings with :func:`make_finding`. Pure (no I/O). The Chinese labels follow the
wording of Chinese ECG reports and of the Chinese expert consensus on ECG critical values
(心电学危急值中国专家共识, 2017).
"""

from __future__ import annotations

from enum import StrEnum

from edge_agent.types import Finding, Priority

__all__ = ["LABELS", "Code", "make_finding"]


class Code(StrEnum):
    """Finding codes (stable: integrations and the central reader key on them)."""

    STEMI = "STEMI"
    VT = "VT"
    VF = "VF"
    ASYSTOLE = "ASYSTOLE"
    AVB3 = "AVB3"
    PAUSE = "PAUSE"
    BRADY = "BRADY"
    TACHY = "TACHY"
    AF = "AF"
    AFL = "AFL"
    AF_RVR = "AF_RVR"
    PVC = "PVC"
    LQT = "LQT"
    AVB1 = "AVB1"
    LBBB = "LBBB"
    RBBB = "RBBB"
    LVH = "LVH"
    ST_DEPRESSION = "ST_DEPRESSION"
    T_INVERSION = "T_INVERSION"
    MI_OLD = "MI_OLD"
    PACED = "PACED"
    NORMAL = "NORMAL"
    NOISE = "NOISE"


LABELS: dict[Code, tuple[str, str]] = {
    Code.STEMI: ("ST-elevation myocardial infarction (STEMI)", "急性ST段抬高型心肌梗死"),
    Code.VT: ("Ventricular / wide-complex tachycardia", "室性心动过速/宽QRS波心动过速"),
    Code.VF: ("Suspected ventricular fibrillation/flutter", "疑似心室颤动/心室扑动"),
    Code.ASYSTOLE: ("No QRS complexes detected (asystole?)", "未检出QRS波（疑似心脏停搏）"),
    Code.AVB3: ("Third-degree AV block", "三度房室传导阻滞"),
    Code.PAUSE: ("Pause (long RR interval)", "长RR间期（长间歇）"),
    Code.BRADY: ("Bradycardia", "心动过缓"),
    Code.TACHY: ("Tachycardia", "心动过速"),
    Code.AF: ("Atrial fibrillation / flutter", "心房颤动/心房扑动"),
    Code.AFL: ("Atrial flutter", "心房扑动"),
    Code.AF_RVR: (
        "Atrial fibrillation with rapid ventricular response",
        "心房颤动伴快速心室率",
    ),
    # neutral: the detail says how many and how often (frequent ones are a warning)
    Code.PVC: ("Premature ventricular complexes", "室性早搏"),
    Code.LQT: ("Long QTc", "QT间期延长"),
    Code.AVB1: ("First-degree AV block", "一度房室传导阻滞"),
    Code.LBBB: ("Complete left bundle branch block", "完全性左束支传导阻滞"),
    Code.RBBB: ("Complete right bundle branch block", "完全性右束支传导阻滞"),
    Code.LVH: (
        "Left ventricular hypertrophy (voltage criteria)",
        "左心室高电压（左室肥厚）",
    ),
    Code.ST_DEPRESSION: ("ST depression", "ST段压低"),
    Code.T_INVERSION: ("T-wave inversion", "T波倒置"),
    Code.MI_OLD: (
        "Pathological Q waves (old myocardial infarction?)",
        "病理性Q波（陈旧性心肌梗死？）",
    ),
    Code.PACED: ("Paced rhythm (pacemaker spikes)", "起搏心律（检出起搏脉冲）"),
    Code.NORMAL: ("Normal ECG", "正常心电图"),
    Code.NOISE: ("Unreadable: signal quality too poor", "信号质量差，无法分析"),
}


def make_finding(
    code: Code,
    priority: Priority,
    source: str,
    detail: str = "",
    probability: float | None = None,
) -> Finding:
    """Build a :class:`Finding` with the bilingual labels of ``code``."""
    en, zh = LABELS[code]
    return Finding(
        code=code.value,
        label_en=en,
        label_zh=zh,
        priority=priority,
        source=source,
        probability=probability,
        detail=detail,
    )
