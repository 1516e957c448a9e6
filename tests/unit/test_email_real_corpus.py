"""Every letter of the real-mail corpus (tests/data/mail/real) through the parser and classifier.

The letters were written by other projects (flufl.bounce, CPython, mail-parser, talon, dkimpy) and
by hand for the Russian cases; ``manifest.json`` holds what each must come out as, taken
from the source's own tests or from reading the raw letter. The misses are printed.
"""

from __future__ import annotations

import base64
import json
import random
import re
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from adapters.email.message import UnreadableLetter, parse_letter
from adapters.email.noise import auto_reply_reason, bounce_of

REAL = Path(__file__).resolve().parents[1] / "data" / "mail" / "real"
MANIFEST: dict[str, dict[str, Any]] = {
    **json.loads((REAL / "manifest.json").read_text("utf-8")),
    **json.loads((REAL / "hand.json").read_text("utf-8")),
}
_REPLY_SUBJECT = re.compile(r"^\s*(re|aw|sv|ответ|отв)\s*(\[\d+\])?\s*:", re.IGNORECASE)


@dataclass
class Outcome:
    kind: str
    sender: str = ""
    subject: str = ""
    text: str = ""
    new_text: str = ""
    attachments: list[str] = field(default_factory=list)
    recipients: list[str] = field(default_factory=list)
    permanent: bool | None = None
    reason: str = ""


def classify(raw: bytes) -> Outcome:
    """What the desk makes of a letter: the parser, then bounce, auto-reply, person."""
    try:
        letter = parse_letter(raw)
    except UnreadableLetter as unreadable:
        return Outcome("quarantine", reason=unreadable.reason)
    common = dict(sender=letter.sender_email, subject=letter.subject, text=letter.text,
                  new_text=letter.new_text, attachments=[a.filename for a in letter.attachments])
    bounce = bounce_of(letter.message)
    if bounce is not None:
        return Outcome("bounce", recipients=list(bounce.recipients), permanent=bounce.permanent,
                       **common)  # type: ignore[arg-type]
    reason = auto_reply_reason(letter.message, letter.sender_email)
    if reason is not None:
        return Outcome("auto-reply", reason=reason, **common)  # type: ignore[arg-type]
    if not letter.sender_email:
        return Outcome("quarantine", reason="no sender", **common)  # type: ignore[arg-type]
    kind = "reply" if letter.thread_ids or _REPLY_SUBJECT.match(letter.subject) else "ticket"
    return Outcome(kind, **common)  # type: ignore[arg-type]


def _flat(text: str) -> str:
    return " ".join(text.split()).casefold()


def misses(expected: dict[str, Any], got: Outcome) -> list[str]:
    found: list[str] = []
    if got.kind != expected["kind"]:
        found.append(f"kind {got.kind!r} ({got.reason}), expected {expected['kind']!r}")
    if expected["kind"] == "quarantine" or got.kind == "quarantine":
        return found
    if expected.get("sender") and got.sender.casefold() != expected["sender"].casefold():
        found.append(f"sender {got.sender!r}, expected {expected['sender']!r}")
    if _flat(got.subject) != _flat(expected.get("subject", "")):
        found.append(f"subject {got.subject!r}, expected {expected['subject']!r}")
    for line in expected.get("text_contains", []):
        if _flat(line) not in _flat(got.text):
            found.append(f"text lacks {line!r}")
    missing = [name for name in expected.get("attachments", []) if name not in got.attachments]
    if missing:
        found.append(f"attachments lack {missing}, got {got.attachments}")
    wanted = {a.casefold() for a in expected.get("bounce_recipients", [])}
    if wanted - {r.casefold() for r in got.recipients}:
        found.append(f"bounce recipients {got.recipients}, expected {sorted(wanted)}")
    if "permanent" in expected and got.permanent is not expected["permanent"]:
        found.append(f"permanent {got.permanent}, expected {expected['permanent']}")
    if "new_text" in expected and _flat(got.new_text) != _flat(expected["new_text"]):
        found.append(f"new_text {got.new_text[:200]!r}, expected {expected['new_text']!r}")
    return found


def test_the_corpus_is_big_enough_and_every_letter_is_in_the_manifest() -> None:
    on_disk = {str(p.relative_to(REAL)) for p in REAL.glob("*/*") if p.suffix in (".eml", ".txt")}
    assert on_disk == set(MANIFEST)
    assert len([name for name in MANIFEST if not name.startswith("hand/")]) >= 200


def test_every_real_letter_is_read_and_classified_as_its_source_expects() -> None:
    exceptions: list[str] = []
    wrong: dict[str, list[str]] = {}
    timings: list[tuple[float, str, int]] = []
    classify((REAL / "hand" / "bounce_mailru.eml").read_bytes())  # imports and caches warmed
    for name, expected in sorted(MANIFEST.items()):
        raw = (REAL / name).read_bytes()
        # CPU time of this process, printed (speed is a benchmark's job: bench/mail_parse.py).
        started = time.process_time()
        try:
            got = classify(raw)
        except Exception as error:  # counted and listed: the point of the corpus
            exceptions.append(f"{name}: {type(error).__name__}: {error}")
            continue
        timings.append((time.process_time() - started, name, len(raw)))
        found = misses(expected, got)
        if found:
            wrong[name] = found
    exact = (len(MANIFEST) - len(wrong) - len(exceptions)) / len(MANIFEST)
    median = statistics.median(t for t, _, _ in timings)
    slowest = max(timings)
    print(f"\nreal corpus: {len(MANIFEST)} letters, {exact:.1%} exact, {len(exceptions)} exceptions,"
          f" median parse+classify {median * 1000:.2f} ms CPU, slowest {slowest[0] * 1000:.0f} ms"
          f" ({slowest[1]}, {slowest[2]} bytes)")
    for name, found in sorted(wrong.items()):
        print(f"  MISS {name}: " + "; ".join(found))
    for line in exceptions:
        print(f"  EXCEPTION {line}")
    assert not exceptions
    assert exact >= 0.97, f"{len(wrong)} misses"


@pytest.mark.parametrize("name", ["talon/gmail.eml", "talon/sparrow.eml"])
def test_a_reply_keeps_the_full_letter_beside_the_new_text(name: str) -> None:
    letter = parse_letter((REAL / name).read_bytes())
    assert len(letter.new_text) < len(letter.text)
    assert letter.text.startswith(letter.new_text.split("\n")[0])


def _big_letters() -> dict[str, bytes]:
    head = b"From: a@example.ru\r\nSubject: big\r\nMIME-Version: 1.0\r\n"
    row = "<tr><td>Иванов Иван</td><td>пропуск №12345</td><td>КПП-2</td><td>10:00</td></tr>\n"
    html = ("<html><body><table>" + row * 11_000 + "</table></body></html>").encode("cp1251")
    plain = ("Строка журнала посетителей: Иванов Иван, пропуск 12345.\n" * 15_000).encode("koi8-r")
    blob = random.Random(7).randbytes(700_000)
    encoded = base64.encodebytes(blob).replace(b"\n", b"\r\n")
    attachment = (head + b"Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\n"
                  b"Content-Type: text/plain; charset=utf-8\r\n\r\nsee the file\r\n--B\r\n"
                  b"Content-Type: application/octet-stream; name=dump.bin\r\n"
                  b"Content-Transfer-Encoding: base64\r\n\r\n" + encoded + b"\r\n--B--\r\n")
    return {
        "html table, windows-1251 unlabelled": head + b"Content-Type: text/html\r\n\r\n" + html,
        "plain text, KOI8-R unlabelled": head + b"Content-Type: text/plain\r\n\r\n" + plain,
        "base64 attachment": attachment,
    }


def test_letters_just_under_a_megabyte_become_tickets() -> None:
    for name, raw in _big_letters().items():
        assert len(raw) < 1_000_000, name
        started = time.process_time()
        got = classify(raw)
        spent = time.process_time() - started
        print(f"\n{name}: {len(raw)} bytes, {spent * 1000:.0f} ms CPU, {got.kind}")
        assert got.kind == "ticket", name
