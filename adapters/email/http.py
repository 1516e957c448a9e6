"""``/intake/quarantine``: letters that could not be handled, for staff to inspect and retry.

The composition root includes this router behind the API's role guards (readers)
and hands in the guard for retrying (staff).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, Response

from adapters.email.intake import Delivery
from adapters.email.quarantine import Quarantine
from adapters.problems import problem


# SQLite integers are 64-bit: a larger ID names no letter and must not reach the query.
EntryId = Annotated[int, Path(ge=1, le=2**63 - 1)]


def build_quarantine_router(quarantine: Quarantine,
                            retry: Callable[[int], Delivery] | None = None, *,
                            retry_guard: Callable[..., Any] | None = None) -> APIRouter:
    router = APIRouter(prefix="/intake/quarantine", tags=["intake"])

    def _missing(request: Request, entry_id: int) -> Response:
        return problem(404, "Not Found", f"no quarantined letter #{entry_id}", slug="not-found",
                       instance=request.url.path)

    @router.get("")
    def list_letters(limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0, le=2**63 - 1)) -> JSONResponse:
        """Quarantined letters, newest first, without their bytes."""
        items = [{"id": q.id, "received_at": q.received_at.isoformat(), "source": q.source,
                  "reason": q.reason, "size": q.size, "sha256": q.sha256}
                 for q in quarantine.list(limit=limit, offset=offset)]
        return JSONResponse({"total": quarantine.count(), "items": items})

    @router.get("/{entry_id}")
    def show_letter(entry_id: EntryId, request: Request) -> Response:
        """One quarantined letter with its reason and a readable rendering of its bytes."""
        letter = quarantine.get(entry_id)
        if letter is None:
            return _missing(request, entry_id)
        return JSONResponse({"id": letter.id, "received_at": letter.received_at.isoformat(),
                             "source": letter.source, "reason": letter.reason, "size": letter.size,
                             "sha256": letter.sha256,
                             "raw": letter.raw.decode("utf-8", "replace")})

    @router.get("/{entry_id}/raw")
    def raw_letter(entry_id: EntryId, request: Request) -> Response:
        """The letter's exact bytes (message/rfc822), to download or re-inject."""
        letter = quarantine.get(entry_id)
        if letter is None:
            return _missing(request, entry_id)
        return Response(letter.raw, media_type="message/rfc822")

    if retry is not None:
        guards = [Depends(retry_guard)] if retry_guard is not None else []

        @router.post("/{entry_id}/retry", dependencies=guards)
        def retry_letter(entry_id: EntryId, request: Request) -> Response:
            """Hand the letter to the desk again (after a fix); it leaves the quarantine
            when it goes in."""
            if quarantine.get(entry_id) is None:
                return _missing(request, entry_id)
            delivery = retry(entry_id)
            return JSONResponse({"outcome": delivery.outcome.value,
                                 "ticket_id": delivery.ticket_id, "detail": delivery.detail})

    return router
