"""Path conventions shared by the package (no heavy imports: wfdb is loaded on demand)."""

from __future__ import annotations

from os import PathLike
from pathlib import Path

__all__ = ["WFDB_SUFFIXES", "record_stem"]

WFDB_SUFFIXES = (".hea", ".dat", ".mat")


def record_stem(path: str | PathLike[str]) -> Path:
    """Return the WFDB record stem for a ``.hea``/``.dat``/``.mat`` path or a stem."""
    p = Path(path)
    if p.suffix.lower() in WFDB_SUFFIXES:
        return p.with_suffix("")
    return p
