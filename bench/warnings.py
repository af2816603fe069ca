"""Warnings on normal ECGs: per rule, before/after, on four normal sets.

Run: ``.venv/bin/python -m bench.warnings`` (writes ``bench/results/warnings.json``).

Every record goes through ``edge_agent.analyze`` once (rules only, no model). The rules
are then evaluated twice on the same measurements, their ``RuleInput`` built exactly as
``combine.triage`` builds it (median-beat QRS shapes, timed PVC evidence, age and sex):

- ``before``: ``edge_agent/triage/rules.py`` as committed at ``BASELINE`` (read with
  ``git show`` into a temporary module; rules-2026.11.4);
- ``after``: the working-tree rules.

Normal sets (``NORMAL`` as ``models/datasets.py`` labels it):

- PTB-XL subset (500 Hz): ``NORM`` likelihood >= 50. Tuning = ``strat_fold`` 1-8,
  held-out = folds 9-10 (PTB-XL keeps a patient in one fold);
- LUDB: "Sinus rhythm" and no conduction, extrasystole, hypertrophy, pacing, ischaemia
  or repolarisation entry. Tuning = id % 4 == 1, held-out = id % 4 == 3;
- PTB healthy controls (``ptbdb_10s``): tuning = even patient ids, held-out = odd;
- CinC 2017 ``N`` (single lead, 300 Hz): the first 10 s of every record, held-out only.

Sensitivity per rule on labelled records (any fold, reported per part):

- PTB-XL SCP codes: MI_OLD = a myocardial-infarction code (IMI, ASMI, ILMI, AMI, ALMI,
  LMI, IPLMI, IPMI, PMI) that is not acute (``infarction_stadium1`` not Stadium I/I-II);
  LVH = LVH or VCLVH; ST_DEPRESSION = STD_ or an ISC* code; T_INVERSION = INVT or NT_;
  AVB1 = 1AVB; LQT = LNGQT; AF = AFIB/AFLT; PVC; LBBB = CLBBB; RBBB = CRBBB.
- LUDB: MI_OLD = "scar" in Ischemia; LVH = "Left ventricular hypertrophy"; AF, BBB, PVC
  as ``models/datasets.py``.

A rule "fires" when ``evaluate_rules`` returns a finding of its code (any tier, rules or
rhythm-stage source, the way the report shows it). ``routine`` is the combined priority
(``combine._priority``: the most urgent finding's tier, ``routine`` when none).
95 % CIs are Wilson score intervals.
"""

from __future__ import annotations

import argparse
import ast
import csv
import json
import pickle
import subprocess
import time
import types
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench._baseline import module_at
from edge_agent.analysis import _pacing_findings, analyze
from edge_agent.dsp.pacing import PacingMode
from edge_agent.dsp.rhythm import rhythm_findings
from edge_agent.triage import rules as rules_now
from edge_agent.triage.conduction import measure_qrs_shapes, pvc_evidence
from edge_agent.types import Finding, Priority
from models.datasets import SHARED, _cinc2017, _ludb, _ptbxl, load_external_stemi
from models.evidence import wilson

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "warnings.json"
BASELINE = "0b6875b"  # main when this work started (rules-2026.11.4)
RULE_CODES = (
    "STEMI",
    "AF",
    "AFL",
    "PVC",
    "AVB1",
    "LBBB",
    "RBBB",
    "LVH",
    "ST_DEPRESSION",
    "T_INVERSION",
    "MI_OLD",
    "LQT",
    "BRADY",
    "TACHY",
    "PAUSE",
    "VT",
)
_MI = {"IMI", "ASMI", "ILMI", "AMI", "ALMI", "LMI", "IPLMI", "IPMI", "PMI"}
NORMAL_SETS = ("ptbxl", "ludb", "ptb_healthy", "cinc2017_N")


@dataclass
class Rec:
    """One record: where it comes from, its labels and what the rules read."""

    dataset: str
    record: str
    part: str  # "tune" | "held"
    normal: bool
    labels: dict[str, bool]  # rule code -> record carries that label
    kwargs: dict[str, Any] | None  # RuleInput.build arguments; None when unreadable


def load_baseline_rules() -> types.ModuleType:
    """The rules module as committed at ``BASELINE`` (no working-tree file touched)."""
    return module_at(BASELINE, "edge_agent/triage/rules.py", "_rules_baseline")


def _kwargs(
    x: np.ndarray, fs: float, leads: tuple[str, ...], age: float | None, sex: str | None
) -> dict[str, Any] | None:
    a = analyze(x, fs, leads, age_years=age, sex=sex)
    if not a.quality.acceptable or a.rhythm is None:
        return None
    paced = a.pacing is not None and a.pacing.mode in (
        PacingMode.VENTRICULAR,
        PacingMode.AV,
    )
    rf = [*rhythm_findings(a.rhythm), *(_pacing_findings(a.pacing) if a.pacing else [])]
    return {
        "lead_measures": a.lead_measures,
        "intervals": a.intervals,
        "rhythm": a.rhythm,
        "rhythm_findings": rf,
        "quality": a.quality,
        "age_years": age,
        "sex": sex,
        "ventricular_paced": paced,
        "qrs_shapes": measure_qrs_shapes(a.median, a.fiducials, a.leads, a.quality.usable),
        "pvc": pvc_evidence(a.beats, a.fs_hz, a.n_samples, a.rhythm.af_suspected),
    }


def ptbxl() -> Iterator[Rec]:
    root = SHARED / "ptbxl_subset"
    with open(root / "ptbxl_database.csv", newline="") as fh:
        rows = {r["ecg_id"]: r for r in csv.DictReader(fh)}
    for e in _ptbxl(root):
        row = rows[e.record]
        codes = set(ast.literal_eval(row["scp_codes"]))
        acute = row["infarction_stadium1"] in ("Stadium I", "Stadium I-II")
        labels = {
            "MI_OLD": bool(_MI & codes) and not acute,
            "LVH": bool({"LVH", "VCLVH"} & codes),
            "ST_DEPRESSION": "STD_" in codes or any(c.startswith("ISC") for c in codes),
            "T_INVERSION": bool({"INVT", "NT_"} & codes),
            "AVB1": "1AVB" in codes,
            "LQT": "LNGQT" in codes,
            "AF": bool({"AFIB", "AFLT"} & codes),
            "PVC": "PVC" in codes,
            "LBBB": "CLBBB" in codes,
            "RBBB": "CRBBB" in codes,
        }
        part = "held" if int(row["strat_fold"]) >= 9 else "tune"
        normal = bool(e.labels[0] > 0)
        yield Rec(
            "ptbxl",
            e.record,
            part,
            normal,
            labels,
            _kwargs(e.x, e.fs, e.leads, e.age, e.sex),
        )


def ludb() -> Iterator[Rec]:
    root = SHARED / "ludb"
    with open(root / "ludb.csv", newline="") as fh:
        rows = {r["ID"]: r for r in csv.DictReader(fh)}
    for e in _ludb(root):
        row = rows[e.record]
        rid = int(e.record)
        part = {1: "tune", 3: "held"}.get(rid % 4, "other")
        labels = {
            "MI_OLD": "scar" in row["Ischemia"].lower(),
            "LVH": "left ventricular hypertrophy" in row["Hypertrophies"].lower(),
            "AF": bool(e.labels[1] > 0),
            "PVC": bool(e.labels[4] > 0),
            "LBBB": bool(e.labels[5] > 0),
            "RBBB": bool(e.labels[6] > 0),
        }
        normal = bool(e.labels[0] > 0)
        yield Rec(
            "ludb",
            e.record,
            part,
            normal,
            labels,
            _kwargs(e.x, e.fs, e.leads, e.age, e.sex),
        )


def ptb_healthy() -> Iterator[Rec]:
    for e in load_external_stemi():
        if e.dataset != "ptbdb_10s" or e.tags.get("reason") != "Healthy control":
            continue
        pid = int(e.patient.removeprefix("patient"))
        part = "tune" if pid % 2 == 0 else "held"
        yield Rec(
            "ptb_healthy",
            e.record,
            part,
            True,
            {},
            _kwargs(e.x, e.fs, e.leads, e.age, e.sex),
        )


def cinc_normal() -> Iterator[Rec]:
    for e in _cinc2017(SHARED / "cinc2017_af_subset", train_windows=1):
        if e.tags.get("class") != "N":
            continue
        x = e.x[:, : int(10 * e.fs)]
        yield Rec(
            "cinc2017_N", e.patient, "held", True, {}, _kwargs(x, e.fs, e.leads, None, None)
        )


def _rate(k: int, n: int) -> dict[str, Any]:
    return {"k": k, "n": n, "rate": round(k / n, 4) if n else None, "ci95": wilson(k, n)}


def evaluate(mod: types.ModuleType, rec: Rec) -> tuple[set[str], str]:
    """Codes found and the combined priority (``unreadable`` when not analysable)."""
    if rec.kwargs is None:
        return set(), Priority.UNREADABLE.value
    fs: tuple[Finding, ...] = mod.evaluate_rules(mod.RuleInput.build(**rec.kwargs))
    prio = min((f.priority for f in fs), key=lambda p: p.rank, default=Priority.ROUTINE)
    return {f.code for f in fs}, prio.value


def collect(cache: Path | None) -> list[Rec]:
    if cache is not None and cache.is_file():
        with open(cache, "rb") as fh:
            recs: list[Rec] = pickle.load(fh)
        return recs
    recs = [r for gen in (ptbxl, ludb, ptb_healthy, cinc_normal) for r in gen()]
    if cache is not None:
        with open(cache, "wb") as fh:
            pickle.dump(recs, fh)
    return recs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=None, help="pickle of the analyses")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    t0 = time.perf_counter()
    base = load_baseline_rules()
    recs = collect(args.cache)
    calls = {
        "before": [evaluate(base, r) for r in recs],
        "after": [evaluate(rules_now, r) for r in recs],
    }
    parts = {"tune": "tuning", "held": "held_out"}
    normal: dict[str, Any] = {}
    routine: dict[str, Any] = {}
    for ds in NORMAL_SETS:
        for part, pname in parts.items():
            idx = [
                i
                for i, r in enumerate(recs)
                if r.dataset == ds and r.part == part and r.normal
            ]
            if not idx:
                continue
            key = f"{ds}:{pname}"
            normal[key] = {}
            routine[key] = {}
            for when, cs in calls.items():
                normal[key][when] = {
                    c: _rate(sum(c in cs[i][0] for i in idx), len(idx)) for c in RULE_CODES
                }
                normal[key][when]["any_finding"] = _rate(
                    sum(bool(cs[i][0]) for i in idx), len(idx)
                )
                routine[key][when] = _rate(
                    sum(cs[i][1] == "routine" for i in idx), len(idx)
                )
                routine[key][when]["unreadable"] = sum(
                    cs[i][1] == "unreadable" for i in idx
                )
                routine[key][when]["critical"] = _rate(
                    sum(cs[i][1] == "critical" for i in idx), len(idx)
                )
    sens: dict[str, Any] = {}
    for ds in ("ptbxl", "ludb"):
        for part, pname in (*parts.items(), ("all", "all")):
            key = f"{ds}:{pname}"
            for code in RULE_CODES:
                idx = [
                    i
                    for i, r in enumerate(recs)
                    if r.dataset == ds
                    and (part == "all" or r.part == part)
                    and r.labels.get(code)
                ]
                neg = [
                    i
                    for i, r in enumerate(recs)
                    if r.dataset == ds
                    and (part == "all" or r.part == part)
                    and code in r.labels
                    and not r.labels[code]
                ]
                if not idx:
                    continue
                sens.setdefault(key, {})[code] = {
                    when: {
                        "sensitivity": _rate(sum(code in cs[i][0] for i in idx), len(idx)),
                        "fires_on_unlabelled": _rate(
                            sum(code in cs[i][0] for i in neg), len(neg)
                        ),
                    }
                    for when, cs in calls.items()
                }
    changed = {
        f"{r.dataset}:{r.record}": {
            "before": sorted(calls["before"][i][0]),
            "after": sorted(calls["after"][i][0]),
            "normal": r.normal,
            "part": r.part,
        }
        for i, r in enumerate(recs)
        if calls["before"][i][0] != calls["after"][i][0]
    }
    _print(normal, routine, sens)
    doc = {
        "baseline_commit": BASELINE,
        "rules_version_before": base.RULES_VERSION,
        "rules_version_after": rules_now.RULES_VERSION,
        "head": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip(),
        "uncommitted_at_run": subprocess.run(
            ["git", "status", "--porcelain", "--", "edge_agent", "models/datasets.py"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.splitlines(),
        "n_records": len(recs),
        "n_unreadable": sum(r.kwargs is None for r in recs),
        "normal_firing_rate": normal,
        "share_routine_on_normals": routine,
        "sensitivity_on_labelled": sens,
        "records_whose_findings_changed": changed,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    if not args.no_write:
        OUT.write_text(json.dumps(doc, indent=1) + "\n")
        print(f"wrote {OUT.relative_to(ROOT)}")


def _fmt(r: dict[str, Any]) -> str:
    if not r["n"]:
        return "-"
    lo, hi = r["ci95"]
    return f"{r['k']:3d}/{r['n']:<4d} {r['rate']:.3f} [{lo:.2f}-{hi:.2f}]"


def _print(normal: dict[str, Any], routine: dict[str, Any], sens: dict[str, Any]) -> None:
    print("Firing on normal ECGs (before -> after)")
    for key, d in normal.items():
        print(f"  {key}")
        rb, ra = routine[key]["before"], routine[key]["after"]
        print(f"    {'routine':14s} {_fmt(rb)}  ->  {_fmt(ra)}")
        cb, ca = rb["critical"], ra["critical"]
        print(f"    {'critical':14s} {_fmt(cb)}  ->  {_fmt(ca)}")
        for code in (*RULE_CODES, "any_finding"):
            b, a = d["before"][code], d["after"][code]
            if b["k"] or a["k"]:
                print(f"    {code:14s} {_fmt(b)}  ->  {_fmt(a)}")
    print("Sensitivity on labelled records (before -> after); fires on unlabelled")
    for key, d in sens.items():
        print(f"  {key}")
        for code, w in d.items():
            b, a = w["before"], w["after"]
            ub, ua = b["fires_on_unlabelled"], a["fires_on_unlabelled"]
            print(
                f"    {code:14s} Se {_fmt(b['sensitivity'])} -> {_fmt(a['sensitivity'])}"
                f" | unlabelled {_fmt(ub)} -> {_fmt(ua)}"
            )


if __name__ == "__main__":
    main()
