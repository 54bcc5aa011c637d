"""Builds the provider for each channel from settings (console unless told otherwise)."""

from __future__ import annotations

from notifier.providers.base import Provider
from notifier.providers.console import ConsoleProvider
from notifier.settings import NotifierSettings
from shared.contracts import Channel

STATUS_PATH = "/webhooks/twilio/status"


def build_providers(settings: NotifierSettings) -> dict[Channel, Provider]:
    return {
        Channel.SMS: _sms(settings),
        Channel.EMAIL: _email(settings),
        Channel.PUSH: _push(settings),
    }


def _sms(settings: NotifierSettings) -> Provider:
    if settings.sms_provider == "twilio":
        from notifier.providers.twilio import TwilioProvider

        return TwilioProvider(
            base_url=settings.twilio_base_url,
            account_sid=settings.twilio_account_sid,
            auth_token=settings.twilio_auth_token.get_secret_value(),
            from_number=settings.twilio_from_number,
            status_callback=settings.webhook_base_url.rstrip("/") + STATUS_PATH,
            timeout=settings.provider_timeout_seconds,
        )
    return ConsoleProvider("sms")


def _email(settings: NotifierSettings) -> Provider:
    if settings.email_provider == "smtp":
        from notifier.providers.smtp import SmtpProvider

        return SmtpProvider(
            host=settings.smtp_host,
            port=settings.smtp_port,
            sender=settings.email_from,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value(),
            starttls=settings.smtp_starttls,
            use_tls=settings.smtp_use_tls,
            timeout=settings.provider_timeout_seconds,
        )
    return ConsoleProvider("email")


def _push(settings: NotifierSettings) -> Provider:
    if settings.push_provider == "webpush":
        from notifier.providers.webpush import WebPushProvider

        return WebPushProvider(
            private_key=settings.vapid_private_key.get_secret_value(),
            subject=settings.vapid_subject,
            timeout=settings.provider_timeout_seconds,
        )
    return ConsoleProvider("push")
