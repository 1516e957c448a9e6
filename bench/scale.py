"""The read side, rebuilds and audits from 10k to 1M events: does it stay flat?

For each size, an SQLite event store is built the honest way (every event through the
``Ticket`` aggregate and saved, sealed, by ``SupportDesk``; ``bench/history.py``:
~274 tickets a day, ~3 % left open) and cached as ``var/bench/scale-<n>.sqlite``.
Then, in one run:

* rebuild: all read models into a new read store (what ``projections rebuild --into``
  does) against reading and decoding the same log through the follower (the
  reference); ratio and the read store's size;
* ``audit replay`` (JSONL to /dev/null) and ``audit verify`` as processes: wall time
  and peak RSS; CLI start-up (``audit --help``);
* cold start: ``serve --api-only`` and ``worker --only projections`` started together on
  a copy of the store with *empty* read models: seconds until the port answers, until a
  ``POST /tickets`` is accepted, until ``/readyz`` is ready;
* dashboard under load: ``serve --api-only`` on the rebuilt read models, with
  ``--api-readers`` reader processes (one per core by default) and ``--api-processes``
  API processes (1); 8 client threads
  (keep-alive) go round every dashboard endpoint and ``/healthz`` in shuffled order;
  p50/p99 per endpoint and each p99 against ``/healthz``'s p99 in the same run; then
  ``/sla/stats`` all time with one client (its cost, compared across sizes); the
  server's RSS (all its processes).

Results go to ``var/bench/scale-<n>.json``; ``--report`` prints the curve over every
size measured so far. Run: ``.venv/bin/python bench/scale.py --sizes 10000,100000``
(1M: ``nice -n 10 ... --sizes 1000000``; building it takes the better part of an hour
on a shared machine).
"""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import sqlite3  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from datetime import datetime, timedelta  # noqa: E402
from typing import Any  # noqa: E402

import httpx  # noqa: E402

from bench.history import MSK, START, generate  # noqa: E402
from projections.follower import NotificationFollower  # noqa: E402
from projections.store import SQLiteReadStore  # noqa: E402
from projections.system import build_into  # noqa: E402
from services.application import SupportDesk  # noqa: E402
from services.clock import ManualClock  # noqa: E402

ROOT = _HERE.parent
CACHE = ROOT / "var" / "bench"
CLI = [sys.executable, "-m", "services.cli"]


def sqlite_env(path: Path) -> dict[str, str]:
    return {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path)}


def checkpoint(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def event_store(events: int, seed: int) -> Path:
    cache = CACHE / f"scale-{events}-{seed}.sqlite"
    if cache.exists():
        return cache
    CACHE.mkdir(parents=True, exist_ok=True)
    partial = cache.with_suffix(".partial")
    for leftover in CACHE.glob(partial.name + "*"):
        leftover.unlink()
    started = time.perf_counter()
    desk = SupportDesk(env=sqlite_env(partial))
    last = [0.0]

    def progress(written: int) -> None:
        if time.perf_counter() - last[0] > 30:
            last[0] = time.perf_counter()
            print(f"  building {cache.name}: {written:,} events, "
                  f"{time.perf_counter() - started:.0f}s", flush=True)

    tickets = generate(desk, events, seed=seed, progress=progress)
    desk.close()
    checkpoint(partial)
    partial.rename(cache)
    print(f"built {cache} ({tickets:,} tickets) in {time.perf_counter() - started:.0f}s",
          flush=True)
    return cache


# -- rebuild against read + decode ---------------------------------------------------


def read_all(follower: NotificationFollower) -> tuple[float, int]:
    started = time.perf_counter()
    position, count = 0, 0
    while batch := follower.read(position):
        position = batch[-1].position
        count += len(batch)
    return time.perf_counter() - started, count


def rebuild(store_path: Path, into: Path, batch: int) -> float:
    desk = SupportDesk(env=sqlite_env(store_path))
    for leftover in into.parent.glob(into.name + "*"):
        leftover.unlink()
    store = SQLiteReadStore(into)
    started = time.perf_counter()
    build_into(desk, store, calendar=desk.calendar,  # as `projections rebuild --into` does
               clock=ManualClock(datetime.now(MSK)), batch_size=batch)
    seconds = time.perf_counter() - started
    store.close()
    desk.close()
    return seconds


def measure_rebuild(store_path: Path, read_path: Path, batch: int, repeat: int) -> dict[str, Any]:
    desk = SupportDesk(env=sqlite_env(store_path))
    follower = NotificationFollower(desk, batch_size=batch)
    reads, rebuilds, count = [], [], 0
    for _ in range(repeat):  # interleaved, best of each: the machine is shared
        seconds, count = read_all(follower)
        reads.append(seconds)
        rebuilds.append(rebuild(store_path, read_path, batch))
    desk.close()
    read, built = min(reads), min(rebuilds)
    return {"events": count, "read_seconds": read, "rebuild_seconds": built,
            "read_rate": count / read, "rebuild_rate": count / built, "ratio": read / built,
            "reads": reads, "rebuilds": rebuilds,
            "event_store_mb": store_path.stat().st_size / 2**20,
            "read_store_mb": read_path.stat().st_size / 2**20}


# -- processes: audit tools, cold start, the API under load ----------------------------


def run_measured(args: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Wall time and peak RSS of one process. The peak is the process's own ``VmHWM``,
    read until it exits (``wait4``'s ``ru_maxrss`` would include this parent's memory
    at fork time)."""
    started = time.perf_counter()
    process = subprocess.Popen(args, env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    assert process.stderr is not None
    err: list[bytes] = []
    reader = threading.Thread(target=lambda: err.append(process.stderr.read()))  # type: ignore[union-attr]
    reader.start()
    peak = 0.0
    status = Path(f"/proc/{process.pid}/status")
    while process.poll() is None:
        try:
            for line in status.read_text().splitlines():
                if line.startswith("VmHWM"):
                    peak = max(peak, int(line.split()[1]) / 1024)
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    reader.join()
    seconds = time.perf_counter() - started
    tail = b"".join(err).decode(errors="replace").strip().splitlines()[-1:]
    return {"seconds": seconds, "rss_mb": peak, "status": process.returncode,
            "last_line": tail[0] if tail else ""}


def desk_env(store_path: Path, read_path: Path, work: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PASS24_")}
    env.update(
        PASS24_PERSISTENCE="sqlite", PASS24_SQLITE_PATH=str(store_path),
        PASS24_PROJECTIONS_SQLITE_PATH=str(read_path), PASS24_TOKENS_FILE=str(work / "tokens.json"),
        PASS24_MAIL_DB_PATH=str(work / "mail.sqlite"), PASS24_ATTACHMENTS_DIR=str(work / "att"),
        PASS24_SMTP_PORT=str(free_port()), PASS24_API_PORT=str(port),
        PASS24_AUDIT_CHECKPOINT_SECONDS="0", PASS24_LOG_LEVEL="WARNING",
        PASS24_WATCHER_INTERVAL="3600", PYTHONPATH=str(ROOT),
    )
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def token(env: dict[str, str], role: str) -> str:
    out = subprocess.run([*CLI, "token", "issue", "--role", role], env=env, check=True,
                         capture_output=True, text=True, cwd=ROOT)
    return out.stdout.strip()


RECEIVE = {"channel": "phone", "requester": {"name": "Пост охраны", "phone": "+7 495 000-00-00"},
           "description": "Шлагбаум не открывается", "product": "pass24_control",
           "product_version": "3.14.2"}


def cold_start(store_path: Path, work: Path, ready_timeout: float) -> dict[str, Any]:
    """``serve`` on the whole store with empty read models."""
    copy = work / "cold.sqlite"
    shutil.copy(store_path, copy)
    port = free_port()
    env = desk_env(copy, work / "cold.read.sqlite", work, port)
    headers = {"Authorization": f"Bearer {token(env, 'agent')}"}
    base = f"http://127.0.0.1:{port}"
    log = (work / "cold.log").open("wb")
    started = time.perf_counter()
    # As deployed (docs/OPERATIONS.md): the API process and the projections worker start
    # together. An all-in-one `serve` here would also start the mailers on this fresh
    # mail database, reading the whole log from the start, which a restart never does.
    process = subprocess.Popen([*CLI, "serve", "--api-only"], env=env, cwd=ROOT, stdout=log,
                               stderr=log)
    worker = subprocess.Popen([*CLI, "worker", "--only", "projections"], env=env, cwd=ROOT,
                              stdout=log, stderr=log)
    result: dict[str, Any] = {}
    try:
        with httpx.Client(timeout=10) as client:
            while time.perf_counter() - started < 120 and "write_seconds" not in result:
                try:
                    if "open_seconds" not in result and client.get(f"{base}/healthz").status_code == 200:
                        result["open_seconds"] = time.perf_counter() - started
                    if client.post(f"{base}/tickets", json=RECEIVE, headers=headers).status_code == 201:
                        result["write_seconds"] = time.perf_counter() - started
                except httpx.HTTPError:
                    time.sleep(0.05)
            while time.perf_counter() - started < ready_timeout:
                try:
                    if client.get(f"{base}/readyz").status_code == 200:
                        result["ready_seconds"] = time.perf_counter() - started
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.5)
    finally:
        for running in (process, worker):
            running.terminate()
            running.wait(30)
        log.close()
    return result


def p(values: list[float], q: int) -> float:
    """Nearest-rank percentile, milliseconds."""
    ordered = sorted(values)
    rank = max(1, -(-q * len(ordered) // 100))
    return ordered[rank - 1] * 1000


def endpoints(base: str, client: httpx.Client, headers: dict[str, str]) -> dict[str, str]:
    total = client.get(f"{base}/queue?limit=1", headers=headers).json()["total"]
    items = client.get(f"{base}/queue?limit=200", headers=headers).json()["items"]
    chosen = items[len(items) // 2]
    some = chosen["id"]
    week = (START + timedelta(days=3)).isoformat()
    week_end = (START + timedelta(days=10)).isoformat()
    as_of = (datetime.fromisoformat(chosen["received_at"]) + timedelta(hours=2)).isoformat()
    return {
        "/healthz": "/healthz",
        "/queue first page": "/queue?limit=50",
        "/queue last page": f"/queue?limit=50&offset={max(total - 50, 0)}",
        "/queue level=standard": "/queue?limit=50&level=standard",
        "/sla/timers": "/sla/timers?limit=50",
        "/sla/timers?status=breached": "/sla/timers?status=breached&limit=50",
        "/sla/timers?status=at_risk": "/sla/timers?status=at_risk&limit=50",
        "/sla/stats all time": "/sla/stats",
        "/sla/stats one week": f"/sla/stats?since={week}&until={week_end}".replace("+", "%2B"),
        "/tickets/{id}": f"/tickets/{some}",
        "/tickets/{id}/history?as_of": f"/tickets/{some}/history?as_of={as_of}".replace("+", "%2B"),
        # Nothing to read (no letter from a non-contact in these stores): what any
        # authenticated read costs under the same load, the floor for the others.
        "/review/third-party": "/review/third-party?limit=1",
    }


def load(store_path: Path, read_path: Path, work: Path, *, clients: int,
         rounds: int, processes: int, readers: int) -> dict[str, Any]:
    copy, read_copy = work / "served.sqlite", work / "served.read.sqlite"
    shutil.copy(store_path, copy)
    shutil.copy(read_path, read_copy)
    port = free_port()
    env = {**desk_env(copy, read_copy, work, port), "PASS24_API_READERS": str(readers)}
    headers = {"Authorization": f"Bearer {token(env, 'supervisor')}"}
    base = f"http://127.0.0.1:{port}"
    log = (work / "served.log").open("wb")
    # The API process of the process model: its workers run as `pass24-desk worker` and,
    # in a live desk, are at the log's head. A `serve` with every worker would start them
    # on this fresh mail database and have them read the whole log during the load.
    process = subprocess.Popen([*CLI, "serve", "--api-only", "--processes", str(processes)],
                               env=env, cwd=ROOT, stdout=log, stderr=log)
    try:
        with httpx.Client(timeout=60) as client:
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                try:
                    if client.get(f"{base}/readyz").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
            paths = endpoints(base, client, headers)
            for path in paths.values():  # warm-up, and every endpoint answers
                answer = client.get(base + path, headers=headers)
                assert answer.status_code == 200, (path, answer.text[:300])
        timings: dict[str, list[float]] = {name: [] for name in paths}
        lock = threading.Lock()

        def run(seed: int) -> None:
            rng = random.Random(seed)
            names = list(paths)
            with httpx.Client(timeout=120, headers=headers) as own:
                for _ in range(rounds):
                    rng.shuffle(names)
                    for name in names:
                        t0 = time.perf_counter()
                        answer = own.get(base + paths[name])
                        elapsed = time.perf_counter() - t0
                        assert answer.status_code == 200, (name, answer.status_code)
                        with lock:
                            timings[name].append(elapsed)

        threads = [threading.Thread(target=run, args=(n,)) for n in range(clients)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - started
        single = []
        with httpx.Client(timeout=60, headers=headers) as client:
            for _ in range(100):
                t0 = time.perf_counter()
                client.get(base + paths["/sla/stats all time"])
                single.append(time.perf_counter() - t0)
            bare = []
            for _ in range(100):
                t0 = time.perf_counter()
                client.get(base + "/healthz")
                bare.append(time.perf_counter() - t0)
        rss = {"VmRSS": 0.0, "VmHWM": 0.0}
        for pid in (process.pid, *descendants(process.pid)):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith(tuple(rss)):
                    rss[line.split(":")[0]] += int(line.split()[1]) / 1024
    finally:
        process.terminate()
        process.wait(30)
        log.close()
    healthz_p99 = p(timings["/healthz"], 99)
    table = {name: {"p50_ms": p(values, 50), "p99_ms": p(values, 99), "n": len(values),
                    "p99_vs_healthz": p(values, 99) / healthz_p99}
             for name, values in timings.items()}
    return {"clients": clients, "rounds": rounds, "api_processes": processes,
            "api_readers": readers,
            "requests_per_second": sum(len(v) for v in timings.values()) / wall,
            "wall_seconds": wall, "endpoints": table,
            "stats_single_client_p50_ms": p(single, 50), "healthz_single_client_p50_ms": p(bare, 50),
            "server_rss_mb": rss.get("VmRSS"), "server_peak_rss_mb": rss.get("VmHWM")}


def descendants(root: int) -> list[int]:
    """The processes ``root`` started, and theirs (API processes, reader processes)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit():
                parents[int(entry.name)] = int(
                    (entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except OSError:
            continue
    found, frontier = [], [root]
    while frontier:
        below = [pid for pid, parent in parents.items() if parent in frontier]
        found.extend(below)
        frontier = below
    return found


def stats_in_process(read_path: Path, calls: int = 200) -> dict[str, float]:
    """``/sla/stats`` all time without HTTP: the query's own CPU time (median, min; ms)."""
    from projections.sla_stats import SlaStatsView

    store = SQLiteReadStore(read_path)
    view = SlaStatsView(store)
    now = datetime.now(MSK)
    view.rows(now, level=None, product=None, since=None, until=None)
    times = []
    for _ in range(calls):
        started = time.process_time()
        view.rows(now, level=None, product=None, since=None, until=None)
        times.append(time.process_time() - started)
    store.close()
    times.sort()
    return {"median_ms": times[len(times) // 2] * 1000, "min_ms": times[0] * 1000}


PHASES = ("rebuild", "load", "cold", "verify", "replay")


def measure(events: int, args: argparse.Namespace) -> dict[str, Any]:
    """Each phase in turn; the results file is rewritten after every phase, so a run cut
    short keeps what it measured."""
    store_path = event_store(events, args.seed)
    out = CACHE / f"scale-{events}.json"
    result: dict[str, Any] = {"events_requested": events, "when": datetime.now().isoformat(),
                              "load_note": args.note}
    if args.keep and out.exists():
        result = {**json.loads(out.read_text(encoding="utf-8")), **result}
    phases = [p for p in args.phases.split(",") if p]
    with tempfile.TemporaryDirectory(prefix="pass24-scale-", dir=args.tmp) as tmp:
        work = Path(tmp)
        read_path = CACHE / f"scale-{events}-{args.seed}.read.sqlite"
        env = desk_env(store_path, work / "unused.read.sqlite", work, free_port())
        as_of = (START + timedelta(days=400)).isoformat()
        for phase in phases:
            print(f"[{events:,}] {phase} ...", flush=True)
            if phase == "rebuild":
                result["rebuild"] = measure_rebuild(store_path, read_path, args.batch,
                                                    args.repeat)
            elif phase == "load":
                result["load"] = load(store_path, read_path, work, clients=args.clients,
                                      rounds=args.rounds, processes=args.api_processes,
                                      readers=args.api_readers)
                result["stats_in_process"] = stats_in_process(read_path)
            elif phase == "cold":
                result["cold_start"] = cold_start(store_path, work, args.ready_timeout)
            elif phase == "verify":
                result["cli_start"] = run_measured([*CLI, "audit", "--help"], env)
                result["verify"] = run_measured([*CLI, "audit", "verify"], env)
            elif phase == "replay":
                result["replay"] = run_measured(
                    [*CLI, "audit", "replay", "--as-of", as_of, "--format", "jsonl",
                     "--output", os.devnull, "--no-progress"], env)
            else:
                raise SystemExit(f"unknown phase {phase!r}; phases: {', '.join(PHASES)}")
            result["phases_done"] = [*result.get("phases_done", []), phase]
            out.write_text(json.dumps(result, indent=2), encoding="utf-8")
    return result


def report() -> None:
    runs = []
    found = [p for p in CACHE.glob("scale-*.json") if p.stem.split("-")[1].isdigit()]
    for path in sorted(found, key=lambda p: int(p.stem.split("-")[1])):
        run = json.loads(path.read_text(encoding="utf-8"))
        if "rebuild" in run and "load" in run:
            runs.append(run)
    if not runs:
        print("no results yet")
        return
    sizes = [r["rebuild"]["events"] for r in runs]
    head = f"{'':38}" + "".join(f"{n:>18,}" for n in sizes)
    print(head)

    def line(label: str, cells: list[str]) -> None:
        print(f"{label:38}" + "".join(f"{c:>18}" for c in cells))

    line("API processes / readers / req/s", [
        f"{r['load'].get('api_processes', 1)}/{r['load'].get('api_readers', 0)}/"
        f"{r['load'].get('requests_per_second', 0):.0f}" for r in runs])
    names = list(runs[0]["load"]["endpoints"])
    for name in names:
        line(f"{name} p50/p99 ms", [
            f"{r['load']['endpoints'][name]['p50_ms']:.0f}/{r['load']['endpoints'][name]['p99_ms']:.0f}"
            for r in runs])
    for name in names[1:]:
        line(f"  p99 / healthz p99: {name}"[:38], [
            f"{r['load']['endpoints'][name]['p99_vs_healthz']:.1f}x" for r in runs])
    line("/sla/stats 1 client p50 ms", [f"{r['load']['stats_single_client_p50_ms']:.1f}" for r in runs])
    base = runs[0]["load"]["stats_single_client_p50_ms"]
    line("  vs the smallest size", [f"{r['load']['stats_single_client_p50_ms'] / base:.2f}x"
                                     for r in runs])
    if all("stats_in_process" in r for r in runs):
        line("/sla/stats in process, CPU ms", [
            f"{r['stats_in_process']['median_ms']:.2f}" for r in runs])
        inner = runs[0]["stats_in_process"]["median_ms"]
        line("  vs the smallest size", [f"{r['stats_in_process']['median_ms'] / inner:.2f}x"
                                         for r in runs])
    line("rebuild events/s", [f"{r['rebuild']['rebuild_rate']:,.0f}" for r in runs])
    line("read+decode events/s", [f"{r['rebuild']['read_rate']:,.0f}" for r in runs])
    line("RATIO rebuild/read", [f"{r['rebuild']['ratio']:.2f}" for r in runs])
    line("event store / read store MB", [
        f"{r['rebuild']['event_store_mb']:.0f}/{r['rebuild']['read_store_mb']:.0f}" for r in runs])
    def proc(r: dict[str, Any], name: str) -> str:
        found = r.get(name)
        return f"{found['seconds']:.0f}/{found['rss_mb']:.0f}" if found else "-"

    line("audit replay s / RSS MB", [proc(r, "replay") for r in runs])
    line("audit verify s / RSS MB", [proc(r, "verify") for r in runs])
    line("CLI start (audit --help) s", [
        f"{r['cli_start']['seconds']:.2f}" if "cli_start" in r else "-" for r in runs])
    line("cold start: open / write / ready s", [
        "/".join(f"{r.get('cold_start', {}).get(k, float('nan')):.1f}"
                 for k in ("open_seconds", "write_seconds", "ready_seconds")) for r in runs])
    line("server RSS MB (peak)", [
        f"{r['load']['server_rss_mb']:.0f} ({r['load']['server_peak_rss_mb']:.0f})" for r in runs])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--batch", type=int, default=1000,
                        help="the follower's batch (the reference reads with it; the rebuild "
                             "reads 5000 at a time while behind)")
    parser.add_argument("--repeat", type=int, default=1, help="rebuild/read pairs; best of each")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--api-processes", type=int, default=1,
                        help="`serve --processes` for the load")
    parser.add_argument("--api-readers", type=int, default=os.cpu_count() or 1,
                        help="PASS24_API_READERS for the load (default: one per core)")
    parser.add_argument("--rounds", type=int, default=50,
                        help="passes over every endpoint per client (50 x 8: a p99 from 400 samples, not a maximum)")
    parser.add_argument("--ready-timeout", type=float, default=900)
    parser.add_argument("--skip-cold", action="store_true")
    parser.add_argument("--build-only", action="store_true")
    parser.add_argument("--tmp", default=None, help="where the copies for the runs go")
    parser.add_argument("--note", default="", help="recorded with the results (machine load)")
    parser.add_argument("--report", action="store_true", help="print the curve measured so far")
    parser.add_argument("--phases", default=",".join(PHASES),
                        help=f"which, in this order (default {','.join(PHASES)})")
    parser.add_argument("--keep", action="store_true",
                        help="keep earlier results of this size for phases not run now")
    args = parser.parse_args()
    if args.report:
        report()
        return 0
    for size in (int(s) for s in args.sizes.split(",")):
        if args.build_only:
            event_store(size, args.seed)
            continue
        measure(size, args)
    report()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
