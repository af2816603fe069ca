"""Triage: STEMI and critical-rhythm rules plus the ONNX models.

``triage(...)`` combines the pure rules (:mod:`edge_agent.triage.rules`) with the optional
ONNX models (:mod:`edge_agent.triage.model`, the waveform CNN, and
:mod:`edge_agent.triage.stemi_model`, the STEMI feature model it carries as ``stemi``;
onnxruntime is imported lazily at load).
"""

from __future__ import annotations

from edge_agent.triage.combine import Triage, model_findings, triage
from edge_agent.triage.labels import LABELS, Code
from edge_agent.triage.model import TriageModel, load_default_model
from edge_agent.triage.model_input import ModelInput, model_input_from
from edge_agent.triage.rules import RULES_VERSION, evaluate_rules
from edge_agent.triage.stemi_features import FEATURE_NAMES, stemi_features

__all__ = [
    "FEATURE_NAMES",
    "LABELS",
    "RULES_VERSION",
    "Code",
    "ModelInput",
    "Triage",
    "TriageModel",
    "evaluate_rules",
    "load_default_model",
    "model_findings",
    "model_input_from",
    "stemi_features",
    "triage",
]
