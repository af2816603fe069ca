"""WFDB reader: real PhysioNet records and every malformed-file case of issue 2."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
import wfdb

from edge_agent.errors import RecordFormatError
from edge_agent.io import EcgRecord, iter_record_paths, read_record, read_wfdb
from edge_agent.io.wfdb_reader import parse_base_datetime, parse_comments
from edge_agent.types import STANDARD_12

FS = 500
N = 1000


def _write_raw(
    tmp: Path,
    *,
    name: str = "rec",
    leads: tuple[str, ...] = ("I", "II", "V2"),
    n: int = N,
    units: str = "mV",
    gain: float = 200.0,
    fmt: str = "16",
    fs: float = FS,
    comments: tuple[str, ...] = (),
    record_line: str | None = None,
    data: np.ndarray | None = None,
) -> tuple[Path, np.ndarray]:
    """Write a format-16 record by hand: header text plus little-endian int16 samples."""
    rng = np.random.default_rng(7)
    digital = (
        data if data is not None else rng.integers(-2000, 2000, size=(n, len(leads)))
    ).astype("<i2")
    (tmp / f"{name}.dat").write_bytes(digital.tobytes())
    lines = [record_line or f"{name} {len(leads)} {fs:g} {n}"]
    lines += [f"{name}.dat {fmt} {gain:g}/{units} 16 0 0 0 0 {lead}" for lead in leads]
    lines += [f"# {c}" for c in comments]
    hea = tmp / f"{name}.hea"
    hea.write_text("\n".join(lines) + "\n")
    return hea, digital


def test_reads_hand_written_record_in_mv_with_leads_first(tmp_path: Path) -> None:
    hea, digital = _write_raw(tmp_path)
    rec = read_wfdb(hea)
    assert isinstance(rec, EcgRecord)
    assert rec.signal.shape == (3, N), f"shape {rec.signal.shape}"
    assert rec.signal.flags["C_CONTIGUOUS"] and rec.signal.dtype == np.float64
    np.testing.assert_allclose(rec.signal, digital.T / 200.0, atol=1e-12)
    assert rec.leads == ("I", "II", "V2") and rec.fs == 500.0, f"{rec.leads} {rec.fs}"
    assert rec.format == "wfdb" and rec.source == str(hea), f"{rec.format} {rec.source}"


@pytest.mark.parametrize(("units", "factor"), [("uV", 1e-3), ("V", 1e3), ("mV", 1.0)])
def test_units_are_converted_to_mv(tmp_path: Path, units: str, factor: float) -> None:
    _, digital = _write_raw(tmp_path, units=units)
    rec = read_wfdb(tmp_path / "rec")
    np.testing.assert_allclose(rec.signal, digital.T / 200.0 * factor, rtol=1e-12)


@pytest.mark.parametrize("given", ["rec.hea", "rec.dat", "rec"])
def test_any_record_path_spelling(tmp_path: Path, given: str) -> None:
    _write_raw(tmp_path)
    rec = read_record(tmp_path / given)
    assert rec.signal.shape == (3, N), f"{given}: shape {rec.signal.shape}"


def test_wfdb_written_record_round_trips_with_datetime(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    sig = rng.normal(0, 1, size=(2 * FS, 2))
    wfdb.wrsamp(
        "w",
        fs=FS,
        units=["mV", "mV"],
        sig_name=["avf", "v6"],
        p_signal=sig,
        fmt=["16", "16"],
        adc_gain=[1000.0, 1000.0],
        baseline=[0, 0],
        write_dir=str(tmp_path),
        base_time=datetime(2026, 11, 3, 8, 15, 2).time(),
        base_date=datetime(2026, 11, 3).date(),
        comments=["Age: 61", "Sex: Female"],
    )
    rec = read_wfdb(tmp_path / "w.hea")
    np.testing.assert_allclose(rec.signal, sig.T, atol=0.5 / 1000 + 1e-12)
    assert rec.leads == ("aVF", "V6"), f"leads {rec.leads}"
    assert rec.acquired_at == datetime(2026, 11, 3, 8, 15, 2), f"{rec.acquired_at}"
    assert (rec.age_years, rec.sex) == (61.0, "F"), f"{rec.age_years} {rec.sex}"


def _err(path: Path) -> RecordFormatError:
    with pytest.raises(RecordFormatError) as info:
        read_record(path)
    return info.value


def test_missing_header_names_the_file(tmp_path: Path) -> None:
    _write_raw(tmp_path)
    (tmp_path / "rec.hea").unlink()
    err = _err(tmp_path / "rec.dat")
    assert "header file missing" in str(err) and "rec.hea" in str(err), f"{err}"


def test_missing_dat_names_the_file(tmp_path: Path) -> None:
    _write_raw(tmp_path)
    (tmp_path / "rec.dat").unlink()
    err = _err(tmp_path / "rec.hea")
    assert "data file missing" in str(err) and "rec.dat" in str(err), f"{err}"


def test_truncated_dat_states_exact_sizes(tmp_path: Path) -> None:
    _write_raw(tmp_path)
    dat = tmp_path / "rec.dat"
    dat.write_bytes(dat.read_bytes()[:1001])
    err = _err(tmp_path / "rec.hea")
    assert "truncated" in str(err), f"{err}"
    assert err.expected is not None and err.expected.startswith(f"{N * 3 * 2} bytes"), (
        f"{err}"
    )
    assert err.got == "1001 bytes" and err.path == str(dat), f"{err}"


def test_header_claiming_fewer_samples_than_the_file(tmp_path: Path) -> None:
    _write_raw(tmp_path, record_line=f"rec 3 {FS} {N // 2}")
    err = _err(tmp_path / "rec.hea")
    assert "longer than its header" in str(err) and f"got {N * 6} bytes" in str(err), (
        f"{err}"
    )


def test_header_claiming_more_samples_than_the_file(tmp_path: Path) -> None:
    _write_raw(tmp_path, record_line=f"rec 3 {FS} {N * 2}")
    err = _err(tmp_path / "rec.hea")
    assert "truncated" in str(err) and f"expected {N * 12} bytes" in str(err), f"{err}"


def test_header_lying_about_the_number_of_signals(tmp_path: Path) -> None:
    _write_raw(tmp_path, record_line=f"rec 4 {FS} {N}")
    err = _err(tmp_path / "rec.hea")
    assert "rec.hea" in str(err), f"{err}"
    assert "signal" in str(err).lower() or "header" in str(err).lower(), f"{err}"


def test_header_declaring_fewer_signals_than_the_file_holds(tmp_path: Path) -> None:
    _write_raw(tmp_path)  # 3 leads in rec.dat
    lines = (tmp_path / "rec.hea").read_text().splitlines()
    (tmp_path / "rec.hea").write_text("\n".join([f"rec 2 {FS} {N}", *lines[1:3]]) + "\n")
    err = _err(tmp_path / "rec.hea")
    assert "number of signals" in str(err), f"{err}"
    assert err.expected is not None and err.expected.startswith(f"{N * 2 * 2} bytes"), (
        f"{err}"
    )


def test_unknown_format_code(tmp_path: Path) -> None:
    _write_raw(tmp_path, fmt="17")
    err = _err(tmp_path / "rec.hea")
    assert "rec.hea" in str(err) and "17" in str(err), f"{err}"


def test_nan_samples_name_the_lead(tmp_path: Path) -> None:
    data = np.zeros((N, 3), dtype=np.int64)
    data[10:15, 1] = -32768  # WFDB's invalid-sample value for format 16
    _write_raw(tmp_path, data=data)
    err = _err(tmp_path / "rec.hea")
    assert err.lead == "II" and "NaN" in str(err) and "5 invalid" in str(err), f"{err}"


def test_zero_leads(tmp_path: Path) -> None:
    (tmp_path / "rec.hea").write_text(f"rec 0 {FS} {N}\n")
    err = _err(tmp_path / "rec.hea")
    assert "no leads" in str(err) and "rec.hea" in str(err), f"{err}"


@pytest.mark.parametrize("fs", [50, 99.5, 1001, 2000])
def test_fs_outside_100_to_1000(tmp_path: Path, fs: float) -> None:
    _write_raw(tmp_path, fs=fs)
    err = _err(tmp_path / "rec.hea")
    assert "sampling frequency" in str(err) and f"{fs:g}" in str(err), f"{err}"


@pytest.mark.parametrize(
    "text", ["", "hello world\n", "rec three 500 1000\nrec.dat 16\n", "\x00\x01garbage"]
)
def test_unparsable_header(tmp_path: Path, text: str) -> None:
    _write_raw(tmp_path)
    (tmp_path / "rec.hea").write_text(text)
    err = _err(tmp_path / "rec.hea")
    assert "rec.hea" in str(err), f"{err}"


def test_unknown_unit(tmp_path: Path) -> None:
    _write_raw(tmp_path, units="mmHg")
    err = _err(tmp_path / "rec.hea")
    assert "unit" in str(err) and "mmHg" in str(err), f"{err}"


def test_duplicate_leads_after_normalisation(tmp_path: Path) -> None:
    _write_raw(tmp_path, leads=("MLII", "ii", "V1"))
    err = _err(tmp_path / "rec.hea")
    assert "duplicate" in str(err) and err.lead == "II", f"{err}"


def test_unknown_leads_keep_their_name(tmp_path: Path) -> None:
    _write_raw(tmp_path, leads=("v4r", " Pleth ", "avl"))
    rec = read_wfdb(tmp_path / "rec.hea")
    assert rec.leads == ("v4r", "Pleth", "aVL"), f"{rec.leads}"


@pytest.mark.parametrize(
    ("comments", "age", "sex", "key", "value"),
    [
        (
            ["69 M 1085 1629 x1", "Aldomet, Inderal"],
            69.0,
            "M",
            "comments",
            "Aldomet, Inderal",
        ),
        (
            ["<age>: 51", "<sex>: F", "<diagnoses>:", "Rhythm: Sinus.", "LVH."],
            51.0,
            "F",
            "diagnoses",
            "Rhythm: Sinus.; LVH.",
        ),
        (["Age: 78", "Sex: Male", "Dx: 164889003"], 78.0, "M", "dx", "164889003"),
        (
            ["age: 63", "sex: female", "ECG date: 18/10/1990"],
            63.0,
            "F",
            "ecg date",
            "18/10/1990",
        ),
        (["Age: NaN", "Sex: Unknown"], None, None, None, None),
    ],
)
def test_header_comment_styles(
    comments: list[str],
    age: float | None,
    sex: str | None,
    key: str | None,
    value: str | None,
) -> None:
    got_age, got_sex, extra = parse_comments(comments)
    assert (got_age, got_sex) == (age, sex), f"{comments}: {got_age} {got_sex}"
    if key is not None:
        assert extra.get(key) == value, f"{comments}: extra {extra}"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("r 2 360 650000 13:05:00 02/03/1999", datetime(1999, 3, 2, 13, 5)),
        ("A0001 12 500 7500 05-Feb-2020 11:39:16", datetime(2020, 2, 5, 11, 39, 16)),
        ("r 2 360 650000 13:05:00", None),
        ("r 2 360 650000", None),
        ("r 2 360 650000 99:99:99 45/13/2020", None),
    ],
)
def test_base_datetime(line: str, expected: datetime | None) -> None:
    got = parse_base_datetime(line + "\n")
    assert got == expected, f"{line!r}: {got}"


def test_iter_record_paths_one_entry_per_stem(tmp_path: Path) -> None:
    _write_raw(tmp_path, name="b")
    _write_raw(tmp_path, name="a")
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "orphan.dat").write_bytes(b"\x00\x00")
    got = iter_record_paths(tmp_path)
    assert got == [tmp_path / "a.hea", tmp_path / "b.hea"], f"{got}"
    assert iter_record_paths(tmp_path / "a.dat") == [tmp_path / "a.hea"]


# --- real records from ../shared/data ---------------------------------------------


@pytest.mark.shared_data
def test_ludb_record(shared_data: Path) -> None:
    rec = read_record(shared_data / "ludb" / "data" / "1.hea")
    assert rec.leads == STANDARD_12 and rec.fs == 500.0, f"{rec.leads} {rec.fs}"
    assert rec.signal.shape == (12, 5000), f"{rec.signal.shape}"
    assert (rec.age_years, rec.sex) == (51.0, "F"), f"{rec.age_years} {rec.sex}"
    assert "Sinus bradycardia" in rec.extra["diagnoses"], f"{rec.extra}"
    # header "1.dat 16 1716(6)/mV 0 0 -120": gain 1716, baseline 6, first sample -120
    assert rec.signal[0, 0] == pytest.approx((-120 - 6) / 1716), f"{rec.signal[0, 0]}"


@pytest.mark.shared_data
def test_mitbih_212_format(shared_data: Path) -> None:
    rec = read_record(shared_data / "mitdb" / "100.dat")
    assert rec.leads == ("II", "V5") and rec.fs == 360.0, f"{rec.leads} {rec.fs}"
    assert rec.signal.shape == (2, 650000), f"{rec.signal.shape}"
    # header: gain 200, baseline 1024, first values 995 and 1011
    np.testing.assert_allclose(rec.signal[:, 0], [(995 - 1024) / 200, (1011 - 1024) / 200])
    assert (rec.age_years, rec.sex) == (69.0, "M"), f"{rec.age_years} {rec.sex}"


@pytest.mark.shared_data
def test_mitbih_truncated_copy_reports_exact_sizes(
    shared_data: Path, tmp_path: Path
) -> None:
    src = shared_data / "mitdb" / "100"
    (tmp_path / "100.hea").write_bytes(src.with_suffix(".hea").read_bytes())
    (tmp_path / "100.dat").write_bytes(src.with_suffix(".dat").read_bytes()[:30000])
    err = _err(tmp_path / "100.hea")
    assert err.expected is not None and err.expected.startswith("1950000 bytes"), f"{err}"
    assert err.got == "30000 bytes", f"{err}"


@pytest.mark.shared_data
@pytest.mark.parametrize("name", ["E07500", "HR06000", "JS00666"])
def test_cinc2021_mat_records(shared_data: Path, name: str) -> None:
    hea = shared_data / "cinc2021_samples" / f"{name}.hea"
    if not hea.is_file():
        pytest.skip(f"{hea} not in the shared sample")
    rec = read_record(hea.with_suffix(".mat"))
    assert rec.leads == STANDARD_12 and rec.fs == 500.0, f"{name}: {rec.leads} {rec.fs}"
    ref = wfdb.rdrecord(str(hea.with_suffix("")))
    np.testing.assert_allclose(rec.signal, ref.p_signal.T, err_msg=f"{name}")
    assert rec.age_years is not None and rec.sex in ("M", "F"), f"{name}: {rec}"
    assert rec.extra.get("dx"), f"{name}: no Dx in {rec.extra}"


@pytest.mark.shared_data
def test_cpsc2018_mat_record_with_datetime(shared_data: Path) -> None:
    rec = read_record(shared_data / "cpsc2018_cinc2020" / "A0001.hea")
    assert rec.signal.shape == (12, 7500) and rec.leads == STANDARD_12, (
        f"{rec.signal.shape}"
    )
    assert rec.acquired_at == datetime(2020, 2, 5, 11, 39, 16), f"{rec.acquired_at}"
    assert (rec.age_years, rec.sex, rec.extra["dx"]) == (74.0, "M", "RBBB"), f"{rec}"


@pytest.mark.shared_data
def test_ptb_15_leads(shared_data: Path) -> None:
    rec = read_record(shared_data / "ptbdb_records" / "s0015lre.hea")
    assert rec.leads == (*STANDARD_12, "vx", "vy", "vz"), f"{rec.leads}"
    assert rec.fs == 1000.0 and rec.signal.shape == (15, 115200), f"{rec.signal.shape}"
    assert "missing_files" not in rec.extra, f"{rec.extra}"


@pytest.mark.shared_data
def test_ptb_missing_xyz_reads_the_12_standard_leads(
    shared_data: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rec = read_record(shared_data / "ptbdb_records" / "s0017lre")
    assert rec.leads == STANDARD_12 and rec.signal.shape == (12, 115200), f"{rec.leads}"
    note = rec.extra["missing_files"]
    assert "s0017lre.xyz" in note and "vx, vy, vz" in note, f"{note}"
    assert any("s0017lre.xyz" in r.getMessage() for r in caplog.records), f"{caplog.text}"
    assert (rec.age_years, rec.sex) == (63.0, "M"), f"{rec.age_years} {rec.sex}"


@pytest.mark.shared_data
def test_ptb_missing_main_dat_is_an_error(shared_data: Path, tmp_path: Path) -> None:
    src = shared_data / "ptbdb_records" / "s0015lre"
    (tmp_path / "s0015lre.hea").write_bytes(src.with_suffix(".hea").read_bytes())
    (tmp_path / "s0015lre.xyz").write_bytes(src.with_suffix(".xyz").read_bytes())
    err = _err(tmp_path / "s0015lre.hea")
    assert "data file missing" in str(err) and "s0015lre.dat" in str(err), f"{err}"


def test_checksum_mismatch_names_the_lead(tmp_path: Path) -> None:
    sig = np.random.default_rng(9).normal(0, 1, size=(1000, 2))
    wfdb.wrsamp(
        "c",
        fs=FS,
        units=["mV", "mV"],
        sig_name=["I", "II"],
        p_signal=sig,
        fmt=["16", "16"],
        adc_gain=[1000.0, 1000.0],
        baseline=[0, 0],
        write_dir=str(tmp_path),
    )
    assert read_wfdb(tmp_path / "c").signal.shape == (2, 1000), "clean copy must read"
    dat = tmp_path / "c.dat"
    data = bytearray(dat.read_bytes())
    data[2 * 2 * 500 + 2] ^= 0x10  # sample 500 of lead II: same size, different sum
    dat.write_bytes(bytes(data))
    err = _err(tmp_path / "c.hea")
    assert "checksum" in str(err) and err.lead == "II", f"{err}"


# folder -> every n-th record (a sample of each source keeps the test short)
SHARED_12_LEAD = {
    "ludb/data": 5,
    "cinc2021_samples": 3,
    "cpsc2018_cinc2020": 1,
    "ptbdb_10s": 4,
}


@pytest.mark.shared_data
@pytest.mark.parametrize("folder", sorted(SHARED_12_LEAD))
def test_shared_12_lead_records_read(shared_data: Path, folder: str) -> None:
    paths = iter_record_paths(shared_data / folder)
    assert len(paths) >= 10 and all(p.suffix == ".hea" for p in paths), f"{folder}: {paths}"
    for path in paths[:: SHARED_12_LEAD[folder]]:
        rec = read_record(path)
        assert rec.leads == STANDARD_12, f"{path}: {rec.leads}"
        assert 100 <= rec.fs <= 1000 and rec.duration_s >= 5, f"{path}: {rec.fs}"
        assert np.abs(rec.signal).max() < 50, f"{path}: implausible amplitude (units?)"


def test_io_public_surface_is_complete() -> None:
    import edge_agent.io as io_pkg
    from edge_agent.io import aecg_reader, csv_io, dicom_io, scp_reader, wfdb_reader

    exported = set(io_pkg.__all__)
    assert all(hasattr(io_pkg, name) for name in exported), f"{exported}"
    for mod in (aecg_reader, csv_io, dicom_io, scp_reader, wfdb_reader):
        readers = {n for n in mod.__all__ if n.startswith(("read_", "write_"))}
        assert readers <= exported, f"{mod.__name__}: {readers - exported} not exported"


def test_package_import_defers_heavy_libraries() -> None:
    """Listing a folder must not import wfdb/pandas, pydicom or ecgdatakit (seconds)."""
    import subprocess
    import sys

    code = (
        "import sys, edge_agent.io as io; io.iter_record_paths('.');"
        "heavy = ('wfdb', 'pandas', 'pydicom', 'ecgdatakit');"
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]", f"heavy imports: {out.stdout} {out.stderr}"
