"""The envelope every event wears on Kafka: CloudEvents 1.0 attributes around the event's data.

Attributes (docs/KAFKA.md, docs/schemas/envelope.v1.json):

* ``id`` — ``<originator UUID>:<originator version>``: the same event always has
  the same ID, however often the relay re-publishes it, so consumers drop duplicates.
* ``source`` — ``pass24-desk/<application name>``.
* ``type`` — ``online.pass24.desk.<Aggregate>.<Event>``, e.g. ``online.pass24.desk.Ticket.Received``.
* ``subject`` — the ticket ID (also the Kafka message key).
* ``time`` — when the event was recorded (the event's timestamp, UTC).
* ``dataschema`` — the JSON Schema of ``data``, versioned (``…/Ticket.Received.v1.json``).
* extensions ``dataversion``, ``originatorid``, ``originatorversion``, ``sequence`` (the
  position in the store's notification log, for diagnostics and lag).

``data`` is the event's own fields as JSON: datetimes as RFC 3339 strings, UUIDs as
strings, tuples as arrays. Nothing else is added or removed, so auditors read the
same facts on Kafka as in the store.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime, timezone
from enum import Enum
from typing import Any, Literal
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from adapters.audit import seal

SPEC_VERSION = "1.0"
TYPE_PREFIX = "online.pass24.desk."
SCHEMA_BASE = "https://pass24online.ru/schemas/desk/"
CONTENT_TYPE: Literal["application/json"] = "application/json"
_ENVELOPE_FIELDS = frozenset({"originator_id", "originator_version", "timestamp", "originator_topic"})


class Envelope(BaseModel):
    """One published event, as consumers parse it (Pydantic at the edge)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    specversion: Literal["1.0"]
    id: str = Field(pattern=r"^[0-9a-f-]{36}:[1-9][0-9]*$")
    source: str
    type: str
    subject: str
    time: AwareDatetime
    datacontenttype: Literal["application/json"] = CONTENT_TYPE
    dataschema: str
    dataversion: int = Field(ge=1)
    originatorid: UUID
    originatorversion: int = Field(ge=1)
    sequence: int = Field(ge=1)
    data: dict[str, Any]

    @property
    def event_name(self) -> str:
        """``Ticket.Received`` for ``online.pass24.desk.Ticket.Received``."""
        return self.type.removeprefix(TYPE_PREFIX)

    @classmethod
    def parse(cls, payload: bytes | str) -> Envelope:
        return cls.model_validate_json(payload)


def event_name(event: DomainEventProtocol[Any] | type[Any]) -> str:
    """The stable name of an event class: ``Ticket.Received``, ``IntakeRecord.Registered``."""
    cls = event if isinstance(event, type) else type(event)
    return cls.__qualname__


def event_id(originator_id: UUID | str, originator_version: int) -> str:
    return f"{originator_id}:{originator_version}"


def schema_url(name: str, version: int) -> str:
    return f"{SCHEMA_BASE}{name}.v{version}.json"


def event_data(event: DomainEventProtocol[Any]) -> dict[str, Any]:
    """The event's own fields (values as stored; ``encode`` renders them as JSON)."""
    return {key: value for key, value in event.__dict__.items() if key not in _ENVELOPE_FIELDS}


def envelope(
    event: DomainEventProtocol[Any],
    *,
    subject: str,
    sequence: int,
    source: str,
    data_version: int,
) -> dict[str, Any]:
    """The envelope of ``event`` as a dict for ``encode`` (kept a dict: the relay's hot path)."""
    timestamp: datetime = getattr(event, "timestamp")  # every Aggregate.Event has one
    return document(
        event_name(event), str(event.originator_id), event.originator_version,
        time=timestamp.astimezone(timezone.utc).isoformat(), data=event_data(event),
        subject=subject, sequence=sequence, source=source, data_version=data_version,
    )


def document(
    name: str,
    originator_id: str,
    originator_version: int,
    *,
    time: str,
    data: dict[str, Any],
    subject: str,
    sequence: int,
    source: str,
    data_version: int,
) -> dict[str, Any]:
    """The envelope's attributes around ``data`` (the one place that lays them out)."""
    return {
        "specversion": SPEC_VERSION,
        "id": event_id(originator_id, originator_version),
        "source": source,
        "type": TYPE_PREFIX + name,
        "subject": subject,
        "time": time,
        "datacontenttype": CONTENT_TYPE,
        "dataschema": schema_url(name, data_version),
        "dataversion": data_version,
        "originatorid": originator_id,
        "originatorversion": originator_version,
        "sequence": sequence,
        "data": data,
    }


_WRAPPED = b'"_type_"'
_DATETIME = "datetime_iso"


def stored_data(text: bytes) -> tuple[str, dict[str, Any]] | None:
    """``(time, data)`` of an event read straight from its stored JSON, or None.

    ``text`` is what eventsourcing's ``JSONTranscoder`` stored (seal stripped): the
    event's ``__dict__`` without originator ID and version, datetimes wrapped as
    ``{"_type_": "datetime_iso", "_data_": "<isoformat>"}``. The result is exactly
    what ``envelope`` makes of the domain event the mapper would build from the
    same text: ``timestamp`` as ``time`` (in UTC), ``originator_topic`` dropped,
    wrapped datetimes as their ISO text (parsed and rendered again, as the mapper
    and ``plain`` would), the rest as JSON parsed it, in stored order. Anything this
    cannot vouch for returns None and the caller takes the mapper's path: another
    wrapped type (UUIDs, decimals, registered value objects), a wrapped value below
    the top level, an upcast (``class_version``), a malformed timestamp.

    The text is parsed by ``seal.parse``: orjson's speed, ``json``'s result.
    """
    state: dict[str, Any] = seal.parse(text)
    timestamp = state.pop("timestamp", None)
    if not _is_datetime(timestamp) or "class_version" in state:
        return None
    state.pop("originator_topic", None)
    unexplained = text.count(_WRAPPED) - 1
    for key, value in state.items():
        if type(value) is dict and "_type_" in value:
            if not _is_datetime(value):
                return None
            state[key] = datetime.fromisoformat(value["_data_"]).isoformat()
            unexplained -= 1
    if unexplained:  # a wrapped value deeper down (or "_type_" as a key or text): not ours
        return None
    return datetime.fromisoformat(timestamp["_data_"]).astimezone(timezone.utc).isoformat(), state


def _is_datetime(value: Any) -> bool:
    return (type(value) is dict and len(value) == 2 and value.get("_type_") == _DATETIME
            and type(value.get("_data_")) is str)


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=lambda v: plain(v))


def encode(document: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON (Cyrillic stays readable, not \\u-escaped).

    The C encoder walks the document and calls ``plain`` only for what JSON lacks
    (datetimes, dates, UUIDs), which is several times faster than converting first.
    """
    return _ENCODER.encode(document).encode()


def plain(value: Any) -> Any:
    """A value as JSON sees it: datetimes and dates as ISO 8601, UUIDs and enums as strings."""
    if value is None or isinstance(value, (str, bool, int, float)):
        if isinstance(value, Enum):
            return value.value
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain(v) for v in value]
    as_dict = getattr(value, "as_dict", None)
    if callable(as_dict):
        return plain(as_dict())
    raise TypeError(f"cannot put {type(value).__name__} into an event envelope")
