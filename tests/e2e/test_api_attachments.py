"""Attachments recorded on a ticket, downloaded over the API by staff and auditors."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from adapters.email.attachments import AttachmentStore
from adapters.email.message import AttachedFile
from services.api import create_app
from services.api.attachments import build_attachments_router
from services.api.auth import READERS, Role, TokenStore
from services.application import SupportDesk
from services.clock import ManualClock
from tests.helpers import CLIENT, REQUESTER, SYSTEM, msk
from domain.values import Channel


def test_staff_download_a_stored_attachment_and_only_that(tmp_path: Path) -> None:
    desk = SupportDesk(clock=ManualClock(msk("2025-04-28 10:00")))
    store = AttachmentStore(tmp_path / "files", max_bytes=1000)
    ticket_id = desk.receive(channel=Channel.EMAIL, requester=CLIENT, subject="Logs",
                             description="See attached", product_version="1", actor=REQUESTER).ticket_id
    kept = store.store(AttachedFile(filename="журнал.txt", content_type="text/plain", content=b"gate 2 offline"))
    refused = store.store(AttachedFile(filename="video.mp4", content_type="video/mp4", content=b"x" * 2000))
    desk.add_attachments(ticket_id, source="<m1@example.ru>", attachments=[kept, refused], actor=SYSTEM)
    tokens = TokenStore(None)
    auditor = {"Authorization": f"Bearer {tokens.issue(Role.AUDITOR, 'a')}"}
    integration = {"Authorization": f"Bearer {tokens.issue(Role.INTEGRATION, 'i')}"}
    app = create_app(desk, tokens=tokens, extra_routers=[(build_attachments_router(store), READERS)])
    client = TestClient(app)

    listing = client.get(f"/tickets/{ticket_id}/attachments", headers=auditor).json()
    assert [(a["filename"], a["stored"]) for a in listing["items"]] == [("журнал.txt", True), ("video.mp4", False)]
    file = client.get(f"/tickets/{ticket_id}/attachments/{kept['sha256']}", headers=auditor)
    assert file.status_code == 200 and file.content == b"gate 2 offline"
    assert file.headers["content-type"].startswith("text/plain")
    assert "filename*=UTF-8''" in file.headers["content-disposition"]
    assert client.get(f"/tickets/{ticket_id}/attachments/{refused['sha256']}", headers=auditor).status_code == 404
    assert client.get(f"/tickets/{ticket_id}/attachments/{'0' * 64}", headers=auditor).status_code == 404
    assert client.get(f"/tickets/{ticket_id}/attachments/../../etc", headers=auditor).status_code in (404, 422)
    assert client.get(f"/tickets/{ticket_id}/attachments", headers=integration).status_code == 403
