"""A form submission's body as named values and files, decoded strictly.

Starlette's form parser decodes undecodable text as Latin-1 and leaves repeated
names to the caller; a support request must not change its words silently, so
the body is split here (python-multipart's parser) and each text part decoded
by its own declared charset (UTF-8 when none), a bad byte being the sender's
error naming the field.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass, field

from python_multipart.multipart import MultipartParser, parse_options_header

MAX_PARTS = 1000
"""Parts in one body (Starlette's own limit for fields and files): the body's byte limit
alone would let a few megabytes of empty parts cost a request a great deal of work."""


@dataclass(frozen=True)
class FormFile:
    name: str
    filename: str
    content_type: str
    content: bytes = field(repr=False)


@dataclass
class FormParts:
    values: list[tuple[str, str]] = field(default_factory=list)
    files: list[FormFile] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)


def decoded(raw: bytes, charset: str = "utf-8") -> str:
    """``raw`` as text in ``charset``; ValueError (a UnicodeDecodeError or LookupError
    turned into one) when it is not."""
    try:
        codecs.lookup(charset)
    except LookupError:
        raise ValueError(f"unknown charset {charset!r}") from None
    try:
        return raw.decode(charset)
    except UnicodeDecodeError as error:
        raise ValueError(f"not valid {charset} text (byte {error.start})") from None


def _name(raw: bytes) -> str:
    # Not-UTF-8 names are shown with replacement characters: the name is only reported.
    return raw.decode("utf-8", "replace")


class _Part:
    def __init__(self) -> None:
        self.headers: dict[bytes, bytes] = {}
        self.data = bytearray()


def split_multipart(body: bytes, content_type: str) -> FormParts:
    """The parts of a ``multipart/form-data`` body; ValueError when it is not one."""
    _, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if not boundary:
        raise ValueError("multipart/form-data without a boundary")
    parts: list[_Part] = []
    header = [b"", b""]

    def begin() -> None:
        if len(parts) >= MAX_PARTS:
            raise ValueError(f"more than {MAX_PARTS} parts")
        parts.append(_Part())

    def data(chunk: bytes, start: int, end: int) -> None:
        parts[-1].data += chunk[start:end]

    def header_field(chunk: bytes, start: int, end: int) -> None:
        header[0] += chunk[start:end]

    def header_value(chunk: bytes, start: int, end: int) -> None:
        header[1] += chunk[start:end]

    def header_end() -> None:
        parts[-1].headers[header[0].lower()] = header[1]
        header[0], header[1] = b"", b""

    parser = MultipartParser(boundary, {
        "on_part_begin": begin, "on_part_data": data, "on_header_field": header_field,
        "on_header_value": header_value, "on_header_end": header_end})
    try:
        parser.write(body)
        parser.finalize()
    except Exception as error:  # python-multipart's own error types vary by version
        raise ValueError(f"malformed multipart/form-data: {error}") from None
    result = FormParts()
    for part in parts:
        _, disposition = parse_options_header(part.headers.get(b"content-disposition", b""))
        if b"name" not in disposition:
            raise ValueError('a multipart part without a Content-Disposition "name"')
        name = _name(disposition[b"name"])
        declared, options = parse_options_header(part.headers.get(b"content-type", b""))
        if b"filename" in disposition:
            raw_filename = disposition[b"filename"]
            if not raw_filename and not part.data:
                continue  # a file input left empty
            try:
                filename = decoded(raw_filename)
            except ValueError as error:
                result.errors.append({"field": name, "reason": f"file name {error}"})
                continue
            kind = declared.decode("latin-1") or "application/octet-stream"
            result.files.append(FormFile(name, filename, kind, bytes(part.data)))
            continue
        charset = options.get(b"charset", b"utf-8").decode("latin-1").strip() or "utf-8"
        try:
            result.values.append((name, decoded(bytes(part.data), charset)))
        except ValueError as error:
            result.errors.append({"field": name, "reason": str(error)})
    return result
