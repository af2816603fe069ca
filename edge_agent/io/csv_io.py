"""CSV records: a header row of lead names, then one row per sample.

fs and unit come from a leading comment line (``# fs=500 unit=uV``; other ``key=value``
pairs: ``patient_id``, ``age``, ``sex``, ``acquired_at`` (ISO 8601), values
percent-encoded) or from the ``fs``/``unit`` arguments; a value given both ways must
agree. The unit defaults to mV (then ``extra["unit_assumed"] = "mV"``); fs never
defaults. A first column named ``time``/``t``/``time_s``/``time_ms``/``sample``/
``index`` is an index, not a lead, and is dropped. The delimiter is ``,``, ``;`` or tab
(taken from the header row).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import datetime
from os import PathLike
from pathlib import Path
from urllib.parse import quote, unquote

import numpy as np
from numpy.typing import NDArray

from edge_agent.errors import RecordFormatError
from edge_agent.io.record import EcgRecord, build_record

__all__ = ["read_csv", "write_csv"]

_UNIT_TO_MV = {"mv": 1.0, "uv": 1e-3, "µv": 1e-3, "μv": 1e-3, "v": 1e3, "nv": 1e-6}
_INDEX_COLUMNS = {"time", "t", "time_s", "time_ms", "sample", "index", "time (s)"}
_MAX_CSV_BYTES = 256 * 1024 * 1024


def read_csv(
    path: str | PathLike[str], fs: float | None = None, unit: str | None = None
) -> EcgRecord:
    """Read a CSV record into an :class:`EcgRecord`.

    Parameters
    ----------
    path : str or path-like
        The ``.csv`` file.
    fs : float, optional
        Sampling frequency in Hz when the file does not state it.
    unit : str, optional
        ``"mV"``, ``"uV"`` or ``"V"`` when the file does not state it.

    Raises
    ------
    RecordFormatError
        Missing fs, unknown unit, fs/unit given twice and differing, no header, empty or
        duplicate lead names, ragged rows, non-numeric cells (naming row, column and
        lead), NaN cells, fs outside 100-1000 Hz.
    """
    src = str(path)
    text = _read_text(Path(path), src)
    lines = text.splitlines()
    meta, first = _comment_meta(lines, src)
    fs_hz = _merge(meta.get("fs"), fs, "fs", src)
    unit_name = _merge(meta.get("unit"), unit, "unit", src)
    extra: dict[str, str] = {}
    if unit_name is None:
        unit_name, extra["unit_assumed"] = "mV", "mV"
    factor = _UNIT_TO_MV.get(str(unit_name).strip().lower())
    if factor is None:
        raise RecordFormatError(
            "unknown unit", path=src, expected="mV, uV or V", got=repr(unit_name)
        )
    if fs_hz is None:
        raise RecordFormatError(
            "sampling frequency not stated",
            path=src,
            expected="a '# fs=500 unit=mV' line or the fs argument",
            got="none",
        )
    fs_value = _as_float(fs_hz, "fs", src)
    names, signal, dropped = _table(lines, first, src)
    if dropped:
        extra["dropped_columns"] = dropped
    age = meta.get("age")
    return build_record(
        signal * factor,
        fs_value,
        names,
        source=src,
        format="csv",
        patient_id=meta.get("patient_id") or None,
        age_years=_as_float(age, "age", src) if age else None,
        sex=(meta.get("sex") or "").upper() or None,
        acquired_at=_iso(meta.get("acquired_at"), src),
        extra=extra,
    )


def _read_text(path: Path, src: str) -> str:
    try:
        if path.stat().st_size > _MAX_CSV_BYTES:
            raise RecordFormatError(
                "CSV file too large", path=src, expected=f"<= {_MAX_CSV_BYTES} bytes"
            )
        data = path.read_bytes()
    except OSError as exc:
        raise RecordFormatError("cannot read the file", path=src, got=str(exc)) from exc
    if b"\x00" in data:
        raise RecordFormatError("not a text CSV file", path=src, got="NUL bytes")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RecordFormatError("CSV is not UTF-8 text", path=src, got=str(exc)) from exc


def _comment_meta(lines: list[str], src: str) -> tuple[dict[str, str], int]:
    meta: dict[str, str] = {}
    i = 0
    while i < len(lines) and (lines[i].lstrip().startswith("#") or not lines[i].strip()):
        for token in re.split(r"[\s,;]+", lines[i].lstrip().lstrip("#")):
            if "=" in token:
                key, _, value = token.partition("=")
                meta[key.strip().lower()] = unquote(value.strip())
        i += 1
    return meta, i


def _merge(
    in_file: str | None, given: float | str | None, what: str, src: str
) -> str | None:
    if in_file is None or given is None:
        return str(given) if given is not None else in_file
    same = (
        math.isclose(_as_float(in_file, what, src), float(given))
        if what == "fs"
        else in_file.strip().lower() == str(given).strip().lower()
    )
    if not same:
        raise RecordFormatError(
            f"{what} given as argument differs from the file's",
            path=src,
            expected=f"{what}={in_file} (file)",
            got=f"{what}={given} (argument)",
        )
    return in_file


def _as_float(value: str | float, what: str, src: str) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        x = float("nan")
    if not math.isfinite(x):
        raise RecordFormatError(
            f"bad {what}", path=src, expected="a number", got=repr(value)
        )
    return x


def _iso(value: str | None, src: str) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError as exc:
        raise RecordFormatError(
            "bad acquired_at", path=src, expected="ISO 8601", got=repr(value)
        ) from exc


def _table(
    lines: list[str], first: int, src: str
) -> tuple[list[str], NDArray[np.float64], str]:
    if first >= len(lines):
        raise RecordFormatError(
            "CSV has no header row", path=src, expected="a row of lead names", got="none"
        )
    header = lines[first]
    delim = max((",", ";", "\t"), key=header.count)
    names = [c.strip().strip('"').strip() for c in header.split(delim)]
    rows = [(first + k + 2, ln) for k, ln in enumerate(lines[first + 1 :]) if ln.strip()]
    if not rows:
        raise RecordFormatError(
            "CSV has no samples", path=src, expected=">= 1 data row", got="0"
        )
    cells = [ln.replace('"', "").split(delim) for _, ln in rows]  # "3" -> 3
    widths = np.fromiter((len(c) for c in cells), dtype=np.int64, count=len(cells))
    if (widths != len(names)).any():
        k = int(np.flatnonzero(widths != len(names))[0])
        raise RecordFormatError(
            "ragged row",
            path=src,
            expected=f"{len(names)} cells (as the header)",
            got=f"{widths[k]} cells in line {rows[k][0]}",
        )
    try:
        values = np.array(cells, dtype=np.float64)
    except ValueError:
        values = _locate_bad_cell(cells, rows, names, src)
    dropped = ""
    if len(names) > 1 and names[0].lower() in _INDEX_COLUMNS:
        dropped, names, values = names[0], names[1:], values[:, 1:]
    return names, np.ascontiguousarray(values.T), dropped


def _locate_bad_cell(
    cells: list[list[str]], rows: list[tuple[int, str]], names: list[str], src: str
) -> NDArray[np.float64]:
    for (line_no, _), row in zip(rows, cells, strict=True):
        for j, cell in enumerate(row):
            try:
                float(cell)
            except ValueError:
                raise RecordFormatError(
                    "non-numeric cell",
                    path=src,
                    lead=names[j] or f"column {j + 1}",
                    expected="a number",
                    got=f"{cell.strip()[:40]!r} at line {line_no}, column {j + 1}",
                ) from None
    raise RecordFormatError("unreadable CSV values", path=src)  # pragma: no cover


def write_csv(
    record: EcgRecord,
    path: str | PathLike[str],
    *,
    unit: str = "mV",
    float_format: str = "%.6g",
) -> Path:
    """Write a record as CSV (comment line with fs/unit/demographics, lead header).

    Parameters
    ----------
    record : EcgRecord
        The record (signal in mV).
    path : str or path-like
        Output path (overwritten).
    unit : str
        ``"mV"``, ``"uV"`` or ``"V"``: the unit of the written numbers.
    float_format : str
        printf-style format of each value.
    """
    factor = _UNIT_TO_MV.get(unit.lower())
    if factor is None:
        raise ValueError(f"unknown unit {unit!r}: expected mV, uV or V")
    meta: Mapping[str, object | None] = {
        "fs": f"{record.fs:.10g}",
        "unit": unit,
        "patient_id": record.patient_id,
        "age": None if record.age_years is None else f"{record.age_years:.10g}",
        "sex": record.sex,
        "acquired_at": None
        if record.acquired_at is None
        else record.acquired_at.isoformat(),
    }
    comment = " ".join(f"{k}={quote(str(v), safe='')}" for k, v in meta.items() if v)
    out = Path(path)
    with out.open("w", encoding="utf-8", newline="\n") as fh:
        fh.write(f"# {comment}\n")
        np.savetxt(
            fh,
            record.signal.T / factor,
            delimiter=",",
            fmt=float_format,
            header=",".join(record.leads),
            comments="",
        )
    return out
