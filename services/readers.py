"""Dashboard queries answered in processes of their own (``PASS24_API_READERS``).

A dashboard query is CPU-bound Python: clocks evaluated now, histograms merged, pages
built. In the API process it holds the interpreter lock every other request waits for,
``/healthz`` included, and one process serves at most one core. With readers, the queue,
SLA timers, SLA statistics and third-party review are answered by N spawned processes,
each with its own connection to the read store, one query at a time and first come first
served, whichever connection the request came on. The API process keeps HTTP,
authentication and validation, and waits for the answer off the interpreter lock.

Each query carries the API process's "now", so the answer is the one the in-process
read models would give at that moment. A reader that dies (killed, out of memory)
breaks the pool: the next query starts a new one and is asked again there.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime, timezone
from typing import Any

from projections.readmodels import Page, ReadModels
from projections.store import store_for
from services.clock import ManualClock
from services.config import load_calendar
from services.parent_watch import watch_parent
from services.settings import Settings

log = logging.getLogger("pass24.readers")


class ReaderProcesses:
    """The read models' interface, with the dashboard queries asked of reader processes."""

    def __init__(self, models: ReadModels, settings: Settings, processes: int) -> None:
        self.models = models
        self.processes = processes
        self._settings = settings
        self._lock = threading.Lock()
        self._pool = self._start()

    def queue(self, **filters: Any) -> Page:
        page: Page = self._ask("queue", filters)
        return page

    def sla_timers(self, **filters: Any) -> Page:
        page: Page = self._ask("sla_timers", filters)
        return page

    def stats(self, **filters: Any) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self._ask("stats", filters)
        return rows

    def third_party_letters(self, **filters: Any) -> Page:
        page: Page = self._ask("third_party_letters", filters)
        return page

    def position(self) -> int:
        return self.models.position()

    def close(self) -> None:
        self._pool.shutdown(cancel_futures=True)

    def _start(self) -> ProcessPoolExecutor:
        pool = ProcessPoolExecutor(self.processes, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_open, initargs=(self._settings, os.getpid()))
        # Started now, each opening its store, not on the first dashboard requests.
        for _ in range(self.processes):
            pool.submit(_ready)
        return pool

    def _ask(self, method: str, filters: dict[str, Any]) -> Any:
        at = self.models.clock.now()
        pool = self._pool
        try:
            return pool.submit(_answer, method, at, filters).result()
        except BrokenProcessPool:
            with self._lock:
                if self._pool is pool:
                    log.warning("a reader process died; starting %d new ones", self.processes)
                    self._pool = self._start()
                pool = self._pool
            return pool.submit(_answer, method, at, filters).result()


_CLOCK = ManualClock(datetime.now(timezone.utc))
"""A reader's clock: set to the moment the API process asked at."""
_models: ReadModels | None = None


def _open(settings: Settings, parent: int) -> None:
    global _models  # noqa: PLW0603 - one set of read models per reader process
    # An API process killed outright, or ended by the SIGTERM uvicorn raises again after
    # its graceful shutdown, runs no exit handler that would stop its readers.
    watch_parent(parent, lambda: os._exit(0))
    # Ctrl-C reaches the whole terminal's process group: the API process stops its readers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    store = store_for(settings.eventsourcing_env(), settings.projections_sqlite_path)
    _models = ReadModels(store, calendar=load_calendar(settings.calendar_file), clock=_CLOCK)


def _ready() -> bool:
    return _models is not None


def _answer(method: str, at: datetime, filters: dict[str, Any]) -> Any:
    assert _models is not None
    _CLOCK.set(at)
    return getattr(_models, method)(**filters)
