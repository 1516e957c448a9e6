"""Attachment content, stored by its SHA-256 under a directory; the ticket keeps the metadata."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any, Protocol


class FileLike(Protocol):
    @property
    def filename(self) -> str: ...
    @property
    def content_type(self) -> str: ...
    @property
    def content(self) -> bytes: ...


class AttachmentStore:
    """Content-addressed files: the same bytes are stored once, writes are atomic (rename)."""

    def __init__(self, root: Path, *, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes

    def path_of(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    def store(self, file: FileLike) -> dict[str, Any]:
        """Keep the file if within the limit; answer the metadata the ticket records."""
        digest = hashlib.sha256(file.content).hexdigest()
        meta: dict[str, Any] = {
            "filename": file.filename,
            "content_type": file.content_type,
            "size": len(file.content),
            "sha256": digest,
            "stored": False,
            "note": "",
        }
        # The request's own text cut from its description is not an attachment the sender
        # chose: refusing it would lose what was said past the cut.
        if len(file.content) > self.max_bytes and not getattr(file, "request_text", False):
            meta["note"] = f"not stored: larger than the {self.max_bytes}-byte limit"
            return meta
        target = self.path_of(digest)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(file.content)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(temp, target)
            except BaseException:
                Path(temp).unlink(missing_ok=True)
                raise
        meta["stored"] = True
        return meta

    def read(self, sha256: str) -> bytes:
        return self.path_of(sha256).read_bytes()
