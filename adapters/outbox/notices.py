"""The letters the desk writes, rendered from Jinja2 templates.

Templates ship in ``adapters/outbox/templates/<language>/<name>.txt.j2``; an
operator directory (``PASS24_TEMPLATES_DIR``, same layout) overrides any of
them. Each template has a ``subject`` and a ``body`` block. The SLA sentences
they print come from the policy and the calendar (``sla_terms``), human names
from the message catalogue (``adapters.i18n``).

Every letter to a requester carries the ticket ID in the subject (R19) and a
Message-ID that contains it, so a reply threads by subject or by
In-Reply-To/References.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PackageLoader, StrictUndefined

from adapters.i18n import DEFAULT, gettext, language_or_default, name
from adapters.outbox import sla_terms
from adapters.outbox.store import OutboundMail
from domain.calendar import WorkingCalendar
from domain.sla import SlaPolicy
from domain.ticket import Ticket
from domain.values import RequiredInfo

TEMPLATES = ("registration", "missing_details", "response", "delivery_failure", "staff_alert")
MOSCOW = ZoneInfo("Europe/Moscow")


@dataclass(frozen=True)
class NoticeSettings:
    from_address: str = "support@pass24online.ru"
    from_name: str = "Техподдержка PASS24.online"
    message_id_domain: str = "pass24online.ru"
    phone: str = "+7 (495) 324-24-42"
    chatbot_url: str = "https://t.me/pass24online_bot"
    language: str = DEFAULT
    templates_dir: Path | None = None
    """An operator's directory whose ``<language>/<name>.txt.j2`` files replace ours."""
    public_url: str = ""
    """The desk's address as staff open it (links in staff alerts); empty: no link."""


def ack_message_id(ticket_id: str, domain: str) -> str:
    return f"<{ticket_id}.ack@{domain}>"


def response_message_id(ticket_id: str, version: int, domain: str) -> str:
    return f"<{ticket_id}.r{version}@{domain}>"


def moscow(moment: datetime) -> str:
    return moment.astimezone(MOSCOW).strftime("%d.%m.%Y %H:%M")


@dataclass(frozen=True)
class Letter:
    subject: str
    body: str


class Notices:
    """Composes the desk's letters as bytes ready for the outbox."""

    def __init__(self, settings: NoticeSettings, policy: SlaPolicy,
                 calendar: Any | None = None) -> None:
        self.settings = settings
        self.policy = policy
        self.calendar = calendar if calendar is not None else WorkingCalendar.default()
        loaders: list[Any] = []
        if settings.templates_dir is not None:
            loaders.append(FileSystemLoader(str(settings.templates_dir)))
        loaders.append(PackageLoader("adapters.outbox", "templates"))
        self.environment = Environment(loader=ChoiceLoader(loaders), autoescape=False,
                                       undefined=StrictUndefined, keep_trailing_newline=True)

    # -- rendering ---------------------------------------------------------------------

    def render(self, template: str, ticket: Ticket, *, language: str | None = None,
               **extra: Any) -> Letter:
        """One letter as text: ``template`` is one of ``TEMPLATES``."""
        if template not in TEMPLATES:
            raise ValueError(f"no template {template!r} (one of {', '.join(TEMPLATES)})")
        lang = language_or_default(language, self.settings.language)
        source = self.environment.get_template(f"{lang}/{template}.txt.j2")
        context = self._context(ticket, lang) | extra
        blocks = source.blocks
        subject = "".join(blocks["subject"](source.new_context(context))).strip()
        body = "".join(blocks["body"](source.new_context(context)))
        return Letter(" ".join(subject.split()), _tidy(body))

    def _context(self, ticket: Ticket, lang: str) -> dict[str, Any]:
        terms = sla_terms.terms(self.policy, self.calendar, lang)
        level_terms = next((row for row in terms if ticket.level and row["level"] == ticket.level.value),
                           None)
        view = {
            "id": ticket.ticket_id, "subject": ticket.subject, "description": ticket.description,
            "requester": ticket.requester.as_dict(), "assignee": ticket.assignee,
            "level": ticket.level.value if ticket.level else None,
            "level_name": name("level", ticket.level, lang),
            "product_name": name("product", ticket.product, lang),
            "status_name": name("status", ticket.status, lang),
            "category_name": name("category", ticket.category, lang) if ticket.category else "",
            "received_at": moscow(ticket.received_at),
        }
        return {
            "ticket": view, "sla": terms, "level_terms": level_terms,
            "working_hours": sla_terms.working_hours_sentence(self.calendar, lang),
            "missing": [name("missing", item, lang) for item in ticket.missing],
            "sender": {"name": self.settings.from_name, "address": self.settings.from_address,
                       "phone": self.settings.phone, "chatbot_url": self.settings.chatbot_url},
            "language": lang, "_": lambda message: gettext(message, lang),
            "text": "", "links": [],
        }

    # -- letters to the requester ------------------------------------------------------

    def acknowledgement(self, ticket: Ticket, *, now: datetime) -> OutboundMail | None:
        """R18: the registration notice; asks for missing R16 details. None without email."""
        recipient = ticket.requester.email
        if not recipient:
            return None
        message_id = ack_message_id(ticket.ticket_id, self.settings.message_id_domain)
        letter = self.render("registration", ticket)
        references = [ticket.intake_key] if ticket.intake_key.startswith("<") else []
        message = self._message(recipient=recipient, letter=letter, message_id=message_id,
                                references=references, now=now, automatic="auto-replied")
        return OutboundMail(key=f"ack:{ticket.ticket_id}", kind="acknowledgement",
                            ticket_id=ticket.ticket_id, recipient=recipient,
                            message_id=message_id, message=message)

    def response(
        self,
        ticket: Ticket,
        *,
        version: int,
        text: str,
        links: Sequence[str],
        thread: Sequence[str],
        now: datetime,
    ) -> OutboundMail | None:
        """A staff answer, threaded under the requester's letters and our earlier ones."""
        return self._answer("response", ticket, version=version, text=text, links=links,
                            thread=thread, now=now)

    def information_request(
        self,
        ticket: Ticket,
        *,
        version: int,
        text: str,
        items: Sequence[str | RequiredInfo],
        thread: Sequence[str],
        now: datetime,
    ) -> OutboundMail | None:
        """The missing-details request (``InformationRequested``), listing what is missing."""
        lang = self.settings.language
        missing = [name("missing", item, lang) for item in items]
        return self._answer("missing_details", ticket, version=version, text=text, links=(),
                            thread=thread, now=now, missing=missing)

    def _answer(self, template: str, ticket: Ticket, *, version: int, text: str,
                links: Sequence[str], thread: Sequence[str], now: datetime,
                **extra: Any) -> OutboundMail | None:
        recipient = ticket.requester.email
        if not recipient:
            return None
        message_id = response_message_id(ticket.ticket_id, version, self.settings.message_id_domain)
        letter = self.render(template, ticket, text=text.strip(), links=list(links), **extra)
        message = self._message(recipient=recipient, letter=letter, message_id=message_id,
                                references=list(thread), now=now)
        # The domain knows two requester notices (R21): a missing-details request is a response.
        return OutboundMail(key=f"response:{ticket.ticket_id}:{version}", kind="response",
                            ticket_id=ticket.ticket_id, recipient=recipient,
                            message_id=message_id, message=message)

    # -- letters to staff --------------------------------------------------------------

    def delivery_failure(self, ticket: Ticket, *, version: int, failure: dict[str, Any],
                         recipients: Sequence[str], now: datetime) -> list[OutboundMail]:
        """R21 fallback: tell staff a notice did not arrive and how to reach the requester."""
        lang = self.settings.language
        fallback = [name("channel", channel, lang) for channel in failure.get("fallback", [])]
        letter = self.render("delivery_failure", ticket, failure=failure, fallback=fallback)
        return self._to_staff("delivery_fallback", f"fallback:{ticket.ticket_id}:{version}",
                              ticket, letter, recipients, now)

    def staff_alert(self, ticket: Ticket, *, version: int, clock: str, breached: bool,
                    due_at: datetime, at: datetime, recipients: Sequence[str]) -> list[OutboundMail]:
        """An SLA clock went at risk or breached: one letter per recipient."""
        lang = self.settings.language
        alert = {"clock": clock, "clock_name": name("clock", clock, lang), "breached": breached,
                 "due_at": moscow(due_at), "at": moscow(at)}
        url = f"{self.settings.public_url.rstrip('/')}/ui/tickets/{ticket.ticket_id}" \
            if self.settings.public_url else ""
        letter = self.render("staff_alert", ticket, alert=alert, ticket_url=url)
        return self._to_staff("staff_alert", f"alert:{ticket.ticket_id}:{version}", ticket,
                              letter, recipients, at)

    def _to_staff(self, kind: str, key: str, ticket: Ticket, letter: Letter,
                  recipients: Sequence[str], now: datetime) -> list[OutboundMail]:
        mails = []
        for recipient in dict.fromkeys(r.strip() for r in recipients if r.strip()):
            message_id = f"<{key.replace(':', '.')}.{_local(recipient)}@{self.settings.message_id_domain}>"
            message = self._message(recipient=recipient, letter=letter, message_id=message_id,
                                    references=[], now=now, automatic="auto-generated")
            mails.append(OutboundMail(key=f"{key}:{recipient}", kind=kind,
                                      ticket_id=ticket.ticket_id, recipient=recipient,
                                      message_id=message_id, message=message))
        return mails

    def _message(self, *, recipient: str, letter: Letter, message_id: str,
                 references: list[str], now: datetime, automatic: str = "") -> bytes:
        message = EmailMessage(policy=SMTP)
        message["From"] = formataddr((self.settings.from_name, self.settings.from_address))
        message["To"] = recipient
        message["Subject"] = letter.subject[:300]
        message["Message-ID"] = message_id
        message["Date"] = format_datetime(now)
        if automatic:
            # RFC 3834: other robots must not answer an automatic letter.
            message["Auto-Submitted"] = automatic
        if references:
            message["In-Reply-To"] = references[-1]
            message["References"] = " ".join(references[-20:])
        message.set_content(letter.body, charset="utf-8")
        return message.as_bytes()


def _local(address: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in address.split("@", 1)[0])[:40] or "staff"


def _tidy(body: str) -> str:
    """At most one blank line in a row (templates' conditional blocks leave more)."""
    lines: list[str] = []
    for line in body.strip("\n").split("\n"):
        line = line.rstrip()
        if not line and lines and not lines[-1]:
            continue
        lines.append(line)
    return "\n".join(lines) + "\n"
