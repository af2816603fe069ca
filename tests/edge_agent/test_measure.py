"""Intervals, axes and per-lead amplitudes (edge_agent.dsp.measure)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import wfdb

from edge_agent.dsp.beats import classify_beats, median_beat
from edge_agent.dsp.delineate import delineate, map_fiducials
from edge_agent.dsp.filters import preprocess
from edge_agent.dsp.measure import measure_axes, measure_intervals, measure_leads
from edge_agent.dsp.results import FIDUCIAL_NAMES, Fiducials, LeadMeasures, MedianBeat
from edge_agent.dsp.rpeaks import detect_rpeaks
from edge_agent.types import STANDARD_12

FS = 500.0


def test_interval_formulas() -> None:
    med = MedianBeat(waveform=np.zeros((1, 500)), r_index=200, n_beats=5, fs=FS)
    fid = Fiducials(p_on=100, p_off=140, qrs_on=180, qrs_off=225, t_off=380)
    iv = measure_intervals(fid, med, rr_ms=810.0)
    assert iv.pr_ms == pytest.approx(160.0), f"PR {iv.pr_ms}"
    assert iv.qrs_ms == pytest.approx(90.0), f"QRS {iv.qrs_ms}"
    assert iv.qt_ms == pytest.approx(400.0), f"QT {iv.qt_ms}"
    assert iv.qtc_bazett_ms == pytest.approx(400.0 / math.sqrt(0.81)), f"{iv.qtc_bazett_ms}"
    assert iv.qtc_fridericia_ms == pytest.approx(400.0 / 0.81 ** (1 / 3)), f"{iv}"
    none = measure_intervals(Fiducials(None, None, 180, 225, None), med, rr_ms=None)
    assert (none.pr_ms, none.qt_ms, none.qtc_bazett_ms, none.rr_ms) == (None,) * 4, (
        f"{none}"
    )


def _axis_beat(theta_deg: float, names: tuple[str, ...]) -> tuple[MedianBeat, Fiducials]:
    """QRS, P and T blobs from a heart vector at a known angle, limb leads by Einthoven."""
    a = math.radians(theta_deg)
    lead_i, lead_ii = math.cos(a), math.cos(a - math.pi / 3)
    lead_iii = lead_ii - lead_i
    gain = {"I": lead_i, "II": lead_ii, "III": lead_iii, "aVR": -(lead_i + lead_ii) / 2,
            "aVL": (lead_i - lead_iii) / 2, "aVF": (lead_ii + lead_iii) / 2}  # fmt: skip
    n = 500
    t = np.arange(n)
    blob = np.exp(-0.5 * ((t - 200) / 8.0) ** 2)
    pwave = 0.15 * np.exp(-0.5 * ((t - 120) / 12.0) ** 2)
    twave = 0.3 * np.exp(-0.5 * ((t - 330) / 25.0) ** 2)
    rows = [gain[name] * (blob + pwave + twave) for name in names]
    fid = Fiducials(p_on=80, p_off=160, qrs_on=170, qrs_off=230, t_off=420)
    return MedianBeat(waveform=np.array(rows), r_index=200, n_beats=8, fs=FS), fid


@pytest.mark.parametrize("theta", [-45.0, 0.0, 60.0, 100.0, 170.0, -120.0])
@pytest.mark.parametrize(
    "names", [("I", "II", "III", "aVR", "aVL", "aVF"), ("I", "II"), ("II", "III")]
)
def test_frontal_axes_from_hexaxial_leads(theta: float, names: tuple[str, ...]) -> None:
    med, fid = _axis_beat(theta, names)
    axes = measure_axes(med, fid, list(names))
    for name, got in (("P", axes.p_deg), ("QRS", axes.qrs_deg), ("T", axes.t_deg)):
        assert got is not None, f"{name} axis missing with leads {names}"
        diff = (got - theta + 180.0) % 360.0 - 180.0
        assert abs(diff) < 1.0, f"{name} axis {got:.1f} deg, expected {theta} ({names})"


def test_axes_need_limb_leads() -> None:
    med, fid = _axis_beat(30.0, ("I",))
    axes = measure_axes(med, fid, ["I"])
    assert axes.qrs_deg is None and axes.p_deg is None, f"{axes}"
    med2, _ = _axis_beat(30.0, ("I", "aVF"))
    no_p = measure_axes(med2, Fiducials(None, None, 170, 230, None), ["I", "aVF"])
    assert no_p.p_deg is None and no_p.t_deg is None and no_p.qrs_deg is not None, f"{no_p}"


def test_q_r_s_t_amplitudes_and_st_levels() -> None:
    n = 500
    t = np.arange(n, dtype=float)
    x = np.zeros(n)
    # Q: -0.2 mV from 180 to 195 (30 ms), R +1.0 peaking at 205, S -0.4 at 220, J at 235
    x[180:196] = -0.2 * np.sin(np.pi * (t[180:196] - 180) / 15.0)
    x[196:215] = 1.0 * np.sin(np.pi * (t[196:215] - 196) / 18.0)
    x[215:230] = -0.4 * np.sin(np.pi * (t[215:230] - 215) / 14.0)
    x[235:400] += 0.15  # ST elevation on a plateau
    x[280:400] += 0.25 * np.sin(np.pi * (t[280:400] - 280) / 119.0)  # T wave
    w = np.stack([x, -x, 0.0 * x]) + 0.05  # constant offset: baseline must remove it
    med = MedianBeat(waveform=w, r_index=205, n_beats=8, fs=FS)
    fid = Fiducials(p_on=None, p_off=None, qrs_on=180, qrs_off=235, t_off=400, t_peak=340)
    lm = measure_leads(med, fid, ["V2", "V3", "V4"])
    assert [m.lead for m in lm] == ["V2", "V3", "V4"], f"{lm}"
    a = lm[0]
    assert a.r_mv == pytest.approx(1.0, abs=0.01), f"R {a.r_mv}"
    assert a.q_mv == pytest.approx(-0.2, abs=0.01), f"Q {a.q_mv}"
    assert a.q_ms == pytest.approx(32.0, abs=4.0), f"Q duration {a.q_ms}"
    assert a.s_mv == pytest.approx(-0.4, abs=0.01), f"S {a.s_mv}"
    assert a.st_j60_mv == pytest.approx(0.15, abs=0.005), f"ST J+60 {a.st_j60_mv}"
    assert a.st_j80_mv == pytest.approx(0.15, abs=0.005), f"ST J+80 {a.st_j80_mv}"
    assert a.t_mv == pytest.approx(0.40, abs=0.01), f"T {a.t_mv}"
    b = lm[1]
    assert b.st_j60_mv == pytest.approx(-0.15, abs=0.005), f"inverted ST {b.st_j60_mv}"
    assert b.t_mv == pytest.approx(-0.40, abs=0.01), f"inverted T {b.t_mv}"
    # inverted: r 0.2, S -1.0, r' 0.4 -> no Q, R = 0.4, S = -1.0
    assert b.r_mv == pytest.approx(0.4, abs=0.01) and b.q_mv == 0.0, f"{b}"
    assert b.s_mv == pytest.approx(-1.0, abs=0.01), f"S {b.s_mv}"
    flat = lm[2]
    assert (flat.r_mv, flat.q_mv, flat.s_mv, flat.st_j60_mv) == (0.0, 0.0, 0.0, 0.0), (
        f"{flat}"
    )


def _ludb(shared: Path, rec: str) -> tuple[np.ndarray, float]:
    r = wfdb.rdrecord(str(shared / "ludb" / "data" / rec))
    return np.ascontiguousarray(r.p_signal.T), float(r.fs)


def _leads(x: np.ndarray, fs: float) -> tuple[tuple[LeadMeasures, ...], np.ndarray]:
    y = preprocess(x, fs)
    r = detect_rpeaks(y, fs)
    beats = classify_beats(y, r, fs)
    med = median_beat(y, beats, fs)
    fid = delineate(med)
    bf = map_fiducials(fid, med, beats, y.shape[1])
    return measure_leads(med, fid, STANDARD_12), np.where(bf.present, bf.positions, -1)


@pytest.mark.parametrize("rec", ["9", "145"])
def test_injected_st_elevation_is_measured(shared_data: Path, rec: str) -> None:
    """+0.2 mV ST offset in V2, V3 and aVF of a normal LUDB record, every beat.

    The offset rises (sin^2) over the last 40 ms of the QRS to reach 0.2 mV at the J point,
    stays up to 40 ms before T end and returns to 0 at T end, like an injury current that
    leaves the J point elevated. (An abrupt step exactly at J looks like QRS activity: the
    J point then moves 28-38 ms later and the measured rise is 0.23-0.24 mV.)
    ST at J+60 must rise by 0.2 mV (within 0.03) there and stay put (within 0.03) elsewhere.
    """
    x, fs = _ludb(shared_data, rec)
    before, pos = _leads(x, fs)
    j_col, t_col = FIDUCIAL_NAMES.index("qrs_off"), FIDUCIAL_NAMES.index("t_off")
    injected = x.copy()
    ramp = round(0.04 * fs)
    target = [STANDARD_12.index(n) for n in ("V2", "V3", "aVF")]
    for j, t_end in pos[:, [j_col, t_col]]:
        if j < ramp or t_end <= j + 2 * ramp:
            continue
        shape = np.ones(t_end - (j - ramp))
        shape[:ramp] = np.sin(np.linspace(0.0, np.pi / 2, ramp)) ** 2
        shape[-ramp:] = np.cos(np.linspace(0.0, np.pi / 2, ramp)) ** 2
        injected[target, j - ramp : t_end] += 0.2 * shape
    after, _ = _leads(injected, fs)
    for i, (b, a) in enumerate(zip(before, after, strict=True)):
        assert b.st_j60_mv is not None and a.st_j60_mv is not None, f"{b.lead}: no ST"
        rise = a.st_j60_mv - b.st_j60_mv
        expected = 0.2 if i in target else 0.0
        assert abs(rise - expected) <= 0.03, (
            f"record {rec} {b.lead}: ST J+60 rose {rise:+.3f} mV, expected {expected}"
        )


def test_amplitudes_scale_linearly(shared_data: Path) -> None:
    x, fs = _ludb(shared_data, "9")
    base, _ = _leads(x, fs)
    scaled, _ = _leads(2.0 * x, fs)
    for b, s in zip(base, scaled, strict=True):
        # Q and S are left out: the absolute 20 uV minimal-wave rule decides which
        # deflection is the first positive wave, and that is not scale-free.
        for field in ("st_j_mv", "st_j60_mv", "st_j80_mv", "r_mv", "t_mv"):
            vb, vs = getattr(b, field), getattr(s, field)
            assert vb is not None and vs is not None, f"{b.lead} {field} missing"
            assert vs == pytest.approx(2.0 * vb, abs=1e-9), (
                f"{b.lead} {field}: {vb} -> {vs}"
            )
