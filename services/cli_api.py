"""``pass24-desk serve`` and ``pass24-desk token issue|list|revoke``."""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import signal
import socket
import sys
import tempfile
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from services.api.auth import Role, TokenStore
from services.cli_input import UsageError
from services.parent_watch import SUPERVISOR_ENV, watch_parent
from services.settings import MAX_PROCESSES, Settings, load_settings

if TYPE_CHECKING:
    from fastapi import FastAPI

    from services.bootstrap import Services


def register(sub: Any) -> None:
    serve = sub.add_parser("serve", help="the HTTP API with every background worker")
    serve.add_argument("--host", help="default: PASS24_API_HOST (127.0.0.1)")
    serve.add_argument("--port", type=int, help="default: PASS24_API_PORT (8024)")
    serve.add_argument("--demo", action="store_true",
                       help="on an empty store, add a few demo tickets and print an agent token")
    serve.add_argument("--api-only", action="store_true",
                       help="only HTTP: no background worker in this process (they run as "
                            "`pass24-desk worker`); default: PASS24_API_WORKERS")
    serve.add_argument("--processes", type=int, metavar="N",
                       help="API processes sharing the port; the workers stay in this one "
                            "(default: PASS24_API_PROCESSES, 1)")
    serve.set_defaults(handler=_serve)

    token = sub.add_parser("token", help="API tokens")
    token_sub = token.add_subparsers(dest="token_command", required=True)
    issue = token_sub.add_parser("issue", help="print a new token; only its hash is stored")
    issue.add_argument("--role", required=True, choices=[r.value for r in Role])
    issue.add_argument("--name", help="who holds it (default: the role)")
    issue.add_argument("--expires-in", metavar="DURATION",
                       help="e.g. 90d, 12h, 2w (default: valid until revoked)")
    issue.set_defaults(handler=_issue)
    listing = token_sub.add_parser("list", help="issued tokens: ID, holder, role, issued, expires")
    listing.set_defaults(handler=_list)
    revoke = token_sub.add_parser("revoke", help="remove a token by its ID (from `token list`) "
                                  "or every token of a holder, by name")
    revoke.add_argument("token", metavar="ID_OR_NAME")
    revoke.set_defaults(handler=_revoke)


def tokens_for(settings: Settings) -> TokenStore:
    return TokenStore.from_config(settings.tokens_file, settings.api_tokens)


_DURATION = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> timedelta:
    match = _DURATION.match(text.lower())
    if match is None or int(match[1]) == 0:
        raise UsageError(f"--expires-in: {text!r} is not a duration (e.g. 90d, 12h, 2w, 30m)")
    return timedelta(**{_UNITS[match[2]]: int(match[1])})


def _issue(settings: Settings, args: argparse.Namespace) -> int:
    role = Role(args.role)
    expires_in = parse_duration(args.expires_in) if args.expires_in else None
    token = tokens_for(settings).issue(role, args.name or role.value, expires_in=expires_in)
    print(token)
    print(f"stored the hash in {settings.tokens_file}", file=sys.stderr)
    return 0


def _list(settings: Settings, args: argparse.Namespace) -> int:
    records = tokens_for(settings).records()
    now = datetime.now(timezone.utc)
    print(f"{'id':<12}  {'holder':<24} {'role':<11} {'issued':<25} expires")
    for r in records:
        expires = r.expires_at or "never"
        if r.expired(now):
            expires += " (expired)"
        print(f"{r.token_id:<12}  {r.name:<24} {r.role.value:<11} {r.issued_at:<25} {expires}")
    fixed = len([e for e in settings.api_tokens.split(",") if e.strip()])
    print(f"{len(records)} issued token(s) in {settings.tokens_file}"
          + (f"; {fixed} more fixed by PASS24_API_TOKENS" if fixed else ""), file=sys.stderr)
    return 0


def _revoke(settings: Settings, args: argparse.Namespace) -> int:
    gone = tokens_for(settings).revoke(args.token)
    if not gone:
        raise UsageError(f"no issued token with ID or holder {args.token!r} "
                         f"(see `pass24-desk token list`)")
    for r in gone:
        print(f"revoked {r.token_id} ({r.name}, {r.role.value})")
    return 0


def demo_tokens(settings: Settings, tokens: TokenStore) -> dict[Role, str]:
    """The demo agent's and supervisor's tokens, the same ones on every ``serve --demo``.

    Their plain values are kept beside the tokens file (development only), reused while
    they still authenticate, and any other token of the demo holders is removed, so
    restarts do not pile up working tokens."""
    keep = settings.tokens_file.with_name("demo-tokens.json")
    try:
        kept: dict[str, str] = json.loads(keep.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        kept = {}
    result: dict[Role, str] = {}
    for role in (Role.AGENT, Role.SUPERVISOR):
        name = f"demo.{role.value}"
        token = kept.get(role.value, "")
        if not token or tokens.authenticate(token) is None:
            for old in tokens.records():
                if old.name == name:
                    tokens.revoke(old.token_id)
            token = tokens.issue(role, name)
        result[role] = token
    keep.parent.mkdir(parents=True, exist_ok=True)
    keep.write_text(json.dumps({r.value: t for r, t in result.items()}, indent=2), encoding="utf-8")
    keep.chmod(0o600)
    return result


def check_port(host: str, port: int) -> None:
    """Fail before printing anything when the address is taken (uvicorn would only say so
    after the banner and the tokens)."""
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as error:
        raise UsageError(f"cannot listen on {host}:{port}: {error.strerror or error}; another "
                         f"process may use the port: pick another with --port or "
                         f"PASS24_API_PORT") from None


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from services.api.health import StorePositions
    from services.bootstrap import build_services
    from services.demo import seed_live_demo
    from services.logging import uvicorn_config

    host = args.host or settings.api_host
    port = args.port or settings.api_port
    if args.demo and settings.environment == "production":
        raise UsageError("--demo adds made-up tickets and tokens: refused with "
                         "PASS24_ENVIRONMENT=production")
    processes = settings.api_processes if args.processes is None else args.processes
    if not 1 <= processes <= MAX_PROCESSES:
        raise UsageError(f"--processes: {processes} is not between 1 and {MAX_PROCESSES}")
    check_port(host, port)
    several = processes > 1
    metrics_dir = None
    if several:
        metrics_dir = _shared_metrics_dir()
        os.environ[SUPERVISOR_ENV] = str(os.getpid())
    generated = settings.environment == "development" and not (
        settings.form_secret.get_secret_value() and settings.phone_secret.get_secret_value())
    settings = settings.with_development_secrets()
    if generated and not args.demo:
        print(f"development: form and phone secrets kept in {settings.dev_secrets_file}; phone "
              f"webhooks send X-Pass24-Secret: {settings.phone_secret.get_secret_value()}")
    services = build_services(settings)
    base = f"http://{host}:{port}"
    if args.demo:
        created = seed_live_demo(services.desk)
        demo = demo_tokens(settings, tokens_for(settings))
        print(f"demo tickets: {', '.join(created) if created else 'store already has tickets'}")
        print(f"agent token:      {demo[Role.AGENT]}")
        print(f"supervisor token: {demo[Role.SUPERVISOR]}")
        print(try_channels(settings, base, demo[Role.AGENT]))
    workers = settings.api_workers and not args.api_only
    # Without workers here, read-your-writes waits on the positions the workers record.
    runner = services.runner if workers else StorePositions(services.read_models)
    # With several processes this app only serves the metrics port: its readers would idle.
    app = api_app(settings, services, runner, readers=0 if several else settings.api_readers)
    if settings.metrics_port is not None:
        from prometheus_client import start_http_server

        # Its own port and thread: scrapes never queue behind API requests, and the port
        # can be left out of the Service that faces clients.
        start_http_server(settings.metrics_port, addr=host, registry=app.state.metrics_registry)
        print(f"metrics on http://{host}:{settings.metrics_port}/metrics", flush=True)
    print(f"pass24-desk API on {base}  (OpenAPI: {base}/docs, dashboard: {base}/dashboard)"
          + (f", {processes} processes" if several else ""), flush=True)
    services.start_when_listening(host, port, workers=workers)
    # Several processes: uvicorn binds the port here and starts (and restarts) that many
    # API processes on it, each building its own app by name; this one keeps the workers.
    # uvicorn ends gracefully on SIGTERM, then raises it again with the handler it found:
    # with this one that is SystemExit, so the workers and the reader processes are stopped.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        uvicorn.run(API_PROCESS_APP if several else app, factory=several,
                    workers=processes if several else None, host=host, port=port,
                    log_level=settings.log_level.lower(),
                    log_config=uvicorn_config(settings.log_level), proxy_headers=True,
                    forwarded_allow_ips=settings.forwarded_allow_ips)
    finally:
        services.stop()
        if metrics_dir is not None:
            metrics_dir.cleanup()
    return 0


API_PROCESS_APP = "services.cli_api:api_process_app"


def api_app(settings: Settings, services: Services, runner: Any, *, readers: int) -> FastAPI:
    from services.api import create_app
    from services.api.edge import EdgeLimits

    read_models: Any = services.read_models
    if readers:
        from services.readers import ReaderProcesses

        read_models = ReaderProcesses(services.read_models, settings, readers)
    app = create_app(services.desk, tokens=tokens_for(settings), read_models=read_models,
                     runner=runner, catch_up_timeout=settings.catch_up_timeout,
                     ready_max_lag=settings.ready_max_lag, extra_routers=services.routers,
                     gate=services.mail.gate, language=settings.locale,
                     edge=EdgeLimits.from_settings(settings), threads=settings.api_threads)
    app.state.parking = services.parking
    app.state.relay_position = relay_position(settings, services.desk)
    if readers:
        app.router.on_shutdown.append(read_models.close)
    return app


def api_process_app() -> FastAPI:
    """One API process of ``serve --processes N`` (uvicorn imports it by name in a fresh
    interpreter): the same settings from the same environment, HTTP only; reads wait for
    the positions the parent's workers record, as with ``serve --api-only``."""
    from services.api.health import StorePositions
    from services.bootstrap import build_services
    from services.logging import configure as configure_logging

    settings = load_settings().with_development_secrets()
    configure_logging(settings.log_format, settings.log_level)
    # The supervisor killed outright: stop as on SIGTERM, finishing the requests in flight.
    watch_parent(int(os.environ[SUPERVISOR_ENV]), lambda: os.kill(os.getpid(), signal.SIGTERM))
    services = build_services(settings)
    return api_app(settings, services, StorePositions(services.read_models),
                   readers=settings.api_readers)


def _shared_metrics_dir() -> tempfile.TemporaryDirectory[str] | None:
    """Where every API process writes its request metrics, so that any of them serves the
    sum (prometheus_client's multiprocess mode); set before the processes start. An
    operator's own ``PROMETHEUS_MULTIPROC_DIR`` is used as it is."""
    from services.api.metrics import MULTIPROC_ENV

    if os.environ.get(MULTIPROC_ENV):
        return None
    made = tempfile.TemporaryDirectory(prefix="pass24-metrics-")
    os.environ[MULTIPROC_ENV] = made.name
    return made


def try_channels(settings: Settings, base: str, token: str) -> str:
    """How to try each way in, with this run's addresses, token and development secret."""
    phone = settings.phone_secret.get_secret_value()
    dev = (f" (development secret, kept in {settings.dev_secrets_file})"
           if settings.environment == "development" else "")
    support = settings.support_email
    smtp = f"{settings.smtp_listen_host}:{settings.smtp_listen_port}"
    return "\n".join([
        "",
        "Try each channel:",
        f"  API      curl -H 'Authorization: Bearer {token}' {base}/queue",
        f"  form     open {base}/intake/form in a browser (the page signs its own submissions)",
        f"  phone    curl -H 'X-Pass24-Secret: {phone}' -H 'Content-Type: application/json' \\",
        "             -d '{\"event\": \"incoming\", \"call_id\": \"try-1\", "
        "\"caller\": \"+7 495 000-00-00\"}' \\",
        f"             {base}/intake/phone/events{dev}",
        f"  email    pass24-desk smtp-listen   (another terminal; then, with a letter in try.eml:)",
        f"           curl smtp://{smtp} --mail-from you@example.ru --mail-rcpt {support} -T try.eml",
        f"  Kafka    pass24-desk relay / intake-consumer with PASS24_KAFKA_BOOTSTRAP_SERVERS "
        "(docs/KAFKA.md)",
        f"  history  pass24-desk history <ticket ID>   |   dashboard {base}/dashboard (paste a token on the page)",
        "",
    ])


def relay_position(settings: Settings, desk: Any) -> Callable[[], int | None] | None:
    """What ``/metrics`` reports relay lag from: the Kafka relay's saved position, which it
    keeps in the desk's PostgreSQL database. None elsewhere; and each read answers None
    before the relay's first batch or when the database does not answer, so a deployment
    without a relay shows no false lag."""
    if settings.persistence != "postgres":
        return None
    from services.cli_kafka import position_store

    name = f"{desk.name}->{settings.kafka_ticket_events_topic}"  # the relay's default name
    opened: list[Any] = []

    def load() -> int | None:
        try:
            if not opened:
                opened.append(position_store(settings))
            position = int(opened[0].load(name))
        except Exception:  # noqa: BLE001 - a scrape must not fail on a side metric
            logging.getLogger("pass24.metrics").warning("relay position unreadable", exc_info=True)
            opened.clear()
            return None
        return position or None

    return load
