"""The Ticket aggregate: one support request through its whole lifecycle.

Public command methods check the rules and decide every derived fact (the SLA
schedule, what information is missing) before recording; the ``@event``
methods only assign state, because they re-run on every rebuild. Event
payloads hold plain values (strings, numbers, lists, dicts, datetimes), so the
stored history reads the same to auditors, Kafka consumers and future code.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any, cast
from uuid import UUID

from eventsourcing.domain import Aggregate, Snapshot, event

from domain.errors import InvalidValue, RuleViolated
from domain.ids import letter_id, normalise_ticket_id, ticket_uuid
from domain.sla import (
    ClockName,
    ClockStatus,
    Pause,
    PauseKind,
    SlaHistory,
    SlaRules,
    SlaSchedule,
    SlaState,
    WorkingTime,
    evaluate,
)
from domain.values import (
    LIMITS,
    Actor,
    ActorKind,
    Category,
    Channel,
    Level,
    PostponeReason,
    Product,
    Requester,
    RequiredInfo,
    Status,
    check_email,
    check_length,
    clean_text,
    normalise_subject,
    parse_enum,
    same_address,
)

MAX_SUBJECT = LIMITS.subject
MAX_TEXT = LIMITS.text
DELIVERY_NOTICES = ("acknowledgement", "response")
MISSING_WORDS = {
    RequiredInfo.DESCRIPTION: "описание проблемы и шаги, чтобы её воспроизвести",
    RequiredInfo.PRODUCT_VERSION: "номер версии продукта",
    RequiredInfo.DEVICE: "модель телефона и версию ОС",
}
"""R16 items as the system's request names them to the requester."""
FALLBACK_CHANNELS = frozenset({Channel.CHATBOT.value, Channel.PHONE.value})
MOBILE_PRODUCTS = frozenset({Product.MOBILE_ONLINE, Product.MOBILE_KEY})
_PAUSED_STATUS = {
    PauseKind.WAITING_FOR_REQUESTER: Status.WAITING_FOR_REQUESTER,
    PauseKind.WAITING_FOR_RELEASE: Status.WAITING_FOR_RELEASE,
    PauseKind.POSTPONED: Status.POSTPONED,
}


def missing_information(
    product: Product, description: str, product_version: str, device: str
) -> tuple[RequiredInfo, ...]:
    """R16: what a request lacks. The device matters only for the mobile apps."""
    missing = []
    if not description.strip():
        missing.append(RequiredInfo.DESCRIPTION)
    if not product_version.strip():
        missing.append(RequiredInfo.PRODUCT_VERSION)
    if product in MOBILE_PRODUCTS and not device.strip():
        missing.append(RequiredInfo.DEVICE)
    return tuple(missing)


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise InvalidValue("at", "instants must be timezone-aware")
    return at


def _text(field: str, value: str, limit: int = MAX_TEXT) -> str:
    """Text as recorded: normalised like every intake (``clean_text``), within ``limit``."""
    return check_length(field, clean_text(value), limit)


def _line(field: str, value: str, limit: int) -> str:
    """A one-line value (version, device, release): folded to one line, within ``limit``."""
    return check_length(field, normalise_subject(value, limit=limit + 1), limit)


def missing_request_text(missing: Sequence[RequiredInfo]) -> str:
    """What the system asks the requester for when a request lacks R16 details."""
    wanted = "; ".join(MISSING_WORDS[item] for item in missing)
    return (f"Чтобы мы могли заняться заявкой, пришлите, пожалуйста: {wanted}. "
            "Ответьте на это письмо, не меняя тему.")


class Ticket(Aggregate):
    """A support request, identified by a human-friendly ticket ID.

    Event bodies replace attributes and never mutate them in place (state is
    strings, enums, datetimes, tuples and frozen dataclasses, and the few
    lists and dicts are rebuilt on change), so a copy needs only fresh
    top-level containers. ``__deepcopy__`` relies on that: the application's
    aggregate cache copies a ticket on every command, and a full deep copy
    cost more than the rest of the command.
    """

    def __deepcopy__(self, memo: dict[int, Any]) -> Ticket:
        clone = object.__new__(type(self))
        clone.__dict__.update(
            {k: list(v) if isinstance(v, list) else v for k, v in self.__dict__.items()}
        )
        return clone

    ticket_id: str
    channel: Channel
    requester: Requester
    subject: str
    description: str
    product: Product
    product_version: str
    device: str
    intake_key: str
    missing: tuple[RequiredInfo, ...]
    status: Status
    level: Level | None
    category: Category | None
    emergency_confirmed: bool
    assignee: str | None
    received_at: datetime
    updated_at: datetime
    acknowledged_at: datetime | None
    first_response_at: datetime | None
    responses: int
    escalation: dict[str, Any] | None
    releases: list[dict[str, Any]]
    postponement: dict[str, Any] | None
    resolution: str | None
    reopened: int
    sla_alerts: list[str]
    attachments: list[dict[str, Any]]
    delivery_failures: list[dict[str, Any]]
    extra_contacts: list[str]
    third_party_messages: list[dict[str, Any]]
    notice_not_sent: dict[str, Any] | None
    history: SlaHistory
    sla_recorded: dict[str, Any]

    @staticmethod
    def create_id(ticket_id: str) -> UUID:
        return ticket_uuid(ticket_id)

    # -- receipt -------------------------------------------------------------

    @classmethod
    def receive(
        cls,
        *,
        ticket_id: str,
        channel: Channel,
        requester: Requester,
        subject: str,
        description: str,
        at: datetime,
        actor: Actor,
        rules: SlaRules,
        product: Product = Product.UNKNOWN,
        product_version: str = "",
        device: str = "",
        intake_key: str = "",
        contacts: Sequence[str] = (),
    ) -> Ticket:
        """Register a new request.

        Missing R16 details: a requester with an email address is asked for
        them by the system in the same save (``InformationRequested``) and the
        clocks wait for the answer; one reachable only by phone is not parked —
        the ticket shows "call the requester" and its reaction clock runs until
        someone does. ``contacts`` are the original letter's other recipients
        (Cc), whose later letters thread like the requester's (R19).
        """
        _aware(at)
        ticket_id = normalise_ticket_id(ticket_id)
        description = _text("description", description)
        subject = normalise_subject(subject)
        if not (subject or description.strip()):
            raise InvalidValue("description", "a request needs a subject or a description")
        product_version = _line("product_version", product_version, LIMITS.version)
        device = _line("device", device, LIMITS.device)
        intake_key = check_length("intake_key", intake_key.strip(), LIMITS.intake_key)
        cc = _contacts(contacts, requester)
        missing = missing_information(product, description, product_version, device)
        asks = bool(missing and requester.email)
        history = SlaHistory(received_at=at)
        if asks:
            history = history.pause(PauseKind.WAITING_FOR_REQUESTER, at)
        ticket = cls(
            ticket_id=ticket_id,
            channel=channel.value,
            requester=requester.as_dict(),
            subject=subject or normalise_subject(description.strip().splitlines()[0]),
            description=description,
            product=product.value,
            product_version=product_version,
            device=device,
            intake_key=intake_key,
            missing=[item.value for item in missing],
            at=at,
            actor=actor.as_dict(),
            sla=rules.schedule(history).as_dict(),
            contacts=cc,
            waiting_for_requester=asks,
        )
        if asks:
            ticket._information_requested(
                text=missing_request_text(missing),
                items=sorted(item.value for item in missing),
                at=at,
                actor=Actor.system().as_dict(),
                sla=rules.schedule(ticket._history_after_request(at, by_person=False)).as_dict(),
            )
        return ticket

    @event("Received")
    def __init__(
        self,
        *,
        ticket_id: str,
        channel: str,
        requester: dict[str, str],
        subject: str,
        description: str,
        product: str,
        product_version: str,
        device: str,
        intake_key: str,
        missing: list[str],
        at: datetime,
        actor: dict[str, str],
        sla: dict[str, Any],
        contacts: list[str] | None = None,
        waiting_for_requester: bool = True,
    ) -> None:
        # ``contacts`` and ``waiting_for_requester`` came later: a Received event
        # stored before them has neither, meaning no contacts and a ticket that
        # waits for the requester whenever something is missing.
        self.ticket_id = ticket_id
        self.channel = Channel(channel)
        self.requester = Requester.from_dict(requester)
        self.subject = subject
        self.description = description
        self.product = Product(product)
        self.product_version = product_version
        self.device = device
        self.intake_key = intake_key
        self.missing = tuple(RequiredInfo(m) for m in missing)
        self.level = None
        self.category = None
        self.emergency_confirmed = False
        self.assignee = None
        self.received_at = at
        self.updated_at = at
        self.acknowledged_at = None
        self.first_response_at = None
        self.responses = 0
        self.escalation = None
        self.releases = []
        self.postponement = None
        self.resolution = None
        self.reopened = 0
        self.sla_alerts = []
        self.attachments = []
        self.delivery_failures = []
        self.extra_contacts = list(contacts or [])
        self.third_party_messages = []
        self.notice_not_sent = None
        self.history = SlaHistory(received_at=at)
        waits = bool(self.missing) and waiting_for_requester
        if waits:
            self.history = self.history.pause(PauseKind.WAITING_FOR_REQUESTER, at)
        self.status = Status.WAITING_FOR_REQUESTER if waits else Status.NEW
        self._record_schedule(sla)

    # -- acknowledgement (R18) -------------------------------------------------

    def acknowledge(self, *, at: datetime, actor: Actor, message_id: str = "") -> None:
        """The registration notice reached the requester's mail server: the request is accepted."""
        self._check_time(at)
        if self.acknowledged_at is not None:
            raise RuleViolated("already_acknowledged", f"{self.ticket_id} was already acknowledged")
        self._acknowledged(at=at, actor=actor.as_dict(), message_id=message_id)

    @event("Acknowledged")
    def _acknowledged(self, *, at: datetime, actor: dict[str, str], message_id: str) -> None:
        self.acknowledged_at = at
        self.updated_at = at

    def record_notice_not_sent(self, *, reason: str, at: datetime, actor: Actor) -> bool:
        """R18: no registration notice can be sent (no email address); say why, once.

        Returns False when it is already recorded, so every ticket shows either
        its acknowledgement or why there is none.
        """
        self._check_time(at)
        if actor.kind not in (ActorKind.SYSTEM, ActorKind.STAFF):
            raise RuleViolated("forbidden", "the system or staff record why no notice was sent")
        if self.acknowledged_at is not None:
            raise RuleViolated("already_acknowledged",
                               f"{self.ticket_id} was acknowledged: its notice was sent")
        if not reason.strip():
            raise InvalidValue("reason", "say why no notice could be sent")
        if self.notice_not_sent is not None:
            return False
        self._notice_not_sent(notice="acknowledgement", reason=_text("reason", reason.strip(),
                              LIMITS.note), at=at, actor=actor.as_dict())
        return True

    @event("NoticeNotSent")
    def _notice_not_sent(self, *, notice: str, reason: str, at: datetime,
                         actor: dict[str, str]) -> None:
        self.notice_not_sent = {"notice": notice, "reason": reason, "at": at}
        self.updated_at = at

    def record_delivery_failure(
        self,
        *,
        notice: str,
        recipient: str,
        reason: str,
        permanent: bool,
        message_id: str,
        fallback: Sequence[Channel],
        at: datetime,
        actor: Actor,
    ) -> bool:
        """R21: a notice to the requester did not arrive; the ticket offers another channel.

        Returns False when this message's failure is already in the history (a
        bounce and the sender's own 5xx may both report it).
        """
        self._check_time(at)
        if actor.kind not in (ActorKind.SYSTEM, ActorKind.STAFF):
            raise RuleViolated("forbidden", "delivery failures are recorded by the system or staff")
        if notice not in DELIVERY_NOTICES:
            raise InvalidValue("notice", f"notice must be one of: {', '.join(DELIVERY_NOTICES)}")
        if not reason.strip():
            raise InvalidValue("reason", "say why the delivery failed")
        if not message_id.strip():
            raise InvalidValue("message_id", "name the message that was not delivered")
        offered = [channel.value for channel in fallback]
        if not offered or any(c not in FALLBACK_CHANNELS for c in offered):
            raise InvalidValue("fallback", "offer the chat-bot and/or a call (R21)")
        if any(f["message_id"] == message_id.strip() for f in self.delivery_failures):
            return False
        self._delivery_failed(
            notice=notice,
            recipient=recipient.strip(),
            reason=_text("reason", reason.strip(), 2000),
            permanent=permanent,
            message_id=message_id.strip(),
            fallback=offered,
            at=at,
            actor=actor.as_dict(),
        )
        return True

    @event("DeliveryFailed")
    def _delivery_failed(
        self,
        *,
        notice: str,
        recipient: str,
        reason: str,
        permanent: bool,
        message_id: str,
        fallback: list[str],
        at: datetime,
        actor: dict[str, str],
    ) -> None:
        failure = {"notice": notice, "recipient": recipient, "reason": reason,
                   "permanent": permanent, "message_id": message_id, "fallback": fallback,
                   "at": at}
        self.delivery_failures = [*self.delivery_failures, failure]
        self.updated_at = at

    # -- attachments -------------------------------------------------------------

    def add_attachments(
        self,
        *,
        source: str,
        attachments: Sequence[dict[str, Any]],
        at: datetime,
        actor: Actor,
    ) -> bool:
        """Record the files that came with a letter (metadata; content lives in the file store).

        ``source`` names the letter (its Message-ID); returns False when that
        letter's files are already recorded, so a redelivered letter adds nothing.
        """
        self._check_time(at)
        if not source.strip():
            raise InvalidValue("source", "name the message the files came with")
        if not attachments:
            raise InvalidValue("attachments", "no attachments to add")
        items = [_attachment(item) for item in attachments]
        if any(a["source"] == source.strip() for a in self.attachments):
            return False
        self._attachments_added(source=source.strip(), attachments=items, at=at,
                                actor=actor.as_dict())
        return True

    @event("AttachmentsAdded")
    def _attachments_added(
        self,
        *,
        source: str,
        attachments: list[dict[str, Any]],
        at: datetime,
        actor: dict[str, str],
    ) -> None:
        self.attachments = [*self.attachments, *({**a, "source": source} for a in attachments)]
        self.updated_at = at

    # -- classification (R12) ------------------------------------------------

    def classify(
        self,
        *,
        level: Level,
        product: Product,
        category: Category,
        at: datetime,
        actor: Actor,
        rules: SlaRules,
    ) -> None:
        self._check_time(at)
        self._require_staff(actor, "classify")
        self._require_open("classify")
        if self.level is not None:
            raise RuleViolated(
                "already_classified", f"{self.ticket_id} is already classified; reclassify it"
            )
        if product is Product.UNKNOWN:
            raise InvalidValue("product", "classify with one of the four products, not 'unknown'")
        history = self.history.with_level(level)
        self._classified(
            level=level.value,
            product=product.value,
            category=category.value,
            at=at,
            actor=actor.as_dict(),
            sla=rules.schedule(history).as_dict(),
        )

    @event("Classified")
    def _classified(
        self,
        *,
        level: str,
        product: str,
        category: str,
        at: datetime,
        actor: dict[str, str],
        sla: dict[str, Any],
    ) -> None:
        self.level = Level(level)
        self.product = Product(product)
        self.category = Category(category)
        self.history = self.history.with_level(self.level)
        if self.status is Status.NEW:
            self.status = Status.OPEN
        self._record_schedule(sla)
        self.updated_at = at

    def reclassify(
        self,
        *,
        reason: str,
        at: datetime,
        actor: Actor,
        rules: SlaRules,
        level: Level | None = None,
        product: Product | None = None,
        category: Category | None = None,
    ) -> None:
        """Change level, product or category; the clocks restart from receipt under the new level."""
        self._check_time(at)
        self._require_staff(actor, "reclassify")
        self._require_open("reclassify")
        if self.level is None:
            raise RuleViolated("not_classified", f"{self.ticket_id} is not classified yet")
        if not reason.strip():
            raise InvalidValue("reason", "a reclassification needs a reason")
        if product is Product.UNKNOWN:
            raise InvalidValue("product", "a ticket cannot be reclassified to 'unknown'")
        new_level = level or self.level
        new_product = product or self.product
        new_category = category or self.category
        assert new_category is not None
        if (new_level, new_product, new_category) == (self.level, self.product, self.category):
            raise RuleViolated("no_change", "reclassification changes nothing")
        history = self.history.with_level(new_level)
        self._reclassified(
            from_level=self.level.value,
            level=new_level.value,
            from_product=self.product.value,
            product=new_product.value,
            from_category=self.category.value if self.category else None,
            category=new_category.value,
            reason=_text("reason", reason.strip(), 2000),
            at=at,
            actor=actor.as_dict(),
            sla=rules.schedule(history).as_dict(),
        )

    @event("Reclassified")
    def _reclassified(
        self,
        *,
        from_level: str,
        level: str,
        from_product: str,
        product: str,
        from_category: str | None,
        category: str,
        reason: str,
        at: datetime,
        actor: dict[str, str],
        sla: dict[str, Any],
    ) -> None:
        self.level = Level(level)
        self.product = Product(product)
        self.category = Category(category)
        if self.level is not Level.EMERGENCY:
            self.emergency_confirmed = False
        self.history = self.history.with_level(self.level)
        self._record_schedule(sla)
        self.updated_at = at

    def confirm_emergency(self, *, at: datetime, actor: Actor, note: str = "") -> None:
        """§1.5.1: an emergency goes out of turn only once support staff confirm it."""
        self._check_time(at)
        self._require_staff(actor, "confirm an emergency")
        self._require_open("confirm an emergency")
        if self.level is not Level.EMERGENCY:
            raise RuleViolated(
                "not_emergency", f"{self.ticket_id} is not classified as an emergency"
            )
        if self.emergency_confirmed:
            raise RuleViolated("already_confirmed", f"{self.ticket_id} emergency already confirmed")
        self._emergency_confirmed(at=at, actor=actor.as_dict(), note=_text("note", note, 2000))

    @event("EmergencyConfirmed")
    def _emergency_confirmed(self, *, at: datetime, actor: dict[str, str], note: str) -> None:
        self.emergency_confirmed = True
        self.updated_at = at

    def assign(self, *, assignee: str, at: datetime, actor: Actor) -> None:
        self._check_time(at)
        self._require_staff(actor, "assign")
        self._require_open("assign")
        assignee = _line("assignee", assignee, LIMITS.name)
        if not assignee:
            raise InvalidValue("assignee", "assignee must not be empty")
        if assignee == self.assignee:
            raise RuleViolated("no_change", f"{self.ticket_id} is already assigned to {assignee}")
        self._assigned(assignee=assignee, at=at, actor=actor.as_dict())

    @event("Assigned")
    def _assigned(self, *, assignee: str, at: datetime, actor: dict[str, str]) -> None:
        self.assignee = assignee
        self.updated_at = at

    # -- conversation ----------------------------------------------------------

    def respond(
        self,
        *,
        text: str,
        at: datetime,
        actor: Actor,
        rules: SlaRules,
        links: Sequence[str] = (),
    ) -> None:
        """A reply to the requester (R20: may be links to docs, FAQ, forum)."""
        self._check_time(at)
        self._require_staff(actor, "respond")
        self._require_open("respond")
        links = _links(links)
        if not (text.strip() or links):
            raise InvalidValue("text", "a response needs text or at least one link")
        history = self.history.stop_reaction(at)
        self._responded(
            text=_text("text", text),
            links=links,
            at=at,
            actor=actor.as_dict(),
            sla=rules.schedule(history).as_dict(),
        )

    @event("Responded")
    def _responded(
        self,
        *,
        text: str,
        links: list[str],
        at: datetime,
        actor: dict[str, str],
        sla: dict[str, Any],
    ) -> None:
        self.history = self.history.stop_reaction(at)
        self.responses += 1
        if self.first_response_at is None:
            self.first_response_at = at
        self._record_schedule(sla)
        self.updated_at = at

    def request_information(
        self,
        *,
        text: str,
        at: datetime,
        actor: Actor,
        rules: SlaRules,
        items: Iterable[RequiredInfo] = (),
    ) -> None:
        """Ask the requester for more, at any time (R16: support may ask for more).

        A running ticket then waits for the requester (R14); one already paused
        (postponed, waiting for a release, or already waiting for the
        requester) keeps its pause. Asking is support's reply: the reaction
        clock stops.
        """
        self._check_time(at)
        self._require_staff(actor, "request information")
        self._require_open("request information")
        if not text.strip():
            raise InvalidValue("text", "say what information is needed")
        history = self._history_after_request(at, by_person=True)
        self._information_requested(
            text=_text("text", text),
            items=sorted({item.value for item in items}),
            at=at,
            actor=actor.as_dict(),
            sla=rules.schedule(history).as_dict(),
        )

    @event("InformationRequested")
    def _information_requested(
        self,
        *,
        text: str,
        items: list[str],
        at: datetime,
        actor: dict[str, str],
        sla: dict[str, Any],
    ) -> None:
        # The system's request for missing details at receipt is no reply from
        # support: it neither stops the reaction clock nor counts as a response.
        by_person = actor.get("kind") != ActorKind.SYSTEM.value
        self.history = self._history_after_request(at, by_person=by_person)
        self.status = self._running_status()
        if by_person:
            self.responses += 1
            if self.first_response_at is None:
                self.first_response_at = at
        self._record_schedule(sla)
        self.updated_at = at

    def _history_after_request(self, at: datetime, *, by_person: bool) -> SlaHistory:
        history = self.history
        if history.open_pause is None:
            history = history.pause(PauseKind.WAITING_FOR_REQUESTER, at)
        return history.stop_reaction(at) if by_person else history

    def record_requester_reply(
        self,
        *,
        text: str,
        at: datetime,
        actor: Actor,
        rules: SlaRules,
        product_version: str = "",
        device: str = "",
        message_id: str = "",
        entered_by: str = "",
    ) -> None:
        """The requester wrote back: a wait for them ends and a new wait for support begins.

        R10: whatever the status — on a postponed ticket or one waiting for a
        release the status stays, but the reaction clock starts and can breach.
        A message a staff member typed in (told on the phone) is recorded with
        the requester as ``actor`` and the staff member as ``entered_by``.
        """
        self._check_time(at)
        if actor.kind not in (ActorKind.REQUESTER, ActorKind.STAFF, ActorKind.INTEGRATION):
            raise RuleViolated("requester_reply", "a requester reply is recorded by a person")
        self._require_open("record a reply")
        text = _text("text", text)
        if not text.strip():
            raise InvalidValue("text", "a reply needs text")
        version = _line("product_version", product_version, LIMITS.version) or self.product_version
        dev = _line("device", device, LIMITS.device) or self.device
        description = self.description or text
        missing = missing_information(self.product, description, version, dev)
        history = self.history.requester_wrote(at)
        self._requester_replied(
            text=text,
            product_version=version,
            device=dev,
            missing=[m.value for m in missing],
            message_id=_line("message_id", message_id, LIMITS.intake_key),
            at=at,
            actor=actor.as_dict(),
            sla=rules.schedule(history).as_dict(),
            entered_by=check_length("entered_by", entered_by.strip(), LIMITS.name),
        )

    @event("RequesterReplied")
    def _requester_replied(
        self,
        *,
        text: str,
        product_version: str,
        device: str,
        missing: list[str],
        message_id: str,
        at: datetime,
        actor: dict[str, str],
        sla: dict[str, Any],
        entered_by: str = "",
    ) -> None:
        self.history = self.history.requester_wrote(at)
        self.product_version = product_version
        self.device = device
        if not self.description:
            self.description = text
        self.missing = tuple(RequiredInfo(m) for m in missing)
        self.status = self._running_status()
        self._record_schedule(sla)
        self.updated_at = at

    # -- contacts and third-party letters (R19) ---------------------------------

    @property
    def contacts(self) -> tuple[str, ...]:
        """Addresses whose letters thread as the requester's: the requester's, then the others."""
        own = (self.requester.email,) if self.requester.email else ()
        return (*own, *self.extra_contacts)

    def is_contact(self, address: str, *, trust_domain: bool = False) -> bool:
        """Whether a letter from ``address`` threads as the requester's (R19).

        Strictly: the requester's address or a recorded contact. With
        ``trust_domain`` (a configuration choice, off by default) also any
        address of a contact's own organisation domain — never of a public
        mail service, where a shared domain says nothing about who writes.
        """
        if any(same_address(address, known) for known in self.contacts):
            return True
        if not trust_domain:
            return False
        domain = _domain_of(address)
        return bool(domain) and domain not in PUBLIC_MAIL_DOMAINS and any(
            _domain_of(known) == domain for known in self.contacts)

    def add_contact(self, *, email: str, at: datetime, actor: Actor) -> bool:
        """Staff trust another address for this ticket; False when it already is a contact."""
        self._check_time(at)
        self._require_staff(actor, "add a contact")
        address = check_email("email", email)
        if self.is_contact(address):
            return False
        self._contact_added(email=address, at=at, actor=actor.as_dict())
        return True

    @event("ContactAdded")
    def _contact_added(self, *, email: str, at: datetime, actor: dict[str, str]) -> None:
        self.extra_contacts = [*self.extra_contacts, email]
        self.updated_at = at

    def receive_third_party_message(
        self,
        *,
        channel: Channel,
        intake_key: str,
        sender: str,
        text: str,
        at: datetime,
        actor: Actor,
        attachments: Sequence[dict[str, Any]] = (),
    ) -> str | None:
        """Keep a letter about this ticket from someone who is not a contact (R19).

        It is kept for staff to review and changes no status and no clock; its
        files are not the requester's until staff accept it. Returns the
        letter's ID on the ticket (``L-…``, stable for the channel and intake
        key), or None when that letter is already kept.
        """
        self._check_time(at)
        if actor.kind is ActorKind.REQUESTER:
            raise RuleViolated("forbidden", "third-party letters are recorded by the intake")
        key = check_length("intake_key", intake_key.strip(), LIMITS.intake_key)
        if not key:
            raise InvalidValue("intake_key", "name the letter (its Message-ID or intake key)")
        who = _line("sender", sender, LIMITS.sender)
        if not who:
            raise InvalidValue("sender", "say who sent the letter")
        body = _text("text", text)
        items = [_attachment(item) for item in attachments]
        message_id = letter_id(channel.value, key)
        if self._third_party(message_id) is not None:
            return None
        self._third_party_message_received(
            message_id=message_id, channel=channel.value, intake_key=key, sender=who, text=body,
            attachments=items, at=at, actor=actor.as_dict(),
        )
        return message_id

    @event("ThirdPartyMessageReceived")
    def _third_party_message_received(
        self,
        *,
        message_id: str,
        channel: str,
        intake_key: str,
        sender: str,
        text: str,
        attachments: list[dict[str, Any]],
        at: datetime,
        actor: dict[str, str],
    ) -> None:
        letter = {"message_id": message_id, "channel": channel, "intake_key": intake_key,
                  "sender": sender, "text": text, "attachments": attachments,
                  "received_at": at, "accepted_at": None, "accepted_by": None}
        self.third_party_messages = [*self.third_party_messages, letter]
        self.updated_at = at

    def accept_third_party_message(
        self, *, message_id: str, at: datetime, actor: Actor, rules: SlaRules
    ) -> None:
        """Staff vouch for a third-party letter: from now on it counts as the requester's
        message — the reaction clock starts, a wait for the requester ends (R10) — and its
        files join the ticket's attachments."""
        self._check_time(at)
        self._require_staff(actor, "accept a third-party letter")
        self._require_open("accept a third-party letter")
        letter = self._third_party(message_id.strip())
        if letter is None:
            raise RuleViolated("unknown_message",
                               f"{self.ticket_id} has no third-party letter {message_id!r}")
        if letter["accepted_at"] is not None:
            raise RuleViolated("already_accepted", f"letter {message_id!r} was already accepted")
        history = self.history.requester_wrote(at)
        self._third_party_message_accepted(
            message_id=letter["message_id"], at=at, actor=actor.as_dict(),
            sla=rules.schedule(history).as_dict(),
        )

    @event("ThirdPartyMessageAccepted")
    def _third_party_message_accepted(
        self, *, message_id: str, at: datetime, actor: dict[str, str], sla: dict[str, Any]
    ) -> None:
        kept = []
        for letter in self.third_party_messages:
            if letter["message_id"] == message_id:
                letter = {**letter, "accepted_at": at, "accepted_by": actor.get("id")}
                if letter["attachments"]:
                    self.attachments = [
                        *self.attachments,
                        *({**a, "source": letter["intake_key"]} for a in letter["attachments"]),
                    ]
            kept.append(letter)
        self.third_party_messages = kept
        self.history = self.history.requester_wrote(at)
        self.status = self._running_status()
        self._record_schedule(sla)
        self.updated_at = at

    def _third_party(self, message_id: str) -> dict[str, Any] | None:
        for letter in self.third_party_messages:
            if letter["message_id"] == message_id:
                return letter
        return None

    @property
    def pending_third_party_messages(self) -> list[dict[str, Any]]:
        return [m for m in self.third_party_messages if m["accepted_at"] is None]

    @property
    def call_requester(self) -> bool:
        """R16: details are missing, nobody can write to the requester and nobody has
        asked yet: an agent should call them (the reaction clock runs meanwhile)."""
        return (bool(self.missing) and not self.requester.email
                and self.status in (Status.NEW, Status.OPEN))

    # -- development (R13) -----------------------------------------------------

    def escalate(
        self,
        *,
        summary: str,
        at: datetime,
        actor: Actor,
        rules: SlaRules,
        expected_release: date | None = None,
        issue_ref: str = "",
    ) -> None:
        """Pass the question to development; the clocks wait for the release (R13, R14)."""
        self._check_time(at)
        self._require_staff(actor, "escalate")
        self._require_open("escalate")
        self._require_not_paused("escalate")
        if not summary.strip():
            raise InvalidValue("summary", "an escalation needs a summary for development")
        history = self.history.pause(PauseKind.WAITING_FOR_RELEASE, at)
        self._escalated(
            summary=_text("summary", summary),
            expected_release=expected_release.isoformat() if expected_release else None,
            issue_ref=_line("issue_ref", issue_ref, LIMITS.name),
            at=at,
            actor=actor.as_dict(),
            sla=rules.schedule(history).as_dict(),
        )

    @event("Escalated")
    def _escalated(
        self,
        *,
        summary: str,
        expected_release: str | None,
        issue_ref: str,
        at: datetime,
        actor: dict[str, str],
        sla: dict[str, Any],
    ) -> None:
        self.history = self.history.pause(PauseKind.WAITING_FOR_RELEASE, at)
        self.status = Status.WAITING_FOR_RELEASE
        self.escalation = {
            "summary": summary,
            "expected_release": expected_release,
            "issue_ref": issue_ref,
            "escalated_at": at,
        }
        self._record_schedule(sla)
        self.updated_at = at

    def record_fix_release(
        self, *, release: str, at: datetime, actor: Actor, rules: SlaRules, notes: str = ""
    ) -> None:
        """The product update that answers the escalation is out; the clocks run again."""
        self._check_time(at)
        self._require_staff(actor, "record a fix release")
        if self.status is not Status.WAITING_FOR_RELEASE:
            raise RuleViolated(
                "not_escalated", f"{self.ticket_id} is not waiting for a development release"
            )
        release = _line("release", release, LIMITS.version)
        if not release:
            raise InvalidValue("release", "name the release that fixed it")
        history = self.history.unpause(at)
        self._fix_released(
            release=release,
            notes=_text("notes", notes),
            at=at,
            actor=actor.as_dict(),
            sla=rules.schedule(history).as_dict(),
        )

    @event("FixReleased")
    def _fix_released(
        self, *, release: str, notes: str, at: datetime, actor: dict[str, str], sla: dict[str, Any]
    ) -> None:
        self.history = self.history.unpause(at)
        self.releases = [*self.releases, {"release": release, "released_at": at}]
        self.status = self._running_status()
        self._record_schedule(sla)
        self.updated_at = at

    # -- postponement (R17) ----------------------------------------------------

    def postpone(
        self,
        *,
        reason: PostponeReason | None,
        at: datetime,
        actor: Actor,
        rules: SlaRules,
        note: str = "",
    ) -> None:
        self._check_time(at)
        self._require_staff(actor, "postpone")
        self._require_open("postpone")
        self._require_not_paused("postpone")
        if reason is None:
            raise InvalidValue("reason", "a postponement needs a reason (R17)")
        history = self.history.pause(PauseKind.POSTPONED, at)
        self._postponed(
            reason=reason.value,
            note=_text("note", note),
            at=at,
            actor=actor.as_dict(),
            sla=rules.schedule(history).as_dict(),
        )

    @event("Postponed")
    def _postponed(
        self, *, reason: str, note: str, at: datetime, actor: dict[str, str], sla: dict[str, Any]
    ) -> None:
        self.history = self.history.pause(PauseKind.POSTPONED, at)
        self.status = Status.POSTPONED
        self.postponement = {"reason": reason, "note": note, "postponed_at": at}
        self._record_schedule(sla)
        self.updated_at = at

    def resume(self, *, at: datetime, actor: Actor, rules: SlaRules, note: str = "") -> None:
        """Staff end a pause: a postponement, or a wait they no longer need."""
        self._check_time(at)
        self._require_staff(actor, "resume")
        self._require_open("resume")
        if self.history.open_pause is None:
            raise RuleViolated("not_paused", f"{self.ticket_id} is not paused")
        history = self.history.unpause(at)
        self._resumed(
            note=_text("note", note), at=at, actor=actor.as_dict(),
            sla=rules.schedule(history).as_dict(),
        )

    @event("Resumed")
    def _resumed(self, *, note: str, at: datetime, actor: dict[str, str], sla: dict[str, Any]) -> None:
        self.history = self.history.unpause(at)
        self.postponement = None
        self.status = self._running_status()
        self._record_schedule(sla)
        self.updated_at = at

    # -- the end ---------------------------------------------------------------

    def resolve(self, *, resolution: str, at: datetime, actor: Actor, rules: SlaRules) -> None:
        self._check_time(at)
        self._require_staff(actor, "resolve")
        self._require_open("resolve")
        if self.level is None:
            raise RuleViolated("not_classified", f"classify {self.ticket_id} before resolving it")
        if not resolution.strip():
            raise InvalidValue("resolution", "say how the request was resolved")
        history = self.history.resolve(at)
        self._resolved(
            resolution=_text("resolution", resolution),
            at=at,
            actor=actor.as_dict(),
            sla=rules.schedule(history).as_dict(),
        )

    @event("Resolved")
    def _resolved(
        self, *, resolution: str, at: datetime, actor: dict[str, str], sla: dict[str, Any]
    ) -> None:
        self.history = self.history.resolve(at)
        self.status = Status.RESOLVED
        self.resolution = resolution
        self._record_schedule(sla)
        self.updated_at = at

    def reopen(self, *, reason: str, at: datetime, actor: Actor, rules: SlaRules) -> None:
        """The problem is back: the resolved span does not count, and support owes a reply."""
        self._check_time(at)
        if actor.kind is ActorKind.INTEGRATION:
            raise RuleViolated("forbidden", "integrations cannot reopen tickets")
        if self.status not in (Status.RESOLVED, Status.CLOSED):
            raise RuleViolated("not_resolved", f"{self.ticket_id} is not resolved")
        if not reason.strip():
            raise InvalidValue("reason", "say why the ticket is reopened")
        history = self.history.reopen(at)
        self._reopened(
            reason=_text("reason", reason, 2000),
            at=at,
            actor=actor.as_dict(),
            sla=rules.schedule(history).as_dict(),
        )

    @event("Reopened")
    def _reopened(
        self, *, reason: str, at: datetime, actor: dict[str, str], sla: dict[str, Any]
    ) -> None:
        self.history = self.history.reopen(at)
        self.status = self._running_status()
        self.resolution = None
        self.reopened += 1
        self._record_schedule(sla)
        self.updated_at = at

    def close(self, *, at: datetime, actor: Actor, note: str = "") -> None:
        self._check_time(at)
        if actor.kind not in (ActorKind.STAFF, ActorKind.SYSTEM):
            raise RuleViolated("forbidden", "only staff or the system close tickets")
        if self.status is not Status.RESOLVED:
            raise RuleViolated("not_resolved", f"resolve {self.ticket_id} before closing it")
        self._closed(note=_text("note", note, 2000), at=at, actor=actor.as_dict())

    @event("Closed")
    def _closed(self, *, note: str, at: datetime, actor: dict[str, str]) -> None:
        self.status = Status.CLOSED
        self.updated_at = at

    # -- SLA alerts (recorded by the watcher) ----------------------------------

    def record_sla_alert(
        self,
        *,
        clock: ClockName,
        breached: bool,
        at: datetime,
        actor: Actor,
        calendar: WorkingTime,
    ) -> bool:
        """Record once per clock cycle that a clock went at risk or breached.

        Returns False when it was already recorded; raises when the clock is not
        in that state at ``at``, so a watcher with a wrong clock cannot forge one.
        """
        self._check_time(at)
        key = f"{clock.value}:{'breached' if breached else 'at_risk'}:{self._cycle_key(clock)}"
        if key in self.sla_alerts:
            return False
        state = self.sla(at, calendar)
        status = (state.reaction if clock is ClockName.REACTION else state.resolution).status
        expected = (ClockStatus.BREACHED,) if breached else (ClockStatus.AT_RISK, ClockStatus.BREACHED)
        if status not in expected:
            raise RuleViolated(
                "sla_state", f"{clock.value} clock of {self.ticket_id} is {status.value} at {at.isoformat()}"
            )
        due = self.schedule.clock(clock)
        if breached:
            self._sla_breached(clock=clock.value, key=key, due_at=due.due_at, at=at,
                               actor=actor.as_dict())
        else:
            self._sla_at_risk(clock=clock.value, key=key, due_at=due.due_at, at=at,
                              actor=actor.as_dict())
        return True

    def _cycle_key(self, clock: ClockName) -> str:
        return self.schedule.clock(clock).started_at.isoformat()

    @event("SlaAtRisk")
    def _sla_at_risk(
        self, *, clock: str, key: str, due_at: datetime, at: datetime, actor: dict[str, str]
    ) -> None:
        self.sla_alerts = [*self.sla_alerts, key]

    @event("SlaBreached")
    def _sla_breached(
        self, *, clock: str, key: str, due_at: datetime, at: datetime, actor: dict[str, str]
    ) -> None:
        self.sla_alerts = [*self.sla_alerts, key]

    # -- queries ---------------------------------------------------------------

    @property
    def schedule(self) -> SlaSchedule:
        """The clocks' instants as last recorded; parsed from the event on first use."""
        parsed: SlaSchedule | None = self.__dict__.get("_schedule")
        if parsed is None:
            parsed = SlaSchedule.from_dict(self.sla_recorded)
            self.__dict__["_schedule"] = parsed
        return parsed

    def _record_schedule(self, sla: dict[str, Any]) -> None:
        self.sla_recorded = sla
        self.__dict__["_schedule"] = None

    @property
    def is_open(self) -> bool:
        return self.status not in (Status.RESOLVED, Status.CLOSED)

    def sla(self, at: datetime, calendar: WorkingTime) -> SlaState:
        """Both clocks at ``at``, from the instants recorded in history."""
        return evaluate(self.schedule, _aware(at), calendar)

    # -- rules -------------------------------------------------------------------

    def _running_status(self) -> Status:
        pause = self.history.open_pause
        if pause is not None and pause.kind in _PAUSED_STATUS:
            return _PAUSED_STATUS[pause.kind]
        return Status.OPEN if self.level is not None else Status.NEW

    def _check_time(self, at: datetime) -> None:
        _aware(at)
        if at < self.updated_at:
            raise InvalidValue(
                "at", f"{at.isoformat()} is before the ticket's last change "
                f"({self.updated_at.isoformat()}); history only moves forward"
            )

    def _require_staff(self, actor: Actor, action: str) -> None:
        if actor.kind is not ActorKind.STAFF:
            raise RuleViolated("staff_only", f"only support staff may {action}")

    def _require_open(self, action: str) -> None:
        if not self.is_open:
            raise RuleViolated(
                "ticket_closed" if self.status is Status.CLOSED else "ticket_resolved",
                f"cannot {action}: {self.ticket_id} is {self.status.value}",
            )

    def _require_not_paused(self, action: str) -> None:
        pause = self.history.open_pause
        if pause is not None:
            raise RuleViolated(
                "ticket_paused", f"cannot {action}: {self.ticket_id} is {pause.kind.value}"
            )


PUBLIC_MAIL_DOMAINS = frozenset({
    "gmail.com", "googlemail.com", "yandex.ru", "ya.ru", "yandex.com", "mail.ru", "bk.ru",
    "inbox.ru", "list.ru", "internet.ru", "rambler.ru", "lenta.ru", "outlook.com", "hotmail.com",
    "live.com", "msn.com", "yahoo.com", "icloud.com", "me.com", "proton.me", "protonmail.com",
    "gmx.com", "gmx.de", "aol.com", "zoho.com",
})
"""Mail services whose users share nothing but the service: never trusted as a domain."""


def _domain_of(address: str) -> str:
    return address.strip().rpartition("@")[2].casefold()


def _contacts(addresses: Sequence[str], requester: Requester) -> list[str]:
    """The original letter's other recipients, checked, once each, without the requester."""
    kept: list[str] = []
    for address in addresses:
        if not address.strip():
            continue
        checked = check_email("contacts", address)
        known = [requester.email, *kept] if requester.email else kept
        if not any(same_address(checked, k) for k in known):
            kept.append(checked)
    if len(kept) > 50:
        raise InvalidValue("contacts", "more than 50 contacts on one letter")
    return kept


def _links(links: Sequence[str]) -> list[str]:
    cleaned = [link.strip() for link in links if link.strip()]
    for link in cleaned:
        if not link.startswith(("https://", "http://")) or len(link) > 2000:
            raise InvalidValue("links", f"not a web link: {link!r}")
    return cleaned


_SHA256 = frozenset("0123456789abcdef")


def _attachment(item: dict[str, Any]) -> dict[str, Any]:
    """One attachment's metadata, checked: name, content type, size, sha256, stored or why not."""
    name = str(item.get("filename", "")).strip()
    content_type = str(item.get("content_type", "")).strip()
    size = item.get("size")
    digest = str(item.get("sha256", ""))
    stored = item.get("stored")
    if not name or len(name) > 255:
        raise InvalidValue("attachments.filename", "an attachment needs a file name (<= 255)")
    if "/" not in content_type:
        raise InvalidValue("attachments.content_type", f"not a MIME type: {content_type!r}")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise InvalidValue("attachments.size", "size must be a non-negative integer")
    if len(digest) != 64 or not set(digest) <= _SHA256:
        raise InvalidValue("attachments.sha256", "sha256 must be 64 lower-case hex digits")
    if not isinstance(stored, bool):
        raise InvalidValue("attachments.stored", "stored must be true or false")
    note = str(item.get("note", ""))[:500]
    return {"filename": name, "content_type": content_type, "size": size, "sha256": digest,
            "stored": stored, "note": note}


def parse_postpone_reason(value: str) -> PostponeReason:
    return parse_enum(PostponeReason, value, "reason")


class TicketSnapshot(Snapshot):
    """Snapshots store the ticket's state as plain values, like its events."""

    @classmethod
    def take(cls, aggregate: Any) -> TicketSnapshot:
        snapshot = super().take(aggregate)
        object.__setattr__(snapshot, "state", _plain_state(snapshot.state))
        return snapshot

    def mutate(self, _: None) -> Any:
        aggregate = super().mutate(None)
        _restore_state(cast(Ticket, aggregate))
        return aggregate


def _plain_state(state: dict[str, Any]) -> dict[str, Any]:
    plain = dict(state)
    plain["requester"] = state["requester"].as_dict()
    plain["missing"] = [m.value for m in state["missing"]]
    plain["history"] = _history_to_dict(state["history"])
    plain["_schedule"] = None
    return plain


def _restore_state(ticket: Ticket) -> None:
    state: dict[str, Any] = ticket.__dict__
    state["channel"] = Channel(state["channel"])
    state["product"] = Product(state["product"])
    state["status"] = Status(state["status"])
    state["level"] = Level(state["level"]) if state["level"] else None
    state["category"] = Category(state["category"]) if state["category"] else None
    state["requester"] = Requester.from_dict(state["requester"])
    state["missing"] = tuple(RequiredInfo(m) for m in state["missing"])
    state["history"] = _history_from_dict(state["history"])
    if "schedule" in state:  # snapshots taken before the schedule was kept as recorded
        state["sla_recorded"] = state.pop("schedule")
    state["_schedule"] = None
    # Snapshots taken before attachments and delivery failures were recorded.
    state.setdefault("attachments", [])
    state.setdefault("delivery_failures", [])
    # ... and before contacts, third-party letters and notices not sent.
    state.setdefault("extra_contacts", [])
    state.setdefault("third_party_messages", [])
    state.setdefault("notice_not_sent", None)


def _history_to_dict(history: SlaHistory) -> dict[str, Any]:
    return {
        "received_at": history.received_at,
        "level": history.level.value if history.level else None,
        "pauses": [[p.kind.value, p.start, p.end] for p in history.pauses],
        "reaction_started_at": history.reaction_started_at,
        "reaction_stopped_at": history.reaction_stopped_at,
        "resolved_at": history.resolved_at,
    }


def _history_from_dict(data: dict[str, Any]) -> SlaHistory:
    return SlaHistory(
        received_at=data["received_at"],
        level=Level(data["level"]) if data["level"] else None,
        pauses=tuple(Pause(PauseKind(kind), start, end) for kind, start, end in data["pauses"]),
        reaction_started_at=data["reaction_started_at"],
        reaction_stopped_at=data["reaction_stopped_at"],
        resolved_at=data["resolved_at"],
    )


# eventsourcing prefers an aggregate's nested Snapshot class over the application's.
Ticket.Snapshot = TicketSnapshot
