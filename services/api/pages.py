"""Pages for people: the ticket page and what the browser pages need besides the API.

* ``GET /ui/tickets/{id}`` — the ticket page (static shell; its script fetches the report).
* ``GET /tickets/{id}/report`` — the ticket, its history in words and the SVG timeline of
  its SLA clocks as of an instant, as an HTML fragment (readers; ``services/ticket_report``).
* ``GET /dashboard/messages`` — the message catalogue and human names in one language.
* ``GET /dashboard/events`` — server-sent events: ``changed`` whenever the read models move
  or the desk clock advances, so pages redraw without polling (they poll if it fails).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from sse_starlette import EventSourceResponse

from adapters.i18n import LANGUAGES, catalogue, language_or_default, names
from services import ticket_report
from services.api.auth import READERS, Principal
from services.api.dashboard import HEADERS, STATIC
from services.api.deps import Desk, require
from services.api.models import IsoInstant
from services.api.problems import language, problem_responses

Reader = Annotated[Principal, Depends(require(READERS))]
Language = Annotated[str | None, Query(pattern="^(" + "|".join(LANGUAGES) + ")$")]

router = APIRouter()
EVENTS_CHECK_SECONDS = 0.5
EVENTS_CLOCK_STEP_SECONDS = 30.0  # remaining times change with the clock even with no event


@router.get("/ui/tickets/{ticket_id}", response_class=HTMLResponse, include_in_schema=False)
def ticket_page(ticket_id: str, lang: Language = None) -> HTMLResponse:
    """The ticket page (public shell: it holds no data; its script asks with a token)."""
    return HTMLResponse(STATIC.joinpath("ticket.html").read_text(encoding="utf-8"), headers=HEADERS)


@router.get("/tickets/{ticket_id}/report", response_class=HTMLResponse, tags=["tickets"],
            responses=problem_responses(401, 403, 404, 422))
def ticket_report_fragment(request: Request, ticket_id: str, _: Reader, desk: Desk,
                           as_of: IsoInstant | None = None, lang: Language = None) -> HTMLResponse:
    """The ticket as people read it: state, history in words, SLA timeline (SVG) as of ``as_of``."""
    report = ticket_report.build(desk, ticket_id, as_of, lang or language(request))
    return HTMLResponse(ticket_report.fragment(report), headers={"Cache-Control": "no-store"})


@router.get("/dashboard/messages", include_in_schema=False)
def messages(request: Request, lang: Language = None) -> dict[str, Any]:
    """The catalogue in one language (``lang``, else ``Accept-Language``, else the desk's)."""
    chosen = language_or_default(lang, language(request))
    calendar = request.app.state.desk.calendar
    opens, closes = getattr(calendar, "opens", None), getattr(calendar, "closes", None)
    day_hours = ((closes.hour * 60 + closes.minute - opens.hour * 60 - opens.minute) / 60
                 if opens and closes else 9)
    return {"language": chosen, "messages": dict(catalogue(chosen)), "names": names(chosen),
            "day_hours": day_hours}


@router.get("/dashboard/events", include_in_schema=False)
async def events(request: Request, _: Reader) -> EventSourceResponse:
    """``changed`` events (data: read-model position and desk clock) for live pages."""
    desk = request.app.state.desk

    def position() -> Any:
        models = getattr(request.app.state, "read_models", None)
        return models.position() if models is not None else None

    async def stream() -> AsyncIterator[dict[str, str]]:
        sent_position: Any = object()
        sent_clock: datetime | None = None
        while not await request.is_disconnected():
            now = desk.clock.now()
            current = await asyncio.to_thread(position)
            if current != sent_position or sent_clock is None or \
                    abs((now - sent_clock).total_seconds()) >= EVENTS_CLOCK_STEP_SECONDS:
                sent_position, sent_clock = current, now
                yield {"event": "changed", "data": f'{{"position": {current if current is not None else "null"}, '
                                                   f'"now": "{now.isoformat()}"}}'}
            await asyncio.sleep(EVENTS_CHECK_SECONDS)

    return EventSourceResponse(stream(), ping=15, headers={"Cache-Control": "no-store"})
