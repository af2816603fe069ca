"""Fuzz every reader: garbage, truncation, mutated headers, XML and CSV mutations.

The only exception a reader may raise is RecordFormatError (or a subclass). Example
counts: 50 per test with CI=true (profile ``ecg-io-ci``), 300 otherwise
(``ecg-io-dev``); ``ECG_IO_FUZZ_EXAMPLES=N`` overrides both for a long run.
"""

from __future__ import annotations

import binascii
import os
import re
import struct
import warnings
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import numpy as np
import pydicom
import pytest
from hypothesis import HealthCheck, event, example, given, reject, settings
from hypothesis import strategies as st

from edge_agent.errors import RecordFormatError
from edge_agent.io import (
    EcgRecord,
    build_record,
    read_aecg,
    read_csv,
    read_dicom,
    read_record,
    read_scp,
    read_wfdb,
    write_csv,
    write_dicom_ecg,
)
from tests.edge_agent.test_io_scp import make_scp

_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
_OVERRIDE = os.environ.get("ECG_IO_FUZZ_EXAMPLES")
for _name, _n in (("ecg-io-ci", 50), ("ecg-io-dev", 300)):
    settings.register_profile(
        _name,
        max_examples=int(_OVERRIDE) if _OVERRIDE else _n,
        deadline=None,
        derandomize=_CI,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
FUZZ = settings.get_profile("ecg-io-ci" if _CI else "ecg-io-dev")
AECG_TINY = (Path(__file__).parent / "data" / "aecg_tiny.xml").read_bytes()


def _only_format_errors(read: Callable[[Path], EcgRecord], path: Path) -> EcgRecord | None:
    """Call a reader; RecordFormatError is fine, a record must honour the contract."""
    try:
        rec = read(path)
    except RecordFormatError as exc:
        assert str(exc), "empty error message"
        event(f"rejected: {exc.message[:60]}")
        return None
    event("accepted")
    assert rec.signal.ndim == 2 and rec.signal.dtype == np.float64, f"{rec.signal.shape}"
    assert np.isfinite(rec.signal).all(), "non-finite samples passed the reader"
    assert 100 <= rec.fs <= 1000 and len(set(rec.leads)) == len(rec.leads), f"{rec.fs}"
    return rec


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def _small_record() -> EcgRecord:
    rng = np.random.default_rng(11)
    return build_record(
        rng.normal(0, 0.5, (3, 400)),
        250.0,
        ["I", "II", "V4R"],
        source="fuzz",
        format="test",
        patient_id="F-1",
        age_years=40.0,
        sex="M",
        acquired_at=datetime(2026, 1, 2, 3, 4, 5),
    )


# --- WFDB ---------------------------------------------------------------------------

_FMTS = st.sampled_from(["16", "212", "8", "80", "24", "32", "61", "310", "17", "0", "x"])
_NUM = st.one_of(
    st.integers(-5, 5000).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["", "-", "1e999", "nan", "500/2", "3:2"]),
)


_FS = st.one_of(st.sampled_from(["500", "360", "250", "1000", "100"]), _NUM)


@st.composite
def _wfdb_header(draw: st.DrawFn) -> tuple[str, int]:
    """A header, mostly close to valid, and a .dat size, mostly the right one."""
    n_sig = draw(st.integers(0, 6))
    declared = draw(st.one_of(st.just(n_sig), st.just(n_sig), st.integers(0, 20)))
    n = draw(st.integers(1, 600))
    fs = draw(_FS)
    length = draw(st.one_of(st.just(str(n)), st.just(str(n)), _NUM))
    lines = [f"rec {declared} {fs} {length}"]
    fmt = draw(st.one_of(st.just("16"), _FMTS))
    for i in range(n_sig):
        gain = draw(st.one_of(st.just("200"), _NUM))
        unit = draw(st.sampled_from(["mV", "uV", "V", "", "mmHg"]))
        name = draw(st.sampled_from(["I", "ii", "V1", "MLII", "", "x y", "aVF"]))
        units = f"/{unit}" if unit else ""
        lines.append(f"rec.dat {fmt} {gain}{units} 16 0 0 0 0 {name}{i}")
    comments = draw(st.lists(st.text(max_size=30).map(lambda s: "#" + s), max_size=3))
    size = draw(st.one_of(st.just(2 * n * n_sig), st.integers(0, 5000)))
    return "\n".join(lines + comments) + "\n", size


@FUZZ
@given(header=_wfdb_header(), seed=st.integers(0, 2**32 - 1))
# found by this test: a subnormal gain is finite and non-zero, but 1/gain overflows
@example(header=("rec 1 500 1\nrec.dat 16 2.2250738585e-313/mV 16 0 0 0 0 I0\n", 2), seed=0)
def test_fuzz_wfdb_mutated_headers(work: Path, header: tuple[str, int], seed: int) -> None:
    text, dat_size = header
    (work / "rec.hea").write_text(text.replace("\x00", ""), errors="replace")
    rng = np.random.default_rng(seed)
    (work / "rec.dat").write_bytes(rng.integers(0, 256, dat_size, dtype=np.uint8).tobytes())
    _only_format_errors(read_wfdb, work / "rec.hea")


def _valid_wfdb(work: Path) -> tuple[bytes, bytes]:
    rng = np.random.default_rng(2)
    dat = rng.integers(-3000, 3000, (500, 3)).astype("<i2").tobytes()
    hea = "rec 3 500 500\n" + "".join(
        f"rec.dat 16 200/mV 16 0 0 0 0 {lead}\n" for lead in ("I", "II", "V1")
    )
    return hea.encode(), dat


@FUZZ
@given(cut=st.integers(0, 3000), which=st.sampled_from(["hea", "dat"]))
def test_fuzz_wfdb_truncated(work: Path, cut: int, which: str) -> None:
    hea, dat = _valid_wfdb(work)
    (work / "rec.hea").write_bytes(hea[:cut] if which == "hea" else hea)
    (work / "rec.dat").write_bytes(dat[:cut] if which == "dat" else dat)
    rec = _only_format_errors(read_wfdb, work / "rec.hea")
    if which == "dat" and cut < len(dat):
        assert rec is None, f"truncated .dat at {cut} was accepted"


@FUZZ
@given(data=st.binary(max_size=600), flips=st.lists(st.integers(0, 10**6), max_size=8))
def test_fuzz_wfdb_garbage_header(work: Path, data: bytes, flips: list[int]) -> None:
    hea, dat = _valid_wfdb(work)
    mutated = bytearray(hea)
    for f in flips:
        mutated[f % len(mutated)] = f % 256
    (work / "rec.hea").write_bytes(bytes(mutated) if flips else data)
    (work / "rec.dat").write_bytes(dat)
    _only_format_errors(read_wfdb, work / "rec.hea")


# --- HL7 aECG -----------------------------------------------------------------------


@example(ops=[("insert", 30, b"a")])  # encoding "autf-8": LookupError before the fix
@FUZZ
@given(
    ops=st.lists(
        st.tuples(
            st.sampled_from(["flip", "cut", "drop", "insert"]),
            st.integers(0, 10**6),
            st.binary(min_size=1, max_size=8),
        ),
        min_size=1,
        max_size=5,
    )
)
def test_fuzz_aecg_byte_mutations(work: Path, ops: list[tuple[str, int, bytes]]) -> None:
    data = bytearray(AECG_TINY)
    for op, pos, blob in ops:
        i = pos % max(len(data), 1)
        if op == "flip" and data:
            data[i] ^= blob[0] or 1
        elif op == "cut":
            del data[i:]
        elif op == "drop":
            del data[i : i + 40]
        else:
            data[i:i] = blob
    (work / "m.xml").write_bytes(bytes(data))
    _only_format_errors(read_aecg, work / "m.xml")


_ATTR_VALUES = st.one_of(
    st.sampled_from(
        ["0", "-1", "0.0", "1e-320", "1e999", "nan", "", "abc", "2", "mV", "s"]
    ),
    st.text(max_size=12),
)


@FUZZ
@given(
    edits=st.lists(st.tuples(st.integers(0, 10**6), _ATTR_VALUES), min_size=1, max_size=4),
    digits=st.lists(st.tuples(st.integers(0, 11), st.text(max_size=40)), max_size=2),
)
def test_fuzz_aecg_value_and_digit_mutations(
    work: Path, edits: list[tuple[int, str]], digits: list[tuple[int, str]]
) -> None:
    text = AECG_TINY.decode()
    attrs = list(re.finditer(r'(value|unit|code)="([^"]*)"', text))
    for pos, value in edits:
        m = attrs[pos % len(attrs)]
        safe = value.replace('"', "").replace("<", "").replace("&", "")
        text = text[: m.start(2)] + safe + text[m.end(2) :]
        attrs = list(re.finditer(r'(value|unit|code)="([^"]*)"', text))
    blocks = list(re.finditer(r"<digits>(.*?)</digits>", text, re.S))
    for lead, value in digits:
        m = blocks[lead % len(blocks)]
        safe = value.replace("<", "").replace("&", "")
        text = text[: m.start(1)] + safe + text[m.end(1) :]
        blocks = list(re.finditer(r"<digits>(.*?)</digits>", text, re.S))
    (work / "v.xml").write_text(text, encoding="utf-8", errors="surrogatepass")
    _only_format_errors(read_aecg, work / "v.xml")


# --- DICOM --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dicom_bytes(work: Path) -> bytes:
    return write_dicom_ecg(_small_record(), work / "valid.dcm").read_bytes()


@FUZZ
@given(cut=st.integers(0, 10**6), flips=st.lists(st.integers(0, 10**7), max_size=6))
def test_fuzz_dicom_truncated_and_flipped(
    work: Path, dicom_bytes: bytes, cut: int, flips: list[int]
) -> None:
    data = bytearray(dicom_bytes)
    for f in flips:
        data[f % len(data)] = (f >> 8) % 256
    if cut < len(data):
        del data[cut:]
    (work / "t.dcm").write_bytes(bytes(data))
    _only_format_errors(read_dicom, work / "t.dcm")


_DICOM_EDITS = st.sampled_from(
    [
        ("NumberOfWaveformChannels", st.integers(0, 70000)),
        ("NumberOfWaveformSamples", st.integers(0, 2**32 - 1)),
        ("SamplingFrequency", _NUM),
        ("WaveformBitsAllocated", st.sampled_from([0, 8, 12, 16, 32, 64])),
        (
            "WaveformSampleInterpretation",
            st.sampled_from(["SS", "UB", "SB", "MB", "AB", "X"]),
        ),
        ("WaveformData", st.binary(max_size=64)),
        ("ChannelSensitivity", _NUM),
        ("ChannelBaseline", _NUM),
        ("ChannelSensitivityCorrectionFactor", _NUM),
        (
            "CodeValue",
            st.sampled_from(["uV", "mV", "", "2:1", "131389", "mm[Hg]", "5.6.3-9"]),
        ),
    ]
)


@FUZZ
@given(data=st.data())
def test_fuzz_dicom_mutated_attributes(
    work: Path, dicom_bytes: bytes, data: st.DataObject
) -> None:
    path = work / "m.dcm"
    path.write_bytes(dicom_bytes)
    ds = pydicom.dcmread(path)
    group = ds.WaveformSequence[0]
    for _ in range(data.draw(st.integers(1, 3))):
        name, values = data.draw(_DICOM_EDITS)
        value = data.draw(values)
        channel = group.ChannelDefinitionSequence[data.draw(st.integers(0, 2))]
        target = group if name in group else channel
        if name == "CodeValue":
            target = channel.ChannelSensitivityUnitsSequence[0]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                setattr(target, name, value)
                ds.save_as(path)
        except Exception:  # a value pydicom itself refuses to write: not a reader test
            reject()
    _only_format_errors(read_dicom, path)


# --- CSV ----------------------------------------------------------------------------

_CELL = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=32).map(repr),
    st.integers(-(10**6), 10**6).map(str),
    st.sampled_from(["", " ", "abc", "1_000", "0x10", "1e999", "--1", "NaN", '"3"']),
)


_COMMENTS = [
    "# fs=500 unit=mV\n",
    "# fs=250\n",
    "",
    "# fs=abc\n",
    "# unit=uV fs=99\n",
    "# fs=500 acquired_at=garbage\n",
    "# fs=1e-320 unit=us\n",
]
_NAMES = ["I", "ii", "V1", "MLII", "", "time", "X", "aVR", "V6", "V4R"]


@st.composite
def _csv_text(draw: st.DrawFn) -> str:
    delim = draw(st.sampled_from([",", ";", "\t"]))
    n_cols = draw(st.integers(0, 5))
    comment = draw(st.sampled_from(_COMMENTS))
    names = draw(st.lists(st.sampled_from(_NAMES), min_size=n_cols, max_size=n_cols))
    ragged = draw(st.booleans())
    cell = _CELL if draw(st.booleans()) else st.floats(-10, 10).map(repr)
    width = (max(n_cols - 1, 0), n_cols + 1) if ragged else (n_cols, n_cols)
    rows = draw(st.lists(st.lists(cell, min_size=width[0], max_size=width[1]), max_size=30))
    body = "\n".join(delim.join(r) for r in rows)
    return f"{comment}{delim.join(names)}\n{body}\n"


@FUZZ
@given(text=_csv_text(), fs=st.sampled_from([None, None, 500.0, 250.0, -1.0]))
def test_fuzz_csv_tables(work: Path, text: str, fs: float | None) -> None:
    (work / "r.csv").write_text(text)
    _only_format_errors(lambda p: read_csv(p, fs=fs), work / "r.csv")


@FUZZ
@given(cut=st.integers(0, 20000), junk=st.binary(max_size=20))
def test_fuzz_csv_truncated(work: Path, cut: int, junk: bytes) -> None:
    path = write_csv(_small_record(), work / "valid.csv")
    data = path.read_bytes()
    (work / "c.csv").write_bytes(data[:cut] + junk)
    _only_format_errors(read_csv, work / "c.csv")


# --- SCP-ECG ------------------------------------------------------------------------

_SCP_VALID = make_scp(
    np.random.default_rng(8).integers(-500, 500, (3, 300)), ("I", "II", "V1")
)


def _scp_layout(data: bytes) -> list[tuple[int, int]]:
    """(offset, length) of every section of a valid record, from its Section 0."""
    sec0_len = struct.unpack_from("<I", data, 10)[0]
    out = []
    for pos in range(22, 6 + sec0_len, 10):
        _, length, index = struct.unpack_from("<HII", data, pos)
        if length:
            out.append((index - 1, length))
    return out


def _refresh_crcs(data: bytearray, layout: list[tuple[int, int]]) -> None:
    """Recompute section and record CRCs so a mutation reaches past the checksums."""
    for start, length in layout:
        if start + length <= len(data):
            crc = binascii.crc_hqx(bytes(data[start + 2 : start + length]), 0xFFFF)
            data[start : start + 2] = struct.pack("<H", crc)
    if len(data) >= 2:
        data[0:2] = struct.pack("<H", binascii.crc_hqx(bytes(data[2:]), 0xFFFF))


@FUZZ
@given(
    cut=st.integers(0, 10**5),
    patches=st.lists(
        st.tuples(st.integers(0, 10**6), st.binary(min_size=1, max_size=4)), max_size=4
    ),
    fix_crc=st.booleans(),
)
def test_fuzz_scp_truncated_and_patched(
    work: Path, cut: int, patches: list[tuple[int, bytes]], fix_crc: bool
) -> None:
    data = bytearray(_SCP_VALID)
    for pos, blob in patches:
        i = pos % len(data)
        data[i : i + len(blob)] = blob
    del data[cut:]
    if fix_crc:
        _refresh_crcs(data, _scp_layout(_SCP_VALID))
    (work / "s.scp").write_bytes(bytes(data))
    _only_format_errors(read_scp, work / "s.scp")


# --- any reader, random bytes ---------------------------------------------------------


@FUZZ
@given(
    data=st.one_of(
        st.binary(max_size=2000),
        st.binary(max_size=300).map(lambda b: bytes(128) + b"DICM" + b),
        st.binary(max_size=300).map(lambda b: b"<?xml version='1.0'?><AnnotatedECG>" + b),
    ),
    suffix=st.sampled_from([".hea", ".xml", ".dcm", ".csv", ".scp", ".bin", ""]),
)
def test_fuzz_read_record_garbage(work: Path, data: bytes, suffix: str) -> None:
    path = work / f"g{suffix}"
    path.write_bytes(data)
    if suffix == ".hea":
        (work / "g.dat").write_bytes(data)
    _only_format_errors(read_record, path)
