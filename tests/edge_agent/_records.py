"""Real ECG records for the edge agent's tests: the bundled 12-lead record, rolled in time
so that each copy is a distinct (but still real) ECG, written as WFDB files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import wfdb

from edge_agent.io import EcgRecord, read_record

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "sample_records" / "00001_hr.hea"


def base_record() -> EcgRecord:
    """The bundled PTB-XL 12-lead, 500 Hz, 10 s record."""
    return read_record(SOURCE)


def write_records(
    folder: Path, n: int, *, start: int = 0, prefix: str = "rec"
) -> list[Path]:
    """Write ``n`` distinct WFDB records (``.hea`` + ``.dat``) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    rec = base_record()
    out = []
    for i in range(start, start + n):
        sig = np.roll(rec.signal, 37 * (i + 1), axis=1)
        name = f"{prefix}{i:04d}"
        wfdb.wrsamp(
            name, fs=rec.fs, units=["mV"] * len(rec.leads), sig_name=list(rec.leads),
            p_signal=sig.T, fmt=["16"] * len(rec.leads), adc_gain=[1000.0] * len(rec.leads),
            baseline=[0] * len(rec.leads), write_dir=str(folder),
        )
        out.append(folder / f"{name}.hea")
    return out
