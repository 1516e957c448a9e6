"""Liveness under load: /healthz while 80 read-your-writes waits from one token are pending.

Method: a real ``pass24-desk serve`` process (SQLite in a temp dir, projections in
process, ``PASS24_WAITS_PER_TOKEN=100`` so that all 80 waits are admitted). First
N sequential ``GET /healthz`` on an idle server (the reference), then 80 concurrent
``GET /queue?min_position=<unreachable>`` from one auditor token, each waiting
its full ``PASS24_CATCH_UP_TIMEOUT``, and the same N ``/healthz`` while they wait.
Also N ``GET /readyz`` (a sync endpoint, so it needs a free worker thread) in both
phases. Reports p50/p99 of each and ``RATIO idle/loaded`` of the p50s (1.0 means
the waits cost liveness nothing). Before issue #11 a wait held a worker thread:
80 of them made /healthz answer after 9.4 s.
"""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import os  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import httpx  # noqa: E402

CLI = [sys.executable, "-m", "services.cli"]
ROOT = _HERE.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def timed(client: httpx.AsyncClient, path: str, n: int) -> list[float]:
    out = []
    for _ in range(n):
        started = time.perf_counter()
        response = await client.get(path)
        out.append(time.perf_counter() - started)
        assert response.status_code == 200, response.text
    return out


def p(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))] * 1000


async def measure(base: str, token: str, n: int, waits: int) -> dict[str, list[float]]:
    bearer = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, timeout=60,
                                 limits=httpx.Limits(max_connections=waits + 10)) as client:
        result = {"healthz idle": await timed(client, "/healthz", n),
                  "readyz idle": await timed(client, "/readyz", n)}
        pending = [asyncio.create_task(client.get("/queue", headers=bearer,
                                                  params={"min_position": 10**9}))
                   for _ in range(waits)]
        await asyncio.sleep(1.0)
        result["healthz loaded"] = await timed(client, "/healthz", n)
        result["readyz loaded"] = await timed(client, "/readyz", n)
        still = sum(not t.done() for t in pending)
        statuses = [r.status_code for r in await asyncio.gather(*pending)]
        print(f"waits pending during the loaded phase: {still}/{waits}; answers: "
              f"{ {s: statuses.count(s) for s in set(statuses)} }")
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=200)
    parser.add_argument("--waits", type=int, default=80)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PASS24_")}
        port = free_port()
        env.update(PASS24_SQLITE_PATH=f"{tmp}/desk.sqlite", PASS24_TOKENS_FILE=f"{tmp}/tokens.json",
                   PASS24_MAIL_DB_PATH=f"{tmp}/mail.sqlite", PASS24_ATTACHMENTS_DIR=f"{tmp}/att",
                   PASS24_SMTP_PORT=str(free_port()), PASS24_API_PORT=str(port),
                   PASS24_CATCH_UP_TIMEOUT="30", PASS24_WAITS_PER_TOKEN="100",
                   PASS24_LOG_LEVEL="WARNING")
        token = subprocess.run([*CLI, "token", "issue", "--role", "auditor"], env=env, check=True,
                               capture_output=True, text=True, cwd=ROOT).stdout.strip()
        server = subprocess.Popen([*CLI, "serve"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(150):
                try:
                    if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
            result = asyncio.run(measure(base, token, args.n, args.waits))
        finally:
            server.terminate()
            server.wait(20)
    for name, values in result.items():
        print(f"{name:15} p50 {p(values, 0.5):7.2f} ms   p99 {p(values, 0.99):7.2f} ms   "
              f"mean {statistics.mean(values) * 1000:7.2f} ms")
    ratio = statistics.median(result["healthz idle"]) / statistics.median(result["healthz loaded"])
    print(f"RATIO idle/loaded (/healthz p50) = {ratio:.2f}")


if __name__ == "__main__":
    main()
