"""Small statistics shared by the training scripts and the benchmarks' evidence."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import binomtest

__all__ = ["specificity_summary", "wilson"]


def wilson(k: int, n: int) -> list[float] | None:
    """Wilson score 95 % interval of ``k`` successes in ``n`` (None when ``n`` is 0)."""
    if n == 0:
        return None
    ci = binomtest(int(k), int(n)).proportion_ci(confidence_level=0.95, method="wilson")
    return [round(float(ci.low), 4), round(float(ci.high), 4)]


def specificity_summary(fired: np.ndarray) -> dict[str, Any]:
    """Specificity of a control set from its per-record "fired" flags, with Wilson CI."""
    n, k = int(len(fired)), int((~fired).sum())
    return {
        "n": n,
        "specificity": round(k / n, 4) if n else None,
        "ci95_wilson": wilson(k, n),
        "fired": int(fired.sum()),
    }
