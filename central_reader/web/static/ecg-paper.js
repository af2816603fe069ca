// ECG paper renderer: the standard 12-lead layout, rhythm strip, median beats and calipers.
//
// Everything is laid out in millimetres of paper (1 mm / 5 mm grid, speed in mm/s, gain in
// mm/mV) and converted to device pixels once per draw: the canvas backing store is the CSS
// size times devicePixelRatio, so lines stay sharp at any browser zoom or on HiDPI screens.
// No dependencies, no network.

export const STANDARD_ROWS = [
  ["I", "aVR", "V1", "V4"],
  ["II", "aVL", "V2", "V5"],
  ["III", "aVF", "V3", "V6"],
];
export const RHYTHM_LEAD = "II";
const PAPER_BG = "#fffafa";
const MINOR = "rgba(236, 140, 140, 0.45)";
const MAJOR = "rgba(214, 60, 60, 0.80)";
const TRACE = "#101010";
const LABEL = "#202060";
const MAX_BACKING_PX = 16000;

/** Decode the wire waveform sent by the JSON API into per-lead Float32Array in mV. */
export function decodeWaveform(wf) {
  const bin = atob(wf.samples_b64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i += 1) bytes[i] = bin.charCodeAt(i);
  const n = wf.n_samples;
  const view = new DataView(bytes.buffer);
  const gain = wf.gain_counts_per_mv;
  const leads = [];
  for (let l = 0; l < wf.leads.length; l += 1) {
    const out = new Float32Array(n);
    const base = 2 * n * l;
    for (let i = 0; i < n; i += 1) out[i] = view.getInt16(base + 2 * i, true) / gain;
    leads.push(out);
  }
  return { fsHz: wf.fs_hz, leads: wf.leads.slice(), nSamples: n, mv: leads };
}

/**
 * Display filter: remove the median, then a zero-phase first-order high-pass (forward and
 * backward). 0.05 Hz is the diagnostic low cut (AHA 2007), it keeps ST levels; 0.5 Hz is a
 * stronger baseline-wander filter the reader can switch on.
 */
export function displayFilter(sig, fsHz, cutHz) {
  const out = new Float32Array(sig.length);
  const sorted = Float32Array.from(sig).sort();
  const med = sorted.length ? sorted[sorted.length >> 1] : 0;
  for (let i = 0; i < sig.length; i += 1) out[i] = sig[i] - med;
  if (!cutHz) return out;
  const rc = 1 / (2 * Math.PI * cutHz);
  const a = rc / (rc + 1 / fsHz);
  let prevX = out[0];
  let prevY = 0;
  for (let i = 1; i < out.length; i += 1) {
    const x = out[i];
    prevY = a * (prevY + x - prevX);
    prevX = x;
    out[i] = prevY;
  }
  out[0] = 0;
  prevX = out[out.length - 1];
  prevY = 0;
  for (let i = out.length - 2; i >= 0; i -= 1) {
    const x = out[i];
    prevY = a * (prevY + x - prevX);
    prevX = x;
    out[i] = prevY;
  }
  return out;
}

/** Length of one page of paper (s): longer records are read 10 s at a time. */
export const WINDOW_S = 10;

/** Start times (s) of the 10 s windows of a record (a tail under 0.5 s is not a window). */
export function windowStarts(ecg) {
  const total = ecg.nSamples / ecg.fsHz;
  const starts = [0];
  while (total - (starts[starts.length - 1] + WINDOW_S) >= 0.5) starts.push(starts[starts.length - 1] + WINDOW_S);
  return starts;
}

/**
 * Paper geometry (mm) of one layout: segments to draw and the paper size. `startS` picks
 * the 10 s window of a longer record (segment times t0/t1 are seconds of the record).
 */
export function layoutTwelveLead(ecg, speed, gain, pitchMm, startS = 0) {
  const totalS = ecg.nSamples / ecg.fsHz;
  const start = Math.max(0, Math.min(startS || 0, totalS));
  const durationS = Math.min(WINDOW_S, totalS - start);
  const calMm = 0.2 * speed + 4;
  const pitch = pitchMm || Math.min(70, Math.max(25, 3 * gain + 10));
  const segments = [];
  const index = new Map(ecg.leads.map((name, i) => [name, i]));
  const has12 = STANDARD_ROWS.flat().every((name) => index.has(name));
  let rows;
  if (has12) {
    const colS = durationS / 4;
    rows = STANDARD_ROWS.map((names) =>
      names.map((name, c) => ({ name, t0: start + c * colS, t1: start + (c + 1) * colS })),
    );
    const rhythm = index.has(RHYTHM_LEAD) ? RHYTHM_LEAD : ecg.leads[0];
    rows.push([{ name: rhythm, t0: start, t1: start + durationS, rhythm: true }]);
  } else {
    rows = ecg.leads.map((name) => [{ name, t0: start, t1: start + durationS, rhythm: true }]);
  }
  const top = 5;
  rows.forEach((row, r) => {
    const baseline = top + pitch * (r + 0.55);
    row.forEach((seg) => {
      segments.push({
        lead: seg.name,
        leadIndex: index.has(seg.name) ? index.get(seg.name) : -1,
        row: r,
        rhythm: Boolean(seg.rhythm),
        t0: seg.t0,
        t1: seg.t1,
        xMm: calMm + (seg.t0 - start) * speed,
        wMm: (seg.t1 - seg.t0) * speed,
        baselineMm: baseline,
      });
    });
  });
  const widthMm = Math.ceil((calMm + durationS * speed + 2) / 5) * 5;
  const heightMm = Math.ceil((top + pitch * rows.length + 2) / 5) * 5;
  return {
    segments, widthMm, heightMm, calMm, pitch, rows: rows.length, durationS, speed, gain,
    startS: start, totalS,
  };
}

/** Size a canvas for a paper of widthMm x heightMm at pxPerMm CSS pixels, DPR-aware. */
export function sizeCanvas(canvas, widthMm, heightMm, pxPerMm) {
  let dpr = window.devicePixelRatio || 1;
  const cssW = widthMm * pxPerMm;
  const cssH = heightMm * pxPerMm;
  if (cssW * dpr > MAX_BACKING_PX) dpr = MAX_BACKING_PX / cssW;
  canvas.style.width = `${cssW}px`;
  canvas.style.height = `${cssH}px`;
  canvas.width = Math.round(cssW * dpr);
  canvas.height = Math.round(cssH * dpr);
  return { k: canvas.width / widthMm, dpr };
}

/** Draw the 1 mm / 5 mm grid; lines snapped to device pixels. */
export function drawGrid(ctx, widthMm, heightMm, k) {
  ctx.fillStyle = PAPER_BG;
  ctx.fillRect(0, 0, widthMm * k, heightMm * k);
  const thin = Math.max(1, Math.round(k * 0.06));
  const thick = Math.max(1, Math.round(k * 0.12));
  for (const major of [false, true]) {
    ctx.beginPath();
    const w = major ? thick : thin;
    const off = w % 2 ? 0.5 : 0;
    for (let mm = 0; mm <= widthMm; mm += 1) {
      if ((mm % 5 === 0) !== major) continue;
      const x = Math.round(mm * k) + off;
      ctx.moveTo(x, 0);
      ctx.lineTo(x, heightMm * k);
    }
    for (let mm = 0; mm <= heightMm; mm += 1) {
      if ((mm % 5 === 0) !== major) continue;
      const y = Math.round(mm * k) + off;
      ctx.moveTo(0, y);
      ctx.lineTo(widthMm * k, y);
    }
    ctx.strokeStyle = major ? MAJOR : MINOR;
    ctx.lineWidth = w;
    ctx.stroke();
  }
}

function traceWidth(k) {
  return Math.max(1, k * 0.28);
}

/** 1 mV calibration pulse, 0.2 s wide, starting at x0Mm on a baseline. */
function drawCalibration(ctx, x0Mm, baselineMm, speed, gain, k) {
  const w = 0.2 * speed;
  ctx.beginPath();
  ctx.moveTo(x0Mm * k, baselineMm * k);
  ctx.lineTo((x0Mm + 1) * k, baselineMm * k);
  ctx.lineTo((x0Mm + 1) * k, (baselineMm - gain) * k);
  ctx.lineTo((x0Mm + 1 + w) * k, (baselineMm - gain) * k);
  ctx.lineTo((x0Mm + 1 + w) * k, baselineMm * k);
  ctx.lineTo((x0Mm + 2 + w) * k, baselineMm * k);
  ctx.stroke();
}

/** Polyline of sig[i0..i1) from x0Mm at speed/gain. Returns the number of points. */
function drawSamples(ctx, sig, fsHz, i0, i1, x0Mm, baselineMm, speed, gain, k) {
  const dx = (speed / fsHz) * k;
  const x0 = x0Mm * k;
  const yb = baselineMm * k;
  const gy = gain * k;
  const n = i1 - i0;
  ctx.beginPath();
  if (1 / dx > 3) {
    // More than 3 samples per device pixel: min/max per pixel column keeps every spike.
    const cols = Math.ceil(n * dx);
    let i = i0;
    for (let c = 0; c < cols; c += 1) {
      const end = Math.min(i1, i0 + Math.ceil((c + 1) / dx));
      let lo = Infinity;
      let hi = -Infinity;
      for (; i < end; i += 1) {
        const v = sig[i];
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
      if (lo === Infinity) continue;
      const x = x0 + c;
      if (c === 0) ctx.moveTo(x, yb - hi * gy);
      else ctx.lineTo(x, yb - hi * gy);
      ctx.lineTo(x, yb - lo * gy);
    }
    ctx.stroke();
    return cols * 2;
  }
  for (let i = i0; i < i1; i += 1) {
    const x = x0 + (i - i0) * dx;
    const y = yb - sig[i] * gy;
    if (i === i0) ctx.moveTo(x, y);
    else ctx.lineTo(x, y);
  }
  ctx.stroke();
  return n;
}

function fmtS(s) {
  return Number.isInteger(Math.round(s * 10) / 10) ? String(Math.round(s)) : s.toFixed(1);
}

function drawLabel(ctx, text, xMm, yMm, k, sizeMm = 3.2) {
  ctx.fillStyle = LABEL;
  ctx.font = `600 ${Math.round(sizeMm * k)}px system-ui, "Noto Sans CJK SC", sans-serif`;
  ctx.textBaseline = "alphabetic";
  ctx.fillText(text, xMm * k, yMm * k);
}

/**
 * A 12-lead (or any-lead) record drawn on paper.
 *
 * opts: {speed: 25|50, gain: 5|10|20, pxPerMm, filterHz}
 * After draw(), `drawn` lists every segment drawn (lead, rhythm, CSS px box, points), and
 * the canvas gets data-leads-drawn / data-rhythm-drawn attributes for tests and tooling.
 */
export class TwelveLeadView {
  constructor(canvas, overlay) {
    this.canvas = canvas;
    this.overlay = overlay;
    this.ecg = null;
    this.filtered = null;
    this.filterHz = null;
    this.drawn = [];
    this.layout = null;
    this.k = 1;
    this.dpr = 1;
    this.pxPerMm = 4;
  }

  setRecord(ecg, filterHz) {
    this.ecg = ecg;
    this.filterHz = filterHz;
    this.filtered = ecg.mv.map((sig) => displayFilter(sig, ecg.fsHz, filterHz));
  }

  setFilter(filterHz) {
    if (this.ecg && filterHz !== this.filterHz) this.setRecord(this.ecg, filterHz);
  }

  draw({ speed, gain, pxPerMm, pitchMm, startS }) {
    if (!this.ecg) return;
    const lay = layoutTwelveLead(this.ecg, speed, gain, pitchMm, startS);
    this.layout = lay;
    this.pxPerMm = pxPerMm;
    const { k, dpr } = sizeCanvas(this.canvas, lay.widthMm, lay.heightMm, pxPerMm);
    this.k = k;
    this.dpr = dpr;
    if (this.overlay) sizeCanvas(this.overlay, lay.widthMm, lay.heightMm, pxPerMm);
    const ctx = this.canvas.getContext("2d");
    drawGrid(ctx, lay.widthMm, lay.heightMm, k);
    ctx.strokeStyle = TRACE;
    ctx.lineWidth = traceWidth(k);
    ctx.lineJoin = "round";
    const fs = this.ecg.fsHz;
    const drawn = [];
    for (let r = 0; r < lay.rows; r += 1) {
      const base = lay.segments.find((s) => s.row === r).baselineMm;
      drawCalibration(ctx, 1, base, speed, gain, k);
    }
    for (const seg of lay.segments) {
      let points = 0;
      if (seg.leadIndex >= 0) {
        const i0 = Math.round(seg.t0 * fs);
        const i1 = Math.min(this.ecg.nSamples, Math.round(seg.t1 * fs) + (seg.rhythm ? 0 : 1));
        points = drawSamples(
          ctx, this.filtered[seg.leadIndex], fs, i0, i1, seg.xMm, seg.baselineMm, speed, gain, k,
        );
      }
      drawLabel(ctx, seg.lead + (seg.leadIndex < 0 ? " —" : ""), seg.xMm + 1, seg.baselineMm - lay.pitch * 0.38, k);
      if (seg.t0 > lay.startS) {
        // Column separator tick, as printed by carts.
        ctx.beginPath();
        ctx.moveTo(seg.xMm * k, (seg.baselineMm - 3) * k);
        ctx.lineTo(seg.xMm * k, (seg.baselineMm + 3) * k);
        ctx.stroke();
      }
      const cssK = pxPerMm;
      drawn.push({
        lead: seg.lead,
        rhythm: seg.rhythm,
        points,
        x: seg.xMm * cssK,
        y: (seg.baselineMm - lay.pitch / 2) * cssK,
        w: seg.wMm * cssK,
        h: lay.pitch * cssK,
      });
    }
    const hp = this.filterHz ? `HP ${this.filterHz} Hz   ` : "";
    // A record longer than the page says which part of it is on the paper.
    const part = lay.totalS > WINDOW_S + 0.5
      ? `${fmtS(lay.startS)}–${fmtS(lay.startS + lay.durationS)} s / ${fmtS(lay.totalS)} s   `
      : "";
    const foot = `${part}${speed} mm/s   ${gain} mm/mV   ${hp}fs ${Math.round(fs)} Hz`;
    drawLabel(ctx, foot, lay.calMm, lay.heightMm - 1.2, k, 2.6);
    this.drawn = drawn;
    const full = drawn.filter((d) => !d.rhythm && d.points > 0).map((d) => d.lead);
    const rhythm = drawn.filter((d) => d.rhythm && d.points > 0).map((d) => d.lead);
    this.canvas.dataset.leadsDrawn = full.join(",");
    this.canvas.dataset.rhythmDrawn = rhythm.join(",");
    this.canvas.dataset.speed = String(speed);
    this.canvas.dataset.gain = String(gain);
    this.canvas.dataset.pxPerMm = String(pxPerMm);
    this.canvas.dataset.window = `${lay.startS},${lay.startS + lay.durationS},${lay.totalS}`;
  }

  /** Paper position (mm) of a pointer event. */
  toMm(ev) {
    const rect = this.canvas.getBoundingClientRect();
    return {
      x: ((ev.clientX - rect.left) / rect.width) * this.layout.widthMm,
      y: ((ev.clientY - rect.top) / rect.height) * this.layout.heightMm,
    };
  }
}

const FID_STYLE = {
  p_on: ["#1f6fd1", "P"],
  p_off: ["#1f6fd1", "P'"],
  qrs_on: ["#0f8a3c", "QRS"],
  qrs_off: ["#0f8a3c", "J"],
  t_peak: ["#8a2be2", "Tp"],
  t_off: ["#8a2be2", "T'"],
};

/**
 * The median beat of every lead with the machine's global fiducials (vertical lines), drawn
 * at 50 mm/s and twice the chosen gain (at most 20 mm/mV), 4 x 3 boxes.
 */
export class MedianBeatView {
  constructor(canvas, overlay) {
    this.canvas = canvas;
    this.overlay = overlay;
    this.layout = null;
    this.drawn = [];
  }

  draw(median, leads, { gain, pxPerMm }) {
    this.drawn = [];
    if (!median || !median.uv || !median.uv.length) {
      // No median beat (unreadable record): nothing of the previous record may stay.
      this.canvas.hidden = true;
      this.canvas.dataset.leadsDrawn = "";
      this.canvas.dataset.fiducials = "";
      this.canvas.getContext("2d").clearRect(0, 0, this.canvas.width, this.canvas.height);
      if (this.overlay) this.overlay.hidden = true;
      this.layout = null;
      return;
    }
    this.canvas.hidden = false;
    if (this.overlay) this.overlay.hidden = false;
    const speed = 50;
    const g = Math.min(gain * 2, 20);
    const fs = median.fs_hz;
    const n = median.uv[0].length;
    const boxW = Math.ceil(((n / fs) * speed + 4) / 5) * 5;
    const boxH = Math.min(70, Math.max(30, 2.5 * g));
    const rowsNames = STANDARD_ROWS;
    const index = new Map(leads.map((name, i) => [name, i]));
    const useStd = STANDARD_ROWS.flat().every((name) => index.has(name));
    const grid = useStd ? rowsNames : chunk(leads, 4);
    const cols = Math.max(...grid.map((r) => r.length));
    const widthMm = cols * boxW + 10;
    const heightMm = grid.length * boxH + 10;
    this.layout = { widthMm, heightMm, speed, gain: g };
    const { k } = sizeCanvas(this.canvas, widthMm, heightMm, pxPerMm);
    if (this.overlay) sizeCanvas(this.overlay, widthMm, heightMm, pxPerMm);
    const ctx = this.canvas.getContext("2d");
    drawGrid(ctx, widthMm, heightMm, k);
    const fid = median.fiducials || {};
    grid.forEach((row, r) => {
      row.forEach((name, c) => {
        const x0 = 5 + c * boxW + 2;
        const base = 6 + r * boxH + boxH * 0.6;
        const li = index.get(name);
        for (const [key, [color]] of Object.entries(FID_STYLE)) {
          const v = fid[key];
          if (v === null || v === undefined) continue;
          const x = (x0 + (v / fs) * speed) * k;
          ctx.beginPath();
          ctx.moveTo(x, (base - boxH * 0.5) * k);
          ctx.lineTo(x, (base + boxH * 0.35) * k);
          ctx.strokeStyle = color;
          ctx.lineWidth = Math.max(1, k * 0.15);
          ctx.setLineDash([k * 0.8, k * 0.6]);
          ctx.stroke();
          ctx.setLineDash([]);
        }
        let points = 0;
        if (li !== undefined && median.uv[li]) {
          const sig = Float32Array.from(median.uv[li], (v) => v / 1000);
          ctx.strokeStyle = TRACE;
          ctx.lineWidth = traceWidth(k);
          points = drawSamples(ctx, sig, fs, 0, sig.length, x0, base, speed, g, k);
        }
        drawLabel(ctx, name, x0, base - boxH * 0.45, k, 3);
        this.drawn.push({ lead: name, points });
      });
    });
    // Legend of fiducials along the bottom.
    let lx = 5;
    for (const [key, [color, text]] of Object.entries(FID_STYLE)) {
      if (fid[key] === null || fid[key] === undefined) continue;
      ctx.fillStyle = color;
      ctx.font = `600 ${Math.round(2.6 * k)}px system-ui, sans-serif`;
      ctx.fillText(text, lx * k, (heightMm - 1.5) * k);
      lx += 10;
    }
    drawLabel(ctx, `${speed} mm/s  ${g} mm/mV  n=${median.n_beats ?? "?"}`, widthMm - 45, heightMm - 1.5, k, 2.4);
    this.canvas.dataset.leadsDrawn = this.drawn.filter((d) => d.points > 0).map((d) => d.lead).join(",");
    this.canvas.dataset.fiducials = Object.keys(FID_STYLE).filter((key) => fid[key] !== null && fid[key] !== undefined).join(",");
  }

  toMm(ev) {
    const rect = this.canvas.getBoundingClientRect();
    return {
      x: ((ev.clientX - rect.left) / rect.width) * this.layout.widthMm,
      y: ((ev.clientY - rect.top) / rect.height) * this.layout.heightMm,
    };
  }
}

function chunk(items, size) {
  const out = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/**
 * Calipers: press, drag, release on a view; shows the interval (ms), the amplitude (mV)
 * and the rate (bpm) on an overlay canvas. `onMeasure` receives {ms, mv, bpm}.
 */
export class Calipers {
  constructor(view, onMeasure) {
    this.view = view;
    this.onMeasure = onMeasure;
    this.start = null;
    this.end = null;
    const target = view.overlay || view.canvas;
    target.addEventListener("pointerdown", (ev) => this.down(ev));
    target.addEventListener("pointermove", (ev) => this.move(ev));
    target.addEventListener("pointerup", (ev) => this.up(ev));
    target.addEventListener("dblclick", () => this.clear());
  }

  down(ev) {
    if (!this.view.layout || ev.button !== 0) return;
    (this.view.overlay || this.view.canvas).setPointerCapture(ev.pointerId);
    this.start = this.view.toMm(ev);
    this.end = this.start;
    this.render();
  }

  move(ev) {
    if (!this.start || !this.dragging(ev)) return;
    this.end = this.view.toMm(ev);
    this.render();
  }

  up(ev) {
    if (!this.start) return;
    this.end = this.view.toMm(ev);
    this.render();
    this.onMeasure(this.measure());
    this.start = null;
  }

  dragging(ev) {
    return ev.buttons & 1;
  }

  measure() {
    const { speed, gain } = this.view.layout;
    const dx = Math.abs(this.end.x - this.start.x);
    const dy = this.start.y - this.end.y;
    const ms = (dx / speed) * 1000;
    return { ms, mv: dy / gain, bpm: ms > 0 ? 60000 / ms : null };
  }

  clear() {
    this.start = null;
    this.end = null;
    const ov = this.view.overlay;
    if (ov) ov.getContext("2d").clearRect(0, 0, ov.width, ov.height);
    this.onMeasure(null);
  }

  render() {
    const ov = this.view.overlay;
    if (!ov || !this.start) return;
    const ctx = ov.getContext("2d");
    const k = ov.width / this.view.layout.widthMm;
    ctx.clearRect(0, 0, ov.width, ov.height);
    const a = this.start;
    const b = this.end;
    ctx.strokeStyle = "#0057b8";
    ctx.lineWidth = Math.max(1, k * 0.2);
    ctx.beginPath();
    for (const p of [a, b]) {
      ctx.moveTo(p.x * k, (p.y - 12) * k);
      ctx.lineTo(p.x * k, (p.y + 12) * k);
    }
    ctx.moveTo(a.x * k, a.y * k);
    ctx.lineTo(b.x * k, a.y * k);
    ctx.moveTo(b.x * k, a.y * k);
    ctx.lineTo(b.x * k, b.y * k);
    ctx.stroke();
    const m = this.measure();
    const text = `${m.ms.toFixed(0)} ms  ${m.mv.toFixed(2)} mV${m.bpm ? `  ${m.bpm.toFixed(0)} bpm` : ""}`;
    ctx.font = `600 ${Math.round(3 * k)}px system-ui, sans-serif`;
    const tx = Math.min(a.x, b.x) * k;
    const ty = (Math.min(a.y, b.y) - 13) * k;
    const w = ctx.measureText(text).width;
    ctx.fillStyle = "rgba(255,255,255,0.9)";
    ctx.fillRect(tx - 2, ty - 3.2 * k, w + 4, 4 * k);
    ctx.fillStyle = "#0057b8";
    ctx.fillText(text, tx, ty);
  }
}
