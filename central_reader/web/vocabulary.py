"""Statements a cardiologist can put in a report (pure; no I/O).

The triage codes come from the edge's own vocabulary (``edge_agent.triage.labels``), so a
machine finding and the reader's confirmed statement use the same code and the same
bilingual label. Reader-only statements (rhythm descriptions and common diagnoses the
triage does not emit) are added here; their Chinese wording follows Chinese ECG reports.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge_agent.triage.labels import LABELS, Code
from edge_agent.types import Priority

__all__ = ["READER_STATEMENTS", "Statement", "statements"]


@dataclass(frozen=True, slots=True)
class Statement:
    """One entry of the reading vocabulary."""

    code: str
    label_en: str
    label_zh: str
    priority: Priority

    def to_dict(self) -> dict[str, str]:
        """Plain JSON types."""
        return {
            "code": self.code,
            "label_en": self.label_en,
            "label_zh": self.label_zh,
            "priority": self.priority.value,
        }


# Default tier of a statement the reader adds (a machine finding keeps its own priority).
_CRITICAL = {Code.STEMI, Code.VT, Code.VF, Code.ASYSTOLE, Code.AVB3}
_WARNING = {
    Code.PAUSE, Code.BRADY, Code.TACHY, Code.AF, Code.AFL, Code.AF_RVR, Code.PVC, Code.LQT,
    Code.MI_OLD, Code.LBBB,
}
_UNREADABLE = {Code.NOISE}

#: Statements only a reader makes: (code, English, Chinese, tier).
READER_STATEMENTS: tuple[Statement, ...] = (
    Statement("SINUS_RHYTHM", "Sinus rhythm", "窦性心律", Priority.ROUTINE),
    Statement("SINUS_TACHY", "Sinus tachycardia", "窦性心动过速", Priority.ROUTINE),
    Statement("SINUS_BRADY", "Sinus bradycardia", "窦性心动过缓", Priority.ROUTINE),
    Statement("SINUS_ARRHYTHMIA", "Sinus arrhythmia", "窦性心律不齐", Priority.ROUTINE),
    Statement("PAC", "Premature atrial complexes", "房性早搏", Priority.ROUTINE),
    Statement("AVB2_I", "Second-degree AV block, Mobitz I (Wenckebach)",
              "二度I型房室传导阻滞", Priority.WARNING),
    Statement("AVB2_II", "Second-degree AV block, Mobitz II", "二度II型房室传导阻滞",
              Priority.CRITICAL),
    Statement("IRBBB", "Incomplete right bundle branch block", "不完全性右束支传导阻滞",
              Priority.ROUTINE),
    Statement("LAFB", "Left anterior fascicular block", "左前分支阻滞", Priority.ROUTINE),
    Statement("RVH", "Right ventricular hypertrophy", "右心室肥厚", Priority.ROUTINE),
    Statement("LOW_VOLTAGE", "Low QRS voltage", "QRS低电压", Priority.ROUTINE),
    Statement("ST_ELEVATION", "ST elevation (not meeting STEMI criteria)",
              "ST段抬高（未达STEMI标准）", Priority.WARNING),
    Statement("ST_T_CHANGE", "Nonspecific ST-T changes", "非特异性ST-T改变",
              Priority.ROUTINE),
    Statement("LAD", "Left axis deviation", "电轴左偏", Priority.ROUTINE),
    Statement("RAD", "Right axis deviation", "电轴右偏", Priority.ROUTINE),
    Statement("WPW", "Ventricular pre-excitation (WPW pattern)", "心室预激（WPW）",
              Priority.WARNING),
    Statement("BORDERLINE", "Borderline ECG", "大致正常心电图", Priority.ROUTINE),
    Statement("ABNORMAL", "Abnormal ECG", "异常心电图", Priority.ROUTINE),
    Statement("RECORD_AGAIN", "Please record again (technical problem)", "建议重新描记",
              Priority.UNREADABLE),
)


def _tier(code: Code) -> Priority:
    if code in _CRITICAL:
        return Priority.CRITICAL
    if code in _WARNING:
        return Priority.WARNING
    if code in _UNREADABLE:
        return Priority.UNREADABLE
    return Priority.ROUTINE


def statements() -> tuple[Statement, ...]:
    """All statements: normal ECG first, then the triage codes, then reader-only ones."""
    order = [Code.NORMAL, *(c for c in Code if c is not Code.NORMAL)]
    triage = tuple(Statement(c.value, LABELS[c][0], LABELS[c][1], _tier(c)) for c in order)
    return triage + READER_STATEMENTS
