"""HL7 aECG reader: the shared example, a tiny fixture, and XML that lies."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from edge_agent.errors import RecordFormatError
from edge_agent.io import read_aecg, read_record
from edge_agent.io.aecg_reader import parse_hl7_ts
from edge_agent.types import STANDARD_12

TINY = Path(__file__).parent / "data" / "aecg_tiny.xml"


def _digits(text: str, lead: str) -> list[int]:
    block = text.split(f'code="MDC_ECG_LEAD_{lead}"', 1)[1]
    m = re.search(r"<digits>(.*?)</digits>", block, re.S)
    assert m is not None, f"no digits for {lead}"
    return [int(v) for v in m.group(1).split()]


def test_tiny_fixture_values_and_demographics() -> None:
    rec = read_record(TINY)
    assert rec.format == "aecg" and rec.fs == 500.0, f"{rec.format} {rec.fs}"
    assert set(rec.leads) == set(STANDARD_12) and len(rec.leads) == 12, f"{rec.leads}"
    assert rec.signal.shape == (12, 300), f"{rec.signal.shape}"
    text = TINY.read_text()
    # origin 0 uV, scale 2.5 uV -> mV
    want = np.array(_digits(text, "AVF")) * 2.5e-3
    np.testing.assert_allclose(rec.signal[rec.leads.index("aVF")], want, rtol=1e-12)
    assert rec.patient_id == "SBJ-123" and rec.sex == "M", f"{rec.patient_id} {rec.sex}"
    assert rec.age_years == 46.0, f"age {rec.age_years}"
    assert rec.acquired_at == datetime(2002, 11, 22, 9, 10), f"{rec.acquired_at}"
    assert rec.extra["device_model"] == "ELI250", f"{rec.extra}"


@pytest.mark.shared_data
def test_shared_example(shared_data: Path) -> None:
    rec = read_aecg(shared_data / "other_formats" / "ecg_hl7_aecg_example.xml")
    assert rec.signal.shape == (12, 5000) and rec.fs == 500.0, f"{rec.signal.shape}"
    i, ii, iii = (rec.signal[rec.leads.index(x)] for x in ("I", "II", "III"))
    # Einthoven: III = II - I, within the 2.5 uV quantisation (x2 for rounding)
    err = float(np.max(np.abs(iii - (ii - i))))
    assert err <= 2 * 2.5e-3 + 1e-12, f"Einthoven residual {err} mV"
    assert rec.extra["comments"].startswith("Subject felt dizzy"), f"{rec.extra}"


def _mutated(tmp_path: Path, old: str, new: str, count: int = 1) -> Path:
    text = TINY.read_text()
    assert old in text, f"fixture lacks {old!r}"
    out = tmp_path / "bad.xml"
    out.write_text(text.replace(old, new, count))
    return out


def _err(path: Path) -> RecordFormatError:
    with pytest.raises(RecordFormatError) as info:
        read_record(path)
    assert str(path) in str(info.value), f"file not named: {info.value}"
    return info.value


def test_digit_count_differing_between_leads(tmp_path: Path) -> None:
    text = TINY.read_text()
    first = re.search(r"<digits>(.*?)</digits>", text, re.S)
    assert first is not None
    shorter = " ".join(first.group(1).split()[:-7])
    path = _mutated(tmp_path, first.group(0), f"<digits>{shorter}</digits>")
    err = _err(path)
    assert "different numbers of samples" in str(err), f"{err}"
    assert err.lead == "II" and err.got == "300" and "293" in str(err.expected), f"{err}"


def test_missing_increment(tmp_path: Path) -> None:
    err = _err(_mutated(tmp_path, '<increment value="0.002" unit="s" />', ""))
    assert "increment" in str(err), f"{err}"


def test_increment_in_ms_gives_the_same_fs(tmp_path: Path) -> None:
    rec = read_aecg(_mutated(tmp_path, 'value="0.002" unit="s"', 'value="2" unit="ms"'))
    assert rec.fs == pytest.approx(500.0), f"fs {rec.fs}"


def test_unknown_unit(tmp_path: Path) -> None:
    bad = _mutated(tmp_path, 'unit="uV" />', 'unit="mmHg" />')
    err = _err(bad)
    assert "unit" in str(err) and "mmHg" in str(err) and err.lead == "I", f"{err}"


def test_unit_conversion_mv(tmp_path: Path) -> None:
    path = _mutated(
        tmp_path,
        '<scale value="2.5" unit="uV" />',
        '<scale value="0.0025" unit="mV" />',
        12,
    )
    a, b = read_aecg(path), read_aecg(TINY)
    np.testing.assert_allclose(a.signal, b.signal, rtol=1e-12)


def test_non_numeric_digits(tmp_path: Path) -> None:
    err = _err(_mutated(tmp_path, "<digits>", "<digits>12 abc "))
    assert "not numbers" in str(err) and err.lead == "I", f"{err}"


def test_no_lead_sequences(tmp_path: Path) -> None:
    err = _err(_mutated(tmp_path, "MDC_ECG_LEAD_", "VENDOR_X_", 12))
    assert "no lead sequences" in str(err), f"{err}"


def test_duplicate_lead(tmp_path: Path) -> None:
    err = _err(_mutated(tmp_path, "MDC_ECG_LEAD_II", "MDC_ECG_LEAD_I"))
    assert "duplicate" in str(err) and err.lead == "I", f"{err}"


def test_unknown_lead_code_kept_under_its_name(tmp_path: Path) -> None:
    rec = read_aecg(_mutated(tmp_path, "MDC_ECG_LEAD_V6", "MDC_ECG_LEAD_V4R"))
    assert "V4R" in rec.leads and "V6" not in rec.leads, f"{rec.leads}"


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"<AnnotatedECG",
        b"<?xml version='1.0'?><root/>",
        b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;">]>'
        b"<AnnotatedECG>&b;</AnnotatedECG>",
        b"<AnnotatedECG xmlns='urn:hl7-org:v3'/>",
        # found by the fuzzer: an unknown encoding made ElementTree raise LookupError
        b"<?xml version='1.0' encoding='autf-8'?><AnnotatedECG/>",
    ],
)
def test_broken_xml(tmp_path: Path, payload: bytes) -> None:
    path = tmp_path / "broken.xml"
    path.write_bytes(payload)
    _err(path)


def test_xml_content_sniffed_without_suffix(tmp_path: Path) -> None:
    path = tmp_path / "export.ecg"
    path.write_bytes(TINY.read_bytes())
    assert read_record(path).format == "aecg"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("20021122091000", datetime(2002, 11, 22, 9, 10)),
        ("20021122091000.250", datetime(2002, 11, 22, 9, 10, 0, 250000)),
        (
            "20261124083000+0800",
            datetime(2026, 11, 24, 8, 30, tzinfo=timezone(timedelta(hours=8))),
        ),
        ("19530508", datetime(1953, 5, 8)),
        ("2002132509", None),
        ("garbage", None),
        (None, None),
    ],
)
def test_hl7_timestamps(value: str | None, expected: datetime | None) -> None:
    got = parse_hl7_ts(value)
    assert got == expected, f"{value!r}: {got}"
    if expected is not None and expected.tzinfo is not None:
        assert got is not None and got.utcoffset() == timedelta(hours=8), f"{got}"
