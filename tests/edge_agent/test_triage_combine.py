"""Combination policy: the AF policy read from the CNN card, STEMI from any source."""

from __future__ import annotations

import json

import pytest

from edge_agent.triage import load_default_model
from edge_agent.triage.combine import apply_af_policy
from edge_agent.triage.labels import Code, make_finding
from edge_agent.triage.model import DEFAULT_MODEL_DIR
from edge_agent.types import Priority

POLICY = {"rules_need_model_p": 0.1, "model_alone_p": 0.9}
RULE_AF = make_finding(Code.AF, Priority.WARNING, "rules:af", "irregular RR")
RULE_RVR = make_finding(Code.AF_RVR, Priority.CRITICAL, "rules:af-rvr", "AF 150 bpm")
MODEL_AF = make_finding(Code.AF, Priority.WARNING, "model:m@1", "p", probability=0.5)
RULE_STEMI = make_finding(Code.STEMI, Priority.CRITICAL, "rules:stemi-4udmi", "II, aVF")


def _codes(fs: list) -> list[tuple[str, str]]:  # type: ignore[type-arg]
    return sorted((f.code, f.source) for f in fs)


def test_rules_af_withdrawn_when_the_model_clearly_denies_it() -> None:
    out = apply_af_policy([RULE_AF, RULE_STEMI], 0.05, "m@1", POLICY)
    assert _codes(out) == [("STEMI", "rules:stemi-4udmi")], out


def test_rules_af_stands_when_the_model_does_not_deny_it() -> None:
    out = apply_af_policy([RULE_AF], 0.2, "m@1", POLICY)
    assert _codes(out) == [("AF", "rules:af")], out


def test_af_with_rapid_response_is_never_withdrawn() -> None:
    out = apply_af_policy([RULE_RVR], 0.0, "m@1", POLICY)
    assert _codes(out) == [("AF_RVR", "rules:af-rvr")], out


def test_model_alone_needs_the_high_threshold() -> None:
    assert apply_af_policy([MODEL_AF], 0.5, "m@1", POLICY) == []
    out = apply_af_policy([], 0.95, "m@1", POLICY)
    assert _codes(out) == [("AF", "model:m@1")], out
    assert out[0].probability == pytest.approx(0.95)


def test_no_policy_keeps_every_finding() -> None:
    out = apply_af_policy([RULE_AF, MODEL_AF], 0.0, "m@1", None)
    assert _codes(out) == [("AF", "model:m@1"), ("AF", "rules:af")], out


STACK = {**POLICY, "w_logit": 0.5, "w_af_score": 0.5, "bias": 0.0, "stack_threshold": 0.0}


def test_stacked_af_withdraws_rules_af_when_the_score_is_low() -> None:
    # logit(0.1) = -2.2, af_score -1: 0.5 * -2.2 + 0.5 * -1 < 0
    out = apply_af_policy([RULE_AF, RULE_RVR], 0.1, "m@1", STACK, af_score=-1.0)
    assert _codes(out) == [("AF_RVR", "rules:af-rvr")], out


def test_stacked_af_raised_by_model_with_both_inputs_in_detail() -> None:
    # logit(0.6) = 0.41, af_score 1.5: 0.5 * 0.41 + 0.75 >= 0; no rules AF
    out = apply_af_policy([MODEL_AF], 0.6, "m@1", STACK, af_score=1.5)
    assert _codes(out) == [("AF", "model:m@1")], out
    assert "af_score=1.50" in out[0].detail, out[0].detail


def test_stacked_af_keeps_the_rules_finding_when_it_agrees() -> None:
    out = apply_af_policy([RULE_AF, MODEL_AF], 0.6, "m@1", STACK, af_score=1.5)
    assert _codes(out) == [("AF", "rules:af")], out


def test_stacked_policy_falls_back_without_af_score() -> None:
    out = apply_af_policy([RULE_AF], 0.05, "m@1", STACK, af_score=None)
    assert out == [], out  # lo/hi: P(AF) 0.05 < lo 0.1 withdraws the rules' AF


def test_af_policy_is_read_from_the_card() -> None:
    card = json.loads((DEFAULT_MODEL_DIR / "card.json").read_text())
    model = load_default_model(with_stemi=False)
    want = card["combine"]["AF"]
    got = model.combine["AF"]
    assert got["rules_need_model_p"] == want["rules_need_model_p"], f"{got}"
    assert got["model_alone_p"] == want["model_alone_p"], f"{got}"
    for key in ("w_logit", "w_af_score", "bias", "stack_threshold"):
        assert got.get(key) == want.get(key), f"{key}: {got} vs {want}"
