"""``/intake/form``: the Bitrix24 site form's webhook and the project's own HTML form."""

from __future__ import annotations

import hashlib
import html
import json
import re
import secrets
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from adapters.email.details import extract_details
from adapters.email.wiring import MailComponents
from adapters.form.fields import load_field_map, pick
from adapters.problems import invalid, problem
from adapters.form.guard import FormGuard
from adapters.signing import ReplayCache, WebhookVerifier, form_token, form_token_valid
from domain.errors import InvalidValue
from domain.values import Actor, Channel, Product, Requester
from services.application import SupportDesk
from services.channel_policy import ChannelClosed, ChannelPolicy
from services.settings import Settings

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^\+?[\d\s()\-]{6,20}$")
_LIMITS = {"name": 200, "email": 254, "phone": 32, "organisation": 200, "subject": 500,
           "description": 100_000, "product_version": 50, "device": 200, "submission_id": 200}


def build_form_router(desk: SupportDesk, settings: Settings, *,
                      mail: MailComponents | None = None,
                      channels: ChannelPolicy | None = None) -> APIRouter:
    router = APIRouter(prefix="/intake/form", tags=["intake"])
    secret = settings.form_secret.get_secret_value()
    mapping = load_field_map(settings.form_field_map_file)
    replays = ReplayCache(settings.mail_db_path)
    verifier = WebhookVerifier(secret, replays=replays, max_age=settings.webhook_max_age_seconds,
                               channel="form")
    guard = FormGuard(replays, per_client=settings.form_client_rate_limit,
                      per_address=settings.form_address_rate_limit)
    policy = channels or (mail.channels if mail else ChannelPolicy.from_names(
        desk.calendar, settings.support_email, settings.holiday_channels.split(",")))

    @router.get("", response_class=HTMLResponse)
    def form_page() -> HTMLResponse:
        """The request form; posts to this same address."""
        return HTMLResponse(_page(form_token(secret), secrets.token_hex(16), settings.support_email))

    @router.post("", status_code=201, responses={422: {"content": {"application/problem+json": {}}}})
    async def submit(request: Request) -> Response:
        """A form submission (urlencoded, multipart or JSON) becomes a ticket."""
        body = await request.body()
        data, error = await _fields(request, body)
        if error is not None:
            return error
        headers = {k.lower(): v for k, v in request.headers.items()}
        body_secret = data.get("auth[application_token]", "")
        token = data.get("form_token", "")
        from_page = bool(token) and form_token_valid(secret, token)
        refusal = None if from_page else verifier.refusal(body, headers, body_secret)
        if refusal is not None:
            return problem(401, "unauthenticated", "Not signed", refusal)
        if from_page and (limited := guard.over_limit("client", _client(request))):
            return _too_many(f"more than {limited} form submissions from this address",
                             settings.support_email)
        now = desk.clock.now()
        try:
            policy.check(Channel.FORM, now)
        except ChannelClosed as closed:
            return problem(403, "channel-closed", "Channel closed on public holidays", str(closed),
                           support_email=settings.support_email)
        fields = pick(data, mapping)
        errors = _validate(fields)
        if errors:
            return invalid(errors)
        details = extract_details(fields.get("subject", ""), fields.get("description", ""))
        try:
            given = fields.get("product", "unknown")
            product = Product(given) if given != "unknown" else details.product
        except ValueError:
            return invalid([{"field": "product", "reason": "unknown product; expected one of: "
                             + ", ".join(p.value for p in Product)}])
        key = fields.get("submission_id") or "sha256:" + hashlib.sha256(
            json.dumps(sorted((k, v) for k, v in fields.items()), ensure_ascii=False).encode()
        ).hexdigest()
        if from_page and guard.token_reused(token, key):
            return problem(401, "unauthenticated", "Form token already used",
                           "this form was already submitted; reload the page for a new one")
        requester_key = fields.get("email") or fields.get("phone", "")
        if (limited := guard.over_limit("address", requester_key)):
            return _too_many(f"more than {limited} requests for {requester_key}",
                             settings.support_email)
        try:
            requester = Requester(name=fields.get("name", ""), email=fields.get("email", ""),
                                  phone=fields.get("phone", ""),
                                  organisation=fields.get("organisation", ""))
            receipt = desk.receive(
                channel=Channel.FORM, requester=requester, subject=fields.get("subject", ""),
                description=fields.get("description", ""),
                actor=Actor.requester(requester.email or requester.phone), product=product,
                product_version=fields.get("product_version", details.product_version),
                device=fields.get("device", details.device), intake_key=key, at=now,
            )
        except InvalidValue as bad:
            return invalid([{"field": bad.field, "reason": bad.reason}])
        if mail is not None:
            mail.acknowledge_later(desk, receipt.ticket_id)
        result = {"ticket_id": receipt.ticket_id, "created": receipt.created}
        if "text/html" in request.headers.get("accept", "") and token:
            return HTMLResponse(_thanks(receipt.ticket_id), status_code=201 if receipt.created else 200)
        return JSONResponse(result, status_code=201 if receipt.created else 200)

    return router


async def _fields(request: Request, body: bytes) -> tuple[dict[str, str], Response | None]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if content_type == "application/json":
            loaded: Any = json.loads(body or b"{}")
            if not isinstance(loaded, dict):
                raise ValueError("a JSON object is expected")
            return _flatten(loaded), None
        if content_type == "application/x-www-form-urlencoded":
            return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True)), None
        if content_type == "multipart/form-data":
            form = await request.form()
            return {k: v for k, v in form.items() if isinstance(v, str)}, None
    except (ValueError, UnicodeDecodeError) as error:
        return {}, problem(400, "unreadable-body", "Unreadable body", str(error))
    except RecursionError:
        return {}, problem(400, "unreadable-body", "Unreadable body", "JSON nested too deeply")
    return {}, problem(415, "unsupported-media-type", "Unsupported media type",
                       "send application/json, application/x-www-form-urlencoded or multipart/form-data")


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _too_many(detail: str, support_email: str) -> Response:
    response = problem(429, "too-many-requests", "Too many requests",
                       f"{detail}; try later or write to {support_email}")
    response.headers["Retry-After"] = "3600"
    return response


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Bitrix24 nests fields (``{"fields": {"NAME": ...}}``); flatten to ``fields[NAME]`` names."""
    flat: dict[str, str] = {}
    for key, value in data.items():
        name = f"{prefix}[{key}]" if prefix else str(key)
        if isinstance(value, dict):
            flat.update(_flatten(value, name))
        elif isinstance(value, list):
            flat[name] = ", ".join(str(v) for v in value)
        elif value is not None:
            flat[name] = str(value)
    return flat


def _validate(fields: dict[str, str]) -> list[dict[str, str]]:
    errors: list[dict[str, str]] = []
    for field, limit in _LIMITS.items():
        if len(fields.get(field, "")) > limit:
            errors.append({"field": field, "reason": f"longer than {limit} characters"})
    email, phone = fields.get("email", ""), fields.get("phone", "")
    if not email and not phone:
        errors.append({"field": "email", "reason": "give an email address or a phone number"})
    if email and not _EMAIL.match(email):
        errors.append({"field": "email", "reason": f"not an email address: {email!r}"})
    if phone and not _PHONE.match(phone):
        errors.append({"field": "phone", "reason": f"not a phone number: {phone!r}"})
    if not fields.get("description") and not fields.get("subject"):
        errors.append({"field": "description", "reason": "describe the problem"})
    return errors


def _page(token: str, submission_id: str, support_email: str) -> str:
    return f"""<!doctype html>
<html lang="ru"><head><meta charset="utf-8"><title>Заявка в техподдержку PASS24.online</title>
<style>body{{font-family:sans-serif;max-width:40em;margin:2em auto}}label{{display:block;margin-top:1em}}
input,select,textarea{{width:100%}}</style></head><body>
<h1>Заявка в техподдержку</h1>
<form method="post" action="/intake/form">
<input type="hidden" name="form_token" value="{html.escape(token)}">
<input type="hidden" name="submission_id" value="{html.escape(submission_id)}">
<label>Имя <input name="name" maxlength="200"></label>
<label>Email <input name="email" type="email" maxlength="254"></label>
<label>Телефон <input name="phone" type="tel" maxlength="32"></label>
<label>Организация <input name="organisation" maxlength="200"></label>
<label>Продукт <select name="product">
<option value="unknown">Не знаю</option><option value="pass24_online">PASS24.online</option>
<option value="pass24_control">PASS24.control (СКУД)</option>
<option value="mobile_pass24_online">Мобильное приложение PASS24.online</option>
<option value="mobile_pass24_key">PASS24.Key</option></select></label>
<label>Версия продукта <input name="product_version" maxlength="50"></label>
<label>Модель телефона и версия ОС <input name="device" maxlength="200"></label>
<label>Тема <input name="subject" maxlength="500" required></label>
<label>Описание и шаги воспроизведения <textarea name="description" rows="8"></textarea></label>
<p><button type="submit">Отправить</button></p>
</form><p>Или напишите на <a href="mailto:{html.escape(support_email)}">{html.escape(support_email)}</a>.</p>
</body></html>"""


def _thanks(ticket_id: str) -> str:
    return (f"<!doctype html><html lang=\"ru\"><meta charset=\"utf-8\"><title>Заявка принята</title>"
            f"<p>Заявка зарегистрирована, номер <strong>{html.escape(ticket_id)}</strong>.</p></html>")
