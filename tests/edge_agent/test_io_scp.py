"""SCP-ECG through ecgdatakit: values, demographics, corruption; plus a tiny SCP writer.

No real SCP-ECG file is in ../shared/data, so ``make_scp`` below writes minimal
uncompressed records (Sections 0, 1, 3, 6, CRC-CCITT) from the EN 1064 layout.
"""

from __future__ import annotations

import binascii
import struct
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from edge_agent.errors import RecordFormatError, UnsupportedFormatError
from edge_agent.io import iter_record_paths, read_record, read_scp
from edge_agent.types import STANDARD_12

# EN 1064 Section 3 lead codes
SCP_CODES = {"I": 1, "II": 2, "III": 61, "aVR": 62, "aVL": 63, "aVF": 64,
             "V1": 3, "V2": 4, "V3": 5, "V4": 6, "V5": 7, "V6": 8}  # fmt: skip


def _crc(data: bytes) -> int:
    return binascii.crc_hqx(data, 0xFFFF)  # CRC-CCITT, initial 0xFFFF


def _section(sid: int, body: bytes, reserved: bytes = bytes(6)) -> bytes:
    rest = struct.pack("<HIBB", sid, 16 + len(body), 20, 20) + reserved + body
    return struct.pack("<H", _crc(rest)) + rest


def _tag(tag: int, value: bytes) -> bytes:
    return struct.pack("<BH", tag, len(value)) + value


def make_scp(
    raw: np.ndarray,
    leads: tuple[str, ...] = STANDARD_12,
    avm_nv: int = 5000,
    interval_us: int = 2000,
) -> bytes:
    """Minimal SCP-ECG record: raw int16 rhythm data (no Huffman, no differences)."""
    n_leads, n = raw.shape
    s1 = b"".join(
        [
            _tag(2, b"P-77\0"),
            _tag(4, struct.pack("<HB", 58, 1)),
            _tag(8, bytes([2])),
            _tag(25, struct.pack("<HBB", 2026, 11, 24)),
            _tag(26, bytes([8, 30, 5])),
            _tag(255, b""),
        ]
    )
    s3 = struct.pack("<BB", n_leads, 0x04 | ((n_leads << 3) & 0xF8)) + b"".join(
        struct.pack("<IIB", 1, n, SCP_CODES[name]) for name in leads
    )
    data = b"".join(raw[i].astype("<i2").tobytes() for i in range(n_leads))
    s6 = struct.pack("<HHBB", avm_nv, interval_us, 0, 0)
    s6 += struct.pack(f"<{n_leads}H", *[2 * n] * n_leads) + data
    bodies = {1: s1, 3: s3, 6: s6}
    sec0_len = 16 + 12 * 10
    pos = 7 + sec0_len
    pointers, chunks = [struct.pack("<HII", 0, sec0_len, 7)], []
    for sid in range(1, 12):
        sec = _section(sid, bodies[sid]) if sid in bodies else b""
        pointers.append(struct.pack("<HII", sid, len(sec), pos if sec else 0))
        chunks.append(sec)
        pos += len(sec)
    body = _section(0, b"".join(pointers), reserved=b"SCPECG") + b"".join(chunks)
    size = struct.pack("<I", 6 + len(body))
    return struct.pack("<H", _crc(size + body)) + size + body


def _raw(n_leads: int = 12, n: int = 1500) -> np.ndarray:
    return np.random.default_rng(4).integers(-800, 800, (n_leads, n))


def test_values_leads_and_demographics(tmp_path: Path) -> None:
    raw = _raw()
    path = tmp_path / "ecg.scp"
    path.write_bytes(make_scp(raw))
    rec = read_record(path)
    assert rec.format == "scp" and rec.leads == STANDARD_12, f"{rec.leads}"
    assert rec.fs == 500.0 and rec.signal.shape == (12, 1500), f"{rec.signal.shape}"
    np.testing.assert_allclose(rec.signal, raw * 5e-3, rtol=1e-12)  # 5000 nV per unit
    assert (rec.patient_id, rec.age_years, rec.sex) == ("P-77", 58.0, "F"), f"{rec}"
    assert rec.acquired_at == datetime(2026, 11, 24, 8, 30, 5), f"{rec.acquired_at}"
    assert iter_record_paths(tmp_path) == [path]


def test_other_rate_and_avm(tmp_path: Path) -> None:
    raw = _raw(3, 1000)
    path = tmp_path / "b.scp"
    path.write_bytes(make_scp(raw, ("II", "V5", "aVF"), avm_nv=2500, interval_us=4000))
    rec = read_scp(path)
    assert rec.fs == 250.0 and rec.leads == ("II", "V5", "aVF"), f"{rec.fs} {rec.leads}"
    np.testing.assert_allclose(rec.signal, raw * 2.5e-3, rtol=1e-12)


def test_crc_mismatch_is_an_error(tmp_path: Path) -> None:
    data = bytearray(make_scp(_raw()))
    data[-100] ^= 0x55  # one sample byte of Section 6
    path = tmp_path / "bad.scp"
    path.write_bytes(bytes(data))
    with pytest.raises(RecordFormatError) as info:
        read_record(path)
    assert "checksum" in str(info.value) and str(path) in str(info.value), f"{info.value}"


@pytest.mark.parametrize("cut", [0, 5, 30, 200, 1000])
def test_truncated(tmp_path: Path, cut: int) -> None:
    path = tmp_path / "t.scp"
    path.write_bytes(make_scp(_raw())[:cut])
    with pytest.raises(RecordFormatError) as info:
        read_scp(path)
    assert str(path) in str(info.value), f"{info.value}"


def test_uncalibrated_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "u.scp"
    path.write_bytes(make_scp(_raw(), avm_nv=0))
    with pytest.raises(RecordFormatError) as info:
        read_scp(path)
    assert "calibrated" in str(info.value) or "unit" in str(info.value), f"{info.value}"


def test_unsupported_error_is_a_record_format_error() -> None:
    assert issubclass(UnsupportedFormatError, RecordFormatError)
