"""Bundle branch block and PVC rules: before/after on held-out real records.

Run: ``.venv/bin/python -m bench.conduction`` (writes ``bench/results/conduction.json``).

Every record goes through ``edge_agent.analyze`` (rules only, no model). The rules are
then evaluated twice on the same measurements:

- ``before``: ``edge_agent/triage/rules.py`` as committed at ``BASELINE`` (read with
  ``git show``), its ``RuleInput`` built exactly as ``combine.triage`` builds it;
- ``after``: the current rules with the new inputs filled in - the QRS waves of the
  median beat (``conduction.measure_qrs_shapes``) and the timed ventricular beats
  (``conduction.pvc_evidence``). ``combine.triage`` does not pass them yet (another
  owner's file): this is what the cart reports once it does.

Sets and splits (fixed before looking at the held-out parts):

- PTB-XL subset (``ptbxl_subset``, 500 Hz): tuning = ``strat_fold`` 1-8, held-out =
  folds 9-10 (patient-disjoint: PTB-XL keeps a patient in one fold; the same folds the
  ONNX model never trained on). Labels from the SCP codes: CRBBB, CLBBB, PVC. A patient
  id parity split would have put all four CRBBB records in one half.
- External 12-lead sets, never used for tuning: LUDB (``Conduction abnormalities``
  exactly "Complete right/left bundle branch block"; PVC = "Ventricular extrasystole"),
  CPSC 2018 and CinC 2021 samples (``#Dx``: RBBB 59118001/713427006, LBBB
  164909002/733534002, PVC 427172004/17338001; CPSC's "RBBB" class does not separate
  complete from incomplete block).
- ``bench/triage.py``'s test split (``models/datasets.py``: PTB-XL fold 10, LUDB,
  MIT-BIH and CinC 2017 windows) with its own labels, to connect to ``triage.json``.
- MIT-BIH, PVC only: every 10 s window of the 44 non-paced records; a window is
  PVC-positive with >= 1 beat annotated ``V``, "frequent" with >= 3 ``V`` or ``V`` >= 10 %
  of its beats; windows with fusion beats (``F``) and no ``V`` are left out. Tuning =
  even record numbers, held-out = odd.

A call is any rules finding of the class (PVC: any tier; ``frequent`` rows count only a
warning-tier PVC finding). ``model`` is the ONNX CNN (``ecg_triage_cnn``, thresholds
from its card) on the same records - it trained on PTB-XL folds 1-8 and chose its
thresholds on fold 9, so only fold 10 and the external sets are unseen by it, and its
MIT-BIH numbers include its training records; ``combined_after`` is the new rules OR
the model, what the cart reports for these classes. 95 % CIs are Wilson score
intervals. The per-class numbers of ``bench/results/triage.json`` (another test split)
are copied into ``model_reference_triage_json`` for comparison.
"""

from __future__ import annotations

import ast
import csv
import json
import subprocess
import time
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import wfdb

from bench._baseline import module_at
from edge_agent.analysis import Analysis, _pacing_findings, analyze
from edge_agent.dsp.pacing import PacingMode
from edge_agent.dsp.rhythm import rhythm_findings
from edge_agent.triage import TriageModel, load_default_model
from edge_agent.triage import rules as rules_now
from edge_agent.triage.conduction import measure_qrs_shapes, pvc_evidence
from edge_agent.types import Finding
from models.datasets import read_wfdb
from models.evidence import wilson

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
OUT = ROOT / "bench" / "results" / "conduction.json"
TRIAGE_JSON = ROOT / "bench" / "results" / "triage.json"
BASELINE = "cb64785"  # main when this work started (rules-2026.11.3)
CLASSES = ("RBBB", "LBBB", "PVC")
_SNOMED = {
    "59118001": "RBBB",
    "713427006": "RBBB",
    "164909002": "LBBB",
    "733534002": "LBBB",
    "427172004": "PVC",
    "17338001": "PVC",
}
_CPSC = {"RBBB": "RBBB", "LBBB": "LBBB", "PVC": "PVC"}
_MITDB_PACED = {"102", "104", "107", "217"}
_BEAT = set("NLRBAaJSVrFejnE/fQ")
_TWELVE_LEAD_TEST = ("triage_test:ptbxl", "triage_test:ludb")


@dataclass
class Item:
    """One record or window: where it comes from, its truth and the two sets of calls."""

    dataset: str
    record: str
    part: str  # "tune" | "held" | "external"
    truth: dict[str, bool]
    before: set[str]
    after: set[str]
    frequent_truth: bool | None = None
    before_frequent: bool = False
    after_frequent: bool = False
    stemi_before: bool = False
    stemi_after: bool = False
    model: frozenset[str] = frozenset()


def code_state() -> dict[str, Any]:
    """HEAD and the uncommitted core files the run used (a shared working tree)."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()

    dirty = git("status", "--porcelain", "--", "edge_agent").splitlines()
    return {"head": git("rev-parse", "--short", "HEAD"), "uncommitted": dirty}


def load_baseline_rules() -> types.ModuleType:
    """The rules module as committed at ``BASELINE`` (no working-tree file touched)."""
    return module_at(BASELINE, "edge_agent/triage/rules.py", "_rules_baseline")


def _calls(
    a: Analysis, base: types.ModuleType
) -> tuple[tuple[Finding, ...], tuple[Finding, ...]]:
    """Rule findings before and after on one analysis (empty when unreadable)."""
    if not a.quality.acceptable or a.rhythm is None:
        return (), ()
    paced = a.pacing is not None and a.pacing.mode in (
        PacingMode.VENTRICULAR,
        PacingMode.AV,
    )
    rf = [*rhythm_findings(a.rhythm), *(_pacing_findings(a.pacing) if a.pacing else [])]
    common: dict[str, Any] = {
        "lead_measures": a.lead_measures,
        "intervals": a.intervals,
        "rhythm": a.rhythm,
        "rhythm_findings": rf,
        "quality": a.quality,
        "age_years": None,
        "sex": None,
        "ventricular_paced": paced,
    }
    before = base.evaluate_rules(base.RuleInput.build(**common))
    after = rules_now.evaluate_rules(
        rules_now.RuleInput.build(
            **common,
            qrs_shapes=measure_qrs_shapes(a.median, a.fiducials, a.leads, a.quality.usable),
            pvc=pvc_evidence(
                a.beats, a.fs_hz, a.n_samples, irregular=a.rhythm.af_suspected
            ),
        )
    )
    return before, after


def _item(
    a: Analysis,
    base: types.ModuleType,
    dataset: str,
    record: str,
    part: str,
    truth: dict[str, bool],
    frequent_truth: bool | None = None,
) -> Item:
    before, after = _calls(a, base)

    def codes(fs: tuple[Finding, ...]) -> set[str]:
        return {f.code for f in fs if f.source.startswith("rules:")}

    def frequent(fs: tuple[Finding, ...]) -> bool:
        return any(f.code == "PVC" and f.priority.value == "warning" for f in fs)

    model = frozenset(
        f.code for f in a.triage.findings if f.source.startswith("model:")
    ) & frozenset(CLASSES)
    return Item(
        dataset,
        record,
        part,
        truth,
        codes(before) & set(CLASSES),
        codes(after) & set(CLASSES),
        frequent_truth,
        frequent(before),
        frequent(after),
        "STEMI" in codes(before),
        "STEMI" in codes(after),
        model,
    )


def ptbxl(base: types.ModuleType, model: TriageModel) -> Iterator[Item]:
    root = SHARED / "ptbxl_subset"
    with open(root / "ptbxl_database.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        codes = ast.literal_eval(row["scp_codes"])
        x, fs, leads = read_wfdb(root / row["filename_hr"])
        part = "held" if int(row["strat_fold"]) >= 9 else "tune"
        truth = {
            "RBBB": "CRBBB" in codes,
            "LBBB": "CLBBB" in codes,
            "PVC": "PVC" in codes,
        }
        a = analyze(x, fs, leads, model=model)
        yield _item(a, base, "ptbxl", row["ecg_id"], part, truth)


def ludb(base: types.ModuleType, model: TriageModel) -> Iterator[Item]:
    root = SHARED / "ludb"
    with open(root / "ludb.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        path = root / "data" / row["ID"]
        if not path.with_suffix(".hea").is_file():
            continue
        cond = {c.strip().lower() for c in row["Conduction abnormalities"].split("\n")}
        truth = {
            "RBBB": "complete right bundle branch block" in cond,
            "LBBB": "complete left bundle branch block" in cond,
            "PVC": "ventricular extrasystole" in row["Extrasystolies"].lower(),
        }
        x, fs, leads = read_wfdb(path)
        a = analyze(x, fs, leads, model=model)
        yield _item(a, base, "ludb", row["ID"], "external", truth)


def dx_sets(base: types.ModuleType, model: TriageModel) -> Iterator[Item]:
    for sub in ("cpsc2018_cinc2020", "cinc2021_samples"):
        for hea in sorted((SHARED / sub).glob("*.hea")):
            line = next((ln for ln in hea.read_text().splitlines() if "Dx" in ln), "")
            dx = {d.strip() for d in line.split(":", 1)[-1].split(",")}
            got = {_SNOMED.get(d) or _CPSC.get(d) for d in dx} - {None}
            x, fs, leads = read_wfdb(hea.with_suffix(""))
            x = x[:, : int(10 * fs)]
            truth = {c: c in got for c in CLASSES}
            a = analyze(x, fs, leads, model=model)
            yield _item(a, base, sub, hea.stem, "external", truth)


def mitdb(base: types.ModuleType, model: TriageModel) -> Iterator[Item]:
    root = SHARED / "mitdb"
    for hea in sorted(root.glob("*.hea")):
        rec = hea.stem
        if rec in _MITDB_PACED:
            continue
        x, fs, leads = read_wfdb(root / rec)
        ann = wfdb.rdann(str(root / rec), "atr")
        s = np.asarray(ann.sample)
        sym = np.asarray(ann.symbol)
        n = int(10 * fs)
        part = "tune" if int(rec) % 2 == 0 else "held"
        for w in range(x.shape[1] // n):
            sel = sym[(s >= w * n) & (s < (w + 1) * n)]
            beats = [c for c in sel if c in _BEAT]
            n_v = sum(c == "V" for c in beats)
            if n_v == 0 and "F" in beats:
                continue
            truth = {"PVC": n_v > 0}
            frequent = n_v >= 3 or n_v >= 0.1 * max(len(beats), 1)
            a = analyze(x[:, w * n : (w + 1) * n], fs, leads, model=model)
            yield _item(a, base, "mitdb", f"{rec}@{w * 10}s", part, truth, frequent)


def triage_test_split(base: types.ModuleType, model: TriageModel) -> Iterator[Item]:
    """``bench/triage.py``'s held-out test split (``models/datasets.py``), for the link
    with ``triage.json``: same records, same labels (including its label quirks)."""
    from models.datasets import CLASSES as DS_CLASSES
    from models.datasets import load_split

    idx = {c: DS_CLASSES.index(c) for c in CLASSES}
    for e in load_split({"test"}):
        truth = {c: bool(e.labels[i] > 0) for c, i in idx.items() if e.known[i]}
        if not truth:
            continue
        a = analyze(e.x, e.fs, e.leads, age_years=e.age, sex=e.sex, model=model)
        yield _item(a, base, f"triage_test:{e.dataset}", e.record, "triage_test", truth)


def metrics(y: list[bool], c: list[bool]) -> dict[str, Any]:
    tp = sum(a and b for a, b in zip(y, c, strict=True))
    fn = sum(a and not b for a, b in zip(y, c, strict=True))
    fp = sum(b and not a for a, b in zip(y, c, strict=True))
    tn = sum(not a and not b for a, b in zip(y, c, strict=True))

    def frac(k: int, n: int) -> float | None:
        return round(k / n, 4) if n else None

    return {
        "n_pos": tp + fn,
        "n_neg": fp + tn,
        "tp": tp,
        "fn": fn,
        "fp": fp,
        "tn": tn,
        "sensitivity": frac(tp, tp + fn),
        "sensitivity_ci95": wilson(tp, tp + fn),
        "specificity": frac(tn, tn + fp),
        "specificity_ci95": wilson(tn, tn + fp),
        "ppv": frac(tp, tp + fp),
        "ppv_ci95": wilson(tp, tp + fp),
    }


def table(
    items: list[Item], cls: str, keep: Callable[[Item], bool]
) -> dict[str, Any] | None:
    sel = [it for it in items if keep(it) and cls in it.truth]
    if not sel:
        return None
    y = [it.truth[cls] for it in sel]
    out = {
        "before": metrics(y, [cls in it.before for it in sel]),
        "after": metrics(y, [cls in it.after for it in sel]),
        "model": metrics(y, [cls in it.model for it in sel]),
        "combined_after": metrics(y, [cls in (it.after | it.model) for it in sel]),
    }
    out["after"]["false_positives"] = [
        it.record for it in sel if cls in it.after and not it.truth[cls]
    ][:40]
    out["after"]["false_negatives"] = [
        it.record for it in sel if cls not in it.after and it.truth[cls]
    ][:40]
    return out


def frequent_table(items: list[Item], part: str) -> dict[str, Any]:
    sel = [it for it in items if it.part == part and it.frequent_truth is not None]
    y = [bool(it.frequent_truth) for it in sel]
    return {
        "before": metrics(y, [it.before_frequent for it in sel]),
        "after": metrics(y, [it.after_frequent for it in sel]),
    }


def model_reference() -> dict[str, Any]:
    if not TRIAGE_JSON.is_file():
        return {}
    doc = json.loads(TRIAGE_JSON.read_text())
    per = doc.get("held_out_test_per_class", {})
    keys = ("n_pos", "n_neg", "sensitivity", "specificity", "ppv")
    return {
        "note": (
            "bench/triage.py's test split (models/datasets.py), not this bench's sets: "
            "its 24 RBBB positives are 19 MIT-BIH record-124 windows (leads II and V4, "
            "no V1), 4 LUDB records and 1 PTB-XL record; the LUDB ones are incomplete "
            "RBBB that models/datasets.py labels RBBB because 'complete right bundle' "
            "is a substring of 'incomplete right bundle'. Its 14 LBBB positives are 13 "
            "MIT-BIH record-111 windows (II and V1: no lateral lead) and 1 PTB-XL."
        ),
        **{
            cls: {src: {k: per[cls][src].get(k) for k in keys} for src in per[cls]}
            for cls in CLASSES
            if cls in per
        },
    }


def _fmt(m: dict[str, Any]) -> str:
    def one(v: float | None, ci: list[float] | None) -> str:
        if v is None:
            return "   -            "
        lo, hi = ci if ci else (v, v)
        return f"{v:.2f} [{lo:.2f}-{hi:.2f}]"

    return (
        f"{m['tp']:>3}/{m['n_pos']:<4} Se {one(m['sensitivity'], m['sensitivity_ci95'])}"
        f"  Sp {one(m['specificity'], m['specificity_ci95'])}"
        f"  PPV {one(m['ppv'], m['ppv_ci95'])}"
    )


def main() -> None:
    t0 = time.perf_counter()
    base = load_baseline_rules()
    model = load_default_model(with_stemi=False)  # the CNN; STEMI is not scored here
    items: list[Item] = []
    for gen in (ptbxl, ludb, dx_sets, mitdb, triage_test_split):
        items.extend(gen(base, model))
    sets: dict[str, Callable[[Item], bool]] = {
        "ptbxl_held_out (folds 9-10)": lambda it: (
            it.dataset == "ptbxl" and it.part == "held"
        ),
        "ptbxl_tuning (folds 1-8)": lambda it: it.dataset == "ptbxl" and it.part == "tune",
        "external_12_lead (LUDB, CPSC 2018, CinC 2021)": lambda it: it.part == "external",
        "mitdb_held_out (odd records, 10 s windows)": lambda it: (
            it.dataset == "mitdb" and it.part == "held"
        ),
        "mitdb_tuning (even records, 10 s windows)": lambda it: (
            it.dataset == "mitdb" and it.part == "tune"
        ),
        "triage_json_test_split (models/datasets.py test)": lambda it: (
            it.part == "triage_test"
        ),
        "triage_json_test_split, 12-lead records only": lambda it: (
            it.part == "triage_test"
            and it.dataset in ("triage_test:ptbxl", "triage_test:ludb")
        ),
    }
    results: dict[str, Any] = {}
    print(f"{'set':48s} {'class':5s} {'source':8s} result")
    for name, keep in sets.items():
        results[name] = {}
        for cls in CLASSES:
            t = table(items, cls, keep)
            if t is None:
                continue
            results[name][cls] = t
            for when in ("before", "after", "model", "combined_after"):
                print(f"{name:48s} {cls:5s} {when[:8]:8s} {_fmt(t[when])}")
    for part, label in (("held", "mitdb_held_out"), ("tune", "mitdb_tuning")):
        ft = frequent_table(items, part)
        results[f"{label} frequent PVC (>= 3 V or >= 10 %)"] = {"PVC": ft}
        for when in ("before", "after"):
            print(f"{label + ' frequent PVC':48s} {'PVC':5s} {when:8s} {_fmt(ft[when])}")
    per_record: dict[str, dict[str, int]] = {}
    for it in items:
        if it.dataset != "mitdb" or it.part != "held":
            continue
        rec = per_record.setdefault(
            it.record.split("@")[0], {"fp_before": 0, "fp_after": 0, "fn_after": 0}
        )
        y = it.truth["PVC"]
        rec["fp_before"] += int("PVC" in it.before and not y)
        rec["fp_after"] += int("PVC" in it.after and not y)
        rec["fn_after"] += int("PVC" not in it.after and y)
    results["mitdb_held_out_per_record_windows"] = per_record
    ptb = [it for it in items if it.dataset == "ptbxl"]
    stemi_changed = [it.record for it in ptb if it.stemi_before != it.stemi_after]
    doc = {
        "code": code_state(),
        "baseline_commit": BASELINE,
        "rules_version_before": getattr(base, "RULES_VERSION", None),
        "rules_version_after": rules_now.RULES_VERSION,
        "ci": "Wilson score 95 %",
        "results": results,
        "model_reference_triage_json": model_reference(),
        "side_effect_stemi_rule_ptbxl": {
            "note": (
                "the STEMI rule is not applied with LBBB morphology (Sgarbossa is): "
                "records whose rules STEMI call changes because LBBB is now recognised"
            ),
            "changed_records": [
                {"ecg_id": it.record, "before": it.stemi_before, "after": it.stemi_after}
                for it in ptb
                if it.record in stemi_changed
            ],
            "changed_clbbb": [
                it.record for it in ptb if it.record in stemi_changed and it.truth["LBBB"]
            ],
        },
        "n_items": {
            name: sum(1 for it in items if keep(it)) for name, keep in sets.items()
        },
        "seconds": round(time.perf_counter() - t0, 1),
    }
    OUT.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"STEMI rule call changed on PTB-XL records: {stemi_changed}")
    print(f"wrote {OUT.relative_to(ROOT)} in {doc['seconds']} s")


if __name__ == "__main__":
    main()
