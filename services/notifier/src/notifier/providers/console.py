"""Logs a redacted line instead of sending: the default, so the local demo works."""

from __future__ import annotations

import uuid

from notifier.providers.base import OutboundMessage, SendResult
from shared.logging import get_logger
from shared.messages.sms_text import measure

log = get_logger("notifier.console")


class ConsoleProvider:
    def __init__(self, channel: str) -> None:
        self.name = f"console-{channel}"

    @property
    def rate_key(self) -> str:
        return self.name

    async def send(self, message: OutboundMessage) -> SendResult:
        message_id = f"console-{uuid.uuid4().hex}"
        log.info(
            "console send",
            channel=message.channel.value,
            reminder_id=message.reminder_id,
            provider_message_id=message_id,
            chars=len(message.text),
            segments=measure(message.text).segments if message.channel == "sms" else None,
        )
        return SendResult(message_id)

    async def aclose(self) -> None:
        return None
