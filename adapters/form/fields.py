"""Which incoming field means what: configuration, with Bitrix24's and our own names built in."""

from __future__ import annotations

import json
from pathlib import Path

DEFAULT_MAP: dict[str, tuple[str, ...]] = {
    "name": ("name", "NAME", "fields[NAME]", "contact_name", "fio"),
    "email": ("email", "EMAIL", "fields[EMAIL]", "contact_email", "e-mail"),
    "phone": ("phone", "PHONE", "fields[PHONE]", "contact_phone", "tel"),
    "organisation": ("organisation", "organization", "COMPANY_TITLE", "fields[COMPANY_TITLE]",
                     "company"),
    "subject": ("subject", "TITLE", "fields[TITLE]", "topic"),
    "description": ("description", "COMMENTS", "fields[COMMENTS]", "message", "text"),
    "product": ("product", "fields[UF_CRM_PRODUCT]", "UF_CRM_PRODUCT"),
    "product_version": ("product_version", "version", "fields[UF_CRM_VERSION]", "UF_CRM_VERSION"),
    "device": ("device", "phone_model", "fields[UF_CRM_DEVICE]", "UF_CRM_DEVICE"),
    "submission_id": ("submission_id", "FORM_RESULT_ID", "data[FIELDS][ID]", "result_id", "ID"),
}


def load_field_map(path: Path | None) -> dict[str, tuple[str, ...]]:
    """The built-in names, with a JSON file's ``{"field": ["external", ...]}`` taking precedence."""
    mapping = dict(DEFAULT_MAP)
    if path is not None:
        extra = json.loads(path.read_text(encoding="utf-8"))
        unknown = set(extra) - set(DEFAULT_MAP)
        if unknown:
            raise ValueError(f"unknown form field(s) in {path}: {', '.join(sorted(unknown))}")
        for field, names in extra.items():
            mapping[field] = (*names, *mapping[field])
    return mapping


def pick(data: dict[str, str], mapping: dict[str, tuple[str, ...]]) -> dict[str, str]:
    """Our fields from whatever the form sent (first non-empty alias wins)."""
    found: dict[str, str] = {}
    lowered = {k.lower(): v for k, v in data.items()}
    for field, names in mapping.items():
        for name in names:
            value = data.get(name, lowered.get(name.lower(), ""))
            if str(value).strip():
                found[field] = str(value).strip()
                break
    return found
