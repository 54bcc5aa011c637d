"""Shared across replicas through Redis: a token bucket per provider account and sender,
and a circuit breaker per provider. A send checks both in ``lua.RESERVE`` right before
its provider call; these classes are the standalone views of the same keys."""

from __future__ import annotations

import time

from prometheus_client import Gauge

from notifier import lua
from notifier.keys import Keys
from shared.service import RedisClient

# Read at scrape time from when this replica last saw the circuit in Redis open until, so
# that it drops back to 0 when the open period ends even if no send looks again. The
# circuit is shared: take ``max by (provider)`` over the replicas.
CIRCUIT_OPEN = Gauge(
    "bs_notifier_circuit_open",
    "1 while a provider's circuit breaker is open (as this replica last saw it), else 0.",
    ["provider"],
)

# How many sends a bucket lets through back to back, in seconds of its rate. A bucket
# of one token serialises every replica on a Redis round trip per send (measured: 64
# concurrent sends at 10,000/s allowed got ~100/s through); a tenth of a second of
# tokens keeps the average rate while sends overlap. Never less than one token, so an
# SMS long code at 1/s still sends one at a time.
BURST_SECONDS = 0.1


def burst_for(rate: float) -> float:
    return max(1.0, rate * BURST_SECONDS)


class RateLimiter:
    def __init__(self, redis: RedisClient, prefix: str) -> None:
        self.keys = Keys(prefix)
        self._script = redis.register_script(lua.TAKE_TOKEN)

    async def acquire(self, key: str, rate: float, burst: float = 1.0) -> float:
        """Take a token: 0.0 if granted, else seconds to wait before asking again. The
        bucket lies in the slot of its provider, the rate key's first part."""
        now_ms = int(time.time() * 1000)
        bucket = self.keys.rate(key.split(":", 1)[0], key)
        wait_ms = await self._script(keys=[bucket], args=[rate, max(burst, 1.0), now_ms])
        return int(wait_ms) / 1000


class CircuitBreaker:
    """Opens after ``threshold`` failures within ``window`` seconds; while open, sends are
    refused at once; after ``open_for`` seconds the next send tries (half-open) and a
    success closes it (the send's record forgets the failures)."""

    def __init__(
        self, redis: RedisClient, prefix: str, *, threshold: int, window: int, open_for: int
    ) -> None:
        self.redis, self.keys = redis, Keys(prefix)
        self.threshold, self.window, self.open_for = threshold, window, open_for
        self._failure = redis.register_script(lua.BREAKER_FAILURE)
        self._open_until: dict[str, float] = {}  # provider -> time.monotonic()

    def saw(self, provider: str, seconds_left: float) -> None:
        """This replica saw the circuit open for ``seconds_left`` more (0: closed)."""
        if provider not in self._open_until:
            CIRCUIT_OPEN.labels(provider).set_function(lambda: self._is_open(provider))
        self._open_until[provider] = time.monotonic() + seconds_left

    def _is_open(self, provider: str) -> float:
        return 1.0 if time.monotonic() < self._open_until.get(provider, 0.0) else 0.0

    async def open_for_seconds(self, provider: str) -> float:
        """Seconds left while open, 0.0 when closed."""
        ms = await self.redis.pttl(self.keys.circuit(provider, "open"))
        seconds = max(ms, 0) / 1000
        self.saw(provider, seconds)
        return seconds

    async def record_failure(self, provider: str) -> bool:
        """Count a failure; True if this one opened the circuit."""
        keys = [self.keys.circuit(provider, "failures"), self.keys.circuit(provider, "open")]
        args = [self.window, self.threshold, self.open_for]
        opened = bool(await self._failure(keys=keys, args=args))
        if opened:
            self.saw(provider, self.open_for)
        return opened
