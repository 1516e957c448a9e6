"""The parsing and classification of mail as it really arrives (issue #12): wrong charsets,
malformed senders, Apple Mail layouts, bounces of every shape, long letters, quoted replies."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.email.charsets import decode_bytes, decode_header_value
from adapters.email.message import UnreadableLetter, parse_letter
from adapters.email.noise import auto_reply_reason, bounce_of
from adapters.email.quotes import new_text_of
from tests.unit.test_email_real_corpus import REAL

HAND = REAL / "hand"


def hand(name: str) -> bytes:
    return (HAND / name).read_bytes()


# -- charsets ------------------------------------------------------------------------------

def test_windows_1251_bytes_inside_utf8_words_are_read_as_windows_1251() -> None:
    letter = parse_letter(hand("cp1251_bytes_in_utf8_words.eml"))
    assert letter.subject == "Не печатается пропуск"
    assert letter.sender_name == "Иван Петров"
    assert "\ufffd" not in letter.subject + letter.sender_name + letter.text
    letter.subject.encode("utf-8")  # the acknowledgement's subject is built from it


def test_koi8r_body_without_content_type_follows_its_subjects_charset() -> None:
    letter = parse_letter(hand("koi8r_body_without_content_type.eml"))
    assert letter.subject == "Шлагбаум не открывается"
    assert letter.text.startswith("Здравствуйте! Шлагбаум на въезде")


def test_a_wrong_cyrillic_label_is_overruled_by_the_bytes() -> None:
    text = parse_letter(hand("cp1251_labelled_koi8r.eml")).text
    assert text.startswith("Гостевой пропуск не приходит")


def test_gbk_under_a_gb2312_label_and_shift_jis_with_cp932_characters() -> None:
    assert "镕（GBK 字）" in parse_letter(hand("gbk_under_gb2312_label.eml")).text
    japanese = parse_letter(hand("shift_jis_body.eml"))
    assert "①から③の手順" in japanese.text
    assert japanese.subject == "アプリが起動しません"


def test_short_legacy_strings_are_not_taken_for_chinese() -> None:
    assert decode_bytes("Ошибка".encode("cp1251")) == "Ошибка"
    assert decode_bytes("Ошибка входа".encode("koi8-r")) == "Ошибка входа"
    assert decode_header_value("=?utf-8?B?" + "0uXx8g==" + "?=") == "Тест"


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=300),
       label=st.sampled_from([None, "utf-8", "koi8-r", "windows-1251", "gb2312", "shift_jis",
                              "us-ascii", "x-unknown", "bogus-charset", "utf-7", "utf-16"]))
def test_decoding_never_raises(data: bytes, label: str | None) -> None:
    assert isinstance(decode_bytes(data, label), str)
    word = f"=?{label or 'utf-8'}?B?" + __import__("base64").b64encode(data).decode() + "?="
    assert isinstance(decode_header_value(word + " " + data.decode("latin-1")), str)


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), cuts=st.integers(1, 12))
def test_mangled_real_letters_are_parsed_or_refused_never_crash(seed: int, cuts: int) -> None:
    rng = random.Random(seed)
    letters = sorted(p for p in REAL.glob("*/*") if p.suffix in (".eml", ".txt"))
    raw = bytearray(rng.choice(letters).read_bytes()[:20_000])
    for _ in range(cuts):
        at = rng.randrange(len(raw) or 1)
        raw[at:at + rng.randrange(1, 40)] = bytes(rng.randrange(256) for _ in range(rng.randrange(3)))
    try:
        letter = parse_letter(bytes(raw))
    except UnreadableLetter as unreadable:
        assert unreadable.reason
        return
    bounce_of(letter.message)
    auto_reply_reason(letter.message, letter.sender_email)


# -- senders -------------------------------------------------------------------------------

def test_sender_with_a_trailing_dot() -> None:
    letter = parse_letter(hand("from_trailing_dot.eml"))
    assert letter.sender_email == "olga@example.ru"
    assert letter.sender_notes == ("From: trailing dot dropped",)


def test_sender_on_a_line_that_lost_its_folding_keeps_the_headers_after_it() -> None:
    letter = parse_letter(hand("from_broken_folding.eml"))
    assert letter.sender_email == "petr@uk-dom.ru"
    assert letter.sender_name == "Пётр Сидоров, управляющая компания"
    assert letter.subject == "Не добавляется жилец"  # the header after the broken line
    assert "repaired a header line that lost its folding" in letter.sender_notes


def test_sender_without_angle_brackets() -> None:
    letter = parse_letter(hand("from_without_angle_brackets.eml"))
    assert (letter.sender_name, letter.sender_email) == ("Иван Петров", "ivan.petrov@example.ru")
    assert letter.sender_notes == ("From: address found without angle brackets",)


def test_the_angle_bracket_address_wins_over_an_address_shaped_name() -> None:
    raw = b"From: alice@example.com <bob@example.com>\r\nSubject: x\r\n\r\nbody"
    assert parse_letter(raw).sender_email == "bob@example.com"


def test_a_sender_that_still_cannot_be_read_is_refused_with_what_was_tried() -> None:
    raw = b"From: Just A Name\r\nReply-To: nobody\r\nSubject: hello\r\n\r\nbody"
    try:
        parse_letter(raw)
    except UnreadableLetter as unreadable:
        assert "From 'Just A Name' has no address" in unreadable.reason
        assert "Reply-To 'nobody' has no address" in unreadable.reason
    else:
        raise AssertionError("a letter with no sender address was accepted")


# -- layouts and length --------------------------------------------------------------------

def test_apple_mail_keeps_the_plain_text_and_every_image_of_the_html_alternative() -> None:
    letter = parse_letter(hand("apple_mail_related_in_alternative.eml"))
    assert letter.text.startswith("Ошибка на экране входа, скриншоты ниже.")
    assert "<" not in letter.text
    assert [(a.filename, a.inline) for a in letter.attachments] == [
        ("screen1.png", True), ("screen2.png", False)]
    assert all(a.content.startswith(b"\x89PNG") for a in letter.attachments)


def test_a_letter_longer_than_a_ticket_text_is_parsed_whole() -> None:
    body = ("Строка журнала посетителей с ошибкой.\n" * 4000).encode()
    raw = (b"From: Olga <olga@example.ru>\r\nSubject: log\r\nContent-Type: text/plain; "
           b"charset=utf-8\r\n\r\n" + body)
    letter = parse_letter(raw)
    assert len(letter.text) > 100_000
    assert letter.text == letter.new_text


def test_a_multipart_with_a_wrong_boundary_is_salvaged_not_quarantined() -> None:
    raw = (b"From: a@example.ru\r\nSubject: s\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: multipart/mixed; boundary=DECLARED\r\n\r\n"
           b"--ACTUAL\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
           + "Текст письма".encode() + b"\r\n--ACTUAL--\r\n")
    letter = parse_letter(raw)
    assert letter.text == "Текст письма"
    assert "StartBoundaryNotFoundDefect" in letter.defects


# -- bounces -------------------------------------------------------------------------------

def _bounce(name: str):  # type: ignore[no-untyped-def]
    letter = parse_letter(hand(name))
    bounce = bounce_of(letter.message)
    assert bounce is not None, name
    return letter, bounce


def test_action_failed_is_final_whatever_the_status_class() -> None:
    _, bounce = _bounce("dsn_failed_with_4xx_status.eml")
    assert bounce.permanent and bounce.status == "4.4.7" and bounce.read_as == "dsn"
    assert bounce.original_ids == ("<P24-4K7Q9M.ack.real@pass24online.ru>",)


def test_a_delay_notice_is_not_final() -> None:
    _, bounce = _bounce("delay_notice.eml")
    assert not bounce.permanent and bounce.recipients == ("later@example.ru",)


def test_qmail_given_up_is_final_though_its_code_says_4() -> None:
    _, bounce = _bounce("qmail_given_up.eml")
    assert bounce.permanent and bounce.recipient == "gone@example.net"
    assert bounce.original_ids == ("<P24-4K7Q9M.ack.real@pass24online.ru>",)


def test_mailer_daemon_without_an_address_and_an_empty_sender_are_still_bounces() -> None:
    for name in ("mailer_daemon_without_address.eml", "empty_sender_bounce.eml"):
        letter, bounce = _bounce(name)
        assert letter.sender_email == "" and bounce.permanent


def test_a_cut_copy_of_the_original_does_not_reject_the_bounce() -> None:
    letter, bounce = _bounce("dsn_with_truncated_original.eml")
    assert bounce.permanent and bounce.recipient == "cut@example.ru"
    assert bounce.original_ids == ("<P24-4K7Q9M.ack.real@pass24online.ru>",)
    assert letter.defects  # the copy's defect is recorded, not fatal


def test_gateway_and_mail_ru_bounces_without_a_report_part() -> None:
    _, gateway = _bounce("undeliverable_gateway_plain.eml")
    assert gateway.permanent and gateway.original_ids == ("<P24-4K7Q9M.ack.real@pass24online.ru>",)
    _, mailru = _bounce("bounce_mailru.eml")
    assert mailru.permanent and mailru.recipients == ("nobody@mail.ru",)


def test_flufl_detectors_read_provider_formats() -> None:
    bounce = bounce_of(parse_letter((REAL / "flufl_bounce" / "yahoo_01.txt").read_bytes()).message)
    assert bounce is not None and bounce.read_as.startswith("flufl")
    assert "userx@example.com" in bounce.recipients


# -- replies -------------------------------------------------------------------------------

def test_russian_reply_headers_and_bottom_posting_are_cut() -> None:
    assert new_text_of("Да, помогло.\n\n28.04.2025, 10:00, \"Поддержка\" <s@p.ru>:\n> Старое\n") \
        == "Да, помогло."
    assert new_text_of("Иван Петров написал(а):\n> вопрос?\nОтвет ниже цитаты.") == \
        "Ответ ниже цитаты."
    assert new_text_of("Текст\n\n-----Исходное сообщение-----\nОт: a\nТема: b\n\nстарое") == "Текст"
    assert new_text_of("Без цитат.") == "Без цитат."


def test_a_body_without_the_blank_line_is_not_folded_into_the_headers() -> None:
    raw = (b"From: a@example.ru\r\nSubject: s\r\nfirst line of the body\r\n"
           b"second line\r\nNote: not a header\r\nlast line\r\n")
    letter = parse_letter(raw)
    assert letter.subject == "s"
    assert "repaired a header line that lost its folding" not in letter.sender_notes


def test_a_person_writing_that_something_was_not_delivered_is_no_bounce() -> None:
    raw = ("From: Olga <olga@example.ru>\r\nSubject: Не доставлено СМС с пропуском\r\n"
           "Content-Type: text/plain; charset=utf-8\r\n\r\n"
           "Гостю не удалось доставить СМС, пишет «недоставлено». Что делать?").encode()
    letter = parse_letter(raw)
    assert bounce_of(letter.message) is None


def test_a_person_forwarding_a_bounce_is_asking_something() -> None:
    report = hand("bounce_yandex_dsn.eml")
    raw = (b"From: Olga <olga@example.ru>\r\nSubject: Fwd: " + b"=?utf-8?B?0J3QtdC00L7RgdGC0LDQstC70LXQvdC90L7QtSDRgdC+0L7QsdGJ0LXQvdC40LU=?="
           b"\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=F\r\n\r\n"
           b"--F\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
           + "Почему письма жильцам возвращаются?".encode()
           + b"\r\n--F\r\nContent-Type: message/rfc822\r\n\r\n" + report + b"\r\n--F--\r\n")
    letter = parse_letter(raw)
    assert letter.subject == "Fwd: Недоставленное сообщение"
    assert bounce_of(letter.message) is None


def test_a_huge_unlabelled_windows_1251_html_letter_reads_as_russian() -> None:
    row = "<tr><td>Иванов Иван</td><td>пропуск №12345</td></tr>\n"
    html = ("<html><head><style>td{color:red}</style></head><body><table>" + row * 9000
            + "</table><p>Итого&nbsp;9000</p></body></html>").encode("cp1251")
    letter = parse_letter(b"From: a@example.ru\r\nSubject: log\r\nContent-Type: text/html\r\n\r\n"
                          + html)
    assert letter.text.startswith("Иванов Иван пропуск №12345")
    assert letter.text.endswith("Итого 9000")
    assert "color" not in letter.text and "<" not in letter.text


def test_short_latin_chinese_and_japanese_strings_are_not_read_as_russian() -> None:
    assert decode_bytes("Café crème".encode("cp1252")) == "Café crème"
    assert decode_bytes("Zürich".encode("latin-1")) == "Zürich"
    assert decode_bytes("你好世界".encode("gbk")) == "你好世界"
    assert decode_bytes("こんにちは".encode("cp932")) == "こんにちは"
    assert decode_bytes("Иван Петров".encode("cp1251")) == "Иван Петров"


def test_a_spanish_html_part_without_a_charset_is_not_read_as_windows_1251() -> None:
    text = parse_letter((REAL / "mail_parser" / "mail_malformed_3.eml").read_bytes()).text
    assert "Secador Toallero Térmico" in text and "Tйrmico" not in text


HTML_REPLIES = sorted((REAL.parent / "html_replies").glob("*.html"))


def test_html_replies_of_nine_clients_read_as_talons_expected_reply() -> None:
    from adapters.email.quotes import new_text_of_html

    wrong = {}
    for path in HTML_REPLIES:
        got = new_text_of_html(path.read_text("utf-8"))
        if "".join(got.split()) != "Hi.Iamfine.Thanks,Alex":
            wrong[path.name] = got
    assert len(HTML_REPLIES) == 9
    assert not wrong, wrong


def test_an_html_only_reply_gets_its_new_text_and_keeps_the_whole_text() -> None:
    html = (REAL.parent / "html_replies" / "mail_ru.html").read_bytes()
    raw = (b"From: a@mail.ru\r\nSubject: Re: test\r\nContent-Type: text/html; charset=utf-8"
           b"\r\n\r\n" + html)
    letter = parse_letter(raw)
    assert "".join(letter.new_text.split()) == "Hi.Iamfine.Thanks,Alex"
    assert "Hello! How are you?" in letter.text
