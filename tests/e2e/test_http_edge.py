"""The HTTP edge in process: credentials, sessions and CSRF, bounded waits, metrics,
signed webhooks with timestamps, the public form's limits, malformed input as 4xx."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from adapters.signing import sign, signed_headers
from projections.system import build_projections
from services.api import create_app
from services.api.auth import Role, TokenStore
from services.api.edge import EdgeLimits
from services.application import SupportDesk
from services.bootstrap import build_services
from services.clock import ManualClock
from services.settings import Settings
from tests.e2e.conftest import Api
from tests.helpers import msk

PROBLEM = "application/problem+json"
FORM_SECRET = "form-secret-0123456789"
PHONE_SECRET = "phone-secret-0123456789"


def is_problem(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["status"] == status


# -- credentials -------------------------------------------------------------------


def test_a_token_in_the_url_is_refused_everywhere(api: Api) -> None:
    token = api.tokens[Role.AGENT]
    for path in ("/queue", "/dashboard", "/tickets/P24-AAAAAA", "/healthz"):
        for name in ("token", "access_token", "Token"):
            response = api.client.get(path, params={name: token})
            is_problem(response, 400)
            assert "Authorization header" in response.json()["detail"]
            assert token not in response.text


def test_a_session_cookie_stands_for_the_token_and_writes_need_the_csrf_header() -> None:
    clock = ManualClock(msk("2025-04-28 10:00"))
    desk = SupportDesk(clock=clock)
    store = TokenStore(None)
    agent = store.issue(Role.AGENT, "agent.cookie")
    app = create_app(desk, tokens=store, edge=EdgeLimits(session_secret=b"s" * 32))
    with TestClient(app, base_url="https://desk.example") as client:
        refused = client.post("/session")
        signed_in = client.post("/session", headers={"Authorization": f"Bearer {agent}"})
        cookie = signed_in.headers["set-cookie"]
        body = {"channel": "phone", "requester": {"phone": "+7 495 000 00 00"},
                "description": "x", "product": "pass24_control", "product_version": "1"}
        no_header = client.post("/tickets", json=body)
        foreign = client.post("/tickets", json=body,
                              headers={"X-Pass24-CSRF": "1", "Origin": "https://evil.example"})
        written = client.post("/tickets", json=body,
                              headers={"X-Pass24-CSRF": "1", "Origin": "https://desk.example"})
        read = client.get(f"/tickets/{written.json()['id']}")
        forged_value = client.cookies["pass24_session"][:-4] + "0000"
        client.cookies.set("pass24_session", forged_value, domain="desk.example")
        forged = client.get("/queue")
        client.cookies.clear()
        signed_out = client.delete("/session")

    is_problem(refused, 401)
    assert signed_in.status_code == 204
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" in cookie
    assert agent not in cookie  # the cookie carries a signed digest, never the token
    is_problem(no_header, 403)
    is_problem(foreign, 403)
    assert written.status_code == 201, written.text
    assert read.status_code == 200
    is_problem(forged, 401)
    assert signed_out.status_code == 204 and "pass24_session=\"\"" in signed_out.headers["set-cookie"]


def test_waits_per_token_are_bounded_with_429_and_retry_after() -> None:
    clock = ManualClock(msk("2025-04-28 10:00"))
    desk = SupportDesk(clock=clock)
    store = TokenStore(None)
    one, other = store.issue(Role.AUDITOR, "one"), store.issue(Role.AUDITOR, "other")
    models, runner = build_projections(desk, calendar=desk.calendar, clock=clock)  # not started
    app = create_app(desk, tokens=store, read_models=models, runner=runner, catch_up_timeout=1.0,
                     edge=EdgeLimits(waits_per_token=3))

    async def scenario() -> tuple[list[httpx.Response], httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            def wait(token: str) -> asyncio.Task[httpx.Response]:
                return asyncio.create_task(client.get(
                    "/queue", params={"min_position": 50},
                    headers={"Authorization": f"Bearer {token}"}))
            mine = [wait(one) for _ in range(5)]
            await asyncio.sleep(0.3)
            theirs = wait(other)
            return list(await asyncio.gather(*mine)), await theirs

    mine, theirs = asyncio.run(scenario())

    statuses = sorted(r.status_code for r in mine)
    assert statuses == [429, 429, 503, 503, 503]
    limited = next(r for r in mine if r.status_code == 429)
    assert limited.headers["retry-after"] == "1"
    assert limited.headers["content-type"] == PROBLEM
    assert theirs.status_code == 503  # another token has its own allowance (and timed out)


# -- metrics -------------------------------------------------------------------


def test_metrics_can_require_a_token_and_are_served_from_a_cache(api: Api) -> None:
    desk = api.desk
    models, runner = build_projections(desk, calendar=desk.calendar, clock=api.clock)
    runner.catch_up()
    app = create_app(desk, tokens=TokenStore(None), read_models=models,
                     edge=EdgeLimits(metrics_token="scrape-me", metrics_cache_seconds=3600))
    with TestClient(app) as client:
        anonymous = client.get("/metrics")
        first = client.get("/metrics", headers={"Authorization": "Bearer scrape-me"})
        api.receive()
        runner.catch_up()
        cached = client.get("/metrics", headers={"Authorization": "Bearer scrape-me"})

    is_problem(anonymous, 401)
    head = re.compile(r"^pass24_event_store_head (\S+)$", re.M)
    assert head.search(first.text) and head.search(cached.text)
    # Within the cache's age a scrape does not touch the stores: the same head.
    assert head.search(first.text).group(1) == head.search(cached.text).group(1)  # type: ignore[union-attr]

    fresh_app = create_app(desk, tokens=TokenStore(None), read_models=models,
                           edge=EdgeLimits(metrics_cache_seconds=0))
    with TestClient(fresh_app) as client:
        before = float(head.search(client.get("/metrics").text).group(1))  # type: ignore[union-attr]
        api.receive()
        client.get("/metrics")  # stale: answered from the cache, refreshed in the background
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            now = float(head.search(client.get("/metrics").text).group(1))  # type: ignore[union-attr]
            if now > before:
                break
            time.sleep(0.05)
    assert now > before


def test_metrics_can_leave_the_api_port() -> None:
    app = create_app(SupportDesk(), tokens=TokenStore(None), edge=EdgeLimits(serve_metrics=False))
    with TestClient(app) as client:
        assert client.get("/metrics").status_code == 404
    assert app.state.metrics_registry is not None  # what `serve` exposes on PASS24_METRICS_PORT


# -- intake webhooks and the public form --------------------------------------


@dataclass
class Intake:
    client: TestClient
    reader: dict[str, str]
    ticket_id: str


@pytest.fixture
def intake(tmp_path: Path) -> Iterator[Intake]:
    settings = Settings(persistence="sqlite", sqlite_path=tmp_path / "desk.sqlite",
                        tokens_file=tmp_path / "tokens.json", mail_db_path=tmp_path / "mail.sqlite",
                        attachments_dir=tmp_path / "att", form_secret=SecretStr(FORM_SECRET),
                        phone_secret=SecretStr(PHONE_SECRET), form_client_rate_limit="3/minute",
                        form_address_rate_limit="2/hour")
    services = build_services(settings, clock=ManualClock(msk("2025-05-12 10:00")))
    store = TokenStore(None)
    reader = {"Authorization": f"Bearer {store.issue(Role.SUPERVISOR, 'sup')}"}
    app = create_app(services.desk, tokens=store, read_models=services.read_models,
                     runner=services.runner, extra_routers=services.routers)
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            created = client.post("/tickets", headers=reader, json={
                "channel": "phone", "requester": {"phone": "+7 495 000 00 00"}, "description": "x",
                "product": "pass24_control", "product_version": "1"})
            yield Intake(client, reader, created.json()["id"])
    finally:
        services.stop()


def call(n: int) -> bytes:
    return json.dumps({"event": "incoming", "call_id": f"c-{n}", "caller": "+79001234567"}).encode()


def test_signed_webhooks_need_a_fresh_timestamp_and_are_accepted_once(intake: Intake) -> None:
    url = "/intake/phone/events"
    post = intake.client.post
    fresh = signed_headers(PHONE_SECRET, call(1))
    accepted = post(url, content=call(1), headers=fresh)
    replayed = post(url, content=call(1), headers=fresh)
    stale_at = time.time() - 301
    stale = post(url, content=call(2), headers=signed_headers(PHONE_SECRET, call(2), stale_at))
    future = post(url, content=call(3), headers=signed_headers(PHONE_SECRET, call(3), time.time() + 301))
    untimed = post(url, content=call(4), headers={"X-Pass24-Signature": sign(PHONE_SECRET, call(4))})
    moved = fresh | {"X-Pass24-Timestamp": str(int(time.time()) - 1)}  # signature over another time
    tampered = post(url, content=call(5), headers=moved)

    assert accepted.status_code == 201, accepted.text
    for refused, why in ((replayed, "replay"), (stale, "away from now"), (future, "away from now"),
                         (untimed, "X-Pass24-Timestamp"), (tampered, "does not match")):
        is_problem(refused, 401)
        assert why in refused.json()["detail"]


def test_every_malformed_input_named_in_issue_11_is_a_4xx_problem(intake: Intake) -> None:
    client, reader = intake.client, intake.reader
    garbage = [(b"X-Pass24-Signature", "sha256=ключ".encode()),
               (b"X-Pass24-Timestamp", str(int(time.time())).encode()),
               (b"Content-Type", b"application/json")]
    deep = b'{"a":' * 100_000 + b"1" + b"}" * 100_000
    cases = {
        "non-ASCII signature (phone)": client.post("/intake/phone/events", content=call(9),
                                                   headers=garbage),
        "non-ASCII signature (form)": client.post("/intake/form", content=b"{}", headers=garbage),
        "non-ASCII timestamp": client.post("/intake/phone/events", content=call(9), headers=[
            (b"X-Pass24-Signature", b"sha256=00"), (b"X-Pass24-Timestamp", "１２３".encode())]),
        "non-ASCII secret": client.post("/intake/form", content=b"{}", headers=[
            (b"X-Pass24-Secret", "секрет".encode()), (b"Content-Type", b"application/json")]),
        "100,000-deep JSON on the form": client.post(
            "/intake/form", content=deep, headers={"Content-Type": "application/json"}),
        "100,000-deep JSON on the phone": client.post(
            "/intake/phone/events", content=deep,
            headers={**signed_headers(PHONE_SECRET, deep), "Content-Type": "application/json"}),
        "100,000-deep JSON on /tickets": client.post(
            "/tickets", content=deep, headers={**reader, "Content-Type": "application/json"}),
        "as_of at the end of time": client.get(
            f"/tickets/{intake.ticket_id}/history", headers=reader,
            params={"as_of": "9999-12-31T23:59:59+14:00"}),
        "since at the start of time": client.get(
            "/sla/stats", headers=reader, params={"since": "0001-01-01T00:00:00-12:00"}),
        "huge quarantine ID": client.get("/intake/quarantine/" + "9" * 40, headers=reader),
        "huger quarantine ID": client.get("/intake/quarantine/" + "9" * 5000, headers=reader),
        "huge quarantine offset": client.get("/intake/quarantine", headers=reader,
                                             params={"offset": "9" * 40}),
        "bad Content-Length": client.post("/tickets", content=b"{}",
                                          headers={**reader, "Content-Length": "abc"}),
    }
    for name, response in cases.items():
        assert 400 <= response.status_code < 500, (name, response.status_code, response.text[:200])
        assert response.headers["content-type"] == PROBLEM, name


def form_page_fields(client: TestClient) -> dict[str, str]:
    page = client.get("/intake/form").text
    return dict(re.findall(r'name="(form_token|submission_id)" value="([^"]+)"', page))


def test_a_form_token_is_good_for_one_submission(intake: Intake) -> None:
    client = intake.client
    hidden = form_page_fields(client)
    form = {**hidden, "email": "anna@example.com", "subject": "Ключ", "description": "Не открывает"}
    first = client.post("/intake/form", data=form)
    retried = client.post("/intake/form", data=form)  # the same submission again: same ticket
    other = client.post("/intake/form", data={**form, "submission_id": "another",
                                              "email": "boris@example.com"})

    assert first.status_code == 201, first.text
    assert retried.status_code == 200 and retried.json()["ticket_id"] == first.json()["ticket_id"]
    is_problem(other, 401)
    assert "already" in other.json()["detail"]


def test_the_public_form_is_rate_limited_per_client_and_per_address(intake: Intake) -> None:
    client = intake.client

    def submit(email: str) -> httpx.Response:
        return client.post("/intake/form", data={**form_page_fields(client), "email": email,
                                                 "subject": "s", "description": "d"})

    # 2/hour per requester address: a third party's mailbox is not flooded.
    victim = [submit("victim@example.com") for _ in range(3)]
    assert [r.status_code for r in victim] == [201, 201, 429]
    is_problem(victim[2], 429)
    assert victim[2].headers["retry-after"]
    # 3/minute per client (all of these come from the test client's address).
    assert submit("someone@example.com").status_code == 429
    # Signed webhooks (one server for many requesters) do not count against a client.
    body = json.dumps({"email": "carol@example.com", "subject": "s"}).encode()
    signed = client.post("/intake/form", content=body, headers={
        **signed_headers(FORM_SECRET, body), "Content-Type": "application/json"})
    assert signed.status_code == 201, signed.text


def test_405_names_every_method_of_the_path(api: Api) -> None:
    response = api.client.put("/session")
    is_problem(response, 405)
    assert response.headers["allow"] == "DELETE, POST"


def test_synchronous_endpoints_run_on_as_many_threads_as_configured() -> None:
    import anyio.to_thread

    def tokens(app_threads: int | None) -> float:
        app = create_app(SupportDesk(), tokens=TokenStore(None), threads=app_threads)
        with TestClient(app) as client:
            assert client.get("/healthz").status_code == 200
            return client.portal.call(
                lambda: anyio.to_thread.current_default_thread_limiter().total_tokens)

    assert tokens(3) == 3
    assert tokens(None) == 40  # anyio's default when the app is not told
    assert Settings().api_threads == 4


def test_a_read_takes_the_thread_pool_once(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """FastAPI runs each synchronous dependency on the thread pool, a hop that under load
    queues behind other requests' endpoint work: dependencies are async, so a read waits
    for a thread once, for its synchronous endpoint."""
    import anyio.to_thread

    hops: list[str] = []
    original = anyio.to_thread.run_sync

    async def counted(func: object, *args: object, **kwargs: object) -> object:
        hops.append(getattr(func, "__qualname__", repr(func)))
        return await original(func, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(anyio.to_thread, "run_sync", counted)
    ticket = api.receive()
    headers = {"Authorization": f"Bearer {api.tokens[Role.SUPERVISOR]}"}
    for path in ("/queue?limit=5", "/sla/timers", "/sla/stats", "/review/third-party",
                 f"/tickets/{ticket}", f"/tickets/{ticket}/history"):
        hops.clear()
        assert api.client.get(path, headers=headers).status_code == 200, path
        assert len(hops) == 1, (path, hops)
