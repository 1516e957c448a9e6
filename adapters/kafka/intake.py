"""The intake message: what integration adapters publish to ``pass24.intake``.

One message is one request from a requester (an email, a form submission, a
call logged by an operator, a chat-bot conversation). ``intake_key`` identifies
it within its channel (an email Message-ID, a form submission ID, a call ID):
the desk creates one ticket per (channel, intake key), however often and in
whatever order the message is delivered. Schema: docs/schemas/intake.v1.json.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from domain.intake import IntakeRequest
from domain.values import Actor, Channel, Product

SCHEMA_ID = "https://pass24online.ru/schemas/desk/intake.v1.json"


class IntakeRequester(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    name: str = Field(default="", max_length=300)
    email: str = Field(default="", max_length=320)
    phone: str = Field(default="", max_length=50)
    organisation: str = Field(default="", max_length=300)


class IntakeMessage(BaseModel):
    """A request for the desk, published by an integration adapter."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    schema_version: Literal[1] = Field(
        default=1, description="raised only for incompatible changes; consumers ignore unknown fields"
    )
    intake_key: str = Field(min_length=1, max_length=998,
                            description="unique per channel: email Message-ID, form or call ID")
    channel: Channel
    integration: str = Field(min_length=1, max_length=200,
                             description="the publishing adapter, recorded as the actor")
    requester: IntakeRequester
    subject: str = Field(default="", max_length=10_000,
                         description="folded to one line and cut at 500 characters by the desk")
    body: str = Field(default="", max_length=2_000_000,
                      description="the problem description; past 100,000 characters the desk "
                                  "cuts it with a note and keeps the whole text as an attachment")
    product: Product = Product.UNKNOWN
    product_version: str = Field(default="", max_length=100)
    device: str = Field(default="", max_length=300, description="phone model and OS version")
    received_at: AwareDatetime = Field(description="when the channel received it, with offset")

    def encode(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def decode(cls, payload: bytes | str) -> IntakeMessage:
        return cls.model_validate_json(payload)


def to_request(message: IntakeMessage) -> IntakeRequest:
    """The message as the intake gate's channel-neutral request."""
    who = message.requester
    return IntakeRequest(
        channel=message.channel,
        intake_key=message.intake_key,
        actor=Actor.integration(message.integration),
        name=who.name,
        email=who.email,
        phone=who.phone,
        organisation=who.organisation,
        subject=message.subject,
        text=message.body,
        product=message.product,
        product_version=message.product_version,
        device=message.device,
        received_at=message.received_at,
    )


def intake_schema() -> dict[str, Any]:
    schema = IntakeMessage.model_json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        **schema,
        "title": "pass24.intake message v1",
    }
