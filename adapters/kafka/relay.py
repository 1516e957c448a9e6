"""The relay: the event store's notification log, published to Kafka, in order, at least once.

The store stays the source of truth: commands never wait for Kafka. The relay
follows the log from its saved position, publishes a batch (keyed by ticket ID,
so one ticket's events share a partition and keep their order), waits until the
brokers acknowledged all of it, and only then saves the batch's last position.
A crash or a broker failure at any point re-publishes from the saved position:
duplicates are possible, gaps are not. Consumers drop duplicates by the
envelope's ``id`` (originator ID + version), see ``dedup.py``.

When the broker is unreachable the relay drops its producer (nothing half-sent
survives to be reordered), backs off exponentially, and reports how far behind
the log it is; once the broker answers it drains the backlog.

Envelopes are built from the stored JSON when the store keeps plain JSON (no
cipher, no compression: ``stores_plain_json``), the way the read models decode
it, without building domain event objects; ciphered or compressed stores, and
any event the stored-JSON path cannot vouch for (``envelope.stored_data``), go
through the mapper. Both give the same bytes (``tests/unit/test_relay_envelopes.py``).

An event the relay cannot turn into a message (no schema, a serialiser
failing on it) is tried a few times and then set aside (worker ``relay``,
``projections.parking``); the ticket's later events are held behind it, so a
consumer never sees them out of order, and ``parked retry`` publishes them later.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.utils import resolve_topic
from kafka import KafkaProducer
from kafka.errors import KafkaError

from adapters.audit.seal import strip
from adapters.kafka.envelope import document, encode, envelope, event_name, stored_data
from adapters.kafka.positions import PositionStore
from adapters.kafka.schemas import PUBLISHED, UNPUBLISHED
from projections.follower import LogRecord, NotificationFollower, stores_plain_json
from projections.parking import Parked, PoisonGuard

log = logging.getLogger("pass24.relay")

HEADERS = [("content-type", b"application/cloudevents+json")]


class PublishFailed(Exception):
    """Some message of a batch was not acknowledged; the batch will be published again."""


class UnpublishableEvent(Exception):
    """An event type with neither a schema nor a reason to skip it: a code change forgot docs/schemas."""


@dataclass(frozen=True)
class RelayStatus:
    """What the relay reports: where it is, how far behind, and whether the broker answers."""

    name: str
    position: int
    head: int
    published: int
    broker_available: bool
    consecutive_failures: int
    retry_in: float | None
    last_error: str | None

    @property
    def lag(self) -> int:
        return max(self.head - self.position, 0)

    def describe(self) -> str:
        state = "up" if self.broker_available else "DOWN"
        text = (f"relay {self.name}: position={self.position} head={self.head} lag={self.lag} "
                f"published={self.published} broker={state}")
        if self.retry_in is not None:
            text += f" retry_in={self.retry_in:.1f}s failures={self.consecutive_failures}"
        if self.last_error and not self.broker_available:
            text += f" error={self.last_error}"
        return text


@dataclass
class Backoff:
    """Exponential backoff with jitter, so a fleet of relays does not hammer a recovering broker."""

    initial: float = 0.2
    maximum: float = 10.0
    factor: float = 2.0
    jitter: float = 0.2
    _next: float = 0.0

    def next_delay(self) -> float:
        base = self._next or self.initial
        self._next = min(base * self.factor, self.maximum)
        return base * (1 + random.uniform(-self.jitter, self.jitter))

    def reset(self) -> None:
        self._next = 0.0


class TicketKeys:
    """originator ID → ticket ID, for message keys and the envelope's subject.

    Only ``Received`` carries the ticket ID; the aggregate UUID is a uuid5 of it and
    cannot be inverted. Received events passing through fill the cache; a miss
    (after a restart, or an evicted old ticket) reads the ticket's first event from
    the store, which is always there. Nothing to persist, nothing to get out of step.
    """

    def __init__(self, app: Application[Any], capacity: int = 200_000) -> None:
        self.app = app
        self.capacity = capacity
        self._ids: OrderedDict[str, str] = OrderedDict()
        self.lookups = 0

    def learn(self, originator_id: str, ticket_id: str) -> None:
        self._ids[originator_id] = ticket_id
        if len(self._ids) > self.capacity:
            self._ids.popitem(last=False)

    def ticket_id(self, originator_id: str, known: object = None) -> str:
        """The ticket ID of the events of ``originator_id`` (a UUID's text); ``known``: the
        event's own ``ticket_id``."""
        if isinstance(known, str):
            self.learn(originator_id, known)
            return known
        cached = self._ids.get(originator_id)
        if cached is not None:
            return cached
        self.lookups += 1
        first = next(iter(self.app.events.get(UUID(originator_id), lte=1)), None)
        ticket_id = getattr(first, "ticket_id", None)
        if not isinstance(ticket_id, str):
            raise LookupError(f"no Received event for aggregate {originator_id}")
        self.learn(originator_id, ticket_id)
        return ticket_id


class Relay:
    """Publishes an application's events to one topic and remembers how far it got."""

    def __init__(
        self,
        app: Application[Any],
        producer_factory: Callable[[], KafkaProducer],
        positions: PositionStore,
        *,
        topic: str,
        name: str | None = None,
        batch_size: int = 500,
        flush_timeout: float = 30.0,
        poll_interval: float = 0.2,
        backoff: Backoff | None = None,
        status_interval: float = 10.0,
        max_in_flight_batches: int = 4,
        on_status: Callable[[RelayStatus], None] | None = None,
        guard: PoisonGuard | None = None,
        retry_interval: float = 5.0,
    ) -> None:
        self.app = app
        self.guard = guard or PoisonGuard(None, "relay")
        self.retry_interval = retry_interval
        self._retried_at = 0.0
        self.topic = topic
        self.name = name or f"{app.name}->{topic}"
        self.follower = NotificationFollower(app, batch_size=batch_size, poll_interval=poll_interval)
        self.keys = TicketKeys(app)
        self.positions = positions
        self.flush_timeout = flush_timeout
        self.backoff = backoff or Backoff()
        self.status_interval = status_interval
        self.on_status = on_status
        self._producer_factory = producer_factory
        self._producer: KafkaProducer | None = None
        self.source = f"pass24-desk/{app.name}"
        self.stored_json = stores_plain_json(app)
        self._names: dict[str, str] = {}
        self.position = positions.load(self.name)
        self.max_in_flight_batches = max_in_flight_batches
        self._sent = self.position
        self._in_flight: deque[tuple[int, list[Any]]] = deque()
        self.published = 0
        self._failures = 0
        self._retry_in: float | None = None
        self._last_error: str | None = None
        self._last_report = 0.0

    # -- one step ---------------------------------------------------------------

    def publish_next(self) -> int:
        """Send the next batch; save the position of every batch the brokers fully acknowledged.

        Up to ``max_in_flight_batches`` batches are sent before the relay waits for the
        oldest, so reading and encoding overlap the network round trips. The saved
        position only ever covers a prefix of batches whose every message was
        acknowledged. Returns the log entries sent (0 once caught up, after
        everything in flight was acknowledged and saved).
        """
        batch = self.follower.records(self._sent)
        if not batch:
            self._settle(wait_all=True)
            return 0
        producer = self._ensure_producer()
        futures = []
        messages = self.follower.handle_each(batch, self._message, self.guard)
        for message in messages:
            if message is not None:
                key, value = message
                futures.append(producer.send(self.topic, key=key, value=value, headers=HEADERS))
        self._in_flight.append((batch[-1].position, futures))
        self._sent = batch[-1].position
        if len(self._in_flight) > self.max_in_flight_batches:
            self._wait_for_oldest()
        self._settle(wait_all=False)
        return len(batch)

    def _wait_for_oldest(self) -> None:
        _, futures = self._in_flight[0]
        deadline = time.monotonic() + self.flush_timeout
        for future in futures:
            try:
                future.get(timeout=max(deadline - time.monotonic(), 0.001))
            except Exception as error:  # KafkaError, or the future's own timeout
                raise PublishFailed(repr(error)) from error

    def _settle(self, *, wait_all: bool) -> None:
        """Move the saved position past each leading batch that is wholly acknowledged."""
        if wait_all and self._in_flight and self._producer is not None:
            try:
                self._producer.flush(timeout=self.flush_timeout)
            except KafkaError as error:
                raise PublishFailed(f"flush: {error!r}") from error
        settled = self.position
        try:
            while self._in_flight:
                last, futures = self._in_flight[0]
                if not all(f.is_done for f in futures):
                    if wait_all:
                        raise PublishFailed("not acknowledged within the flush timeout")
                    break
                failed = next((f for f in futures if f.failed()), None)
                if failed is not None:
                    raise PublishFailed(repr(failed.exception))
                self._in_flight.popleft()
                settled = last
                self.published += len(futures)
        finally:
            if settled > self.position:
                self.positions.save(self.name, settled)
                self.position = settled

    def _message(self, record: LogRecord) -> tuple[bytes, bytes] | None:
        """``(key, value)`` of the event ``record``; None for events that stay home."""
        name = self._event_name(record.topic)
        version = PUBLISHED.get(name)
        if version is None:
            if name in UNPUBLISHED:
                return None
            raise UnpublishableEvent(f"{name} has no schema in adapters/kafka/schemas.py")
        found = stored_data(strip(record.state)) if self.stored_json else None
        if found is not None:
            time_, data = found
            subject = self.keys.ticket_id(record.originator_id, data.get("ticket_id"))
            built = document(name, record.originator_id, record.originator_version,
                             time=time_, data=data, subject=subject, sequence=record.id,
                             source=self.source, data_version=version)
        else:
            event = self.app.mapper.to_domain_event(record.notification())
            subject = self.keys.ticket_id(record.originator_id, getattr(event, "ticket_id", None))
            built = envelope(event, subject=subject, sequence=record.id, source=self.source,
                             data_version=version)
        return subject.encode(), encode(built)

    def _event_name(self, topic: str) -> str:
        """``Ticket.Received``: the stored topic's class name (``event_name`` of its events)."""
        name = self._names.get(topic)
        if name is None:
            name = self._names[topic] = event_name(resolve_topic(topic))
        return name

    def retry_parked(self) -> int:
        """Publish what ``parked retry`` released, in order, each acknowledged before the next."""
        self._retried_at = time.monotonic()

        def publish(row: Parked) -> None:
            message = self._message(self.follower.record_at(row.position))
            if message is not None:
                key, value = message
                future = self._ensure_producer().send(self.topic, key=key, value=value,
                                                      headers=HEADERS)
                future.get(timeout=self.flush_timeout)

        return self.guard.retry_pass(publish)

    def drain(self) -> int:
        """Publish until the log's current end; raises if the broker fails (for tools and tests)."""
        covered = 0
        while step := self.publish_next():
            covered += step
        return covered

    # -- the worker loop ------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Publish until ``stop`` is set, backing off while the broker is unavailable."""
        log.info("relay %s starting at position %d", self.name, self.position)
        try:
            while not stop.is_set():
                try:
                    covered = self.publish_next()
                    if not covered and time.monotonic() - self._retried_at >= self.retry_interval:
                        self.retry_parked()
                except Exception as error:  # noqa: BLE001 - broker, database, or a poison's tries
                    self._failed(error)
                    self._report(force=True)
                    stop.wait(self._retry_in or 0)
                    continue
                if self._failures:
                    log.info("relay %s: broker is back after %d failures", self.name, self._failures)
                self._failures, self._retry_in, self._last_error = 0, None, None
                self.backoff.reset()
                self._report()
                if not covered:
                    stop.wait(self.follower.poll_interval)
        finally:
            self.close()

    def _failed(self, error: Exception) -> None:
        self._failures += 1
        self._last_error = repr(error)[:300]
        self._retry_in = self.backoff.next_delay()
        # Start again from the last acknowledged position; what was in flight is sent again.
        self._in_flight.clear()
        self._sent = self.position
        # A producer that failed may hold batches that would later land after a re-sent
        # earlier message; closing it without waiting discards them.
        self._drop_producer()

    def status(self) -> RelayStatus:
        return RelayStatus(
            name=self.name,
            position=self.position,
            head=self.follower.head(),
            published=self.published,
            broker_available=self._failures == 0,
            consecutive_failures=self._failures,
            retry_in=self._retry_in,
            last_error=self._last_error,
        )

    def _report(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_report < self.status_interval:
            return
        self._last_report = now
        status = self.status()
        (log.warning if not status.broker_available else log.info)(status.describe())
        if self.on_status is not None:
            self.on_status(status)

    # -- the producer ------------------------------------------------------------------

    def _ensure_producer(self) -> KafkaProducer:
        if self._producer is None:
            self._producer = self._producer_factory()
        return self._producer

    def _drop_producer(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            try:
                producer.close(timeout=0)
            except Exception:  # closing a broken client must not hide the original failure
                log.debug("relay %s: producer close failed", self.name, exc_info=True)

    def close(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            producer.close(timeout=self.flush_timeout)
