"""Prometheus metrics at ``/metrics``: request latency, log lags, SLA clocks.

Request latency is a histogram by method, route *template* (``/tickets/{ticket_id}``,
never the concrete path, so series stay bounded) and status class. Everything
else is read from the stores, so every API replica reports the same truth
whichever process does the work; those gauges are recomputed in the background
at most every ``PASS24_METRICS_CACHE_SECONDS``, so a scrape costs O(1) whatever
the number of tickets:

- ``pass24_event_store_head`` and ``pass24_projection_position`` / ``_lag_events``
  (how far the read models are behind the event store's notification log);
- ``pass24_relay_lag_events`` when the process knows the Kafka relay's saved position;
- ``pass24_sla_open_clocks{clock,status}``: open tickets' clocks by status now;
- ``pass24_sla_breached_tickets{level}``: tickets that ever breached, per level;
- ``pass24_parked_items{worker,state}``: items the workers set aside (docs/OPERATIONS.md).

The endpoint is outside the OpenAPI schema, as scrapers expect; it is public
unless ``PASS24_METRICS_TOKEN`` is set (then scrapers send it as a bearer token),
and ``PASS24_METRICS_PORT`` serves it on its own port instead of the API's.
"""

from __future__ import annotations

import hmac
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("pass24.metrics")

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CLOCKS = ("reaction", "resolution")
CLOCK_STATUSES = ("on_track", "at_risk", "breached", "paused", "met")
UNMATCHED = "<unmatched>"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


class StoreCollector(Collector):
    """Gauges computed from the event store and the read models, off the scrape path.

    A scrape returns the last computed families at once (O(1)); when they are older
    than ``max_age`` seconds one background thread recomputes them for the next
    scrapes. Only the first scrape of a process waits for a computation.
    """

    def __init__(self, app: FastAPI, *, max_age: float = 10.0) -> None:
        self.app = app
        self.max_age = max_age
        self._lock = threading.Lock()
        self._families: list[GaugeMetricFamily] | None = None
        self._computed_at = 0.0
        self._refreshing = False

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self._lock:
            families = self._families
            stale = time.monotonic() - self._computed_at >= self.max_age
            start = stale and families is not None and not self._refreshing
            if start:
                self._refreshing = True
        if families is None:
            families = self.refresh()
        elif start:
            threading.Thread(target=self.refresh, name="metrics-refresh", daemon=True).start()
        yield from families

    def refresh(self) -> list[GaugeMetricFamily]:
        try:
            families = list(self._compute())
        except Exception:  # noqa: BLE001 - a scrape must answer even when a store does not
            log.warning("metrics: store gauges unavailable", exc_info=True)
            families = []
        with self._lock:
            self._families, self._computed_at, self._refreshing = families, time.monotonic(), False
        return families

    def _compute(self) -> Iterator[GaugeMetricFamily]:
        state = self.app.state
        try:
            head = int(state.desk.recorder.max_notification_id() or 0)
        except Exception:  # noqa: BLE001 - a scrape must answer even when the store does not
            log.warning("metrics: event store unreachable", exc_info=True)
            return
        yield _gauge("pass24_event_store_head", "Position of the last event in the notification log.",
                     head)
        relay_position: Callable[[], int | None] | None = getattr(state, "relay_position", None)
        if relay_position is not None:
            relayed = relay_position()
            if relayed is not None:
                yield _gauge("pass24_relay_lag_events",
                             "Events stored but not yet published to Kafka by the relay.",
                             max(head - relayed, 0))
        yield from _parked_families(getattr(state, "parking", None))
        models = state.read_models
        if models is None:
            return
        position = int(models.position())
        yield _gauge("pass24_projection_position",
                     "Lowest notification position every read model has applied.", position)
        yield _gauge("pass24_projection_lag_events",
                     "Events in the log that the read models have not applied yet.",
                     max(head - position, 0))
        yield from _sla_families(models)


def _parked_families(parking: Any) -> Iterator[GaugeMetricFamily]:
    if parking is None:
        return
    try:
        counts = parking.counts()
    except Exception:  # noqa: BLE001 - a scrape must answer
        log.warning("metrics: parked items unreadable", exc_info=True)
        return
    family = GaugeMetricFamily("pass24_parked_items",
                               "Items a worker set aside (parked) or holds behind them.",
                               labels=["worker", "state"])
    for (worker, state), count in sorted(counts.items()):
        family.add_metric([worker, state], count)
    yield family


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def _sla_families(models: Any) -> Iterator[GaugeMetricFamily]:
    open_timers = models.sla_timers(limit=1_000_000_000).items
    counts: Counter[tuple[str, str]] = Counter(
        (clock, item[clock]["status"]) for item in open_timers for clock in CLOCKS
    )
    clocks = GaugeMetricFamily("pass24_sla_open_clocks",
                               "SLA clocks of open tickets by clock and status, evaluated now.",
                               labels=["clock", "status"])
    for clock in CLOCKS:
        for status in CLOCK_STATUSES:
            clocks.add_metric([clock, status], counts[(clock, status)])
    yield clocks
    per_level: Counter[str] = Counter()
    for row in models.stats():
        per_level[row["level"]] += int(row["breached"])
    breached = GaugeMetricFamily("pass24_sla_breached_tickets",
                                 "Tickets with an SLA clock that went past due (ever), per level.",
                                 labels=["level"])
    for level, count in sorted(per_level.items()):
        breached.add_metric([level], count)
    yield breached


class RequestTimer:
    """Times every request by its route template, as pure ASGI middleware (Starlette's
    ``@app.middleware("http")`` runs each request in another task and passes the body
    through a stream: a cost every request paid)."""

    def __init__(self, app: ASGIApp, latency: Histogram) -> None:
        self.app = app
        self.latency = latency

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            template = getattr(scope.get("route"), "path", None) or UNMATCHED
            self.latency.labels(scope["method"], template, f"{status // 100}xx").observe(
                time.perf_counter() - started)


def install(app: FastAPI, *, max_age: float = 10.0, token: str = "",
            serve: bool = True) -> CollectorRegistry:
    """Time every request and serve ``/metrics`` (unless ``serve`` is false: another port
    serves the registry); one registry per app (tests build many). With ``token``,
    ``/metrics`` needs ``Authorization: Bearer <token>``."""
    registry = CollectorRegistry()
    shared = os.environ.get(MULTIPROC_ENV)
    if shared:
        # ``serve --processes N``: every process writes its samples under ``shared`` and
        # any one of them serves the sums.
        MultiProcessCollector(registry, path=shared)  # type: ignore[no-untyped-call]
    latency = Histogram(
        "pass24_http_request_duration_seconds", "HTTP request latency by route template.",
        ["method", "route", "status"], buckets=LATENCY_BUCKETS,
        registry=None if shared else registry,
    )
    registry.register(StoreCollector(app, max_age=max_age))
    app.state.metrics_registry = registry

    app.add_middleware(RequestTimer, latency=latency)

    if not serve:
        return registry
    router = APIRouter()
    expected = f"Bearer {token}".encode()

    @router.get("/metrics", include_in_schema=False)
    def metrics(request: Request) -> Response:
        """Prometheus text exposition."""
        if token:
            given = request.headers.get("authorization", "").encode("utf-8", "surrogateescape")
            if not hmac.compare_digest(given, expected):
                raise HTTPException(401, "metrics need the metrics bearer token",
                                    headers={"WWW-Authenticate": "Bearer"})
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    app.include_router(router)
    return registry
