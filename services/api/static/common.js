// Shared by the dashboard and the ticket page: the reader's token (this tab's sessionStorage,
// sent as an Authorization header, never in a URL), the message catalogue, Moscow time.
"use strict";

const TOKEN_KEY = "pass24.dashboard.token";
const LANG_KEY = "pass24.language";
const MOSCOW = "Europe/Moscow";
const desk = { messages: {}, names: {}, language: "ru", dayHours: 9 };

function t(message, values) {
  let text = desk.messages[message] || message;
  for (const [key, value] of Object.entries(values || {})) text = text.split(`%(${key})s`).join(String(value)).split(`%(${key})d`).join(String(value));
  return text;
}

function humanName(kind, code) {
  if (code === null || code === undefined || code === "") code = kind === "level" ? "unclassified" : "";
  return (desk.names[kind] || {})[code] || code;
}

function token() { return sessionStorage.getItem(TOKEN_KEY); }
function setToken(value) { sessionStorage.setItem(TOKEN_KEY, value); }
function forgetToken() { sessionStorage.removeItem(TOKEN_KEY); }

function dropTokenFromAddress() {
  // Old bookmarks carried ?token=: never use it (it leaks into logs and history), just remove it.
  const url = new URL(window.location.href);
  if (url.searchParams.has("token")) {
    url.searchParams.delete("token");
    history.replaceState(null, "", url.pathname + url.search + url.hash);
  }
}

class ApiError extends Error {
  constructor(status, detail) { super(detail); this.status = status; }
}

async function api(path, params, accept) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params || {})) {
    if (Array.isArray(value)) value.forEach((v) => query.append(key, v));
    else if (value !== "" && value !== null && value !== undefined) query.set(key, value);
  }
  const response = await fetch(path + (query.toString() ? "?" + query : ""), {
    headers: { Authorization: "Bearer " + token(), Accept: accept || "application/json",
               "Accept-Language": desk.language },
    cache: "no-store",
  });
  if (!response.ok) {
    let detail = response.statusText;
    try { detail = (await response.json()).detail || detail; } catch (_) { /* not JSON */ }
    throw new ApiError(response.status, detail);
  }
  return accept && accept.startsWith("text/") ? response.text() : response.json();
}

async function loadLanguage() {
  const url = new URL(window.location.href);
  const wanted = url.searchParams.get("lang") || localStorage.getItem(LANG_KEY) || "";
  const answer = await fetch("/dashboard/messages" + (wanted ? "?lang=" + encodeURIComponent(wanted) : ""),
    { cache: "no-store" }).then((r) => r.json());
  Object.assign(desk, { messages: answer.messages, names: answer.names, language: answer.language,
                        dayHours: answer.day_hours || 9 });
  document.documentElement.lang = answer.language;
  document.querySelectorAll("[data-t]").forEach((element) => { element.textContent = t(element.dataset.t); });
  document.querySelectorAll("[data-t-placeholder]").forEach((element) => { element.placeholder = t(element.dataset.tPlaceholder); });
}

function moscowParts(iso) {
  const parts = {};
  new Intl.DateTimeFormat("en-GB", { timeZone: MOSCOW, year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" })
    .formatToParts(new Date(iso)).forEach((p) => { parts[p.type] = p.value; });
  return parts;
}

function when(iso, withSeconds) {
  // An instant in Moscow time, always labelled: "28.04 14:00 МСК".
  if (!iso) return "";
  const p = moscowParts(iso);
  return `${p.day}.${p.month} ${p.hour}:${p.minute}${withSeconds ? ":" + p.second : ""} ${t("MSK")}`;
}

function workingSpan(seconds) {
  // Working time in working days of the calendar's day (9 h), hours and minutes: "5 раб. дн. 3 ч".
  const minutes = Math.max(0, Math.round(seconds / 60));
  const day = Math.round(desk.dayHours * 60);
  const days = Math.floor(minutes / day), hours = Math.floor((minutes % day) / 60), mins = minutes % 60;
  const parts = [];
  if (days) parts.push(t("%(n)d wd", { n: days }));
  if (hours) parts.push(t("%(n)d h", { n: hours }));
  if (mins || !parts.length) parts.push(t("%(n)d min", { n: mins }));
  return parts.join(" ");
}
