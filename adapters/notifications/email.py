"""Mail over SMTP (aiosmtplib): plain-text UTF-8 with a Message-ID fixed by the caller."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate

import aiosmtplib

from adapters.notifications import DeliveryFailed, Email


class SmtpMailer:
    def __init__(self, host: str, port: int, sender: str, timeout: float = 10.0) -> None:
        self._host = host
        self._port = port
        self._sender = sender
        self._timeout = timeout

    def build(self, email: Email) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self._sender
        message["To"] = email.to
        message["Subject"] = email.subject
        message["Message-ID"] = email.message_id
        message["Date"] = formatdate(usegmt=True)
        message.set_content(email.body, charset="utf-8")
        # After set_content, which replaces every Content-* header.
        message["Content-Language"] = email.locale
        return message

    async def send(self, email: Email) -> str:
        try:
            await aiosmtplib.send(
                self.build(email),
                hostname=self._host,
                port=self._port,
                timeout=self._timeout,
                start_tls=False,
            )
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            raise DeliveryFailed(f"SMTP {self._host}:{self._port}: {error}") from error
        return email.message_id
