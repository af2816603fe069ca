"""``_reduce.mean`` must equal ``ndarray.mean`` bit for bit (the analysis relies on it)."""

from __future__ import annotations

import numpy as np
import pytest

from edge_agent.dsp._reduce import lane_max, mean


@pytest.mark.parametrize(
    ("shape", "axis", "keepdims"),
    [
        ((12, 50, 7), 2, True),  # short lanes (< 8: numpy's plain loop)
        ((12, 5000), 1, False),  # long lanes (pairwise summation)
        ((3, 4, 5), (0, 2), False),  # several axes at once
        ((12, 11, 21, 61), 3, True),
        ((12, 100), 0, False),  # across rows
    ],
)
def test_mean_is_ndarray_mean_bit_for_bit(
    shape: tuple[int, ...], axis: int | tuple[int, ...], keepdims: bool
) -> None:
    rng = np.random.default_rng(7)
    a = rng.standard_normal(shape) * 10.0 ** rng.uniform(-3, 3, shape)
    got = mean(a, axis, keepdims=keepdims)
    want = a.mean(axis=axis, keepdims=keepdims)
    assert got.dtype == np.float64
    assert got.shape == want.shape
    assert np.array_equal(got, want)
    b = a > 0.1  # bool input: a fraction, summed in float64 as ndarray.mean does
    assert np.array_equal(
        mean(b, axis, keepdims=keepdims), b.mean(axis=axis, keepdims=keepdims)
    )


def test_mean_of_integers_is_float() -> None:
    a = np.arange(12, dtype=np.int64).reshape(3, 4)
    assert np.array_equal(mean(a, 1), np.array([1.5, 5.5, 9.5]))


def test_lane_max_is_max_of_the_last_axis() -> None:
    rng = np.random.default_rng(3)
    for shape in [(12, 41, 31), (5, 7), (9,), (2, 3, 4, 5)]:
        a = rng.standard_normal(shape)
        assert np.array_equal(lane_max(a), a.max(axis=-1))
    b = rng.standard_normal((4, 6))
    b[1, 3] = np.nan  # a NaN lane gives NaN, as max does
    assert np.array_equal(lane_max(b), b.max(axis=-1), equal_nan=True)
