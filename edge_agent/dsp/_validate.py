"""The one guard at every public entry of the signal core."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from edge_agent.errors import InvalidSignalError

FS_MIN_HZ = 100.0
FS_MAX_HZ = 1000.0
MAX_LEADS = 15
MIN_DURATION_S = 2.0


def check_signal(
    signal: ArrayLike,
    fs: float,
    leads: Sequence[str] | None = None,
    *,
    min_duration_s: float = MIN_DURATION_S,
) -> NDArray[np.float64]:
    """Validate a signal against the array contract and return it as C-contiguous float64.

    Parameters
    ----------
    signal : array_like, shape (leads, samples)
        ECG in mV. A single lead must be shaped ``(1, n)``.
    fs : float
        Sampling frequency in Hz, 100 to 1000.
    leads : sequence of str, optional
        Lead names; when given, must match ``signal.shape[0]``.
    min_duration_s : float
        Shortest record accepted, in seconds.

    Raises
    ------
    InvalidSignalError
        Naming the lead and what was expected.
    """
    try:
        x = np.ascontiguousarray(signal, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidSignalError(
            "signal is not numeric", expected="float array (leads, samples)", got=str(exc)
        ) from None
    if not np.isfinite(fs) or not FS_MIN_HZ <= float(fs) <= FS_MAX_HZ:
        raise InvalidSignalError(
            "sampling frequency out of range",
            expected=f"{FS_MIN_HZ:g}-{FS_MAX_HZ:g} Hz",
            got=f"{fs} Hz",
        )
    if x.ndim != 2:
        raise InvalidSignalError(
            "signal has the wrong shape",
            expected="2-D (leads, samples)",
            got=f"shape {x.shape}",
        )
    n_leads, n_samples = x.shape
    if not 1 <= n_leads <= MAX_LEADS:
        raise InvalidSignalError(
            "wrong number of leads", expected=f"1-{MAX_LEADS} leads", got=f"{n_leads}"
        )
    if leads is not None and len(leads) != n_leads:
        raise InvalidSignalError(
            "lead names do not match the signal",
            expected=f"{n_leads} names",
            got=f"{len(leads)}",
        )
    if n_samples < min_duration_s * fs:
        raise InvalidSignalError(
            "record too short",
            expected=f">= {min_duration_s:g} s ("
            f"{int(np.ceil(min_duration_s * fs))} samples)",
            got=f"{n_samples} samples",
        )
    finite = np.isfinite(x)
    if not finite.all():
        bad = int(np.flatnonzero(~finite.all(axis=1))[0])
        name = leads[bad] if leads is not None else str(bad)
        count = int((~finite[bad]).sum())
        raise InvalidSignalError(
            "non-finite samples (NaN or inf)",
            lead=name,
            expected="finite values in mV",
            got=f"{count} non-finite samples",
        )
    return x
