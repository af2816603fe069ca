"""ONNX triage model adapter: one ``InferenceSession``, validated against its card at load.

The card (``models/<name>/card.json``) names the model file, its SHA-256, the input and
output names/shapes/dtypes, the classes and the decision thresholds chosen on the
validation split. A missing file or any mismatch raises :class:`ModelLoadError` at start
up, never at the first patient. ``onnxruntime`` is imported here only, lazily at load.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edge_agent.errors import ModelLoadError
from edge_agent.triage.model_input import ModelInput

if TYPE_CHECKING:
    from edge_agent.triage.stemi_model import StemiFeatureModel

__all__ = ["DEFAULT_MODEL_DIR", "TriageModel", "load_checked", "load_default_model"]

log = logging.getLogger(__name__)

DEFAULT_MODEL_DIR = Path(__file__).resolve().parents[2] / "models" / "ecg_triage_cnn"
_ORT_DTYPES = {
    "tensor(float)": "float32",
    "tensor(double)": "float64",
    "tensor(int64)": "int64",
}


@dataclass(frozen=True, slots=True)
class TensorSpec:
    """Name, shape (``None`` = dynamic) and dtype of one model input or output."""

    name: str
    shape: tuple[int | None, ...]
    dtype: str

    @classmethod
    def from_card(cls, raw: Mapping[str, Any]) -> TensorSpec:
        return cls(str(raw["name"]), tuple(raw["shape"]), str(raw["dtype"]))


def _session_spec(arg: Any) -> TensorSpec:
    shape = tuple(d if isinstance(d, int) else None for d in arg.shape)
    return TensorSpec(arg.name, shape, _ORT_DTYPES.get(arg.type, arg.type))


class TriageModel:
    """The multi-label ECG classifier behind ``model:<name>@<version>`` findings."""

    def __init__(self, card: Mapping[str, Any], session: Any, path: Path) -> None:
        self.card = dict(card)
        self.name = str(card["name"])
        self.version = str(card["version"])
        self.classes: tuple[str, ...] = tuple(card["classes"])
        self.thresholds: dict[str, float] = {
            k: float(v) for k, v in card["thresholds"].items()
        }
        self.inputs = tuple(TensorSpec.from_card(t) for t in card["inputs"])
        self.path = path
        self._session = session
        self._output = str(card["outputs"][0]["name"])
        # How this model's calls combine with the rules, per class (card "combine"):
        # AF: {"rules_need_model_p": lo, "model_alone_p": hi}, see combine.apply_af_policy.
        self.combine: dict[str, dict[str, float]] = {
            str(k): {
                str(kk): float(vv)
                for kk, vv in v.items()
                if isinstance(vv, int | float) and not isinstance(vv, bool)
            }
            for k, v in (card.get("combine") or {}).items()
        }
        # The STEMI feature model loaded beside this one (``load_default_model``).
        self.stemi: StemiFeatureModel | None = None

    @property
    def model_id(self) -> str:
        """``<name>@<version>``, as written into findings' ``source``."""
        return f"{self.name}@{self.version}"

    @classmethod
    def load(cls, model_dir: str | Path) -> TriageModel:
        """Load ``model_dir/card.json`` and the ONNX file it names, and validate them.

        Raises
        ------
        ModelLoadError
            Card or model file missing or unreadable, checksum mismatch, or an input or
            output whose name, shape or dtype differs from the card.
        """
        card, session, onnx_path = load_checked(model_dir)
        n_out = session.get_outputs()[0].shape[-1]
        if n_out != len(card["classes"]):
            raise ModelLoadError(
                "output width does not match the card's classes",
                path=str(onnx_path),
                expected=str(len(card["classes"])),
                got=str(n_out),
            )
        log.info(
            "loaded triage model %s@%s from %s", card["name"], card["version"], onnx_path
        )
        return cls(card, session, onnx_path)

    def predict(self, x: ModelInput) -> dict[str, float]:
        """Class probabilities for a batch of one record."""
        feeds = {
            self.inputs[0].name: np.ascontiguousarray(x.ecg, dtype=np.float32),
            self.inputs[1].name: np.ascontiguousarray(x.lead_mask, dtype=np.float32),
        }
        (probs,) = self._session.run([self._output], feeds)
        row = np.asarray(probs, dtype=np.float64)[0]
        return {c: float(p) for c, p in zip(self.classes, row, strict=True)}

    def predict_batch(self, ecg: np.ndarray, lead_mask: np.ndarray) -> np.ndarray:
        """Probabilities (batch, classes) for stacked inputs (evaluation helper)."""
        feeds = {
            self.inputs[0].name: np.ascontiguousarray(ecg, dtype=np.float32),
            self.inputs[1].name: np.ascontiguousarray(lead_mask, dtype=np.float32),
        }
        (probs,) = self._session.run([self._output], feeds)
        return np.asarray(probs, dtype=np.float64)


def load_checked(model_dir: str | Path) -> tuple[dict[str, Any], Any, Path]:
    """Read ``model_dir/card.json``, load the ONNX file it names and check it against it.

    Returns the card, the ``InferenceSession`` and the model file's path.

    Raises
    ------
    ModelLoadError
        Card or model file missing or unreadable, checksum mismatch, a class without a
        threshold, or an input or output whose name, shape or dtype differs from the card.
    """
    model_dir = Path(model_dir)
    card_path = model_dir / "card.json"
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelLoadError("model card missing", path=str(card_path)) from None
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"model card unreadable: {exc}", path=str(card_path)) from exc
    for key in (
        "name",
        "version",
        "file",
        "classes",
        "thresholds",
        "inputs",
        "outputs",
    ):
        if key not in card:
            raise ModelLoadError(f"model card lacks '{key}'", path=str(card_path))
    onnx_path = model_dir / str(card["file"])
    if not onnx_path.is_file():
        raise ModelLoadError("model file missing", path=str(onnx_path))
    blob = onnx_path.read_bytes()
    digest = hashlib.sha256(blob).hexdigest()
    if card.get("sha256") and card["sha256"] != digest:
        raise ModelLoadError(
            "model file does not match its card",
            path=str(onnx_path),
            expected=f"sha256 {card['sha256'][:12]}",
            got=digest[:12],
        )
    missing = set(card["classes"]) - set(card["thresholds"])
    if missing:
        raise ModelLoadError(
            f"card has no threshold for {sorted(missing)}", path=str(card_path)
        )
    session = _make_session(blob, onnx_path)
    _check_specs("input", card["inputs"], session.get_inputs(), onnx_path)
    _check_specs("output", card["outputs"], session.get_outputs(), onnx_path)
    return card, session, onnx_path


def _make_session(blob: bytes, path: Path) -> Any:
    import onnxruntime as ort  # the adapter is the only place that needs it

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    try:
        return ort.InferenceSession(
            blob, sess_options=opts, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise ModelLoadError(
            f"onnxruntime cannot load the model: {exc}", path=str(path)
        ) from exc


def _check_specs(kind: str, card_specs: Any, session_args: Any, path: Path) -> None:
    want = [TensorSpec.from_card(t) for t in card_specs]
    got = [_session_spec(a) for a in session_args]
    if [w.name for w in want] != [g.name for g in got]:
        raise ModelLoadError(
            f"{kind} names differ from the card",
            path=str(path),
            expected=str([w.name for w in want]),
            got=str([g.name for g in got]),
        )
    for w, g in zip(want, got, strict=True):
        if w.dtype != g.dtype:
            raise ModelLoadError(
                f"{kind} '{w.name}' dtype differs from the card",
                path=str(path),
                expected=w.dtype,
                got=g.dtype,
            )
        same = len(w.shape) == len(g.shape) and all(
            a == b for a, b in zip(w.shape, g.shape, strict=True)
        )
        if not same:
            raise ModelLoadError(
                f"{kind} '{w.name}' shape differs from the card",
                path=str(path),
                expected=str(list(w.shape)),
                got=str(list(g.shape)),
            )


def load_default_model(
    model_dir: str | Path | None = None,
    stemi_dir: str | Path | None = None,
    *,
    with_stemi: bool = True,
) -> TriageModel:
    """Load the CNN in ``models/ecg_triage_cnn`` (or ``model_dir``) and, unless
    ``with_stemi`` is False, the STEMI feature model in ``models/stemi_features`` (or
    ``stemi_dir``) as its ``stemi`` companion. Either failing raises ModelLoadError."""
    from edge_agent.triage.stemi_model import DEFAULT_STEMI_DIR, StemiFeatureModel

    model = TriageModel.load(DEFAULT_MODEL_DIR if model_dir is None else model_dir)
    if with_stemi:
        model.stemi = StemiFeatureModel.load(
            DEFAULT_STEMI_DIR if stemi_dir is None else stemi_dir
        )
    return model
