"""Outgoing mail behind one small interface: SMTP in production, a log line in development."""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Protocol

from citela_common.logging import get_logger
from citela_feedback.settings import FeedbackSettings

log = get_logger(__name__)


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    text: str


class Mailer(Protocol):
    def send(self, mail: Mail) -> None:
        """Deliver or raise."""


class SmtpMailer:
    def __init__(self, settings: FeedbackSettings) -> None:
        assert settings.smtp_host
        self.host = settings.smtp_host
        self.port = settings.smtp_port
        self.username = settings.smtp_username
        self.password = (
            settings.smtp_password.get_secret_value() if settings.smtp_password else None
        )
        self.starttls = settings.smtp_starttls
        self.timeout = settings.smtp_timeout_s
        self.sender = settings.mail_from

    def send(self, mail: Mail) -> None:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = mail.to
        message["Subject"] = mail.subject
        message["Message-ID"] = make_msgid(domain="citela.fr")
        message.set_content(mail.text)
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            if self.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if self.username and self.password:
                smtp.login(self.username, self.password)
            smtp.send_message(message)


class LogMailer:
    """Development: the mail goes to the log (the link can be copied from there)."""

    def send(self, mail: Mail) -> None:
        log.info("mail.logged", to=mail.to, subject=mail.subject, text=mail.text)


def create_mailer(settings: FeedbackSettings) -> Mailer:
    return SmtpMailer(settings) if settings.smtp_host else LogMailer()


def confirmation_mail(to: str, link: str, name: str | None) -> Mail:
    greeting = f"Bonjour {name}," if name else "Bonjour,"
    return Mail(
        to=to,
        subject="Confirmez votre adresse électronique — Citéla",
        text=(
            f"{greeting}\n\n"
            "Vous venez de créer un compte sur Citéla pour donner votre avis sur les services "
            "publics de votre territoire.\n\n"
            "Pour confirmer votre adresse électronique, ouvrez ce lien :\n\n"
            f"{link}\n\n"
            "Ce lien est valable 48 heures. Si vous n'êtes pas à l'origine de cette demande, "
            "ignorez ce message : aucun compte ne sera activé.\n\n"
            "— L'équipe Citéla\n"
        ),
    )
