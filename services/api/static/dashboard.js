// The SLA dashboard: polls the API with the reader's bearer token and redraws.
// Values are the server's (working time at the desk clock's now); nothing is extrapolated.
"use strict";

const TOKEN_KEY = "pass24.dashboard.token";
const LEVELS = ["emergency", "standard", "consultation", "unclassified"];
const LEVEL_COLOURS = { emergency: "#c62828", standard: "#1565c0", consultation: "#2e7d32", unclassified: "#777" };
const WEEKS = 8;
const CHART_EVERY = 12; // redraw charts every N polls (stats cost more than the queue)

let refreshSeconds = 5;
let timer = null;
let polls = 0;
let lastBreached = null;
const $ = (id) => document.getElementById(id);

function takeToken() {
  const url = new URL(window.location.href);
  const given = url.searchParams.get("token");
  if (given) {
    sessionStorage.setItem(TOKEN_KEY, given);
    url.searchParams.delete("token");
    history.replaceState(null, "", url.pathname + url.search + url.hash);
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

class ApiError extends Error {
  constructor(status, detail) { super(detail); this.status = status; }
}

async function api(path, params) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params || {})) {
    if (value !== "" && value !== null && value !== undefined) query.set(key, value);
  }
  const response = await fetch(path + (query.toString() ? "?" + query : ""), {
    headers: { Authorization: "Bearer " + sessionStorage.getItem(TOKEN_KEY), Accept: "application/json" },
    cache: "no-store",
  });
  if (!response.ok) {
    let detail = response.statusText;
    try { detail = (await response.json()).detail || detail; } catch (_) { /* not JSON */ }
    throw new ApiError(response.status, detail);
  }
  return response.json();
}

function filters() {
  const form = $("filters");
  return { level: form.level.value, product: form.product.value, assignee: form.assignee.value.trim() };
}

function duration(seconds) {
  const total = Math.max(0, Math.round(seconds / 60));
  const days = Math.floor(total / (60 * 24)), hours = Math.floor((total % (60 * 24)) / 60), minutes = total % 60;
  if (days) return `${days}d ${hours}h ${String(minutes).padStart(2, "0")}m`;
  return `${hours}h ${String(minutes).padStart(2, "0")}m`;
}

function when(iso) {
  // The instant as the desk wrote it (its own offset, Moscow time), without seconds.
  return iso ? iso.slice(0, 16).replace("T", " ") : "";
}

function clockCell(clock) {
  const td = document.createElement("td");
  td.className = "clock " + clock.status;
  td.dataset.status = clock.status;
  const left = document.createElement("span");
  left.className = "left";
  const note = document.createElement("small");
  if (clock.status === "breached") {
    left.textContent = "overdue " + duration(-clock.remaining_seconds);
    note.textContent = "breached · was due " + when(clock.due_at);
  } else if (clock.status === "met") {
    left.textContent = "met";
    note.textContent = "due " + when(clock.due_at);
  } else {
    left.textContent = duration(clock.remaining_seconds) + (clock.status === "paused" ? " (paused)" : "");
    note.textContent = "working time left · due " + when(clock.due_at);
  }
  td.append(left, note);
  return td;
}

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text == null ? "" : String(text);
  return td;
}

function rowStatus(item) {
  const statuses = [item.sla.reaction.status, item.sla.resolution.status];
  if (statuses.includes("breached")) return "breached";
  if (statuses.includes("at_risk")) return "at_risk";
  return "on_track";
}

function drawQueue(page) {
  const body = $("queue").querySelector("tbody");
  const counts = { at_risk: 0, breached: 0 };
  const rows = page.items.map((item, index) => {
    const status = rowStatus(item);
    if (status in counts) counts[status] += 1;
    const tr = document.createElement("tr");
    tr.className = status;
    tr.dataset.ticket = item.id;
    tr.dataset.sla = status;
    const level = cell(item.level || "unclassified");
    if (item.emergency_confirmed) {
      const badge = document.createElement("span");
      badge.className = "badge";
      badge.textContent = "confirmed";
      level.append(" ", badge);
    }
    tr.append(cell(index + 1), cell(item.id), level, cell(item.product), cell(item.subject),
      cell(item.assignee || "—"), cell(item.status), clockCell(item.sla.reaction), clockCell(item.sla.resolution));
    return tr;
  });
  body.replaceChildren(...rows);
  $("empty").hidden = rows.length > 0;
  $("count-open").textContent = page.total;
  $("count-at_risk").textContent = counts.at_risk;
  $("count-breached").textContent = counts.breached;
  return counts;
}

// --- weeks in the desk's own offset (Moscow: +03:00 all year) -----------------------------

function offsetMinutes(iso) {
  const match = /([+-])(\d\d):(\d\d)$/.exec(iso);
  if (!match) return 0;
  const minutes = Number(match[2]) * 60 + Number(match[3]);
  return match[1] === "-" ? -minutes : minutes;
}

function isoAt(epochMs, offset) {
  const local = new Date(epochMs + offset * 60000);
  const sign = offset < 0 ? "-" : "+", abs = Math.abs(offset);
  const pad = (n) => String(n).padStart(2, "0");
  return `${local.getUTCFullYear()}-${pad(local.getUTCMonth() + 1)}-${pad(local.getUTCDate())}` +
    `T00:00:00${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

function weeks(nowIso) {
  const offset = offsetMinutes(nowIso);
  const local = new Date(Date.parse(nowIso) + offset * 60000);
  const sinceMonday = (local.getUTCDay() + 6) % 7;
  const mondayLocal = Date.UTC(local.getUTCFullYear(), local.getUTCMonth(), local.getUTCDate() - sinceMonday);
  const mondayEpoch = mondayLocal - offset * 60000;
  const result = [];
  for (let i = WEEKS - 1; i >= 0; i -= 1) {
    const start = mondayEpoch - i * 7 * 86400000;
    result.push({ since: isoAt(start, offset), until: isoAt(start + 7 * 86400000, offset) });
  }
  return result;
}

async function loadCompliance() {
  const clock = await api("/dashboard/clock");
  const { level, product } = filters();
  const buckets = weeks(clock.now);
  const answers = await Promise.all(buckets.map((week) =>
    api("/sla/stats", { level, product, since: week.since, until: week.until })));
  const series = {};
  answers.forEach((answer, index) => {
    const perLevel = {};
    for (const row of answer.rows) {
      const entry = perLevel[row.level] || (perLevel[row.level] = { received: 0, breached: 0 });
      entry.received += row.received;
      entry.breached += row.breached;
    }
    for (const [name, entry] of Object.entries(perLevel)) {
      (series[name] || (series[name] = new Array(buckets.length).fill(null)))[index] =
        entry.received ? { value: 1 - entry.breached / entry.received, ...entry } : null;
    }
  });
  drawChart(buckets, series);
}

function svg(name, attributes, text) {
  const element = document.createElementNS("http://www.w3.org/2000/svg", name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
  if (text !== undefined) element.textContent = text;
  return element;
}

function drawChart(buckets, series) {
  const width = 860, height = 260, left = 44, right = 150, top = 12, bottom = 34;
  const plotW = width - left - right, plotH = height - top - bottom;
  const x = (i) => left + (buckets.length === 1 ? plotW / 2 : (i * plotW) / (buckets.length - 1));
  const y = (v) => top + (1 - v) * plotH;
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img",
    "aria-label": "SLA compliance per level and week" });
  for (const v of [0, 0.25, 0.5, 0.75, 1]) {
    root.append(svg("line", { class: "grid", x1: left, x2: left + plotW, y1: y(v), y2: y(v) }));
    root.append(svg("text", { x: left - 6, y: y(v) + 4, "text-anchor": "end" }, `${v * 100}%`));
  }
  root.append(svg("line", { class: "axis", x1: left, x2: left + plotW, y1: y(0), y2: y(0) }));
  buckets.forEach((week, i) => root.append(
    svg("text", { x: x(i), y: height - bottom + 16, "text-anchor": "middle" }, week.since.slice(5, 10))));
  let legend = 0;
  for (const name of LEVELS.filter((level) => level in series)) {
    const colour = LEVEL_COLOURS[name];
    const points = series[name].map((point, i) => (point ? [x(i), y(point.value), point] : null));
    let path = "";
    points.forEach((p) => { if (p) path += (path ? " L" : "M") + p[0].toFixed(1) + " " + p[1].toFixed(1); });
    root.append(svg("path", { d: path, fill: "none", stroke: colour, "stroke-width": 2, "data-level": name }));
    for (const p of points.filter(Boolean)) {
      const dot = svg("circle", { cx: p[0], cy: p[1], r: 3.5, fill: colour });
      dot.append(svg("title", {}, `${name}: ${Math.round(p[2].value * 100)}% ` +
        `(${p[2].received - p[2].breached} of ${p[2].received} within SLA)`));
      root.append(dot);
    }
    root.append(svg("rect", { x: left + plotW + 16, y: top + legend * 20, width: 12, height: 12, fill: colour }));
    root.append(svg("text", { x: left + plotW + 34, y: top + legend * 20 + 10 }, name));
    legend += 1;
  }
  if (!legend) root.append(svg("text", { x: left + plotW / 2, y: top + plotH / 2, "text-anchor": "middle" },
    "no tickets received in these weeks"));
  $("chart").replaceChildren(root);
}

// --- the loop ------------------------------------------------------------------------------

function showError(error) {
  const box = $("error");
  if (!error) { box.hidden = true; return; }
  box.textContent = error.status === 401 || error.status === 403
    ? `The token was refused (${error.status}): ${error.message}`
    : `Could not refresh: ${error.message}`;
  box.hidden = false;
  if (error.status === 401 || error.status === 403) { showLogin(); }
}

async function refresh(withCharts) {
  if (!sessionStorage.getItem(TOKEN_KEY)) return showLogin();
  try {
    const { level, product, assignee } = filters();
    const counts = drawQueue(await api("/queue", { level, product, assignee, limit: 500 }));
    // A new breach changes this week's compliance: redraw now rather than at the next chart turn.
    const breachMoved = lastBreached !== null && counts.breached !== lastBreached;
    lastBreached = counts.breached;
    if (withCharts || breachMoved || polls % CHART_EVERY === 0) await loadCompliance();
    polls += 1;
    $("updated").textContent = "updated " + new Date().toLocaleTimeString();
    showError(null);
  } catch (error) {
    showError(error);
  }
}

function schedule() {
  clearInterval(timer);
  timer = setInterval(() => refresh(false), refreshSeconds * 1000);
}

function showLogin() {
  clearInterval(timer);
  $("board").hidden = true;
  $("login").hidden = false;
}

async function start() {
  $("login").hidden = true;
  $("board").hidden = false;
  try { refreshSeconds = (await api("/dashboard/clock")).refresh_seconds || refreshSeconds; } catch (_) { /* keep default */ }
  await refresh(true);
  schedule();
}

document.addEventListener("DOMContentLoaded", () => {
  $("login").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("token").value.trim());
    $("token").value = "";
    start();
  });
  $("filters").addEventListener("change", () => refresh(true));
  $("filters").addEventListener("submit", (event) => { event.preventDefault(); refresh(true); });
  $("refresh").addEventListener("click", () => refresh(true));
  $("forget").addEventListener("click", () => { sessionStorage.removeItem(TOKEN_KEY); showLogin(); });
  if (takeToken()) start(); else showLogin();
});
