"""Which domain events go to Kafka, under which data version, and their JSON Schemas.

The schema files under ``docs/schemas/`` are generated from the event classes
(``python -m adapters.kafka.schemas docs/schemas``) and committed; a test checks
that every domain event type is either published with a schema file that matches
the code, or listed in ``UNPUBLISHED`` with the reason. Evolution rules are in
docs/KAFKA.md: adding a field keeps the version; removing, renaming or retyping
one is a new version (``PUBLISHED`` bumps, the old file stays).
"""

from __future__ import annotations

import inspect
import json
import sys
from pathlib import Path
from typing import Any

from eventsourcing.domain import Aggregate

import domain.intake
import domain.ticket
from adapters.kafka.envelope import SCHEMA_BASE, TYPE_PREFIX, schema_url

PUBLISHED: dict[str, int] = {
    "Ticket.Received": 1,
    "Ticket.Acknowledged": 1,
    "Ticket.Classified": 1,
    "Ticket.Reclassified": 1,
    "Ticket.EmergencyConfirmed": 1,
    "Ticket.Assigned": 1,
    "Ticket.Responded": 1,
    "Ticket.InformationRequested": 1,
    "Ticket.RequesterReplied": 1,
    "Ticket.Escalated": 1,
    "Ticket.FixReleased": 1,
    "Ticket.Postponed": 1,
    "Ticket.Resumed": 1,
    "Ticket.Resolved": 1,
    "Ticket.Reopened": 1,
    "Ticket.Closed": 1,
    "Ticket.SlaAtRisk": 1,
    "Ticket.SlaBreached": 1,
    "Ticket.DeliveryFailed": 1,
    "Ticket.AttachmentsAdded": 1,
    "Ticket.NoticeNotSent": 1,
    "Ticket.ContactAdded": 1,
    "Ticket.ThirdPartyMessageReceived": 1,
    "Ticket.ThirdPartyMessageAccepted": 1,
}
"""Event name → data version of what the relay publishes to ``pass24.ticket-events``."""

UNPUBLISHED: dict[str, str] = {
    "IntakeRecord.Registered": (
        "bookkeeping of idempotent intake (which intake key made which ticket); the "
        "ticket's own Received event carries the intake key, so consumers lose nothing"
    ),
}
"""Event name → why the relay skips it."""

DOMAIN_MODULES = (domain.ticket, domain.intake)
ENVELOPE_SCHEMA = "envelope.v1.json"

_TYPES: dict[str, dict[str, Any]] = {
    "str": {"type": "string"},
    "int": {"type": "integer"},
    "bool": {"type": "boolean"},
    "datetime": {"type": "string", "format": "date-time"},
    "list[str]": {"type": "array", "items": {"type": "string"}},
    "dict[str, str]": {"type": "object", "additionalProperties": {"type": "string"}},
    "dict[str, Any]": {"type": "object"},
    "list[dict[str, Any]]": {"type": "array", "items": {"type": "object"}},
}
_DESCRIPTIONS = {
    "at": "when it happened (business time, with offset)",
    "actor": "who did it: {kind: staff|requester|system|integration, id}",
    "sla": "the SLA schedule decided when the event was recorded (due instants, policy version)",
    "requester": "name, email, phone, organisation (empty strings when unknown)",
    "ticket_id": "the human-friendly ticket ID, e.g. P24-4K7Q9M",
}


def domain_event_classes() -> dict[str, type[Any]]:
    """Every concrete event class of every aggregate in the domain, by stable name."""
    found: dict[str, type[Any]] = {}
    for module in DOMAIN_MODULES:
        for _, aggregate in inspect.getmembers(module, inspect.isclass):
            if not issubclass(aggregate, Aggregate) or aggregate.__module__ != module.__name__:
                continue
            for cls in vars(aggregate).values():
                if (
                    isinstance(cls, type)
                    and issubclass(cls, Aggregate.Event)
                    and cls.__qualname__.startswith(aggregate.__name__ + ".")
                    and cls.__name__ not in ("Event", "Created")
                ):
                    found[cls.__qualname__] = cls
    return found


def data_fields(cls: type[Any]) -> dict[str, str]:
    """The event's own fields and their annotations, in declaration order."""
    fields: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        for name, annotation in getattr(klass, "__annotations__", {}).items():
            if klass.__module__.startswith("domain."):
                fields[name] = annotation if isinstance(annotation, str) else annotation.__name__
    return fields


def _property(name: str, annotation: str) -> dict[str, Any]:
    nullable = annotation.endswith(" | None")
    base = annotation.removesuffix(" | None")
    if base not in _TYPES:
        raise TypeError(f"no JSON Schema mapping for field {name}: {annotation}")
    schema = dict(_TYPES[base])
    if nullable:
        schema = {"anyOf": [schema, {"type": "null"}]}
    if name in _DESCRIPTIONS:
        schema["description"] = _DESCRIPTIONS[name]
    return schema


def data_schema(name: str) -> dict[str, Any]:
    """The JSON Schema of ``data`` for a published event."""
    version = PUBLISHED[name]
    fields = data_fields(domain_event_classes()[name])
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": schema_url(name, version),
        "title": f"{name} v{version}",
        "description": f"data of a {TYPE_PREFIX}{name} event on pass24.ticket-events",
        "type": "object",
        "properties": {field: _property(field, ann) for field, ann in fields.items()},
        "required": list(fields),
        "additionalProperties": True,
    }


def envelope_schema() -> dict[str, Any]:
    """The JSON Schema of the envelope (data is checked by its own schema, see dataschema)."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{SCHEMA_BASE}{ENVELOPE_SCHEMA}",
        "title": "pass24-desk event envelope v1 (CloudEvents 1.0 structured JSON)",
        "type": "object",
        "properties": {
            "specversion": {"const": "1.0"},
            "id": {"type": "string", "pattern": "^[0-9a-f-]{36}:[1-9][0-9]*$",
                   "description": "originator UUID and version: stable, the deduplication key"},
            "source": {"type": "string"},
            "type": {"enum": [TYPE_PREFIX + name for name in PUBLISHED]},
            "subject": {"type": "string", "description": "ticket ID; also the message key"},
            "time": {"type": "string", "format": "date-time"},
            "datacontenttype": {"const": "application/json"},
            "dataschema": {"type": "string", "format": "uri"},
            "dataversion": {"type": "integer", "minimum": 1},
            "originatorid": {"type": "string", "format": "uuid"},
            "originatorversion": {"type": "integer", "minimum": 1},
            "sequence": {"type": "integer", "minimum": 1,
                         "description": "position in the event store's notification log"},
            "data": {"type": "object"},
        },
        "required": [
            "specversion", "id", "source", "type", "subject", "time", "datacontenttype",
            "dataschema", "dataversion", "originatorid", "originatorversion", "sequence", "data",
        ],
        "additionalProperties": True,
    }


def schema_files() -> dict[str, dict[str, Any]]:
    """File name → schema, for everything under docs/schemas/ this module owns."""
    files = {ENVELOPE_SCHEMA: envelope_schema()}
    for name, version in PUBLISHED.items():
        files[f"{name}.v{version}.json"] = data_schema(name)
    from adapters.kafka.intake import intake_schema  # the intake message is documented alongside

    files["intake.v1.json"] = intake_schema()
    return files


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, ensure_ascii=False, indent=2) + "\n"


def write(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for file_name, schema in schema_files().items():
        path = directory / file_name
        path.write_text(render(schema), encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/schemas")):
        print(path)
