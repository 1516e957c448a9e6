"""Writes the test letters beside this file. The .eml files are committed; this shows how
the encoded ones were made (run: python tests/data/mail/build_corpus.py).

Every letter is assembled byte by byte, not with the ``email`` package that parses
them, so the tests do not check the parser against itself.
"""

from __future__ import annotations

import base64
import quopri
from pathlib import Path

HERE = Path(__file__).parent
CRLF = b"\r\n"


def b64(data: bytes) -> bytes:
    encoded = base64.b64encode(data)
    return CRLF.join(encoded[i:i + 76] for i in range(0, len(encoded), 76))


def qp(data: bytes) -> bytes:
    return quopri.encodestring(data).replace(b"\n", CRLF)


def rfc2047(text: str, charset: str, kind: str = "B") -> bytes:
    raw = text.encode(charset)
    if kind == "B":
        return b"=?" + charset.encode() + b"?B?" + base64.b64encode(raw) + b"?="
    q = quopri.encodestring(raw, header=True).replace(b"?", b"=3F")
    return b"=?" + charset.encode() + b"?Q?" + q + b"?="


def letter(headers: list[bytes], body: bytes) -> bytes:
    return CRLF.join(headers) + CRLF + CRLF + body.replace(b"\r\n", b"\n").replace(b"\n", CRLF)


LETTERS: dict[str, bytes] = {}

LETTERS["utf8_qp_key_app.eml"] = letter([
    b"From: =?utf-8?B?" + base64.b64encode("Ольга Смирнова".encode()) + b"?= <olga@example.ru>",
    b"To: support@pass24online.ru",
    b"Subject: " + rfc2047("Не открывается шлагбаум из приложения", "utf-8"),
    b"Date: Mon, 28 Apr 2025 10:15:00 +0300",
    b"Message-ID: <utf8-qp-001@example.ru>",
    b"MIME-Version: 1.0",
    b"Content-Type: text/plain; charset=utf-8",
    b"Content-Transfer-Encoding: quoted-printable",
], qp("""Здравствуйте!

В приложении PASS24.Key версия 2.4.1 кнопка «Открыть» не работает.
Телефон iPhone 13, iOS 17.2.
Шаги: 1) открыть приложение 2) выбрать шлагбаум 3) нажать «Открыть».
""".encode()))

LETTERS["cp1251_base64.eml"] = letter([
    b"From: " + rfc2047("Иван Петров", "windows-1251") + b" <ivan@zavod.ru>",
    b"To: support@pass24online.ru",
    b"Subject: " + rfc2047("Журнал посетителей не сохраняет пропуск", "windows-1251"),
    b"Date: Tue, 29 Apr 2025 09:05:00 +0300",
    b"Message-ID: <cp1251-002@zavod.ru>",
    b"MIME-Version: 1.0",
    b"Content-Type: text/plain; charset=\"windows-1251\"",
    b"Content-Transfer-Encoding: base64",
], b64("""Добрый день.
В электронном журнале PASS24.online при сохранении пропуска ошибка 500.
Версия 5.12.
""".encode("windows-1251")))

LETTERS["koi8r_8bit.eml"] = letter([
    b"From: " + rfc2047("Сергей", "koi8-r", "Q") + b" <sergey@old-mail.ru>",
    b"To: support@pass24online.ru",
    b"Subject: " + rfc2047("СКУД не пускает сотрудников", "koi8-r", "Q"),
    b"Date: Wed, 30 Apr 2025 18:40:00 +0300",
    b"Message-ID: <koi8-003@old-mail.ru>",
    b"MIME-Version: 1.0",
    b"Content-Type: text/plain; charset=koi8-r",
    b"Content-Transfer-Encoding: 8bit",
], """Контроллер PASS24.control перестал пускать сотрудников по картам.
Сборка 3.7.2.
""".encode("koi8-r"))

LETTERS["html_only.eml"] = letter([
    b"From: Anna <anna@example.com>",
    b"To: support@pass24online.ru",
    b"Subject: =?utf-8?Q?=D0=92=D0=BE=D0=BF=D1=80=D0=BE=D1=81_=D0=BF=D0=BE_=D1=83=D1=81=D1=82=D0=B0=D0=BD=D0=BE=D0=B2=D0=BA=D0=B5?=",
    b"Date: Thu, 1 May 2025 11:00:00 +0300",
    b"Message-ID: <html-004@example.com>",
    b"MIME-Version: 1.0",
    b"Content-Type: text/html; charset=utf-8",
    b"Content-Transfer-Encoding: base64",
], b64("""<html><head><style>p { color: red }</style><script>alert(1)</script></head>
<body><p>Здравствуйте,&nbsp;коллеги!</p><p>Как установить <b>PASS24.online</b> на сервер?</p>
<ul><li>ОС: Ubuntu 22.04</li><li>Версия 5.10</li></ul>
<p>Инструкция: <a href="https://pass24online.ru/docs">документация</a></p></body></html>
""".encode()))

LETTERS["mixed_attachments.eml"] = letter([
    b"From: Olga <olga@example.ru>",
    b"To: support@pass24online.ru",
    b"Subject: Screenshots of the error",
    b"Date: Fri, 2 May 2025 12:00:00 +0300",
    b"Message-ID: <mixed-005@example.ru>",
    b"MIME-Version: 1.0",
    b"Content-Type: multipart/mixed; boundary=\"outer\"",
], b"""This is a multi-part message in MIME format.
--outer
Content-Type: multipart/alternative; boundary="alt"

--alt
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

""" + "Скриншоты во вложении. Android 14, Samsung Galaxy S23.".encode() + b"""
--alt
Content-Type: text/html; charset=utf-8

<p>HTML version that must not be used</p>
--alt--
--outer
Content-Type: application/pdf; name="report.pdf"
Content-Disposition: attachment; filename*=utf-8''%D0%BE%D1%82%D1%87%D1%91%D1%82.pdf
Content-Transfer-Encoding: base64

""" + b64(b"%PDF-1.4\n% fake but real bytes\n" + bytes(range(256))) + b"""
--outer
Content-Type: image/png
Content-Disposition: inline
Content-ID: <img1@example.ru>
Content-Transfer-Encoding: base64

""" + b64(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64) + b"""
--outer--
""")

LETTERS["forwarded_chain.eml"] = letter([
    b"From: Boss <boss@zavod.ru>",
    b"To: support@pass24online.ru",
    b"Subject: Fwd: Re: FW: problem with passes",
    b"Date: Fri, 2 May 2025 13:00:00 +0300",
    b"Message-ID: <fwd-006@zavod.ru>",
    b"MIME-Version: 1.0",
    b"Content-Type: multipart/mixed; boundary=\"f\"",
], b"""--f
Content-Type: text/plain; charset=utf-8

""" + "Пересылаю письмо охраны, разберитесь пожалуйста.".encode() + b"""
--f
Content-Type: message/rfc822

From: Guard <guard@zavod.ru>
Subject: =?utf-8?B?""" + base64.b64encode("Пропуска не печатаются".encode()) + b"""?=
Date: Thu, 1 May 2025 08:00:00 +0300
Message-ID: <inner-guard@zavod.ru>
Content-Type: text/plain; charset=windows-1251
Content-Transfer-Encoding: 8bit

""" + "Принтер пропусков молчит с утра.".encode("windows-1251") + b"""
--f--
""")

LETTERS["auto_reply_rfc3834.eml"] = letter([
    b"From: Olga <olga@example.ru>",
    b"To: support@pass24online.ru",
    b"Subject: Re: [P24-4K7Q9M] Registered",
    b"Auto-Submitted: auto-replied",
    b"Message-ID: <auto-007@example.ru>",
    b"Content-Type: text/plain; charset=utf-8",
], "Я в отпуске до 12 мая.".encode())

LETTERS["out_of_office_exchange.eml"] = letter([
    b"From: Ivan <ivan@zavod.ru>",
    b"To: support@pass24online.ru",
    b"Subject: " + rfc2047("Автоматический ответ: Заявка принята", "utf-8"),
    b"X-Auto-Response-Suppress: All",
    b"Message-ID: <oof-008@zavod.ru>",
    b"Content-Type: text/plain; charset=utf-8",
], "Меня нет на месте.".encode())

LETTERS["precedence_bulk.eml"] = letter([
    b"From: news@vendor.example",
    b"To: support@pass24online.ru",
    b"Subject: Our newsletter",
    b"Precedence: bulk",
    b"Message-ID: <bulk-009@vendor.example>",
    b"Content-Type: text/plain",
], b"Big sale!")

LETTERS["bounce_dsn.eml"] = letter([
    b"From: Mail Delivery System <MAILER-DAEMON@mx.example.ru>",
    b"To: support@pass24online.ru",
    b"Subject: Undelivered Mail Returned to Sender",
    b"Auto-Submitted: auto-replied",
    b"Message-ID: <bounce-010@mx.example.ru>",
    b"MIME-Version: 1.0",
    b"Content-Type: multipart/report; report-type=delivery-status; boundary=\"dsn\"",
], b"""--dsn
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mx.example.ru.
I'm sorry to have to inform you that your message could not be delivered.

--dsn
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.ru
Arrival-Date: Mon, 28 Apr 2025 10:16:00 +0300

Final-Recipient: rfc822; nobody@example.ru
Original-Recipient: rfc822;nobody@example.ru
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 <nobody@example.ru>: Recipient address rejected:
    User unknown in virtual mailbox table

--dsn
Content-Type: text/rfc822-headers

From: support@pass24online.ru
To: nobody@example.ru
Subject: [P24-4K7Q9M] Request registered
Message-ID: <P24-4K7Q9M.ack.corpus@pass24online.ru>

--dsn--
""")

LETTERS["bounce_plain_mailer_daemon.eml"] = letter([
    b"From: MAILER-DAEMON@legacy.example.ru",
    b"To: support@pass24online.ru",
    b"Subject: failure notice",
    b"Message-ID: <bounce-011@legacy.example.ru>",
    b"Content-Type: text/plain",
], b"""Hi. This is the qmail-send program at legacy.example.ru.
I'm afraid I wasn't able to deliver your message to the following addresses.
This is a permanent error; I've given up. Sorry it didn't work out.

<nobody@legacy.example.ru>:
Sorry, no mailbox here by that name. (#5.1.1)

--- Below this line is a copy of the message.

Message-ID: <P24-4K7Q9M.ack.corpus@pass24online.ru>
Subject: [P24-4K7Q9M] Request registered
""")

LETTERS["broken_no_boundary.eml"] = letter([
    b"From: Broken <broken@example.ru>",
    b"To: support@pass24online.ru",
    b"Subject: broken",
    b"Message-ID: <broken-012@example.ru>",
    b"MIME-Version: 1.0",
    b"Content-Type: multipart/mixed",
], b"""--whatever
Content-Type: text/plain

lost text
--whatever--
""")

LETTERS["no_sender.eml"] = letter([
    b"To: support@pass24online.ru",
    b"Subject: who am I",
    b"Message-ID: <nosender-013@example.ru>",
    b"Content-Type: text/plain",
], b"no From header at all")

LETTERS["raw_8bit_headers_cp1251.eml"] = letter([
    b"From: " + "Мария".encode("windows-1251") + b" <maria@example.ru>",
    b"To: support@pass24online.ru",
    b"Subject: " + "Ошибка в мобильном приложении PASS24.online".encode("windows-1251"),
    b"Message-ID: <raw8bit-014@example.ru>",
    b"Content-Type: text/plain",
    b"Content-Transfer-Encoding: 8bit",
], "Приложение вылетает при входе. Xiaomi Redmi Note 12, Android 13, версия 1.9.3".encode("windows-1251"))

LETTERS["unknown_charset.eml"] = letter([
    b"From: Petr <petr@example.ru>",
    b"To: support@pass24online.ru",
    b"Subject: strange charset",
    b"Message-ID: <unknown-015@example.ru>",
    b"Content-Type: text/plain; charset=x-no-such-charset",
    b"Content-Transfer-Encoding: 8bit",
], "Текст в UTF-8 под чужой меткой.".encode())

# A multipart without a boundary whose body is nothing but encoded bytes: nothing to salvage.
LETTERS["broken_mime_unreadable.eml"] = letter([
    b"From: Broken <broken@example.ru>",
    b"To: support@pass24online.ru",
    b"Message-ID: <broken-017@example.ru>",
    b"MIME-Version: 1.0",
    b"Content-Type: multipart/mixed",
], b64(bytes(range(256)) * 2) + b"\n")

LETTERS["no_message_id.eml"] = letter([
    b"From: Nina <nina@example.ru>",
    b"To: support@pass24online.ru",
    b"Subject: no message id",
    b"Content-Type: text/plain; charset=utf-8",
], "Письмо без Message-ID.".encode())


if __name__ == "__main__":
    for name, raw in LETTERS.items():
        (HERE / name).write_bytes(raw)
    print(f"wrote {len(LETTERS)} letters to {HERE}")
