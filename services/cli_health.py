"""``pass24-desk check ...``: health checks for containers that have no HTTP endpoint.

Compose ``healthcheck`` and Kubernetes ``exec`` probes run these in the worker's
own container (the image has no curl). Each prints one line and exits 0 when
healthy, 1 when not; a check never creates anything (tables, topics, files).
"""

from __future__ import annotations

import argparse
import socket
import urllib.error
import urllib.request
from typing import Any

from services.settings import Settings


def register(sub: Any) -> None:
    check = sub.add_parser("check", help="health checks for probes: store, projections, relay, "
                           "kafka, http, tcp (exit 0 healthy, 1 not)")
    what = check.add_subparsers(dest="check_command", required=True, metavar="WHAT")
    what.add_parser("store", help="the event store answers").set_defaults(handler=_store)
    projections = what.add_parser("projections", help="the read models are at most --max-lag "
                                  "events behind the log")
    projections.add_argument("--max-lag", type=int, default=None,
                             help="default: PASS24_READY_MAX_LAG")
    projections.set_defaults(handler=_projections)
    relay = what.add_parser("relay", help="the Kafka relay's saved position is at most "
                            "--max-lag events behind the log")
    relay.add_argument("--max-lag", type=int, default=None, help="default: PASS24_READY_MAX_LAG")
    relay.set_defaults(handler=_relay)
    what.add_parser("kafka", help="a broker answers a metadata request").set_defaults(handler=_kafka)
    http = what.add_parser("http", help="a URL answers 2xx (e.g. the API's /readyz)")
    http.add_argument("url")
    http.set_defaults(handler=_http)
    tcp = what.add_parser("tcp", help="HOST:PORT accepts connections (e.g. the SMTP listener)")
    tcp.add_argument("address")
    tcp.set_defaults(handler=_tcp)


def _verdict(ok: bool, text: str) -> int:
    print(("healthy: " if ok else "UNHEALTHY: ") + text)
    return 0 if ok else 1


def _store(settings: Settings, args: argparse.Namespace) -> int:
    from services.cli_audit import open_existing_store

    try:
        desk, info = open_existing_store(settings)  # never creates one
        desk.close()
    except Exception as error:  # noqa: BLE001 - any failure is the answer
        return _verdict(False, f"event store does not answer: {error}")
    return _verdict(True, f"event store answers; {info}")


def _projections(settings: Settings, args: argparse.Namespace) -> int:
    from projections.system import build_projections
    from services.bootstrap import build_desk

    limit = settings.ready_max_lag if args.max_lag is None else args.max_lag
    try:
        desk = build_desk(settings)
        try:
            read_models, runner = build_projections(desk, calendar=desk.calendar, clock=desk.clock,
                                                    settings=settings)
            head = runner.follower.head()
            positions = runner.tracked_positions()
            read_models.store.close()
        finally:
            desk.close()
    except Exception as error:  # noqa: BLE001
        return _verdict(False, f"read models unreadable: {error}")
    lag = max((head - p for p in positions.values()), default=head)
    return _verdict(lag <= limit, f"read models {lag} events behind the log (limit {limit})")


def _relay(settings: Settings, args: argparse.Namespace) -> int:
    from services.bootstrap import build_desk
    from services.cli_kafka import position_store

    limit = settings.ready_max_lag if args.max_lag is None else args.max_lag
    try:
        desk = build_desk(settings)
        positions = position_store(settings)
        try:
            head = desk.recorder.max_notification_id() or 0
            position = positions.load(f"{desk.name}->{settings.kafka_ticket_events_topic}")
        finally:
            positions.close()
            desk.close()
    except Exception as error:  # noqa: BLE001
        return _verdict(False, f"relay position unreadable: {error}")
    lag = head - position
    return _verdict(lag <= limit, f"relay {lag} events behind the log (limit {limit})")


def _kafka(settings: Settings, args: argparse.Namespace) -> int:
    from kafka import KafkaAdminClient

    try:
        admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers.split(","),
                                 client_id=f"{settings.kafka_client_id}-check",
                                 request_timeout_ms=5000, **settings.kafka_security())
        try:
            topics = admin.list_topics()
        finally:
            admin.close()
    except Exception as error:  # noqa: BLE001
        return _verdict(False, f"Kafka at {settings.kafka_bootstrap_servers} does not answer: {error}")
    return _verdict(True, f"Kafka at {settings.kafka_bootstrap_servers} answers, {len(topics)} topics")


def _http(settings: Settings, args: argparse.Namespace) -> int:
    try:
        with urllib.request.urlopen(args.url, timeout=5) as response:  # noqa: S310 - probe URL
            status = int(response.status)
    except urllib.error.HTTPError as error:
        status = error.code
    except (OSError, ValueError) as error:
        return _verdict(False, f"{args.url}: {error}")
    return _verdict(200 <= status < 300, f"{args.url} answered {status}")


def _tcp(settings: Settings, args: argparse.Namespace) -> int:
    host, _, port = args.address.rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=5):
            pass
    except (OSError, ValueError) as error:
        return _verdict(False, f"{args.address}: {error}")
    return _verdict(True, f"{args.address} accepts connections")
