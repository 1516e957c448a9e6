"""The parser against the project's corpus of real-format letters (tests/data/mail)."""

from __future__ import annotations

import hashlib

import pytest

from domain.details import extract_details
from adapters.email.message import UnreadableLetter, parse_letter
from adapters.email.noise import auto_reply_reason, bounce_of
from domain.values import Product
from tests.fixtures.mail import corpus


def test_utf8_quoted_printable_with_rfc2047_subject_and_sender() -> None:
    letter = parse_letter(corpus("utf8_qp_key_app.eml"))
    assert letter.subject == "Не открывается шлагбаум из приложения"
    assert letter.sender_name == "Ольга Смирнова"
    assert letter.sender_email == "olga@example.ru"
    assert letter.message_id == "<utf8-qp-001@example.ru>"
    assert "кнопка «Открыть» не работает" in letter.text
    assert letter.date is not None and letter.date.utcoffset() is not None


def test_windows_1251_base64_body_and_subject() -> None:
    letter = parse_letter(corpus("cp1251_base64.eml"))
    assert letter.subject == "Журнал посетителей не сохраняет пропуск"
    assert letter.sender_name == "Иван Петров"
    assert "ошибка 500" in letter.text


def test_koi8r_8bit_body_and_q_encoded_subject() -> None:
    letter = parse_letter(corpus("koi8r_8bit.eml"))
    assert letter.subject == "СКУД не пускает сотрудников"
    assert letter.sender_name == "Сергей"
    assert "перестал пускать сотрудников" in letter.text


def test_html_only_letter_becomes_readable_text() -> None:
    letter = parse_letter(corpus("html_only.eml"))
    assert letter.subject == "Вопрос по установке"
    assert "Здравствуйте, коллеги!" in letter.text
    assert "- ОС: Ubuntu 22.04" in letter.text
    assert "https://pass24online.ru/docs" in letter.text
    assert "alert" not in letter.text and "color" not in letter.text
    assert "<" not in letter.text


def test_plain_alternative_is_preferred_and_attachments_are_decoded() -> None:
    letter = parse_letter(corpus("mixed_attachments.eml"))
    assert letter.text == "Скриншоты во вложении. Android 14, Samsung Galaxy S23."
    pdf, png = letter.attachments
    assert pdf.filename == "отчёт.pdf" and pdf.content_type == "application/pdf"
    assert pdf.content == b"%PDF-1.4\n% fake but real bytes\n" + bytes(range(256))
    assert not pdf.inline
    assert png.content_type == "image/png" and png.inline and png.filename.endswith(".png")
    assert png.content.startswith(b"\x89PNG")


def test_forwarded_chain_keeps_the_inner_letter_text_in_its_own_charset() -> None:
    letter = parse_letter(corpus("forwarded_chain.eml"))
    assert letter.subject == "Fwd: Re: FW: problem with passes"
    assert "Пересылаю письмо охраны" in letter.text
    assert "Subject: Пропуска не печатаются" in letter.text
    assert "Принтер пропусков молчит с утра." in letter.text


def test_raw_8bit_cp1251_headers_and_undeclared_body_charset_are_guessed() -> None:
    letter = parse_letter(corpus("raw_8bit_headers_cp1251.eml"))
    assert letter.subject == "Ошибка в мобильном приложении PASS24.online"
    assert letter.sender_email == "maria@example.ru"
    assert "Приложение вылетает при входе" in letter.text


def test_unknown_charset_label_falls_back_to_the_bytes() -> None:
    assert "Текст в UTF-8 под чужой меткой." in parse_letter(corpus("unknown_charset.eml")).text


def test_missing_message_id_gets_a_stable_one_from_the_content() -> None:
    raw = corpus("no_message_id.eml")
    first, second = parse_letter(raw), parse_letter(raw)
    assert first.message_id == second.message_id
    assert hashlib.sha256(raw).hexdigest()[:40] in first.message_id


@pytest.mark.parametrize("name,reason", [
    ("broken_mime_unreadable.eml", "broken MIME structure"),
    ("no_sender.eml", "no sender address"),
])
def test_unreadable_letters_raise_with_a_reason(name: str, reason: str) -> None:
    with pytest.raises(UnreadableLetter) as caught:
        parse_letter(corpus(name))
    assert reason in caught.value.reason


@pytest.mark.parametrize("raw", [b"", b"\x00\xff\xfe garbage", b"From: \r\n\r\n"])
def test_garbage_is_unreadable_not_a_crash(raw: bytes) -> None:
    with pytest.raises(UnreadableLetter):
        parse_letter(raw)


@pytest.mark.parametrize("name", ["auto_reply_rfc3834.eml", "out_of_office_exchange.eml",
                                  "precedence_bulk.eml", "bounce_dsn.eml"])
def test_machine_mail_is_recognised_as_auto_reply(name: str) -> None:
    letter = parse_letter(corpus(name))
    assert auto_reply_reason(letter.message, letter.sender_email) is not None


@pytest.mark.parametrize("name", ["utf8_qp_key_app.eml", "cp1251_base64.eml", "html_only.eml",
                                  "forwarded_chain.eml", "mixed_attachments.eml"])
def test_people_mail_is_not_an_auto_reply_nor_a_bounce(name: str) -> None:
    letter = parse_letter(corpus(name))
    assert auto_reply_reason(letter.message, letter.sender_email) is None
    assert bounce_of(letter.message) is None


def test_rfc3464_bounce_names_our_message_recipient_and_status() -> None:
    bounce = bounce_of(parse_letter(corpus("bounce_dsn.eml")).message)
    assert bounce is not None
    assert bounce.original_ids == ("<P24-4K7Q9M.ack.corpus@pass24online.ru>",)
    assert bounce.recipient == "nobody@example.ru"
    assert bounce.status == "5.1.1" and bounce.permanent
    assert "User unknown" in bounce.diagnostic


def test_qmail_style_bounce_is_matched_by_the_quoted_message_id() -> None:
    bounce = bounce_of(parse_letter(corpus("bounce_plain_mailer_daemon.eml")).message)
    assert bounce is not None and bounce.permanent
    assert bounce.original_ids == ("<P24-4K7Q9M.ack.corpus@pass24online.ru>",)


def test_details_of_r16_are_found_in_the_text() -> None:
    letter = parse_letter(corpus("utf8_qp_key_app.eml"))
    details = extract_details(letter.subject, letter.text)
    assert details.product is Product.MOBILE_KEY
    assert details.product_version == "2.4.1"
    assert details.device == "iPhone 13, iOS 17.2"
    koi = parse_letter(corpus("koi8r_8bit.eml"))
    assert extract_details(koi.subject, koi.text).product is Product.CONTROL
    assert extract_details(koi.subject, koi.text).product_version == "3.7.2"
    raw8 = parse_letter(corpus("raw_8bit_headers_cp1251.eml"))
    found = extract_details(raw8.subject, raw8.text)
    assert found.product is Product.MOBILE_ONLINE
    assert found.device == "Xiaomi Redmi Note 12, Android 13"
    assert found.product_version == "1.9.3"
    assert extract_details("Привет", "ничего полезного") == type(found)()
