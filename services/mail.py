"""The intake gate and the mail parts, built once from Settings (used by the CLI and the API)."""

from __future__ import annotations

from dataclasses import dataclass

from adapters.email.attachments import AttachmentStore
from adapters.email.intake import EmailIntake
from adapters.email.quarantine import Quarantine
from adapters.outbox.alerts import AlertSettings, StaffAlerter, parse_addresses
from adapters.outbox.notice_limit import NoticeLimit
from adapters.outbox.notices import Notices, NoticeSettings
from adapters.outbox.responses import ResponseMailer
from adapters.outbox.smtp_sender import SmtpSender
from adapters.outbox.store import Outbox
from adapters.outbox.worker import OutboxWorker, RetryPolicy
from projections.parking import ParkingLot, PoisonGuard
from projections.store import ReadStore
from services.application import SupportDesk
from services.channel_policy import ChannelPolicy
from services.intake import IntakeService, IntakeSettings
from services.settings import Settings


@dataclass
class MailComponents:
    outbox: Outbox
    quarantine: Quarantine
    attachments: AttachmentStore
    notices: Notices
    worker: OutboxWorker
    gate: IntakeService
    intake: EmailIntake
    mailer: ResponseMailer
    alerter: StaffAlerter | None = None

    @property
    def channels(self) -> ChannelPolicy:
        return self.gate.channels


def channel_policy(desk: SupportDesk, settings: Settings) -> ChannelPolicy:
    """R6: which channels are open on public holidays is configuration."""
    return ChannelPolicy.from_names(
        desk.calendar, settings.support_email,
        [c.strip() for c in settings.holiday_channels.split(",") if c.strip()])


def build_gate(desk: SupportDesk, settings: Settings,
               attachments: AttachmentStore | None = None) -> IntakeService:
    files = attachments or AttachmentStore(settings.attachments_dir,
                                           max_bytes=settings.attachment_max_bytes)
    return IntakeService(desk, channels=channel_policy(desk, settings), files=files,
                         settings=IntakeSettings(
                             reply_to_closed=settings.reply_to_closed,
                             trust_requester_domain=settings.trust_requester_domain,
                             max_attachments=settings.letter_max_attachments))


def build_mail(desk: SupportDesk, settings: Settings, *, store: ReadStore | None = None,
               parking: ParkingLot | None = None) -> MailComponents:
    """``store``: the main database (default: the one ``settings`` name); ``parking``: where
    the mailers and the outbox set poison aside (default: in that database)."""
    if store is None:
        from services.bootstrap import main_store

        store = main_store(settings)
    if parking is None:
        parking = ParkingLot(store)
    outbox = Outbox(store)
    quarantine = Quarantine(store)
    quarantine.adopt(settings.mail_db_path)  # letters an older version kept per process
    attachments = AttachmentStore(settings.attachments_dir, max_bytes=settings.attachment_max_bytes)
    notices = Notices(
        NoticeSettings(from_address=settings.support_email, message_id_domain=settings.message_id_domain,
                       phone=settings.support_phone, chatbot_url=settings.chatbot_url,
                       from_name=settings.notice_from_name, language=settings.locale,
                       templates_dir=settings.templates_dir, public_url=settings.public_url),
        desk.policy, desk.calendar,
    )
    sender = SmtpSender(host=settings.smtp_host, port=settings.smtp_port,
                        sender=settings.support_email, starttls=settings.smtp_starttls,
                        use_ssl=settings.smtp_ssl, username=settings.smtp_username,
                        password=settings.smtp_password.get_secret_value())
    worker = OutboxWorker(outbox, sender, desk, retry=RetryPolicy(
        base_seconds=settings.outbox_backoff_seconds,
        max_seconds=settings.outbox_backoff_max_seconds,
        max_attempts=settings.outbox_max_attempts),
        guard=PoisonGuard(parking, "outbox", tries=settings.poison_tries),
        lease_seconds=settings.outbox_lease_seconds)
    gate = build_gate(desk, settings, attachments)
    intake = EmailIntake(gate.submit, quarantine=quarantine, outbox=outbox, bounces=worker,
                         max_letter_bytes=settings.letter_max_bytes, now=desk.clock.now)
    alerter = StaffAlerter(desk, outbox, notices, AlertSettings(
        supervisors=[a.strip() for a in settings.alert_supervisors.split(",") if a.strip()],
        staff_addresses=parse_addresses(settings.alert_staff_addresses),
        staff_domain=settings.alert_staff_domain, webhook_url=settings.alert_webhook_url,
        webhook_secret=settings.alert_webhook_secret.get_secret_value()),
        guard=PoisonGuard(parking, "staff-alerts", tries=settings.poison_tries))
    mailer = ResponseMailer(desk, outbox, notices,
                            notice_limit=NoticeLimit(settings.notice_rate_limit,
                                                     storage=settings.rate_limit_storage),
                            guard=PoisonGuard(parking, "response-mailer",
                                              tries=settings.poison_tries))
    return MailComponents(outbox, quarantine, attachments, notices, worker, gate, intake, mailer,
                          alerter)
