"""Wiring: the read models of one desk, and the runner that keeps them current."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from eventsourcing.application import Application

from domain.sla import WorkingTime
from projections.follower import NotificationFollower
from projections.history import EventTexts, HistoryProjection
from projections.parking import ParkingLot, PoisonGuard
from projections.queue import QueueProjection
from projections.readmodels import Clock, ReadModels
from projections.review import ThirdPartyReviewProjection
from projections.runner import WORKER, ProjectionRunner
from projections.sla_stats import SlaStatsProjection
from projections.sla_timers import SlaTimersProjection
from projections.store import PostgresReadStore, ReadStore, SQLiteReadStore, store_for
from projections.tickets import JsonColumns, Projection, dumps

class StoreSettings(Protocol):
    """The part of the service's settings the read models need (services/settings.py)."""

    @property
    def projections_sqlite_path(self) -> Path | None: ...
    @property
    def projections_batch_size(self) -> int: ...
    def eventsourcing_env(self) -> dict[str, str]: ...


def all_projections(calendar: WorkingTime) -> list[Projection]:
    shared = JsonColumns()  # the models of one batch serialise each schedule once
    return [QueueProjection(shared), SlaTimersProjection(shared), HistoryProjection(),
            SlaStatsProjection(calendar, shared), ThirdPartyReviewProjection()]


def build_projections(
    app: Application[Any],
    *,
    calendar: WorkingTime,
    clock: Clock,
    settings: StoreSettings | None = None,
    env: dict[str, str] | None = None,
    store: ReadStore | None = None,
    sqlite_path: Path | str | None = None,
    batch_size: int = 500,
    poll_interval: float = 0.2,
    parking: ParkingLot | None = None,
    poison_tries: int = 3,
) -> tuple[ReadModels, ProjectionRunner]:
    """Read models next to ``app``'s event store, and their runner (not started).

    The store: ``store`` if given; else beside the event store named by
    ``settings`` / ``env`` / the app's own environment (see ``store_for``):
    the same PostgreSQL database, or an SQLite file of its own. With ``parking``,
    poison events are set aside there (worker ``projections``) instead of
    stopping the runner.
    """
    if settings is not None:
        env = env or settings.eventsourcing_env()
        sqlite_path = sqlite_path or settings.projections_sqlite_path
        batch_size = settings.projections_batch_size
    if store is None:
        store = store_for(env if env is not None else _env_of(app), sqlite_path)
    follower = NotificationFollower(app, batch_size=batch_size, poll_interval=poll_interval)
    guard = PoisonGuard(parking, WORKER, tries=poison_tries) if parking is not None else None
    runner = ProjectionRunner(follower, store, all_projections(calendar), guard=guard)
    return ReadModels(store, calendar=calendar, clock=clock,
                      event_texts=event_texts(app, raw_json=runner.raw_json)), runner


def build_into(app: Application[Any], store: SQLiteReadStore | PostgresReadStore, *,
               calendar: WorkingTime, clock: Clock, batch_size: int) -> int:
    """Every read model into an empty ``store`` nobody reads yet (``projections rebuild
    --into``); the position reached."""
    store.fast_load()
    _, runner = build_projections(app, calendar=calendar, clock=clock, store=store,
                                  batch_size=batch_size)
    with runner.bulk_load():
        runner.catch_up()
    store.durable()
    return runner.catch_up()  # what was written while the indexes were built


def event_texts(app: Application[Any], *, raw_json: bool) -> EventTexts:
    """A ticket's events as JSON text, read from the event store (for history pages)."""
    from uuid import UUID

    from adapters.audit.seal import strip

    def texts(ticket_uuid: str, first: int, last: int) -> dict[int, str]:
        stored = app.recorder.select_events(UUID(ticket_uuid), gt=first - 1, lte=last)
        if raw_json:
            return {s.originator_version: strip(s.state).decode() for s in stored}
        found = {}
        for item in stored:
            event = app.mapper.to_domain_event(item)
            found[item.originator_version] = dumps(
                {k: v for k, v in vars(event).items()
                 if k not in ("originator_id", "originator_version")})
        return found

    return texts


def _env_of(app: Application[Any]) -> dict[str, str]:
    return {key: str(value) for key, value in app.env.items()}
