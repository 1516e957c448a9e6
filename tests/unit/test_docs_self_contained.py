"""The README and docs/ stand on their own: every requirement ID they cite is explained here."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", ROOT / "deploy" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def test_no_document_points_outside_the_repository() -> None:
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        assert "../shared" not in text and "/work/" not in text, doc


def test_every_requirement_id_is_explained_in_docs_requirements() -> None:
    requirements = (ROOT / "docs" / "REQUIREMENTS.md").read_text(encoding="utf-8")
    defined = set(re.findall(r"^\| (R\d+) \|", requirements, re.M))
    assert defined == {f"R{n}" for n in range(1, 23)}
    cited = set()
    for path in [*DOCS, *ROOT.glob("services/api/*.py"), *ROOT.glob("domain/*.py")]:
        cited |= set(re.findall(r"\bR(\d+)\b", path.read_text(encoding="utf-8")))
    assert {f"R{n}" for n in map(int, cited)} <= defined


def test_the_original_regulation_is_kept_beside_it() -> None:
    original = (ROOT / "docs" / "regulation.ru.txt").read_text(encoding="utf-8")
    assert "Регламент" in original or "регламент" in original
    assert "support@pass24online.ru" in original
    assert "regulation.ru.txt" in (ROOT / "docs" / "REQUIREMENTS.md").read_text(encoding="utf-8")
    assert "docs/REQUIREMENTS.md" in (ROOT / "README.md").read_text(encoding="utf-8")
