"""The reader's journey through the records that are not a clean 12-lead: a real
``ecg-central serve`` (SQLite) fed through the real gRPC Ingest with real records, driven in
Debian's chromium by Playwright.

- the paper scale measured in canvas pixels (grid, calibration pulse, 10 s strip);
- the ST table in mm (what the machine's statements and the reader count in);
- where each machine statement comes from (rules / model), one proposal per code;
- a 60 s two-lead record read 10 s at a time;
- an unreadable single-lead record shows nothing of the record opened before it;
- a cart whose clock was wrong: a notice, not a diagnostic statement;
- a 1024 px window: measurements and statements right below the ECG, keyboard only.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from ecgnet.v1 import common_pb2, ingest_pb2_grpc

from central_reader import serde
from tests.central_reader.web_support import (
    ARTIFACTS,
    BROWSER_MARKS,
    Central,
    Sample,
    back_to_queue,
    chromium,
    reader_api,
    start_central,
    submit_request,
)

pytestmark = BROWSER_MARKS
# skips the module when the playwright package is not installed
pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

STEMI = Sample("21", "P-J021", 3.0, "site-a", "critical", ("STEMI",))
AF = Sample("A0003", "P-J003", 5.0, "site-b", "warning", ("AF",))
HOLTER = Sample("mitdb119_60s", "P-J119", 8.0, "site-b", "warning", ("PVC",))
NOISY = Sample("A00022", "P-J022", 9.0, "site-c", "unreadable", ("NOISE",))
SKEWED = Sample("00001_hr", "P-J001", 0.0, "site-c", "routine", ("NORMAL",))
# The STEMI patient's ECG of two days ago (routine, never read: overdue by a day).
EARLIER = Sample("00001_hr", "P-J021", 2 * 24 * 60, "site-a", "routine", ("NORMAL",))
MODEL_PVC = "model:ecg_triage_cnn@1.1.0"


def _submit(central: Central) -> dict[str, tuple[str, dict[str, Any]]]:
    """Submit the five records; returns name -> (record id, analysis)."""
    now = datetime.now(UTC)
    out: dict[str, tuple[str, dict[str, Any]]] = {}
    with grpc.insecure_channel(f"127.0.0.1:{central.grpc_port}") as channel:
        stub = ingest_pb2_grpc.IngestStub(channel)
        meta = (("authorization", f"Bearer {central.tokens['device']}"),)
        for key, sample in (
            ("stemi", STEMI),
            ("af", AF),
            ("holter", HOLTER),
            ("noisy", NOISY),
            ("skewed", SKEWED),
            ("earlier", EARLIER),
        ):
            req, analysis = submit_request(sample, now)
            if key == "stemi":
                # The STEMI feature model raises this record (the rules do not): what the
                # cart sent in a real network run (models on).
                req.findings.insert(
                    0,
                    common_pb2.Finding(
                        code="STEMI",
                        label_en="ST-elevation myocardial infarction (STEMI)",
                        label_zh="急性ST段抬高型心肌梗死",
                        priority=common_pb2.PRIORITY_CRITICAL,
                        source="model:stemi_features@1.3.0",
                        probability=0.78,
                        detail="p=0.78 >= 0.14",
                    ),
                )
                req.priority = common_pb2.PRIORITY_CRITICAL
            if key == "holter":
                # What a cart running the model sends for this record (seen in the real
                # network: the timed-PVC rule and the CNN both report PVC).
                req.findings.append(
                    common_pb2.Finding(
                        code="PVC",
                        label_en="Premature ventricular complexes",
                        label_zh="室性早搏",
                        priority=common_pb2.PRIORITY_WARNING,
                        source=MODEL_PVC,
                        probability=0.998,
                        detail="p=1.00 >= 0.13",
                    )
                )
            if key == "skewed":  # the cart's clock runs two days ahead
                req.acquired_at.CopyFrom(
                    serde.timestamp_from_datetime(now + timedelta(days=2))
                )
            stub.Submit(req, metadata=meta, timeout=30)
            out[key] = (req.record_id, analysis)
    return out


@pytest.fixture(scope="module")
def journey(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    central = start_central(tmp_path_factory.mktemp("central-journey"))
    try:
        yield {"central": central, "records": _submit(central)}
    finally:
        central.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b


def _page(
    browser: Any,
    journey: dict[str, Any],
    width: int = 1600,
    height: int = 1000,
    dpr: float = 1,
) -> tuple[Any, Any, list[str]]:
    context = browser.new_context(
        viewport={"width": width, "height": height},
        locale="zh-CN",
        device_scale_factor=dpr,
    )
    pg = context.new_page()
    pg.set_default_timeout(10_000)
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.on(
        "console",
        lambda m: (
            errors.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource")
            else None
        ),
    )
    pg.goto(f"{journey['central'].url}/?refresh_ms=500")
    pg.fill("#token-input", journey["central"].tokens["cardiologist"])
    pg.click("#signin-button")
    pg.wait_for_selector("#queue-body tr")
    return context, pg, errors


@pytest.fixture()
def page(browser: Any, journey: dict[str, Any]) -> Iterator[Any]:
    context, pg, errors = _page(browser, journey)
    yield pg
    context.close()
    assert not errors, f"browser errors: {errors}"


def _open(pg: Any, record_id: str) -> None:
    pg.evaluate("() => { delete document.body.dataset.openedRecord; }")
    pg.click(f'#queue-body tr[data-record-id="{record_id}"]')
    pg.wait_for_selector(f'body[data-opened-record="{record_id}"]', state="attached")



# Grid and calibration pulse measured in the canvas's own pixels (device pixels). Major
# lines (5 mm) are rgba(214,60,60,.8) on #fffafa: green ~98; minor (1 mm) green ~200;
# trace #101010. Returns the x of every major/minor line crossed by the row at yMm, and the
# calibration pulse of the first row: its top (baseline - gain) and baseline y, its width.
_PAPER_JS = """
([yMm]) => {
  const view = window.ecgApp.views.current;
  const canvas = document.getElementById("ecg-canvas");
  const ctx = canvas.getContext("2d");
  const k = canvas.width / view.layout.widthMm;
  const runs = (cls, getPx, n) => {
    const out = [];
    let start = -1;
    for (let i = 0; i <= n; i += 1) {
      const hit = i < n && cls(getPx(i));
      if (hit && start < 0) start = i;
      if (!hit && start >= 0) { out.push((start + i - 1) / 2); start = -1; }
    }
    return out;
  };
  const row = ctx.getImageData(0, Math.round(yMm * k) + 1, canvas.width, 1).data;
  const px = (d) => (i) => [d[4 * i], d[4 * i + 1], d[4 * i + 2]];
  const red = (lo, hi) => ([r, g, b]) =>
    r > 200 && g >= lo && g < hi && Math.abs(g - b) < 12;
  const major = runs(red(60, 150), px(row), canvas.width);
  const minor = runs(red(150, 235), px(row), canvas.width);
  // Trace ink: grey to black, anti-aliased (the grid is red-dominant).
  const dark = ([r, g, b]) => r < 170 && Math.max(r, g, b) - Math.min(r, g, b) < 40;
  const base = view.layout.segments.find((s) => s.row === 0).baselineMm;
  const colAt = (xMm) => ctx.getImageData(Math.round(xMm * k), 0, 1, canvas.height).data;
  // Top of the pulse: column in its middle (x 2..7 mm); baseline stub: x 1..2 mm.
  const topYs = runs(dark, px(colAt(4.5)), canvas.height);
  const baseYs = runs(dark, px(colAt(1.5)), canvas.height);
  const off = (y, yMm) => Math.abs(y - yMm * k);
  const near = (ys, yMm) => ys.reduce((a, y) => (off(y, yMm) < off(a, yMm) ? y : a), -1e9);
  const gain = view.layout.gain;
  const topY = near(topYs, base - gain);
  const baseY = near(baseYs, base);
  // Width of the pulse's top: the dark pixels of that row left of the trace (x < 8.5 mm).
  const topRow = ctx.getImageData(0, Math.round(topY), Math.round(8.5 * k), 1).data;
  let first = -1, last = -1;
  for (let i = 0; i < Math.round(8.5 * k); i += 1) {
    if (dark(px(topRow)(i))) { if (first < 0) first = i; last = i; }
  }
  return {k, dpr: window.devicePixelRatio, pxPerMm: view.pxPerMm, major, minor,
          topY, baseY, pulseWidth: last - first, gain};
}
"""


def _spacings(xs: list[float]) -> list[float]:
    return [b - a for a, b in zip(xs, xs[1:], strict=False)]


def test_paper_grid_and_calibration_measured_in_pixels(
    page: Any, journey: dict[str, Any]
) -> None:
    """Queue: the critical STEMI first. Record: 1 mm / 5 mm grid and a 10 mm, 5 mm wide
    calibration pulse at 25 mm/s, 10 mm/mV, measured in the canvas's pixels; at 20 mm/mV the
    pulse doubles, at 50 mm/s the 10 s strip doubles."""
    rows = page.eval_on_selector_all(
        "#queue-body tr", "rs => rs.map(r => r.dataset.recordId)"
    )
    assert rows[0] == journey["records"]["stemi"][0], f"critical STEMI not first: {rows}"
    _open(page, rows[0])
    # The patient's earlier ECG opens beside it: P hides it, the paper takes the full width.
    page.wait_for_selector("#prev-canvas[data-leads-drawn]")
    page.keyboard.press("p")
    page.wait_for_selector("#previous-wrap", state="hidden")
    m = page.evaluate(_PAPER_JS, [2.5])
    k = m["k"]
    assert abs(k - m["pxPerMm"] * m["dpr"]) < 0.05, (
        f"backing px/mm {k} vs CSS {m['pxPerMm']}"
    )
    major = _spacings(m["major"])
    assert len(major) >= 40, f"few major lines found: {m['major'][:8]}"
    mean_major = (m["major"][-1] - m["major"][0]) / (len(m["major"]) - 1)
    assert abs(mean_major - 5 * k) < 0.05 * k, f"5 mm = {mean_major:.2f} px, k={k:.3f}"
    assert all(abs(s - 5 * k) <= 1.01 for s in major), f"uneven 5 mm lines: {major}"
    xs = sorted(m["major"] + m["minor"])
    minor = _spacings(xs)
    assert all(abs(s - k) <= 1.01 for s in minor), f"uneven 1 mm lines: {minor[:20]}"
    assert abs((xs[-1] - xs[0]) / (len(xs) - 1) - k) < 0.02 * k, "1 mm grid off scale"
    # Calibration pulse: 1 mV = 10 mm high, 0.2 s = 5 mm wide.
    height = m["baseY"] - m["topY"]
    assert abs(height - 10 * k) <= 1.5, f"1 mV pulse {height:.1f} px, expected {10 * k:.1f}"
    width = m["pulseWidth"]
    assert abs(width - 5 * k) <= 2.5, f"0.2 s pulse {width} px, expected {5 * k:.1f}"
    strip = page.get_attribute('#ecg-leads li[data-rhythm="true"]', "data-box") or ""
    strip_w = float(strip.split(",")[2])
    assert abs(strip_w - 250 * m["pxPerMm"]) < 0.5, f"10 s strip {strip_w} px != 250 mm"
    record = {
        "px_per_mm_css": m["pxPerMm"],
        "px_per_mm_device": k,
        "major_spacing_px": mean_major,
        "pulse_height_px": height,
        "pulse_width_px": width,
    }
    page.select_option("#gain", "20")
    m20 = page.evaluate(_PAPER_JS, [2.5])
    h20 = m20["baseY"] - m20["topY"]
    assert abs(h20 - 20 * m20["k"]) <= 1.5, f"20 mm/mV pulse {h20:.1f} px"
    page.select_option("#gain", "10")
    page.select_option("#speed", "50")
    strip50 = float(
        (page.get_attribute('#ecg-leads li[data-rhythm="true"]', "data-box") or "").split(
            ","
        )[2]
    )
    assert abs(strip50 - 500 * m["pxPerMm"]) < 0.5, f"10 s at 50 mm/s: {strip50} px"
    page.select_option("#speed", "25")
    record["pulse_height_20mm_per_mv_px"] = h20
    (ARTIFACTS / "web_paper_scale.json").write_text(json.dumps(record, indent=2))
    page.screenshot(path=str(ARTIFACTS / "web_journey_stemi.png"), full_page=True)

    # Removing the machine's STEMI and signing would cancel the chest-pain alert: asked.
    asked: list[str] = []

    def dismiss(d: Any) -> None:
        asked.append(d.message)
        d.dismiss()

    page.keyboard.press("c")
    page.click('#findings-list li[data-code="STEMI"] button.remove')
    page.fill("#conclusion", "陈旧性前壁心肌梗死")
    page.once("dialog", dismiss)
    page.click("#sign")
    page.wait_for_selector("#sign-status:has-text('未签发')")
    assert asked and "撤销预警" in asked[0] and "STEMI" in asked[0], asked
    assert page.get_attribute("#signature", "data-signed") == "false", "signed anyway"
    item = reader_api(journey["central"], "GET", f"/records/{rows[0]}")["item"]
    assert item["status"] != "signed", item


def test_paper_scale_on_a_hidpi_screen(browser: Any, journey: dict[str, Any]) -> None:
    """devicePixelRatio 2: the same paper in CSS pixels, twice the device pixels per mm."""
    context, pg, errors = _page(browser, journey, 1400, 900, dpr=2)
    try:
        _open(pg, journey["records"]["af"][0])
        m = pg.evaluate(_PAPER_JS, [2.5])
        k = m["k"]
        assert m["dpr"] == 2 and abs(k - 2 * m["pxPerMm"]) < 0.05, m
        mean_major = (m["major"][-1] - m["major"][0]) / (len(m["major"]) - 1)
        assert abs(mean_major - 5 * k) < 0.02 * k, f"5 mm = {mean_major:.2f} px, k={k:.3f}"
        xs = sorted(m["major"] + m["minor"])
        assert all(abs(b - a - k) <= 1.01 for a, b in zip(xs, xs[1:], strict=False))
        height = m["baseY"] - m["topY"]
        assert abs(height - 10 * k) <= 1.5, f"1 mV pulse {height:.1f} px at k={k:.2f}"
        assert abs(m["pulseWidth"] - 5 * k) <= 3, f"0.2 s pulse {m['pulseWidth']} px"
        scale = (
            json.loads((ARTIFACTS / "web_paper_scale.json").read_text())
            if (ARTIFACTS / "web_paper_scale.json").exists()
            else {}
        )
        scale["dpr2"] = {
            "px_per_mm_css": m["pxPerMm"],
            "px_per_mm_device": k,
            "major_spacing_px": mean_major,
            "pulse_height_px": height,
            "pulse_width_px": m["pulseWidth"],
        }
        (ARTIFACTS / "web_paper_scale.json").write_text(json.dumps(scale, indent=2))
    finally:
        context.close()
    assert not errors, f"browser errors: {errors}"


def _st_text(mv: float | None) -> str:
    if mv is None:
        return "—"
    text = f"{mv * 10:.1f}"
    return "0.0" if float(text) == 0 else text


def test_st_table_in_mm_and_statement_sources(page: Any, journey: dict[str, Any]) -> None:
    rid, analysis = journey["records"]["af"]
    _open(page, rid)
    assert "mm" in page.inner_text(".side h3"), page.inner_text(".side h3")
    cells = page.eval_on_selector_all(
        "#st-table td", "ts => ts.map(t => [t.dataset.lead, t.innerText, t.className])"
    )
    st = analysis["st_mv"]
    assert [c[0] for c in cells] == list(st), cells
    for lead, text, cls in cells:
        assert text == _st_text(st[lead]), f"{lead}: {text!r}, st_mv {st[lead]}"
        mm = None if st[lead] is None else round(st[lead] * 10, 1)
        want = (
            "st-up"
            if mm is not None and mm >= 1
            else ("st-down" if mm is not None and mm <= -1 else "")
        )
        assert cls == want, f"{lead} {text}: class {cls!r}"
    assert any(c[2] == "st-down" for c in cells), (
        f"A0003's ST depression not marked: {cells}"
    )
    # The machine's ST statement counts in mm too: its numbers appear in the table.
    items = page.eval_on_selector_all(
        "#findings-list li",
        "ls => ls.map(l => [l.dataset.code, l.dataset.sources,"
        " l.querySelector('.meta').innerText])",
    )
    for code, sources, meta in items:
        assert sources == "rules", f"{code}: rules-only cart, sources {sources!r}"
        assert "规则 " in meta and "机器" not in meta, meta
    dep = next((meta for code, _, meta in items if code == "ST_DEPRESSION"), None)
    if dep is not None:
        for part in dep.split("·")[-1].split(","):
            lead, val = part.split()[:2]
            shown = next(c[1] for c in cells if c[0] == lead)
            assert abs(float(shown) - float(val)) <= 0.1, f"{lead}: table {shown}, {part}"
    page.click("#lang-switch")
    meta_en = page.inner_text("#findings-list li >> nth=0")
    assert "rules " in meta_en, meta_en
    page.click("#lang-switch")


def test_one_proposal_per_code_and_a_long_record_paged(
    page: Any, journey: dict[str, Any]
) -> None:
    central = journey["central"]
    rid, _ = journey["records"]["holter"]
    row = page.inner_text(f'#queue-body tr[data-record-id="{rid}"] td.findings')
    assert row.count("室性早搏") == 1, f"PVC listed twice in the queue: {row!r}"
    _open(page, rid)
    pvc = page.eval_on_selector_all(
        '#findings-list li[data-code="PVC"]',
        "ls => ls.map(l => [l.dataset.sources, l.querySelector('.meta').innerText])",
    )
    assert len(pvc) == 1, f"one PVC proposal expected: {pvc}"
    assert pvc[0][0] == "rules,model", pvc
    assert "规则 pvc-timed" in pvc[0][1] and "模型 ecg_triage_cnn@1.1.0" in pvc[0][1], pvc
    # 60 s, two leads: 10 s at a time, both leads on every page, the arrows move along.
    assert page.is_visible("#window-wrap"), "no window selector for a 60 s record"
    options = page.eval_on_selector_all("#window option", "os => os.map(o => o.value)")
    assert options == ["0", "10", "20", "30", "40", "50"], options
    canvas = page.locator("#ecg-canvas")
    assert canvas.get_attribute("data-window") == "0,10,60", canvas.get_attribute(
        "data-window"
    )
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    assert canvas.get_attribute("data-window") == "20,30,60"
    assert canvas.get_attribute("data-rhythm-drawn") == "II,V1"
    points = page.eval_on_selector_all(
        "#ecg-leads li", "ls => ls.map(l => +l.dataset.points)"
    )
    assert len(points) == 2 and min(points) > 500, f"leads at 20-30 s: {points}"
    page.screenshot(path=str(ARTIFACTS / "web_journey_holter_20s.png"), full_page=True)
    page.keyboard.press("ArrowLeft")
    assert canvas.get_attribute("data-window") == "10,20,60"
    # Confirm and sign: one PVC statement carrying both sources reaches the report.
    page.keyboard.press("c")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector('#signature[data-signed="true"]')
    report = reader_api(central, "GET", f"/records/{rid}")["reports"][0]
    pvcs = [f for f in report["findings"] if f["code"] == "PVC"]
    assert len(pvcs) == 1, report["findings"]
    assert pvcs[0]["source"] == f"rules:pvc-timed + {MODEL_PVC}", pvcs[0]
    assert pvcs[0]["probability"] == pytest.approx(0.998), pvcs[0]
    assert report["conclusion"].count("室性早搏") == 1, report["conclusion"]


def test_unreadable_single_lead_shows_nothing_of_the_previous_record(
    page: Any, journey: dict[str, Any]
) -> None:
    before, _ = journey["records"]["af"]
    _open(page, before)
    assert page.is_visible("#median-canvas"), "median beats of the AF record not shown"
    back_to_queue(page)
    rid, analysis = journey["records"]["noisy"]
    assert analysis["quality"]["acceptable"] is False, analysis["quality"]
    _open(page, rid)
    assert not page.is_visible("#median-canvas"), "median beats of another record shown"
    assert not page.is_visible(".median-wrap"), "empty median-beat panel shown"
    assert page.get_attribute("#median-canvas", "data-leads-drawn") == ""
    canvas = page.locator("#ecg-canvas")
    assert canvas.get_attribute("data-rhythm-drawn") == "ECG", "the single lead not drawn"
    assert canvas.get_attribute("data-window") == "0,10,30", canvas.get_attribute(
        "data-window"
    )
    values = page.eval_on_selector_all(
        "#measurements td.value", "ts => ts.map(t => t.innerText.trim())"
    )
    assert values[:6] == ["—"] * 6, f"measurements of an unreadable record: {values}"
    assert page.inner_text("#sign-status") == "信号无法分析"
    codes = page.eval_on_selector_all(
        "#findings-list li", "ls => ls.map(l => l.dataset.code)"
    )
    assert codes == ["NOISE"], codes
    page.screenshot(path=str(ARTIFACTS / "web_journey_unreadable.png"), full_page=True)


def test_clock_skew_is_a_notice_not_a_statement(page: Any, journey: dict[str, Any]) -> None:
    rid, _ = journey["records"]["skewed"]
    row = page.inner_text(f'#queue-body tr[data-record-id="{rid}"] td.findings')
    assert row.startswith("⚠ 设备时钟错误"), row
    _open(page, rid)
    assert page.is_visible("#rec-notices"), "clock notice not shown"
    notice = page.inner_text("#rec-notices")
    reported = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()
    assert "设备时钟错误" in notice and reported in notice and "ahead" in notice, notice
    codes = page.eval_on_selector_all(
        "#findings-list li", "ls => ls.map(l => l.dataset.code)"
    )
    assert "CLOCK_SKEW" not in codes, f"clock flag offered as a statement: {codes}"
    page.keyboard.press("c")
    page.click("#conclusion-fill")
    assert "时钟" not in page.input_value("#conclusion"), page.input_value("#conclusion")
    # An unsigned draft is not dropped silently: leaving asks, "cancel" stays.
    page.fill("#free-text", "窦性心律，大致正常")
    page.focus("#free-text")
    page.keyboard.press("Escape")  # leaves the field only
    asked: list[str] = []

    def answer(accept: bool) -> Any:
        def on_dialog(d: Any) -> None:
            asked.append(d.message)
            d.accept() if accept else d.dismiss()

        return on_dialog

    page.once("dialog", answer(False))
    page.keyboard.press("Escape")
    page.wait_for_timeout(300)
    assert asked and "草稿" in asked[0], asked
    assert page.is_visible("#reading-view"), "left the record although the reader said no"
    assert page.input_value("#free-text") == "窦性心律，大致正常"
    page.once("dialog", answer(True))
    back_to_queue(page)
    assert len(asked) == 2, asked
    # A normal record has no notice.
    _open(page, journey["records"]["af"][0])
    assert not page.is_visible("#rec-notices")


def test_correct_a_measurement_and_esc_in_a_field(
    page: Any, journey: dict[str, Any]
) -> None:
    """The reader corrects QRS and QT: the table shows both values, QTc follows the
    corrected QT, the report's description carries the corrections to the township. Esc in
    a field leaves the field (and cancels an edit), not the record."""
    central = journey["central"]
    rid, analysis = journey["records"]["af"]
    iv, hr = analysis["intervals_ms"], analysis["heart_rate_bpm"]
    _open(page, rid)
    page.fill("#free-text", "房颤伴快心室率")
    page.focus("#free-text")
    page.keyboard.press("Escape")
    assert page.is_visible("#reading-view"), "Esc in the description left the record"
    assert page.input_value("#free-text") == "房颤伴快心室率"

    def value(key: str) -> str:
        return str(page.inner_text(f'#measurements tr[data-key="{key}"] td.value')).strip()

    page.click('#measurements tr[data-key="qrs"] button.edit')
    page.fill('#measurements tr[data-key="qrs"] input', "96")
    page.keyboard.press("Enter")
    assert value("qrs") == f"96 ms (机器 {iv['qrs']:.0f})", value("qrs")
    assert "corrected" in (
        page.get_attribute('#measurements tr[data-key="qrs"]', "class") or ""
    )
    page.click('#measurements tr[data-key="qt"] button.edit')
    page.fill('#measurements tr[data-key="qt"] input', "999")
    page.keyboard.press("Escape")
    assert page.is_visible("#reading-view"), "Esc in an edit left the record"
    assert value("qt") == f"{iv['qt']:.0f} ms", f"cancelled edit applied: {value('qt')}"
    page.click('#measurements tr[data-key="qt"] button.edit')
    page.fill('#measurements tr[data-key="qt"] input', "330")
    page.keyboard.press("Enter")
    rr_s = 60.0 / hr
    qtc = 330 / rr_s**0.5
    assert value("qtc").startswith(f"{qtc:.0f} ms"), (
        f"QTc {value('qtc')}, expected {qtc:.1f}"
    )
    assert value("qtcf").startswith(f"{330 / rr_s ** (1 / 3):.0f} ms"), value("qtcf")
    note = page.inner_text("#corrections")
    assert note.startswith("测量值医师修正: QRS 时限 96 ms (机器 "), note
    page.keyboard.press("c")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector('#signature[data-signed="true"]')
    report = reader_api(central, "GET", f"/records/{rid}")["reports"][0]
    text = report["free_text"]
    assert text.splitlines()[0] == note, f"corrections not in the report: {text!r}"
    assert f"QT 间期 330 ms (机器 {iv['qt']:.0f})" in text and "房颤伴快心室率" in text, (
        text
    )
    assert f"QTc (Bazett) {qtc:.0f} ms" in text, text
    assert not page.is_visible("#measurements button.edit"), "signed: no more editing"
    # Signed records leave the queue; "signed in this session" reopens one to amend it.
    back_to_queue(page)
    page.wait_for_selector(f'#queue-body tr[data-record-id="{rid}"]', state="detached")
    row = f'#signed-body tr[data-record-id="{rid}"]'
    page.wait_for_selector(f'{row}[data-version="1"]')
    page.evaluate("() => { delete document.body.dataset.openedRecord; }")
    page.click(row)
    page.wait_for_selector(f'body[data-opened-record="{rid}"]', state="attached")
    assert page.get_attribute("#signature", "data-version") == "1"
    assert page.inner_text("#sign") == "修订报告", page.inner_text("#sign")
    page.fill("#conclusion", "心房颤动伴快速心室率")
    page.fill("#amend-reason", "结论补充心室率")
    page.click("#sign")
    page.wait_for_selector('#signature[data-version="2"]')
    back_to_queue(page)
    page.wait_for_selector(f'{row}[data-version="2"]')
    reports = reader_api(central, "GET", f"/records/{rid}")["reports"]
    assert [r["version"] for r in reports] == [1, 2], reports
    assert reports[1]["amend_reason"] == "结论补充心室率", reports[1]
    assert reports[1]["free_text"] == text, "the amendment lost the corrections"


def test_narrow_window_keyboard_only(browser: Any, journey: dict[str, Any]) -> None:
    """1024 x 768: the 12-lead fits the width, the measurements and statements right after
    it, then the previous ECG at the same scale, then the median beats; Tab, Up/Down (the
    focus survives the queue's refresh) and Enter open a row, C, Ctrl+Enter signs."""
    context, pg, errors = _page(browser, journey, 1024, 768)
    try:
        rows = pg.eval_on_selector_all(
            "#queue-body tr", "rs => rs.map(r => r.dataset.recordId)"
        )
        first = rows[0]

        def active() -> str:
            return str(pg.evaluate("() => document.activeElement.dataset.recordId || ''"))

        for _ in range(10):
            pg.keyboard.press("Tab")
            if active() == first:
                break
        else:
            pytest.fail("Tab never reached the first queue row")
        pg.keyboard.press("ArrowDown")
        assert active() == rows[1], f"ArrowDown: focus on {active()}, expected {rows[1]}"
        pg.evaluate("() => { document.activeElement.dataset.mark = 'before-refresh'; }")
        pg.wait_for_timeout(1600)  # refresh_ms=500: the rows are rebuilt three times
        assert pg.evaluate("() => document.activeElement.dataset.mark || ''") == "", (
            "the queue did not refresh"
        )
        assert active() == rows[1], f"focus lost on refresh: {active()!r}"
        pg.keyboard.press("ArrowUp")
        assert active() == first
        earlier = journey["records"]["earlier"][0]
        late = pg.inner_text(f'#queue-body tr[data-record-id="{earlier}"] td.deadline')
        assert late.startswith("超时 1天 "), f"routine ECG of 2 days ago: {late!r}"
        pg.evaluate("() => { delete document.body.dataset.openedRecord; }")
        pg.keyboard.press("Enter")
        pg.wait_for_selector(f'body[data-opened-record="{first}"]', state="attached")
        pg.wait_for_selector("#prev-canvas[data-leads-drawn]")
        box = pg.locator("#ecg-canvas").bounding_box()
        prev = pg.locator("#prev-canvas").bounding_box()
        assert prev["y"] > box["y"] + box["height"], f"previous not below: {box} {prev}"
        scroller = pg.evaluate(
            "() => document.querySelector('#current-wrap .scroller')"
            ".getBoundingClientRect().width"
        )
        assert box["width"] <= scroller + 0.5, f"12-lead {box['width']} px > {scroller} px"
        assert abs(prev["width"] - box["width"]) < 1, f"previous ECG scale: {prev} {box}"
        px_mm = float(pg.get_attribute("#ecg-canvas", "data-px-per-mm") or "0")
        assert px_mm > 3.0, f"paper at {px_mm:.2f} px/mm in a 1024 px window"
        meas = pg.locator("#measurements").bounding_box()
        sign = pg.locator("#sign").bounding_box()
        median = pg.locator("#median-canvas").bounding_box()
        assert meas["y"] > box["y"] + box["height"], "measurements overlap the ECG"
        assert sign["y"] + sign["height"] < prev["y"] < median["y"], (sign, prev, median)
        pg.screenshot(path=str(ARTIFACTS / "web_journey_1024.png"), full_page=True)
        pg.keyboard.press("c")
        pg.keyboard.press("Control+Enter")
        pg.wait_for_selector('#signature[data-signed="true"]')
        pg.keyboard.press("Escape")
        pg.wait_for_selector("#queue-view:not([hidden])")
    finally:
        context.close()
    assert not errors, f"browser errors: {errors}"
