// The ticket page: the server renders the ticket, its history and the SVG timeline as of an
// instant (GET /tickets/{id}/report); the as-of control asks again for another instant.
"use strict";

const $ = (id) => document.getElementById(id);
const ticketId = decodeURIComponent(window.location.pathname.split("/").pop());
let receivedAt = null, lastAt = null;

function localInput(iso) {
  const p = moscowParts(iso);
  return `${p.year}-${p.month}-${p.day}T${p.hour}:${p.minute}`;
}

function fromLocalInput(value) {
  return value ? `${value}:00+03:00` : "";  // Moscow has been +03:00 all year since 2014
}

async function show(asOf) {
  try {
    const html = await api(`/tickets/${encodeURIComponent(ticketId)}/report`,
      { as_of: asOf || "", lang: desk.language }, "text/html");
    $("report").innerHTML = html;  // the server escapes every value it puts in
    const article = $("report").querySelector("article");
    document.title = article.querySelector("h1").textContent + " · pass24-desk";
    $("as-of").value = localInput(article.dataset.asOf);
    if (!asOf) {
      lastAt = Date.parse(article.dataset.asOf);
      $("as-of-range").value = 1000;
    }
    if (receivedAt === null) receivedAt = Date.parse(article.dataset.receivedAt);
    $("error").hidden = true;
  } catch (error) {
    $("error").textContent = error.status === 401 || error.status === 403
      ? t("The token was refused (%(status)s): %(detail)s", { status: error.status, detail: error.message })
      : t("Could not load: %(detail)s", { detail: error.message });
    $("error").hidden = false;
    if (error.status === 401 || error.status === 403) { $("login").hidden = false; $("controls").hidden = true; }
  }
}

async function start() {
  $("login").hidden = true;
  $("controls").hidden = false;
  await show("");
  const article = $("report").querySelector("article");
  if (article) receivedAt = Date.parse(article.dataset.receivedAt);
}

document.addEventListener("DOMContentLoaded", async () => {
  dropTokenFromAddress();
  await loadLanguage();
  $("login").addEventListener("submit", (event) => {
    event.preventDefault();
    setToken($("token").value.trim());
    $("token").value = "";
    start();
  });
  $("as-of").addEventListener("change", () => show(fromLocalInput($("as-of").value)));
  $("as-of-range").addEventListener("change", () => {
    if (receivedAt === null || lastAt === null) return;
    const share = Number($("as-of-range").value) / 1000;
    show(new Date(receivedAt + share * (lastAt - receivedAt)).toISOString());
  });
  $("controls").addEventListener("submit", (event) => { event.preventDefault(); show(fromLocalInput($("as-of").value)); });
  $("now").addEventListener("click", () => show(""));
  if (token()) start(); else $("login").hidden = false;
});
