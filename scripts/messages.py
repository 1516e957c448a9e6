"""Message ids used in the code that the Russian catalogue lacks (Babel's extractor).

    python scripts/messages.py            # list missing ids
    python scripts/messages.py --pot F    # write a template of every id
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
KEYWORDS = {"_": None, "N_": None, "gettext": (1,), "ngettext": (1, 2), "t": None, "tn": (1, 2)}
METHODS = [("adapters/**.py", "python"), ("services/**.py", "python"),
           ("services/api/static/**.js", "javascript"), ("**/templates/**.j2", "ignore")]


def used() -> dict[str, tuple[str, ...]]:
    found: dict[str, tuple[str, ...]] = {}
    for filename, _line, message, _comments, _context in extract_from_dir(
            str(ROOT), METHODS, keywords=KEYWORDS, comment_tags=()):
        ids = message if isinstance(message, tuple) else (message,)
        if ids and ids[0]:
            found.setdefault(ids[0], ids)
    return found


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
