"""SupportDesk: the event-sourced application, the only way in for adapters and the API.

Every command has the same rhythm: get the ticket, call its command method,
save. A concurrent writer makes the save fail on the store's version check;
the command is then re-run on the fresh ticket, and after a bounded number of
attempts reported as ``ConcurrencyConflict``. Nothing is merged silently.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypeVar, cast
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, ProcessingEvent
from eventsourcing.domain import Aggregate, DomainEventProtocol, MutableOrImmutableAggregate
from eventsourcing.persistence import RecordConflictError, Recording
from eventsourcing.utils import EnvType

from adapters.audit.mapper import AuditedApplication
from domain.calendar import WorkingCalendar
from domain.errors import ConcurrencyConflict, DeskError, InvalidValue, TicketNotFound
from domain.ids import intake_uuid, new_ticket_id, normalise_ticket_id, ticket_uuid
from domain.intake import IntakeRecord
from domain.sla import ClockName, SlaPolicy, SlaRules, SlaState
from domain.ticket import Ticket, TicketSnapshot
from domain.versions import LatestVersions
from domain.values import (
    Actor,
    Category,
    Channel,
    Level,
    PostponeReason,
    Product,
    Requester,
    RequiredInfo,
)
from services.clock import Clock, SystemClock

T = TypeVar("T")


@dataclass(frozen=True)
class Receipt:
    ticket_id: str
    created: bool
    position: int | None


@dataclass(frozen=True)
class CommandResult:
    ticket_id: str
    version: int
    position: int | None


class SupportDesk(AuditedApplication[UUID]):
    """Commands and queries over tickets, persisted by eventsourcing."""

    name = "SupportDesk"
    snapshotting_intervals = {Ticket: 50}  # noqa: RUF012
    snapshot_class = TicketSnapshot

    def __init__(
        self,
        env: EnvType | None = None,
        *,
        policy: SlaPolicy | None = None,
        calendar: WorkingCalendar | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        attempts: int = 5,
        latest_versions: LatestVersions | None = None,
    ) -> None:
        # Commands trust the cached ticket and let the store's version check catch a
        # write from another process (the cache entry is then dropped and the command
        # re-run); queries catch up explicitly in get_ticket. That spares every
        # command a read transaction.
        super().__init__({"AGGREGATE_CACHE_FASTFORWARD": "n", **dict(env or {})})
        self.calendar = calendar or WorkingCalendar.default()
        self.policy = policy or SlaPolicy.regulation_default()
        self.rules = SlaRules(self.policy, self.calendar)
        self.clock: Clock = clock or SystemClock()
        self._rng = rng or random.SystemRandom()
        self.attempts = attempts
        self.latest_versions = latest_versions or LatestVersions()

    def save(
        self,
        *objs: MutableOrImmutableAggregate[UUID] | DomainEventProtocol[UUID] | None,
        **kwargs: Any,
    ) -> list[Recording[UUID]]:
        """eventsourcing's ``Application.save``, minus its runtime ``Protocol`` checks.

        ``ProcessingEvent.collect_events`` tells aggregates from events with
        ``isinstance(obj, DomainEventProtocol)`` and then ``CollectEventsProtocol``;
        on Python 3.11 each check walks the protocol's attributes (~22 µs and ~6 µs
        per object, the largest single cost of a command's save after the
        commit). The desk saves ``Aggregate`` instances, told apart here with a
        plain class check and collected exactly as eventsourcing would; anything
        else goes through eventsourcing's own ``collect_events``. The rest is
        ``Application.save`` as it is in eventsourcing 9.5 (pinned below 9.6).
        """
        processing_event: ProcessingEvent[UUID] = ProcessingEvent()
        for obj in objs:
            if isinstance(obj, Aggregate):
                processing_event.events.extend(obj.collect_events())
                processing_event.aggregates[obj.id] = obj
            else:
                processing_event.collect_events(obj)
        processing_event.saved_kwargs.update(kwargs)
        recordings = self._record(processing_event)
        self._take_snapshots(processing_event)
        self._notify(recordings)
        self.notify(processing_event.events)  # eventsourcing's deprecated hook, kept as it is
        return recordings

    # -- intake ----------------------------------------------------------------

    def receive(
        self,
        *,
        channel: Channel,
        requester: Requester,
        subject: str,
        description: str,
        actor: Actor,
        product: Product = Product.UNKNOWN,
        product_version: str = "",
        device: str = "",
        intake_key: str = "",
        contacts: Sequence[str] = (),
        at: datetime | None = None,
    ) -> Receipt:
        """Register a request; the same intake key always answers with the same ticket.

        ``contacts``: the original letter's other recipients (Cc), whose later
        letters thread as the requester's (R19).

        The intake key is claimed by an ``IntakeRecord`` saved in the same
        transaction as the ticket, so a second delivery fails on the record's
        version check and answers with the first ticket, with no read on the
        happy path.
        """
        at = at or self.clock.now()
        key = intake_key.strip()
        for _ in range(self.attempts):
            ticket = Ticket.receive(
                ticket_id=new_ticket_id(self._rng),
                channel=channel,
                requester=requester,
                subject=subject,
                description=description,
                product=product,
                product_version=product_version,
                device=device,
                intake_key=key,
                contacts=contacts,
                at=at,
                actor=actor,
                rules=self.rules,
            )
            claims: list[IntakeRecord] = []
            if key:
                claims.append(
                    IntakeRecord(channel=channel.value, intake_key=key, ticket_id=ticket.ticket_id)
                )
            try:
                recordings = self.save(ticket, *claims)
            except RecordConflictError:
                if key:
                    existing = self.ticket_for_intake_key(channel, key)
                    if existing is not None:
                        return Receipt(existing, created=False, position=None)
                continue  # a ticket ID collision: draw another
            return Receipt(ticket.ticket_id, created=True, position=_position(recordings))
        raise ConcurrencyConflict("new ticket", self.attempts)

    def ticket_for_intake_key(self, channel: Channel, key: str) -> str | None:
        """The ticket a request with this intake key went to, if one was recorded."""
        try:
            record: IntakeRecord = self.repository.get(intake_uuid(channel.value, key))
        except AggregateNotFoundError:
            return None
        return record.ticket_id

    # -- staff and requester commands ------------------------------------------

    def acknowledge(
        self, ticket_id: str, *, actor: Actor, message_id: str = "", at: datetime | None = None
    ) -> CommandResult:
        return self._update(
            ticket_id, lambda t, now: t.acknowledge(at=now, actor=actor, message_id=message_id), at
        )

    def classify(
        self,
        ticket_id: str,
        *,
        level: Level,
        product: Product,
        category: Category,
        actor: Actor,
        at: datetime | None = None,
    ) -> CommandResult:
        return self._update(
            ticket_id,
            lambda t, now: t.classify(
                level=level, product=product, category=category, at=now, actor=actor,
                rules=self.rules,
            ),
            at,
        )

    def reclassify(
        self,
        ticket_id: str,
        *,
        reason: str,
        actor: Actor,
        level: Level | None = None,
        product: Product | None = None,
        category: Category | None = None,
        at: datetime | None = None,
    ) -> CommandResult:
        return self._update(
            ticket_id,
            lambda t, now: t.reclassify(
                reason=reason, level=level, product=product, category=category, at=now,
                actor=actor, rules=self.rules,
            ),
            at,
        )

    def confirm_emergency(
        self, ticket_id: str, *, actor: Actor, note: str = "", at: datetime | None = None
    ) -> CommandResult:
        return self._update(
            ticket_id, lambda t, now: t.confirm_emergency(at=now, actor=actor, note=note), at
        )

    def assign(
        self, ticket_id: str, *, assignee: str, actor: Actor, at: datetime | None = None
    ) -> CommandResult:
        return self._update(
            ticket_id, lambda t, now: t.assign(assignee=assignee, at=now, actor=actor), at
        )

    def respond(
        self,
        ticket_id: str,
        *,
        text: str,
        actor: Actor,
        links: Sequence[str] = (),
        at: datetime | None = None,
    ) -> CommandResult:
        return self._update(
            ticket_id,
            lambda t, now: t.respond(text=text, links=links, at=now, actor=actor, rules=self.rules),
            at,
        )

    def request_information(
        self,
        ticket_id: str,
        *,
        text: str,
        actor: Actor,
        items: Iterable[RequiredInfo] = (),
        at: datetime | None = None,
    ) -> CommandResult:
        items = tuple(items)
        return self._update(
            ticket_id,
            lambda t, now: t.request_information(
                text=text, items=items, at=now, actor=actor, rules=self.rules
            ),
            at,
        )

    def record_requester_reply(
        self,
        ticket_id: str,
        *,
        text: str,
        actor: Actor,
        product_version: str = "",
        device: str = "",
        message_id: str = "",
        entered_by: str = "",
        at: datetime | None = None,
    ) -> CommandResult:
        """``entered_by``: the staff member who typed in what the requester said (``actor``)."""
        return self._update(
            ticket_id,
            lambda t, now: t.record_requester_reply(
                text=text, product_version=product_version, device=device,
                message_id=message_id, entered_by=entered_by, at=now, actor=actor,
                rules=self.rules,
            ),
            at,
        )

    def record_reply_once(
        self,
        ticket_id: str,
        *,
        channel: Channel,
        intake_key: str,
        text: str,
        actor: Actor,
        reopen_reason: str = "",
        product_version: str = "",
        device: str = "",
        entered_by: str = "",
        at: datetime | None = None,
    ) -> Receipt:
        """A requester's reply that arrives by a channel with its own key (an email Message-ID).

        The key is claimed by an ``IntakeRecord`` saved with the ticket's new
        events, so the same letter delivered twice is one reply. With
        ``reopen_reason`` a resolved or closed ticket is reopened by the same save.
        """

        def reply(ticket: Ticket, now: datetime, key: str) -> None:
            if reopen_reason and not ticket.is_open:
                ticket.reopen(reason=reopen_reason, at=now, actor=actor, rules=self.rules)
            ticket.record_requester_reply(
                text=text, product_version=product_version, device=device, message_id=key,
                entered_by=entered_by, at=now, actor=actor, rules=self.rules,
            )

        return self._once(ticket_id, channel, intake_key, reply, at)

    def record_third_party_message_once(
        self,
        ticket_id: str,
        *,
        channel: Channel,
        intake_key: str,
        sender: str,
        text: str,
        actor: Actor,
        attachments: Sequence[dict[str, Any]] = (),
        at: datetime | None = None,
    ) -> Receipt:
        """R19: a message about the ticket from someone who is not its requester or a contact,
        kept for review (no status, no clock), once per intake key like a reply."""

        def keep(ticket: Ticket, now: datetime, key: str) -> None:
            ticket.receive_third_party_message(
                channel=channel, intake_key=key, sender=sender, text=text,
                attachments=attachments, at=now, actor=actor,
            )

        return self._once(ticket_id, channel, intake_key, keep, at)

    def _once(
        self,
        ticket_id: str,
        channel: Channel,
        intake_key: str,
        command: Callable[[Ticket, datetime, str], None],
        at: datetime | None,
    ) -> Receipt:
        """Run ``command`` on the ticket and claim the intake key with an ``IntakeRecord`` in
        the same save, so the same message delivered twice is recorded once."""
        key = intake_key.strip()
        if not key:
            raise InvalidValue("intake_key", "a message recorded once needs its intake key")
        for _ in range(self.attempts):
            existing = self.ticket_for_intake_key(channel, key)
            if existing is not None:
                return Receipt(existing, created=False, position=None)
            ticket = self.get_ticket(ticket_id)
            command(ticket, at or self.clock.now(), key)
            claim = IntakeRecord(channel=channel.value, intake_key=key, ticket_id=ticket.ticket_id)
            try:
                recordings = self.save(ticket, claim)
            except RecordConflictError:
                continue
            return Receipt(ticket.ticket_id, created=True, position=_position(recordings))
        raise ConcurrencyConflict(normalise_ticket_id(ticket_id), self.attempts)

    def accept_third_party_message(
        self, ticket_id: str, *, message_id: str, actor: Actor, at: datetime | None = None
    ) -> CommandResult:
        """Staff accept a kept letter as the requester's message (R19, then R10).

        On a resolved or closed ticket that is the requester writing again: the
        same save reopens it, as a reply to a closed ticket does by default.
        """

        def accept(ticket: Ticket, now: datetime) -> None:
            if not ticket.is_open:
                ticket.reopen(reason=f"accepted third-party letter {message_id}", at=now,
                              actor=actor, rules=self.rules)
            ticket.accept_third_party_message(message_id=message_id, at=now, actor=actor,
                                              rules=self.rules)

        return self._update(ticket_id, accept, at)

    def add_contact(
        self, ticket_id: str, *, email: str, actor: Actor, at: datetime | None = None
    ) -> CommandResult | None:
        """Trust another address for this ticket (R19); None when it already was a contact."""
        recorded: list[bool] = []

        def add(ticket: Ticket, now: datetime) -> None:
            recorded.append(ticket.add_contact(email=email, at=now, actor=actor))

        result = self._update(ticket_id, add, at)
        return result if recorded[-1] else None

    def record_notice_not_sent(
        self, ticket_id: str, *, reason: str, actor: Actor, at: datetime | None = None
    ) -> CommandResult | None:
        """R18: no registration notice can be sent (no email address); recorded once,
        None when already recorded."""
        recorded: list[bool] = []

        def note(ticket: Ticket, now: datetime) -> None:
            recorded.append(ticket.record_notice_not_sent(reason=reason, at=now, actor=actor))

        result = self._update(ticket_id, note, at)
        return result if recorded[-1] else None

    def add_attachments(
        self,
        ticket_id: str,
        *,
        source: str,
        attachments: Sequence[dict[str, Any]],
        actor: Actor,
        at: datetime | None = None,
    ) -> CommandResult | None:
        """Record a letter's files once; None when that letter's files were already recorded."""
        recorded: list[bool] = []

        def add(ticket: Ticket, now: datetime) -> None:
            recorded.append(
                ticket.add_attachments(source=source, attachments=attachments, at=now, actor=actor)
            )

        result = self._update(ticket_id, add, at)
        return result if recorded[-1] else None

    def record_delivery_failure(
        self,
        ticket_id: str,
        *,
        notice: str,
        recipient: str,
        reason: str,
        permanent: bool,
        message_id: str,
        fallback: Sequence[Channel],
        actor: Actor,
        at: datetime | None = None,
    ) -> CommandResult | None:
        """R21: record that a notice did not arrive, once per message; None when already recorded."""
        recorded: list[bool] = []

        def fail(ticket: Ticket, now: datetime) -> None:
            recorded.append(
                ticket.record_delivery_failure(
                    notice=notice, recipient=recipient, reason=reason, permanent=permanent,
                    message_id=message_id, fallback=fallback, at=now, actor=actor,
                )
            )

        result = self._update(ticket_id, fail, at)
        return result if recorded[-1] else None

    def escalate(
        self,
        ticket_id: str,
        *,
        summary: str,
        actor: Actor,
        expected_release: date | None = None,
        issue_ref: str = "",
        at: datetime | None = None,
    ) -> CommandResult:
        return self._update(
            ticket_id,
            lambda t, now: t.escalate(
                summary=summary, expected_release=expected_release, issue_ref=issue_ref,
                at=now, actor=actor, rules=self.rules,
            ),
            at,
        )

    def record_fix_release(
        self,
        ticket_id: str,
        *,
        release: str,
        actor: Actor,
        notes: str = "",
        at: datetime | None = None,
    ) -> CommandResult:
        return self._update(
            ticket_id,
            lambda t, now: t.record_fix_release(
                release=release, notes=notes, at=now, actor=actor, rules=self.rules
            ),
            at,
        )

    def postpone(
        self,
        ticket_id: str,
        *,
        reason: PostponeReason | None,
        actor: Actor,
        note: str = "",
        at: datetime | None = None,
    ) -> CommandResult:
        return self._update(
            ticket_id,
            lambda t, now: t.postpone(reason=reason, note=note, at=now, actor=actor,
                                      rules=self.rules),
            at,
        )

    def resume(
        self, ticket_id: str, *, actor: Actor, note: str = "", at: datetime | None = None
    ) -> CommandResult:
        return self._update(
            ticket_id, lambda t, now: t.resume(note=note, at=now, actor=actor, rules=self.rules), at
        )

    def resolve(
        self, ticket_id: str, *, resolution: str, actor: Actor, at: datetime | None = None
    ) -> CommandResult:
        return self._update(
            ticket_id,
            lambda t, now: t.resolve(resolution=resolution, at=now, actor=actor, rules=self.rules),
            at,
        )

    def reopen(
        self, ticket_id: str, *, reason: str, actor: Actor, at: datetime | None = None
    ) -> CommandResult:
        return self._update(
            ticket_id,
            lambda t, now: t.reopen(reason=reason, at=now, actor=actor, rules=self.rules),
            at,
        )

    def close_ticket(
        self, ticket_id: str, *, actor: Actor, note: str = "", at: datetime | None = None
    ) -> CommandResult:
        return self._update(ticket_id, lambda t, now: t.close(note=note, at=now, actor=actor), at)

    def record_sla_alert(
        self,
        ticket_id: str,
        *,
        clock: ClockName,
        breached: bool,
        actor: Actor,
        at: datetime | None = None,
    ) -> CommandResult | None:
        """Record an SLA alert once; None when it was already in the history."""
        recorded: list[bool] = []

        def alert(ticket: Ticket, now: datetime) -> None:
            recorded.append(
                ticket.record_sla_alert(
                    clock=clock, breached=breached, at=now, actor=actor, calendar=self.calendar
                )
            )

        result = self._update(ticket_id, alert, at)
        return result if recorded[-1] else None

    # -- queries -----------------------------------------------------------------

    def get_ticket(self, ticket_id: str, *, version: int | None = None) -> Ticket:
        """The ticket as stored now (or at ``version``), including other processes' writes."""
        ticket = self._cached_ticket(ticket_id, version)
        cache = self.repository.cache
        if version is None and cache is not None and not self.repository.fastforward:
            newer = list(self.events.get(ticket.id, gt=ticket.version))
            if newer:
                for event in newer:
                    ticket = cast(Ticket, cast(Any, event).mutate(ticket))
                cache.put(ticket.id, copy.deepcopy(ticket))
        return ticket

    def _cached_ticket(self, ticket_id: str, version: int | None = None) -> Ticket:
        canonical = normalise_ticket_id(ticket_id)
        try:
            ticket: Ticket = self.repository.get(ticket_uuid(canonical), version=version)
        except AggregateNotFoundError:
            raise TicketNotFound(canonical) from None
        return ticket

    def _forget(self, ticket_id: str) -> None:
        cache = self.repository.cache
        if cache is not None:
            try:
                cache.get(ticket_uuid(normalise_ticket_id(ticket_id)), evict=True)
            except KeyError:
                pass

    def sla(self, ticket_id: str, at: datetime | None = None) -> SlaState:
        return self.get_ticket(ticket_id).sla(at or self.clock.now(), self.calendar)

    def ticket_events(self, ticket_id: str) -> list[DomainEventProtocol[UUID]]:
        """Every event of a ticket, oldest first: what an auditor replays."""
        canonical = normalise_ticket_id(ticket_id)
        events = list(self.events.get(ticket_uuid(canonical)))
        if not events:
            raise TicketNotFound(canonical)
        return events

    def ticket_as_of(
        self, ticket_id: str, as_of: datetime | None = None
    ) -> tuple[list[DomainEventProtocol[UUID]], Ticket | None]:
        """The events recorded by ``as_of`` (all of them without it) and the ticket they make,
        from one read of the ticket's events; no ticket when it was not yet received."""
        events = self.ticket_events(ticket_id)
        if as_of is not None:
            # Events only move forward in time, so this keeps a prefix of the history.
            events = [e for e in events if getattr(e, "at", as_of) <= as_of]
        ticket: Ticket | None = None
        for event in events:
            ticket = cast(Ticket, cast(Any, event).mutate(ticket))
        return events, ticket

    # -- the command rhythm --------------------------------------------------------

    def _update(
        self, ticket_id: str, command: Callable[[Ticket, datetime], Any], at: datetime | None
    ) -> CommandResult:
        for attempt in range(self.attempts):
            if attempt == 0:
                ticket = self._cached_ticket(ticket_id)
                try:
                    command(ticket, at or self.clock.now())
                except DeskError:
                    # Maybe refused on a cached ticket another process has moved on:
                    # decide again on the stored one before reporting.
                    ticket = self.get_ticket(ticket_id)
                    command(ticket, at or self.clock.now())
            else:
                ticket = self.get_ticket(ticket_id)
                command(ticket, at or self.clock.now())
            if not ticket.pending_events:
                return CommandResult(ticket.ticket_id, ticket.version, None)
            try:
                recordings = self.save(ticket)
            except RecordConflictError:
                self._forget(ticket_id)
                continue
            return CommandResult(ticket.ticket_id, ticket.version, _position(recordings))
        raise ConcurrencyConflict(normalise_ticket_id(ticket_id), self.attempts)


def _position(recordings: Sequence[Any]) -> int | None:
    """The notification-log position of the last stored event, for read-your-writes."""
    if not recordings:
        return None
    notification = getattr(recordings[-1], "notification", None)
    return getattr(notification, "id", None)
