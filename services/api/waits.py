"""Read-your-writes waits (``?min_position=``) on the event loop, never on a worker thread.

A waiting request parks a future and sleeps; one poller task per event loop
reads the read models' position every ``poll_interval`` while anyone waits (in
the loop's default executor: an in-process runner answers from memory,
``StorePositions`` reads the read store) and wakes exactly the waiters whose
position was reached. So 80 waits cost what one does: one read per interval and
no wake-ups until there is something to see, and the thread pool that serves
sync endpoints is never touched.

Each caller (token or session) may hold ``per_caller`` waits at once; past that
the request is refused with 429 and ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import Any

log = logging.getLogger("pass24.api")


class TooManyWaits(Exception):
    pass


class PositionWaits:
    def __init__(self, runner: Any, *, per_caller: int, poll_interval: float = 0.02) -> None:
        self.runner = runner
        self.per_caller = per_caller
        self.poll_interval = poll_interval
        self._held: Counter[str] = Counter()
        self._position = -1
        self._waiters: dict[asyncio.Future[bool], int] = {}
        self._poller: asyncio.Task[None] | None = None

    @property
    def last_position(self) -> int | None:
        """The position last read, without reading (None before the first read)."""
        return self._position if self._position >= 0 else None

    def held(self, caller: str) -> int:
        return self._held[caller]

    def _read(self) -> int:
        follower = getattr(self.runner, "follower", None)
        if follower is not None:  # a polling follower looks at the log now, not in a while
            follower.nudge()
        return int(self.runner.position())

    async def _poll(self) -> None:
        loop = asyncio.get_running_loop()
        while self._waiters:
            try:
                self._position = await loop.run_in_executor(None, self._read)
            except Exception:  # noqa: BLE001 - the store may come back; waiters time out meanwhile
                log.warning("read-your-writes: position unreadable", exc_info=True)
            for future, target in list(self._waiters.items()):
                if target <= self._position and not future.done():
                    future.set_result(True)
            await asyncio.sleep(self.poll_interval)

    async def wait(self, caller: str, position: int, timeout: float) -> bool:
        """True once the read models reached ``position``; False after ``timeout``."""
        if self._position >= position:
            return True
        if self._held[caller] >= self.per_caller:
            raise TooManyWaits
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        self._held[caller] += 1
        self._waiters[future] = position
        try:
            if self._poller is None or self._poller.done() or self._poller.get_loop() is not loop:
                self._poller = loop.create_task(self._poll())
            done, _ = await asyncio.wait({future}, timeout=timeout)
            return future in done
        finally:
            del self._waiters[future]
            future.cancel()
            self._held[caller] -= 1
            if not self._held[caller]:
                del self._held[caller]
