"""edge_agent.dsp._reduce.median is np.median, bit for bit, on the arrays the core uses."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from edge_agent.dsp._reduce import median

_FINITE = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)


@settings(max_examples=200, deadline=None)
@given(hnp.arrays(np.float64, st.integers(1, 60), elements=_FINITE))
def test_median_1d_matches_numpy(a: np.ndarray) -> None:
    ours, ref = median(a), np.median(a)
    assert ours == ref, f"median {ours!r} != np.median {ref!r} for {a!r}"


@settings(max_examples=100, deadline=None)
@given(
    hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=3, max_side=12),
               elements=_FINITE),
    st.integers(0, 2),
)
def test_median_nd_matches_numpy(a: np.ndarray, axis: int) -> None:
    axis = axis % a.ndim
    ours, ref = median(a, axis=axis), np.median(a, axis=axis)
    assert np.array_equal(ours, ref), f"axis {axis}: {ours!r} != {ref!r}"


@pytest.mark.parametrize("values", [[3, 1, 2], [4, 2], [7]])
def test_median_of_integers_is_float(values: list[int]) -> None:
    ours = median(np.array(values, dtype=np.int64))
    assert ours == np.median(values), f"{ours} != {np.median(values)}"
    assert isinstance(ours, np.float64), f"got {type(ours)}"


def test_median_nan_lane_is_nan() -> None:
    a = np.array([[1.0, np.nan, 3.0], [1.0, 2.0, 3.0]])
    got = median(a, axis=1)
    assert np.isnan(got[0]) and got[1] == 2.0, f"got {got}"
    assert np.isnan(median(np.array([1.0, np.nan]))), "1-D NaN lane must give NaN"
