"""The SLA dashboard: one page, served by the API, that reads the API.

``GET /dashboard`` is static HTML and JavaScript (no CDN, nothing fetched from
outside the app); the page's data calls — ``/queue``, ``/sla/stats``,
``/dashboard/events`` — carry a bearer token in the ``Authorization`` header
like any client, so only readers (agent, supervisor, auditor) see data. The
token is typed into the page and kept in the tab's ``sessionStorage``; it never
travels in a URL. Texts come from the message catalogue (``/dashboard/messages``).

The page redraws when the server's event stream says something changed and polls
when the stream is unavailable. Remaining times are the server's, evaluated
in working time at the desk clock's now: they shrink during working hours and
stand still outside them, exactly as the SLA does; the page never extrapolates.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response

STATIC = files("services.api").joinpath("static")
ASSETS = {"dashboard.js": "text/javascript", "dashboard.css": "text/css", "common.js": "text/javascript",
          "ticket.js": "text/javascript", "ticket.css": "text/css"}
REFRESH_SECONDS = 5
# The page runs only its own script and talks only to this origin.
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; base-uri 'none'; "
                               "form-action 'self'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}

router = APIRouter(prefix="/dashboard", include_in_schema=False)


@router.get("", response_class=HTMLResponse)
def page(token: Annotated[str | None, Query(max_length=200)] = None,
         lang: Annotated[str | None, Query(pattern="^(ru|en)$")] = None) -> HTMLResponse:
    """The dashboard page (an old ``?token=`` is removed from the address bar, never used)."""
    return HTMLResponse(STATIC.joinpath("dashboard.html").read_text(encoding="utf-8"),
                        headers=HEADERS)


@router.get("/static/{name}")
def asset(name: str) -> Response:
    """The page's script and style sheet."""
    media_type = ASSETS.get(name)
    if media_type is None:
        raise HTTPException(404, f"no dashboard asset {name!r}")
    return Response(STATIC.joinpath(name).read_text(encoding="utf-8"), media_type=media_type,
                    headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"})


@router.get("/clock")
def clock(request: Request) -> dict[str, Any]:
    """The desk clock's now (charts bucket weeks from it) and the page's polling period."""
    now = request.app.state.desk.clock.now()
    return {"now": now.isoformat(), "refresh_seconds": REFRESH_SECONDS,
            "language": getattr(request.app.state, "language", "ru")}
