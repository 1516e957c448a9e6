"""The catalogue is complete and well-formed."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from adapters.i18n import LOCALE_DIR, NAMES, gettext, name, ngettext

ROOT = Path(__file__).resolve().parents[2]


def test_every_message_used_has_a_russian_text() -> None:
    spec = importlib.util.spec_from_file_location("messages", ROOT / "scripts" / "messages.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert len(module.used()) > 150
    assert module.missing() == []


def test_placeholders_survive_translation() -> None:
    from babel.messages.pofile import read_po

    with LOCALE_DIR.joinpath("ru", "LC_MESSAGES", "messages.po").open("rb") as handle:
        catalog = read_po(handle, locale="ru")
    import re

    for message in catalog:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        texts = message.string if isinstance(message.string, tuple) else (message.string,)
        wanted = set(re.findall(r"%\(\w+\)[sd]", ids[-1]))
        for text in texts:
            assert set(re.findall(r"%\(\w+\)[sd]", text)) == wanted, (message.id, text)


def test_names_and_plurals() -> None:
    assert all(gettext(text, "ru") != text or text.startswith("PASS24") or text == "API"
               for table in NAMES.values() for text in table.values())
    assert name("level", None, "ru") == "не классифицирована"
    assert name("status", "waiting_for_requester", "en") == "waiting for the requester"
    assert [ngettext("%(n)d working day", "%(n)d working days", n, "ru") % {"n": n} for n in (1, 3, 5, 21)] == [
        "1 рабочего дня", "3 рабочих дней", "5 рабочих дней", "21 рабочего дня"]
