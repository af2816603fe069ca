"""Waveform codec shared by the edge agent and the central reader.

A signal ``(leads, samples)`` float64 in mV becomes a ``ecgnet.v1.Waveform``: int16
little-endian counts, lead-major, with ``gain_counts_per_mv`` chosen so the largest
absolute value fits in int16 (1 count = 1 uV when the signal stays within +-32.767 mV,
otherwise the gain is scaled down), zlib-compressed.

Decoding validates every field before touching the bytes and bounds decompression, so a
lying header or a zlib bomb gets a :class:`WaveformError` naming the problem, never a crash
or a memory blow-up.

Imports only numpy, zlib and the generated ``common_pb2``; no grpc, no I/O.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from ecgnet.v1.common_pb2 import Waveform

__all__ = [
    "DEFAULT_GAIN_COUNTS_PER_MV",
    "MAX_DURATION_S",
    "MAX_FS_HZ",
    "MAX_LEADS",
    "MAX_SAMPLE_BYTES",
    "MIN_FS_HZ",
    "WaveformError",
    "check_waveform",
    "decode_waveform",
    "encode_waveform",
]

#: 1 count = 1 uV.
DEFAULT_GAIN_COUNTS_PER_MV = 1000.0
MIN_FS_HZ = 100.0
MAX_FS_HZ = 1000.0
MAX_LEADS = 15
#: Longest record accepted (a 5-minute rhythm strip).
MAX_DURATION_S = 300.0
#: Upper bound of the uncompressed sample bytes: 15 leads x 1000 Hz x 300 s x 2 bytes.
MAX_SAMPLE_BYTES = int(MAX_LEADS * MAX_FS_HZ * MAX_DURATION_S * 2)
_INT16_MAX = 32767
_MIN_GAIN = 1e-3
_MAX_GAIN = 1e6
_MAX_LEAD_NAME = 16


class WaveformError(ValueError):
    """A waveform that breaks the wire contract; ``field`` names the offending part."""

    def __init__(
        self, message: str, *, field: str, expected: str = "", got: str = ""
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.expected = expected
        self.got = got

    def __str__(self) -> str:
        tail = []
        if self.expected:
            tail.append(f"expected {self.expected}")
        if self.got:
            tail.append(f"got {self.got}")
        head = f"waveform.{self.field}: {self.message}"
        return f"{head} ({', '.join(tail)})" if tail else head


def _check_fs(fs_hz: float) -> None:
    if not math.isfinite(fs_hz) or not MIN_FS_HZ <= fs_hz <= MAX_FS_HZ:
        raise WaveformError(
            "sampling frequency out of range",
            field="fs_hz",
            expected=f"{MIN_FS_HZ:g}-{MAX_FS_HZ:g} Hz",
            got=f"{fs_hz!r}",
        )


def _check_leads(leads: Sequence[str]) -> None:
    if not 1 <= len(leads) <= MAX_LEADS:
        raise WaveformError(
            "lead count out of range",
            field="leads",
            expected=f"1-{MAX_LEADS}",
            got=str(len(leads)),
        )
    for name in leads:
        if not name or len(name) > _MAX_LEAD_NAME or not name.isprintable():
            raise WaveformError(
                "bad lead name",
                field="leads",
                expected=f"1-{_MAX_LEAD_NAME} printable characters",
                got=repr(name[:40]),
            )
    if len(set(leads)) != len(leads):
        raise WaveformError("duplicate lead names", field="leads", got=", ".join(leads))


def _choose_gain(signal: NDArray[np.float64]) -> float:
    peak = float(np.max(np.abs(signal))) if signal.size else 0.0
    if peak * DEFAULT_GAIN_COUNTS_PER_MV <= _INT16_MAX:
        return DEFAULT_GAIN_COUNTS_PER_MV
    # Largest gain that keeps round(peak * gain) within int16, rounded down to 3 significant
    # digits so it prints cleanly.
    raw = _INT16_MAX / peak
    scale = 10.0 ** (math.floor(math.log10(raw)) - 2)
    return math.floor(raw / scale) * scale


def encode_waveform(
    signal: NDArray[np.float64],
    fs: float,
    leads: Sequence[str],
    *,
    compress: bool = True,
    level: int = 6,
) -> Waveform:
    """Encode a signal for the wire.

    Parameters
    ----------
    signal
        ``(leads, samples)`` float64 in mV, finite.
    fs
        Sampling frequency in Hz (100-1000).
    leads
        Lead names, one per row of ``signal``.
    compress
        zlib-compress the int16 bytes (about 2-3x smaller for ECG).
    level
        zlib level; 6 is the default trade-off, 1 is faster.

    Returns
    -------
    Waveform
        ``ecgnet.v1.Waveform`` message; ``decode_waveform`` gives the signal back within
        half a count (0.5 uV at the default gain).
    """
    arr = np.asarray(signal, dtype=np.float64)
    if arr.ndim != 2:
        raise WaveformError(
            "signal must be (leads, samples)",
            field="samples",
            expected="ndim 2",
            got=f"ndim {arr.ndim}",
        )
    _check_fs(float(fs))
    leads = [str(x) for x in leads]
    _check_leads(leads)
    if arr.shape[0] != len(leads):
        raise WaveformError(
            "one lead name per signal row",
            field="leads",
            expected=str(arr.shape[0]),
            got=str(len(leads)),
        )
    if arr.shape[1] == 0 or arr.shape[1] > fs * MAX_DURATION_S:
        raise WaveformError(
            "sample count out of range",
            field="n_samples",
            expected=f"1-{int(fs * MAX_DURATION_S)}",
            got=str(arr.shape[1]),
        )
    if not np.all(np.isfinite(arr)):
        raise WaveformError("signal has non-finite values", field="samples")
    gain = _choose_gain(arr)
    counts = np.clip(np.rint(arr * gain), -_INT16_MAX, _INT16_MAX).astype("<i2")
    raw = counts.tobytes(order="C")
    return Waveform(
        fs_hz=float(fs),
        leads=leads,
        n_samples=arr.shape[1],
        gain_counts_per_mv=gain,
        samples=zlib.compress(raw, level) if compress else raw,
        compressed=compress,
    )


def _inflate(data: bytes, expected: int) -> bytes:
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(data, expected + 1)
    except zlib.error as exc:
        raise WaveformError(f"corrupt zlib stream ({exc})", field="samples") from None
    if len(out) > expected or inflater.unconsumed_tail:
        raise WaveformError(
            "decompressed samples larger than declared",
            field="samples",
            expected=f"{expected} bytes",
            got=f"more than {expected} bytes",
        )
    if not inflater.eof:
        raise WaveformError(
            "truncated zlib stream",
            field="samples",
            expected=f"{expected} bytes",
            got=f"{len(out)} bytes",
        )
    return out


def check_waveform(waveform: Waveform) -> bytes:
    """Validate a ``Waveform`` completely and return its uncompressed sample bytes.

    The checks of :func:`decode_waveform` without building the float array (the central
    validates every submission this way and stores the bytes as received).

    Raises
    ------
    WaveformError
        See :func:`decode_waveform`.
    """
    fs = float(waveform.fs_hz)
    _check_fs(fs)
    _check_leads(list(waveform.leads))
    gain = float(waveform.gain_counts_per_mv)
    if not math.isfinite(gain) or not _MIN_GAIN <= gain <= _MAX_GAIN:
        raise WaveformError(
            "gain out of range",
            field="gain_counts_per_mv",
            expected=f"{_MIN_GAIN:g}-{_MAX_GAIN:g} counts/mV",
            got=repr(gain),
        )
    n = int(waveform.n_samples)
    if not 1 <= n <= fs * MAX_DURATION_S:
        raise WaveformError(
            "sample count out of range",
            field="n_samples",
            expected=f"1-{int(fs * MAX_DURATION_S)} at {fs:g} Hz",
            got=str(n),
        )
    expected = 2 * n * len(waveform.leads)
    data = bytes(waveform.samples)
    raw = _inflate(data, expected) if waveform.compressed else data
    if len(raw) != expected:
        raise WaveformError(
            "sample bytes do not match n_samples x leads x 2",
            field="samples",
            expected=f"{expected} bytes",
            got=f"{len(raw)} bytes",
        )
    return raw


def decode_waveform(waveform: Waveform) -> tuple[NDArray[np.float64], float, list[str]]:
    """Validate and decode a ``Waveform``.

    Parameters
    ----------
    waveform
        The message (or anything with the same attributes).

    Returns
    -------
    signal : ndarray
        ``(leads, samples)`` float64 in mV, C-contiguous.
    fs : float
        Sampling frequency in Hz.
    leads : list of str
        Lead names.

    Raises
    ------
    WaveformError
        fs outside 100-1000 Hz, 0 or more than 15 leads, a non-positive gain, a sample count
        beyond 300 s, byte length not matching ``2 * n_samples * leads``, a corrupt zlib
        stream or one that inflates beyond the declared size (bomb).
    """
    raw = check_waveform(waveform)
    leads = list(waveform.leads)
    counts = np.frombuffer(raw, dtype="<i2").reshape(len(leads), int(waveform.n_samples))
    signal = np.ascontiguousarray(counts, dtype=np.float64) / float(
        waveform.gain_counts_per_mv
    )
    return signal, float(waveform.fs_hz), leads
