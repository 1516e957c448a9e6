"""A ticket that was paused, reclassified and breached: what the ticket page and the
audit export are tested with (shared by the unit and browser tests)."""

from __future__ import annotations

from domain.sla import ClockName
from domain.values import Category, Channel, Level, Product, RequiredInfo
from services.application import SupportDesk
from tests.helpers import AGENT, CLIENT, REQUESTER, SUPERVISOR, SYSTEM, msk


def paused_reclassified_breached(desk: SupportDesk) -> str:
    """Mon 28.04.2025: received 10:00 as standard, paused 10:30–14:00 for details,
    reclassified to emergency at 15:00 (due moves back to receipt + 4 h + the pause),
    resolution breached 17:30, alert recorded 17:45."""
    ticket_id = desk.receive(channel=Channel.PHONE, requester=CLIENT, subject="Шлагбаум не открывается",
                             description="С 09:40 пропуска не открывают шлагбаум.",
                             product=Product.CONTROL, product_version="3.14.2", actor=AGENT,
                             at=msk("2025-04-28 10:00")).ticket_id
    desk.classify(ticket_id, level=Level.STANDARD, product=Product.CONTROL, category=Category.DEFECT,
                  actor=AGENT, at=msk("2025-04-28 10:10"))
    desk.assign(ticket_id, assignee="agent.kim", actor=SUPERVISOR, at=msk("2025-04-28 10:15"))
    desk.request_information(ticket_id, text="Пришлите, пожалуйста, журнал контроллера.",
                             items=[RequiredInfo.DESCRIPTION], actor=AGENT, at=msk("2025-04-28 10:30"))
    desk.record_requester_reply(ticket_id, text="Журнал во вложении.", actor=REQUESTER,
                                at=msk("2025-04-28 14:00"))
    desk.reclassify(ticket_id, reason="стоит вся площадка", level=Level.EMERGENCY, actor=SUPERVISOR,
                    at=msk("2025-04-28 15:00"))
    desk.record_sla_alert(ticket_id, clock=ClockName.RESOLUTION, breached=True, actor=SYSTEM,
                          at=msk("2025-04-28 17:45"))
    return ticket_id
