"""`pass24-desk preview TEMPLATE --ticket ID`: a letter as it would go out, from a stored ticket."""

from __future__ import annotations

from pathlib import Path

import pytest

from domain.values import Channel, Product
from services.application import SupportDesk
from services.cli import main
from services.clock import ManualClock
from tests.helpers import AGENT, CLIENT, msk


@pytest.fixture
def ticket_id(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    path = tmp_path / "desk.sqlite"
    monkeypatch.setenv("PASS24_SQLITE_PATH", str(path))
    monkeypatch.setenv("PASS24_NOTICE_FROM_NAME", "Служба поддержки")
    desk = SupportDesk(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path)},
                       clock=ManualClock(msk("2025-04-28 10:00")))
    found = desk.receive(channel=Channel.PHONE, requester=CLIENT, subject="Не открывается шлагбаум",
                         description="Пропуска не работают.", product=Product.MOBILE_KEY,
                         actor=AGENT).ticket_id  # no version, no device: R16 details missing
    desk.close()
    return found


def test_preview_renders_every_template(ticket_id: str, capsys: pytest.CaptureFixture[str],
                                        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert main(["preview", "registration", "--ticket", ticket_id]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"Subject: [{ticket_id}] Заявка зарегистрирована")
    assert "номер версии продукта" in out and "модель телефона" in out and "Служба поддержки" in out
    assert main(["preview", "registration", "--ticket", ticket_id, "--lang", "en"]) == 0
    assert "the product version number" in capsys.readouterr().out
    for template in ("missing_details", "response", "delivery_failure", "staff_alert"):
        assert main(["preview", template, "--ticket", ticket_id, "--text", "Пришлите версию."]) == 0
        assert ticket_id in capsys.readouterr().out
    # An operator's template wins.
    (tmp_path / "tpl" / "ru").mkdir(parents=True)
    (tmp_path / "tpl" / "ru" / "response.txt.j2").write_text(
        "{% block subject %}Ответ {{ ticket.id }}{% endblock %}{% block body %}{{ text }}{% endblock %}",
        encoding="utf-8")
    monkeypatch.setenv("PASS24_TEMPLATES_DIR", str(tmp_path / "tpl"))
    assert main(["preview", "response", "--ticket", ticket_id, "--text", "Готово."]) == 0
    assert capsys.readouterr().out == f"Subject: Ответ {ticket_id}\n\nГотово.\n"
