"""An API over a desk on the in-memory store, driven by a manual clock."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from projections.system import build_projections
from services.api import create_app
from services.api.auth import Role, TokenStore
from services.application import SupportDesk
from services.clock import ManualClock
from tests.helpers import msk


@dataclass
class Api:
    client: TestClient
    desk: SupportDesk
    clock: ManualClock
    tokens: dict[Role, str]

    def headers(self, role: Role = Role.AGENT) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def receive(self, **overrides: object) -> str:
        body: dict[str, object] = {
            "channel": "phone",
            "requester": {"name": "Ольга", "email": "olga@example.ru"},
            "subject": "Шлагбаум не открывается",
            "description": "Since 09:40 no passes open the barrier.",
            "product": "pass24_control",
            "product_version": "3.14.2",
        }
        body.update(overrides)
        response = self.client.post("/tickets", json=body, headers=self.headers())
        assert response.status_code == 201, response.text
        ticket_id: str = response.json()["id"]
        return ticket_id

    def act(self, ticket_id: str, action: str, body: dict[str, object] | None = None,
            role: Role = Role.AGENT) -> dict[str, object]:
        response = self.client.post(f"/tickets/{ticket_id}/{action}", json=body or {},
                                    headers=self.headers(role))
        assert response.status_code == 200, response.text
        result: dict[str, object] = response.json()
        return result


@pytest.fixture
def api() -> Iterator[Api]:
    clock = ManualClock(msk("2025-04-28 10:00"))
    desk = SupportDesk(clock=clock)
    store = TokenStore(None)
    tokens = {role: store.issue(role, f"{role.value}.tester") for role in Role}
    models, runner = build_projections(desk, calendar=desk.calendar, clock=clock, poll_interval=0.02)
    runner.start()
    app = create_app(desk, tokens=store, read_models=models, runner=runner, catch_up_timeout=0.5)
    try:
        with TestClient(app) as client:
            yield Api(client, desk, clock, tokens)
    finally:
        runner.stop()
