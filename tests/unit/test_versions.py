"""R2: the latest supported version per product is configuration; older ones are flagged."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from domain.errors import InvalidValue
from domain.values import Product
from domain.versions import LatestVersions, version_key
from services.settings import Settings


def test_versions_compare_by_their_numbers_as_people_write_them() -> None:
    assert version_key("3.14.2") == (3, 14, 2)
    assert version_key("v3.4 build 17") == (3, 4)
    assert version_key("3.4.0") == version_key("3.4")
    assert version_key("последняя") is None


def test_older_versions_are_flagged_and_unknowns_are_not() -> None:
    latest = LatestVersions.parse("pass24_online=3.4, pass24_control=2.10")
    assert latest.is_outdated(Product.ONLINE, "3.3.9")
    assert latest.is_outdated(Product.CONTROL, "2.9")  # 9 < 10: numbers, not text
    assert not latest.is_outdated(Product.CONTROL, "2.10.1")
    assert not latest.is_outdated(Product.ONLINE, "3.4")
    assert not latest.is_outdated(Product.ONLINE, "не знаю")  # no guess
    assert not latest.is_outdated(Product.MOBILE_KEY, "0.1")  # not configured
    assert not LatestVersions().is_outdated(Product.ONLINE, "0.1")


@pytest.mark.parametrize("text", ["pass24_online", "pass24_online=", "pass24_onlin=3.4",
                                  "unknown=1.0", "pass24_online=latest"])
def test_a_typo_in_the_setting_is_refused(text: str) -> None:
    with pytest.raises(InvalidValue):
        LatestVersions.parse(text)


def test_settings_read_and_check_the_latest_versions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PASS24_LATEST_VERSIONS", "pass24_online=3.4,mobile_pass24_key=2.1")
    assert Settings().latest().as_dict() == {"pass24_online": "3.4", "mobile_pass24_key": "2.1"}
    monkeypatch.setenv("PASS24_LATEST_VERSIONS", "pass24_online")
    with pytest.raises(ValidationError):
        Settings()
