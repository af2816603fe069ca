"""Feature rows for the STEMI feature model, through the public ``edge_agent.analyze``.

Every record (and every augmented copy) is analysed by ``analyze`` exactly as at the cart
(rules only, no model); the features come from its median beat and global fiducials
(:func:`edge_agent.triage.stemi_features.feature_dict`: every candidate feature by name;
``Row.x`` is the runtime row, ``FEATURE_NAMES`` of that dict). A change of the core's
delineation (J point) therefore reaches the model at the next ``models/train_stemi.py``.

Sets (by patient):

- ``pool`` (training and threshold choice by cross-fitting): PTB-XL subset strat_fold 1-9,
  LUDB records not in the test split (``id % 5 != 0``), CPSC 2018 and CinC 2021 samples
  (negatives); the real STEMI patients (LUDB 7, 21, 33, 55, 69; PTB 226, 230, 231,
  s0015lre, s0017lre, s0043lre in 10 s windows; PTB-XL acute MI "Stadium I" ecg 189)
  each its own group for leave-one-patient-out.
- ``test`` negatives never trained on nor used for the threshold: PTB-XL strat_fold 10,
  LUDB test records (``id % 5 == 0``, not STEMI), PTB healthy controls and the other PTB
  diagnoses (bundle branch block, hypertrophy, cardiomyopathy, old MI, ...).

Augmentation (pool only, documented in the card): ST-T elevation injected into real
12-lead pool records that carry no STEMI label, beat by beat from the core's own J point
(QRS offset) to T end, in one coronary territory; limb leads from one frontal injury
vector (so Einthoven's law holds and the opposite limb leads get reciprocal depression),
precordial leads from a territory profile; sometimes terminal T inversion (evolving MI).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from edge_agent.analysis import Analysis, analyze
from edge_agent.triage.stemi_features import FEATURE_NAMES, feature_dict
from edge_agent.types import normalize_lead_name
from models import datasets as ds

log = logging.getLogger("models.stemi_data")
_STEMI = ds.CLASSES.index("STEMI")
_NORMAL = ds.CLASSES.index("NORMAL")

# Frontal angle of each limb lead (degrees, hexaxial).
_LIMB_ANGLE = {"I": 0.0, "II": 60.0, "III": 120.0, "aVF": 90.0, "aVL": -30.0, "aVR": -150.0}
_PRECORDIAL = ("V1", "V2", "V3", "V4", "V5", "V6")
# Territory -> (frontal injury angle range, precordial profile).
_AUG_TERRITORY: dict[str, tuple[tuple[float, float], tuple[float, ...]]] = {
    "inferior": ((75.0, 130.0), (-0.3, -0.3, -0.2, 0.0, 0.2, 0.3)),
    "lateral": ((-40.0, 10.0), (-0.2, 0.0, 0.2, 0.6, 1.0, 1.0)),
    "anterior": ((-60.0, 60.0), (0.7, 1.0, 1.0, 0.8, 0.3, 0.0)),
}


@dataclass
class Row:
    """One analysed example: its features and where it came from."""

    dataset: str
    record: str
    group: str  # patient for positives; patient for negatives (grouped later)
    split: str  # "pool" or "test"
    y: int
    x: NDArray[np.float32] | None
    kind: str  # "real" or "aug:<territory>"
    tags: dict[str, str] = field(default_factory=dict)
    feats: dict[str, float] | None = None  # every candidate feature by name


def feature_table(a: Analysis) -> dict[str, float] | None:
    """Every candidate feature of one analysis, by name.

    The same computation as ``triage`` runs at cart (``stemi_features`` is this dict in
    ``FEATURE_NAMES`` order).
    """
    iv = a.intervals
    hr = a.rhythm.heart_rate_bpm if a.rhythm is not None else None
    if a.median is None or a.fiducials is None:
        return None
    return feature_dict(
        a.median,
        a.fiducials,
        a.leads,
        a.quality.usable,
        iv.qrs_ms if iv is not None else None,
        hr,
    )


def _row_x(fd: dict[str, float] | None) -> NDArray[np.float32] | None:
    if fd is None:
        return None
    return np.asarray([fd[f] for f in FEATURE_NAMES], dtype=np.float32)[None, :]


def inject_st(
    e: ds.Example, a: Analysis, rng: np.random.Generator
) -> tuple[NDArray[np.float64], str] | None:
    """A copy of ``e.x`` with an acute-injury ST-T pattern, or None (no usable beats)."""
    bf = a.beat_fiducials
    if bf is None:
        return None
    names = [normalize_lead_name(n) for n in e.leads]
    terr = str(rng.choice(list(_AUG_TERRITORY)))
    (lo, hi), prof = _AUG_TERRITORY[terr]
    amp = float(np.exp(rng.uniform(np.log(0.06), np.log(0.35))))  # mV in the territory
    theta = np.radians(rng.uniform(lo, hi))
    limb_gain = rng.uniform(0.0, 0.4) if terr == "anterior" else 1.0
    w = np.zeros(len(names))
    for i, n in enumerate(names):
        if n in _LIMB_ANGLE:
            w[i] = limb_gain * np.cos(theta - np.radians(_LIMB_ANGLE[n]))
        elif n in _PRECORDIAL:
            jit = rng.uniform(0.6, 1.2)
            w[i] = prof[_PRECORDIAL.index(n)] * jit
    w *= amp
    recip = rng.uniform(0.3, 1.0)  # reciprocal depression is partial
    w = np.where(w < 0, w * recip, w)
    t_inv = rng.random() < 0.4
    t_depth = rng.uniform(0.3, 1.2) if t_inv else 0.0
    out = e.x.copy()
    cols = {"qrs_off": 2, "t_off": 5}
    n = out.shape[1]
    for pos, ok in zip(bf.positions, bf.present, strict=True):
        if not (ok[cols["qrs_off"]] and ok[cols["t_off"]]):
            continue
        j, t_end = int(pos[cols["qrs_off"]]), int(pos[cols["t_off"]])
        ln = t_end - j
        if ln < int(0.12 * e.fs) or j < 0 or t_end + int(0.04 * e.fs) >= n:
            continue
        tail = int(0.04 * e.fs)
        u = np.arange(ln + tail) / ln
        shape = np.where(
            u < 0.45, 1.0, 0.5 * (1 + np.cos(np.pi * np.clip((u - 0.45) / 0.65, 0, 1)))
        )
        # Smooth onset over 4 ms so the J point is not a step.
        ramp = min(len(shape), max(1, int(0.004 * e.fs)))
        shape[:ramp] *= np.linspace(0.5, 1.0, ramp)
        if t_inv:  # terminal T inversion, in the elevated leads only
            bump = np.exp(-0.5 * ((u - 0.85) / 0.12) ** 2)
            shape_inv = shape - t_depth * 1.6 * bump
        else:
            shape_inv = shape
        seg = slice(j, j + len(shape))
        for i in range(len(names)):
            if w[i] == 0.0:
                continue
            out[i, seg] += w[i] * (shape_inv if w[i] > 0 else shape)
    return out, terr


def _analyse(e: ds.Example) -> Analysis:
    return analyze(e.x, e.fs, e.leads, age_years=e.age, sex=e.sex)


def _sources(root: Path) -> list[ds.Example]:
    out: list[ds.Example] = []
    out += list(ds._ptbxl(root / "ptbxl_subset"))
    out += list(ds._ludb(root / "ludb"))
    out += list(ds._dx_examples(root / "cpsc2018_cinc2020", "cpsc2018"))
    out += list(ds._dx_examples(root / "cinc2021_samples", "cinc2021"))
    out += ds.load_external_stemi(root)
    return out


def _split(e: ds.Example) -> str | None:
    """pool / test / None (not usable: STEMI label unknown)."""
    pos = bool(e.labels[_STEMI])
    if e.dataset in ("ptbdb_10s", "ptbdb_records"):
        return "pool" if pos else "test"
    if not e.known[_STEMI]:
        return None
    if pos:
        return "pool"
    if e.dataset == "ptbxl":
        return "test" if e.split == "test" else "pool"
    if e.dataset == "ludb":
        return "test" if e.split == "test" else "pool"
    return "pool"


def build_rows(root: Path = ds.SHARED, n_aug: int = 3, seed: int = 20261124) -> list[Row]:
    """Analyse every record, and ``n_aug`` augmented copies of each pool negative."""
    rng = np.random.default_rng(seed)
    rows: list[Row] = []
    examples = _sources(root)
    log.info("analysing %d records through edge_agent.analyze", len(examples))
    for e in examples:
        split = _split(e)
        if split is None:
            continue
        y = int(e.labels[_STEMI])
        a = _analyse(e)
        tags = dict(e.tags)
        if e.known[_NORMAL] and e.labels[_NORMAL]:
            tags["normal"] = "1"
        if e.sex:
            tags["sex"] = e.sex
        if e.age is not None:
            tags["age"] = str(e.age)
        if any(
            f.code == "STEMI" and f.source.startswith("rules:") for f in a.triage.findings
        ):
            tags["rules_stemi"] = "1"
        fd = feature_table(a)
        rows.append(
            Row(e.dataset, e.record, e.patient, split, y, _row_x(fd), "real", tags, fd)
        )
        lbbb = bool(e.labels[ds.CLASSES.index("LBBB")])
        if split != "pool" or y or len(e.leads) < 12 or e.tags.get("paced") or lbbb:
            continue
        for _ in range(n_aug):
            got = inject_st(e, a, rng)
            if got is None:
                continue
            xa, terr = got
            ea = ds.Example(
                e.dataset,
                e.record,
                e.patient,
                e.split,
                e.fs,
                e.leads,
                xa,
                e.labels,
                e.known,
            )
            fa = feature_table(_analyse(ea))
            rows.append(
                Row(e.dataset, e.record, e.patient, "pool", 1, _row_x(fa), f"aug:{terr}",
                    tags, fa)
            )  # fmt: skip
    return rows
