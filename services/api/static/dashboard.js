// The SLA dashboard. Data comes from the API with the reader's token in an Authorization header;
// the page redraws when the server says something changed (server-sent events, read with fetch so
// the header goes along) and falls back to polling when that stream is unavailable.
// Remaining times are the server's (working time at the desk clock's now); nothing is extrapolated.
"use strict";

const LEVELS = ["emergency", "standard", "consultation", "unclassified"];
const LEVEL_COLOURS = { emergency: "#c62828", standard: "#1565c0", consultation: "#2e7d32", unclassified: "#777" };
const WEEKS = 8;
const LIMIT = 500;
const CHART_EVERY_SECONDS = 60;

let refreshSeconds = 5;
let pollTimer = null;
let stream = null;        // AbortController of the live stream
let lastBreached = null;
let lastChart = 0;
let pending = null;
const $ = (id) => document.getElementById(id);

function filters() {
  const form = $("filters");
  const statuses = [...form.querySelectorAll("#statuses input:checked")].map((box) => box.value);
  return { level: form.level.value, product: form.product.value, category: form.category.value,
           assignee: form.assignee.value.trim().toLowerCase(), unassigned: form.unassigned.checked,
           statuses, order: form.order.value, sla: form.sla.value };
}

function fillChoices() {
  const form = $("filters");
  for (const [field, kind] of [["level", "level"], ["product", "product"], ["category", "category"]]) {
    const select = form[field];
    for (const [code, label] of Object.entries(desk.names[kind] || {})) {
      if (field === "level" && code === "unclassified") continue;
      select.append(new Option(label, code));
    }
  }
  const box = $("statuses");
  for (const [code, label] of Object.entries(desk.names.status || {})) {
    if (code === "closed") continue;
    const item = document.createElement("label");
    const input = document.createElement("input");
    input.type = "checkbox"; input.name = "status"; input.value = code;
    item.append(input, " " + label);
    box.append(item);
  }
}

function clockCell(clock) {
  const td = document.createElement("td");
  td.className = "clock " + clock.status;
  td.dataset.status = clock.status;
  const left = document.createElement("span");
  left.className = "left";
  const note = document.createElement("small");
  if (clock.status === "breached") {
    left.textContent = t("overdue %(span)s", { span: workingSpan(-clock.remaining_seconds) });
    note.textContent = t("was due %(at)s", { at: when(clock.due_at) });
  } else if (clock.status === "met") {
    left.textContent = clock.stopped_at ? t("met at %(at)s", { at: when(clock.stopped_at) }) : t("met");
    note.textContent = t("due %(at)s", { at: when(clock.due_at) });
  } else {
    left.textContent = workingSpan(clock.remaining_seconds) + (clock.status === "paused" ? " · " + t("paused") : "");
    note.textContent = t("left · due %(at)s", { at: when(clock.due_at) });
  }
  td.append(left, note);
  return td;
}

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text == null ? "" : String(text);
  if (className) { td.className = className; td.title = td.textContent; }
  return td;
}

function rowStatus(item) {
  const statuses = [item.sla.reaction.status, item.sla.resolution.status];
  if (statuses.includes("breached")) return "breached";
  if (statuses.includes("at_risk")) return "at_risk";
  return "on_track";
}

const URGENCY = { breached: 0, at_risk: 1, on_track: 2 };

function select(items, f) {
  // The server filtered by category and status already; assignee (any case, part of the name)
  // and unassigned are applied here, over the open tickets loaded (up to LIMIT).
  return items.filter((item) =>
    (!f.category || item.category === f.category) &&
    (!f.statuses.length || f.statuses.includes(item.status)) &&
    (!f.unassigned || !item.assignee) &&
    (!f.assignee || (item.assignee || "").toLowerCase().includes(f.assignee)));
}

function drawQueue(page) {
  const f = filters();
  const chosen = select(page.items, f);
  const counts = { at_risk: 0, breached: 0, unassigned: 0 };
  for (const item of chosen) {
    const status = rowStatus(item);
    if (status in counts) counts[status] += 1;
    if (!item.assignee) counts.unassigned += 1;
  }
  let shown = chosen.map((item, index) => ({ item, index, status: rowStatus(item) }));
  if (f.sla === "unassigned") shown = shown.filter((row) => !row.item.assignee);
  else if (f.sla) shown = shown.filter((row) => row.status === f.sla);
  if (f.order === "urgency") shown.sort((a, b) => URGENCY[a.status] - URGENCY[b.status] || a.index - b.index);
  $("order-note").textContent = f.order === "urgency"
    ? t("(breached first, then at risk, then the rest; within each, the regulation's handling order)")
    : t("(handling order: confirmed emergencies first, then by arrival)");
  const rows = shown.map(({ item, status, index }, position) => {
    const tr = document.createElement("tr");
    tr.className = status;
    tr.dataset.ticket = item.id;
    tr.dataset.sla = status;
    const link = document.createElement("a");
    link.href = "/ui/tickets/" + encodeURIComponent(item.id);
    link.textContent = item.id;
    const idCell = document.createElement("td");
    idCell.append(link);
    const level = cell(humanName("level", item.level));
    if (item.emergency_confirmed) {
      const badge = document.createElement("span");
      badge.className = "badge";
      badge.textContent = t("confirmed");
      level.append(" ", badge);
    }
    const rank = cell(position + 1);
    if (f.order === "urgency" && index !== position) {
      // Beside the urgency rank, the ticket's place in the regulation's handling order.
      const handling = document.createElement("small");
      handling.className = "handling";
      handling.textContent = t("#%(n)s in order", { n: index + 1 });
      rank.append(handling);
    }
    tr.dataset.handling = index + 1;
    tr.append(rank, idCell, level, cell(humanName("product", item.product)),
      cell(item.subject, "subject"), cell(item.assignee || "—"), cell(humanName("status", item.status)),
      clockCell(item.sla.reaction), clockCell(item.sla.resolution));
    return tr;
  });
  $("queue").querySelector("tbody").replaceChildren(...rows);
  $("empty").hidden = rows.length > 0;
  $("truncated").hidden = page.total <= page.items.length;
  $("truncated").textContent = t("Showing the first %(shown)s of %(total)s open tickets.", { shown: page.items.length, total: page.total });
  $("count-open").textContent = chosen.length;
  $("count-at_risk").textContent = counts.at_risk;
  $("count-breached").textContent = counts.breached;
  $("count-unassigned").textContent = counts.unassigned;
  document.querySelectorAll("#summary .pill").forEach((pill) => pill.classList.toggle("active", pill.dataset.sla === f.sla));
  return counts;
}

// --- weeks in Moscow time (+03:00 all year) ------------------------------------------------

function weeks(nowIso) {
  const offset = 180;
  const local = new Date(Date.parse(nowIso) + offset * 60000);
  const sinceMonday = (local.getUTCDay() + 6) % 7;
  const mondayLocal = Date.UTC(local.getUTCFullYear(), local.getUTCMonth(), local.getUTCDate() - sinceMonday);
  const pad = (n) => String(n).padStart(2, "0");
  const iso = (ms) => { const d = new Date(ms); return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}T00:00:00+03:00`; };
  const result = [];
  for (let i = WEEKS - 1; i >= 0; i -= 1) {
    const start = mondayLocal - i * 7 * 86400000;
    result.push({ since: iso(start), until: iso(start + 7 * 86400000), label: iso(start).slice(8, 10) + "." + iso(start).slice(5, 7) });
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
    for (const row of answer.rows) {
      const name = row.level || "unclassified";
      const list = series[name] || (series[name] = buckets.map(() => null));
      const entry = list[index] || (list[index] = { received: 0, breached: 0 });
      entry.received += row.received;
      entry.breached += row.breached;
    }
  });
  drawChart(buckets, series);
  lastChart = Date.now();
}

function svg(name, attributes, text) {
  const element = document.createElementNS("http://www.w3.org/2000/svg", name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
  if (text !== undefined) element.textContent = text;
  return element;
}

function drawChart(buckets, series) {
  // Grouped bars: one bar per level in every week, so no level hides another.
  const levels = LEVELS.filter((level) => level in series);
  const width = 1000, height = 250, left = 44, right = 170, top = 14, bottom = 30;
  const plotW = width - left - right, plotH = height - top - bottom;
  const groupW = plotW / buckets.length;
  const barW = Math.min(22, (groupW - 10) / Math.max(levels.length, 1));
  const y = (v) => top + (1 - v) * plotH;
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": t("Compliance per week") });
  for (const v of [0, 0.25, 0.5, 0.75, 1]) {
    root.append(svg("line", { class: "grid", x1: left, x2: left + plotW, y1: y(v), y2: y(v) }));
    root.append(svg("text", { x: left - 6, y: y(v) + 4, "text-anchor": "end" }, `${v * 100}%`));
  }
  root.append(svg("line", { class: "axis", x1: left, x2: left + plotW, y1: y(0), y2: y(0) }));
  buckets.forEach((week, i) => root.append(svg("text", { x: left + groupW * (i + 0.5), y: height - bottom + 16,
    "text-anchor": "middle" }, week.label)));
  levels.forEach((name, li) => {
    const colour = LEVEL_COLOURS[name];
    series[name].forEach((entry, i) => {
      if (!entry || !entry.received) return;
      const value = 1 - entry.breached / entry.received;
      const x = left + groupW * i + (groupW - barW * levels.length) / 2 + li * barW;
      const bar = svg("rect", { x: x + 1, y: y(value), width: barW - 2, height: Math.max(y(0) - y(value), 1.5),
        fill: colour, "data-level": name, "data-week": buckets[i].since });
      bar.append(svg("title", {}, `${humanName("level", name)}, ${buckets[i].label}: ${Math.round(value * 100)}% ` +
        t("(%(ok)s of %(received)s within SLA)", { ok: entry.received - entry.breached, received: entry.received })));
      root.append(bar);
    });
    root.append(svg("rect", { x: left + plotW + 16, y: top + li * 20, width: 12, height: 12, fill: colour }));
    root.append(svg("text", { x: left + plotW + 34, y: top + li * 20 + 10 }, humanName("level", name)));
  });
  if (!levels.length) root.append(svg("text", { x: left + plotW / 2, y: top + plotH / 2, "text-anchor": "middle" },
    t("no tickets received in these weeks")));
  $("chart").replaceChildren(root);
}

// --- the loop ------------------------------------------------------------------------------

function showError(error) {
  const box = $("error");
  if (!error) { box.hidden = true; return; }
  box.textContent = error.status === 401 || error.status === 403
    ? t("The token was refused (%(status)s): %(detail)s", { status: error.status, detail: error.message })
    : t("Could not refresh: %(detail)s", { detail: error.message });
  box.hidden = false;
  if (error.status === 401 || error.status === 403) showLogin();
}

let lastPage = null;

async function refresh(withCharts) {
  if (!token()) return showLogin();
  try {
    // Level, product, category and statuses are the server's filters; assignee (any case, any
    // part of the name) and "unassigned" are applied in the page.
    const { level, product, category, statuses } = filters();
    lastPage = await api("/queue", { level, product, category, status: statuses, limit: LIMIT });
    const counts = drawQueue(lastPage);
    // A new breach changes this week's compliance: redraw now rather than at the next chart turn.
    const breachMoved = lastBreached !== null && counts.breached !== lastBreached;
    lastBreached = counts.breached;
    if (withCharts || breachMoved || Date.now() - lastChart > CHART_EVERY_SECONDS * 1000) await loadCompliance();
    $("updated").textContent = t("updated %(at)s", { at: when(new Date().toISOString(), true) });
    showError(null);
  } catch (error) {
    showError(error);
  }
}

function refreshSoon() {
  // Several changes in a burst make one redraw.
  if (pending) return;
  pending = setTimeout(() => { pending = null; refresh(false); }, 150);
}

function poll() {
  clearInterval(pollTimer);
  pollTimer = setInterval(() => refresh(false), refreshSeconds * 1000);
  $("live").textContent = t("polling every %(n)s s", { n: refreshSeconds });
  $("live").dataset.mode = "polling";
}

async function listen() {
  // Server-sent events read with fetch (EventSource cannot send the Authorization header).
  if (stream) stream.abort();
  const controller = new AbortController();
  stream = controller;
  try {
    const response = await fetch("/dashboard/events", { headers: { Authorization: "Bearer " + token(),
      Accept: "text/event-stream" }, signal: controller.signal, cache: "no-store" });
    if (!response.ok || !response.body) throw new Error(String(response.status));
    clearInterval(pollTimer);
    $("live").textContent = t("live");
    $("live").dataset.mode = "live";
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value.replace(/\r\n/g, "\n");
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        if (/^event: ?changed$/m.test(block)) refreshSoon();
      }
    }
  } catch (error) {
    if (controller.signal.aborted) return;
  }
  if (stream !== controller) return;
  // The stream ended or is unavailable: poll, and try the stream again later.
  poll();
  setTimeout(() => { if (stream === controller && token()) listen(); }, 30000);
}

function showLogin() {
  clearInterval(pollTimer);
  if (stream) { stream.abort(); stream = null; }
  $("board").hidden = true;
  $("login").hidden = false;
}

async function start() {
  $("login").hidden = true;
  $("board").hidden = false;
  try { refreshSeconds = (await api("/dashboard/clock")).refresh_seconds || refreshSeconds; } catch (_) { /* keep default */ }
  await refresh(true);
  listen();
}

document.addEventListener("DOMContentLoaded", async () => {
  dropTokenFromAddress();
  await loadLanguage();
  fillChoices();
  document.querySelectorAll(".langs a").forEach((link) => link.addEventListener("click", () => localStorage.setItem(LANG_KEY, link.dataset.lang)));
  $("login").addEventListener("submit", (event) => {
    event.preventDefault();
    setToken($("token").value.trim());
    $("token").value = "";
    start();
  });
  const form = $("filters");
  form.addEventListener("change", (event) => {
    // Level and product are asked of the server (and change the chart); the rest filter in the page.
    if (["level", "product"].includes(event.target.name)) refresh(true);
    else if (["category", "status"].includes(event.target.name)) refresh(false);
    else if (lastPage) drawQueue(lastPage);
  });
  form.assignee.addEventListener("input", () => { if (lastPage) drawQueue(lastPage); });
  form.addEventListener("submit", (event) => { event.preventDefault(); refresh(true); });
  document.querySelectorAll("#summary .pill").forEach((pill) => pill.addEventListener("click", () => {
    form.sla.value = form.sla.value === pill.dataset.sla ? "" : pill.dataset.sla;
    if (lastPage) drawQueue(lastPage);
  }));
  $("refresh").addEventListener("click", () => refresh(true));
  $("forget").addEventListener("click", () => { forgetToken(); showLogin(); });
  if (token()) start(); else showLogin();
});
