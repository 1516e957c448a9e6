"""Moving-window limits (``limits``): registration notices per address, the public form."""

from __future__ import annotations

import time

from adapters.form.guard import FormGuard
from adapters.outbox.notice_limit import NoticeLimit
from adapters.signing import ReplayCache


def test_notices_per_address_stop_at_the_limit_and_are_per_address() -> None:
    limit = NoticeLimit("3/hour;5/day")
    assert [limit.allow("Robot@Example.com ") for _ in range(5)] == [True] * 3 + [False] * 2
    assert limit.allow("olga@example.ru")
    assert NoticeLimit("").allow("robot@example.com")  # no limit configured


def test_a_refused_notice_does_not_use_up_the_window() -> None:
    limit = NoticeLimit("2/second")
    assert limit.allow("a@x.ru") and limit.allow("a@x.ru") and not limit.allow("a@x.ru")
    time.sleep(1.1)
    assert limit.allow("a@x.ru")


def test_the_form_guard_binds_a_token_to_one_submission() -> None:
    guard = FormGuard(ReplayCache(None), per_client="", per_address="")
    assert not guard.token_reused("t1", "submission-a")
    assert not guard.token_reused("t1", "submission-a")  # a retry of the same submission
    assert guard.token_reused("t1", "submission-b")
    assert not guard.token_reused("t2", "submission-b")


def test_the_form_guard_limits_clients_and_addresses_separately() -> None:
    guard = FormGuard(ReplayCache(None), per_client="2/minute", per_address="1/hour")
    assert guard.over_limit("client", "10.0.0.1") is None
    assert guard.over_limit("client", "10.0.0.1") is None
    assert guard.over_limit("client", "10.0.0.1") == "2 per 1 minute"
    assert guard.over_limit("client", "10.0.0.2") is None
    assert guard.over_limit("address", "Victim@Example.com") is None
    assert guard.over_limit("address", "victim@example.com") == "1 per 1 hour"
