"""Shared vocabulary of the edge agent: lead names, priorities, findings.

Pure (no I/O); imported by the signal core, the triage and the central reader.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

__all__ = [
    "STANDARD_12",
    "Finding",
    "Lead",
    "Priority",
    "normalize_lead_name",
]


class Lead(StrEnum):
    """Canonical lead names; extras (Frank leads, V3R...) keep their own spelling."""

    I = "I"  # noqa: E741
    II = "II"
    III = "III"
    AVR = "aVR"
    AVL = "aVL"
    AVF = "aVF"
    V1 = "V1"
    V2 = "V2"
    V3 = "V3"
    V4 = "V4"
    V5 = "V5"
    V6 = "V6"


STANDARD_12: tuple[str, ...] = tuple(lead.value for lead in Lead)

_ALIASES: dict[str, str] = {
    "i": "I",
    "ii": "II",
    "iii": "III",
    "avr": "aVR",
    "avl": "aVL",
    "avf": "aVF",
    "mlii": "II",
    "mli": "I",
    "mliii": "III",
    "lead i": "I",
    "lead ii": "II",
    "lead iii": "III",
}
_V_RE = re.compile(r"^(?:lead\s*)?(?:mod)?v([1-6])$")


@lru_cache(maxsize=256)
def normalize_lead_name(name: str) -> str:
    """Return the canonical spelling of a lead name.

    ``"ii"``, ``"MLII"``, ``"Lead II"`` -> ``"II"``; ``"avf"`` -> ``"aVF"``;
    ``"v3"``/``"MV3"`` -> ``"V3"``. Unknown names are returned stripped, unchanged.
    """
    key = name.strip().lower().replace("_", " ").replace("-", " ")
    key = re.sub(r"\s+", " ", key)
    if key in _ALIASES:
        return _ALIASES[key]
    compact = key.replace(" ", "")
    if compact in _ALIASES:
        return _ALIASES[compact]
    m = _V_RE.match(compact) or re.match(r"^mv([1-6])$", compact)
    if m:
        return f"V{m.group(1)}"
    return name.strip()


class Priority(StrEnum):
    """Reading priority of a record, most urgent first."""

    CRITICAL = "critical"
    WARNING = "warning"
    ROUTINE = "routine"
    UNREADABLE = "unreadable"

    @property
    def rank(self) -> int:
        """0 for the most urgent tier."""
        return _PRIORITY_RANK[self]


_PRIORITY_RANK = {
    Priority.CRITICAL: 0,
    Priority.WARNING: 1,
    Priority.UNREADABLE: 2,
    Priority.ROUTINE: 3,
}


@dataclass(frozen=True, slots=True)
class Finding:
    """One triage statement about a record.

    ``source`` is ``rules:<rule-id>`` or ``model:<name>@<version>``; ``probability`` is set
    only where a model contributed.
    """

    code: str
    label_en: str
    label_zh: str
    priority: Priority
    source: str
    probability: float | None = None
    detail: str = ""

    def to_dict(self) -> dict[str, object]:
        """Plain JSON types."""
        return {
            "code": self.code,
            "label": self.label_en,
            "label_zh": self.label_zh,
            "priority": self.priority.value,
            "probability": self.probability,
            "source": self.source,
            "detail": self.detail,
        }
