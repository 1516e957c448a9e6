"""The read models fed from ``pass24.ticket-events`` by a consumer group.

The second way to run the projections (the first is ``ProjectionRunner`` on the
event store): for read models on machines that reach the broker but not the
desk's database. Both ways fold the same ``TicketEvent`` records
(``projections.envelopes``) with the same ``Projection`` objects, so they build
identical rows.

Each poll is applied in **one transaction** of the read store: the read-model
rows, each partition's next offset and each ticket's last applied version
(``projections.kafka_tracking``). Kafka offsets are committed after that
transaction, as a courtesy to lag tooling only: on assignment the feed seeks
to the offsets its read store recorded (the beginning when it has none), so a
crash between the two commits neither loses nor re-applies anything.

Exactly once on at-least-once delivery: an event is applied only when it is the
next version of its ticket (``adapters.kafka.dedup.Deduplicator``); duplicates
are dropped, and an event past a gap is skipped until the relay re-publishes
the gap. Order: a ticket's events share a partition, so they arrive in version
order; tickets interleave arbitrarily, which the read models do not mind: they
fold per ticket, and the only log-wide value they keep (queue arrival, history
position) is the envelope's ``sequence``, the event's position in the store.

One group per read store: a group splits the partitions between its members,
so members of one group must write to the same read store.

Poison: when a poll fails for another reason than the database or the broker
not answering, it is applied message by message; a message that keeps failing
is set aside in the read store's ``parked_events`` (worker ``kafka-feed:<group>``,
``projections.parking``) with its bytes, the ticket's later events are held
behind it, and the partition moves on. ``parked retry`` applies them in order.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from uuid import UUID

from kafka import KafkaConsumer
from kafka.consumer.fetcher import ConsumerRecord
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata, TopicPartition

from adapters.kafka.clients import KafkaConfig
from adapters.kafka.dedup import Deduplicator, Verdict
from adapters.kafka.envelope import Envelope
from projections.envelopes import EnvelopeDecoder
from projections.kafka_tracking import SCHEMA, FeedTracking, PartitionMark, TicketMark
from projections.kafka_tracking import TABLES as FEED_TABLES
from projections.parking import Item, ParkingLot, Parked, PoisonGuard, is_transient
from projections.runner import ensure_schemas
from projections.schema import lock_schema
from projections.store import Cursor, ReadStore
from projections.tickets import Projection, TicketEvent

if TYPE_CHECKING:
    from domain.sla import WorkingTime


class FeedSettings(Protocol):
    """The part of the service's settings the Kafka feed needs (services/settings.py)."""

    @property
    def projections_sqlite_path(self) -> Path | None: ...
    @property
    def projections_batch_size(self) -> int: ...
    @property
    def kafka_bootstrap_servers(self) -> str: ...
    @property
    def kafka_client_id(self) -> str: ...
    @property
    def kafka_ticket_events_topic(self) -> str: ...
    @property
    def poison_tries(self) -> int: ...
    def eventsourcing_env(self) -> dict[str, str]: ...
    def kafka_security(self) -> dict[str, Any]: ...


log = logging.getLogger("pass24.projections.kafka")


@dataclass
class FeedStats:
    applied: int = 0
    duplicates: int = 0
    ahead: int = 0
    other: int = 0
    """Messages of other aggregates' events (none are published today)."""


class _SeekToRecorded(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, feed: KafkaProjectionFeed) -> None:
        self.feed = feed

    def on_partitions_revoked(self, revoked: Sequence[TopicPartition]) -> None:
        """Nothing to do: every poll is stored and committed before the next one."""

    def on_partitions_assigned(self, assigned: Sequence[TopicPartition]) -> None:
        self.feed.seek_to_recorded(assigned)


class KafkaProjectionFeed:
    """One consumer-group member applying ticket events to read models."""

    def __init__(
        self,
        consumer: KafkaConsumer,
        store: ReadStore,
        projections: Sequence[Projection],
        *,
        topic: str,
        group: str,
        decoder: EnvelopeDecoder | None = None,
        poll_timeout_ms: int = 500,
        max_records: int = 1000,
        retry_pause: float = 1.0,
        parking: ParkingLot | None = None,
        poison_tries: int = 3,
    ) -> None:
        self.guard = PoisonGuard(parking, f"kafka-feed:{group}", tries=poison_tries)
        self.consumer = consumer
        self.store = store
        self.projections = tuple(projections)
        self.topic = topic
        self.group = group
        self.decoder = decoder or EnvelopeDecoder()
        self.poll_timeout_ms = poll_timeout_ms
        self.max_records = max_records
        self.retry_pause = retry_pause
        self.tracking = FeedTracking(store, group, topic)
        self.stats = FeedStats()
        with store.transaction() as cursor:
            lock_schema(cursor, store.dialect)
            # projection_tracking too, empty, so ReadModels.position() answers (0) here.
            for statement in SCHEMA:
                cursor.execute(statement)
            if ensure_schemas(cursor, self.projections):
                # A read model changed shape and was emptied: the feed's offsets cover every
                # model at once, so all of them start again from the topic's beginning.
                for projection in self.projections:
                    for table in projection.tables:
                        cursor.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed names
                for table in FEED_TABLES:
                    cursor.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed names
        self._next: dict[int, PartitionMark] = self.tracking.offsets()
        consumer.subscribe([topic], listener=_SeekToRecorded(self))

    # -- positions -------------------------------------------------------------------

    def seek_to_recorded(self, partitions: Sequence[TopicPartition]) -> None:
        """Resume each partition where the read store says, or at its beginning."""
        self._next = self.tracking.offsets()
        fresh = []
        for tp in partitions:
            mark = self._next.get(tp.partition)
            if mark is None:
                fresh.append(tp)
            else:
                self.consumer.seek(tp, mark.next_offset)
        if fresh:
            self.consumer.seek_to_beginning(*fresh)
        log.info("kafka feed %s: assigned %s", self.group, sorted(tp.partition for tp in partitions))

    def caught_up(self) -> bool:
        """True when this member has partitions and has applied each to its current end."""
        assigned = self.consumer.assignment()
        if not assigned:
            return False
        ends = self.consumer.end_offsets(list(assigned))
        return all(self._next.get(tp.partition, PartitionMark(0, 0)).next_offset >= end
                   for tp, end in ends.items())

    # -- applying ---------------------------------------------------------------------

    def poll_once(self) -> int:
        """Apply one poll's worth of messages; returns the events applied."""
        polled = self.consumer.poll(timeout_ms=self.poll_timeout_ms, max_records=self.max_records)
        records = {tp: [r for r in rs if r.offset >= self._offset(tp.partition)]
                   for tp, rs in polled.items() if tp.topic == self.topic}
        records = {tp: rs for tp, rs in records.items() if rs}
        if not records:
            return 0
        try:
            applied, marks = self._store(records, self._set_aside(records))
        except Exception as error:
            if self.guard.lot is None or is_transient(error):
                self._rewind(records)
                raise
            log.warning("kafka feed %s: poll failed (%s); applying it message by message",
                        self.group, error)
            applied, marks = self._store_each(records)
        self._next.update(marks)
        self._commit_kafka(marks)
        return applied

    def _rewind(self, records: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        """Nothing was stored: read these messages again."""
        for tp, rs in records.items():
            self.consumer.seek(tp, rs[0].offset)

    def _set_aside(self, records: dict[TopicPartition, list[ConsumerRecord]]) -> set[int]:
        """IDs (``id()``) of the records held behind a parked event of their ticket."""
        if self.guard.lot is None:
            return set()
        active = self.guard.active()
        held: set[int] = set()
        if active:
            for rs in records.values():
                for record in rs:
                    item = _item(record)
                    if item.ticket in active:
                        self.guard.hold(item)
                        held.add(id(record))
        return held

    def _store_each(self, records: dict[TopicPartition, list[ConsumerRecord]]
                    ) -> tuple[int, dict[int, PartitionMark]]:
        applied = 0
        marks: dict[int, PartitionMark] = {}
        blocked: set[str] = set()
        for tp, rs in records.items():
            for record in rs:
                item = _item(record)
                skip: set[int] = set()
                if item.ticket in blocked:
                    self.guard.hold(item)
                    skip = {id(record)}
                try:
                    count, mark = self._store({tp: [record]}, skip | self._set_aside({tp: [record]}))
                except Exception as error:
                    if not self.guard.failed(item, error):
                        self._next.update(marks)
                        self._rewind({tp: [r for r in rs if r.offset >= record.offset]})
                        for other, ors in records.items():
                            if other != tp and other.partition not in marks:
                                self._rewind({other: ors})
                        raise
                    blocked.add(item.ticket)
                    count, mark = self._store({tp: [record]}, {id(record)})
                applied += count
                marks.update(mark)
                self._next.update(mark)
        return applied, marks

    def retry_parked(self) -> int:
        """Apply what ``parked retry`` released, in order, to the read models."""
        return self.guard.retry_pass(self._apply_parked)

    def _apply_parked(self, row: Parked) -> None:
        envelope = Envelope.parse(row.payload)
        with self.store.transaction() as cursor:
            event = self.decoder.decode(envelope)
            known = self.tracking.versions(cursor, [event.ticket_uuid]).get(event.ticket_uuid, 0)
            if event.version <= known:
                return  # applied already
            for projection in self.projections:
                projection.apply(cursor, [event])
            self.tracking.save(cursor, {}, {event.ticket_uuid: TicketMark(event.version,
                                                                          event.position)})

    def _offset(self, partition: int) -> int:
        mark = self._next.get(partition)
        return mark.next_offset if mark else 0

    def _store(self, records: dict[TopicPartition, list[ConsumerRecord]], skip: set[int]
               ) -> tuple[int, dict[int, PartitionMark]]:
        """Apply ``records`` but those in ``skip`` (``id()``s: set aside), and move the marks."""
        envelopes = {tp: [Envelope.parse(r.value) for r in rs if id(r) not in skip]
                     for tp, rs in records.items()}
        with self.store.transaction() as cursor:
            events, tickets = self._next_events(cursor, envelopes)
            for projection in self.projections:
                projection.apply(cursor, events)
            marks = {}
            for tp, rs in records.items():
                before = self._next.get(tp.partition, PartitionMark(0, 0)).max_sequence
                marks[tp.partition] = PartitionMark(
                    rs[-1].offset + 1, max([before, *(e.sequence for e in envelopes[tp])]))
            self.tracking.save(cursor, marks, tickets)
        self.stats.applied += len(events)
        return len(events), marks

    def _next_events(self, cursor: Cursor, envelopes: dict[TopicPartition, list[Envelope]]
                     ) -> tuple[list[TicketEvent], dict[str, TicketMark]]:
        """The events to apply, in partition order, each the next version of its ticket."""
        ticket_envelopes = []
        for items in envelopes.values():
            for envelope in items:
                if self.decoder.is_ticket_event(envelope):
                    ticket_envelopes.append(envelope)
                else:
                    self.stats.other += 1
        keys = sorted({str(e.originatorid) for e in ticket_envelopes})
        known = self.tracking.versions(cursor, keys)
        dedup = Deduplicator({UUID(k): v for k, v in known.items()})
        events: list[TicketEvent] = []
        tickets: dict[str, TicketMark] = {}
        for envelope in ticket_envelopes:
            verdict = dedup.judge(envelope.originatorid, envelope.originatorversion)
            if verdict is Verdict.DUPLICATE:
                self.stats.duplicates += 1
                continue
            if verdict is Verdict.AHEAD:
                self.stats.ahead += 1
                log.warning("kafka feed %s: %s arrived before an earlier version; skipped until "
                            "the relay re-publishes the gap", self.group, envelope.id)
                continue
            event = self.decoder.decode(envelope)
            events.append(event)
            tickets[event.ticket_uuid] = TicketMark(event.version, event.position)
        return events, tickets

    def _commit_kafka(self, marks: dict[int, PartitionMark]) -> None:
        offsets = {TopicPartition(self.topic, p): OffsetAndMetadata(m.next_offset, "", -1)
                   for p, m in marks.items()}
        try:
            self.consumer.commit(offsets=offsets)
        except KafkaError as error:
            # The read store has the position; the group's offsets only feed lag tools.
            log.warning("kafka feed %s: offset commit failed (%r); positions are stored", self.group,
                        error)

    # -- running ----------------------------------------------------------------------

    def catch_up(self, timeout: float = 60.0) -> int:
        """Apply until every assigned partition is read to its end now; returns events applied."""
        deadline = time.monotonic() + timeout
        applied = 0
        while True:
            applied += self.poll_once()
            if self.caught_up():
                return applied
            if time.monotonic() > deadline:
                raise TimeoutError(f"kafka feed {self.group} not caught up after {timeout}s")

    def run(self, stop: threading.Event) -> None:
        """Apply until ``stop`` is set; failures pause, then the same messages are read again."""
        retried = 0.0
        while not stop.is_set():
            try:
                self.poll_once()
                if time.monotonic() - retried > 5.0:
                    retried = time.monotonic()
                    self.retry_parked()
            except Exception:  # noqa: BLE001 - a worker must outlive a bad moment
                log.exception("kafka feed %s failed; retrying in %.1fs", self.group, self.retry_pause)
                stop.wait(self.retry_pause)

    def close(self) -> None:
        self.consumer.close(autocommit=False)


def _item(record: ConsumerRecord) -> Item:
    """As the parking lot records a message: by envelope ID and ticket when it parses."""
    fallback = f"{record.topic}/{record.partition}/{record.offset}"
    try:
        envelope = Envelope.parse(record.value)
    except Exception:  # noqa: BLE001 - unreadable: its own key, nothing to order it with
        return Item(int(record.offset), fallback, fallback, bytes(record.value or b""))
    return Item(int(record.offset), str(envelope.id), str(envelope.originatorid),
                bytes(record.value))


DEFAULT_GROUP = "pass24-desk-projections"


def build_kafka_feed(
    settings: FeedSettings,
    *,
    calendar: WorkingTime,
    group: str = DEFAULT_GROUP,
    store: ReadStore | None = None,
    config: KafkaConfig | None = None,
) -> KafkaProjectionFeed:
    """The read models ``settings`` name, fed from its ticket-events topic by ``group``.

    The desk's settings keep no cipher or compressor, so the store runner reads plain
    stored JSON and the decoder rebuilds exactly that.
    """
    from projections.store import store_for
    from projections.system import all_projections

    if store is None:
        # On PostgreSQL they stay in the database's own schema with their parking lot (they
        # are fed from the topic, never built by `projections rebuild --into`).
        store = store_for(settings.eventsourcing_env(), settings.projections_sqlite_path,
                          follow=False)
    if config is None:
        config = KafkaConfig(bootstrap_servers=settings.kafka_bootstrap_servers,
                             client_id=settings.kafka_client_id,
                             security=settings.kafka_security())
    return KafkaProjectionFeed(
        config.consumer(group_id=group), store, all_projections(calendar),
        topic=settings.kafka_ticket_events_topic, group=group,
        max_records=settings.projections_batch_size, parking=ParkingLot(store),
        poison_tries=settings.poison_tries,
    )
