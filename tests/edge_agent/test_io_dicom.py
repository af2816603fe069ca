"""DICOM ECG waveform objects: write/read round trip, calibration, lead codes, bad files."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import GeneralECGWaveformStorage, TwelveLeadECGWaveformStorage

from edge_agent.errors import InvalidSignalError, RecordFormatError
from edge_agent.io import EcgRecord, build_record, read_dicom, read_record, write_dicom_ecg
from edge_agent.types import STANDARD_12

FS = 500.0
CST = timezone(timedelta(hours=8))


def _record(n_leads: int = 12, seconds: float = 4.0, amp_mv: float = 2.0) -> EcgRecord:
    rng = np.random.default_rng(3)
    n = int(seconds * FS)
    t = np.arange(n) / FS
    sig = amp_mv * np.sin(2 * np.pi * 1.3 * t)[None, :] * rng.uniform(-1, 1, (n_leads, 1))
    sig = sig + rng.normal(0, 0.02, sig.shape)
    leads = [*STANDARD_12, "V4R", "vx", "vy"][:n_leads]
    return build_record(
        sig,
        FS,
        leads,
        source="synthetic",
        format="test",
        patient_id="P-0042",
        age_years=67.0,
        sex="F",
        acquired_at=datetime(2026, 11, 24, 8, 30, 5, tzinfo=CST),
    )


def _sensitivity_mv(path: Path) -> np.ndarray:
    ds = pydicom.dcmread(path)
    defs = ds.WaveformSequence[0].ChannelDefinitionSequence
    return np.array([float(d.ChannelSensitivity) for d in defs]) * 1e-3


def test_round_trip_12_lead(tmp_path: Path) -> None:
    rec = _record()
    path = write_dicom_ecg(rec, tmp_path / "ecg.dcm")
    back = read_record(path)
    assert back.format == "dicom" and back.leads == rec.leads, f"{back.leads}"
    assert back.fs == FS and back.signal.shape == rec.signal.shape, f"{back.signal.shape}"
    half_step = _sensitivity_mv(path)[:, None] / 2
    err = np.abs(back.signal - rec.signal)
    assert (err <= half_step + 1e-12).all(), f"max error {err.max()} mV"
    assert (back.patient_id, back.age_years, back.sex) == ("P-0042", 67.0, "F"), f"{back}"
    assert back.acquired_at == rec.acquired_at, f"{back.acquired_at}"
    assert back.acquired_at is not None and back.acquired_at.utcoffset() == timedelta(
        hours=8
    )
    assert back.extra["sop_class"] == str(TwelveLeadECGWaveformStorage), f"{back.extra}"


def test_large_amplitude_uses_a_coarser_step(tmp_path: Path) -> None:
    rec = _record(amp_mv=60.0)
    path = write_dicom_ecg(rec, tmp_path / "big.dcm")
    sens = _sensitivity_mv(path)
    assert sens.max() > 1e-3, f"sensitivity {sens.max()} mV/LSB"
    err = np.abs(read_dicom(path).signal - rec.signal)
    assert (err <= sens[:, None] / 2 + 1e-12).all(), f"max error {err.max()}"


def test_100_hz_goes_to_ambulatory_and_15_leads_at_100_hz_is_refused(
    tmp_path: Path,
) -> None:
    rec = _record(n_leads=12)
    slow = build_record(rec.signal[:, ::5], 100.0, rec.leads, source="s", format="t")
    back = read_dicom(write_dicom_ecg(slow, tmp_path / "amb.dcm"))
    assert back.fs == 100.0, f"{back.fs}"
    assert back.extra["sop_class"] == "1.2.840.10008.5.1.4.1.1.9.1.3", f"{back.extra}"
    wide = build_record(
        _record(n_leads=15).signal[:, ::5],
        100.0,
        [*STANDARD_12, "a", "b", "c"],
        source="w",
        format="t",
    )
    with pytest.raises(InvalidSignalError, match="no DICOM ECG waveform IOD"):
        write_dicom_ecg(wide, tmp_path / "wide.dcm")


def test_pydicom_shipped_mortara_ecg() -> None:
    """A real vendor object (Mortara ELI 250) shipped with pydicom, checked against
    pydicom's own decoder (both apply sensitivity, correction and baseline)."""
    from pydicom.data import get_testdata_file

    path = get_testdata_file("waveform_ecg.dcm")
    assert path is not None, "pydicom's test file waveform_ecg.dcm is missing"
    rec = read_dicom(path)
    assert rec.leads == STANDARD_12 and rec.fs == 1000.0, f"{rec.leads} {rec.fs}"
    assert rec.signal.shape == (12, 10000), f"{rec.signal.shape}"  # RHYTHM, not MEDIAN BEAT
    ref = pydicom.dcmread(path).waveform_array(0).T * 1e-3  # uV -> mV
    np.testing.assert_allclose(rec.signal, ref, rtol=1e-12)
    assert (rec.patient_id, rec.age_years, rec.sex) == ("642341", 42.0, "F"), f"{rec}"
    assert rec.acquired_at == datetime(2013, 1, 25, 10, 59, 19), f"{rec.acquired_at}"


def test_15_leads_go_to_general_ecg(tmp_path: Path) -> None:
    rec = _record(n_leads=15)
    path = write_dicom_ecg(rec, tmp_path / "g.dcm")
    back = read_dicom(path)
    assert back.leads == rec.leads, f"{back.leads}"
    assert back.extra["sop_class"] == str(GeneralECGWaveformStorage), f"{back.extra}"


@pytest.mark.shared_data
def test_round_trip_ludb(shared_data: Path, tmp_path: Path) -> None:
    rec = read_record(shared_data / "ludb" / "data" / "1.hea")
    back = read_dicom(write_dicom_ecg(rec, tmp_path / "ludb1.dcm"))
    assert back.leads == STANDARD_12 and back.fs == 500.0, f"{back.leads}"
    err = np.abs(back.signal - rec.signal).max()
    assert err <= 0.5e-3 + 1e-12, f"max error {err} mV"
    assert (back.age_years, back.sex) == (51.0, "F"), f"{back.age_years} {back.sex}"


def _rewrite(path: Path, edit: object) -> Path:
    ds = pydicom.dcmread(path)
    edit(ds)  # type: ignore[operator]
    ds.save_as(path)
    return path


def test_baseline_correction_and_units(tmp_path: Path) -> None:
    rec = _record()
    path = write_dicom_ecg(rec, tmp_path / "cal.dcm")
    raw = np.frombuffer(pydicom.dcmread(path).WaveformSequence[0].WaveformData, "<i2")
    raw = raw.reshape(-1, 12).T.astype(np.float64)

    def edit(ds: pydicom.Dataset) -> None:
        ch = ds.WaveformSequence[0].ChannelDefinitionSequence[2]
        ch.ChannelSensitivity = "0.002"
        ch.ChannelSensitivityUnitsSequence[0].CodeValue = "mV"
        ch.ChannelSensitivityCorrectionFactor = "1.5"
        ch.ChannelBaseline = "-0.25"

    back = read_dicom(_rewrite(path, edit))
    np.testing.assert_allclose(back.signal[2], raw[2] * 0.002 * 1.5 - 0.25, rtol=1e-12)


@pytest.mark.parametrize(
    ("code", "scheme", "meaning", "expected"),
    [
        ("2:64", "MDC", "Lead aVF", "aVF"),
        ("131329", "MDC", "MDC_ECG_LEAD_I", "I"),
        ("131389", "MDC", "MDC_ECG_LEAD_III", "III"),
        ("5.6.3-9-62", "SCPECG", "Lead aVR", "aVR"),
        ("5.6.3-9-8", "SCPECG", "Lead V6", "V6"),
        ("2:90", "MDC", "Lead V4R", "V4R"),
    ],
)
def test_channel_source_codes(
    tmp_path: Path, code: str, scheme: str, meaning: str, expected: str
) -> None:
    path = write_dicom_ecg(_record(n_leads=1), tmp_path / "one.dcm")

    def edit(ds: pydicom.Dataset) -> None:
        src = ds.WaveformSequence[0].ChannelDefinitionSequence[0].ChannelSourceSequence[0]
        src.CodeValue, src.CodingSchemeDesignator, src.CodeMeaning = code, scheme, meaning

    assert read_dicom(_rewrite(path, edit)).leads == (expected,), f"{code}"


def test_rhythm_group_is_chosen_over_median(tmp_path: Path) -> None:
    path = write_dicom_ecg(_record(), tmp_path / "two.dcm")

    def edit(ds: pydicom.Dataset) -> None:
        median = pydicom.Dataset()
        median.update(ds.WaveformSequence[0])
        median.MultiplexGroupLabel = "MEDIAN"
        median.WaveformOriginality = "DERIVED"
        median.NumberOfWaveformSamples = 600
        median.WaveformData = bytes(600 * 12 * 2)
        ds.WaveformSequence = pydicom.Sequence([median, ds.WaveformSequence[0]])

    back = read_dicom(_rewrite(path, edit))
    assert back.signal.shape == (12, 2000), f"{back.signal.shape}"


def _err(path: Path) -> RecordFormatError:
    with pytest.raises(RecordFormatError) as info:
        read_record(path)
    assert str(path) in str(info.value), f"file not named: {info.value}"
    return info.value


def test_waveform_data_shorter_than_header(tmp_path: Path) -> None:
    path = write_dicom_ecg(_record(), tmp_path / "short.dcm")

    def edit(ds: pydicom.Dataset) -> None:
        ds.WaveformSequence[0].WaveformData = ds.WaveformSequence[0].WaveformData[:1000]

    err = _err(_rewrite(path, edit))
    assert "length" in str(err) and err.expected and err.expected.startswith("48000 bytes")
    assert err.got == "1000 bytes", f"{err}"


def test_channel_count_lie(tmp_path: Path) -> None:
    path = write_dicom_ecg(_record(), tmp_path / "lie.dcm")

    def edit(ds: pydicom.Dataset) -> None:
        ds.WaveformSequence[0].NumberOfWaveformChannels = 13

    err = _err(_rewrite(path, edit))
    assert "channel" in str(err) and err.got == "12", f"{err}"


@pytest.mark.parametrize(
    ("attribute", "value", "needle"),
    [
        ("SamplingFrequency", "20000", "sampling frequency"),
        ("WaveformSampleInterpretation", "MB", "encoding"),
        ("WaveformBitsAllocated", 32, "encoding"),
    ],
)
def test_bad_group_attributes(
    tmp_path: Path, attribute: str, value: object, needle: str
) -> None:
    path = write_dicom_ecg(_record(), tmp_path / "bad.dcm")

    def edit(ds: pydicom.Dataset) -> None:
        setattr(ds.WaveformSequence[0], attribute, value)

    err = _err(_rewrite(path, edit))
    assert needle in str(err), f"{err}"


def test_unknown_sensitivity_unit(tmp_path: Path) -> None:
    path = write_dicom_ecg(_record(), tmp_path / "unit.dcm")

    def edit(ds: pydicom.Dataset) -> None:
        ch = ds.WaveformSequence[0].ChannelDefinitionSequence[4]
        ch.ChannelSensitivityUnitsSequence[0].CodeValue = "mm[Hg]"

    err = _err(_rewrite(path, edit))
    assert "unit" in str(err) and err.lead == "aVL", f"{err}"


def test_no_waveform_sequence(tmp_path: Path) -> None:
    path = write_dicom_ecg(_record(), tmp_path / "none.dcm")
    err = _err(_rewrite(path, lambda ds: delattr(ds, "WaveformSequence")))
    assert "no waveform" in str(err), f"{err}"


@pytest.mark.parametrize("payload", [b"", b"DICM", bytes(128) + b"DICM" + bytes(50)])
def test_not_dicom(tmp_path: Path, payload: bytes) -> None:
    path = tmp_path / "x.dcm"
    path.write_bytes(payload)
    _err(path)


def test_dicom_sniffed_without_suffix(tmp_path: Path) -> None:
    path = write_dicom_ecg(_record(), tmp_path / "export.bin")
    assert read_record(path).format == "dicom"
