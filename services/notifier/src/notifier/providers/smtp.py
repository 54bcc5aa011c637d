"""Email through SMTP (aiosmtplib): plain text and HTML, with List-Unsubscribe."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import make_msgid

import aiosmtplib

from notifier.providers.base import OutboundMessage, ProviderError, SendResult


class SmtpProvider:
    name = "smtp"

    def __init__(
        self,
        *,
        host: str,
        port: int,
        sender: str,
        username: str = "",
        password: str = "",
        starttls: bool = False,
        use_tls: bool = False,
        timeout: float = 10.0,
    ) -> None:
        self.host, self.port, self.sender = host, port, sender
        self._auth = (username, password) if username else None
        self._starttls, self._use_tls, self._timeout = starttls, use_tls, timeout

    @property
    def rate_key(self) -> str:
        return f"smtp:{self.host}:{self.sender}"

    async def send(self, message: OutboundMessage) -> SendResult:
        if not message.to_email:
            raise ProviderError("no email address", permanent=True)
        email = build_email(message, self.sender)
        try:
            await aiosmtplib.send(
                email,
                hostname=self.host,
                port=self.port,
                username=self._auth[0] if self._auth else None,
                password=self._auth[1] if self._auth else None,
                start_tls=self._starttls,
                use_tls=self._use_tls,
                timeout=self._timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            raise ProviderError("recipient refused", permanent=True) from exc
        except aiosmtplib.SMTPResponseException as exc:
            # 5xx replies are final for this message; 4xx ask us to try again later.
            raise ProviderError(f"smtp {exc.code}", permanent=exc.code >= 500) from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise ProviderError(f"smtp unavailable: {type(exc).__name__}", permanent=False) from exc
        return SendResult(str(email["Message-ID"]).strip("<>"))

    async def aclose(self) -> None:
        return None


def build_email(message: OutboundMessage, sender: str) -> EmailMessage:
    email = EmailMessage()
    email["From"] = sender
    email["To"] = message.to_email or ""
    email["Subject"] = message.subject
    email["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or "localhost")
    for name, value in message.headers.items():
        email[name] = value
    email.set_content(message.text)
    email.add_alternative(message.html, subtype="html")
    return email
