"""Builds the providers of each channel from settings (console unless told otherwise):
per channel an ordered set of named providers, the first tried first. SMS may have
several (``NOTIFIER_SMS_PROVIDER`` then ``NOTIFIER_SMS_FAILOVER_PROVIDERS``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from notifier.providers.base import Provider
from notifier.providers.console import ConsoleProvider
from notifier.settings import NotifierSettings, SmsProvider
from shared.contracts import Channel

STATUS_PATH = "/webhooks/twilio/status"
VONAGE_STATUS_PATH = "/webhooks/vonage/status"

Providers = dict[Channel, tuple[Provider, ...]]
GivenProviders = Mapping[Channel, Provider | Sequence[Provider]]  # one or several each


def build_providers(settings: NotifierSettings) -> Providers:
    return {
        Channel.SMS: _sms(settings),
        Channel.EMAIL: (_email(settings),),
        Channel.PUSH: (_push(settings),),
    }


def ordered(providers: GivenProviders) -> Providers:
    """One provider or several per channel (tests pass one), as ordered tuples."""
    return {
        channel: tuple(found) if isinstance(found, Sequence) else (found,)
        for channel, found in providers.items()
    }


def _sms(settings: NotifierSettings) -> tuple[Provider, ...]:
    if settings.sms_provider == "console":
        return (ConsoleProvider("sms"),)
    names = dict.fromkeys((settings.sms_provider, *settings.sms_failover_providers))
    return tuple(_sms_provider(settings, name) for name in names)


def _sms_provider(settings: NotifierSettings, name: SmsProvider) -> Provider:
    webhooks = settings.webhook_base_url.rstrip("/")
    if name == "vonage":
        from notifier.providers.vonage import VonageProvider

        return VonageProvider(
            base_url=settings.vonage_base_url,
            api_key=settings.vonage_api_key,
            api_secret=settings.vonage_api_secret.get_secret_value(),
            from_number=settings.vonage_from_number,
            status_callback=webhooks + VONAGE_STATUS_PATH,
            timeout=settings.provider_timeout_seconds,
            connect_timeout=settings.provider_connect_seconds,
        )
    from notifier.providers.twilio import TwilioProvider

    return TwilioProvider(
        base_url=settings.twilio_base_url,
        account_sid=settings.twilio_account_sid,
        auth_token=settings.twilio_auth_token.get_secret_value(),
        from_number=settings.twilio_from_number,
        status_callback=webhooks + STATUS_PATH,
        timeout=settings.provider_timeout_seconds,
        connect_timeout=settings.provider_connect_seconds,
    )


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
