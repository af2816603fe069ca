"""Labelled 10 s examples from ``../shared/data`` for training and evaluating the triage.

Used by ``models/train.py`` (training, validation, test) and ``bench/triage.py``
(held-out test and the external STEMI sets). Every example keeps its raw signal in mV at
the recording's own fs, so the bench can run it through ``edge_agent.analyze``.

Splits are by patient and fixed (no randomness):

- PTB-XL subset: ``strat_fold`` 1-8 train, 9 validation, 10 test (PTB-XL's folds keep
  each patient in one fold).
- LUDB: record = patient. The five STEMI records (7, 21, 33, 55, 69) are test only and
  never trained on; the others by ``id % 5``: 0 test, 1 validation, else train.
- CinC 2017: record = patient (the challenge gives no patient id); ``crc32(name) % 20``:
  0-2 test, 3-5 validation, else train. Training uses up to three 10 s windows per
  record; validation and test records are kept whole.
- MIT-BIH: by patient, fixed lists so that each split holds LBBB, RBBB, AF and PVC
  patients: test 103 105 111 124 200 203 208 221 233, validation 106 116 119 212 214
  219 228, the rest train (201 and 202, one patient, both train); paced records (102,
  104, 107, 217) skipped. Up to 12 windows per kind (PVC, AF, LBBB, RBBB, other) per record.
- CPSC 2018 / CinC 2021 samples: train only (tiny).
- PTB (``ptbdb_10s``, ``ptbdb_records``): external test only (acute MI, healthy controls).
- ``ptbxl_normalized_extra`` is not used: z-scored, so it carries no ST amplitude.
"""

from __future__ import annotations

import ast
import csv
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import wfdb
from numpy.typing import NDArray

from edge_agent.types import normalize_lead_name

__all__ = ["CLASSES", "SHARED", "Example", "load_external_stemi", "load_split", "read_wfdb"]

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CLASSES: tuple[str, ...] = (
    "NORMAL",
    "AF",
    "STEMI",
    "MI_OLD",
    "PVC",
    "LBBB",
    "RBBB",
    "NOISE",
)
_C = {c: i for i, c in enumerate(CLASSES)}
WINDOW_S = 10.0
LUDB_STEMI = (7, 21, 33, 55, 69)
PTB_ACUTE = ("patient226", "patient230", "patient231")


@dataclass
class Example:
    """One 10 s labelled record window."""

    dataset: str
    record: str
    patient: str
    split: str
    fs: float
    leads: tuple[str, ...]
    x: NDArray[np.float64]  # (leads, samples), mV
    labels: NDArray[np.float32]  # (classes,)
    known: NDArray[np.bool_]  # (classes,) False where the label is unknown
    age: float | None = None
    sex: str | None = None
    tags: dict[str, str] = field(default_factory=dict)


def _lab(pos: set[str], known: set[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    y = np.zeros(len(CLASSES), np.float32)
    k = np.zeros(len(CLASSES), bool) if known is not None else np.ones(len(CLASSES), bool)
    for c in pos:
        y[_C[c]] = 1.0
    if known is not None:
        for c in known | pos:
            k[_C[c]] = True
    return y, k


def read_wfdb(
    path: Path, channels: list[int] | None = None
) -> tuple[np.ndarray, float, tuple]:
    """A WFDB record as (leads, samples) mV (NaN as 0), its fs and normalised lead names."""
    rec = wfdb.rdrecord(str(path), channels=channels)
    x = np.nan_to_num(np.asarray(rec.p_signal, dtype=np.float64).T)
    return x, float(rec.fs), tuple(normalize_lead_name(n) for n in rec.sig_name)


def _crc(name: str, mod: int) -> int:
    return zlib.crc32(name.encode()) % mod


# ------------------------------------------------------------------------- PTB-XL

_MI = {"IMI", "ASMI", "ILMI", "AMI", "ALMI", "LMI", "IPLMI", "IPMI", "PMI"}
_INJ = {"INJAS", "INJAL", "INJIN", "INJLA", "INJIL"}


def _ptbxl(root: Path) -> Iterator[Example]:
    with open(root / "ptbxl_database.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        codes = ast.literal_eval(row["scp_codes"])
        fold = int(row["strat_fold"])
        split = "test" if fold == 10 else "val" if fold == 9 else "train"
        acute = row["infarction_stadium1"] in ("Stadium I", "Stadium I-II")
        mi = bool(_MI & set(codes))
        pos = set()
        if codes.get("NORM", 0) >= 50:
            pos.add("NORMAL")
        if {"AFIB", "AFLT"} & set(codes):
            pos.add("AF")
        if mi and acute:
            pos.add("STEMI")
        elif mi:
            pos.add("MI_OLD")
        for code, cls in (("PVC", "PVC"), ("CLBBB", "LBBB"), ("CRBBB", "RBBB")):
            if code in codes:
                pos.add(cls)
        y, k = _lab(pos)
        x, fs, leads = read_wfdb(root / row["filename_hr"])
        age = float(row["age"]) if row["age"] and float(row["age"]) < 120 else None
        tags = {"inj": "1"} if _INJ & set(codes) else {}
        yield Example(
            "ptbxl",
            row["ecg_id"],
            row["patient_id"],
            split,
            fs,
            leads,
            x,
            y,
            k,
            age,
            "male" if row["sex"] == "0" else "female",
            tags,
        )


# --------------------------------------------------------------------------- LUDB


def _ludb(root: Path) -> Iterator[Example]:
    with open(root / "ludb.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        rid = int(row["ID"])
        if (
            not (root / "data" / f"{rid}.hea").is_file()
            and not (root / f"{rid}.hea").is_file()
        ):
            continue
        path = root / "data" / str(rid) if (root / "data").is_dir() else root / str(rid)
        if rid in LUDB_STEMI:
            split = "test"
        else:
            split = {0: "test", 1: "val"}.get(rid % 5, "train")
        rhythm = row["Rhythms"].lower()
        cond = row["Conduction abnormalities"].lower()
        isch = row["Ischemia"].lower()
        pacing = row["Cardiac pacing"].strip()
        pos = set()
        if "atrial fibrillation" in rhythm or "flutter" in rhythm:
            pos.add("AF")
        # "incomplete ... bundle branch block" is not a complete BBB (negative, as
        # PTB-XL's IRBBB/ILBBB are): match "complete" only as a whole word.
        if re.search(r"(^|[^a-z])complete left bundle", cond):
            pos.add("LBBB")
        if re.search(r"(^|[^a-z])complete right bundle", cond):
            pos.add("RBBB")
        if "ventricular extrasystole" in row["Extrasystolies"].lower():
            pos.add("PVC")
        if re.search(r"(^|[\s|])stemi:", isch):
            pos.add("STEMI")
        if rid in LUDB_STEMI:
            pos.add("STEMI")
        if "scar" in isch:
            pos.add("MI_OLD")
        abnormal = any(
            row[c].strip()
            for c in (
                "Conduction abnormalities",
                "Extrasystolies",
                "Hypertrophies",
                "Cardiac pacing",
                "Ischemia",
                "Non-specific repolarization abnormalities",
            )
        )
        if rhythm.startswith("sinus rhythm") and not abnormal:
            pos.add("NORMAL")
        y, k = _lab(pos)
        if "undefined ischemia" in isch:
            k[_C["MI_OLD"]] = False
            k[_C["STEMI"]] = rid in LUDB_STEMI
        x, fs, leads = read_wfdb(path)
        sex = {"M": "male", "F": "female"}.get(row["Sex"].strip())
        try:
            age = float(row["Age"].strip().strip(">"))
        except ValueError:
            age = None
        tags = {"paced": "1"} if pacing else {}
        yield Example(
            "ludb", str(rid), f"ludb{rid}", split, fs, leads, x, y, k, age, sex, tags
        )


# ---------------------------------------------------------------------- CinC 2017


def _cinc2017(root: Path, train_windows: int = 3) -> Iterator[Example]:
    with open(root / "REFERENCE.csv", newline="") as fh:
        rows = [r for r in csv.reader(fh) if r and r[0] != "record"]
    for name, cls in rows:
        h = _crc(name, 20)
        split = "test" if h < 3 else "val" if h < 6 else "train"
        if cls == "~":
            y, k = _lab({"NOISE"}, {"NOISE", "NORMAL", "AF"})
        elif cls == "A":
            y, k = _lab({"AF"}, {"AF", "NORMAL", "NOISE"})
        elif cls == "N":
            y, k = _lab(set(), {"AF", "NOISE", "PVC", "LBBB", "RBBB"})
        else:  # other rhythm: not normal, not AF, not noise
            y, k = _lab(set(), {"AF", "NOISE", "NORMAL"})
        x, fs, _ = read_wfdb(root / name)
        n = int(WINDOW_S * fs)
        starts = [0] if split != "train" else list(range(0, max(x.shape[1] - n, 0) + 1, n))
        for i, s in enumerate(starts[:train_windows]):
            # Validation/test records are kept whole (9-61 s, as recorded): the rhythm
            # rules see every beat; the model input takes the first 10 s.
            seg = x[:, s : s + n] if split == "train" else x
            if seg.shape[1] < int(9 * fs):
                continue
            yield Example(
                "cinc2017",
                f"{name}#{i}",
                name,
                split,
                fs,
                ("I",),
                seg,
                y,
                k,
                tags={"class": cls},
            )


# ------------------------------------------------------------------------- MIT-BIH

_MITDB_SKIP = {"102", "104", "107", "217"}


_MITDB_TEST = {"103", "105", "111", "124", "200", "203", "208", "221", "233"}
_MITDB_VAL = {"106", "116", "119", "212", "214", "219", "228"}


def _mitdb_split(rec: str) -> str:
    return "test" if rec in _MITDB_TEST else "val" if rec in _MITDB_VAL else "train"


def _mitdb(root: Path, per_kind: int = 12, seed: int = 7) -> Iterator[Example]:
    rng = np.random.default_rng(seed)
    records = sorted(p.stem for p in root.glob("*.hea"))
    for rec in records:
        if rec in _MITDB_SKIP:
            continue
        x, fs, leads = read_wfdb(root / rec)
        ann = wfdb.rdann(str(root / rec), "atr")
        samples = np.asarray(ann.sample)
        symbols = np.asarray(ann.symbol)
        aux = list(ann.aux_note)
        n = int(WINDOW_S * fs)
        n_win = x.shape[1] // n
        af_flag = np.zeros(x.shape[1], bool)
        current = None
        last = 0
        for s, note in zip(samples, aux, strict=True):
            note = note.strip("\x00").strip()
            if note.startswith("("):
                if current == "(AFIB" or current == "(AFL":
                    af_flag[last:s] = True
                current, last = note, s
        if current in ("(AFIB", "(AFL"):
            af_flag[last:] = True
        kinds: dict[str, list[int]] = {
            "pvc": [],
            "af": [],
            "lbbb": [],
            "rbbb": [],
            "other": [],
        }
        win_labels = {}
        for w in range(n_win):
            lo, hi = w * n, (w + 1) * n
            sel = (samples >= lo) & (samples < hi)
            sym = symbols[sel]
            beats = np.isin(sym, list("NLRBAaJSVrFejnE/fQ"))
            nb = int(beats.sum())
            if nb < 3:
                continue
            n_v = int(np.isin(sym, ["V", "E"]).sum())
            af = af_flag[lo:hi].mean() > 0.5
            lb = (sym == "L").sum() > 0.5 * nb
            rb = (sym == "R").sum() > 0.5 * nb
            pos = set()
            pos |= {"PVC"} if n_v >= 1 else set()
            pos |= {"AF"} if af else set()
            pos |= {"LBBB"} if lb else set()
            pos |= {"RBBB"} if rb else set()
            win_labels[w] = pos
            kind = (
                "pvc"
                if n_v
                else "af"
                if af
                else "lbbb"
                if lb
                else "rbbb"
                if rb
                else "other"
            )
            kinds[kind].append(w)
        chosen: list[int] = []
        for ws in kinds.values():
            if ws:
                take = rng.choice(ws, size=min(per_kind, len(ws)), replace=False)
                chosen.extend(int(t) for t in take)
        split = _mitdb_split(rec)
        for w in sorted(chosen):
            y, k = _lab(win_labels[w], {"PVC", "AF", "LBBB", "RBBB"})
            seg = x[:, w * n : (w + 1) * n]
            yield Example("mitdb", f"{rec}@{w * 10}s", rec, split, fs, leads, seg, y, k)


# ------------------------------------------------------------ CPSC 2018, CinC 2021

_SNOMED = {
    "164889003": "AF",
    "164890007": "AF",
    "164909002": "LBBB",
    "733534002": "LBBB",
    "59118001": "RBBB",
    "713427006": "RBBB",
    "427172004": "PVC",
    "17338001": "PVC",
}
_CPSC = {"AF": "AF", "RBBB": "RBBB", "LBBB": "LBBB", "PVC": "PVC"}


def _dx_examples(root: Path, name: str) -> Iterator[Example]:
    for hea in sorted(root.glob("*.hea")):
        dx = []
        for line in hea.read_text().splitlines():
            if "Dx" in line:
                dx = [d.strip() for d in line.split(":", 1)[1].split(",")]
        pos = {_SNOMED.get(d) or _CPSC.get(d) for d in dx} - {None}
        if dx in (["426783006"], ["Normal"]):
            pos.add("NORMAL")
        y, k = _lab(pos, {"NORMAL", "AF", "PVC", "LBBB", "RBBB", "NOISE"})  # type: ignore[arg-type]
        x, fs, leads = read_wfdb(hea.with_suffix(""))
        x = x[:, : int(WINDOW_S * fs)]
        yield Example(name, hea.stem, f"{name}:{hea.stem}", "train", fs, leads, x, y, k)


# -------------------------------------------------------------------------- public


def load_split(splits: set[str], root: Path = SHARED) -> list[Example]:
    """All examples of the given splits ("train", "val", "test") from the shared data."""
    out: list[Example] = []
    sources = [
        _ptbxl(root / "ptbxl_subset"),
        _ludb(root / "ludb"),
        _cinc2017(root / "cinc2017_af_subset"),
        _mitdb(root / "mitdb"),
    ]
    if "train" in splits:
        sources.append(_dx_examples(root / "cpsc2018_cinc2020", "cpsc2018"))
        sources.append(_dx_examples(root / "cinc2021_samples", "cinc2021"))
    for src in sources:
        out.extend(e for e in src if e.split in splits)
    return out


def load_external_stemi(root: Path = SHARED) -> list[Example]:
    """PTB acute-MI records (positives) and PTB healthy controls (must not fire).

    ``ptbdb_10s`` patients 226, 230, 231 (acute, 6-10 days) and the long records
    s0015lre, s0017lre, s0043lre cut into 10 s windows are positives; the healthy
    controls negatives. Old MI, BBB, hypertrophy and other PTB records are tagged but
    not labelled (``known`` False for STEMI).
    """
    out: list[Example] = []
    base = root / "ptbdb_10s"
    with open(base / "labels.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        rec = row["record"]
        patient = rec.split("_")[0]
        reason = row["reason_for_admission"]
        x, fs, leads = read_wfdb(base / rec, channels=list(range(12)))
        if patient in PTB_ACUTE:
            y, k = _lab({"STEMI"}, {"STEMI", "NORMAL"})
        elif reason == "Healthy control":
            y, k = _lab({"NORMAL"}, {"STEMI", "NORMAL"})
        else:
            y, k = _lab(set(), {"NORMAL"})
        sex = row.get("sex") or None
        age = float(row["age"]) if row.get("age", "n/a") not in ("n/a", "") else None
        yield_ex = Example(
            "ptbdb_10s",
            rec,
            patient,
            "external",
            fs,
            leads,
            x,
            y,
            k,
            age,
            sex,
            {"reason": reason},
        )
        out.append(yield_ex)
    recs = root / "ptbdb_records"
    for name in ("s0015lre", "s0017lre", "s0043lre"):
        x, fs, leads = read_wfdb(recs / name, channels=list(range(12)))
        n = int(WINDOW_S * fs)
        for w in range(x.shape[1] // n):
            y, k = _lab({"STEMI"}, {"STEMI", "NORMAL"})
            out.append(
                Example(
                    "ptbdb_records",
                    f"{name}@{w * 10}s",
                    name,
                    "external",
                    fs,
                    leads,
                    x[:, w * n : (w + 1) * n],
                    y,
                    k,
                    tags={"reason": "acute MI"},
                )
            )
    return out
