// Reading station: sign-in, the county queue, the reading view, signing.
// Talks only to the same origin (/api/v1/...), with the reader's token as a Bearer header.

import {
  Calipers, MedianBeatView, TwelveLeadView, decodeWaveform, layoutTwelveLead, windowStarts,
} from "./ecg-paper.js";
import { applyStrings, lang, setLang, statementLabel, t } from "./i18n.js";

const API = "/api/v1";
const TOKEN_KEY = "ecg.token";
const SIGNED_KEY = "ecg.signed";
const params = new URLSearchParams(location.search);
const REFRESH_MS = Number(params.get("refresh_ms")) || 5000;
const LEASE_RENEW_MS = Number(params.get("lease_renew_ms")) || 120000;
// The claim is renewed only while the reader is active: a reader who walks away from an open
// record lets the lease expire, so the record goes back to the queue for someone else.
const IDLE_MS = Number(params.get("idle_ms")) || 240000;
let lastActivity = Date.now();
const PRIORITY_ORDER = ["critical", "warning", "unreadable", "routine"];
const CRITICAL_CODES = new Set(["STEMI", "VT", "VF", "ASYSTOLE", "AVB3"]);
// Codes that raise a chest-pain alert, as the central's alerts configuration says (session
// `alert_codes`; empty when the central runs no alerts). A signed report confirms the alert
// when it keeps the code and cancels it when it does not.
let ALERT_CODES = new Set();

const $ = (id) => document.getElementById(id);

const state = {
  token: sessionStorage.getItem(TOKEN_KEY),
  me: null,
  queue: [],
  clockSkewMs: 0,
  vocab: [],
  detail: null,
  item: null,
  ecg: null,
  analysis: null,
  previous: null,
  findings: [],
  readOnly: false,
  corrections: {},
  dirty: false,
  settings: { speed: 25, gain: 10, zoom: 1, filterHz: 0.05, compare: true, startS: 0 },
  refreshTimer: null,
  leaseTimer: null,
  openSeq: 0,
};

const views = {};

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${state.token}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(API + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-store",
  });
  const text = await res.text();
  let data = {};
  try {
    data = text ? JSON.parse(text) : {};
  } catch (err) {
    data = { error: String(res.status), detail: text.slice(0, 200) };
  }
  if (!res.ok) {
    if (res.status === 401 && path !== "/session") signOut(t("bad_token"));
    throw new ApiError(res.status, data.error || String(res.status), data.detail || data.error || res.statusText);
  }
  return data;
}

function toast(message, kind = "info") {
  const el = $("toast");
  el.textContent = message;
  el.dataset.kind = kind;
  el.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { el.hidden = true; }, 4000);
}

// ---------------------------------------------------------------- sign-in

async function signIn(token) {
  state.token = token;
  try {
    state.me = await api("GET", "/session");
    ALERT_CODES = new Set(state.me.alert_codes || []);
    // The service decides who may read the queue (a device or hospital token may not).
    await api("GET", "/queue?limit=1");
  } catch (err) {
    state.token = null;
    state.me = null;
    $("signin-error").textContent = err.status === 401 ? t("bad_token")
      : err.status === 403 ? `${t("no_permission")} (${err.message})` : `${t("error")}: ${err.message}`;
    return false;
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  $("signin-error").textContent = "";
  $("whoami").textContent = `${state.me.name} · ${state.me.county_id ?? ""}`;
  $("sign-out").hidden = false;
  const vocab = await api("GET", "/vocabulary");
  state.vocab = vocab.statements;
  fillVocabulary();
  showQueue();
  return true;
}

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(SIGNED_KEY);
  state.token = null;
  state.me = null;
  clearInterval(state.refreshTimer);
  clearInterval(state.leaseTimer);
  for (const id of ["queue-view", "reading-view"]) $(id).hidden = true;
  $("signin-view").hidden = false;
  $("sign-out").hidden = true;
  $("whoami").textContent = "";
  $("signin-error").textContent = message || "";
}

// ---------------------------------------------------------------- queue

function serverNow() {
  return Date.now() + state.clockSkewMs;
}

function fmtDuration(ms) {
  const s = Math.max(0, Math.round(Math.abs(ms) / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (h >= 24) return `${Math.floor(h / 24)}${t("days")} ${h % 24}${t("hours")}`;
  if (h > 0) return `${h}:${String(m).padStart(2, "0")}:${String(sec).padStart(2, "0")}`;
  return `${m}:${String(sec).padStart(2, "0")}`;
}

function fmtTime(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return d.toLocaleString(lang() === "zh-CN" ? "zh-CN" : "en-GB", { hour12: false });
}

function patientText(p) {
  if (!p) return "—";
  const age = p.age_years === null || p.age_years === undefined ? "?" : `${p.age_years}${t("years")}`;
  return `${age} / ${t(`sex_${p.sex || "unknown"}`)}`;
}

async function refreshQueue() {
  if (!state.token) return;
  try {
    const data = await api("GET", "/queue?include_claimed=1&limit=500");
    state.clockSkewMs = Date.parse(data.now) - Date.now();
    state.queue = data.items;
    renderQueue();
    $("queue-updated").textContent = new Date().toLocaleTimeString("en-GB", { hour12: false });
  } catch (err) {
    if (err.status !== 401) $("queue-updated").textContent = `${t("error")}: ${err.message}`;
  }
}

function renderQueue() {
  const body = $("queue-body");
  // The queue refreshes every few seconds: keep the keyboard focus on the same record.
  const focused = document.activeElement?.closest?.("#queue-body tr")?.dataset.recordId;
  const now = serverNow();
  const rows = [];
  const counts = Object.fromEntries(PRIORITY_ORDER.map((p) => [p, 0]));
  let overdue = 0;
  for (const item of state.queue) {
    counts[item.priority] = (counts[item.priority] || 0) + 1;
    if (item.overdue) overdue += 1;
    const tr = document.createElement("tr");
    tr.className = `prio-${item.priority}${item.overdue ? " overdue" : ""}${item.status === "claimed" ? " claimed" : ""}`;
    tr.dataset.recordId = item.record_id;
    tr.dataset.priority = item.priority;
    tr.dataset.overdue = String(Boolean(item.overdue));
    tr.dataset.status = item.status;
    tr.tabIndex = 0;
    const left = Date.parse(item.deadline) - now;
    const waited = now - Date.parse(item.received_at);
    const findings = queueFindingsText(item.findings || []);
    const claimed = item.status === "claimed"
      ? `${t("status_claimed")}${item.claimed_by ? ` · ${item.claimed_by}` : ""}`
      : t(`status_${item.status}`);
    tr.append(
      cell(t(`prio_${item.priority}`), "prio"),
      cell(item.overdue || left < 0 ? `${t("overdue")} ${fmtDuration(left)}` : `${t("left")} ${fmtDuration(left)}`, "deadline"),
      cell(fmtDuration(waited), "wait"),
      cell(item.site_id, "site"),
      cell(patientText(item.patient), "patient"),
      cell(findings || "—", "findings"),
      cell(fmtTime(item.acquired_at), "acquired"),
      cell(claimed, "status"),
    );
    tr.addEventListener("click", () => openRecord(item.record_id));
    tr.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter") openRecord(item.record_id);
      else if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
        ev.preventDefault();
        const next = ev.key === "ArrowDown" ? tr.nextElementSibling : tr.previousElementSibling;
        if (next) next.focus();
      }
    });
    rows.push(tr);
  }
  body.replaceChildren(...rows);
  if (focused) rows.find((r) => r.dataset.recordId === focused)?.focus();
  $("queue-empty").hidden = rows.length > 0;
  const parts = PRIORITY_ORDER.filter((p) => counts[p]).map((p) => `${t(`prio_${p}`)} ${counts[p]}`);
  if (overdue) parts.push(`${t("overdue")} ${overdue}`);
  $("queue-counts").textContent = parts.join(" · ");
  renderSigned();
}

// One label per code (the rules and the model may both report PVC); the central's own
// technical flags (source "central:...", e.g. CLOCK_SKEW) are marked as notices.
function queueFindingsText(findings) {
  const labels = [];
  for (const f of findings) {
    const label = `${isNotice(f) ? "⚠ " : ""}${statementLabel(f)}`;
    if (!labels.includes(label)) labels.push(label);
  }
  return labels.join(lang() === "zh-CN" ? "；" : "; ");
}

// Reports signed in this browser session (sessionStorage, like the token), newest first:
// the queue only lists unsigned records, so this is where a reader reopens one to amend.
function signedList() {
  try {
    const list = JSON.parse(sessionStorage.getItem(SIGNED_KEY) || "[]");
    return Array.isArray(list) ? list : [];
  } catch (err) {
    return [];
  }
}

function rememberSigned(report) {
  const item = state.item;
  const entry = {
    record_id: report.record_id,
    site_id: report.site_id,
    patient: item ? patientText(item.patient) : "",
    version: report.version,
    signed_at: report.signed_at,
    conclusion: report.conclusion,
  };
  const list = [entry, ...signedList().filter((e) => e.record_id !== report.record_id)].slice(0, 20);
  sessionStorage.setItem(SIGNED_KEY, JSON.stringify(list));
}

function renderSigned() {
  const list = signedList();
  $("signed-wrap").hidden = list.length === 0;
  $("signed-body").replaceChildren(...list.map((e) => {
    const tr = document.createElement("tr");
    tr.dataset.recordId = e.record_id;
    tr.dataset.version = String(e.version);
    tr.tabIndex = 0;
    tr.append(
      cell(fmtTime(e.signed_at), "acquired"),
      cell(e.site_id, "site"),
      cell(e.patient || "—", "patient"),
      cell(e.conclusion, "findings"),
      cell(`${t("version")} ${e.version}`, "status"),
    );
    tr.addEventListener("click", () => openRecord(e.record_id, true));
    tr.addEventListener("keydown", (ev) => { if (ev.key === "Enter") openRecord(e.record_id, true); });
    return tr;
  }));
}

function cell(text, cls) {
  const td = document.createElement("td");
  td.className = cls;
  td.textContent = text;
  return td;
}

// Lay the reading view out once, invisibly, while the reader looks at the queue: the first
// layout (fonts, CJK fallback) costs ~150 ms and would otherwise land on the first open.
function prelayoutReadingView() {
  const view = $("reading-view");
  if (!view.hidden || prelayoutReadingView.done) return;
  prelayoutReadingView.done = true;
  view.classList.add("prelayout");
  view.hidden = false;
  void document.querySelector(".paper-col").clientWidth;
  view.hidden = true;
  view.classList.remove("prelayout");
}

function showQueue() {
  stopLease();
  $("signin-view").hidden = true;
  $("reading-view").hidden = true;
  $("queue-view").hidden = false;
  state.detail = null;
  refreshQueue().then(() => setTimeout(prelayoutReadingView, 0));
  clearInterval(state.refreshTimer);
  state.refreshTimer = setInterval(refreshQueue, REFRESH_MS);
}

function nextRecordId(step) {
  const open = state.queue.filter(
    (i) => i.status !== "claimed" || i.claimed_by === state.me.user_id || i.record_id === state.item?.record_id,
  );
  if (!open.length) return null;
  const pos = state.item ? open.findIndex((i) => i.record_id === state.item.record_id) : -1;
  if (pos < 0) return step > 0 ? open[0].record_id : null;
  const next = open[pos + step];
  return next ? next.record_id : null;
}

// An unsigned draft (statements confirmed, added or removed, text, corrections) is not
// dropped silently: leaving the record asks first.
function markDirty() {
  state.dirty = true;
}

function leaveDraftOk() {
  if (!state.dirty || $("reading-view").hidden) return true;
  if (!window.confirm(t("discard_draft"))) return false;
  state.dirty = false;
  return true;
}

function leaveToQueue() {
  if (!leaveDraftOk()) return;
  releaseCurrent().then(showQueue);
}

async function goNext(step) {
  if (!leaveDraftOk()) return;
  await refreshQueue();
  const id = nextRecordId(step);
  if (!id) {
    toast(t("empty_queue"));
    return;
  }
  await releaseCurrent();
  openRecord(id);
}

// ---------------------------------------------------------------- reading view

async function releaseCurrent() {
  const item = state.item;
  stopLease();
  if (item && !state.readOnly) {
    try {
      await api("POST", `/records/${encodeURIComponent(item.record_id)}/release`, {});
    } catch (err) {
      // Already signed or lease lost: nothing to give back.
    }
  }
}

function stopLease() {
  clearInterval(state.leaseTimer);
  state.leaseTimer = null;
}

async function openRecord(recordId, signed = false) {
  const seq = ++state.openSeq;
  const t0 = performance.now();
  const listed = state.queue.find((i) => i.record_id === recordId);
  // A signed record (from "signed in this session") is opened to read or amend: no claim.
  let readOnly = signed || listed?.status === "signed";
  // Claim and fetch at the same time (viewing needs no claim); a refused claim discards it.
  const claim = readOnly ? Promise.resolve(null) : api("POST", `/records/${encodeURIComponent(recordId)}/claim`, {});
  const fetchDetail = api("GET", `/records/${encodeURIComponent(recordId)}`);
  let detail;
  try {
    await claim;
  } catch (err) {
    fetchDetail.catch(() => {});
    toast(err.status === 409 ? t("claim_lost") : `${t("error")}: ${err.message}`, "error");
    refreshQueue();
    return;
  }
  try {
    detail = await fetchDetail;
  } catch (err) {
    toast(`${t("error")}: ${err.message}`, "error");
    return;
  }
  if (seq !== state.openSeq) return;
  readOnly = readOnly || detail.item.status === "signed";
  const tFetched = performance.now();
  clearInterval(state.refreshTimer);
  state.detail = detail;
  state.item = detail.item;
  state.readOnly = readOnly;
  state.analysis = detail.analysis || {};
  state.ecg = decodeWaveform(detail.waveform);
  state.previous = null;
  state.corrections = {};
  state.dirty = false;
  $("queue-view").hidden = true;
  $("signin-view").hidden = true;
  $("reading-view").hidden = false;
  views.current.setRecord(state.ecg, state.settings.filterHz);
  fillWindows();
  initFindings();
  renderCorrections();
  renderNotices();
  renderBanner();
  renderMeasurements();
  renderFindings();
  drawAll();
  const tDrawn = performance.now();
  requestAnimationFrame(() => {
    const tPainted = performance.now();
    const timing = {
      recordId: recordId,
      fetchMs: tFetched - t0,
      drawnMs: tDrawn - t0,
      paintedMs: tPainted - t0,
    };
    window.__ecgTiming = timing;
    document.body.dataset.openedRecord = recordId;
    renderTiming();
  });
  if (!readOnly) {
    state.leaseTimer = setInterval(() => {
      if (Date.now() - lastActivity > IDLE_MS) return;
      api("POST", `/records/${encodeURIComponent(recordId)}/claim`, {}).catch(() => toast(t("claim_lost"), "error"));
    }, LEASE_RENEW_MS);
  }
  loadPrevious(detail.previous_record_id, seq);
}

async function loadPrevious(prevId, seq) {
  $("compare-wrap").hidden = !prevId;
  $("previous-wrap").hidden = true;
  if (!prevId) return;
  try {
    const prev = await api("GET", `/records/${encodeURIComponent(prevId)}`);
    if (seq !== state.openSeq) return;
    state.previous = prev;
    views.previous.setRecord(decodeWaveform(prev.waveform), state.settings.filterHz);
    renderPreviousText();
    drawAll();
  } catch (err) {
    $("previous-report").textContent = `${t("error")}: ${err.message}`;
  }
}

function renderTiming() {
  const timing = window.__ecgTiming;
  $("open-timing").textContent = timing ? `${t("open_ms")} ${timing.paintedMs.toFixed(0)} ms` : "";
}

function renderPreviousText() {
  const prev = state.previous;
  if (!prev) return;
  const reports = prev.reports || [];
  const last = reports[reports.length - 1];
  $("previous-caption").textContent = `${fmtTime(prev.item.acquired_at)} · ${prev.item.record_id.slice(0, 8)}`;
  $("previous-report").textContent = last
    ? `${t("previous_report")}: ${last.conclusion} (${last.signer_name}, ${fmtTime(last.signed_at)})`
    : `${t("previous_report")}: —`;
}

function renderBanner() {
  const item = state.item;
  const left = Date.parse(item.deadline) - serverNow();
  const banner = $("rec-banner");
  banner.className = `banner prio-${item.priority}${item.overdue ? " overdue" : ""}`;
  banner.textContent = [
    t(`prio_${item.priority}`),
    item.site_id,
    patientText(item.patient),
    fmtTime(item.acquired_at),
    left < 0 ? `${t("overdue")} ${fmtDuration(left)}` : `${t("left")} ${fmtDuration(left)}`,
    readOnlyText(),
  ].filter(Boolean).join(" · ");
  $("current-caption").textContent = `${t("record_id")} ${item.record_id} · ${t("device")} ${state.detail.device_id}`;
}

function readOnlyText() {
  return state.readOnly ? t("status_signed") : "";
}

function paperScale(compare) {
  // The scroller the paper sits in (inside the figure's padding and border; half the row
  // when comparing): the paper fills it at 100 % without a horizontal scrollbar.
  $("papers").classList.toggle("compare", compare);
  $("previous-wrap").hidden = !compare;
  const avail = Math.max(320, document.querySelector("#current-wrap .scroller").clientWidth - 1);
  const lay = layoutTwelveLead(state.ecg, 25, state.settings.gain);
  return (avail / lay.widthMm) * state.settings.zoom;
}

function drawAll() {
  if (!state.ecg) return;
  const compare = Boolean(state.previous) && state.settings.compare;
  $("previous-wrap").hidden = !compare;
  $("papers").classList.toggle("compare", compare);
  const s = state.settings;
  const px = paperScale(compare);
  views.current.draw({ speed: s.speed, gain: s.gain, pxPerMm: px, startS: s.startS });
  listDrawnLeads(views.current.drawn);
  if (compare) views.previous.draw({ speed: s.speed, gain: s.gain, pxPerMm: px });
  const median = state.analysis.median_beat;
  document.querySelector(".median-wrap").hidden = !(median && median.uv && median.uv.length);
  const medianPx = Math.min(px * 0.8, 5);
  views.median.draw(median, state.ecg.leads, { gain: s.gain, pxPerMm: medianPx });
  $("caliper-readout").textContent = "—";
}

// Records longer than 10 s (Holter excerpts, long single-lead strips) are read 10 s at a
// time: a window selector (hidden for 10 s records) and the arrow keys move along.
function fillWindows() {
  const starts = windowStarts(state.ecg);
  const total = state.ecg.nSamples / state.ecg.fsHz;
  state.settings.startS = 0;
  const sel = $("window");
  sel.replaceChildren(...starts.map((s0) => {
    const o = document.createElement("option");
    o.value = String(s0);
    o.textContent = `${s0}–${Math.round(Math.min(total, s0 + 10) * 10) / 10} s`;
    return o;
  }));
  sel.value = "0";
  $("window-wrap").hidden = starts.length < 2;
  $("window-total").textContent = starts.length < 2 ? "" : `/ ${Math.round(total * 10) / 10} s`;
}

function stepWindow(step) {
  const starts = windowStarts(state.ecg);
  const i = starts.indexOf(state.settings.startS) + step;
  if (i < 0 || i >= starts.length) return;
  setSelect("window", starts[i]);
}

// One element per drawn segment (screen readers, tests): lead, strip, samples drawn, box.
function listDrawnLeads(drawn) {
  $("ecg-leads").replaceChildren(...drawn.map((d) => {
    const li = document.createElement("li");
    li.dataset.lead = d.lead;
    li.dataset.rhythm = String(d.rhythm);
    li.dataset.points = String(d.points);
    li.dataset.box = [d.x, d.y, d.w, d.h].map((v) => v.toFixed(1)).join(",");
    li.textContent = `${d.lead}${d.rhythm ? " (rhythm strip)" : ""}: ${d.points > 0 ? "drawn" : "missing"}`;
    return li;
  }));
}

function fmtNum(v, digits = 0) {
  if (v === null || v === undefined || Number.isNaN(v)) return "—";
  const text = Number(v).toFixed(digits);
  return Number(text) === 0 ? (0).toFixed(digits) : text; // no "-0.00"
}

// The reader may correct the machine's HR, PR, QRS and QT (✎ beside the value): the table
// shows the reader's value with the machine's beside it, QTc follows a corrected QT or HR,
// and the corrections go into the report's description (see correctionText).
const EDITABLE = ["hr", "pr", "qrs", "qt"];

function isNum(v) {
  return v !== null && v !== undefined && !Number.isNaN(v);
}

function measuredValues() {
  const a = state.analysis;
  const iv = a.intervals_ms || {};
  const machine = {
    hr: a.heart_rate_bpm, pr: iv.pr, qrs: iv.qrs, qt: iv.qt,
    qtc: iv.qtc_bazett, qtcf: iv.qtc_fridericia,
  };
  const c = state.corrections;
  const value = { ...machine, ...c };
  const derived = new Set();
  if (("qt" in c || "hr" in c) && isNum(value.qt) && isNum(value.hr) && value.hr > 0) {
    const rr = 60 / value.hr;
    value.qtc = value.qt / Math.sqrt(rr);
    value.qtcf = value.qt / Math.cbrt(rr);
    derived.add("qtc").add("qtcf");
  }
  return { machine, value, derived };
}

function correctionText() {
  const keys = EDITABLE.filter((key) => key in state.corrections);
  if (!keys.length) return "";
  const { machine, value, derived } = measuredValues();
  const unit = (key) => (key === "hr" ? t("bpm") : "ms");
  const parts = keys.map((key) => `${t(key)} ${fmtNum(value[key])} ${unit(key)} (${t("machine")} ${fmtNum(machine[key])})`);
  for (const key of derived) parts.push(`${t(key)} ${fmtNum(value[key])} ms`);
  return `${t("corrected_by_reader")}: ${parts.join(lang() === "zh-CN" ? "；" : "; ")}`;
}

function editMeasurement(key, td) {
  if (state.readOnly) return;
  const { value } = measuredValues();
  const input = document.createElement("input");
  input.type = "number";
  input.min = "0";
  input.max = key === "hr" ? "400" : "1000";
  input.step = "1";
  input.className = "measure-edit";
  input.value = isNum(value[key]) ? String(Math.round(value[key])) : "";
  input.setAttribute("aria-label", t(key));
  let done = false;
  const finish = (commit) => {
    if (done) return;
    done = true;
    const v = Number(input.value);
    if (commit && input.value.trim() !== "" && Number.isFinite(v) && v > 0) {
      const machine = measuredValues().machine[key];
      if (isNum(machine) && Math.round(machine) === Math.round(v)) delete state.corrections[key];
      else state.corrections[key] = v;
      markDirty();
    }
    renderMeasurements();
    renderCorrections();
  };
  input.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter") { ev.preventDefault(); ev.stopPropagation(); finish(true); }
    else if (ev.key === "Escape") { ev.preventDefault(); ev.stopPropagation(); finish(false); }
  });
  input.addEventListener("blur", () => finish(true));
  td.replaceChildren(input);
  input.focus();
  input.select();
}

function renderCorrections() {
  const text = correctionText();
  const el = $("corrections");
  el.hidden = !text;
  el.textContent = text;
}

function renderMeasurements() {
  const a = state.analysis;
  const ax = a.axis_deg || {};
  const { machine, value: v, derived } = measuredValues();
  const rows = [
    ["hr", v.hr, t("bpm"), isNum(v.hr) && (v.hr < 60 || v.hr > 100)],
    ["pr", v.pr, "ms", v.pr > 200 || (isNum(v.pr) && v.pr < 120)],
    ["qrs", v.qrs, "ms", v.qrs >= 120],
    ["qt", v.qt, "ms", false],
    ["qtc", v.qtc, "ms", v.qtc > 460],
    ["qtcf", v.qtcf, "ms", v.qtcf > 460],
    ["axis", null, "°", ax.qrs !== null && ax.qrs !== undefined && (ax.qrs < -30 || ax.qrs > 90)],
  ];
  const table = $("measurements");
  table.replaceChildren(...rows.map(([key, num, unit, abnormal]) => {
    const tr = document.createElement("tr");
    tr.dataset.key = key;
    const corrected = key in state.corrections;
    tr.className = [abnormal ? "abnormal" : "", corrected ? "corrected" : "", derived.has(key) ? "derived" : ""].filter(Boolean).join(" ");
    const th = document.createElement("th");
    th.textContent = t(key);
    const td = document.createElement("td");
    td.className = "value";
    const value = key === "axis" ? `${fmtNum(ax.p)} / ${fmtNum(ax.qrs)} / ${fmtNum(ax.t)}` : fmtNum(num);
    td.textContent = `${value} ${value === "—" ? "" : unit}`;
    if (corrected || derived.has(key)) {
      td.dataset.machine = fmtNum(machine[key]);
      const was = document.createElement("span");
      was.className = "was";
      was.textContent = corrected ? ` (${t("machine")} ${fmtNum(machine[key])})` : ` (${t("recalculated")})`;
      td.append(was);
    }
    const edit = document.createElement("td");
    edit.className = "no-print";
    if (EDITABLE.includes(key) && !state.readOnly) {
      const btn = document.createElement("button");
      btn.type = "button";
      btn.className = "link edit";
      btn.textContent = "✎";
      btn.title = t("correct_value");
      btn.setAttribute("aria-label", `${t("correct_value")}: ${t(key)}`);
      btn.addEventListener("click", () => editMeasurement(key, td));
      edit.append(btn);
    }
    tr.append(th, td, edit);
    return tr;
  }));
  const st = a.st_mv || {};
  const names = Object.keys(st);
  const header = document.createElement("tr");
  const values = document.createElement("tr");
  for (const name of names) {
    const th = document.createElement("th");
    th.textContent = name;
    header.append(th);
    const td = document.createElement("td");
    const v = st[name];
    // In mm as readers (and the machine's statements) count ST: 1 mm = 0.1 mV, whatever
    // gain the paper is drawn at; the mV value stays in data-mv.
    const mm = v === null || v === undefined ? null : v * 10;
    td.textContent = fmtNum(mm, 1);
    td.dataset.lead = name;
    td.dataset.mv = v === null || v === undefined ? "" : String(v);
    if (mm !== null && Number(mm.toFixed(1)) >= 1) td.className = "st-up";
    if (mm !== null && Number(mm.toFixed(1)) <= -1) td.className = "st-down";
    values.append(td);
  }
  const half = Math.ceil(names.length / 2);
  const stTable = $("st-table");
  if (names.length > 6) {
    const rowsSt = [];
    for (const [from, to] of [[0, half], [half, names.length]]) {
      const h = document.createElement("tr");
      const v = document.createElement("tr");
      h.append(...[...header.children].slice(from, to).map((n) => n.cloneNode(true)));
      v.append(...[...values.children].slice(from, to).map((n) => n.cloneNode(true)));
      rowsSt.push(h, v);
    }
    stTable.replaceChildren(...rowsSt);
  } else {
    stTable.replaceChildren(header, values);
  }
  const unreadable = a.quality && a.quality.acceptable === false;
  $("sign-status").textContent = unreadable ? t("unreadable_record") : "";
}

// ---------------------------------------------------------------- findings and signing

// A finding the central added about the record itself (CLOCK_SKEW: the cart's clock was
// wrong) is a notice for the reader, not a diagnostic statement to confirm into the report.
function isNotice(f) {
  return String(f.source || "").startsWith("central:");
}

const SOURCE_SEP = " + ";

// "rules:q-waves" -> {kind: "rules", name: "q-waves"}; merged sources are joined by " + ".
function sourceParts(source) {
  return String(source || "").split(SOURCE_SEP).filter(Boolean).map((one) => {
    const i = one.indexOf(":");
    return i < 0 ? { kind: "", name: one } : { kind: one.slice(0, i), name: one.slice(i + 1) };
  });
}

function sourceText(f) {
  const parts = sourceParts(f.source).map((p) => {
    const kind = { rules: t("src_rules"), model: t("src_model"), reader: t("reader"), central: t("src_central") }[p.kind];
    return kind ? `${kind} ${p.name}` : `${p.kind}${p.kind ? ":" : ""}${p.name}`;
  });
  return parts.join(SOURCE_SEP) || (f.origin === "machine" ? t("machine") : t("reader"));
}

// The rules and the model may report the same code: one proposal, both sources kept (the
// most urgent priority, the higher probability, both details).
function mergeByCode(findings) {
  const out = [];
  const byCode = new Map();
  for (const f of findings) {
    const prev = byCode.get(f.code);
    if (!prev) {
      const copy = { ...f };
      byCode.set(f.code, copy);
      out.push(copy);
      continue;
    }
    const rank = (p) => PRIORITY_ORDER.indexOf(p || "routine");
    if (rank(f.priority) < rank(prev.priority)) prev.priority = f.priority;
    if (f.probability !== null && f.probability !== undefined) {
      prev.probability = Math.max(prev.probability ?? 0, f.probability);
    }
    if (f.source && !sourceParts(prev.source).some((p) => `${p.kind}:${p.name}` === f.source)) {
      prev.source = prev.source ? `${prev.source}${SOURCE_SEP}${f.source}` : f.source;
    }
    if (f.detail) prev.detail = prev.detail ? `${prev.detail}; ${f.detail}` : f.detail;
  }
  return out;
}

function renderNotices() {
  const notices = (state.item.findings || []).filter(isNotice);
  const box = $("rec-notices");
  box.hidden = notices.length === 0;
  box.replaceChildren(...notices.map((f) => {
    const li = document.createElement("li");
    li.dataset.code = f.code;
    li.textContent = `⚠ ${statementLabel(f)}${f.detail ? ` (${f.detail})` : ""}`;
    return li;
  }));
}

function vocabEntry(code) {
  return state.vocab.find((v) => v.code === code);
}

function initFindings() {
  const reports = state.detail.reports || [];
  const last = reports[reports.length - 1];
  $("amend-row").hidden = !state.readOnly;
  $("amend-reason").value = "";
  if (last) {
    state.findings = last.findings.map((f) => ({ ...f, origin: "reader", state: "confirmed" }));
    $("free-text").value = last.free_text;
    $("conclusion").value = last.conclusion;
  } else {
    const triage = state.item.findings && state.item.findings.length
      ? state.item.findings
      : ((state.analysis.triage || {}).findings || []).map((f) => ({ ...f, label_en: f.label_en || f.label }));
    state.findings = mergeByCode(triage.filter((f) => !isNotice(f)))
      .map((f) => ({ ...f, origin: "machine", state: "proposed" }));
    $("free-text").value = "";
    $("conclusion").value = "";
  }
  renderSignature(last);
}

function renderSignature(report) {
  const box = $("signature");
  const signBtn = $("sign");
  signBtn.textContent = state.readOnly ? t("amend") : t("sign");
  if (!report) {
    box.textContent = t("draft");
    box.dataset.signed = "false";
    return;
  }
  box.dataset.signed = "true";
  box.dataset.version = String(report.version);
  box.textContent = `${t("signer")}: ${report.signer_name} (${report.signed_by}) · ${t("signed_at")}: ${fmtTime(report.signed_at)} · ${t("version")} ${report.version}`;
}

function renderFindings() {
  const list = $("findings-list");
  list.replaceChildren(...state.findings.map((f, i) => {
    const li = document.createElement("li");
    li.dataset.code = f.code;
    li.dataset.state = f.state;
    li.dataset.origin = f.origin;
    li.className = `finding ${f.state} prio-${f.priority || "routine"}`;
    li.dataset.sources = sourceParts(f.source).map((p) => p.kind).join(",");
    const label = document.createElement("span");
    label.className = "label";
    label.textContent = statementLabel(f);
    const meta = document.createElement("span");
    meta.className = "meta";
    const prob = f.probability === null || f.probability === undefined ? "" : ` ${(f.probability * 100).toFixed(0)}%`;
    meta.textContent = `${f.code} · ${sourceText(f)}${prob}${f.detail ? ` · ${f.detail}` : ""}`;
    li.append(label, meta);
    const actions = document.createElement("span");
    actions.className = "actions no-print";
    if (f.state === "proposed") {
      const ok = document.createElement("button");
      ok.type = "button";
      ok.className = "confirm";
      ok.textContent = t("confirm");
      ok.addEventListener("click", () => { f.state = "confirmed"; markDirty(); renderFindings(); });
      actions.append(ok);
    }
    const rm = document.createElement("button");
    rm.type = "button";
    rm.className = "remove";
    rm.textContent = t("remove");
    rm.addEventListener("click", () => { state.findings.splice(i, 1); markDirty(); renderFindings(); });
    actions.append(rm);
    li.append(actions);
    return li;
  }));
  const pending = state.findings.filter((f) => f.state === "proposed").length;
  $("findings-card").dataset.pending = String(pending);
}

function fillVocabulary() {
  const opts = $("statement-options");
  opts.replaceChildren(...state.vocab.map((v) => {
    const o = document.createElement("option");
    o.value = `${statementLabel(v)} (${v.code})`;
    o.dataset.code = v.code;
    return o;
  }));
}

function addStatement(text) {
  const value = text.trim();
  if (!value) return;
  const m = value.match(/\(([A-Z0-9_]+)\)\s*$/);
  let entry = m ? vocabEntry(m[1]) : null;
  if (!entry) {
    entry = state.vocab.find((v) => v.code === value.toUpperCase() || v.label_zh === value || v.label_en.toLowerCase() === value.toLowerCase());
  }
  const f = entry
    ? { code: entry.code, label_en: entry.label_en, label_zh: entry.label_zh, priority: entry.priority }
    : { code: "TEXT", label_en: value, label_zh: value, priority: "routine" };
  if (state.findings.some((x) => x.code === f.code && f.code !== "TEXT")) {
    for (const x of state.findings) if (x.code === f.code) x.state = "confirmed";
  } else {
    state.findings.push({ ...f, source: `reader:${state.me.user_id}`, probability: null, detail: "", origin: "reader", state: "confirmed" });
  }
  $("statement-input").value = "";
  markDirty();
  renderFindings();
}

function confirmAll() {
  if (state.findings.some((f) => f.state !== "confirmed")) markDirty();
  for (const f of state.findings) f.state = "confirmed";
  renderFindings();
}

function conclusionFromFindings() {
  const sep = lang() === "zh-CN" ? "；" : "; ";
  return state.findings.filter((f) => f.state === "confirmed").map((f) => statementLabel(f)).join(sep);
}

function wireFinding(f) {
  return {
    code: f.code,
    label_en: f.label_en || f.label || f.code,
    label_zh: f.label_zh || f.label_en || f.code,
    priority: f.priority || (CRITICAL_CODES.has(f.code) ? "critical" : "routine"),
    source: String((f.origin === "machine" ? f.source : (f.source || `reader:${state.me.user_id}`)) || "").slice(0, 128),
    probability: f.probability ?? null,
    detail: (f.origin === "machine" ? `confirmed by ${state.me.user_id}${f.detail ? `; ${f.detail}` : ""}` : (f.detail || "")).slice(0, 1024),
  };
}

// Alerting codes the current report (or, before the first one, the machine) stated and the
// draft drops: signing it cancels the hospital's alert, so the reader is asked first.
function droppedAlertCodes() {
  const last = lastReport();
  const before = (last ? last.findings : state.item.findings || []).map((f) => f.code);
  const kept = new Set(state.findings.map((f) => f.code));
  return [...new Set(before)].filter((c) => ALERT_CODES.has(c) && !kept.has(c));
}

async function sign() {
  if (!state.item) return;
  const status = $("sign-status");
  if (state.findings.some((f) => f.state === "proposed")) {
    status.textContent = t("pending_confirm");
    return;
  }
  const dropped = droppedAlertCodes();
  if (dropped.length && !window.confirm(`${t("cancels_alert")} (${dropped.join(", ")})`)) {
    status.textContent = t("not_signed");
    return;
  }
  if (!$("conclusion").value.trim()) $("conclusion").value = conclusionFromFindings();
  if (!$("conclusion").value.trim()) {
    status.textContent = t("need_conclusion");
    return;
  }
  const corrections = correctionText();
  const body = {
    findings: state.findings.map(wireFinding),
    free_text: [corrections, $("free-text").value].filter((x) => x.trim()).join("\n"),
    conclusion: $("conclusion").value.trim(),
  };
  const id = encodeURIComponent(state.item.record_id);
  let res;
  try {
    if (state.readOnly) {
      const reports = state.detail.reports || [];
      body.base_version = reports.length ? reports[reports.length - 1].version : 0;
      body.reason = $("amend-reason").value.trim();
      res = await api("POST", `/records/${id}/amend`, body);
    } else {
      res = await api("POST", `/records/${id}/sign`, body);
    }
  } catch (err) {
    status.textContent = `${t("error")}: ${err.message}`;
    return;
  }
  stopLease();
  status.textContent = "";
  state.readOnly = true;
  // The corrections are now part of the report's text (shown in the description).
  state.corrections = {};
  state.dirty = false;
  $("free-text").value = res.report.free_text;
  renderCorrections();
  renderMeasurements();
  state.detail.reports = [...(state.detail.reports || []), res.report];
  state.item = { ...state.item, status: "signed" };
  state.findings = res.report.findings.map((f) => ({ ...f, origin: "reader", state: "confirmed" }));
  $("amend-row").hidden = false;
  renderFindings();
  renderSignature(res.report);
  renderBanner();
  document.body.dataset.lastSigned = res.report.record_id;
  rememberSigned(res.report);
  toast(t("signed_ok"));
  refreshQueue();
}

// ---------------------------------------------------------------- print

function measurementLine() {
  const a = state.analysis;
  const v = measuredValues().value;
  const ax = a.axis_deg || {};
  const unit = (x, u) => (x === null || x === undefined ? "—" : `${fmtNum(x)} ${u}`);
  return [
    `${t("hr")} ${unit(v.hr, t("bpm"))}`,
    `PR ${unit(v.pr, "ms")}`,
    `QRS ${unit(v.qrs, "ms")}`,
    `QT/QTc ${fmtNum(v.qt)}/${fmtNum(v.qtc)} ms`,
    `${t("axis")} ${fmtNum(ax.p)}/${fmtNum(ax.qrs)}/${fmtNum(ax.t)}°`,
  ];
}

function printLine(label, parts) {
  const p = document.createElement("p");
  const strong = document.createElement("strong");
  strong.textContent = `${label}:`;
  p.append(strong, ...parts.map((text) => {
    const span = document.createElement("span");
    span.textContent = text;
    return span;
  }));
  return p;
}

function preparePrint() {
  if (!state.ecg) return;
  const s = state.settings;
  const off = new TwelveLeadView(document.createElement("canvas"), null);
  off.ecg = views.current.ecg;
  off.filtered = views.current.filtered;
  off.filterHz = views.current.filterHz;
  // 35 mm per row at 10 mm/mV keeps header + ECG on one A4 landscape page.
  off.draw({ speed: s.speed, gain: s.gain, pxPerMm: 8, pitchMm: s.gain <= 10 ? 35 : null, startS: s.startS });
  const img = $("print-ecg");
  img.src = off.canvas.toDataURL("image/png");
  img.style.width = `${off.layout.widthMm}mm`;
  const item = state.item;
  $("print-meta").replaceChildren(...[
    [t("record_id"), item.record_id],
    [t("col_site"), item.site_id],
    [t("device"), state.detail.device_id],
    [t("patient_id"), item.patient?.pseudo_id || "—"],
    [t("col_patient"), patientText(item.patient)],
    [t("col_acquired"), fmtTime(item.acquired_at)],
  ].map(([k, v]) => {
    const span = document.createElement("span");
    span.textContent = `${k}: ${v}`;
    return span;
  }));
  const report = lastReport();
  const statements = state.findings.filter((f) => f.state === "confirmed").map((f) => statementLabel(f));
  const lines = [
    printLine(t("measurements"), measurementLine()),
    printLine(t("findings"), [statements.join(lang() === "zh-CN" ? "；" : "; ") || "—"]),
  ];
  if (correctionText()) lines.push(printLine(t("corrected_by_reader"), [correctionText().split(": ").slice(1).join(": ")]));
  if ($("free-text").value.trim()) lines.push(printLine(t("free_text"), [$("free-text").value.trim()]));
  lines.push(printLine(t("conclusion"), [$("conclusion").value.trim() || "—"]));
  lines.push(report
    ? printLine(t("signer"), [`${report.signer_name} (${report.signed_by})`, `${t("signed_at")}: ${fmtTime(report.signed_at)}`, `${t("version")} ${report.version}`])
    : printLine(t("signer"), [t("draft")]));
  $("print-summary").replaceChildren(...lines);
}

// ---------------------------------------------------------------- wiring

function onKey(ev) {
  const typing = ["INPUT", "TEXTAREA", "SELECT"].includes(document.activeElement?.tagName);
  const reading = !$("reading-view").hidden;
  if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey) && reading) {
    ev.preventDefault();
    sign();
    return;
  }
  if (ev.key === "Escape" && reading) {
    ev.preventDefault();
    // Esc in a field only leaves the field (the draft stays); Esc again goes to the queue.
    if (typing) {
      document.activeElement.blur();
      return;
    }
    leaveToQueue();
    return;
  }
  if (typing || ev.ctrlKey || ev.metaKey || ev.altKey || !state.me) return;
  const key = ev.key.toLowerCase();
  if (key === "n" || key === "j") { ev.preventDefault(); goNext(1); return; }
  if (!reading) return;
  if (key === "k") { ev.preventDefault(); goNext(-1); }
  else if (key === "c") { ev.preventDefault(); confirmAll(); }
  else if (ev.key === "ArrowRight" || ev.key === "ArrowLeft") {
    if (!$("window-wrap").hidden) { ev.preventDefault(); stepWindow(ev.key === "ArrowRight" ? 1 : -1); }
  }
  else if (key === "s") { setSelect("speed", state.settings.speed === 25 ? 50 : 25); }
  else if (key === "g") { setSelect("gain", { 5: 10, 10: 20, 20: 5 }[state.settings.gain]); }
  else if (key === "p" && state.previous) { $("compare").checked = !$("compare").checked; $("compare").dispatchEvent(new Event("change")); }
}

function setSelect(id, value) {
  const el = $(id);
  el.value = String(value);
  el.dispatchEvent(new Event("change"));
}

function wire() {
  views.current = new TwelveLeadView($("ecg-canvas"), $("ecg-overlay"));
  views.previous = new TwelveLeadView($("prev-canvas"), $("prev-overlay"));
  views.median = new MedianBeatView($("median-canvas"), $("median-overlay"));
  const readout = $("caliper-readout");
  const show = (m) => {
    if (!m) {
      readout.textContent = "—";
      readout.dataset.ms = "";
      readout.dataset.mv = "";
      return;
    }
    readout.textContent = `Δt ${m.ms.toFixed(0)} ms · ΔV ${m.mv.toFixed(2)} mV${m.bpm ? ` · ${m.bpm.toFixed(0)} ${t("bpm")}` : ""}`;
    readout.dataset.ms = m.ms.toFixed(1);
    readout.dataset.mv = m.mv.toFixed(3);
  };
  for (const v of Object.values(views)) new Calipers(v, show);

  $("signin-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    signIn($("token-input").value.trim());
  });
  $("sign-out").addEventListener("click", async () => {
    if (!leaveDraftOk()) return;
    await releaseCurrent();
    signOut();
  });
  $("lang-switch").addEventListener("click", () => {
    setLang(lang() === "zh-CN" ? "en" : "zh-CN");
    if (state.me) fillVocabulary();
    if (!$("queue-view").hidden) renderQueue();
    if (!$("reading-view").hidden) { renderBanner(); renderNotices(); renderMeasurements(); renderCorrections(); renderFindings(); renderSignature(lastReport()); renderTiming(); renderPreviousText(); }
  });
  $("open-next").addEventListener("click", () => goNext(1));
  $("back").addEventListener("click", leaveToQueue);
  for (const id of ["free-text", "conclusion", "amend-reason"]) $(id).addEventListener("input", markDirty);
  window.addEventListener("beforeunload", (ev) => {
    if (state.dirty && !$("reading-view").hidden) ev.preventDefault();
  });
  $("window").addEventListener("change", () => { state.settings.startS = Number($("window").value); drawAll(); });
  for (const id of ["speed", "gain", "zoom"]) {
    $(id).addEventListener("change", () => { state.settings[id] = Number($(id).value); drawAll(); });
  }
  $("filter").addEventListener("change", () => {
    state.settings.filterHz = Number($("filter").value);
    views.current.setFilter(state.settings.filterHz);
    if (state.previous) views.previous.setFilter(state.settings.filterHz);
    drawAll();
  });
  $("compare").checked = state.settings.compare;
  $("compare").addEventListener("change", () => { state.settings.compare = $("compare").checked; drawAll(); });
  $("print").addEventListener("click", () => { preparePrint(); window.print(); });
  window.addEventListener("beforeprint", preparePrint);
  $("add-statement").addEventListener("click", () => addStatement($("statement-input").value));
  $("statement-input").addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && !ev.ctrlKey) { ev.preventDefault(); addStatement(ev.target.value); }
  });
  $("conclusion-fill").addEventListener("click", () => { $("conclusion").value = conclusionFromFindings(); markDirty(); });
  $("sign").addEventListener("click", sign);
  document.addEventListener("keydown", onKey);
  for (const type of ["keydown", "pointerdown", "pointermove", "wheel"]) {
    document.addEventListener(type, () => { lastActivity = Date.now(); }, { passive: true });
  }
  let resizeTimer = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(drawAll, 100);
  });
  // Redraw when the device pixel ratio changes (browser zoom, moving to another screen).
  const watchDpr = () => {
    matchMedia(`(resolution: ${window.devicePixelRatio}dppx)`).addEventListener("change", () => { drawAll(); watchDpr(); }, { once: true });
  };
  watchDpr();
}

function lastReport() {
  const reports = state.detail?.reports || [];
  return reports[reports.length - 1];
}

window.ecgApp = { state, views, preparePrint, openRecord, refreshQueue };

setLang(lang());
wire();
applyStrings(document);
if (state.token) signIn(state.token);
