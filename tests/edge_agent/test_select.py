"""The comparator-network median (``_select``) against numpy, exactly."""

from __future__ import annotations

import numpy as np
import pytest

from edge_agent.dsp._select import (
    MAX_NETWORK_ROWS,
    median_network,
    median_rows,
    odd_even_merge_pairs,
)


@pytest.mark.parametrize("n", range(1, MAX_NETWORK_ROWS + 1))
def test_network_sorts_and_selects_every_zero_one_input(n: int) -> None:
    """0-1 principle: a comparator network that sorts (selects) every 0/1 input sorts
    (selects) every input. All 2**n binary inputs, at once."""
    codes = np.arange(2**n, dtype=np.int64)
    v = ((codes[None, :] >> np.arange(n)[:, None]) & 1).astype(np.int8)  # (n, 2**n)
    full = v.copy()
    for a, b in odd_even_merge_pairs(n):
        lo, hi = np.minimum(full[a], full[b]), np.maximum(full[a], full[b])
        full[a], full[b] = lo, hi
    assert (np.diff(full, axis=0) >= 0).all()  # sorted
    want = np.sort(v, axis=0)
    for a, b in median_network(n):
        lo, hi = np.minimum(v[a], v[b]), np.maximum(v[a], v[b])
        v[a], v[b] = lo, hi
    middle = [n // 2] if n % 2 else [n // 2 - 1, n // 2]
    assert np.array_equal(v[middle], want[middle])


def test_pruning_keeps_fewer_comparators() -> None:
    assert len(median_network(11)) < len(odd_even_merge_pairs(11))
    assert len(odd_even_merge_pairs(16)) == 63  # Batcher's count for 16 inputs


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 8, 11, 12, 19, 20, 25])
def test_median_rows_equals_np_median_bit_for_bit(n: int) -> None:
    rng = np.random.default_rng(n)
    stack = rng.standard_normal((n, 3, 40))
    stack[:, 0, :5] = 0.25  # ties across rows
    stack[: n // 2, 1, :3] = -1.0
    want = np.median(stack, axis=0)
    got = median_rows(stack.copy())
    assert got.shape == (3, 40)
    assert np.array_equal(got, want)


@pytest.mark.parametrize("n", [1, 2, 3, 6, 9, 12])
def test_nan_ranks_last_as_in_sort(n: int) -> None:
    rng = np.random.default_rng(100 + n)
    stack = rng.standard_normal((n, 2, 30))
    stack[rng.random(stack.shape) < 0.3] = np.nan
    srt = np.sort(stack, axis=0)
    want = srt[n // 2] if n % 2 else 0.5 * (srt[n // 2 - 1] + srt[n // 2])
    assert np.array_equal(median_rows(stack.copy()), want, equal_nan=True)
