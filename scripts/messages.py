"""Message ids used in the code that the Russian catalogue lacks (Babel's extractor).

    python scripts/messages.py            # list missing ids
    python scripts/messages.py --pot F    # write a template of every id
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
KEYWORDS = {"_": None, "N_": None, "gettext": (1,), "ngettext": (1, 2), "t": None, "g": None}
# What Babel's extractors do not see: calls inside f-strings, page markup (data-t) and
# the Jinja page template.
PATTERNS = [re.compile(r"""\b(?:gettext|_|t|g)\(\s*(["'])((?:(?!\1)[^\\]|\\.)+)\1"""),
            re.compile(r'data-t(?:-placeholder)?="([^"]+)"')]
SCANNED = ["services/**/*.py", "adapters/**/*.py", "services/api/static/*", "services/templates/*",
           "adapters/form/templates/*"]
METHODS = [("adapters/**.py", "python"), ("services/**.py", "python"),
           ("services/api/static/**.js", "javascript"), ("**/templates/**.j2", "ignore")]


def used() -> dict[str, tuple[str, ...]]:
    found: dict[str, tuple[str, ...]] = {}
    for filename, _line, message, _comments, _context in extract_from_dir(
            str(ROOT), METHODS, keywords=KEYWORDS, comment_tags=()):
        ids = message if isinstance(message, tuple) else (message,)
        if ids and ids[0]:
            found.setdefault(ids[0], ids)
    extracted = set(found)
    for pattern in SCANNED:
        for path in ROOT.glob(pattern):
            if not path.is_file():
                continue
            text = path.read_text(encoding="utf-8")
            for regex in PATTERNS:
                for match in regex.finditer(text):
                    message = match.group(match.lastindex or 1)
                    if message and not message.startswith(("%", "{")) or message.startswith("%("):
                        found.setdefault(message, (message,))
    # A regex match cut short by implicit string concatenation is a prefix of a real id.
    return {key: ids for key, ids in found.items()
            if key in extracted or not any(other != key and other.startswith(key) for other in extracted)}


def missing() -> list[tuple[str, ...]]:
    with (ROOT / "adapters/i18n/locale/ru/LC_MESSAGES/messages.po").open("rb") as handle:
        catalog = read_po(handle, locale="ru")
    known = {m.id if isinstance(m.id, str) else m.id[0]: m for m in catalog if m.id}
    return [ids for key, ids in used().items()
            if key not in known or not (known[key].string if isinstance(known[key].string, str)
                                        else all(known[key].string))]


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--pot":
        catalog = Catalog()
        for ids in used().values():
            catalog.add(ids if len(ids) > 1 else ids[0])
        with open(sys.argv[2], "wb") as out:
            write_po(out, catalog)
    else:
        for ids in missing():
            print(ids)
