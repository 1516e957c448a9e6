"""One message catalogue for every text people read: dashboard, ticket page, API
problems, letters, ``audit export``.

Message ids are English (gettext convention); ``locale/ru/LC_MESSAGES/messages.po``
holds the Russian text. The ``.po`` file is read with Babel at first use and
compiled in memory, so editing it needs no build step. English is the ids
themselves. The default language is configuration (``PASS24_LOCALE``).
"""

from __future__ import annotations

import io
from functools import lru_cache
from importlib.resources import files
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

LANGUAGES = ("ru", "en")
DEFAULT = "ru"
LOCALE_DIR = files("adapters.i18n").joinpath("locale")


def N_(message: str) -> str:
    """Marks a message for extraction without translating it (translated where shown)."""
    return message


@lru_cache(maxsize=None)
def translations(language: str) -> NullTranslations:
    """Compiled translations for ``language`` (English: the ids themselves)."""
    if language not in LANGUAGES:
        raise ValueError(f"unsupported language {language!r} (one of {', '.join(LANGUAGES)})")
    source = LOCALE_DIR.joinpath(language, "LC_MESSAGES", "messages.po")
    if not source.is_file():
        return NullTranslations()
    with source.open("rb") as handle:
        catalog = read_po(handle, locale=language)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled)


def language_or_default(language: str | None, default: str = DEFAULT) -> str:
    return language if language in LANGUAGES else default


def gettext(message: str, language: str) -> str:
    return translations(language).gettext(message)


def ngettext(singular: str, plural: str, n: int, language: str) -> str:
    return translations(language).ngettext(singular, plural, n)


@lru_cache(maxsize=None)
def catalogue(language: str) -> dict[str, str]:
    """Every message id with its text in ``language`` (what the browser pages use)."""
    source = LOCALE_DIR.joinpath("ru", "LC_MESSAGES", "messages.po")
    with source.open("rb") as handle:
        ids = [m.id for m in read_po(handle, locale="ru") if m.id and isinstance(m.id, str)]
    return {message: gettext(message, language) for message in ids}


def negotiate(accept_language: str | None, default: str = DEFAULT) -> str:
    """The best of our languages for an ``Accept-Language`` header (RFC 9110 q-values)."""
    if not accept_language:
        return default
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(accept_language.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                quality = float(params[2:])
            except ValueError:
                quality = 0.0
        ranked.append((-quality, index, tag.strip().lower()))
    for negative_quality, _, tag in sorted(ranked):
        if negative_quality >= 0:
            break
        if tag == "*":
            return default
        primary = tag.split("-", 1)[0]
        if primary in LANGUAGES:
            return primary
    return default


# -- human names for the codes the desk stores --------------------------------------------

NAMES: dict[str, dict[str, str]] = {
    "level": {
        "emergency": N_("emergency"),
        "standard": N_("standard"),
        "consultation": N_("consultation"),
        "unclassified": N_("unclassified"),
    },
    "product": {
        "pass24_online": N_("PASS24.online"),
        "pass24_control": N_("PASS24.control"),
        "mobile_pass24_online": N_("PASS24.online mobile app"),
        "mobile_pass24_key": N_("PASS24.key mobile app"),
        "unknown": N_("product not known yet"),
    },
    "category": {
        "installation_consultation": N_("installation consultation"),
        "installation_problem": N_("installation problem"),
        "general_consultation": N_("general consultation"),
        "operational_failure": N_("operational failure"),
        "defect": N_("defect"),
        "defect_diagnosis": N_("defect diagnosis"),
        "feature_request": N_("feature request"),
    },
    "status": {
        "new": N_("new"),
        "open": N_("in progress"),
        "waiting_for_requester": N_("waiting for the requester"),
        "waiting_for_release": N_("waiting for a release"),
        "postponed": N_("postponed"),
        "resolved": N_("resolved"),
        "closed": N_("closed"),
    },
    "clock": {
        "reaction": N_("reaction"),
        "resolution": N_("resolution"),
    },
    "clock_status": {
        "on_track": N_("on track"),
        "at_risk": N_("at risk"),
        "breached": N_("breached"),
        "paused": N_("paused"),
        "met": N_("met"),
    },
    "pause": {
        "waiting_for_requester": N_("waiting for the requester"),
        "waiting_for_release": N_("waiting for a development release"),
        "postponed": N_("postponed"),
        "resolved": N_("resolved"),
    },
    "postpone_reason": {
        "cannot_reproduce": N_("cannot be reproduced"),
        "requirements_violated": N_("installation requirements not met"),
        "outdated_version": N_("outdated version"),
        "out_of_scope": N_("outside the support scope"),
        "unconstructive": N_("unconstructive request"),
    },
    "missing": {
        "description": N_("a description of the problem and the steps to reproduce it"),
        "product_version": N_("the product version number"),
        "device": N_("the phone model and OS version where the problem shows"),
    },
    "channel": {
        "email": N_("email"),
        "form": N_("web form"),
        "phone": N_("phone"),
        "chatbot": N_("chat bot"),
        "api": N_("API"),
    },
}


def name(kind: str, code: Any, language: str) -> str:
    """The human name of a stored code (``name('level', 'emergency', 'ru')``); unknown codes as is."""
    value = getattr(code, "value", code)
    if value is None:
        value = "unclassified" if kind == "level" else ""
    message = NAMES.get(kind, {}).get(str(value))
    return gettext(message, language) if message else str(value)


def names(language: str) -> dict[str, dict[str, str]]:
    return {kind: {code: gettext(text, language) for code, text in table.items()}
            for kind, table in NAMES.items()}
