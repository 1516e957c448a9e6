"""R2: support covers up-to-date product versions; the latest per product is configuration.

A ticket naming an older version is *flagged* (``outdated_version`` in its
view); staff still decide whether to postpone it with that reason (R17).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from domain.errors import InvalidValue
from domain.values import Product, parse_enum

_NUMBERS = re.compile(r"\d+(?:\.\d+)*")


def version_key(text: str) -> tuple[int, ...] | None:
    """The dotted numbers of a version as people write it ("3.14.2", "v3.4 build 17");
    None when it names no number, so nothing is flagged on a guess."""
    match = _NUMBERS.search(text)
    if match is None:
        return None
    parts = [int(part) for part in match.group().split(".")]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()  # 3.4.0 is 3.4
    return tuple(parts)


@dataclass(frozen=True)
class LatestVersions:
    """The latest supported version of each product (products not listed are never flagged)."""

    latest: Mapping[Product, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for product, version in self.latest.items():
            if product is Product.UNKNOWN:
                raise InvalidValue("latest_versions", "name one of the four products, not 'unknown'")
            if version_key(version) is None:
                raise InvalidValue("latest_versions", f"not a version number for {product.value}: "
                                   f"{version!r}")

    @classmethod
    def parse(cls, text: str) -> LatestVersions:
        """``pass24_online=3.4,pass24_control=2.8`` (the ``PASS24_LATEST_VERSIONS`` setting)."""
        latest: dict[Product, str] = {}
        for item in text.split(","):
            if not item.strip():
                continue
            name, sep, version = item.partition("=")
            if not sep or not version.strip():
                raise InvalidValue("latest_versions", f"expected product=version, got {item.strip()!r}")
            latest[parse_enum(Product, name.strip(), "latest_versions")] = version.strip()
        return cls(latest)

    def is_outdated(self, product: Product, version: str) -> bool:
        """The ticket names a version older than the latest one of its product."""
        latest = self.latest.get(product)
        named = version_key(version)
        if latest is None or named is None:
            return False
        current = version_key(latest)
        assert current is not None
        return named < current

    def as_dict(self) -> dict[str, str]:
        return {product.value: version for product, version in self.latest.items()}
