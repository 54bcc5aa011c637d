"""How a handler tells the messaging layer what went wrong."""

from __future__ import annotations


class PermanentError(Exception):
    """The message can never succeed (bad content, unknown clinic...): dead-letter it."""


class TransientError(Exception):
    """Worth trying again later (provider 5xx, timeout, 429). Retried with backoff."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
