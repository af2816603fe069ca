"""The one in-memory record every reader returns, and its validating constructor."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

import numpy as np
from numpy.typing import ArrayLike, NDArray

from edge_agent.errors import InvalidSignalError, RecordFormatError
from edge_agent.types import normalize_lead_name

__all__ = ["FS_MAX_HZ", "FS_MIN_HZ", "EcgRecord", "build_record", "normalize_leads"]

FS_MIN_HZ = 100.0
FS_MAX_HZ = 1000.0
_EMPTY: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True, slots=True, eq=False)
class EcgRecord:
    """An ECG read from a cart export, in the project's array contract.

    ``eq=False``: a generated ``==`` would compare the arrays element-wise and fail
    ("truth value of an array is ambiguous"), and hashing would fail on the array; records
    compare and hash by identity.

    Attributes
    ----------
    signal : NDArray[np.float64], shape (leads, samples)
        C-contiguous, in mV, finite.
    fs : float
        Sampling frequency in Hz (100-1000).
    leads : tuple of str
        Lead names normalised by :func:`edge_agent.types.normalize_lead_name`
        (``I, II, III, aVR, aVL, aVF, V1-V6``); leads outside the 12 standard ones
        (Frank ``vx``, ``V3R``, ...) keep their own (stripped) spelling. Unique.
    source : str
        Path of the file (or WFDB record stem) the record was read from.
    format : str
        ``"wfdb"``, ``"aecg"``, ``"dicom"`` or ``"csv"``.
    patient_id : str or None
        Pseudonymous patient id when the format carries one.
    age_years : float or None
        Age at acquisition.
    sex : str or None
        ``"M"`` or ``"F"``.
    acquired_at : datetime or None
        Acquisition time; timezone-aware only when the file states the offset.
    extra : Mapping[str, str]
        Everything else worth keeping (diagnoses, comments, missing files...).
    """

    signal: NDArray[np.float64]
    fs: float
    leads: tuple[str, ...]
    source: str
    format: str
    patient_id: str | None = None
    age_years: float | None = None
    sex: str | None = None
    acquired_at: datetime | None = None
    extra: Mapping[str, str] = field(default_factory=lambda: _EMPTY)

    def __post_init__(self) -> None:
        if self.signal.ndim != 2 or self.signal.dtype != np.float64:
            raise InvalidSignalError(
                "record signal breaks the array contract",
                path=self.source,
                expected="float64 (leads, samples)",
                got=f"{self.signal.dtype} shape {self.signal.shape}",
            )
        if self.signal.shape[0] != len(self.leads):
            raise InvalidSignalError(
                "lead names do not match the signal",
                path=self.source,
                expected=f"{self.signal.shape[0]} names",
                got=f"{len(self.leads)}",
            )

    @property
    def n_samples(self) -> int:
        """Number of samples per lead."""
        return int(self.signal.shape[1])

    @property
    def duration_s(self) -> float:
        """Record length in seconds."""
        return self.n_samples / self.fs


def normalize_leads(names: Sequence[str], *, path: str) -> tuple[str, ...]:
    """Normalise lead names and reject empty or duplicate ones.

    Raises
    ------
    RecordFormatError
        An empty name, or two names that normalise to the same lead (``"II"`` and
        ``"MLII"``), naming the file and the lead.
    """
    out: list[str] = []
    for i, raw in enumerate(names):
        name = normalize_lead_name(str(raw))
        if not name:
            raise RecordFormatError(
                "empty lead name", path=path, expected="a lead name", got=f"column {i + 1}"
            )
        if name in out:
            raise RecordFormatError(
                "duplicate lead name",
                path=path,
                lead=name,
                expected="each lead once",
                got=f"{name!r} at positions {out.index(name) + 1} and {i + 1}",
            )
        out.append(name)
    return tuple(out)


def build_record(
    signal: ArrayLike,
    fs: float,
    leads: Sequence[str],
    *,
    source: str,
    format: str,  # noqa: A002 - the field's name
    patient_id: str | None = None,
    age_years: float | None = None,
    sex: str | None = None,
    acquired_at: datetime | None = None,
    extra: Mapping[str, str] | None = None,
) -> EcgRecord:
    """Validate what a reader decoded and return the :class:`EcgRecord`.

    Parameters
    ----------
    signal : array_like, shape (leads, samples)
        Decoded samples, already in mV.
    fs : float
        Sampling frequency in Hz.
    leads : sequence of str
        Raw lead names (normalised here).
    source, format, patient_id, age_years, sex, acquired_at, extra
        As in :class:`EcgRecord`.

    Raises
    ------
    RecordFormatError
        Zero leads, no samples, fs outside 100-1000 Hz, NaN/inf samples (naming the
        lead), lead names not matching the signal, empty or duplicate lead names.
    """
    x = np.ascontiguousarray(signal, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] == 0:
        raise RecordFormatError(
            "record has no leads", path=source, expected=">= 1 lead", got=f"shape {x.shape}"
        )
    if x.shape[1] == 0:
        raise RecordFormatError(
            "record has no samples", path=source, expected=">= 1 sample", got="0"
        )
    if not (np.isfinite(fs) and FS_MIN_HZ <= float(fs) <= FS_MAX_HZ):
        raise RecordFormatError(
            "sampling frequency out of range",
            path=source,
            expected=f"{FS_MIN_HZ:g}-{FS_MAX_HZ:g} Hz",
            got=f"{fs:g} Hz",
        )
    if len(leads) != x.shape[0]:
        raise RecordFormatError(
            "lead names do not match the signal",
            path=source,
            expected=f"{x.shape[0]} lead names",
            got=f"{len(leads)}",
        )
    names = normalize_leads(leads, path=source)
    finite = np.isfinite(x)
    if not finite.all():
        bad = int(np.flatnonzero(~finite.all(axis=1))[0])
        count = int((~finite[bad]).sum())
        raise RecordFormatError(
            "missing or invalid samples (NaN)",
            path=source,
            lead=names[bad],
            expected="finite samples",
            got=f"{count} invalid of {x.shape[1]}",
        )
    if sex is not None and sex not in ("M", "F"):
        sex = None
    if age_years is not None and not (np.isfinite(age_years) and 0 <= age_years < 150):
        age_years = None
    return EcgRecord(
        signal=x,
        fs=float(fs),
        leads=names,
        source=source,
        format=format,
        patient_id=patient_id,
        age_years=age_years,
        sex=sex,
        acquired_at=acquired_at,
        extra=MappingProxyType(dict(extra or {})),
    )
