"""services/api/waits.py: read-your-writes waits on the event loop with a real projection runner."""

from __future__ import annotations

import asyncio

import pytest

from domain.values import Channel
from projections.system import build_projections
from services.api.waits import PositionWaits, TooManyWaits
from services.application import SupportDesk
from tests.helpers import CLIENT, REQUESTER


def test_waiters_wake_when_their_position_is_applied_and_the_poller_then_stops() -> None:
    desk = SupportDesk()
    _models, runner = build_projections(desk, calendar=desk.calendar, clock=desk.clock,
                                        poll_interval=0.02)
    runner.start()
    waits = PositionWaits(runner, per_caller=4)
    try:
        async def scenario() -> tuple[list[bool], bool]:
            early = asyncio.create_task(waits.wait("a", 1, timeout=5))
            far = asyncio.create_task(waits.wait("a", 10_000, timeout=0.5))
            await asyncio.sleep(0.1)
            # The write lands while both wait; only the one whose position it is wakes.
            await asyncio.to_thread(desk.receive, channel=Channel.EMAIL, requester=CLIENT,
                                    subject="s", description="d", actor=REQUESTER)
            results = [await early, await far]
            await asyncio.sleep(0.1)
            assert waits._poller is not None
            return results, waits._poller.done()

        (early, far), poller_done = asyncio.run(scenario())
    finally:
        runner.stop()

    assert early is True and far is False
    assert poller_done  # nobody waits: no polling
    assert waits.last_position is not None and waits.last_position >= 1
    assert waits.held("a") == 0


def test_a_caller_past_its_allowance_is_refused_at_once() -> None:
    desk = SupportDesk()
    _models, runner = build_projections(desk, calendar=desk.calendar, clock=desk.clock)
    waits = PositionWaits(runner, per_caller=2)

    async def scenario() -> None:
        held = [asyncio.create_task(waits.wait("a", 99, timeout=0.3)) for _ in range(2)]
        await asyncio.sleep(0.05)
        with pytest.raises(TooManyWaits):
            await waits.wait("a", 99, timeout=0.3)
        assert await waits.wait("b", 99, timeout=0.05) is False  # another caller still may
        assert [await t for t in held] == [False, False]

    asyncio.run(scenario())
    assert waits.held("a") == 0
