"""The composition root: the CLI, the API and every worker build the desk here."""

from __future__ import annotations

from services.application import SupportDesk
from services.clock import Clock
from services.config import load_calendar, load_policy
from services.settings import Settings


def build_desk(settings: Settings | None = None, *, clock: Clock | None = None) -> SupportDesk:
    settings = settings or Settings()
    return SupportDesk(
        env=settings.eventsourcing_env(),
        policy=load_policy(settings.sla_policy_file),
        calendar=load_calendar(settings.calendar_file),
        clock=clock,
        attempts=settings.command_attempts,
    )
