"""Which provider of a channel sends, in which order, and when the next one may take
over (pure).

Never two messages for one reminder across providers: the send lease and the ``sent``
record are per reminder, whatever the provider (``send_store.py``), and the next provider
is tried only when the one before certainly did not take the message: its circuit is
open, it answered an error (5xx, 429, our credentials), or it never took the connection.
A timeout after the request went out is ambiguous (it may have been accepted): that
reminder waits in the retry tiers instead, as it did with one provider.
"""

from __future__ import annotations

from collections.abc import Sequence

from notifier.providers.base import Provider, ProviderError


def provider_order(configured: Sequence[Provider], wanted: Sequence[str]) -> tuple[Provider, ...]:
    """The clinic's order (``wanted``, by name) of the providers this notifier has; only
    those it names, since its sender may exist at those alone. A clinic that names none
    we have, or none at all, gets the notifier's order."""
    by_name = {provider.name: provider for provider in configured}
    chosen = tuple(by_name[name] for name in wanted if name in by_name)
    return chosen or tuple(configured)


def fails_over(error: ProviderError) -> bool:
    """May the next provider send this message right away? Only after a failure that is
    the provider's (not the recipient's: that fails over to the next channel) and that
    certainly left the message unsent."""
    return not error.permanent and error.unsent
