"""Writes the hand-built letters of tests/data/mail/real/hand and their manifest entries.

These are the cases named in issue #12 that no public corpus had in Russian: the
shapes copy what mail.ru, Yandex, Exchange, qmail and Apple Mail send. Each letter
is assembled byte by byte and its expectations are written next to it here, when it
is made: they are what the letter says, not what the desk makes of it.
(run: python tests/data/mail/real/build_hand.py; then merge ``hand.json`` is automatic)
"""

from __future__ import annotations

import base64
import json
import quopri
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
CRLF = b"\r\n"
OURS = b"<P24-4K7Q9M.ack.real@pass24online.ru>"
PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
       b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00"
       b"\x00\x00\x00IEND\xaeB`\x82")


def b64(data: bytes) -> bytes:
    encoded = base64.b64encode(data)
    return CRLF.join(encoded[i:i + 76] for i in range(0, len(encoded), 76))


def word(text: str, charset: str, label: str | None = None) -> bytes:
    return (b"=?" + (label or charset).encode() + b"?B?" + base64.b64encode(text.encode(charset))
            + b"?=")


def letter(headers: list[bytes], body: bytes) -> bytes:
    return CRLF.join(headers) + CRLF + CRLF + body.replace(b"\r\n", b"\n").replace(b"\n", CRLF)


LETTERS: dict[str, tuple[bytes, dict[str, Any]]] = {}


def add(name: str, raw: bytes, **expected: Any) -> None:
    expected.setdefault("attachments", [])
    expected.setdefault("text_contains", [])
    LETTERS[name] = (raw, expected)


# -- charsets ----------------------------------------------------------------------------
add("cp1251_bytes_in_utf8_words.eml", letter([
    b"From: " + word("Иван Петров", "windows-1251", "utf-8") + b" <ivan@zavod.ru>",
    b"To: support@pass24online.ru",
    b"Subject: " + word("Не печатается пропуск", "windows-1251", "utf-8"),
    b"Message-ID: <hand-01@zavod.ru>",
    b"Date: Tue, 29 Apr 2025 09:00:00 +0300",
    b"MIME-Version: 1.0",
    b"Content-Type: text/plain; charset=windows-1251",
    b"Content-Transfer-Encoding: 8bit",
], "Добрый день! Принтер пропусков на КПП-2 не печатает с утра.".encode("cp1251")),
    kind="ticket", sender="ivan@zavod.ru", subject="Не печатается пропуск",
    text_contains=["Принтер пропусков на КПП-2 не печатает с утра."])

add("koi8r_body_without_content_type.eml", letter([
    b"From: " + word("Сергей", "koi8-r") + b" <sergey@skud.ru>",
    b"To: support@pass24online.ru",
    b"Subject: " + word("Шлагбаум не открывается", "koi8-r"),
    b"Message-ID: <hand-02@skud.ru>",
    b"Date: Tue, 29 Apr 2025 09:05:00 +0300",
], ("Здравствуйте! Шлагбаум на въезде не открывается по номеру телефона, "
    "охрана открывает вручную.").encode("koi8-r")),
    kind="ticket", sender="sergey@skud.ru", subject="Шлагбаум не открывается",
    text_contains=["Шлагбаум на въезде не открывается по номеру телефона"])

add("cp1251_labelled_koi8r.eml", letter([
    b"From: Anna <anna@example.ru>",
    b"To: support@pass24online.ru",
    b"Subject: =?koi8-r?B?" + base64.b64encode("Гостевой пропуск".encode("koi8-r")) + b"?=",
    b"Message-ID: <hand-03@example.ru>",
    b"MIME-Version: 1.0",
    b"Content-Type: text/plain; charset=koi8-r",
    b"Content-Transfer-Encoding: 8bit",
], "Гостевой пропуск не приходит гостю в СМС, хотя в журнале он создан.".encode("cp1251")),
    kind="ticket", sender="anna@example.ru", subject="Гостевой пропуск",
    text_contains=["Гостевой пропуск не приходит гостю в СМС, хотя в журнале он создан."])

add("gbk_under_gb2312_label.eml", letter([
    b"From: Li Wei <liwei@example.cn>",
    b"To: support@pass24online.ru",
    b"Subject: " + word("门禁系统无法打开", "gb2312"),
    b"Message-ID: <hand-04@example.cn>",
    b"MIME-Version: 1.0",
    b"Content-Type: text/plain; charset=gb2312",
    b"Content-Transfer-Encoding: base64",
], b64("您好，我们的门禁系统无法打开，请帮忙。镕（GBK 字）".encode("gbk"))),
    kind="ticket", sender="liwei@example.cn", subject="门禁系统无法打开",
    text_contains=["您好，我们的门禁系统无法打开，请帮忙。镕（GBK 字）"])

add("shift_jis_body.eml", letter([
    b"From: Tanaka <tanaka@example.jp>",
    b"To: support@pass24online.ru",
    b"Subject: =?ISO-2022-JP?B?" + base64.b64encode("アプリが起動しません".encode("iso2022_jp")) + b"?=",
    b"Message-ID: <hand-05@example.jp>",
    b"MIME-Version: 1.0",
    b"Content-Type: text/plain; charset=Shift_JIS",
    b"Content-Transfer-Encoding: 8bit",
], "お世話になっております。アプリが起動しません。①から③の手順を試しました。".encode("cp932")),
    kind="ticket", sender="tanaka@example.jp", subject="アプリが起動しません",
    text_contains=["アプリが起動しません。①から③の手順を試しました。"])

add("undeclared_8bit_cp1251_headers.eml", letter([
    "From: Мария Иванова <maria@example.ru>".encode("cp1251"),
    b"To: support@pass24online.ru",
    "Subject: Не работает приложение на Android".encode("cp1251"),
    b"Message-ID: <hand-06@example.ru>",
    b"MIME-Version: 1.0",
    b"Content-Type: text/plain",
], "Приложение закрывается сразу после запуска.".encode("cp1251")),
    kind="ticket", sender="maria@example.ru", subject="Не работает приложение на Android",
    text_contains=["Приложение закрывается сразу после запуска."])

# -- senders -----------------------------------------------------------------------------
add("from_trailing_dot.eml", letter([
    b"From: olga@example.ru.",
    b"To: support@pass24online.ru",
    b"Subject: " + word("Вопрос по журналу", "utf-8"),
    b"Message-ID: <hand-07@example.ru>",
    b"Content-Type: text/plain; charset=utf-8",
], "Как выгрузить журнал посетителей за месяц?".encode()),
    kind="ticket", sender="olga@example.ru", subject="Вопрос по журналу",
    text_contains=["Как выгрузить журнал посетителей за месяц?"])

add("from_broken_folding.eml", letter([
    b"From: " + word("Пётр Сидоров, управляющая компания", "utf-8"),
    b"<petr@uk-dom.ru>",
    b"To: support@pass24online.ru",
    b"Subject: " + word("Не добавляется жилец", "utf-8"),
    b"Message-ID: <hand-08@uk-dom.ru>",
    b"Content-Type: text/plain; charset=utf-8",
], "При добавлении жильца ошибка «Номер уже занят».".encode()),
    kind="ticket", sender="petr@uk-dom.ru", subject="Не добавляется жилец",
    text_contains=["При добавлении жильца ошибка «Номер уже занят»."])

add("from_without_angle_brackets.eml", letter([
    "From: Иван Петров ivan.petrov@example.ru".encode(),
    b"To: support@pass24online.ru",
    b"Subject: " + word("Пропуск на машину", "utf-8"),
    b"Message-ID: <hand-09@example.ru>",
    b"Content-Type: text/plain; charset=utf-8",
], "Нужно оформить постоянный пропуск на машину А123ВС 77.".encode()),
    kind="ticket", sender="ivan.petrov@example.ru", subject="Пропуск на машину",
    text_contains=["Нужно оформить постоянный пропуск на машину А123ВС 77."])

# -- layouts -------------------------------------------------------------------------------
add("apple_mail_related_in_alternative.eml", letter([
    b"From: " + word("Ольга", "utf-8") + b" <olga@example.ru>",
    b"To: support@pass24online.ru",
    b"Subject: " + word("Скриншоты ошибки", "utf-8"),
    b"Message-ID: <hand-10@example.ru>",
    b"MIME-Version: 1.0 (Mac OS X Mail 16.0)",
    b'Content-Type: multipart/alternative; boundary="Apple-Mail=_A"',
], b"""--Apple-Mail=_A
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: base64

""" + b64("Ошибка на экране входа, скриншоты ниже.\n\n[image: screen1.png]\n".encode()) + b"""

--Apple-Mail=_A
Content-Type: multipart/related; type="text/html"; boundary="Apple-Mail=_B"

--Apple-Mail=_B
Content-Type: text/html; charset=utf-8
Content-Transfer-Encoding: base64

""" + b64("<html><body><p>Ошибка на экране входа, скриншоты ниже.</p><img src=\"cid:s1\"><img src=\"cid:s2\"></body></html>".encode()) + b"""

--Apple-Mail=_B
Content-Type: image/png; name="screen1.png"
Content-Disposition: inline; filename="screen1.png"
Content-ID: <s1>
Content-Transfer-Encoding: base64

""" + b64(PNG) + b"""

--Apple-Mail=_B
Content-Type: image/png; name="screen2.png"
Content-Disposition: attachment; filename="screen2.png"
Content-ID: <s2>
Content-Transfer-Encoding: base64

""" + b64(PNG) + b"""

--Apple-Mail=_B--

--Apple-Mail=_A--
"""), kind="ticket", sender="olga@example.ru", subject="Скриншоты ошибки",
    text_contains=["Ошибка на экране входа, скриншоты ниже."],
    attachments=["screen1.png", "screen2.png"])

# -- replies -------------------------------------------------------------------------------
add("reply_mailru_napisal.eml", letter([
    b"From: " + word("Ольга", "utf-8") + b" <olga@mail.ru>",
    b"To: support@pass24online.ru",
    b"Subject: " + word("Re: [P24-4K7Q9M] Заявка зарегистрирована", "utf-8"),
    b"Message-ID: <hand-11@mail.ru>",
    b"In-Reply-To: " + OURS,
    b"Content-Type: text/plain; charset=utf-8",
    b"Content-Transfer-Encoding: 8bit",
], """Спасибо, обновила приложение, теперь открывается.


Понедельник, 28 апреля 2025, 10:00 +03:00 от Поддержка PASS24 <support@pass24online.ru>:
> Здравствуйте! Ваша заявка P24-4K7Q9M зарегистрирована.
> Попробуйте обновить приложение.
""".encode()),
    kind="reply", sender="olga@mail.ru", subject="Re: [P24-4K7Q9M] Заявка зарегистрирована",
    text_contains=["Спасибо, обновила приложение, теперь открывается."],
    new_text="Спасибо, обновила приложение, теперь открывается.")

add("reply_gmail_napisal_a.eml", letter([
    b"From: Ivan <ivan@gmail.com>",
    b"To: support@pass24online.ru",
    b"Subject: " + word("Re: [P24-4K7Q9M] Заявка зарегистрирована", "utf-8"),
    b"Message-ID: <hand-12@gmail.com>",
    b"References: " + OURS,
    b"Content-Type: text/plain; charset=utf-8",
    b"Content-Transfer-Encoding: quoted-printable",
], quopri.encodestring("""Проблема осталась, прикладываю номер телефона: +7 900 000-00-00

пн, 28 апр. 2025 г. в 10:00, Поддержка PASS24 <support@pass24online.ru>:

> Здравствуйте! Ваша заявка P24-4K7Q9M зарегистрирована.
>
""".encode())),
    kind="reply", sender="ivan@gmail.com", subject="Re: [P24-4K7Q9M] Заявка зарегистрирована",
    text_contains=["Проблема осталась, прикладываю номер телефона: +7 900 000-00-00"],
    new_text="Проблема осталась, прикладываю номер телефона: +7 900 000-00-00")

add("reply_outlook_ishodnoe.eml", letter([
    b"From: Nina <nina@corp.ru>",
    b"To: support@pass24online.ru",
    b"Subject: " + word("RE: [P24-4K7Q9M] Заявка зарегистрирована", "utf-8"),
    b"Message-ID: <hand-13@corp.ru>",
    b"In-Reply-To: " + OURS,
    b"Content-Type: text/plain; charset=windows-1251",
], """Добрый день, версия приложения 2.4.1.

-----Исходное сообщение-----
От: Поддержка PASS24 [mailto:support@pass24online.ru]
Отправлено: 28 апреля 2025 г. 10:00
Кому: Nina
Тема: [P24-4K7Q9M] Заявка зарегистрирована

Здравствуйте! Уточните версию приложения.
""".encode("cp1251")),
    kind="reply", sender="nina@corp.ru", subject="RE: [P24-4K7Q9M] Заявка зарегистрирована",
    text_contains=["Добрый день, версия приложения 2.4.1."],
    new_text="Добрый день, версия приложения 2.4.1.")

add("reply_yandex_pishet.eml", letter([
    b"From: Pavel <pavel@yandex.ru>",
    b"To: support@pass24online.ru",
    b"Subject: " + word("Re: [P24-4K7Q9M] Заявка зарегистрирована", "utf-8"),
    b"Message-ID: <hand-14@yandex.ru>",
    b"In-Reply-To: " + OURS,
    b"Content-Type: text/plain; charset=utf-8",
], """Всё заработало, заявку можно закрывать.

28.04.2025, 10:00, "Поддержка PASS24" <support@pass24online.ru>:
> Здравствуйте! Попробуйте перезагрузить контроллер.
""".encode()),
    kind="reply", sender="pavel@yandex.ru", subject="Re: [P24-4K7Q9M] Заявка зарегистрирована",
    text_contains=["Всё заработало, заявку можно закрывать."],
    new_text="Всё заработало, заявку можно закрывать.")

# -- auto-replies --------------------------------------------------------------------------
add("autoreply_exchange_ru.eml", letter([
    b"From: Nina <nina@corp.ru>",
    b"To: support@pass24online.ru",
    b"Subject: " + word("Автоматический ответ: [P24-4K7Q9M] Заявка зарегистрирована", "utf-8"),
    b"Message-ID: <hand-15@corp.ru>",
    b"Auto-Submitted: auto-replied",
    b"X-Auto-Response-Suppress: All",
    b"Content-Type: text/plain; charset=utf-8",
], "Я в отпуске до 12 мая. По срочным вопросам: office@corp.ru".encode()),
    kind="auto-reply", sender="nina@corp.ru",
    subject="Автоматический ответ: [P24-4K7Q9M] Заявка зарегистрирована",
    text_contains=["Я в отпуске до 12 мая."])

# -- bounces -------------------------------------------------------------------------------
ORIGINAL = (b"From: support@pass24online.ru\nTo: {to}\nSubject: [P24-4K7Q9M] Request registered\n"
            b"Message-ID: " + OURS + b"\n")

add("bounce_mailru.eml", letter([
    b"From: Mail Delivery System <mailer-daemon@corp.mail.ru>",
    b"To: support@pass24online.ru",
    b"Subject: Mail delivery failed: returning message to sender",
    b"Message-ID: <hand-16@corp.mail.ru>",
    b"Auto-Submitted: auto-replied",
    b"MIME-Version: 1.0",
    b'Content-Type: multipart/mixed; boundary="mru"',
], b"--mru\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"
   + """Это письмо создано автоматически сервером Mail.Ru,
отвечать на него не нужно.

К сожалению, Ваше письмо не может быть доставлено одному или нескольким получателям:

nobody@mail.ru
Message was not accepted -- invalid mailbox.  Local mailbox nobody@mail.ru is unavailable: account is disabled
SMTP error from remote mail server after RCPT TO:<nobody@mail.ru>:
550 Message was not accepted -- invalid mailbox
""".encode() + b"\n--mru\nContent-Type: message/rfc822\n\n"
   + ORIGINAL.replace(b"{to}", b"nobody@mail.ru") + b"\nRegistered.\n--mru--\n"),
    kind="bounce", sender="mailer-daemon@corp.mail.ru",
    subject="Mail delivery failed: returning message to sender",
    text_contains=["Ваше письмо не может быть доставлено одному или нескольким получателям"],
    bounce_recipients=["nobody@mail.ru"], permanent=True)

add("bounce_yandex_dsn.eml", letter([
    b"From: mailer-daemon@yandex.ru",
    b"To: support@pass24online.ru",
    b"Subject: " + word("Недоставленное сообщение", "utf-8"),
    b"Message-ID: <hand-17@yandex.ru>",
    b"MIME-Version: 1.0",
    b'Content-Type: multipart/report; report-type=delivery-status; boundary="ya"',
], b"--ya\nContent-Type: text/plain; charset=utf-8\n\n"
   + "Это сообщение отправлено автоматически. Письмо не было доставлено получателю.\n".encode()
   + b"\n--ya\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.yandex.ru\n\n"
     b"Final-Recipient: rfc822; missing@yandex.ru\nAction: failed\nStatus: 5.1.1\n"
     b"Diagnostic-Code: smtp; 550 5.7.1 No such user!\n"
     b"\n--ya\nContent-Type: text/rfc822-headers\n\n" + ORIGINAL.replace(b"{to}", b"missing@yandex.ru")
   + b"\n--ya--\n"),
    kind="bounce", sender="mailer-daemon@yandex.ru", subject="Недоставленное сообщение",
    text_contains=["Письмо не было доставлено получателю."],
    bounce_recipients=["missing@yandex.ru"], permanent=True)

add("dsn_failed_with_4xx_status.eml", letter([
    b"From: Mail Delivery System <MAILER-DAEMON@mx.example.org>",
    b"To: support@pass24online.ru",
    b"Subject: Undelivered Mail Returned to Sender",
    b"Message-ID: <hand-18@mx.example.org>",
    b"MIME-Version: 1.0",
    b'Content-Type: multipart/report; report-type=delivery-status; boundary="q"',
], b"--q\nContent-Type: text/plain\n\nThe message could not be delivered within 5 days.\n"
   b"\n--q\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.org\n\n"
   b"Final-Recipient: rfc822; slow@example.org\nAction: failed\nStatus: 4.4.7\n"
   b"Diagnostic-Code: X-Postfix; delivery temporarily suspended: connect timed out\n"
   b"\n--q\nContent-Type: text/rfc822-headers\n\n" + ORIGINAL.replace(b"{to}", b"slow@example.org")
   + b"\n--q--\n"),
    kind="bounce", sender="MAILER-DAEMON@mx.example.org", subject="Undelivered Mail Returned to Sender",
    text_contains=["The message could not be delivered within 5 days."],
    bounce_recipients=["slow@example.org"], permanent=True)

add("qmail_given_up.eml", letter([
    b"From: MAILER-DAEMON@mail.example.net",
    b"To: support@pass24online.ru",
    b"Subject: failure notice",
    b"Message-ID: <hand-19@mail.example.net>",
], b"Hi. This is the qmail-send program at mail.example.net.\n"
   b"I'm afraid I wasn't able to deliver your message to the following addresses.\n"
   b"This is a permanent error; I've given up. Sorry it didn't work out.\n\n"
   b"<gone@example.net>:\n"
   b"Sorry, I couldn't find any host named example.net. (#4.1.2)\n\n"
   b"--- Below this line is a copy of the message.\n\n"
   + ORIGINAL.replace(b"{to}", b"gone@example.net") + b"\nRegistered.\n"),
    kind="bounce", sender="MAILER-DAEMON@mail.example.net", subject="failure notice",
    text_contains=["This is a permanent error; I've given up."],
    bounce_recipients=["gone@example.net"], permanent=True)

add("mailer_daemon_without_address.eml", letter([
    b"From: MAILER-DAEMON",
    b"To: support@pass24online.ru",
    b"Subject: Returned mail: see transcript for details",
    b"Message-ID: <hand-20@relay.example.com>",
    b"MIME-Version: 1.0",
    b'Content-Type: multipart/report; report-type=delivery-status; boundary="r"',
], b"--r\nContent-Type: text/plain\n\n   ----- The following addresses had permanent fatal errors -----\n"
   b"<nouser@example.com>\n    (reason: 550 5.1.1 User unknown)\n"
   b"\n--r\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; relay.example.com\n\n"
   b"Final-Recipient: RFC822; nouser@example.com\nAction: failed\nStatus: 5.1.1\n"
   b"\n--r\nContent-Type: message/rfc822\n\n" + ORIGINAL.replace(b"{to}", b"nouser@example.com")
   + b"\nRegistered.\n--r--\n"),
    kind="bounce", sender="", subject="Returned mail: see transcript for details",
    text_contains=["The following addresses had permanent fatal errors"],
    bounce_recipients=["nouser@example.com"], permanent=True)

add("empty_sender_bounce.eml", letter([
    b"From: <>",
    b"Return-Path: <>",
    b"To: support@pass24online.ru",
    b"Subject: Undelivered Mail Returned to Sender",
    b"Message-ID: <hand-21@mx.example.com>",
    b"MIME-Version: 1.0",
    b'Content-Type: multipart/report; report-type=delivery-status; boundary="e"',
], b"--e\nContent-Type: text/plain\n\nYour message could not be delivered.\n"
   b"\n--e\nContent-Type: message/delivery-status\n\n"
   b"Reporting-MTA: dns; mx.example.com\n\nFinal-Recipient: rfc822; full@example.com\n"
   b"Action: failed\nStatus: 5.2.2\nDiagnostic-Code: smtp; 552 5.2.2 Mailbox full\n"
   b"\n--e--\n"),
    kind="bounce", sender="", subject="Undelivered Mail Returned to Sender",
    text_contains=["Your message could not be delivered."],
    bounce_recipients=["full@example.com"], permanent=True)

add("dsn_with_truncated_original.eml", letter([
    b"From: Mail Delivery System <MAILER-DAEMON@mx.example.ru>",
    b"To: support@pass24online.ru",
    b"Subject: Undelivered Mail Returned to Sender",
    b"Message-ID: <hand-22@mx.example.ru>",
    b"MIME-Version: 1.0",
    b'Content-Type: multipart/report; report-type=delivery-status; boundary="t"',
], b"--t\nContent-Type: text/plain\n\nThe message was rejected; a part of it is returned below.\n"
   b"\n--t\nContent-Type: message/delivery-status\n\n"
   b"Reporting-MTA: dns; mx.example.ru\n\nFinal-Recipient: rfc822; cut@example.ru\n"
   b"Action: failed\nStatus: 5.3.4\nDiagnostic-Code: smtp; 552 5.3.4 Message too big\n"
   b"\n--t\nContent-Type: message/rfc822\n\n"
   b"From: support@pass24online.ru\nTo: cut@example.ru\nMessage-ID: " + OURS + b"\n"
   b"MIME-Version: 1.0\nContent-Type: multipart/mixed\n\n"
   b"--inner-boundary-lost\nContent-Type: text/plain\n\nRegistered.\n"
   b"\n--t--\n"),
    kind="bounce", sender="MAILER-DAEMON@mx.example.ru", subject="Undelivered Mail Returned to Sender",
    text_contains=["The message was rejected; a part of it is returned below."],
    bounce_recipients=["cut@example.ru"], permanent=True)

add("undeliverable_gateway_plain.eml", letter([
    b"From: postmaster@corp.example.com",
    b"To: support@pass24online.ru",
    b"Subject: Undeliverable: [P24-4K7Q9M] Request registered",
    b"Message-ID: <hand-23@corp.example.com>",
    b"Content-Type: text/plain; charset=us-ascii",
], b"Delivery has failed to these recipients or groups:\n\n"
   b"left.company@corp.example.com\n"
   b"The e-mail address you entered couldn't be found. Please check the recipient's e-mail "
   b"address and try to resend the message.\n\n"
   b"Diagnostic information for administrators:\n"
   b"Remote Server returned '550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found'\n\n"
   b"Original message headers:\n\n" + ORIGINAL.replace(b"{to}", b"left.company@corp.example.com")),
    kind="bounce", sender="postmaster@corp.example.com",
    subject="Undeliverable: [P24-4K7Q9M] Request registered",
    text_contains=["Delivery has failed to these recipients or groups:"],
    permanent=True)

add("delay_notice.eml", letter([
    b"From: Mail Delivery System <MAILER-DAEMON@mx.example.ru>",
    b"To: support@pass24online.ru",
    b"Subject: Delayed Mail (still being retried)",
    b"Message-ID: <hand-24@mx.example.ru>",
    b"MIME-Version: 1.0",
    b'Content-Type: multipart/report; report-type=delivery-status; boundary="d"',
], b"--d\nContent-Type: text/plain\n\nThis is only a warning; the system will keep trying.\n"
   b"\n--d\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.ru\n\n"
   b"Final-Recipient: rfc822; later@example.ru\nAction: delayed\nStatus: 4.4.1\n"
   b"\n--d--\n"),
    kind="bounce", sender="MAILER-DAEMON@mx.example.ru", subject="Delayed Mail (still being retried)",
    text_contains=["This is only a warning; the system will keep trying."],
    bounce_recipients=["later@example.ru"], permanent=False)


if __name__ == "__main__":
    manifest: dict[str, Any] = {}
    for name, (raw, expected) in LETTERS.items():
        (HERE / "hand" / name).write_bytes(raw)
        manifest[f"hand/{name}"] = {**expected, "source": "built by hand for issue #12 "
                                    "(tests/data/mail/real/build_hand.py)", "licence": "project's own"}
    (HERE / "hand.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1,
                                               sort_keys=True) + "\n", "utf-8")
    print(f"wrote {len(LETTERS)} letters")
