"""Staff answers go out by mail: follows the event log and queues each answer once.

The follower's position is stored in the outbox's database in the same
transaction as the queued letters, so a restart neither skips nor repeats one
(see ``adapters.outbox.mailer``, which also sets poison aside).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from adapters.outbox.mailer import LogMailer
from adapters.outbox.notices import Notices, ack_message_id, response_message_id
from adapters.outbox.store import OutboundMail, Outbox
from domain.values import Channel
from projections.follower import Delivered
from projections.parking import PoisonGuard
from services.application import SupportDesk

log = logging.getLogger(__name__)
FOLLOWER = "response-mailer"
_ANSWERS = ("Ticket.Responded", "Ticket.InformationRequested")


class ResponseMailer(LogMailer):
    name = FOLLOWER

    def __init__(self, desk: SupportDesk, outbox: Outbox, notices: Notices, *,
                 now: Callable[[], float] = time.time, guard: PoisonGuard | None = None) -> None:
        super().__init__(desk, outbox, now=now, guard=guard)
        self.notices = notices

    def wants(self, delivered: Delivered) -> bool:
        return type(delivered.event).__qualname__ in _ANSWERS

    def mail_for(self, delivered: Delivered) -> OutboundMail | None:
        return self._mail_for(delivered.event)

    def _mail_for(self, event: Any) -> OutboundMail | None:
        ticket_id = _ticket_id_of(self.desk, event)
        ticket = self.desk.get_ticket(ticket_id, version=event.originator_version)
        text = getattr(event, "text", "")
        links = list(getattr(event, "links", []) or [])
        return self.notices.response(ticket, version=event.originator_version, text=text,
                                     links=links, thread=self._thread(ticket_id, event),
                                     now=event.at)

    def _thread(self, ticket_id: str, upto: Any) -> list[str]:
        """Message-IDs of the conversation so far, oldest first (for References)."""
        domain = self.notices.settings.message_id_domain
        thread: list[str] = []
        for event in self.desk.ticket_events(ticket_id):
            if event.originator_version >= upto.originator_version:
                break
            name = type(event).__qualname__
            if name == "Ticket.Received":
                key = getattr(event, "intake_key", "")
                if getattr(event, "channel", "") == Channel.EMAIL.value and key.startswith("<"):
                    thread.append(key)
            elif name == "Ticket.Acknowledged":
                thread.append(getattr(event, "message_id", "") or ack_message_id(ticket_id, domain))
            elif name == "Ticket.RequesterReplied":
                key = getattr(event, "message_id", "")
                if key.startswith("<"):
                    thread.append(key)
            elif name in _ANSWERS:
                thread.append(response_message_id(ticket_id, event.originator_version, domain))
        return [mid for mid in thread if mid.startswith("<")]


def _ticket_id_of(desk: SupportDesk, event: Any) -> str:
    ticket: Any = desk.repository.get(event.originator_id, version=1)
    return str(ticket.ticket_id)
