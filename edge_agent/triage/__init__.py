"""Triage: STEMI and critical-rhythm rules plus the ONNX model."""
