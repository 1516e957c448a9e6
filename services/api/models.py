"""Request and response bodies (pydantic at the edge only)."""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Annotated, Any

from fastapi import Response
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    HttpUrl,
    field_validator,
    model_validator,
)
from pydantic_core import to_json

from domain.values import (
    LIMITS,
    Category,
    Channel,
    Level,
    PostponeReason,
    Product,
    RequiredInfo,
    check_email,
    check_phone,
)

def _iso_text(value: Any) -> Any:
    if not isinstance(value, str) or value.strip().lstrip("+-").replace(".", "", 1).isdigit():
        raise ValueError("expected an ISO-8601 instant with an offset, e.g. 2025-04-28T10:00:00+03:00")
    return value


def _plausible(value: datetime) -> datetime:
    # The working calendar and SLA arithmetic need room around an instant: one at the
    # end of year 9999 cannot even be moved to Moscow time.
    if not EARLIEST <= value <= LATEST:
        raise ValueError(f"expected an instant between {EARLIEST.date()} and {LATEST.date()}")
    return value


EARLIEST = datetime(1970, 1, 1, tzinfo=timezone.utc)
LATEST = datetime(2999, 12, 31, tzinfo=timezone.utc)

IsoInstant = Annotated[AwareDatetime, BeforeValidator(_iso_text), AfterValidator(_plausible)]
"""An instant written as ISO-8601 text with an offset (not a Unix timestamp), 1970..2999."""


def _plausible_date(value: date) -> date:
    if not EARLIEST.date() <= value <= LATEST.date():
        raise ValueError(f"expected a date between {EARLIEST.date()} and {LATEST.date()}")
    return value


PlausibleDate = Annotated[date, AfterValidator(_plausible_date)]
"""A calendar date within the same years as ``IsoInstant``."""

# Every limit comes from the one table every channel uses (domain.values.LIMITS).
Text = Field(min_length=1, max_length=LIMITS.text)
ShortText = Field(default="", max_length=LIMITS.note)
Line = 10_000
"""A transport cap for the fields of a request, which the intake gate normalises, cuts to
the same LIMITS and checks like every channel's (an over-long description is cut, not refused)."""


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class RequesterIn(Body):
    """Checked and normalised by the intake gate, like every channel's requester."""

    name: str = Field(default="", max_length=Line)
    email: str = Field(default="", max_length=Line)
    phone: str = Field(default="", max_length=Line)
    organisation: str = Field(default="", max_length=Line)


class ReceiveIn(Body):
    """A request entered by staff (e.g. from a phone call) or sent by an integration."""

    channel: Channel = Channel.PHONE
    requester: RequesterIn
    subject: str = Field(default="", max_length=Line,
                         description="folded to one line, cut at 500 characters")
    description: str = Field(default="", max_length=2_000_000, description=(
        "past 100,000 characters cut with a note; the whole text is kept as an attachment"))
    product: Product = Product.UNKNOWN
    product_version: str = Field(default="", max_length=Line)
    device: str = Field(default="", max_length=Line)
    intake_key: str = Field(default="", max_length=Line,
                            description="makes receipt idempotent: same key, same ticket")
    contacts: list[str] = Field(default_factory=list, max_length=50,
                                description="R19: other addresses whose letters thread here (Cc)")


class ClassifyIn(Body):
    level: Level
    product: Product
    category: Category


class ReclassifyIn(Body):
    reason: str = Field(min_length=1, max_length=LIMITS.note)
    level: Level | None = None
    product: Product | None = None
    category: Category | None = None

    @model_validator(mode="after")
    def _something(self) -> ReclassifyIn:
        if self.level is None and self.product is None and self.category is None:
            raise ValueError("give at least one of level, product, category")
        return self


class NoteIn(Body):
    note: str = ShortText


class AssignIn(Body):
    assignee: str = Field(min_length=1, max_length=LIMITS.name)


class RespondIn(Body):
    text: str = Field(default="", max_length=LIMITS.text)
    links: list[HttpUrl] = Field(default_factory=list, max_length=20)

    @model_validator(mode="after")
    def _content(self) -> RespondIn:
        if not self.text and not self.links:
            raise ValueError("a response needs text or links")
        return self


class RequestInformationIn(Body):
    text: str = Text
    items: list[RequiredInfo] = Field(default_factory=list)


class RequesterReplyIn(Body):
    """What the requester said, typed in by staff or sent by an integration: recorded with
    the requester as author and the caller as ``entered_by``."""

    text: str = Text
    product_version: str = Field(default="", max_length=LIMITS.version)
    device: str = Field(default="", max_length=LIMITS.device)
    message_id: str = Field(default="", max_length=LIMITS.intake_key)


class ContactIn(Body):
    """R19: an address whose letters thread as the requester's from now on."""

    email: str = Field(min_length=1, max_length=LIMITS.email)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        return check_email("email", value)


class EmptyIn(Body):
    """No fields: the path says it all."""


class EscalateIn(Body):
    summary: str = Field(min_length=1, max_length=LIMITS.text)
    expected_release: PlausibleDate | None = None
    issue_ref: str = Field(default="", max_length=LIMITS.name)


class FixReleaseIn(Body):
    release: str = Field(min_length=1, max_length=LIMITS.version)
    notes: str = ShortText


class PostponeIn(Body):
    reason: PostponeReason
    note: str = ShortText


class ResolveIn(Body):
    resolution: str = Field(min_length=1, max_length=LIMITS.text)


class ReopenIn(Body):
    reason: str = Field(min_length=1, max_length=LIMITS.note)


class Created(BaseModel):
    id: str
    created: bool
    position: int | None = None
    outcome: str = Field(default="created", description=(
        "created, duplicate, replied, reopened, linked_new_ticket or third_party"))


class CommandOut(BaseModel):
    id: str
    version: int
    position: int | None = Field(default=None, description="notification position; pass as min_position")


class ClockOut(BaseModel):
    status: str
    due_at: str
    at_risk_at: str
    used_seconds: float
    remaining_seconds: float
    paused_seconds: float


class SlaOut(BaseModel):
    level: str
    reaction: ClockOut
    resolution: ClockOut
    policy_version: str
    calendar_version: str


class TicketOut(BaseModel):
    id: str
    status: str
    level: str | None
    emergency_confirmed: bool
    product: str
    category: str | None
    channel: str
    subject: str
    description: str
    requester: dict[str, str]
    assignee: str | None
    missing: list[str]
    received_at: str
    updated_at: str
    version: int
    sla: SlaOut
    product_version: str = ""
    device: str = ""
    outdated_version: bool = Field(
        default=False, description="R2: the version is older than the latest supported one")
    latest_version: str | None = None
    call_requester: bool = Field(
        default=False, description="R16: details missing and no email address: call the requester")
    acknowledged_at: str | None = None
    notice_not_sent: dict[str, Any] | None = Field(
        default=None, description="R18: why no registration notice could be sent")
    delivery_failures: list[dict[str, Any]] = Field(default_factory=list)
    escalation: dict[str, Any] | None = None
    releases: list[dict[str, Any]] = Field(default_factory=list)
    postponement: dict[str, Any] | None = None
    resolution: str | None = None
    contacts: list[str] = Field(
        default_factory=list, description="R19: addresses whose letters thread as the requester's")
    third_party_messages: list[dict[str, Any]] = Field(
        default_factory=list, description="R19: letters from others, kept for staff to accept")


class EventOut(BaseModel):
    version: int
    type: str
    at: str | None
    actor: dict[str, Any] | None
    data: dict[str, Any]


class HistoryOut(BaseModel):
    id: str
    as_of: str | None
    total: int
    limit: int
    offset: int
    events: list[EventOut]
    state: TicketOut | None = Field(description="the ticket as it stood at as_of (or now)")


class PageOut(BaseModel):
    items: list[dict[str, Any]]
    total: int
    limit: int
    offset: int
    position: int


class StatsOut(BaseModel):
    rows: list[dict[str, Any]]
    position: int


def json_response(payload: dict[str, Any], model: type[BaseModel] | None = None) -> Response:
    """The answer serialised on the endpoint's own thread (checked against ``model`` when
    it has fields to check). A synchronous endpoint that returns a dict has FastAPI
    validate it against the response model on a second thread-pool hop, which under
    load waits behind other requests' work."""
    if model is None:
        return Response(to_json(payload, inf_nan_mode="null"), media_type="application/json")
    return Response(model.model_validate(payload).model_dump_json(by_alias=True),
                    media_type="application/json")
