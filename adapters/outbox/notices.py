"""The letters the desk writes: the registration notice (R18) and staff responses.

Every letter carries the ticket ID in the subject (R19) and a Message-ID that
contains it, so a reply threads by subject or by In-Reply-To/References.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr
from datetime import datetime

from domain.sla import SlaPolicy
from domain.ticket import Ticket
from domain.values import Level, RequiredInfo
from adapters.outbox.store import OutboundMail

_LEVEL_NAMES = {
    Level.EMERGENCY: "Аварийный (высокий приоритет)",
    Level.STANDARD: "Стандартный",
    Level.CONSULTATION: "Консультация",
}
_MISSING_NAMES = {
    RequiredInfo.DESCRIPTION: "описание проблемы и шаги для её воспроизведения",
    RequiredInfo.PRODUCT_VERSION: "номер версии продукта",
    RequiredInfo.DEVICE: "модель телефона и версия ОС, на которых видна проблема",
}


@dataclass(frozen=True)
class NoticeSettings:
    from_address: str = "support@pass24online.ru"
    from_name: str = "Техподдержка PASS24.online"
    message_id_domain: str = "pass24online.ru"
    phone: str = "+7 (495) 324-24-42"
    chatbot_url: str = "https://t.me/pass24online_bot"


def ack_message_id(ticket_id: str, domain: str) -> str:
    return f"<{ticket_id}.ack@{domain}>"


def response_message_id(ticket_id: str, version: int, domain: str) -> str:
    return f"<{ticket_id}.r{version}@{domain}>"


class Notices:
    """Composes the desk's letters as bytes ready for the outbox."""

    def __init__(self, settings: NoticeSettings, policy: SlaPolicy) -> None:
        self.settings = settings
        self.policy = policy

    def acknowledgement(self, ticket: Ticket, *, now: datetime) -> OutboundMail | None:
        """R18: 'we have your request, its ID is …, this is what to expect'; None without email."""
        recipient = ticket.requester.email
        if not recipient:
            return None
        message_id = ack_message_id(ticket.ticket_id, self.settings.message_id_domain)
        lines = [
            f"Здравствуйте{', ' + ticket.requester.name if ticket.requester.name else ''}!",
            "",
            f"Ваше обращение зарегистрировано, номер заявки: {ticket.ticket_id}.",
            f"Тема: {ticket.subject}",
            "",
            "Пожалуйста, сохраняйте номер заявки в теме письма при ответе — "
            "так письма добавятся к заявке автоматически.",
            "",
            "Сроки по уровням обслуживания (рабочее время: пн–пт 9:00–18:00 МСК, "
            "кроме праздников):",
        ]
        for level in Level:
            terms = self.policy.terms[level]
            resolution = f"до {_hours(terms.target.total_seconds())} рабочих часов"
            if terms.deadline_days:
                resolution += f", не позднее {terms.deadline_days} рабочих дней"
            lines.append(f"  • {_LEVEL_NAMES[level]}: ответ в течение "
                         f"{_hours(terms.reaction.total_seconds())} раб. ч., решение {resolution}")
        if ticket.missing:
            lines += ["", "Чтобы мы могли начать работу, пришлите, пожалуйста:"]
            lines += [f"  • {_MISSING_NAMES[item]}" for item in ticket.missing]
        lines += ["", "--", self.settings.from_name, self.settings.phone]
        references = [ticket.intake_key] if ticket.intake_key.startswith("<") else []
        message = self._message(
            recipient=recipient, subject=f"[{ticket.ticket_id}] Заявка зарегистрирована: "
            f"{ticket.subject}", body="\n".join(lines), message_id=message_id,
            references=references, now=now, automatic=True,
        )
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
        recipient = ticket.requester.email
        if not recipient:
            return None
        message_id = response_message_id(ticket.ticket_id, version, self.settings.message_id_domain)
        body = text.strip()
        if links:
            body += "\n\n" + "\n".join(f"  {link}" for link in links)
        body += f"\n\n--\n{self.settings.from_name}\nЗаявка {ticket.ticket_id}"
        message = self._message(recipient=recipient, subject=f"Re: [{ticket.ticket_id}] "
                                f"{ticket.subject}", body=body, message_id=message_id,
                                references=list(thread), now=now)
        return OutboundMail(key=f"response:{ticket.ticket_id}:{version}", kind="response",
                            ticket_id=ticket.ticket_id, recipient=recipient,
                            message_id=message_id, message=message)

    def _message(self, *, recipient: str, subject: str, body: str, message_id: str,
                 references: list[str], now: datetime, automatic: bool = False) -> bytes:
        message = EmailMessage(policy=SMTP)
        message["From"] = formataddr((self.settings.from_name, self.settings.from_address))
        message["To"] = recipient
        message["Subject"] = subject[:300]
        message["Message-ID"] = message_id
        message["Date"] = format_datetime(now)
        if automatic:
            # RFC 3834: other robots must not answer the registration notice.
            message["Auto-Submitted"] = "auto-replied"
        if references:
            message["In-Reply-To"] = references[-1]
            message["References"] = " ".join(references[-20:])
        message.set_content(body, charset="utf-8")
        return message.as_bytes()


def _hours(seconds: float) -> str:
    hours = seconds / 3600
    return str(int(hours)) if hours == int(hours) else f"{hours:.1f}"
