"""Decoding the text that Russian mail really carries, when its label is missing or wrong."""

from __future__ import annotations

# The commonest lower-case Russian letters; text decoded with the wrong one of
# windows-1251 / KOI8-R comes out mostly as upper case and punctuation instead.
_COMMON = frozenset("оеаинтсрвлкмдпуяыьгзбчйхжшюцщэфъё")
CANDIDATES = ("utf-8", "windows-1251", "koi8-r")


def _score(text: str) -> float:
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return 0.0
    return sum(ch in _COMMON for ch in letters) / len(letters)


def decode_guess(data: bytes, declared: str | None = None) -> str:
    """Decode bytes: the declared charset if it fits, else UTF-8, else the likelier Cyrillic one."""
    if declared:
        try:
            return data.decode(declared)
        except (LookupError, UnicodeDecodeError):
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    decoded = [data.decode(charset, errors="replace") for charset in CANDIDATES[1:]]
    return max(decoded, key=_score)


def repair_header(value: str) -> str:
    """Headers with raw 8-bit bytes (against RFC 5322, but common) arrive as surrogate escapes."""
    if not any("\udc80" <= ch <= "\udcff" for ch in value):
        return value
    return decode_guess(value.encode("utf-8", errors="surrogateescape"))
