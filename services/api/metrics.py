"""Prometheus metrics at ``/metrics``: request latency, log lags, SLA clocks.

Request latency is a histogram by method, route *template* (``/tickets/{ticket_id}``,
never the concrete path, so series stay bounded) and status class. Everything
else is read at scrape time from the stores, so every API replica reports the
same truth whichever process does the work:

- ``pass24_event_store_head`` and ``pass24_projection_position`` / ``_lag_events``
  (how far the read models are behind the event store's notification log);
- ``pass24_relay_lag_events`` when the process knows the Kafka relay's saved position;
- ``pass24_sla_open_clocks{clock,status}``: open tickets' clocks by status now;
- ``pass24_sla_breached_tickets{level}``: tickets that ever breached, per level;
- ``pass24_parked_items{worker,state}``: items the workers set aside (docs/OPERATIONS.md).

The endpoint is public and outside the OpenAPI schema, as scrapers expect;
restrict it at the network (deploy/k8s scrapes it in-cluster only).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger("pass24.metrics")

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CLOCKS = ("reaction", "resolution")
CLOCK_STATUSES = ("on_track", "at_risk", "breached", "paused", "met")
UNMATCHED = "<unmatched>"


class StoreCollector(Collector):
    """Gauges computed from the event store and the read models on every scrape."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def collect(self) -> Iterator[GaugeMetricFamily]:
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


def install(app: FastAPI) -> CollectorRegistry:
    """Time every request and serve ``/metrics``; one registry per app (tests build many)."""
    registry = CollectorRegistry()
    latency = Histogram(
        "pass24_http_request_duration_seconds", "HTTP request latency by route template.",
        ["method", "route", "status"], buckets=LATENCY_BUCKETS, registry=registry,
    )
    registry.register(StoreCollector(app))
    app.state.metrics_registry = registry

    @app.middleware("http")
    async def timed(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            route = request.scope.get("route")
            template = getattr(route, "path", None) or UNMATCHED
            latency.labels(request.method, template, f"{status // 100}xx").observe(
                time.perf_counter() - started)

    router = APIRouter()

    @router.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        """Prometheus text exposition."""
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    app.include_router(router)
    return registry
