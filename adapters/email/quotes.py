"""A reply without the history it quotes: the new words a requester wrote.

Reply headers of other languages are known to ``mail-parser-reply``; it has no
Russian, so the Russian forms of mail.ru, Yandex, Gmail, Outlook and Apple Mail
(«… написал(а):», «-----Исходное сообщение-----», «От: … Отправлено: …») are cut
here first, and so are ``>`` quotes wherever they stand (bottom posting puts the
new words below them). The full letter stays in ``Letter.text``.
"""

from __future__ import annotations

import re

import lxml.html
from mailparser_reply import EmailReplyParser

from adapters.email.html_text import html_to_text

_LANGUAGES = ["en", "de", "fr", "es", "it", "nl", "pl", "cs", "sv", "da", "zh", "ja", "ko"]
_PARSER = EmailReplyParser(languages=_LANGUAGES)
# Lines that begin the quoted history; everything from the first of them on is history.
_HISTORY = re.compile(
    r"^[ \t]*(?:"
    r"-{2,}\s*(?:Исходное сообщение|Пересылаемое сообщение|Original Message)\s*-{2,}"
    r"|(?:От|From)\s*:\s*.+\n(?:.*\n){0,3}?\s*(?:Отправлено|Дата|Sent|Date)\s*:"
    r")",
    re.IGNORECASE | re.MULTILINE,
)
# The line that introduces a quote: «… написал(а):», "On … wrote:", "Am … schrieb:".
_ATTRIBUTION = re.compile(
    r"(?:написал|написала|написал\(а\)|пишет|wrote|schrieb|a écrit|escribió|scritto)\s*:\s*$",
    re.IGNORECASE,
)
# Where HTML mail clients put the quoted letter: Gmail, Yahoo, Outlook on the web, mail.ru
# and Yandex (<blockquote>), Thunderbird (cite). Outlook's From/Sent block is cut as text.
_QUOTE_XPATH = (
    "//blockquote | //*[contains(concat(' ', normalize-space(@class), ' '), ' gmail_quote ')]"
    " | //*[contains(@class, 'yahoo_quoted')] | //*[contains(@class, 'moz-cite-prefix')]"
)
_AFTER_XPATH = "//*[@id='divRplyFwdMsg' or @id='appendonsend' or @id='OLK_SRC_BODY_SECTION']"
_DATE = re.compile(r"\d{1,2}[./-]\d{1,2}[./-]\d{2,4}|\d{4}-\d{2}-\d{2}|\d{1,2}:\d{2}")


# New words stand at the top; past this much the rest is read as it is (bounds the time).
_SCANNED = 50_000


def new_text_of(text: str) -> str:
    """``text`` without its quoted history; the whole text when nothing is left of it."""
    if not text.strip():
        return text
    cut = text[:_SCANNED]
    found = _HISTORY.search(cut)
    if found is not None and cut[:found.start()].strip():
        cut = cut[:found.start()]
    cut = _without_trailing_attribution(_without_quotes(cut))
    try:
        reply = _PARSER.parse_reply(cut)
    except Exception:  # a third-party regex set must not stop the intake
        reply = None
    result = (reply or cut).strip()
    if not result or result == text[:_SCANNED].strip():
        return text.strip()
    return result


def new_text_of_html(html: str) -> str:
    """The new words of an HTML letter: its quoted elements removed, then read as text."""
    try:
        root = lxml.html.document_fromstring(html)
        for element in root.xpath(_QUOTE_XPATH):
            if element.getparent() is not None:
                element.drop_tree()
        for marker in root.xpath(_AFTER_XPATH):
            parent = marker.getparent()
            if parent is None:
                continue
            for following in list(marker.itersiblings()):
                parent.remove(following)
            marker.drop_tree()
        stripped = lxml.html.tostring(root, encoding="unicode")
    except Exception:  # lxml refuses some markup; then the text-level cut is all there is
        stripped = html
    return new_text_of(html_to_text(stripped))


def _without_quotes(text: str) -> str:
    """Drop ``>`` lines and the attribution line(s) just above each quoted block."""
    lines = text.split("\n")
    quoted = [line.lstrip().startswith(">") for line in lines]
    if not any(quoted):
        return text
    drop = set(i for i, q in enumerate(quoted) if q)
    for i, is_quote in enumerate(quoted):
        if not is_quote or (i > 0 and quoted[i - 1]):
            continue
        j = i - 1
        while j >= 0 and not lines[j].strip():
            j -= 1
        if j >= 0 and (_ATTRIBUTION.search(lines[j]) or (
                lines[j].rstrip().endswith(":") and (_DATE.search(lines[j]) or "@" in lines[j]))):
            drop.add(j)
            # An attribution wrapped over two lines: the date half stands above.
            if j > 0 and (_DATE.search(lines[j - 1]) or lines[j - 1].rstrip().endswith(("<", ",")))\
                    and not _DATE.search(lines[j]):
                drop.add(j - 1)
    kept = [line for i, line in enumerate(lines) if i not in drop]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip()


def _without_trailing_attribution(text: str) -> str:
    """An attribution left last (its quote was an HTML element, now gone) goes too."""
    lines = text.rstrip().split("\n")
    last = lines[-1] if lines else ""
    if len(lines) > 1 and (_ATTRIBUTION.search(last) or (
            last.rstrip().endswith(":") and (_DATE.search(last) or "@" in last))):
        return "\n".join(lines[:-1]).rstrip()
    return text
