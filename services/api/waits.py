"""Read-your-writes waits (``?min_position=``) on the event loop, never on a worker thread.

A wait is an ``anyio`` sleep between looks at the read models' position. The
position is read by at most one thread at a time and at most once per
``poll_interval`` whatever the number of waiters (an in-process runner answers
from memory; ``StorePositions`` reads the read store), so 80 waits cost what one
does, and the thread pool stays free for the requests that need it.

Each caller (token or session) may hold ``per_caller`` waits at once; past that
the request is refused with 429 and ``Retry-After``.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import anyio
import anyio.to_thread


class TooManyWaits(Exception):
    pass


class PositionWaits:
    def __init__(self, runner: Any, *, per_caller: int, poll_interval: float = 0.02) -> None:
        self.runner = runner
        self.per_caller = per_caller
        self.poll_interval = poll_interval
        self._held: Counter[str] = Counter()
        self._position = -1
        self._read_at = 0.0
        self._limiter: anyio.CapacityLimiter | None = None
        self._lock: anyio.Lock | None = None

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

    async def position(self) -> int:
        """The read models' position, at most ``poll_interval`` old."""
        if self._lock is None:
            self._lock = anyio.Lock()
            self._limiter = anyio.CapacityLimiter(1)
        async with self._lock:
            if time.monotonic() - self._read_at >= self.poll_interval:
                self._position = await anyio.to_thread.run_sync(self._read, limiter=self._limiter)
                self._read_at = time.monotonic()
            return self._position

    async def wait(self, caller: str, position: int, timeout: float) -> bool:
        """True once the read models reached ``position``; False after ``timeout``."""
        if self._position >= position:
            return True
        if self._held[caller] >= self.per_caller:
            raise TooManyWaits
        self._held[caller] += 1
        try:
            with anyio.move_on_after(timeout):
                while await self.position() < position:
                    await anyio.sleep(self.poll_interval)
                return True
            return await self.position() >= position
        finally:
            self._held[caller] -= 1
            if not self._held[caller]:
                del self._held[caller]
