"""A reply without the history it quotes: the new words a requester wrote.

Reply headers of other languages are known to ``mail-parser-reply``; it has no
Russian, so the Russian forms of mail.ru, Yandex, Gmail, Outlook and Apple Mail
(«… написал(а):», «-----Исходное сообщение-----», «От: … Отправлено: …») are cut
here first. The full letter stays in ``Letter.text``.
"""

from __future__ import annotations

import re

from mailparser_reply import EmailReplyParser

_LANGUAGES = ["en", "de", "fr", "es", "it", "nl", "pl", "cs", "sv", "da", "zh", "ja", "ko"]
_PARSER = EmailReplyParser(languages=_LANGUAGES)
# Lines that begin the quoted history; everything from the first of them on is history.
_RUSSIAN_HEADERS = re.compile(
    r"^[ \t]*(?:"
    r".{0,200}(?:написал|написала|написал\(а\)|пишет)\s*:\s*$"
    r"|-{2,}\s*(?:Исходное сообщение|Пересылаемое сообщение|Original Message)\s*-{2,}"
    r"|(?:От|From)\s*:\s*.+\n(?:.*\n){0,3}?\s*(?:Отправлено|Дата|Sent|Date)\s*:"
    r")",
    re.IGNORECASE | re.MULTILINE,
)
_QUOTED_TAIL = re.compile(r"(?:\n[ \t]*>.*)+\s*\Z")


def new_text_of(text: str) -> str:
    """``text`` without its quoted history; the whole text when nothing is left of it."""
    if not text.strip():
        return text
    cut = text
    found = _RUSSIAN_HEADERS.search(cut)
    if found is not None and cut[:found.start()].strip():
        cut = cut[:found.start()]
    cut = _QUOTED_TAIL.sub("", "\n" + cut)[1:] if cut.lstrip()[:1] != ">" else cut
    try:
        reply = _PARSER.parse_reply(cut)
    except Exception:  # a third-party regex set must not stop the intake
        reply = None
    result = (reply or cut).strip()
    return result if result else text.strip()
