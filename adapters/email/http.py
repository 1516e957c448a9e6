"""``/intake/quarantine``: letters that could not be read, for staff to inspect."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse, Response

from adapters.email.quarantine import Quarantine
from adapters.problems import problem


# SQLite integers are 64-bit: a larger ID names no letter and must not reach the query.
EntryId = Annotated[int, Path(ge=1, le=2**63 - 1)]


def build_quarantine_router(quarantine: Quarantine) -> APIRouter:
    router = APIRouter(prefix="/intake/quarantine", tags=["intake"])

    @router.get("")
    def list_letters(limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0, le=2**63 - 1)) -> JSONResponse:
        """Quarantined letters, newest first, without their bytes."""
        items = [{"id": q.id, "received_at": q.received_at.isoformat(), "source": q.source,
                  "reason": q.reason, "size": q.size, "sha256": q.sha256}
                 for q in quarantine.list(limit=limit, offset=offset)]
        return JSONResponse({"total": quarantine.count(), "items": items})

    @router.get("/{entry_id}")
    def show_letter(entry_id: EntryId) -> Response:
        """One quarantined letter with its reason and a readable rendering of its bytes."""
        letter = quarantine.get(entry_id)
        if letter is None:
            return problem(404, "not-found", "No such letter", f"no quarantined letter #{entry_id}")
        return JSONResponse({"id": letter.id, "received_at": letter.received_at.isoformat(),
                             "source": letter.source, "reason": letter.reason, "size": letter.size,
                             "sha256": letter.sha256,
                             "raw": letter.raw.decode("utf-8", "replace")})

    @router.get("/{entry_id}/raw")
    def raw_letter(entry_id: EntryId) -> Response:
        """The letter's exact bytes (message/rfc822), to download or re-inject."""
        letter = quarantine.get(entry_id)
        if letter is None:
            return problem(404, "not-found", "No such letter", f"no quarantined letter #{entry_id}")
        return Response(letter.raw, media_type="message/rfc822")

    return router
