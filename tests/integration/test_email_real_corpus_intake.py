"""Every letter of the real-mail corpus through ``EmailIntake.deliver`` on a desk with the
whole email path wired (SQLite stores, the outbox, the quarantine): no exception, and the
outcome its manifest kind calls for."""

from __future__ import annotations

from pathlib import Path

from adapters.email.intake import Outcome
from tests.fixtures.email_desk import build_email_desk
from tests.fixtures.mail import MailCatcher, mail_catcher  # noqa: F401
from tests.unit.test_email_real_corpus import MANIFEST, REAL

ALLOWED = {
    "ticket": {Outcome.CREATED, Outcome.DUPLICATE},
    "reply": {Outcome.CREATED, Outcome.DUPLICATE},
    "auto-reply": {Outcome.AUTO_REPLY},
    "quarantine": {Outcome.QUARANTINED},
}


def test_every_real_letter_is_delivered_to_the_outcome_of_its_kind(
    tmp_path: Path, mail_catcher: MailCatcher,  # noqa: F811
) -> None:
    built = build_email_desk(tmp_path, mail_catcher)
    wrong: list[str] = []
    try:
        for name, expected in sorted(MANIFEST.items()):
            delivery = built.intake.deliver((REAL / name).read_bytes(), source=f"corpus:{name}")
            if expected["kind"] == "bounce":
                allowed = {Outcome.BOUNCE} if expected.get("permanent", True) else {
                    Outcome.AUTO_REPLY}
            else:
                allowed = ALLOWED[expected["kind"]]
            if delivery.outcome not in allowed:
                wrong.append(f"{name}: {delivery.outcome.value} {delivery.detail}, expected "
                             f"{expected['kind']}")
        created = [e for e in built.outbox.entries()]
    finally:
        built.desk.close()
    print(f"\n{len(MANIFEST)} letters delivered, {len(wrong)} off, "
          f"{len(created)} acknowledgements queued")
    for line in wrong:
        print("  OFF", line)
    assert len(wrong) <= len(MANIFEST) * 0.03
