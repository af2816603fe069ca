"""Shared fixtures: paths to the bundled sample records and to ../shared/data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_RECORDS = ROOT / "sample_records"
SHARED_DATA = Path(os.environ.get("ECG_SHARED_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    """The small real records bundled with the project."""
    return SAMPLE_RECORDS


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data``; skips the test, saying why, when it is not there."""
    if not (SHARED_DATA / "PROVENANCE.md").is_file():
        pytest.skip(f"shared ECG data not found at {SHARED_DATA} (set ECG_SHARED_DATA)")
    return SHARED_DATA
