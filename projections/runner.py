"""Keeps the read models up to date: follow the log, apply, record the position.

The equivalent of eventsourcing's ``ProjectionRunner`` for every persistence
module (SQLite cannot ``subscribe``): each batch of events and the position
after it are written in one transaction of the read store, so a crash
between batches loses nothing and a restart never applies an event twice.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from projections.follower import NotificationFollower
from projections.store import ReadStore
from projections.tickets import NAME, TicketsProjection, create_tables, drop_rows

log = logging.getLogger("pass24.projections")


class ProjectionRunner:
    def __init__(
        self,
        follower: NotificationFollower,
        store: ReadStore,
        projection: TicketsProjection,
        *,
        name: str = NAME,
    ) -> None:
        self.follower = follower
        self.store = store
        self.projection = projection
        self.name = name
        self._position = 0
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._apply_lock = threading.Lock()
        self.error: BaseException | None = None
        create_tables(store)
        self._position = self.tracked_position()

    def tracked_position(self) -> int:
        rows = self.store.query("SELECT notification_id FROM rm_tracking WHERE name = ?", (self.name,))
        return int(rows[0]["notification_id"]) if rows else 0

    def position(self) -> int:
        return self._position

    def _apply(self, batch: list[Any]) -> None:
        last = batch[-1].tracking
        with self.store.transaction() as cursor:
            self.projection.apply(cursor, batch)
            cursor.execute(
                "INSERT INTO rm_tracking (name, application_name, notification_id) VALUES (?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET notification_id = excluded.notification_id, "
                "application_name = excluded.application_name",
                (self.name, last.application_name, last.notification_id),
            )
        with self._changed:
            self._position = last.notification_id
            self._changed.notify_all()

    def catch_up(self) -> int:
        """Apply everything in the log now; returns the position reached."""
        with self._apply_lock:
            self._position = self.tracked_position()
            while batch := self.follower.read(self._position):
                try:
                    self._apply(batch)
                except BaseException:
                    # The transaction rolled back: forget cached tickets that may
                    # have moved past what the store now says.
                    self.projection.reset()
                    raise
        return self._position

    def rebuild(self) -> int:
        """Drop every row and the position, then replay the whole log."""
        with self._apply_lock:
            with self.store.transaction() as cursor:
                drop_rows(cursor)
            self.projection.reset()
            self._position = 0
        return self.catch_up()

    def wait_for(self, position: int, timeout: float) -> bool:
        """Read-your-writes: True once ``position`` has been applied."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._position < position:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self.follower.nudge()
                self._changed.wait(min(remaining, 0.05))
        return True

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"projection-{self.name}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10) -> None:
        self._stop.set()
        self.follower.nudge()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        backoff = 0.1
        while not self._stop.is_set():
            try:
                with self._apply_lock:
                    batch = self.follower.read(self._position)
                    if batch:
                        self._apply(batch)
                        backoff = 0.1
                        continue
                self.follower.wait()
            except Exception as error:  # noqa: BLE001 - a worker must outlive a bad moment
                self.error = error
                self.projection.reset()
                with self._apply_lock:
                    self._position = self.tracked_position()
                log.exception("projection %s failed at position %s; retrying", self.name, self._position)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 10)
