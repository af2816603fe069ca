"""HL7 aECG reader (HL7 v3 Annotated ECG XML, FDA/CDISC style).

Reads the rhythm series of an ``AnnotatedECG``: the time sequence (``GLIST_TS`` or
``GLIST_PQ``, whose ``increment`` gives fs) and one ``SLIST_PQ`` sequence per lead
(``MDC_ECG_LEAD_*`` code, value = ``origin + scale * digits`` in the stated units, turned
into mV). Patient id (trial subject id), sex, age (``Reported Age`` observation or birth
time) and the acquisition time come along when present.

XML safety: the stdlib parser (expat >= 2.4 refuses billion-laughs expansion, and
ElementTree never fetches external entities) plus a refusal of any ``<!DOCTYPE``/
``<!ENTITY`` declaration, which aECG files never need; so defusedxml is not required.
"""

from __future__ import annotations

import logging
import re
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone
from os import PathLike
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from edge_agent.errors import RecordFormatError
from edge_agent.io.record import EcgRecord, build_record

__all__ = ["MAX_AECG_BYTES", "parse_hl7_ts", "read_aecg"]

logger = logging.getLogger(__name__)

MAX_AECG_BYTES = 256 * 1024 * 1024
_XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
_UNIT_TO_MV = {"uv": 1e-3, "µv": 1e-3, "μv": 1e-3, "mv": 1.0, "v": 1e3, "nv": 1e-6}
_TIME_TO_S = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "min": 60.0}
_LEAD_PREFIX = "MDC_ECG_LEAD_"
_MDC_LEADS = {
    "I": "I", "II": "II", "III": "III", "AVR": "aVR", "AVL": "aVL", "AVF": "aVF",
    "V1": "V1", "V2": "V2", "V3": "V3", "V4": "V4", "V5": "V5", "V6": "V6",
}  # fmt: skip
_AGE_UNIT_TO_YEARS = {"a": 1.0, "mo": 1 / 12, "wk": 7 / 365.25, "d": 1 / 365.25}


def read_aecg(path: str | PathLike[str]) -> EcgRecord:
    """Read an HL7 aECG XML file into an :class:`EcgRecord`.

    Parameters
    ----------
    path : str or path-like
        The ``.xml`` file.

    Returns
    -------
    EcgRecord
        ``format="aecg"``; leads in the order of the file, named from the MDC codes
        (``MDC_ECG_LEAD_AVF`` -> ``aVF``; other codes keep their suffix, e.g. ``V4R``).

    Raises
    ------
    RecordFormatError
        Not well-formed XML, a DTD, no ``AnnotatedECG`` root, no rhythm lead sequence,
        a missing or bad time increment, an unknown unit, digits that are not numbers or
        whose count differs between leads (naming the lead).
    """
    src = str(path)
    root = _parse_xml(Path(path), src)
    series = _rhythm_series(root, src)
    fs, head = _sample_rate(series, src)
    signal, names = _lead_sequences(series, src)
    when = _acquired_at(root, series, head)
    patient_id, sex, age = _demographics(root, when)
    extra = _extra(root, series)
    return build_record(
        signal,
        fs,
        names,
        source=src,
        format="aecg",
        patient_id=patient_id,
        age_years=age,
        sex=sex,
        acquired_at=when,
        extra=extra,
    )


def _local(tag: object) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _children(el: ET.Element, name: str) -> list[ET.Element]:
    return [c for c in el if _local(c.tag) == name]


def _child(el: ET.Element | None, *names: str) -> ET.Element | None:
    for name in names:
        if el is None:
            return None
        el = next((c for c in el if _local(c.tag) == name), None)
    return el


def _attr(el: ET.Element | None, name: str) -> str:
    """Attribute of an optional element, "" when absent (Elements are falsy if empty)."""
    return "" if el is None else (el.get(name) or "")


def _parse_xml(path: Path, src: str) -> ET.Element:
    try:
        size = path.stat().st_size
        if size > MAX_AECG_BYTES:
            raise RecordFormatError(
                "aECG file too large",
                path=src,
                expected=f"<= {MAX_AECG_BYTES} bytes",
                got=f"{size} bytes",
            )
        data = path.read_bytes()
    except OSError as exc:
        raise RecordFormatError("cannot read the file", path=src, got=str(exc)) from exc
    if (
        re.search(rb"<!(DOCTYPE|ENTITY)", data[:65536], re.IGNORECASE)
        or b"<!ENTITY" in data
    ):
        raise RecordFormatError(
            "XML with a DTD or entity declarations is refused",
            path=src,
            expected="plain HL7 aECG XML",
            got="<!DOCTYPE/<!ENTITY",
        )
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise RecordFormatError("not well-formed XML", path=src, got=str(exc)) from exc
    except (ValueError, LookupError, RecursionError) as exc:  # e.g. unknown encoding
        raise RecordFormatError("unreadable XML", path=src, got=str(exc)) from exc
    if _local(root.tag) != "AnnotatedECG":
        raise RecordFormatError(
            "not an HL7 aECG document",
            path=src,
            expected="root element AnnotatedECG",
            got=f"root element {_local(root.tag) or root.tag!r}",
        )
    return root


def _rhythm_series(root: ET.Element, src: str) -> ET.Element:
    series = [s for c in _children(root, "component") for s in _children(c, "series")]
    if not series:
        raise RecordFormatError(
            "aECG has no waveform series", path=src, expected="component/series", got="none"
        )
    for s in series:
        code = _child(s, "code")
        if code is not None and code.get("code", "").upper() == "RHYTHM":
            return s
    return series[0]


def _sequences(series: ET.Element) -> list[ET.Element]:
    out: list[ET.Element] = []
    for comp in _children(series, "component"):
        for seqset in _children(comp, "sequenceSet"):
            for c in _children(seqset, "component"):
                out.extend(_children(c, "sequence"))
        if out:
            break  # the first sequence set only
    return out


def _float_attr(
    el: ET.Element | None, what: str, src: str, lead: str | None = None
) -> float:
    raw = None if el is None else el.get("value")
    try:
        value = float(raw) if raw is not None else float("nan")
    except ValueError:
        value = float("nan")
    if not np.isfinite(value):
        raise RecordFormatError(
            f"missing or bad {what}",
            path=src,
            lead=lead,
            expected="a number",
            got=repr(raw),
        )
    return value


def _sample_rate(series: ET.Element, src: str) -> tuple[float, str | None]:
    for seq in _sequences(series):
        code = _attr(_child(seq, "code"), "code")
        if not code.upper().startswith("TIME_"):
            continue
        value = _child(seq, "value")
        inc = _child(value, "increment")
        if inc is None:
            raise RecordFormatError(
                "time sequence has no increment (sampling interval)",
                path=src,
                expected="<increment value=... unit='s'/>",
                got="none",
            )
        step = _float_attr(inc, "time increment", src)
        unit = (inc.get("unit") or "s").strip().lower()
        if unit not in _TIME_TO_S or step <= 0:
            raise RecordFormatError(
                "bad time increment",
                path=src,
                expected="a positive increment in s or ms",
                got=f"{inc.get('value')} {inc.get('unit')}",
            )
        step_s = step * _TIME_TO_S[unit]
        if not step_s > 0:  # a positive increment can still underflow to 0 s
            raise RecordFormatError(
                "bad time increment",
                path=src,
                expected="a positive increment",
                got=f"{inc.get('value')} {inc.get('unit')}",
            )
        head = _child(value, "head")
        return 1.0 / step_s, None if head is None else head.get("value")
    raise RecordFormatError(
        "aECG series has no time sequence",
        path=src,
        expected="a TIME_ABSOLUTE or TIME_RELATIVE sequence with an increment",
        got="none",
    )


def _lead_name(code: str) -> str:
    suffix = code[len(_LEAD_PREFIX) :]
    return _MDC_LEADS.get(suffix.upper(), suffix)


def _unit_factor(el: ET.Element | None, what: str, src: str, lead: str) -> float:
    unit = "" if el is None else (el.get("unit") or "")
    factor = _UNIT_TO_MV.get(unit.strip().lower())
    if factor is None:
        raise RecordFormatError(
            f"unknown {what} unit",
            path=src,
            lead=lead,
            expected="uV, mV or V",
            got=repr(unit),
        )
    return factor


def _decode_lead(value: ET.Element, lead: str, src: str) -> NDArray[np.float64]:
    origin_el, scale_el = _child(value, "origin"), _child(value, "scale")
    origin = _float_attr(origin_el, "origin", src, lead) if origin_el is not None else 0.0
    o_mv = _unit_factor(origin_el, "origin", src, lead) if origin_el is not None else 1.0
    scale = _float_attr(scale_el, "scale", src, lead)
    s_mv = _unit_factor(scale_el, "scale", src, lead)
    digits_el = _child(value, "digits")
    text = "" if digits_el is None else (digits_el.text or "")
    try:
        digits = np.array(text.split(), dtype=np.float64)
    except ValueError as exc:
        raise RecordFormatError(
            "digits are not numbers",
            path=src,
            lead=lead,
            expected="integers",
            got=str(exc)[:120],
        ) from exc
    if digits.size == 0:
        raise RecordFormatError(
            "lead has no digits", path=src, lead=lead, expected=">= 1 sample", got="0"
        )
    out: NDArray[np.float64] = origin * o_mv + scale * s_mv * digits
    return out


def _lead_sequences(series: ET.Element, src: str) -> tuple[NDArray[np.float64], list[str]]:
    rows: list[NDArray[np.float64]] = []
    names: list[str] = []
    for seq in _sequences(series):
        code = _attr(_child(seq, "code"), "code")
        if not code.upper().startswith(_LEAD_PREFIX):
            if not code.upper().startswith("TIME_"):
                logger.info("%s: sequence %r skipped (not a lead)", src, code)
            continue
        name = _lead_name(code)
        value = _child(seq, "value")
        if value is None:
            raise RecordFormatError("lead sequence has no value", path=src, lead=name)
        rows.append(_decode_lead(value, name, src))
        names.append(name)
        if rows[-1].size != rows[0].size:
            raise RecordFormatError(
                "leads have different numbers of samples",
                path=src,
                lead=name,
                expected=f"{rows[0].size} digits (as lead {names[0]})",
                got=f"{rows[-1].size}",
            )
    if not rows:
        raise RecordFormatError(
            "aECG has no lead sequences",
            path=src,
            expected="SLIST_PQ sequences coded MDC_ECG_LEAD_*",
            got="none",
        )
    return np.vstack(rows), names


_TS_RE = re.compile(
    r"^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.(\d{1,6}))?([+-]\d{4})?$"
)


def parse_hl7_ts(value: str | None) -> datetime | None:
    """Parse an HL7 v3 TS (``YYYYMMDDHHMMSS.fff+ZZZZ``); aware only with an offset."""
    m = _TS_RE.match((value or "").strip())
    if not m:
        return None
    y, mo, d, h, mi, s, frac, tz = m.groups()
    try:
        when = datetime(
            int(y),
            int(mo or 1),
            int(d or 1),
            int(h or 0),
            int(mi or 0),
            int(s or 0),
            int((frac or "0").ljust(6, "0")),
        )
        if tz:
            sign = -1 if tz[0] == "-" else 1
            off = timedelta(hours=int(tz[1:3]), minutes=int(tz[3:5]))
            when = when.replace(tzinfo=timezone(sign * off))
    except (ValueError, OverflowError):
        return None
    return when


def _acquired_at(root: ET.Element, series: ET.Element, head: str | None) -> datetime | None:
    candidates = [
        head,
        _attr(_child(series, "effectiveTime", "low"), "value"),
        _attr(_child(root, "effectiveTime", "center"), "value"),
        _attr(_child(root, "effectiveTime", "low"), "value"),
    ]
    for value in candidates:
        when = parse_hl7_ts(value)
        if when is not None:
            return when
    return None


def _demographics(
    root: ET.Element, when: datetime | None
) -> tuple[str | None, str | None, float | None]:
    subject = _child(
        root,
        "componentOf",
        "timepointEvent",
        "componentOf",
        "subjectAssignment",
        "subject",
        "trialSubject",
    )
    pid_el = _child(subject, "id")
    patient_id = None if pid_el is None else (pid_el.get("extension") or pid_el.get("root"))
    person = _child(subject, "subjectDemographicPerson")
    gender = _child(person, "administrativeGenderCode")
    sex_code = "" if gender is None else gender.get("code", "").upper()
    sex = sex_code if sex_code in ("M", "F") else None
    age = _reported_age(root)
    birth = parse_hl7_ts(_attr(_child(person, "birthTime"), "value"))
    if age is None and birth is not None and when is not None:
        age = (when.replace(tzinfo=None) - birth.replace(tzinfo=None)).days / 365.25
    return patient_id, sex, age


def _reported_age(root: ET.Element) -> float | None:
    for cv in _children(root, "controlVariable"):
        obs = _child(cv, "relatedObservation")
        code = _child(obs, "code")
        if code is None or code.get("code") != "21612-7":
            continue
        value = _child(obs, "value")
        unit = "a" if value is None else (value.get("unit") or "a")
        try:
            number = float(value.get("value", "")) if value is not None else None
        except ValueError:
            number = None
        if number is not None and unit in _AGE_UNIT_TO_YEARS:
            return number * _AGE_UNIT_TO_YEARS[unit]
    return None


def _extra(root: ET.Element, series: ET.Element) -> dict[str, str]:
    extra: dict[str, str] = {}
    device = _child(series, "author", "seriesAuthor", "manufacturedSeriesDevice")
    model = _child(device, "manufacturerModelName")
    maker = _child(series, "author", "seriesAuthor", "manufacturerOrganization", "name")
    for key, el in (("device_model", model), ("manufacturer", maker)):
        if el is not None and (el.text or "").strip():
            extra[key] = (el.text or "").strip()
    comment = _child(root, "pertainsTo", "subjectFindingComment", "text")
    if comment is not None and (comment.text or "").strip():
        extra["comments"] = (comment.text or "").strip()
    return extra
