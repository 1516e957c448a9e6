"""Small builders shared by the tests."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
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


_signed_at: dict[tuple[str, bytes], int] = {}


def webhook_headers(secret: str, raw: bytes) -> dict[str, str]:
    """``X-Pass24-Timestamp`` and ``X-Pass24-Signature`` as a sender computes them. A sender
    retrying the same body signs it again at another second (the same signature twice is a
    replay): a repeat here is signed a second earlier than the last, still well inside the
    five minutes."""
    import time

    from adapters.signing import signed_headers

    now = int(time.time())
    earlier = _signed_at.get((secret, raw))
    at = now if earlier is None else min(now, earlier - 1)
    _signed_at[(secret, raw)] = at
    return signed_headers(secret, raw, at)


def spawned_children(parent: int) -> list[int]:
    """The processes ``parent`` started with multiprocessing's spawn (uvicorn's API
    processes, reader processes), its resource tracker left out."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == parent and b"spawn_main" in command \
                and b"resource_tracker" not in command:
            found.append(int(entry.name))
    return sorted(found)
