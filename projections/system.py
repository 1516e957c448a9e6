"""Wiring: the read models of one desk, and the runner that keeps them current."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from eventsourcing.application import Application

from domain.sla import WorkingTime
from domain.ticket import Ticket
from projections.follower import NotificationFollower
from projections.readmodels import Clock, ReadModels
from projections.runner import ProjectionRunner
from projections.store import ReadStore, store_for
from projections.tickets import TicketsProjection


def build_projections(
    app: Application[Any],
    *,
    calendar: WorkingTime,
    clock: Clock,
    env: dict[str, str] | None = None,
    store: ReadStore | None = None,
    sqlite_path: Path | str | None = None,
    batch_size: int = 500,
    poll_interval: float = 0.2,
) -> tuple[ReadModels, ProjectionRunner]:
    """Read models next to ``app``'s event store (see ``store_for``), and their runner."""
    store = store or store_for(env if env is not None else _env_of(app), sqlite_path)

    def load(originator_id: Any, version: int) -> Ticket:
        ticket: Ticket = app.repository.get(originator_id, version=version)
        return ticket

    follower = NotificationFollower(app, batch_size=batch_size, poll_interval=poll_interval)
    mapper = app.mapper
    # Stored JSON can be kept as history rows only when it is plain (not compressed or encrypted).
    raw = getattr(mapper, "cipher", None) is None and getattr(mapper, "compressor", None) is None
    runner = ProjectionRunner(follower, store, TicketsProjection(calendar, load, raw_state=raw))
    return ReadModels(store, calendar=calendar, clock=clock, runner=runner), runner


def _env_of(app: Application[Any]) -> dict[str, str]:
    return {key: str(value) for key, value in app.env.items()}
