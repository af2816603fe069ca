"""The model's input: any lead subset mapped onto 12 standard leads at 100 Hz, 10 s.

Pure numpy/scipy (no onnxruntime): the same function builds the training tensors in
``models/train.py`` and the runtime tensors in ``edge_agent.analysis``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.signal import resample_poly

from edge_agent.types import STANDARD_12, normalize_lead_name

__all__ = [
    "MODEL_FS_HZ",
    "MODEL_SAMPLES",
    "ModelInput",
    "complete_limb_leads",
    "model_input_from",
]

MODEL_FS_HZ = 100.0
MODEL_SAMPLES = 1000
_CLIP_MV = 5.0
_IDX = {name: i for i, name in enumerate(STANDARD_12)}
_I, _II, _III, _AVR, _AVL, _AVF = (_IDX[n] for n in ("I", "II", "III", "aVR", "aVL", "aVF"))


@dataclass(frozen=True, slots=True)
class ModelInput:
    """Batch of model inputs.

    ``ecg``: float32 (batch, 12, 1000) in mV at 100 Hz, leads in ``STANDARD_12`` order,
    zero where a lead is missing or unusable. ``lead_mask``: float32 (batch, 12), 1 where
    the lead carries signal (recorded, or derived from two recorded limb leads).
    """

    ecg: NDArray[np.float32]
    lead_mask: NDArray[np.float32]


def complete_limb_leads(
    x: NDArray[np.float64], mask: NDArray[np.bool_]
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Derive missing limb leads from two recorded ones (Einthoven/Goldberger).

    ``x`` (batch, 12, n) and ``mask`` (batch, 12) in ``STANDARD_12`` order; returns copies.
    III = II - I, aVR = -(I + II)/2, aVL = I - II/2, aVF = II - I/2.
    """
    x = x.copy()
    mask = mask.copy()
    for b in range(x.shape[0]):
        m = mask[b]
        if not m[_I] and m[_II] and m[_III]:
            x[b, _I] = x[b, _II] - x[b, _III]
            m[_I] = True
        if m[_I] and not m[_II] and m[_III]:
            x[b, _II] = x[b, _I] + x[b, _III]
            m[_II] = True
        if not (m[_I] and m[_II]):
            continue
        lead_i, lead_ii = x[b, _I], x[b, _II]
        derived = {
            _III: lead_ii - lead_i,
            _AVR: -(lead_i + lead_ii) / 2.0,
            _AVL: lead_i - lead_ii / 2.0,
            _AVF: lead_ii - lead_i / 2.0,
        }
        for idx, wave in derived.items():
            if not m[idx]:
                x[b, idx] = wave
                m[idx] = True
    return x, mask


def _resample(x: NDArray[np.float64], fs: float) -> NDArray[np.float64]:
    if fs == MODEL_FS_HZ:
        return x
    ratio = Fraction(MODEL_FS_HZ / fs).limit_denominator(1000)
    return np.asarray(resample_poly(x, ratio.numerator, ratio.denominator, axis=-1))


def model_input_from(
    signal: ArrayLike,
    fs: float,
    leads: Sequence[str],
    usable: ArrayLike | None = None,
) -> ModelInput:
    """Build the model input from a preprocessed record.

    Parameters
    ----------
    signal : array_like, shape (leads, samples)
        The record in mV after ``edge_agent.dsp.filters.preprocess`` (diagnostic profile),
        any fs from 100 to 1000 Hz, 1 to 15 leads.
    fs : float
        Sampling frequency, Hz.
    leads : sequence of str
        Lead names; non-standard leads (Frank, V3R...) are ignored.
    usable : array_like of bool, optional
        Quality mask over ``leads``; unusable leads are zero-filled and masked.

    Returns
    -------
    ModelInput
        Batch of one: the first 10 s at 100 Hz (zero-padded when shorter), clipped to
        +/- 5 mV; missing limb leads derived from two recorded ones.
    """
    x = np.asarray(signal, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] != len(leads):
        raise ValueError(f"signal shape {x.shape} does not match {len(leads)} lead names")
    ok = (
        np.ones(len(leads), dtype=bool)
        if usable is None
        else np.asarray(usable, dtype=bool)
    )
    y = _resample(x, float(fs))[:, :MODEL_SAMPLES]
    out = np.zeros((1, 12, MODEL_SAMPLES), dtype=np.float64)
    mask = np.zeros((1, 12), dtype=bool)
    for i, name in enumerate(leads):
        idx = _IDX.get(normalize_lead_name(str(name)))
        if idx is None or not ok[i] or mask[0, idx]:
            continue
        out[0, idx, : y.shape[1]] = y[i]
        mask[0, idx] = True
    out, mask = complete_limb_leads(out, mask)
    np.clip(out, -_CLIP_MV, _CLIP_MV, out=out)
    return ModelInput(ecg=out.astype(np.float32), lead_mask=mask.astype(np.float32))
