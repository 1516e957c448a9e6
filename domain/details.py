"""R16: what a request's own words say about product, version and device.

Shared by every channel that receives free text (email, form, phone notes).
The ticket itself decides what is still missing; this only finds what is there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from domain.values import Product

_VERSION = re.compile(
    r"(?:верси[яиюей]|version|ver\.?|сборк[аи]|build|v)\s*[:№#]?\s*(\d+(?:\.\d+){1,3})\b",
    re.IGNORECASE,
)
_PHONE = re.compile(
    r"\b(iPhone\s?(?:\d{1,2}|SE|X[RS]?)(?:\s?(?:Pro(?:\s?Max)?|Plus|mini))?"
    r"|iPad(?:\s?(?:Pro|Air|mini))?"
    r"|(?:Samsung\s)?Galaxy\s[A-Z]?\d{1,3}\w*"
    r"|(?:Xiaomi|Redmi|POCO|Huawei|Honor|Realme|OnePlus|Google\sPixel|Pixel|Nokia|Motorola|Oppo|Vivo|Tecno|Infinix)"
    r"(?:\s[\w+]+){0,3})",
    re.IGNORECASE,
)
_OS = re.compile(r"\b((?:iOS|iPadOS|Android|HarmonyOS|MIUI)\s?\d+(?:\.\d+){0,2})", re.IGNORECASE)
_PRODUCTS: tuple[tuple[re.Pattern[str], Product], ...] = (
    (re.compile(r"pass24[\s.]*key|пасс24[\s.]*key", re.IGNORECASE), Product.MOBILE_KEY),
    (re.compile(r"pass24[\s.]*control|скуд", re.IGNORECASE), Product.CONTROL),
    (re.compile(r"(мобильн\w*\s+приложени\w*|mobile\s+app|приложени\w*\s+pass24)", re.IGNORECASE),
     Product.MOBILE_ONLINE),
    (re.compile(r"pass24[\s.]*online|электронн\w*\s+журнал", re.IGNORECASE), Product.ONLINE),
)


@dataclass(frozen=True)
class RequestDetails:
    product: Product = Product.UNKNOWN
    product_version: str = ""
    device: str = ""


def extract_details(*texts: str) -> RequestDetails:
    """Product, version and device (phone model and OS) named in the texts, first mention wins."""
    text = "\n".join(texts)
    product = next((p for pattern, p in _PRODUCTS if pattern.search(text)), Product.UNKNOWN)
    version = _VERSION.search(text)
    phone = _PHONE.search(text)
    system = _OS.search(text)
    device = ", ".join(m.group(1).strip() for m in (phone, system) if m is not None)
    return RequestDetails(product=product, product_version=version.group(1) if version else "",
                          device=device[:200])
