"""HTML mail bodies as readable plain text.

``inscriptis`` lays out what mail clients send (tables of details side by side, lists,
links kept as ``[text](url)``); the standard-library collector below is the fallback
for HTML that lxml cannot take at all.
"""

from __future__ import annotations

import re
from html import unescape
from html.parser import HTMLParser

from inscriptis import get_text
from inscriptis.model.config import ParserConfig

_CONFIG = ParserConfig(display_links=True)
# Past this size (a pasted report, a log as HTML) the layout engine takes seconds; regular
# expressions strip it in a fraction of that, without laying tables out side by side.
_LAYOUT_LIMIT = 300_000
_INVISIBLE = re.compile(r"<(script|style|head|title)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_BREAK = re.compile(r"<(?:br|hr|/p|/div|/tr|/li|/h[1-6]|/table|/blockquote)\b[^>]*>", re.IGNORECASE)
_CELL = re.compile(r"</t[dh]\s*>", re.IGNORECASE)
_TAG = re.compile(r"<[^>]*>")
_BULLET = re.compile(r"^\s*[*\u2022]\s+", re.MULTILINE)

_BLOCK = frozenset({"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6",
                    "blockquote", "pre", "table", "ul", "ol", "hr", "section", "article"})
_SKIP = frozenset({"script", "style", "head", "title"})


class _TextCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0
        self._links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self._skipping += 1
        elif tag == "li":
            self.parts.append("\n- ")
        elif tag in _BLOCK:
            self.parts.append("\n")
        if tag == "a":
            self._links.append(dict(attrs).get("href") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP and self._skipping:
            self._skipping -= 1
        elif tag in _BLOCK:
            self.parts.append("\n")
        elif tag == "a" and self._links:
            href = self._links.pop()
            if href.startswith(("http://", "https://")) and href not in "".join(self.parts[-3:]):
                self.parts.append(f" ({href})")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    """Text a person would read: block elements become line breaks, scripts and styles vanish."""
    if len(html) > _LAYOUT_LIMIT:
        return _stripped(html)
    try:
        text = get_text(html, _CONFIG)
    except Exception:  # lxml refuses some hostile markup: read it with the plain collector
        return _collected(html)
    text = _BULLET.sub("- ", text.replace("\xa0", " "))
    lines = [line.rstrip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _stripped(html: str) -> str:
    text = _TAG.sub("", _CELL.sub(" ", _BREAK.sub("\n", _INVISIBLE.sub(" ", html))))
    return _tidy(unescape(text))


def _tidy(text: str) -> str:
    text = text.replace("\xa0", " ")
    lines = [re.sub(r"[ \t\r\f\v]+", " ", line).strip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _collected(html: str) -> str:
    collector = _TextCollector()
    collector.feed(html)
    collector.close()
    text = "".join(collector.parts).replace("\xa0", " ")
    lines = [re.sub(r"[ \t\r\f\v]+", " ", line).strip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
