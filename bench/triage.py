"""Clinical evidence for the triage: rules alone, model alone, combined.

Run: ``.venv/bin/python -m bench.triage`` (writes ``bench/results/triage.json``).

Every record goes through the project's own ``edge_agent.analyze`` (quality, filters,
R peaks, beats, delineation, measurements, rhythm, rules, ONNX model), exactly as at the
cart. Sets:

- the held-out test split of ``models/datasets.py`` (by patient; never used in training
  or threshold choice): per class sensitivity, specificity, PPV, AUC;
- STEMI on real acute MI: LUDB STEMI records 7, 21, 33, 55, 69 and the PTB acute-MI
  records (``ptbdb_10s`` patients 226, 230, 231; ``ptbdb_records`` s0015lre, s0017lre,
  s0043lre in 10 s windows), against normal ECGs (test-split normals + PTB healthy);
- must-not-fire controls: PTB healthy controls (and PTB-XL INJ* records when present in
  mV - the shared PTB-XL subset holds none, which is reported);
- AF on single-lead CinC 2017 test records.

95 % CIs are percentile bootstrap (1000 resamples). AUC is the model probability's;
for rules and the combination (binary decisions) ``auc`` is the binary AUC, (Se + Sp)/2.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from edge_agent.analysis import analyze
from edge_agent.triage import load_default_model
from models.datasets import CLASSES, Example, load_external_stemi, load_split
from models.train import binary_metrics

log = logging.getLogger("bench.triage")
OUT = Path(__file__).resolve().parent / "results" / "triage.json"
_C = {c: i for i, c in enumerate(CLASSES)}
# Which finding codes count as a positive call for each class.
RULE_CODES: dict[str, set[str]] = {
    "AF": {"AF", "AF_RVR"},
    "STEMI": {"STEMI"},
    "MI_OLD": {"MI_OLD"},
    "PVC": {"PVC"},
    "LBBB": {"LBBB"},
    "RBBB": {"RBBB"},
    "NOISE": {"NOISE"},
}


def run_record(e: Example, model: Any) -> dict[str, Any]:
    """Analyse one example: per-class rule/model calls and the model probabilities."""
    t0 = time.perf_counter()
    a = analyze(e.x, e.fs, e.leads, age_years=e.age, sex=e.sex, model=model)
    ms = (time.perf_counter() - t0) * 1000
    tri = a.triage.to_dict()
    findings = tri["findings"]
    rule_codes = {f["code"] for f in findings if f["source"].startswith("rules:")}
    model_codes = {f["code"] for f in findings if f["source"].startswith("model:")}
    probs = tri.get("model_probabilities") or {}
    rules = {c: bool(RULE_CODES[c] & rule_codes) for c in RULE_CODES}
    rules["NORMAL"] = tri["priority"] == "routine" and not rule_codes
    mdl = {c: c in model_codes for c in RULE_CODES}
    mdl["NORMAL"] = probs.get("NORMAL", 0.0) >= model.thresholds["NORMAL"]
    return {
        "record": f"{e.dataset}/{e.record}",
        "priority": tri["priority"],
        "rules": rules,
        "model": mdl,
        "prob": probs,
        "stemi_detail": [f["detail"] for f in findings if f["code"] == "STEMI"],
        "ms": ms,
    }


def _metrics(y: np.ndarray, rules: np.ndarray, model: np.ndarray, prob: np.ndarray,
             combined: np.ndarray) -> dict[str, Any]:  # fmt: skip
    out = {
        "rules": binary_metrics(y, rules.astype(int), rules.astype(float)),
        "model": binary_metrics(y, model.astype(int), prob),
        "combined": binary_metrics(y, combined.astype(int), combined.astype(float)),
    }
    return out


def _combined(c: str, r: dict[str, Any]) -> bool:
    if c == "NORMAL":  # normal only when neither source finds anything
        return r["rules"]["NORMAL"] and not any(r["model"][k] for k in RULE_CODES)
    return r["rules"][c] or r["model"][c]


def per_class(examples: list[Example], results: list[dict[str, Any]]) -> dict[str, Any]:
    out = {}
    for c, i in _C.items():
        keep = [j for j, e in enumerate(examples) if e.known[i]]
        if not keep:
            continue
        y = np.array([examples[j].labels[i] for j in keep]).astype(int)
        rules = np.array([results[j]["rules"][c] for j in keep])
        model = np.array([results[j]["model"][c] for j in keep])
        prob = np.array([results[j]["prob"].get(c, 0.0) for j in keep])
        comb = np.array([_combined(c, results[j]) for j in keep])
        out[c] = _metrics(y, rules, model, prob, comb)
    return out


def stemi_set(
    pos: list[int], neg: list[int], results: list[dict[str, Any]]
) -> dict[str, Any]:
    idx = pos + neg
    y = np.array([1] * len(pos) + [0] * len(neg))
    rules = np.array([results[j]["rules"]["STEMI"] for j in idx])
    model = np.array([results[j]["model"]["STEMI"] for j in idx])
    prob = np.array([results[j]["prob"].get("STEMI", 0.0) for j in idx])
    return _metrics(y, rules, model, prob, rules | model)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    model = load_default_model()
    test = load_split({"test"})
    ext = load_external_stemi()
    allx = test + ext
    log.info(
        "analysing %d test + %d external records through edge_agent.analyze",
        len(test),
        len(ext),
    )
    results = [run_record(e, model) for e in allx]
    res_test = results[: len(test)]

    normals = [
        j for j, e in enumerate(allx)
        if len(e.leads) >= 12 and e.known[_C["NORMAL"]] and e.labels[_C["NORMAL"]] == 1
    ]  # fmt: skip
    ludb_stemi = [
        j for j, e in enumerate(allx) if e.dataset == "ludb" and e.labels[_C["STEMI"]] == 1
    ]
    ptb_acute = [
        j
        for j, e in enumerate(allx)
        if e.split == "external" and e.labels[_C["STEMI"]] == 1
    ]
    ptb_healthy = [
        j for j, e in enumerate(allx) if e.tags.get("reason") == "Healthy control"
    ]
    inj = [j for j, e in enumerate(allx) if e.tags.get("inj")]
    non_stemi_abnormal = [
        j for j, e in enumerate(allx)
        if e.known[_C["STEMI"]] and e.labels[_C["STEMI"]] == 0 and j not in normals
    ]  # fmt: skip
    cinc = [j for j, e in enumerate(test) if e.dataset == "cinc2017"]
    af_y = np.array([test[j].labels[_C["AF"]] for j in cinc]).astype(int)
    af_rules = np.array([res_test[j]["rules"]["AF"] for j in cinc])
    af_model = np.array([res_test[j]["model"]["AF"] for j in cinc])
    af_prob = np.array([res_test[j]["prob"].get("AF", 0.0) for j in cinc])

    report = {
        "model": model.model_id,
        "thresholds": model.thresholds,
        "n_test": len(test),
        "n_external": len(ext),
        "held_out_test_per_class": per_class(test, res_test),
        "stemi": {
            "ludb_stemi_vs_normals": stemi_set(ludb_stemi, normals, results),
            "ptb_acute_vs_normals": stemi_set(ptb_acute, normals, results),
            "all_real_stemi_vs_normals": stemi_set(
                ludb_stemi + ptb_acute, normals, results
            ),
            "non_stemi_abnormal_false_fire": {
                src: int(sum(results[j][src]["STEMI"] for j in non_stemi_abnormal))
                for src in ("rules", "model")
            }
            | {"n": len(non_stemi_abnormal)},
            "ptb_healthy_must_not_fire": {
                "n": len(ptb_healthy),
                "rules_fired": [
                    results[j]["record"]
                    for j in ptb_healthy
                    if results[j]["rules"]["STEMI"]
                ],
                "model_fired": [
                    results[j]["record"]
                    for j in ptb_healthy
                    if results[j]["model"]["STEMI"]
                ],
            },
            "ptbxl_inj_must_not_fire": {
                "n": len(inj),
                "note": "the shared PTB-XL subset (ecg_id 1-350) holds no INJ* record "
                "in mV; "
                "the INJ* records exist only z-scored in ptbxl_normalized_extra, "
                "which has no ST amplitude, so they cannot test an mV criterion",
            },
            "per_record": {
                results[j]["record"]: {
                    "rules": results[j]["rules"]["STEMI"],
                    "model": results[j]["model"]["STEMI"],
                    "p_stemi": round(results[j]["prob"].get("STEMI", 0.0), 3),
                    "rules_detail": results[j]["stemi_detail"],
                }
                for j in ludb_stemi + ptb_acute
            },
            "n_normals": len(normals),
        },
        "af_single_lead_cinc2017": _metrics(
            af_y, af_rules, af_model, af_prob, af_rules | af_model
        ),
        "analyze_ms_median": round(float(np.median([r["ms"] for r in results])), 2),
        "targets": {
            "stemi": "sensitivity >= 0.90 at specificity >= 0.95 vs normal ECGs",
            "af": "sensitivity >= 0.90, specificity >= 0.95 (single lead, CinC 2017)",
        },
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print_table(report)


def _f(m: dict[str, Any], k: str) -> str:
    v = m.get(k)
    ci = m.get(f"{k}_ci95")
    if v is None:
        return "   -   "
    return f"{v:.2f} [{ci[0]:.2f},{ci[1]:.2f}]" if ci else f"{v:.2f}"


def print_table(report: dict[str, Any]) -> None:
    rows = [(f"test {c}", m) for c, m in report["held_out_test_per_class"].items()]
    rows += [
        (k, m) for k, m in report["stemi"].items()
        if isinstance(m, dict) and isinstance(m.get("rules"), dict)
    ]  # fmt: skip
    rows.append(("AF single lead CinC2017", report["af_single_lead_cinc2017"]))
    head = f"{'set':32} {'src':8} {'n+/n-':>9}  {'Se':18} {'Sp':18} {'PPV':18} AUC"
    print(head)
    for name, m in rows:
        for src in ("rules", "model", "combined"):
            s = m[src]
            n = f"{s['n_pos']:>4}/{s['n_neg']:<4}"
            se, sp, ppv = _f(s, "sensitivity"), _f(s, "specificity"), _f(s, "ppv")
            print(f"{name:32} {src:8} {n}  {se:18} {sp:18} {ppv:18} {_f(s, 'auc')}")
    print(f"median analyze() with model: {report['analyze_ms_median']} ms")


if __name__ == "__main__":
    main()
