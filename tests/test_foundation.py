"""The foundation: the signal guard and shared vocabulary behave as documented."""

from __future__ import annotations

import numpy as np
import pytest

from edge_agent.dsp._validate import check_signal
from edge_agent.errors import InvalidSignalError
from edge_agent.types import Priority, normalize_lead_name


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [("ii", "II"), ("MLII", "II"), ("avf", "aVF"), ("AVR", "aVR"), ("v3", "V3"),
     ("Lead I", "I"), ("V5", "V5"), ("vx", "vx")],
)
def test_normalize_lead_name(raw: str, canonical: str) -> None:
    assert normalize_lead_name(raw) == canonical, f"{raw!r} -> {normalize_lead_name(raw)!r}"


def test_priority_rank_orders_critical_first() -> None:
    ordered = sorted(Priority, key=lambda p: p.rank)
    assert ordered[0] is Priority.CRITICAL and ordered[-1] is Priority.ROUTINE


def test_check_signal_names_the_nan_lead() -> None:
    x = np.zeros((3, 1000))
    x[2, 10] = np.nan
    with pytest.raises(InvalidSignalError) as info:
        check_signal(x, 250.0, ["I", "II", "V3"])
    assert "lead V3" in str(info.value) and "non-finite" in str(info.value)


@pytest.mark.parametrize(
    ("shape", "fs", "needle"),
    [((1000,), 250.0, "shape"), ((0, 1000), 250.0, "leads"), ((2, 100), 250.0, "short"),
     ((2, 5000), 50.0, "sampling frequency"), ((16, 5000), 500.0, "leads")],
)
def test_check_signal_rejects_contract_breaks(
    shape: tuple[int, ...], fs: float, needle: str
) -> None:
    with pytest.raises(InvalidSignalError, match=needle):
        check_signal(np.zeros(shape), fs)


def test_check_signal_returns_contiguous_float64() -> None:
    x = np.arange(2000, dtype=np.int16).reshape(2, 1000)[:, ::-1]
    y = check_signal(x, 100.0)
    assert y.dtype == np.float64 and y.flags.c_contiguous and y.shape == (2, 1000)
