"""Train the STEMI feature model (``models/stemi_features``) from the shared data.

One command: ``.venv/bin/python -m models.train_stemi`` (needs the ``train`` extra's
``onnx`` and scipy; the runtime needs only numpy + onnxruntime).

- Features: :mod:`edge_agent.triage.stemi_features` on ``edge_agent.analyze`` output
  (:mod:`models.stemi_data`): per-lead values from ``edge_agent.dsp.measure``, so the
  core's current J point is used.
- Model: L2-regularised logistic regression on standardised features with sign
  constraints: ST elevation, coved ST, T inversion, hyperacute T, Q waves and reciprocal
  changes may only raise P(STEMI) (``SIGN_BOUNDS``); real positives weighted so that each
  patient counts the same (20 units), each normal negative 1. Exported as an ONNX graph
  built with ``onnx.helper`` (Sub, Div, MatMul, Add, Sigmoid).
- Hyperparameters (``GRID``: C, the weight of non-normal negatives, the weight of each
  augmented positive) and the threshold are chosen by leave-one-patient-out (LOPO) on the
  pool: for each setting, each of the k folds (one real STEMI patient with all its
  windows + 1/k of the negative pool by patient hash, with its augmented copies) is
  scored by the model trained on the other folds; the threshold is the 95th percentile
  (``method="higher"``) of the out-of-fold probabilities of the pool's normal ECGs; the
  setting with the highest patient-averaged sensitivity at that threshold wins (ties:
  AUC vs the normals).
- Feature set: ``FEATURE_SETS`` (1.2.0's and the runtime 1.3.0) is part of the grid; if
  LOPO on all folds picks another set than the runtime ``FEATURE_NAMES``, training stops.
- Evaluation, nested LOPO: the whole choice above is repeated inside each outer fold on
  the other k - 1 folds only; the outer fold's STEMI windows and negatives are scored
  by a model, setting and threshold that never saw them. Reported: sensitivity by window
  and by patient (detected = at least half its windows; Wilson CI) and patient-averaged
  (patient bootstrap CI); specificity on every pool normal (nested out-of-fold) and on
  the never-touched test normals (shipped model), by source; false fires on non-normal
  negatives.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge_agent.triage.stemi_features import FEATURE_NAMES
from models.evidence import specificity_summary, wilson
from models.stemi_data import Row, build_rows
from models.train import auc

log = logging.getLogger("models.train_stemi")
OUT_DIR = Path(__file__).resolve().parent / "stemi_features"
NAME = "stemi_features"
VERSION = "1.3.0"
SEED = 20261124
POS_PATIENT_WEIGHT = 20.0
SPEC_TARGET = 0.95
N_AUG = 3


_T = ("inferior", "lateral", "anterior")
# Candidate feature sets (names of ``stemi_features.feature_dict``). "1.2.0": the 37
# features of version 1.2.0 (signed mean T per territory, no T/QRS, no QRS-T angle), now
# measured by measure_leads; "1.3.0": the runtime ``FEATURE_NAMES``. Nested LOPO chooses
# between them like between the other settings, so its numbers include that choice.
FEATURE_SETS: dict[str, tuple[str, ...]] = {
    "1.2.0": tuple(
        f"{t}.{f}"
        for t in _T
        for f in (
            "e40",
            "e60",
            "e60_rel",
            "coved",
            "t_mean",
            "t_inv",
            "q_ms",
            "q_rel",
            "recip_dep",
            "recip_tinv",
        )
    )  # fmt: skip
    + ("qrs_ms", "hr_bpm", "avr_st60", "n_elev_leads", "min_st60", "v1v3_dep", "lvh_volt"),
    "1.3.0": FEATURE_NAMES,
}
RUNTIME_SET = "1.3.0"


@dataclass(frozen=True)
class Setting:
    """One point of the hyperparameter grid."""

    features: str  # key of FEATURE_SETS
    c: float  # inverse L2 strength
    abnormal_weight: float  # weight of each non-normal real negative (normal ones: 1)
    aug_weight: float  # weight of each augmented positive


GRID: tuple[Setting, ...] = tuple(
    Setting(fs, c, ab, aw)
    for fs in FEATURE_SETS
    for c in (0.1, 0.3, 1.0)
    for ab in (1.0, 2.0)
    for aw in (0.0, 0.02)
)


def _is_normal(r: Row) -> bool:
    return r.tags.get("normal") == "1" or r.tags.get("reason") == "Healthy control"


def _source(r: Row) -> str:
    """Control set of a negative, for the per-source specificity."""
    if r.tags.get("reason") == "Healthy control":
        return "ptb_healthy"
    if r.dataset == "ptbxl":
        return "ptbxl_fold10" if r.split == "test" else "ptbxl_fold1_9"
    return f"{r.dataset}_{'test' if r.split == 'test' else 'pool'}"


class Data:
    """Rows as arrays."""

    def __init__(self, rows: list[Row]) -> None:
        rows = [r for r in rows if r.x is not None and r.feats is not None]
        self.rows = rows
        self.names = list(dict.fromkeys(n for fs in FEATURE_SETS.values() for n in fs))
        self.x = np.array([[(r.feats or {})[n] for n in self.names] for r in rows])
        self.cols = {k: [self.names.index(n) for n in v] for k, v in FEATURE_SETS.items()}
        self.y = np.array([r.y for r in rows])
        self.real = np.array([r.kind == "real" for r in rows])
        self.pool = np.array([r.split == "pool" for r in rows])
        self.group = np.array([r.group for r in rows])
        self.normal = np.array([_is_normal(r) for r in rows])
        self.rules = np.array([r.tags.get("rules_stemi") == "1" for r in rows])
        self.source = np.array([_source(r) for r in rows])
        self.key = [f"{r.dataset}/{r.record}" for r in rows]
        self.pos_patients = sorted({r.group for r in rows if r.y == 1 and r.kind == "real"})
        k = len(self.pos_patients)
        self.fold = np.array(
            [
                self.pos_patients.index(r.group)
                if r.y == 1 and r.kind == "real"
                else zlib.crc32(r.group.encode()) % k
                for r in rows
            ]
        )

    @property
    def k(self) -> int:
        return len(self.pos_patients)

    def weights(self, idx: np.ndarray, s: Setting) -> np.ndarray:
        w = np.ones(len(idx))
        y, real, grp = self.y[idx], self.real[idx], self.group[idx]
        for g in set(grp[(y == 1) & real]):
            m = (grp == g) & real & (y == 1)
            w[m] = POS_PATIENT_WEIGHT / m.sum()
        w[~real] = s.aug_weight
        w[(y == 0) & real & ~self.normal[idx]] = s.abnormal_weight
        return w


# Features whose coefficient may only raise P(STEMI) (clinical direction): ST elevation,
# coved ST, T inversion (fraction and depth), hyperacute T (T/QRS), Q waves, reciprocal
# depression / T inversion, V1-V3 depression.
_RISK = {
    "e40", "e60", "e60_rel", "coved", "t_inv", "t_neg", "t_rel", "q_ms", "q_rel",
    "recip_dep", "recip_tinv", "v1v3_dep",
}  # fmt: skip
Bounds = list[tuple[float | None, float | None]]


def sign_bounds(names: tuple[str, ...]) -> Bounds:
    return [(0.0, None) if f.split(".")[-1] in _RISK else (None, None) for f in names]


SIGN_BOUNDS = sign_bounds(FEATURE_NAMES)


def fit(
    x: np.ndarray, y: np.ndarray, w: np.ndarray, c: float, bounds: Bounds = SIGN_BOUNDS
) -> dict[str, np.ndarray]:
    """Standardisation + weighted L2 logistic regression with sign constraints.

    Minimises ``sum w * logloss + ||coef||^2 / (2 C)`` by L-BFGS-B with the coefficients
    of the ``_RISK`` features bounded at >= 0 (they may only raise P(STEMI)); the others
    (upright T, QRS width, rate, aVR, diffuse elevation, deepest depression, LVH voltage,
    QRS-T angle) are free. Returns mean, sd, coef, intercept.
    """
    from scipy.optimize import minimize

    mu = x.mean(axis=0)
    sd = x.std(axis=0) + 1e-6
    z = (x - mu) / sd
    n = z.shape[1]

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        coef, b = theta[:n], theta[n]
        s = z @ coef + b
        ll = np.logaddexp(0.0, -s) * y + np.logaddexp(0.0, s) * (1 - y)
        g = (1.0 / (1.0 + np.exp(-s)) - y) * w
        val = float((w * ll).sum() + 0.5 / c * (coef @ coef))
        return val, np.r_[z.T @ g + coef / c, g.sum()]

    res = minimize(
        loss,
        np.zeros(n + 1),
        jac=True,
        method="L-BFGS-B",
        bounds=[*bounds, (None, None)],
        options={"maxiter": 5000},
    )
    return {
        "mean": mu,
        "sd": sd,
        "coef": res.x[:n],
        "intercept": np.array([res.x[n]]),
    }


def prob(p: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    z = ((x - p["mean"]) / p["sd"]) @ p["coef"] + p["intercept"][0]
    return np.asarray(1.0 / (1.0 + np.exp(-z)))


def fit_rows(d: Data, mask: np.ndarray, s: Setting) -> dict[str, np.ndarray]:
    idx = np.flatnonzero(mask)
    x = d.x[np.ix_(idx, np.asarray(d.cols[s.features], dtype=np.int64))]
    p = fit(x, d.y[idx], d.weights(idx, s), s.c, sign_bounds(FEATURE_SETS[s.features]))
    return p | {"cols": np.array(d.cols[s.features])}


def prob_rows(p: dict[str, np.ndarray], d: Data, mask: np.ndarray) -> np.ndarray:
    return prob(p, d.x[np.flatnonzero(mask)][:, p["cols"]])


def lopo(d: Data, folds: list[int], s: Setting) -> np.ndarray:
    """Out-of-fold probabilities of the real pool rows of ``folds`` (NaN elsewhere).

    Each fold is scored by the model trained on the pool rows of the other ``folds``.
    """
    oof = np.full(len(d.y), np.nan)
    inside = d.pool & np.isin(d.fold, folds)
    for f in folds:
        p = fit_rows(d, inside & (d.fold != f), s)
        te = inside & (d.fold == f) & d.real
        oof[te] = prob_rows(p, d, te)
    return oof


def threshold_for(d: Data, p: np.ndarray, mask: np.ndarray) -> float:
    """Lowest threshold at which the model OR the rules keep normal specificity >= target.

    From the probabilities ``p`` of the real normal negatives in ``mask`` only.
    """
    neg = mask & d.real & (d.y == 0) & d.normal & np.isfinite(p)
    rules = d.rules[neg]
    allowed = int(math.floor((1 - SPEC_TARGET) * neg.sum() + 1e-9)) - int(rules.sum())
    if allowed < 0:
        return 1.0
    q = np.sort(p[neg][~rules])[::-1]
    return float(min(q[allowed] + 1e-6, 1.0)) if allowed < len(q) else float(q[-1])


def patient_sensitivity(d: Data, p: np.ndarray, th: float, mask: np.ndarray) -> float:
    """Mean over the STEMI patients in ``mask`` of the fraction of windows called."""
    pos = mask & d.real & (d.y == 1)
    hit = (p >= th) | d.rules
    return float(np.mean([hit[pos & (d.group == g)].mean() for g in set(d.group[pos])]))


def choose(
    d: Data, folds: list[int], grid: tuple[Setting, ...] = GRID
) -> tuple[Setting, float, list[dict[str, Any]]]:
    """Setting and threshold chosen by LOPO over ``folds`` only (see the module doc)."""
    mask = d.pool & np.isin(d.fold, folds)
    pos = mask & d.real & (d.y == 1)
    neg = mask & d.real & (d.y == 0) & d.normal
    best: tuple[tuple[float, float], Setting, float] | None = None
    table = []
    for s in grid:
        oof = lopo(d, folds, s)
        th = threshold_for(d, oof, mask)
        se = patient_sensitivity(d, oof, th, mask)
        a = float(auc(np.r_[np.ones(pos.sum()), np.zeros(neg.sum())],
                      np.r_[oof[pos], oof[neg]]) or 0.0)  # fmt: skip
        table.append({**asdict(s), "threshold": round(th, 4),
                      "patient_sensitivity": round(se, 4), "auc": round(a, 4)})  # fmt: skip
        key = (round(se, 6), a)
        if best is None or key > best[0]:
            best = (key, s, th)
    assert best is not None
    return best[1], best[2], table


def nested(
    d: Data, grid: tuple[Setting, ...] = GRID
) -> tuple[np.ndarray, np.ndarray, list[Setting]]:
    """Outer-fold probabilities and thresholds of every real pool row.

    Outer fold f (one STEMI patient + its share of the negatives) is scored by the model
    whose setting and threshold were chosen by :func:`choose` on the other folds alone
    and which was trained on them.
    """
    p_out = np.full(len(d.y), np.nan)
    th_out = np.full(len(d.y), np.nan)
    chosen = []
    for f in range(d.k):
        inner = [g for g in range(d.k) if g != f]
        s, th, _ = choose(d, inner, grid)
        model = fit_rows(d, d.pool & (d.fold != f), s)
        te = d.pool & (d.fold == f) & d.real
        p_out[te] = prob_rows(model, d, te)
        th_out[te] = th
        chosen.append(s)
        log.info("outer fold %d (%s): %s, threshold %.3f", f, d.pos_patients[f], s, th)
    return p_out, th_out, chosen


def cluster_ci(
    hits: np.ndarray, groups: np.ndarray, n_boot: int = 1000, seed: int = 0
) -> list[float]:
    """95 % percentile CI of a window rate, resampling whole patients."""
    rng = np.random.default_rng(seed)
    ug = np.unique(groups)
    per = [hits[groups == g] for g in ug]
    vals = []
    for _ in range(n_boot):
        pick = rng.integers(0, len(ug), len(ug))
        vals.append(np.concatenate([per[i] for i in pick]).mean())
    return [
        round(float(np.percentile(vals, 2.5)), 4),
        round(float(np.percentile(vals, 97.5)), 4),
    ]


def boot_ci(v: np.ndarray, n_boot: int = 1000, seed: int = 0) -> list[float]:
    rng = np.random.default_rng(seed)
    vals = [v[rng.integers(0, len(v), len(v))].mean() for _ in range(n_boot)]
    return [
        round(float(np.percentile(vals, 2.5)), 4),
        round(float(np.percentile(vals, 97.5)), 4),
    ]


def export_onnx(p: dict[str, np.ndarray], path: Path) -> None:
    """Sub(mean) -> Div(sd) -> MatMul(coef) -> Add(intercept) -> Sigmoid."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    n = len(FEATURE_NAMES)
    inits = [
        numpy_helper.from_array(p["mean"].astype(np.float32)[None, :], "mean"),
        numpy_helper.from_array(p["sd"].astype(np.float32)[None, :], "sd"),
        numpy_helper.from_array(p["coef"].astype(np.float32)[:, None], "coef"),
        numpy_helper.from_array(p["intercept"].astype(np.float32)[None, :], "intercept"),
    ]
    nodes = [
        helper.make_node("Sub", ["features", "mean"], ["centred"]),
        helper.make_node("Div", ["centred", "sd"], ["z"]),
        helper.make_node("MatMul", ["z", "coef"], ["logit0"]),
        helper.make_node("Add", ["logit0", "intercept"], ["logit"]),
        helper.make_node("Sigmoid", ["logit"], ["p_stemi"]),
    ]
    graph = helper.make_graph(
        nodes,
        NAME,
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, [None, n])],
        [helper.make_tensor_value_info("p_stemi", TensorProto.FLOAT, [None, 1])],
        inits,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17)],
        producer_name="models.train_stemi",
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString())


def time_inference(path: Path, x: np.ndarray) -> dict[str, float]:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    s = ort.InferenceSession(
        str(path), sess_options=opts, providers=["CPUExecutionProvider"]
    )
    row = x[:1].astype(np.float32)
    for _ in range(50):
        s.run(None, {"features": row})
    ts = []
    for _ in range(500):
        t0 = time.perf_counter()
        s.run(None, {"features": row})
        ts.append((time.perf_counter() - t0) * 1000)
    return {
        "median_ms": round(float(np.median(ts)), 4),
        "p90_ms": round(float(np.percentile(ts, 90)), 4),
    }


def _git_head() -> str | None:
    """The commit the features were computed on (the core's J point), if known."""
    import subprocess

    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=OUT_DIR.parent,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip() or None


def evaluate(
    d: Data,
    p_out: np.ndarray,
    th_out: np.ndarray,
    final: dict[str, np.ndarray],
    th: float,
) -> dict[str, Any]:
    """Nested-LOPO numbers (pool) and the shipped model's on the test split."""
    pos = d.real & (d.y == 1)
    hit_model = p_out[pos] >= th_out[pos]
    hit = hit_model | d.rules[pos]
    grp = d.group[pos]
    per_patient: dict[str, dict[str, Any]] = {}
    for g in d.pos_patients:
        m = grp == g
        per_patient[g] = {
            "windows": int(m.sum()),
            "detected": int(hit[m].sum()),
            "detected_model_alone": int(hit_model[m].sum()),
            "p_median": round(float(np.median(p_out[pos][m])), 4),
            "threshold": round(float(th_out[pos][m][0]), 4),
        }
    frac = np.array([v["detected"] / v["windows"] for v in per_patient.values()])
    n_pat = len(frac)
    n_det = int((frac >= 0.5).sum())
    pool_norm = d.pool & d.real & (d.y == 0) & d.normal
    pool_abn = d.pool & d.real & (d.y == 0) & ~d.normal
    fire_out = (p_out >= th_out) | d.rules
    test = ~d.pool & d.real
    p_test = np.full(len(d.y), np.nan)
    p_test[test] = prob_rows(final, d, test)
    fire_test = (p_test >= th) | d.rules
    test_norm = test & d.normal
    test_abn = test & ~d.normal
    y_auc = np.r_[np.ones(pos.sum()), np.zeros(pool_norm.sum())]
    by_source = {
        src: specificity_summary(fire_out[pool_norm & (d.source == src)])
        for src in sorted(set(d.source[pool_norm]))
    } | {
        src: specificity_summary(fire_test[test_norm & (d.source == src)])
        for src in sorted(set(d.source[test_norm]))
    }
    all_norm = np.r_[fire_out[pool_norm], fire_test[test_norm]]
    return {
        "threshold": round(th, 4),
        "nested_lopo": {
            "what": "outer fold = one STEMI patient + 1/k of the pool negatives; its "
            "setting, threshold and model come from the other folds only; the "
            "decision is the model OR the rules, as at the cart",
            "n_patients": n_pat,
            "n_windows": int(pos.sum()),
            "sensitivity_windows": round(float(hit.mean()), 4),
            "sensitivity_windows_ci95_patient_bootstrap": cluster_ci(
                hit.astype(float), grp
            ),
            "patients_detected": n_det,
            "sensitivity_patients": round(n_det / n_pat, 4),
            "sensitivity_patients_ci95_wilson": wilson(n_det, n_pat),
            "sensitivity_patient_mean": round(float(frac.mean()), 4),
            "sensitivity_patient_mean_ci95_bootstrap": boot_ci(frac),
            "model_alone_sensitivity_windows": round(float(hit_model.mean()), 4),
            "auc_vs_pool_normals": round(
                float(auc(y_auc, np.r_[p_out[pos], p_out[pool_norm]]) or 0), 4
            ),
            "specificity_pool_normals": specificity_summary(fire_out[pool_norm]),
            "false_fire_pool_abnormal": {
                "n": int(pool_abn.sum()),
                "fired": int(fire_out[pool_abn].sum()),
                "rate": round(float(fire_out[pool_abn].mean()), 4),
            },
            "per_patient": per_patient,
        },
        "held_out_test": {
            "what": "never trained on nor used for any choice; scored by the shipped model "
            "at the shipped threshold, OR the rules",
            "specificity_normals": specificity_summary(fire_test[test_norm]),
            "false_fire_abnormal": {
                "n": int(test_abn.sum()),
                "fired": int(fire_test[test_abn].sum()),
                "model_fired": int((p_test[test_abn] >= th).sum()),
            },
            "fired_normals": [d.key[i] for i in np.flatnonzero(test_norm & fire_test)],
            "fired_abnormal": [
                f"{d.key[i]} ({d.rows[i].tags.get('reason', 'ptbxl/ludb abnormal')})"
                for i in np.flatnonzero(test_abn & fire_test)
            ],
        },
        "specificity_normals_by_source": by_source,
        "specificity_all_normals": specificity_summary(all_norm)
        | {"what": "pool normals (nested out-of-fold) + test normals (shipped model)"},
    }


def _logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(p, 1e-6, 1 - 1e-6)
    return np.asarray(np.log(q / (1 - q)))


def margin_curve(
    d: Data, p_out: np.ndarray, th_out: np.ndarray, margins: tuple[float, ...]
) -> list[dict[str, Any]]:
    """Nested-LOPO sensitivity / pool-normal specificity with each outer threshold raised
    by ``margin`` in logit units (model OR rules). Read after the nested numbers were
    known: a description of the trade-off, not a choice."""
    pos = d.real & (d.y == 1)
    neg = d.pool & d.real & (d.y == 0) & d.normal
    out = []
    for m in margins:
        fire = (_logit(p_out) >= _logit(th_out) + m) | d.rules
        frac = [fire[pos & (d.group == g)].mean() for g in d.pos_patients]
        out.append(
            {
                "logit_margin": m,
                "sensitivity_windows": round(float(fire[pos].mean()), 4),
                "patients_detected": int(sum(f >= 0.5 for f in frac)),
                "specificity_pool_normals": round(float((~fire[neg]).mean()), 4),
            }
        )
    return out


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    t0 = time.time()
    rows = build_rows(n_aug=N_AUG, seed=SEED)
    d = Data(rows)
    log.info(
        "%d rows (%d real positives, %d patients)",
        len(d.y),
        int((d.real & (d.y == 1)).sum()),
        d.k,
    )
    p_out, th_out, chosen = nested(d)
    setting, th, grid_table = choose(d, list(range(d.k)))
    if setting.features != RUNTIME_SET:
        raise SystemExit(
            f"LOPO on all folds chose feature set {setting.features}, the runtime "
            f"FEATURE_NAMES are {RUNTIME_SET}: change edge_agent.triage.stemi_features"
        )
    final = fit_rows(d, d.pool, setting)
    ev = evaluate(d, p_out, th_out, final, th)
    ev["post_hoc_margin_curve"] = margin_curve(d, p_out, th_out, (0.0, 0.25, 0.5, 1.0))
    # Post hoc view: the runtime feature set fixed (it was designed after the 1.2.0
    # misses were known), only C / weights / threshold nested.
    fixed = tuple(g for g in GRID if g.features == RUNTIME_SET)
    p_fix, th_fix, chosen_fix = nested(d, fixed)
    ev_fixed = evaluate(d, p_fix, th_fix, final, th)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    onnx_path = OUT_DIR / f"{NAME}.onnx"
    export_onnx(final, onnx_path)
    timing = time_inference(onnx_path, d.x[:, final["cols"]])
    card = {
        "name": NAME,
        "version": VERSION,
        "file": onnx_path.name,
        "sha256": hashlib.sha256(onnx_path.read_bytes()).hexdigest(),
        "kind": "sign-constrained L2 logistic regression on "
        "edge_agent.triage.stemi_features",
        "sign_constrained_nonnegative": [
            f for f, b in zip(FEATURE_NAMES, SIGN_BOUNDS, strict=True) if b[0] == 0.0
        ],
        "classes": ["STEMI"],
        "thresholds": {"STEMI": ev["threshold"]},
        "threshold_rule": "lowest threshold at which the model OR the 4th-UDMI rules (what "
        "the cart reports) keep specificity >= 0.95 on the leave-one-patient-out "
        "probabilities of the pool's normal ECGs, at the setting chosen by the same LOPO",
        "inputs": [
            {"name": "features", "shape": [None, len(FEATURE_NAMES)], "dtype": "float32"}
        ],
        "outputs": [{"name": "p_stemi", "shape": [None, 1], "dtype": "float32"}],
        "feature_names": list(FEATURE_NAMES),
        "min_leads": 8,
        "coefficients_standardised": {
            f: round(float(c), 4) for f, c in zip(FEATURE_NAMES, final["coef"], strict=True)
        },
        "intercept": round(float(final["intercept"][0]), 4),
        "feature_mean": [round(float(v), 6) for v in final["mean"]],
        "feature_sd": [round(float(v), 6) for v in final["sd"]],
        "training": {
            "command": ".venv/bin/python -m models.train_stemi",
            "seed": SEED,
            "setting": asdict(setting),
            "grid": grid_table,
            "nested_outer_settings": {
                g: asdict(s) for g, s in zip(d.pos_patients, chosen, strict=True)
            },
            "nested_outer_settings_feature_set_fixed": {
                g: asdict(s) for g, s in zip(d.pos_patients, chosen_fix, strict=True)
            },
            "positive_patient_weight": POS_PATIENT_WEIGHT,
            "augmented_copies_per_record": N_AUG,
            "rows": {
                "pool_real_negatives": int((d.pool & d.real & (d.y == 0)).sum()),
                "pool_real_normals": int((d.pool & d.real & (d.y == 0) & d.normal).sum()),
                "pool_real_positives": int((d.pool & d.real & (d.y == 1)).sum()),
                "pool_augmented_positives": int((d.pool & ~d.real).sum()),
                "test_negatives": int((~d.pool & d.real).sum()),
            },
            "positive_patients": d.pos_patients,
            "core_commit": _git_head(),
            "seconds": round(time.time() - t0, 1),
        },
        "evaluation": ev,
        "evaluation_feature_set_fixed_post_hoc": {
            "what": "the same nested LOPO with the feature set fixed to the runtime one "
            "instead of chosen inside the loop; that set was designed after the 1.2.0 "
            "misses were known, so these numbers are post hoc (optimistic)",
            "nested_lopo": ev_fixed["nested_lopo"],
            "specificity_all_normals": ev_fixed["specificity_all_normals"],
        },
        "inference": timing,
    }
    nested_p = {
        d.key[i]: {
            "p": round(float(p_out[i]), 4),
            "threshold": round(float(th_out[i]), 4),
            "y": int(d.y[i]),
            "normal": bool(d.normal[i]),
            "patient": str(d.group[i]),
            "source": str(d.source[i]) if d.y[i] == 0 else "stemi",
            "p_fixed_set": round(float(p_fix[i]), 4),
            "threshold_fixed_set": round(float(th_fix[i]), 4),
        }
        for i in np.flatnonzero(np.isfinite(p_out))
    }
    (OUT_DIR / "lopo_predictions.json").write_text(json.dumps(nested_p, indent=1) + "\n")
    (OUT_DIR / "card.json").write_text(
        json.dumps(card, indent=2, ensure_ascii=False) + "\n"
    )
    (OUT_DIR / "card.md").write_text(card_markdown(card))
    log.info(json.dumps(ev, indent=1))


def _ci(v: list[float]) -> str:
    return f"[{v[0]:.2f}, {v[1]:.2f}]"


def card_markdown(card: dict[str, Any]) -> str:
    ev = card["evaluation"]
    lo, ho = ev["nested_lopo"], ev["held_out_test"]
    ff = lo["false_fire_pool_abnormal"]
    tr = card["training"]
    st = tr["setting"]
    coefs = sorted(card["coefficients_standardised"].items(), key=lambda kv: -abs(kv[1]))
    sp_pool, sp_test, sp_all = (
        lo["specificity_pool_normals"],
        ho["specificity_normals"],
        ev["specificity_all_normals"],
    )
    lines = [
        f"# Model card: {card['name']} {card['version']}",
        "",
        "Interpretable STEMI detector: L2 logistic regression (sign-constrained: ST "
        "elevation, coved ST, T inversion, hyperacute T, Q waves and reciprocal changes "
        "may only raise the probability) on "
        f"{len(card['feature_names'])} per-territory ST/T/Q features of the core's median "
        "beat (`edge_agent.triage.stemi_features`, per-lead values from "
        "`edge_agent.dsp.measure.measure_leads`). Runs with onnxruntime + numpy only; it "
        "adds to the 4th-UDMI millimetre rules, which miss subtle and evolving "
        "(subacute) STEMI.",
        "",
        "## Inputs and outputs",
        "",
        f"- `features`: shape [None, {len(card['feature_names'])}], float32, in the "
        "order of `card.json` `feature_names` (checked against the code at load)",
        "- `p_stemi`: shape [None, 1], float32",
        f"- needs >= {card['min_leads']} leads with signal (recorded or derived limb "
        "leads)",
        "",
        "## Data",
        "",
        "All rows are `edge_agent.analyze` output on ../shared/data "
        "(models/stemi_data.py).",
        "",
        "- Positives (real, by patient): LUDB 7, 21, 33, 55, 69; PTB 226, 230, 231 "
        "(ptbdb_10s, 6-10 days after onset), s0015lre (day 9), s0017lre (day 16), "
        "s0043lre (day 3) in 10 s windows; PTB-XL ecg 189 "
        '("Stadium I", patient 13112). '
        f"{lo['n_windows']} windows, {lo['n_patients']} patients. These are all the real "
        "acute-MI records with an honest label in mV in the shared data: PTB-XL's "
        "subset holds one Stadium I record; `ptbxl_normalized_extra` (6 Stadium I, 2 "
        "Stadium II) is z-scored per lead and has no mV ST amplitude, so it is not used.",
        "- Negatives (pool): PTB-XL subset strat_fold 1-9 (all non-acute diagnoses), "
        "LUDB non-test records, CPSC 2018 / CinC 2021 samples: "
        f"{tr['rows']['pool_real_negatives']} records, {tr['rows']['pool_real_normals']} "
        "of them normal.",
        "- Augmentation (pool only): ST-T elevation (0.06-0.35 mV) injected into real "
        "12-lead non-STEMI, non-LBBB pool records beat by beat from the core's J point "
        "to T end, in one territory (limb leads from one frontal injury vector, so "
        "reciprocal depression follows Einthoven; precordial profile per territory), "
        "reciprocal part scaled 0.3-1.0, terminal T inversion in 40 %; "
        f"{tr['rows']['pool_augmented_positives']} rows; their weight is part of the "
        "hyperparameter grid (0 or 0.02 each; a real patient weighs "
        f"{tr['positive_patient_weight']}).",
        "- Held-out test negatives (never trained on, never used for any choice): PTB-XL "
        "fold 10, LUDB test (id % 5 == 0), PTB healthy controls and the other PTB "
        f"diagnoses: {tr['rows']['test_negatives']} records.",
        "",
        "## Hyperparameters and threshold",
        "",
        f"Grid: C x weight of non-normal negatives x weight of augmented positives "
        f"({len(tr['grid'])} settings). For each, leave-one-patient-out (LOPO) over the "
        "pool (fold = one STEMI patient with all its windows + 1/k of the negatives by "
        "patient hash); threshold = the lowest at which the model OR the rules keep "
        ">= 95 % specificity on the out-of-fold pool normals; the setting with the "
        "highest patient-averaged sensitivity at its threshold wins (ties: AUC). "
        f"Chosen on all folds: C {st['c']}, non-normal negative weight "
        f"{st['abnormal_weight']}, augmented weight {st['aug_weight']}; "
        f"STEMI p >= {card['thresholds']['STEMI']}.",
        "",
        "Use at the edge (`edge_agent.triage.combine`): the model raises a STEMI finding "
        "beside the rules (either may), except when the pacing-spike detector finds a "
        "ventricular- or AV-paced rhythm: paced complexes carry secondary ST-T changes "
        "this model was never trained on, so there only Smith-Sgarbossa (the rules) may "
        "call STEMI; the probability is still reported.",
        "",
        "## Evaluation: nested leave-one-patient-out (model OR rules)",
        "",
        "Each outer fold (one STEMI patient + its share of the pool negatives) is scored "
        "by a model whose feature set (1.2.0 or 1.3.0), C, weights and threshold were "
        "chosen and trained on the other folds only.",
        "",
        "| measure | value | 95 % CI |",
        "|---|---|---|",
        f"| sensitivity, windows ({lo['n_windows']}) | {lo['sensitivity_windows']} | "
        f"{_ci(lo['sensitivity_windows_ci95_patient_bootstrap'])} (patient bootstrap) |",
        f"| sensitivity, patients (>= half their windows) | {lo['patients_detected']} / "
        f"{lo['n_patients']} = {lo['sensitivity_patients']} | "
        f"{_ci(lo['sensitivity_patients_ci95_wilson'])} (Wilson) |",
        f"| sensitivity, patient-averaged (each patient weight 1) | "
        f"{lo['sensitivity_patient_mean']} | "
        f"{_ci(lo['sensitivity_patient_mean_ci95_bootstrap'])} (patient bootstrap) |",
        f"| AUC, outer-fold positives vs pool normals | {lo['auc_vs_pool_normals']} | |",
        f"| specificity, pool normals (outer folds, {sp_pool['n']}) | "
        f"{sp_pool['specificity']} | {_ci(sp_pool['ci95_wilson'])} |",
        f"| false fires, pool non-normal negatives | {ff['fired']} / {ff['n']} | |",
        f"| specificity, held-out test normals (shipped model, {sp_test['n']}) | "
        f"{sp_test['specificity']} | {_ci(sp_test['ci95_wilson'])} |",
        f"| specificity, all normals ({sp_all['n']}) | {sp_all['specificity']} | "
        f"{_ci(sp_all['ci95_wilson'])} |",
        f"| false fires, held-out test non-normal | {ho['false_fire_abnormal']['fired']} / "
        f"{ho['false_fire_abnormal']['n']} (model alone "
        f"{ho['false_fire_abnormal']['model_fired']}) | |",
        "",
        "Specificity by control set (pool sets: outer-fold calls; test sets: shipped "
        "model):",
        "",
        "| control set | n | specificity | 95 % CI (Wilson) |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {src} | {v['n']} | {v['specificity']} | {_ci(v['ci95_wilson'])} |"
        for src, v in ev["specificity_normals_by_source"].items()
    ]
    fx = card["evaluation_feature_set_fixed_post_hoc"]
    fl = fx["nested_lopo"]
    outer = tr["nested_outer_settings"]
    n_ab1 = sum(v["abnormal_weight"] == 1.0 for v in outer.values())
    lines += [
        "",
        "Post hoc view (feature set fixed to 1.3.0, which was designed after the 1.2.0 "
        "misses were known; C, weights and threshold still nested): sensitivity windows "
        f"{fl['sensitivity_windows']} "
        f"{_ci(fl['sensitivity_windows_ci95_patient_bootstrap'])}, patients "
        f"{fl['patients_detected']} / {fl['n_patients']} "
        f"{_ci(fl['sensitivity_patients_ci95_wilson'])}, patient-averaged "
        f"{fl['sensitivity_patient_mean']}; specificity pool normals "
        f"{fl['specificity_pool_normals']['specificity']}, all normals "
        f"{fx['specificity_all_normals']['specificity']} "
        f"(n {fx['specificity_all_normals']['n']}).",
        "",
        "| patient | windows | detected (nested, OR rules) | model alone | median p | "
        "outer threshold | outer feature set | detected (set fixed, post hoc) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {g} | {v['windows']} | {v['detected']} | {v['detected_model_alone']} | "
        f"{v['p_median']} | {v['threshold']} | {outer[g]['features']} | "
        f"{fl['per_patient'][g]['detected']} |"
        for g, v in lo["per_patient"].items()
    ]
    lines += [
        "",
        f"Held-out normals that fire: {', '.join(ho['fired_normals']) or 'none'}.",
        "",
        "Held-out non-normal records that fire: "
        f"{', '.join(ho['fired_abnormal']) or 'none'}.",
        "",
        "## Coefficients (standardised features, largest first)",
        "",
        "| feature | coefficient |",
        "|---|---|",
    ]
    lines += [f"| {f} | {c:+.3f} |" for f, c in coefs]
    inf = card["inference"]
    lines += [
        "",
        f"Intercept {card['intercept']:+.3f}.",
        "",
        "## Inference",
        "",
        f"Median {inf['median_ms']} ms (p90 {inf['p90_ms']} ms) per record, onnxruntime "
        "CPU, 1 thread, shared 2-core machine (feature extraction in numpy comes on top; "
        "bench/results/triage.json `stemi_features_ms` has features + ONNX).",
        "",
        "## Training",
        "",
        f"`{tr['command']}` (seed {tr['seed']}, {tr['seconds']} s), features from the core "
        f"at commit {tr.get('core_commit')} (plus any uncommitted work in the tree). The "
        "version notes below quote the numbers of their day; the tables above are this "
        "training's.",
        "",
        "## Limitations and what is post hoc",
        "",
        "- 1.3.0: the 1.3.0 feature set was designed after the 1.2.0 misses were known "
        "(PTB s0015lre: deep anterior T inversion with inferior hyperacute T; PTB 226: "
        "tall anterior T with LVH voltage): the signed mean T per territory split into "
        "its upright part (free sign) and its inverted part (may only raise P), T/QRS "
        "in contiguous leads (hyperacute T) and the frontal QRS-T angle added. About ten "
        "variants were compared on the same LOPO before it was kept (adding `e20` or "
        "`t_depth`, or keeping `t_mean`, did not help). The nested loop chooses between "
        "1.2.0 and 1.3.0, which removes the optimism of that last choice but not of "
        "having designed 1.3.0 with the misses in view. Per-lead values now come from "
        "`measure_leads` (1.2.0 had its own copy with other Q/S/T definitions).",
        "- Specificity: the outer thresholds are set for 95 % on the inner normals; on "
        "the outer normals they give the specificity in the table "
        f"({'below' if sp_pool['specificity'] < SPEC_TARGET else 'at or above'} "
        f"{SPEC_TARGET}). Raising "
        "every outer threshold (post hoc, read after the table): "
        + "; ".join(
            f"logit +{c['logit_margin']}: windows {c['sensitivity_windows']}, patients "
            f"{c['patients_detected']} / {lo['n_patients']}, pool normals "
            f"{c['specificity_pool_normals']}"
            for c in ev["post_hoc_margin_curve"]
        )
        + ".",
        "- 1.2.0 weighted non-normal negatives 2; 1.3.0 lets nested LOPO choose 1 or 2 "
        f"(weight 1 in {n_ab1} of {len(outer)} outer folds, {st['abnormal_weight']} on "
        "all folds; weight 1 means fewer misses of evolving infarcts with T inversion and "
        "more false fires on LVH / bundle branch block / old MI).",
        "- 1.1.0 added the sign constraints after seeing 1.0.0's LOPO and held-out "
        "numbers.",
        "- 12 real STEMI patients, all subacute (day 3-16) or subtle: the intervals are "
        "wide, and the model leans on T inversion and Q waves as much as on ST elevation, "
        "so it fires on other causes of T inversion (LVH strain, bundle branch block, old "
        "MI): see the false fires. The real positives are in the shipped model's "
        "training set: only the nested LOPO numbers are honest for them.",
        "- The threshold targets specificity 0.95 against normal ECGs, as the issue's "
        "target does; against all non-STEMI ECGs specificity is lower.",
        "- No paced rhythm, LBBB-with-STEMI (Sgarbossa) or posterior-only STEMI in the "
        "real positives; the rules cover those.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
