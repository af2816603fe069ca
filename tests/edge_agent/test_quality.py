"""Per-lead signal quality: each problem on crafted leads, clean real records pass."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from edge_agent.analysis import Analysis
from edge_agent.dsp.quality import (
    FEATURE_NAMES,
    MESSAGES_ZH,
    BeatQualityConfig,
    QualityConfig,
    assess_quality,
    lead_quality_features,
    messages_zh,
)
from edge_agent.dsp.results import QualityProblem
from edge_agent.errors import InvalidSignalError

FS = 500.0
LEADS = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")


@pytest.fixture(scope="module")
def clean12() -> NDArray[np.float64]:
    """A clean 12-lead record, 10 s, 500 Hz, mV: one simulated lead (neurokit2 'simple')
    with lead-specific gains and signs, plus 5 uV white noise."""
    nk = pytest.importorskip("neurokit2")
    ecg = nk.ecg_simulate(
        duration=10,
        sampling_rate=500,
        method="simple",
        heart_rate=70,
        noise=0.0,
        random_state=7,
    )
    gains = np.array([0.8, 1.2, 0.5, -0.9, 0.4, 0.9, -0.7, 1.1, 1.5, 1.8, 1.4, 1.0])
    rng = np.random.default_rng(7)
    lead = np.asarray(ecg, dtype=np.float64)
    lead = 1.2 * (lead - np.median(lead)) / np.ptp(lead)  # a 1.2 mV QRS
    x = gains[:, None] * lead[None, :]
    return x + rng.normal(0.0, 0.005, x.shape)


def test_clean_record_has_no_problems(clean12: NDArray[np.float64]) -> None:
    rep = assess_quality(clean12, FS, LEADS)
    bad = [(q.lead, q.problems) for q in rep.leads if q.problems]
    assert not bad, f"clean simulated leads flagged: {bad}"
    assert rep.acceptable and rep.usable.all(), f"usable mask {rep.usable}"


def _inject(x: NDArray[np.float64], lead: int, kind: str) -> NDArray[np.float64]:
    y = x.copy()
    rng = np.random.default_rng(lead)
    t = np.arange(y.shape[1]) / FS
    amp = np.ptp(y[lead])
    if kind == "flat":
        y[lead] = 0.0
    elif kind == "clip":
        y[lead] = np.clip(y[lead], None, y[lead].min() + 0.5 * amp)
    elif kind == "lead_off":
        y[lead, 2000:2010] += np.linspace(0, 4.0, 10)
        y[lead, 2010:] = 0.0
    elif kind == "emg":
        y[lead] += 0.1 * np.sin(2 * np.pi * 50 * t) + rng.normal(0, 0.25 * amp, t.size)
    elif kind == "wander":
        y[lead] += 2.0 * amp * np.sin(2 * np.pi * 0.25 * t)
    elif kind == "uv":
        y[lead] *= 1000.0
    return y


@pytest.mark.parametrize(
    ("kind", "problem", "usable", "needle"),
    [
        ("flat", QualityProblem.FLAT, False, "no signal"),
        ("clip", QualityProblem.CLIPPING, False, "signal clipped - check the gain"),
        ("lead_off", QualityProblem.LEAD_OFF, False, "electrode off - re-attach"),
        ("emg", QualityProblem.HF_NOISE, False, "muscle noise - ask the patient to relax"),
        ("wander", QualityProblem.BASELINE_WANDER, True, "baseline wander - check skin"),
        ("uv", QualityProblem.AMPLITUDE, False, "implausible amplitude"),
    ],
)
def test_each_problem_is_named_on_its_lead_only(
    clean12: NDArray[np.float64],
    kind: str,
    problem: QualityProblem,
    usable: bool,
    needle: str,
) -> None:
    idx = LEADS.index("V3")
    rep = assess_quality(_inject(clean12, idx, kind), FS, LEADS)
    v3 = rep.leads[idx]
    assert problem in v3.problems, f"{kind}: V3 problems {v3.problems}"
    assert v3.ok is usable, f"{kind}: V3 ok={v3.ok}"
    assert any(m.startswith("V3: ") and needle in m for m in v3.messages), v3.messages
    others = [
        (q.lead, q.problems) for i, q in enumerate(rep.leads) if i != idx and q.problems
    ]
    assert not others, f"{kind}: other leads flagged {others}"
    assert rep.acceptable, "one bad lead must not make the record unreadable"


def test_extreme_wander_makes_the_lead_unusable(clean12: NDArray[np.float64]) -> None:
    t = np.arange(clean12.shape[1]) / FS
    y = clean12.copy()
    y[8] += 4.0 * np.ptp(y[8]) * np.sin(2 * np.pi * 0.25 * t)
    q = assess_quality(y, FS, LEADS).leads[8]
    assert QualityProblem.BASELINE_WANDER in q.problems and not q.ok, f"{q}"


def test_mains_alone_is_not_muscle_noise(clean12: NDArray[np.float64]) -> None:
    t = np.arange(clean12.shape[1]) / FS
    y = clean12 + 0.3 * np.sin(2 * np.pi * 50 * t) + 0.1 * np.sin(2 * np.pi * 150 * t)
    rep = assess_quality(y, FS, LEADS)
    assert not any(QualityProblem.HF_NOISE in q.problems for q in rep.leads), (
        f"50 Hz + harmonic counted as EMG: {[q.problems for q in rep.leads]}"
    )
    rep60 = assess_quality(
        clean12 + 0.3 * np.sin(2 * np.pi * 60 * t),
        FS,
        LEADS,
        QualityConfig(mains_hz=50.0),
    )
    assert any(QualityProblem.HF_NOISE in q.problems for q in rep60.leads), (
        "60 Hz with a 50 Hz comb should not be cancelled"
    )


def test_few_clipped_peaks_are_a_warning_only(clean12: NDArray[np.float64]) -> None:
    y = clean12.copy()
    hi = np.sort(y[1])[-40]  # clip only the tops of R waves (~3 samples each)
    y[1] = np.minimum(y[1], hi)
    rep = assess_quality(y, FS, LEADS)
    q = rep.leads[1]
    assert QualityProblem.CLIPPING in q.problems and q.ok, f"{q}"


def test_all_leads_bad_means_unreadable(clean12: NDArray[np.float64]) -> None:
    rep = assess_quality(np.zeros_like(clean12), FS, LEADS)
    assert not rep.acceptable, "all-flat record must be unreadable"
    assert all(q.problems == (QualityProblem.FLAT,) for q in rep.leads)
    zh = messages_zh(rep)
    assert len(zh) == 12 and zh[0] == f"I: {MESSAGES_ZH[QualityProblem.FLAT]}", zh[0]


def test_features_are_vectorized_and_scale_free(clean12: NDArray[np.float64]) -> None:
    f = lead_quality_features(clean12, FS)
    assert f.shape == (12, len(FEATURE_NAMES)), f"{f.shape}"
    single = lead_quality_features(clean12[4:5], FS)
    assert np.allclose(single[0], f[4]), "lead 4 alone differs from lead 4 in the batch"
    g = lead_quality_features(clean12 * 2.0, FS)
    ratio_cols = [FEATURE_NAMES.index(n) for n in ("hf_ratio", "burst_ratio")]
    assert np.allclose(g[:, ratio_cols], f[:, ratio_cols]), "ratios must be scale-free"


@pytest.mark.parametrize("fs", [100.0, 250.0, 360.0, 1000.0])
def test_any_fs_clean_single_lead_is_usable(fs: float) -> None:
    nk = pytest.importorskip("neurokit2")
    x = nk.ecg_simulate(
        duration=12, sampling_rate=int(fs), heart_rate=80, noise=0.01, random_state=1
    )[None, :]
    rep = assess_quality(x, fs, ["II"])
    assert rep.leads[0].ok, f"{fs} Hz: {rep.leads[0].problems}"


def test_bad_input_and_config() -> None:
    with pytest.raises(InvalidSignalError, match="lead names"):
        assess_quality(np.zeros((2, 2000)), FS, ["I"])
    with pytest.raises(InvalidSignalError, match="hf thresholds"):
        QualityConfig(hf_warn=0.1, hf_reject=0.05)


@pytest.mark.shared_data
def test_real_12_lead_records_are_usable(shared_data: Path) -> None:
    wfdb = pytest.importorskip("wfdb")
    usable = []
    for rec in (1, 3, 5, 7, 9, 11):
        r = wfdb.rdrecord(str(shared_data / "ludb" / "data" / str(rec)))
        rep = assess_quality(np.ascontiguousarray(r.p_signal.T), float(r.fs), LEADS)
        assert rep.acceptable, f"LUDB {rec} unreadable"
        usable.append(rep.usable.mean())
    assert np.mean(usable) >= 0.95, f"LUDB usable lead rate {np.mean(usable):.3f}"


@pytest.mark.shared_data
def test_cinc2017_noisy_flagged_more_than_normal(shared_data: Path) -> None:
    wfdb = pytest.importorskip("wfdb")
    folder = shared_data / "cinc2017_af_subset"
    rows = list(csv.reader((folder / "REFERENCE.csv").read_text().splitlines()))[1:]
    noisy = [r for r, c in rows if c == "~"][:40]
    normal = [r for r, c in rows if c == "N"][:60]

    def unreadable(names: list[str]) -> float:
        out = []
        for name in names:
            r = wfdb.rdrecord(str(folder / name))
            out.append(not assess_quality(r.p_signal.T, float(r.fs), ["I"]).acceptable)
        return float(np.mean(out))

    noisy_rate, normal_rate = unreadable(noisy), unreadable(normal)
    assert noisy_rate >= 0.15, f"noisy unreadable rate {noisy_rate:.2f}"
    assert normal_rate <= 0.06, f"normal unreadable rate {normal_rate:.2f}"


# --- beat-level stage (assess_beat_quality, run inside analyze) ---


def _analyze_sample(sample_dir: Path, stem: str) -> Analysis:
    from edge_agent.analysis import analyze
    from edge_agent.io import read_record

    rec = read_record(sample_dir / f"{stem}.hea")
    return analyze(rec.signal, rec.fs, rec.leads)


def test_noisy_cinc_record_is_unreadable_through_analyze(sample_dir: Path) -> None:
    from edge_agent.io import read_record

    rec = read_record(sample_dir / "A00022.hea")
    raw = assess_quality(rec.signal, rec.fs, rec.leads)
    assert raw.acceptable, (
        "the raw-signal stage alone passes A00022 (the beat stage's case)"
    )
    res = _analyze_sample(sample_dir, "A00022")
    doc = res.to_dict()
    assert not res.quality.acceptable, f"A00022 quality {doc['quality']}"
    assert doc["triage"]["priority"] == "unreadable", f"triage {doc['triage']}"
    codes = [f["code"] for f in doc["triage"]["findings"]]
    assert codes == ["NOISE"], f"findings {codes} (no TACHY/PVC on noise)"
    lead = res.quality.leads[0]
    assert QualityProblem.BEAT_NOISE in lead.problems, f"problems {lead.problems}"
    assert any("too noisy to read beats" in m for m in lead.messages), f"{lead.messages}"
    assert doc["rpeaks"] == [] and doc["heart_rate_bpm"] is None, f"{doc['rpeaks']}"
    zh = messages_zh(res.quality)
    assert zh and "无法识别心搏" in zh[-1], f"Chinese messages {zh}"


@pytest.mark.parametrize("stem", ["00001_hr", "A0003", "mitdb119_60s"])
def test_real_normal_af_and_pvc_records_stay_acceptable(
    sample_dir: Path, stem: str
) -> None:
    res = _analyze_sample(sample_dir, stem)
    beat_noise = [
        q.lead for q in res.quality.leads if QualityProblem.BEAT_NOISE in q.problems
    ]
    assert res.quality.acceptable, f"{stem}: {res.to_dict()['quality']}"
    assert not beat_noise, f"{stem}: beat stage rejected {beat_noise}"
    assert res.to_dict()["triage"]["priority"] != "unreadable", f"{stem}: unreadable"
    assert res.rpeaks.size >= 5, f"{stem}: {res.rpeaks.size} R peaks"


def test_pure_noise_with_spikes_is_unreadable() -> None:
    from scipy.signal import butter, sosfiltfilt

    from edge_agent.analysis import analyze

    rng = np.random.default_rng(3)
    sos = butter(2, [0.5, 15.0], btype="band", fs=FS, output="sos")
    x = sosfiltfilt(sos, rng.normal(0.0, 1.0, 5000))
    x = 0.3 * x / np.std(x)
    for i in rng.choice(np.arange(200, 4800), 5, replace=False):
        x[i : i + 10] += 1.5 * np.hanning(10)
    sig = x[None, :]
    assert assess_quality(sig, FS, ["II"]).acceptable, "raw stage passes band-limited noise"
    res = analyze(sig, FS, ["II"])
    doc = res.to_dict()
    assert doc["triage"]["priority"] == "unreadable", f"triage {doc['triage']}"
    assert res.quality.leads[0].problems == (QualityProblem.BEAT_NOISE,), (
        f"{doc['quality']}"
    )


def test_beat_stage_keeps_clean_leads_and_rejected_ones(
    clean12: NDArray[np.float64],
) -> None:
    from edge_agent.dsp.beats import classify_beats
    from edge_agent.dsp.filters import FilterProfile, preprocess
    from edge_agent.dsp.quality import assess_beat_quality, beat_quality_features
    from edge_agent.dsp.rpeaks import detect_rpeaks

    x = _inject(clean12, 4, "flat")
    raw = assess_quality(x, FS, LEADS)
    y = preprocess(x, FS, FilterProfile.DIAGNOSTIC, mains_hz=50.0)
    r = detect_rpeaks(x, FS, usable=raw.usable)
    beats = classify_beats(y, r, FS, usable=raw.usable)
    out = assess_beat_quality(y, FS, LEADS, r, beats, raw)
    assert out is raw, "nothing to downgrade on clean leads: the same report comes back"
    feats = beat_quality_features(y[raw.usable], FS, r)
    assert feats[:, 0].min() > 0.95, f"template correlation {feats[:, 0]}"
    assert feats[:, 2].min() > 0.9, f"bSQI {feats[:, 2]}"
    assert feats[:, 3].min() > 5.0, f"kurtosis {feats[:, 3]}"
    with pytest.raises(InvalidSignalError, match="disagree"):
        assess_beat_quality(y[:3], FS, LEADS, r, beats, raw)
    with pytest.raises(InvalidSignalError, match="votes_reject"):
        BeatQualityConfig(votes_reject=0)


def test_beat_noise_has_english_and_chinese_messages() -> None:
    from edge_agent.dsp.quality import MESSAGES_EN

    assert set(MESSAGES_EN) == set(MESSAGES_ZH) == set(QualityProblem), "message tables"
