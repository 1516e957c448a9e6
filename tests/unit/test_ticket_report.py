"""The ticket report's model: what the timeline picture draws, from the events."""

from __future__ import annotations

from services import ticket_report
from services.application import SupportDesk
from services.clock import ManualClock
from tests.helpers import msk
from tests.people_scenario import paused_reclassified_breached


def test_clocks_of_a_ticket_paused_reclassified_and_breached() -> None:
    desk = SupportDesk(clock=ManualClock(msk("2025-04-28 17:50")))
    ticket_id = paused_reclassified_breached(desk)
    report = ticket_report.build(desk, ticket_id, msk("2025-04-28 17:50"), "ru")
    resolution = report.clocks["resolution"]
    # Due instants in order: standard from receipt, moved by the 3.5 h pause, then emergency (R12).
    assert [due for _, due, _ in resolution.dues] == [
        msk("2025-05-07 10:00"), msk("2025-05-07 13:30"), msk("2025-04-28 17:30")]
    assert resolution.paused == [(msk("2025-04-28 10:30"), msk("2025-04-28 14:00"), "waiting_for_requester")]
    assert resolution.running == [(msk("2025-04-28 10:00"), msk("2025-04-28 10:30")),
                                  (msk("2025-04-28 14:00"), msk("2025-04-28 17:50"))]
    assert resolution.status == "breached" and [a.kind for a in resolution.alerts] == ["breached"]
    reaction = report.clocks["reaction"]
    # The first reply (the request for details) stopped the first cycle; the reply started another.
    assert reaction.running == [(msk("2025-04-28 10:00"), msk("2025-04-28 10:30")),
                                (msk("2025-04-28 14:00"), msk("2025-04-28 17:50"))]
    assert reaction.due_at == msk("2025-04-28 15:00")

    svg = ticket_report.timeline_svg(report)
    assert svg.count('class="event"') == 7 and svg.count('class="due-moved"') == 4  # two per clock
    assert 'data-reason="waiting_for_requester"' in svg

    earlier = ticket_report.build(desk, ticket_id, msk("2025-04-28 12:00"), "en")
    assert len(earlier.history) == 4 and earlier.clocks["resolution"].status == "paused"
    assert earlier.clocks["resolution"].paused[0][1] == msk("2025-04-28 12:00")  # paused until "now"
    text = ticket_report.text(earlier)
    assert "as of 28.04.2025 12:00 MSK" in text and "+03:00" not in text

    before = ticket_report.build(desk, ticket_id, msk("2025-04-28 09:00"), "ru")
    assert before.as_of == msk("2025-04-28 10:00") and len(before.history) == 1  # not yet received
