"""Bytes of mail as text: the declared charset when it fits, else detection (charset-normalizer).

Mail lies about its charsets: windows-1251 bytes inside ``=?utf-8?B?…?=`` words,
KOI8-R bodies with no Content-Type, 8-bit headers with no label at all, GB2312
labels on GBK text. Every function here answers text and never raises.
"""

from __future__ import annotations

import codecs
import re
from email.header import decode_header

import charset_normalizer
from charset_normalizer.md import mess_ratio

# Commonest lower-case Russian letters: text decoded with the wrong one of windows-1251 /
# KOI8-R comes out mostly upper case, which tells the two apart on a few words.
_COMMON = frozenset("оеаинтсрвлкмдпуяыьгзбчйхжшюцщэфъё")
# Short strings (a header word, a name) are too little for statistical detection; these are
# tried in order and the first that decodes and reads cleanly wins.
_SHORT_CANDIDATES = ("utf-8", "windows-1251", "koi8-r", "cp932", "gb18030", "euc-kr", "big5",
                     "windows-1252")
_MIXED_WORD = re.compile(r"[A-Za-z][\u0400-\u04ff]|[\u0400-\u04ff][A-Za-z]")
_BOX = re.compile(r"[\u2500-\u259f]")
_HALFWIDTH_KANA = re.compile(r"[\uff61-\uff9f]")
_SHORT = 64
_PLAUSIBLE = 0.15
# Labels that name a charset less than what senders really use under them.
_SUPERSETS = {"gb2312": "gb18030", "gbk": "gb18030", "shift_jis": "cp932", "sjis": "cp932",
              "ks_c_5601-1987": "cp949", "euc-kr": "cp949", "iso-8859-1": "windows-1252",
              "latin-1": "windows-1252",
              "iso-8859-8-i": "iso-8859-8", "windows-874": "cp874", "iso-2022-jp": "iso2022_jp_ext"}
_UNKNOWN = frozenset({"unknown-8bit", "x-unknown", "unknown", "default", "x-user-defined",
                      "charset", "none", ""})
# Codecs Python has that no mail charset label can mean: they unescape, transform or refuse
# rather than decode, so a sender's label naming one would rewrite or lose the text.
_NOT_CHARSETS = frozenset({"undefined", "unicode-escape", "raw-unicode-escape", "punycode",
                           "idna", "mbcs", "oem"})
_ENCODED_WORD = re.compile(r"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")


def codec_for(label: str | None) -> str | None:
    """A Python codec for a MIME charset label, or None when the label names nothing usable."""
    if not label:
        return None
    name = label.strip().strip("\"'").lower()
    if name in _UNKNOWN:
        return None
    name = _SUPERSETS.get(name, name)
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError):  # ValueError: a NUL in the label
        return None
    # bytes-to-bytes codecs (base64, zlib, hex, rot13 ...) are not text encodings at all
    if info.name in _NOT_CHARSETS or not getattr(info, "_is_text_encoding", True):
        return None
    return info.name


_SAMPLE = 20_000  # characters enough to judge a text by; keeps long letters fast


def _cyrillic_score(text: str) -> float:
    # Only Cyrillic letters count: markup and Latin words say nothing about the table.
    letters = [ch for ch in text[:_SAMPLE] if "\u0400" <= ch <= "\u04ff"]
    if not letters:
        return 0.0
    return sum(ch in _COMMON for ch in letters) / len(letters)


def _cyrillic_share(text: str) -> float:
    """How much of the text's letters are Cyrillic: Spanish read as windows-1251 has a few
    (é becomes й), Russian has most."""
    letters = [ch for ch in text[:_SAMPLE] if ch.isalpha()]
    if not letters:
        return 0.0
    return sum("\u0400" <= ch <= "\u04ff" for ch in letters) / len(letters)


def _strict(data: bytes, codec: str) -> str | None:
    try:
        return data.decode(codec)
    except (UnicodeError, LookupError):
        return None


def _plausible(text: str) -> bool:
    if text.isascii():
        return True
    if "\x00" in text:
        return False
    try:
        return mess_ratio(text[:_SAMPLE], _PLAUSIBLE) < _PLAUSIBLE
    except Exception:  # the detector's own internals must not break intake
        return True


def header_charsets(values: list[str]) -> tuple[str, ...]:
    """Charsets named by the RFC 2047 words of some header values, most frequent first."""
    found = [m.group(1).lower() for value in values
             for m in re.finditer(r"=\?([^?\s*]+)(?:\*[^?]*)?\?[bBqQ]\?", value)]
    return tuple(sorted(set(found), key=lambda c: -found.count(c)))


def _wrong_cyrillic_table(text: str, data: bytes, codec: str) -> bool:
    """windows-1251 read as KOI8-R (or the reverse) decodes without error but is mostly capitals."""
    if codec not in ("cp1251", "koi8-r"):
        return False
    other = "koi8-r" if codec == "cp1251" else "cp1251"
    alternative = _strict(data, other)
    return alternative is not None and _cyrillic_score(alternative) > _cyrillic_score(text) + 0.2


def decode_bytes(data: bytes, declared: str | None = None, hints: tuple[str, ...] = ()) -> str:
    """Decode mail bytes: the declared charset if it decodes and reads plausibly, else detection.

    ``hints`` are charsets the same letter declares elsewhere (its RFC 2047 words): a body
    without a label is most likely in the charset its subject was written in.
    """
    if not data:
        return ""
    codec = codec_for(declared)
    if codec is not None and not data.isascii():
        text = _strict(data, codec)
        if text is not None and _plausible(text) and not _wrong_cyrillic_table(text, data, codec):
            return text
    elif codec is not None:
        text = _strict(data, codec)
        if text is not None:
            return text
    if data.isascii():
        return data.decode("ascii")
    text = _strict(data, "utf-8")
    if text is not None:
        return text
    for hint in hints:
        hinted = codec_for(hint)
        text = _strict(data, hinted) if hinted and hinted not in ("ascii", "cp1252") else None
        if text is not None and _plausible(text) and not _wrong_cyrillic_table(text, data, hinted or ""):
            return text
    guessed = _guess_short(data) if len(data) < _SHORT else _detect(data)
    if guessed is not None:
        return guessed
    return data.decode(codec or "utf-8", errors="replace")


def _guess_short(data: bytes) -> str | None:
    for candidate in _SHORT_CANDIDATES:
        text = _strict(data, candidate)
        if text is None or not _plausible(text) or not _reads_as(text, candidate):
            continue
        if candidate in ("windows-1251", "koi8-r"):
            other = _strict(data, "koi8-r" if candidate == "windows-1251" else "windows-1251")
            if other is not None and _cyrillic_score(other) > _cyrillic_score(text):
                return other
        return text
    return _detect(data)


def _reads_as(text: str, candidate: str) -> bool:
    """Shapes a wrong guess leaves in a few words: "Zьrich" (Latin read as Cyrillic),
    box drawing (anything read as KOI8-R), half-width kana (Chinese read as Shift-JIS)."""
    if candidate in ("windows-1251", "koi8-r"):
        cyrillic = sum("\u0400" <= ch <= "\u04ff" for ch in text)
        return not (_MIXED_WORD.search(text) or _BOX.search(text)
                    or (cyrillic >= 4 and _cyrillic_score(text) < 0.5))
    if candidate == "cp932":
        return not _HALFWIDTH_KANA.search(text)
    return True


def _detect(data: bytes) -> str | None:
    try:
        best = charset_normalizer.from_bytes(data).best()
    except Exception:
        return None
    if best is None:
        return None
    text = str(best)
    cyrillic = [t for t in (_strict(data, c) for c in ("cp1251", "koi8-r")) if t is not None]
    fitting = [t for t in cyrillic
               if _cyrillic_share(t) > 0.3 and _cyrillic_score(t) > 0.75 and _plausible(t)]
    if fitting and best.encoding not in ("cp1251", "koi8_r"):
        # Mostly lower-case Russian words in one of the two tables: this desk's commonest
        # legacy mail, which the detector sometimes takes for half-width Japanese.
        return max(fitting, key=_cyrillic_score)
    if best.encoding in ("cp1251", "koi8_r", "mac_cyrillic", "cp866"):
        # Between the Cyrillic tables the case statistics decide better than the detector.
        # Mac-Cyrillic and CP866 differ from windows-1251 mostly in the capitals, which the
        # detector cannot weigh; Russian mail is in windows-1251 or KOI8-R.
        options = [t for t in (_strict(data, c) for c in ("cp1251", "koi8-r")) if t is not None]
        return max(options, key=_cyrillic_score) if options else text
    return text


def repair_header(value: str) -> str:
    """Raw 8-bit bytes in a header (against RFC 5322, but common) arrive as surrogate escapes."""
    if not any("\udc80" <= ch <= "\udcff" for ch in value):
        return value
    return decode_bytes(value.encode("utf-8", errors="surrogateescape"))


def decode_header_value(raw: str) -> str:
    """A raw header value as text: RFC 2047 words decoded each by what its bytes really are.

    The standard library trusts each word's label; a windows-1251 word labelled utf-8
    then comes out as replacement characters, so each word is decoded here instead.
    """
    value = re.sub(r"\r?\n[ \t]", " ", raw).replace("\r", "").replace("\n", " ")
    value = repair_header(value)
    if "=?" not in value or not _ENCODED_WORD.search(value):
        return value
    try:
        chunks = decode_header(value)
    except Exception:
        return value
    parts: list[str] = []
    for chunk, charset in chunks:
        if isinstance(chunk, str):
            parts.append(chunk)
        elif charset is None:
            # Unencoded stretches between words come back as raw-unicode-escape bytes.
            parts.append(chunk.decode("raw-unicode-escape", errors="replace"))
        else:
            parts.append(decode_bytes(chunk, charset))
    return "".join(parts)
