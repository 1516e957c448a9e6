"""Intake over HTTP: POST /tickets against a bare FastAPI endpoint, same server, same client.

Method: one uvicorn server (in this process, a thread) serves the real API on
a SQLite store in a temp dir, plus a bare endpoint that takes the same JSON
body (parsed by the same pydantic model) and returns 201 without doing
anything. One httpx client with keep-alive sends N intake requests to each,
interleaved in blocks so that machine noise hits both alike; every request
has a unique intake key. Reports requests/s and p50/p99 latency of each, and
``RATIO api/bare = X`` (throughput). Target >= 0.5.
"""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import argparse  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402

import httpx  # noqa: E402
import uvicorn  # noqa: E402
from fastapi import APIRouter  # noqa: E402

from services.api import create_app  # noqa: E402
from services.api.auth import Role, TokenStore  # noqa: E402
from services.api.models import Created, ReceiveIn  # noqa: E402
from domain.values import Channel  # noqa: E402
from services.application import SupportDesk  # noqa: E402
from services.channel_policy import ChannelPolicy  # noqa: E402
from services.intake import IntakeService  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def bare_router() -> APIRouter:
    router = APIRouter()

    @router.post("/bare/tickets", status_code=201, response_model=Created)
    def bare(body: ReceiveIn) -> Created:
        return Created(id="P24-000000", created=True, position=None)

    return router


def body(n: int, run: str) -> dict[str, object]:
    return {
        "channel": "phone",
        "requester": {"name": "Ольга", "email": "olga@example.ru", "phone": "+7 900 000-00-00"},
        "subject": f"Шлагбаум №{n} не открывается",
        "description": "Since 09:40 no passes open the barrier; the journal shows no visits.",
        "product": "pass24_control",
        "product_version": "3.14.2",
        "intake_key": f"bench-{run}-{n}",
    }


def timed(client: httpx.Client, url: str, payloads: list[dict[str, object]]) -> list[float]:
    latencies = []
    for payload in payloads:
        t0 = time.perf_counter()
        response = client.post(url, json=payload)
        latencies.append(time.perf_counter() - t0)
        if response.status_code != 201:
            raise SystemExit(f"{url}: {response.status_code} {response.text}")
    return latencies


def p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=2000, help="requests per side")
    parser.add_argument("--block", type=int, default=100)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="pass24-http-") as tmp:
        desk = SupportDesk(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                                "SQLITE_DBNAME": f"{tmp}/desk.sqlite"})
        tokens = TokenStore(None)
        token = tokens.issue(Role.INTEGRATION, "bench")
        # Every channel open whatever the day: the run measures intake, not R6 refusals.
        gate = IntakeService(desk, channels=ChannelPolicy(desk.calendar,
                                                          holiday_channels=frozenset(Channel)))
        app = create_app(desk, tokens=tokens, extra_routers=[bare_router()], gate=gate)
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                               access_log=False))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        base = f"http://127.0.0.1:{port}"
        run = uuid.uuid4().hex[:8]
        api_lat: list[float] = []
        bare_lat: list[float] = []
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as client:
            timed(client, "/tickets", [body(-i, run + "w") for i in range(1, 51)])
            timed(client, "/bare/tickets", [body(-i, run + "w") for i in range(1, 51)])
            for start in range(0, args.n, args.block):
                chunk = [body(i, run) for i in range(start, min(args.n, start + args.block))]
                api_lat += timed(client, "/tickets", chunk)
                bare_lat += timed(client, "/bare/tickets", chunk)
        server.should_exit = True
        thread.join(timeout=10)

    api_rate, bare_rate = len(api_lat) / sum(api_lat), len(bare_lat) / sum(bare_lat)
    print(f"requests per side: {args.n}, one keep-alive client, SQLite store, uvicorn in-process")
    print(f"POST /tickets       {api_rate:8.1f} req/s  p50 {p(api_lat, 50):6.2f} ms  p99 {p(api_lat, 99):6.2f} ms")
    print(f"POST /bare/tickets  {bare_rate:8.1f} req/s  p50 {p(bare_lat, 50):6.2f} ms  p99 {p(bare_lat, 99):6.2f} ms")
    print(f"p99 ratio bare/api = {p(bare_lat, 99) / p(api_lat, 99):.2f}")
    print(f"RATIO api/bare = {api_rate / bare_rate:.2f} (target >= 0.5)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
