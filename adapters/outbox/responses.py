"""Letters that follow the event log: the registration notice and staff answers, each once.

Every ``Received`` event, whatever the channel, queues the registration notice
(R18), or records on the ticket that none could be sent (no email address);
every staff answer queues a letter. The follower's position is stored in the
outbox's database in the same transaction as the queued letters, so a restart
neither skips nor repeats one (``adapters.outbox.mailer``, which also sets
poison aside: one event whose letter cannot be written stops only its ticket).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol, cast

from adapters.outbox.mailer import LogMailer
from adapters.outbox.notice_limit import NoticeLimit
from adapters.outbox.notices import Notices, ack_message_id, response_message_id
from adapters.outbox.store import WITHHELD, OutboundMail, Outbox
from domain.errors import RuleViolated
from domain.ticket import Ticket
from domain.values import Actor, Channel
from projections.follower import Delivered, NotificationFollower
from projections.parking import PoisonGuard

log = logging.getLogger(__name__)
FOLLOWER = "response-mailer"
_ANSWERS = ("Ticket.Responded", "Ticket.InformationRequested")
SYSTEM = Actor.system("outbox")
NO_ADDRESS = "the requester gave no email address: tell them the ticket ID by phone or chat"


class MailingDesk(Protocol):
    """What the mailer needs of the desk (handed in by the composition root)."""

    def get_ticket(self, ticket_id: str, *, version: int | None = None) -> Ticket: ...

    def ticket_events(self, ticket_id: str) -> Any: ...

    def record_notice_not_sent(self, ticket_id: str, *, reason: str, actor: Actor,
                               at: datetime | None = None) -> Any: ...


class ResponseMailer(LogMailer):
    name = FOLLOWER

    def __init__(self, desk: MailingDesk, outbox: Outbox, notices: Notices, *,
                 now: Callable[[], float] = time.time,
                 follower: NotificationFollower | None = None,
                 guard: PoisonGuard | None = None,
                 notice_limit: NoticeLimit | None = None) -> None:
        super().__init__(desk, outbox, now=now, guard=guard,
                         follower=follower or NotificationFollower(cast(Any, desk)))
        self.desk: MailingDesk = desk
        self.notices = notices
        self.notice_limit = notice_limit or NoticeLimit("")

    def wants(self, delivered: Delivered) -> bool:
        name = type(delivered.event).__qualname__
        return name == "Ticket.Received" or (
            name in _ANSWERS and not _asked_at_receipt(delivered.event))

    def mail_for(self, delivered: Delivered) -> OutboundMail | None:
        if type(delivered.event).__qualname__ == "Ticket.Received":
            return self._notice_for(delivered.event)
        return self._mail_for(delivered.event)

    def _notice_for(self, event: Any) -> OutboundMail | None:
        """R18 for every channel: the notice, or a record that none could be sent and why."""
        ticket = self.desk.get_ticket(str(event.ticket_id))
        if (ticket.acknowledged_at is not None  # e.g. the agent told the caller on the phone
                or ticket.notice_not_sent is not None
                or any(f["notice"] == "acknowledgement" for f in ticket.delivery_failures)):
            return None  # decided before (a follower started afresh over an old store)
        now = self.now()
        mail = self.notices.acknowledgement(ticket, now=datetime.fromtimestamp(now, UTC))
        reason = NO_ADDRESS
        if mail is not None:
            # Decided once for every mailer: the letter or the refusal takes the ``ack:`` key,
            # counting the notices to this address in the outbox (the main database).
            outcome = self.outbox.queue_notice(mail, now=now, windows=self.notice_limit.windows())
            if outcome != WITHHELD:
                return None  # queued now (or by another mailer): the outbox worker sends it
            # An auto-responder answering every notice with a new letter: the loop stops here.
            log.warning("registration notice to %s not queued: more than %s",
                        ticket.requester.email, self.notice_limit.describe())
            mail, reason = None, (f"{ticket.requester.email} got more than "
                                  f"{self.notice_limit.describe()} registration notices")
        try:
            self.desk.record_notice_not_sent(ticket.ticket_id, reason=reason, actor=SYSTEM)
        except RuleViolated as rule:  # acknowledged meanwhile (e.g. on the phone)
            if rule.rule != "already_acknowledged":
                raise
        return mail

    def _mail_for(self, event: Any) -> OutboundMail | None:
        ticket_id = _ticket_id_of(self.follower, event)
        ticket = self.desk.get_ticket(ticket_id, version=event.originator_version)
        text = getattr(event, "text", "")
        links = list(getattr(event, "links", []) or [])
        if type(event).__qualname__ == "Ticket.InformationRequested":
            return self.notices.information_request(
                ticket, version=event.originator_version, text=text,
                items=list(getattr(event, "items", []) or []),
                thread=self._thread(ticket_id, event), now=event.at)
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


def _asked_at_receipt(event: Any) -> bool:
    """The desk's own request for missing details, saved with ``Received``: the registration
    notice already lists what is missing, so it is not mailed a second time."""
    actor = getattr(event, "actor", {}) or {}
    return (type(event).__qualname__ == "Ticket.InformationRequested"
            and actor.get("kind") == "system" and event.originator_version == 2)


def _ticket_id_of(follower: NotificationFollower, event: Any) -> str:
    ticket: Any = follower.app.repository.get(event.originator_id, version=1)
    return str(ticket.ticket_id)
