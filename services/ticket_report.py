"""A ticket for people: its state, its history in words and a picture of its two SLA
clocks along working time, as of any instant.

One model (``build``) feeds three outputs: the HTML fragment the ticket page shows
(``/ui/tickets/{id}``), the self-contained HTML file ``audit export --format html``
writes, and the text ``audit export`` prints. Times are Moscow time, to the minute.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from html import escape
from importlib.resources import files
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from adapters.i18n import gettext, name
from adapters.kafka.envelope import plain
from domain.sla import ClockName, WorkingTime, evaluate
from services.application import SupportDesk

MOSCOW = ZoneInfo("Europe/Moscow")
_SKIP = {"originator_id", "originator_version", "originator_topic", "timestamp", "at", "actor", "sla"}


def when(moment: datetime | str | None, language: str, *, date_only: bool = False) -> str:
    """Moscow time to the minute, labelled: '28.04.2025 10:05 МСК'."""
    if moment is None:
        return ""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    local = moment.astimezone(MOSCOW)
    if date_only:
        return local.strftime("%d.%m.%Y")
    return f"{local.strftime('%d.%m.%Y %H:%M')} {gettext('MSK', language)}"


def working_span(span: timedelta, language: str, day_hours: float = 9.0) -> str:
    """Working time as working days of the calendar's day, hours and minutes."""
    minutes = int(round(abs(span.total_seconds()) / 60))
    day = int(day_hours * 60)
    days, rest = divmod(minutes, day)
    hours, mins = divmod(rest, 60)
    parts = []
    if days:
        parts.append(gettext("%(n)d wd", language) % {"n": days})
    if hours:
        parts.append(gettext("%(n)d h", language) % {"n": hours})
    if mins or not parts:
        parts.append(gettext("%(n)d min", language) % {"n": mins})
    return ("−" if span.total_seconds() < 0 else "") + " ".join(parts)


@dataclass
class Marker:
    at: datetime
    kind: str  # event | at_risk | breached | due | moved
    label: str
    clock: str = ""


@dataclass
class ClockPicture:
    clock: str
    running: list[tuple[datetime, datetime]] = field(default_factory=list)
    paused: list[tuple[datetime, datetime, str]] = field(default_factory=list)
    dues: list[tuple[datetime, datetime, str]] = field(default_factory=list)
    """(decided at, due instant, why) in order: each change of the due instant."""
    at_risk_at: datetime | None = None
    due_at: datetime | None = None
    status: str = ""
    stopped_at: datetime | None = None
    alerts: list[Marker] = field(default_factory=list)


@dataclass
class Report:
    ticket_id: str
    language: str
    as_of: datetime
    facts: list[tuple[str, str]]
    clocks: dict[str, ClockPicture]
    history: list[dict[str, Any]]
    received_at: datetime
    first_at: datetime
    last_at: datetime
    day_hours: float
    calendar: Any

    @property
    def title(self) -> str:
        return gettext("Ticket %(id)s", self.language) % {"id": self.ticket_id}


# -- the history in words ---------------------------------------------------------------

def _actor(actor: Any, language: str) -> str:
    if not isinstance(actor, dict):
        return ""
    kind = actor.get("kind", "")
    if kind == "system":
        return gettext("the desk", language)
    if kind == "requester":
        return gettext("the requester", language)
    return str(actor.get("id") or kind)


def _sentence(kind: str, data: dict[str, Any], language: str) -> str:
    def g(message: str) -> str:
        return gettext(message, language)

    def n(table: str, code: Any) -> str:
        return name(table, code, language)

    if kind == "Received":
        text = g("Received by %(channel)s: “%(subject)s”") % {
            "channel": n("channel", data.get("channel")), "subject": data.get("subject", "")}
        if data.get("missing"):
            text += "; " + g("missing: %(items)s") % {
                "items": ", ".join(n("missing", m) for m in data["missing"])}
        return text
    if kind in ("Classified", "Reclassified"):
        message = g("Classified: %(level)s, %(product)s, %(category)s") if kind == "Classified" \
            else g("Reclassified from %(from_level)s: %(level)s, %(product)s, %(category)s")
        return message % {"level": n("level", data.get("level")),
                          "from_level": n("level", data.get("from_level")),
                          "product": n("product", data.get("product")),
                          "category": n("category", data.get("category"))}
    if kind == "Assigned":
        return g("Assigned to %(assignee)s") % {"assignee": data.get("assignee", "")}
    if kind == "EmergencyConfirmed":
        return g("Emergency confirmed")
    if kind == "Acknowledged":
        return g("Registration notice delivered")
    if kind == "Responded":
        return g("Support replied")
    if kind == "InformationRequested":
        text = g("Information requested from the requester")
        if data.get("items"):
            text += ": " + ", ".join(n("missing", m) for m in data["items"])
        return text
    if kind == "RequesterReplied":
        return g("The requester replied")
    if kind == "Escalated":
        return g("Escalated to development")
    if kind == "FixReleased":
        return g("A fix was released")
    if kind == "Postponed":
        return g("Postponed: %(reason)s") % {"reason": n("postpone_reason", data.get("reason"))}
    if kind == "Resumed":
        return g("Resumed")
    if kind == "Resolved":
        return g("Resolved")
    if kind == "Reopened":
        return g("Reopened")
    if kind == "Closed":
        return g("Closed")
    if kind == "DeliveryFailed":
        return g("A letter to %(recipient)s was not delivered") % {"recipient": data.get("recipient", "")}
    if kind == "AttachmentsAdded":
        return g("Attachments added")
    if kind == "NoticeNotSent":
        return g("No registration notice could be sent: %(reason)s") % {"reason": data.get("reason", "")}
    if kind == "ContactAdded":
        return g("Contact added: %(email)s") % {"email": data.get("email", "")}
    if kind == "ThirdPartyMessageReceived":
        return g("A letter from a third party arrived: %(sender)s") % {"sender": data.get("sender", "")}
    if kind == "ThirdPartyMessageAccepted":
        return g("A third party's letter was accepted into the ticket")
    if kind == "SlaAtRisk":
        return g("The %(clock)s clock went at risk") % {"clock": n("clock", data.get("clock"))}
    if kind == "SlaBreached":
        return g("The %(clock)s clock breached") % {"clock": n("clock", data.get("clock"))}
    return kind


def _note(kind: str, data: dict[str, Any], actor: Any, language: str) -> str:
    """What an event means for the regulation, where its fields alone do not say it."""
    def g(message: str) -> str:
        return gettext(message, language)

    if kind == "InformationRequested" and isinstance(actor, dict) and actor.get("kind") == "system":
        return g("the system asked the requester for the missing details (R16): %(items)s") % {
            "items": ", ".join(name("missing", m, language) for m in data.get("items") or [])}
    if kind == "RequesterReplied" and data.get("entered_by"):
        return g("the requester's message, typed in by %(who)s") % {"who": data["entered_by"]}
    if kind == "NoticeNotSent":
        return g("no registration notice could be sent (R18): %(reason)s") % {"reason": data.get("reason", "")}
    if kind == "ContactAdded":
        return g("%(email)s is a contact now: their letters thread as the requester's (R19)") % {
            "email": data.get("email", "")}
    if kind == "ThirdPartyMessageReceived":
        return g("a letter from %(sender)s, not a contact of the ticket: kept for staff to review; "
                 "no status or clock changed (R19)") % {"sender": data.get("sender", "")}
    if kind == "ThirdPartyMessageAccepted":
        return g("staff accepted letter %(id)s as the requester's message (R19): it counts from now on") % {
            "id": data.get("message_id", "")}
    return ""


_PAUSE_OF_EVENT = {"InformationRequested": "waiting_for_requester", "Received": "waiting_for_requester",
                   "Escalated": "waiting_for_release", "Postponed": "postponed", "Resolved": "resolved"}


def _explain(clock: str, before: dict[str, Any] | None, after: dict[str, Any], event: str,
             report_lang: str, calendar: WorkingTime, day_hours: float) -> list[str]:
    def g(message: str) -> str:
        return gettext(message, report_lang)

    def ts(iso: str) -> str:
        return when(iso, report_lang)

    label = name("clock", clock, report_lang)
    lines: list[str] = []
    if before is None or before["started_at"] != after["started_at"]:
        lines.append(g("%(clock)s clock started at %(start)s, due %(due)s (at risk from %(risk)s)")
                     % {"clock": label, "start": ts(after["started_at"]), "due": ts(after["due_at"]),
                        "risk": ts(after["at_risk_at"])})
        if before is not None and event in ("RequesterReplied", "ThirdPartyMessageAccepted"):
            lines.append(g("%(clock)s clock runs whatever the ticket's status: the requester wrote (R10)")
                         % {"clock": label})
        if after.get("paused_since"):
            lines.append(g("%(clock)s clock paused at %(at)s (%(why)s)") % {
                "clock": label, "at": ts(after["paused_since"]),
                "why": name("pause", _PAUSE_OF_EVENT.get(event, "postponed"), report_lang)})
        return lines
    if after.get("stopped_at") and not before.get("stopped_at"):
        verdict = "met" if after["stopped_at"] <= after["due_at"] else "breached"
        lines.append(g("%(clock)s clock stopped at %(at)s: %(verdict)s (due %(due)s)") % {
            "clock": label, "at": ts(after["stopped_at"]),
            "verdict": name("clock_status", verdict, report_lang), "due": ts(after["due_at"])})
    if after.get("paused_since") and not before.get("paused_since"):
        lines.append(g("%(clock)s clock paused at %(at)s (%(why)s)") % {
            "clock": label, "at": ts(after["paused_since"]),
            "why": name("pause", _PAUSE_OF_EVENT.get(event, "postponed"), report_lang)})
    if before.get("paused_since") and not after.get("paused_since"):
        lasted = float(after.get("paused_seconds", 0)) - float(before.get("paused_seconds", 0))
        lines.append(g("%(clock)s clock resumed after %(span)s of working time paused") % {
            "clock": label, "span": working_span(timedelta(seconds=lasted), report_lang, day_hours)})
    if before["due_at"] != after["due_at"]:
        moved = calendar.working_time_between(datetime.fromisoformat(before["due_at"]),
                                              datetime.fromisoformat(after["due_at"]))
        lines.append(g("%(clock)s due moved from %(old)s to %(new)s (%(span)s of working time)") % {
            "clock": label, "old": ts(before["due_at"]), "new": ts(after["due_at"]),
            "span": ("+" if moved.total_seconds() >= 0 else "") + working_span(moved, report_lang, day_hours)})
    return lines


# -- the model ----------------------------------------------------------------------------

def last_event_at(desk: SupportDesk, ticket_id: str) -> datetime:
    """When the ticket's latest event happened: a reproducible 'as of' for exports."""
    moments = [at for e in desk.ticket_events(ticket_id) if isinstance(at := getattr(e, "at", None), datetime)]
    return max(moments)


def build(desk: SupportDesk, ticket_id: str, as_of: datetime | None = None,
          language: str = "ru") -> Report:
    """Everything the page and the export show, from the events recorded by ``as_of``."""
    all_events = desk.ticket_events(ticket_id)
    now = (as_of or desk.clock.now()).astimezone(MOSCOW)
    events, ticket = desk.ticket_as_of(ticket_id, now)
    if ticket is None:  # not yet received at that instant: show it as received
        events, ticket = all_events[:1], desk.ticket_as_of(ticket_id)[1]
        assert ticket is not None
        now = ticket.received_at
    calendar = desk.calendar
    opens, closes = getattr(calendar, "opens", None), getattr(calendar, "closes", None)
    day_hours = ((closes.hour * 60 + closes.minute - opens.hour * 60 - opens.minute) / 60
                 if opens and closes else 9.0)
    lang = language
    state = evaluate(ticket.schedule, now, calendar)
    facts = [
        (gettext("Subject", lang), ticket.subject),
        (gettext("Status", lang), name("status", ticket.status, lang)),
        (gettext("Level", lang), name("level", ticket.level, lang)
         + (" · " + gettext("emergency confirmed", lang) if ticket.emergency_confirmed else "")),
        (gettext("Product", lang), name("product", ticket.product, lang)),
        (gettext("Category", lang), name("category", ticket.category, lang) if ticket.category else "—"),
        (gettext("Channel", lang), name("channel", ticket.channel, lang)),
        (gettext("Requester", lang), ", ".join(v for v in (ticket.requester.name, ticket.requester.email,
                                                           ticket.requester.phone) if v)),
        (gettext("Assignee", lang), ticket.assignee or gettext("unassigned", lang)),
        (gettext("Received", lang), when(ticket.received_at, lang)),
    ]
    if getattr(ticket, "call_requester", False):
        facts.append((gettext("Call the requester", lang),
                      gettext("details are missing and there is no email address: call them", lang)))
    if ticket.missing:
        facts.append((gettext("Missing details", lang),
                      ", ".join(name("missing", m, lang) for m in ticket.missing)))
    for clock_state in (state.reaction, state.resolution):
        text = name("clock_status", clock_state.status, lang)
        if clock_state.status.value in ("met",):
            stopped = ticket.schedule.clock(clock_state.name).stopped_at
            text += " " + gettext("at %(at)s", lang) % {"at": when(stopped, lang)}
        elif clock_state.status.value == "breached":
            text += ", " + gettext("overdue %(span)s", lang) % {
                "span": working_span(-clock_state.remaining, lang, day_hours)}
        else:
            text += ", " + gettext("%(span)s of working time left", lang) % {
                "span": working_span(clock_state.remaining, lang, day_hours)}
        text += "; " + gettext("due %(at)s", lang) % {"at": when(clock_state.due_at, lang)}
        facts.append((gettext("%(clock)s clock", lang) % {
            "clock": name("clock", clock_state.name, lang).capitalize()}, text))

    history: list[dict[str, Any]] = []
    clocks = {c: ClockPicture(c) for c in ("reaction", "resolution")}
    previous: dict[str, Any] | None = None
    for event in events:
        fields = vars(event)
        kind = type(event).__qualname__.rsplit(".", 1)[-1]
        at: Any = fields.get("at")
        data = {k: plain(v) for k, v in fields.items() if k not in _SKIP}
        entry: dict[str, Any] = {"version": event.originator_version, "type": kind, "at": at,
                 "when": when(at, lang), "actor": _actor(plain(fields.get("actor")), lang),
                 "text": _sentence(kind, data, lang), "sla": [], "data": data,
                 "note": _note(kind, data, plain(fields.get("actor")), lang)}
        sla = fields.get("sla")
        if isinstance(sla, dict):
            if previous is None or previous.get("level") != sla.get("level"):
                entry["sla"].append(gettext("SLA level %(level)s (policy %(policy)s, calendar %(calendar)s)",
                                            lang) % {"level": name("level", sla.get("level"), lang),
                                                     "policy": sla.get("policy_version"),
                                                     "calendar": sla.get("calendar_version")})
            for clock in ("reaction", "resolution"):
                before = previous[clock] if previous else None
                entry["sla"].extend(_explain(clock, before, sla[clock], kind, lang, calendar, day_hours))
                due = datetime.fromisoformat(sla[clock]["due_at"])
                dues = clocks[clock].dues
                if not dues or dues[-1][1] != due:
                    dues.append((at, due, _sentence(kind, data, lang)))
            previous = sla
        if kind in ("SlaAtRisk", "SlaBreached"):
            clock = str(data.get("clock"))
            if clock in clocks:
                clocks[clock].alerts.append(Marker(at, "breached" if kind == "SlaBreached" else "at_risk",
                                                   str(entry["text"]), clock))
        history.append(entry)

    # Running and paused spans of each clock, from the recorded schedules and the pauses.
    reaction_cycles: dict[str, datetime | None] = {}
    for event in events:
        sla = vars(event).get("sla")
        if isinstance(sla, dict):
            started = sla["reaction"]["started_at"]
            stopped = sla["reaction"].get("stopped_at")
            reaction_cycles[started] = datetime.fromisoformat(stopped) if stopped else None
    pauses = [(p.start, p.end or now, p.kind.value) for p in ticket.history.pauses]
    spans = {"reaction": [(datetime.fromisoformat(s), e or now) for s, e in reaction_cycles.items()],
             "resolution": [(ticket.received_at, ticket.history.resolved_at or now)]}
    for clock, cycles in spans.items():
        picture = clocks[clock]
        schedule = ticket.schedule.clock(ClockName(clock))
        picture.due_at, picture.at_risk_at, picture.stopped_at = schedule.due_at, schedule.at_risk_at, schedule.stopped_at
        picture.status = (state.reaction if clock == "reaction" else state.resolution).status.value
        for start, end in cycles:
            cursor = start
            for p_start, p_end, kind in pauses:
                # A pause that began at the very end (as of its start) still shows, thin.
                if p_end <= start or p_start > end or (p_start == end and p_end != end):
                    continue
                a, b = max(p_start, start), min(p_end, end)
                if a > cursor:
                    picture.running.append((cursor, a))
                if kind != "resolved":
                    picture.paused.append((a, b, kind))
                cursor = max(cursor, b)
            if cursor < end:
                picture.running.append((cursor, end))

    moments = [ticket.received_at, now] + [due for c in clocks.values() for _, due, _ in c.dues]
    return Report(ticket.ticket_id, lang, now, facts, clocks, history, ticket.received_at,
                  min(moments), max(moments), day_hours, calendar)


# -- the picture ---------------------------------------------------------------------------

_PAUSE_FILL = {"waiting_for_requester": "#fde3a7", "waiting_for_release": "#d7c8ef", "postponed": "#dcdcdc"}


def timeline_svg(report: Report) -> str:
    """Both clocks along working time (nights, weekends and holidays take no width)."""
    lang, cal = report.language, report.calendar
    width, left, right, top = 960, 118, 24, 34
    row_h, gap = 46, 26
    height = top + 2 * row_h + gap + 100
    origin = report.first_at
    end_total: float = max(float(cal.working_time_between(origin, report.last_at).total_seconds()), 3600.0) * 1.04
    plot_w = width - left - right

    def x(moment: datetime) -> float:
        seconds = cal.working_time_between(origin, moment).total_seconds() if moment > origin else 0.0
        return round(left + plot_w * min(seconds, end_total) / end_total, 1)

    out: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{escape(gettext("SLA clocks along working time", lang))}" '
        f'font-family="system-ui, sans-serif" font-size="11">']
    # Working-day ticks.
    day = origin.astimezone(MOSCOW).date()
    last_day = report.last_at.astimezone(MOSCOW).date()
    days: list[Any] = []
    while day <= last_day and len(days) < 400:
        if cal.is_working_day(day):
            days.append(day)
        day += timedelta(days=1)
    every = max(1, len(days) // 12)
    axis_y = top + 2 * row_h + gap + 22
    for index, d in enumerate(days):
        opens = datetime.combine(d, cal.opens, tzinfo=MOSCOW)
        px = x(max(opens, origin))
        out.append(f'<line x1="{px}" x2="{px}" y1="{top - 6}" y2="{axis_y}" stroke="#e4e4e4"/>')
        if index % every == 0:
            out.append(f'<text x="{px + 2}" y="{axis_y + 14}" fill="#555">{d.strftime("%d.%m")}</text>')
    out.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{axis_y}" y2="{axis_y}" stroke="#999"/>')
    out.append(f'<text x="{left}" y="{axis_y + 30}" fill="#777">'
               f'{escape(gettext("working days (%(opens)s–%(closes)s MSK); nights, weekends and holidays take no width", lang) % {"opens": cal.opens.strftime("%H:%M"), "closes": cal.closes.strftime("%H:%M")})}'
               f'</text>')
    for row, clock in enumerate(("reaction", "resolution")):
        picture = report.clocks[clock]
        y = top + row * (row_h + gap)
        mid = y + row_h / 2
        out.append(f'<g class="clock-row" data-clock="{clock}" data-status="{picture.status}">')
        out.append(f'<text x="8" y="{mid + 4}" font-weight="600" fill="#222">'
                   f'{escape(name("clock", clock, lang).capitalize())}</text>')
        out.append(f'<rect x="{left}" y="{y + 14}" width="{plot_w}" height="{row_h - 28}" fill="#f6f6f6"/>')
        for start, end in picture.running:
            x1, x2 = x(start), x(end)
            out.append(f'<rect class="running" x="{x1}" y="{y + 14}" width="{max(x2 - x1, 1.5)}" '
                       f'height="{row_h - 28}" fill="#5b8def"><title>{escape(gettext("running", lang))}: '
                       f'{escape(when(start, lang))} – {escape(when(end, lang))}</title></rect>')
        for start, end, kind in picture.paused:
            x1, x2 = x(start), x(end)
            reason = name("pause", kind, lang)
            out.append(f'<rect class="paused" data-reason="{kind}" x="{x1}" y="{y + 6}" '
                       f'width="{max(x2 - x1, 2)}" height="{row_h - 12}" fill="{_PAUSE_FILL.get(kind, "#ddd")}" '
                       f'stroke="#b08a2e" stroke-dasharray="3 2"><title>{escape(gettext("paused", lang))} '
                       f'({escape(reason)}): {escape(when(start, lang))} – {escape(when(end, lang))}</title></rect>')
            if x2 - x1 > 60:
                out.append(f'<text x="{x1 + 3}" y="{y + 17}" font-size="10" fill="#6b5314">{escape(reason)}</text>')
        # Due instants: earlier ones faded, the one in force bold; moves are arrows.
        for index, (decided, due, why) in enumerate(picture.dues):
            current = index == len(picture.dues) - 1
            px = x(due)
            colour = "#c62828" if current else "#c9a0a0"
            label = gettext("due", lang) if current else gettext("earlier due", lang)
            dashes = "" if current else 'stroke-dasharray="4 3"'
            out.append(f'<line class="{"due" if current else "due-moved"}" x1="{px}" x2="{px}" y1="{y}" '
                       f'y2="{y + row_h}" stroke="{colour}" stroke-width="{2.5 if current else 1.5}" '
                       f'{dashes}><title>{escape(label)}: '
                       f'{escape(when(due, lang))} — {escape(why)}</title></line>')
            if index:
                old = x(picture.dues[index - 1][1])
                if abs(px - old) > 4:
                    out.append(f'<path class="moved" d="M{old} {y + row_h - 3} L{px} {y + row_h - 3}" '
                               f'stroke="#c9a0a0" fill="none" marker-end="url(#arrow)"/>')
        if picture.due_at is not None:
            px = x(picture.due_at)
            anchor = 'text-anchor="end" ' if px > width - 180 else ""
            out.append(f'<text {anchor}x="{px - 3 if anchor else px + 3}" y="{y + row_h + 11}" fill="#c62828">'
                       f'{escape(gettext("due", lang))} {escape(when(picture.due_at, lang))}</text>')
        if picture.at_risk_at is not None and picture.at_risk_at < (picture.due_at or picture.at_risk_at) :
            px = x(picture.at_risk_at)
            out.append(f'<line class="at-risk-point" x1="{px}" x2="{px}" y1="{y + 8}" y2="{y + row_h - 8}" '
                       f'stroke="#b26a00" stroke-width="1.5"><title>{escape(gettext("at risk from", lang))} '
                       f'{escape(when(picture.at_risk_at, lang))}</title></line>')
        for alert in picture.alerts:
            px = x(alert.at)
            colour = "#c62828" if alert.kind == "breached" else "#b26a00"
            out.append(f'<path class="alert {alert.kind}" d="M{px - 6} {y + 2} L{px + 6} {y + 2} L{px} {y + 12} Z" '
                       f'fill="{colour}"><title>{escape(alert.label)} — {escape(when(alert.at, lang))}</title></path>')
        if picture.stopped_at is not None:
            px = x(picture.stopped_at)
            out.append(f'<circle class="stopped" cx="{px}" cy="{mid}" r="5" fill="#fff" stroke="#2e7d32" '
                       f'stroke-width="2"><title>{escape(gettext("stopped", lang))} '
                       f'{escape(when(picture.stopped_at, lang))}</title></circle>')
        out.append("</g>")
    # Every event a marker on the axis.
    for entry in report.history:
        at = entry["at"]
        if not isinstance(at, datetime):
            continue
        px = x(at)
        out.append(f'<circle class="event" data-type="{entry["type"]}" cx="{px}" cy="{axis_y}" r="4" '
                   f'fill="#333"><title>#{entry["version"]} {escape(entry["when"])} — '
                   f'{escape(entry["text"])}</title></circle>')
    px = x(report.as_of)
    out.append(f'<line class="as-of" x1="{px}" x2="{px}" y1="{top - 14}" y2="{axis_y + 4}" '
               f'stroke="#111" stroke-width="1.5" stroke-dasharray="2 2"/>')
    out.append(f'<text x="{min(px + 3, width - 150)}" y="{top - 18}" fill="#111">'
               f'{escape(gettext("as of", lang))} {escape(when(report.as_of, lang))}</text>')
    out.append('<defs><marker id="arrow" viewBox="0 0 8 8" refX="7" refY="4" markerWidth="6" '
               'markerHeight="6" orient="auto"><path d="M0 0 L8 4 L0 8 Z" fill="#c9a0a0"/></marker></defs>')
    out.append("</svg>")
    return "".join(out)


# -- HTML ----------------------------------------------------------------------------------

_environment = Environment(loader=PackageLoader("services", "templates"),
                           autoescape=select_autoescape(["html", "j2"]), undefined=StrictUndefined)
_environment.filters["moscow"] = lambda moment, language: when(moment, language)


def fragment(report: Report) -> str:
    """The page's content (no scripts, no styles: the page's own CSS applies)."""
    template = _environment.get_template("ticket.html.j2")
    lang = report.language
    return template.render(report=report, svg=timeline_svg(report), _=lambda m: gettext(m, lang),
                           legend=_legend(report), pause_names={k: name("pause", k, lang) for k in _PAUSE_FILL})


def document(report: Report) -> str:
    """One self-contained HTML file (styles inline, no scripts, nothing fetched)."""
    style = files("services.api").joinpath("static", "ticket.css").read_text(encoding="utf-8")
    lang = report.language
    return (f'<!doctype html>\n<html lang="{lang}">\n<head>\n<meta charset="utf-8">\n'
            f'<title>{escape(report.title)}</title>\n<style>\n{style}</style>\n</head>\n'
            f'<body class="export">\n{fragment(report)}\n<footer class="muted">'
            f'{escape(gettext("Exported from pass24-desk; history as recorded, times in Moscow time.", lang))}'
            f'</footer>\n</body>\n</html>\n')


def _legend(report: Report) -> list[tuple[str, str]]:
    lang = report.language
    return [("running", gettext("clock running", lang)),
            ("paused", gettext("clock paused (the reason is written on it)", lang)),
            ("due", gettext("due instant in force", lang)),
            ("due-moved", gettext("earlier due instant, moved by a pause or reclassification", lang)),
            ("at-risk", gettext("at-risk point", lang)),
            ("alert", gettext("alert recorded (amber: at risk, red: breached)", lang)),
            ("event", gettext("event", lang))]


_INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?([+-]\d{2}:\d{2}|Z)$")


def _moscow_instants(value: Any, language: str) -> Any:
    """Instants inside event data shown like every other time: Moscow, to the minute."""
    if isinstance(value, str) and _INSTANT.match(value):
        return when(value.replace("Z", "+00:00"), language)
    if isinstance(value, list):
        return [_moscow_instants(v, language) for v in value]
    if isinstance(value, dict):
        return {k: _moscow_instants(v, language) for k, v in value.items()}
    return value


def text(report: Report) -> str:
    """The plain-text export: every event, every SLA clock change explained."""
    lang = report.language
    lines = [f"{report.title}  ({gettext('%(n)d events', lang) % {'n': len(report.history)}})",
             gettext("as of %(at)s", lang) % {"at": when(report.as_of, lang)}, ""]
    lines += [f"{label}: {value}" for label, value in report.facts]
    for entry in report.history:
        lines.append("")
        lines.append(f"#{entry['version']} {entry['when']}  {entry['text']}  "
                     f"({gettext('by %(actor)s', lang) % {'actor': entry['actor']}})")
        for key in sorted(entry["data"]):
            value = entry["data"][key]
            if value in ("", None, [], {}):
                continue
            shown = json.dumps(_moscow_instants(value, lang), ensure_ascii=False, default=str)
            lines.append(f"    {key}: {shown if len(shown) <= 200 else shown[:197] + '...'}")
        if entry["note"]:
            lines.append(f"  = {entry['note']}")
        lines += [f"  -> {line}" for line in entry["sla"]]
    return "\n".join(lines) + "\n"
