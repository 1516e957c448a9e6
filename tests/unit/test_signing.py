"""adapters/signing.py: timestamped HMAC, the replay cache, form tokens, hostile headers."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.signing import (
    ReplayCache,
    WebhookVerifier,
    form_token,
    form_token_valid,
    sign,
    signed_headers,
    webhook_authentic,
)

SECRET = "s" * 20
BODY = b'{"event": "incoming"}'
NOW = 1_750_000_000.0


def verifier(tmp_path: Path, now: float = NOW) -> WebhookVerifier:
    return WebhookVerifier(SECRET, replays=ReplayCache(tmp_path / "replays.sqlite"),
                           clock=lambda: now)


def lower(headers: dict[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def test_a_fresh_signature_passes_once_and_the_cache_survives_a_restart(tmp_path: Path) -> None:
    headers = lower(signed_headers(SECRET, BODY, NOW - 10))
    assert verifier(tmp_path).refusal(BODY, headers) is None
    assert "replay" in (verifier(tmp_path, NOW + 60).refusal(BODY, headers) or "")


@pytest.mark.parametrize("age", [-301, 301, 10**9])
def test_signatures_outside_five_minutes_are_refused(tmp_path: Path, age: int) -> None:
    headers = lower(signed_headers(SECRET, BODY, NOW - age))
    assert "away from now" in (verifier(tmp_path).refusal(BODY, headers) or "")


@pytest.mark.parametrize("signature,timestamp", [
    ("sha256=ключ", str(int(NOW))), ("sha256=\x00\xff", str(int(NOW))), ("", "１２３"),
    ("sha256=" + "0" * 64, "１２３"), ("sha256=" + "0" * 64, "9" * 400), ("sha256=" + "0" * 64, "-5"),
])
def test_garbage_headers_are_refusals_not_errors(tmp_path: Path, signature: str, timestamp: str) -> None:
    headers = {"x-pass24-signature": signature, "x-pass24-timestamp": timestamp}
    assert verifier(tmp_path).refusal(BODY, headers) is not None
    assert webhook_authentic(SECRET, BODY, {"x-pass24-signature": signature}) is False
    assert webhook_authentic(SECRET, BODY, {"x-pass24-secret": "секрет"}) is False


def test_the_signature_covers_the_timestamp(tmp_path: Path) -> None:
    headers = {"x-pass24-signature": sign(SECRET, BODY, int(NOW) - 1),
               "x-pass24-timestamp": str(int(NOW))}
    assert "does not match" in (verifier(tmp_path).refusal(BODY, headers) or "")
    assert sign(SECRET, BODY, 1) != sign(SECRET, BODY, 2) != sign(SECRET, BODY)


def test_the_shared_secret_still_works_for_senders_that_cannot_sign(tmp_path: Path) -> None:
    check = verifier(tmp_path)
    assert check.refusal(BODY, {"x-pass24-secret": SECRET}) is None
    assert check.refusal(BODY, {}, body_secret=SECRET) is None
    assert check.refusal(BODY, {"x-pass24-secret": SECRET[:-1]}) is not None
    assert WebhookVerifier("", replays=ReplayCache(None)).refusal(BODY, {"x-pass24-secret": ""})


def test_the_replay_cache_remembers_what_a_key_was_claimed_with_until_it_expires() -> None:
    cache = ReplayCache(None)
    assert cache.claim("k", "first", ttl=10, now=NOW) is None
    assert cache.claim("k", "second", ttl=10, now=NOW + 5) == "first"
    assert cache.claim("k", "third", ttl=10, now=NOW + 11) is None  # expired, claimed anew


def test_form_tokens_are_distinct_per_page_and_expire() -> None:
    first, second = form_token(SECRET, NOW), form_token(SECRET, NOW)
    assert first != second  # same second, different pages
    assert form_token_valid(SECRET, first, now=NOW + 60)
    assert not form_token_valid(SECRET, first, now=NOW + 25 * 3600)
    assert not form_token_valid("other-secret-000000", first, now=NOW)
    for forged in ("", "1.2", "x.y.z", first + "0", "１２３.ab.cd", f"{int(NOW)}.ключ.00"):
        assert not form_token_valid(SECRET, forged, now=NOW)
