"""SCP-ECG (EN 1064 / ISO 11073-91064) reader, through the ecgdatakit library.

We do not decode SCP-ECG ourselves: its Huffman tables, reference-beat subtraction and
bimodal compression are easy to get subtly wrong. ``ecgdatakit`` (Apache-2.0, UMMISCO/IRD,
actively released, pure Python on numpy) parses Sections 0-11 including those schemes;
this module only maps its record onto :class:`EcgRecord` and its failures onto
:class:`~edge_agent.errors.RecordFormatError`. A CRC mismatch is treated as corruption
(an error), not a warning. When ecgdatakit is not installed, ``.scp`` files raise
:class:`~edge_agent.errors.UnsupportedFormatError` saying so.
"""

from __future__ import annotations

import logging
import warnings
from datetime import datetime
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edge_agent.errors import RecordFormatError, UnsupportedFormatError
from edge_agent.io.record import EcgRecord, build_record

__all__ = ["read_scp"]

logger = logging.getLogger(__name__)

_UNIT_TO_MV = {"uv": 1e-3, "µv": 1e-3, "mv": 1.0, "v": 1e3, "nv": 1e-6}
_MAX_SCP_BYTES = 64 * 1024 * 1024


def read_scp(path: str | PathLike[str]) -> EcgRecord:
    """Read an SCP-ECG file's rhythm data (Section 6) into an :class:`EcgRecord`.

    Raises
    ------
    RecordFormatError
        Truncated or inconsistent file, CRC mismatch, uncalibrated samples (no AVM),
        leads of different rates or lengths.
    UnsupportedFormatError
        ecgdatakit is not installed, or the file holds only SCP-ECG v3 long-term data.
    """
    src = str(path)
    parser, kit_errors, checksum_warning = _parser(src)
    p = Path(path)
    try:
        if p.stat().st_size > _MAX_SCP_BYTES:
            raise RecordFormatError(
                "SCP-ECG file too large", path=src, expected=f"<= {_MAX_SCP_BYTES} bytes"
            )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            rec = parser.parse(p)
    except RecordFormatError:
        raise
    except kit_errors[0] as exc:  # ecgdatakit's UnsupportedFormatError
        raise UnsupportedFormatError(str(exc), path=src) from exc
    except Exception as exc:  # CorruptedFileError and anything a bad file provokes
        raise RecordFormatError(
            "unreadable SCP-ECG file", path=src, got=f"{type(exc).__name__}: {exc}"[:300]
        ) from exc
    for w in caught:
        if issubclass(w.category, checksum_warning):
            raise RecordFormatError(
                "SCP-ECG checksum mismatch (file corrupted)", path=src, got=str(w.message)
            )
        logger.warning("%s: ecgdatakit: %s", src, w.message)
    return _to_record(rec, src)


def _parser(src: str) -> tuple[Any, tuple[type[Exception], ...], type[Warning]]:
    try:
        from ecgdatakit.exceptions import ChecksumWarning
        from ecgdatakit.exceptions import UnsupportedFormatError as KitUnsupported
        from ecgdatakit.parsing.parsers.scp_ecg import SCPECGParser
    except ImportError as exc:
        raise UnsupportedFormatError(
            "SCP-ECG needs the ecgdatakit package",
            path=src,
            expected="pip install ecgdatakit",
            got=str(exc),
        ) from exc
    return SCPECGParser(), (KitUnsupported,), ChecksumWarning


def _to_record(rec: Any, src: str) -> EcgRecord:
    leads = list(rec.leads or [])
    if not leads:
        raise RecordFormatError("SCP-ECG has no rhythm leads", path=src, got="0 leads")
    rates = {int(lead.sampling_rate) for lead in leads}
    lengths = {len(lead.samples) for lead in leads}
    if len(rates) != 1 or len(lengths) != 1:
        raise RecordFormatError(
            "SCP-ECG leads differ in sampling rate or length",
            path=src,
            expected="one rate and one length",
            got=f"rates {sorted(rates)}, lengths {sorted(lengths)}",
        )
    rows = [_lead_mv(lead, src) for lead in leads]
    patient = rec.patient
    when = rec.recording.date if isinstance(rec.recording.date, datetime) else None
    sex = str(patient.sex or "").strip().upper()[:1] or None
    extra = {
        k: str(v)
        for k, v in (
            ("manufacturer", rec.recording.device.manufacturer),
            ("device_model", rec.recording.device.model),
        )
        if v
    }
    statements = [text for _, text in (rec.interpretation.statements or []) if text]
    if statements:
        extra["interpretation"] = "; ".join(statements)
    return build_record(
        np.vstack(rows),
        float(rates.pop()),
        [str(lead.label) for lead in leads],
        source=src,
        format="scp",
        patient_id=str(patient.patient_id or "").strip() or None,
        age_years=float(patient.age) if patient.age is not None else None,
        sex=sex,
        acquired_at=when,
        extra=extra,
    )


def _lead_mv(lead: Any, src: str) -> NDArray[np.float64]:
    try:
        physical = lead.to_physical() if lead.is_raw else lead
    except Exception as exc:  # ecgdatakit: RawSamplesError / ValueError when uncalibrated
        raise RecordFormatError(
            "SCP-ECG lead is not calibrated (no amplitude multiplier)",
            path=src,
            lead=str(lead.label),
            got=str(exc)[:200],
        ) from exc
    unit = str(physical.units or "").strip().lower()
    if unit not in _UNIT_TO_MV:
        raise RecordFormatError(
            "SCP-ECG lead without a calibrated unit (no amplitude multiplier)",
            path=src,
            lead=str(lead.label),
            expected="uV or mV",
            got=repr(physical.units),
        )
    out: NDArray[np.float64] = (
        np.asarray(physical.samples, dtype=np.float64) * _UNIT_TO_MV[unit]
    )
    return out
