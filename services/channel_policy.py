"""R6: which intake channels are open when, decided by the working calendar.

On public holidays (non-working days that are not ordinary weekends) only email
is accepted by default; the other channels get a refusal that points to the
support address. Refusals are counted and logged, never silent.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from domain.calendar import WorkingCalendar
from domain.errors import RuleViolated
from domain.values import Channel

log = logging.getLogger(__name__)
MOSCOW = ZoneInfo("Europe/Moscow")


class ChannelClosed(RuleViolated):
    """The channel does not take requests now; ``message`` says where to write instead."""

    def __init__(self, channel: Channel, message: str) -> None:
        super().__init__("channel_closed", message)
        self.channel = channel


@dataclass
class ChannelPolicy:
    calendar: WorkingCalendar
    support_email: str = "support@pass24online.ru"
    holiday_channels: frozenset[Channel] = frozenset({Channel.EMAIL})
    refusals: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def from_names(cls, calendar: WorkingCalendar, support_email: str,
                   holiday_channels: Iterable[str]) -> ChannelPolicy:
        return cls(calendar, support_email, frozenset(Channel(c) for c in holiday_channels))

    def is_open(self, channel: Channel, at: datetime) -> bool:
        day = at.astimezone(MOSCOW).date()
        if self.calendar.is_public_holiday(day) and not self.calendar.is_working_day(day):
            return channel in self.holiday_channels
        return True

    def check(self, channel: Channel, at: datetime) -> None:
        """Raise ``ChannelClosed`` (and count it) when ``channel`` is closed at ``at``."""
        if self.is_open(channel, at):
            return
        day = at.astimezone(MOSCOW).date().isoformat()
        with self._lock:
            self.refusals[channel.value] += 1
            total = self.refusals[channel.value]
        log.warning("R6 refusal #%d on %s: %s intake is closed on public holidays",
                    total, day, channel.value)
        raise ChannelClosed(
            channel,
            f"{day} is a public holiday: requests are accepted by email only. "
            f"Please write to {self.support_email}. "
            f"{day} — праздничный день: заявки принимаются только по электронной почте "
            f"{self.support_email}.",
        )
