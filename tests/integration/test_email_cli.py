"""The intake CLI as a real process: SMTP in, ticket stored, notice out, quarantine listed."""

from __future__ import annotations

import json
import os
import signal
import smtplib
import subprocess
import sys
from pathlib import Path

from tests.fixtures.mail import MailCatcher, corpus, free_port, mail_catcher, wait_for  # noqa: F401


def test_smtp_listen_process_takes_a_letter_and_sends_the_notice(
    tmp_path: Path, mail_catcher: MailCatcher,  # noqa: F811
) -> None:
    port = free_port()
    env = {**os.environ, "PASS24_SQLITE_PATH": str(tmp_path / "desk.sqlite"),
           "PASS24_MAIL_DB_PATH": str(tmp_path / "mail.sqlite"),
           "PASS24_ATTACHMENTS_DIR": str(tmp_path / "att"),
           "PASS24_SMTP_HOST": mail_catcher.host, "PASS24_SMTP_PORT": str(mail_catcher.port)}
    cli = [sys.executable, "-m", "services.cli"]
    process = subprocess.Popen([*cli, "smtp-listen", "--port", str(port)], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert process.stdout is not None
        # Log lines (JSON, on stderr) may come before the banner.
        banner = ""
        for _ in range(50):
            banner = process.stdout.readline().decode()
            if "SMTP intake" in banner or not banner:
                break
        assert "SMTP intake" in banner
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            client.sendmail("olga@example.ru", ["support@pass24online.ru"],
                            corpus("utf8_qp_key_app.eml"))
            client.sendmail("x@example.ru", ["support@pass24online.ru"], corpus("no_sender.eml"))
            refused = client.sendmail("x@example.ru", ["support@pass24online.ru", "a@elsewhere.org"],
                                      corpus("html_only.eml"))
            assert "a@elsewhere.org" in refused  # no open relay
        notice = wait_for(lambda: mail_catcher.to("olga@example.ru"), timeout=20)[0]
        ticket_id = str(notice.message["Subject"]).split("]")[0].lstrip("[")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(20)
    shown = subprocess.run([*cli, "show", ticket_id], env=env, capture_output=True, text=True)
    assert json.loads(shown.stdout)["channel"] == "email"
    listed = subprocess.run([*cli, "quarantine", "list"], env=env, capture_output=True, text=True)
    assert "no sender address" in listed.stdout
    outbox = subprocess.run([*cli, "outbox", "list"], env=env, capture_output=True, text=True)
    assert [json.loads(line)["status"] for line in outbox.stdout.splitlines()].count("sent") == 2
    # A retry of a letter that still cannot be read keeps it in the quarantine (exit 2).
    entry = json.loads(listed.stdout.splitlines()[0])["id"]
    retried = subprocess.run([*cli, "quarantine", "retry", str(entry)], env=env,
                             capture_output=True, text=True)
    assert retried.returncode == 2, retried.stderr
    assert json.loads(retried.stdout.splitlines()[-1])["outcome"] == "quarantined"
    missing = subprocess.run([*cli, "quarantine", "retry", "999"], env=env, capture_output=True,
                             text=True)
    assert missing.returncode == 1 and "no quarantined letter #999" in missing.stderr
