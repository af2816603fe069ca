"""Triage: STEMI and critical-rhythm rules plus the ONNX model.

``triage(...)`` combines the pure rules (:mod:`edge_agent.triage.rules`) with the optional
ONNX model (:mod:`edge_agent.triage.model`, which imports onnxruntime lazily at load).
"""

from __future__ import annotations

from edge_agent.triage.combine import Triage, model_findings, triage
from edge_agent.triage.labels import LABELS, Code
from edge_agent.triage.model import TriageModel, load_default_model
from edge_agent.triage.model_input import ModelInput, model_input_from
from edge_agent.triage.rules import RULES_VERSION, evaluate_rules

__all__ = [
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
    "triage",
]
