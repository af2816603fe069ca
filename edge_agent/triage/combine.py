"""Combined triage: rules and model findings merged into one priority.

Policy (sensitivity first for critical findings): either the rules or a model can raise
any finding; both are kept, each with its own ``source``, so the report says which fired.
STEMI: the 4th-UDMI rules, the CNN and the STEMI feature model (``model.stemi``) each
raise it on their own; the CNN's STEMI output is gated off by its card
(``combine.STEMI``, :func:`gate_model_finding`). AF (a warning, not critical): the CNN
card's ``combine.AF`` policy (:func:`apply_af_policy`: P(AF) stacked with the rhythm
stage's ``af_score``, or a two-threshold fallback), because "either" cost specificity.
An unreadable record (no usable lead) is ``unreadable`` with a ``NOISE`` finding, whatever
else is known. Otherwise the priority is the tier of the most urgent finding
(critical > warning > unreadable > routine), ``routine`` when there is none.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from edge_agent.dsp.results import (
    Beats,
    Fiducials,
    Intervals,
    LeadMeasures,
    MedianBeat,
    QualityReport,
    RhythmFeatures,
)
from edge_agent.triage.conduction import measure_qrs_shapes, pvc_evidence
from edge_agent.triage.labels import Code, make_finding
from edge_agent.triage.model_input import ModelInput
from edge_agent.triage.rules import RULES_VERSION, RuleInput, evaluate_rules
from edge_agent.triage.stemi_features import stemi_features
from edge_agent.types import Finding, Priority

if TYPE_CHECKING:
    from edge_agent.triage.model import TriageModel
    from edge_agent.triage.stemi_model import StemiFeatureModel

__all__ = [
    "MODEL_TIERS",
    "Triage",
    "af_stack_score",
    "apply_af_policy",
    "gate_model_finding",
    "model_findings",
    "stemi_model_finding",
    "triage",
]

# Tier of each model class when its probability reaches the card's threshold.
MODEL_TIERS: dict[str, Priority] = {
    Code.STEMI.value: Priority.CRITICAL,
    Code.AF.value: Priority.WARNING,
    Code.MI_OLD.value: Priority.WARNING,
    Code.PVC.value: Priority.WARNING,
    Code.LBBB.value: Priority.WARNING,
    Code.RBBB.value: Priority.WARNING,
    Code.NOISE.value: Priority.UNREADABLE,
}


# Model classes that need more than a rhythm strip: minimum number of leads carrying
# signal (recorded or derived) before the model's call is reported. The model never saw
# single-lead negatives for these classes (CinC 2017 has no morphology labels).
MIN_LEADS: dict[str, int] = {
    Code.MI_OLD.value: 6,
    Code.LBBB.value: 2,
    Code.RBBB.value: 2,
}


@dataclass(frozen=True, slots=True)
class Triage:
    """Verdict on one record."""

    priority: Priority
    findings: tuple[Finding, ...]
    sources: tuple[str, ...]
    model_id: str | None = None
    probabilities: Mapping[str, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types."""
        return {
            "priority": self.priority.value,
            "findings": [f.to_dict() for f in self.findings],
            "model": self.model_id,
            "model_probabilities": (
                None
                if self.probabilities is None
                else {k: round(v, 4) for k, v in self.probabilities.items()}
            ),
            "rules_version": RULES_VERSION,
            "sources": list(self.sources),
        }


def model_findings(
    probabilities: Mapping[str, float],
    thresholds: Mapping[str, float],
    model_id: str,
    n_leads: int = 12,
) -> tuple[Finding, ...]:
    """Findings for every class whose probability reaches its threshold; none for NORMAL.

    ``n_leads`` is the number of leads with signal in the model input; classes in
    ``MIN_LEADS`` are not reported below their minimum.
    """
    out = []
    for code, tier in MODEL_TIERS.items():
        p = probabilities.get(code)
        t = thresholds.get(code)
        if p is None or t is None or p < t or n_leads < MIN_LEADS.get(code, 1):
            continue
        out.append(
            make_finding(
                Code(code),
                tier,
                f"model:{model_id}",
                f"p={p:.2f} >= {t:.2f}",
                probability=p,
            )
        )
    return tuple(out)


def stemi_model_finding(
    stemi: StemiFeatureModel,
    *,
    median: MedianBeat | None,
    fiducials: Fiducials | None,
    leads: Sequence[str],
    quality: QualityReport,
    intervals: Intervals | None,
    rhythm: RhythmFeatures | None,
    lead_measures: Sequence[LeadMeasures] | None = None,
) -> tuple[float | None, Finding | None]:
    """P(STEMI) of the feature model and its finding when p reaches the card's threshold.

    ``lead_measures`` (``measure_leads`` of this median beat, as ``analyze`` made them)
    spare the features a second measurement when all 12 leads are recorded and usable.

    ``(None, None)`` when the features cannot be computed (no median beat or QRS
    boundaries, or fewer leads than the model needs).
    """
    feats = stemi_features(
        median,
        fiducials,
        leads,
        quality.usable,
        intervals.qrs_ms if intervals is not None else None,
        rhythm.heart_rate_bpm if rhythm is not None else None,
        lead_measures,
    )
    if feats is None:
        return None, None
    p = stemi.predict(feats)
    if p < stemi.threshold:
        return p, None
    why = stemi.explain(feats)
    detail = f"p={p:.2f} >= {stemi.threshold:.2f}" + (f"; {why}" if why else "")
    finding = make_finding(
        Code.STEMI, Priority.CRITICAL, f"model:{stemi.model_id}", detail, probability=p
    )
    return p, finding


# Rule findings the AF policy may withdraw (AF with rapid ventricular response is
# critical and always kept: sensitivity first).
_AF_RULE_CODES = frozenset({"AF", "AFL"})


def af_stack_score(
    p_af: float, af_score: float, policy: Mapping[str, float]
) -> float | None:
    """``w_logit * logit(P(AF)) + w_af_score * af_score + bias`` (None without weights)."""
    if not {"w_logit", "w_af_score", "bias"} <= set(policy):
        return None
    p = min(max(p_af, 1e-4), 1.0 - 1e-4)
    logit = math.log(p / (1.0 - p))
    return float(
        policy["w_logit"] * logit + policy["w_af_score"] * af_score + policy["bias"]
    )


def apply_af_policy(
    findings: Sequence[Finding],
    p_af: float | None,
    model_id: str,
    policy: Mapping[str, float] | None,
    af_score: float | None = None,
) -> list[Finding]:
    """Combine the rules' AF call with the model's AF probability (card policy).

    Chosen on the CinC 2017 validation split by ``models/choose_af_policy.py``:

    - stacked (``w_logit``, ``w_af_score``, ``bias``, ``stack_threshold``), used when the
      rhythm stage's ``af_score`` is known: AF when ``af_stack_score >= threshold``; the
      rules' AF/flutter warning stands only then, and the model raises AF when the rules
      did not (its detail gives both inputs);
    - otherwise ``{"rules_need_model_p": lo, "model_alone_p": hi}``: a rules AF/flutter
      warning stands when P(AF) >= ``lo``; the model alone raises AF when P(AF) >= ``hi``.

    AF with rapid ventricular response (critical) always stands. Without a policy or a
    probability the findings are returned unchanged.
    """
    if policy is None or p_af is None:
        return list(findings)
    src = f"model:{model_id}"
    z = None if af_score is None else af_stack_score(p_af, af_score, policy)
    if z is not None and "stack_threshold" in policy:
        yes = z >= float(policy["stack_threshold"])
        kept = [
            f
            for f in findings
            if not (f.code in _AF_RULE_CODES and (f.source == src or not yes))
        ]
        if yes and not any(f.code in _AF_RULE_CODES for f in kept):
            kept.append(
                make_finding(
                    Code.AF,
                    Priority.WARNING,
                    src,
                    f"P(AF)={p_af:.2f} with rhythm af_score={af_score:.2f}: "
                    f"{z:.2f} >= {float(policy['stack_threshold']):.2f}",
                    probability=p_af,
                )
            )
        return kept
    lo = float(policy.get("rules_need_model_p", 0.0))
    hi = float(policy.get("model_alone_p", 1.01))
    out = []
    for f in findings:
        if f.source.startswith("rules:") and f.code in _AF_RULE_CODES and p_af < lo:
            continue
        if f.source == src and f.code == "AF" and p_af < hi:
            continue
        out.append(f)
    if p_af >= hi and not any(f.source == src and f.code == "AF" for f in out):
        out.append(
            make_finding(
                Code.AF,
                Priority.WARNING,
                src,
                f"p={p_af:.2f} >= {hi:.2f}",
                probability=p_af,
            )
        )
    return out


def gate_model_finding(
    findings: Sequence[Finding],
    code: Code,
    p: float | None,
    model_id: str,
    policy: Mapping[str, float] | None,
) -> list[Finding]:
    """Drop the model's ``code`` finding below the card's ``combine`` ``model_alone_p``.

    The CNN's STEMI output is gated this way (card ``combine.STEMI``): on real STEMI it
    found 3 of 41 windows at specificity 0.86, while the STEMI feature model and the rules
    raise STEMI on their own. The probability stays in ``model_probabilities``.
    """
    if policy is None or p is None or "model_alone_p" not in policy:
        return list(findings)
    hi = float(policy["model_alone_p"])
    src = f"model:{model_id}"
    return [f for f in findings if not (f.source == src and f.code == code and p < hi)]


def _priority(findings: Sequence[Finding]) -> Priority:
    if not findings:
        return Priority.ROUTINE
    return min((f.priority for f in findings), key=lambda p: p.rank)


def _dedupe(findings: Sequence[Finding]) -> tuple[Finding, ...]:
    """One finding per (code, source); the more urgent one wins; most urgent first."""
    best: dict[tuple[str, str], Finding] = {}
    for f in findings:
        key = (f.code, f.source)
        if key not in best or f.priority.rank < best[key].priority.rank:
            best[key] = f
    return tuple(sorted(best.values(), key=lambda f: f.priority.rank))


def triage(
    *,
    leads: Sequence[str],
    lead_measures: Sequence[LeadMeasures],
    intervals: Intervals | None,
    rhythm: RhythmFeatures | None,
    rhythm_findings: Sequence[Finding],
    quality: QualityReport,
    model_input: ModelInput | None,
    age_years: float | None,
    sex: str | None,
    model: TriageModel | None,
    median: MedianBeat | None = None,
    fiducials: Fiducials | None = None,
    ventricular_paced: bool = False,
    beats: Beats | None = None,
    fs_hz: float = 0.0,
    n_samples: int = 0,
) -> Triage:
    """Triage one record from the core's measurements and, optionally, the models.

    ``median`` and ``fiducials`` (the core's median beat and its global fiducials) feed
    the STEMI feature model that ``model.stemi`` carries, when it does.
    ``ventricular_paced`` (the pacing-spike verdict) switches STEMI to Smith-Sgarbossa.
    ``beats``, ``fs_hz`` and ``n_samples`` let the PVC rule time the ventricular beats
    (:func:`~edge_agent.triage.conduction.pvc_evidence`); without them the rules keep the
    rhythm stage's PVC count.
    """
    if not quality.acceptable:
        bad = "; ".join(m for q in quality.leads for m in q.messages) or "no usable lead"
        noise = make_finding(Code.NOISE, Priority.UNREADABLE, "rules:quality", bad)
        return Triage(Priority.UNREADABLE, (noise,), ("rules:quality",))
    ctx = RuleInput.build(
        lead_measures=lead_measures,
        intervals=intervals,
        rhythm=rhythm,
        rhythm_findings=rhythm_findings,
        quality=quality,
        age_years=age_years,
        sex=sex,
        ventricular_paced=ventricular_paced,
        qrs_shapes=measure_qrs_shapes(median, fiducials, leads, quality.usable),
        pvc=pvc_evidence(beats, fs_hz, n_samples, bool(rhythm and rhythm.af_suspected)),
    )
    findings = list(evaluate_rules(ctx))
    probs: dict[str, float] | None = None
    model_id = None
    if model is not None and model_input is not None:
        probs = model.predict(model_input)
        model_id = model.model_id
        n_leads = int(model_input.lead_mask[0].sum())
        findings.extend(model_findings(probs, model.thresholds, model_id, n_leads))
        findings = apply_af_policy(
            findings,
            probs.get(Code.AF.value),
            model_id,
            model.combine.get("AF"),
            af_score=None if rhythm is None else rhythm.af_score,
        )
        findings = gate_model_finding(
            findings, Code.STEMI, probs.get(Code.STEMI.value), model_id,
            model.combine.get("STEMI"),
        )  # fmt: skip
    if model is not None and model.stemi is not None:
        p, stemi_finding = stemi_model_finding(
            model.stemi,
            median=median,
            fiducials=fiducials,
            leads=leads,
            quality=quality,
            intervals=intervals,
            rhythm=rhythm,
            lead_measures=lead_measures,
        )
        if p is not None:
            probs = dict(probs or {})
            probs[f"STEMI@{model.stemi.name}"] = p
        # Wide paced complexes carry secondary ST-T changes the feature model was never
        # trained on: in ventricular pacing only Smith-Sgarbossa (the rules) may call STEMI.
        if stemi_finding is not None and not ventricular_paced:
            findings.append(stemi_finding)
    merged = _dedupe(findings)
    sources = tuple(dict.fromkeys(f.source for f in merged))
    return Triage(_priority(merged), merged, sources, model_id, probs)
