"""Labels the triage CNN's data loader gives to known records of the shared data.

LUDB's "Incomplete right/left bundle branch block" is not a complete BBB: those
records must be RBBB/LBBB negative, the complete ones positive. Skipped when
``../shared/data/ludb`` is absent.
"""

from __future__ import annotations

import pytest

from models.datasets import CLASSES, SHARED, _ludb

LUDB = SHARED / "ludb"
pytestmark = pytest.mark.skipif(
    not (LUDB / "ludb.csv").is_file(), reason=f"{LUDB} not present"
)
_RB, _LB = CLASSES.index("RBBB"), CLASSES.index("LBBB")


@pytest.fixture(scope="module")
def ludb() -> dict[str, tuple[list[float], list[bool]]]:
    return {e.record: (e.labels.tolist(), e.known.tolist()) for e in _ludb(LUDB)}


@pytest.mark.parametrize(
    ("rid", "rbbb", "lbbb"),
    [
        ("25", 0.0, 0.0),  # Incomplete right bundle branch block
        ("19", 0.0, 0.0),  # Incomplete left bundle branch block
        ("13", 0.0, 0.0),  # I degree av block + incomplete LBBB
        ("23", 1.0, 0.0),  # Complete right bundle branch block
        ("51", 0.0, 1.0),  # Left anterior hemiblock + complete LBBB
    ],
)
def test_ludb_bbb_labels(
    ludb: dict[str, tuple[list[float], list[bool]]], rid: str, rbbb: float, lbbb: float
) -> None:
    y, known = ludb[rid]
    assert (y[_RB], y[_LB]) == (rbbb, lbbb)
    assert known[_RB] and known[_LB]


def test_ludb_bbb_counts(ludb: dict[str, tuple[list[float], list[bool]]]) -> None:
    """All of the shared LUDB: 1 complete RBBB (23), 2 complete LBBB (51, 83)."""
    rb = sorted(r for r, (y, _) in ludb.items() if y[_RB] == 1.0)
    lb = sorted(r for r, (y, _) in ludb.items() if y[_LB] == 1.0)
    assert (rb, lb) == (["23"], ["51", "83"])
