"""Loaders and beat-by-beat scoring for the R-peak benchmark (MIT-BIH, CPSC 2021, LUDB).

Scoring rule (the same for every detector):

- Reference beats are the annotations whose symbol is a beat label of the MIT format
  (``BEAT_SYMBOLS``: N L R B A a J S V r F e j n E / f Q ? and ``!``); non-beat
  annotations (rhythm ``+``, noise ``~``, artefact ``|``, comments ``"``, signal-quality
  and other marks) are ignored.
- As in ANSI/AAMI EC57 (``bxb``), ventricular flutter/fibrillation episodes (between ``[``
  and ``]``) are excluded from QRS-detection scoring: reference beats and detections inside
  them are not counted. In MIT-BIH this only affects record 207 (472 ``!`` flutter waves in
  five episodes).
- The whole record is scored (no learning period excluded), with one exception: reference
  beats and detections closer than the match tolerance to either end of the record are
  ignored, so a beat cut by the record boundary is neither a miss nor a false detection.
- A detection matches a reference beat when they are at most ``tol_s`` (150 ms) apart;
  matching is one-to-one, in time order.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import wfdb
from numpy.typing import NDArray

BEAT_SYMBOLS = frozenset("NLRBAaJSVrFejnE/fQ?!")
TOL_S = 0.15


@dataclass(frozen=True, slots=True)
class Record:
    """One annotated record: signal (leads, samples) in mV, reference R positions."""

    name: str
    signal: NDArray[np.float64]
    fs: float
    beats: NDArray[np.int64]
    span: tuple[int, int]
    excluded: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True, slots=True)
class Score:
    """Beat-by-beat counts for one record."""

    tp: int
    fn: int
    fp: int

    @property
    def se(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def ppv(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def f1(self) -> float:
        d = 2 * self.tp + self.fn + self.fp
        return 2 * self.tp / d if d else 1.0


def _keep(
    pos: NDArray[np.int64], span: tuple[int, int], excluded: tuple[tuple[int, int], ...]
) -> NDArray[np.int64]:
    ok = (pos >= span[0]) & (pos <= span[1])
    for a, b in excluded:
        ok &= (pos < a) | (pos > b)
    return pos[ok]


def score(detections: NDArray[np.int64], record: Record, tol_s: float = TOL_S) -> Score:
    """Match detections to the reference beats of ``record`` (see the module rules)."""
    tol = int(round(tol_s * record.fs))
    span = (record.span[0] + tol, record.span[1] - tol)
    ref = np.sort(_keep(record.beats, span, record.excluded))
    det = np.sort(_keep(np.asarray(detections, dtype=np.int64), span, record.excluded))
    i = j = tp = 0
    ref_l, det_l = ref.tolist(), det.tolist()
    while i < len(ref_l) and j < len(det_l):
        d = det_l[j] - ref_l[i]
        if abs(d) <= tol:
            tp += 1
            i += 1
            j += 1
        elif d < 0:
            j += 1
        else:
            i += 1
    return Score(tp=tp, fn=len(ref_l) - tp, fp=len(det_l) - tp)


def pooled(scores: list[Score]) -> Score:
    """Gross (pooled) counts over records."""
    return Score(
        tp=sum(s.tp for s in scores),
        fn=sum(s.fn for s in scores),
        fp=sum(s.fp for s in scores),
    )


def _beats_and_episodes(
    ann: wfdb.Annotation,
) -> tuple[NDArray[np.int64], tuple[tuple[int, int], ...]]:
    sym = np.asarray(ann.symbol)
    smp = np.asarray(ann.sample, dtype=np.int64)
    beats = smp[np.isin(sym, sorted(BEAT_SYMBOLS))]
    on, off = smp[sym == "["], smp[sym == "]"]
    episodes = tuple((int(a), int(b)) for a, b in zip(on, off, strict=False))
    return beats, episodes


def load_wfdb_beats(path: Path) -> Record:
    """A WFDB record with ``.atr`` beat annotations (MIT-BIH, CPSC 2021)."""
    rec = wfdb.rdrecord(str(path))
    ann = wfdb.rdann(str(path), "atr")
    beats, episodes = _beats_and_episodes(ann)
    signal = np.ascontiguousarray(rec.p_signal.T, dtype=np.float64)
    return Record(
        name=path.name,
        signal=signal,
        fs=float(rec.fs),
        beats=beats,
        span=(0, signal.shape[1] - 1),
        excluded=episodes,
    )


def load_ludb(path: Path, lead: str = "ii") -> Record:
    """A LUDB record; R = the QRS-peak ``N`` marks of the ``lead`` annotation.

    All ``N`` marks count, not only those directly between ``(`` and ``)``: LUDB leaves
    the onset mark out for some QRS complexes (e.g. record 95) or puts it after the peak
    (record 111), and requiring the brackets drops those beats from the reference.

    LUDB annotates only part of each 10 s record, so the scored span is from the first to
    the last annotation mark of that lead (widened here by the tolerance that
    :func:`score` trims from both ends).
    """
    rec = wfdb.rdrecord(str(path))
    ann = wfdb.rdann(str(path), lead)
    sym = np.asarray(ann.symbol)
    smp = np.asarray(ann.sample, dtype=np.int64)
    # LUDB marks wave peaks 'p', 'N' (QRS) and 't', usually between '(' and ')'; some
    # QRS peaks lack their onset mark or have it one sample late, so every 'N' counts
    inner = sym == "N"
    signal = np.ascontiguousarray(rec.p_signal.T, dtype=np.float64)
    pad = int(round(TOL_S * rec.fs))
    return Record(
        name=path.name,
        signal=signal,
        fs=float(rec.fs),
        beats=smp[inner],
        span=(int(smp.min()) - pad, int(smp.max()) + pad),
    )


def record_names(folder: Path) -> list[str]:
    """Record names from ``RECORDS`` when present, else from the ``.hea`` files."""
    listing = folder / "RECORDS"
    if listing.is_file():
        return listing.read_text().split()
    return sorted(p.stem for p in folder.glob("*.hea"))
