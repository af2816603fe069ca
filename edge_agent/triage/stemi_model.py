"""ONNX adapter of the STEMI feature model (``models/stemi_features``).

A regularised logistic regression on :mod:`edge_agent.triage.stemi_features`, the
second model beside the waveform CNN: it adds to the millimetre rules on subtle and
evolving STEMI. Loaded and checked against its card like the CNN
(:func:`edge_agent.triage.model.load_checked`: file, checksum, input/output names,
shapes, dtypes); in addition the card's ``feature_names`` must equal the code's
``FEATURE_NAMES`` (same features, same order), or loading fails.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edge_agent.errors import ModelLoadError
from edge_agent.triage.model import load_checked
from edge_agent.triage.stemi_features import FEATURE_NAMES

__all__ = ["DEFAULT_STEMI_DIR", "StemiFeatureModel"]

log = logging.getLogger(__name__)

DEFAULT_STEMI_DIR = Path(__file__).resolve().parents[2] / "models" / "stemi_features"


class StemiFeatureModel:
    """``model:stemi_features@<version>``: P(STEMI) from one feature row."""

    def __init__(self, card: Mapping[str, Any], session: Any, path: Path) -> None:
        self.card = dict(card)
        self.name = str(card["name"])
        self.version = str(card["version"])
        self.threshold = float(card["thresholds"]["STEMI"])
        self.path = path
        self._session = session
        self._input = str(card["inputs"][0]["name"])
        self._output = str(card["outputs"][0]["name"])
        coef = card.get("coefficients_standardised") or {}
        self._coef = np.array([float(coef.get(f, 0.0)) for f in FEATURE_NAMES])
        self._mean = np.asarray(card.get("feature_mean", np.zeros(len(FEATURE_NAMES))))
        self._sd = np.asarray(card.get("feature_sd", np.ones(len(FEATURE_NAMES))))

    @property
    def model_id(self) -> str:
        """``<name>@<version>``, as written into findings' ``source``."""
        return f"{self.name}@{self.version}"

    @classmethod
    def load(cls, model_dir: str | Path = DEFAULT_STEMI_DIR) -> StemiFeatureModel:
        """Load and validate; :class:`ModelLoadError` on any mismatch with the card."""
        card, session, path = load_checked(model_dir)
        if list(card["classes"]) != ["STEMI"]:
            raise ModelLoadError(
                "STEMI feature model card must have the one class STEMI",
                path=str(path),
                got=str(card["classes"]),
            )
        names = card.get("feature_names")
        if names != list(FEATURE_NAMES):
            raise ModelLoadError(
                "card feature_names differ from edge_agent.triage.stemi_features",
                path=str(path),
                expected=f"{len(FEATURE_NAMES)} features",
                got="none" if names is None else f"{len(names)} features",
            )
        log.info("loaded STEMI feature model %s@%s", card["name"], card["version"])
        return cls(card, session, path)

    def predict(self, features: NDArray[np.float32]) -> float:
        """P(STEMI) of one feature row, shape (1, n_features)."""
        x = np.ascontiguousarray(features, dtype=np.float32)
        (p,) = self._session.run([self._output], {self._input: x})
        return float(np.asarray(p).reshape(-1)[0])

    def explain(self, features: NDArray[np.float32], top: int = 3) -> str:
        """The features that pushed the probability up most (coefficient x z-score)."""
        z = (np.asarray(features, dtype=np.float64)[0] - self._mean) / self._sd
        contrib = self._coef * z
        order = np.argsort(-contrib)[:top]
        return ", ".join(
            f"{FEATURE_NAMES[i]}={float(features[0, i]):.3g}"
            for i in order
            if contrib[i] > 0
        )
