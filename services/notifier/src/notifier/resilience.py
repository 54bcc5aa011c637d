"""Shared across replicas through Redis: a token bucket per provider account and sender,
and a circuit breaker per provider."""

from __future__ import annotations

import time

from prometheus_client import Gauge
from redis.asyncio import Redis

# Read at scrape time from when this replica last saw the circuit in Redis open until, so
# that it drops back to 0 when the open period ends even if no send looks again. The
# circuit is shared: take ``max by (provider)`` over the replicas.
CIRCUIT_OPEN = Gauge(
    "bs_notifier_circuit_open",
    "1 while a provider's circuit breaker is open (as this replica last saw it), else 0.",
    ["provider"],
)

# KEYS[1] bucket; ARGV: rate/s, burst, now (ms). Returns 0 when a token was taken,
# else the milliseconds until one will be available (nothing is taken then).
_BUCKET_LUA = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or burst
local ts = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate / 1000)
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = math.ceil((1 - tokens) * 1000 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
return wait
"""


# How many sends a bucket lets through back to back, in seconds of its rate. A bucket
# of one token serialises every replica on a Redis round trip per send (measured: 64
# concurrent sends at 10,000/s allowed got ~100/s through); a tenth of a second of
# tokens keeps the average rate while sends overlap. Never less than one token, so an
# SMS long code at 1/s still sends one at a time.
BURST_SECONDS = 0.1


def burst_for(rate: float) -> float:
    return max(1.0, rate * BURST_SECONDS)


class RateLimiter:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis, self.prefix = redis, prefix
        self._script = redis.register_script(_BUCKET_LUA)

    async def acquire(self, key: str, rate: float, burst: float = 1.0) -> float:
        """Take a token: 0.0 if granted, else seconds to wait before asking again.

        Redis' clock is not used (scripts cannot read it deterministically); replicas'
        clocks are NTP-close, which is plenty for a per-second bucket."""
        now_ms = int(time.time() * 1000)
        wait_ms = await self._script(
            keys=[f"{self.prefix}:rate:{key}"], args=[rate, max(burst, 1.0), now_ms]
        )
        return int(wait_ms) / 1000


class CircuitBreaker:
    """Opens after ``threshold`` failures within ``window`` seconds; while open, sends are
    refused at once; after ``open_for`` seconds the next send tries (half-open) and a
    success closes it."""

    def __init__(
        self, redis: Redis, prefix: str, *, threshold: int, window: int, open_for: int
    ) -> None:
        self.redis, self.prefix = redis, prefix
        self.threshold, self.window, self.open_for = threshold, window, open_for
        self._open_until: dict[str, float] = {}  # provider -> time.monotonic()

    def _k(self, provider: str, kind: str) -> str:
        return f"{self.prefix}:circuit:{provider}:{kind}"

    def _saw(self, provider: str, seconds_left: float) -> None:
        if provider not in self._open_until:
            CIRCUIT_OPEN.labels(provider).set_function(lambda: self._is_open(provider))
        self._open_until[provider] = time.monotonic() + seconds_left

    def _is_open(self, provider: str) -> float:
        return 1.0 if time.monotonic() < self._open_until.get(provider, 0.0) else 0.0

    async def open_for_seconds(self, provider: str) -> float:
        """Seconds left while open, 0.0 when closed."""
        ms = await self.redis.pttl(self._k(provider, "open"))
        seconds = max(ms, 0) / 1000
        self._saw(provider, seconds)
        return seconds

    async def record_failure(self, provider: str) -> bool:
        """Count a failure; True if this one opened the circuit."""
        key = self._k(provider, "failures")
        pipe = self.redis.pipeline(transaction=True)
        pipe.incr(key)
        pipe.expire(key, self.window, nx=True)
        count, _ = await pipe.execute()
        if int(count) < self.threshold:
            return False
        await self.redis.delete(key)
        opened = bool(
            await self.redis.set(self._k(provider, "open"), "1", ex=self.open_for, nx=True)
        )
        if opened:
            self._saw(provider, self.open_for)
        return opened

    async def record_success(self, provider: str) -> None:
        await self.redis.delete(self._k(provider, "failures"))
        self._saw(provider, 0.0)
