"""WFDB reader (``.hea`` + ``.dat``, PhysioNet-challenge ``.mat``), via the wfdb package.

The sizes of the data files are checked against the header *before* wfdb reads them, so
a truncated or padded file gets an exact message ("expected 1950000 bytes, got 1024")
rather than whatever wfdb happens to raise; every wfdb exception is wrapped in a
:class:`~edge_agent.errors.RecordFormatError` naming the file.

Demographics come from the header comments in the common PhysioNet styles:

- MIT-BIH: ``# 69 M 1085 1629 x1`` (age, sex first),
- LUDB: ``#<age>: 51``, ``#<sex>: F``, ``#<diagnoses>:`` then one line per statement,
- PhysioNet/CinC challenges and PTB: ``# Age: 78``, ``#Sex: Male``, ``#Dx: ...``.

Other ``key: value`` comments are kept in ``extra`` under the lower-cased key.
"""

from __future__ import annotations

import logging
import math
import re
import warnings
from collections.abc import Sequence
from datetime import datetime
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import wfdb
from numpy.typing import NDArray

from edge_agent.errors import RecordFormatError, UnsupportedFormatError
from edge_agent.io._paths import WFDB_SUFFIXES, record_stem
from edge_agent.io.record import EcgRecord, build_record
from edge_agent.types import STANDARD_12, normalize_lead_name

__all__ = ["WFDB_SUFFIXES", "read_wfdb", "record_stem"]

logger = logging.getLogger(__name__)

# Bits per stored sample for the formats wfdb reads; FLAC formats (508/516/524) are
# compressed, so their size cannot be checked in advance.
_BITS: dict[str, float] = {
    "8": 8, "16": 16, "24": 24, "32": 32, "61": 16, "80": 8, "160": 16,
    "212": 12, "310": 32 / 3, "311": 32 / 3,
}  # fmt: skip
_FLAC = frozenset({"508", "516", "524"})
# Digital value storing "no sample", per format (WFDB spec; wfdb's INVALID_SAMPLE_VALUE).
_INVALID: dict[str, int | None] = {
    "80": -128, "508": -128, "310": -512, "311": -512, "212": -2048, "16": -32768,
    "61": -32768, "160": -32768, "516": -32768, "24": -8388608, "524": -8388608,
    "32": -2147483648, "8": None,
}  # fmt: skip
_TO_MV: dict[str, float] = {
    "mv": 1.0, "millivolt": 1.0, "millivolts": 1.0,
    "uv": 1e-3, "µv": 1e-3, "μv": 1e-3, "microvolt": 1e-3, "microvolts": 1e-3,
    "v": 1e3, "volt": 1e3, "volts": 1e3, "nv": 1e-6,
}  # fmt: skip
_MAX_HEADER_BYTES = 1 << 20


def read_wfdb(path: str | PathLike[str]) -> EcgRecord:
    """Read a WFDB record into an :class:`EcgRecord` (signal in mV, leads x samples).

    Parameters
    ----------
    path : str or path-like
        The ``.hea``, ``.dat`` or ``.mat`` file, or the record stem.

    Returns
    -------
    EcgRecord
        ``format="wfdb"``. When a data file holding only non-standard leads is absent
        (PTB's Frank-lead ``.xyz``), the other leads are read and
        ``extra["missing_files"]`` says which file and leads were left out.

    Raises
    ------
    RecordFormatError
        Missing ``.hea`` or data file, truncated or over-long data file, unparsable or
        inconsistent header, unknown format code or unit, NaN samples (naming the
        lead), zero leads, fs outside 100-1000 Hz.
    UnsupportedFormatError
        Multi-segment records.
    """
    stem = record_stem(path)
    hea = stem.with_name(stem.name + ".hea")
    src = str(hea)
    text = _read_header_text(hea)
    header = _read_header(stem, src)
    _check_header(header, src)
    channels, missing_note = _present_channels(header, stem, src)
    signal = _read_signal(stem, header, channels, src)
    names = [str(header.sig_name[c]) for c in channels]
    age, sex, extra = parse_comments([str(c) for c in header.comments or []])
    if missing_note:
        extra["missing_files"] = missing_note
    return build_record(
        signal,
        float(header.fs),
        names,
        source=src,
        format="wfdb",
        age_years=age,
        sex=sex,
        acquired_at=parse_base_datetime(text),
        extra=extra,
    )


def _read_header_text(hea: Path) -> str:
    if not hea.is_file():
        raise RecordFormatError(
            "WFDB header file missing", path=str(hea), expected="a .hea file", got="no file"
        )
    try:
        with hea.open("rb") as fh:
            raw = fh.read(_MAX_HEADER_BYTES + 1)
    except OSError as exc:
        raise RecordFormatError(
            "cannot read the header", path=str(hea), got=str(exc)
        ) from exc
    if len(raw) > _MAX_HEADER_BYTES or b"\x00" in raw or not raw.strip():
        raise RecordFormatError(
            "not a WFDB header",
            path=str(hea),
            expected="a short text header",
            got=f"{len(raw)} bytes" + (" with NUL bytes" if b"\x00" in raw else ""),
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RecordFormatError(
            "WFDB header is not valid text", path=str(hea), got=str(exc)
        ) from exc


def _read_header(stem: Path, src: str) -> Any:
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            header = wfdb.rdheader(str(stem))
    except Exception as exc:  # wfdb raises many types on bad headers; wrap them all
        raise RecordFormatError(
            "unparsable WFDB header", path=src, got=f"{type(exc).__name__}: {exc}"
        ) from exc
    for w in caught:
        logger.warning("%s: wfdb: %s", src, w.message)
    if isinstance(header, wfdb.MultiRecord):
        raise UnsupportedFormatError(
            "multi-segment WFDB records are not read",
            path=src,
            expected="a single-segment record",
            got=f"{len(header.seg_name or [])} segments",
        )
    return header


def _check_header(h: Any, src: str) -> None:
    n_sig = h.n_sig or 0
    if n_sig < 1:
        raise RecordFormatError(
            "record has no leads", path=src, expected=">= 1 signal", got=f"{n_sig}"
        )
    for attr in ("file_name", "fmt", "sig_name"):
        got = getattr(h, attr) or []
        if len(got) != n_sig:
            raise RecordFormatError(
                "header lies about the number of signals",
                path=src,
                expected=f"{n_sig} signal lines (record line)",
                got=f"{len(got)} {attr} entries",
            )
    fs = h.fs
    if fs is None or not math.isfinite(fs) or not 100.0 <= float(fs) <= 1000.0:
        raise RecordFormatError(
            "sampling frequency out of range",
            path=src,
            expected="100-1000 Hz",
            got=f"{fs} Hz",
        )
    for i, fmt in enumerate(h.fmt):
        if str(fmt) not in _BITS and str(fmt) not in _FLAC:
            raise RecordFormatError(
                "unknown WFDB storage format",
                path=src,
                lead=str(h.sig_name[i]),
                expected=f"one of {', '.join(sorted(_BITS) + sorted(_FLAC))}",
                got=f"format {fmt}",
            )
    if h.sig_len is not None and h.sig_len <= 0:
        raise RecordFormatError(
            "record has no samples", path=src, expected=">= 1 sample", got=f"{h.sig_len}"
        )
    for i, unit in enumerate(h.units or ["mV"] * n_sig):
        if str(unit or "mV").strip().lower() not in _TO_MV:
            raise RecordFormatError(
                "unknown signal unit",
                path=src,
                lead=str(h.sig_name[i]),
                expected="mV, uV or V",
                got=repr(unit),
            )


def _present_channels(h: Any, stem: Path, src: str) -> tuple[list[int], str]:
    """Check each data file's existence and size; return the channels to read."""
    files: dict[str, list[int]] = {}
    for i, name in enumerate(h.file_name):
        files.setdefault(str(name), []).append(i)
    channels: list[int] = []
    missing: list[str] = []
    for name, chans in files.items():
        path = stem.parent / name
        leads = [str(h.sig_name[c]) for c in chans]
        if not path.is_file():
            standard = [x for x in leads if normalize_lead_name(x) in STANDARD_12]
            if standard or len(files) == 1:
                raise RecordFormatError(
                    "WFDB data file missing",
                    path=str(path),
                    expected=f"the signal file for leads {', '.join(leads)}",
                    got="no file",
                )
            missing.append(f"{name} (leads {', '.join(leads)} not read)")
            continue
        _check_data_size(h, chans, path)
        channels.extend(chans)
    if not channels:
        raise RecordFormatError(
            "no WFDB data file present", path=src, got="; ".join(missing)
        )
    note = "; ".join(missing)
    if note:
        logger.warning("%s: data file missing, read the other leads: %s", src, note)
    return sorted(channels), note


def _check_data_size(h: Any, chans: Sequence[int], path: Path) -> None:
    fmt = str(h.fmt[chans[0]])
    if fmt in _FLAC:
        return
    spf = h.samps_per_frame or [1] * h.n_sig
    frame = sum(int(spf[c] or 1) for c in chans)
    offset = int((h.byte_offset or [None] * h.n_sig)[chans[0]] or 0)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise RecordFormatError(
            "cannot read the data file", path=str(path), got=str(exc)
        ) from exc
    bits = _BITS[fmt]
    if h.sig_len is None:
        if (size - offset) * 8 < bits * frame:
            raise RecordFormatError(
                "WFDB data file holds no complete frame",
                path=str(path),
                expected=f">= {math.ceil(bits * frame / 8) + offset} bytes",
                got=f"{size} bytes",
            )
        return
    n = int(h.sig_len) * frame
    low = offset + math.floor(n * bits / 8)
    high = offset + math.ceil(n * bits / 8) + (0 if bits % 8 == 0 else 2)
    if size < low:
        raise RecordFormatError(
            "WFDB data file truncated",
            path=str(path),
            expected=f"{low} bytes ({h.sig_len} samples x {frame} signals, format {fmt})",
            got=f"{size} bytes",
        )
    if size > high:
        raise RecordFormatError(
            "WFDB data file longer than its header states (header lies about the length"
            " or the number of signals)",
            path=str(path),
            expected=f"{low} bytes ({h.sig_len} samples x {frame} signals, format {fmt})",
            got=f"{size} bytes",
        )


def _read_signal(stem: Path, h: Any, channels: list[int], src: str) -> NDArray[np.float64]:
    """Digital samples via wfdb, checked against the header checksums, then mV."""
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            rec = wfdb.rdrecord(
                str(stem),
                channels=channels if len(channels) < h.n_sig else None,
                physical=False,
                return_res=64,
            )
            d = rec.d_signal
            if d is None or d.ndim != 2 or d.shape[1] != len(channels):
                shape = None if d is None else d.shape
                raise RecordFormatError(
                    "wfdb returned an unexpected signal",
                    path=src,
                    expected=f"(samples, {len(channels)})",
                    got=f"{shape}",
                )
            digital = np.ascontiguousarray(d.T)  # (leads, samples), the one transposition
            _check_checksums(h, channels, digital, src)
    except RecordFormatError:
        raise
    except Exception as exc:  # wrap every wfdb failure: no wfdb traceback leaks out
        raise RecordFormatError(
            "wfdb could not read the signal", path=src, got=f"{type(exc).__name__}: {exc}"
        ) from exc
    for w in caught:
        logger.warning("%s: wfdb: %s", src, w.message)
    return _digital_to_mv(rec, digital, src)


def _digital_to_mv(rec: Any, digital: NDArray[np.int64], src: str) -> NDArray[np.float64]:
    """``(d - baseline) / gain`` in mV, NaN at the format's invalid-sample value.

    Same arithmetic as wfdb's ``Record.dac`` in one vectorised pass over all leads.
    """
    n = digital.shape[0]
    gain = np.array(rec.adc_gain, dtype=np.float64)
    base = np.array(rec.baseline, dtype=np.float64)
    if (
        gain.shape != (n,)
        or base.shape != (n,)
        # subnormal gains (|g| < 2.2e-308) are finite and non-zero but overflow 1/g
        or not (np.isfinite(gain) & (np.abs(gain) >= np.finfo(np.float64).tiny)).all()
    ):
        raise RecordFormatError(
            "bad ADC gain or baseline in the header",
            path=src,
            expected=f"{n} finite non-zero gains",
            got=f"gains {rec.adc_gain}, baselines {rec.baseline}",
        )
    units = rec.units or ["mV"] * n
    to_mv = np.array([_TO_MV[str(u or "mV").strip().lower()] for u in units])
    with np.errstate(over="ignore"):
        scale = to_mv / gain
    if not np.isfinite(scale).all():
        raise RecordFormatError(
            "ADC gain too small to convert to mV",
            path=src,
            expected="gains whose reciprocal is a finite number",
            got=f"gains {rec.adc_gain}",
        )
    out: NDArray[np.float64] = digital - base[:, None]
    out *= scale[:, None]
    sentinel = np.iinfo(np.int64).min  # never a sample: stands for "no invalid value"
    invalid = [_INVALID.get(str(f)) for f in rec.fmt]
    bad = digital == np.array([sentinel if v is None else v for v in invalid])[:, None]
    if bad.any():
        out[bad] = np.nan
    return out


def _check_checksums(h: Any, channels: list[int], d: NDArray[np.int64], src: str) -> None:
    """Compare each lead's (row of ``d``) 16-bit sample sum with the header checksum.

    Skipped for multi-frequency records and for files whose checksums are all 0 (PTB
    copies write ``0`` for "not stated"). A mismatch means a corrupted data file or a
    header that belongs to other data.
    """
    stated = [(h.checksum or [None] * h.n_sig)[c] for c in channels]
    spf = h.samps_per_frame or [1] * h.n_sig
    if any(int(spf[c] or 1) != 1 for c in channels) or all(not x for x in stated):
        return
    got = d.sum(axis=1, dtype=np.int64) % 65536
    for i, c in enumerate(channels):
        if stated[i] is not None and int(stated[i]) % 65536 != int(got[i]):
            raise RecordFormatError(
                "WFDB checksum mismatch (data file corrupted or not this header's data)",
                path=src,
                lead=str(h.sig_name[c]),
                expected=f"checksum {int(stated[i])}",
                got=f"{int(got[i]) if got[i] < 32768 else int(got[i]) - 65536}",
            )


_MITBIH_RE = re.compile(r"^\s*(\d{1,3}|\?|-1)\s+([MF?])\b")
_KV_RE = re.compile(r"^\s*<?([A-Za-z][A-Za-z0-9 _()/.-]*?)>?\s*:\s*(.*)$")


def parse_comments(
    comments: Sequence[str],
) -> tuple[float | None, str | None, dict[str, str]]:
    """Age, sex and the other ``key: value`` comments of a WFDB header.

    Returns
    -------
    tuple
        ``(age_years, sex, extra)``; sex is ``"M"``/``"F"`` or None.
    """
    age: float | None = None
    sex: str | None = None
    extra: dict[str, str] = {}
    free: list[str] = []
    key_open: str | None = None
    for i, line in enumerate(c.strip() for c in comments):
        m = _MITBIH_RE.match(line) if i == 0 else None
        if m:
            age, sex = _parse_age(m.group(1)), _parse_sex(m.group(2))
            continue
        kv = _KV_RE.match(line) if key_open != "diagnoses" else None
        if kv:
            key, value = kv.group(1).strip().lower(), kv.group(2).strip()
            if key == "age":
                age = _parse_age(value)
            elif key in ("sex", "gender"):
                sex = _parse_sex(value)
            elif value:
                extra[key] = value
            key_open = key if not value else None
        elif line and key_open is not None:
            extra[key_open] = "; ".join(filter(None, [extra.get(key_open, ""), line]))
        elif line:
            free.append(line)
    if free:
        extra["comments"] = "; ".join(free)
    return age, sex, extra


def _parse_age(text: str) -> float | None:
    m = re.match(r"^\s*>?\s*(\d+(?:\.\d+)?)", text)
    return float(m.group(1)) if m else None


def _parse_sex(text: str) -> str | None:
    t = text.strip().lower()
    if t in ("m", "male", "man"):
        return "M"
    if t in ("f", "female", "woman", "w"):
        return "F"
    return None


_WFDB_DT_RE = re.compile(r"(\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)\s+(\d{1,2}/\d{1,2}/\d{4})")
_CPSC_DT_RE = re.compile(r"(\d{1,2}-[A-Za-z]{3}-\d{4})\s+(\d{1,2}:\d{2}:\d{2})")


def parse_base_datetime(header_text: str) -> datetime | None:
    """Base date and time from the record line (naive: WFDB states no time zone).

    Understands the WFDB spelling ``HH:MM:SS DD/MM/YYYY`` and the CPSC 2018 one
    ``DD-Mon-YYYY HH:MM:SS``; a time without a date gives None.
    """
    line = next(
        (ln for ln in header_text.splitlines() if ln.strip() and not ln.startswith("#")), ""
    )
    rest = " ".join(line.split()[4:])
    m = _WFDB_DT_RE.search(rest)
    try:
        if m:
            t = m.group(1).split(".")[0]
            fmt = "%H:%M:%S %d/%m/%Y" if t.count(":") == 2 else "%H:%M %d/%m/%Y"
            return datetime.strptime(f"{t} {m.group(2)}", fmt)
        m = _CPSC_DT_RE.search(rest)
        if m:
            return datetime.strptime(f"{m.group(1)} {m.group(2)}", "%d-%b-%Y %H:%M:%S")
    except ValueError:
        return None
    return None
