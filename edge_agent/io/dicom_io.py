"""DICOM 12-lead ECG and General ECG waveform objects: read and write (pydicom).

Reading takes one multiplex group of the Waveform Sequence (the ``RHYTHM`` one, or the
first ORIGINAL one, or the first) and turns each channel into mV following PS3.3
C.10.9.1.4.3: ``value = raw * ChannelSensitivity * CorrectionFactor + ChannelBaseline``
(the baseline is in the sensitivity units), then the units (UCUM ``uV``/``mV``/``V``)
into mV. Lead names come from the channel source code (MDC ``2:1`` / ``131329`` /
SCP-ECG ``5.6.3-9-1`` -> ``I`` ...), else from its code meaning, else the channel label.

Writing makes a 12-Lead ECG Waveform object (``1.2.840.10008.5.1.4.1.1.9.1.1``) when
the record fits that IOD (<= 13 channels, fs 200-1000 Hz, <= 16384 samples), otherwise a
General ECG one (<= 24 channels, 200-1000 Hz) or an Ambulatory ECG one (<= 12 channels,
50-1000 Hz), int16 samples with a per-channel sensitivity chosen to fit the signal
(1 uV/LSB when it fits), so a round trip loses at most half a step per sample.
"""

from __future__ import annotations

import logging
import math
import re
import warnings
from datetime import datetime, timedelta, timezone
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from numpy.typing import NDArray
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import (
    UID,
    AmbulatoryECGWaveformStorage,
    ExplicitVRLittleEndian,
    GeneralECGWaveformStorage,
    TwelveLeadECGWaveformStorage,
    generate_uid,
)

from edge_agent.errors import InvalidSignalError, RecordFormatError
from edge_agent.io.record import EcgRecord, build_record
from edge_agent.types import STANDARD_12, normalize_lead_name

__all__ = ["read_dicom", "write_dicom_ecg"]

logger = logging.getLogger(__name__)

_UNIT_TO_MV = {"uv": 1e-3, "µv": 1e-3, "mv": 1.0, "v": 1e3, "nv": 1e-6}
# MDC lead term codes (ISO/IEEE 11073-10101 partition 2) -> lead.
_MDC_TERM = {
    1: "I",
    2: "II",
    61: "III",
    62: "aVR",
    63: "aVL",
    64: "aVF",
    3: "V1",
    4: "V2",
    5: "V3",
    6: "V4",
    7: "V5",
    8: "V6",
}
_LEAD_TERM = {v: k for k, v in _MDC_TERM.items()}
_DTYPES = {
    (8, "SB"): "i1",
    (8, "UB"): "u1",
    (16, "SS"): "<i2",
    (16, "US"): "<u2",
    (32, "SL"): "<i4",
    (32, "UL"): "<u4",
}
_ECG_SOP = {
    str(TwelveLeadECGWaveformStorage),
    str(GeneralECGWaveformStorage),
    "1.2.840.10008.5.1.4.1.1.9.1.3",
    "1.2.840.10008.5.1.4.1.1.9.1.4",
}
_MAX_DICOM_BYTES = 256 * 1024 * 1024


def read_dicom(path: str | PathLike[str]) -> EcgRecord:
    """Read a DICOM ECG waveform object into an :class:`EcgRecord`.

    Parameters
    ----------
    path : str or path-like
        A ``.dcm`` file (Part 10, with or without preamble).

    Raises
    ------
    RecordFormatError
        Not DICOM, no Waveform Sequence, channel count or data length not matching the
        header, unknown sample interpretation or unit, bad sensitivity, bad lead codes.
    """
    src = str(path)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            record = _read(Path(path), src)
    except RecordFormatError:
        raise
    except Exception as exc:  # pydicom parses lazily and raises many types
        raise RecordFormatError(
            "unreadable DICOM object", path=src, got=f"{type(exc).__name__}: {exc}"[:300]
        ) from exc
    for w in caught:
        logger.warning("%s: pydicom: %s", src, w.message)
    return record


def _read(path: Path, src: str) -> EcgRecord:
    if path.stat().st_size > _MAX_DICOM_BYTES:
        raise RecordFormatError(
            "DICOM file too large", path=src, expected=f"<= {_MAX_DICOM_BYTES} bytes"
        )
    try:
        ds = pydicom.dcmread(path)
    except pydicom.errors.InvalidDicomError as exc:
        raise RecordFormatError(
            "not a DICOM file", path=src, expected="DICOM Part 10", got=str(exc)[:200]
        ) from exc
    sop = str(ds.get("SOPClassUID", ""))
    if sop and sop not in _ECG_SOP:
        logger.info("%s: SOP class %s is not an ECG class; reading its waveform", src, sop)
    group = _pick_group(ds, src)
    signal, names, fs = _decode_group(group, src)
    when = _acquired_at(ds)
    return build_record(
        signal,
        fs,
        names,
        source=src,
        format="dicom",
        patient_id=str(ds.get("PatientID", "") or "").strip() or None,
        age_years=_age(ds, when),
        sex=str(ds.get("PatientSex", "") or "").strip().upper() or None,
        acquired_at=when,
        extra=_extra(ds, group),
    )


def _pick_group(ds: Dataset, src: str) -> Dataset:
    groups: list[Dataset] = list(ds.get("WaveformSequence", None) or [])
    if not groups:
        raise RecordFormatError(
            "DICOM object has no waveform",
            path=src,
            expected="a Waveform Sequence",
            got="none",
        )
    for g in groups:
        if str(g.get("MultiplexGroupLabel", "")).strip().upper() == "RHYTHM":
            return g
    for g in groups:
        if str(g.get("WaveformOriginality", "")).strip().upper() == "ORIGINAL":
            return g
    return groups[0]


def _decode_group(g: Dataset, src: str) -> tuple[NDArray[np.float64], list[str], float]:
    n_ch = int(g.get("NumberOfWaveformChannels", 0) or 0)
    n_s = int(g.get("NumberOfWaveformSamples", 0) or 0)
    defs = list(g.get("ChannelDefinitionSequence", None) or [])
    if n_ch < 1 or len(defs) != n_ch:
        raise RecordFormatError(
            "channel count does not match the channel definitions",
            path=src,
            expected=f"{n_ch} channel definitions (NumberOfWaveformChannels)",
            got=f"{len(defs)}",
        )
    key = (
        int(g.get("WaveformBitsAllocated", 0) or 0),
        str(g.get("WaveformSampleInterpretation", "")).strip(),
    )
    if key not in _DTYPES:
        raise RecordFormatError(
            "unsupported waveform sample encoding",
            path=src,
            expected=f"one of {sorted(_DTYPES)}",
            got=f"{key}",
        )
    data = bytes(g.get("WaveformData", b"") or b"")
    need = n_s * n_ch * key[0] // 8
    if n_s < 1 or len(data) < need or len(data) > need + 1:  # +1: even-length padding
        raise RecordFormatError(
            "waveform data length does not match the header",
            path=src,
            expected=f"{need} bytes ({n_s} samples x {n_ch} channels x {key[0]} bits)",
            got=f"{len(data)} bytes",
        )
    raw = np.frombuffer(data[:need], dtype=_DTYPES[key]).reshape(n_s, n_ch).T
    names = [_lead_name(d, i) for i, d in enumerate(defs)]
    gain, offset = _calibration(defs, names, src)
    signal = raw.astype(np.float64) * gain[:, None] + offset[:, None]
    fs = _number(g.get("SamplingFrequency", None), "sampling frequency", src)
    return signal, names, fs


def _number(value: Any, what: str, src: str, lead: str | None = None) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        x = float("nan")
    if not math.isfinite(x):
        raise RecordFormatError(
            f"missing or bad {what}",
            path=src,
            lead=lead,
            expected="a number",
            got=repr(value),
        )
    return x


def _calibration(
    defs: list[Dataset], names: list[str], src: str
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    gain = np.ones(len(defs))
    offset = np.zeros(len(defs))
    for i, d in enumerate(defs):
        if "ChannelSensitivity" not in d:
            raise RecordFormatError(
                "channel has no sensitivity (uncalibrated)",
                path=src,
                lead=names[i],
                expected="ChannelSensitivity and its units",
                got="none",
            )
        sens = _number(d.ChannelSensitivity, "channel sensitivity", src, names[i])
        corr = _number(
            d.get("ChannelSensitivityCorrectionFactor", 1.0) or 1.0,
            "sensitivity correction factor",
            src,
            names[i],
        )
        base = _number(d.get("ChannelBaseline", 0.0) or 0.0, "baseline", src, names[i])
        units = list(d.get("ChannelSensitivityUnitsSequence", None) or [])
        code = str(units[0].get("CodeValue", "")).strip() if units else ""
        if code.lower() not in _UNIT_TO_MV or sens == 0:
            raise RecordFormatError(
                "unknown channel sensitivity unit" if sens else "zero channel sensitivity",
                path=src,
                lead=names[i],
                expected="uV, mV or V",
                got=f"{code or 'no unit'} (sensitivity {sens:g})",
            )
        to_mv = _UNIT_TO_MV[code.lower()]
        gain[i], offset[i] = sens * corr * to_mv, base * to_mv
    return gain, offset


def _lead_name(d: Dataset, index: int) -> str:
    sources = list(d.get("ChannelSourceSequence", None) or [])
    code = str(sources[0].get("CodeValue", "")).strip() if sources else ""
    term = _term_number(code)
    if term in _MDC_TERM:
        return _MDC_TERM[term]
    meaning = str(sources[0].get("CodeMeaning", "")).strip() if sources else ""
    meaning = re.sub(r"^(lead\s+|MDC_ECG_LEAD_)", "", meaning, flags=re.IGNORECASE)
    label = str(d.get("ChannelLabel", "") or "").strip()
    return normalize_lead_name(meaning or label or code or f"channel {index + 1}")


def _term_number(code: str) -> int | None:
    """MDC lead term (1 = I ... 64 = aVF) of ``2:N``, ``5.6.3-9-N`` or a context-free code.

    Context-free codes are ``2 << 16 | (0x100 + N)`` (131329 = MDC_ECG_LEAD_I).
    """
    m = re.fullmatch(r"(?:2:|5\.6\.3-9-)(\d+)", code)
    if m:
        term = int(m.group(1))
        return term - 0x100 if term > 0x100 else term
    if code.isdigit() and int(code) >> 16 == 2 and (int(code) & 0xFFFF) > 0x100:
        return (int(code) & 0xFFFF) - 0x100
    return None


def _parse_dt(value: str, tz_hint: str = "") -> datetime | None:
    m = re.fullmatch(
        r"(\d{8})(\d{2})?(\d{2})?(\d{2})?(?:\.(\d{1,6}))?([+-]\d{4})?", value.strip()
    )
    if not m:
        return None
    day, hh, mm, ss, frac, tz = m.groups()
    try:
        when = datetime.strptime(day, "%Y%m%d").replace(
            hour=int(hh or 0),
            minute=int(mm or 0),
            second=int(ss or 0),
            microsecond=int((frac or "0").ljust(6, "0")),
        )
        tz = tz or (tz_hint.strip() if re.fullmatch(r"[+-]\d{4}", tz_hint.strip()) else "")
        if tz:
            sign = -1 if tz[0] == "-" else 1
            when = when.replace(
                tzinfo=timezone(sign * timedelta(hours=int(tz[1:3]), minutes=int(tz[3:5])))
            )
    except (ValueError, OverflowError):
        return None
    return when


def _acquired_at(ds: Dataset) -> datetime | None:
    hint = str(ds.get("TimezoneOffsetFromUTC", "") or "")
    for value in (
        str(ds.get("AcquisitionDateTime", "") or ""),
        f"{ds.get('ContentDate', '') or ''}{ds.get('ContentTime', '') or ''}",
        f"{ds.get('StudyDate', '') or ''}{ds.get('StudyTime', '') or ''}",
    ):
        when = _parse_dt(value, hint) if value else None
        if when is not None:
            return when
    return None


_AGE_UNITS = {"Y": 1.0, "M": 1 / 12, "W": 7 / 365.25, "D": 1 / 365.25}


def _age(ds: Dataset, when: datetime | None) -> float | None:
    m = re.fullmatch(r"(\d{3})([DWMY])", str(ds.get("PatientAge", "") or "").strip())
    if m:
        return int(m.group(1)) * _AGE_UNITS[m.group(2)]
    birth = _parse_dt(str(ds.get("PatientBirthDate", "") or ""))
    if birth is not None and when is not None:
        return (when.replace(tzinfo=None) - birth).days / 365.25
    return None


def _extra(ds: Dataset, group: Dataset) -> dict[str, str]:
    extra: dict[str, str] = {}
    sources = (
        ("manufacturer", ds, "Manufacturer"),
        ("device_model", ds, "ManufacturerModelName"),
        ("sop_class", ds, "SOPClassUID"),
        ("multiplex_group", group, "MultiplexGroupLabel"),
    )
    for key, where, tag in sources:
        value = where.get(tag, "")
        if str(value or "").strip():
            extra[key] = str(value).strip()
    return extra


# --- writer -----------------------------------------------------------------------


def write_dicom_ecg(record: EcgRecord, path: str | PathLike[str]) -> Path:
    """Write a record as a DICOM ECG waveform object (int16, 1 uV/LSB when it fits).

    The SOP class is the first whose IOD constraints (PS3.3 A.34) the record meets:
    12-Lead ECG (1-13 channels, 200-1000 Hz, <= 16384 samples), General ECG (1-24
    channels, 200-1000 Hz), Ambulatory ECG (1-12 channels, 50-1000 Hz).

    Parameters
    ----------
    record : EcgRecord
        The record; signal in mV.
    path : str or path-like
        Output ``.dcm`` path (overwritten).

    Returns
    -------
    Path
        The path written.

    Raises
    ------
    InvalidSignalError
        No ECG IOD accepts the record (e.g. 100 Hz with 15 leads).
    """
    sop_class = _sop_class(record)
    ds = _base_dataset(record, sop_class)
    ds.WaveformSequence = DicomSequence([_waveform_group(record)])
    out = Path(path)
    ds.save_as(out, enforce_file_format=True)
    return out


def _sop_class(record: EcgRecord) -> UID:
    n_ch, n_s = record.signal.shape
    fs = record.fs
    if n_ch <= 13 and 200 <= fs <= 1000 and n_s <= 16384:
        return TwelveLeadECGWaveformStorage
    if n_ch <= 24 and 200 <= fs <= 1000:
        return GeneralECGWaveformStorage
    if n_ch <= 12 and 50 <= fs <= 1000:
        return AmbulatoryECGWaveformStorage
    raise InvalidSignalError(
        "no DICOM ECG waveform IOD accepts this record",
        path=record.source,
        expected="<= 24 channels at 200-1000 Hz, or <= 12 channels at 50-1000 Hz",
        got=f"{n_ch} channels at {fs:g} Hz",
    )


def _base_dataset(record: EcgRecord, sop_class: UID) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, meta.MediaStorageSOPInstanceUID
    ds.Modality = "ECG"
    ds.PatientName = ""
    ds.PatientID = record.patient_id or ""
    ds.PatientBirthDate = ""
    ds.PatientSex = record.sex or ""
    if record.age_years is not None:
        ds.PatientAge = _age_string(record.age_years)
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.StudyID, ds.AccessionNumber, ds.ReferringPhysicianName = "", "", ""
    ds.SeriesNumber, ds.InstanceNumber = 1, 1
    ds.Manufacturer = "ecg-network"
    ds.AcquisitionContextSequence = DicomSequence([])
    when = record.acquired_at
    if when is not None:
        stamp = when.strftime("%Y%m%d%H%M%S.%f")
        if when.utcoffset() is not None:
            ds.TimezoneOffsetFromUTC = when.strftime("%z")
        ds.AcquisitionDateTime = stamp + when.strftime("%z")
        ds.ContentDate, ds.ContentTime = when.strftime("%Y%m%d"), when.strftime("%H%M%S")
        ds.StudyDate, ds.StudyTime = ds.ContentDate, ds.ContentTime
    else:
        ds.StudyDate, ds.StudyTime, ds.ContentDate, ds.ContentTime = "", "", "", ""
    return ds


def _age_string(age_years: float) -> str:
    if age_years >= 1:
        return f"{min(int(age_years), 999):03d}Y"
    return f"{int(age_years * 12):03d}M"


def _waveform_group(record: EcgRecord) -> Dataset:
    uv = record.signal * 1000.0
    peak = np.abs(uv).max(axis=1)
    sens = np.maximum(peak / 32000.0, 1.0)  # uV per LSB, 1 uV whenever the lead fits
    raw = np.rint(uv / sens[:, None]).astype("<i2")
    g = Dataset()
    g.MultiplexGroupTimeOffset = "0.0"
    g.WaveformOriginality = "ORIGINAL"
    g.NumberOfWaveformChannels = len(record.leads)
    g.NumberOfWaveformSamples = record.n_samples
    g.SamplingFrequency = f"{record.fs:.6g}"
    g.MultiplexGroupLabel = "RHYTHM"
    g.ChannelDefinitionSequence = DicomSequence(
        [_channel(name, float(s)) for name, s in zip(record.leads, sens, strict=True)]
    )
    g.WaveformBitsAllocated = 16
    g.WaveformSampleInterpretation = "SS"
    g.WaveformData = np.ascontiguousarray(raw.T).tobytes()
    return g


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    c = Dataset()
    c.CodeValue, c.CodingSchemeDesignator, c.CodeMeaning = value, scheme, meaning
    return c


def _channel(name: str, sens_uv: float) -> Dataset:
    ch = Dataset()
    if name in STANDARD_12:
        source = _code(f"2:{_LEAD_TERM[name]}", "MDC", f"Lead {name}")
    else:
        source = _code(name[:16], "99ECGNET", f"Lead {name}"[:64])
    ch.ChannelLabel = name[:16]
    ch.ChannelSourceSequence = DicomSequence([source])
    ch.ChannelSensitivity = f"{sens_uv:.10g}"[:16]
    ch.ChannelSensitivityUnitsSequence = DicomSequence([_code("uV", "UCUM", "microvolt")])
    ch.ChannelSensitivityCorrectionFactor = "1"
    ch.ChannelBaseline = "0"
    ch.ChannelSampleSkew = "0"
    ch.WaveformBitsStored = 16
    return ch
