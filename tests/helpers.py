"""Small builders shared by the tests."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from domain.values import Actor, Requester

MSK = ZoneInfo("Europe/Moscow")
AGENT = Actor.staff("agent.ivanova")
SUPERVISOR = Actor.staff("supervisor.petrov")
SYSTEM = Actor.system()
CLIENT = Requester(name="Ольга", email="olga@example.ru")
REQUESTER = Actor.requester("olga@example.ru")


def msk(text: str) -> datetime:
    """A Moscow wall-clock instant, e.g. msk("2025-04-28 10:00")."""
    return datetime.fromisoformat(text).replace(tzinfo=MSK)
