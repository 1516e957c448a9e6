"""A sender's charset label is a hint, never an instruction: labels that name a Python codec
which is not a mail charset (escapes, transforms, NUL in the name) leave the text as sent
and never set the letter aside."""

from __future__ import annotations

import pytest

from adapters.email.charsets import codec_for, decode_bytes
from adapters.email.message import parse_letter


def letter(charset: bytes, body: bytes = b"text \\x41 \\u202e hello\r\n") -> bytes:
    return (b"From: bob@example.com\r\nTo: support@pass24online.ru\r\nSubject: s\r\n"
            b"Content-Type: text/plain; charset=" + charset + b"\r\n\r\n" + body)


@pytest.mark.parametrize("label", [b"undefined", b"punycode", b"utf-8\x00", b"unicode_escape",
                                   b"raw_unicode_escape", b"idna", b"zlib", b"base64", b"rot13"])
def test_a_label_that_is_no_mail_charset_leaves_the_text_as_sent(label: bytes) -> None:
    parsed = parse_letter(letter(label))
    assert parsed.text.strip() == "text \\x41 \\u202e hello"


@pytest.mark.parametrize("label", ["unicode_escape", "undefined", "punycode", "hex", "x\x00y"])
def test_codec_for_names_no_codec_for_them(label: str) -> None:
    assert codec_for(label) is None


def test_real_charsets_still_decode_as_labelled() -> None:
    assert codec_for("windows-1251") == "cp1251"
    assert codec_for("utf-7") == "utf-7"
    assert decode_bytes("Привет, шлагбаум".encode("koi8-r"), "koi8-r") == "Привет, шлагбаум"
    assert "Привет" in parse_letter(letter(b"windows-1251", "Привет\r\n".encode("cp1251"))).text
