"""``/intake/chatbot``: messages from the chat-bot (§3.8), signed like the telephony's webhook.

One bot message is one request: its ID is the intake key; a ticket ID the user
typed (or the bot remembers for the conversation) threads it onto that ticket.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from adapters.signing import WebhookVerifier
from adapters.webhooks import PROBLEMS, Gate, answer, signed_model, verifier_for
from domain.intake import IntakeRequest
from domain.values import Actor, Channel


class ChatUser(BaseModel):
    name: str = ""
    email: str = ""
    phone: str = ""


class ChatMessage(BaseModel):
    message_id: str = Field(min_length=1, description="unique per message, e.g. chat:update")
    user: ChatUser
    text: str = ""
    subject: str = ""
    ticket_id: str = Field(default="", description="the ticket the conversation is about")


def build_chatbot_router(gate: Gate, *, secret: str, support_email: str,
                         verifier: WebhookVerifier | None = None) -> APIRouter:
    router = APIRouter(prefix="/intake/chatbot", tags=["intake"])
    check = verifier_for(secret, "chatbot", verifier)

    @router.post("/messages", responses=PROBLEMS)
    async def message(request: Request) -> Response:
        """A user's message: a new ticket, or a message on the ticket the chat is about."""
        chat = await signed_model(request, check, ChatMessage)
        if isinstance(chat, Response):
            return chat
        user = chat.user
        outcome = gate(IntakeRequest(
            channel=Channel.CHATBOT, intake_key=chat.message_id,
            actor=Actor.requester(user.email or user.phone or "chatbot"),
            name=user.name, email=user.email, phone=user.phone,
            subject=chat.subject, text=chat.text,
            thread_hints=(chat.ticket_id,) if chat.ticket_id else (),
        ))
        return answer(outcome, support_email=support_email, instance=request.url.path,
                      fields={"email": "user.email", "phone": "user.phone", "requester": "user",
                              "description": "text"})

    return router
