"""The IMAP poller against a real IMAP server (dovecot, started by the fixture)."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from adapters.email.imap_poller import IMPORTED, ImapAccount, ImapPoller
from adapters.email.intake import Outcome
from tests.fixtures.dovecot import ImapServer, imap_server  # noqa: F401
from tests.fixtures.email_desk import build_email_desk
from tests.fixtures.mail import MailCatcher, corpus, mail_catcher  # noqa: F401


def poller_for(server: ImapServer, intake: object) -> ImapPoller:
    account = ImapAccount(host=server.host, port=server.port, username=server.username,
                          password=server.password, use_ssl=False)
    return ImapPoller(account, intake)  # type: ignore[arg-type]


def test_poller_imports_new_letters_and_a_restart_does_not_reimport(
    imap_server: ImapServer, tmp_path: Path, mail_catcher: MailCatcher,  # noqa: F811
) -> None:
    for name in ("koi8r_8bit.eml", "html_only.eml", "precedence_bulk.eml", "no_sender.eml"):
        imap_server.append(corpus(name))
    built = build_email_desk(tmp_path, mail_catcher)
    outcomes = [d.outcome for d in poller_for(imap_server, built.intake).poll_once()]
    assert outcomes == [Outcome.CREATED, Outcome.CREATED, Outcome.AUTO_REPLY, Outcome.QUARANTINED]
    assert all(IMPORTED in flags and "\\Seen" in flags for flags in imap_server.flags())
    built.desk.close()

    # a new process over the same stores: nothing is imported twice
    restarted = build_email_desk(tmp_path, mail_catcher)
    assert poller_for(imap_server, restarted.intake).poll_once() == []
    imap_server.append(corpus("cp1251_base64.eml"))
    (delivery,) = poller_for(imap_server, restarted.intake).poll_once()
    assert delivery.outcome is Outcome.CREATED
    restarted.mailer.run_once()
    assert len({e.ticket_id for e in restarted.outbox.entries()}) == 3
    restarted.desk.close()


def test_a_letter_whose_flag_was_lost_is_offered_again_and_stays_one_ticket(
    imap_server: ImapServer, tmp_path: Path, mail_catcher: MailCatcher,  # noqa: F811
) -> None:
    imap_server.append(corpus("utf8_qp_key_app.eml"))
    built = build_email_desk(tmp_path, mail_catcher)
    poller = poller_for(imap_server, built.intake)
    (first,) = poller.poll_once()
    client = imap_server.client()  # e.g. the flag store failed after the intake
    client.select("INBOX")
    client.store("1", "-FLAGS", f"({IMPORTED})")
    client.logout()
    (again,) = poller.poll_once()
    assert first.outcome is Outcome.CREATED and again.outcome is Outcome.DUPLICATE
    assert again.ticket_id == first.ticket_id
    built.desk.close()


def test_a_letter_not_even_the_quarantine_could_take_stays_unflagged_and_the_rest_go_in(
    imap_server: ImapServer, tmp_path: Path, mail_catcher: MailCatcher,  # noqa: F811
) -> None:
    from adapters.email.quarantine import Quarantine

    class FullDisk(Quarantine):
        """The quarantine's disk is full while the first letter is handled."""

        full = True

        def put(self, raw: bytes, **kwargs: object) -> int:
            if self.full:
                raise OSError(28, "No space left on device")
            return super().put(raw, **kwargs)  # type: ignore[arg-type]

    imap_server.append(corpus("no_sender.eml"))  # goes to the quarantine
    imap_server.append(corpus("utf8_qp_key_app.eml"))
    built = build_email_desk(tmp_path, mail_catcher)
    quarantine = FullDisk(tmp_path / "mail.sqlite")
    built.intake.quarantine = quarantine
    poller = poller_for(imap_server, built.intake)
    (delivery,) = poller.poll_once()  # the poller goes on past the letter it could not keep
    assert delivery.outcome is Outcome.CREATED
    flags = imap_server.flags()
    assert IMPORTED not in flags[0] and IMPORTED in flags[1]
    quarantine.full = False
    (again,) = poller.poll_once()  # offered again on the next pass
    assert again.outcome is Outcome.QUARANTINED and quarantine.count() == 1
    built.desk.close()


def tls_poller_for(server: ImapServer, intake: object, ca_file: str) -> ImapPoller:
    account = ImapAccount(host="localhost", port=server.tls_port, username=server.username,
                          password=server.password, use_ssl=True, ca_file=ca_file, timeout=10)
    return ImapPoller(account, intake)  # type: ignore[arg-type]


def test_poller_reads_over_tls_trusting_the_servers_own_certificate(
    imap_server: ImapServer, tmp_path: Path, mail_catcher: MailCatcher,  # noqa: F811
) -> None:
    imap_server.append(corpus("utf8_qp_key_app.eml"))
    imap_server.append(corpus("cp1251_base64.eml"))
    built = build_email_desk(tmp_path, mail_catcher)
    deliveries = tls_poller_for(imap_server, built.intake, imap_server.ca_file).poll_once()
    assert [d.outcome for d in deliveries] == [Outcome.CREATED, Outcome.CREATED]
    assert all(IMPORTED in flags for flags in imap_server.flags())
    built.desk.close()


def test_poller_refuses_a_certificate_it_was_not_told_to_trust(
    imap_server: ImapServer, tmp_path: Path, mail_catcher: MailCatcher,  # noqa: F811
) -> None:
    imap_server.append(corpus("utf8_qp_key_app.eml"))
    built = build_email_desk(tmp_path, mail_catcher)
    with pytest.raises(ssl.SSLCertVerificationError):
        tls_poller_for(imap_server, built.intake, ca_file="").poll_once()
    assert built.outbox.entries() == []  # nothing was read
    built.desk.close()
