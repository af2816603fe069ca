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

Sources: ``rules`` (4th-UDMI and rhythm rules), ``model`` (the CNN
``ecg_triage_cnn``), ``stemi_features`` (the STEMI feature model; STEMI only) and
``combined`` - what the cart reports: STEMI from any source; AF by the CNN card's
``combine`` policy (``edge_agent.triage.combine.apply_af_policy``). The records are
analysed once with the raw calls of every source; the combination is applied here with
the same function the triage uses.

The shipped STEMI feature model was trained on every real STEMI patient, so its calls on
them here are in-sample; the honest numbers are the nested leave-one-patient-out ones
(``stemi.lopo_all_real_stemi_vs_normals``: each positive window called by the outer-fold
model and threshold that never saw its patient, from
``models/stemi_features/lopo_predictions.json``; the shipped model on the never-trained
normals), reported per window and per patient (Wilson CI), with specificity per control
set, including the pool normals' outer-fold calls.

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
from edge_agent.triage.combine import (
    apply_af_policy,
    gate_model_finding,
    stemi_model_finding,
)
from edge_agent.triage.labels import Code
from models.datasets import CLASSES, Example, load_external_stemi, load_split
from models.evidence import specificity_summary, wilson
from models.train import binary_metrics
from models.train_stemi import boot_ci

log = logging.getLogger("bench.triage")
OUT = Path(__file__).resolve().parent / "results" / "triage.json"
LOPO = (
    Path(__file__).resolve().parents[1]
    / "models"
    / "stemi_features"
    / "lopo_predictions.json"
)
_C = {c: i for i, c in enumerate(CLASSES)}
# Which finding codes count as a positive call for each class.
RULE_CODES: dict[str, set[str]] = {
    "AF": {"AF", "AF_RVR", "AFL"},
    "STEMI": {"STEMI"},
    "MI_OLD": {"MI_OLD"},
    "PVC": {"PVC"},
    "LBBB": {"LBBB"},
    "RBBB": {"RBBB"},
    "NOISE": {"NOISE"},
}


def _control_set(e: Example) -> str:
    if e.tags.get("reason") == "Healthy control":
        return "ptb_healthy"
    return f"{e.dataset}_{e.split}"


def run_record(e: Example, model: Any) -> dict[str, Any]:
    """Analyse one example: per-class calls of each source and the probabilities."""
    t0 = time.perf_counter()
    a = analyze(e.x, e.fs, e.leads, age_years=e.age, sex=e.sex, model=model)
    ms = (time.perf_counter() - t0) * 1000
    stemi_ms = None
    if model.stemi is not None and a.median is not None and len(e.leads) >= 12:
        t1 = time.perf_counter()
        stemi_model_finding(
            model.stemi, median=a.median, fiducials=a.fiducials, leads=a.leads,
            quality=a.quality, intervals=a.intervals, rhythm=a.rhythm,
            lead_measures=a.lead_measures,
        )  # fmt: skip
        stemi_ms = (time.perf_counter() - t1) * 1000
    tri = a.triage.to_dict()
    findings = tri["findings"]
    cnn_src = f"model:{model.model_id}"
    rule_codes = {f["code"] for f in findings if f["source"].startswith("rules:")}
    model_codes = {f["code"] for f in findings if f["source"] == cnn_src}
    feat_codes = {
        f["code"] for f in findings
        if f["source"].startswith("model:") and f["source"] != cnn_src
    }  # fmt: skip
    probs = tri.get("model_probabilities") or {}
    rules = {c: bool(RULE_CODES[c] & rule_codes) for c in RULE_CODES}
    rules["NORMAL"] = tri["priority"] == "routine" and not rule_codes
    mdl = {c: c in model_codes for c in RULE_CODES}
    mdl["NORMAL"] = probs.get("NORMAL", 0.0) >= model.thresholds["NORMAL"]
    # What the cart reports: the triage's own AF policy on the raw findings.
    policy = model.card.get("combine", {})
    comb = apply_af_policy(
        a.triage.findings,
        probs.get("AF"),
        model.model_id,
        policy.get("AF"),
        af_score=None if a.rhythm is None else a.rhythm.af_score,
    )
    comb = gate_model_finding(
        comb, Code.STEMI, probs.get("STEMI"), model.model_id, policy.get("STEMI")
    )
    comb_codes = {f.code for f in comb}
    combined = {c: bool(RULE_CODES[c] & comb_codes) for c in RULE_CODES}
    combined["NORMAL"] = rules["NORMAL"] and not (model_codes | feat_codes)
    other_stemi = any(
        f.code == "STEMI" and not f.source.startswith("model:stemi") for f in comb
    )
    return {
        "record": f"{e.dataset}/{e.record}",
        "priority": tri["priority"],
        "rules": rules,
        "model": mdl,
        "stemi_features": "STEMI" in feat_codes,
        "combined": combined,
        "combined_other_stemi": other_stemi,
        "prob": probs,
        "stemi_detail": [
            f"{f['source']}: {f['detail']}" for f in findings if f["code"] == "STEMI"
        ],
        "ms": ms,
        "stemi_ms": stemi_ms,
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
    return bool(r["combined"][c])


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
    feat = np.array([results[j]["stemi_features"] for j in idx])
    fprob = np.array([results[j]["prob"].get("STEMI@stemi_features", 0.0) for j in idx])
    comb = np.array([results[j]["combined"]["STEMI"] for j in idx])
    out = _metrics(y, rules, model, prob, comb)
    out["stemi_features"] = binary_metrics(y, feat.astype(int), fprob)
    return out


def _patient_of(record: str) -> str:
    return record.split("/")[1].split("@")[0].split("_")[0]


def stemi_lopo(
    pos: list[int],
    neg: list[int],
    results: list[dict[str, Any]],
    threshold: float,
    neg_source: list[str],
) -> dict[str, Any]:
    """Honest STEMI numbers: nested-LOPO feature-model calls for the positives.

    Positives: the probability and threshold of the outer fold that held their patient out
    (``models/stemi_features/lopo_predictions.json``). Negatives: the bench's normals
    scored by the shipped model at the shipped threshold (never trained on), and the
    pool normals' outer-fold calls from the same file.
    """
    lopo = json.loads(LOPO.read_text())
    keep = pos  # a window without features (no LOPO probability) counts as not called

    def called(rec: str) -> tuple[float, bool]:
        v = lopo.get(rec)
        if v is None:
            return 0.0, False
        return float(v["p"]), float(v["p"]) >= float(v["threshold"])

    p_pos = np.array([called(results[j]["record"])[0] for j in keep])
    f_pos = np.array([called(results[j]["record"])[1] for j in keep])
    p_neg = np.array([results[j]["prob"].get("STEMI@stemi_features", 0.0) for j in neg])
    y = np.array([1] * len(keep) + [0] * len(neg))
    p = np.r_[p_pos, p_neg]
    feat = np.r_[f_pos, p_neg >= threshold]
    # the other sources as the cart combines them (the CNN's STEMI is gated by its card)
    other = np.array([results[j]["combined_other_stemi"] for j in keep + neg])
    rules = np.array([results[j]["rules"]["STEMI"] for j in keep + neg])
    patients = [_patient_of(results[j]["record"]) for j in keep]
    comb = feat | other
    hit = comb[: len(keep)]
    per_patient: dict[str, dict[str, Any]] = {}
    for pt in dict.fromkeys(patients):
        m = np.array([q == pt for q in patients])
        per_patient[pt] = {"detected": int(hit[m].sum()), "windows": int(m.sum())}
    frac = np.array([v["detected"] / v["windows"] for v in per_patient.values()])
    n_det = int((frac >= 0.5).sum())
    fired_neg = comb[len(keep) :]
    by_source = {
        src: specificity_summary(
            fired_neg[[i for i, s in enumerate(neg_source) if s == src]]
        )
        for src in dict.fromkeys(neg_source)
    }
    pool = [v for v in lopo.values() if v["y"] == 0 and v["normal"]]
    pool_fired = np.array([v["p"] >= v["threshold"] for v in pool], dtype=bool)
    for src in sorted({v["source"] for v in pool}):
        sel = np.array([v["source"] == src for v in pool], dtype=bool)
        by_source[f"{src} (pool, nested LOPO)"] = specificity_summary(pool_fired[sel])
    all_fired = np.r_[fired_neg, pool_fired]
    # post hoc view: feature set fixed to the runtime one (models/stemi_features/card.md)
    fixed = [
        (v := lopo.get(results[j]["record"])) is not None
        and float(v["p_fixed_set"]) >= float(v["threshold_fixed_set"])
        for j in keep
    ]
    hit_fixed = np.array(fixed, dtype=bool) | other[: len(keep)]
    per_fixed = {
        pt: int(hit_fixed[[q == pt for q in patients]].sum()) for pt in per_patient
    }
    frac_fixed = np.array([per_fixed[pt] / v["windows"] for pt, v in per_patient.items()])
    return {
        "note": "positives scored by the feature model of the nested-LOPO outer fold that "
        "held their patient out (models/train_stemi.py), at that fold's threshold; the "
        "bench normals by the shipped model (never trained on them); the rules on every "
        "record as analysed here",
        "n_without_features": sum(results[j]["record"] not in lopo for j in pos),
        "stemi_features": binary_metrics(y, feat.astype(int), p),
        "rules_or_stemi_features": binary_metrics(y, (feat | rules).astype(int), None),
        "combined": binary_metrics(y, comb.astype(int), None),
        "combined_per_patient": per_patient,
        "combined_patients_detected": {
            "detected": n_det,
            "n": len(frac),
            "sensitivity": round(n_det / len(frac), 4),
            "ci95_wilson": wilson(n_det, len(frac)),
            "rule": "a patient is detected when at least half its windows are called",
        },
        "combined_patient_mean_sensitivity": {
            "value": round(float(frac.mean()), 4),
            "ci95_patient_bootstrap": boot_ci(frac),
        },
        "combined_specificity_by_control_set": by_source,
        "post_hoc_feature_set_fixed": {
            "what": "positives called by the nested LOPO with the feature set fixed to the "
            "runtime one (designed after the 1.2.0 misses were known: post hoc)",
            "sensitivity_windows": round(float(hit_fixed.mean()), 4),
            "patients_detected": int((frac_fixed >= 0.5).sum()),
            "per_patient_detected": per_fixed,
        },
        "combined_specificity_all_normals": specificity_summary(all_fired)
        | {"what": "bench normals (shipped model) + pool normals (nested LOPO)"},
    }


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    model = load_default_model()
    model.combine = {}  # raw calls of each source; the policy is applied in run_record
    test = load_split({"test"})
    ext = load_external_stemi()
    allx = test + ext
    log.info(
        "analysing %d test + %d external records through edge_agent.analyze",
        len(test),
        len(ext),
    )
    results = [run_record(e, model) for e in allx]
    lopo_p = json.loads(LOPO.read_text())
    if model.stemi is None:
        raise SystemExit("the STEMI feature model is not loaded")
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
    ptbxl_acute = [
        j for j, e in enumerate(allx)
        if e.dataset == "ptbxl" and e.labels[_C["STEMI"]] == 1
    ]  # fmt: skip
    ptb_healthy = [
        j for j, e in enumerate(allx) if e.tags.get("reason") == "Healthy control"
    ]
    inj = [j for j, e in enumerate(allx) if e.tags.get("inj")]
    ptb_other = [
        j for j, e in enumerate(allx)
        if e.dataset == "ptbdb_10s" and e.labels[_C["STEMI"]] == 0
        and e.tags.get("reason") != "Healthy control"
    ]  # fmt: skip
    non_stemi_abnormal = [
        j for j, e in enumerate(allx)
        if e.known[_C["STEMI"]] and e.labels[_C["STEMI"]] == 0 and j not in normals
    ]  # fmt: skip
    cinc = [j for j, e in enumerate(test) if e.dataset == "cinc2017"]
    af_y = np.array([test[j].labels[_C["AF"]] for j in cinc]).astype(int)
    af_rules = np.array([res_test[j]["rules"]["AF"] for j in cinc])
    af_model = np.array([res_test[j]["model"]["AF"] for j in cinc])
    af_prob = np.array([res_test[j]["prob"].get("AF", 0.0) for j in cinc])
    af_comb = np.array([res_test[j]["combined"]["AF"] for j in cinc])

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
            "lopo_all_real_stemi_vs_normals": stemi_lopo(
                ludb_stemi + ptb_acute + ptbxl_acute,
                normals,
                results,
                model.stemi.threshold,
                [_control_set(allx[j]) for j in normals],
            ),
            "non_stemi_abnormal_false_fire": {
                src: int(sum(results[j][src]["STEMI"] for j in non_stemi_abnormal))
                for src in ("rules", "model")
            }
            | {
                "stemi_features": int(
                    sum(results[j]["stemi_features"] for j in non_stemi_abnormal)
                ),
                "combined": int(
                    sum(results[j]["combined"]["STEMI"] for j in non_stemi_abnormal)
                ),
                "n": len(non_stemi_abnormal),
                "fired_stemi_features": [
                    results[j]["record"]
                    for j in non_stemi_abnormal
                    if results[j]["stemi_features"]
                ],
            },
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
                "stemi_features_fired": [
                    results[j]["record"]
                    for j in ptb_healthy
                    if results[j]["stemi_features"]
                ],
            },
            "ptb_other_diagnoses_must_not_fire": {
                "n": len(ptb_other),
                "what": "PTB ptbdb_10s records that are neither healthy controls nor acute "
                "MI (bundle branch block, hypertrophy, cardiomyopathy, old MI, ...)",
                "fired": {
                    src: [
                        f"{results[j]['record']} ({allx[j].tags.get('reason')})"
                        for j in ptb_other
                        if (
                            results[j]["stemi_features"]
                            if src == "stemi_features"
                            else results[j][src]["STEMI"]
                        )
                    ]
                    for src in ("rules", "model", "stemi_features", "combined")
                },
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
                    "stemi_features": results[j]["stemi_features"],
                    "p_stemi_features": round(
                        results[j]["prob"].get("STEMI@stemi_features", 0.0), 3
                    ),
                    "p_stemi_features_lopo": (lopo_p.get(results[j]["record"]) or {}).get(
                        "p"
                    ),
                    "threshold_lopo": (lopo_p.get(results[j]["record"]) or {}).get(
                        "threshold"
                    ),
                    "rules_detail": results[j]["stemi_detail"],
                }
                for j in ludb_stemi + ptb_acute
            },
            "n_normals": len(normals),
        },
        "af_single_lead_cinc2017": _metrics(af_y, af_rules, af_model, af_prob, af_comb),
        "af_policy": model.card.get("combine", {}).get("AF"),
        "stemi_model": model.stemi.model_id,
        "stemi_threshold": model.stemi.threshold,
        "analyze_ms_median": round(float(np.median([r["ms"] for r in results])), 2),
        "stemi_features_ms": {
            "what": "features + ONNX + finding, per 12-lead record (median beat given), "
            "median and p90 over the records; shared 2-core machine under load",
            "median": round(float(np.median(sm)), 3)
            if (sm := _stemi_ms(results))
            else None,
            "p90": round(float(np.percentile(sm, 90)), 3) if sm else None,
        },
        "targets": {
            "stemi": "sensitivity >= 0.90 at specificity >= 0.95 vs normal ECGs",
            "af": "sensitivity >= 0.90, specificity >= 0.95 (single lead, CinC 2017)",
        },
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print_table(report)


def _stemi_ms(results: list[dict[str, Any]]) -> list[float]:
    return [r["stemi_ms"] for r in results if r["stemi_ms"] is not None]


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
    rows.append(("STEMI LOPO (honest)", report["stemi"]["lopo_all_real_stemi_vs_normals"]))
    head = f"{'set':32} {'src':8} {'n+/n-':>9}  {'Se':18} {'Sp':18} {'PPV':18} AUC"
    print(head)
    for name, m in rows:
        for src in ("rules", "model", "stemi_features", "combined"):
            if src not in m:
                continue
            s = m[src]
            n = f"{s['n_pos']:>4}/{s['n_neg']:<4}"
            se, sp, ppv = _f(s, "sensitivity"), _f(s, "specificity"), _f(s, "ppv")
            print(f"{name:32} {src:8} {n}  {se:18} {sp:18} {ppv:18} {_f(s, 'auc')}")
    lo = report["stemi"]["lopo_all_real_stemi_vs_normals"]
    pd = lo["combined_patients_detected"]
    print(
        f"STEMI LOPO combined: patients {pd['detected']}/{pd['n']} "
        f"[{pd['ci95_wilson'][0]:.2f},{pd['ci95_wilson'][1]:.2f}], patient-mean "
        f"{lo['combined_patient_mean_sensitivity']['value']:.2f}; "
        + ", ".join(f"{k}:{v['detected']}/{v['windows']}"
                    for k, v in lo["combined_per_patient"].items())
    )  # fmt: skip
    for src, v in lo["combined_specificity_by_control_set"].items():
        print(
            f"  specificity {src:40} {v['specificity']:.3f} "
            f"[{v['ci95_wilson'][0]:.2f},{v['ci95_wilson'][1]:.2f}] n={v['n']}"
        )
    a = lo["combined_specificity_all_normals"]
    print(f"  specificity all normals {a['specificity']:.3f} n={a['n']}")
    print(f"median analyze() with model: {report['analyze_ms_median']} ms")
    sm = report["stemi_features_ms"]
    print(f"STEMI feature model per record: median {sm['median']} ms, p90 {sm['p90']} ms")


if __name__ == "__main__":
    main()
