"""``/intake/form``: the Bitrix24 site form's webhook and the project's own HTML form.

The form, its thanks page and its refusal page are Jinja2 templates beside this
module, their words from the message catalogue (``adapters.i18n``): Russian by
default, ``?lang=en`` for English.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from adapters.form.fields import pick
from adapters.i18n import DEFAULT, LANGUAGES, gettext, language_or_default, names, negotiate
from adapters.problems import invalid, problem, unauthenticated, unreadable
from adapters.form.guard import FormGuard
from adapters.form.parts import FormFile, decoded, split_multipart
from adapters.signing import ReplayCache, WebhookVerifier, form_token, form_token_valid
from adapters.webhooks import PROBLEMS, Gate, answer, verifier_for
from domain.intake import Decision, IncomingFile, IntakeRequest
from domain.values import LIMITS, Actor, Channel, Product


_PAGES = Environment(loader=PackageLoader("adapters.form", "templates"),
                     autoescape=select_autoescape(["html", "j2"]), undefined=StrictUndefined)


def _render(template: str, language: str, **context: Any) -> str:
    return _PAGES.get_template(template).render(
        language=language, _=lambda message: gettext(message, language), **context)


def build_form_router(gate: Gate, *, secret: str, support_email: str,
                      field_map: dict[str, tuple[str, ...]], language: str = DEFAULT,
                      verifier: WebhookVerifier | None = None,
                      guard: FormGuard | None = None) -> APIRouter:
    """The form's translator: fields by their configured names into the intake gate.
    ``guard`` makes page tokens single-use and limits submissions (see adapters/form/guard.py)."""
    router = APIRouter(prefix="/intake/form", tags=["intake"])
    check = verifier_for(secret, "form", verifier)
    limits = guard or FormGuard(ReplayCache(None), per_client="", per_address="")

    @router.get("", response_class=HTMLResponse)
    def form_page(request: Request,
                  lang: str | None = Query(default=None, pattern="^(" + "|".join(LANGUAGES) + ")$"),
                  ) -> HTMLResponse:
        """The request form (``?lang=en`` for English); posts to this same address."""
        chosen = lang or negotiate(request.headers.get("accept-language"), language)
        return HTMLResponse(_page(form_token(secret), secrets.token_hex(16), support_email, chosen))

    @router.post("", status_code=201, responses=PROBLEMS)
    async def submit(request: Request) -> Response:
        """A form submission (urlencoded, multipart or JSON) becomes a ticket."""
        body = await request.body()
        data, files, error = _fields(request, body)
        if error is not None:
            return error
        headers = {k.lower(): v for k, v in request.headers.items()}
        body_secret = data.get("auth[application_token]", "")
        token = data.get("form_token", "")
        from_page = bool(token) and form_token_valid(secret, token)
        refusal = None if from_page else check.refusal(body, headers, body_secret)
        if refusal is not None:
            return unauthenticated(refusal, instance=request.url.path)
        # Page tokens come from browsers; signed webhooks from one server for many requesters.
        if from_page and (limited := limits.over_limit("client", _client(request))):
            return _too_many(f"more than {limited} form submissions from this address",
                             support_email, request.url.path)
        fields = pick(data, field_map)
        try:
            product = Product(fields.get("product", "unknown"))
        except ValueError:
            return invalid([{"field": "product", "reason": "unknown product; expected one of: "
                             + ", ".join(p.value for p in Product)}], instance=request.url.path)
        key = fields.get("submission_id") or "sha256:" + hashlib.sha256(
            json.dumps(sorted(fields.items()), ensure_ascii=False).encode()).hexdigest()
        if from_page and limits.token_reused(token, key):
            return unauthenticated("this form was already submitted; reload the page for a new one",
                                   instance=request.url.path)
        requester = fields.get("email") or fields.get("phone", "")
        if requester and (limited := limits.over_limit("address", requester)):
            return _too_many(f"more than {limited} requests for {requester}", support_email,
                             request.url.path)
        outcome = gate(IntakeRequest(
            channel=Channel.FORM, intake_key=key,
            actor=Actor.requester(fields.get("email") or fields.get("phone") or "form"),
            name=fields.get("name", ""), email=fields.get("email", ""),
            phone=fields.get("phone", ""), organisation=fields.get("organisation", ""),
            subject=fields.get("subject", ""), text=fields.get("description", ""),
            product=product, product_version=fields.get("product_version", ""),
            device=fields.get("device", ""),
            attachments=tuple(IncomingFile(f.filename, f.content_type, f.content) for f in files),
        ))
        chosen = language_or_default(data.get("lang"), negotiate(headers.get("accept-language"),
                                                                 language))
        if "text/html" in headers.get("accept", "") and token:
            # A person submitted our own page: answer with a page, not JSON.
            if outcome.ticket_id:
                return HTMLResponse(_thanks(outcome.ticket_id, chosen),
                                    status_code=201 if outcome.created else 200)
            if outcome.decision in (Decision.INVALID, Decision.REFUSED):
                return HTMLResponse(_refused(outcome, support_email, chosen),
                                    status_code=422 if outcome.decision is Decision.INVALID else 403)
        return answer(outcome, support_email=support_email, instance=request.url.path,
                      language=chosen)

    return router


class _Repeated(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def _no_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys are unique: a repeated key would silently keep the last value."""
    loaded: dict[str, Any] = {}
    for key, value in pairs:
        if key in loaded:
            raise _Repeated(key)
        loaded[key] = value
    return loaded


def _single(pairs: list[tuple[str, str]], instance: str) -> tuple[dict[str, str], Response | None]:
    """Form values by name. A name given twice is refused (which one the sender meant is
    unknown), except a ``name[]`` list, whose values are joined as a JSON list's are."""
    values: dict[str, str] = {}
    repeated: list[str] = []
    for name, value in pairs:
        if name in values and not name.endswith("[]"):
            if name not in repeated:
                repeated.append(name)
            continue
        values[name] = f"{values[name]}, {value}" if name in values else value
    if repeated:
        return {}, invalid([{"field": name, "reason": "given more than once; send it once"}
                            for name in repeated], instance=instance)
    return values, None


def _fields(request: Request, body: bytes
            ) -> tuple[dict[str, str], list[FormFile], Response | None]:
    """The submission's values by name and its files, or the problem that answers it."""
    header = request.headers.get("content-type", "")
    content_type = header.split(";")[0].strip().lower()
    instance = request.url.path
    try:
        if content_type == "application/json":
            loaded: Any = json.loads(body or b"{}", object_pairs_hook=_no_repeats)
            if not isinstance(loaded, dict):
                raise ValueError("a JSON object is expected")
            fields = _flatten(loaded)
            # JSON's \ud800 escapes decode to lone surrogates no text can hold (the API's
            # models refuse them the same way); they broke the submission key with a 500.
            broken = [k for k, v in fields.items() if not _is_text(k) or not _is_text(v)]
            if broken:
                return {}, [], invalid([{"field": k.encode("utf-8", "replace").decode(),
                                         "reason": "not valid Unicode text (a lone surrogate)"}
                                        for k in broken], instance=instance)
            return fields, [], None
        if content_type == "application/x-www-form-urlencoded":
            return _urlencoded(body, instance)
        if content_type == "multipart/form-data":
            parts = split_multipart(body, header)
            if parts.errors:
                return {}, [], invalid(parts.errors, instance=instance)
            values, error = _single(parts.values, instance)
            return values, parts.files, error
    except _Repeated as repeated:
        # The name may hold a lone surrogate (a \ud800 escape): reported with "?" for it.
        return {}, [], invalid([{"field": repeated.name.encode("utf-8", "replace").decode(),
                                 "reason": "given more than once; send it once"}],
                               instance=instance)
    except (ValueError, UnicodeDecodeError) as error:
        return {}, [], unreadable(str(error), instance=instance)
    except RecursionError:
        return {}, [], unreadable("JSON nested too deeply", instance=instance)
    return {}, [], problem(415, "Unsupported Media Type",
                           "send application/json, application/x-www-form-urlencoded or "
                           "multipart/form-data", slug="unsupported-media-type",
                           instance=instance)


def _urlencoded(body: bytes, instance: str
                ) -> tuple[dict[str, str], list[FormFile], Response | None]:
    # Percent-escapes are decoded to bytes first so a bad byte is named with its field,
    # as in a multipart part, instead of refusing the whole body.
    pairs: list[tuple[str, str]] = []
    errors: list[dict[str, str]] = []
    # Latin-1 maps each byte to one character and back: the bytes as sent, escapes undone.
    for latin_name, latin_value in parse_qsl(body.decode("latin-1"), keep_blank_values=True,
                                             encoding="latin-1"):
        raw_name, raw_value = latin_name.encode("latin-1"), latin_value.encode("latin-1")
        name = raw_name.decode("utf-8", "replace")
        try:
            pairs.append((decoded(raw_name), decoded(raw_value)))
        except ValueError as error:
            errors.append({"field": name, "reason": str(error)})
    if errors:
        return {}, [], invalid(errors, instance=instance)
    values, problem_ = _single(pairs, instance)
    return values, [], problem_


def _is_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _too_many(detail: str, support_email: str, instance: str) -> Response:
    return problem(429, "Too Many Requests", f"{detail}; try later or write to {support_email}",
                   slug="too-many-requests", instance=instance, headers={"Retry-After": "3600"})


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


_FIELD_NAMES = {"requester": "Name", "name": "Name", "email": "Email", "phone": "Phone",
                "organisation": "Organisation", "product": "Product", "subject": "Subject",
                "description": "Description and steps to reproduce",
                "product_version": "Product version", "device": "Phone model and OS version"}


def _page(token: str, submission_id: str, support_email: str, language: str = DEFAULT) -> str:
    products = [(code, label) for code, label in names(language)["product"].items() if code != "unknown"]
    return _render("form.html.j2", language, token=token, submission_id=submission_id,
                   support_email=support_email, limits=LIMITS, products=products)


def _thanks(ticket_id: str, language: str = DEFAULT) -> str:
    return _render("thanks.html.j2", language, ticket_id=ticket_id)


def _refused(outcome: Any, support_email: str, language: str) -> str:
    refused = outcome.decision is Decision.REFUSED
    errors = [] if refused else [
        (gettext(_FIELD_NAMES.get(field, field), language), gettext(reason, language))
        for field, reason in (outcome.errors or ((outcome.field, outcome.detail),))]
    return _render("refused.html.j2", language,
                   title=gettext("The request was not accepted", language),
                   detail=outcome.detail if refused else "", errors=errors,
                   support_email=support_email)
