"""R6: on public holidays only email is open; refusals point to the address and are counted."""

from __future__ import annotations

import pytest

from domain.calendar import WorkingCalendar
from domain.values import Channel
from services.channel_policy import ChannelClosed, ChannelPolicy
from tests.helpers import msk


def policy() -> ChannelPolicy:
    return ChannelPolicy(WorkingCalendar.default(), support_email="support@pass24online.ru")


def test_public_holiday_refuses_form_and_phone_with_the_email_address() -> None:
    rules = policy()
    may_day = msk("2025-05-01 12:00")
    for channel in (Channel.FORM, Channel.PHONE, Channel.CHATBOT):
        with pytest.raises(ChannelClosed) as refused:
            rules.check(channel, may_day)
        assert "support@pass24online.ru" in str(refused.value)
    rules.check(Channel.EMAIL, may_day)
    assert rules.refusals == {"form": 1, "phone": 1, "chatbot": 1}


def test_ordinary_weekend_and_working_days_are_open() -> None:
    rules = policy()
    rules.check(Channel.FORM, msk("2025-05-10 12:00"))  # a Saturday, not a holiday
    rules.check(Channel.PHONE, msk("2025-05-12 10:00"))
    assert not rules.refusals


def test_new_year_holidays_count_in_moscow_time() -> None:
    rules = policy()
    assert not rules.is_open(Channel.FORM, msk("2026-01-02 00:30"))
    assert rules.is_open(Channel.FORM, msk("2025-12-30 23:30"))  # 31 Dec 2025 is a decreed day off


def test_which_channels_stay_open_is_configuration() -> None:
    rules = ChannelPolicy.from_names(WorkingCalendar.default(), "s@x.ru", ["email", "phone"])
    rules.check(Channel.PHONE, msk("2025-05-01 12:00"))
    with pytest.raises(ChannelClosed):
        rules.check(Channel.FORM, msk("2025-05-01 12:00"))
