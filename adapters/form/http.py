"""``/intake/form``: the Bitrix24 site form's webhook and the project's own HTML form."""

from __future__ import annotations

import hashlib
import html
import json
import secrets
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from adapters.form.fields import pick
from adapters.problems import invalid, problem, unauthenticated, unreadable
from adapters.signing import form_token, form_token_valid, webhook_authentic
from adapters.webhooks import PROBLEMS, Gate, answer
from domain.intake import IntakeRequest
from domain.values import LIMITS, Actor, Channel, Product


def build_form_router(gate: Gate, *, secret: str, support_email: str,
                      field_map: dict[str, tuple[str, ...]]) -> APIRouter:
    """The form's translator: fields by their configured names into the intake gate."""
    router = APIRouter(prefix="/intake/form", tags=["intake"])

    @router.get("", response_class=HTMLResponse)
    def form_page() -> HTMLResponse:
        """The request form; posts to this same address."""
        return HTMLResponse(_page(form_token(secret), secrets.token_hex(16), support_email))

    @router.post("", status_code=201, responses=PROBLEMS)
    async def submit(request: Request) -> Response:
        """A form submission (urlencoded, multipart or JSON) becomes a ticket."""
        body = await request.body()
        data, error = await _fields(request, body)
        if error is not None:
            return error
        headers = {k.lower(): v for k, v in request.headers.items()}
        body_secret = data.get("auth[application_token]", "")
        token = data.get("form_token", "")
        if not (webhook_authentic(secret, body, headers, body_secret)
                or (token and form_token_valid(secret, token))):
            return unauthenticated(instance=request.url.path)
        fields = pick(data, field_map)
        try:
            product = Product(fields.get("product", "unknown"))
        except ValueError:
            return invalid([{"field": "product", "reason": "unknown product; expected one of: "
                             + ", ".join(p.value for p in Product)}], instance=request.url.path)
        key = fields.get("submission_id") or "sha256:" + hashlib.sha256(
            json.dumps(sorted(fields.items()), ensure_ascii=False).encode()).hexdigest()
        outcome = gate(IntakeRequest(
            channel=Channel.FORM, intake_key=key,
            actor=Actor.requester(fields.get("email") or fields.get("phone") or "form"),
            name=fields.get("name", ""), email=fields.get("email", ""),
            phone=fields.get("phone", ""), organisation=fields.get("organisation", ""),
            subject=fields.get("subject", ""), text=fields.get("description", ""),
            product=product, product_version=fields.get("product_version", ""),
            device=fields.get("device", ""),
        ))
        if "text/html" in headers.get("accept", "") and token and outcome.ticket_id:
            return HTMLResponse(_thanks(outcome.ticket_id),
                                status_code=201 if outcome.created else 200)
        return answer(outcome, support_email=support_email, instance=request.url.path)

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
        return {}, unreadable(str(error), instance=request.url.path)
    return {}, problem(415, "Unsupported Media Type",
                       "send application/json, application/x-www-form-urlencoded or "
                       "multipart/form-data", slug="unsupported-media-type",
                       instance=request.url.path)


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


def _page(token: str, submission_id: str, support_email: str) -> str:
    L = LIMITS  # noqa: N806 - the same limits the intake gate applies
    return f"""<!doctype html>
<html lang="ru"><head><meta charset="utf-8"><title>Заявка в техподдержку PASS24.online</title>
<style>body{{font-family:sans-serif;max-width:40em;margin:2em auto}}label{{display:block;margin-top:1em}}
input,select,textarea{{width:100%}}</style></head><body>
<h1>Заявка в техподдержку</h1>
<form method="post" action="/intake/form">
<input type="hidden" name="form_token" value="{html.escape(token)}">
<input type="hidden" name="submission_id" value="{html.escape(submission_id)}">
<label>Имя <input name="name" maxlength="{L.name}"></label>
<label>Email <input name="email" type="email" maxlength="{L.email}"></label>
<label>Телефон <input name="phone" type="tel" maxlength="{L.phone}"></label>
<label>Организация <input name="organisation" maxlength="{L.organisation}"></label>
<label>Продукт <select name="product">
<option value="unknown">Не знаю</option><option value="pass24_online">PASS24.online</option>
<option value="pass24_control">PASS24.control (СКУД)</option>
<option value="mobile_pass24_online">Мобильное приложение PASS24.online</option>
<option value="mobile_pass24_key">PASS24.Key</option></select></label>
<label>Версия продукта <input name="product_version" maxlength="{L.version}"></label>
<label>Модель телефона и версия ОС <input name="device" maxlength="{L.device}"></label>
<label>Тема <input name="subject" maxlength="{L.subject}" required></label>
<label>Описание и шаги воспроизведения <textarea name="description" rows="8"></textarea></label>
<p><button type="submit">Отправить</button></p>
</form><p>Или напишите на <a href="mailto:{html.escape(support_email)}">{html.escape(support_email)}</a>.</p>
</body></html>"""


def _thanks(ticket_id: str) -> str:
    return (f"<!doctype html><html lang=\"ru\"><meta charset=\"utf-8\"><title>Заявка принята</title>"
            f"<p>Заявка зарегистрирована, номер <strong>{html.escape(ticket_id)}</strong>.</p></html>")
