"""Waveform codec: round trip, gain choice, and every way a waveform can lie."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from ecgnet.codec import (
    DEFAULT_GAIN_COUNTS_PER_MV,
    MAX_SAMPLE_BYTES,
    WaveformError,
    decode_waveform,
    encode_waveform,
)
from ecgnet.v1.common_pb2 import Waveform
from hypothesis import given, settings
from hypothesis import strategies as st

LEADS12 = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]


def _signal(leads: int = 12, n: int = 5000, scale: float = 1.0) -> np.ndarray:
    rng = np.random.default_rng(7)
    return rng.normal(0.0, scale, (leads, n))


@pytest.mark.parametrize("compress", [True, False])
def test_round_trip_within_half_a_microvolt(compress: bool) -> None:
    x = _signal()
    wf = encode_waveform(x, 500.0, LEADS12, compress=compress)
    assert wf.gain_counts_per_mv == DEFAULT_GAIN_COUNTS_PER_MV, f"{wf.gain_counts_per_mv}"
    assert wf.n_samples == 5000 and list(wf.leads) == LEADS12, f"{wf.n_samples} {wf.leads}"
    y, fs, leads = decode_waveform(Waveform.FromString(wf.SerializeToString()))
    err = float(np.max(np.abs(y - x)))
    assert err <= 0.5 / 1000 + 1e-12, f"max error {err} mV"
    assert fs == 500.0 and leads == LEADS12 and y.shape == x.shape, (
        f"{fs} {leads} {y.shape}"
    )
    assert y.flags.c_contiguous and y.dtype == np.float64, f"{y.dtype}"


def test_large_amplitude_scales_gain_down_without_overflow() -> None:
    x = _signal(scale=1.0)
    x[3, 100] = 80.0  # pacing spike-like outlier, beyond +-32.767 mV
    wf = encode_waveform(x, 500.0, LEADS12)
    assert wf.gain_counts_per_mv < DEFAULT_GAIN_COUNTS_PER_MV, f"{wf.gain_counts_per_mv}"
    y, _, _ = decode_waveform(wf)
    assert abs(y[3, 100] - 80.0) <= 0.5 / wf.gain_counts_per_mv + 1e-9, f"{y[3, 100]}"
    assert np.max(np.abs(y - x)) <= 0.5 / wf.gain_counts_per_mv + 1e-9


def test_compression_shrinks_real_ecg_like_signal() -> None:
    t = np.arange(5000) / 500.0
    x = np.tile(0.8 * np.sin(2 * np.pi * 1.2 * t) ** 21, (12, 1))
    wf = encode_waveform(x, 500.0, LEADS12)
    assert len(wf.samples) < 12 * 5000 * 2 / 3, f"{len(wf.samples)} bytes"


def _valid() -> Waveform:
    return encode_waveform(_signal(n=1000), 500.0, LEADS12)


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda w: setattr(w, "n_samples", w.n_samples + 1), "samples"),
        (lambda w: setattr(w, "n_samples", w.n_samples - 1), "samples"),
        (lambda w: setattr(w, "n_samples", 0), "n_samples"),
        (lambda w: setattr(w, "n_samples", 10**9), "n_samples"),
        (lambda w: setattr(w, "fs_hz", 50.0), "fs_hz"),
        (lambda w: setattr(w, "fs_hz", 5000.0), "fs_hz"),
        (lambda w: setattr(w, "fs_hz", float("nan")), "fs_hz"),
        (lambda w: w.ClearField("leads"), "leads"),
        (lambda w: w.leads.extend([f"X{i}" for i in range(4)]), "leads"),
        (lambda w: setattr(w, "gain_counts_per_mv", 0.0), "gain_counts_per_mv"),
        (lambda w: setattr(w, "samples", w.samples[:-10]), "samples"),
        (lambda w: setattr(w, "samples", b"not zlib at all"), "samples"),
        (lambda w: setattr(w, "compressed", False), "samples"),
    ],
)
def test_lying_waveforms_are_rejected(mutate, field: str) -> None:  # type: ignore[no-untyped-def]
    wf = _valid()
    mutate(wf)
    with pytest.raises(WaveformError) as info:
        decode_waveform(wf)
    assert info.value.field == field, f"{info.value}"


def test_duplicate_lead_names_rejected() -> None:
    wf = _valid()
    wf.leads[1] = "I"
    with pytest.raises(WaveformError, match="duplicate"):
        decode_waveform(wf)


def test_zlib_bomb_is_bounded() -> None:
    # 64 MiB of zeros compress to ~64 KiB; the header claims a small record.
    bomb = zlib.compress(bytes(64 * 1024 * 1024), 9)
    assert len(bomb) < 100_000, f"{len(bomb)}"
    wf = Waveform(
        fs_hz=500.0,
        leads=["I"],
        n_samples=500,
        gain_counts_per_mv=1000.0,
        samples=bomb,
        compressed=True,
    )
    with pytest.raises(WaveformError, match="larger than declared"):
        decode_waveform(wf)
    assert MAX_SAMPLE_BYTES == 15 * 1000 * 300 * 2, f"{MAX_SAMPLE_BYTES}"


@pytest.mark.parametrize(
    ("signal", "fs", "leads"),
    [
        (np.zeros(100), 500.0, ["I"]),
        (np.zeros((1, 100)), 50.0, ["I"]),
        (np.zeros((2, 100)), 500.0, ["I"]),
        (np.zeros((0, 100)), 500.0, []),
        (np.full((1, 100), np.nan), 500.0, ["I"]),
        (np.zeros((1, 0)), 500.0, ["I"]),
    ],
)
def test_encode_rejects_bad_input(signal: np.ndarray, fs: float, leads: list[str]) -> None:
    with pytest.raises(WaveformError):
        encode_waveform(signal, fs, leads)


@settings(max_examples=60, deadline=None)
@given(
    data=st.binary(max_size=2000),
    n=st.integers(0, 5000),
    nleads=st.integers(0, 16),
    fs=st.floats(allow_nan=True, allow_infinity=True),
    gain=st.floats(allow_nan=True, allow_infinity=True),
    compressed=st.booleans(),
)
def test_decode_never_crashes_on_garbage(
    data: bytes, n: int, nleads: int, fs: float, gain: float, compressed: bool
) -> None:
    wf = Waveform(
        fs_hz=fs,
        leads=[f"L{i}" for i in range(nleads)],
        n_samples=n,
        gain_counts_per_mv=gain,
        samples=data,
        compressed=compressed,
    )
    try:
        y, _, _ = decode_waveform(wf)
    except WaveformError:
        return
    assert y.shape == (nleads, n), f"{y.shape}"
