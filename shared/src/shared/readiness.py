"""Readiness: can this process do its work right now (its broker connection is up and its
Redis answers)? Liveness (/healthz) only says the process serves HTTP.

Each check has its own short timeout and they run side by side, so a hung dependency
makes the probe answer "not ready" in ``CHECK_TIMEOUT`` instead of hanging it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

from faststream.rabbit import RabbitBroker

CHECK_TIMEOUT = 2.0
OK = "ok"

Check = Callable[[], Awaitable[None]]


def rabbitmq_check(broker: RabbitBroker, wait: float = 0.5) -> Check:
    """The service's own (robust) connection is up; while it reconnects after a broker
    loss it is not. ``wait`` lets a reconnect that is under way finish first."""

    async def check() -> None:
        if not await broker.ping(wait):
            raise ConnectionError("broker connection is down")

    return check


async def _outcome(check: Check, limit: float) -> str:
    try:
        async with asyncio.timeout(limit):
            await check()
    except TimeoutError:
        return f"no answer within {limit:g}s"
    except Exception as exc:  # any failure means not ready; the reason goes to the probe
        return f"{type(exc).__name__}: {str(exc)[:200]}"
    return OK


async def run_checks(checks: Mapping[str, Check], limit: float = CHECK_TIMEOUT) -> dict[str, str]:
    """Each dependency's state: ``ok`` or why not, each within ``limit`` seconds."""
    outcomes = await asyncio.gather(*(_outcome(check, limit) for check in checks.values()))
    return dict(zip(checks, outcomes, strict=True))
