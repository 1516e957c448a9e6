"""Files that came with a ticket's letters: listed from the ticket, served from the store."""

from __future__ import annotations

import re
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Path, Response

from adapters.email.attachments import AttachmentStore
from services.api.deps import Desk
from services.api.problems import problem_responses

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
TicketPath = Annotated[str, Path(min_length=1, max_length=40)]
Sha256 = Annotated[str, Path(pattern=_SHA256.pattern)]


def build_attachments_router(store: AttachmentStore) -> APIRouter:
    router = APIRouter(prefix="/tickets", tags=["attachments"])

    @router.get("/{ticket_id}/attachments", responses=problem_responses(401, 403, 404, 422))
    def list_attachments(ticket_id: TicketPath, desk: Desk) -> dict[str, Any]:
        """Metadata of every file recorded on the ticket (stored or refused, with why)."""
        ticket = desk.get_ticket(ticket_id)
        return {"id": ticket.ticket_id, "items": list(ticket.attachments)}

    @router.get("/{ticket_id}/attachments/{sha256}", responses=problem_responses(401, 403, 404, 422),
                response_class=Response)
    def download(ticket_id: TicketPath, sha256: Sha256,
                 desk: Desk) -> Response:
        """The file's bytes, if it belongs to this ticket and was kept."""
        ticket = desk.get_ticket(ticket_id)
        meta = next((a for a in ticket.attachments if a.get("sha256") == sha256), None)
        if meta is None or not meta.get("stored"):
            raise HTTPException(404, f"no stored attachment {sha256} on {ticket.ticket_id}")
        try:
            content = store.read(sha256)
        except FileNotFoundError:
            raise HTTPException(404, f"attachment {sha256} is recorded but missing from the store") from None
        name = quote(str(meta.get("filename") or sha256))
        return Response(content, media_type=str(meta.get("content_type") or "application/octet-stream"),
                        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{name}"})

    return router
