"""The API speaks the caller's language: problem details, the catalogue, the ticket report."""

from __future__ import annotations

from adapters.i18n import catalogue, negotiate
from services.api.auth import Role
from tests.e2e.conftest import Api

PHONE_BODY = {"channel": "phone", "subject": "Шлагбаум", "description": "Не открывается.",
              "requester": {"name": "Ольга", "phone": "call me maybe"}, "product": "pass24_control",
              "product_version": "3.14.2"}


def test_accept_language_is_negotiated() -> None:
    assert negotiate(None) == "ru"
    assert negotiate("en-US,en;q=0.9") == "en"
    assert negotiate("de-DE, en;q=0.5, ru;q=0.8") == "ru"
    assert negotiate("fr") == "ru"
    assert negotiate("fr", default="en") == "en"
    assert negotiate("en;q=0, ru") == "ru"


def test_a_bad_phone_is_told_in_words_not_as_a_regular_expression(api: Api) -> None:
    response = api.client.post("/tickets", json=PHONE_BODY, headers=api.headers())
    assert response.status_code == 422
    problem = response.json()
    assert problem["title"] == "Недопустимое значение"  # Russian by default
    [error] = problem["errors"]
    assert error["field"] == "body.requester.phone"
    assert "номер телефона" in error["reason"]
    assert "^" not in response.text and "[0-9" not in response.text

    english = api.client.post("/tickets", json=PHONE_BODY,
                              headers=api.headers() | {"Accept-Language": "en-GB,en;q=0.9"})
    assert english.json()["title"] == "Invalid value"
    assert "phone number" in english.json()["errors"][0]["reason"]


def test_malformed_json_names_the_body_not_a_character_offset(api: Api) -> None:
    response = api.client.post("/tickets", content=b'{"channel": "phone", oops}',
                               headers=api.headers() | {"Content-Type": "application/json"})
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["field"] == "body"
    assert error["reason"].startswith("тело запроса — не корректный JSON")


def test_validator_messages_lose_pydantics_prefix_and_are_translated(api: Api) -> None:
    ticket_id = api.receive()
    for language, expected in (("ru", "в ответе нужен текст или ссылки"),
                               ("en", "a response needs text or links")):
        response = api.client.post(f"/tickets/{ticket_id}/respond", json={"text": ""},
                                   headers=api.headers() | {"Accept-Language": language})
        assert response.status_code == 422
        assert [e["reason"] for e in response.json()["errors"]] == [expected]
        assert "Value error" not in response.text


def test_the_intake_gate_answers_in_the_callers_language(api: Api) -> None:
    body = dict(PHONE_BODY, requester={"name": "Ольга"})
    for language, expected in (("ru", "укажите адрес электронной почты или телефон"),
                               ("en", "give an email address or a phone number")):
        response = api.client.post("/tickets", json=body,
                                   headers=api.headers() | {"Accept-Language": language})
        assert response.status_code == 422
        assert [e["reason"] for e in response.json()["errors"]] == [expected]


def test_unauthorised_is_told_in_the_callers_language(api: Api) -> None:
    response = api.client.get("/queue", headers={"Accept-Language": "ru"})
    assert response.status_code == 401
    assert response.json()["title"] == "Нужна авторизация"
    assert response.json()["detail"].startswith("нужен токен доступа")


def test_messages_and_names_for_the_pages(api: Api) -> None:
    ru = api.client.get("/dashboard/messages").json()
    assert ru["language"] == "ru" and ru["day_hours"] == 9
    assert ru["names"]["status"]["waiting_for_requester"] == "ждём заявителя"
    assert ru["names"]["product"]["pass24_control"] == "PASS24.control"
    assert ru["messages"]["%(n)d wd"] == "%(n)d раб. дн."
    en = api.client.get("/dashboard/messages", params={"lang": "en"}).json()
    assert en["names"]["status"]["waiting_for_requester"] == "waiting for the requester"
    # Every message has a Russian text.
    assert all(text for text in catalogue("ru").values())


def test_ticket_report_is_html_for_readers(api: Api) -> None:
    ticket_id = api.receive(product_version="")
    assert api.client.get(f"/tickets/{ticket_id}/report").status_code == 401
    response = api.client.get(f"/tickets/{ticket_id}/report", headers=api.headers(Role.AUDITOR))
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    assert "<svg" in response.text and f"Заявка {ticket_id}" in response.text
    assert "номер версии продукта" in response.text  # missing R16 detail, in words
    english = api.client.get(f"/tickets/{ticket_id}/report", params={"lang": "en",
                             "as_of": "2025-04-28T10:00:00+03:00"}, headers=api.headers(Role.AUDITOR))
    assert f"Ticket {ticket_id}" in english.text and "28.04.2025 10:00 MSK" in english.text
    page = api.client.get(f"/ui/tickets/{ticket_id}")
    assert page.status_code == 200 and "ticket.js" in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'self'")


def test_docs_are_served_by_the_app(api: Api) -> None:
    docs = api.client.get("/docs").text
    assert "cdn" not in docs.lower() and "/static-offline-docs/swagger-ui-bundle.js" in docs
    assert api.client.get("/static-offline-docs/swagger-ui-bundle.js").status_code == 200
    redoc = api.client.get("/redoc").text
    assert "fonts.googleapis" not in redoc and "/static-offline-docs/redoc.standalone.js" in redoc


def test_report_says_call_the_requester_when_details_are_missing_and_no_email(api: Api) -> None:
    ticket_id = api.receive(product_version="", requester={"name": "Ольга", "phone": "+7 900 000-00-00"})
    report = api.client.get(f"/tickets/{ticket_id}/report", headers=api.headers(Role.AUDITOR)).text
    assert "Позвонить заявителю" in report and "номер версии продукта" in report
