"""The form's bodies decoded strictly over real HTTP: bad bytes, files, repeated names."""

from __future__ import annotations

import hashlib
import json

import httpx

from adapters.signing import signed_headers

from tests.e2e.test_form_and_phone_intake import FORM_SECRET, Stack, stack  # noqa: F401
from tests.fixtures.mail import mail_catcher  # noqa: F401

BOUNDARY = "pass24-boundary"


def _multipart(*parts: tuple[str, bytes, dict[str, str]]) -> dict[str, object]:
    """A hand-built multipart body: clients re-encode text, this sends the bytes as given."""
    body = b""
    for disposition, content, headers in parts:
        body += f"--{BOUNDARY}\r\nContent-Disposition: form-data; {disposition}\r\n".encode()
        body += b"".join(f"{k}: {v}\r\n".encode() for k, v in headers.items())
        body += b"\r\n" + content + b"\r\n"
    body += f"--{BOUNDARY}--\r\n".encode()
    return {"content": body,
            "headers": {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}}


def _text(name: str, value: str | bytes, **headers: str) -> tuple[str, bytes, dict[str, str]]:
    raw = value.encode() if isinstance(value, str) else value
    return f'name="{name}"', raw, headers


BASE = (_text("auth[application_token]", FORM_SECRET), _text("email", "anna@example.com"),
        _text("subject", "Пропуск не работает"))


def _problem_fields(response: httpx.Response) -> set[str]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    return {error["field"] for error in response.json()["errors"]}


def test_invalid_utf8_in_a_multipart_text_field_is_a_422_naming_it(stack: Stack) -> None:
    response = httpx.post(f"{stack.url}/intake/form", **_multipart(  # type: ignore[arg-type]
        *BASE, _text("description", b"\xff\xfe broken")))
    assert _problem_fields(response) == {"description"}


def test_a_parts_declared_charset_is_honoured(stack: Stack) -> None:
    response = httpx.post(f"{stack.url}/intake/form", **_multipart(  # type: ignore[arg-type]
        *BASE, _text("description", "Турникет молчит".encode("cp1251"),
                     **{"Content-Type": "text/plain; charset=windows-1251"})))
    assert response.status_code == 201, response.text
    ticket = stack.desk.get_ticket(response.json()["ticket_id"])
    assert "Турникет молчит" in ticket.description


def test_an_unknown_declared_charset_is_a_422_naming_the_field(stack: Stack) -> None:
    response = httpx.post(f"{stack.url}/intake/form", **_multipart(  # type: ignore[arg-type]
        *BASE, _text("description", b"text", **{"Content-Type": "text/plain; charset=no-such"})))
    assert _problem_fields(response) == {"description"}


def test_invalid_utf8_in_an_urlencoded_field_is_a_422_naming_it(stack: Stack) -> None:
    body = f"auth[application_token]={FORM_SECRET}&email=a%40b.ru&subject=x&description=%FF%FE"
    response = httpx.post(f"{stack.url}/intake/form", content=body.encode(),
                          headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert _problem_fields(response) == {"description"}
    raw_utf8 = f"auth[application_token]={FORM_SECRET}&email=a%40b.ru&subject=Турникет"
    response = httpx.post(f"{stack.url}/intake/form", content=raw_utf8.encode(),
                          headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 201, response.text
    assert stack.desk.get_ticket(response.json()["ticket_id"]).subject == "Турникет"


def test_a_body_of_too_many_parts_is_refused(stack: Stack) -> None:
    response = httpx.post(f"{stack.url}/intake/form", **_multipart(  # type: ignore[arg-type]
        *BASE, *(_text(f"x{n}", "") for n in range(1001))))
    assert response.status_code == 400 and "more than 1000 parts" in response.text


def test_form_files_become_the_tickets_attachments(stack: Stack) -> None:
    screenshot = bytes(range(256)) * 4  # binary, with CR, LF and NUL bytes in it
    response = httpx.post(f"{stack.url}/intake/form", **_multipart(  # type: ignore[arg-type]
        *BASE, _text("description", "Скриншот приложен"),
        ('name="attachment"; filename="screen.png"', screenshot, {"Content-Type": "image/png"}),
        ('name="attachment"; filename="лог.txt"', "строка\r\n".encode(),
         {"Content-Type": "text/plain"})))
    assert response.status_code == 201, response.text
    ticket = stack.desk.get_ticket(response.json()["ticket_id"])
    kept = {a["filename"]: a for a in ticket.attachments}
    assert set(kept) == {"screen.png", "лог.txt"}
    assert kept["screen.png"]["size"] == len(screenshot)
    assert kept["screen.png"]["sha256"] == hashlib.sha256(screenshot).hexdigest()
    assert kept["screen.png"]["content_type"] == "image/png"


def test_files_past_the_attachment_limit_are_listed_not_stored(stack: Stack) -> None:
    files = [(f'name="attachment"; filename="{n}.txt"', f"file {n}".encode(),
              {"Content-Type": "text/plain"}) for n in range(21)]
    response = httpx.post(f"{stack.url}/intake/form", **_multipart(  # type: ignore[arg-type]
        *BASE, _text("description", "много файлов"), *files))
    assert response.status_code == 201, response.text
    attachments = stack.desk.get_ticket(response.json()["ticket_id"]).attachments
    assert len(attachments) == 21
    assert [a["filename"] for a in attachments if a.get("stored") is False] == ["20.txt"]


def test_an_empty_file_input_adds_no_attachment(stack: Stack) -> None:
    response = httpx.post(f"{stack.url}/intake/form", **_multipart(  # type: ignore[arg-type]
        *BASE, _text("description", "без файла"),
        ('name="attachment"; filename=""', b"", {"Content-Type": "application/octet-stream"})))
    assert response.status_code == 201, response.text
    assert stack.desk.get_ticket(response.json()["ticket_id"]).attachments == []


def test_a_field_given_twice_is_a_422_naming_it_in_every_body(stack: Stack) -> None:
    multipart = httpx.post(f"{stack.url}/intake/form", **_multipart(  # type: ignore[arg-type]
        *BASE, _text("description", "first"), _text("description", "second")))
    assert _problem_fields(multipart) == {"description"}
    urlencoded = httpx.post(
        f"{stack.url}/intake/form", content=f"auth[application_token]={FORM_SECRET}&email=a%40b.ru"
        "&subject=one&subject=two".encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert _problem_fields(urlencoded) == {"subject"}
    raw = ('{"email": "a@b.ru", "subject": "one", "subject": "two", '
           '"description": "x"}').encode()
    refused = httpx.post(f"{stack.url}/intake/form", content=raw,
                         headers={"Content-Type": "application/json",
                                  **signed_headers(FORM_SECRET, raw)})
    assert _problem_fields(refused) == {"subject"}
    raw = b'{"email": "a@b.ru", "subject": "x", "\\ud800": "1", "\\ud800": "2"}'
    refused = httpx.post(f"{stack.url}/intake/form", content=raw,
                         headers={"Content-Type": "application/json",
                                  **signed_headers(FORM_SECRET, raw)})
    assert _problem_fields(refused) == {"?"}


def test_a_json_key_repeated_at_another_level_is_no_repeat(stack: Stack) -> None:
    raw = ('{"email": "a@b.ru", "subject": "x", "fields": {"subject": "y"}}').encode()
    response = httpx.post(f"{stack.url}/intake/form", content=raw,
                          headers={"Content-Type": "application/json",
                                   **signed_headers(FORM_SECRET, raw)})
    assert response.status_code == 201, response.text


def test_a_list_field_may_repeat(stack: Stack) -> None:
    response = httpx.post(f"{stack.url}/intake/form", **_multipart(  # type: ignore[arg-type]
        *BASE, _text("description", "x"), _text("tags[]", "a"), _text("tags[]", "b")))
    assert response.status_code == 201, response.text
