"""The median of a few stacked arrays by a comparator (selection) network.

``np.partition`` along a short axis pays a per-lane overhead (~25 ns a lane on the
5,000 lanes of a 12-lead median beat, whatever the beat count). For a handful of beats it
is cheaper to run a comparator network over whole arrays: each compare-exchange is one
``np.minimum`` and one ``np.maximum`` of two contiguous (leads, window) arrays. The
network is Batcher's odd-even merge sort (for the next power of two, the comparators
reaching past ``n`` dropped: those inputs act as +inf and never move), pruned backwards to
the comparators the middle output(s) depend on. Minimum and maximum are exact, so the
result is the same order statistic ``np.partition``/``np.sort`` select, bit for bit.

Reference: K. E. Batcher, "Sorting networks and their applications", AFIPS Spring Joint
Computer Conference 1968, pp. 307-314. doi:10.1145/1468075.1468121
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

__all__ = ["MAX_NETWORK_ROWS", "median_rows", "odd_even_merge_pairs", "median_network"]

# Above this many rows the network's ~n log^2 n compare-exchanges cost more than a
# partition of the lanes (measured on (12, 431) rows: 20 rows 0.21 vs 0.25 ms, 25 rows
# 0.27 vs 0.25 ms).
MAX_NETWORK_ROWS = 20


@lru_cache(maxsize=64)
def odd_even_merge_pairs(n: int) -> tuple[tuple[int, int], ...]:
    """Comparators (i < j) of Batcher's odd-even merge sort of ``n`` inputs, in order."""
    size = 1
    while size < n:
        size *= 2
    pairs: list[tuple[int, int]] = []
    p = 1
    while p < size:
        k = p
        while k >= 1:
            for j in range(k % p, size - k, 2 * k):
                pairs.extend(
                    (i + j, i + j + k)
                    for i in range(min(k, size - j - k))
                    if (i + j) // (2 * p) == (i + j + k) // (2 * p)
                )
            k //= 2
        p *= 2
    return tuple((a, b) for a, b in pairs if b < n)


@lru_cache(maxsize=64)
def median_network(n: int) -> tuple[tuple[int, int], ...]:
    """The comparators of :func:`odd_even_merge_pairs` that the middle output(s) (rank
    ``n // 2``, and ``n // 2 - 1`` for even ``n``) depend on, in order."""
    need = {n // 2} if n % 2 else {n // 2 - 1, n // 2}
    kept: list[tuple[int, int]] = []
    for a, b in reversed(odd_even_merge_pairs(n)):
        if a in need or b in need:
            kept.append((a, b))
            need.update((a, b))
    return tuple(reversed(kept))


def median_rows(stack: NDArray[np.float64]) -> NDArray[np.float64]:
    """Median along axis 0 of ``stack`` (rows, ...): the middle order statistic for an
    odd count, the mean of the middle pair (``0.5 * (lo + hi)``) for an even one, as
    ``np.median`` computes it.

    ``stack`` must be C-contiguous float64 and is overwritten (scratch). NaN ranks
    above every number (as in ``np.sort``), so the result equals the middle element(s) of
    ``np.sort(stack, axis=0)`` even then. Meant for ``rows <= MAX_NETWORK_ROWS``; any
    count works.
    """
    n = stack.shape[0]
    rows = list(stack)  # contiguous views, permuted by reference, written in place
    free = np.empty_like(rows[0])
    for a, b in median_network(n):
        ra, rb = rows[a], rows[b]
        lo = np.fmin(ra, rb, out=free)  # NaN ranks last, as in np.sort / np.partition:
        np.maximum(ra, rb, out=rb)  # fmin keeps the number, maximum keeps the NaN
        rows[a] = lo
        free = ra  # ra's buffer is no longer referenced: the next scratch
    if n % 2:
        middle: NDArray[np.float64] = rows[n // 2].copy()
        return middle
    out: NDArray[np.float64] = 0.5 * (rows[n // 2 - 1] + rows[n // 2])
    return out
