"""Drafts expectations for new letters of the corpus by reading the raw bytes naively.

Run it only when letters are added (``python tests/data/mail/real/draft_manifest.py FILE...``):
it prints manifest entries to review against the raw letter before they go into
``manifest.json``. It shares no code with ``adapters/email``: headers are unfolded
by hand, MIME parts are found by their boundary strings, bodies are decoded with
``base64``/``quopri`` and the label's codec. Expectations are never taken from the
desk's own output.
"""

from __future__ import annotations

import base64
import json
import quopri
import re
import sys
from email.header import decode_header
from pathlib import Path


def headers_of(block: bytes) -> dict[str, str]:
    text = block.decode("utf-8", "surrogateescape")
    text = re.sub(r"\r?\n[ \t]+", " ", text)
    found: dict[str, str] = {}
    for line in text.splitlines():
        name, sep, value = line.partition(":")
        if sep and re.fullmatch(r"[!-9;-~]+", name) and name.lower() not in found:
            found[name.lower()] = value.strip()
    return found


def split(raw: bytes) -> tuple[bytes, bytes]:
    match = re.search(rb"\r?\n\r?\n", raw)
    return (raw, b"") if match is None else (raw[:match.start()], raw[match.end():])


def words(value: str) -> str:
    try:
        parts = decode_header(value.encode("utf-8", "surrogateescape").decode("utf-8", "replace"))
    except Exception:
        return value
    out = []
    for chunk, charset in parts:
        if isinstance(chunk, bytes):
            out.append(chunk.decode(charset or "utf-8", "replace") if _codec(charset) else
                       chunk.decode("utf-8", "replace"))
        else:
            out.append(chunk)
    return " ".join("".join(out).split())


def _codec(label: str | None) -> bool:
    import codecs
    try:
        codecs.lookup(label or "utf-8")
        return True
    except LookupError:
        return False


def leaves(raw: bytes) -> list[tuple[dict[str, str], bytes]]:
    head, body = split(raw)
    headers = headers_of(head)
    content_type = headers.get("content-type", "text/plain")
    boundary = re.search(r'boundary\s*=\s*"?([^";]+)"?', content_type, re.IGNORECASE)
    if content_type.lower().startswith("multipart/") and boundary:
        marker = b"--" + boundary.group(1).strip().encode("utf-8", "surrogateescape")
        pieces = body.split(marker)[1:]
        found = []
        for piece in pieces:
            if piece.startswith(b"--"):
                break
            found.extend(leaves(piece.lstrip(b"\r\n") if piece[:1] in b"\r\n" else piece))
        return found
    return [(headers, body)]


def decoded(headers: dict[str, str], body: bytes) -> str:
    encoding = headers.get("content-transfer-encoding", "").lower().strip()
    try:
        if encoding == "base64":
            body = base64.b64decode(re.sub(rb"[^A-Za-z0-9+/=]", b"", body) + b"===")
        elif encoding == "quoted-printable":
            body = quopri.decodestring(body)
    except Exception:
        pass
    charset = re.search(r'charset\s*=\s*"?([^";\s]+)', headers.get("content-type", ""), re.I)
    label = charset.group(1) if charset else "utf-8"
    return body.decode(label if _codec(label) else "utf-8", "replace")


def draft(path: Path) -> dict[str, object]:
    raw = path.read_bytes()
    head, _ = split(raw)
    headers = headers_of(head)
    sender = re.findall(r"[\w.+'=-]+@[\w-]+(?:\.[\w-]+)+", headers.get("from", ""))
    files = []
    text_line = ""
    for part_headers, body in leaves(raw):
        disposition = part_headers.get("content-disposition", "")
        name = re.search(r'(?:file)?name\*?\s*=\s*"?([^";]+)"?',
                         disposition + ";" + part_headers.get("content-type", ""), re.I)
        content_type = part_headers.get("content-type", "text/plain").lower()
        if name:
            files.append(words(name.group(1)))
        elif content_type.startswith(("text/plain", "text/html")) and not text_line:
            text = decoded(part_headers, body)
            if "html" in content_type:
                text = re.sub(r"<[^>]+>", "\n", text)
            lines = [" ".join(line.split()) for line in text.splitlines()]
            good = [line for line in lines[:40] if len(line.split()) >= 3 and len(line) <= 100
                    and not line.startswith(">") and "&" not in line and "=" not in line
                    and "\ufffd" not in line]
            text_line = good[0] if good else ""
    return {
        "sender": sender[-1] if sender else "",
        "subject": words(headers.get("subject", "")),
        "text_contains": [text_line] if text_line else [],
        "attachments": files,
    }


if __name__ == "__main__":
    for name in sys.argv[1:]:
        print(json.dumps({name: draft(Path(name))}, ensure_ascii=False))
