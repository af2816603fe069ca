"""The ONNX triage model: loading against its card, errors at load, real inference."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import wfdb

from edge_agent.dsp.filters import preprocess
from edge_agent.errors import ModelLoadError
from edge_agent.triage import TriageModel, load_default_model, model_input_from
from edge_agent.triage.combine import MODEL_TIERS, model_findings
from edge_agent.triage.model import DEFAULT_MODEL_DIR
from edge_agent.triage.model_input import MODEL_SAMPLES, complete_limb_leads
from edge_agent.types import STANDARD_12


@pytest.fixture(scope="module")
def model() -> TriageModel:
    return load_default_model()


@pytest.fixture
def model_copy(tmp_path: Path) -> Path:
    dst = tmp_path / "m"
    shutil.copytree(DEFAULT_MODEL_DIR, dst)
    return dst


def _edit_card(d: Path, **changes: object) -> None:
    card = json.loads((d / "card.json").read_text())
    card.update(changes)
    (d / "card.json").write_text(json.dumps(card))


def test_default_model_matches_its_card(model: TriageModel) -> None:
    card = json.loads((DEFAULT_MODEL_DIR / "card.json").read_text())
    assert model.model_id == f"{card['name']}@{card['version']}", model.model_id
    assert model.thresholds == card["thresholds"], "thresholds must come from the card"
    assert set(MODEL_TIERS) <= set(model.classes), f"{model.classes}"
    assert [t.name for t in model.inputs] == ["ecg", "lead_mask"], f"{model.inputs}"


def test_missing_model_file_fails_at_load(model_copy: Path) -> None:
    (model_copy / "model.onnx").unlink()
    with pytest.raises(ModelLoadError, match="model file missing"):
        TriageModel.load(model_copy)


def test_missing_card_fails_at_load(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="model card missing"):
        TriageModel.load(tmp_path)


def test_checksum_mismatch_fails_at_load(model_copy: Path) -> None:
    with (model_copy / "model.onnx").open("ab") as fh:
        fh.write(b"\0")
    with pytest.raises(ModelLoadError, match="does not match its card"):
        TriageModel.load(model_copy)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", "x", "input names differ"),
        ("shape", [None, 12, 500], "input 'ecg' shape differs"),
        ("dtype", "float64", "input 'ecg' dtype differs"),
    ],
)
def test_input_spec_mismatch_fails_at_load(
    model_copy: Path, field: str, value: object, message: str
) -> None:
    card = json.loads((model_copy / "card.json").read_text())
    card["inputs"][0][field] = value
    (model_copy / "card.json").write_text(json.dumps(card))
    with pytest.raises(ModelLoadError, match=message) as err:
        TriageModel.load(model_copy)
    assert "expected" in str(err.value), f"{err.value}"


def test_missing_threshold_fails_at_load(model_copy: Path) -> None:
    card = json.loads((model_copy / "card.json").read_text())
    del card["thresholds"]["STEMI"]
    _edit_card(model_copy, thresholds=card["thresholds"])
    with pytest.raises(ModelLoadError, match="no threshold for"):
        TriageModel.load(model_copy)


def test_thresholds_are_read_from_the_card(model_copy: Path) -> None:
    card = json.loads((model_copy / "card.json").read_text())
    _edit_card(model_copy, thresholds=dict.fromkeys(card["thresholds"], 0.0))
    m = TriageModel.load(model_copy)
    probs = dict.fromkeys(m.classes, 0.01)
    found = {f.code for f in model_findings(probs, m.thresholds, m.model_id)}
    assert found == set(MODEL_TIERS), f"threshold 0 must fire every class: {found}"


def _ptbxl(shared: Path, ecg_id: int) -> tuple[np.ndarray, float, list[str]]:
    rec = wfdb.rdrecord(
        str(shared / "ptbxl_subset" / "records500" / "00000" / f"{ecg_id:05d}_hr")
    )
    return np.asarray(rec.p_signal.T, dtype=np.float64), float(rec.fs), list(rec.sig_name)


@pytest.mark.shared_data
def test_real_inference_on_a_real_record(model: TriageModel, shared_data: Path) -> None:
    x, fs, leads = _ptbxl(shared_data, 9)  # PTB-XL ecg_id 9: NORM 100, test fold
    mi = model_input_from(preprocess(x, fs), fs, leads)
    assert mi.ecg.shape == (1, 12, MODEL_SAMPLES) and mi.ecg.dtype == np.float32
    probs = model.predict(mi)
    assert set(probs) == set(model.classes), f"{probs}"
    assert all(0.0 <= p <= 1.0 for p in probs.values()), f"{probs}"
    assert probs["NORMAL"] > probs["STEMI"], f"normal record: {probs}"


@pytest.mark.shared_data
def test_single_lead_input_runs(model: TriageModel, shared_data: Path) -> None:
    rec = wfdb.rdrecord(str(shared_data / "cinc2017_af_subset" / "A00001"))
    x = np.asarray(rec.p_signal.T, dtype=np.float64)[:, : 30 * 300]
    mi = model_input_from(preprocess(x, 300.0), 300.0, ["I"])
    assert mi.lead_mask.tolist() == [[1.0] + [0.0] * 11], f"{mi.lead_mask}"
    assert np.all(mi.ecg[0, 1:] == 0.0), "missing leads must be zero"
    probs = model.predict(mi)
    assert 0.0 <= probs["AF"] <= 1.0, f"{probs}"


def test_limb_leads_derived_from_two() -> None:
    rng = np.random.default_rng(0)
    i, ii = rng.normal(size=(2, 500))
    mi = model_input_from(np.stack([i, ii]), 500.0, ["I", "II"])
    ecg, mask = mi.ecg[0], mi.lead_mask[0]
    assert mask[:6].tolist() == [1.0] * 6 and mask[6:].sum() == 0.0, f"{mask}"
    np.testing.assert_allclose(ecg[2], ecg[1] - ecg[0], atol=1e-5, err_msg="III = II - I")
    x = np.zeros((1, 12, 4))
    x[0, 1], x[0, 2] = 1.0, 0.5  # II and III
    m = np.zeros((1, 12), bool)
    m[0, 1:3] = True
    y, mm = complete_limb_leads(x, m)
    assert mm[0, :6].all() and y[0, 0, 0] == 0.5, f"I = II - III: {y[0, :6, 0]}"


def test_unusable_and_unknown_leads_are_masked() -> None:
    x = np.ones((3, 1000))
    mi = model_input_from(x, 100.0, ["V1", "V3R", "v5"], usable=[True, True, False])
    assert mi.lead_mask[0].tolist() == [
        1.0 if name == "V1" else 0.0 for name in STANDARD_12
    ], f"{mi.lead_mask}"
