"""End a child process when the process that started it is gone.

A process killed outright (SIGKILL, the out-of-memory killer) runs no code on the way
out, so its children are never told: API processes under ``serve --processes`` would go on
serving without the workers, and reader processes would wait for queries for ever. Each
child watches its parent's pid instead, given to it by the parent itself: in a container
the parent may be pid 1, so "my parent is now 1" proves nothing.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

SUPERVISOR_ENV = "PASS24_SUPERVISOR_PID"
"""Set by ``serve --processes`` for the API processes it starts."""


def watch_parent(parent: int, then: Callable[[], None], *, every: float = 0.5) -> None:
    """Call ``then`` (in a daemon thread) once this process's parent is no longer ``parent``."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every)
        then()

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
