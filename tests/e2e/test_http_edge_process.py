"""The HTTP edge of a real `pass24-desk serve` process: body limits and memory, log hygiene,
read-your-writes waits that leave liveness alone."""

from __future__ import annotations

import asyncio
import json
import os
import select
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_serve_process import free_port, issue, serve_process

ROOT = Path(__file__).resolve().parents[2]
MB = 1024 * 1024


@dataclass
class Served:
    base: str
    port: int
    pid: int
    log: Path
    environment: dict[str, str]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One `serve` for the module (each test uses its own tokens and addresses)."""
    tmp_path = tmp_path_factory.mktemp("served")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PASS24_")}
    port = free_port()
    env.update(
        PASS24_SQLITE_PATH=str(tmp_path / "desk.sqlite"),
        PASS24_TOKENS_FILE=str(tmp_path / "tokens.json"),
        PASS24_MAIL_DB_PATH=str(tmp_path / "mail.sqlite"),
        PASS24_ATTACHMENTS_DIR=str(tmp_path / "attachments"),
        PASS24_SMTP_PORT=str(free_port()),
        PASS24_API_PORT=str(port),
        PASS24_CATCH_UP_TIMEOUT="8",
        PASS24_WAITS_PER_TOKEN="100",
        PASS24_FORM_SECRET="form-secret-0123456789",
        PASS24_METRICS_PORT=str(free_port()),
    )
    log = tmp_path / "serve.log"
    with serve_process(env, log) as process:
        yield Served(f"http://127.0.0.1:{port}", port, process.pid, log, env)


def rss(pid: int, field: str = "VmRSS") -> int:
    """Resident set size (or its peak, ``VmHWM``) in bytes, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field}")


def post_huge(port: int, path: str, size: int, *, chunked: bool) -> bytes:
    """POST ``size`` bytes without credentials, streaming; stop when the server answers.

    Returns the raw response head and body (whatever arrived)."""
    head = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Content-Type: application/json"]
    head.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {size}")
    chunk = b"[" + b"1," * (32 * 1024)
    sent, answer = 0, b""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        try:
            while sent < size:
                if select.select([sock], [], [], 0)[0]:
                    break  # the server answered: stop sending
                piece = chunk[: size - sent]
                sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
                sent += len(piece)
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            pass  # the server closed its side: what it answered is still to read
        try:
            while True:
                data = sock.recv(65536)
                if not data:
                    break
                answer += data
                if b"\r\n\r\n" in answer and answer.rstrip().endswith(b"}"):
                    break
        except (ConnectionResetError, socket.timeout):
            pass
    return answer


def test_unauthenticated_100_mb_bodies_are_413_and_the_process_stays_small(served: Served) -> None:
    before = rss(served.pid)
    uploads = [("/tickets", False),  # Content-Length: refused at once
               ("/tickets", True),  # chunked: counted while streaming
               ("/intake/form", True), ("/intake/phone/events", False)]
    with ThreadPoolExecutor(len(uploads)) as pool:  # all at once, as an attacker would
        answers = list(pool.map(lambda u: post_huge(served.port, u[0], 100 * MB, chunked=u[1]),
                                uploads))
    grown = rss(served.pid) - before
    peak = rss(served.pid, "VmHWM") - before  # the high-water mark: transient peaks count too
    print(f"\nRSS {before / MB:.1f} MB -> grew {grown / MB:.1f} MB (peak +{peak / MB:.1f} MB) "
          "over four concurrent 100 MB bodies")

    for answer in answers:
        assert answer.startswith(b"HTTP/1.1 413"), answer[:300]
        assert b"application/problem+json" in answer
        assert b"body-too-large" in answer
    assert grown < 64 * MB, f"RSS grew by {grown / MB:.1f} MB"
    assert peak < 64 * MB, f"RSS peaked {peak / MB:.1f} MB above the start"
    # The server still serves.
    assert httpx.get(f"{served.base}/healthz").status_code == 200


def test_no_token_reaches_the_logs(served: Served) -> None:
    token = issue(served.environment, "agent")
    bearer = {"Authorization": f"Bearer {token}"}
    in_url = httpx.get(f"{served.base}/queue", params={"token": token})
    dashboard = httpx.get(f"{served.base}/dashboard", params={"token": token})
    assert in_url.status_code == 400 and dashboard.status_code == 400
    assert in_url.headers["content-type"] == "application/problem+json"
    assert httpx.get(f"{served.base}/queue", headers=bearer).status_code == 200
    assert httpx.get(f"{served.base}/queue",
                     headers={"Authorization": f"Bearer {token}x"}).status_code == 401
    session = httpx.post(f"{served.base}/session", headers=bearer)
    assert session.status_code == 204
    cookie = session.cookies["pass24_session"]
    assert httpx.get(f"{served.base}/queue", cookies={"pass24_session": cookie}).status_code == 200
    httpx.get(f"{served.base}/no-such-page", params={"access_token": token}, headers=bearer)
    time.sleep(0.5)  # the access log line is written after the response

    text = served.log.read_text(encoding="utf-8", errors="replace")
    assert "/queue" in text and "uvicorn.access" in text  # the scan reads the access log
    secret_part = token.removeprefix("p24_")
    assert secret_part not in text
    assert secret_part[:16] not in text
    assert cookie.split(".")[-1] not in text
    for line in text.splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            assert "authorization" not in {k.lower() for k in entry}


def test_80_waits_from_one_reader_do_not_hold_the_threads_or_liveness(served: Served) -> None:
    token = issue(served.environment, "auditor")
    bearer = {"Authorization": f"Bearer {token}"}
    far = 10_000_000  # a position the read models will not reach: every wait runs to its timeout

    async def scenario() -> tuple[list[int], float, float, int]:
        async with httpx.AsyncClient(base_url=served.base, timeout=30,
                                     limits=httpx.Limits(max_connections=200)) as client:
            waits = [asyncio.create_task(client.get("/queue", headers=bearer,
                                                    params={"min_position": far}))
                     for _ in range(80)]
            await asyncio.sleep(1.5)  # every wait has arrived and is waiting
            assert not any(w.done() for w in waits)
            started = time.perf_counter()
            live = await client.get("/healthz")
            healthz = time.perf_counter() - started
            started = time.perf_counter()
            ready = await client.get("/readyz")  # a sync endpoint: needs a free thread
            readyz = time.perf_counter() - started
            assert live.status_code == 200
            statuses = [r.status_code for r in await asyncio.gather(*waits)]
            return statuses, healthz, readyz, ready.status_code

    statuses, healthz, readyz, ready = asyncio.run(scenario())

    print(f"\n/healthz under 80 waits: {healthz * 1000:.1f} ms; /readyz: {readyz * 1000:.1f} ms")
    assert ready == 200
    assert healthz < 1.0 and readyz < 1.0  # liveness checks, not benchmarks
    assert statuses == [503] * 80  # each timed out with Retry-After, none failed


def test_metrics_on_their_own_port_only(served: Served) -> None:
    metrics_port = served.environment["PASS24_METRICS_PORT"]
    on_api = httpx.get(f"{served.base}/metrics")
    scraped = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics")
    assert on_api.status_code == 404
    assert scraped.status_code == 200 and "pass24_event_store_head" in scraped.text


def test_the_form_limits_the_real_client_behind_a_trusted_proxy(served: Served) -> None:
    import re

    def submit(client_ip: str, n: int) -> int:
        page = httpx.get(f"{served.base}/intake/form").text
        hidden = dict(re.findall(r'name="(form_token|submission_id)" value="([^"]+)"', page))
        return httpx.post(f"{served.base}/intake/form", headers={"X-Forwarded-For": client_ip},
                          data={**hidden, "email": f"user{n}@example.com", "subject": "s",
                                "description": "d"}).status_code

    # 10/minute per client by default; loopback is the trusted proxy (PASS24_FORWARDED_ALLOW_IPS).
    first = [submit("203.0.113.5", n) for n in range(11)]
    other = submit("198.51.100.7", 99)
    assert first == [201] * 10 + [429]
    assert other == 201
