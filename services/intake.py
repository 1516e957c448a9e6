"""The intake gate: every channel's request goes through ``IntakeService.submit``.

Adapters (email, form, phone, chat-bot, ``POST /tickets``, the Kafka consumer)
only translate what they received into an ``IntakeRequest``. This module alone
decides what it becomes, the same way for every channel:

1. normalise the text once (control characters out, subjects on one line, one
   table of limits; an over-long text is cut with a note and kept whole as an
   attachment);
2. ignore noise the channel recognised (auto-replies);
3. answer a request seen before with its ticket (idempotency by intake key),
   completing what a crash may have left undone (attachments, a spoken ID);
4. refuse a channel that is closed today (R6), pointing to the email address;
5. thread a message that names an existing ticket: as the requester's message
   when it comes from the requester or a recorded contact, otherwise as a
   third-party message kept on the ticket for staff to review (R19);
6. otherwise register a new ticket, with the R16 details found in its words.

The registration notice (R18) is not sent from here: a follower of ``Received``
queues it for every channel (``adapters/outbox/responses.py``).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import parseaddr
from typing import Any, Literal, Protocol

from domain.details import extract_details
from domain.errors import InvalidValue, RuleViolated
from domain.ids import find_ticket_ids
from domain.intake import Decision, IncomingFile, IntakeOutcome, IntakeRequest
from domain.ticket import Ticket
from domain.values import (
    LIMITS,
    Actor,
    ActorKind,
    NormalisedText,
    Product,
    Requester,
    Status,
    check_email,
    check_phone,
    clean_text,
    normalise_subject,
    normalise_text,
)
from services.application import SupportDesk
from services.channel_policy import ChannelClosed, ChannelPolicy

EARLIEST_RECEIPT = datetime(2000, 1, 1, tzinfo=timezone.utc)
RECEIPT_SKEW = timedelta(days=1)

log = logging.getLogger("pass24.intake")

FULL_TEXT_NAME = "full-text.txt"
# A reply recorded without its quoted history keeps the whole letter under this name.
WHOLE_LETTER_NAME = "letter-with-quotes.txt"
INTAKE = Actor.system("intake")


class FileStore(Protocol):
    """Keeps a file's bytes; answers the metadata the ticket records."""

    def store(self, file: IncomingFile) -> dict[str, Any]: ...


@dataclass(frozen=True)
class IntakeSettings:
    reply_to_closed: Literal["reopen", "new_ticket"] = "reopen"
    """A requester's message to a closed ticket reopens it, or starts a new linked one."""
    trust_requester_domain: bool = False
    """R19: also thread messages from anyone at the requester's (or a contact's) organisation
    domain, never a public mail service's (off: strict)."""
    max_attachments: int = 20
    """Files stored per message; the rest are listed as not stored (an inbox flood of files
    costs metadata, not disk)."""


@dataclass(frozen=True)
class _Clean:
    """A request's values after normalisation."""

    key: str
    name: str
    email: str
    phone: str
    organisation: str
    subject: str
    text: NormalisedText
    product_version: str
    device: str
    contacts: tuple[str, ...]
    at: datetime
    actor: Actor
    entered_by: str
    acknowledged_by: str

    @property
    def words(self) -> str:
        return self.text.text or self.subject


class IntakeService:
    def __init__(
        self,
        desk: SupportDesk,
        *,
        channels: ChannelPolicy,
        files: FileStore | None = None,
        settings: IntakeSettings | None = None,
    ) -> None:
        self.desk = desk
        self.channels = channels
        self.files = files
        self.settings = settings or IntakeSettings()

    @property
    def support_email(self) -> str:
        return self.channels.support_email

    def submit(self, request: IntakeRequest) -> IntakeOutcome:
        """Decide what ``request`` becomes. Bad input and closed channels are answers, not
        exceptions; only failures of the desk itself (storage down) raise."""
        try:
            outcome = self._submit(request)
        except ChannelClosed as closed:
            outcome = IntakeOutcome(Decision.REFUSED, detail=str(closed), field="channel")
        except Refusal as bad:
            detail = "; ".join(f"{f}: {r}" for f, r in bad.errors)
            outcome = IntakeOutcome(Decision.INVALID, detail=detail, field=bad.errors[0][0],
                                    errors=bad.errors)
        except InvalidValue as bad:
            outcome = IntakeOutcome(Decision.INVALID, detail=bad.reason, field=bad.field,
                                    errors=((bad.field, bad.reason),))
        except RuleViolated as rule:
            outcome = IntakeOutcome(Decision.INVALID, detail=str(rule), field=rule.rule)
        log.info("intake %s %s: %s %s", request.channel.value, request.intake_key or "-",
                 outcome.decision.value, outcome.ticket_id or outcome.detail)
        return outcome

    # -- the decision -----------------------------------------------------------------

    def _submit(self, request: IntakeRequest) -> IntakeOutcome:
        if request.noise:
            return IntakeOutcome(Decision.IGNORED, detail=request.noise)
        clean = self._normalised(request)
        if not self.channels.is_open(request.channel, clean.at):
            # A request accepted before is still answered on a day its channel is closed.
            # (On open days every path below meets a repeated key in the same save that
            # claims it, so the happy path spends no read on it.)
            seen = self.desk.ticket_for_intake_key(request.channel, clean.key) if clean.key else None
            if seen is not None:
                self._complete(seen, request, clean)
                return IntakeOutcome(Decision.DUPLICATE, seen)
            self.channels.check(request.channel, clean.at)
        _check(clean)
        named = self._named_tickets(clean.subject, request.thread_hints)
        if not named:
            return self._new_ticket(request, clean)
        own = next((t for t in named if self._from_requester(t, clean)), None)
        if own is not None:
            return self._requester_message(own, request, clean)
        return self._third_party(named[0], request, clean)

    def _normalised(self, request: IntakeRequest) -> _Clean:
        now = self.desk.clock.now()
        at = request.received_at or now
        if at.tzinfo is None or at.utcoffset() is None:
            raise InvalidValue("received_at", "instants must be timezone-aware")
        # A channel's clock may run a little ahead; a receipt days ahead would start the SLA
        # clocks in the future (never breaching), and one at the ends of time overflows them.
        if not EARLIEST_RECEIPT <= at <= now + RECEIPT_SKEW:
            raise InvalidValue("received_at", (
                f"expected an instant between {EARLIEST_RECEIPT.date()} and "
                f"{RECEIPT_SKEW.days} day after now, got {at.isoformat()}"))
        line = normalise_subject
        email, phone = line(request.email, limit=10 * LIMITS.email), line(
            request.phone, limit=10 * LIMITS.phone)
        actor = request.actor
        if actor.kind is ActorKind.REQUESTER and (email or phone):
            actor = Actor.requester(email or phone)  # the sender as normalised here
        else:  # ids from a webhook's fields are input like any other
            actor = Actor(actor.kind, line(actor.id, limit=LIMITS.name) or actor.kind.value)
        return _Clean(
            key=line(request.intake_key, limit=LIMITS.intake_key),
            name=line(request.name, limit=LIMITS.name),
            # Addresses and numbers are not cut (a cut one would reach someone else): an
            # over-long one is refused by the checks below.
            email=email,
            phone=phone,
            organisation=line(request.organisation, limit=LIMITS.organisation),
            subject=line(request.subject),
            text=normalise_text(request.text, limit=LIMITS.text),
            product_version=line(request.product_version, limit=LIMITS.version),
            device=line(request.device, limit=LIMITS.device),
            contacts=_valid_addresses(request.contacts),
            at=at,
            actor=actor,
            entered_by=line(request.entered_by, limit=LIMITS.name),
            acknowledged_by=line(request.acknowledged_by, limit=LIMITS.name),
        )

    def _named_tickets(self, subject: str, hints: Sequence[str]) -> list[Ticket]:
        """The existing tickets named in the subject, then in the hints (R19), in that order;
        the message threads onto the first whose requester or contact wrote it."""
        candidates: list[str] = []
        for text in (subject, *hints):
            candidates += find_ticket_ids(text)
        tickets = []
        for ticket_id in dict.fromkeys(candidates):
            try:
                tickets.append(self.desk.get_ticket(ticket_id))
            except (LookupError, InvalidValue):
                continue
        return tickets

    def _from_requester(self, ticket: Ticket, clean: _Clean) -> bool:
        """R19: the requester, a contact recorded on the ticket, or (if trusted) their domain."""
        if clean.email and ticket.is_contact(
                clean.email, trust_domain=self.settings.trust_requester_domain):
            return True
        phone = _digits(clean.phone)
        return len(phone) >= 5 and phone[-10:] == _digits(ticket.requester.phone)[-10:]

    # -- what it becomes ------------------------------------------------------------------

    def _new_ticket(self, request: IntakeRequest, clean: _Clean, *,
                    linked_to: str = "") -> IntakeOutcome:
        details = extract_details(clean.subject, clean.text.text)
        requester = Requester(name=clean.name, email=clean.email, phone=clean.phone,
                              organisation=clean.organisation)
        description = clean.text.text
        if linked_to:
            description = f"Follow-up to {linked_to} (closed).\n\n{description}"
            description = normalise_text(description, limit=LIMITS.text).text
        receipt = self.desk.receive(
            channel=request.channel,
            requester=requester,
            subject=clean.subject,
            description=description,
            actor=clean.actor,
            product=request.product if request.product is not Product.UNKNOWN else details.product,
            product_version=clean.product_version or details.product_version,
            device=clean.device or details.device,
            intake_key=clean.key,
            contacts=clean.contacts,
            at=clean.at,
        )
        self._complete(receipt.ticket_id, request, clean)
        if not receipt.created:
            return IntakeOutcome(Decision.DUPLICATE, receipt.ticket_id)
        return IntakeOutcome(Decision.LINKED if linked_to else Decision.CREATED, receipt.ticket_id,
                             detail=f"linked to {linked_to}" if linked_to else "",
                             position=receipt.position)

    def _requester_message(self, ticket: Ticket, request: IntakeRequest,
                           clean: _Clean) -> IntakeOutcome:
        if ticket.status is Status.CLOSED and self.settings.reply_to_closed == "new_ticket":
            return self._new_ticket(request, clean, linked_to=ticket.ticket_id)
        details = extract_details(clean.subject, clean.text.text)
        key = clean.key or _content_key(request, clean)
        actor, entered_by = clean.actor, clean.entered_by
        if actor.kind in (ActorKind.STAFF, ActorKind.INTEGRATION):
            # Typed in by an agent or handed over by an integration: the requester's words,
            # with who entered them.
            actor, entered_by = Actor.requester(clean.email or clean.phone), entered_by or actor.id
        words = clean.words
        whole: tuple[IncomingFile, ...] = ()
        reply = normalise_text(request.reply_text, limit=LIMITS.text).text
        if reply.strip() and reply.strip() != clean.text.text.strip():
            # The new words go on the ticket; the letter with its quoted history stays as a file.
            words = reply
            whole = (_whole_letter(clean.text),)
        receipt = self.desk.record_reply_once(
            ticket.ticket_id, channel=request.channel, intake_key=key, text=words,
            actor=actor, entered_by=entered_by,
            product_version=clean.product_version or details.product_version,
            device=clean.device or details.device,
            reopen_reason="" if ticket.is_open else f"the requester wrote again ({key})",
            at=clean.at,
        )
        self._complete(receipt.ticket_id, request, clean, extra=whole)
        if not receipt.created:
            return IntakeOutcome(Decision.DUPLICATE, receipt.ticket_id)
        return IntakeOutcome(Decision.REPLIED if ticket.is_open else Decision.REOPENED,
                             receipt.ticket_id, position=receipt.position)

    def _third_party(self, ticket: Ticket, request: IntakeRequest, clean: _Clean) -> IntakeOutcome:
        """R19: kept on the ticket for review; changes no status and no clock. Its files are
        kept with the letter, not offered as the requester's until staff accept it."""
        key = clean.key or _content_key(request, clean)
        files = self._capped(list(request.attachments))
        if clean.text.truncated:
            files.append(_full_text(clean.text))
        actor = clean.actor
        if actor.kind is ActorKind.REQUESTER:
            actor = INTAKE  # not the requester's message: recorded by the intake itself
        result = self.desk.record_third_party_message_once(
            ticket.ticket_id, channel=request.channel, intake_key=key,
            sender=_sender(clean) or str(clean.actor), text=clean.words, actor=actor,
            attachments=[self._keep(file) for file in files], at=clean.at,
        )
        if not result.created:
            return IntakeOutcome(Decision.DUPLICATE, ticket.ticket_id)
        return IntakeOutcome(Decision.THIRD_PARTY, ticket.ticket_id,
                             detail=f"{clean.email or clean.phone} is not the requester or a "
                                    "contact of this ticket: kept for review",
                             position=result.position)

    def _complete(self, ticket_id: str, request: IntakeRequest, clean: _Clean, *,
                  extra: Sequence[IncomingFile] = ()) -> None:
        """The steps after the ticket is saved; each is idempotent, so a redelivered request
        finishes what a crash left undone."""
        files = self._capped(list(request.attachments))
        if clean.text.truncated:
            files.append(_full_text(clean.text))
        elif extra:
            files.extend(extra)
        if not (files or clean.acknowledged_by):
            return
        ticket = self.desk.get_ticket(ticket_id)
        if not self._from_requester(ticket, clean):
            return  # a third-party message seen again: its files were kept when it came
        if files:
            metadata = [self._keep(file) for file in files]
            self.desk.add_attachments(ticket_id, source=clean.key or _content_key(request, clean),
                                      attachments=metadata, actor=clean.actor)
        registered_here = bool(clean.key) and ticket.intake_key == clean.key
        if clean.acknowledged_by and registered_here and ticket.acknowledged_at is None:
            # Only for the ticket this call registered: a call about another ticket does not
            # stand in for that ticket's own notice.
            self._acknowledge_by_voice(ticket_id, clean.acknowledged_by, clean.key)

    def _capped(self, files: list[IncomingFile]) -> list[IncomingFile | dict[str, Any]]:
        """Past ``max_attachments`` a file is listed (staff see what came), not stored."""
        cap = self.settings.max_attachments
        return [*files[:cap], *({"filename": file.filename, "content_type": file.content_type,
                                 "size": len(file.content),
                                 "sha256": hashlib.sha256(file.content).hexdigest(),
                                 "stored": False,
                                 "note": f"not stored: more than {cap} attachments in one message"}
                                for file in files[cap:])]

    def _keep(self, file: IncomingFile | dict[str, Any]) -> dict[str, Any]:
        if isinstance(file, dict):  # already decided: listed, not stored
            return file
        if self.files is None:
            return {"filename": file.filename, "content_type": file.content_type,
                    "size": len(file.content), "sha256": hashlib.sha256(file.content).hexdigest(),
                    "stored": False, "note": "no file store configured"}
        return self.files.store(file)

    def _acknowledge_by_voice(self, ticket_id: str, agent: str, key: str) -> None:
        """R18 on the phone: the agent told the caller the ticket's ID during the call."""
        try:
            self.desk.acknowledge(ticket_id, actor=Actor.staff(agent), message_id=f"call:{key}")
        except RuleViolated as rule:
            if rule.rule != "already_acknowledged":
                raise


class Refusal(Exception):
    """The request cannot be taken as it is; every wrong field with its reason."""

    def __init__(self, errors: Sequence[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{f}: {r}" for f, r in errors))
        self.errors = tuple(errors)


def _check(clean: _Clean) -> None:
    """One validation of the sender and the words, for every channel (all errors at once)."""
    errors: list[tuple[str, str]] = []
    if not clean.email and not clean.phone:
        errors.append(("requester", "give an email address or a phone number"))
    for field, value, check in (("email", clean.email, check_email),
                                ("phone", clean.phone, check_phone)):
        if value:
            try:
                check(field, value)
            except InvalidValue as bad:
                errors.append((field, bad.reason))
    if not clean.subject and not clean.text.text.strip():
        errors.append(("description", "describe the problem"))
    if errors:
        raise Refusal(errors)


def _digits(phone: str) -> str:
    return "".join(ch for ch in phone if ch.isdigit())


def _content_key(request: IntakeRequest, clean: _Clean) -> str:
    """A key for a message that came without one: the same words from the same sender are one."""
    digest = hashlib.sha256("\x1f".join(
        (request.channel.value, clean.email, clean.phone, clean.subject, clean.text.text)
    ).encode()).hexdigest()
    return f"sha256:{digest}"


def _full_text(text: NormalisedText) -> IncomingFile:
    return IncomingFile(FULL_TEXT_NAME, "text/plain", clean_text(text.original).encode("utf-8"),
                        request_text=True)


def _whole_letter(text: NormalisedText) -> IncomingFile:
    return IncomingFile(WHOLE_LETTER_NAME, "text/plain", text.text.encode("utf-8"),
                        request_text=True)


def _sender(clean: _Clean) -> str:
    return f"{clean.name} <{clean.email}>" if clean.name and clean.email else (
        clean.email or clean.phone)


def _valid_addresses(addresses: Sequence[str]) -> tuple[str, ...]:
    """The letter's other recipients that are addresses at all (a broken Cc is dropped)."""
    valid = []
    for address in addresses:
        try:
            valid.append(check_email("contacts", parseaddr(normalise_subject(address))[1]))
        except InvalidValue:
            continue
    return tuple(dict.fromkeys(valid))[:50]
