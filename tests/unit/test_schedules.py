"""The dashboards' parsed-schedule cache answers what evaluating afresh does, at any moment."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.calendar import WorkingCalendar
from domain.sla import SlaHistory, SlaPolicy, compute_schedule, evaluate
from projections.schedules import Schedules
from tests.unit.test_sla import _history

CAL = WorkingCalendar.default()
POLICY = SlaPolicy.regulation_default()


@given(st.lists(st.composite(lambda draw: _history(draw))(), min_size=1, max_size=4),
       st.lists(st.integers(-60 * 24 * 5, 60 * 24 * 40), min_size=1, max_size=5))
@settings(max_examples=80, deadline=None)
def test_kept_schedules_evaluate_like_fresh_ones(histories: list[SlaHistory],
                                                 minutes: list[int]) -> None:
    # One cache for every schedule and moment: parsed texts, stopped clocks and the
    # positions of instants are shared, the anchor is whichever moment came first.
    schedules = Schedules(CAL, size=3)
    for offset in minutes:
        for history in histories:
            schedule = compute_schedule(history, POLICY, CAL)
            text = json.dumps(schedule.as_dict())
            now = (history.received_at + timedelta(minutes=offset)).astimezone(UTC)
            kept, clocks = schedules.clocks(text, now, schedules.at(now))
            fresh = evaluate(schedule, now, CAL).as_dict()
            assert clocks == {"reaction": fresh["reaction"], "resolution": fresh["resolution"]}
            assert kept.parsed == schedule and kept.raw == schedule.as_dict()
            clocks["reaction"]["changed"] = True  # a caller's additions stay its own
            assert "changed" not in schedules.clocks(text, now)[1]["reaction"]


def test_at_most_size_schedules_are_kept() -> None:
    schedules = Schedules(CAL, size=3)
    start = datetime(2025, 4, 28, 7, 0, tzinfo=UTC)
    texts = []
    for day in range(10):
        history = SlaHistory(received_at=start + timedelta(days=day), level=None)
        texts.append(json.dumps(compute_schedule(history, POLICY, CAL).as_dict()))
    for text in texts:
        schedules.clocks(text, start)
    assert len(schedules._kept) == 3
    assert list(schedules._kept) == texts[-3:]



def test_pages_on_many_threads_share_one_anchor() -> None:
    import threading

    schedules = Schedules(CAL)
    start = datetime(2025, 4, 28, 7, 0, tzinfo=UTC)
    barrier = threading.Barrier(8)
    anchors: list[datetime] = []

    def page(n: int) -> None:
        barrier.wait()
        anchors.append(schedules.at(start + timedelta(hours=n)).anchor)

    threads = [threading.Thread(target=page, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(anchors) == 8 and len(set(anchors)) == 1
