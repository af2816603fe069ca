"""Readers and writers of cart export formats into the array contract.

Every reader returns an :class:`EcgRecord` (signal ``(leads, samples)`` float64 in mV,
``fs`` in Hz, normalised lead names, demographics when the format carries them) and turns
every malformed input into a :class:`~edge_agent.errors.RecordFormatError` naming the file
and the problem (:class:`~edge_agent.errors.UnsupportedFormatError` for formats not read).

Lead names: ``I, II, III, aVR, aVL, aVF, V1-V6`` whatever the file's spelling (``MLII``,
``avf``, ``v3``...); leads outside these twelve (Frank ``vx``, ``V3R``, ``V4R``...) are
kept under their own stripped name. Duplicate names (after normalisation) are rejected.
Leads keep the order of the file.

Formats: WFDB (``.hea`` + ``.dat``/``.mat``), HL7 aECG (``.xml``), DICOM 12-lead and
General ECG waveforms (``.dcm``, also written), CSV (``.csv``, also written), SCP-ECG
(``.scp``, decoded by the ecgdatakit library).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, cast

from edge_agent.errors import RecordFormatError, UnsupportedFormatError
from edge_agent.io._paths import WFDB_SUFFIXES, record_stem
from edge_agent.io.aecg_reader import read_aecg
from edge_agent.io.csv_io import read_csv, write_csv
from edge_agent.io.record import EcgRecord, build_record
from edge_agent.types import STANDARD_12, normalize_lead_name

if TYPE_CHECKING:
    from edge_agent.io.dicom_io import read_dicom, write_dicom_ecg
    from edge_agent.io.scp_reader import read_scp
    from edge_agent.io.wfdb_reader import read_wfdb

__all__ = [
    "RECORD_SUFFIXES",
    "EcgRecord",
    "build_record",
    "iter_record_paths",
    "read_aecg",
    "read_csv",
    "read_dicom",
    "read_record",
    "read_scp",
    "read_wfdb",
    "write_csv",
    "write_dicom_ecg",
]

# wfdb (through pandas), pydicom and ecgdatakit take seconds to import on a cart: their
# readers load on first use, so listing a folder or importing the package stays cheap.
_LAZY = {
    "read_dicom": "edge_agent.io.dicom_io",
    "write_dicom_ecg": "edge_agent.io.dicom_io",
    "read_scp": "edge_agent.io.scp_reader",
    "read_wfdb": "edge_agent.io.wfdb_reader",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def _reader(name: str) -> Callable[[Path], EcgRecord]:
    """The reader function called ``name``, importing its module on first use."""
    found = globals().get(name)
    if found is None:
        found = __getattr__(name)
    return cast("Callable[[Path], EcgRecord]", found)


_READERS: dict[str, str] = {
    ".xml": "read_aecg",
    ".dcm": "read_dicom",
    ".dicom": "read_dicom",
    ".csv": "read_csv",
    ".scp": "read_scp",
}
RECORD_SUFFIXES: tuple[str, ...] = (".hea", *_READERS)
"""Suffixes :func:`iter_record_paths` lists (a WFDB record once, as its ``.hea``)."""


def read_record(path: str | PathLike[str]) -> EcgRecord:
    """Read any supported cart export, choosing the reader by extension, then content.

    Parameters
    ----------
    path : str or path-like
        A WFDB ``.hea``/``.dat``/``.mat`` file or record stem, an HL7 aECG ``.xml``, a
        DICOM ``.dcm``, an SCP-ECG ``.scp`` or a ``.csv`` (which must state fs in its
        ``# fs=...`` line).
        Other suffixes are recognised by content (DICOM preamble, XML).

    Raises
    ------
    RecordFormatError
        The file is missing or malformed (the message names the file and the problem).
    UnsupportedFormatError
        The file is of a format not read here.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix in WFDB_SUFFIXES or (not p.exists() and _has_header(p)):
        return _reader("read_wfdb")(p)
    if not p.is_file():
        raise RecordFormatError(
            "file not found", path=str(p), expected="an existing file", got="no such file"
        )
    name = _READERS.get(suffix) or _READERS.get(_sniff(p))
    if name is None:
        raise UnsupportedFormatError(
            "unsupported record format",
            path=str(p),
            expected="WFDB (.hea/.dat/.mat), aECG .xml, DICOM .dcm, CSV .csv or SCP .scp",
            got=f"suffix {suffix!r}" if suffix else "no suffix",
        )
    return _reader(name)(p)


def _sniff(p: Path) -> str:
    try:
        with p.open("rb") as fh:
            head = fh.read(512)
    except OSError as exc:
        raise RecordFormatError("cannot read the file", path=str(p), got=str(exc)) from exc
    if head[128:132] == b"DICM":
        return ".dcm"
    if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
        return ".xml"
    return ""


def _has_header(p: Path) -> bool:
    stem = record_stem(p)
    return stem.with_name(stem.name + ".hea").is_file()


def iter_record_paths(path_or_dir: str | PathLike[str]) -> list[Path]:
    """List the records to read under a file or directory (not recursive), sorted.

    A WFDB record appears once, as its ``.hea`` file (whatever data files it has);
    ``.dcm``/``.dicom`` and ``.scp`` files appear as they are; ``.xml`` files only when
    they look like HL7 aECG (``AnnotatedECG`` near the start) and ``.csv`` files only when
    they look like ECG tables (a ``# fs=`` line or a standard lead name in the header),
    so a ``labels.csv`` or a settings XML beside the records is not listed. A file path
    is returned as is (a WFDB ``.dat``/``.mat`` as its ``.hea``).
    """
    p = Path(path_or_dir)
    if not p.is_dir():
        if p.suffix.lower() in (".dat", ".mat"):
            return [p.with_suffix(".hea")]
        return [p]
    found = [q for q in p.iterdir() if q.suffix.lower() in RECORD_SUFFIXES and q.is_file()]
    return sorted(q for q in found if _looks_like_record(q))


def _looks_like_record(p: Path) -> bool:
    suffix = p.suffix.lower()
    if suffix not in (".xml", ".csv"):
        return True
    try:
        with p.open("rb") as fh:
            head = fh.read(4096)
    except OSError:
        return True  # listed, so that reading it reports the problem
    if suffix == ".xml":
        return b"AnnotatedECG" in head
    lines = head.decode("utf-8", "replace").lstrip("\ufeff").splitlines()
    if any(ln.lstrip().startswith("#") and "fs=" in ln for ln in lines[:5]):
        return True
    header = next(
        (ln for ln in lines if ln.strip() and not ln.lstrip().startswith("#")), ""
    )
    cells = re.split(r"[,;\t]", header)
    return any(normalize_lead_name(c.strip().strip('"')) in STANDARD_12 for c in cells)
