"""CSV reader and writer: stated fs/unit, round trip, and every malformed-table case."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from edge_agent.errors import RecordFormatError
from edge_agent.io import build_record, iter_record_paths, read_csv, read_record, write_csv

ROWS = "\n".join(f"{i * 0.01:.2f},{-i * 0.02:.2f},{i}" for i in range(300))


def _write(tmp_path: Path, text: str, name: str = "rec.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_reads_comment_fs_and_unit(tmp_path: Path) -> None:
    path = _write(tmp_path, f"# fs=250 unit=uV\nI,avf,V3R\n{ROWS}\n")
    rec = read_record(path)
    assert rec.format == "csv" and rec.fs == 250.0, f"{rec.format} {rec.fs}"
    assert rec.leads == ("I", "aVF", "V3R"), f"{rec.leads}"
    assert rec.signal.shape == (3, 300), f"{rec.signal.shape}"
    assert rec.signal[2, 299] == pytest.approx(299e-3), f"{rec.signal[2, 299]}"  # uV -> mV
    assert "unit_assumed" not in rec.extra, f"{rec.extra}"


def test_quoted_cells_and_crlf(tmp_path: Path) -> None:
    rows = "\r\n".join(f'"{i}","{-i}"' for i in range(200))
    rec = read_csv(_write(tmp_path, f'# fs=500\r\n"V1","V2"\r\n{rows}\r\n'))
    assert rec.leads == ("V1", "V2") and rec.signal[1, 7] == -7.0, f"{rec.signal[:, 7]}"


def test_fs_and_unit_as_arguments(tmp_path: Path) -> None:
    path = _write(tmp_path, f"I,II,III\n{ROWS}\n")
    rec = read_csv(path, fs=500, unit="V")
    assert rec.fs == 500.0 and rec.signal[2, 10] == pytest.approx(10_000.0), f"{rec}"


def test_unit_defaults_to_mv_and_says_so(tmp_path: Path) -> None:
    rec = read_csv(_write(tmp_path, f"I,II,III\n{ROWS}\n"), fs=500)
    assert rec.extra["unit_assumed"] == "mV" and rec.signal[2, 10] == 10.0, f"{rec.extra}"


def test_semicolon_delimiter_time_column_and_blank_lines(tmp_path: Path) -> None:
    rows = "\n".join(f"{i / 500:.3f};{i};{-i}" for i in range(200))
    rec = read_csv(_write(tmp_path, f"# fs=500\n\ntime;V1;V2\n{rows}\n\n"))
    assert rec.leads == ("V1", "V2") and rec.extra["dropped_columns"] == "time", f"{rec}"
    assert rec.signal[1, 5] == -5.0, f"{rec.signal[:, 5]}"


def test_round_trip_with_demographics(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    when = datetime(2026, 11, 24, 8, 30, tzinfo=timezone(timedelta(hours=8)))
    rec = build_record(
        rng.normal(0, 1, (4, 1000)),
        360.0,
        ["MLII", "V5", "v4r", "aVL"],
        source="x",
        format="test",
        patient_id="村 12/3",
        age_years=71.0,
        sex="M",
        acquired_at=when,
    )
    back = read_csv(write_csv(rec, tmp_path / "rt.csv"))
    assert back.leads == ("II", "V5", "v4r", "aVL"), f"{back.leads}"
    np.testing.assert_allclose(back.signal, rec.signal, rtol=1e-5, atol=1e-6)
    assert (back.fs, back.patient_id, back.age_years, back.sex) == (
        360.0,
        "村 12/3",
        71.0,
        "M",
    )
    assert back.acquired_at == when, f"{back.acquired_at}"


def test_write_in_microvolts(tmp_path: Path) -> None:
    rec = build_record(np.full((1, 400), 1.25), 500, ["II"], source="x", format="t")
    path = write_csv(rec, tmp_path / "uv.csv", unit="uV")
    assert "unit=uV" in path.read_text().splitlines()[0]
    assert read_csv(path).signal[0, 0] == pytest.approx(1.25), "uV round trip"


def _err(path: Path, **kwargs: object) -> RecordFormatError:
    with pytest.raises(RecordFormatError) as info:
        read_csv(path, **kwargs)  # type: ignore[arg-type]
    assert str(path) in str(info.value), f"file not named: {info.value}"
    return info.value


def test_missing_fs(tmp_path: Path) -> None:
    err = _err(_write(tmp_path, f"I,II,III\n{ROWS}\n"))
    assert "sampling frequency not stated" in str(err), f"{err}"


def test_fs_argument_disagreeing_with_file(tmp_path: Path) -> None:
    err = _err(_write(tmp_path, f"# fs=250\nI,II,III\n{ROWS}\n"), fs=500)
    assert "differs" in str(err) and "250" in str(err) and "500" in str(err), f"{err}"


def test_ragged_row_names_the_line(tmp_path: Path) -> None:
    text = f"# fs=500\nI,II,III\n{ROWS}\n1,2\n"
    err = _err(_write(tmp_path, text))
    assert "ragged" in str(err) and "line 303" in str(err), f"{err}"


def test_non_numeric_cell_names_row_column_and_lead(tmp_path: Path) -> None:
    lines = ROWS.splitlines()
    lines[41] = "0.1,oops,3"
    err = _err(_write(tmp_path, "# fs=500\nI,II,III\n" + "\n".join(lines)))
    assert err.lead == "II" and "'oops'" in str(err), f"{err}"
    assert "line 44" in str(err) and "column 2" in str(err), f"{err}"


def test_empty_cell(tmp_path: Path) -> None:
    err = _err(_write(tmp_path, f"# fs=500\nI,II,III\n{ROWS}\n1,,3\n"))
    assert "non-numeric" in str(err) and err.lead == "II", f"{err}"


def test_nan_cell_names_the_lead(tmp_path: Path) -> None:
    err = _err(_write(tmp_path, f"# fs=500\nI,II,III\n{ROWS}\n1,2,nan\n"))
    assert "NaN" in str(err) and err.lead == "III", f"{err}"


@pytest.mark.parametrize(
    ("header", "needle"),
    [("I,,III", "empty lead name"), ("I,i,III", "duplicate"), ("II,MLII,V1", "duplicate")],
)
def test_bad_lead_names(tmp_path: Path, header: str, needle: str) -> None:
    err = _err(_write(tmp_path, f"# fs=500\n{header}\n{ROWS}\n"))
    assert needle in str(err), f"{err}"


def test_unknown_unit(tmp_path: Path) -> None:
    err = _err(_write(tmp_path, f"# fs=500 unit=mmHg\nI,II,III\n{ROWS}\n"))
    assert "unknown unit" in str(err), f"{err}"


@pytest.mark.parametrize("fs", ["50", "5000", "abc"])
def test_bad_fs(tmp_path: Path, fs: str) -> None:
    err = _err(_write(tmp_path, f"# fs={fs}\nI,II,III\n{ROWS}\n"))
    assert "fs" in str(err) or "sampling frequency" in str(err), f"{err}"


@pytest.mark.parametrize("text", ["", "# fs=500\n", "# fs=500\nI,II\n", "\x00\x01"])
def test_no_table(tmp_path: Path, text: str) -> None:
    _err(_write(tmp_path, text))


def test_iter_record_paths_skips_non_record_csv_and_xml(tmp_path: Path) -> None:
    _write(tmp_path, f"# fs=500\nI,II,III\n{ROWS}\n", "a.csv")
    _write(tmp_path, f"time,V1\n{ROWS}\n", "b.csv")
    _write(tmp_path, "record,label\n1,AF\n", "labels.csv")
    _write(tmp_path, "<?xml version='1.0'?><settings/>", "settings.xml")
    _write(tmp_path, "<?xml version='1.0'?><AnnotatedECG/>", "ecg.xml")
    got = [p.name for p in iter_record_paths(tmp_path)]
    assert got == ["a.csv", "b.csv", "ecg.xml"], f"{got}"
