"""Follow an application's notification log, on every persistence module.

eventsourcing 9.5's SQLite recorder cannot ``subscribe``; this follower polls
``select_notifications`` instead, which every recorder supports, so one
implementation serves the projections and the Kafka relay on POPO, SQLite
and PostgreSQL alike. Each item comes with its ``Tracking`` (application name
and notification ID), which consumers store atomically with what they did,
and resume after.

``handle_each`` and ``retry_parked`` are the poison isolation every log follower
shares (see ``projections.parking``): one item failing the same way a few times
is set aside, its ticket's later items are held behind it, the rest go on.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol, TypeVar
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import DatetimeAsISO, JSONTranscoder, Notification, Tracking
from eventsourcing.sqlite import SQLiteApplicationRecorder

from adapters.audit.seal import strip
from projections.parking import Item, Parked, PoisonGuard

T = TypeVar("T")


class Followed(Protocol):
    """What ``handle_each`` needs of an item of a batch: how the parking lot names it."""

    @property
    def item(self) -> Item: ...


F = TypeVar("F", bound=Followed)


def _everything(_: object) -> bool:
    return True


def stores_plain_json(app: Application[Any]) -> bool:
    """Whether the stored state is the transcoder's plain JSON (plus the audit seal).

    True when there is no cipher and no compression, in the mapper itself or around
    the seal (``ChainedMapper.outer_cipher`` / ``outer_compressor``), and datetimes are
    stored as eventsourcing's ``datetime_iso``: then consumers may read the stored
    JSON directly instead of building domain events through the mapper.
    """
    mapper = app.mapper
    transcoder = mapper.transcoder
    return (all(getattr(mapper, name, None) is None
                for name in ("cipher", "compressor", "outer_cipher", "outer_compressor"))
            and isinstance(transcoder, JSONTranscoder)
            and isinstance(transcoder.names.get("datetime_iso"), DatetimeAsISO))


@dataclass(frozen=True)
class Delivered:
    """One event from the log, with where it was in the log."""

    event: DomainEventProtocol[Any]
    tracking: Tracking
    topic: str
    state: bytes = b""

    @property
    def position(self) -> int:
        return self.tracking.notification_id

    @property
    def item(self) -> Item:
        """As the parking lot records it: ordered by aggregate, identified by aggregate and version."""
        event = self.event
        return Item(self.position, f"{event.originator_id}:{event.originator_version}",
                    str(event.originator_id))


class LogRecord(NamedTuple):
    """One stored event as the log holds it, before any decoding."""

    id: int
    originator_id: str
    """The aggregate's UUID as text (``str(UUID)``)."""
    originator_version: int
    topic: str
    state: bytes

    @property
    def position(self) -> int:
        return self.id

    @property
    def item(self) -> Item:
        """As the parking lot records it (the same as ``Delivered.item``)."""
        return Item(self.id, f"{self.originator_id}:{self.originator_version}", self.originator_id)

    def notification(self) -> Notification:
        return Notification(id=self.id, originator_id=UUID(self.originator_id),
                            originator_version=self.originator_version, topic=self.topic,
                            state=self.state)


def _dashed(hexed: str) -> str:
    """``str(UUID(hexed))`` for the 32 lower-case hex digits SQLite stores, without the UUID."""
    if len(hexed) != 32:
        return str(UUID(hexed))
    return f"{hexed[:8]}-{hexed[8:12]}-{hexed[12:16]}-{hexed[16:20]}-{hexed[20:]}"


class NotificationFollower:
    """Reads an application's notification log in order, from a position, forever."""

    def __init__(
        self,
        app: Application[Any],
        *,
        batch_size: int = 500,
        poll_interval: float = 0.2,
    ) -> None:
        self.app = app
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self._wakeup = threading.Event()

    @property
    def application_name(self) -> str:
        return self.app.name

    def head(self) -> int:
        """The position of the last event in the log (0 when empty)."""
        return self.app.recorder.max_notification_id() or 0

    def notifications(self, after: int, limit: int | None = None) -> list[Notification]:
        return list(
            self.app.recorder.select_notifications(
                start=after + 1, limit=limit or self.batch_size, inclusive_of_start=True
            )
        )

    def records(self, after: int, limit: int | None = None) -> list[LogRecord]:
        """The next stored events after ``after``, undecoded.

        On SQLite one lean query, without eventsourcing's ``Notification`` objects and
        ``UUID`` parsing: a rebuild reads every event of the log, and those two cost
        as much as decoding the events' JSON. Elsewhere, from ``notifications``.
        """
        recorder = self.app.recorder
        if isinstance(recorder, SQLiteApplicationRecorder) and \
                recorder.datastore.originator_id_type == "uuid":
            with recorder.datastore.transaction(commit=False) as cursor:
                cursor.execute(
                    "SELECT rowid, originator_id, originator_version, topic, state "  # noqa: S608
                    f"FROM {recorder.events_table_name} WHERE rowid > ? ORDER BY rowid LIMIT ?",
                    (after, limit or self.batch_size))
                return [LogRecord(row[0], _dashed(row[1]), row[2], row[3], row[4])
                        for row in cursor.fetchall()]
        return [LogRecord(n.id, str(n.originator_id), n.originator_version, n.topic, n.state)
                for n in self.notifications(after, limit)]

    def read(self, after: int, limit: int | None = None) -> list[Delivered]:
        """The next batch of events after ``after`` (possibly empty)."""
        mapper = self.app.mapper
        name = self.app.name
        return [
            Delivered(mapper.to_domain_event(n), Tracking(name, n.id), n.topic, strip(n.state))
            for n in self.notifications(after, limit)
        ]

    def record_at(self, position: int) -> LogRecord:
        """The stored event at ``position``, undecoded (for retrying what was set aside)."""
        found = self.records(position - 1, 1)
        if not found or found[0].id != position:
            raise LookupError(f"no event at position {position}")
        return found[0]

    def at(self, position: int) -> Delivered:
        """The event at ``position`` (for retrying what was set aside)."""
        found = self.read(position - 1, 1)
        if not found or found[0].position != position:
            raise LookupError(f"no event at position {position}")
        return found[0]

    def handle_each(
        self,
        batch: Sequence[F],
        handle: Callable[[F], T],
        guard: PoisonGuard,
        wanted: Callable[[F], bool] = _everything,
    ) -> list[T]:
        """``handle`` every wanted item of ``batch``, with poison isolation; their results.

        An item of a ticket with something set aside is held behind it. An item whose
        handling fails is counted; once the guard parks it, its ticket's later items in
        the batch are held and the rest go on. Otherwise (transient, or tries left) the
        error is raised and the caller stores nothing of the batch, so it is read again.
        """
        active = guard.active()
        results: list[T] = []
        for delivered in batch:
            if not wanted(delivered):
                continue
            item = delivered.item
            if item.ticket in active:
                guard.hold(item)
                continue
            try:
                results.append(handle(delivered))
            except Exception as error:
                if not guard.failed(item, error):
                    raise
                active.add(item.ticket)
            else:
                guard.succeeded(item)
        return results

    def retry_parked(self, handle: Callable[[Delivered], object], guard: PoisonGuard) -> int:
        """Apply what ``parked retry`` released, in order (see ``PoisonGuard.retry_pass``)."""

        def again(row: Parked) -> None:
            handle(self.at(row.position))

        return guard.retry_pass(again)

    def batches(self, after: int, stop: threading.Event) -> Iterator[list[Delivered]]:
        """Batches of events after ``after``, waiting for new ones until ``stop`` is set."""
        position = after
        while not stop.is_set():
            batch = self.read(position)
            if batch:
                position = batch[-1].position
                yield batch
                continue
            self.wait()

    def wait(self, timeout: float | None = None) -> None:
        """Sleep until nudged or ``timeout`` (default: the poll interval) passes."""
        self._wakeup.wait(self.poll_interval if timeout is None else timeout)
        self._wakeup.clear()

    def nudge(self) -> None:
        """Wake a waiting follower now (e.g. right after this process wrote)."""
        self._wakeup.set()
