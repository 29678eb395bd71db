"""E-mail through an SMTP server (smtplib): one plain-text message per notification."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from email.utils import make_msgid

from layers.notify import Claimed
from services.senders.messages import render
from services.senders.webhook import SendFailed

__all__ = ["SmtpSender"]


class SmtpSender:
    """Sends through ``host:port`` (optionally STARTTLS and a login)."""

    def __init__(
        self,
        *,
        host: str,
        port: int = 25,
        sender: str = "gridgov@localhost",
        user: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        timeout_s: float = 20.0,
    ) -> None:
        self.host, self.port, self.sender = host, port, sender
        self.user, self.password, self.starttls = user, password, starttls
        self.timeout_s = timeout_s

    def send(self, notification: Claimed) -> str:
        """Deliver once; raise :class:`SendFailed` when the server refuses or is away."""
        if not notification.address:
            raise SendFailed("no e-mail address")
        message = render(notification.payload)
        mail = EmailMessage()
        mail["From"] = self.sender
        mail["To"] = notification.address
        mail["Subject"] = message.subject
        # the same Message-ID on every retry: a mail server or client can drop a copy
        mail["Message-ID"] = make_msgid(idstring=notification.delivery_key.replace("-", "."))
        mail["X-GridGov-Delivery"] = notification.delivery_key
        mail.set_content(message.text)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as smtp:
                if self.starttls:
                    smtp.starttls()
                if self.user:
                    smtp.login(self.user, self.password or "")
                refused = smtp.send_message(mail)
        except (OSError, smtplib.SMTPException) as exc:
            raise SendFailed(f"SMTP {type(exc).__name__}: {exc}") from exc
        if refused:
            raise SendFailed(f"SMTP refused {len(refused)} recipient(s)")
        return "SMTP accepted"
